# gowin.server agent, op family 'health': is a service answering? One probe, repeated on a schedule.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/health.py and its contract vectors tests/contract/vectors/health.yml.
# requires: download, service
#
# The schedule (the same in the twin): probe n (0, 1, ...) starts period_s * n seconds after the op
# started, or when probe n-1 ended if that is later. success_threshold successes in a row: healthy.
# Once one probe has succeeded, failure_threshold failures in a row: unhealthy. Until the verdict is
# healthy, no probe starts after startup_timeout_s: then unhealthy. When a service is named and is
# stopped, stopping or gone when a probe is due: unhealthy at once (start_pending goes on probing). The
# op ends within startup_timeout_s + timeout_s, plus up to 11 s to end a command's process tree.
#
# Windows behaviour relied on (each one held by a vector):
# - HttpWebRequest.GetResponse() throws WebException with Status ProtocolError and the response in
#   .Response for an answer of 400 and above; with AllowAutoRedirect false a 3xx answer is returned as
#   is (documented for HttpWebRequest.AllowAutoRedirect). Timeout bounds the connect and the answer's
#   headers, ReadWriteTimeout each read of the body. ServerCertificateValidationCallback on the request
#   (.NET 4.5 and later) skips the certificate check for that request only.
# - Regex(pattern, options, matchTimeout) (.NET 4.5 and later) throws RegexMatchTimeoutException when a
#   match runs longer than matchTimeout, and ArgumentException for a pattern it cannot parse.
# - TcpClient.BeginConnect / AsyncWaitHandle.WaitOne(ms) bound a TCP connect; EndConnect throws the
#   SocketException of a refused or unreachable connect.
# - Process.Start with UseShellExecute false finds FileName as CreateProcess does (the agent's folder,
#   the agent's current folder, System32, the Windows folder, PATH: not WorkingDirectory) and throws
#   Win32Exception when it cannot start it; its stdin is redirected and closed, so a probe never reads the
#   agent's request. Its output pipes stay open while a grandchild that inherited them runs: the read is
#   bounded too.
# - PS 5.1's default SecurityProtocol is Ssl3|Tls: Enable-ModernTls (download family) adds TLS 1.2.
# - New-Object TcpClient is IPv4-only on .NET Framework; an InterNetworkV6 socket with DualMode reaches
#   both families.

Register-AgentOps @{
    'health.probe' = @{ accepted = @('http', 'tcp', 'command', 'service', 'startup_timeout_s', 'period_s', 'timeout_s', 'success_threshold', 'failure_threshold'); run = { param($a) Invoke-OpHealthProbe $a } }
}

$script:HealthKeptProbes = 10
$script:HealthExcerpt = 200
$script:HealthBodyLimit = 65536

function Get-HealthExcerpt {
    param([string]$Text)
    if ($null -eq $Text) { return $null }
    if ($Text.Length -le $script:HealthExcerpt) { return $Text }
    return $Text.Substring(0, $script:HealthExcerpt)
}

function Get-HealthCause {
    # The exception a .NET call threw, out of PowerShell's wrappers (MethodInvocationException, ...).
    param($Exception)
    $ex = $Exception
    while (($ex -is [System.Management.Automation.RuntimeException] -or $ex -is [System.Reflection.TargetInvocationException] -or
            $ex -is [System.AggregateException]) -and $null -ne $ex.InnerException) {
        $ex = $ex.InnerException
    }
    return $ex
}

function Get-HealthMessage {
    # The innermost message of an exception (a WebException's SocketException says what happened).
    param($Exception)
    $ex = $Exception
    while ($null -ne $ex.InnerException) { $ex = $ex.InnerException }
    return [string]$ex.Message
}

function Read-HealthBody {
    # The first HealthBodyLimit bytes of a response body, as UTF-8 (invalid bytes become U+FFFD), read
    # before the deadline (a stopwatch and its limit in ms: ReadWriteTimeout bounds each read, not all).
    param([System.Net.HttpWebResponse]$Response, $Clock, [long]$LimitMs)
    $stream = $Response.GetResponseStream()
    $buffer = New-Object byte[] $script:HealthBodyLimit
    $total = 0
    while ($total -lt $buffer.Length) {
        if ($Clock.ElapsedMilliseconds -gt $LimitMs) { throw (New-Object System.TimeoutException('the body took longer than the probe timeout')) }
        $n = $stream.Read($buffer, $total, $buffer.Length - $total)
        if ($n -le 0) { break }
        $total += $n
    }
    return (New-Object System.Text.UTF8Encoding($false, $false)).GetString($buffer, 0, $total)
}

