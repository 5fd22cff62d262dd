# gowin.server agent, op family 'wdac': Windows Defender Application Control (App Control for Business) policies,
# built on the host from one of Microsoft's example policies and deployed by this collection.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/wdac.py and its contract vectors tests/contract/vectors/wdac.yml.
# requires: fs, go
#
# What this collection deployed is recorded under HKLM\SOFTWARE\GoWin\Baseline\Wdac\<record>, REG_SZ values
# PolicyId (multiple format only), Mode, Example, Name, Sha256 (of the policy file deployed, lower-case hex), File (where
# it is) and Boot (activation restart only: the boot it was deployed in). Only REG_SZ values are read; a value of another
# type reads as absent (null).
#
# Windows behaviour relied on (each one held by a vector, on winsim where a vector would change the host):
# - Win32_DeviceGuard (namespace root\Microsoft\Windows\DeviceGuard) reports the code integrity policy in force:
#   CodeIntegrityPolicyEnforcementStatus (kernel mode) and UsermodeCodeIntegrityPolicyEnforcementStatus (user mode),
#   0 off, 1 audit mode, 2 enforced. A host without the class, or a property it does not have, reads as off
#   (each read is in its own try: StrictMode 2.0 throws on a property an object does not have).
# - Windows ships example policies as %windir%\schemas\CodeIntegrity\ExamplePolicies\<name>.xml (AllowAll,
#   AllowMicrosoft, DefaultWindows_Audit, DefaultWindows_Enforced, ...); the examples are the base names of the
#   *.xml files there (a folder that is missing lists none).
# - From Windows 10 1903 (build 18362; Windows Server 2022 is 20348) Windows takes several policies in the multiple
#   policy format: each one is %windir%\System32\CodeIntegrity\CiPolicies\Active\{PolicyID}.cip, the binary of an
#   XML whose PolicyID and BasePolicyID (a base policy: both the same) name it. Before (Windows Server 2016 = 14393,
#   2019 = 17763) there is one policy only, in the single policy format: %windir%\System32\CodeIntegrity\SIPolicy.p7b,
#   which Windows loads when it starts. A SIPolicy.p7b this collection did not write (its SHA-256 is not a record's
#   Sha256) belongs to someone else: it is never written over.
# - CiTool.exe (%windir%\System32; Windows 11 22H2 and Windows Server 2025, build 26100) loads a policy at once:
#   CiTool --update-policy <file> --json copies the file to CiPolicies\Active\{PolicyID}.cip itself and loads it; exit
#   code 0 when it did (and, where its output parses as JSON, OperationResult 0; Invoke-NativeTool joins stdout and
#   stderr, so output with anything on stderr is judged by the exit code alone). The agent gives it a copy in a folder of
#   its own under %TEMP% and never writes CiPolicies\Active itself on this activation, so a CiTool that refuses the
#   policy leaves the policy that was there as it was; after it, the .cip under Active must be the same bytes as the
#   copy (to check on a real host: CiTool copies an unsigned policy byte for byte).
# - Without CiTool a policy loads when the host starts (activation restart), on both formats. Microsoft documents the
#   CIM method PS_UpdateAndCompareCIPolicy.Update only for releases before 1903 and it copies the file it is given to
#   SIPolicy.p7b, so on Windows Server 2022 it could write over another tool's single policy and leave a copy no record
#   holds: the agent does not use it. RefreshPolicy.exe is a separate download, not part of Windows.
# - A policy deployed for the next start waits for it: the record's Boot value holds Win32_OperatingSystem's
#   LastBootUpTime (UTC, to the second) when it was deployed, and the record is pending while the host runs the same boot
#   (LastBootUpTime within 30 seconds: Windows can move it by a few seconds when it synchronises the clock).
# - The ConfigCI module (Windows Server 2016 and later) builds the binary: Set-CIPolicyIdInfo -FilePath x -PolicyName n
#   names the policy; Set-RuleOption -FilePath x -Option 3 sets rule option 3, "Enabled:Audit Mode" (-Delete removes
#   it: enforced); ConvertFrom-CIPolicy -XmlFilePath x -BinaryFilePath y writes the binary. The ids are written into
#   the XML here, not with Set-CIPolicyIdInfo -ResetPolicyID, which ConfigCI of 2016 and 2019 does not have.
# - A 32-bit PowerShell on 64-bit Windows sees SysWOW64 under the name System32 (WOW64 file system redirection):
#   wdac.get and wdac.set refuse to run there (unsupported) rather than read or deploy policies Windows never reads.
# - On the single format (no PolicyID in the policy) a record holds no PolicyId value (policy_id null).
# - Paths are compared case-insensitively, as Windows compares them: a record's File may hold system32 in lower case
#   ([Environment]::SystemDirectory spells it so), and a policy file is hashed only when File is exactly one of the
#   two places above (a GUID-named .cip under CiPolicies\Active, or SIPolicy.p7b), never any other path a record holds.
# - HKLM\SOFTWARE is writable by Administrators and SYSTEM only (the default ACL of the hive).

