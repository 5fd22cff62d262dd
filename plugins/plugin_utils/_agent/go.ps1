# gowin.server agent, op family 'go': running go.exe (or any program) in a new process's environment.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/go.py and its contract vectors tests/contract/vectors/go.yml.
# requires: env, fs

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'go.run' = @{ accepted = @('exe', 'args', 'env', 'cwd', 'timeout', 'expect_rc', 'expect_stdout_prefix'); run = { param($a) Invoke-OpGoRun $a } }
}

# ---- go.run ---------------------------------------------------------------------------------

function ConvertTo-ArgvElement {
    # One argument quoted so that CommandLineToArgvW / the MSVC runtime read it back unchanged.
    param([string]$Arg)
    if ($Arg.Length -gt 0 -and $Arg.IndexOfAny([char[]]@([char]32, [char]9, [char]10, [char]11, [char]34)) -lt 0) { return $Arg }
    $sb = New-Object System.Text.StringBuilder
    [void]$sb.Append('"')
    $slashes = 0
    foreach ($ch in $Arg.ToCharArray()) {
        if ($ch -eq [char]92) {
            $slashes++
        } elseif ($ch -eq [char]34) {
            [void]$sb.Append([char]92, 2 * $slashes + 1)
            [void]$sb.Append([char]34)
            $slashes = 0
        } else {
            if ($slashes -gt 0) { [void]$sb.Append([char]92, $slashes) }
            [void]$sb.Append($ch)
            $slashes = 0
        }
    }
    if ($slashes -gt 0) { [void]$sb.Append([char]92, 2 * $slashes) }
    [void]$sb.Append('"')
    return $sb.ToString()
}

function ConvertTo-CommandLine {
    param($ArgList)
    $parts = New-Object System.Collections.Generic.List[string]
    foreach ($a in $ArgList) { $parts.Add((ConvertTo-ArgvElement ([string]$a))) }
    return ($parts -join ' ')
}

function Stop-ProcessTree {
    # End $Proc and every process it started (go build runs compile.exe, link.exe, asm.exe, cgo and
    # the compiled program's children): Process.Kill() ends only the one process, and
    # Kill(entireProcessTree) does not exist in .NET Framework (4.6.2 to 4.8; it came with .NET Core 3.0).
    # taskkill.exe /T /F /PID ends the process and the tree of processes whose parent process ID leads
    # to it (documented for taskkill /T). It is started with UseShellExecute false and an argument string
    # made only of fixed words and the integer PID (no request data), its output redirected so nothing
    # reaches the agent's own stdout, which carries the answer. Limits: the tree is read from the
    # parent process IDs of the processes running at that moment: a child whose parent already exited
    # is not found (Windows does not reparent it; its parent ID names a process that is gone), nor is
    # one started after the walk, nor one in another session. The PID cannot name another process: the
    # Process object holds a handle to the child, and Windows does not reuse a process ID while a handle
    # to the process is open. If taskkill cannot run or does not end the process within 10 seconds,
    # Process.Kill() ends at least the child itself.
    param([System.Diagnostics.Process]$Proc)
    $taskkill = [System.IO.Path]::Combine([System.Environment]::SystemDirectory, 'taskkill.exe')
    try {
        $psi = New-Object System.Diagnostics.ProcessStartInfo
        $psi.FileName = $taskkill
        $psi.Arguments = '/T /F /PID ' + ([int]$Proc.Id).ToString([System.Globalization.CultureInfo]::InvariantCulture)
        $psi.UseShellExecute = $false
        $psi.CreateNoWindow = $true
        $psi.RedirectStandardInput = $true
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $killer = [System.Diagnostics.Process]::Start($psi)
        try {
            $killer.StandardInput.Close()
            # Read (and drop) what it prints, so a full pipe never blocks it.
            [void]$killer.StandardOutput.ReadToEndAsync()
            [void]$killer.StandardError.ReadToEndAsync()
            [void]$killer.WaitForExit(10000)
        } finally {
            $killer.Dispose()
        }
    } catch {
        $null = $_
    }
    if (-not $Proc.WaitForExit(1000)) {
        try { $Proc.Kill() } catch { $null = $_ }
    }
}

