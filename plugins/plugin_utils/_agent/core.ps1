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
    # -cnotmatch, never -notmatch: a case-insensitive match folds U+0130 (dotted capital I) and U+212A
    # (Kelvin sign) to 'i' and 'k', finds nothing to escape and lets them out raw, where the OEM code
    # page of the console mangles them. With the case-sensitive match every character outside printable
    # ASCII takes the loop below.
    if ($Text -cnotmatch '[^\x20-\x21\x23-\x5B\x5D-\x7E]') {
        # Nothing to escape (the common case): no per-character loop.
        [void]$Sb.Append($Text).Append('"')
        return
    }
    # A .NET string is UTF-16 code units: a surrogate pair becomes two \u escapes (as JSON writes it),
    # and a lone surrogate (a registry string can hold one) its own \udXXX escape, which is valid JSON
    # text that Python's json.loads reads back as that code unit. Nothing here decodes or re-encodes.
    foreach ($ch in $Text.ToCharArray()) {
        $code = [int]$ch
        if ($code -eq 0x22) { [void]$Sb.Append('\"') }
        elseif ($code -eq 0x5C) { [void]$Sb.Append('\\') }
        elseif ($code -lt 0x20 -or $code -gt 0x7E) { [void]$Sb.Append('\u').Append($code.ToString('x4', [System.Globalization.CultureInfo]::InvariantCulture)) }
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
# Helpers more than one op family uses.

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

$script:TwoTo32 = [long]4294967296

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

function ConvertTo-HexString {
    param([byte[]]$Bytes)
    if ($null -eq $Bytes) { return '' }
    $sb = New-Object System.Text.StringBuilder
    foreach ($b in $Bytes) { [void]$sb.Append($b.ToString('x2')) }
    return $sb.ToString()
}

function Get-HostArch {
    # The OS architecture (a 32-bit PowerShell on 64-bit Windows sees PROCESSOR_ARCHITEW6432).
    $archRaw = $env:PROCESSOR_ARCHITEW6432
    if ([string]::IsNullOrEmpty($archRaw)) { $archRaw = $env:PROCESSOR_ARCHITECTURE }
    $arch = ([string]$archRaw).ToLowerInvariant()
    if ($arch -eq 'x86') { $arch = '386' }
    return $arch
}

$script:BootTimeFormat = 'yyyy-MM-ddTHH:mm:ssZ'

function Get-BootTime {
    # Win32_OperatingSystem.LastBootUpTime in UTC to the second ($script:BootTimeFormat), or $null when it cannot be
    # read: a DateTime of kind Local from CIM, DMTF text from the WMI fallback. $Os: the instance the caller read
    # already (host.facts); without it, it is read here. Windows can move it by a few seconds when the clock is
    # synchronised, so readers allow for that (wdac.ps1, the controller's same_boot).
    param($Os)
    try {
        if ($null -eq $Os) {
            try { $Os = Get-CimInstance -ClassName 'Win32_OperatingSystem' -Property 'LastBootUpTime' -ErrorAction Stop -Verbose:$false }
            catch { $Os = Get-WmiObject -Class 'Win32_OperatingSystem' -ErrorAction Stop }
            if ($null -eq $Os) { return $null }
        }
        $boot = $Os.LastBootUpTime
        if ($null -eq $boot) { return $null }
        if ($boot -is [string]) { $boot = [System.Management.ManagementDateTimeConverter]::ToDateTime($boot) }
        return $boot.ToUniversalTime().ToString($script:BootTimeFormat, [System.Globalization.CultureInfo]::InvariantCulture)
    } catch { return $null }
}

function Test-IsRootPath {
    param([string]$Path)
    if ($Path -match '^[A-Za-z]:\\?$') { return $true }
    if ($Path.StartsWith('\\') -and $null -eq (Get-ParentPath $Path)) { return $true }
    return $false
}

function ConvertTo-UInt32Long {
    param([long]$Value)
    if ($Value -lt 0) { return $Value + $script:TwoTo32 }
    return $Value
}

# ---------------------------------------------------------------------------------------------
# Op families: each family file (assembled in below by the channel: only the families the request's
# ops name, see docs/agent-protocol.md) registers its table of ops here as it loads.

$script:OpTable = @{}

function Add-RequestSecrets {
    param($Value, $Found)
    if ($Value -is [System.Collections.IDictionary]) {
        foreach ($k in @($Value.Keys)) {
            $v = $Value[$k]
            if ($k -eq 'password' -and $v -is [string]) {
                if ($v.Length -gt 0) { $Found.Add($v) }
            } elseif ($k -eq 'secret_environment' -and $v -is [System.Collections.IDictionary]) {
                foreach ($x in @($v.Values)) { if ($x -is [string] -and $x.Length -gt 0) { $Found.Add($x) } }
            } else {
                Add-RequestSecrets $v $Found
            }
        }
    } elseif ($Value -is [System.Collections.IList]) {
        foreach ($x in $Value) { Add-RequestSecrets $x $Found }
    }
}

function Get-RequestSecrets {
    # Every secret of an op's arguments, at any depth: 'password' strings and the values of
    # 'secret_environment' mappings (deploy.update carries service.set's arguments in 'set').
    param($OpArgs)
    $found = New-Object System.Collections.Generic.List[string]
    Add-RequestSecrets $OpArgs $found
    return ,$found.ToArray()
}

function Hide-Secrets {
    param([string]$Text, $Secrets)
    foreach ($secret in $Secrets) { $Text = $Text.Replace([string]$secret, '********') }
    return $Text
}

function Register-AgentOps {
    # Entries: op name -> @{ accepted = names of its arguments; run = a scriptblock literal calling
    # one fixed function }. A command name is never built from input.
    param([hashtable]$Table)
    foreach ($name in @($Table.Keys)) { $script:OpTable[$name] = $Table[$name] }
}

# @FAMILIES@

# ---------------------------------------------------------------------------------------------
# Dispatch: op name -> the fixed function its family registered.

function Invoke-AgentOp {
    param($Item, [int]$Index)
    $name = $null
    if ($Item -is [System.Collections.IDictionary] -and $Item.ContainsKey('op')) { $name = $Item['op'] }
    if (-not ($name -is [string])) { Stop-Op 'bad_args' ('op #' + $Index + " must be an object with a string 'op'") }
    if (@($script:OpTable.Keys) -cnotcontains $name) {
        $known = @($script:OpTable.Keys | Sort-Object) -join ', '
        Stop-Op 'unsupported' ("unknown op '" + $name + "'; this agent knows: " + $known)
    }
    $entry = $script:OpTable[$name]
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
            if ($item -is [System.Collections.IDictionary] -and $item.ContainsKey('args')) {
                $message = Hide-Secrets $message (Get-RequestSecrets $item['args'])
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
