# gowin.server agent, op family 'lock': the host lock that serializes the changes of concurrent runs.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/lock.py and its contract vectors tests/contract/vectors/lock.yml.
# requires: (none)

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'lock.acquire' = @{ accepted = @('owner', 'lease', 'holder'); run = { param($a) Invoke-OpLockAcquire $a } }
    'lock.release' = @{ accepted = @('owner'); run = { param($a) Invoke-OpLockRelease $a } }
}

# The lock is three values under one key: Owner (the token of the run holding it), Expires (Unix
# seconds, UTC) and Holder (what the run said about itself). A lock whose Expires has passed is
# stale: any run may take it over (the run that held it died or lost its connection). Reading and
# writing the values happens inside a named mutex, so two agents on the host never both see the
# lock free. Windows releases a mutex whose owning thread ended without releasing it; WaitOne then
# throws AbandonedMutexException and the caller owns it (documented Mutex semantics, .NET 2.0+).
$script:LockKey = 'SOFTWARE\GoWin\Lock'
$script:LockMutexName = 'Global\gowin.server-lock'

function Get-LockOwnerArg {
    param($OpArgs)
    $owner = Get-StringArg $OpArgs 'owner' -Required
    if ($owner -cnotmatch '^[A-Za-z0-9._:-]{1,128}\z') {
        Stop-Op 'bad_args' "argument 'owner' must be 1 to 128 letters, digits or . _ : - (a token naming the run)"
    }
    return $owner
}

function Invoke-InLockMutex {
    # Take (-Release: give back) the lock while holding the host's lock mutex.
    param([switch]$Release)
    $mutex = New-Object System.Threading.Mutex($false, $script:LockMutexName)
    $held = $false
    try {
        try {
            $held = $mutex.WaitOne(10000)
        } catch [System.Threading.AbandonedMutexException] {
            $held = $true
        }
        if (-not $held) { Stop-Op 'busy' 'lock: another gowin agent on this host held the lock mutex for 10 seconds' }
        if ($Release) { return (Remove-LockIfOwned) }
        return (Set-LockIfFree)
    } finally {
        if ($held) { $mutex.ReleaseMutex() }
        $mutex.Dispose()
    }
}

function Get-LockState {
    $base = Open-BaseKey 'LocalMachine'
    try {
        $key = $base.OpenSubKey($script:LockKey, $false)
        if ($null -eq $key) { return $null }
        try {
            $owner = $key.GetValue('Owner', $null)
            $expires = $key.GetValue('Expires', $null)
            $holder = $key.GetValue('Holder', $null)
        } finally { $key.Close() }
    } finally { $base.Close() }
    if (-not ($owner -is [string]) -or $owner.Length -eq 0) { return $null }
    $until = [long]0
    if ($expires -is [long] -or $expires -is [int]) { $until = [long]$expires }
    return @{ owner = $owner; expires = $until; holder = [string]$holder }
}

function Get-UnixNow {
    return [System.DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
}

function Format-UnixTime {
    param([long]$Seconds)
    return [System.DateTimeOffset]::FromUnixTimeSeconds($Seconds).UtcDateTime.ToString('yyyy-MM-ddTHH:mm:ssZ', [System.Globalization.CultureInfo]::InvariantCulture)
}

function Invoke-OpLockAcquire {
    param($OpArgs)
    $owner = Get-LockOwnerArg $OpArgs
    $lease = Get-IntArg $OpArgs 'lease' -Required -Min 1 -Max 86400
    $holder = Get-StringArg $OpArgs 'holder' -AllowEmpty -Default ''
    if ($holder.Length -gt 200) { Stop-Op 'bad_args' "argument 'holder' must be at most 200 characters" }
    $script:LockRequest = @{ owner = $owner; lease = $lease; holder = $holder }
    return (Invoke-InLockMutex)
}

function Set-LockIfFree {
    $want = $script:LockRequest
    $now = Get-UnixNow
    $state = Get-LockState
    $tookOver = $null
    if ($null -ne $state -and $state.owner -cne $want.owner) {
        if ($state.expires -gt $now) {
            Stop-Op 'busy' ('the host is locked by another gowin.server run (' + $state.holder + ') until ' +
                (Format-UnixTime $state.expires) + '; it is released when that run ends')
        }
        $tookOver = $state.holder
    }
    $expires = [long]($now + $want.lease)
    $base = Open-BaseKey 'LocalMachine'
    try {
        $key = $base.CreateSubKey($script:LockKey)
        try {
            $key.SetValue('Owner', $want.owner, [Microsoft.Win32.RegistryValueKind]::String)
            $key.SetValue('Expires', $expires, [Microsoft.Win32.RegistryValueKind]::QWord)
            $key.SetValue('Holder', $want.holder, [Microsoft.Win32.RegistryValueKind]::String)
        } finally { $key.Close() }
    } finally { $base.Close() }
    return [ordered]@{ acquired = $true; expires = $expires; took_over = $tookOver }
}

function Invoke-OpLockRelease {
    param($OpArgs)
    $script:LockRequest = @{ owner = (Get-LockOwnerArg $OpArgs) }
    return (Invoke-InLockMutex -Release)
}

function Remove-LockIfOwned {
    $state = Get-LockState
    if ($null -eq $state -or $state.owner -cne $script:LockRequest.owner) { return [ordered]@{ released = $false } }
    $base = Open-BaseKey 'LocalMachine'
    try {
        $base.DeleteSubKeyTree($script:LockKey, $false)
    } finally { $base.Close() }
    return [ordered]@{ released = $true }
}
