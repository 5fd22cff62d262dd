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

function Invoke-OpDirEnsure {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    if ([System.IO.Directory]::Exists($path)) { return [ordered]@{ changed = $false } }
    if ([System.IO.File]::Exists($path)) { Stop-Op 'exists' ('dir.ensure: ' + $path + ' is a file') }
    Test-DriveRoot $path 'dir.ensure'
    Assert-NoFileAbove $path 'dir.ensure'
    [void][System.IO.Directory]::CreateDirectory($path)
    return [ordered]@{ changed = $true }
}

function Find-LockedFile {
    # Best-effort check before a remove or move: the first file under $Path (a file or a real folder;
    # junctions are not followed) that another process holds open, or $null. A file we may not open
    # for writing (read-only attribute, ACL) is skipped: the remove itself reports on it.
    param([string]$Path)
    $info = Get-PathInfo $Path
    if ($null -eq $info) { return $null }
    return (Find-LockedIn $info)
}

function Find-LockedIn {
    param([System.IO.FileSystemInfo]$Info)
    if ($Info -is [System.IO.FileInfo]) {
        try {
            $fs = [System.IO.File]::Open($Info.FullName, [System.IO.FileMode]::Open, [System.IO.FileAccess]::ReadWrite, [System.IO.FileShare]::None)
            $fs.Dispose()
        } catch [System.UnauthorizedAccessException] {
            return $null
        } catch [System.IO.IOException] {
            $low = (Get-HResult $_.Exception) -band 0xFFFF
            if ($low -eq 0x20 -or $low -eq 0x21) { return $Info.FullName }
        }
        return $null
    }
    if (Test-IsReparsePoint $Info) { return $null }
    foreach ($child in $Info.GetFileSystemInfos()) {
        $hit = Find-LockedIn $child
        if ($null -ne $hit) { return $hit }
    }
    return $null
}

function Clear-ReadOnly {
    param([System.IO.FileSystemInfo]$Info)
    if (($Info.Attributes -band [System.IO.FileAttributes]::ReadOnly) -ne 0) {
        $Info.Attributes = $Info.Attributes -band (-bnot [System.IO.FileAttributes]::ReadOnly)
    }
}

function Remove-Link {
    # Remove a reparse point itself, never what it points to.
    param([System.IO.FileSystemInfo]$Info)
    if ($Info -is [System.IO.DirectoryInfo]) { [System.IO.Directory]::Delete($Info.FullName, $false) }
    else { Clear-ReadOnly $Info; [System.IO.File]::Delete($Info.FullName) }
}

function Remove-Tree {
    # Delete a real folder and what it holds, walking the tree ourselves so that junctions (and
    # symbolic links) inside are removed as links and never followed.
    param([System.IO.DirectoryInfo]$Dir)
    foreach ($child in $Dir.GetFileSystemInfos()) {
        if (Test-IsReparsePoint $child) { Remove-Link $child }
        elseif ($child -is [System.IO.DirectoryInfo]) { Remove-Tree $child }
        else { Clear-ReadOnly $child; [System.IO.File]::Delete($child.FullName) }
    }
    Clear-ReadOnly $Dir
    [System.IO.Directory]::Delete($Dir.FullName, $false)
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
    $locked = Find-LockedFile $path
    if ($null -ne $locked) {
        Stop-Op 'in_use' ('path.remove: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
    }
    if ($info -is [System.IO.DirectoryInfo]) { Remove-Tree $info }
    else { Clear-ReadOnly $info; [System.IO.File]::Delete($path) }
    return [ordered]@{ changed = $true }
}

function Move-PathItem {
    param([System.IO.FileSystemInfo]$Info, [string]$Src, [string]$Dest)
    if ($Info -is [System.IO.DirectoryInfo]) { [System.IO.Directory]::Move($Src, $Dest) }
    else { [System.IO.File]::Move($Src, $Dest) }
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
    if (-not (Test-IsReparsePoint $info)) {
        $locked = Find-LockedFile $src
        if ($null -ne $locked) {
            Stop-Op 'in_use' ('path.move: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
        }
    }
    if ($same) {
        if ($src -ceq $dest) { return [ordered]@{ changed = $true } }
        # .NET Framework refuses a move whose names differ only in case: go through a temporary name.
        $temp = $parent.TrimEnd('\') + '\.gowin-move-' + [System.Guid]::NewGuid().ToString('N')
        Move-PathItem $info $src $temp
        Move-PathItem $info $temp $dest
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
            Clear-ReadOnly $fi
            [System.IO.File]::Delete($Path)
        }
    } catch { $null = $_ }
}
