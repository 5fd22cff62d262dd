# gowin.server agent, op family 'deploy': a service update that finishes on the host, with its journal.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/deploy.py and its contract vectors tests/contract/vectors/deploy.yml.
# requires: firewall, health, journal
#
# deploy.update carries out, in one op, a plan the controller made: switch the service's configuration
# (its image path first, so that a recovery restart starts the new binary) and its firewall rule, stop
# it (the SCM first, then its process tree), start it, probe it; when a step fails or the probe says
# unhealthy, switch back, start the previous release again, probe it. Each stage is written to the
# journal HKLM\SOFTWARE\GoWin\Journal\<name> before the next one begins, so a run that finds a journal
# whose Outcome is empty knows the op was cut off and at which stage. The journal holds the two image
# paths, the stage and the outcome, never an argument that can be secret.
#
# Windows behaviour relied on (each one held by a vector):
# - The SCM reads ImagePath at every start: a change made while the service runs takes effect at its
#   next start (a recovery restart included), never on the running process.
# - HKLM\SOFTWARE is writable by Administrators and SYSTEM only (the default ACL of the hive).
# - The op runs in the agent's process: if the WinRM or PSRP client goes away, the command goes on until
#   it ends (the shell outlives a client that vanished until its idle timeout); if the process itself
#   is ended, the journal says where.

Register-AgentOps @{
    'deploy.update' = @{ accepted = @('name', 'id', 'set', 'back', 'firewall', 'firewall_back', 'stop_timeout_s', 'start_timeout_s', 'health', 'rollback', 'start_back'); run = { param($a) Invoke-OpDeployUpdate $a } }
}

function Invoke-DeployStage {
    # Run one stage of the update (fixed code chosen by its name); returns @{ ok; data; error }. An op
    # failure of the stage (Stop-Op) is caught and kept as data: the update goes on to its rollback.
    param([string]$Stage, $Ctx)
    try {
        $data = $null
        switch ($Stage) {
            'switched' {
                [void](Invoke-OpServiceSet $Ctx.set)
                if ($null -ne $Ctx.firewall) { [void](Invoke-OpFirewallSet $Ctx.firewall) }
            }
            'stopped' {
                if ($Ctx.was_running) { $data = (Invoke-OpServiceStop @{ name = $Ctx.name; timeout_s = $Ctx.stop_timeout }).stopped_by }
            }
            'started' { [void](Invoke-OpServiceStart @{ name = $Ctx.name; timeout_s = $Ctx.start_timeout }) }
            'stopped_back' {
                $now = Get-ServiceInfo $Ctx.name $null
                if ($now.state -ne 'stopped') { [void](Invoke-OpServiceStop @{ name = $Ctx.name; timeout_s = $Ctx.stop_timeout }) }
            }
            'switched_back' {
                [void](Invoke-OpServiceSet $Ctx.back)
                if ($null -ne $Ctx.firewall_back) { [void](Invoke-OpFirewallSet $Ctx.firewall_back) }
                elseif ($null -ne $Ctx.firewall) { [void](Invoke-OpFirewallRemove @{ name = $Ctx.firewall['name'] }) }
            }
            'started_back' {
                if ($Ctx.start_back) { [void](Invoke-OpServiceStart @{ name = $Ctx.name; timeout_s = $Ctx.start_timeout }) }
            }
        }
        return @{ ok = $true; data = $data; error = $null }
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        return @{ ok = $false; data = $null; error = @{ kind = $err.kind; message = (Hide-Secrets $err.message $Ctx.secrets) } }
    }
}

function Invoke-DeployProbe {
    # health.probe of this service; returns @{ ok (healthy); data (the probe's data or $null); error }.
    param($Ctx)
    $probeArgs = @{}
    foreach ($k in @($Ctx.health.Keys)) { $probeArgs[$k] = $Ctx.health[$k] }
    $probeArgs['service'] = $Ctx.name
    try {
        $data = Invoke-OpHealthProbe $probeArgs
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        return @{ ok = $false; data = $null; error = @{ kind = $err.kind; message = (Hide-Secrets $err.message $Ctx.secrets) } }
    }
    if ([bool]$data.healthy) { return @{ ok = $true; data = $data; error = $null } }
    return @{ ok = $false; data = $data; error = @{ kind = 'unhealthy'; message = [string]$data.reason } }
}

