# gowin.server agent, op family 'write': writing a whole text file in place.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/write.py and its contract vectors tests/contract/vectors/write.yml.
# requires: fs, tree

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'file.write' = @{ accepted = @('path', 'content', 'encoding'); run = { param($a) Invoke-OpFileWrite $a } }
}

# ---- file.write -----------------------------------------------------------------------------

$script:FileEncodings = @('utf8', 'utf8bom', 'utf16le')

function ConvertTo-EncodedText {
    # The bytes of a whole file: byte order mark (utf8bom, utf16le) and text, encoded strictly (a
    # lone UTF-16 surrogate fails instead of becoming '?').
    param([string]$Content, [string]$Encoding)
    $bom = [byte[]]@()
    if ($Encoding -eq 'utf16le') {
        $enc = New-Object System.Text.UnicodeEncoding($false, $false, $true)
        $bom = [byte[]]@(0xFF, 0xFE)
    } else {
        $enc = New-Object System.Text.UTF8Encoding($false, $true)
        if ($Encoding -eq 'utf8bom') { $bom = [byte[]]@(0xEF, 0xBB, 0xBF) }
    }
    try {
        $body = $enc.GetBytes($Content)
    } catch {
        Stop-Op 'bad_args' ("argument 'content' cannot be written as " + $Encoding + ': it holds a lone UTF-16 surrogate')
    }
    $data = New-Object byte[] ($bom.Length + $body.Length)
    [System.Array]::Copy($bom, 0, $data, 0, $bom.Length)
    [System.Array]::Copy($body, 0, $data, $bom.Length, $body.Length)
    return ,$data
}

