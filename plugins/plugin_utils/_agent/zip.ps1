# gowin.server agent, op family 'zip': extracting a zip archive.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/zip.py and its contract vectors tests/contract/vectors/zip.yml.
# requires: fs, tree

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'zip.extract' = @{ accepted = @('src', 'dest', 'strip'); run = { param($a) Invoke-OpZipExtract $a } }
}

# ---- zip.extract ----------------------------------------------------------------------------

function Open-ZipArchive {
    param([string]$Path)
    [void][System.Reflection.Assembly]::LoadWithPartialName('System.IO.Compression')
    [void][System.Reflection.Assembly]::LoadWithPartialName('System.IO.Compression.FileSystem')
    return [System.IO.Compression.ZipFile]::OpenRead($Path)
}

function Get-ZipPlan {
    # Every entry checked before anything is written: @{ parts; target; entry (null for a folder) }.
    # With $Strip, every entry must be below that one top folder, which is left out.
    param($Archive, [string]$Dest, $Strip)
    $destFull = [System.IO.Path]::GetFullPath($Dest).TrimEnd('\') + '\'
    $storedCase = New-Object 'System.Collections.Generic.Dictionary[string,string]' ([System.StringComparer]::OrdinalIgnoreCase)
    $seen = New-Object 'System.Collections.Generic.HashSet[string]' ([System.StringComparer]::OrdinalIgnoreCase)
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
        foreach ($comp in $comps) {
            if ($comp -eq '' -or $comp -eq '.') { continue }
            $name = Test-PathComponent $comp ('zip.extract: ' + $what) -Kind 'corrupt_archive'
            $key = (($parts.ToArray() + $name) -join '/')
            if (-not $storedCase.ContainsKey($key)) { $storedCase[$key] = $name }
            $parts.Add($storedCase[$key])
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
        $target = ConvertTo-AgentPath ($Dest.TrimEnd('\') + '\' + $rel) 'dest'
        # Zip-slip guard on the resolved path as well.
        if (-not ([System.IO.Path]::GetFullPath($target) + '\').StartsWith($destFull, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $what + ' would be written outside dest')
        }
        $existing = Get-PathInfo $target
        if ($null -ne $existing -and -not ($isDir -and $existing -is [System.IO.DirectoryInfo])) {
            Stop-Op 'exists' ('zip.extract: ' + $what + ': ' + $target + ' already exists; nothing was extracted')
        }
        $probe = Get-ParentPath $target
        while ($null -ne $probe -and $probe.Length -ge $destFull.Length - 1) {
            if ([System.IO.File]::Exists($probe)) {
                Stop-Op 'exists' ('zip.extract: ' + $probe + ' is a file, so ' + $what + ' cannot be extracted')
            }
            $probe = Get-ParentPath $probe
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
    $dest = Get-PathArg $OpArgs 'dest' -Required -AllowUnc
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
    $created = New-Object System.Collections.Generic.List[string]
    $written = New-Object System.Collections.Generic.List[string]
    $files = 0
    $total = [long]0
    try {
        $plan = Get-ZipPlan $archive $dest $strip
        if (-not $destExisted) {
            foreach ($f in (New-ParentFolders ($dest.TrimEnd('\') + '\x'))) { $created.Add($f) }
        }
        foreach ($step in $plan) {
            if ($null -eq $step.entry) {
                foreach ($f in (New-ParentFolders ($step.target + '\x'))) { $created.Add($f) }
                continue
            }
            foreach ($f in (New-ParentFolders $step.target)) { $created.Add($f) }
            $in = $step.entry.Open()
            try {
                $out = New-Object System.IO.FileStream($step.target, [System.IO.FileMode]::CreateNew,
                    [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
                $written.Add($step.target)
                $got = [long]0
                try {
                    $buf = New-Object byte[] 1048576
                    while ($true) {
                        $n = $in.Read($buf, 0, $buf.Length)
                        if ($n -le 0) { break }
                        $out.Write($buf, 0, $n)
                        $got += $n
                    }
                } finally { $out.Dispose() }
            } finally { $in.Dispose() }
            # .NET Framework's ZipArchive checks neither the CRC-32 nor the size of what it inflates:
            # damaged data can end early without an error. A size that differs is a corrupt entry.
            if ($got -ne [long]$step.entry.Length) {
                Stop-Op 'corrupt_archive' ('zip.extract: ' + $src + ' cannot be read (entry ''' + $step.entry.FullName + "' gave " +
                    $got + ' bytes, the archive says ' + $step.entry.Length + '); nothing was kept')
            }
            $total += $got
            try { [System.IO.File]::SetLastWriteTime($step.target, $step.entry.LastWriteTime.DateTime) } catch { $null = $_ }
            $files++
        }
    } catch {
        $ex = $_.Exception
        $err = Convert-ExceptionToError $ex
        foreach ($w in $written) { Remove-FileQuietly $w }
        $dirs = @($created | Sort-Object -Property Length -Descending)
        foreach ($d in $dirs) { try { [System.IO.Directory]::Delete($d, $false) } catch { $null = $_ } }
        $base = $ex
        while ($base -is [System.Management.Automation.RuntimeException] -and $null -ne $base.InnerException) { $base = $base.InnerException }
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
    return [ordered]@{ files = $files; bytes = $total }
}