function Get-DeployMapArg {
    # A mapping argument that names this service (or names none: it is set to this one).
    param($OpArgs, [string]$Arg, [string]$Name, [string]$Key, [switch]$Required)
    $m = Get-MapArg $OpArgs $Arg -Required:$Required
    if ($null -eq $m) { return $null }
    $copy = @{}
    foreach ($k in @($m.PSBase.Keys)) { $copy[$k] = $m[$k] }
    if ($copy.ContainsKey($Key) -and [string]$copy[$Key] -ne $Name) {
        Stop-Op 'bad_args' ("argument '" + $Arg + "' must be about the service '" + $Name + "'")
    }
    if (-not $copy.ContainsKey($Key)) { $copy[$Key] = $Name }
    return $copy
}

function Invoke-OpDeployUpdate {
    param($OpArgs)
    $name = Get-ServiceNameArg $OpArgs
    $id = Get-StringArg $OpArgs 'id' -Required
    if ($id -notmatch '^[0-9a-f]{16,64}$') { Stop-Op 'bad_args' "argument 'id' must be 16 to 64 lower-case hex digits" }
    $set = Get-DeployMapArg $OpArgs 'set' $name 'name' -Required
    $back = Get-DeployMapArg $OpArgs 'back' $name 'name' -Required
    foreach ($pair in @(@('set', $set), @('back', $back))) {
        if (-not (Test-Arg $pair[1] 'image_path')) { Stop-Op 'bad_args' ("argument '" + $pair[0] + "' must hold image_path") }
        if ($pair[1].ContainsKey('create')) { Stop-Op 'bad_args' ("argument '" + $pair[0] + "' must not hold create: deploy.update changes a service that exists") }
    }
    foreach ($k in @($back.Keys)) {
        if (@('name', 'image_path') -notcontains $k) { Stop-Op 'bad_args' ("argument 'back' holds only image_path (got '" + $k + "')") }
    }
    $firewall = Get-MapArg $OpArgs 'firewall'
    $firewallBack = Get-MapArg $OpArgs 'firewall_back'
    if ($null -ne $firewallBack -and $null -eq $firewall) { Stop-Op 'bad_args' "argument 'firewall_back' needs 'firewall'" }
    $stopTimeout = [int](Get-IntArg $OpArgs 'stop_timeout_s' -Default 30 -Min 1 -Max 3600)
    $startTimeout = [int](Get-IntArg $OpArgs 'start_timeout_s' -Default 30 -Min 1 -Max 3600)
    $health = Get-MapArg $OpArgs 'health'
    if ($null -ne $health) {
        if ($health.Contains('service')) { Stop-Op 'bad_args' "argument 'health' must not name a service: it probes this one" }
        [void](Get-HealthSpec $health)
        foreach ($k in @('startup_timeout_s', 'period_s', 'timeout_s')) { [void](Get-IntArg $health $k -Default 1 -Min 1 -Max 3600) }
        foreach ($k in @('success_threshold', 'failure_threshold')) { [void](Get-IntArg $health $k -Default 1 -Min 1 -Max 100) }
        foreach ($k in @($health.Keys)) {
            if (@('http', 'tcp', 'command', 'startup_timeout_s', 'period_s', 'timeout_s', 'success_threshold', 'failure_threshold') -notcontains $k) {
                Stop-Op 'bad_args' ("argument 'health' does not accept '" + $k + "'")
            }
        }
    }
    $rollback = Get-BoolArg $OpArgs 'rollback' $true
    $info = Get-ExistingService 'deploy.update' $name
    $name = $info.name
    $wasRunning = ($info.state -eq 'running')
    # A rollback starts the previous release again when it ran before the op, or when start_back says so (an
    # update that an earlier op left half-done had already stopped it).
    $startBack = Get-BoolArg $OpArgs 'start_back' $wasRunning

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $stages = New-Object System.Collections.Generic.List[object]
    Write-Journal $name ([ordered]@{ Id = $id; Stage = 'begin'; Outcome = ''; From = [string]$info.image_path; To = [string]$set['image_path']; Started = (Get-JournalTime); Finished = ''; Detail = '' })
    $result = [ordered]@{ outcome = $null; changed = $true; journal_id = $id; stages = $null; stopped_by = $null; health = $null
        rollback_health = $null; error = $null; rollback_error = $null; state = $null; pid = $null }

    # ---- forward: switch, stop, start, probe
    $ctx = @{ name = $name; set = $set; back = $back; firewall = $firewall; firewall_back = $firewallBack; was_running = $wasRunning
        stop_timeout = $stopTimeout; start_timeout = $startTimeout; health = $health; start_back = $startBack
        secrets = (Get-RequestSecrets $OpArgs) }
    $failed = $null
    foreach ($stage in @('switched', 'stopped', 'started')) {
        $r = Invoke-DeployStage $stage $ctx
        $stages.Add([ordered]@{ stage = $stage; at_ms = [long]$clock.ElapsedMilliseconds; ok = $r.ok; error = $r.error })
        if (-not $r.ok) { $failed = $r.error; break }
        if ($stage -eq 'stopped') { $result.stopped_by = $r.data }
        Write-Journal $name @{ Stage = $stage }
    }
    if ($null -eq $failed -and $null -ne $health) {
        $r = Invoke-DeployProbe $ctx
        $result.health = $r.data
        $stages.Add([ordered]@{ stage = 'probed'; at_ms = [long]$clock.ElapsedMilliseconds; ok = $r.ok; error = $r.error })
        Write-Journal $name @{ Stage = 'probed' }
        if (-not $r.ok) { $failed = $r.error }
    }

    if ($null -eq $failed) {
        $result.outcome = 'updated'
    } elseif (-not $rollback) {
        $result.outcome = 'failed'
        $result.error = $failed
    } else {
        # ---- back: stop what runs, switch back, start the previous release if it ran, probe it
        $result.error = $failed
        Write-Journal $name @{ Stage = 'rolling_back'; Detail = ([string]$failed.kind + ': ' + [string]$failed.message) }
        $backFailed = $null
        foreach ($stage in @('stopped_back', 'switched_back', 'started_back')) {
            $r = Invoke-DeployStage $stage $ctx
            $stages.Add([ordered]@{ stage = $stage; at_ms = [long]$clock.ElapsedMilliseconds; ok = $r.ok; error = $r.error })
            if (-not $r.ok) { $backFailed = $r.error; break }
            Write-Journal $name @{ Stage = $stage }
        }
        if ($null -eq $backFailed -and $startBack -and $null -ne $health) {
            $r = Invoke-DeployProbe $ctx
            $result.rollback_health = $r.data
            $stages.Add([ordered]@{ stage = 'probed_back'; at_ms = [long]$clock.ElapsedMilliseconds; ok = $r.ok; error = $r.error })
            if (-not $r.ok) { $backFailed = $r.error }
        }
        if ($null -eq $backFailed) { $result.outcome = 'rolled_back' } else { $result.outcome = 'rollback_failed'; $result.rollback_error = $backFailed }
    }
    $detail = ''
    if ($null -ne $result.error) { $detail = [string]$result.error.kind + ': ' + [string]$result.error.message }
    Write-Journal $name @{ Stage = 'done'; Outcome = $result.outcome; Finished = (Get-JournalTime); Detail = $detail }
    $after = Get-ServiceInfo $name $null
    $result.state = $after.state
    $result.pid = $after.pid
    $result.stages = $stages.ToArray()
    return $result
}
