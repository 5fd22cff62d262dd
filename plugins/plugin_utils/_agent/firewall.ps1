# gowin.server agent, op family 'firewall': Windows Defender Firewall rules, by name (ID), and its profiles.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/firewall.py and its contract vectors tests/contract/vectors/firewall.yml.
# requires: (none)
#
# Windows behaviour relied on (each one held by a vector):
# - The NetSecurity module (Windows Server 2012 and later, Windows PowerShell 5.1): a rule's Name is its
#   unique ID, compared case-insensitively; Get-NetFirewallRule -Name takes wildcards, so a name holding
#   * ? [ or ] is refused rather than matched as a pattern.
# - The rule's filters are separate objects (Get-NetFirewallPortFilter, -AddressFilter,
#   -ApplicationFilter, -ServiceFilter); Windows reports a remote address 10.0.0.0/8 as
#   10.0.0.0/255.0.0.0 and ports as strings, which the controller compares by meaning.
# - Set-NetFirewallRule changes a rule in place (no moment without it); New-NetFirewallRule creates one.
# - Profiles (firewall.profile_get, firewall.profile_set): Get-NetFirewallProfile -PolicyStore ActiveStore
#   gives the settings in force (the local PersistentStore merged with every group policy); -PolicyStore
#   RSOP gives what group policies set, NotConfigured where none does (all of it on a host no policy
#   reaches). A GpoBoolean or Action of NotConfigured means the local default: enabled True, inbound
#   Block, outbound Allow, LogAllowed and LogBlocked False, AllowLocalFirewallRules True; LogFileName
#   %systemroot%\system32\LogFiles\Firewall\pfirewall.log and LogMaxSizeKilobytes 4096 (1 to 32767).
# - Set-NetFirewallProfile -Name X -PolicyStore PersistentStore changes the local settings, which take
#   effect at once (the ActiveStore read right after shows them) unless a group policy sets the same one.

Register-AgentOps @{
    'firewall.get' = @{ accepted = @('name'); run = { param($a) Invoke-OpFirewallGet $a } }
    'firewall.set' = @{ accepted = @('name', 'display_name', 'description', 'direction', 'action', 'enabled', 'protocol', 'local_ports', 'remote_addresses', 'profiles', 'program', 'service'); run = { param($a) Invoke-OpFirewallSet $a } }
    'firewall.remove' = @{ accepted = @('name'); run = { param($a) Invoke-OpFirewallRemove $a } }
    'firewall.profile_get' = @{ accepted = @(); run = { param($a) Invoke-OpFirewallProfileGet $a } }
    'firewall.profile_set' = @{ accepted = @('profile', 'enabled', 'default_inbound', 'default_outbound', 'log_allowed', 'log_blocked', 'log_max_kb', 'log_file'); run = { param($a) Invoke-OpFirewallProfileSet $a } }
}

function Get-FirewallNameArg {
    param($OpArgs)
    $name = Get-StringArg $OpArgs 'name' -Required
    if ($name.Length -gt 255) { Stop-Op 'bad_args' ("argument 'name' must be at most 255 characters, got " + $name.Length) }
    if ($name.IndexOfAny([char[]]@('*', '?', '[', ']', '|')) -ge 0) { Stop-Op 'bad_args' "argument 'name' must not contain * ? [ ] or | (the firewall cmdlets read them as patterns)" }
    foreach ($c in $name.ToCharArray()) {
        if ([int]$c -lt 32) { Stop-Op 'bad_args' "argument 'name' must not contain control characters" }
    }
    return $name
}

function Get-FirewallRule {
    param([string]$Name)
    $rules = @(Get-NetFirewallRule -Name $Name -ErrorAction SilentlyContinue)
    foreach ($r in $rules) {
        if ([string]::Equals([string]$r.Name, $Name, [System.StringComparison]::OrdinalIgnoreCase)) { return $r }
    }
    return $null
}