function Invoke-HealthHttp {
    param($Spec, [int]$TimeoutMs)
    Enable-ModernTls
    $probe = [ordered]@{ ok = $false; status = $null; body = $null; error = $null }
    $req = [System.Net.HttpWebRequest]([System.Net.WebRequest]::Create($Spec.uri))
    $req.Method = 'GET'
    $req.UserAgent = 'gowin-health/1'
    $req.AllowAutoRedirect = $false
    $req.KeepAlive = $false
    $req.Proxy = $null
    $req.ConnectionGroupName = 'gowin-health-' + [System.Guid]::NewGuid().ToString('N')
    $req.Timeout = $TimeoutMs
    $req.ReadWriteTimeout = $TimeoutMs
    if (-not $Spec.validate_certs) { $req.ServerCertificateValidationCallback = { $true } }
    $resp = $null
    $started = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        try {
            $resp = [System.Net.HttpWebResponse]$req.GetResponse()
        } catch {
            $ex = Get-HealthCause $_.Exception
            if ($ex -is [System.Net.WebException] -and $ex.Status -ne [System.Net.WebExceptionStatus]::ProtocolError -and $null -ne $ex.Response) {
                $ex.Response.Close()
            }
            if (-not ($ex -is [System.Net.WebException])) {
                $probe.error = Get-HealthMessage $ex
                return $probe
            }
            if ($ex.Status -eq [System.Net.WebExceptionStatus]::ProtocolError -and $null -ne $ex.Response) {
                $resp = [System.Net.HttpWebResponse]$ex.Response
            } elseif ($ex.Status -eq [System.Net.WebExceptionStatus]::Timeout) {
                $probe.error = 'no answer within ' + ($TimeoutMs / 1000) + ' s'
                return $probe
            } else {
                $probe.error = $ex.Status.ToString() + ': ' + (Get-HealthMessage $ex)
                return $probe
            }
        }
        $probe.status = [int]$resp.StatusCode
        $body = $null
        try { $body = Read-HealthBody $resp $started $TimeoutMs } catch { $probe.error = 'reading the body failed: ' + (Get-HealthMessage $_.Exception); return $probe }
        $probe.body = Get-HealthExcerpt $body
        if ($probe.status -ne $Spec.expect_status) {
            $probe.error = 'HTTP ' + $probe.status + ', expected ' + $Spec.expect_status
            return $probe
        }
        if ($null -ne $Spec.regex) {
            $matched = $false
            try { $matched = $Spec.regex.IsMatch($body) } catch {
                if ((Get-HealthCause $_.Exception) -is [System.Text.RegularExpressions.RegexMatchTimeoutException]) {
                    $probe.error = 'matching body_regex took longer than 1 s'
                    return $probe
                }
                throw
            }
            if (-not $matched) { $probe.error = 'the body does not match body_regex'; return $probe }
        }
        $probe.ok = $true
        return $probe
    } finally {
        if ($null -ne $resp) { $resp.Close() }
    }
}

function Invoke-HealthTcp {
    param($Spec, [int]$TimeoutMs)
    $probe = [ordered]@{ ok = $false; error = $null }
    $client = New-Object System.Net.Sockets.TcpClient([System.Net.Sockets.AddressFamily]::InterNetworkV6)
    $client.Client.DualMode = $true
    try {
        $pending = $client.BeginConnect($Spec.host, $Spec.port, $null, $null)
        if (-not $pending.AsyncWaitHandle.WaitOne($TimeoutMs)) {
            $probe.error = 'no connection within ' + ($TimeoutMs / 1000) + ' s'
            return $probe
        }
        try {
            $client.EndConnect($pending)
        } catch {
            $probe.error = Get-HealthMessage $_.Exception
            return $probe
        }
        $probe.ok = $true
        return $probe
    } finally {
        $client.Close()
    }
}

