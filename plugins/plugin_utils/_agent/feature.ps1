# gowin.server agent, op family 'feature': Windows optional features (the DISM API), by name.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/feature.py and its contract vectors tests/contract/vectors/feature.yml.
# requires: (none)
#
# Windows behaviour relied on (each one held by a vector):
# - Get-WindowsOptionalFeature -Online (the DISM module of Windows Server 2012 and later) lists every
#   optional feature of the running system, each with its FeatureName and State, in one DISM session; a
#   name it does not list does not exist on this host (exists false: e.g. SMB1Protocol-Client before
#   Windows Server 2019). Names are matched here, case-insensitively, never passed as a pattern (-FeatureName
#   takes wildcards), and names holding anything but letters, digits and . _ - are refused up front.
# - State is one of Enabled, Disabled, DisabledWithPayloadRemoved, EnablePending, DisablePending (the
#   DismPackageFeatureState values Installed 4, Staged 2, Removed 3, InstallPending 5, UninstallPending 1,
#   read by name and by number); a *Pending state waits for a restart, so restart_needed is true.
# - Enable-WindowsOptionalFeature -Online -FeatureName X -All -NoRestart -LimitAccess (never Windows Update, so a
#   missing payload fails at once instead of waiting for minutes) enables X and the features it needs;
#   Disable-WindowsOptionalFeature -Online -FeatureName X -NoRestart disables it. Neither restarts the host;
#   the object they return says RestartNeeded, and a change that waits for a restart leaves X in a *Pending
#   state (and Component Based Servicing's RebootPending key, which host.facts reads as pending_reboot).
# - A feature that is already in the state asked for (disabled counting DisabledWithPayloadRemoved, and a
#   *Pending state counting as the state it is heading for) is left alone: nothing is run.

Register-AgentOps @{
    'feature.get' = @{ accepted = @('names'); run = { param($a) Invoke-OpFeatureGet $a } }
    'feature.set' = @{ accepted = @('name', 'state'); run = { param($a) Invoke-OpFeatureSet $a } }
}

$script:FeatureNamePattern = '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\z'
$script:FeatureStateNames = @{
    'Enabled' = 'enabled'; 'Installed' = 'enabled'
    'Disabled' = 'disabled'; 'Staged' = 'disabled'
    'DisabledWithPayloadRemoved' = 'disabled_removed'; 'Removed' = 'disabled_removed'
    'EnablePending' = 'enable_pending'; 'InstallPending' = 'enable_pending'
    'DisablePending' = 'disable_pending'; 'UninstallPending' = 'disable_pending'
}

function Test-FeatureName {
    param([string]$Arg, $Name)
    if (-not ($Name -is [string]) -or $Name -cnotmatch $script:FeatureNamePattern) {
        Stop-Op 'bad_args' ("argument '" + $Arg + "' must be feature names: 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    }
}

function Get-FeatureTable {
    # Every optional feature of the running system: FeatureName (any case) -> the feature object.
    $table = New-Object 'System.Collections.Generic.Dictionary[string,object]' ([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($f in @(Get-WindowsOptionalFeature -Online -ErrorAction Stop)) {
        if ($null -ne $f -and -not [string]::IsNullOrEmpty([string]$f.FeatureName)) { $table[[string]$f.FeatureName] = $f }
    }
    return ,$table
}

function ConvertTo-FeatureState {
    # The protocol's state of a feature object (null for a state it does not name).
    param($Feature)
    $name = [string]$Feature.State
    # By name only: the cmdlet's FeatureState enum numbers differ from the DISM API's (Superseded 4,
    # PartiallyInstalled 5 have no protocol state and read as null).
    if ($script:FeatureStateNames.ContainsKey($name)) { return $script:FeatureStateNames[$name] }
    return $null
}

function Get-FeatureInfo {
    param($Table, [string]$Name)
    if (-not $Table.ContainsKey($Name)) { return [ordered]@{ exists = $false; state = $null; restart_needed = $false } }
    $state = ConvertTo-FeatureState $Table[$Name]
    return [ordered]@{ exists = $true; state = $state; restart_needed = ($state -eq 'enable_pending' -or $state -eq 'disable_pending') }
}

function Invoke-OpFeatureGet {
    param($OpArgs)
    $names = Get-ListArg $OpArgs 'names' -Required -Strings
    if ($names.Count -lt 1 -or $names.Count -gt 50) { Stop-Op 'bad_args' ("argument 'names' must list 1 to 50 feature names, got " + $names.Count) }
    $seen = New-Object 'System.Collections.Generic.HashSet[string]' ([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($n in $names) {
        Test-FeatureName 'names' $n
        if (-not $seen.Add($n)) { Stop-Op 'bad_args' ("argument 'names' lists '" + $n + "' twice (names are compared case-insensitively)") }
    }
    $table = Get-FeatureTable
    $features = [ordered]@{}
    foreach ($n in $names) { $features[$n] = Get-FeatureInfo $table $n }
    return [ordered]@{ features = $features }
}

function Invoke-OpFeatureSet {
    param($OpArgs)
    $name = Get-StringArg $OpArgs 'name' -Required
    Test-FeatureName 'name' $name
    $want = Get-StringArg $OpArgs 'state' -Required
    if (@('enabled', 'disabled') -cnotcontains $want) { Stop-Op 'bad_args' "argument 'state' must be one of enabled, disabled" }
    $table = Get-FeatureTable
    if (-not $table.ContainsKey($name)) { Stop-Op 'not_found' ("optional feature '" + $name + "' does not exist on this host") }
    $feature = $table[$name]
    $canonical = [string]$feature.FeatureName
    $before = ConvertTo-FeatureState $feature
    $already = @('enabled', 'enable_pending')
    if ($want -eq 'disabled') { $already = @('disabled', 'disabled_removed', 'disable_pending') }
    if ($already -contains $before) {
        return [ordered]@{ changed = $false; state = $before; restart_needed = ($before -eq 'enable_pending' -or $before -eq 'disable_pending') }
    }
    if ($want -eq 'enabled') {
        $result = Enable-WindowsOptionalFeature -Online -FeatureName $canonical -All -NoRestart -LimitAccess -ErrorAction Stop -WarningAction SilentlyContinue
    } else {
        $result = Disable-WindowsOptionalFeature -Online -FeatureName $canonical -NoRestart -ErrorAction Stop -WarningAction SilentlyContinue
    }
    $restart = $false
    foreach ($r in @($result)) { if ($null -ne $r -and [bool]$r.RestartNeeded) { $restart = $true } }
    $after = Get-FeatureInfo (Get-FeatureTable) $canonical
    return [ordered]@{ changed = $true; state = $after['state']; restart_needed = ($restart -or $after['restart_needed']) }
}
