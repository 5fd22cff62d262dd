# gowin.server agent, op family 'host': facts about the host and the connection account.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/host.py and its contract vectors tests/contract/vectors/host.yml.
# requires: env, fs

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'host.facts' = @{ accepted = @('path'); run = { param($a) Invoke-OpHostFacts $a } }
}

function Invoke-OpHostFacts {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path'
    $os = $null
    try {
        $os = Get-CimInstance -ClassName Win32_OperatingSystem -Verbose:$false
    } catch {
        try { $os = Get-WmiObject -Class Win32_OperatingSystem } catch { $os = $null }
    }
    $cv = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    $buildText = [string](Get-RegistryData 'LocalMachine' $cv 'CurrentBuild')
    $build = 0
    if (-not [int]::TryParse($buildText, [ref]$build)) {
        if ($null -eq $os -or -not [int]::TryParse([string]$os.BuildNumber, [ref]$build)) { $build = [System.Environment]::OSVersion.Version.Build }
    }
    $caption = $null
    if ($null -ne $os) { $caption = ([string]$os.Caption).Trim() }
    if ([string]::IsNullOrEmpty($caption)) { $caption = 'Microsoft ' + [string](Get-RegistryData 'LocalMachine' $cv 'ProductName') }
    $version = $null
    if ($null -ne $os) { $version = [string]$os.Version }
    if ([string]::IsNullOrEmpty($version)) { $version = '10.0.' + $build }

    $arch = Get-HostArch

    $release = Get-RegistryData 'LocalMachine' 'SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' 'Release'
    if ($null -eq $release) { $release = 0 }

    $systemDrive = $env:SystemDrive
    if ([string]::IsNullOrEmpty($systemDrive)) { $systemDrive = [System.IO.Path]::GetPathRoot([System.Environment]::SystemDirectory).TrimEnd('\') }
    $systemDrive = $systemDrive.ToUpperInvariant()
    $drive = $systemDrive
    if ($null -ne $path) {
        if ($path.StartsWith('\\')) { $drive = $null } else { $drive = $path.Substring(0, 2).ToUpperInvariant() }
    }
    $free = $null
    if ($null -ne $drive) {
        try {
            $di = New-Object System.IO.DriveInfo($drive.Substring(0, 1))
            if ($di.IsReady) { $free = [long]$di.AvailableFreeSpace }
        } catch { $free = $null }
    }

    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal($identity)
    $adminSid = New-Object System.Security.Principal.SecurityIdentifier('S-1-5-32-544')
    $isAdmin = $principal.IsInRole($adminSid)

    $pending = $false
    if (Test-RegistryKey 'LocalMachine' 'SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') { $pending = $true }
    if (Test-RegistryKey 'LocalMachine' 'SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') { $pending = $true }
    $renames = Get-RegistryData 'LocalMachine' 'SYSTEM\CurrentControlSet\Control\Session Manager' 'PendingFileRenameOperations'
    if ($null -ne $renames) {
        foreach ($r in @($renames)) { if (-not [string]::IsNullOrEmpty([string]$r)) { $pending = $true } }
    }

    # LastBootUpTime of the instance read above (none read: no boot time), in UTC to the second (core.ps1).
    $bootTime = $null
    if ($null -ne $os) { $bootTime = Get-BootTime $os }

    $computer = $env:COMPUTERNAME
    if ([string]::IsNullOrEmpty($computer)) { $computer = [System.Environment]::MachineName }

    # The connection account's folders, as Windows gives them (no trailing '\' but on a drive root).
    $userProfile = ConvertTo-FolderText ([System.Environment]::GetFolderPath('UserProfile'))
    $appData = ConvertTo-FolderText ([System.Environment]::GetFolderPath('ApplicationData'))
    $localAppData = ConvertTo-FolderText ([System.Environment]::GetFolderPath('LocalApplicationData'))

    return [ordered]@{
        computer_name = $computer
        os_caption = $caption
        os_build = [int]$build
        os_version = $version
        edition = [string](Get-RegistryData 'LocalMachine' $cv 'EditionID')
        installation_type = [string](Get-RegistryData 'LocalMachine' $cv 'InstallationType')
        arch = $arch
        ps_version = $PSVersionTable.PSVersion.ToString()
        ps_language_mode = $ExecutionContext.SessionState.LanguageMode.ToString()
        dotnet_release = [long]$release
        long_paths_enabled = [bool](Test-LongPathsEnabled)
        system_drive = $systemDrive
        drive = $drive
        free_bytes = $free
        user_sid = $identity.User.Value
        user_name = $identity.Name
        is_admin = [bool]$isAdmin
        pending_reboot = [bool]$pending
        boot_time = $bootTime
        user_profile = $userProfile
        appdata = $appData
        local_appdata = $localAppData
        temp = (ConvertTo-FolderText $env:TEMP)
        program_data = (ConvertTo-FolderText ([System.Environment]::GetFolderPath('CommonApplicationData')))
        go_user_config = (Get-GoUserConfig $appData)
    }
}

function Get-SmallTextFile {
    # {path, exists, content} of a small text file: content is its first 64 KiB as UTF-8 (invalid
    # bytes become U+FFFD), or null. $Path is reported as given.
    param($Path)
    $missing = [ordered]@{ path = $Path; exists = $false; content = $null }
    if ($null -eq $Path) { return $missing }
    $full = $null
    try { $full = ConvertTo-AgentPath $Path 'path' -AllowUnc } catch { return $missing }
    if (-not [System.IO.File]::Exists($full)) { return $missing }
    $content = $null
    try {
        $bytes = Read-FileHead $full 65536
        $content = (New-Object System.Text.UTF8Encoding($false, $false)).GetString($bytes)
    } catch { $content = $null }
    return [ordered]@{ path = $Path; exists = $true; content = $content }
}

function Get-GoUserConfig {
    # The go command's per-user files: the file `go env -w` writes (GOENV of a new process, else
    # <appdata>\go\env; none when GOENV is off) and the mode `go telemetry` keeps.
    param([string]$AppData)
    $newEnv = Get-NewProcessEnvironment
    $goenv = $null
    if ($newEnv.ContainsKey('GOENV')) { $goenv = [string]$newEnv['GOENV'] }
    $envPath = $null
    if ($goenv -cne 'off') {
        if (-not [string]::IsNullOrEmpty($goenv)) { $envPath = $goenv }
        elseif ($AppData.Length -gt 0) { $envPath = $AppData + '\go\env' }
    }
    $modePath = $null
    if ($AppData.Length -gt 0) { $modePath = $AppData + '\go\telemetry\mode' }
    return [ordered]@{ env_file = (Get-SmallTextFile $envPath); telemetry_mode = (Get-SmallTextFile $modePath) }
}
