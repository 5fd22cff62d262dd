# gowin.server agent, op family 'eventlog': event log sources (a service's own source in a log).
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/eventlog.py and its contract vectors tests/contract/vectors/eventlog.yml.
# requires: (none)
#
# Windows behaviour relied on (each one held by a vector):
# - A source is the subkey HKLM\SYSTEM\CurrentControlSet\Services\EventLog\<log>\<source>; a source
#   name is unique across all logs, compared case-insensitively (EventLog.SourceExists walks every log).
# - [System.Diagnostics.EventLog]::CreateEventSource(EventSourceCreationData) refuses a source that
#   exists in any log, creates the log when it is missing (this op never lets it: the log must exist),
#   and writes EventMessageFile as REG_EXPAND_SZ: the MessageResourceFile given, or without one the
#   framework's own EventLogMessages.dll (its runtime directory, e.g.
#   C:\Windows\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll), on .NET 4.6.2 and 4.8 alike.
# - Source names: at most 212 characters (254, the registry key limit .NET applies, minus the 42 of
#   SYSTEM\CurrentControlSet\Services\EventLog); a '\' would make it a key path.
# - A log's own default source (the subkey named like the log) is never removed: DeleteEventSource
#   refuses it, and the log needs it.

Register-AgentOps @{
    'eventlog.get' = @{ accepted = @('source'); run = { param($a) Invoke-OpEventlogGet $a } }
    'eventlog.register' = @{ accepted = @('source', 'log', 'message_file'); run = { param($a) Invoke-OpEventlogRegister $a } }
    'eventlog.remove' = @{ accepted = @('source'); run = { param($a) Invoke-OpEventlogRemove $a } }
}

function Get-EventLogKeyPath { return 'SYSTEM\CurrentControlSet\Services\EventLog' }

