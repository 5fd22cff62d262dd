# gowin.server agent, op family 'zip': extracting a zip archive.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/zip.py and its contract vectors tests/contract/vectors/zip.yml.
# requires: fs, tree

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'zip.extract' = @{ accepted = @('src', 'dest', 'strip'); run = { param($a) Invoke-OpZipExtract $a } }
}

# ---- zip.extract ----------------------------------------------------------------------------
# Windows behaviour relied on (checked by vectors/zip.yml on the first real-host run):
# - ZipFile.Open(path, Read, entryNameEncoding) decodes a name with general purpose bit 11 set as
#   UTF-8 and any other name with entryNameEncoding (CP437 here, the zip specification's encoding);
#   with no encoding, .NET Framework would use the host's ANSI code page.
# - .NET Framework (4.6.2 to 4.8.1) checks neither the CRC-32 nor the size of what an entry's stream
#   gives, and has no public CRC-32: ZipArchiveEntry.Crc32 is .NET Core 2.1+ only. The op reads the
#   entry's stored CRC from the private field ZipArchiveEntry._crc32 and computes the data's with the
#   internal Crc32Helper.UpdateCrc32(uint, byte[], int, int) (zlib semantics: start at 0, pass the
#   last result). Both are found by reflection once per op and self-tested on '123456789'
#   (CBF43926); where either is missing the op still checks sizes and reports crc_checked: false.

function Open-ZipArchive {
    param([string]$Path)
    [void][System.Reflection.Assembly]::LoadWithPartialName('System.IO.Compression')
    [void][System.Reflection.Assembly]::LoadWithPartialName('System.IO.Compression.FileSystem')
    return [System.IO.Compression.ZipFile]::Open($Path, [System.IO.Compression.ZipArchiveMode]::Read,
        [System.Text.Encoding]::GetEncoding(437))
}

function Get-ZipCrc {
    # @{ stored = FieldInfo; update = MethodInfo } for the CRC-32 checks, or $null (see above).
    try {
        $stored = [System.IO.Compression.ZipArchiveEntry].GetField('_crc32', [System.Reflection.BindingFlags]'Instance, NonPublic')
        $helper = [System.IO.Compression.ZipArchive].Assembly.GetType('System.IO.Compression.Crc32Helper', $false)
        if ($null -eq $stored -or $stored.FieldType -ne [uint32] -or $null -eq $helper) { return $null }
        $update = $helper.GetMethod('UpdateCrc32', [System.Reflection.BindingFlags]'Static, Public, NonPublic', $null,
            [type[]]@([uint32], [byte[]], [int], [int]), $null)
        if ($null -eq $update) { return $null }
        $probe = [System.Text.Encoding]::ASCII.GetBytes('123456789')
        if ([uint32]$update.Invoke($null, [object[]]@([uint32]0, $probe, 0, 9)) -ne [uint32]3421780262) { return $null }
        return @{ stored = $stored; update = $update }
    } catch { return $null }
}

function Get-ZipFolderState {
    # What is at folder $Path (below dest) before anything is written, each folder looked at once:
    # 'dir', 'none' (nothing there, so nothing below it either) or 'file:<path>' (a file at or above it).
    param([string]$Path, [string]$Dest, $Cache)
    $state = $null
    if ($Cache.TryGetValue($Path, [ref]$state)) { return $state }
    if ($Path.Length -le $Dest.Length + 1) { return 'dir' }  # dest itself (C:\ for dest C:\)
    $up = Get-ZipFolderState (Get-ParentPath $Path) $Dest $Cache
    if ($up -ne 'dir') { $state = $up }
    elseif ([System.IO.Directory]::Exists($Path)) { $state = 'dir' }
    elseif ([System.IO.File]::Exists($Path)) { $state = 'file:' + $Path }
    else { $state = 'none' }
    $Cache[$Path] = $state
    return $state
}

