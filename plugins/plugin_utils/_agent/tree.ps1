# gowin.server agent, op family 'tree': changing the folder tree: ensure, remove, move (and the
# helpers that create parents, undo them and find files in use, which the writing families share).
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/tree.py and its contract vectors tests/contract/vectors/tree.yml.
# requires: fs

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'dir.ensure' = @{ accepted = @('path'); run = { param($a) Invoke-OpDirEnsure $a } }
    'path.remove' = @{ accepted = @('path', 'recurse'); run = { param($a) Invoke-OpPathRemove $a } }
    'path.move' = @{ accepted = @('src', 'dest'); run = { param($a) Invoke-OpPathMove $a } }
}

function Test-DriveRoot {
    param([string]$Path, [string]$What)
    $root = [System.IO.Path]::GetPathRoot($Path)
    if (-not [System.IO.Directory]::Exists($root)) {
        if ($Path -match '^[A-Za-z]:') { Stop-Op 'not_found' ($What + ': drive ' + $Path.Substring(0, 2) + ' does not exist') }
        Stop-Op 'not_found' ($What + ': ' + $root + ' cannot be reached')
    }
}

function Assert-NoFileAbove {
    # Fail 'exists' when a file sits where a folder of $Path would be.
    param([string]$Path, [string]$What)
    $probe = Get-ParentPath $Path
    while ($null -ne $probe) {
        if ([System.IO.Directory]::Exists($probe)) { return }
        if ([System.IO.File]::Exists($probe)) {
            Stop-Op 'exists' ($What + ': ' + $probe + ' is a file, so ' + $Path + ' cannot be created below it')
        }
        $probe = Get-ParentPath $probe
    }
}

$script:MaxJunctionHops = 31

