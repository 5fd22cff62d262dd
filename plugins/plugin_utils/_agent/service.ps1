# gowin.server agent, op family 'service': Windows services through the Service Control Manager.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/service.py and its contract vectors tests/contract/vectors/service.yml.
# requires: go
#
# Windows behaviour relied on (each one held by a vector):
# - A service's configuration is kept as values of HKLM\SYSTEM\CurrentControlSet\Services\<name>
#   (ImagePath REG_EXPAND_SZ, DisplayName, Description, Start 2/3/4, DelayedAutostart 1, ObjectName,
#   ServiceSidType 0/1/3, DependOnService REG_MULTI_SZ, FailureActions REG_BINARY laid out as
#   SERVICE_FAILURE_ACTIONS with 32-bit offsets: reset period, two pointer slots, the action count, a
#   pointer slot, then {type, delay ms} pairs; FailureCommand; FailureActionsOnNonCrashFailures;
#   Environment REG_MULTI_SZ of NAME=value). The SCM writes them when it is told a change and reads
#   Environment at every start, so the environment is written to the key itself.
# - Changes go through the SCM: Win32_Service.Create and .Change (CIM; the account's password travels
#   as a method parameter, never on a command line) and sc.exe, started with an argument string built
#   by ConvertTo-CommandLine (the MSVC runtime's quoting, which sc.exe's wmain reads back) and an exit
#   code that is the Win32 error (1060 no such service, 1057 bad account, 1072 marked for deletion).
# - ServiceController.Start() returns once the service's process has called
#   StartServiceCtrlDispatcher, or fails with 1053 after ServicesPipeTimeout (30 s by default) when it
#   never does; a dependency that is disabled fails the start with 1068, a missing one with 1075. The
#   SCM starts stopped dependencies first.
# - A service that does not stop within the timeout is ended with its process tree (taskkill /T of
#   Win32_Service.ProcessId); the SCM then marks it stopped. A shared process (svchost) is never ended.

Register-AgentOps @{
    'service.get' = @{ accepted = @('name', 'digest_key'); run = { param($a) Invoke-OpServiceGet $a } }
    'service.set' = @{ accepted = @('name', 'create', 'display_name', 'description', 'image_path', 'start_mode', 'account', 'password', 'sid_type', 'dependencies', 'recovery', 'environment', 'secret_environment', 'digest_key'); run = { param($a) Invoke-OpServiceSet $a } }
    'service.remove' = @{ accepted = @('name'); run = { param($a) Invoke-OpServiceRemove $a } }
    'service.start' = @{ accepted = @('name', 'timeout_s'); run = { param($a) Invoke-OpServiceStart $a } }
    'service.stop' = @{ accepted = @('name', 'timeout_s'); run = { param($a) Invoke-OpServiceStop $a } }
}

$script:ServicesKey = 'SYSTEM\CurrentControlSet\Services'
$script:StartModes = @{ 'auto' = 2; 'delayed' = 2; 'manual' = 3; 'disabled' = 4 }
$script:SidTypes = @{ 'none' = 0; 'unrestricted' = 1; 'restricted' = 3 }
$script:ActionTypes = @('none', 'restart', 'reboot', 'run')
$script:ServiceStates = @{ 1 = 'stopped'; 2 = 'start_pending'; 3 = 'stop_pending'; 4 = 'running'; 5 = 'continue_pending'; 6 = 'pause_pending'; 7 = 'paused' }
$script:ServiceProcessLoaded = $false

function Initialize-ServiceProcess {
    # System.ServiceProcess is not always loaded in a runspace; load it by its full name (no Add-Type).
    if (-not $script:ServiceProcessLoaded) {
        [void][System.Reflection.Assembly]::Load('System.ServiceProcess, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a')
        $script:ServiceProcessLoaded = $true
    }
}

