# gowin.server agent, op family 'policy': local security policy (account policies and user rights assignment).
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/policy.py and its contract vectors tests/contract/vectors/policy.yml.
# requires: go
#
# Windows behaviour relied on (each one held by a vector):
# - User rights (SeServiceLogonRight, "Log on as a service", and the others) are read and written with
#   secedit.exe /export and /configure of the USER_RIGHTS area: an INF (UTF-16) whose [Privilege Rights]
#   lines list the holders as *S-1-... (or a name secedit could not map to a SID). /configure of an INF
#   that names one right replaces that right's holders and leaves the other rights as they are; a line
#   with no holders ("SeDenyServiceLogonRight = ") leaves the right with none. A right nobody holds is not
#   exported at all.
# - The account policies are the [System Access] section of the SECURITYPOLICY area: integers (password
#   and lockout policy, EnableAdminAccount, ...) and the quoted NewAdministratorName and NewGuestName.
#   /configure of an INF that names some of them sets those and leaves the others as they are (a setting
#   the template does not define is not configured). One secedit /export of both areas reads everything.
# - Account lockout: while LockoutBadCount is 0 secedit exports neither LockoutDuration nor
#   ResetLockoutCount (the SAM keeps them, unused). With a threshold above 0 the SAM requires the reset time
#   (the observation window) to be at most the lockout duration, and secedit cannot configure a reset time
#   above it: the op refuses such a combination before it writes anything (LockoutDuration -1 locks an
#   account until an administrator unlocks it; then any reset time is accepted).
# - A group policy that sets a right shows up as RSOP_UserPrivilegeRight with precedence 1 in
#   root\rsop\computer (absent on a host that no domain policy reaches): such a right is reset to the
#   policy's holders at the next policy refresh, so a local grant does not last.
# - secedit is started by Invoke-NativeTool (go family) with fixed words and temporary file paths;
#   what it writes and reads are data files, never code: names come from a fixed list or match
#   Se...Right/Se...Privilege, holders match S-1-..., values are integers.

Register-AgentOps @{
    'policy.user_right' = @{ accepted = @('right', 'sid', 'grant'); run = { param($a) Invoke-OpPolicyUserRight $a } }
    'policy.export' = @{ accepted = @(); run = { param($a) Invoke-OpPolicyExport $a } }
    'policy.configure' = @{ accepted = @('system_access', 'privilege_rights'); run = { param($a) Invoke-OpPolicyConfigure $a } }
}

function Read-UserRight {
    # The SIDs (as *S-1-...) and unresolved names holding the right in local policy, as secedit exports them.
    param([string]$Right)
    $dir = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), 'gowin-' + [System.Guid]::NewGuid().ToString('N'))
    [void][System.IO.Directory]::CreateDirectory($dir)
    try {
        $inf = [System.IO.Path]::Combine($dir, 'rights.inf')
        $r = Invoke-NativeTool 'secedit.exe' @('/export', '/cfg', $inf, '/areas', 'USER_RIGHTS', '/quiet')
        if ($r.rc -ne 0 -or -not [System.IO.File]::Exists($inf)) { Stop-Op 'internal' ('secedit /export failed (' + $r.rc + ')') }
        $entries = New-Object System.Collections.ArrayList
        foreach ($line in [System.IO.File]::ReadAllLines($inf)) {
            $m = [regex]::Match($line, ('^\s*' + [regex]::Escape($Right) + '\s*=\s*(.*)$'))
            if (-not $m.Success) { continue }
            foreach ($item in $m.Groups[1].Value.Split(',')) {
                $x = $item.Trim()
                if ($x.Length -gt 0) { [void]$entries.Add($x) }
            }
        }
        return ,$entries
    } finally {
        try { [System.IO.Directory]::Delete($dir, $true) } catch { $null = $_ }
    }
}

function Get-PolicyOwnedRights {
    # The rights a group policy sets (the local change would be undone at the next refresh), sorted.
    $owned = New-Object 'System.Collections.Generic.SortedSet[string]' ([System.StringComparer]::Ordinal)
    try {
        $rows = @(Get-CimInstance -Namespace 'root/rsop/computer' -ClassName RSOP_UserPrivilegeRight -ErrorAction Stop)
    } catch {
        return ,@()
    }
    foreach ($row in $rows) {
        if ($row.precedence -eq 1 -and $row.UserRight -is [string]) { [void]$owned.Add($row.UserRight) }
    }
    return ,@($owned)
}

function Test-PolicyOwnsRight {
    param([string]$Right)
    return (@(Get-PolicyOwnedRights) -ccontains $Right)
}