function Invoke-HealthCommand {
    param($Spec, [int]$TimeoutMs)
    $probe = [ordered]@{ ok = $false; exit_code = $null; output = $null; error = $null }
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $Spec.argv[0]
    $psi.Arguments = ConvertTo-CommandLine @($Spec.argv | Select-Object -Skip 1)
    $psi.UseShellExecute = $false
    $psi.CreateNoWindow = $true
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.WorkingDirectory = [System.Environment]::SystemDirectory
    $proc = $null
    try {
        $proc = [System.Diagnostics.Process]::Start($psi)
    } catch {
        $probe.error = 'cannot start ' + $Spec.argv[0] + ': ' + (Get-HealthMessage $_.Exception)
        return $probe
    }
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        $proc.StandardInput.Close()
        $outTask = $proc.StandardOutput.ReadToEndAsync()
        $errTask = $proc.StandardError.ReadToEndAsync()
        if (-not $proc.WaitForExit($TimeoutMs)) {
            Stop-ProcessTree $proc
            $probe.error = 'did not exit within ' + ($TimeoutMs / 1000) + ' s; its process tree was ended'
            return $probe
        }
        $proc.WaitForExit()
        $probe.exit_code = [int]$proc.ExitCode
        $left = [int][math]::Max(1000, $TimeoutMs - $watch.ElapsedMilliseconds)
        if (-not [System.Threading.Tasks.Task]::WaitAll([System.Threading.Tasks.Task[]]@($outTask, $errTask), $left)) {
            $probe.error = 'exit code ' + $probe.exit_code + ', but its output is still open (a process it started holds it)'
            return $probe
        }
        $probe.output = Get-HealthExcerpt (($outTask.Result + $errTask.Result).Trim())
        if ($probe.exit_code -ne 0) { $probe.error = 'exit code ' + $probe.exit_code; return $probe }
        $probe.ok = $true
        return $probe
    } finally {
        $proc.Dispose()
    }
}

function Get-HealthSpec {
    # The one probe of the request: exactly one of http, tcp, command.
    param($OpArgs)
    $given = @(@('http', 'tcp', 'command') | Where-Object { Test-Arg $OpArgs $_ })
    if ($given.Count -ne 1) { Stop-Op 'bad_args' "exactly one of the arguments 'http', 'tcp', 'command' is required" }
    $kind = $given[0]
    if ($kind -eq 'command') {
        $argv = Get-ListArg $OpArgs 'command' -Strings
        if ($argv.Count -eq 0 -or [string]::IsNullOrEmpty($argv[0])) { Stop-Op 'bad_args' "argument 'command' must be a list of strings starting with the program" }
        foreach ($x in $argv) { if ($x.IndexOf([char]0) -ge 0) { Stop-Op 'bad_args' "argument 'command' must not hold NUL characters" } }
        return [ordered]@{ kind = 'command'; target = $argv[0]; argv = $argv }
    }
    $m = Get-MapArg $OpArgs $kind
    if ($kind -eq 'tcp') {
        foreach ($k in @($m.PSBase.Keys)) { if (@('host', 'port') -notcontains $k) { Stop-Op 'bad_args' ("argument 'tcp' does not accept '" + $k + "' (host, port)") } }
        $h = Get-StringArg $m 'host' -Required
        $port = Get-IntArg $m 'port' -Required -Min 1 -Max 65535
        return [ordered]@{ kind = 'tcp'; target = ($h + ':' + $port); host = $h; port = [int]$port }
    }
    foreach ($k in @($m.PSBase.Keys)) {
        if (@('url', 'expect_status', 'body_regex', 'validate_certs') -notcontains $k) {
            Stop-Op 'bad_args' ("argument 'http' does not accept '" + $k + "' (url, expect_status, body_regex, validate_certs)")
        }
    }
    $url = Get-StringArg $m 'url' -Required
    $uri = $null
    if (-not [System.Uri]::TryCreate($url, [System.UriKind]::Absolute, [ref]$uri) -or ($uri.Scheme -cne 'http' -and $uri.Scheme -cne 'https') -or
        [string]::IsNullOrEmpty($uri.Host)) {
        Stop-Op 'bad_args' ("argument 'http.url' must be an http or https URL, got " + $url)
    }
    if (-not [string]::IsNullOrEmpty($uri.UserInfo)) { Stop-Op 'bad_args' "argument 'http.url' must not hold a user name or password" }
    $regex = $null
    $pattern = Get-StringArg $m 'body_regex'
    if ($null -ne $pattern) {
        try {
            $regex = New-Object System.Text.RegularExpressions.Regex($pattern, [System.Text.RegularExpressions.RegexOptions]::None, [System.TimeSpan]::FromSeconds(1))
        } catch {
            Stop-Op 'bad_args' ("argument 'http.body_regex' is not a regular expression: " + (Get-HealthMessage $_.Exception))
        }
    }
    return [ordered]@{
        kind = 'http'; target = $uri.AbsoluteUri; uri = $uri; regex = $regex
        expect_status = [int](Get-IntArg $m 'expect_status' -Default 200 -Min 100 -Max 599)
        validate_certs = (Get-BoolArg $m 'validate_certs' $true)
    }
}

