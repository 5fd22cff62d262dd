# gowin.server agent - runs under Windows PowerShell 5.1 (.NET Framework 4.6.2+).
# Invoked by the BOOTSTRAP in plugins/plugin_utils/_channel.py as
#   & ([ScriptBlock]::Create($agent)) -RequestJson $request -AgentHash $hash
# The protocol (every op, its args, its result shape, its error kinds) is docs/agent-protocol.md.
# Rules kept here: request data never becomes code (no Invoke-Expression, no ScriptBlock creation,
# no Add-Type, no command strings); file cmdlets only ever get -LiteralPath; output is exactly one
# line of pure-ASCII JSON, written to the pipeline (never [Console]::Out, Write-Host or Out-Host).
param([string]$RequestJson, [string]$AgentHash)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---------------------------------------------------------------------------------------------
# Errors

function New-OpError {
    param([string]$Kind, [string]$Message)
    $e = New-Object System.Exception($Message)
    $e.Data['gowin_kind'] = $Kind
    return $e
}

function Stop-Op {
    param([string]$Kind, [string]$Message)
    throw (New-OpError $Kind $Message)
}

function Get-HResult {
    # HResult of the underlying .NET exception (PowerShell wraps method exceptions).
    param($Exception)
    $ex = $Exception
    while ($ex -is [System.Management.Automation.RuntimeException] -and $null -ne $ex.InnerException) { $ex = $ex.InnerException }
    try { return [int]$ex.HResult } catch { return 0 }
}

function Convert-ExceptionToError {
    # Map an exception to {kind, message}. Messages are exception texts, never argument values
    # flagged secret (the password is never placed in any message).
    param($Exception)
    $ex = $Exception
    # An op failure we raised ourselves may arrive wrapped (MethodInvocationException, ...).
    $probe = $ex
    while ($null -ne $probe) {
        if ($probe.Data.Contains('gowin_kind')) {
            return @{ kind = [string]$probe.Data['gowin_kind']; message = [string]$probe.Message }
        }
        $probe = $probe.InnerException
    }
    while (($ex -is [System.Management.Automation.RuntimeException] -or $ex -is [System.Reflection.TargetInvocationException] -or
            $ex -is [System.AggregateException]) -and $null -ne $ex.InnerException) {
        $ex = $ex.InnerException
    }
    $kind = 'internal'
    if ($ex -is [System.UnauthorizedAccessException] -or $ex -is [System.Security.SecurityException]) {
        $kind = 'access_denied'
    } elseif ($ex -is [System.IO.PathTooLongException]) {
        $kind = 'path_too_long'
    } elseif ($ex -is [System.IO.IOException]) {
        $hr = Get-HResult $ex
        $low = $hr -band 0xFFFF
        if ($low -eq 0x20 -or $low -eq 0x21) { $kind = 'in_use' }
        elseif ($low -eq 0x70 -or $low -eq 0x27) { $kind = 'disk_full' }
        elseif ($low -eq 0x05) { $kind = 'access_denied' }
        elseif ($low -eq 0xCE) { $kind = 'path_too_long' }
    }
    $msg = [string]$ex.Message
    if ([string]::IsNullOrEmpty($msg)) { $msg = $ex.GetType().FullName }
    return @{ kind = $kind; message = $msg }
}

# ---------------------------------------------------------------------------------------------
# JSON out: a small recursive serializer that writes pure ASCII.

function Add-JsonString {
    param([System.Text.StringBuilder]$Sb, [string]$Text)
    [void]$Sb.Append('"')
    if ($Text -notmatch '[^\x20-\x21\x23-\x5B\x5D-\x7E]') {
        # Nothing to escape (the common case): no per-character loop.
        [void]$Sb.Append($Text).Append('"')
        return
    }
    foreach ($ch in $Text.ToCharArray()) {
        $code = [int]$ch
        if ($code -eq 0x22) { [void]$Sb.Append('\"') }
        elseif ($code -eq 0x5C) { [void]$Sb.Append('\\') }
        elseif ($code -lt 0x20 -or $code -gt 0x7E) { [void]$Sb.Append('\u').Append($code.ToString('x4')) }
        else { [void]$Sb.Append($ch) }
    }
    [void]$Sb.Append('"')
}

function Add-JsonValue {
    param([System.Text.StringBuilder]$Sb, $Value)
    if ($null -eq $Value) { [void]$Sb.Append('null'); return }
    if ($Value -is [string] -or $Value -is [char]) { Add-JsonString $Sb ([string]$Value); return }
    if ($Value -is [bool]) {
        if ($Value) { [void]$Sb.Append('true') } else { [void]$Sb.Append('false') }
        return
    }
    if ($Value -is [int] -or $Value -is [long] -or $Value -is [int16] -or $Value -is [byte] -or
        $Value -is [sbyte] -or $Value -is [uint16] -or $Value -is [uint32] -or $Value -is [uint64] -or
        $Value -is [decimal]) {
        [void]$Sb.Append($Value.ToString([System.Globalization.CultureInfo]::InvariantCulture))
        return
    }
    if ($Value -is [double] -or $Value -is [single]) {
        $d = [double]$Value
        if ([double]::IsNaN($d) -or [double]::IsInfinity($d)) { [void]$Sb.Append('null'); return }
        if ($d -eq [math]::Floor($d) -and [math]::Abs($d) -lt 9.0e15) {
            [void]$Sb.Append(([long]$d).ToString([System.Globalization.CultureInfo]::InvariantCulture))
        } else {
            [void]$Sb.Append($d.ToString('R', [System.Globalization.CultureInfo]::InvariantCulture))
        }
        return
    }
    if ($Value -is [System.Collections.IDictionary]) {
        [void]$Sb.Append('{')
        $first = $true
        # PSBase: on a dictionary, .Keys returns the ENTRY named 'keys' when there is one (a registry
        # node {values, keys}, a registry value or identity named Keys), not the key collection.
        foreach ($key in @($Value.PSBase.Keys)) {
            if (-not $first) { [void]$Sb.Append(',') }
            $first = $false
            Add-JsonString $Sb ([string]$key)
            [void]$Sb.Append(':')
            Add-JsonValue $Sb $Value[$key]
        }
        [void]$Sb.Append('}')
        return
    }
    if ($Value -is [System.Collections.IEnumerable]) {
        [void]$Sb.Append('[')
        $first = $true
        foreach ($item in $Value) {
            if (-not $first) { [void]$Sb.Append(',') }
            $first = $false
            Add-JsonValue $Sb $item
        }
        [void]$Sb.Append(']')
        return
    }
    Add-JsonString $Sb ([string]$Value)
}

function ConvertTo-AgentJson {
    param($Value)
    $sb = New-Object System.Text.StringBuilder
    Add-JsonValue $sb $Value
    return $sb.ToString()
}

# ---------------------------------------------------------------------------------------------
# Argument accessors (JavaScriptSerializer gives Dictionary[string,object] and object[]).

function Test-Arg {
    param($OpArgs, [string]$Name)
    return ($null -ne $OpArgs -and $OpArgs.ContainsKey($Name) -and $null -ne $OpArgs[$Name])
}

function Get-StringArg {
    param($OpArgs, [string]$Name, [switch]$Required, [switch]$AllowEmpty, $Default = $null)
    if (-not (Test-Arg $OpArgs $Name)) {
        if ($Required) { Stop-Op 'bad_args' ("argument '" + $Name + "' is required") }
        return $Default
    }
    $v = $OpArgs[$Name]
    if (-not ($v -is [string])) { Stop-Op 'bad_args' ("argument '" + $Name + "' must be a string") }
    if (-not $AllowEmpty -and $v.Length -eq 0) { Stop-Op 'bad_args' ("argument '" + $Name + "' must not be empty") }
    return $v
}

function Get-BoolArg {
    param($OpArgs, [string]$Name, [bool]$Default)
    if (-not (Test-Arg $OpArgs $Name)) { return $Default }
    $v = $OpArgs[$Name]
    if (-not ($v -is [bool])) { Stop-Op 'bad_args' ("argument '" + $Name + "' must be true or false") }
    return [bool]$v
}

function Get-IntArg {
    param($OpArgs, [string]$Name, [switch]$Required, $Default = $null, [long]$Min = 0, [long]$Max = [long]::MaxValue)
    if (-not (Test-Arg $OpArgs $Name)) {
        if ($Required) { Stop-Op 'bad_args' ("argument '" + $Name + "' is required") }
        return $Default
    }
    $v = $OpArgs[$Name]
    if ($v -is [bool] -or -not ($v -is [int] -or $v -is [long] -or $v -is [decimal])) {
        Stop-Op 'bad_args' ("argument '" + $Name + "' must be an integer")
    }
    if ($v -is [decimal] -and ([math]::Floor($v) -ne $v -or $v -gt [decimal][long]::MaxValue -or $v -lt [decimal][long]::MinValue)) {
        Stop-Op 'bad_args' ("argument '" + $Name + "' must be an integer from " + $Min + ' to ' + $Max)
    }
    $n = [long]$v
    if ($n -lt $Min -or $n -gt $Max) {
        Stop-Op 'bad_args' ("argument '" + $Name + "' must be an integer from " + $Min + ' to ' + $Max)
    }
    return $n
}

function Get-MapArg {
    param($OpArgs, [string]$Name, [switch]$Required)
    if (-not (Test-Arg $OpArgs $Name)) {
        if ($Required) { Stop-Op 'bad_args' ("argument '" + $Name + "' is required") }
        return $null
    }
    $v = $OpArgs[$Name]
    if (-not ($v -is [System.Collections.IDictionary])) { Stop-Op 'bad_args' ("argument '" + $Name + "' must be a mapping") }
    return $v
}

function Get-ListArg {
    # A list; with -Strings, a list of strings.
    param($OpArgs, [string]$Name, [switch]$Required, [switch]$Strings)
    $shape = 'a list'
    if ($Strings) { $shape = 'a list of strings' }
    if (-not (Test-Arg $OpArgs $Name)) {
        if ($Required) { Stop-Op 'bad_args' ("argument '" + $Name + "' is required (" + $shape + ')') }
        return ,@()
    }
    $v = $OpArgs[$Name]
    if ($v -is [string] -or $v -is [System.Collections.IDictionary] -or -not ($v -is [System.Collections.IList])) {
        Stop-Op 'bad_args' ("argument '" + $Name + "' must be " + $shape)
    }
    if ($Strings) {
        foreach ($x in $v) { if (-not ($x -is [string])) { Stop-Op 'bad_args' ("argument '" + $Name + "' must be " + $shape) } }
    }
    return ,@($v)
}

# ---------------------------------------------------------------------------------------------
# OPS_BEGIN (op implementations follow)

# ---- paths ----------------------------------------------------------------------------------

$script:InvalidNameChars = '<>:"|?*'
$script:ReservedNames = @('CON', 'PRN', 'AUX', 'NUL', 'COM1', 'COM2', 'COM3', 'COM4', 'COM5', 'COM6', 'COM7',
    'COM8', 'COM9', 'LPT1', 'LPT2', 'LPT3', 'LPT4', 'LPT5', 'LPT6', 'LPT7', 'LPT8', 'LPT9')
$script:FileSystemKey = 'SYSTEM\CurrentControlSet\Control\FileSystem'

function Test-LongPathsEnabled {
    # Read each time: a batch may set the value before a later op uses a long path.
    $v = Get-RegistryData 'LocalMachine' $script:FileSystemKey 'LongPathsEnabled'
    return ($null -ne $v -and ($v -is [int] -or $v -is [long]) -and [long]$v -eq 1)
}