function Get-StoredFilePath {
    # $Path with its last name as stored in its folder (an existing file keeps its name's case).
    param([string]$Path)
    $parent = Get-ParentPath $Path
    $leaf = Get-LeafName $Path
    if ($null -eq $parent) { return $Path }
    try {
        foreach ($found in [System.IO.Directory]::GetFiles($parent, $leaf)) {
            $name = Get-LeafName $found
            if ([string]::Equals($name, $leaf, [System.StringComparison]::OrdinalIgnoreCase)) {
                return ($parent.TrimEnd('\') + '\' + $name)
            }
        }
    } catch { $null = $_ }
    return $Path
}

function Invoke-OpFileWrite {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $content = Get-StringArg $OpArgs 'content' -Required -AllowEmpty
    $encoding = 'utf8'
    if (Test-Arg $OpArgs 'encoding') {
        $encoding = $OpArgs['encoding']
        if (-not ($encoding -is [string]) -or $script:FileEncodings -cnotcontains $encoding) {
            $shown = ConvertTo-AgentJson $encoding
            if ($shown.Length -gt 80) { $shown = $shown.Substring(0, 77) + '...' }
            Stop-Op 'bad_args' ("argument 'encoding' must be one of " + ($script:FileEncodings -join ', ') + '; got ' + $shown)
        }
    }
    $data = ConvertTo-EncodedText $content $encoding
    $sha = New-Sha256
    try { $digest = ConvertTo-HexString ($sha.ComputeHash($data)) } finally { $sha.Dispose() }
    $result = [ordered]@{ changed = $false; size = [long]$data.Length; sha256 = $digest }

    # What is at path now (a final junction not followed: a junction is a link to a folder).
    $info = Get-PathInfo $path
    if ($info -is [System.IO.DirectoryInfo]) {
        $what = 'folder'
        if (Test-IsReparsePoint $info) { $what = 'junction' }
        Stop-Op 'exists' ('file.write: ' + $path + ' is a ' + $what + ', not a file')
    }
    $exists = ($null -ne $info)
    # The same bytes: nothing is written, not even the file's time (reading works on a file in use).
    if ($exists -and [long]$info.Length -eq [long]$data.Length -and (Get-FileSha256 $path) -eq $digest) { return $result }

    # The checks look where the file will go: through a junction whose target is gone, that is the
    # target (New-ParentFolders creates it), not the link that Windows reports as an existing folder.
    $resolved = $path
    if (-not $exists) { $resolved = Resolve-DanglingLink $path }
    Test-DriveRoot $resolved 'file.write'
    Assert-NoFileAbove $resolved 'file.write'
    $dest = $path
    $readOnly = $false
    if ($exists) {
        $locked = Find-LockedFile $path
        if ($null -ne $locked) {
            Stop-Op 'in_use' ('file.write: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
        }
        $dest = Get-StoredFilePath $path
        $readOnly = (($info.Attributes -band [System.IO.FileAttributes]::ReadOnly) -ne 0)
    }
    $folder = Get-ParentPath $dest
    $tag = [System.Guid]::NewGuid().ToString('N').Substring(0, 8)
    $temp = $folder.TrimEnd('\') + '\~gw' + $tag + '.tmp'
    $backup = $null
    $tempMade = $false
    $created = $null
    $cleared = $false
    try {
        # Inside the try: a parent that cannot be created fails with the op's name and error mapping.
        $created = New-ParentFolders $resolved
        $fs = New-Object System.IO.FileStream($temp, [System.IO.FileMode]::CreateNew, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
        $tempMade = $true
        try {
            $fs.Write($data, 0, $data.Length)
            $fs.Flush($true)
        } finally { $fs.Dispose() }
        if ($exists) {
            # ReplaceFile: the file keeps its ACL, attributes and name. With a backup name, a failed
            # rename leaves the old file where it can be put back (without one it may be gone).
            $backup = $folder.TrimEnd('\') + '\~gw' + $tag + '.bak'
            # File.Replace refuses a read-only destination (UnauthorizedAccessException, documented for
            # .NET Framework 4.x): the attribute is cleared for the replace and set again on the new file.
            if ($readOnly) { $cleared = Clear-ReadOnly $info }
            [System.IO.File]::Replace($temp, $dest, $backup)
            # The new content is in place: what follows cannot fail the op, only be reported.
            $cleared = $false
            if ($readOnly) {
                try { Set-ReadOnly $dest } catch { $result['readonly_lost'] = $true }
            }
            Remove-FileQuietly $backup
            # ReplaceFile itself fails while the old file is open without sharing delete (the in-use
            # probe refuses that first), so a backup is left only when something opened it after the
            # replace (a scanner looking at the renamed file) or its deletion is still pending. It is
            # reported, never silently left.
            if ([System.IO.File]::Exists($backup)) { $result['backup_left'] = $backup }
        } else {
            [System.IO.File]::Move($temp, $dest)
        }
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        $kept = ''
        if ($null -ne $backup -and [System.IO.File]::Exists($backup)) {
            if (-not [System.IO.File]::Exists($dest)) {
                # ERROR_UNABLE_TO_MOVE_REPLACEMENT_2: the old file has the backup name; put it back.
                try { [System.IO.File]::Move($backup, $dest) } catch { $null = $_ }
            } else {
                Remove-FileQuietly $backup
            }
            if ([System.IO.File]::Exists($backup)) { $kept = '; the old content is kept in ' + $backup }
        }
        if ($cleared -and [System.IO.File]::Exists($dest)) {
            try { Set-ReadOnly $dest } catch { $null = $_ }
        }
        if ($tempMade) { Remove-FileQuietly $temp }
        Remove-CreatedFolders $created
        if ($err.kind -eq 'disk_full') {
            Stop-Op 'disk_full' ('file.write: there is not enough space on drive ' + (Get-DriveLabel $dest) + ' for ' + $dest +
                ' (' + $err.message + '); the file was left as it was' + $kept)
        }
        Stop-Op $err.kind ('file.write: ' + $dest + ': ' + $err.message + $kept)
    }
    $result['changed'] = $true
    return $result
}
