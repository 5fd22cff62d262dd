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

function Get-AceFlagBit {
    # An ACE flag by its SDDL name -> its System.Security.AccessControl.AceFlags bit: ObjectInherit 0x01,
    # ContainerInherit 0x02, NoPropagateInherit 0x04, InheritOnly 0x08 (Inherited 0x10 is 'inherited').
    param([string]$Name)
    if ($Name -ceq 'OI') { return 1 }
    if ($Name -ceq 'CI') { return 2 }
    if ($Name -ceq 'NP') { return 4 }
    if ($Name -ceq 'IO') { return 8 }
    return 0
}

function Get-AceFlagList {
    # AceFlags bits -> the protocol's flag names, in the order OI, CI, NP, IO.
    param([int]$Bits)
    $list = New-Object System.Collections.ArrayList
    foreach ($n in @('OI', 'CI', 'NP', 'IO')) {
        if (($Bits -band (Get-AceFlagBit $n)) -ne 0) { [void]$list.Add($n) }
    }
    return ,$list
}

function Get-AceRows {
    # The DACL ACE by ACE, with every flag, read from the descriptor's binary form (RawSecurityDescriptor):
    # GetAccessRules would show a callback (conditional) ACE as a plain allow. Documented .NET behaviour this
    # relies on (the same in 4.6.2 and 4.8): FileSystemSecurity holds the DACL in a CommonAcl, which drops
    # meaningless ACEs and flags (mask 0; on a file inheritance flags and inherit-only ACEs) and, for a
    # canonical DACL only, sorts the explicit ACEs (deny before allow, then by SID) and merges ACEs that are
    # one in effect (one SID and type, same flags or same mask). A non-canonical DACL is kept as stored, and
    # reading it does not throw (only modifying a non-canonical CommonAcl does).
    param($Security)
    $rows = New-Object System.Collections.ArrayList
    $bytes = $Security.GetSecurityDescriptorBinaryForm()
    $raw = New-Object System.Security.AccessControl.RawSecurityDescriptor -ArgumentList $bytes, 0
    $dacl = $raw.DiscretionaryAcl
    if ($null -eq $dacl) { return ,$rows }
    foreach ($ace in $dacl) {
        $bits = [int]$ace.AceFlags
        $sid = $null
        $mask = [long]0
        $type = 'other'
        if ($ace -is [System.Security.AccessControl.KnownAce]) {
            $sid = $ace.SecurityIdentifier.Value
            $mask = ConvertTo-UInt32Long ([long]$ace.AccessMask)
        }
        if ($ace -is [System.Security.AccessControl.CommonAce] -and -not $ace.IsCallback) {
            if ($ace.AceQualifier -eq [System.Security.AccessControl.AceQualifier]::AccessAllowed) { $type = 'allow' }
            elseif ($ace.AceQualifier -eq [System.Security.AccessControl.AceQualifier]::AccessDenied) { $type = 'deny' }
        }
        [void]$rows.Add([ordered]@{
            sid = $sid
            mask = $mask
            type = $type
            inherit = (($bits -band 15) -eq 3)
            flags = (Get-AceFlagList $bits)
            inherited = (($bits -band 16) -ne 0)
        })
    }
    return ,$rows
}

function Invoke-OpAclGet {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $isDir = [System.IO.Directory]::Exists($path)
    if (-not $isDir -and -not [System.IO.File]::Exists($path)) {
        return [ordered]@{ exists = $false; owner = $null; protected = $false; canonical = $true; aces = @() }
    }
    $sec = Get-FsSecurity $path $isDir
    $owner = $sec.GetOwner([System.Security.Principal.SecurityIdentifier])
    $ownerSid = $null
    if ($null -ne $owner) { $ownerSid = $owner.Value }
    return [ordered]@{
        exists = $true
        owner = $ownerSid
        protected = ([bool]$sec.AreAccessRulesProtected -or (Test-IsRootPath $path))
        canonical = [bool]$sec.AreAccessRulesCanonical
        aces = (Get-AceRows $sec)
    }
}