function Resolve-DanglingLink {
    # Where a path that runs through a junction whose target is gone leads: the target in place of the
    # junction (again for a target that is itself a link). Windows reports such a link as an existing
    # folder (Directory.Exists reads the attributes of the link itself, GetFileAttributesEx does not
    # follow a final reparse point), but anything created below it fails with ERROR_PATH_NOT_FOUND.
    # The protocol (Junctions) says a junction on the way is followed, so a missing target is created.
    # The common case costs one attribute read: the first existing folder is not a link.
    # A UNC path is left alone: a junction's target names a drive of the server, not of this host. So
    # is a target that is not a drive path (a volume GUID path, a relative symbolic link).
    param([string]$Path)
    if ($Path.StartsWith('\\')) { return $Path }
    for ($hop = 0; $hop -le $script:MaxJunctionHops; $hop++) {
        $probe = $Path
        while ($null -ne $probe -and -not [System.IO.Directory]::Exists($probe)) { $probe = Get-ParentPath $probe }
        if ($null -eq $probe) { return $Path }
        if (-not (Test-IsReparsePoint (New-Object System.IO.DirectoryInfo($probe)))) { return $Path }
        $target = Get-JunctionTarget $probe
        if ($null -eq $target -or $target -notmatch '^[A-Za-z]:\\') { return $Path }
        $live = New-Object System.IO.DirectoryInfo($target)
        if ($live.Exists -and -not (Test-IsReparsePoint $live)) { return $Path }
        $Path = $target.TrimEnd('\') + $Path.Substring($probe.Length)
    }
    Stop-Op 'not_found' ($Path + ': more than ' + $script:MaxJunctionHops + ' levels of junctions')
}

function Invoke-OpDirEnsure {
    param($OpArgs)
    $path = Resolve-DanglingLink (Get-PathArg $OpArgs 'path' -Required -AllowUnc)
    if ([System.IO.Directory]::Exists($path)) { return [ordered]@{ changed = $false } }
    if ([System.IO.File]::Exists($path)) { Stop-Op 'exists' ('dir.ensure: ' + $path + ' is a file') }
    Test-DriveRoot $path 'dir.ensure'
    Assert-NoFileAbove $path 'dir.ensure'
    [void][System.IO.Directory]::CreateDirectory($path)
    return [ordered]@{ changed = $true }
}

# A file another process holds open so that it cannot be changed: the image of a running process
# (Windows refuses write access to a mapped executable with ERROR_SHARING_VIOLATION whatever share mode
# the opener asks for) or a handle that does not share writing. The probe shares read, write and
# delete itself, so a reader that shares everything (antivirus, indexer, backup) does not count, and
# a brief open (a scanner looking at a file just extracted) is retried for about a second.
$script:LockProbeTries = 5
$script:LockProbeDelayMs = 250

function Test-FileInUse {
    # $Info: the file's FileInfo when the caller has one (a directory listing's: no extra call).
    # Read-only: Windows refuses write access to a read-only file (ERROR_ACCESS_DENIED) before it looks
    # at sharing, so the probe would never see a running program; the attribute is cleared for the
    # probe and set back (the ops that probe replace, move or delete the file anyway).
    param([string]$Path, $Info = $null)
    if ($null -eq $Info) { $Info = New-Object System.IO.FileInfo($Path) }
    $cleared = $false
    try { $cleared = Clear-ReadOnly $Info } catch { $cleared = $false }
    try {
        return (Test-OpenForChange $Path)
    } finally {
        if ($cleared) { try { Set-ReadOnly $Path } catch { $null = $_ } }
    }
}

function Test-OpenForChange {
    # Whether $Path cannot be opened for writing and deleting while sharing read, write and delete:
    # a mapped image refuses write access, a handle that does not share writing or deleting refuses
    # the open (ERROR_SHARING_VIOLATION). Retried for about a second.
    param([string]$Path)
    $rights = [System.Security.AccessControl.FileSystemRights]'WriteData, Delete'
    for ($try = 1; $try -le $script:LockProbeTries; $try++) {
        try {
            $fs = [System.IO.FileStream]::new($Path, [System.IO.FileMode]::Open, $rights, $script:ShareAll, 4096,
                [System.IO.FileOptions]::None)
            $fs.Dispose()
            return $false
        } catch [System.UnauthorizedAccessException] {
            # An ACL that denies this account: not a matter of another process; the change itself reports.
            return $false
        } catch [System.IO.IOException] {
            $low = (Get-HResult $_.Exception) -band 0xFFFF
            if ($low -ne 0x20 -and $low -ne 0x21) { return $false }
        }
        if ($try -lt $script:LockProbeTries) { Start-Sleep -Milliseconds $script:LockProbeDelayMs }
    }
    return $true
}

function Find-LockedFile {
    # The first file under $Path (a file or a real folder; junctions are not followed) that another
    # process holds open (Test-FileInUse), or $null. Used by the ops that change a single file, and by
    # path.move only after the rename failed, to name the file.
    param([string]$Path)
    $info = Get-PathInfo $Path
    if ($null -eq $info) { return $null }
    $found = New-Object System.Collections.ArrayList
    return (Get-RemovalList $info $found)
}

function Get-RemovalList {
    # One walk of a tree: appends what path.remove deletes to $List, children before their folder
    # (junctions as links, never followed), probing each file on the way. Returns the first file in
    # use (and stops), or $null when the whole tree can go.
    param([System.IO.FileSystemInfo]$Info, [System.Collections.ArrayList]$List)
    if (Test-IsLinkItem $Info) {
        # A junction or a symbolic link (to a folder or a file) goes as a link: what it points to is
        # neither probed nor touched.
        [void]$List.Add($Info)
        return $null
    }
    if ($Info -is [System.IO.FileInfo]) {
        if (Test-FileInUse $Info.FullName $Info) { return $Info.FullName }
        [void]$List.Add($Info)
        return $null
    }
    foreach ($child in $Info.GetFileSystemInfos()) {
        $hit = Get-RemovalList $child $List
        if ($null -ne $hit) { return $hit }
    }
    [void]$List.Add($Info)
    return $null
}

function Clear-ReadOnly {
    # Clears the read-only attribute; returns whether it was set. A file left with no attribute gets
    # Normal (SetFileAttributes documents FILE_ATTRIBUTE_NORMAL, not 0, for "no attributes").
    param([System.IO.FileSystemInfo]$Info)
    $attrs = $Info.Attributes
    if (($attrs -band [System.IO.FileAttributes]::ReadOnly) -eq 0) { return $false }
    $attrs = $attrs -band (-bnot [System.IO.FileAttributes]::ReadOnly)
    if ([int]$attrs -eq 0) { $attrs = [System.IO.FileAttributes]::Normal }
    $Info.Attributes = $attrs
    return $true
}

function Set-ReadOnly {
    param([string]$Path)
    $fi = New-Object System.IO.FileInfo($Path)
    $attrs = ($fi.Attributes -bor [System.IO.FileAttributes]::ReadOnly) -band (-bnot [System.IO.FileAttributes]::Normal)
    $fi.Attributes = $attrs
}

function Test-IsLinkItem {
    # A reparse point that is a link (a junction or mount point, a symbolic link): listed as a link,
    # never probed or followed. Other reparse points on files (deduplicated files, cloud placeholders,
    # app execution aliases) are files: probed like any other. Only files need the extra Get-Item.
    param([System.IO.FileSystemInfo]$Info)
    if (-not (Test-IsReparsePoint $Info)) { return $false }
    if ($Info -is [System.IO.DirectoryInfo]) { return $true }
    try { return ((Get-Item -LiteralPath $Info.FullName -Force).LinkType -eq 'SymbolicLink') } catch { return $false }
}

function Remove-Link {
    # Remove a reparse point itself, never what it points to.
    param([System.IO.FileSystemInfo]$Info)
    if ($Info -is [System.IO.DirectoryInfo]) { [System.IO.Directory]::Delete($Info.FullName, $false) }
    else { [void](Clear-ReadOnly $Info); [System.IO.File]::Delete($Info.FullName) }
}

function Remove-ListedItems {
    # Delete what Get-RemovalList collected, in its order (children first). Attributes come from the
    # walk's directory listing (no extra call per file unless it is read-only).
    param([System.Collections.ArrayList]$List)
    foreach ($item in $List) {
        if (Test-IsReparsePoint $item) { Remove-Link $item; continue }
        [void](Clear-ReadOnly $item)
        if ($item -is [System.IO.DirectoryInfo]) { [System.IO.Directory]::Delete($item.FullName, $false) }
        else { [System.IO.File]::Delete($item.FullName) }
    }
}

function Invoke-OpPathRemove {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $recurse = Get-BoolArg $OpArgs 'recurse' $true
    $info = Get-PathInfo $path
    if ($null -eq $info) { return [ordered]@{ changed = $false } }
    if (Test-IsRootPath $path) {
        Stop-Op 'bad_args' ("argument 'path' is the root of drive " + $path.TrimEnd('\') + '; a drive root is never removed')
    }
    if (Test-IsReparsePoint $info) {
        Remove-Link $info
        return [ordered]@{ changed = $true }
    }
    if ($info -is [System.IO.DirectoryInfo]) {
        if (-not $recurse -and @($info.GetFileSystemInfos()).Count -gt 0) {
            Stop-Op 'bad_args' ("argument 'recurse' is false but " + $path + ' is not empty; set recurse to true to remove it with its contents')
        }
    }
    # One walk: everything is probed before anything is deleted, so a file in use leaves the tree whole.
    $list = New-Object System.Collections.ArrayList
    $locked = Get-RemovalList $info $list
    if ($null -ne $locked) {
        Stop-Op 'in_use' ('path.remove: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
    }
    Remove-ListedItems $list
    return [ordered]@{ changed = $true }
}

function Move-PathItem {
    param([System.IO.FileSystemInfo]$Info, [string]$Src, [string]$Dest)
    if ($Info -is [System.IO.DirectoryInfo]) { [System.IO.Directory]::Move($Src, $Dest) }
    else { [System.IO.File]::Move($Src, $Dest) }
}

function Move-Folder {
    # A folder is renamed by one MoveFileEx: Windows refuses to rename a folder while a file below it is
    # open (ERROR_ACCESS_DENIED or ERROR_SHARING_VIOLATION), so no walk is needed before. On such a
    # failure the rename is retried for about a second (a scanner's brief open), then the tree is walked
    # once to name the file in use; without one, the error is reported as Windows gave it.
    param([System.IO.FileSystemInfo]$Info, [string]$Src, [string]$Dest)
    for ($try = 1; $try -le $script:LockProbeTries; $try++) {
        try {
            Move-PathItem $Info $Src $Dest
            return
        } catch [System.UnauthorizedAccessException] {
            $failure = $_
        } catch [System.IO.IOException] {
            $failure = $_
            $low = (Get-HResult $_.Exception) -band 0xFFFF
            if ($low -ne 0x20 -and $low -ne 0x21 -and $low -ne 0x05) { throw }
        }
        if ($try -lt $script:LockProbeTries) { Start-Sleep -Milliseconds $script:LockProbeDelayMs }
    }
    # Naming the file is a help, not the op: if the walk itself fails, the rename's error is reported.
    $locked = $null
    try { $locked = Find-LockedFile $Src } catch { $locked = $null }
    if ($null -ne $locked) {
        Stop-Op 'in_use' ('path.move: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
    }
    $base = $failure.Exception
    while ($base -is [System.Management.Automation.RuntimeException] -and $null -ne $base.InnerException) { $base = $base.InnerException }
    $low = (Get-HResult $base) -band 0xFFFF
    if ($base -is [System.IO.IOException] -and ($low -eq 0x20 -or $low -eq 0x21)) {
        Stop-Op 'in_use' ('path.move: ' + $Src + ' is in use by another process (no file below it is open: a process holds the ' +
            'folder itself, for example as its current folder)')
    }
    throw $failure.Exception
}

function Invoke-OpPathMove {
    param($OpArgs)
    $src = Get-PathArg $OpArgs 'src' -Required -AllowUnc
    $dest = Get-PathArg $OpArgs 'dest' -Required -AllowUnc
    $info = Get-PathInfo $src
    if ($null -eq $info) { Stop-Op 'not_found' ('path.move: src ' + $src + ' does not exist') }
    $same = [string]::Equals($src, $dest, [System.StringComparison]::OrdinalIgnoreCase)
    if (-not $same -and $null -ne (Get-PathInfo $dest)) { Stop-Op 'exists' ('path.move: dest ' + $dest + ' already exists') }
    if (-not [string]::Equals([System.IO.Path]::GetPathRoot($src), [System.IO.Path]::GetPathRoot($dest), [System.StringComparison]::OrdinalIgnoreCase)) {
        Stop-Op 'unsupported' ('path.move: ' + $src + ' and ' + $dest + ' are on different drives; a move is a rename')
    }
    if (-not $same -and $dest.StartsWith($src.TrimEnd('\') + '\', [System.StringComparison]::OrdinalIgnoreCase)) {
        Stop-Op 'bad_args' ("argument 'dest' is inside src " + $src + '; a folder cannot be moved into itself')
    }
    $parent = Get-ParentPath $dest
    if ($null -eq $parent -or -not [System.IO.Directory]::Exists($parent)) {
        Stop-Op 'not_found' ('path.move: the folder of dest, ' + $parent + ', does not exist')
    }
    $isFolder = ($info -is [System.IO.DirectoryInfo]) -and -not (Test-IsReparsePoint $info)
    if ($info -is [System.IO.FileInfo] -and (Test-FileInUse $src)) {
        Stop-Op 'in_use' ('path.move: ' + $src + ' is in use by another process (it is open, e.g. the executable of a running service)')
    }
    if ($same) {
        if ($src -ceq $dest) { return [ordered]@{ changed = $true } }
        # .NET Framework refuses a move whose names differ only in case: go through a temporary name.
        $temp = $parent.TrimEnd('\') + '\.gowin-move-' + [System.Guid]::NewGuid().ToString('N')
        if ($isFolder) { Move-Folder $info $src $temp } else { Move-PathItem $info $src $temp }
        try {
            Move-PathItem $info $temp $dest
        } catch {
            # Put it back under its old name: a failed case rename leaves src as it was, or says where it is.
            $failure = $_
            try {
                Move-PathItem $info $temp $src
            } catch {
                $err = Convert-ExceptionToError $failure.Exception
                Stop-Op $err.kind ('path.move: ' + $err.message + '; putting it back failed too: ' + $src + ' is now ' + $temp)
            }
            throw $failure.Exception
        }
    } elseif ($isFolder) {
        Move-Folder $info $src $dest
    } else {
        Move-PathItem $info $src $dest
    }
    return [ordered]@{ changed = $true }
}


function Get-DriveLabel {
    param([string]$Path)
    if ($Path -match '^[A-Za-z]:') { return $Path.Substring(0, 2).ToUpperInvariant() }
    return [System.IO.Path]::GetPathRoot($Path)
}

function New-ParentFolders {
    # Create the parents of $Path; returns the folders created, outermost first.
    param([string]$Path)
    $missing = New-Object System.Collections.Generic.List[string]
    $probe = Get-ParentPath $Path
    while ($null -ne $probe -and -not [System.IO.Directory]::Exists($probe)) { $probe = Get-ParentPath $probe }
    if ($null -ne $probe -and (Test-IsReparsePoint (New-Object System.IO.DirectoryInfo($probe)))) {
        # The first existing folder is a link: follow it if its target is gone (Resolve-DanglingLink).
        $Path = Resolve-DanglingLink $Path
    }
    $probe = Get-ParentPath $Path
    while ($null -ne $probe -and -not [System.IO.Directory]::Exists($probe)) {
        $missing.Insert(0, $probe)
        $probe = Get-ParentPath $probe
    }
    if ($missing.Count -gt 0) {
        # CreateDirectory may fail part way (ACL, disk full): remove what it made before failing, as
        # the callers' cleanup only runs for folders this function returned.
        try { [void][System.IO.Directory]::CreateDirectory($missing[$missing.Count - 1]) }
        catch { Remove-CreatedFolders $missing; throw }
    }
    return ,$missing
}

function Remove-CreatedFolders {
    # Undo New-ParentFolders: remove the folders (deepest first) if they are empty; never fails.
    param($Created)
    if ($null -eq $Created) { return }
    for ($i = $Created.Count - 1; $i -ge 0; $i--) {
        try { [System.IO.Directory]::Delete($Created[$i], $false) } catch { $null = $_ }
    }
}

function Remove-FileQuietly {
    param([string]$Path)
    try {
        if ([System.IO.File]::Exists($Path)) {
            $fi = New-Object System.IO.FileInfo($Path)
            [void](Clear-ReadOnly $fi)
            [System.IO.File]::Delete($Path)
        }
    } catch { $null = $_ }
}