function ConvertTo-StringList {
    # A filter property (a string, an array of them, or nothing) as a list of strings; 'Any' is [].
    param($Value)
    $list = New-Object System.Collections.ArrayList
    foreach ($v in @($Value)) { if ($null -ne $v -and [string]$v -ne '' -and [string]$v -ne 'Any') { [void]$list.Add([string]$v) } }
    return ,$list
}

function Get-FirewallInfo {
    param([string]$Name)
    $rule = Get-FirewallRule $Name
    if ($null -eq $rule) { return [ordered]@{ exists = $false } }
    $port = Get-NetFirewallPortFilter -AssociatedNetFirewallRule $rule
    $addr = Get-NetFirewallAddressFilter -AssociatedNetFirewallRule $rule
    $app = Get-NetFirewallApplicationFilter -AssociatedNetFirewallRule $rule
    $svc = Get-NetFirewallServiceFilter -AssociatedNetFirewallRule $rule
    $profiles = New-Object System.Collections.ArrayList
    $bits = [int]$rule.Profile
    if ($bits -eq 0 -or $bits -eq 0x7FFFFFFF) { [void]$profiles.Add('any') }
    else {
        if ($bits -band 1) { [void]$profiles.Add('domain') }
        if ($bits -band 2) { [void]$profiles.Add('private') }
        if ($bits -band 4) { [void]$profiles.Add('public') }
    }
    $program = [string]$app.Program
    $service = [string]$svc.Service
    return [ordered]@{
        exists           = $true
        name             = [string]$rule.Name
        display_name     = [string]$rule.DisplayName
        description      = $(if ([string]::IsNullOrEmpty([string]$rule.Description)) { $null } else { [string]$rule.Description })
        direction        = ([string]$rule.Direction).ToLowerInvariant()
        action           = ([string]$rule.Action).ToLowerInvariant()
        enabled          = ([string]$rule.Enabled -eq 'True')
        protocol         = ([string]$port.Protocol).ToLowerInvariant()
        local_ports      = ConvertTo-StringList $port.LocalPort
        remote_addresses = ConvertTo-StringList $addr.RemoteAddress
        profiles         = $profiles
        program          = $(if ($program -eq '' -or $program -eq 'Any') { $null } else { $program })
        service          = $(if ($service -eq '' -or $service -eq 'Any') { $null } else { $service })
    }
}

function Invoke-OpFirewallGet {
    param($OpArgs)
    return Get-FirewallInfo (Get-FirewallNameArg $OpArgs)
}

function Get-ChoiceArg {
    param($OpArgs, [string]$Name, [string[]]$Choices, [string]$Default)
    $v = Get-StringArg $OpArgs $Name -Default $Default
    if ($Choices -cnotcontains $v) { Stop-Op 'bad_args' ("argument '" + $Name + "' must be one of " + ($Choices -join ', ')) }
    return $v
}

