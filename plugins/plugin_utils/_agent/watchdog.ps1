# gowin.server agent, op family 'watchdog': one tick of a service's hang watchdog.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/watchdog.py and its contract vectors tests/contract/vectors/watchdog.yml.
# requires: eventlog, health, service
#
# The scheduled task (family 'task') runs the fixed launcher plugins/plugin_utils/_watchdog/watchdog.ps1
# as SYSTEM every period_min minutes; the launcher runs this agent, assembled for this family alone, with
# one op: watchdog.tick {settings}. The settings file is JSON written by win_service_go into a folder only
# SYSTEM and Administrators can write; it is read as data (JavaScriptSerializer), checked field by field,
# and never becomes code. The tick: when the service runs, one probe (health.probe with one attempt); a
# failure adds one to the count kept in <settings>.state.json, a success resets it; at failure_threshold the
# service's own process tree is ended, so that the SCM's recovery actions restart it, an event is written to
# the service's event source, and the count starts again. A service that is not running is left alone
# (the SCM or an operator stopped it; a hang needs a running process).
#
# Windows behaviour relied on (each one held by a vector where a vector can hold it):
# - Ending a service's process (taskkill /T /F, see Stop-ProcessTree in go.ps1) is a failure to the SCM:
#   the service was not stopped through the SCM, so its recovery actions (FailureActions) run; a clean
#   exit would need FailureActionsOnNonCrashFailures. The watchdog never ends a shared process (svchost).
# - EventLog.WriteEntry(source, message, EventLogEntryType.Warning, id) writes to the log the source is
#   registered with; it registers an unknown source itself, which the watchdog avoids by writing only to a
#   source Find-EventSource finds.
# - File.Replace(source, destination, $null) replaces a file in one step on NTFS; File.Move when there is none.

Register-AgentOps @{
    'watchdog.tick' = @{ accepted = @('settings'); run = { param($a) Invoke-OpWatchdogTick $a } }
}

$script:WatchdogEventId = 7001
$script:WatchdogSettingsLimit = 65536

function Stop-WatchdogSettings {
    param([string]$Path, [string]$Message)
    Stop-Op 'bad_args' ("watchdog settings " + $Path + ': ' + $Message)
}

