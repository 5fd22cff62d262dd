# gowin.server agent, op family 'journal': the journals of changes that finish on the host.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/journal.py and its contract vectors tests/contract/vectors/journal.yml.
# requires: (none)
#
# A journal is the key HKLM\SOFTWARE\GoWin\Journal\<name>, REG_SZ values Id, Stage, Outcome (empty while
# the change runs), From, To, Started, Finished, Detail. deploy.update writes it (Write-Journal); any run
# reads it with journal.get, in its read round trip, without the families that write it.
#
# Windows behaviour relied on (each one held by a vector):
# - HKLM\SOFTWARE is writable by Administrators and SYSTEM only (the default ACL of the hive).

Register-AgentOps @{
    'journal.get' = @{ accepted = @('name'); run = { param($a) Invoke-OpJournalGet $a } }
}

$script:JournalKey = 'SOFTWARE\GoWin\Journal'
$script:JournalValues = @('Id', 'Stage', 'Outcome', 'From', 'To', 'Started', 'Finished', 'Detail')

function Get-JournalTime {
    return [System.DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ', [System.Globalization.CultureInfo]::InvariantCulture)
}

function Write-Journal {
    # Set journal values (REG_SZ) of one service; each call is its own registry write, flushed by the
    # registry's own lazy writer (a power loss can lose the last stage, never reorder stages).
    param([string]$Name, $Values)
    $base = Open-BaseKey 'HKLM'
    $key = $base.CreateSubKey($script:JournalKey + '\' + $Name)
    try {
        foreach ($k in @($Values.Keys)) { $key.SetValue($k, [string]$Values[$k], [Microsoft.Win32.RegistryValueKind]::String) }
    } finally { $key.Close() }
}

function Read-Journal {
    param([string]$Name)
    $base = Open-BaseKey 'HKLM'
    $key = $base.OpenSubKey($script:JournalKey + '\' + $Name)
    if ($null -eq $key) { return [ordered]@{ exists = $false } }
    try {
        $found = [ordered]@{ exists = $true }
        foreach ($v in $script:JournalValues) {
            $data = $key.GetValue($v, $null)
            if ($null -eq $data) { $found[$v.ToLowerInvariant()] = $null } else { $found[$v.ToLowerInvariant()] = [string]$data }
        }
        $found['interrupted'] = [string]::IsNullOrEmpty($found['outcome'])
        return $found
    } finally { $key.Close() }
}

function Invoke-OpJournalGet {
    param($OpArgs)
    $name = Get-StringArg $OpArgs 'name' -Required
    if ($name.Length -gt 256 -or $name.IndexOf('\') -ge 0 -or $name.IndexOf('/') -ge 0 -or $name.Trim().Length -ne $name.Length) {
        Stop-Op 'bad_args' "argument 'name' must be at most 256 characters, without '\' or '/' or leading or trailing spaces"
    }
    foreach ($c in $name.ToCharArray()) { if ([int]$c -lt 32) { Stop-Op 'bad_args' "argument 'name' must not contain control characters" } }
    return (Read-Journal $name)
}