function Test-HoldsSid {
    param($Entries, [string]$Sid)
    return (@($Entries | Where-Object { [string]::Equals($_, '*' + $Sid, [System.StringComparison]::OrdinalIgnoreCase) }).Count -gt 0)
}

function Invoke-OpPolicyUserRight {
    # grant: true grants, false revokes, not given only reads.
    param($OpArgs)
    $right = Get-StringArg $OpArgs 'right' -Required
    if ($right -cnotmatch '^Se[A-Za-z]{1,60}(Right|Privilege)$') { Stop-Op 'bad_args' "argument 'right' must be a user right constant such as SeServiceLogonRight" }
    $grant = $null
    if (Test-Arg $OpArgs 'grant') { $grant = Get-BoolArg $OpArgs 'grant' $false }
    if (-not (Test-Arg $OpArgs 'sid') -and $null -eq $grant) {
        # No sid: every holder, as secedit exports them (SIDs without their '*', unmapped names as they are).
        $list = New-Object System.Collections.ArrayList
        foreach ($e in (Read-UserRight $right)) {
            if ($e.StartsWith('*')) { [void]$list.Add($e.Substring(1)) } else { [void]$list.Add($e) }
        }
        return [ordered]@{ holders = @($list); changed = $false; policy_owned = (Test-PolicyOwnsRight $right) }
    }
    $sid = Get-StringArg $OpArgs 'sid' -Required
    if ($sid -notmatch '^S-1-\d+(-\d+)+$') { Stop-Op 'bad_args' "argument 'sid' must be a SID (S-1-...)" }
    $entries = Read-UserRight $right
    $has = Test-HoldsSid $entries $sid
    $owned = Test-PolicyOwnsRight $right
    if ($null -eq $grant -or $grant -eq $has) { return [ordered]@{ has_right = $has; changed = $false; policy_owned = $owned } }
    $holders = New-Object System.Collections.Generic.List[string]
    foreach ($e in $entries) {
        if (-not [string]::Equals($e, '*' + $sid, [System.StringComparison]::OrdinalIgnoreCase)) { $holders.Add($e) }
    }
    if ($grant) { $holders.Add('*' + $sid) }
    $dir = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), 'gowin-' + [System.Guid]::NewGuid().ToString('N'))
    [void][System.IO.Directory]::CreateDirectory($dir)
    try {
        $inf = [System.IO.Path]::Combine($dir, 'right.inf')
        $db = [System.IO.Path]::Combine($dir, 'right.sdb')
        # Data for secedit, never code: the holders as exported (*SIDs or account names) plus this SID.
        $text = "[Unicode]`r`nUnicode=yes`r`n[Version]`r`nsignature=`"`$CHICAGO`$`"`r`nRevision=1`r`n[Privilege Rights]`r`n" + $right + " = " + ($holders -join ',') + "`r`n"
        [System.IO.File]::WriteAllText($inf, $text, [System.Text.Encoding]::Unicode)
        # secedit exits 3 when it completed with warnings (a holder name it could not map, say): what it did is
        # read back below, and only a read-back that disagrees fails the op (naming the exit code).
        $r = Invoke-NativeTool 'secedit.exe' @('/configure', '/db', $db, '/cfg', $inf, '/areas', 'USER_RIGHTS', '/quiet')
    } finally {
        try { [System.IO.Directory]::Delete($dir, $true) } catch { $null = $_ }
    }
    $has = Test-HoldsSid (Read-UserRight $right) $sid
    if ($has -ne $grant) { Stop-Op 'internal' ('policy.user_right: secedit did not change the right of ' + $sid + ' (secedit exit code ' + $r.rc + ')') }
    return [ordered]@{ has_right = $has; changed = $true; policy_owned = $owned }
}

# ---------------------------------------------------------------------------------------------
# policy.export and policy.configure: [System Access] and [Privilege Rights] together.

$script:PolicyAccessNames = @('MinimumPasswordAge', 'MaximumPasswordAge', 'MinimumPasswordLength', 'PasswordComplexity',
    'PasswordHistorySize', 'LockoutBadCount', 'ResetLockoutCount', 'LockoutDuration', 'RequireLogonToChangePassword',
    'ForceLogoffWhenHourExpire', 'ClearTextPassword', 'LSAAnonymousNameLookup', 'EnableAdminAccount', 'EnableGuestAccount')

function Read-SecurityPolicy {
    # One secedit /export of SECURITYPOLICY and USER_RIGHTS: @{ access = name -> long or string (quotes
    # dropped); rights = right -> List of holders as exported (*S-1-... or a name), rights with holders only }.
    $dir = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), 'gowin-' + [System.Guid]::NewGuid().ToString('N'))
    [void][System.IO.Directory]::CreateDirectory($dir)
    try {
        $inf = [System.IO.Path]::Combine($dir, 'policy.inf')
        $r = Invoke-NativeTool 'secedit.exe' @('/export', '/cfg', $inf, '/areas', 'SECURITYPOLICY', 'USER_RIGHTS', '/quiet')
        if ($r.rc -ne 0 -or -not [System.IO.File]::Exists($inf)) { Stop-Op 'internal' ('secedit /export failed (' + $r.rc + ')') }
        $access = [ordered]@{}
        $rights = New-Object 'System.Collections.Generic.SortedDictionary[string,object]' ([System.StringComparer]::Ordinal)
        $section = ''
        foreach ($line in [System.IO.File]::ReadAllLines($inf)) {
            $t = $line.Trim()
            if ($t.StartsWith('[') -and $t.EndsWith(']')) { $section = $t.Substring(1, $t.Length - 2); continue }
            $m = [regex]::Match($t, '^([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*)$')
            if (-not $m.Success) { continue }
            $name = $m.Groups[1].Value
            $value = $m.Groups[2].Value.Trim()
            if ($section -eq 'System Access') {
                $n = [long]0
                if ([regex]::IsMatch($value, '^-?[0-9]+$') -and [long]::TryParse($value, [System.Globalization.NumberStyles]::AllowLeadingSign, [System.Globalization.CultureInfo]::InvariantCulture, [ref]$n)) { $access[$name] = $n }
                elseif ($value.Length -ge 2 -and $value.StartsWith('"') -and $value.EndsWith('"')) { $access[$name] = $value.Substring(1, $value.Length - 2) }
                else { $access[$name] = $value }
            } elseif ($section -eq 'Privilege Rights') {
                $holders = New-Object System.Collections.Generic.List[string]
                foreach ($item in $value.Split(',')) {
                    $x = $item.Trim()
                    if ($x.Length -gt 0) { $holders.Add($x) }
                }
                if ($holders.Count -gt 0) { $rights[$name] = $holders }
            }
        }
        return @{ access = $access; rights = $rights }
    } finally {
        try { [System.IO.Directory]::Delete($dir, $true) } catch { $null = $_ }
    }
}

function ConvertTo-HolderList {
    # Holders as the ops report them: a SID without its '*', an unmapped name as it is.
    param($Entries)
    $list = New-Object System.Collections.ArrayList
    foreach ($e in $Entries) {
        if ($e.StartsWith('*')) { [void]$list.Add($e.Substring(1)) } else { [void]$list.Add($e) }
    }
    return ,@($list)
}

function Invoke-OpPolicyExport {
    param($OpArgs)
    $null = $OpArgs
    $policy = Read-SecurityPolicy
    $rights = [ordered]@{}
    foreach ($right in @($policy.rights.Keys)) { $rights[$right] = ConvertTo-HolderList $policy.rights[$right] }
    return [ordered]@{ system_access = $policy.access; privilege_rights = $rights; policy_owned_rights = @(Get-PolicyOwnedRights) }
}

function Test-SameHolders {
    # Whether the exported holders are exactly these SIDs (case-insensitive, any order).
    param($Entries, $Sids)
    $have = New-Object 'System.Collections.Generic.HashSet[string]' ([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($e in $Entries) { [void]$have.Add($e) }
    $want = New-Object 'System.Collections.Generic.HashSet[string]' ([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($s in $Sids) { [void]$want.Add('*' + $s) }
    return $have.SetEquals($want)
}

function Get-PolicyValue {
    param($Given, $Current, [string]$Name)
    if ($Given.Contains($Name)) { return $Given[$Name] }
    if ($Current.Contains($Name)) { return $Current[$Name] }
    return $null
}

function Test-LockoutCombination {
    # What secedit (the SAM) can configure; see the header. $Given and $Current: name -> long.
    param($Given, $Current)
    $count = Get-PolicyValue $Given $Current 'LockoutBadCount'
    if ($null -eq $count) { $count = 0 }
    if ($count -gt 999) { Stop-Op 'bad_args' "policy.configure: argument 'system_access' must give LockoutBadCount an integer from 0 to 999" }
    $times = @(@('ResetLockoutCount', 'LockoutDuration') | Where-Object { $Given.Contains($_) })
    if ($count -le 0) {
        if ($times.Count -gt 0) {
            Stop-Op 'bad_args' ("policy.configure: argument 'system_access' sets " + ($times -join ' and ') + ' while LockoutBadCount is 0: secedit ' +
                'neither applies nor exports the lockout times then (set LockoutBadCount above 0 in the same call)')
        }
        return
    }
    $reset = Get-PolicyValue $Given $Current 'ResetLockoutCount'
    $duration = Get-PolicyValue $Given $Current 'LockoutDuration'
    if ($null -eq $reset -or $null -eq $duration) {
        Stop-Op 'bad_args' ("policy.configure: argument 'system_access' must give LockoutDuration and ResetLockoutCount when it turns " +
            'LockoutBadCount above 0 (secedit does not export them while the threshold is 0)')
    }
    if ($reset -lt 1) { Stop-Op 'bad_args' "policy.configure: argument 'system_access' must give ResetLockoutCount 1 to 99999 minutes while LockoutBadCount is above 0" }
    if ($duration -ne -1 -and ($duration -lt 1 -or $reset -gt $duration)) {
        Stop-Op 'bad_args' ("policy.configure: argument 'system_access' cannot configure ResetLockoutCount " + $reset + ' with LockoutDuration ' + $duration +
            ': the reset time must be at most the lockout duration (or LockoutDuration -1, until an administrator unlocks)')
    }
}

function Get-PolicyConfigureArgs {
    # The two mappings, checked whole: @{ access = name -> long; rights = right -> string[] of SIDs }.
    param($OpArgs)
    $accessArg = Get-MapArg $OpArgs 'system_access'
    $rightsArg = Get-MapArg $OpArgs 'privilege_rights'
    $access = [ordered]@{}
    $rights = [ordered]@{}
    if ($null -ne $accessArg) {
        foreach ($name in @($accessArg.PSBase.Keys)) {
            if ($script:PolicyAccessNames -cnotcontains $name) {
                Stop-Op 'bad_args' ("policy.configure: argument 'system_access' names a setting that is not one of " + ($script:PolicyAccessNames -join ', '))
            }
            $v = $accessArg[$name]
            if ($null -eq $v -or $v -is [bool] -or -not ($v -is [int] -or $v -is [long] -or $v -is [decimal]) -or
                ($v -is [decimal] -and [math]::Floor($v) -ne $v) -or $v -lt -1 -or $v -gt 99999) {
                Stop-Op 'bad_args' ("policy.configure: argument 'system_access' must give " + $name + ' an integer from -1 to 99999')
            }
            $access[$name] = [long]$v
        }
    }
    if ($null -ne $rightsArg) {
        if ($rightsArg.Count -gt 60) { Stop-Op 'bad_args' "policy.configure: argument 'privilege_rights' must name at most 60 rights" }
        foreach ($right in @($rightsArg.PSBase.Keys)) {
            if ($right -cnotmatch '^Se[A-Za-z]{1,60}(Right|Privilege)$') {
                Stop-Op 'bad_args' "policy.configure: argument 'privilege_rights' names a right that is not a user right constant such as SeServiceLogonRight"
            }
            $holders = $rightsArg[$right]
            $bad = ($null -eq $holders -or $holders -is [string] -or $holders -is [System.Collections.IDictionary] -or -not ($holders -is [System.Collections.IList]))
            if (-not $bad) {
                foreach ($h in $holders) { if (-not ($h -is [string]) -or $h -notmatch '^S-1-\d+(-\d+)+$') { $bad = $true } }
            }
            if ($bad) { Stop-Op 'bad_args' ("policy.configure: argument 'privilege_rights' must give " + $right + ' a list of SIDs (S-1-...; an empty list for no holders)') }
            $rights[$right] = [string[]]@($holders)
        }
    }
    if ($access.Count -eq 0 -and $rights.Count -eq 0) {
        Stop-Op 'bad_args' "policy.configure: argument 'system_access' or 'privilege_rights' must name at least one setting"
    }
    return @{ access = $access; rights = $rights }
}

function Get-PolicyView {
    # The given keys as they stand: @{ system_access = name -> value or null; privilege_rights = right -> holders }.
    param($Policy, $Wanted)
    $access = [ordered]@{}
    foreach ($name in @($Wanted.access.Keys)) {
        $v = $null
        if ($Policy.access.Contains($name)) { $v = $Policy.access[$name] }
        $access[$name] = $v
    }
    $rights = [ordered]@{}
    foreach ($right in @($Wanted.rights.Keys)) {
        $list = @()
        if ($Policy.rights.ContainsKey($right)) { $list = ConvertTo-HolderList $Policy.rights[$right] }
        $rights[$right] = $list
    }
    return [ordered]@{ system_access = $access; privilege_rights = $rights }
}

function Invoke-OpPolicyConfigure {
    param($OpArgs)
    $wanted = Get-PolicyConfigureArgs $OpArgs
    $policy = Read-SecurityPolicy
    Test-LockoutCombination $wanted.access $policy.access
    $before = Get-PolicyView $policy $wanted
    $accessLines = New-Object System.Collections.Generic.List[string]
    foreach ($name in @($wanted.access.Keys)) {
        $have = $null
        if ($policy.access.Contains($name)) { $have = $policy.access[$name] }
        if ($null -eq $have -or -not ($have -is [long]) -or $have -ne $wanted.access[$name]) {
            $accessLines.Add($name + ' = ' + $wanted.access[$name].ToString([System.Globalization.CultureInfo]::InvariantCulture))
        }
    }
    $rightLines = New-Object System.Collections.Generic.List[string]
    foreach ($right in @($wanted.rights.Keys)) {
        $have = @()
        if ($policy.rights.ContainsKey($right)) { $have = @($policy.rights[$right]) }
        if (-not (Test-SameHolders $have $wanted.rights[$right])) {
            $sids = New-Object System.Collections.Generic.List[string]
            foreach ($sid in $wanted.rights[$right]) {
                if (@($sids | Where-Object { [string]::Equals($_, '*' + $sid, [System.StringComparison]::OrdinalIgnoreCase) }).Count -eq 0) { $sids.Add('*' + $sid) }
            }
            $rightLines.Add($right + ' = ' + ($sids -join ','))
        }
    }
    if ($accessLines.Count -eq 0 -and $rightLines.Count -eq 0) {
        return [ordered]@{ changed = $false; before = $before; after = $before }
    }
    $dir = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), 'gowin-' + [System.Guid]::NewGuid().ToString('N'))
    [void][System.IO.Directory]::CreateDirectory($dir)
    try {
        $inf = [System.IO.Path]::Combine($dir, 'policy.inf')
        $db = [System.IO.Path]::Combine($dir, 'policy.sdb')
        # Data for secedit, never code: fixed names, Se...Right/Privilege names, integers and *SIDs.
        $sb = New-Object System.Text.StringBuilder
        [void]$sb.Append("[Unicode]`r`nUnicode=yes`r`n[Version]`r`nsignature=`"`$CHICAGO`$`"`r`nRevision=1`r`n")
        $areas = New-Object System.Collections.Generic.List[string]
        if ($accessLines.Count -gt 0) {
            [void]$sb.Append("[System Access]`r`n")
            foreach ($l in $accessLines) { [void]$sb.Append($l).Append("`r`n") }
            $areas.Add('SECURITYPOLICY')
        }
        if ($rightLines.Count -gt 0) {
            [void]$sb.Append("[Privilege Rights]`r`n")
            foreach ($l in $rightLines) { [void]$sb.Append($l).Append("`r`n") }
            $areas.Add('USER_RIGHTS')
        }
        [System.IO.File]::WriteAllText($inf, $sb.ToString(), [System.Text.Encoding]::Unicode)
        $argList = @('/configure', '/db', $db, '/cfg', $inf, '/areas') + @($areas) + @('/quiet')
        # Exit 3 is "completed with warnings": the read-back below decides, naming the exit code when it disagrees.
        $r = Invoke-NativeTool 'secedit.exe' $argList
    } finally {
        try { [System.IO.Directory]::Delete($dir, $true) } catch { $null = $_ }
    }
    $now = Read-SecurityPolicy
    foreach ($name in @($wanted.access.Keys)) {
        $have = $null
        if ($now.access.Contains($name)) { $have = $now.access[$name] }
        if ($null -eq $have -or $have -ne $wanted.access[$name]) { Stop-Op 'internal' ('policy.configure: secedit did not set ' + $name + ' to ' + $wanted.access[$name] + ' (secedit exit code ' + $r.rc + ')') }
    }
    foreach ($right in @($wanted.rights.Keys)) {
        $have = @()
        if ($now.rights.ContainsKey($right)) { $have = @($now.rights[$right]) }
        if (-not (Test-SameHolders $have $wanted.rights[$right])) { Stop-Op 'internal' ('policy.configure: secedit did not set the holders of ' + $right + ' (secedit exit code ' + $r.rc + ')') }
    }
    return [ordered]@{ changed = $true; before = $before; after = (Get-PolicyView $now $wanted) }
}