function Resolve-Sid {
    # An account name or SID string -> SecurityIdentifier, or $null when the host knows no such account.
    # A well-formed SID string is taken as it is (it need not map to an account). Documented behaviour
    # relied on: NTAccount.Translate throws IdentityNotMappedException when no account has the name; when
    # the lookup itself fails (LsaLookupNames2) it throws another exception: SystemException with the
    # Win32 text (1789 'The trust relationship between the primary domain and the trusted domain failed',
    # 1788, an unreachable domain controller), UnauthorizedAccessException, ... Those say nothing about
    # whether the account exists: identity_lookup_failed, with $What (the op and ACE) in front.
    param([string]$Name, [string]$What)
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
        # ArgumentException for a name longer than any account name can be: no such account
        $nt = New-Object System.Security.Principal.NTAccount($account)
    } catch {
        return $null
    }
    try {
        return $nt.Translate([System.Security.Principal.SecurityIdentifier])
    } catch [System.Security.Principal.IdentityNotMappedException] {
        return $null
    } catch {
        $ex = $_.Exception
        while ($ex -is [System.Management.Automation.RuntimeException] -and $null -ne $ex.InnerException) { $ex = $ex.InnerException }
        $why = [string]$ex.Message
        if ([string]::IsNullOrEmpty($why)) { $why = $ex.GetType().FullName }
        Stop-Op 'identity_lookup_failed' ($What + "looking up '" + $Name + "' failed: " + $why)
    }
}

function Get-AceShape {
    # One ACE argument -> @{ identity; mask; type; flags (AceFlags bits); key (the argument the flags came from) }.
    param($Raw, [int]$Index)
    $fields = @('identity', 'mask', 'type', 'inherit', 'flags')
    $what = "argument 'aces[" + $Index + "]"
    if (-not ($Raw -is [System.Collections.IDictionary])) { Stop-Op 'bad_args' ($what + "' must be an object with identity, mask, type and inherit or flags") }
    foreach ($k in @($Raw.PSBase.Keys)) {
        if ($fields -cnotcontains $k) { Stop-Op 'bad_args' ($what + "' has an unknown key '" + $k + "'; accepted: " + ($fields -join ', ')) }
    }
    $v = @{}
    foreach ($f in $fields) { $v[$f] = $null; if ($Raw.ContainsKey($f)) { $v[$f] = $Raw[$f] } }
    $identity = $v['identity']
    $mask = $v['mask']
    if (-not ($identity -is [string]) -or $identity.Length -eq 0) { Stop-Op 'bad_args' ($what + ".identity' is required (an account name or SID)") }
    $maskOk = ($mask -is [int] -or $mask -is [long]) -and -not ($mask -is [bool])
    if ($maskOk) { $maskOk = ([long]$mask -ge 1 -and [long]$mask -le 4294967295) }
    if (-not $maskOk) { Stop-Op 'bad_args' ($what + ".mask' must be an integer FileSystemRights mask from 1 to 4294967295") }
    if (-not ($v['type'] -is [string]) -or @('allow', 'deny') -cnotcontains $v['type']) { Stop-Op 'bad_args' ($what + ".type' must be one of allow, deny") }
    if ($null -ne $v['inherit'] -and $null -ne $v['flags']) { Stop-Op 'bad_args' ($what + "' takes inherit or flags, not both") }
    $bits = 0
    $key = 'flags'
    if ($null -eq $v['flags']) {
        $key = 'inherit'
        if (-not ($v['inherit'] -is [bool])) { Stop-Op 'bad_args' ($what + ".inherit' must be true or false (or give flags)") }
        if ($v['inherit']) { $bits = 3 }
    } else {
        $list = $v['flags']
        $flagsOk = ($list -is [System.Collections.IList]) -and -not ($list -is [string])
        if ($flagsOk) {
            foreach ($x in $list) {
                $bit = 0
                if ($x -is [string]) { $bit = Get-AceFlagBit $x }
                if ($bit -eq 0 -or ($bits -band $bit) -ne 0) { $flagsOk = $false; break }
                $bits = $bits -bor $bit
            }
        }
        if (-not $flagsOk) { Stop-Op 'bad_args' ($what + ".flags' must be a list of distinct flags from OI, CI, NP, IO") }
        # CommonAcl.CheckFlags refuses propagation flags without inheritance flags on a folder.
        if (($bits -band 12) -ne 0 -and ($bits -band 3) -eq 0) { Stop-Op 'bad_args' ($what + ".flags' NP and IO need OI or CI (they say how the ACE is inherited)") }
    }
    return @{ identity = $identity; mask = [long]$mask; type = $v['type']; flags = $bits; key = $key }
}