function Test-HealthServiceDown {
    # True when the service is stopped, stopping or gone (deleted meanwhile); start_pending is not down.
    param([string]$Name)
    $sc = New-Object System.ServiceProcess.ServiceController($Name)
    try {
        $sc.Refresh()
        $status = $sc.Status
        return ($status -eq [System.ServiceProcess.ServiceControllerStatus]::Stopped -or $status -eq [System.ServiceProcess.ServiceControllerStatus]::StopPending)
    } catch {
        return $true
    } finally { $sc.Dispose() }
}

function Invoke-OpHealthProbe {
    param($OpArgs)
    $spec = Get-HealthSpec $OpArgs
    $service = $null
    if (Test-Arg $OpArgs 'service') {
        $name = Get-StringArg $OpArgs 'service'
        if ($name.Length -gt 256 -or $name.IndexOf('\') -ge 0 -or $name.IndexOf('/') -ge 0) {
            Stop-Op 'bad_args' "argument 'service' must be a service name (at most 256 characters, no '\' or '/')"
        }
        $service = (Get-ExistingService 'health.probe' $name).name
        Initialize-ServiceProcess
    }
    $startupMs = [long](Get-IntArg $OpArgs 'startup_timeout_s' -Default 60 -Min 1 -Max 3600) * 1000
    $periodMs = [long](Get-IntArg $OpArgs 'period_s' -Default 2 -Min 1 -Max 3600) * 1000
    $timeoutMs = [int](Get-IntArg $OpArgs 'timeout_s' -Default 5 -Min 1 -Max 3600) * 1000
    $successes = [int](Get-IntArg $OpArgs 'success_threshold' -Default 1 -Min 1 -Max 100)
    $failures = [int](Get-IntArg $OpArgs 'failure_threshold' -Default 3 -Min 1 -Max 100)

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $kept = New-Object System.Collections.Generic.List[object]
    $count = 0
    $okRun = 0
    $badRun = 0
    $answered = $false
    $healthy = $false
    $reason = $null
    $serviceFacts = $null
    while ($true) {
        $due = [math]::Max($count * $periodMs, [long]$clock.ElapsedMilliseconds)
        if ($count -gt 0 -and $due -gt $startupMs) {
            if ($answered) {
                $reason = 'it passed ' + $okRun + ' of the ' + $successes + ' probes in a row needed within startup_timeout_s (' + ($startupMs / 1000) + ' s)'
            } else {
                $reason = 'no probe passed within startup_timeout_s (' + ($startupMs / 1000) + ' s)'
            }
            break
        }
        $wait = $due - $clock.ElapsedMilliseconds
        if ($wait -gt 0) { Start-Sleep -Milliseconds $wait }
        if ($null -ne $service -and (Test-HealthServiceDown $service)) {
            $info = Get-ServiceInfo $service $null
            if (-not $info.exists) {
                $serviceFacts = [ordered]@{ state = 'missing'; exit_code = $null }
                $reason = 'the service ' + $service + ' is gone (it was deleted)'
            } else {
                $serviceFacts = [ordered]@{ state = $info.state; exit_code = $info.exit_code }
                $reason = 'the service ' + $service + ' is ' + $info.state + ' (exit code ' + $info.exit_code + ')'
            }
            break
        }
        $at = [long]$clock.ElapsedMilliseconds
        if ($spec.kind -eq 'http') { $probe = Invoke-HealthHttp $spec $timeoutMs }
        elseif ($spec.kind -eq 'tcp') { $probe = Invoke-HealthTcp $spec $timeoutMs }
        else { $probe = Invoke-HealthCommand $spec $timeoutMs }
        $count++
        $entry = [ordered]@{ n = $count; at_ms = $at; duration_ms = ([long]$clock.ElapsedMilliseconds - $at) }
        foreach ($k in @($probe.Keys)) { $entry[$k] = $probe[$k] }
        $kept.Add($entry)
        if ($kept.Count -gt $script:HealthKeptProbes) { $kept.RemoveAt(0) }
        if ($probe.ok) {
            $answered = $true
            $okRun++
            $badRun = 0
            if ($okRun -ge $successes) { $healthy = $true; $reason = 'passed ' + $okRun + ' probe(s) in a row'; break }
        } else {
            $okRun = 0
            $badRun++
            if ($answered -and $badRun -ge $failures) { $reason = 'failed ' + $badRun + ' probes in a row after it had answered'; break }
        }
    }
    return [ordered]@{
        healthy = $healthy; reason = $reason; kind = $spec.kind; target = $spec.target; probe_count = $count
        probes = $kept.ToArray(); elapsed_ms = [long]$clock.ElapsedMilliseconds; service = $serviceFacts
    }
}
