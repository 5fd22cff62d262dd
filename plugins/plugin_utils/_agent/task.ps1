# gowin.server agent, op family 'task': scheduled tasks that run a program as SYSTEM every n minutes.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/task.py and its contract vectors tests/contract/vectors/task.yml.
# requires: (none)
#
# Windows behaviour relied on (each one held by a vector):
# - The Task Scheduler 2.0 scripting objects (COM Schedule.Service, Windows Vista and later): after
#   Connect(), GetFolder(path) and GetTask(path) fail with HRESULT 0x80070002 (ERROR_FILE_NOT_FOUND) or
#   0x80070003 (ERROR_PATH_NOT_FOUND) for a folder or task that does not exist (MS-TSCH SchRpcRetrieveTask).
#   PowerShell's COM binder throws Marshal.GetExceptionForHR's exception (FileNotFoundException,
#   DirectoryNotFoundException); its older COM adapter wraps it in a TargetInvocationException: the whole
#   InnerException chain is searched for the HRESULT. CreateFolder of a folder another run just made fails
#   0x800700B7 (ERROR_ALREADY_EXISTS): the folder is then opened.
# - RegisteredTask.Path is not documented to keep the case of the registration: the stored spelling is read
#   by walking the folders (GetFolders/GetTasks names), which a vector holds.
# - Principal.UserId reads back as 'SYSTEM', 'S-1-5-18', a localized name, or '' for the calling user: the
#   SID of the name decides (LocalSystemSid), together with LogonType 5.
# - RegisterTaskDefinition(name, definition, 6 = TASK_CREATE_OR_UPDATE, 'SYSTEM', $null,
#   5 = TASK_LOGON_SERVICE_ACCOUNT) registers the task to run as LocalSystem without a password, and
#   replaces a task of that name in that folder. Principal.UserId then reads back as 'SYSTEM' or as
#   'S-1-5-18' depending on the Windows version: both count as SYSTEM here.
# - A time trigger (type 1) with Repetition.Interval 'PT<n>M' and an empty Duration repeats every n
#   minutes for ever; the interval reads back in ISO 8601 form, which Windows may normalise (PT60M ->
#   PT1H): read as minutes whatever the form.
# - DeleteTask(name, 0) on the folder removes the task; folders this op created are left (empty).
# - Task names and folder names may not hold \ / : * ? " < > | (the task XML's URI rules).

Register-AgentOps @{
    'task.get' = @{ accepted = @('path'); run = { param($a) Invoke-OpTaskGet $a } }
    'task.set' = @{ accepted = @('path', 'execute', 'arguments', 'interval_min', 'description'); run = { param($a) Invoke-OpTaskSet $a } }
    'task.remove' = @{ accepted = @('path'); run = { param($a) Invoke-OpTaskRemove $a } }
}

