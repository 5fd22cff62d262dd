# gowin.server agent, op family 'registry': the registry (HKLM and HKU; HKCU is the connection account's HKU\<sid>).
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/registry.py and its contract vectors tests/contract/vectors/registry.yml.
# requires: (none)

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'registry.get' = @{ accepted = @('path', 'depth'); run = { param($a) Invoke-OpRegistryGet $a } }
    'registry.set' = @{ accepted = @('path', 'name', 'type', 'data', 'expect'); run = { param($a) Invoke-OpRegistrySet $a } }
    'registry.remove' = @{ accepted = @('path', 'name', 'expect'); run = { param($a) Invoke-OpRegistryRemove $a } }
}

$script:TwoTo64 = [decimal]::Parse('18446744073709551616', [System.Globalization.CultureInfo]::InvariantCulture)
$script:MaxQword = [decimal]::Parse('18446744073709551615', [System.Globalization.CultureInfo]::InvariantCulture)
$script:RegTypes = @('REG_SZ', 'REG_EXPAND_SZ', 'REG_DWORD', 'REG_QWORD', 'REG_MULTI_SZ', 'REG_BINARY')


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

function Get-RegExpect {
    # The value a write expects to find (read earlier by the same run): $null when not given,
    # @{ exists = $false } or @{ exists = $true; type; json }.
    param($OpArgs)
    $expect = Get-MapArg $OpArgs 'expect'
    if ($null -eq $expect) { return $null }
    $help = "argument 'expect' must be {exists: false} or {type: T, data: D} (the value as read before)"
    $keys = @($expect.PSBase.Keys)
    if ($expect.ContainsKey('exists')) {
        if ($keys.Count -ne 1 -or -not ($expect['exists'] -is [bool]) -or $expect['exists']) { Stop-Op 'bad_args' $help }
        return @{ exists = $false }
    }
    if ($keys.Count -ne 2 -or -not $expect.ContainsKey('type') -or -not $expect.ContainsKey('data')) { Stop-Op 'bad_args' $help }
    $etype = $expect['type']
    if (-not ($etype -is [string]) -or ($script:RegTypes -cnotcontains $etype -and $etype -cne 'REG_NONE')) { Stop-Op 'bad_args' $help }
    $json = $expect['data']
    if ($script:RegTypes -ccontains $etype) { $json = (ConvertTo-RegData $etype $expect['data']).json }
    return @{ exists = $true; type = $etype; json = $json }
}

function Assert-RegExpect {
    # A write refused because the value changed since the run read it ('conflict'); the value
    # itself is not shown (it may be a secret, such as a GOPROXY password).
    param($Expect, $Before, [string]$What)
    if ($null -eq $Expect) { return }
    $ok = $false
    if (-not $Expect.exists) { $ok = ($null -eq $Before) }
    elseif ($null -ne $Before) { $ok = (Test-RegValueEqual $Before $Expect.type $Expect.json) }
    if (-not $ok) { Stop-Op 'conflict' ($What + ' changed since it was read (another run or program wrote it); read it again') }
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
    $expect = Get-RegExpect $OpArgs
    $base = Open-BaseKey $path.hive
    try {
        $what = 'registry.set: ' + $path.name + '\' + $path.sub + ' value ' + "'" + $name + "'"
        $key = $base
        if ($path.sub.Length -gt 0) {
            # A key that is not there yet is created only once the expectation (if any) holds.
            $key = $base.OpenSubKey($path.sub, $true)
            if ($null -eq $key) {
                Assert-RegExpect $expect $null $what
                $key = $base.CreateSubKey($path.sub)
            }
        }
        try {
            $before = $null
            if (@($key.GetValueNames()) -contains $name) {
                $before = Read-RegistryValue $key $name
            }
            Assert-RegExpect $expect $before $what
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
    $expect = Get-RegExpect $OpArgs
    if ($null -ne $expect -and $null -eq $name) {
        Stop-Op 'bad_args' "argument 'expect' applies to a value: give 'name' too (a key is removed with what it holds)"
    }
    $what = 'registry.remove: ' + $path.name + '\' + $path.sub + ' value ' + "'" + $name + "'"
    $base = Open-BaseKey $path.hive
    try {
        if ($null -ne $name) {
            $key = $base
            if ($path.sub.Length -gt 0) { $key = $base.OpenSubKey($path.sub, $true) }
            if ($null -eq $key) { Assert-RegExpect $expect $null $what; return [ordered]@{ changed = $false } }
            try {
                $present = @($key.GetValueNames()) -contains $name
                $before = $null
                if ($present) { $before = Read-RegistryValue $key $name }
                Assert-RegExpect $expect $before $what
                if (-not $present) { return [ordered]@{ changed = $false } }
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
