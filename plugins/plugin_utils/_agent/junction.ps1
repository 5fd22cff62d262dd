# gowin.server agent, op family 'junction': directory junctions.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/junction.py and its contract vectors tests/contract/vectors/junction.yml.
# requires: fs, tree

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'junction.set' = @{ accepted = @('path', 'target'); run = { param($a) Invoke-OpJunctionSet $a } }
}

# ---- junction.set ---------------------------------------------------------------------------

function New-Junction {
    # Windows PowerShell 5.1 offers no -LiteralPath for creating a junction (New-Item has only
    # -Path, which is globbed together with -Name), and native helpers (mklink) would need cmd.exe.
    # So this ONE call passes -Path, with every wildcard character of the parent escaped. The
    # target (-Value) is read literally by the FileSystem provider, which in 5.1 requires it to be
    # an existing folder: a missing target is created for the call and removed right after.
    param([string]$Path, [string]$Target)
    $parent = Get-ParentPath $Path
    $leaf = Get-LeafName $Path
    $made = $null
    if (-not [System.IO.Directory]::Exists($Target)) {
        if ([System.IO.File]::Exists($Target)) { Stop-Op 'bad_args' ("argument 'target' is a file; a junction points to a folder") }
        $made = New-ParentFolders ($Target.TrimEnd('\') + '\x')
    }
    try {
        $null = New-Item -ItemType Junction -Path ([System.Management.Automation.WildcardPattern]::Escape($parent)) -Name $leaf -Value $Target -Force:$false
    } finally {
        Remove-CreatedFolders $made
    }
}

function Invoke-OpJunctionSet {
    param($OpArgs)
    $rawTarget = Get-StringArg $OpArgs 'target' -Required
    if ($rawTarget.Replace('/', '\').StartsWith('\\')) {
        Stop-Op 'bad_args' "argument 'target' must be a local path (C:\...); a junction cannot point to a network share"
    }
    $path = Get-PathArg $OpArgs 'path' -Required
    $target = Get-PathArg $OpArgs 'target' -Required
    $info = Get-PathInfo $path
    if ($null -ne $info -and (Test-IsReparsePoint $info) -and $info -is [System.IO.DirectoryInfo]) {
        $before = Get-JunctionTarget $path
        # Both sides trimmed: a target that is a drive root is 'C:\' here and may be stored so too.
        if ($null -ne $before -and [string]::Equals($before.TrimEnd('\'), $target.TrimEnd('\'), [System.StringComparison]::OrdinalIgnoreCase)) {
            return [ordered]@{ changed = $false; before = $before }
        }
        # Retarget: remove the link itself (never recursing into the old target), then create.
        [System.IO.Directory]::Delete($path, $false)
        try {
            New-Junction $path $target
        } catch {
            $err = Convert-ExceptionToError $_.Exception
            if ($null -ne $before) { try { New-Junction $path $before } catch { $null = $_ } }
            Stop-Op $err.kind $err.message
        }
        return [ordered]@{ changed = $true; before = $before }
    }
    if ($null -ne $info) {
        Stop-Op 'exists' ('junction.set: ' + $path + ' is a ' + (Get-PathType $info) + ', not a junction')
    }
    Test-DriveRoot $path 'junction.set'
    Assert-NoFileAbove $path 'junction.set'
    $created = New-ParentFolders $path
    try {
        New-Junction $path $target
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        Remove-CreatedFolders $created
        Stop-Op $err.kind $err.message
    }
    return [ordered]@{ changed = $true; before = $null }
}