function Get-ServiceNameArg {
    param($OpArgs)
    $name = Get-StringArg $OpArgs 'name' -Required
    if ($name.Length -gt 256) { Stop-Op 'bad_args' ("argument 'name' must be at most 256 characters, got " + $name.Length) }
    if ($name.IndexOf('\') -ge 0 -or $name.IndexOf('/') -ge 0) { Stop-Op 'bad_args' "argument 'name' must not contain '\' or '/'" }
    foreach ($c in $name.ToCharArray()) {
        if ([int]$c -lt 32) { Stop-Op 'bad_args' "argument 'name' must not contain control characters" }
    }
    if ($name.Trim().Length -ne $name.Length) { Stop-Op 'bad_args' "argument 'name' must not start or end with a space" }
    return $name
}

function Test-TextArg {
    # Text the SCM stores as a string: no NUL (it would end the string).
    param([string]$Name, [string]$Value)
    if ($Value.IndexOf([char]0) -ge 0) { Stop-Op 'bad_args' ("argument '" + $Name + "' must not contain NUL") }
}

function Stop-ScFailure {
    # An sc.exe failure as an op error: the Win32 error code decides the kind.
    param([string]$What, $Result)
    $code = $Result.rc
    $kind = 'service_failed'
    if ($code -eq 5) { $kind = 'access_denied' }
    elseif ($code -eq 1060) { $kind = 'not_found' }
    elseif ($code -eq 1057) { $kind = 'identity_not_found' }
    elseif ($code -eq 1073 -or $code -eq 1078) { $kind = 'exists' }
    $text = (New-Object System.ComponentModel.Win32Exception($code)).Message
    Stop-Op $kind ($What + ' failed (' + $code + '): ' + $text)
}

function Invoke-Sc {
    param([string]$What, $ArgList)
    $r = Invoke-NativeTool 'sc.exe' $ArgList
    if ($r.rc -ne 0) { Stop-ScFailure $What $r }
}

function Find-ServiceController {
    # The service's ServiceController (its ServiceName is the SCM's own spelling), or $null.
    param([string]$Name)
    Initialize-ServiceProcess
    foreach ($sc in [System.ServiceProcess.ServiceController]::GetServices()) {
        if ([string]::Equals($sc.ServiceName, $Name, [System.StringComparison]::OrdinalIgnoreCase)) { return $sc }
        $sc.Dispose()
    }
    return $null
}

function Get-ServiceCim {
    # Win32_Service of the exact name, fetched by its key (no query text is built from the name).
    param([string]$Name)
    $probe = New-CimInstance -ClassName Win32_Service -Namespace 'root/cimv2' -Property @{ Name = $Name } -ClientOnly
    return Get-CimInstance -InputObject $probe -ErrorAction Stop
}

function Get-ServiceKeyValue {
    param($Key, [string]$Name)
    return $Key.GetValue($Name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
}

function ConvertFrom-FailureActions {
    # SERVICE_FAILURE_ACTIONS as the SCM stores it (32-bit fields) -> @{ reset_after_s; actions }.
    param([byte[]]$Bytes)
    $actions = New-Object System.Collections.ArrayList
    if ($null -eq $Bytes -or $Bytes.Length -lt 20) { return @{ reset_after_s = 0; actions = $actions } }
    $reset = [System.BitConverter]::ToUInt32($Bytes, 0)
    $count = [System.BitConverter]::ToUInt32($Bytes, 12)
    for ($i = 0; $i -lt $count -and (20 + 8 * $i + 8) -le $Bytes.Length; $i++) {
        $type = [System.BitConverter]::ToUInt32($Bytes, 20 + 8 * $i)
        $delay = [System.BitConverter]::ToUInt32($Bytes, 24 + 8 * $i)
        $typeName = 'type_' + $type
        if ($type -lt 4) { $typeName = $script:ActionTypes[[int]$type] }
        [void]$actions.Add([ordered]@{ type = $typeName; delay_ms = [long]$delay })
    }
    return @{ reset_after_s = [long]$reset; actions = $actions }
}

function Get-EnvironmentEntries {
    # The key's Environment as an ordered list of @{ name; value } (entries without '=' are skipped).
    param($Key)
    $list = New-Object System.Collections.ArrayList
    $raw = $Key.GetValue('Environment', $null)
    if ($null -eq $raw) { return ,$list }
    foreach ($entry in @($raw)) {
        $s = [string]$entry
        $eq = $s.IndexOf('=', 1)
        if ($s.Length -eq 0 -or $eq -lt 1) { continue }
        [void]$list.Add(@{ name = $s.Substring(0, $eq); value = $s.Substring($eq + 1) })
    }
    return ,$list
}

function Get-ValueDigest {
    # HMAC-SHA256(key, SHA256(UTF-8 value)), lowercase hex: what the controller compares, never the value.
    param([byte[]]$Key, [string]$Value)
    $sha = [System.Security.Cryptography.SHA256]::Create()
    $hmac = New-Object System.Security.Cryptography.HMACSHA256(, $Key)
    try {
        $inner = $sha.ComputeHash((New-Object System.Text.UTF8Encoding($false)).GetBytes($Value))
        return ConvertTo-HexString ($hmac.ComputeHash($inner))
    } finally {
        $sha.Dispose()
        $hmac.Dispose()
    }
}

function Get-DigestKeyArg {
    param($OpArgs)
    $hex = Get-StringArg $OpArgs 'digest_key'
    if ($null -eq $hex) { return $null }
    if ($hex -notmatch '^[0-9a-fA-F]{32,128}$' -or ($hex.Length % 2) -ne 0) {
        Stop-Op 'bad_args' "argument 'digest_key' must be 32 to 128 hex digits (16 to 64 bytes)"
    }
    $bytes = New-Object byte[] ($hex.Length / 2)
    for ($i = 0; $i -lt $bytes.Length; $i++) { $bytes[$i] = [System.Convert]::ToByte($hex.Substring(2 * $i, 2), 16) }
    return ,$bytes
}

function Get-ServiceInfo {
    # What service.get returns for an existing service (controller $Sc), or exists = $false.
    param([string]$Name, [byte[]]$DigestKey)
    $sc = Find-ServiceController $Name
    if ($null -eq $sc) { return [ordered]@{ exists = $false } }
    $canonical = $sc.ServiceName
    $sc.Dispose()
    $base = Open-BaseKey 'LocalMachine'
    try {
        $key = $base.OpenSubKey($script:ServicesKey + '\' + $canonical, $false)
        if ($null -eq $key) { return [ordered]@{ exists = $false } }
        try {
            $start = Get-ServiceKeyValue $key 'Start'
            $delayed = Get-ServiceKeyValue $key 'DelayedAutostart'
            $mode = 'manual'
            if ($start -eq 0) { $mode = 'boot' } elseif ($start -eq 1) { $mode = 'system' }
            elseif ($start -eq 2) { if ($delayed -eq 1) { $mode = 'delayed' } else { $mode = 'auto' } }
            elseif ($start -eq 4) { $mode = 'disabled' }
            $sidRaw = Get-ServiceKeyValue $key 'ServiceSidType'
            $sidType = 'none'
            if ($sidRaw -eq 1) { $sidType = 'unrestricted' } elseif ($sidRaw -eq 3) { $sidType = 'restricted' }
            $deps = New-Object System.Collections.ArrayList
            $depRaw = Get-ServiceKeyValue $key 'DependOnService'
            if ($null -ne $depRaw) { foreach ($d in @($depRaw)) { if ([string]$d -ne '') { [void]$deps.Add([string]$d) } } }
            $failure = ConvertFrom-FailureActions (Get-ServiceKeyValue $key 'FailureActions')
            $flag = Get-ServiceKeyValue $key 'FailureActionsOnNonCrashFailures'
            $environment = New-Object System.Collections.ArrayList
            foreach ($e in (Get-EnvironmentEntries $key)) {
                $row = [ordered]@{ name = $e.name }
                if ($null -ne $DigestKey) { $row['digest'] = Get-ValueDigest $DigestKey $e.value }
                [void]$environment.Add($row)
            }
            $type = Get-ServiceKeyValue $key 'Type'
            $info = [ordered]@{
                exists       = $true
                name         = $canonical
                display_name = [string](Get-ServiceKeyValue $key 'DisplayName')
                description  = $(if ([string]::IsNullOrEmpty([string](Get-ServiceKeyValue $key 'Description'))) { $null } else { [string](Get-ServiceKeyValue $key 'Description') })
                image_path   = [string](Get-ServiceKeyValue $key 'ImagePath')
                own_process  = ($null -ne $type -and ([long]$type -band 0x10) -ne 0)
                start_mode   = $mode
                account      = $(if ($null -eq (Get-ServiceKeyValue $key 'ObjectName')) { 'LocalSystem' } else { [string](Get-ServiceKeyValue $key 'ObjectName') })
                sid_type     = $sidType
                dependencies = $deps
                recovery     = [ordered]@{
                    reset_after_s        = $failure.reset_after_s
                    actions              = $failure.actions
                    command              = $(if ([string]::IsNullOrEmpty([string](Get-ServiceKeyValue $key 'FailureCommand'))) { $null } else { [string](Get-ServiceKeyValue $key 'FailureCommand') })
                    on_non_crash_failure = ($flag -eq 1)
                }
                environment  = $environment
            }
        } finally { $key.Close() }
    } finally { $base.Close() }
    $cim = Get-ServiceCim $canonical
    $state = ([string]$cim.State).ToLowerInvariant().Replace(' ', '_')
    $info['state'] = $state
    $info['pid'] = $(if ([long]$cim.ProcessId -gt 0) { [long]$cim.ProcessId } else { $null })
    $info['exit_code'] = [long]$cim.ExitCode
    return $info
}

function Invoke-OpServiceGet {
    param($OpArgs)
    $name = Get-ServiceNameArg $OpArgs
    $digestKey = Get-DigestKeyArg $OpArgs
    return Get-ServiceInfo $name $digestKey
}

# ---- service.set ----------------------------------------------------------------------------

function Get-EnvironmentArg {
    # A mapping NAME -> string, checked; returns a list of @{ name; value }, or $null when not given.
    param($OpArgs, [string]$Arg)
    $map = Get-MapArg $OpArgs $Arg
    if ($null -eq $map) { return $null }
    $list = New-Object System.Collections.ArrayList
    foreach ($k in @($map.PSBase.Keys)) {
        $v = $map[$k]
        if (-not ($v -is [string])) { Stop-Op 'bad_args' ("argument '" + $Arg + "' must map names to strings") }
        if ($k -cnotmatch '^[\x21-\x3C\x3E-\x7E]{1,255}$') {
            Stop-Op 'bad_args' ("argument '" + $Arg + "' names must be 1 to 255 printable ASCII characters without '=' or spaces")
        }
        if ($v.IndexOf([char]0) -ge 0) { Stop-Op 'bad_args' ("argument '" + $Arg + "' has a value that holds NUL") }
        [void]$list.Add(@{ name = $k; value = $v })
    }
    return ,$list
}

function Get-RecoveryArg {
    param($OpArgs)
    $map = Get-MapArg $OpArgs 'recovery'
    if ($null -eq $map) { return $null }
    foreach ($k in @($map.PSBase.Keys)) {
        if (@('reset_after_s', 'actions', 'command', 'on_non_crash_failure') -cnotcontains $k) {
            Stop-Op 'bad_args' ("argument 'recovery' has an unknown key '" + $k + "'; accepted: reset_after_s, actions, command, on_non_crash_failure")
        }
    }
    $reset = Get-IntArg $map 'reset_after_s' -Default 86400 -Min 0 -Max 4294967295
    $command = Get-StringArg $map 'command' -AllowEmpty -Default ''
    Test-TextArg 'recovery' $command
    $flag = Get-BoolArg $map 'on_non_crash_failure' $false
    $actions = New-Object System.Collections.ArrayList
    foreach ($a in (Get-ListArg $map 'actions')) {
        if (-not ($a -is [System.Collections.IDictionary])) { Stop-Op 'bad_args' "argument 'recovery' actions must be mappings {type, delay_ms}" }
        $type = Get-StringArg $a 'type' -Required
        if ($script:ActionTypes -cnotcontains $type) { Stop-Op 'bad_args' "argument 'recovery' action type must be one of none, restart, reboot, run" }
        $delay = Get-IntArg $a 'delay_ms' -Default 0 -Min 0 -Max 4294967295
        [void]$actions.Add(@{ type = $type; delay_ms = $delay })
    }
    if ($actions.Count -gt 16) { Stop-Op 'bad_args' "argument 'recovery' takes at most 16 actions" }
    if (@($actions | Where-Object { $_.type -eq 'run' }).Count -gt 0 -and $command.Length -eq 0) {
        Stop-Op 'bad_args' "argument 'recovery' needs a command for a 'run' action"
    }
    return @{ reset_after_s = $reset; actions = $actions; command = $command; on_non_crash_failure = $flag }
}

function Get-AccountArg {
    # The account as the SCM names it: LocalSystem, NT AUTHORITY\LocalService, NT AUTHORITY\NetworkService,
    # NT SERVICE\<name>, DOMAIN\name$ (a gMSA), or a user (DOMAIN\name, .\name, name@domain).
    param($OpArgs)
    $account = Get-StringArg $OpArgs 'account'
    if ($null -eq $account) { return $null }
    Test-TextArg 'account' $account
    if ($account.Length -gt 256) { Stop-Op 'bad_args' "argument 'account' must be at most 256 characters" }
    return $account
}

function Get-CimReturnError {
    # Win32_Service method return values (documented for Create and Change) as op errors.
    param([string]$What, [int]$Code)
    $known = @{
        2 = @('access_denied', 'access denied'); 5 = @('bad_args', 'the service cannot accept this change')
        9 = @('bad_args', 'the path of the executable is not valid'); 15 = @('service_failed', 'the service database is locked')
        16 = @('service_failed', 'a dependency is missing or is being removed'); 19 = @('exists', 'the display name is taken by another service')
        21 = @('bad_args', 'a parameter is not valid'); 22 = @('identity_not_found', 'the account is not valid or is not allowed to run a service')
        23 = @('exists', 'the service exists'); 24 = @('service_failed', 'the service is marked for deletion')
    }
    $row = @('service_failed', 'Win32_Service return value')
    if ($known.ContainsKey($Code)) { $row = $known[$Code] }
    Stop-Op $row[0] ($What + ' failed: ' + $row[1] + ' (' + $Code + ')')
}

function Get-StartModeArg {
    param($OpArgs)
    $mode = Get-StringArg $OpArgs 'start_mode'
    if ($null -ne $mode -and -not $script:StartModes.ContainsKey($mode)) {
        Stop-Op 'bad_args' "argument 'start_mode' must be one of auto, delayed, manual, disabled"
    }
    return $mode
}

function Invoke-OpServiceSet {
    param($OpArgs)
    $name = Get-ServiceNameArg $OpArgs
    $create = Get-BoolArg $OpArgs 'create' $false
    $displayName = Get-StringArg $OpArgs 'display_name'
    $description = Get-StringArg $OpArgs 'description' -AllowEmpty
    $imagePath = Get-StringArg $OpArgs 'image_path'
    $startMode = Get-StartModeArg $OpArgs
    $account = Get-AccountArg $OpArgs
    $password = Get-StringArg $OpArgs 'password' -AllowEmpty
    $sidType = Get-StringArg $OpArgs 'sid_type'
    $hasDeps = Test-Arg $OpArgs 'dependencies'
    $deps = Get-ListArg $OpArgs 'dependencies' -Strings
    $recovery = Get-RecoveryArg $OpArgs
    $plainEnv = Get-EnvironmentArg $OpArgs 'environment'
    $secretEnv = Get-EnvironmentArg $OpArgs 'secret_environment'
    $digestKey = Get-DigestKeyArg $OpArgs
    foreach ($pair in @(@('display_name', $displayName), @('description', $description), @('image_path', $imagePath))) {
        if ($null -ne $pair[1]) { Test-TextArg $pair[0] $pair[1] }
    }
    if ($null -ne $displayName -and $displayName.Length -gt 256) { Stop-Op 'bad_args' "argument 'display_name' must be at most 256 characters" }
    if ($null -ne $imagePath -and $imagePath.Length -gt 32767) { Stop-Op 'bad_args' "argument 'image_path' must be at most 32767 characters" }
    if ($null -ne $sidType -and -not $script:SidTypes.ContainsKey($sidType)) { Stop-Op 'bad_args' "argument 'sid_type' must be one of none, unrestricted, restricted" }
    foreach ($d in $deps) {
        if ($d.Length -eq 0 -or $d.Length -gt 256 -or $d.IndexOf('/') -ge 0 -or $d.IndexOf('\') -ge 0 -or $d.StartsWith('+')) {
            Stop-Op 'bad_args' "argument 'dependencies' must be service names (1 to 256 characters, no '/', '\' or leading '+')"
        }
    }
    if ($null -ne $password -and $null -eq $account) { Stop-Op 'bad_args' "argument 'password' needs 'account'" }
    $allEnv = $null
    if ($null -ne $plainEnv -or $null -ne $secretEnv) {
        # One list sorted by the upper-case name, ordinal (names are printable ASCII, so the twin's
        # str.upper() sorts alike); a name given twice, in any case, is refused.
        $items = New-Object System.Collections.ArrayList
        if ($null -ne $plainEnv) { foreach ($e in $plainEnv) { [void]$items.Add($e) } }
        if ($null -ne $secretEnv) { foreach ($e in $secretEnv) { [void]$items.Add($e) } }
        $keys = [string[]]@($items | ForEach-Object { $_.name.ToUpperInvariant() })
        $allEnv = [object[]]$items.ToArray()
        [System.Array]::Sort($keys, $allEnv, [System.StringComparer]::Ordinal)
        for ($i = 1; $i -lt $keys.Length; $i++) {
            if ($keys[$i] -ceq $keys[$i - 1]) { Stop-Op 'bad_args' ("the environment names '" + $allEnv[$i].name + "' twice (names are case-insensitive)") }
        }
    }

    # The controller sends only what differs (docs/agent-protocol.md): each field given is applied.
    $applied = New-Object System.Collections.ArrayList
    $before = Get-ServiceInfo $name $null
    $created = $false
    if (-not $before.exists) {
        if (-not $create) { Stop-Op 'not_found' ("service.set: there is no service named '" + $name + "' (create it with create: true)") }
        if ($null -eq $imagePath) { Stop-Op 'bad_args' "service.set: creating a service needs 'image_path'" }
        $mode = @{ 'auto' = 'Automatic'; 'delayed' = 'Automatic'; 'manual' = 'Manual'; 'disabled' = 'Disabled' }[[string]$(if ($null -eq $startMode) { 'auto' } else { $startMode })]
        $createArgs = @{
            Name = $name; DisplayName = $(if ($null -ne $displayName) { $displayName } else { $name }); PathName = $imagePath
            ServiceType = [byte]16; ErrorControl = [byte]1; StartMode = $mode; DesktopInteract = $false
        }
        if ($null -ne $account) { $createArgs['StartName'] = $account }
        if ($null -ne $password) { $createArgs['StartPassword'] = $password }
        if ($deps.Count -gt 0) { $createArgs['ServiceDependencies'] = [string[]]$deps }
        $r = Invoke-CimMethod -Namespace 'root/cimv2' -ClassName Win32_Service -MethodName Create -Arguments $createArgs
        if ([int]$r.ReturnValue -ne 0) { Get-CimReturnError 'service.set: creating the service' ([int]$r.ReturnValue) }
        $created = $true
        # What Create took is applied; the rest below.
        $displayName = $null; $imagePath = $null; $account = $null; $password = $null; $hasDeps = $false
        if ($startMode -ne 'delayed') { $startMode = $null }
    }
    $name = (Get-ExistingService 'service.set' $name).name
    if ($null -ne $displayName) { Invoke-Sc 'service.set: display_name' @('config', $name, 'DisplayName=', $displayName); [void]$applied.Add('display_name') }
    if ($null -ne $imagePath) { Invoke-Sc 'service.set: image_path' @('config', $name, 'binPath=', $imagePath); [void]$applied.Add('image_path') }
    if ($null -ne $startMode) {
        $word = @{ 'auto' = 'auto'; 'delayed' = 'delayed-auto'; 'manual' = 'demand'; 'disabled' = 'disabled' }[$startMode]
        Invoke-Sc 'service.set: start_mode' @('config', $name, 'start=', $word)
        [void]$applied.Add('start_mode')
    }
    if ($null -ne $account) {
        # The password is a method parameter of Win32_Service.Change: it never reaches a command line.
        $changeArgs = @{ StartName = $account; StartPassword = $(if ($null -ne $password) { $password } else { '' }) }
        $r = Invoke-CimMethod -InputObject (Get-ServiceCim $name) -MethodName Change -Arguments $changeArgs
        if ([int]$r.ReturnValue -ne 0) { Get-CimReturnError 'service.set: account' ([int]$r.ReturnValue) }
        [void]$applied.Add('account')
        if ($null -ne $password) { [void]$applied.Add('password') }
    }
    if ($null -ne $description) { Invoke-Sc 'service.set: description' @('description', $name, $description); [void]$applied.Add('description') }
    if ($null -ne $sidType) { Invoke-Sc 'service.set: sid_type' @('sidtype', $name, $sidType); [void]$applied.Add('sid_type') }
    if ($hasDeps) {
        $joined = '/'
        if ($deps.Count -gt 0) { $joined = $deps -join '/' }
        Invoke-Sc 'service.set: dependencies' @('config', $name, 'depend=', $joined)
        [void]$applied.Add('dependencies')
    }
    if ($null -ne $recovery) {
        $parts = New-Object System.Collections.Generic.List[string]
        foreach ($x in $recovery.actions) { $parts.Add($x.type + '/' + $x.delay_ms) }
        Invoke-Sc 'service.set: recovery' @('failure', $name, 'reset=', ([string]$recovery.reset_after_s), 'actions=', ($parts -join '/'), 'command=', $recovery.command)
        Invoke-Sc 'service.set: recovery' @('failureflag', $name, $(if ($recovery.on_non_crash_failure) { '1' } else { '0' }))
        [void]$applied.Add('recovery')
    }
    if ($null -ne $allEnv) {
        $base = Open-BaseKey 'LocalMachine'
        try {
            $key = $base.OpenSubKey($script:ServicesKey + '\' + $name, $true)
            if ($null -eq $key) { Stop-Op 'not_found' ("service.set: the service '" + $name + "' was removed meanwhile") }
            try {
                if ($allEnv.Length -eq 0) { $key.DeleteValue('Environment', $false) }
                else { $key.SetValue('Environment', [string[]]@($allEnv | ForEach-Object { $_.name + '=' + $_.value }), [Microsoft.Win32.RegistryValueKind]::MultiString) }
            } finally { $key.Close() }
        } finally { $base.Close() }
        [void]$applied.Add('environment')
    }
    $result = Get-ServiceInfo $name $digestKey
    $result['changed'] = ($created -or $applied.Count -gt 0)
    $result['created'] = $created
    $result['applied'] = $applied
    return $result
}

# ---- service.remove, service.start, service.stop --------------------------------------------

function Get-ExistingService {
    param([string]$Op, [string]$Name)
    $info = Get-ServiceInfo $Name $null
    if (-not $info.exists) { Stop-Op 'not_found' ($Op + ": there is no service named '" + $Name + "'") }
    return $info
}

function Invoke-OpServiceRemove {
    param($OpArgs)
    $name = Get-ServiceNameArg $OpArgs
    $info = Get-ServiceInfo $name $null
    if (-not $info.exists) { return [ordered]@{ changed = $false; delete_pending = $false } }
    if ($info.state -ne 'stopped') {
        Stop-Op 'in_use' ("service.remove: the service '" + $info.name + "' is " + $info.state + '; stop it first')
    }
    $r = Invoke-NativeTool 'sc.exe' @('delete', $info.name)
    if ($r.rc -ne 0 -and $r.rc -ne 1072) { Stop-ScFailure 'service.remove' $r }
    $pending = ($null -ne (Find-ServiceController $info.name))
    return [ordered]@{ changed = $true; delete_pending = $pending }
}

function Get-TimeoutArg {
    param($OpArgs)
    return Get-IntArg $OpArgs 'timeout_s' -Default 30 -Min 1 -Max 3600
}

function Get-Win32Code {
    # The Win32 error code inside an exception from ServiceController (InvalidOperationException
    # wrapping a Win32Exception), or 0.
    param($Exception)
    $ex = $Exception
    while ($null -ne $ex) {
        if ($ex -is [System.ComponentModel.Win32Exception]) { return [int]$ex.NativeErrorCode }
        $ex = $ex.InnerException
    }
    return 0
}

function Invoke-OpServiceStart {
    param($OpArgs)
    $name = Get-ServiceNameArg $OpArgs
    $timeout = Get-TimeoutArg $OpArgs
    $info = Get-ExistingService 'service.start' $name
    if ($info.state -eq 'running') { return [ordered]@{ changed = $false; state = 'running'; pid = $info.pid } }
    Initialize-ServiceProcess
    $sc = New-Object System.ServiceProcess.ServiceController($info.name)
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        try {
            if ($info.state -ne 'start_pending') { $sc.Start() }
        } catch {
            $code = Get-Win32Code $_.Exception
            if ($code -eq 5) { Stop-Op 'access_denied' ("service.start: starting '" + $info.name + "' was refused (5)") }
            $text = (New-Object System.ComponentModel.Win32Exception($code)).Message
            Stop-Op 'service_failed' ("service.start: '" + $info.name + "' did not start (" + $code + '): ' + $text)
        }
        # Poll rather than WaitForStatus(Running), which keeps waiting when the service has stopped.
        $deadline = [long]$timeout * 1000
        while ($true) {
            $sc.Refresh()
            $status = $sc.Status
            if ($status -eq [System.ServiceProcess.ServiceControllerStatus]::Running) { break }
            if ($status -eq [System.ServiceProcess.ServiceControllerStatus]::Stopped) {
                $after = Get-ServiceInfo $info.name $null
                Stop-Op 'service_failed' ("service.start: '" + $info.name + "' stopped while starting (exit code " + $after.exit_code + ')')
            }
            if ($clock.ElapsedMilliseconds -ge $deadline) {
                Stop-Op 'timeout' ("service.start: '" + $info.name + "' is still " + $script:ServiceStates[[int]$status] + ' after ' + $timeout + ' seconds')
            }
            Start-Sleep -Milliseconds 250
        }
    } finally { $sc.Dispose() }
    $after = Get-ServiceInfo $info.name $null
    return [ordered]@{ changed = $true; state = $after.state; pid = $after.pid; waited_ms = [long]$clock.ElapsedMilliseconds }
}

function Invoke-OpServiceStop {
    param($OpArgs)
    $name = Get-ServiceNameArg $OpArgs
    $timeout = Get-TimeoutArg $OpArgs
    $info = Get-ExistingService 'service.stop' $name
    if ($info.state -eq 'stopped') { return [ordered]@{ changed = $false; state = 'stopped'; stopped_by = $null } }
    Initialize-ServiceProcess
    $sc = New-Object System.ServiceProcess.ServiceController($info.name)
    try {
        $running = @($sc.DependentServices | Where-Object { $_.Status -ne [System.ServiceProcess.ServiceControllerStatus]::Stopped } | ForEach-Object { $_.ServiceName })
        if ($running.Count -gt 0) {
            Stop-Op 'in_use' ("service.stop: '" + $info.name + "' has running dependent services: " + ($running -join ', ') + '; stop them first')
        }
        $servicePid = $info.pid
        $stoppedBy = 'scm'
        try {
            if ($info.state -ne 'stop_pending') { $sc.Stop() }
            $sc.WaitForStatus([System.ServiceProcess.ServiceControllerStatus]::Stopped, [System.TimeSpan]::FromSeconds($timeout))
        } catch {
            # It did not stop (or refused the control): end its process tree, if it has one of its own.
            if ($null -eq $servicePid -or -not $info.own_process) {
                Stop-Op 'timeout' ("service.stop: '" + $info.name + "' did not stop within " + $timeout + ' seconds, and its process is shared or unknown')
            }
            $stoppedBy = 'kill'
            $proc = $null
            try { $proc = [System.Diagnostics.Process]::GetProcessById([int]$servicePid) } catch { $proc = $null }
            if ($null -ne $proc) {
                try { Stop-ProcessTree $proc } finally { $proc.Dispose() }
            }
            try {
                $sc.WaitForStatus([System.ServiceProcess.ServiceControllerStatus]::Stopped, [System.TimeSpan]::FromSeconds(10))
            } catch {
                Stop-Op 'timeout' ("service.stop: '" + $info.name + "' was ended but the SCM does not report it stopped")
            }
        }
    } finally { $sc.Dispose() }
    return [ordered]@{ changed = $true; state = 'stopped'; stopped_by = $stoppedBy }
}