function Get-AceKey {
    param([string]$Sid, [long]$Mask, [string]$Type, [int]$Flags)
    return ($Sid.ToUpperInvariant() + '|' + $Mask + '|' + $Type + '|' + $Flags)
}

function Invoke-OpAclSet {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $protected = Get-BoolArg $OpArgs 'protected' $false
    if (-not (Test-Arg $OpArgs 'aces')) { Stop-Op 'bad_args' "argument 'aces' is required (a list of {identity, mask, type, inherit or flags})" }
    $rawAces = Get-ListArg $OpArgs 'aces' -Required
    $shapes = New-Object System.Collections.ArrayList
    for ($i = 0; $i -lt $rawAces.Count; $i++) { [void]$shapes.Add((Get-AceShape $rawAces[$i] $i)) }
    $isDir = [System.IO.Directory]::Exists($path)
    if (-not $isDir -and -not [System.IO.File]::Exists($path)) { Stop-Op 'not_found' ('acl.set: ' + $path + ' does not exist') }
    for ($i = 0; $i -lt $shapes.Count; $i++) {
        if ($shapes[$i].flags -ne 0 -and -not $isDir) {
            $must = 'false'
            if ($shapes[$i].key -eq 'flags') { $must = '[]' }
            Stop-Op 'bad_args' ("acl.set: argument 'aces[" + $i + "]." + $shapes[$i].key + "' must be " + $must + ' on a file (only folders pass ACEs on)')
        }
    }
    $want = New-Object System.Collections.Generic.List[string]
    $rules = New-Object System.Collections.ArrayList
    for ($i = 0; $i -lt $shapes.Count; $i++) {
        $s = $shapes[$i]
        $sid = Resolve-Sid $s.identity ('acl.set: aces[' + $i + ']: ')
        if ($null -eq $sid) {
            Stop-Op 'identity_not_found' ('acl.set: aces[' + $i + "]: no account or group named '" + $s.identity + "' is known on this host")
        }
        $want.Add((Get-AceKey $sid.Value $s.mask $s.type $s.flags))
        [void]$rules.Add(@{ sid = $sid; mask = $s.mask; type = $s.type; flags = $s.flags })
    }
    # CommonAcl merges two explicit ACEs of one SID and type that have the same flags (masks ORed) or
    # the same mask (flags combined; CommonAcl.MergeAces): refuse them, so that what is stored is what was asked.
    for ($i = 1; $i -lt $rules.Count; $i++) {
        $r = $rules[$i]
        for ($j = 0; $j -lt $i; $j++) {
            $o = $rules[$j]
            if ($o.sid -eq $r.sid -and $o.type -ceq $r.type -and ($o.mask -eq $r.mask -or $o.flags -eq $r.flags)) {
                $same = 'flags'
                if ($o.mask -eq $r.mask) { $same = 'mask' }
                Stop-Op 'bad_args' ("acl.set: argument 'aces[" + $i + "]' and aces[" + $j + '] are both ' + $r.type + ' ACEs for ' + $r.sid.Value +
                    ' with the same ' + $same + ': Windows keeps such a pair as one ACE; give one ACE (combine the masks or the flags)')
            }
        }
    }

    $current = Get-FsSecurity $path $isDir
    if ((Test-AclIs $current $protected $want) -and [bool]$current.AreAccessRulesCanonical) { return [ordered]@{ changed = $false } }

    # Write a new DACL of exactly these ACEs, without touching the current one: its CommonAcl may be
    # non-canonical, and then RemoveAccessRule*/AddAccessRule/SetAccessRuleProtection on it throw
    # InvalidOperationException. The ACEs go in as CommonAce objects in a RawAcl (AddAccessRule would merge
    # them into existing ones) with their exact AceFlags and mask (the FileSystemAccessRule constructors add
    # or drop Synchronize and refuse generic rights). SetSecurityDescriptorBinaryForm(Access) replaces the
    # DACL of a fresh FileSystemSecurity; only the Access section is marked modified, so SetAccessControl
    # writes the DACL alone (owner untouched), PROTECTED_ or UNPROTECTED_DACL_SECURITY_INFORMATION from the
    # protection flag: with protection off Windows recomputes the inherited ACEs from the parent.
    $dacl = New-Object System.Security.AccessControl.RawAcl([System.Security.AccessControl.GenericAcl]::AclRevision, $rules.Count)
    foreach ($pass in @('deny', 'allow')) {
        foreach ($r in $rules) {
            if ($r.type -cne $pass) { continue }
            $qualifier = [System.Security.AccessControl.AceQualifier]::AccessAllowed
            if ($pass -eq 'deny') { $qualifier = [System.Security.AccessControl.AceQualifier]::AccessDenied }
            $aceFlags = [System.Security.AccessControl.AceFlags]([int]$r.flags)
            $aceMask = ConvertTo-Int32Bits $r.mask
            $ace = New-Object System.Security.AccessControl.CommonAce($aceFlags, $qualifier, $aceMask, $r.sid, $false, $null)
            $dacl.InsertAce($dacl.Count, $ace)
        }
    }
    $control = [System.Security.AccessControl.ControlFlags]::DiscretionaryAclPresent
    if ($protected) { $control = $control -bor [System.Security.AccessControl.ControlFlags]::DiscretionaryAclProtected }
    $sd = New-Object System.Security.AccessControl.RawSecurityDescriptor($control, $null, $null, $null, $dacl)
    $bytes = New-Object byte[] $sd.BinaryLength
    $sd.GetBinaryForm($bytes, 0)
    if ($isDir) { $sec = New-Object System.Security.AccessControl.DirectorySecurity }
    else { $sec = New-Object System.Security.AccessControl.FileSecurity }
    $sec.SetSecurityDescriptorBinaryForm($bytes, [System.Security.AccessControl.AccessControlSections]::Access)
    # The new DACL is canonical, so this cannot throw; it also makes protection exactly $protected
    # (UpdateWithNewSecurityDescriptor ORs in the protection bit the object had).
    $sec.SetAccessRuleProtection($protected, $false)
    if ($isDir) { [System.IO.Directory]::SetAccessControl($path, $sec) }
    else { [System.IO.File]::SetAccessControl($path, $sec) }

    # Read it back: what Windows now stores must be what was asked.
    $after = Get-FsSecurity $path $isDir
    if (-not (Test-AclIs $after $protected $want)) {
        Stop-Op 'verify_failed' ('acl.set: ' + $path + ': the ACL read back is not the one written')
    }
    return [ordered]@{ changed = $true }
}

