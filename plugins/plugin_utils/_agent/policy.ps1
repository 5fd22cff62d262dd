# gowin.server agent, op family 'policy': local security policy (user rights assignment).
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/policy.py and its contract vectors tests/contract/vectors/policy.yml.
# requires: go
#
# Windows behaviour relied on (each one held by a vector):
# - User rights (SeServiceLogonRight, "Log on as a service", and the others) are read and written with
#   secedit.exe /export and /configure of the USER_RIGHTS area: an INF (UTF-16) whose [Privilege Rights]
#   lines list the holders as *S-1-... (or a name secedit could not map to a SID). /configure of an INF
#   that names one right replaces that right's holders and leaves the other rights as they are.
# - A group policy that sets a right shows up as RSOP_UserPrivilegeRight with precedence 1 in
#   root\rsop\computer (absent on a host that no domain policy reaches): such a right is reset to the
#   policy's holders at the next policy refresh, so a local grant does not last.
# - secedit is started by Invoke-NativeTool (go family) with fixed words and temporary file paths;
#   what it writes and reads are data files, never code.

Register-AgentOps @{
    'policy.user_right' = @{ accepted = @('right', 'sid', 'grant'); run = { param($a) Invoke-OpPolicyUserRight $a } }
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

function Test-PolicyOwnsRight {
    # A group policy that sets the right (the local change would be undone at the next refresh).
    param([string]$Right)
    try {
        $rows = @(Get-CimInstance -Namespace 'root/rsop/computer' -ClassName RSOP_UserPrivilegeRight -ErrorAction Stop)
    } catch {
        return $false
    }
    foreach ($row in $rows) {
        if ($row.UserRight -eq $Right -and $row.precedence -eq 1) { return $true }
    }
    return $false
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
        $r = Invoke-NativeTool 'secedit.exe' @('/configure', '/db', $db, '/cfg', $inf, '/areas', 'USER_RIGHTS', '/quiet')
        if ($r.rc -ne 0) { Stop-Op 'internal' ('secedit /configure failed (' + $r.rc + ')') }
    } finally {
        try { [System.IO.Directory]::Delete($dir, $true) } catch { $null = $_ }
    }
    $has = Test-HoldsSid (Read-UserRight $right) $sid
    if ($has -ne $grant) { Stop-Op 'internal' ('policy.user_right: secedit did not change the right of ' + $sid) }
    return [ordered]@{ has_right = $has; changed = $true; policy_owned = $owned }
}
