# gowin.server agent, op family 'auditpol': the system audit policy (advanced audit policy subcategories).
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/auditpol.py and its contract vectors tests/contract/vectors/auditpol.yml.
# requires: go
#
# Windows behaviour relied on (each one held by a vector):
# - auditpol.exe /backup /file:<path> writes the system audit policy as CSV with the columns Machine Name,
#   Policy Target, Subcategory, Subcategory GUID, Inclusion Setting, Exclusion Setting, Setting Value (the
#   layout auditpol /restore and a GPO's audit.csv share). The header and the Subcategory and Inclusion
#   Setting texts are in the display language; the columns are read by position, and only the GUID (4th)
#   and the numeric Setting Value (7th: 0 none, 1 success, 2 failure, 3 both) decide anything. Rows with an
#   empty GUID are the global options (CrashOnAuditFail, FullPrivilegeAuditing, ...): skipped. The
#   Subcategory text is reported as the subcategory's name (on an English host "Logon", the name
#   AuditLookupSubCategoryName gives), the GUID in upper case with its braces.
# - auditpol.exe /set /subcategory:{GUID} /success:enable|disable /failure:enable|disable sets one
#   subcategory of the system policy at once (no reboot, no policy refresh) and exits 0; a GUID the host
#   does not know makes it exit non-zero. Ops check every GUID against the backup before setting any.
# - A group policy with advanced audit settings rewrites them at its next refresh (as for user rights):
#   what this op sets lasts only where no GPO sets that subcategory.
# - auditpol is started by Invoke-NativeTool (go family) with fixed words, GUIDs that matched a strict
#   pattern and a temporary file path; the CSV it writes is data, never code.

Register-AgentOps @{
    'auditpol.get' = @{ accepted = @(); run = { param($a) Invoke-OpAuditpolGet $a } }
    'auditpol.set' = @{ accepted = @('subcategories'); run = { param($a) Invoke-OpAuditpolSet $a } }
}

$script:AuditGuidPattern = '^\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}$'

function Split-AuditCsvLine {
    # One CSV line into its fields (double quotes group a field; "" inside quotes is one quote).
    param([string]$Line)
    $fields = New-Object System.Collections.Generic.List[string]
    $sb = New-Object System.Text.StringBuilder
    $quoted = $false
    for ($i = 0; $i -lt $Line.Length; $i++) {
        $ch = $Line[$i]
        if ($quoted) {
            if ($ch -eq '"') {
                if ($i + 1 -lt $Line.Length -and $Line[$i + 1] -eq '"') { [void]$sb.Append('"'); $i++ } else { $quoted = $false }
            } else {
                [void]$sb.Append($ch)
            }
        } elseif ($ch -eq '"') {
            $quoted = $true
        } elseif ($ch -eq ',') {
            $fields.Add($sb.ToString())
            [void]$sb.Clear()
        } else {
            [void]$sb.Append($ch)
        }
    }
    $fields.Add($sb.ToString())
    return ,$fields
}

function Read-AuditTextFile {
    # The file's text: UTF-16 or UTF-8 by its byte order mark, UTF-16LE when the second byte is 0, else ANSI.
    param([string]$Path)
    $bytes = [System.IO.File]::ReadAllBytes($Path)
    if ($bytes.Length -ge 2 -and (($bytes[0] -eq 0xFF -and $bytes[1] -eq 0xFE) -or ($bytes[0] -eq 0xFE -and $bytes[1] -eq 0xFF))) {
        return [System.IO.File]::ReadAllText($Path)
    }
    if ($bytes.Length -ge 3 -and $bytes[0] -eq 0xEF -and $bytes[1] -eq 0xBB -and $bytes[2] -eq 0xBF) {
        return [System.IO.File]::ReadAllText($Path)
    }
    if ($bytes.Length -ge 2 -and $bytes[1] -eq 0) { return [System.Text.Encoding]::Unicode.GetString($bytes) }
    # No BOM: UTF-8 if the bytes are valid UTF-8 (strict decoder), else the ANSI code page.
    try {
        return (New-Object System.Text.UTF8Encoding($false, $true)).GetString($bytes)
    } catch {
        return [System.Text.Encoding]::Default.GetString($bytes)
    }
}

function Read-AuditPolicy {
    # GUID (upper case, braces) -> @{ name; value } from one auditpol /backup, in GUID order.
    $dir = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), 'gowin-' + [System.Guid]::NewGuid().ToString('N'))
    [void][System.IO.Directory]::CreateDirectory($dir)
    try {
        $csv = [System.IO.Path]::Combine($dir, 'audit.csv')
        $r = Invoke-NativeTool 'auditpol.exe' @('/backup', ('/file:' + $csv))
        if ($r.rc -ne 0 -or -not [System.IO.File]::Exists($csv)) { Stop-Op 'internal' ('auditpol /backup failed (' + $r.rc + '): ' + $r.output) }
        $table = New-Object 'System.Collections.Generic.SortedDictionary[string,object]' ([System.StringComparer]::Ordinal)
        foreach ($line in ((Read-AuditTextFile $csv) -split "`r?`n")) {
            if ($line.Trim().Length -eq 0) { continue }
            $f = Split-AuditCsvLine $line
            if ($f.Count -lt 7) { continue }
            $guid = $f[3].Trim()
            # The header (in any language) and the global options have no GUID in this column.
            if ($guid -notmatch $script:AuditGuidPattern) { continue }
            # Per-user rows (MS-GPAC 2.2.1.1: Policy Target is a user SID) carry the same GUID: not the system policy.
            if ($f[1].Trim() -match '^S-1-\d') { continue }
            $value = 0
            $parsed = [int]::TryParse($f[6].Trim(), [System.Globalization.NumberStyles]::None, [System.Globalization.CultureInfo]::InvariantCulture, [ref]$value)
            if (-not $parsed -or $value -gt 4) {
                Stop-Op 'internal' ('auditpol /backup gave Setting Value ' + $f[6] + ' for ' + $guid)
            }
            # MS-GPAC 2.2.1.3.1: 4 is "none" set explicitly (a policy's No Auditing): neither success nor failure.
            $value = $value -band 3
            $table[$guid.ToUpperInvariant()] = @{ name = $f[2].Trim(); value = $value }
        }
        if ($table.Count -eq 0) { Stop-Op 'internal' 'auditpol /backup listed no subcategory' }
        return ,$table
    } finally {
        try { [System.IO.Directory]::Delete($dir, $true) } catch { $null = $_ }
    }
}