function Test-AclIs {
    # Whether $Security's protection is $Protected and its explicit ACEs are exactly $Want (Get-AceKey
    # strings, any order): an ACE of another type, or with other flags, is a difference.
    param($Security, [bool]$Protected, $Want)
    if ([bool]$Security.AreAccessRulesProtected -ne $Protected) { return $false }
    $have = New-Object System.Collections.Generic.List[string]
    foreach ($row in (Get-AceRows $Security)) {
        if ($row.inherited) { continue }
        if ($null -eq $row.sid -or $row.type -eq 'other') { return $false }
        $bits = 0
        foreach ($f in $row.flags) { $bits = $bits -bor (Get-AceFlagBit $f) }
        $have.Add((Get-AceKey $row.sid $row.mask $row.type $bits))
    }
    $wanted = New-Object System.Collections.Generic.List[string]
    foreach ($k in $Want) { $wanted.Add($k) }
    $wanted.Sort([System.StringComparer]::Ordinal)
    $have.Sort([System.StringComparer]::Ordinal)
    if ($wanted.Count -ne $have.Count) { return $false }
    for ($i = 0; $i -lt $wanted.Count; $i++) { if ($wanted[$i] -cne $have[$i]) { return $false } }
    return $true
}

function Invoke-OpIdentityResolve {
    param($OpArgs)
    $names = Get-ListArg $OpArgs 'names' -Required -Strings
    foreach ($n in $names) {
        if ($n.Length -eq 0) { Stop-Op 'bad_args' "argument 'names' must not contain an empty name" }
    }
    $sids = New-Object 'System.Collections.Generic.Dictionary[string,object]' ([System.StringComparer]::Ordinal)
    foreach ($n in $names) {
        $sid = Resolve-Sid $n 'identity.resolve: '
        if ($null -eq $sid) { $sids[$n] = $null } else { $sids[$n] = $sid.Value }
    }
    return [ordered]@{ sids = $sids }
}
