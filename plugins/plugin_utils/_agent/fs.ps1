# gowin.server agent, op family 'fs': reading files and folders: stat and list (and the helpers other families share).
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/fs.py and its contract vectors tests/contract/vectors/fs.yml.
# requires: (none)

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'file.stat' = @{ accepted = @('path', 'checksum', 'pe', 'read', 'expect'); run = { param($a) Invoke-OpFileStat $a } }
    'dir.list' = @{ accepted = @('path'); run = { param($a) Invoke-OpDirList $a } }
}

function Test-IsReparsePoint {
    param([System.IO.FileSystemInfo]$Info)
    return (($Info.Attributes -band [System.IO.FileAttributes]::ReparsePoint) -ne 0)
}

function Get-PathInfo {
    # What is at $Path, not following a final junction: $null when nothing is there.
    param([string]$Path)
    $dir = New-Object System.IO.DirectoryInfo($Path)
    if ($dir.Exists) { return $dir }
    $file = New-Object System.IO.FileInfo($Path)
    if ($file.Exists) { return $file }
    # A junction whose target is gone: DirectoryInfo.Exists is still true for the link itself on
    # Windows, but be defensive and look at the attributes.
    try {
        $attr = [System.IO.File]::GetAttributes($Path)
        if (($attr -band [System.IO.FileAttributes]::Directory) -ne 0) { return $dir }
        return $file
    } catch [System.IO.IOException] {
        # Not found, a path through a file (ERROR_DIRECTORY), a name Windows refuses: nothing there.
        return $null
    } catch [System.ArgumentException] {
        return $null
    } catch [System.NotSupportedException] {
        return $null
    }
}

