# gowin.server hang watchdog launcher. Fixed text shipped by the collection: win_service_go copies it as it
# is (never templated) next to agent.ps1, the gowin agent assembled for the op family 'watchdog', into a folder
# only SYSTEM and Administrators can write. The scheduled task \GoWin\Watchdog\<service> runs, as SYSTEM:
#   powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File <folder>\watchdog.ps1 -Settings <folder>\<service>.json
# It asks the agent for one op, watchdog.tick {settings}, which reads the settings file as JSON data
# (docs/agent-protocol.md, 'Family: watchdog'), and keeps the agent's answer in <service>.last.json.
# Exit code: 0 when the tick ran, 1 when it failed (the task's Last Run Result), 2 for a bad -Settings.
param([string]$Settings)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

if ([string]::IsNullOrEmpty($Settings) -or -not $Settings.EndsWith('.json', [System.StringComparison]::OrdinalIgnoreCase)) { exit 2 }
$here = Split-Path -Parent $MyInvocation.MyCommand.Path
$agent = Join-Path $here 'agent.ps1'
[void][System.Reflection.Assembly]::LoadWithPartialName('System.Web.Extensions')
$ser = New-Object System.Web.Script.Serialization.JavaScriptSerializer
$request = $ser.Serialize(@{ ops = @(@{ op = 'watchdog.tick'; args = @{ settings = $Settings } }) })
$line = [string](& $agent -RequestJson $request -AgentHash 'watchdog')
$last = $Settings.Substring(0, $Settings.Length - 5) + '.last.json'
[System.IO.File]::WriteAllText($last, $line, (New-Object System.Text.UTF8Encoding($false)))
$ok = $false
try {
    $answer = $ser.DeserializeObject($line)
    $ok = ($answer['results'][0]['ok'] -eq $true)
} catch { $ok = $false }
if ($ok) { exit 0 }
exit 1