function Get-EventSourceArg {
    param($OpArgs)
    $source = Get-StringArg $OpArgs 'source' -Required
    if ($source.Length -gt 212) { Stop-Op 'bad_args' ("argument 'source' must be at most 212 characters, got " + $source.Length) }
    if ($source.IndexOf('\') -ge 0 -or $source.IndexOf('/') -ge 0) { Stop-Op 'bad_args' "argument 'source' must not contain '\' or '/'" }
    foreach ($c in $source.ToCharArray()) {
        if ([int]$c -lt 32) { Stop-Op 'bad_args' "argument 'source' must not contain control characters" }
    }
    if ($source.Trim().Length -ne $source.Length) { Stop-Op 'bad_args' "argument 'source' must not start or end with a space" }
    return $source
}

function Find-EventSource {
    # The source's registration: @{ log; source (the key's own spelling); message_file } or $null.
    # A log that cannot be read is not skipped silently: if the source is not found elsewhere the op
    # fails access_denied, naming the logs (EventLog.SourceExists throws in that case too).
    param([string]$Source)
    $unreadable = New-Object System.Collections.Generic.List[string]
    $base = Open-BaseKey 'LocalMachine'
    try {
        $logs = $base.OpenSubKey((Get-EventLogKeyPath), $false)
        if ($null -eq $logs) { return $null }
        try {
            foreach ($log in $logs.GetSubKeyNames()) {
                $logKey = $null
                try { $logKey = $logs.OpenSubKey($log, $false) } catch { $unreadable.Add($log); continue }
                if ($null -eq $logKey) { continue }
                try {
                    $names = $null
                    try { $names = $logKey.GetSubKeyNames() } catch { $unreadable.Add($log); continue }
                    foreach ($name in $names) {
                        if (-not [string]::Equals($name, $Source, [System.StringComparison]::OrdinalIgnoreCase)) { continue }
                        $sourceKey = $logKey.OpenSubKey($name, $false)
                        if ($null -eq $sourceKey) { continue }
                        try {
                            $file = $sourceKey.GetValue('EventMessageFile', $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
                            return @{ log = $log; source = $name; message_file = $(if ($null -eq $file) { $null } else { [string]$file }) }
                        } finally { $sourceKey.Close() }
                    }
                } finally { $logKey.Close() }
            }
        } finally { $logs.Close() }
    } finally { $base.Close() }
    if ($unreadable.Count -gt 0) {
        Stop-Op 'access_denied' ("the event logs " + ($unreadable -join ', ') + " cannot be read, so whether the source '" + $Source + "' is registered there is unknown")
    }
    return $null
}

function Get-EventLogName {
    # The existing log named like $Log (its own case), or $null.
    param([string]$Log)
    $base = Open-BaseKey 'LocalMachine'
    try {
        $logs = $base.OpenSubKey((Get-EventLogKeyPath), $false)
        if ($null -eq $logs) { return $null }
        try {
            foreach ($name in $logs.GetSubKeyNames()) {
                if ([string]::Equals($name, $Log, [System.StringComparison]::OrdinalIgnoreCase)) { return $name }
            }
        } finally { $logs.Close() }
    } finally { $base.Close() }
    return $null
}

function ConvertTo-EventSourceResult {
    param($Found)
    if ($null -eq $Found) { return [ordered]@{ exists = $false; log = $null; message_file = $null; log_default = $false } }
    return [ordered]@{
        exists       = $true
        log          = $Found.log
        message_file = $Found.message_file
        log_default  = [string]::Equals($Found.log, $Found.source, [System.StringComparison]::OrdinalIgnoreCase)
    }
}

function Invoke-OpEventlogGet {
    param($OpArgs)
    $source = Get-EventSourceArg $OpArgs
    return ConvertTo-EventSourceResult (Find-EventSource $source)
}

function Invoke-OpEventlogRegister {
    param($OpArgs)
    $source = Get-EventSourceArg $OpArgs
    $logArg = Get-StringArg $OpArgs 'log' -Default 'Application'
    $messageFile = Get-StringArg $OpArgs 'message_file'
    if ($null -ne $messageFile) {
        $messageFile = Get-PathArg $OpArgs 'message_file' -Required
        # CreateEventSource runs it through Path.GetFullPath, which under Windows PowerShell 5.1's legacy
        # path handling refuses 260 characters and more: both branches refuse it alike
        if ($messageFile.Length -ge 260) { Stop-Op 'path_too_long' "argument 'message_file' must be under 260 characters (the event log API)" }
    }
    $log = Get-EventLogName $logArg
    if ($null -eq $log) {
        Stop-Op 'not_found' ("eventlog.register: there is no event log named '" + $logArg + "' (this op never creates a log)")
    }
    $found = Find-EventSource $source
    if ($null -ne $found) {
        if (-not [string]::Equals($found.log, $log, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-Op 'exists' ("eventlog.register: the source '" + $source + "' is registered to the log '" + $found.log +
                "'; a source belongs to one log: remove it first (Windows maps it to another log only after a restart)")
        }
        $result = ConvertTo-EventSourceResult $found
        if ($null -eq $messageFile -or [string]::Equals([string]$found.message_file, $messageFile, [System.StringComparison]::OrdinalIgnoreCase)) {
            $result['changed'] = $false
            return $result
        }
        $base = Open-BaseKey 'LocalMachine'
        try {
            $key = $base.OpenSubKey((Get-EventLogKeyPath) + '\' + $found.log + '\' + $found.source, $true)
            if ($null -eq $key) { Stop-Op 'not_found' ("eventlog.register: the source '" + $source + "' was removed meanwhile") }
            try { $key.SetValue('EventMessageFile', $messageFile, [Microsoft.Win32.RegistryValueKind]::ExpandString) } finally { $key.Close() }
        } finally { $base.Close() }
        $result = ConvertTo-EventSourceResult (Find-EventSource $source)
        $result['changed'] = $true
        return $result
    }
    $data = New-Object System.Diagnostics.EventSourceCreationData($source, $log)
    if ($null -ne $messageFile) { $data.MessageResourceFile = $messageFile }
    [System.Diagnostics.EventLog]::CreateEventSource($data)
    $result = ConvertTo-EventSourceResult (Find-EventSource $source)
    $result['changed'] = $true
    return $result
}

function Invoke-OpEventlogRemove {
    param($OpArgs)
    $source = Get-EventSourceArg $OpArgs
    $found = Find-EventSource $source
    if ($null -eq $found) { return [ordered]@{ changed = $false; log = $null } }
    if ([string]::Equals($found.log, $found.source, [System.StringComparison]::OrdinalIgnoreCase)) {
        Stop-Op 'bad_args' ("eventlog.remove: '" + $source + "' is the default source of the log '" + $found.log + "', which the log needs")
    }
    [System.Diagnostics.EventLog]::DeleteEventSource($found.source)
    return [ordered]@{ changed = $true; log = $found.log }
}