function Invoke-OpFirewallSet {
    # Create the rule, or set every field of an existing one: the rule is replaced as a whole.
    param($OpArgs)
    $name = Get-FirewallNameArg $OpArgs
    $display = Get-StringArg $OpArgs 'display_name' -Default $name
    $description = Get-StringArg $OpArgs 'description' -AllowEmpty -Default ''
    $direction = Get-ChoiceArg $OpArgs 'direction' @('inbound', 'outbound') 'inbound'
    $action = Get-ChoiceArg $OpArgs 'action' @('allow', 'block') 'allow'
    $enabled = Get-BoolArg $OpArgs 'enabled' $true
    $protocol = Get-ChoiceArg $OpArgs 'protocol' @('tcp', 'udp', 'any') 'tcp'
    $ports = Get-ListArg $OpArgs 'local_ports' -Strings
    $addresses = Get-ListArg $OpArgs 'remote_addresses' -Strings
    $profiles = Get-ListArg $OpArgs 'profiles' -Strings
    $program = Get-StringArg $OpArgs 'program'
    $service = Get-StringArg $OpArgs 'service'
    foreach ($p in $ports) {
        $m = [regex]::Match($p, '^([0-9]{1,5})(-([0-9]{1,5}))?$')
        $ok = $m.Success -and [int]$m.Groups[1].Value -ge 1 -and [int]$m.Groups[1].Value -le 65535
        if ($ok -and $m.Groups[3].Success) { $ok = [int]$m.Groups[3].Value -le 65535 -and [int]$m.Groups[3].Value -ge [int]$m.Groups[1].Value }
        if (-not $ok) { Stop-Op 'bad_args' "argument 'local_ports' must be ports 1 to 65535 or ranges such as 8000-8080" }
    }
    if ($ports.Count -gt 0 -and $protocol -eq 'any') { Stop-Op 'bad_args' "argument 'local_ports' needs protocol tcp or udp" }
    foreach ($a in $addresses) {
        if ($a.Length -eq 0 -or $a.Length -gt 100 -or $a -cnotmatch '^[A-Za-z0-9.:/\-]+$') {
            Stop-Op 'bad_args' "argument 'remote_addresses' must be addresses, subnets (a.b.c.d/n), ranges (a-b) or keywords such as LocalSubnet"
        }
    }
    foreach ($p in $profiles) {
        if (@('any', 'domain', 'private', 'public') -cnotcontains $p) { Stop-Op 'bad_args' "argument 'profiles' must be any, domain, private or public" }
    }
    foreach ($pair in @(@('display_name', $display), @('description', $description), @('program', $program), @('service', $service))) {
        if ($null -ne $pair[1] -and $pair[1].IndexOf([char]0) -ge 0) { Stop-Op 'bad_args' ("argument '" + $pair[0] + "' must not contain NUL") }
    }
    if ($null -ne $program) { $program = Get-PathArg $OpArgs 'program' }
    $profileValue = 'Any'
    if ($profiles.Count -gt 0 -and $profiles -cnotcontains 'any') {
        $names = @{ 'domain' = 'Domain'; 'private' = 'Private'; 'public' = 'Public' }
        $profileValue = (@($profiles | ForEach-Object { $names[$_] }) -join ', ')
    }
    $params = @{
        DisplayName = $display; Description = $description; Direction = $(if ($direction -eq 'inbound') { 'Inbound' } else { 'Outbound' })
        Action = $(if ($action -eq 'allow') { 'Allow' } else { 'Block' }); Enabled = $(if ($enabled) { 'True' } else { 'False' })
        Profile = $profileValue; Protocol = $(if ($protocol -eq 'any') { 'Any' } else { $protocol.ToUpperInvariant() })
        LocalPort = $(if ($ports.Count -gt 0) { [string[]]$ports } else { 'Any' })
        RemoteAddress = $(if ($addresses.Count -gt 0) { [string[]]$addresses } else { 'Any' })
        Program = $(if ($null -ne $program) { $program } else { 'Any' }); Service = $(if ($null -ne $service) { $service } else { 'Any' })
    }
    $rule = Get-FirewallRule $name
    $created = $false
    if ($null -eq $rule) {
        [void](New-NetFirewallRule -Name $name @params -ErrorAction Stop)
        $created = $true
    } else {
        Set-NetFirewallRule -Name ([string]$rule.Name) @params -ErrorAction Stop
    }
    $result = Get-FirewallInfo $name
    $result['changed'] = $true
    $result['created'] = $created
    return $result
}

function Invoke-OpFirewallRemove {
    param($OpArgs)
    $name = Get-FirewallNameArg $OpArgs
    $rule = Get-FirewallRule $name
    if ($null -eq $rule) { return [ordered]@{ changed = $false } }
    Remove-NetFirewallRule -Name ([string]$rule.Name) -ErrorAction Stop
    return [ordered]@{ changed = $true }
}

# ---------------------------------------------------------------------------------------------
# Profiles: the domain, private and public profiles' settings.

$script:FirewallProfileNames = @{ 'domain' = 'Domain'; 'private' = 'Private'; 'public' = 'Public' }
$script:FirewallDefaultLogFile = '%systemroot%\system32\LogFiles\Firewall\pfirewall.log'
# Protocol field -> the profile property that holds it.
$script:FirewallProfileProperties = [ordered]@{
    enabled = 'Enabled'; default_inbound = 'DefaultInboundAction'; default_outbound = 'DefaultOutboundAction'
    log_allowed = 'LogAllowed'; log_blocked = 'LogBlocked'; log_file = 'LogFileName'; log_max_kb = 'LogMaxSizeKilobytes'
    allow_local_rules = 'AllowLocalFirewallRules'
}

