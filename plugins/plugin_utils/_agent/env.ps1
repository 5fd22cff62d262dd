# gowin.server agent, op family 'env': the environment a new process gets, and the WM_SETTINGCHANGE broadcast.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/env.py and its contract vectors tests/contract/vectors/env.yml.
# requires: (none)

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'env.notify' = @{ accepted = @(); run = { param($a) Invoke-OpEnvNotify $a } }
}

# ---- the environment of a new process -------------------------------------------------------

$script:MachineEnvKey = 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
$script:ProfileListKey = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList'

function ConvertTo-FolderText {
    # A folder path without a trailing '\', except a drive root (C:\); '' when there is none.
    param($Path)
    if ([string]::IsNullOrEmpty($Path)) { return '' }
    $text = [string]$Path
    $bare = $text.TrimEnd('\')
    if ($bare.Length -gt 2) { return $bare }
    return $text
}

function Expand-EnvText {
    # %NAME% replaced from $EnvMap (as ExpandEnvironmentStrings does, but against the environment
    # being built, never the agent's own); an unknown name stays as written.
    param($EnvMap, [string]$Text)
    if ($Text.IndexOf('%') -lt 0) { return $Text }
    $sb = New-Object System.Text.StringBuilder
    $last = 0
    foreach ($m in [System.Text.RegularExpressions.Regex]::Matches($Text, '%([^%]+)%')) {
        [void]$sb.Append($Text.Substring($last, $m.Index - $last))
        $name = $m.Groups[1].Value
        if ($EnvMap.ContainsKey($name)) { [void]$sb.Append($EnvMap[$name]) } else { [void]$sb.Append($m.Value) }
        $last = $m.Index + $m.Length
    }
    [void]$sb.Append($Text.Substring($last))
    return $sb.ToString()
}

function Add-EnvFromRegistry {
    # One Environment key into $EnvMap: its REG_SZ values as they are, then its REG_EXPAND_SZ values
    # expanded against what is set so far. With -UserKey, Path is the machine Path + ';' + this one.
    param($EnvMap, [string]$Hive, [string]$SubKey, [switch]$UserKey)
    $machinePath = ''
    if ($UserKey -and $EnvMap.ContainsKey('Path')) { $machinePath = [string]$EnvMap['Path'] }
    $base = Open-BaseKey $Hive
    try {
        $key = $base.OpenSubKey($SubKey, $false)
        if ($null -eq $key) { return }
        try {
            $names = @($key.GetValueNames())
            foreach ($pass in @('String', 'ExpandString')) {
                foreach ($name in $names) {
                    # A name Windows cannot put in an environment block is skipped.
                    if ([string]::IsNullOrEmpty($name) -or $name.Contains('=')) { continue }
                    $kind = $null
                    try { $kind = $key.GetValueKind($name).ToString() } catch { $kind = $null }
                    if ($kind -ne $pass) { continue }
                    $raw = $key.GetValue($name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
                    if (-not ($raw -is [string])) { continue }
                    $data = $raw
                    if ($pass -eq 'ExpandString') { $data = Expand-EnvText $EnvMap $raw }
                    if ($UserKey -and $name -eq 'Path' -and $machinePath.Length -gt 0) {
                        if ($machinePath.EndsWith(';')) { $data = $machinePath + $data } else { $data = $machinePath + ';' + $data }
                    }
                    $EnvMap[$name] = $data
                }
            }
        } finally { $key.Close() }
    } finally { $base.Close() }
}

function Get-AccountProfile {
    # The connection account's profile folder, as Windows gives it.
    param($EnvMap)
    $userProfile = ConvertTo-FolderText ([System.Environment]::GetFolderPath('UserProfile'))
    if ($userProfile.Length -eq 0) {
        $raw = Get-RegistryData 'LocalMachine' ($script:ProfileListKey + '\' + (Get-AccountSid)) 'ProfileImagePath'
        if ($raw -is [string] -and $raw.Length -gt 0) { $userProfile = ConvertTo-FolderText (Expand-EnvText $EnvMap $raw) }
    }
    if ($userProfile.Length -eq 0) { $userProfile = ConvertTo-FolderText $env:USERPROFILE }
    return $userProfile
}

function Get-NewProcessEnvironment {
    # The environment a new process of the connection account gets, built from the registry now, the
    # way Windows builds it at logon (docs/agent-protocol.md, Conventions). NOT the agent's own
    # environment: Windows fixed that when the WinRM shell started, and registry changes made since
    # do not reach it. Names are case-insensitive and keep the case they were first set with.
    $map = New-Object 'System.Collections.Generic.Dictionary[string,string]' ([System.StringComparer]::OrdinalIgnoreCase)

    # System folders and names.
    $systemRoot = ConvertTo-FolderText (Get-RegistryData 'LocalMachine' 'SOFTWARE\Microsoft\Windows NT\CurrentVersion' 'SystemRoot')
    if ($systemRoot.Length -eq 0) { $systemRoot = ConvertTo-FolderText $env:SystemRoot }
    if ($systemRoot.Length -eq 0) { $systemRoot = ConvertTo-FolderText ([System.Environment]::GetFolderPath('Windows')) }
    $systemDrive = [string]$env:SystemDrive
    if ($systemRoot -match '^[A-Za-z]:') { $systemDrive = $systemRoot.Substring(0, 2) }
    $map['SystemRoot'] = $systemRoot
    $map['SystemDrive'] = $systemDrive
    $programData = ConvertTo-FolderText ([System.Environment]::GetFolderPath('CommonApplicationData'))
    if ($programData.Length -eq 0) { $programData = ConvertTo-FolderText $env:ProgramData }
    $map['ALLUSERSPROFILE'] = $programData
    $map['ProgramData'] = $programData
    $cvKey = 'SOFTWARE\Microsoft\Windows\CurrentVersion'
    $programFiles = ConvertTo-FolderText (Get-RegistryData 'LocalMachine' $cvKey 'ProgramFilesDir')
    if ($programFiles.Length -eq 0) { $programFiles = ConvertTo-FolderText $env:ProgramFiles }
    $map['ProgramFiles'] = $programFiles
    $programFilesX86 = ConvertTo-FolderText (Get-RegistryData 'LocalMachine' $cvKey 'ProgramFilesDir (x86)')
    # Only 64-bit Windows has it.
    if ($programFilesX86.Length -gt 0) { $map['ProgramFiles(x86)'] = $programFilesX86 }
    $public = ''
    $rawPublic = Get-RegistryData 'LocalMachine' $script:ProfileListKey 'Public'
    if ($rawPublic -is [string] -and $rawPublic.Length -gt 0) { $public = ConvertTo-FolderText (Expand-EnvText $map $rawPublic) }
    if ($public.Length -eq 0) { $public = ConvertTo-FolderText $env:PUBLIC }
    if ($public.Length -eq 0) { $public = $systemDrive + '\Users\Public' }
    $map['PUBLIC'] = $public
    $computer = [string]$env:COMPUTERNAME
    if ($computer.Length -eq 0) { $computer = [System.Environment]::MachineName }
    $map['COMPUTERNAME'] = $computer

    # The machine's values.
    Add-EnvFromRegistry $map 'LocalMachine' $script:MachineEnvKey

    # The account (over the machine's USERNAME, which is SYSTEM).
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $sid = $identity.User.Value
    $userName = [string]$identity.Name
    $userDomain = $computer
    $at = $userName.IndexOf('\')
    if ($at -ge 0) {
        $userDomain = $userName.Substring(0, $at)
        $userName = $userName.Substring($at + 1)
    }
    $userProfile = Get-AccountProfile $map
    $map['USERNAME'] = $userName
    $map['USERDOMAIN'] = $userDomain
    $map['USERPROFILE'] = $userProfile
    if ($userProfile -match '^[A-Za-z]:') {
        $map['HOMEDRIVE'] = $userProfile.Substring(0, 2)
        $homePath = $userProfile.Substring(2)
        if ($homePath.Length -eq 0) { $homePath = '\' }
        $map['HOMEPATH'] = $homePath
    }
    $appData = ConvertTo-FolderText ([System.Environment]::GetFolderPath('ApplicationData'))
    if ($appData.Length -eq 0) { $appData = $userProfile + '\AppData\Roaming' }
    $localAppData = ConvertTo-FolderText ([System.Environment]::GetFolderPath('LocalApplicationData'))
    if ($localAppData.Length -eq 0) { $localAppData = $userProfile + '\AppData\Local' }
    $map['APPDATA'] = $appData
    $map['LOCALAPPDATA'] = $localAppData

    # The account's values (HKCU\Environment = HKU\<sid>\Environment): they override the machine's,
    # except Path, which is the machine Path + ';' + the account's.
    Add-EnvFromRegistry $map 'Users' ($sid + '\Environment') -UserKey
    return ,$map
}


# ---- env.notify -----------------------------------------------------------------------------

function Invoke-OpEnvNotify {
    # WM_SETTINGCHANGE "Environment" without P/Invoke: .NET writes the user's environment value (here
    # deletes one that never exists) and then always broadcasts the message (SendMessageTimeout to
    # HWND_BROADCAST, 1 second). Nothing sets GOWIN_NOTIFY_UNUSED, so nothing else changes.
    param($OpArgs)
    # [NullString]::Value, not $null: PowerShell turns $null into '' for a [string] parameter of a
    # .NET method. .NET Framework happens to treat '' as "delete" too, but a real null says what is
    # meant and does not depend on that.
    [System.Environment]::SetEnvironmentVariable('GOWIN_NOTIFY_UNUSED', [NullString]::Value, [System.EnvironmentVariableTarget]::User)
    return [ordered]@{ sent = $true }
}