function Invoke-NativeTool {
    # Run a tool of System32 (sc.exe, secedit.exe, ...) with an argument list quoted by
    # ConvertTo-CommandLine, its output captured; returns @{ rc; output }. No shell reads the arguments.
    # Used by the service and policy families (they require this one).
    param([string]$Tool, $ArgList, [int]$TimeoutMs = 60000)
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = [System.IO.Path]::Combine([System.Environment]::SystemDirectory, $Tool)
    $psi.Arguments = ConvertTo-CommandLine $ArgList
    $psi.UseShellExecute = $false
    $psi.CreateNoWindow = $true
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $proc = [System.Diagnostics.Process]::Start($psi)
    try {
        $proc.StandardInput.Close()
        $outTask = $proc.StandardOutput.ReadToEndAsync()
        $errTask = $proc.StandardError.ReadToEndAsync()
        if (-not $proc.WaitForExit($TimeoutMs)) {
            Stop-ProcessTree $proc
            Stop-Op 'internal' ($Tool + ' did not finish within ' + ($TimeoutMs / 1000) + ' seconds')
        }
        $proc.WaitForExit()
        $out = ($outTask.Result + $errTask.Result).Trim()
        return @{ rc = [int]$proc.ExitCode; output = $out }
    } finally {
        $proc.Dispose()
    }
}