function Get-ZipPlan {
    # Every entry checked before anything is written: @{ target; entry (null for a folder) }.
    # With $Strip, every entry must be below that one top folder, which is left out.
    # Per entry: no exception and no path re-parsed; each distinct name checked once, each folder
    # on disk looked at once (Get-ZipFolderState), nothing looked at when dest does not exist yet.
    param($Archive, [string]$Dest, $Strip, [bool]$DestExisted)
    $destBase = $Dest.TrimEnd('\')
    $destFull = [System.IO.Path]::GetFullPath($Dest).TrimEnd('\') + '\'
    $ignoreCase = [System.StringComparer]::OrdinalIgnoreCase
    $storedCase = New-Object 'System.Collections.Generic.Dictionary[string,string]' ($ignoreCase)
    $checkedNames = New-Object 'System.Collections.Generic.Dictionary[string,string]' ([System.StringComparer]::Ordinal)
    $folders = New-Object 'System.Collections.Generic.Dictionary[string,string]' ($ignoreCase)
    $seen = New-Object 'System.Collections.Generic.HashSet[string]' ($ignoreCase)
    $plan = New-Object System.Collections.ArrayList
    foreach ($entry in $Archive.Entries) {
        $raw = $entry.FullName.Replace('\', '/')
        $what = "zip entry '" + $entry.FullName + "'"
        $isDir = $raw.EndsWith('/')
        $comps = $raw.Split('/')
        if ($raw.StartsWith('/') -or $raw -match '^[A-Za-z]:' -or $comps -contains '..') {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $what + ' would be written outside dest')
        }
        $parts = New-Object System.Collections.Generic.List[string]
        $key = ''
        foreach ($comp in $comps) {
            if ($comp -eq '' -or $comp -eq '.') { continue }
            $name = $null
            if (-not $checkedNames.TryGetValue($comp, [ref]$name)) {
                $name = Test-PathComponent $comp ('zip.extract: ' + $what) -Kind 'corrupt_archive'
                $checkedNames[$comp] = $name
            }
            if ($parts.Count -gt 0) { $key += '/' }
            $key += $name
            $stored = $null
            if (-not $storedCase.TryGetValue($key, [ref]$stored)) { $stored = $name; $storedCase[$key] = $name }
            $parts.Add($stored)
        }
        if ($parts.Count -eq 0) { continue }
        if ($null -ne $Strip) {
            if (-not [string]::Equals($parts[0], $Strip, [System.StringComparison]::OrdinalIgnoreCase) -or ($parts.Count -eq 1 -and -not $isDir)) {
                Stop-Op 'corrupt_archive' ('zip.extract: ' + $what + " is not inside the archive's top folder '" + $Strip +
                    "' (strip); nothing was extracted")
            }
            $parts.RemoveAt(0)
            if ($parts.Count -eq 0) { continue }
        }
        $rel = $parts -join '\'
        if (-not $seen.Add($rel) -and -not $isDir) {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $what + ' appears twice')
        }
        # The names are checked and none is '..': dest\rel is the path ConvertTo-AgentPath would
        # give; it is asked only for a path that may be too long, to check and word that.
        $target = $destBase + '\' + $rel
        if ($target.Length -ge 260) { $target = ConvertTo-AgentPath $target 'dest' }
        # Zip-slip guard on the resolved path as well.
        if (-not ([System.IO.Path]::GetFullPath($target) + '\').StartsWith($destFull, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $what + ' would be written outside dest')
        }
        if ($DestExisted) {
            $above = Get-ZipFolderState (Get-ParentPath $target) $destBase $folders
            if ($above -eq 'dir') {
                $isFolder = [System.IO.Directory]::Exists($target)
                if (($isFolder -and -not $isDir) -or (-not $isFolder -and [System.IO.File]::Exists($target))) {
                    Stop-Op 'exists' ('zip.extract: ' + $what + ': ' + $target + ' already exists; nothing was extracted')
                }
            } elseif ($above -ne 'none') {
                Stop-Op 'exists' ('zip.extract: ' + $above.Substring(5) + ' is a file, so ' + $what + ' cannot be extracted')
            }
        }
        $item = $entry
        if ($isDir) { $item = $null }
        [void]$plan.Add(@{ target = $target; entry = $item })
    }
    return ,$plan
}

function Invoke-OpZipExtract {
    param($OpArgs)
    $src = Get-PathArg $OpArgs 'src' -Required -AllowUnc
    # Through a junction whose target is gone the files go to the target (protocol: Junctions).
    $dest = Resolve-DanglingLink (Get-PathArg $OpArgs 'dest' -Required -AllowUnc)
    $strip = Get-StringArg $OpArgs 'strip'
    if ($null -ne $strip) {
        if ($strip.IndexOfAny([char[]]@([char]92, [char]47)) -ge 0 -or $strip -eq '.' -or $strip -eq '..') {
            Stop-Op 'bad_args' "argument 'strip' must be the name of one folder (such as go), not a path"
        }
        $null = Test-PathComponent $strip "argument 'strip'"
    }
    if (-not [System.IO.File]::Exists($src)) { Stop-Op 'not_found' ('zip.extract: src ' + $src + ' does not exist or is not a file') }
    if ([System.IO.File]::Exists($dest)) { Stop-Op 'exists' ('zip.extract: dest ' + $dest + ' is a file') }
    $destExisted = [System.IO.Directory]::Exists($dest)
    if (-not $destExisted) {
        Test-DriveRoot $dest 'zip.extract'
        Assert-NoFileAbove $dest 'zip.extract'
    }
    $archive = $null
    try {
        $archive = Open-ZipArchive $src
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        if ($err.kind -eq 'internal') {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $src + ' is not a valid zip archive (' + $err.message + ')')
        }
        Stop-Op $err.kind $err.message
    }
    $crc = Get-ZipCrc
    $created = New-Object System.Collections.Generic.List[string]
    $written = New-Object System.Collections.Generic.List[string]
    $ready = New-Object 'System.Collections.Generic.HashSet[string]' ([System.StringComparer]::OrdinalIgnoreCase)
    $buf = New-Object byte[] 1048576
    $files = 0
    $total = [long]0
    try {
        $plan = Get-ZipPlan $archive $dest $strip $destExisted
        if (-not $destExisted) {
            foreach ($f in (New-ParentFolders ($dest.TrimEnd('\') + '\x'))) { $created.Add($f) }
        }
        [void]$ready.Add($dest.TrimEnd('\'))
        foreach ($step in $plan) {
            $entry = $step.entry
            if ($null -eq $entry) {
                if ($ready.Add($step.target)) {
                    foreach ($f in (New-ParentFolders ($step.target + '\x'))) { $created.Add($f) }
                }
                continue
            }
            if ($ready.Add((Get-ParentPath $step.target))) {
                foreach ($f in (New-ParentFolders $step.target)) { $created.Add($f) }
            }
            [uint32]$sum = 0
            $in = $entry.Open()
            try {
                $out = New-Object System.IO.FileStream($step.target, [System.IO.FileMode]::CreateNew,
                    [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
                $written.Add($step.target)
                $got = [long]0
                try {
                    while ($true) {
                        $n = $in.Read($buf, 0, $buf.Length)
                        if ($n -le 0) { break }
                        $out.Write($buf, 0, $n)
                        if ($null -ne $crc) { $sum = $crc.update.Invoke($null, [object[]]@($sum, $buf, 0, $n)) }
                        $got += $n
                    }
                } finally { $out.Dispose() }
            } finally { $in.Dispose() }
            # Damaged data can end early (or run on) without an error: the size first, then the CRC-32.
            if ($got -ne [long]$entry.Length) {
                Stop-Op 'corrupt_archive' ('zip.extract: ' + $src + ' cannot be read (entry ''' + $entry.FullName + "' gave " +
                    $got + ' bytes, the archive says ' + $entry.Length + '); nothing was kept')
            }
            if ($null -ne $crc) {
                [uint32]$want = $crc.stored.GetValue($entry)
                if ($sum -ne $want) {
                    Stop-Op 'corrupt_archive' ('zip.extract: ' + $src + ' cannot be read (Bad CRC-32 for entry ''' + $entry.FullName +
                        "': its data gives " + $sum.ToString('x8') + ', the archive says ' + $want.ToString('x8') + '); nothing was kept')
                }
            }
            $total += $got
            try { [System.IO.File]::SetLastWriteTime($step.target, $entry.LastWriteTime.DateTime) } catch { $null = $_ }
            $files++
        }
    } catch {
        $ex = $_.Exception
        $err = Convert-ExceptionToError $ex
        foreach ($w in $written) { Remove-FileQuietly $w }
        $dirs = @($created | Sort-Object -Property Length -Descending)
        foreach ($d in $dirs) { try { [System.IO.Directory]::Delete($d, $false) } catch { $null = $_ } }
        $base = $ex
        while (($base -is [System.Management.Automation.RuntimeException] -or $base -is [System.Reflection.TargetInvocationException]) -and
            $null -ne $base.InnerException) { $base = $base.InnerException }
        if ($base -is [System.IO.InvalidDataException] -or $base -is [System.IO.EndOfStreamException] -or $base -is [System.NotSupportedException]) {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $src + ' cannot be read (' + $base.Message + '); nothing was kept')
        }
        if ($err.kind -eq 'disk_full') {
            Stop-Op 'disk_full' ('zip.extract: there is not enough space on drive ' + (Get-DriveLabel $dest) + ' (' + $err.message +
                '); the files written were removed')
        }
        Stop-Op $err.kind $err.message
    } finally {
        $archive.Dispose()
    }
    return [ordered]@{ files = $files; bytes = $total; crc_checked = ($null -ne $crc) }
}