function Read-WatchdogSettings {
    # The settings document, checked: {version: 1, service, health: {http|tcp|command, timeout_s},
    # failure_threshold, event_source (null for none)}.
    param([string]$Path)
    if (-not $Path.EndsWith('.json', [System.StringComparison]::OrdinalIgnoreCase)) {
        Stop-Op 'bad_args' "argument 'settings' must be the path of a .json file"
    }
    if (-not [System.IO.File]::Exists($Path)) { Stop-Op 'not_found' ("watchdog settings " + $Path + ' do not exist') }
    $bytes = [System.IO.File]::ReadAllBytes($Path)
    if ($bytes.Length -gt $script:WatchdogSettingsLimit) { Stop-WatchdogSettings $Path ('larger than ' + $script:WatchdogSettingsLimit + ' bytes') }
    $text = (New-Object System.Text.UTF8Encoding($false, $true)).GetString($bytes).TrimStart([char]0xFEFF)
    $doc = $null
    try {
        $ser = New-Object System.Web.Script.Serialization.JavaScriptSerializer
        $ser.RecursionLimit = 20
        $doc = $ser.DeserializeObject($text)
    } catch { Stop-WatchdogSettings $Path 'not valid JSON' }
    if (-not ($doc -is [System.Collections.IDictionary])) { Stop-WatchdogSettings $Path 'must be a JSON object' }
    foreach ($k in @($doc.Keys)) {
        if (@('version', 'service', 'health', 'failure_threshold', 'event_source') -notcontains $k) {
            Stop-WatchdogSettings $Path ("unknown field '" + $k + "' (version, service, health, failure_threshold, event_source)")
        }
    }
    if (-not ($doc.ContainsKey('version')) -or -not ($doc['version'] -is [int]) -or $doc['version'] -ne 1) {
        Stop-WatchdogSettings $Path "field 'version' must be 1"
    }
    $service = $null
    if ($doc.ContainsKey('service')) { $service = $doc['service'] }
    if (-not ($service -is [string]) -or $service.Length -eq 0 -or $service.Length -gt 256 -or $service.IndexOf('\') -ge 0 -or $service.IndexOf('/') -ge 0) {
        Stop-WatchdogSettings $Path "field 'service' must be a service name (at most 256 characters, no '\' or '/')"
    }
    $threshold = $null
    if ($doc.ContainsKey('failure_threshold')) { $threshold = $doc['failure_threshold'] }
    if (-not ($threshold -is [int]) -or $threshold -lt 1 -or $threshold -gt 100) {
        Stop-WatchdogSettings $Path "field 'failure_threshold' must be an integer from 1 to 100"
    }
    $source = $null
    if ($doc.ContainsKey('event_source')) { $source = $doc['event_source'] }
    if ($null -ne $source -and (-not ($source -is [string]) -or $source.Length -eq 0 -or $source.Length -gt 211)) {
        Stop-WatchdogSettings $Path "field 'event_source' must be an event source name or null"
    }
    $health = $null
    if ($doc.ContainsKey('health')) { $health = $doc['health'] }
    if (-not ($health -is [System.Collections.IDictionary])) { Stop-WatchdogSettings $Path "field 'health' must be an object (one of http, tcp, command, and timeout_s)" }
    foreach ($k in @($health.Keys)) {
        if (@('http', 'tcp', 'command', 'timeout_s') -notcontains $k) {
            Stop-WatchdogSettings $Path ("field 'health' does not accept '" + $k + "' (http, tcp, command, timeout_s)")
        }
    }
    return [ordered]@{ service = $service; health = $health; failure_threshold = [int]$threshold; event_source = $source }
}

function Get-WatchdogStatePath {
    param([string]$SettingsPath)
    return ($SettingsPath.Substring(0, $SettingsPath.Length - 5) + '.state.json')
}

function Read-WatchdogFailures {
    # The failures in a row the last ticks counted (0 when the state file is missing or unreadable).
    param([string]$Path)
    try {
        if (-not [System.IO.File]::Exists($Path)) { return 0 }
        $ser = New-Object System.Web.Script.Serialization.JavaScriptSerializer
        $doc = $ser.DeserializeObject([System.IO.File]::ReadAllText($Path))
        if ($doc -is [System.Collections.IDictionary] -and $doc['failures'] -is [int] -and $doc['failures'] -ge 0) { return [int]$doc['failures'] }
    } catch { $null = $_ }
    return 0
}

function Write-WatchdogState {
    param([string]$Path, [int]$Failures, [string]$Action)
    $now = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ', [System.Globalization.CultureInfo]::InvariantCulture)
    $line = ConvertTo-AgentJson ([ordered]@{ failures = $Failures; action = $Action; at = $now })
    $tmp = $Path + '.tmp'
    [System.IO.File]::WriteAllText($tmp, $line, (New-Object System.Text.UTF8Encoding($false)))
    if ([System.IO.File]::Exists($Path)) { [System.IO.File]::Replace($tmp, $Path, $null) } else { [System.IO.File]::Move($tmp, $Path) }
}

function Invoke-OpWatchdogTick {
    param($OpArgs)
    $settingsPath = Get-PathArg $OpArgs 'settings' -Required
    $settings = Read-WatchdogSettings $settingsPath
    $statePath = Get-WatchdogStatePath $settingsPath
    $result = [ordered]@{ action = $null; service = $settings.service; failures = 0; failure_threshold = $settings.failure_threshold
                          health = $null; ended_pid = $null; event_written = $false; state_file = $statePath }
    $info = Get-ServiceInfo $settings.service
    if (-not $info.exists) {
        $result.action = 'missing'
        return $result
    }
    $result.service = $info.name
    if ($info.state -ne 'running') {
        $result.action = 'skipped'
        Write-WatchdogState $statePath 0 'skipped'
        return $result
    }
    # One probe: it is due at 0 and the next one (period 2 s) would start after the startup timeout (1 s).
    $probeArgs = @{ service = $info.name; startup_timeout_s = 1; period_s = 2; success_threshold = 1; failure_threshold = 1 }
    foreach ($k in @($settings.health.Keys)) { $probeArgs[$k] = $settings.health[$k] }
    try {
        $health = Invoke-OpHealthProbe $probeArgs
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        if ($err.kind -eq 'bad_args') { Stop-WatchdogSettings $settingsPath ("field 'health': " + $err.message) }
        throw
    }
    $result.health = $health
    if ($health.healthy) {
        $result.action = 'healthy'
        Write-WatchdogState $statePath 0 'healthy'
        return $result
    }
    $failures = (Read-WatchdogFailures $statePath) + 1
    if ($failures -lt $settings.failure_threshold) {
        $result.action = 'failed'
        $result.failures = $failures
        Write-WatchdogState $statePath $failures 'failed'
        return $result
    }
    # The threshold: end the service's own process tree (never a shared one) for the SCM to recover it.
    $result.failures = $failures
    if ($null -eq $info.pid -or -not $info.own_process) {
        $result.action = 'cannot_end'
        Write-WatchdogState $statePath $failures 'cannot_end'
        return $result
    }
    $proc = $null
    try { $proc = [System.Diagnostics.Process]::GetProcessById([int]$info.pid) } catch { $proc = $null }
    if ($null -ne $proc) {
        try { Stop-ProcessTree $proc } finally { $proc.Dispose() }
    }
    $result.action = 'ended'
    $result.ended_pid = $info.pid
    if ($null -ne $settings.event_source) {
        $registered = Find-EventSource $settings.event_source
        if ($null -ne $registered) {
            $message = 'gowin watchdog: the service ' + $info.name + ' (process ' + $info.pid + ') failed ' + $failures +
                ' health checks in a row (' + [string]$health.reason + '); its process tree was ended for its recovery actions to restart it.'
            [System.Diagnostics.EventLog]::WriteEntry($registered.source, $message, [System.Diagnostics.EventLogEntryType]::Warning, $script:WatchdogEventId)
            $result.event_written = $true
        }
    }
    Write-WatchdogState $statePath 0 'ended'
    return $result
}