function ConvertTo-AuditFlags {
    param([int]$Value)
    return [ordered]@{ success = (($Value -band 1) -ne 0); failure = (($Value -band 2) -ne 0) }
}

function Invoke-OpAuditpolGet {
    param($OpArgs)
    $null = $OpArgs
    $rows = New-Object System.Collections.ArrayList
    $table = Read-AuditPolicy
    foreach ($guid in @($table.Keys)) {
        $flags = ConvertTo-AuditFlags $table[$guid].value
        [void]$rows.Add([ordered]@{ guid = $guid; name = $table[$guid].name; success = $flags.success; failure = $flags.failure })
    }
    return [ordered]@{ subcategories = @($rows) }
}

function Get-AuditEntries {
    # The 'subcategories' argument as a list of @{ guid (upper case); value }, checked whole.
    param($OpArgs)
    $list = $null
    if (Test-Arg $OpArgs 'subcategories') { $list = $OpArgs['subcategories'] }
    if ($null -eq $list -or $list -is [string] -or $list -is [System.Collections.IDictionary] -or -not ($list -is [System.Collections.IList]) -or
        $list.Count -lt 1 -or $list.Count -gt 60) {
        Stop-Op 'bad_args' "auditpol.set: argument 'subcategories' must be a list of 1 to 60 entries {guid, success, failure}"
    }
    $entries = New-Object System.Collections.ArrayList
    $seen = New-Object 'System.Collections.Generic.HashSet[string]'
    $index = -1
    foreach ($e in $list) {
        $index++
        $where = 'subcategories[' + $index + ']'
        if (-not ($e -is [System.Collections.IDictionary]) -or $e.Count -ne 3 -or -not $e.ContainsKey('guid') -or -not $e.ContainsKey('success') -or
            -not $e.ContainsKey('failure')) {
            Stop-Op 'bad_args' ("auditpol.set: argument '" + $where + "' must be an object with exactly guid, success and failure")
        }
        $guid = $e['guid']
        if (-not ($guid -is [string]) -or $guid -notmatch $script:AuditGuidPattern) {
            Stop-Op 'bad_args' ("auditpol.set: argument '" + $where + ".guid' must be a subcategory GUID such as {0CCE9215-69AE-11D9-BED3-505054503030}")
        }
        foreach ($flag in @('success', 'failure')) {
            if (-not ($e[$flag] -is [bool])) { Stop-Op 'bad_args' ("auditpol.set: argument '" + $where + '.' + $flag + "' must be true or false") }
        }
        $upper = $guid.ToUpperInvariant()
        if (-not $seen.Add($upper)) { Stop-Op 'bad_args' ("auditpol.set: argument '" + $where + ".guid' names " + $upper + ' twice') }
        $value = 0
        if ($e['success']) { $value = $value -bor 1 }
        if ($e['failure']) { $value = $value -bor 2 }
        [void]$entries.Add(@{ guid = $upper; value = $value })
    }
    return ,$entries
}

function Invoke-OpAuditpolSet {
    param($OpArgs)
    $entries = Get-AuditEntries $OpArgs
    $table = Read-AuditPolicy
    foreach ($e in $entries) {
        if (-not $table.ContainsKey($e.guid)) { Stop-Op 'not_found' ('auditpol.set: the host has no audit subcategory ' + $e.guid) }
    }
    $changed = $false
    foreach ($e in $entries) {
        if ($table[$e.guid].value -eq $e.value) { continue }
        $success = 'disable'
        $failure = 'disable'
        if (($e.value -band 1) -ne 0) { $success = 'enable' }
        if (($e.value -band 2) -ne 0) { $failure = 'enable' }
        $r = Invoke-NativeTool 'auditpol.exe' @('/set', ('/subcategory:' + $e.guid), ('/success:' + $success), ('/failure:' + $failure))
        if ($r.rc -ne 0) { Stop-Op 'internal' ('auditpol /set of ' + $e.guid + ' failed (' + $r.rc + '): ' + $r.output) }
        $changed = $true
    }
    $after = $table
    if ($changed) { $after = Read-AuditPolicy }
    $results = New-Object System.Collections.ArrayList
    foreach ($e in $entries) {
        $now = -1
        if ($after.ContainsKey($e.guid)) { $now = $after[$e.guid].value }
        if ($now -ne $e.value) { Stop-Op 'internal' ('auditpol.set: ' + $e.guid + ' reads back as ' + $now + ', not ' + $e.value + ' after auditpol /set') }
        [void]$results.Add([ordered]@{ guid = $e.guid; before = (ConvertTo-AuditFlags $table[$e.guid].value); after = (ConvertTo-AuditFlags $now) })
    }
    return [ordered]@{ changed = $changed; results = @($results) }
}
