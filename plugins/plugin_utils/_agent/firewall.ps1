# gowin.server agent, op family 'firewall': one Windows Defender Firewall rule, by its name (ID).
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

Register-AgentOps @{
    'firewall.get' = @{ accepted = @('name'); run = { param($a) Invoke-OpFirewallGet $a } }
    'firewall.set' = @{ accepted = @('name', 'display_name', 'description', 'direction', 'action', 'enabled', 'protocol', 'local_ports', 'remote_addresses', 'profiles', 'program', 'service'); run = { param($a) Invoke-OpFirewallSet $a } }
    'firewall.remove' = @{ accepted = @('name'); run = { param($a) Invoke-OpFirewallRemove $a } }
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