function Test-PathComponent {
    # One path component: Windows drops trailing dots and spaces; some characters and names are not allowed.
    param([string]$Name, [string]$What, [string]$Kind = 'bad_args')
    $trimmed = $Name.TrimEnd(' ', '.')
    if ($trimmed.Length -eq 0) { Stop-Op $Kind ($What + ": '" + $Name + "' is not a valid file or folder name") }
    $bad = New-Object System.Collections.Generic.List[string]
    # The per-character loop only for a name that has a bad character: zip.extract checks every
    # component of every entry (twice), and a PowerShell loop over each character is slow.
    if ($trimmed -match '[<>:"|?*\x00-\x1F]') {
        foreach ($ch in $trimmed.ToCharArray()) {
            if ([int]$ch -lt 32 -or $script:InvalidNameChars.IndexOf($ch) -ge 0) {
                $shown = "'" + $ch + "'"
                if ([int]$ch -lt 32) { $shown = "'\x" + ([int]$ch).ToString('x2') + "'" }
                if (-not $bad.Contains($shown)) { $bad.Add($shown) }
            }
        }
    }
    if ($bad.Count -gt 0) {
        Stop-Op $Kind ($What + ": '" + $Name + "' contains characters Windows does not allow in a name (" + ($bad -join ', ') + ')')
    }
    $stem = $trimmed.Split('.')[0].TrimEnd(' ').ToUpperInvariant()
    if ($script:ReservedNames -contains $stem) {
        Stop-Op $Kind ($What + ": '" + $Name + "' is a reserved device name (CON, PRN, AUX, NUL, COM1-COM9, " +
            'LPT1-LPT9, with or without an extension) and cannot be used as a file or folder name')
    }
    return $trimmed
}