function Test-FirewallNotConfigured {
    param($Value)
    $text = [string]$Value
    return ($null -eq $Value -or $text -eq '' -or $text -eq 'NotConfigured')
}

function ConvertFrom-GpoBoolean {
    param($Value, [bool]$Default)
    if (Test-FirewallNotConfigured $Value) { return $Default }
    return ([string]$Value -eq 'True')
}

function ConvertFrom-FirewallAction {
    param($Value, [string]$Default)
    if (Test-FirewallNotConfigured $Value) { return $Default }
    return ([string]$Value).ToLowerInvariant()
}

function Get-FirewallProfileTable {
    # Profile objects of one policy store, by lower-case name ('domain', 'private', 'public').
    param([string]$Store)
    $table = @{}
    foreach ($p in @(Get-NetFirewallProfile -All -PolicyStore $Store -ErrorAction Stop)) { $table[([string]$p.Name).ToLowerInvariant()] = $p }
    return $table
}

function Get-FirewallPolicyFields {
    # The fields of each profile a group policy sets (RSOP store); none where it cannot be read.
    $owned = @{ domain = @(); private = @(); public = @() }
    try { $rsop = Get-FirewallProfileTable 'RSOP' } catch { return $owned }
    foreach ($name in @('domain', 'private', 'public')) {
        if (-not $rsop.ContainsKey($name)) { continue }
        $fields = New-Object System.Collections.ArrayList
        foreach ($field in $script:FirewallProfileProperties.Keys) {
            $v = $rsop[$name].($script:FirewallProfileProperties[$field])
            if (Test-FirewallNotConfigured $v) { continue }
            if ($field -eq 'log_max_kb' -and [string]$v -eq '0') { continue }
            [void]$fields.Add($field)
        }
        $owned[$name] = @($fields)
    }
    return $owned
}

function ConvertTo-FirewallProfileInfo {
    param($Item, $PolicyFields)
    $file = [string]$Item.LogFileName
    if (Test-FirewallNotConfigured $Item.LogFileName) { $file = $script:FirewallDefaultLogFile }
    $size = 4096
    if (-not (Test-FirewallNotConfigured $Item.LogMaxSizeKilobytes) -and [string]$Item.LogMaxSizeKilobytes -ne '0') { $size = [long]$Item.LogMaxSizeKilobytes }
    $fields = New-Object System.Collections.ArrayList
    foreach ($f in @($PolicyFields)) { [void]$fields.Add([string]$f) }
    return [ordered]@{
        enabled           = ConvertFrom-GpoBoolean $Item.Enabled $true
        default_inbound   = ConvertFrom-FirewallAction $Item.DefaultInboundAction 'block'
        default_outbound  = ConvertFrom-FirewallAction $Item.DefaultOutboundAction 'allow'
        log_allowed       = ConvertFrom-GpoBoolean $Item.LogAllowed $false
        log_blocked       = ConvertFrom-GpoBoolean $Item.LogBlocked $false
        log_file          = $file
        log_max_kb        = $size
        allow_local_rules = ConvertFrom-GpoBoolean $Item.AllowLocalFirewallRules $true
        policy_owned      = ($fields.Count -gt 0)
        policy_fields     = $fields
    }
}

function Get-FirewallProfiles {
    $active = Get-FirewallProfileTable 'ActiveStore'
    $owned = Get-FirewallPolicyFields
    $profiles = [ordered]@{}
    foreach ($name in @('domain', 'private', 'public')) {
        if (-not $active.ContainsKey($name)) { Stop-Op 'internal' ("Get-NetFirewallProfile did not report the " + $name + " profile") }
        $profiles[$name] = ConvertTo-FirewallProfileInfo $active[$name] $owned[$name]
    }
    return $profiles
}