Register-AgentOps @{
    'wdac.get' = @{ accepted = @(); run = { param($a) Invoke-OpWdacGet $a } }
    'wdac.set' = @{ accepted = @('record', 'example', 'mode', 'name'); run = { param($a) Invoke-OpWdacSet $a } }
}

$script:WdacKey = 'SOFTWARE\GoWin\Baseline\Wdac'
$script:WdacRecordPattern = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z'
$script:WdacExamplePattern = '^[A-Za-z0-9][A-Za-z0-9_]{0,63}\z'
$script:WdacNamePattern = '^[A-Za-z0-9 ._-]{1,64}\z'
$script:WdacGuidPattern = '^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}\z'
$script:WdacValues = [ordered]@{ policy_id = 'PolicyId'; mode = 'Mode'; example = 'Example'; name = 'Name'; sha256 = 'Sha256'; file = 'File'; boot = 'Boot' }
$script:WdacBootSlackS = 30
$script:WdacStatus = @{ 0 = 'off'; 1 = 'audit'; 2 = 'enforced' }
$script:SiPolicyNamespace = 'urn:schemas-microsoft-com:sipolicy'

function Get-WdacPaths {
    # The folders and files Windows reads policies from, and where the examples are.
    $windir = [System.Environment]::GetFolderPath('Windows')
    $ci = $windir + '\System32\CodeIntegrity'
    return @{
        examples = $windir + '\schemas\CodeIntegrity\ExamplePolicies'
        active = $ci + '\CiPolicies\Active'
        single = $ci + '\SIPolicy.p7b'
        citool = [System.IO.Path]::Combine([System.Environment]::SystemDirectory, 'CiTool.exe')
    }
}

function Get-WdacFormat {
    $build = 0
    $text = [string](Get-RegistryData 'LocalMachine' 'SOFTWARE\Microsoft\Windows NT\CurrentVersion' 'CurrentBuild')
    if (-not [int]::TryParse($text, [ref]$build)) { $build = [System.Environment]::OSVersion.Version.Build }
    if ($build -ge 18362) { return 'multiple' }
    return 'single'
}

function Get-WdacActivation {
    param([string]$Format, $Paths)
    if ([System.IO.File]::Exists($Paths.citool)) { return 'citool' }
    return 'restart'
}

function Assert-WdacNativeProcess {
    param([string]$Op)
    if ([System.Environment]::Is64BitOperatingSystem -and -not [System.Environment]::Is64BitProcess) {
        Stop-Op 'unsupported' ($Op + ' runs in a 32-bit PowerShell on 64-bit Windows, where System32 is redirected to SysWOW64: use the 64-bit PowerShell')
    }
}

function Test-WdacSameBoot {
    # True when two boot time texts name one boot (within the slack); false when either is missing or not a time.
    param([string]$A, [string]$B)
    $styles = [System.Globalization.DateTimeStyles]::AssumeUniversal -bor [System.Globalization.DateTimeStyles]::AdjustToUniversal
    $x = [datetime]::MinValue
    $y = [datetime]::MinValue
    $culture = [System.Globalization.CultureInfo]::InvariantCulture
    if (-not [datetime]::TryParseExact($A, $script:BootTimeFormat, $culture, $styles, [ref]$x)) { return $false }
    if (-not [datetime]::TryParseExact($B, $script:BootTimeFormat, $culture, $styles, [ref]$y)) { return $false }
    return ([math]::Abs(($x - $y).TotalSeconds) -le $script:WdacBootSlackS)
}

