# gowin.server agent, op family 'acl': file system ACLs and account names.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/acl.py and its contract vectors tests/contract/vectors/acl.yml.
# requires: (none)

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'acl.get' = @{ accepted = @('path'); run = { param($a) Invoke-OpAclGet $a } }
    'acl.set' = @{ accepted = @('path', 'protected', 'aces'); run = { param($a) Invoke-OpAclSet $a } }
    'identity.resolve' = @{ accepted = @('names'); run = { param($a) Invoke-OpIdentityResolve $a } }
}

# ---- ACLs and identities --------------------------------------------------------------------


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
