# gowin.server agent, op family 'reboot': ask Windows to restart, or take the request back.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/reboot.py and its contract vectors tests/contract/vectors/reboot.yml.
# requires: go
#
# Windows behaviour relied on (each one held by a vector):
# - shutdown.exe /r /t <s> /c <comment> /d p:4:1 schedules a restart in <s> seconds (0 to 315360000; we
#   take 0 to 600) with a planned "Application: Maintenance" reason, and exits 0 at once: the restart
#   happens after the op has answered. While a restart is already scheduled it exits 1190
#   (ERROR_SHUTDOWN_IS_SCHEDULED), and 1115 (ERROR_SHUTDOWN_IN_PROGRESS) while one is under way.
# - shutdown.exe /a takes a scheduled restart back inside its delay and exits 0; with nothing scheduled
#   it exits 1116 (ERROR_NO_SHUTDOWN_IN_PROGRESS).
# - The comment is at most 512 characters; it goes as one argument of the array (never a command text).

Register-AgentOps @{
    'reboot.request' = @{ accepted = @('delay_s', 'reason'); run = { param($a) Invoke-OpRebootRequest $a } }
    'reboot.cancel' = @{ accepted = @(); run = { param($a) Invoke-OpRebootCancel $a } }
}

function Invoke-OpRebootRequest {
    param($OpArgs)
    $delay = Get-IntArg $OpArgs 'delay_s' -Default 5 -Min 0 -Max 600
    $reason = Get-StringArg $OpArgs 'reason' -Default 'gowin.server: restart to complete configuration changes'
    if ($reason.Length -gt 200 -or $reason -match '[\x00-\x1f]') {
        Stop-Op 'bad_args' "argument 'reason' must be at most 200 characters without control characters"
    }
    $r = Invoke-NativeTool 'shutdown.exe' @('/r', '/t', [string]$delay, '/c', $reason, '/d', 'p:4:1')
    if ($r.rc -eq 1190) { Stop-Op 'busy' 'a shutdown or restart is already scheduled on the host (shutdown /a takes it back)' }
    if ($r.rc -eq 1115) { Stop-Op 'busy' 'the host is already shutting down' }
    if ($r.rc -ne 0) { Stop-Op 'exec_failed' ('shutdown.exe /r failed (' + $r.rc + '): ' + $r.output) }
    return [ordered]@{ scheduled = $true; delay_s = [int]$delay }
}

function Invoke-OpRebootCancel {
    param($OpArgs)
    $null = $OpArgs
    $r = Invoke-NativeTool 'shutdown.exe' @('/a')
    if ($r.rc -eq 0) { return [ordered]@{ cancelled = $true } }
    if ($r.rc -eq 1116) { return [ordered]@{ cancelled = $false } }
    Stop-Op 'exec_failed' ('shutdown.exe /a failed (' + $r.rc + '): ' + $r.output)
}