function Invoke-OpFirewallProfileGet {
    param($OpArgs)
    return [ordered]@{ profiles = (Get-FirewallProfiles) }
}

function Get-FirewallLogFileArg {
    # An absolute drive path, or one under %systemroot% or %windir% (as Windows' own default is written).
    param($OpArgs)
    $value = Get-StringArg $OpArgs 'log_file'
    if ($null -eq $value) { return $null }
    $m = [regex]::Match($value, '^(%systemroot%|%windir%)([\\/].*)?\z', [System.Text.RegularExpressions.RegexOptions]::IgnoreCase)
    if ($m.Success) {
        $rest = ConvertTo-AgentPath ('C:\' + $m.Groups[2].Value) 'log_file'
        if ($rest.Length -le 3) { Stop-Op 'bad_args' "argument 'log_file' must name a file" }
        return $m.Groups[1].Value + $rest.Substring(2)
    }
    if ($value.Replace('/', '\').StartsWith('\\')) { Stop-Op 'bad_args' "argument 'log_file' must be a path on a drive of the host (C:\...), not a UNC path" }
    $path = Get-PathArg $OpArgs 'log_file'
    if ($path.Length -le 3) { Stop-Op 'bad_args' "argument 'log_file' must name a file" }
    return $path
}

function Invoke-OpFirewallProfileSet {
    # Set the given settings of one profile in the local store, only those whose value in force differs.
    param($OpArgs)
    $which = Get-StringArg $OpArgs 'profile' -Required
    if (@('domain', 'private', 'public') -cnotcontains $which) { Stop-Op 'bad_args' "argument 'profile' must be one of domain, private, public" }
    $want = [ordered]@{}
    foreach ($field in @('enabled', 'log_allowed', 'log_blocked')) { if (Test-Arg $OpArgs $field) { $want[$field] = Get-BoolArg $OpArgs $field $false } }
    foreach ($field in @('default_inbound', 'default_outbound')) { if (Test-Arg $OpArgs $field) { $want[$field] = Get-ChoiceArg $OpArgs $field @('block', 'allow') $null } }
    if (Test-Arg $OpArgs 'log_max_kb') { $want['log_max_kb'] = Get-IntArg $OpArgs 'log_max_kb' -Min 1 -Max 32767 }
    if (Test-Arg $OpArgs 'log_file') { $want['log_file'] = Get-FirewallLogFileArg $OpArgs }
    $current = (Get-FirewallProfiles)[$which]
    $before = [ordered]@{}
    $params = @{}
    foreach ($field in $want.Keys) {
        $before[$field] = $current[$field]
        $same = $current[$field] -eq $want[$field]
        if ($field -eq 'log_file') { $same = [string]::Equals([string]$current[$field], [string]$want[$field], [System.StringComparison]::OrdinalIgnoreCase) }
        elseif ($want[$field] -is [bool]) { $same = ([bool]$current[$field] -eq [bool]$want[$field]) }
        if ($same) { continue }
        $v = $want[$field]
        if ($v -is [bool]) { $v = $(if ($v) { 'True' } else { 'False' }) }
        elseif ($field -eq 'default_inbound' -or $field -eq 'default_outbound') { $v = $(if ($v -eq 'block') { 'Block' } else { 'Allow' }) }
        elseif ($field -eq 'log_max_kb') { $v = [uint64]$v }
        $params[$script:FirewallProfileProperties[$field]] = $v
    }
    $owned = @($current['policy_fields'] | Where-Object { $want.Contains($_) })
    if ($params.Count -eq 0) {
        return [ordered]@{ changed = $false; before = $before; after = $before; policy_owned = ($owned.Count -gt 0) }
    }
    Set-NetFirewallProfile -Name $script:FirewallProfileNames[$which] -PolicyStore 'PersistentStore' @params -ErrorAction Stop
    $now = (Get-FirewallProfiles)[$which]
    $after = [ordered]@{}
    foreach ($field in $want.Keys) { $after[$field] = $now[$field] }
    return [ordered]@{ changed = $true; before = $before; after = $after; policy_owned = ($owned.Count -gt 0) }
}