function Test-WdacPending {
    # A record deployed for the next start that the host has not restarted since.
    param($Record, [string]$Activation, $BootTime)
    if ($Activation -ne 'restart' -or $null -eq $BootTime -or $null -eq $Record['boot']) { return $false }
    return (Test-WdacSameBoot ([string]$Record['boot']) ([string]$BootTime))
}

function Get-WdacStatusOf {
    # off | audit | enforced from one Win32_DeviceGuard property (off when it cannot be read).
    param($Instance, [string]$Property)
    $n = -1
    try {
        $p = $Instance.PSObject.Properties[$Property]
        if ($null -ne $p -and $null -ne $p.Value) { $n = [int]$p.Value }
    } catch { $n = -1 }
    if ($script:WdacStatus.ContainsKey($n)) { return $script:WdacStatus[$n] }
    return 'off'
}

function Get-WdacEnforcement {
    $dg = $null
    try {
        $dg = @(Get-CimInstance -Namespace 'root\Microsoft\Windows\DeviceGuard' -ClassName 'Win32_DeviceGuard' -ErrorAction Stop -Verbose:$false)
    } catch { $dg = $null }
    $found = @{ kernel = 'off'; user = 'off' }
    if ($null -ne $dg -and $dg.Count -gt 0 -and $null -ne $dg[0]) {
        $found.kernel = Get-WdacStatusOf $dg[0] 'CodeIntegrityPolicyEnforcementStatus'
        $found.user = Get-WdacStatusOf $dg[0] 'UsermodeCodeIntegrityPolicyEnforcementStatus'
    }
    return $found
}

function Get-WdacExamples {
    param($Paths)
    $names = New-Object System.Collections.ArrayList
    if ([System.IO.Directory]::Exists($Paths.examples)) {
        foreach ($f in [System.IO.Directory]::GetFiles($Paths.examples, '*.xml')) {
            # '*.xml' also matches '*.xmlx' (a three-letter extension pattern): the name must end so.
            if ($f.EndsWith('.xml', [System.StringComparison]::OrdinalIgnoreCase)) {
                [void]$names.Add([System.IO.Path]::GetFileNameWithoutExtension($f))
            }
        }
    }
    $sorted = [string[]]$names.ToArray([string])
    [System.Array]::Sort($sorted, [System.StringComparer]::Ordinal)
    return ,$sorted
}

function Test-WdacPolicyFile {
    # True when Path is one of the places Windows reads a policy from: a {GUID}.cip under CiPolicies\Active or SIPolicy.p7b.
    param([string]$Path, $Paths)
    if ([string]::IsNullOrEmpty($Path)) { return $false }
    if ([string]::Equals($Path, $Paths.single, [System.StringComparison]::OrdinalIgnoreCase)) { return $true }
    $prefix = $Paths.active + '\'
    if (-not $Path.StartsWith($prefix, [System.StringComparison]::OrdinalIgnoreCase)) { return $false }
    $leaf = $Path.Substring($prefix.Length)
    if (-not $leaf.EndsWith('.cip', [System.StringComparison]::OrdinalIgnoreCase)) { return $false }
    return ($leaf.Substring(0, $leaf.Length - 4) -match $script:WdacGuidPattern)
}

function Get-WdacFileSha256 {
    # SHA-256 of a policy file now, or $null (missing, or not a place a policy is read from).
    param([string]$Path, $Paths)
    if (-not (Test-WdacPolicyFile $Path $Paths)) { return $null }
    if (-not [System.IO.File]::Exists($Path)) { return $null }
    return (Get-FileSha256 $Path)
}