function Get-JunctionTarget {
    param([string]$Path)
    $item = Get-Item -LiteralPath $Path -Force
    $target = $null
    if ($null -ne $item.PSObject.Properties['Target']) { $target = $item.Target }
    if ($target -is [System.Collections.IEnumerable] -and -not ($target -is [string])) { $target = @($target)[0] }
    if ($null -eq $target) { return $null }
    $target = [string]$target
    if ($target.StartsWith('\??\')) { $target = $target.Substring(4) }
    return $target
}

function Get-PathType {
    param([System.IO.FileSystemInfo]$Info)
    if ($Info -is [System.IO.DirectoryInfo]) {
        if (Test-IsReparsePoint $Info) { return 'junction' }
        return 'directory'
    }
    return 'file'
}

function ConvertTo-EpochSeconds {
    param([datetime]$Time)
    $epoch = New-Object DateTime(1970, 1, 1, 0, 0, 0, [System.DateTimeKind]::Utc)
    return [long][math]::Floor(($Time.ToUniversalTime() - $epoch).TotalSeconds)
}


# ---- files and folders ----------------------------------------------------------------------

$script:ShareAll = [System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete

function New-Sha256 {
    # The CSP implementation is FIPS-validated; SHA256Managed throws when the FIPS policy is on.
    try { return (New-Object System.Security.Cryptography.SHA256CryptoServiceProvider) }
    catch { return [System.Security.Cryptography.SHA256]::Create() }
}

function Get-FileSha256 {
    param([string]$Path)
    $fs = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
    try {
        $sha = New-Sha256
        try { $hash = $sha.ComputeHash($fs) } finally { $sha.Dispose() }
    } finally { $fs.Dispose() }
    return (ConvertTo-HexString $hash)
}

function Read-FileHead {
    param([string]$Path, [int]$Count)
    $fs = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
    try {
        $buf = New-Object byte[] $Count
        $total = 0
        while ($total -lt $Count) {
            $n = $fs.Read($buf, $total, $Count - $total)
            if ($n -le 0) { break }
            $total += $n
        }
    } finally { $fs.Dispose() }
    if ($total -lt $Count) {
        $short = New-Object byte[] $total
        [System.Array]::Copy($buf, $short, $total)
        return ,$short
    }
    return ,$buf
}

function Get-PeMachine {
    # The machine of a PE image (the uint16 after 'PE\0\0', whose offset is at 0x3C); $null if not a PE image.
    param([string]$Path)
    $fs = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
    try {
        $head = New-Object byte[] 64
        $got = 0
        while ($got -lt 64) {
            $n = $fs.Read($head, $got, 64 - $got)
            if ($n -le 0) { break }
            $got += $n
        }
        if ($got -lt 64 -or $head[0] -ne 0x4D -or $head[1] -ne 0x5A) { return $null }
        $offset = [long][System.BitConverter]::ToUInt32($head, 0x3C)
        if ($offset + 6 -gt $fs.Length) { return $null }
        [void]$fs.Seek($offset, [System.IO.SeekOrigin]::Begin)
        $pe = New-Object byte[] 6
        $got = 0
        while ($got -lt 6) {
            $n = $fs.Read($pe, $got, 6 - $got)
            if ($n -le 0) { break }
            $got += $n
        }
        if ($got -lt 6 -or $pe[0] -ne 0x50 -or $pe[1] -ne 0x45 -or $pe[2] -ne 0 -or $pe[3] -ne 0) { return $null }
        $machine = [int][System.BitConverter]::ToUInt16($pe, 4)
        switch ($machine) {
            0x8664 { return 'amd64' }
            0xAA64 { return 'arm64' }
            0x14C { return '386' }
        }
        return 'unknown'
    } finally { $fs.Dispose() }
}

function ConvertFrom-Utf8Head {
    # UTF-8 text as the ops report it: a BOM is dropped, invalid bytes become U+FFFD.
    param([byte[]]$Bytes)
    $start = 0
    if ($Bytes.Length -ge 3 -and $Bytes[0] -eq 0xEF -and $Bytes[1] -eq 0xBB -and $Bytes[2] -eq 0xBF) { $start = 3 }
    $enc = New-Object System.Text.UTF8Encoding($false, $false)
    return $enc.GetString($Bytes, $start, $Bytes.Length - $start)
}

function Test-JsonEqual {
    param($A, $B)
    if ($null -eq $A -and $null -eq $B) { return $true }
    if ($null -eq $A -or $null -eq $B) { return $false }
    if ($A -is [bool] -or $B -is [bool]) { return ($A -is [bool] -and $B -is [bool] -and $A -eq $B) }
    return ([string]$A -ceq [string]$B)
}

function Get-StatChecks {
    param($OpArgs)
    $expect = Get-MapArg $OpArgs 'expect'
    $checks = [ordered]@{}
    if ($null -eq $expect) { return $checks }
    $help = "has a bad entry '{0}'; accepted: exists (true|false), type (file|directory|junction), sha256 (64 hex " +
        'digits), pe_machine (amd64|arm64|386|unknown|null), first_line (a string)'
    foreach ($field in @($expect.PSBase.Keys)) {
        $v = $expect[$field]
        $ok = $false
        switch -casesensitive ($field) {
            'exists' { $ok = ($v -is [bool]) }
            'type' { $ok = ($v -is [string] -and @('file', 'directory', 'junction') -ccontains $v) }
            'sha256' { $ok = ($v -is [string] -and $v -match '^[0-9a-fA-F]{64}$') }
            'pe_machine' { $ok = ($null -eq $v -or ($v -is [string] -and @('amd64', 'arm64', '386', 'unknown') -ccontains $v)) }
            'first_line' { $ok = ($v -is [string]) }
        }
        if (-not $ok) { Stop-Op 'bad_args' ("argument 'expect' " + ($help -f $field)) }
        if ($field -ceq 'sha256') { $v = $v.ToLowerInvariant() }
        $checks[$field] = $v
    }
    return $checks
}

function Invoke-OpFileStat {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $wantSha = Get-BoolArg $OpArgs 'checksum' $false
    $wantPe = Get-BoolArg $OpArgs 'pe' $false
    $wantRead = Get-BoolArg $OpArgs 'read' $false
    $checks = Get-StatChecks $OpArgs
    $info = Get-PathInfo $path
    $facts = [ordered]@{ exists = ($null -ne $info) }
    if ($null -ne $info) {
        $type = Get-PathType $info
        $facts['type'] = $type
        if ($type -eq 'junction') {
            $facts['target'] = Get-JunctionTarget $path
        } else {
            $facts['mtime'] = ConvertTo-EpochSeconds $info.LastWriteTimeUtc
        }
        if ($type -eq 'file') {
            $facts['size'] = [long]$info.Length
            $facts['readonly'] = (($info.Attributes -band [System.IO.FileAttributes]::ReadOnly) -ne 0)
            if ($wantSha -or $checks.Contains('sha256')) { $facts['sha256'] = Get-FileSha256 $path }
            if ($wantPe -or $checks.Contains('pe_machine')) { $facts['pe_machine'] = Get-PeMachine $path }
            if ($wantRead -or $checks.Contains('first_line')) {
                $facts['content'] = ConvertFrom-Utf8Head (Read-FileHead $path 65536)
            }
        }
    }
    $diffs = New-Object System.Collections.Generic.List[string]
    foreach ($field in @($checks.Keys)) {
        $expected = $checks[$field]
        $actual = $null
        if ($field -eq 'first_line') {
            if ($facts.Contains('content')) { $actual = $facts['content'].Split([char]10)[0].TrimEnd([char]13) }
        } elseif ($facts.Contains($field)) {
            $actual = $facts[$field]
        }
        if (-not (Test-JsonEqual $actual $expected)) {
            $diffs.Add($field + ' is ' + (ConvertTo-AgentJson $actual) + ', expected ' + (ConvertTo-AgentJson $expected))
        }
    }
    if ($diffs.Count -gt 0) { Stop-Op 'verify_failed' ($path + ': ' + ($diffs -join '; ')) }
    if (-not $wantSha -and $facts.Contains('sha256')) { $facts.Remove('sha256') }
    if (-not $wantPe -and $facts.Contains('pe_machine')) { $facts.Remove('pe_machine') }
    if (-not $wantRead -and $facts.Contains('content')) { $facts.Remove('content') }
    return $facts
}

function Get-SortedEntries {
    # [{name, type}] of a folder, sorted case-insensitively (then by exact name), junctions not followed.
    param([System.IO.DirectoryInfo]$Dir)
    $items = @($Dir.GetFileSystemInfos())
    $keys = New-Object string[] $items.Count
    $rows = New-Object object[] $items.Count
    for ($i = 0; $i -lt $items.Count; $i++) {
        $keys[$i] = $items[$i].Name.ToLowerInvariant() + [char]0 + $items[$i].Name
        $rows[$i] = [ordered]@{ name = $items[$i].Name; type = (Get-PathType $items[$i]) }
    }
    [System.Array]::Sort($keys, $rows, [System.StringComparer]::Ordinal)
    return ,$rows
}

function Invoke-OpDirList {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $dir = New-Object System.IO.DirectoryInfo($path)
    if (-not $dir.Exists) { return [ordered]@{ exists = $false; entries = @() } }
    try {
        $entries = Get-SortedEntries $dir
    } catch [System.IO.DirectoryNotFoundException] {
        # A junction whose target is gone.
        return [ordered]@{ exists = $false; entries = @() }
    }
    return [ordered]@{ exists = $true; entries = $entries }
}