function ConvertTo-AgentPath {
    # An absolute Windows path ('/' accepted as '\', '.' and '..' folded like GetFullPath), checked
    # against MAX_PATH unless LongPathsEnabled is 1. Drive paths and UNC paths (\\server\share\...).
    param($Value, [string]$ArgName, [switch]$AllowUnc)
    $what = "argument '" + $ArgName + "'"
    $example = ' must be an absolute Windows path such as C:\opt\go'
    if (-not ($Value -is [string]) -or $Value.Length -eq 0) { Stop-Op 'bad_args' ($what + $example) }
    $text = $Value.Replace('/', '\')
    $prefix = $null
    $rest = $null
    if ($text.StartsWith('\\')) {
        if (-not $AllowUnc) { Stop-Op 'bad_args' ($what + $example + ' (a drive path, not a UNC path); got ''' + $Value + "'") }
        $parts = $text.Substring(2).Split('\')
        if ($parts.Count -lt 2 -or $parts[0].Length -eq 0 -or $parts[1].Length -eq 0 -or $parts[0] -eq '?' -or $parts[0] -eq '.') {
            Stop-Op 'bad_args' ($what + $example + " or \\server\share\file; got '" + $Value + "'")
        }
        $prefix = '\\' + $parts[0] + '\' + $parts[1]
        $rest = ($parts | Select-Object -Skip 2) -join '\'
    } else {
        if ($text -notmatch '^[A-Za-z]:(\\.*)?$') {
            Stop-Op 'bad_args' ($what + $example + " (drive letter, colon, backslash); got '" + $Value + "'")
        }
        $prefix = $text.Substring(0, 2).ToUpperInvariant()
        $rest = ''
        if ($text.Length -gt 3) { $rest = $text.Substring(3) }
    }
    $out = New-Object System.Collections.Generic.List[string]
    foreach ($comp in $rest.Split('\')) {
        if ($comp -eq '' -or $comp -eq '.') { continue }
        if ($comp -eq '..') {
            if ($out.Count -gt 0) { $out.RemoveAt($out.Count - 1) }
            continue
        }
        $out.Add((Test-PathComponent $comp $what))
    }
    $full = $prefix + '\' + ($out -join '\')
    if ($full.Length -ge 260 -and -not (Test-LongPathsEnabled)) {
        Stop-Op 'path_too_long' ($what + ': the path is ' + $full.Length + ' characters long (' + $full.Substring(0, 48) +
            '...); Windows allows at most 259 unless LongPathsEnabled is 1 under HKLM\' + $script:FileSystemKey)
    }
    return $full
}

function Get-PathArg {
    param($OpArgs, [string]$Name, [switch]$Required, [switch]$AllowUnc)
    if (-not (Test-Arg $OpArgs $Name)) {
        if ($Required) { Stop-Op 'bad_args' ("argument '" + $Name + "' is required (an absolute Windows path such as C:\opt\go)") }
        return $null
    }
    return (ConvertTo-AgentPath $OpArgs[$Name] $Name -AllowUnc:$AllowUnc)
}

function Get-ParentPath {
    param([string]$Path)
    $at = $Path.TrimEnd('\').LastIndexOf('\')
    if ($at -lt 0) { return $null }
    $parent = $Path.Substring(0, $at)
    if ($parent -match '^[A-Za-z]:$') { return $parent + '\' }
    if ($parent.StartsWith('\\') -and $parent.Substring(2).IndexOf('\') -lt 0) { return $null }
    return $parent
}

function Get-LeafName {
    param([string]$Path)
    $t = $Path.TrimEnd('\')
    return $t.Substring($t.LastIndexOf('\') + 1)
}

function Test-IsReparsePoint {
    param([System.IO.FileSystemInfo]$Info)
    return (($Info.Attributes -band [System.IO.FileAttributes]::ReparsePoint) -ne 0)
}

function Get-PathInfo {
    # What is at $Path, not following a final junction: $null when nothing is there.
    param([string]$Path)
    $dir = New-Object System.IO.DirectoryInfo($Path)
    if ($dir.Exists) { return $dir }
    $file = New-Object System.IO.FileInfo($Path)
    if ($file.Exists) { return $file }
    # A junction whose target is gone: DirectoryInfo.Exists is still true for the link itself on
    # Windows, but be defensive and look at the attributes.
    try {
        $attr = [System.IO.File]::GetAttributes($Path)
        if (($attr -band [System.IO.FileAttributes]::Directory) -ne 0) { return $dir }
        return $file
    } catch [System.IO.IOException] {
        # Not found, a path through a file (ERROR_DIRECTORY), a name Windows refuses: nothing there.
        return $null
    } catch [System.ArgumentException] {
        return $null
    } catch [System.NotSupportedException] {
        return $null
    }
}

function Get-JunctionTarget {
    param([string]$Path)
    $item = Get-Item -LiteralPath $Path -Force
    $target = $null
    if ($null -ne $item.PSObject.Properties['Target']) { $target = $item.Target }
    if ($target -is [System.Collections.IEnumerable] -and -not ($target -is [string])) { $target = @($target)[0] }
    if ($null -eq $target) { return $null }
    $target = [string]$target
    if ($target.StartsWith('\??\')) { $target = $target.Substring(4) }
    return $target
}

function Get-PathType {
    param([System.IO.FileSystemInfo]$Info)
    if ($Info -is [System.IO.DirectoryInfo]) {
        if (Test-IsReparsePoint $Info) { return 'junction' }
        return 'directory'
    }
    return 'file'
}

function ConvertTo-EpochSeconds {
    param([datetime]$Time)
    $epoch = New-Object DateTime(1970, 1, 1, 0, 0, 0, [System.DateTimeKind]::Utc)
    return [long][math]::Floor(($Time.ToUniversalTime() - $epoch).TotalSeconds)
}

# ---- registry -------------------------------------------------------------------------------

$script:TwoTo32 = [long]4294967296
$script:TwoTo64 = [decimal]::Parse('18446744073709551616', [System.Globalization.CultureInfo]::InvariantCulture)
$script:MaxQword = [decimal]::Parse('18446744073709551615', [System.Globalization.CultureInfo]::InvariantCulture)
$script:RegTypes = @('REG_SZ', 'REG_EXPAND_SZ', 'REG_DWORD', 'REG_QWORD', 'REG_MULTI_SZ', 'REG_BINARY')

function Open-BaseKey {
    param([string]$Hive)
    $h = [Microsoft.Win32.RegistryHive]::LocalMachine
    if ($Hive -eq 'Users') { $h = [Microsoft.Win32.RegistryHive]::Users }
    return [Microsoft.Win32.RegistryKey]::OpenBaseKey($h, [Microsoft.Win32.RegistryView]::Registry64)
}

function Get-RegistryData {
    # One value's raw data (no expansion), or $null. For the agent's own fact gathering.
    param([string]$Hive, [string]$SubKey, [string]$Name)
    $base = Open-BaseKey $Hive
    try {
        $key = $base.OpenSubKey($SubKey, $false)
        if ($null -eq $key) { return $null }
        try {
            return $key.GetValue($Name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
        } finally { $key.Close() }
    } finally { $base.Close() }
}

function Test-RegistryKey {
    param([string]$Hive, [string]$SubKey)
    $base = Open-BaseKey $Hive
    try {
        $key = $base.OpenSubKey($SubKey, $false)
        if ($null -eq $key) { return $false }
        $key.Close()
        return $true
    } finally { $base.Close() }
}

function Get-AccountSid {
    # SID of the connection account (the identity the agent runs as).
    return [System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value
}

function ConvertTo-RegPath {
    # 'HKLM\SOFTWARE\x' -> @{ hive = 'LocalMachine'; name = 'HKLM'; sub = 'SOFTWARE\x'; parts = [...] }
    param($Value, [string]$ArgName)
    $what = "argument '" + $ArgName + "'"
    if (-not ($Value -is [string]) -or $Value.Trim('\').Length -eq 0) {
        Stop-Op 'bad_args' ($what + ' must be a registry key path such as HKLM\SOFTWARE\GoWin')
    }
    $comps = @($Value.Trim('\').Split('\'))
    $upper = $comps[0].ToUpperInvariant()
    if ($upper -eq 'HKCU' -or $upper -eq 'HKEY_CURRENT_USER') {
        # The connection account's own hive: HKU\<its SID> (the key winsim and every other op use).
        if ($comps.Count -eq 1) { Stop-Op 'bad_args' ($what + ': name a key below HKCU, such as HKCU\Environment') }
        $comps = @('HKU', (Get-AccountSid)) + @($comps | Select-Object -Skip 1)
    }
    $hive = $null
    $hname = $null
    switch ($comps[0].ToUpperInvariant()) {
        'HKLM' { $hive = 'LocalMachine'; $hname = 'HKLM' }
        'HKEY_LOCAL_MACHINE' { $hive = 'LocalMachine'; $hname = 'HKLM' }
        'HKU' { $hive = 'Users'; $hname = 'HKU' }
        'HKEY_USERS' { $hive = 'Users'; $hname = 'HKU' }
    }
    if ($null -eq $hive) {
        Stop-Op 'bad_args' ($what + ": hive '" + $comps[0] + "' is not supported; accepted hives: HKLM, HKU, HKCU")
    }
    $parts = @($comps | Select-Object -Skip 1)
    foreach ($p in $parts) {
        if ($p.Length -eq 0) { Stop-Op 'bad_args' ($what + ": '" + $Value + "' has an empty key name") }
    }
    return @{ hive = $hive; name = $hname; sub = ($parts -join '\'); parts = $parts }
}

function ConvertTo-HexString {
    param([byte[]]$Bytes)
    if ($null -eq $Bytes) { return '' }
    $sb = New-Object System.Text.StringBuilder
    foreach ($b in $Bytes) { [void]$sb.Append($b.ToString('x2')) }
    return $sb.ToString()
}

function ConvertFrom-HexString {
    param([string]$Text)
    $bytes = New-Object byte[] ($Text.Length / 2)
    for ($i = 0; $i -lt $bytes.Length; $i++) {
        $bytes[$i] = [System.Convert]::ToByte($Text.Substring($i * 2, 2), 16)
    }
    return ,$bytes
}

function Read-RegistryValue {
    # {type, data} of one value of an open key, in the protocol's JSON encoding.
    param([Microsoft.Win32.RegistryKey]$Key, [string]$Name)
    $kind = $Key.GetValueKind($Name)
    $raw = $Key.GetValue($Name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
    $type = $null
    $data = $null
    switch ($kind.ToString()) {
        'String' { $type = 'REG_SZ'; $data = [string]$raw }
        'ExpandString' { $type = 'REG_EXPAND_SZ'; $data = [string]$raw }
        'DWord' {
            $type = 'REG_DWORD'
            $n = [long]$raw
            if ($n -lt 0) { $n = $n + 4294967296 }
            $data = $n
        }
        'QWord' {
            $type = 'REG_QWORD'
            $n = [long]$raw
            if ($n -lt 0) { $data = [decimal]$n + $script:TwoTo64 } else { $data = $n }
        }
        'MultiString' {
            $type = 'REG_MULTI_SZ'
            $list = New-Object System.Collections.ArrayList
            if ($null -ne $raw) { foreach ($s in $raw) { [void]$list.Add([string]$s) } }
            $data = $list
        }
        'Binary' { $type = 'REG_BINARY'; $data = ConvertTo-HexString ([byte[]]$raw) }
        'None' {
            $type = 'REG_NONE'
            if ($raw -is [byte[]]) { $data = ConvertTo-HexString $raw } else { $data = '' }
        }
        default {
            $type = 'REG_UNKNOWN'
            if ($raw -is [byte[]]) { $data = ConvertTo-HexString $raw } else { $data = $null }
        }
    }
    return [ordered]@{ type = $type; data = $data }
}

function Get-RegistryNode {
    param([Microsoft.Win32.RegistryKey]$Key, [int]$Depth)
    $values = [ordered]@{}
    foreach ($name in $Key.GetValueNames()) { $values[$name] = Read-RegistryValue $Key $name }
    $keys = [ordered]@{}
    foreach ($name in $Key.GetSubKeyNames()) {
        if ($Depth -gt 0) {
            $sub = $Key.OpenSubKey($name, $false)
            if ($null -eq $sub) { $keys[$name] = $null; continue }
            try { $keys[$name] = Get-RegistryNode $sub ($Depth - 1) } finally { $sub.Close() }
        } else {
            $keys[$name] = $null
        }
    }
    return [ordered]@{ values = $values; keys = $keys }
}

function ConvertTo-RegData {
    # Validate the JSON data for a type; returns @{ kind = RegistryValueKind; value = .NET value; json = normalized }.
    param([string]$Type, $Data)
    $what = "argument 'data'"
    switch ($Type) {
        { $_ -eq 'REG_SZ' -or $_ -eq 'REG_EXPAND_SZ' } {
            if (-not ($Data -is [string])) { Stop-Op 'bad_args' ($what + ' must be a string for ' + $Type) }
            $kind = [Microsoft.Win32.RegistryValueKind]::String
            if ($Type -eq 'REG_EXPAND_SZ') { $kind = [Microsoft.Win32.RegistryValueKind]::ExpandString }
            return @{ kind = $kind; value = $Data; json = $Data }
        }
        { $_ -eq 'REG_DWORD' -or $_ -eq 'REG_QWORD' } {
            $high = [decimal]4294967295
            if ($Type -eq 'REG_QWORD') { $high = $script:MaxQword }
            $ok = ($Data -is [int] -or $Data -is [long] -or $Data -is [decimal]) -and -not ($Data -is [bool])
            if ($ok) { $d = [decimal]$Data; $ok = ($d -eq [decimal]::Floor($d) -and $d -ge 0 -and $d -le $high) }
            if (-not $ok) { Stop-Op 'bad_args' ($what + ' must be an integer from 0 to ' + $high + ' for ' + $Type) }
            if ($Type -eq 'REG_DWORD') {
                $n = [long]$d
                $json = $n
                if ($n -gt 2147483647) { $n = $n - 4294967296 }
                return @{ kind = [Microsoft.Win32.RegistryValueKind]::DWord; value = [int]$n; json = $json }
            }
            $json = $d
            if ($d -le [decimal][long]::MaxValue) { $json = [long]$d; $q = [long]$d }
            else { $q = [long]($d - $script:TwoTo64) }
            return @{ kind = [Microsoft.Win32.RegistryValueKind]::QWord; value = $q; json = $json }
        }
        'REG_MULTI_SZ' {
            $ok = ($Data -is [System.Collections.IList]) -and -not ($Data -is [string])
            if ($ok) { foreach ($x in $Data) { if (-not ($x -is [string])) { $ok = $false } } }
            if (-not $ok) { Stop-Op 'bad_args' ($what + ' must be a list of strings for REG_MULTI_SZ') }
            $arr = [string[]]@($Data)
            $list = New-Object System.Collections.ArrayList
            foreach ($x in $arr) { [void]$list.Add($x) }
            return @{ kind = [Microsoft.Win32.RegistryValueKind]::MultiString; value = $arr; json = $list }
        }
        'REG_BINARY' {
            # \z, not $: '$' also matches before a final newline, and 'ab<LF>' is not hex.
            if (-not ($Data -is [string]) -or $Data -notmatch '^([0-9a-fA-F]{2})*\z') {
                Stop-Op 'bad_args' ($what + ' must be a hex string (two digits per byte) for REG_BINARY')
            }
            $bytes = ConvertFrom-HexString $Data
            return @{ kind = [Microsoft.Win32.RegistryValueKind]::Binary; value = $bytes; json = $Data.ToLowerInvariant() }
        }
    }
    Stop-Op 'bad_args' ("argument 'type' must be one of " + ($script:RegTypes -join ', '))
}

function Test-RegValueEqual {
    param($Before, [string]$Type, $Json)
    if ($null -eq $Before -or $Before.type -cne $Type) { return $false }
    $a = $Before.data
    if ($Type -eq 'REG_MULTI_SZ') {
        $la = @($a)
        $lb = @($Json)
        if ($la.Count -ne $lb.Count) { return $false }
        for ($i = 0; $i -lt $la.Count; $i++) { if ([string]$la[$i] -cne [string]$lb[$i]) { return $false } }
        return $true
    }
    if ($Type -eq 'REG_DWORD' -or $Type -eq 'REG_QWORD') { return ([decimal]$a -eq [decimal]$Json) }
    return ([string]$a -ceq [string]$Json)
}

function Invoke-OpRegistryGet {
    param($OpArgs)
    $path = ConvertTo-RegPath (Get-StringArg $OpArgs 'path' -Required) 'path'
    $depth = Get-IntArg $OpArgs 'depth' -Default 0 -Min 0 -Max 3
    $base = Open-BaseKey $path.hive
    try {
        $key = $base
        if ($path.sub.Length -gt 0) { $key = $base.OpenSubKey($path.sub, $false) }
        if ($null -eq $key) { return [ordered]@{ exists = $false; values = [ordered]@{}; keys = [ordered]@{} } }
        try {
            $node = Get-RegistryNode $key ([int]$depth)
        } finally { if ($key -ne $base) { $key.Close() } }
        # Indexers, not .values/.keys: those names are also properties of the dictionary.
        return [ordered]@{ exists = $true; values = $node['values']; keys = $node['keys'] }
    } finally { $base.Close() }
}

function Invoke-OpRegistrySet {
    param($OpArgs)
    $path = ConvertTo-RegPath (Get-StringArg $OpArgs 'path' -Required) 'path'
    $name = Get-StringArg $OpArgs 'name' -Required -AllowEmpty
    $type = Get-StringArg $OpArgs 'type' -Required
    if ($script:RegTypes -cnotcontains $type) {
        Stop-Op 'bad_args' ("argument 'type' must be one of " + ($script:RegTypes -join ', ') + '; got ' + $type)
    }
    if (-not (Test-Arg $OpArgs 'data')) {
        Stop-Op 'bad_args' "argument 'data' is required (a string, an integer, a list of strings or a hex string, by type)"
    }
    $want = ConvertTo-RegData $type $OpArgs['data']
    $base = Open-BaseKey $path.hive
    try {
        $key = $base
        if ($path.sub.Length -gt 0) { $key = $base.CreateSubKey($path.sub) }
        try {
            $before = $null
            if (@($key.GetValueNames()) -contains $name) {
                $before = Read-RegistryValue $key $name
            }
            if (Test-RegValueEqual $before $type $want.json) {
                return [ordered]@{ changed = $false; before = $before }
            }
            $key.SetValue($name, $want.value, $want.kind)
            return [ordered]@{ changed = $true; before = $before }
        } finally { if ($key -ne $base) { $key.Close() } }
    } finally { $base.Close() }
}

function Invoke-OpRegistryRemove {
    param($OpArgs)
    $path = ConvertTo-RegPath (Get-StringArg $OpArgs 'path' -Required) 'path'
    $name = Get-StringArg $OpArgs 'name' -AllowEmpty
    $base = Open-BaseKey $path.hive
    try {
        if ($null -ne $name) {
            $key = $base
            if ($path.sub.Length -gt 0) { $key = $base.OpenSubKey($path.sub, $true) }
            if ($null -eq $key) { return [ordered]@{ changed = $false } }
            try {
                if (@($key.GetValueNames()) -notcontains $name) { return [ordered]@{ changed = $false } }
                $key.DeleteValue($name, $false)
                return [ordered]@{ changed = $true }
            } finally { if ($key -ne $base) { $key.Close() } }
        }
        if ($path.parts.Count -eq 0) {
            Stop-Op 'bad_args' ("argument 'path' names the hive " + $path.name + ' itself; only keys below a hive can be removed')
        }
        $parentSub = ($path.parts | Select-Object -First ($path.parts.Count - 1)) -join '\'
        $leaf = $path.parts[$path.parts.Count - 1]
        $parent = $base
        if ($parentSub.Length -gt 0) { $parent = $base.OpenSubKey($parentSub, $true) }
        if ($null -eq $parent) { return [ordered]@{ changed = $false } }
        try {
            $probe = $parent.OpenSubKey($leaf, $false)
            if ($null -eq $probe) { return [ordered]@{ changed = $false } }
            $probe.Close()
            $parent.DeleteSubKeyTree($leaf, $false)
            return [ordered]@{ changed = $true }
        } finally { if ($parent -ne $base) { $parent.Close() } }
    } finally { $base.Close() }
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

# ---- host.facts -----------------------------------------------------------------------------

function Get-HostArch {
    # The OS architecture (a 32-bit PowerShell on 64-bit Windows sees PROCESSOR_ARCHITEW6432).
    $archRaw = $env:PROCESSOR_ARCHITEW6432
    if ([string]::IsNullOrEmpty($archRaw)) { $archRaw = $env:PROCESSOR_ARCHITECTURE }
    $arch = ([string]$archRaw).ToLowerInvariant()
    if ($arch -eq 'x86') { $arch = '386' }
    return $arch
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

# ---- files and folders ----------------------------------------------------------------------

$script:ShareAll = [System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete

function New-Sha256 {
    # The CSP implementation is FIPS-validated; SHA256Managed throws when the FIPS policy is on.
    try { return (New-Object System.Security.Cryptography.SHA256CryptoServiceProvider) }
    catch { return [System.Security.Cryptography.SHA256]::Create() }
}

function Get-FileSha256 {
    param([string]$Path)
    $fs = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
    try {
        $sha = New-Sha256
        try { $hash = $sha.ComputeHash($fs) } finally { $sha.Dispose() }
    } finally { $fs.Dispose() }
    return (ConvertTo-HexString $hash)
}

function Read-FileHead {
    param([string]$Path, [int]$Count)
    $fs = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
    try {
        $buf = New-Object byte[] $Count
        $total = 0
        while ($total -lt $Count) {
            $n = $fs.Read($buf, $total, $Count - $total)
            if ($n -le 0) { break }
            $total += $n
        }
    } finally { $fs.Dispose() }
    if ($total -lt $Count) {
        $short = New-Object byte[] $total
        [System.Array]::Copy($buf, $short, $total)
        return ,$short
    }
    return ,$buf
}

function Get-PeMachine {
    # The machine of a PE image (the uint16 after 'PE\0\0', whose offset is at 0x3C); $null if not a PE image.
    param([string]$Path)
    $fs = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $script:ShareAll)
    try {
        $head = New-Object byte[] 64
        $got = 0
        while ($got -lt 64) {
            $n = $fs.Read($head, $got, 64 - $got)
            if ($n -le 0) { break }
            $got += $n
        }
        if ($got -lt 64 -or $head[0] -ne 0x4D -or $head[1] -ne 0x5A) { return $null }
        $offset = [long][System.BitConverter]::ToUInt32($head, 0x3C)
        if ($offset + 6 -gt $fs.Length) { return $null }
        [void]$fs.Seek($offset, [System.IO.SeekOrigin]::Begin)
        $pe = New-Object byte[] 6
        $got = 0
        while ($got -lt 6) {
            $n = $fs.Read($pe, $got, 6 - $got)
            if ($n -le 0) { break }
            $got += $n
        }
        if ($got -lt 6 -or $pe[0] -ne 0x50 -or $pe[1] -ne 0x45 -or $pe[2] -ne 0 -or $pe[3] -ne 0) { return $null }
        $machine = [int][System.BitConverter]::ToUInt16($pe, 4)
        switch ($machine) {
            0x8664 { return 'amd64' }
            0xAA64 { return 'arm64' }
            0x14C { return '386' }
        }
        return 'unknown'
    } finally { $fs.Dispose() }
}

function ConvertFrom-Utf8Head {
    # UTF-8 text as the ops report it: a BOM is dropped, invalid bytes become U+FFFD.
    param([byte[]]$Bytes)
    $start = 0
    if ($Bytes.Length -ge 3 -and $Bytes[0] -eq 0xEF -and $Bytes[1] -eq 0xBB -and $Bytes[2] -eq 0xBF) { $start = 3 }
    $enc = New-Object System.Text.UTF8Encoding($false, $false)
    return $enc.GetString($Bytes, $start, $Bytes.Length - $start)
}

function Test-JsonEqual {
    param($A, $B)
    if ($null -eq $A -and $null -eq $B) { return $true }
    if ($null -eq $A -or $null -eq $B) { return $false }
    if ($A -is [bool] -or $B -is [bool]) { return ($A -is [bool] -and $B -is [bool] -and $A -eq $B) }
    return ([string]$A -ceq [string]$B)
}

function Get-StatChecks {
    param($OpArgs)
    $expect = Get-MapArg $OpArgs 'expect'
    $checks = [ordered]@{}
    if ($null -eq $expect) { return $checks }
    $help = "has a bad entry '{0}'; accepted: exists (true|false), type (file|directory|junction), sha256 (64 hex " +
        'digits), pe_machine (amd64|arm64|386|unknown|null), first_line (a string)'
    foreach ($field in @($expect.PSBase.Keys)) {
        $v = $expect[$field]
        $ok = $false
        switch -casesensitive ($field) {
            'exists' { $ok = ($v -is [bool]) }
            'type' { $ok = ($v -is [string] -and @('file', 'directory', 'junction') -ccontains $v) }
            'sha256' { $ok = ($v -is [string] -and $v -match '^[0-9a-fA-F]{64}$') }
            'pe_machine' { $ok = ($null -eq $v -or ($v -is [string] -and @('amd64', 'arm64', '386', 'unknown') -ccontains $v)) }
            'first_line' { $ok = ($v -is [string]) }
        }
        if (-not $ok) { Stop-Op 'bad_args' ("argument 'expect' " + ($help -f $field)) }
        if ($field -ceq 'sha256') { $v = $v.ToLowerInvariant() }
        $checks[$field] = $v
    }
    return $checks
}

function Invoke-OpFileStat {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $wantSha = Get-BoolArg $OpArgs 'checksum' $false
    $wantPe = Get-BoolArg $OpArgs 'pe' $false
    $wantRead = Get-BoolArg $OpArgs 'read' $false
    $checks = Get-StatChecks $OpArgs
    $info = Get-PathInfo $path
    $facts = [ordered]@{ exists = ($null -ne $info) }
    if ($null -ne $info) {
        $type = Get-PathType $info
        $facts['type'] = $type
        if ($type -eq 'junction') {
            $facts['target'] = Get-JunctionTarget $path
        } else {
            $facts['mtime'] = ConvertTo-EpochSeconds $info.LastWriteTimeUtc
        }
        if ($type -eq 'file') {
            $facts['size'] = [long]$info.Length
            if ($wantSha -or $checks.Contains('sha256')) { $facts['sha256'] = Get-FileSha256 $path }
            if ($wantPe -or $checks.Contains('pe_machine')) { $facts['pe_machine'] = Get-PeMachine $path }
            if ($wantRead -or $checks.Contains('first_line')) {
                $facts['content'] = ConvertFrom-Utf8Head (Read-FileHead $path 65536)
            }
        }
    }
    $diffs = New-Object System.Collections.Generic.List[string]
    foreach ($field in @($checks.Keys)) {
        $expected = $checks[$field]
        $actual = $null
        if ($field -eq 'first_line') {
            if ($facts.Contains('content')) { $actual = $facts['content'].Split([char]10)[0].TrimEnd([char]13) }
        } elseif ($facts.Contains($field)) {
            $actual = $facts[$field]
        }
        if (-not (Test-JsonEqual $actual $expected)) {
            $diffs.Add($field + ' is ' + (ConvertTo-AgentJson $actual) + ', expected ' + (ConvertTo-AgentJson $expected))
        }
    }
    if ($diffs.Count -gt 0) { Stop-Op 'verify_failed' ($path + ': ' + ($diffs -join '; ')) }
    if (-not $wantSha -and $facts.Contains('sha256')) { $facts.Remove('sha256') }
    if (-not $wantPe -and $facts.Contains('pe_machine')) { $facts.Remove('pe_machine') }
    if (-not $wantRead -and $facts.Contains('content')) { $facts.Remove('content') }
    return $facts
}

function Get-SortedEntries {
    # [{name, type}] of a folder, sorted case-insensitively (then by exact name), junctions not followed.
    param([System.IO.DirectoryInfo]$Dir)
    $items = @($Dir.GetFileSystemInfos())
    $keys = New-Object string[] $items.Count
    $rows = New-Object object[] $items.Count
    for ($i = 0; $i -lt $items.Count; $i++) {
        $keys[$i] = $items[$i].Name.ToLowerInvariant() + [char]0 + $items[$i].Name
        $rows[$i] = [ordered]@{ name = $items[$i].Name; type = (Get-PathType $items[$i]) }
    }
    [System.Array]::Sort($keys, $rows, [System.StringComparer]::Ordinal)
    return ,$rows
}

function Invoke-OpDirList {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $dir = New-Object System.IO.DirectoryInfo($path)
    if (-not $dir.Exists) { return [ordered]@{ exists = $false; entries = @() } }
    try {
        $entries = Get-SortedEntries $dir
    } catch [System.IO.DirectoryNotFoundException] {
        # A junction whose target is gone.
        return [ordered]@{ exists = $false; entries = @() }
    }
    return [ordered]@{ exists = $true; entries = $entries }
}

function Test-DriveRoot {
    param([string]$Path, [string]$What)
    $root = [System.IO.Path]::GetPathRoot($Path)
    if (-not [System.IO.Directory]::Exists($root)) {
        if ($Path -match '^[A-Za-z]:') { Stop-Op 'not_found' ($What + ': drive ' + $Path.Substring(0, 2) + ' does not exist') }
        Stop-Op 'not_found' ($What + ': ' + $root + ' cannot be reached')
    }
}

function Assert-NoFileAbove {
    # Fail 'exists' when a file sits where a folder of $Path would be.
    param([string]$Path, [string]$What)
    $probe = Get-ParentPath $Path
    while ($null -ne $probe) {
        if ([System.IO.Directory]::Exists($probe)) { return }
        if ([System.IO.File]::Exists($probe)) {
            Stop-Op 'exists' ($What + ': ' + $probe + ' is a file, so ' + $Path + ' cannot be created below it')
        }
        $probe = Get-ParentPath $probe
    }
}

function Invoke-OpDirEnsure {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    if ([System.IO.Directory]::Exists($path)) { return [ordered]@{ changed = $false } }
    if ([System.IO.File]::Exists($path)) { Stop-Op 'exists' ('dir.ensure: ' + $path + ' is a file') }
    Test-DriveRoot $path 'dir.ensure'
    Assert-NoFileAbove $path 'dir.ensure'
    [void][System.IO.Directory]::CreateDirectory($path)
    return [ordered]@{ changed = $true }
}

function Find-LockedFile {
    # Best-effort check before a remove or move: the first file under $Path (a file or a real folder;
    # junctions are not followed) that another process holds open, or $null. A file we may not open
    # for writing (read-only attribute, ACL) is skipped: the remove itself reports on it.
    param([string]$Path)
    $info = Get-PathInfo $Path
    if ($null -eq $info) { return $null }
    return (Find-LockedIn $info)
}

function Find-LockedIn {
    param([System.IO.FileSystemInfo]$Info)
    if ($Info -is [System.IO.FileInfo]) {
        try {
            $fs = [System.IO.File]::Open($Info.FullName, [System.IO.FileMode]::Open, [System.IO.FileAccess]::ReadWrite, [System.IO.FileShare]::None)
            $fs.Dispose()
        } catch [System.UnauthorizedAccessException] {
            return $null
        } catch [System.IO.IOException] {
            $low = (Get-HResult $_.Exception) -band 0xFFFF
            if ($low -eq 0x20 -or $low -eq 0x21) { return $Info.FullName }
        }
        return $null
    }
    if (Test-IsReparsePoint $Info) { return $null }
    foreach ($child in $Info.GetFileSystemInfos()) {
        $hit = Find-LockedIn $child
        if ($null -ne $hit) { return $hit }
    }
    return $null
}

function Clear-ReadOnly {
    param([System.IO.FileSystemInfo]$Info)
    if (($Info.Attributes -band [System.IO.FileAttributes]::ReadOnly) -ne 0) {
        $Info.Attributes = $Info.Attributes -band (-bnot [System.IO.FileAttributes]::ReadOnly)
    }
}

function Remove-Link {
    # Remove a reparse point itself, never what it points to.
    param([System.IO.FileSystemInfo]$Info)
    if ($Info -is [System.IO.DirectoryInfo]) { [System.IO.Directory]::Delete($Info.FullName, $false) }
    else { Clear-ReadOnly $Info; [System.IO.File]::Delete($Info.FullName) }
}

function Remove-Tree {
    # Delete a real folder and what it holds, walking the tree ourselves so that junctions (and
    # symbolic links) inside are removed as links and never followed.
    param([System.IO.DirectoryInfo]$Dir)
    foreach ($child in $Dir.GetFileSystemInfos()) {
        if (Test-IsReparsePoint $child) { Remove-Link $child }
        elseif ($child -is [System.IO.DirectoryInfo]) { Remove-Tree $child }
        else { Clear-ReadOnly $child; [System.IO.File]::Delete($child.FullName) }
    }
    Clear-ReadOnly $Dir
    [System.IO.Directory]::Delete($Dir.FullName, $false)
}

function Test-IsRootPath {
    param([string]$Path)
    if ($Path -match '^[A-Za-z]:\\?$') { return $true }
    if ($Path.StartsWith('\\') -and $null -eq (Get-ParentPath $Path)) { return $true }
    return $false
}

function Invoke-OpPathRemove {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $recurse = Get-BoolArg $OpArgs 'recurse' $true
    $info = Get-PathInfo $path
    if ($null -eq $info) { return [ordered]@{ changed = $false } }
    if (Test-IsRootPath $path) {
        Stop-Op 'bad_args' ("argument 'path' is the root of drive " + $path.TrimEnd('\') + '; a drive root is never removed')
    }
    if (Test-IsReparsePoint $info) {
        Remove-Link $info
        return [ordered]@{ changed = $true }
    }
    if ($info -is [System.IO.DirectoryInfo]) {
        if (-not $recurse -and @($info.GetFileSystemInfos()).Count -gt 0) {
            Stop-Op 'bad_args' ("argument 'recurse' is false but " + $path + ' is not empty; set recurse to true to remove it with its contents')
        }
    }
    $locked = Find-LockedFile $path
    if ($null -ne $locked) {
        Stop-Op 'in_use' ('path.remove: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
    }
    if ($info -is [System.IO.DirectoryInfo]) { Remove-Tree $info }
    else { Clear-ReadOnly $info; [System.IO.File]::Delete($path) }
    return [ordered]@{ changed = $true }
}

function Move-PathItem {
    param([System.IO.FileSystemInfo]$Info, [string]$Src, [string]$Dest)
    if ($Info -is [System.IO.DirectoryInfo]) { [System.IO.Directory]::Move($Src, $Dest) }
    else { [System.IO.File]::Move($Src, $Dest) }
}

function Invoke-OpPathMove {
    param($OpArgs)
    $src = Get-PathArg $OpArgs 'src' -Required -AllowUnc
    $dest = Get-PathArg $OpArgs 'dest' -Required -AllowUnc
    $info = Get-PathInfo $src
    if ($null -eq $info) { Stop-Op 'not_found' ('path.move: src ' + $src + ' does not exist') }
    $same = [string]::Equals($src, $dest, [System.StringComparison]::OrdinalIgnoreCase)
    if (-not $same -and $null -ne (Get-PathInfo $dest)) { Stop-Op 'exists' ('path.move: dest ' + $dest + ' already exists') }
    if (-not [string]::Equals([System.IO.Path]::GetPathRoot($src), [System.IO.Path]::GetPathRoot($dest), [System.StringComparison]::OrdinalIgnoreCase)) {
        Stop-Op 'unsupported' ('path.move: ' + $src + ' and ' + $dest + ' are on different drives; a move is a rename')
    }
    if (-not $same -and $dest.StartsWith($src.TrimEnd('\') + '\', [System.StringComparison]::OrdinalIgnoreCase)) {
        Stop-Op 'bad_args' ("argument 'dest' is inside src " + $src + '; a folder cannot be moved into itself')
    }
    $parent = Get-ParentPath $dest
    if ($null -eq $parent -or -not [System.IO.Directory]::Exists($parent)) {
        Stop-Op 'not_found' ('path.move: the folder of dest, ' + $parent + ', does not exist')
    }
    if (-not (Test-IsReparsePoint $info)) {
        $locked = Find-LockedFile $src
        if ($null -ne $locked) {
            Stop-Op 'in_use' ('path.move: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
        }
    }
    if ($same) {
        if ($src -ceq $dest) { return [ordered]@{ changed = $true } }
        # .NET Framework refuses a move whose names differ only in case: go through a temporary name.
        $temp = $parent.TrimEnd('\') + '\.gowin-move-' + [System.Guid]::NewGuid().ToString('N')
        Move-PathItem $info $src $temp
        Move-PathItem $info $temp $dest
    } else {
        Move-PathItem $info $src $dest
    }
    return [ordered]@{ changed = $true }
}

# ---- file.download --------------------------------------------------------------------------

function Get-RedactedUrl {
    # The URL without any user:password@ part.
    param([string]$Url)
    return ($Url -replace '^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@', '$1')
}

function Get-DriveLabel {
    param([string]$Path)
    if ($Path -match '^[A-Za-z]:') { return $Path.Substring(0, 2).ToUpperInvariant() }
    return [System.IO.Path]::GetPathRoot($Path)
}

function New-ParentFolders {
    # Create the parents of $Path; returns the folders created, outermost first.
    param([string]$Path)
    $missing = New-Object System.Collections.Generic.List[string]
    $probe = Get-ParentPath $Path
    while ($null -ne $probe -and -not [System.IO.Directory]::Exists($probe)) {
        $missing.Insert(0, $probe)
        $probe = Get-ParentPath $probe
    }
    if ($missing.Count -gt 0) {
        # CreateDirectory may fail part way (ACL, disk full): remove what it made before failing, as
        # the callers' cleanup only runs for folders this function returned.
        try { [void][System.IO.Directory]::CreateDirectory($missing[$missing.Count - 1]) }
        catch { Remove-CreatedFolders $missing; throw }
    }
    return ,$missing
}

function Remove-CreatedFolders {
    # Undo New-ParentFolders: remove the folders (deepest first) if they are empty; never fails.
    param($Created)
    if ($null -eq $Created) { return }
    for ($i = $Created.Count - 1; $i -ge 0; $i--) {
        try { [System.IO.Directory]::Delete($Created[$i], $false) } catch { $null = $_ }
    }
}

function Remove-FileQuietly {
    param([string]$Path)
    try {
        if ([System.IO.File]::Exists($Path)) {
            $fi = New-Object System.IO.FileInfo($Path)
            Clear-ReadOnly $fi
            [System.IO.File]::Delete($Path)
        }
    } catch { $null = $_ }
}

function Enable-ModernTls {
    $proto = [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
    # TLS 1.3 only where Schannel has it (Windows Server 2022, build 20348, and later): asking older
    # Schannel for it can break the handshake.
    if ([Enum]::IsDefined([System.Net.SecurityProtocolType], 'Tls13') -and [System.Environment]::OSVersion.Version.Build -ge 20348) {
        $proto = $proto -bor ([System.Net.SecurityProtocolType]'Tls13')
    }
    [System.Net.ServicePointManager]::SecurityProtocol = $proto
}

function Get-WebFailureText {
    # Why a web request failed, from the WebException: HTTP status, or the transport reason.
    param($Exception, [int]$TimeoutSeconds)
    $ex = $Exception
    while ($ex -is [System.Management.Automation.RuntimeException] -and $null -ne $ex.InnerException) { $ex = $ex.InnerException }
    if ($ex -is [System.Net.WebException]) {
        $resp = $ex.Response
        if ($resp -is [System.Net.HttpWebResponse]) {
            $code = [int]$resp.StatusCode
            $desc = [string]$resp.StatusDescription
            try { $resp.Close() } catch { $null = $_ }
            return ('HTTP ' + $code + ' ' + $desc)
        }
        $status = $ex.Status.ToString()
        if ($status -eq 'Timeout') { return ('timed out after ' + $TimeoutSeconds + ' seconds') }
        if ($status -eq 'TrustFailure') {
            $inner = ''
            if ($null -ne $ex.InnerException) { $inner = ' (' + $ex.InnerException.Message + ')' }
            return ('the server certificate is not trusted' + $inner + '; validate_certs: false skips this check for a known server')
        }
        $text = $status + ': ' + $ex.Message
        if ($null -ne $ex.InnerException) { $text = $text + ' (' + $ex.InnerException.Message + ')' }
        return $text
    }
    $timedOut = $false
    $probe = $ex
    while ($null -ne $probe) {
        if ($probe -is [System.Net.Sockets.SocketException] -and $probe.SocketErrorCode.ToString() -eq 'TimedOut') { $timedOut = $true }
        if ($probe -is [System.Net.WebException] -and $probe.Status.ToString() -eq 'Timeout') { $timedOut = $true }
        if ($probe -is [System.TimeoutException]) { $timedOut = $true }
        $probe = $probe.InnerException
    }
    if ($timedOut) { return ('timed out after ' + $TimeoutSeconds + ' seconds') }
    return ($ex.GetType().Name + ': ' + $ex.Message)
}

function Save-HttpFile {
    # Stream the response body of $Url into $Dest; returns @{ size; sha256 }. Failures of the
    # transfer itself are 'download_failed'; failures of writing dest keep their own kind.
    param([string]$Url, [string]$Dest, $User, $Password, [bool]$ValidateCerts, [int]$TimeoutSeconds)
    $shown = Get-RedactedUrl $Url
    Enable-ModernTls
    $uri = New-Object System.Uri($Url)
    $req = [System.Net.HttpWebRequest]([System.Net.WebRequest]::Create($uri))
    $req.Method = 'GET'
    $req.UserAgent = 'gowin-agent/1'
    $req.AllowAutoRedirect = $true
    $req.Timeout = $TimeoutSeconds * 1000
    $req.ReadWriteTimeout = $TimeoutSeconds * 1000
    if (-not $ValidateCerts) {
        # Only this request skips the check (never ServicePointManager, which is process-wide).
        $req.ServerCertificateValidationCallback = { $true }
    }
    if ($null -ne $User) {
        $pw = ''
        if ($null -ne $Password) { $pw = [string]$Password }
        $cred = New-Object System.Net.NetworkCredential([string]$User, $pw)
        # A credential cache scoped to this URL: a redirect to another place never gets it.
        $cache = New-Object System.Net.CredentialCache
        $cache.Add($uri, 'Basic', $cred)
        $req.Credentials = $cache
        $req.PreAuthenticate = $true
        $token = [System.Convert]::ToBase64String([System.Text.Encoding]::UTF8.GetBytes([string]$User + ':' + $pw))
        $req.Headers.Add('Authorization', 'Basic ' + $token)
    }
    $resp = $null
    try {
        $resp = $req.GetResponse()
    } catch {
        Stop-Op 'download_failed' ('download of ' + $shown + ' failed: ' + (Get-WebFailureText $_.Exception $TimeoutSeconds))
    }
    try {
        $length = [long]$resp.ContentLength
        $in = $resp.GetResponseStream()
        $out = New-Object System.IO.FileStream($Dest, [System.IO.FileMode]::Create, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
        $sha = New-Sha256
        $got = [long]0
        try {
            $buf = New-Object byte[] 1048576
            while ($true) {
                $n = 0
                try {
                    $n = $in.Read($buf, 0, $buf.Length)
                } catch {
                    Stop-Op 'download_failed' ('download of ' + $shown + ' failed: ' + (Get-WebFailureText $_.Exception $TimeoutSeconds))
                }
                if ($n -le 0) { break }
                $out.Write($buf, 0, $n)
                [void]$sha.TransformBlock($buf, 0, $n, $null, 0)
                $got += $n
            }
            [void]$sha.TransformFinalBlock((New-Object byte[] 0), 0, 0)
            $digest = ConvertTo-HexString $sha.Hash
        } finally {
            $out.Dispose()
            $sha.Dispose()
            $in.Dispose()
        }
        if ($length -ge 0 -and $got -lt $length) {
            Stop-Op 'download_failed' ('download of ' + $shown + ' failed: the connection closed after ' + $got + ' of ' + $length + ' bytes')
        }
        return @{ size = $got; sha256 = $digest }
    } finally {
        $resp.Close()
    }
}

function Invoke-OpFileDownload {
    param($OpArgs)
    $url = Get-StringArg $OpArgs 'url' -Required
    $dest = Get-PathArg $OpArgs 'dest' -Required -AllowUnc
    $sha = Get-StringArg $OpArgs 'sha256'
    if ($null -ne $sha -and $sha -notmatch '^[0-9a-fA-F]{64}$') {
        Stop-Op 'bad_args' "argument 'sha256' must be 64 hex digits (a SHA-256)"
    }
    $validate = Get-BoolArg $OpArgs 'validate_certs' $true
    $timeout = Get-IntArg $OpArgs 'timeout' -Default 300 -Min 1 -Max 86400
    $user = Get-StringArg $OpArgs 'username'
    $password = Get-StringArg $OpArgs 'password' -AllowEmpty
    if ($null -ne $password -and $null -eq $user) {
        Stop-Op 'bad_args' "argument 'username' is required when password is given"
    }
    $shown = Get-RedactedUrl $url
    $isWeb = $url -match '^(?i)https?://'
    $source = $null
    if (-not $isWeb) {
        $norm = $url.Replace('/', '\')
        if (-not ($norm.StartsWith('\\') -or $norm -match '^[A-Za-z]:\\')) {
            Stop-Op 'bad_args' ("argument 'url' must be an https:// or http:// URL, a UNC path (\\server\share\file) or a " +
                "local path (C:\...); got '" + $shown + "'")
        }
        $source = ConvertTo-AgentPath $url 'url' -AllowUnc
        if ([string]::Equals($source, $dest, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-Op 'bad_args' "argument 'url' is the same file as dest"
        }
    }
    if ([System.IO.Directory]::Exists($dest)) { Stop-Op 'exists' ('file.download: dest ' + $dest + ' is a directory') }
    Test-DriveRoot $dest 'file.download'
    Assert-NoFileAbove $dest 'file.download'
    if ([System.IO.File]::Exists($dest)) {
        $locked = Find-LockedFile $dest
        if ($null -ne $locked) {
            Stop-Op 'in_use' ('file.download: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
        }
    }
    $created = New-ParentFolders $dest
    try {
        if ($isWeb) {
            $result = Save-HttpFile $url $dest $user $password $validate ([int]$timeout)
            $size = $result.size
            $digest = $result.sha256
        } else {
            # Checked inside the try: a missing source is a failure after dest was accepted, so the
            # file that was at dest is removed too (as the protocol and winsim do).
            $missingSource = 'file.download: ' + $source + ' does not exist or is not a file (or the network path cannot be reached)'
            if (-not [System.IO.File]::Exists($source)) { Stop-Op 'download_failed' $missingSource }
            try {
                [System.IO.File]::Copy($source, $dest, $true)
            } catch [System.IO.FileNotFoundException] {
                Stop-Op 'download_failed' $missingSource
            }
            $size = [long](New-Object System.IO.FileInfo($dest)).Length
            $digest = Get-FileSha256 $dest
        }
        if ($null -ne $sha -and $digest -ne $sha.ToLowerInvariant()) {
            Stop-Op 'checksum_mismatch' ('file.download: ' + $shown + ' has sha256 ' + $digest + ', expected ' +
                $sha.ToLowerInvariant() + '; the file was deleted')
        }
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        # Once dest could be written, a failure leaves no file there (one that was there is gone too).
        if ($err.kind -ne 'in_use') { Remove-FileQuietly $dest }
        Remove-CreatedFolders $created
        if ($err.kind -eq 'disk_full') {
            Stop-Op 'disk_full' ('file.download: there is not enough space on drive ' + (Get-DriveLabel $dest) + ' for ' + $dest +
                ' (' + $err.message + '); the partial file was removed')
        }
        Stop-Op $err.kind $err.message
    }
    return [ordered]@{ size = [long]$size; sha256 = $digest }
}

# ---- file.write -----------------------------------------------------------------------------

$script:FileEncodings = @('utf8', 'utf8bom', 'utf16le')

function ConvertTo-EncodedText {
    # The bytes of a whole file: byte order mark (utf8bom, utf16le) and text, encoded strictly (a
    # lone UTF-16 surrogate fails instead of becoming '?').
    param([string]$Content, [string]$Encoding)
    $bom = [byte[]]@()
    if ($Encoding -eq 'utf16le') {
        $enc = New-Object System.Text.UnicodeEncoding($false, $false, $true)
        $bom = [byte[]]@(0xFF, 0xFE)
    } else {
        $enc = New-Object System.Text.UTF8Encoding($false, $true)
        if ($Encoding -eq 'utf8bom') { $bom = [byte[]]@(0xEF, 0xBB, 0xBF) }
    }
    try {
        $body = $enc.GetBytes($Content)
    } catch {
        Stop-Op 'bad_args' ("argument 'content' cannot be written as " + $Encoding + ': it holds a lone UTF-16 surrogate')
    }
    $data = New-Object byte[] ($bom.Length + $body.Length)
    [System.Array]::Copy($bom, 0, $data, 0, $bom.Length)
    [System.Array]::Copy($body, 0, $data, $bom.Length, $body.Length)
    return ,$data
}

function Get-StoredFilePath {
    # $Path with its last name as stored in its folder (an existing file keeps its name's case).
    param([string]$Path)
    $parent = Get-ParentPath $Path
    $leaf = Get-LeafName $Path
    if ($null -eq $parent) { return $Path }
    try {
        foreach ($found in [System.IO.Directory]::GetFiles($parent, $leaf)) {
            $name = Get-LeafName $found
            if ([string]::Equals($name, $leaf, [System.StringComparison]::OrdinalIgnoreCase)) {
                return ($parent.TrimEnd('\') + '\' + $name)
            }
        }
    } catch { $null = $_ }
    return $Path
}

function Invoke-OpFileWrite {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $content = Get-StringArg $OpArgs 'content' -Required -AllowEmpty
    $encoding = 'utf8'
    if (Test-Arg $OpArgs 'encoding') {
        $encoding = $OpArgs['encoding']
        if (-not ($encoding -is [string]) -or $script:FileEncodings -cnotcontains $encoding) {
            $shown = ConvertTo-AgentJson $encoding
            if ($shown.Length -gt 80) { $shown = $shown.Substring(0, 77) + '...' }
            Stop-Op 'bad_args' ("argument 'encoding' must be one of " + ($script:FileEncodings -join ', ') + '; got ' + $shown)
        }
    }
    $data = ConvertTo-EncodedText $content $encoding
    $sha = New-Sha256
    try { $digest = ConvertTo-HexString ($sha.ComputeHash($data)) } finally { $sha.Dispose() }
    $result = [ordered]@{ changed = $false; size = [long]$data.Length; sha256 = $digest }

    # What is at path now (a final junction not followed: a junction is a link to a folder).
    $info = Get-PathInfo $path
    if ($info -is [System.IO.DirectoryInfo]) {
        $what = 'folder'
        if (Test-IsReparsePoint $info) { $what = 'junction' }
        Stop-Op 'exists' ('file.write: ' + $path + ' is a ' + $what + ', not a file')
    }
    $exists = ($null -ne $info)
    # The same bytes: nothing is written, not even the file's time (reading works on a file in use).
    if ($exists -and [long]$info.Length -eq [long]$data.Length -and (Get-FileSha256 $path) -eq $digest) { return $result }

    Test-DriveRoot $path 'file.write'
    Assert-NoFileAbove $path 'file.write'
    $dest = $path
    if ($exists) {
        $locked = Find-LockedFile $path
        if ($null -ne $locked) {
            Stop-Op 'in_use' ('file.write: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
        }
        $dest = Get-StoredFilePath $path
    }
    $folder = Get-ParentPath $dest
    $tag = [System.Guid]::NewGuid().ToString('N').Substring(0, 8)
    $temp = $folder.TrimEnd('\') + '\~gw' + $tag + '.tmp'
    $backup = $null
    $tempMade = $false
    $created = $null
    try {
        # Inside the try: a parent that cannot be created fails with the op's name and error mapping.
        $created = New-ParentFolders $path
        $fs = New-Object System.IO.FileStream($temp, [System.IO.FileMode]::CreateNew, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
        $tempMade = $true
        try {
            $fs.Write($data, 0, $data.Length)
            $fs.Flush($true)
        } finally { $fs.Dispose() }
        if ($exists) {
            # ReplaceFile: the file keeps its ACL, attributes and name. With a backup name, a failed
            # rename leaves the old file where it can be put back (without one it may be gone).
            $backup = $folder.TrimEnd('\') + '\~gw' + $tag + '.bak'
            [System.IO.File]::Replace($temp, $dest, $backup)
            Remove-FileQuietly $backup
        } else {
            [System.IO.File]::Move($temp, $dest)
        }
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        if ($null -ne $backup -and -not [System.IO.File]::Exists($dest) -and [System.IO.File]::Exists($backup)) {
            try { [System.IO.File]::Move($backup, $dest) } catch { $null = $_ }
        }
        if ($tempMade) { Remove-FileQuietly $temp }
        Remove-CreatedFolders $created
        if ($err.kind -eq 'disk_full') {
            Stop-Op 'disk_full' ('file.write: there is not enough space on drive ' + (Get-DriveLabel $dest) + ' for ' + $dest +
                ' (' + $err.message + '); the file was left as it was')
        }
        Stop-Op $err.kind ('file.write: ' + $dest + ': ' + $err.message)
    }
    $result['changed'] = $true
    return $result
}

# ---- zip.extract ----------------------------------------------------------------------------

function Open-ZipArchive {
    param([string]$Path)
    [void][System.Reflection.Assembly]::LoadWithPartialName('System.IO.Compression')
    [void][System.Reflection.Assembly]::LoadWithPartialName('System.IO.Compression.FileSystem')
    return [System.IO.Compression.ZipFile]::OpenRead($Path)
}

function Get-ZipPlan {
    # Every entry checked before anything is written: @{ parts; target; entry (null for a folder) }.
    param($Archive, [string]$Dest)
    $destFull = [System.IO.Path]::GetFullPath($Dest).TrimEnd('\') + '\'
    $storedCase = New-Object 'System.Collections.Generic.Dictionary[string,string]' ([System.StringComparer]::OrdinalIgnoreCase)
    $seen = New-Object 'System.Collections.Generic.HashSet[string]' ([System.StringComparer]::OrdinalIgnoreCase)
    $plan = New-Object System.Collections.ArrayList
    foreach ($entry in $Archive.Entries) {
        $raw = $entry.FullName.Replace('\', '/')
        $what = "zip entry '" + $entry.FullName + "'"
        $isDir = $raw.EndsWith('/')
        $comps = $raw.Split('/')
        if ($raw.StartsWith('/') -or $raw -match '^[A-Za-z]:' -or $comps -contains '..') {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $what + ' would be written outside dest')
        }
        $parts = New-Object System.Collections.Generic.List[string]
        foreach ($comp in $comps) {
            if ($comp -eq '' -or $comp -eq '.') { continue }
            $name = Test-PathComponent $comp ('zip.extract: ' + $what) -Kind 'corrupt_archive'
            $key = (($parts.ToArray() + $name) -join '/')
            if (-not $storedCase.ContainsKey($key)) { $storedCase[$key] = $name }
            $parts.Add($storedCase[$key])
        }
        if ($parts.Count -eq 0) { continue }
        $rel = $parts -join '\'
        if (-not $seen.Add($rel) -and -not $isDir) {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $what + ' appears twice')
        }
        $target = ConvertTo-AgentPath ($Dest.TrimEnd('\') + '\' + $rel) 'dest'
        # Zip-slip guard on the resolved path as well.
        if (-not ([System.IO.Path]::GetFullPath($target) + '\').StartsWith($destFull, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $what + ' would be written outside dest')
        }
        $existing = Get-PathInfo $target
        if ($null -ne $existing -and -not ($isDir -and $existing -is [System.IO.DirectoryInfo])) {
            Stop-Op 'exists' ('zip.extract: ' + $what + ': ' + $target + ' already exists; nothing was extracted')
        }
        $probe = Get-ParentPath $target
        while ($null -ne $probe -and $probe.Length -ge $destFull.Length - 1) {
            if ([System.IO.File]::Exists($probe)) {
                Stop-Op 'exists' ('zip.extract: ' + $probe + ' is a file, so ' + $what + ' cannot be extracted')
            }
            $probe = Get-ParentPath $probe
        }
        $item = $entry
        if ($isDir) { $item = $null }
        [void]$plan.Add(@{ target = $target; entry = $item })
    }
    return ,$plan
}

function Invoke-OpZipExtract {
    param($OpArgs)
    $src = Get-PathArg $OpArgs 'src' -Required -AllowUnc
    $dest = Get-PathArg $OpArgs 'dest' -Required -AllowUnc
    if (-not [System.IO.File]::Exists($src)) { Stop-Op 'not_found' ('zip.extract: src ' + $src + ' does not exist or is not a file') }
    if ([System.IO.File]::Exists($dest)) { Stop-Op 'exists' ('zip.extract: dest ' + $dest + ' is a file') }
    $destExisted = [System.IO.Directory]::Exists($dest)
    if (-not $destExisted) {
        Test-DriveRoot $dest 'zip.extract'
        Assert-NoFileAbove $dest 'zip.extract'
    }
    $archive = $null
    try {
        $archive = Open-ZipArchive $src
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        if ($err.kind -eq 'internal') {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $src + ' is not a valid zip archive (' + $err.message + ')')
        }
        Stop-Op $err.kind $err.message
    }
    $created = New-Object System.Collections.Generic.List[string]
    $written = New-Object System.Collections.Generic.List[string]
    $files = 0
    $total = [long]0
    try {
        $plan = Get-ZipPlan $archive $dest
        if (-not $destExisted) {
            foreach ($f in (New-ParentFolders ($dest.TrimEnd('\') + '\x'))) { $created.Add($f) }
        }
        foreach ($step in $plan) {
            if ($null -eq $step.entry) {
                foreach ($f in (New-ParentFolders ($step.target + '\x'))) { $created.Add($f) }
                continue
            }
            foreach ($f in (New-ParentFolders $step.target)) { $created.Add($f) }
            $in = $step.entry.Open()
            try {
                $out = New-Object System.IO.FileStream($step.target, [System.IO.FileMode]::CreateNew,
                    [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
                $written.Add($step.target)
                $got = [long]0
                try {
                    $buf = New-Object byte[] 1048576
                    while ($true) {
                        $n = $in.Read($buf, 0, $buf.Length)
                        if ($n -le 0) { break }
                        $out.Write($buf, 0, $n)
                        $got += $n
                    }
                } finally { $out.Dispose() }
            } finally { $in.Dispose() }
            # .NET Framework's ZipArchive checks neither the CRC-32 nor the size of what it inflates:
            # damaged data can end early without an error. A size that differs is a corrupt entry.
            if ($got -ne [long]$step.entry.Length) {
                Stop-Op 'corrupt_archive' ('zip.extract: ' + $src + ' cannot be read (entry ''' + $step.entry.FullName + "' gave " +
                    $got + ' bytes, the archive says ' + $step.entry.Length + '); nothing was kept')
            }
            $total += $got
            try { [System.IO.File]::SetLastWriteTime($step.target, $step.entry.LastWriteTime.DateTime) } catch { $null = $_ }
            $files++
        }
    } catch {
        $ex = $_.Exception
        $err = Convert-ExceptionToError $ex
        foreach ($w in $written) { Remove-FileQuietly $w }
        $dirs = @($created | Sort-Object -Property Length -Descending)
        foreach ($d in $dirs) { try { [System.IO.Directory]::Delete($d, $false) } catch { $null = $_ } }
        $base = $ex
        while ($base -is [System.Management.Automation.RuntimeException] -and $null -ne $base.InnerException) { $base = $base.InnerException }
        if ($base -is [System.IO.InvalidDataException] -or $base -is [System.IO.EndOfStreamException] -or $base -is [System.NotSupportedException]) {
            Stop-Op 'corrupt_archive' ('zip.extract: ' + $src + ' cannot be read (' + $base.Message + '); nothing was kept')
        }
        if ($err.kind -eq 'disk_full') {
            Stop-Op 'disk_full' ('zip.extract: there is not enough space on drive ' + (Get-DriveLabel $dest) + ' (' + $err.message +
                '); the files written were removed')
        }
        Stop-Op $err.kind $err.message
    } finally {
        $archive.Dispose()
    }
    return [ordered]@{ files = $files; bytes = $total }
}

# ---- junction.set ---------------------------------------------------------------------------

function New-Junction {
    # Windows PowerShell 5.1 offers no -LiteralPath for creating a junction (New-Item has only
    # -Path, which is globbed together with -Name), and native helpers (mklink) would need cmd.exe.
    # So this ONE call passes -Path, with every wildcard character of the parent escaped. The
    # target (-Value) is read literally by the FileSystem provider, which in 5.1 requires it to be
    # an existing folder: a missing target is created for the call and removed right after.
    param([string]$Path, [string]$Target)
    $parent = Get-ParentPath $Path
    $leaf = Get-LeafName $Path
    $made = $null
    if (-not [System.IO.Directory]::Exists($Target)) {
        if ([System.IO.File]::Exists($Target)) { Stop-Op 'bad_args' ("argument 'target' is a file; a junction points to a folder") }
        $made = New-ParentFolders ($Target.TrimEnd('\') + '\x')
    }
    try {
        $null = New-Item -ItemType Junction -Path ([System.Management.Automation.WildcardPattern]::Escape($parent)) -Name $leaf -Value $Target -Force:$false
    } finally {
        Remove-CreatedFolders $made
    }
}

function Invoke-OpJunctionSet {
    param($OpArgs)
    $rawTarget = Get-StringArg $OpArgs 'target' -Required
    if ($rawTarget.Replace('/', '\').StartsWith('\\')) {
        Stop-Op 'bad_args' "argument 'target' must be a local path (C:\...); a junction cannot point to a network share"
    }
    $path = Get-PathArg $OpArgs 'path' -Required
    $target = Get-PathArg $OpArgs 'target' -Required
    $info = Get-PathInfo $path
    if ($null -ne $info -and (Test-IsReparsePoint $info) -and $info -is [System.IO.DirectoryInfo]) {
        $before = Get-JunctionTarget $path
        # Both sides trimmed: a target that is a drive root is 'C:\' here and may be stored so too.
        if ($null -ne $before -and [string]::Equals($before.TrimEnd('\'), $target.TrimEnd('\'), [System.StringComparison]::OrdinalIgnoreCase)) {
            return [ordered]@{ changed = $false; before = $before }
        }
        # Retarget: remove the link itself (never recursing into the old target), then create.
        [System.IO.Directory]::Delete($path, $false)
        try {
            New-Junction $path $target
        } catch {
            $err = Convert-ExceptionToError $_.Exception
            if ($null -ne $before) { try { New-Junction $path $before } catch { $null = $_ } }
            Stop-Op $err.kind $err.message
        }
        return [ordered]@{ changed = $true; before = $before }
    }
    if ($null -ne $info) {
        Stop-Op 'exists' ('junction.set: ' + $path + ' is a ' + (Get-PathType $info) + ', not a junction')
    }
    Test-DriveRoot $path 'junction.set'
    Assert-NoFileAbove $path 'junction.set'
    $created = New-ParentFolders $path
    try {
        New-Junction $path $target
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        Remove-CreatedFolders $created
        Stop-Op $err.kind $err.message
    }
    return [ordered]@{ changed = $true; before = $null }
}

# ---- ACLs and identities --------------------------------------------------------------------

function ConvertTo-UInt32Long {
    param([long]$Value)
    if ($Value -lt 0) { return $Value + $script:TwoTo32 }
    return $Value
}

function ConvertTo-Int32Bits {
    param([long]$Value)
    if ($Value -gt 2147483647) { return [int]($Value - $script:TwoTo32) }
    return [int]$Value
}

function Get-FsSecurity {
    param([string]$Path, [bool]$IsDir)
    $sections = [System.Security.AccessControl.AccessControlSections]::Access -bor [System.Security.AccessControl.AccessControlSections]::Owner
    if ($IsDir) { return (New-Object System.Security.AccessControl.DirectorySecurity($Path, $sections)) }
    return (New-Object System.Security.AccessControl.FileSecurity($Path, $sections))
}

function Get-AceRows {
    param($Security)
    $rows = New-Object System.Collections.ArrayList
    foreach ($rule in $Security.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])) {
        $flags = $rule.InheritanceFlags
        $inherit = (($flags -band [System.Security.AccessControl.InheritanceFlags]::ContainerInherit) -ne 0) -and
            (($flags -band [System.Security.AccessControl.InheritanceFlags]::ObjectInherit) -ne 0)
        $type = 'allow'
        if ($rule.AccessControlType -eq [System.Security.AccessControl.AccessControlType]::Deny) { $type = 'deny' }
        [void]$rows.Add([ordered]@{
            sid = $rule.IdentityReference.Value
            mask = (ConvertTo-UInt32Long ([long][int]$rule.FileSystemRights))
            type = $type
            inherit = [bool]$inherit
            inherited = [bool]$rule.IsInherited
        })
    }
    return ,$rows
}

function Invoke-OpAclGet {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $isDir = [System.IO.Directory]::Exists($path)
    if (-not $isDir -and -not [System.IO.File]::Exists($path)) {
        return [ordered]@{ exists = $false; owner = $null; protected = $false; aces = @() }
    }
    $sec = Get-FsSecurity $path $isDir
    $owner = $sec.GetOwner([System.Security.Principal.SecurityIdentifier])
    $ownerSid = $null
    if ($null -ne $owner) { $ownerSid = $owner.Value }
    return [ordered]@{
        exists = $true
        owner = $ownerSid
        protected = ([bool]$sec.AreAccessRulesProtected -or (Test-IsRootPath $path))
        aces = (Get-AceRows $sec)
    }
}

function Resolve-Sid {
    # An account name or SID string -> SecurityIdentifier, or $null when the host knows no such account.
    # A well-formed SID string is taken as it is (it need not map to an account).
    param([string]$Name)
    if ($Name -match '^[Ss]-1-\d+(-\d+)+$') {
        try {
            $sid = New-Object System.Security.Principal.SecurityIdentifier(('S' + $Name.Substring(1)))
        } catch {
            return $null
        }
        return $sid
    }
    $account = $Name
    if ($account.StartsWith('.\')) { $account = [System.Environment]::MachineName + $account.Substring(1) }
    try {
        $nt = New-Object System.Security.Principal.NTAccount($account)
        return $nt.Translate([System.Security.Principal.SecurityIdentifier])
    } catch [System.Security.Principal.IdentityNotMappedException] {
        return $null
    }
}

function Get-AceKey {
    param([string]$Sid, [long]$Mask, [string]$Type, [bool]$Inherit)
    return ($Sid.ToUpperInvariant() + '|' + $Mask + '|' + $Type + '|' + $Inherit)
}

function Invoke-OpAclSet {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $protected = Get-BoolArg $OpArgs 'protected' $false
    if (-not (Test-Arg $OpArgs 'aces')) { Stop-Op 'bad_args' "argument 'aces' is required (a list of {identity, mask, type, inherit})" }
    $rawAces = Get-ListArg $OpArgs 'aces' -Required
    $fields = @('identity', 'mask', 'type', 'inherit')
    $shapes = New-Object System.Collections.ArrayList
    for ($i = 0; $i -lt $rawAces.Count; $i++) {
        $raw = $rawAces[$i]
        $what = "argument 'aces[" + $i + "]"
        if (-not ($raw -is [System.Collections.IDictionary])) { Stop-Op 'bad_args' ($what + "' must be an object with " + ($fields -join ', ')) }
        foreach ($k in @($raw.PSBase.Keys)) {
            if ($fields -cnotcontains $k) { Stop-Op 'bad_args' ($what + "' has an unknown key '" + $k + "'; accepted: " + ($fields -join ', ')) }
        }
        $identity = $null; $mask = $null; $type = $null; $inherit = $null
        if ($raw.ContainsKey('identity')) { $identity = $raw['identity'] }
        if ($raw.ContainsKey('mask')) { $mask = $raw['mask'] }
        if ($raw.ContainsKey('type')) { $type = $raw['type'] }
        if ($raw.ContainsKey('inherit')) { $inherit = $raw['inherit'] }
        if (-not ($identity -is [string]) -or $identity.Length -eq 0) { Stop-Op 'bad_args' ($what + ".identity' is required (an account name or SID)") }
        $maskOk = ($mask -is [int] -or $mask -is [long]) -and -not ($mask -is [bool])
        if ($maskOk) { $maskOk = ([long]$mask -ge 1 -and [long]$mask -le 4294967295) }
        if (-not $maskOk) { Stop-Op 'bad_args' ($what + ".mask' must be an integer FileSystemRights mask from 1 to 4294967295") }
        if (-not ($type -is [string]) -or @('allow', 'deny') -cnotcontains $type) { Stop-Op 'bad_args' ($what + ".type' must be one of allow, deny") }
        if (-not ($inherit -is [bool])) { Stop-Op 'bad_args' ($what + ".inherit' must be true or false") }
        [void]$shapes.Add(@{ identity = $identity; mask = [long]$mask; type = $type; inherit = [bool]$inherit })
    }
    $isDir = [System.IO.Directory]::Exists($path)
    if (-not $isDir -and -not [System.IO.File]::Exists($path)) { Stop-Op 'not_found' ('acl.set: ' + $path + ' does not exist') }

    $want = New-Object System.Collections.Generic.List[string]
    $rules = New-Object System.Collections.ArrayList
    for ($i = 0; $i -lt $shapes.Count; $i++) {
        if ($shapes[$i].inherit -and -not $isDir) {
            Stop-Op 'bad_args' ("argument 'aces[" + $i + "].inherit' must be false on a file (only folders pass ACEs on)")
        }
    }
    for ($i = 0; $i -lt $shapes.Count; $i++) {
        $s = $shapes[$i]
        $sid = Resolve-Sid $s.identity
        if ($null -eq $sid) {
            Stop-Op 'identity_not_found' ('acl.set: aces[' + $i + "]: no account or group named '" + $s.identity + "' is known on this host")
        }
        $want.Add((Get-AceKey $sid.Value $s.mask $s.type $s.inherit))
        [void]$rules.Add(@{ sid = $sid; mask = $s.mask; type = $s.type; inherit = $s.inherit })
    }

    $current = Get-FsSecurity $path $isDir
    $have = New-Object System.Collections.Generic.List[string]
    foreach ($row in (Get-AceRows $current)) {
        if (-not $row.inherited) { $have.Add((Get-AceKey $row.sid $row.mask $row.type $row.inherit)) }
    }
    $want.Sort([System.StringComparer]::Ordinal)
    $have.Sort([System.StringComparer]::Ordinal)
    $same = ([bool]$current.AreAccessRulesProtected -eq $protected) -and ($want.Count -eq $have.Count)
    if ($same) {
        for ($i = 0; $i -lt $want.Count; $i++) { if ($want[$i] -cne $have[$i]) { $same = $false; break } }
    }
    if ($same) { return [ordered]@{ changed = $false } }

    # Start from the object's own descriptor and drop its explicit ACEs: a brand-new
    # DirectorySecurity without rules would carry .NET's placeholder 'Everyone: full control' DACL.
    # Only the Access section is marked modified, so the owner is written back untouched, and with
    # protection off Windows recomputes the inherited ACEs from the parent.
    $sec = $current
    foreach ($old in @($sec.GetAccessRules($true, $false, [System.Security.Principal.SecurityIdentifier]))) {
        [void]$sec.RemoveAccessRuleSpecific($old)
    }
    $sec.SetAccessRuleProtection($protected, $false)
    foreach ($r in $rules) {
        $inh = [System.Security.AccessControl.InheritanceFlags]::None
        if ($r.inherit) {
            $inh = [System.Security.AccessControl.InheritanceFlags]::ContainerInherit -bor [System.Security.AccessControl.InheritanceFlags]::ObjectInherit
        }
        $act = [System.Security.AccessControl.AccessControlType]::Allow
        if ($r.type -eq 'deny') { $act = [System.Security.AccessControl.AccessControlType]::Deny }
        # AccessRuleFactory keeps the mask exactly as given (the FileSystemAccessRule constructors
        # add or drop Synchronize and refuse generic rights).
        $rule = $sec.AccessRuleFactory($r.sid, (ConvertTo-Int32Bits $r.mask), $false, $inh,
            [System.Security.AccessControl.PropagationFlags]::None, $act)
        $sec.AddAccessRule($rule)
    }
    if ($isDir) { [System.IO.Directory]::SetAccessControl($path, $sec) }
    else { [System.IO.File]::SetAccessControl($path, $sec) }
    return [ordered]@{ changed = $true }
}

function Invoke-OpIdentityResolve {
    param($OpArgs)
    $names = Get-ListArg $OpArgs 'names' -Required -Strings
    foreach ($n in $names) {
        if ($n.Length -eq 0) { Stop-Op 'bad_args' "argument 'names' must not contain an empty name" }
    }
    $sids = New-Object 'System.Collections.Generic.Dictionary[string,object]' ([System.StringComparer]::Ordinal)
    foreach ($n in $names) {
        $sid = Resolve-Sid $n
        if ($null -eq $sid) { $sids[$n] = $null } else { $sids[$n] = $sid.Value }
    }
    return [ordered]@{ sids = $sids }
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
    if ($null -ne $cwd) { $psi.WorkingDirectory = $cwd }
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
            try { $proc.Kill() } catch { $null = $_ }
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
    return [ordered]@{ rc = $rc; stdout = $stdout; stderr = $stderr }
}

# OPS_END

# ---------------------------------------------------------------------------------------------
# Dispatch: op name -> fixed function name. A command name is never built from input.

# Each entry: the accepted argument names and a scriptblock literal calling one fixed function.
$OpTable = @{
    'host.facts' = @{ accepted = @('path'); run = { param($a) Invoke-OpHostFacts $a } }
    'registry.get' = @{ accepted = @('path', 'depth'); run = { param($a) Invoke-OpRegistryGet $a } }
    'registry.set' = @{ accepted = @('path', 'name', 'type', 'data'); run = { param($a) Invoke-OpRegistrySet $a } }
    'registry.remove' = @{ accepted = @('path', 'name'); run = { param($a) Invoke-OpRegistryRemove $a } }
    'file.stat' = @{ accepted = @('path', 'checksum', 'pe', 'read', 'expect'); run = { param($a) Invoke-OpFileStat $a } }
    'file.write' = @{ accepted = @('path', 'content', 'encoding'); run = { param($a) Invoke-OpFileWrite $a } }
    'dir.list' = @{ accepted = @('path'); run = { param($a) Invoke-OpDirList $a } }
    'dir.ensure' = @{ accepted = @('path'); run = { param($a) Invoke-OpDirEnsure $a } }
    'path.remove' = @{ accepted = @('path', 'recurse'); run = { param($a) Invoke-OpPathRemove $a } }
    'path.move' = @{ accepted = @('src', 'dest'); run = { param($a) Invoke-OpPathMove $a } }
    'file.download' = @{
        accepted = @('url', 'dest', 'sha256', 'username', 'password', 'validate_certs', 'timeout')
        run = { param($a) Invoke-OpFileDownload $a }
    }
    'zip.extract' = @{ accepted = @('src', 'dest'); run = { param($a) Invoke-OpZipExtract $a } }
    'junction.set' = @{ accepted = @('path', 'target'); run = { param($a) Invoke-OpJunctionSet $a } }
    'acl.get' = @{ accepted = @('path'); run = { param($a) Invoke-OpAclGet $a } }
    'acl.set' = @{ accepted = @('path', 'protected', 'aces'); run = { param($a) Invoke-OpAclSet $a } }
    'identity.resolve' = @{ accepted = @('names'); run = { param($a) Invoke-OpIdentityResolve $a } }
    'env.notify' = @{ accepted = @(); run = { param($a) Invoke-OpEnvNotify $a } }
    'go.run' = @{ accepted = @('exe', 'args', 'env', 'cwd', 'timeout', 'expect_rc', 'expect_stdout_prefix'); run = { param($a) Invoke-OpGoRun $a } }
}

function Invoke-AgentOp {
    param($Item, [int]$Index)
    $name = $null
    if ($Item -is [System.Collections.IDictionary] -and $Item.ContainsKey('op')) { $name = $Item['op'] }
    if (-not ($name -is [string])) { Stop-Op 'bad_args' ('op #' + $Index + " must be an object with a string 'op'") }
    if (@($OpTable.Keys) -cnotcontains $name) {
        $known = @($OpTable.Keys | Sort-Object) -join ', '
        Stop-Op 'unsupported' ("unknown op '" + $name + "'; this agent knows: " + $known)
    }
    $entry = $OpTable[$name]
    $opArgs = $null
    if ($Item.ContainsKey('args')) { $opArgs = $Item['args'] }
    if ($null -eq $opArgs) { $opArgs = New-Object 'System.Collections.Generic.Dictionary[string,object]' }
    if (-not ($opArgs -is [System.Collections.IDictionary])) { Stop-Op 'bad_args' ($name + ": 'args' must be an object") }
    $unknown = @($opArgs.PSBase.Keys | Where-Object { $entry.accepted -cnotcontains $_ } | Sort-Object)
    if ($unknown.Count -gt 0) {
        $acc = '(none)'
        if ($entry.accepted.Count -gt 0) { $acc = $entry.accepted -join ', ' }
        Stop-Op 'bad_args' ($name + ": unknown argument '" + $unknown[0] + "'; accepted: " + $acc)
    }
    return $entry.run.InvokeReturnAsIs($opArgs)
}

function Invoke-Agent {
    param([string]$Json)
    $results = New-Object System.Collections.ArrayList
    try {
        [void][System.Reflection.Assembly]::LoadWithPartialName('System.Web.Extensions')
        $ser = New-Object System.Web.Script.Serialization.JavaScriptSerializer
        $ser.MaxJsonLength = [int]::MaxValue
        $ser.RecursionLimit = 100
        $request = $ser.DeserializeObject($Json)
    } catch {
        [void]$results.Add([ordered]@{ ok = $false; error = [ordered]@{ kind = 'bad_args'; message = ('request is not valid JSON: ' + $_.Exception.Message) } })
        return ,$results
    }
    $ops = $null
    if ($request -is [System.Collections.IDictionary] -and $request.ContainsKey('ops')) { $ops = $request['ops'] }
    if ($null -eq $ops -or $ops -is [string] -or -not ($ops -is [System.Collections.IList])) {
        [void]$results.Add([ordered]@{ ok = $false; error = [ordered]@{ kind = 'bad_args'; message = "request has no 'ops' list" } })
        return ,$results
    }
    $index = -1
    foreach ($item in $ops) {
        $index++
        try {
            $data = Invoke-AgentOp $item $index
            [void]$results.Add([ordered]@{ ok = $true; data = $data })
        } catch {
            $err = Convert-ExceptionToError $_.Exception
            $message = [string]$err.message
            # A secret never appears in a result, even inside an exception text.
            if ($item -is [System.Collections.IDictionary] -and $item.ContainsKey('args') -and $item['args'] -is [System.Collections.IDictionary]) {
                $opArgs = $item['args']
                if ($opArgs.ContainsKey('password') -and $opArgs['password'] -is [string] -and $opArgs['password'].Length -gt 0) {
                    $message = $message.Replace([string]$opArgs['password'], '********')
                }
            }
            [void]$results.Add([ordered]@{ ok = $false; error = [ordered]@{ kind = $err.kind; message = $message } })
            break
        }
    }
    return ,$results
}

try {
    $agentResults = Invoke-Agent $RequestJson
    $doc = [ordered]@{ v = 1; agent = $AgentHash; results = $agentResults }
    $line = ConvertTo-AgentJson $doc
} catch {
    # Not an op failure but a fault of the agent itself: answer with one 'fatal' document.
    $fatal = [ordered]@{ kind = 'internal'; message = ('gowin agent: ' + [string]$_.Exception.Message) }
    $line = ConvertTo-AgentJson ([ordered]@{ v = 1; agent = $AgentHash; fatal = $fatal })
}
# The one JSON document is pipeline output (one string): the psrp connection runs this inside its
# runspace and reads only the pipeline; powershell.exe under winrm and ssh prints it to stdout.
$line