function Invoke-OpGoRun {
    param($OpArgs)
    $exe = Get-PathArg $OpArgs 'exe' -Required -AllowUnc
    $argList = Get-ListArg $OpArgs 'args' -Strings
    $envMap = Get-MapArg $OpArgs 'env'
    if ($null -ne $envMap) {
        foreach ($k in @($envMap.PSBase.Keys)) {
            if (-not ($envMap[$k] -is [string]) -or [string]::IsNullOrEmpty($k) -or $k.Contains('=')) {
                Stop-Op 'bad_args' "argument 'env' must map names to strings"
            }
        }
    }
    $cwd = Get-PathArg $OpArgs 'cwd' -AllowUnc
    $timeout = Get-IntArg $OpArgs 'timeout' -Default 120 -Min 1 -Max 86400
    $expectRc = Get-IntArg $OpArgs 'expect_rc' -Min (-2147483648) -Max 4294967295
    $expectPrefix = Get-StringArg $OpArgs 'expect_stdout_prefix' -AllowEmpty
    if (-not [System.IO.File]::Exists($exe)) { Stop-Op 'not_found' ('go.run: ' + $exe + ' does not exist') }
    if ($null -ne $cwd -and -not [System.IO.Directory]::Exists($cwd)) { Stop-Op 'not_found' ('go.run: cwd ' + $cwd + ' does not exist') }
    # Without cwd the program runs in %SystemRoot%\System32 (Environment.SystemDirectory, from
    # GetSystemDirectory: it always exists, and it is where the Service Control Manager starts
    # services), never in whatever folder the agent's host process happens to be in (ProcessStartInfo
    # with an empty WorkingDirectory inherits it). It is returned as 'cwd'.
    if ($null -eq $cwd) { $cwd = [System.Environment]::SystemDirectory }
    # Say clearly why an image cannot start, before Windows answers with a generic error.
    $machine = Get-PeMachine $exe
    if ($null -eq $machine) { Stop-Op 'exec_failed' ('go.run: ' + $exe + ' is not a valid Win32 application') }
    $hostArch = Get-HostArch
    $runnable = @('amd64', '386')
    if ($hostArch -eq 'arm64') { $runnable = @('arm64', 'amd64', '386') }
    elseif ($hostArch -eq '386') { $runnable = @('386') }
    if ($machine -ne 'unknown' -and $runnable -notcontains $machine) {
        Stop-Op 'exec_failed' ('go.run: ' + $exe + ' is a ' + $machine + ' program, which this ' + $hostArch + ' host cannot run')
    }

    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $exe
    $psi.Arguments = ConvertTo-CommandLine $argList
    $psi.UseShellExecute = $false
    $psi.CreateNoWindow = $true
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $utf8 = New-Object System.Text.UTF8Encoding($false)
    $psi.StandardOutputEncoding = $utf8
    $psi.StandardErrorEncoding = $utf8
    $psi.WorkingDirectory = $cwd
    # The environment of a new process of the account, built from the registry now (not the agent's
    # own, which Windows fixed when the WinRM shell started), then changed by 'env': '' removes a name.
    $newEnv = Get-NewProcessEnvironment
    if ($null -ne $envMap) {
        foreach ($k in @($envMap.PSBase.Keys)) {
            $v = [string]$envMap[$k]
            if ($v.Length -eq 0) { [void]$newEnv.Remove($k) } else { $newEnv[$k] = $v }
        }
    }
    $psi.EnvironmentVariables.Clear()
    foreach ($k in @($newEnv.PSBase.Keys)) { $psi.EnvironmentVariables[$k] = $newEnv[$k] }
    $proc = New-Object System.Diagnostics.Process
    $proc.StartInfo = $psi
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        [void]$proc.Start()
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        Stop-Op 'exec_failed' ('go.run: ' + $exe + ' could not be started: ' + $err.message)
    }
    try {
        # The child gets no input (and never our stdin, which carries the request).
        $proc.StandardInput.Close()
        $outTask = $proc.StandardOutput.ReadToEndAsync()
        $errTask = $proc.StandardError.ReadToEndAsync()
        if (-not $proc.WaitForExit([int]([long]$timeout * 1000))) {
            Stop-ProcessTree $proc
            [void]$proc.WaitForExit(5000)
            Stop-Op 'exec_failed' ('go.run: ' + $exe + ' did not finish within ' + $timeout + ' seconds; it was stopped')
        }
        $proc.WaitForExit()
        # The readers end only when every holder of the pipes has closed them: a child that the
        # program left running keeps them open. Wait for them no longer than the timeout allows.
        $left = [long]$timeout * 1000 - $clock.ElapsedMilliseconds
        if ($left -lt 1000) { $left = 1000 }
        if (-not [System.Threading.Tasks.Task]::WaitAll([System.Threading.Tasks.Task[]]@($outTask, $errTask), [int]$left)) {
            Stop-Op 'exec_failed' ('go.run: ' + $exe + ' exited, but a process it started still holds its output open after ' +
                $timeout + ' seconds')
        }
        $stdout = $outTask.Result
        $stderr = $errTask.Result
        $rc = [int]$proc.ExitCode
    } finally {
        $proc.Dispose()
    }
    if ($null -ne $expectRc) {
        $rcU = ConvertTo-UInt32Long ([long]$rc)
        if ([long]$expectRc -ne [long]$rc -and [long]$expectRc -ne $rcU) {
            $tail = ''
            if ($stderr.Length -gt 0) {
                $cut = $stderr
                if ($cut.Length -gt 400) { $cut = $cut.Substring(0, 400) }
                $tail = '; stderr: ' + (ConvertTo-AgentJson $cut)
            }
            Stop-Op 'verify_failed' ('go.run: rc is ' + $rc + ', expected ' + $expectRc + $tail)
        }
    }
    if ($null -ne $expectPrefix -and -not $stdout.StartsWith($expectPrefix, [System.StringComparison]::Ordinal)) {
        $shown = $stdout
        if ($shown.Length -gt 200) { $shown = $shown.Substring(0, 200) }
        Stop-Op 'verify_failed' ('go.run: stdout ' + (ConvertTo-AgentJson $shown) + ' does not start with ' + (ConvertTo-AgentJson $expectPrefix))
    }
    return [ordered]@{ rc = $rc; stdout = $stdout; stderr = $stderr; cwd = $cwd }
}