function Read-WdacRecord {
    # One record's values ($null for a value that is missing or not REG_SZ), from an open key.
    param([Microsoft.Win32.RegistryKey]$Key)
    $found = [ordered]@{}
    $names = @($Key.GetValueNames())
    foreach ($field in @($script:WdacValues.PSBase.Keys)) {
        $value = $script:WdacValues[$field]
        $found[$field] = $null
        if ($names -contains $value -and $Key.GetValueKind($value) -eq [Microsoft.Win32.RegistryValueKind]::String) {
            $found[$field] = [string]$Key.GetValue($value, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
        }
    }
    if ($null -ne $found['sha256']) { $found['sha256'] = ([string]$found['sha256']).ToLowerInvariant() }
    return $found
}

function Get-WdacRecords {
    # record name -> its values, in ordinal order of the names (registry key names: compared ignoring case).
    $records = [ordered]@{}
    $base = Open-BaseKey 'LocalMachine'
    try {
        $key = $base.OpenSubKey($script:WdacKey, $false)
        if ($null -eq $key) { return $records }
        try {
            $names = [string[]]@($key.GetSubKeyNames())
            [System.Array]::Sort($names, [System.StringComparer]::Ordinal)
            foreach ($n in $names) {
                $sub = $key.OpenSubKey($n, $false)
                if ($null -eq $sub) { continue }
                try { $records[$n] = Read-WdacRecord $sub } finally { $sub.Close() }
            }
        } finally { $key.Close() }
    } finally { $base.Close() }
    return $records
}

function Write-WdacRecord {
    param([string]$Record, $Values)
    $base = Open-BaseKey 'LocalMachine'
    try {
        $key = $base.CreateSubKey($script:WdacKey + '\' + $Record)
        try {
            foreach ($k in @($Values.PSBase.Keys)) {
                if ($null -eq $Values[$k]) { $key.DeleteValue($k, $false) }
                else { $key.SetValue($k, [string]$Values[$k], [Microsoft.Win32.RegistryValueKind]::String) }
            }
        } finally { $key.Close() }
    } finally { $base.Close() }
}

function Invoke-OpWdacGet {
    param($OpArgs)
    Assert-WdacNativeProcess 'wdac.get'
    $paths = Get-WdacPaths
    $format = Get-WdacFormat
    $activation = Get-WdacActivation $format $paths
    $status = Get-WdacEnforcement
    $bootTime = Get-BootTime
    $records = [ordered]@{}
    $stored = Get-WdacRecords
    foreach ($n in @($stored.PSBase.Keys)) {
        $rec = $stored[$n]
        $rec['file_sha256'] = Get-WdacFileSha256 ([string]$rec['file']) $paths
        $rec['pending'] = (Test-WdacPending $rec $activation $bootTime)
        $records[$n] = $rec
    }
    return [ordered]@{
        format = $format
        activation = $activation
        kernel = $status.kernel
        user = $status.user
        examples = (Get-WdacExamples $paths)
        records = $records
    }
}

function Get-WdacSetArgs {
    param($OpArgs)
    $record = Get-StringArg $OpArgs 'record' -Required
    if ($record -cnotmatch $script:WdacRecordPattern) {
        Stop-Op 'bad_args' "argument 'record' must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    }
    $example = Get-StringArg $OpArgs 'example' -Required
    if ($example -cnotmatch $script:WdacExamplePattern) {
        Stop-Op 'bad_args' "argument 'example' must be the name of an example policy: 1 to 64 letters, digits or '_', starting with a letter or digit"
    }
    $mode = Get-StringArg $OpArgs 'mode' -Required
    if (@('audit', 'enforced') -cnotcontains $mode) { Stop-Op 'bad_args' "argument 'mode' must be one of audit, enforced" }
    $name = Get-StringArg $OpArgs 'name' -Required
    if ($name -cnotmatch $script:WdacNamePattern) {
        Stop-Op 'bad_args' "argument 'name' must be 1 to 64 letters, digits, spaces, '.', '_' or '-'"
    }
    return @{ record = $record; example = $example; mode = $mode; name = $name }
}

function Find-WdacRecord {
    param($Records, [string]$Record)
    foreach ($n in @($Records.PSBase.Keys)) {
        if ([string]::Equals($n, $Record, [System.StringComparison]::OrdinalIgnoreCase)) { return $Records[$n] }
    }
    return $null
}

function New-WdacPolicyBinary {
    # Build the binary policy in Dir from the example: ids (multiple format), name, rule option 3; returns its path.
    param([string]$Dir, [string]$ExampleFile, [string]$PolicyId, [string]$Format, [string]$Mode, [string]$Name)
    foreach ($cmd in @('Set-CIPolicyIdInfo', 'Set-RuleOption', 'ConvertFrom-CIPolicy')) {
        if ($null -eq (Get-Command -Name $cmd -CommandType Cmdlet -ErrorAction SilentlyContinue)) {
            Stop-Op 'unsupported' ('the ConfigCI module (' + $cmd + ') is not on this host: a WDAC policy cannot be built here')
        }
    }
    $xml = [System.IO.Path]::Combine($Dir, 'policy.xml')
    $bin = [System.IO.Path]::Combine($Dir, 'policy.bin')
    [System.IO.File]::Copy($ExampleFile, $xml, $true)
    [System.IO.File]::SetAttributes($xml, [System.IO.FileAttributes]::Normal)
    if ($Format -eq 'multiple') {
        $doc = New-Object System.Xml.XmlDocument
        $doc.XmlResolver = $null
        $doc.Load($xml)
        $ns = New-Object System.Xml.XmlNamespaceManager($doc.NameTable)
        $ns.AddNamespace('si', $script:SiPolicyNamespace)
        foreach ($element in @('PolicyID', 'BasePolicyID')) {
            $node = $doc.SelectSingleNode('/si:SiPolicy/si:' + $element, $ns)
            if ($null -eq $node) {
                Stop-Op 'unsupported' ('the example policy has no ' + $element + ' (a single-format policy): this host takes multiple-format policies')
            }
            $node.InnerText = $PolicyId
        }
        $doc.Save($xml)
    }
    $null = Set-CIPolicyIdInfo -FilePath $xml -PolicyName $Name -ErrorAction Stop
    if ($Mode -eq 'audit') {
        $null = Set-RuleOption -FilePath $xml -Option 3 -ErrorAction Stop
    } else {
        $null = Set-RuleOption -FilePath $xml -Option 3 -Delete -ErrorAction Stop
    }
    $null = ConvertFrom-CIPolicy -XmlFilePath $xml -BinaryFilePath $bin -ErrorAction Stop
    if (-not [System.IO.File]::Exists($bin)) { Stop-Op 'internal' 'ConvertFrom-CIPolicy wrote no binary policy' }
    return $bin
}

function Invoke-WdacCiTool {
    # CiTool --update-policy of the staged file: it copies the policy to CiPolicies\Active and loads it.
    param([string]$Staged)
    $r = Invoke-NativeTool 'CiTool.exe' @('--update-policy', $Staged, '--json')
    if ($r.rc -ne 0) { Stop-Op 'exec_failed' ('CiTool --update-policy failed (' + $r.rc + '): ' + $r.output) }
    $parsed = $null
    try { $parsed = ConvertFrom-Json -InputObject ([string]$r.output) -ErrorAction Stop } catch { $parsed = $null }
    if ($null -ne $parsed -and -not ($parsed -is [string]) -and -not ($parsed -is [System.ValueType])) {
        $p = $parsed.PSObject.Properties['OperationResult']
        if ($null -ne $p -and $null -ne $p.Value -and [string]$p.Value -ne '0') {
            Stop-Op 'exec_failed' ('CiTool --update-policy reported OperationResult ' + [string]$p.Value + ': ' + $r.output)
        }
    }
}

function Invoke-OpWdacSet {
    param($OpArgs)
    $want = Get-WdacSetArgs $OpArgs
    Assert-WdacNativeProcess 'wdac.set'
    $paths = Get-WdacPaths
    $exampleFile = $paths.examples + '\' + $want.example + '.xml'
    if (-not [System.IO.File]::Exists($exampleFile)) {
        Stop-Op 'not_found' ("example policy '" + $want.example + "' is not on this host (" + $paths.examples + ')')
    }
    $format = Get-WdacFormat
    $activation = Get-WdacActivation $format $paths
    $bootTime = Get-BootTime
    if ($activation -eq 'restart' -and $null -eq $bootTime) {
        # Without the boot a deployment for the restart could not be told pending afterwards.
        Stop-Op 'unsupported' 'the boot time of this host (Win32_OperatingSystem.LastBootUpTime) cannot be read: a policy that loads at the next restart cannot be tracked'
    }
    $records = Get-WdacRecords
    $rec = Find-WdacRecord $records $want.record
    $recSha = $null
    if ($null -ne $rec) {
        $recSha = $rec['sha256']
        $fileSha = Get-WdacFileSha256 ([string]$rec['file']) $paths
        $same = ($rec['example'] -ceq $want.example -and $rec['mode'] -ceq $want.mode -and $rec['name'] -ceq $want.name)
        if ($same -and $null -ne $fileSha -and -not [string]::IsNullOrEmpty($recSha) -and $fileSha -eq $recSha) {
            $pending = Test-WdacPending $rec $activation $bootTime
            return [ordered]@{ changed = $false; restart_needed = [bool]$pending; policy_id = $rec['policy_id']; sha256 = $recSha; file = $rec['file']; activation = $activation }
        }
    }
    $policyId = $null
    if ($format -eq 'multiple') {
        if ($null -ne $rec -and $null -ne $rec['policy_id'] -and ([string]$rec['policy_id']) -match $script:WdacGuidPattern) { $policyId = ([string]$rec['policy_id']).ToUpperInvariant() }
        if ($null -eq $policyId) { $policyId = '{' + [guid]::NewGuid().ToString().ToUpper() + '}' }
        $target = $paths.active + '\' + $policyId + '.cip'
    } else {
        $target = $paths.single
        if ([System.IO.File]::Exists($target)) {
            $there = Get-FileSha256 $target
            if ([string]::IsNullOrEmpty($recSha) -or $there -ne $recSha) {
                foreach ($n in @($records.PSBase.Keys)) {
                    if ($records[$n]['sha256'] -eq $there -and -not [string]::Equals($n, $want.record, [System.StringComparison]::OrdinalIgnoreCase)) {
                        Stop-Op 'conflict' ('the WDAC policy at ' + $target + " is the policy of record '" + $n + "': this release takes one policy only; it is left as it is")
                    }
                }
                Stop-Op 'conflict' ('a WDAC policy this collection did not deploy is at ' + $target + '; it is left as it is')
            }
        }
    }
    $dir = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), 'gowin-' + [System.Guid]::NewGuid().ToString('N'))
    [void][System.IO.Directory]::CreateDirectory($dir)
    try {
        $bin = New-WdacPolicyBinary $dir $exampleFile $policyId $format $want.mode $want.name
        if ($activation -eq 'citool') {
            # CiTool puts the policy under CiPolicies\Active itself: it gets a copy named as Windows names it.
            $staged = [System.IO.Path]::Combine($dir, $policyId + '.cip')
            [System.IO.File]::Copy($bin, $staged, $true)
            Invoke-WdacCiTool $staged
            # CiTool copies the file as it is: what is under Active must be this policy, not one left from before
            # (its hash, read once, is also the record's).
            $sha = $null
            if ([System.IO.File]::Exists($target)) { $sha = Get-FileSha256 $target }
            if ($null -eq $sha -or $sha -ne (Get-FileSha256 $staged)) {
                Stop-Op 'exec_failed' ('CiTool --update-policy reported success but the policy at ' + $target + ' is not the one given to it')
            }
        } else {
            [void][System.IO.Directory]::CreateDirectory([System.IO.Path]::GetDirectoryName($target))
            if ([System.IO.File]::Exists($target)) { [System.IO.File]::SetAttributes($target, [System.IO.FileAttributes]::Normal) }
            [System.IO.File]::Copy($bin, $target, $true)
            [System.IO.File]::SetAttributes($target, [System.IO.FileAttributes]::Normal)
            $sha = Get-FileSha256 $target
        }
    } finally {
        try { [System.IO.Directory]::Delete($dir, $true) } catch { $null = $_ }
    }
    $boot = $null
    if ($activation -eq 'restart') { $boot = $bootTime }
    Write-WdacRecord $want.record ([ordered]@{ PolicyId = $policyId; Mode = $want.mode; Example = $want.example; Name = $want.name; Sha256 = $sha; File = $target; Boot = $boot })
    return [ordered]@{ changed = $true; restart_needed = ($activation -eq 'restart'); policy_id = $policyId; sha256 = $sha; file = $target; activation = $activation }
}