function Get-TaskPathArg {
    # '\Folder\...\Name': at least one folder, each part non-empty, no trailing dot or space.
    param($OpArgs)
    $path = Get-StringArg $OpArgs 'path' -Required
    $shape = "must be a task path such as \GoWin\Watchdog\name (a folder and a name, each without / : * ? `" < > | or control characters)"
    if ($path.Length -gt 200 -or -not $path.StartsWith('\', [System.StringComparison]::Ordinal)) { Stop-Op 'bad_args' ("argument 'path' " + $shape) }
    $parts = $path.Substring(1).Split('\')
    if ($parts.Count -lt 2) { Stop-Op 'bad_args' ("argument 'path' " + $shape) }
    foreach ($part in $parts) {
        if ($part.Length -eq 0 -or $part.EndsWith('.', [System.StringComparison]::Ordinal) -or $part.EndsWith(' ', [System.StringComparison]::Ordinal) -or
            $part.StartsWith(' ', [System.StringComparison]::Ordinal) -or
            $part.IndexOfAny([char[]]'/:*?"<>|') -ge 0) { Stop-Op 'bad_args' ("argument 'path' " + $shape) }
        foreach ($c in $part.ToCharArray()) { if ([int]$c -lt 32) { Stop-Op 'bad_args' ("argument 'path' " + $shape) } }
    }
    return $path
}

function Test-TaskMissing {
    # True for the COMException of a folder or task that does not exist.
    param($Exception)
    # HRESULTs as signed Int32: 0x80070002 = -2147024894, 0x80070003 = -2147024893, anywhere in the chain.
    return (Test-TaskHResult $Exception @(-2147024894, -2147024893))
}

function Test-TaskHResult {
    param($Exception, [int[]]$Codes)
    for ($ex = $Exception; $null -ne $ex; $ex = $ex.InnerException) {
        $hr = 0
        try { $hr = [int]$ex.HResult } catch { $hr = 0 }
        if ($Codes -contains $hr) { return $true }
    }
    return $false
}

function Test-SystemAccount {
    # Whether a principal's UserId names LocalSystem (by its SID, whatever the language of the host).
    param([string]$User)
    try {
        if ([string]::IsNullOrEmpty($User)) { return ([System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value -eq 'S-1-5-18') }
        if ($User.StartsWith('S-1-', [System.StringComparison]::Ordinal)) { $sid = New-Object System.Security.Principal.SecurityIdentifier($User) }
        else { $sid = (New-Object System.Security.Principal.NTAccount($User)).Translate([System.Security.Principal.SecurityIdentifier]) }
        return $sid.IsWellKnown([System.Security.Principal.WellKnownSidType]::LocalSystemSid)
    } catch { return $false }
}

function Get-RegisteredTaskPath {
    # The path in the spelling it was registered with (lookups are case-insensitive; .Path may echo the query).
    param($Service, [string]$Path)
    $parts = $Path.Substring(1).Split('')
    $folder = $Service.GetFolder('')
    $out = ''
    for ($i = 0; $i -lt $parts.Count - 1; $i++) {
        $hit = @($folder.GetFolders(0) | Where-Object { $_.Name -eq $parts[$i] })
        if ($hit.Count -ne 1) { return $Path }
        $folder = $hit[0]
        $out += '' + [string]$folder.Name
    }
    $hit = @($folder.GetTasks(1) | Where-Object { $_.Name -eq $parts[$parts.Count - 1] })
    if ($hit.Count -ne 1) { return $Path }
    return ($out + '' + [string]$hit[0].Name)
}

function Connect-TaskService {
    $svc = New-Object -ComObject 'Schedule.Service'
    $svc.Connect()
    return $svc
}

function Split-TaskPath {
    param([string]$Path)
    $cut = $Path.LastIndexOf([char]'\')
    return @{ folder = $Path.Substring(0, $cut); name = $Path.Substring($cut + 1) }
}

function Find-ScheduledTask {
    param($Service, [string]$Path)
    try { return $Service.GetFolder('\').GetTask($Path) } catch {
        if (Test-TaskMissing $_.Exception) { return $null }
        throw
    }
}

function ConvertFrom-TaskInterval {
    # ISO 8601 duration (PnDTnHnMnS) -> whole minutes, or $null.
    param([string]$Text)
    if ([string]::IsNullOrEmpty($Text)) { return $null }
    $m = [regex]::Match($Text, '^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$')
    if (-not $m.Success) { return $null }
    $total = 0L
    if ($m.Groups[1].Success) { $total += [long]$m.Groups[1].Value * 86400 }
    if ($m.Groups[2].Success) { $total += [long]$m.Groups[2].Value * 3600 }
    if ($m.Groups[3].Success) { $total += [long]$m.Groups[3].Value * 60 }
    if ($m.Groups[4].Success) { $total += [long]$m.Groups[4].Value }
    if ($total -le 0 -or ($total % 60) -ne 0) { return $null }
    return [long]($total / 60)
}

function Get-TaskView {
    param($Service, $Task, [string]$Path)
    if ($null -eq $Task) {
        return [ordered]@{ exists = $false; path = $Path; enabled = $false; execute = $null; arguments = $null; interval_min = $null
                           description = $null; runs_as_system = $false }
    }
    $def = $Task.Definition
    $execute = $null; $arguments = $null
    $actions = @($def.Actions | Where-Object { $_.Type -eq 0 })
    if ($actions.Count -eq 1 -and $def.Actions.Count -eq 1) { $execute = [string]$actions[0].Path; $arguments = [string]$actions[0].Arguments }
    $interval = $null
    $triggers = @($def.Triggers)
    if ($triggers.Count -eq 1 -and $triggers[0].Type -eq 1 -and [string]::IsNullOrEmpty([string]$triggers[0].Repetition.Duration)) {
        $interval = ConvertFrom-TaskInterval ([string]$triggers[0].Repetition.Interval)
    }
    $system = ([int]$def.Principal.LogonType -eq 5 -and (Test-SystemAccount ([string]$def.Principal.UserId)))
    $description = [string]$def.RegistrationInfo.Description
    return [ordered]@{
        exists = $true; path = (Get-RegisteredTaskPath $Service $Path); enabled = [bool]$Task.Enabled; execute = $execute; arguments = $arguments
        interval_min = $interval; description = $(if ($description -eq '') { $null } else { $description }); runs_as_system = $system
    }
}

function Invoke-OpTaskGet {
    param($OpArgs)
    $path = Get-TaskPathArg $OpArgs
    $svc = Connect-TaskService
    return (Get-TaskView $svc (Find-ScheduledTask $svc $path) $path)
}

function Invoke-OpTaskSet {
    param($OpArgs)
    $path = Get-TaskPathArg $OpArgs
    $execute = Get-StringArg $OpArgs 'execute' -Required
    if ($execute.Length -gt 260 -or -not [regex]::IsMatch($execute, '^[A-Za-z]:\\[^"<>|*?\x00-\x1f]+$')) {
        Stop-Op 'bad_args' "argument 'execute' must be the absolute path of a program (such as C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe, at most 260 characters, without `" < > | * ? or control characters)"
    }
    $arguments = Get-StringArg $OpArgs 'arguments' -AllowEmpty -Default ''
    $interval = Get-IntArg $OpArgs 'interval_min' -Default 5 -Min 1 -Max 1440
    $description = Get-StringArg $OpArgs 'description' -AllowEmpty -Default ''
    foreach ($text in @($arguments, $description)) {
        foreach ($c in $text.ToCharArray()) { if ([int]$c -lt 32) { Stop-Op 'bad_args' "arguments 'arguments' and 'description' must not hold control characters" } }
    }
    $svc = Connect-TaskService
    $task = Find-ScheduledTask $svc $path
    $now = Get-TaskView $svc $task $path
    if ($now.exists -and $now.enabled -and $now.runs_as_system -and $now.execute -ceq $execute -and $now.arguments -ceq $arguments -and
        $now.interval_min -eq $interval -and [string]$now.description -ceq $description) {
        return [ordered]@{ changed = $false; created = $false }
    }
    $where = Split-TaskPath $path
    $folder = $svc.GetFolder('\')
    foreach ($part in $where.folder.Substring(1).Split('\')) {
        try { $folder = $folder.GetFolder($part) } catch {
            if (-not (Test-TaskMissing $_.Exception)) { throw }
            try { $folder = $folder.CreateFolder($part, $null) } catch {
                if (-not (Test-TaskHResult $_.Exception @(-2147024713))) { throw }  # 0x800700B7: made meanwhile
                $folder = $folder.GetFolder($part)
            }
        }
    }
    $def = $svc.NewTask(0)
    $def.RegistrationInfo.Description = $description
    $def.Principal.UserId = 'S-1-5-18'
    $def.Principal.LogonType = 5
    $def.Principal.RunLevel = 1
    $def.Settings.Enabled = $true
    $def.Settings.MultipleInstances = 2
    $def.Settings.ExecutionTimeLimit = 'PT10M'
    $def.Settings.StartWhenAvailable = $true
    $def.Settings.DisallowStartIfOnBatteries = $false
    $def.Settings.StopIfGoingOnBatteries = $false
    $trigger = $def.Triggers.Create(1)
    $trigger.StartBoundary = [DateTime]::Now.ToString('yyyy-MM-ddTHH:mm:ss', [System.Globalization.CultureInfo]::InvariantCulture)
    $trigger.Repetition.Interval = 'PT' + $interval + 'M'
    $trigger.Enabled = $true
    $action = $def.Actions.Create(0)
    $action.Path = $execute
    $action.Arguments = $arguments
    [void]$folder.RegisterTaskDefinition($where.name, $def, 6, 'SYSTEM', $null, 5)
    return [ordered]@{ changed = $true; created = (-not $now.exists) }
}

function Invoke-OpTaskRemove {
    param($OpArgs)
    $path = Get-TaskPathArg $OpArgs
    $svc = Connect-TaskService
    if ($null -eq (Find-ScheduledTask $svc $path)) { return [ordered]@{ changed = $false } }
    $where = Split-TaskPath $path
    try { $svc.GetFolder($where.folder).DeleteTask($where.name, 0) } catch {
        if (Test-TaskMissing $_.Exception) { return [ordered]@{ changed = $false } }  # removed meanwhile
        throw
    }
    return [ordered]@{ changed = $true }
}
