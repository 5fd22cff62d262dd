#!/usr/bin/env python
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: what the go_toolchain role costs per host, on SIMULATED hosts.

Builds the stand-in Go mirror (tools/gomirror.py), serves it on 127.0.0.1, writes an N-host
`gowin.server.winsim` inventory with a simulated per-round-trip latency, and runs the
`gowin.server.go_toolchain` role twice: a first converge (installs) and a no-change converge.
For each run it measures wall time and, from the winsim counters, round trips and bytes per host.
It writes docs/benchmarks.md (and prints the same table), with an estimate of what the same job
costs when composed from ansible.windows / community.windows module tasks.

The hosts are simulations and the latency is added by winsim; numbers compare approaches under
one model, they are not measurements of a real Windows fleet.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import typing as t

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import demo  # noqa: E402  (ROLE_VARS, inventory and ansible helpers live there)
import gomirror  # noqa: E402

PLAYBOOK = "- hosts: all\n  gather_facts: false\n  roles: [gowin.server.go_toolchain]\n"
OS_PROFILE = "ws2022"

# One module per play, on one fresh host, in this order (each run twice: first, then no change), to
# measure what one round trip of each module carries: the channel sends core.ps1 plus only the op
# families that round trip's ops use.
MODULE_TASKS: list[tuple[str, str]] = [
    ("go_install", "gowin.server.go_install:\n        version: latest\n        index_url: \"{{ go_toolchain_index_url }}\"\n"
                   "        base_url: \"{{ go_toolchain_base_url }}\"\n        allow_plain_http: true"),
    ("go_env", "gowin.server.go_env:\n        scope: machine\n        goproxy: https://proxy.golang.org,direct"),
    ("go_verify", "gowin.server.go_verify: {}"),
    ("go_facts", "gowin.server.go_facts: {}"),
]
# Before op families (commit 22feaec, one agent.ps1 of 109,867 characters): every round trip of every
# module carried the whole agent, 36,348 bytes packed (gzip + base64), plus the bootstrap command and
# the request; tools/bench.py of that commit measured 38.7 KiB sent per round trip for the role.
BEFORE_AGENT_PACKED = 36348

# win_service_go on one fresh host: a real Go service build (tests/fixtures/build.py) registered with an
# environment, a secret, and a firewall rule, then the same task again. {src} is the build's path.
SERVICE_TASK = ("gowin.server.win_service_go:\n        name: orders-api\n        src: {src}\n"
                "        args: [--config, 'C:\\ProgramData\\orders-api\\config.yaml']\n"
                "        environment: {{GOMAXPROCS: '4', GOMEMLIMIT: 2GiB}}\n"
                "        secret_environment: {{DB_PASS: bench-secret}}\n"
                "        firewall: {{port: 8443, remote_addresses: [10.0.0.0/8]}}")
# A rolling update with gowin.server.deploy_service (canary, 25 %, the rest) from one healthy release to
# another, with an HTTP health check; against the same job as stock tasks per host (ESTIMATE, as below).
ROLLING_COMPARISON: list[tuple[str, str, int, str]] = [
    ("Copy the new release beside the old one", "ansible.windows.win_copy", 1, "no PE, arch or SCM check"),
    ("Stop the service", "ansible.windows.win_service (state: stopped)", 1, "no process-tree end after a timeout"),
    ("Switch the image path", "ansible.windows.win_service (path)", 1, ""),
    ("Point the firewall rule at the new program", "community.windows.win_firewall_rule", 1, ""),
    ("Start the service", "ansible.windows.win_service (state: started)", 1, ""),
    ("Health check", "ansible.windows.win_uri (until/retries)", 1, "one per try; at least one"),
    ("Record the release", "ansible.windows.win_regedit", 1, ""),
]
ROLLING_RESCUE = 5  # rescue: stop, switch back, firewall back, start, check (only when the release fails)

# The same service as stock tasks (ESTIMATE, one round trip per task run or loop item): (task, module,
# first run, no-change run, note). None of them reads the binary, so a console program is registered and
# fails with 1053 at its first start.
SERVICE_COMPARISON: list[tuple[str, str, int, int, str]] = [
    ("Release, log and data folders", "ansible.windows.win_file, loop of 3", 3, 3, ""),
    ("Copy the binary", "ansible.windows.win_copy", 1, 1, "no PE, arch or SCM check"),
    ("Inheritance off on the three folders", "ansible.windows.win_acl_inheritance, loop of 3", 3, 3, ""),
    ("Service SID, Administrators, SYSTEM on each folder", "ansible.windows.win_acl, loop of 9", 9, 9,
     "the service SID by name, resolvable only once the service exists"),
    ("Register: image path, account, start mode", "ansible.windows.win_service", 1, 1, ""),
    ("Recovery actions", "community.windows.win_service_recovery", 1, 1, ""),
    ("Per-service environment", "ansible.windows.win_regedit (REG_MULTI_SZ)", 1, 1, "secret values readable in the diff"),
    ("Log on as a service", "ansible.windows.win_user_right", 1, 1, ""),
    ("Event source", "community.windows.win_eventlog", 1, 1, ""),
    ("Firewall rule", "community.windows.win_firewall_rule", 1, 1, ""),
    ("Restart when the binary or environment changed", "ansible.windows.win_service (handler)", 1, 0, ""),
]

# What the role does (gowin.server.go_install with its defaults, then gowin.server.go_facts), as a
# role composed of stock module tasks: resolve the version from the index, download with a SHA-256
# check, extract, check VERSION and the PE machine of go.exe, move into place, run go version and
# go env GOROOT, record it in the registry, point the `current` junction, lock the install root
# down (harden_acl), clean up, report facts. One row = one task; the numbers are the round trips it
# costs on the first converge and on a converge with nothing to change (tasks guarded by
# `when: not installed` are skipped, and a skipped task does not contact the host).
# A module task costs one round trip: winrm and psrp always pipeline PowerShell modules, so one
# module run is one command execution on the host. Loops cost one per item; controller-side tasks
# cost none. Adjust this list when the role's scope changes.
COMPARISON: list[tuple[str, str, int, int, str]] = [
    ("Fetch the release index", "ansible.builtin.uri (delegate_to: localhost, run_once)", 0, 0, "controller only"),
    ("Host architecture (arch: auto)", "ansible.windows.setup", 1, 1, ""),
    ("Resolve version, URL and checksum", "ansible.builtin.set_fact", 0, 0, "controller only"),
    ("Read the install records", "ansible.windows.win_reg_stat", 1, 1, ""),
    ("Is the version folder there?", "ansible.windows.win_stat", 1, 1, ""),
    ("Create the staging folder", "ansible.windows.win_file (state: directory)", 1, 0, ""),
    ("Download the zip, check SHA-256", "ansible.windows.win_get_url (checksum, checksum_algorithm: sha256)", 1, 0,
     "the host downloads"),
    ("Extract", "community.windows.win_unzip", 1, 0, "ansible.windows has no unzip module"),
    ("Check go\\VERSION names the version", "ansible.windows.slurp + ansible.builtin.assert", 1, 0, ""),
    ("Check go.exe is a PE image for the arch", "ansible.windows.win_powershell", 1, 0, "no stock module reads PE headers"),
    ("Move the staged tree into place", "ansible.windows.win_powershell (Move-Item)", 1, 0,
     "no stock module renames a folder"),
    ("Run go version, go env GOROOT", "ansible.windows.win_command, twice", 2, 0, ""),
    ("Record Path, Sha256, SourceUrl, InstalledAt", "ansible.windows.win_regedit, loop of 4", 4, 0,
     "one module run per loop item"),
    ("Point the `current` junction", "ansible.windows.win_powershell (New-Item -ItemType Junction)", 1, 1,
     "neither ansible.windows nor community.windows has a junction module"),
    ("Set the Active value", "ansible.windows.win_regedit", 1, 1, ""),
    ("Inheritance off on the install root", "ansible.windows.win_acl_inheritance", 1, 1, ""),
    ("Administrators, SYSTEM full control; Users read", "ansible.windows.win_acl, loop of 3", 3, 3,
     "one per ACE; one more per read_groups entry"),
    ("Remove the staging folder", "ansible.windows.win_file (state: absent)", 1, 0, ""),
    ("Set GOROOT (go_env)", "ansible.windows.win_environment (level: machine)", 1, 1, "one per variable; no Go validation"),
    ("Put GOROOT\\bin on PATH (go_env)", "ansible.windows.win_path", 1, 1, ""),
    ("go version, go env -json (go_verify)", "ansible.windows.win_command, twice", 2, 2,
     "a new process's environment needs a wrapper script as well"),
    ("Smoke test folder, go.mod, main.go (go_verify)",
     "ansible.windows.win_file, win_command (go mod init), win_copy", 3, 3, ""),
    ("go build, check hello.exe, clean up (go_verify)", "ansible.windows.win_command, win_stat, win_file", 3, 3, ""),
    ("Report installed toolchains (go_facts)", "ansible.windows.win_powershell", 1, 1,
     "one script reading the records and the junction"),
]


# ------------------------------------------------------------------------------------ running


def run_playbook(playbook_bin: str, playbook: str, inventory: str, forks: int, log: str,
                 extra_vars: str | None = None) -> tuple[float, int, str]:
    """Run the playbook with the default callback, output to `log`; (wall seconds, rc, output)."""
    env = demo.ansible_env(ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_FORCE_COLOR", None)
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    cmd = [playbook_bin, playbook, "-i", inventory, "-f", str(forks)] + (["-e", extra_vars] if extra_vars else [])
    print("$ " + " ".join(cmd) + "  > " + os.path.relpath(log, REPO), flush=True)
    with open(log, "w", encoding="utf-8") as handle:
        start = time.monotonic()
        proc = subprocess.run(cmd, env=env, cwd=REPO, text=True, stdout=handle, stderr=subprocess.STDOUT, check=False)
        wall = time.monotonic() - start
    with open(log, "r", encoding="utf-8") as handle:
        return wall, proc.returncode, handle.read()


def per_host(counters: dict[str, dict], key: str) -> dict[str, float]:
    values = [int(c.get(key, 0)) for c in counters.values()]
    return {"mean": statistics.mean(values), "min": min(values), "max": max(values)}


def _fmt_stat(stat: dict[str, float], unit: str = "") -> str:
    if stat["min"] == stat["max"]:
        return "%s%s" % (_num(stat["mean"]), unit)
    return "%s%s (%s–%s)" % (_num(stat["mean"]), unit, _num(stat["min"]), _num(stat["max"]))


def _num(value: float) -> str:
    return ("%d" % value) if float(value).is_integer() else ("%.1f" % value)


def _kib(value: float) -> str:
    return "%.1f KiB" % (value / 1024.0)


# ------------------------------------------------------------------------------------ report


def measured_table(runs: list[dict]) -> list[str]:
    lines = [
        "| run | wall time | round trips / host | bytes sent / host | bytes received / host | hosts changed | zip downloads from mirror |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append("| %s | %.1f s | %s | %s | %s | %d of %d | %d |" % (
            r["name"], r["wall"], _fmt_stat(r["round_trips"]),
            _kib(r["bytes_sent"]["mean"]), _kib(r["bytes_received"]["mean"]),
            r["changed_hosts"], r["hosts"], r["downloads"],
        ))
    return lines


def comparison_lines(runs: list[dict], hosts: int, latency_ms: int, forks: int) -> list[str]:
    first = sum(row[2] for row in COMPARISON)
    again = sum(row[3] for row in COMPARISON)
    batches = math.ceil(hosts / max(1, forks))
    lines = [
        "| task | module | first converge | no-change converge | note |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for task, module, a, b, note in COMPARISON:
        module = re.sub(r"\b([a-z_]+\.[a-z_]+\.[a-z_0-9]+)\b", r"`\1`", module)
        lines.append("| %s | %s | %d | %d | %s |" % (task, module, a, b, note))
    lines.append("| **total (estimate)** | | **%d** | **%d** | |" % (first, again))
    lines += [
        "",
        "Latency floor = round trips per host × %d ms × %d batch(es) of up to %d hosts (the linear strategy "
        "waits for every host at each task). It leaves out Ansible's own per-task work, so real wall times are higher "
        "for both columns." % (latency_ms, batches, forks),
        "",
        "| | gowin.server.go_toolchain (measured round trips) | stock-module role (ESTIMATE) |",
        "| --- | ---: | ---: |",
    ]
    by_name = {r["key"]: r for r in runs}
    for key, label, est in (("first", "first converge", first), ("again", "no-change converge", again)):
        ours = by_name[key]["round_trips"]["mean"] if key in by_name else float("nan")
        lines.append("| %s: round trips / host | %s | ~%d |" % (label, _num(ours), est))
        lines.append("| %s: latency floor | %.1f s | ~%.1f s |" % (
            label, ours * latency_ms / 1000.0 * batches, est * latency_ms / 1000.0 * batches))
    return lines


def module_table(modules: list[dict]) -> list[str]:
    lines = [
        "| module | run | round trips | bytes sent / round trip | agent text sent / round trip (packed) | before: agent / round trip |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for m in modules:
        trips = m["round_trips"] or 1
        lines.append("| %s | %s | %d | %s | %s | %s |" % (
            m["module"], m["run"], m["round_trips"], _kib(m["bytes_sent"] / trips), _kib(m["agent_bytes"] / trips),
            _kib(BEFORE_AGENT_PACKED)))
    return lines


def service_binary() -> str | None:
    """The svcnative Go build for windows/amd64 (tests/fixtures/build.py), or None without Go."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gowin_fixture_build", os.path.join(REPO, "tests", "fixtures", "build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    try:
        return build.build("svcnative-amd64", build.go_binary())
    except build.GoMissing as err:
        print("bench: %s; win_service_go is not measured" % err, file=sys.stderr)
        return None


def measure_modules(playbook_bin: str, workdir: str, state_dir: str, base: str, WinSimHost: type) -> list[dict]:
    """Each module alone on one fresh host (first run, then no change): round trips and bytes sent."""
    from ansible_collections.gowin.server.plugins.plugin_utils import _channel

    name = "bytes-001"
    group_vars = demo.base_group_vars(state_dir, base)
    group_vars[demo.OS_PROFILE_VAR] = OS_PROFILE
    inventory = os.path.join(workdir, "modules.yml")
    demo.write_inventory(inventory, {name: {}}, group_vars)
    files = _channel.load_agent_files()
    out = []
    tasks = list(MODULE_TASKS)
    binary = service_binary()
    if binary:
        tasks.append(("win_service_go", SERVICE_TASK.format(src=binary)))
    for module, task in tasks:
        playbook = os.path.join(workdir, "module-%s.yml" % module)
        with open(playbook, "w", encoding="utf-8") as handle:
            handle.write("- hosts: all\n  gather_facts: false\n  tasks:\n    - name: %s\n      %s\n" % (module, task))
        for run in ("first", "no change"):
            WinSimHost(state_dir, name).reset_counters()
            log = os.path.join(workdir, "module-%s-%s.log" % (module, run.replace(" ", "-")))
            _wall, rc, output = run_playbook(playbook_bin, playbook, inventory, 1, log)
            if rc != 0:
                sys.stderr.write(output[-4000:])
                raise RuntimeError("the %s run of %s failed (rc=%d); full output in %s" % (run, module, rc, log))
            counters = WinSimHost(state_dir, name).counters()
            out.append({"module": module, "run": run, "round_trips": int(counters["round_trips"]),
                        "bytes_sent": int(counters["bytes_sent"]), "agent_bytes": _agent_bytes(files, counters)})
    return out


def measure_rolling(playbook_bin: str, workdir: str, state_dir: str, inventory: str, names: list[str], forks: int,
                    WinSimHost: type) -> list[dict]:
    """gowin.server.deploy_service across the fleet: a first deploy, then a rolling update to another release."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("gowin_fixture_build", os.path.join(REPO, "tests", "fixtures", "build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    try:
        releases = [build.build(name, build.go_binary()) for name in ("svcnative-healthy-amd64", "svcnative-healthy2-amd64")]
    except build.GoMissing as err:
        print("bench: %s; the rolling update is not measured" % err, file=sys.stderr)
        return []
    out = []
    for key, binary in (("deploy", releases[0]), ("update", releases[1])):
        for name in names:
            WinSimHost(state_dir, name).reset_counters()
        extra = json.dumps({"go_service_services": [{
            "name": "orders-api", "src": binary,
            "health": {"http": {"url": "http://127.0.0.1:47931/healthz"}, "success_threshold": 2, "period_s": 1}}]})
        log = os.path.join(workdir, "rolling-%s.log" % key)
        wall, rc, output = run_playbook(playbook_bin, "gowin.server.deploy_service", inventory, forks, log, extra)
        if rc != 0:
            sys.stderr.write(output[-4000:])
            raise RuntimeError("the rolling %s failed (rc=%d); full output in %s" % (key, rc, log))
        counters = {name: dict(WinSimHost(state_dir, name).counters()) for name in names}
        out.append({"key": key, "wall": wall, "round_trips": per_host(counters, "round_trips"),
                    "batches": output.count("PLAY [Roll Go services out across the fleet]")})
        print("rolling %s: %.1f s" % (key, wall), flush=True)
    return out


def measure_baseline(playbook_bin: str, workdir: str, state_dir: str, inventory: str, names: list[str], forks: int,
                     WinSimHost: type) -> list[dict]:
    """gowin.server.harden with the go_server baseline: an audit of fresh hosts, an enforce, then an audit again."""
    import json

    out = []
    for key, mode in (("audit", "audit"), ("enforce", "enforce"), ("again", "audit")):
        for name in names:
            WinSimHost(state_dir, name).reset_counters()
        log = os.path.join(workdir, "baseline-%s.log" % key)
        wall, rc, output = run_playbook(playbook_bin, "gowin.server.harden", inventory, forks, log,
                                        json.dumps({"gowin_baseline_mode": mode}))
        if rc != 0:
            sys.stderr.write(output[-4000:])
            raise RuntimeError("the baseline %s failed (rc=%d); full output in %s" % (key, rc, log))
        counters = {name: dict(WinSimHost(state_dir, name).counters()) for name in names}
        scores = [float(m) for m in re.findall(r"go_server \((?:audit|enforce)\): score ([0-9.]+)%", output)]
        out.append({"key": key, "wall": wall, "round_trips": per_host(counters, "round_trips"),
                    "bytes_sent": per_host(counters, "bytes_sent"), "bytes_received": per_host(counters, "bytes_received"),
                    "score": min(scores) if scores else None})
        print("baseline %s: %.1f s" % (key, wall), flush=True)
    return out


def lockdown_counts() -> tuple[int, int, str]:
    """(go_server settings the ansible-lockdown Windows-2022-CIS role also covers, that role's tasks for them, source)."""
    import yaml

    with open(os.path.join(REPO, "tests", "bench", "lockdown_cis_map.yml"), encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    tasks = {(entry["file"], task) for entry in data["settings"].values() for task in entry["tasks"]}
    source = data.get("source") or {}
    return len(data["settings"]), len(tasks), "%s %s" % (source.get("repo", "?"), source.get("commit_or_note", ""))


def _agent_bytes(files: t.Any, counters: dict) -> int:
    """Packed agent bytes of this run's round trips, from winsim's record of the families each one got."""
    total = 0
    for families in counters.get("families_sent", []):
        total += len(files.assemble(tuple(families))[2])
    return total


# The redaction inputs that were quadratic before issue 11/13 (tests/unit/test_secret_redaction.py
# checks each finishes; here they are timed).
REDACTION_SHAPES = {
    "colons": lambda n: "a:" * (n // 2) + "@",
    "ats": lambda n: "https://" + "@" * n,
    "urls": lambda n: ("x://y:1" * (n // 14)) + "@" * (n // 2),
    "entries": lambda n: "|https://u:x@h" * (n // 14),
    "long-user": lambda n: "a" * (n // 2) + ":" + "b" * (n // 2) + "@" + "c" * 10,
}


def _best_of(func: t.Callable[[], object], runs: int = 3) -> float:
    best = math.inf
    for _run in range(runs):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def measure_controller() -> list[tuple[str, str, str]]:
    """Controller-side CPU work with a speed goal: (what, goal, measured)."""
    from ansible_collections.gowin.server.plugins.plugin_utils import _baseline, _gobinary, _goenv

    rows = [("dsc_baseline: load and validate the shipped go_server document (once per host)", "under 0.5 s",
             "%.3f s" % _best_of(lambda: _baseline.load("go_server", [])))]
    for size in (100_000, 1_000_000):
        worst = max(_best_of(lambda shape=shape: _goenv.redact_url(shape(size))) for shape in REDACTION_SHAPES.values())
        rows.append(("go_env URL redaction, worst of %d shapes, %s value" % (len(REDACTION_SHAPES), _kib(size)),
                     "linear: 1 MB about 10x 100 KB", "%.3f s" % worst))
    sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))
    import build as fixtures  # noqa: E402  (tests/fixtures/build.py: the Go test programs)

    try:
        with open(fixtures.build("consolehttp-amd64"), "rb") as handle:
            image = handle.read()
    except fixtures.GoMissing as err:
        rows.append(("binary inspection of a 20 MB Go binary", "under 0.75 s", "not measured: %s" % err))
        return rows
    big = image + b"\0" * (20 * 1024 * 1024 - len(image))  # an overlay after the image
    rows.append(("binary inspection (_gobinary.inspect) of a 20 MB Go binary", "under 0.75 s",
                 "%.3f s" % _best_of(lambda: _gobinary.inspect(big))))
    return rows


def render(runs: list[dict], args: argparse.Namespace, ansible_version: str, modules: list[dict] | None = None,
           controller: list[tuple[str, str, str]] | None = None, rolling: list[dict] | None = None,
           baseline: list[dict] | None = None) -> str:
    today = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by tools/bench.py (`make bench`); edit the script, not this file. -->",
        "",
        "**Simulated hosts.** These numbers come from `gowin.server.winsim` hosts (a model of Windows kept on disk) "
        "with a simulated latency added to every round trip, and from stand-in Go zips served on loopback by "
        "`tools/gomirror.py`. They compare approaches under one model; they are not measurements of Windows.",
        "",
        "- date: %s" % today,
        "- hosts: %d (os profile %s), forks: %d" % (args.hosts, OS_PROFILE, args.forks),
        "- simulated latency: %d ms per round trip" % args.latency_ms,
        "- ansible-core %s, Python %s, %s" % (ansible_version, platform.python_version(), platform.platform(terse=True)),
        "",
        "```yaml",
        PLAYBOOK.rstrip("\n"),
        "```",
        "",
        "## gowin.server.go_toolchain",
        "",
    ]
    out += measured_table(runs)
    out += [
        "",
        "Round trips and bytes are per host, from the winsim counters (mean; min–max when hosts differ), reset before "
        "each run. A round trip is one command execution on the host; the byte columns are winsim's `bytes_sent` and "
        "`bytes_received` counters for those executions. The zips (last column) are fetched by the host from the "
        "mirror, not sent over the channel.",
        "",
        "## Compared with a role built from stock modules (estimate)",
        "",
        "The same job written as tasks of `ansible.windows` (and `community.windows` where ansible.windows has no "
        "module). This is a clearly labelled **estimate**, counted task by task, not a measured run: each module task "
        "is one round trip, because the winrm and psrp connection plugins always pipeline PowerShell modules (one "
        "command execution per module run); loops cost one per item; controller-side tasks cost none. On WinRM one "
        "command execution is itself several HTTP exchanges (command, send input, receive output, signal), the same "
        "for both columns. Each stock task also ships its module, Ansible's exec wrapper and its module_utils to the "
        "host; this estimate does not count bytes.",
        "",
    ]
    out += comparison_lines(runs, args.hosts, args.latency_ms, args.forks)
    if modules:
        out += [
            "",
            "## Bytes per round trip, by module",
            "",
            "Each module alone on one fresh simulated host, first run then a run with nothing to change. Since op "
            "families, a round trip carries `core.ps1` plus only the families its ops use, minified (comments, "
            "blank lines and indentation dropped) and packed (gzip, then base64); before, every round trip carried "
            "the whole agent (%s packed, commit 22feaec). Bytes sent are winsim's `bytes_sent` (bootstrap command, "
            "packed agent and request)." % _kib(BEFORE_AGENT_PACKED),
            "",
        ]
        out += module_table(modules)
    service = [m for m in modules or [] if m["module"] == "win_service_go"]
    if service:
        first = sum(row[2] for row in SERVICE_COMPARISON)
        again = sum(row[3] for row in SERVICE_COMPARISON)
        out += ["", "## win_service_go compared with stock tasks (estimate)", "",
                "One service (binary, environment with a secret, firewall rule), first run and no-change run. The stock "
                "column is an **estimate** counted task by task as above; the win_service_go column is measured.", "",
                "| task | module | first run | no-change run | note |", "| --- | --- | ---: | ---: | --- |"]
        for task, module, a, b, note in SERVICE_COMPARISON:
            module = re.sub(r"\b([a-z_]+\.[a-z_]+\.[a-z_0-9]+)\b", r"`\1`", module)
            out.append("| %s | %s | %d | %d | %s |" % (task, module, a, b, note))
        out.append("| **total (estimate)** | | **%d** | **%d** | |" % (first, again))
        out.append("| **gowin.server.win_service_go (measured)** | | **%d** | **%d** | |"
                   % (service[0]["round_trips"], service[-1]["round_trips"]))
    if rolling:
        stock = sum(row[2] for row in ROLLING_COMPARISON)
        update = [r for r in rolling if r["key"] == "update"][0]
        out += ["", "## Rolling update across the fleet (gowin.server.deploy_service)", "",
                "%d simulated hosts, %d ms per round trip, forks %d, `serial: [1, \"25%%\", \"100%%\"]` (%d batches): one service "
                "(orders-api, an HTTP health check with success_threshold 2), first a deploy, then an update to another "
                "healthy release. The stock column is an **estimate** of the same update per host, task by task." % (
                    args.hosts, args.latency_ms, args.forks, update["batches"]), "",
                "| run | round trips / host | wall time |", "| --- | ---: | ---: |"]
        for r in rolling:
            out.append("| %s | %s | %.1f s |" % ({"deploy": "first deploy", "update": "rolling update"}[r["key"]],
                                                 _fmt_stat(r["round_trips"]), r["wall"]))
        out += ["", "| task | module | round trips | note |", "| --- | --- | ---: | --- |"]
        for task, module, n, note in ROLLING_COMPARISON:
            module = re.sub(r"\b([a-z_]+\.[a-z_]+\.[a-z_0-9]+)\b", r"`\1`", module)
            out.append("| %s | %s | %d | %s |" % (task, module, n, note))
        out.append("| **total (estimate), release healthy** | | **%d** | plus %d in a `rescue` when it is not |" % (stock, ROLLING_RESCUE))
        out.append("| **gowin.server.deploy_service (measured), update** | | **%s** | rollback included in the one host op |"
                   % _num(update["round_trips"]["mean"]))
    if baseline:
        shared, tasks, source = lockdown_counts()
        labels = {"audit": "audit of fresh hosts", "enforce": "enforce", "again": "audit after the enforce"}
        out += ["", "## Hardening baseline (gowin.server.harden, go_server)", "",
                "%d simulated hosts (%s), %d ms per round trip, forks %d: the shipped `go_server` baseline (opt-in settings "
                "left out), audited, enforced, then audited again. Score is the lowest host's." % (
                    args.hosts, OS_PROFILE, args.latency_ms, args.forks), "",
                "| run | round trips / host | bytes sent / host | bytes received / host | wall time | score |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in baseline:
            out.append("| %s | %s | %s | %s | %.1f s | %s |" % (
                labels[r["key"]], _fmt_stat(r["round_trips"]), _kib(r["bytes_sent"]["mean"]), _kib(r["bytes_received"]["mean"]),
                r["wall"], "-" if r["score"] is None else "%.1f%%" % r["score"]))
        out += ["", "The ansible-lockdown Windows-2022-CIS role covers %d of these settings with %d tasks (counted from its "
                "task files, %s; tests/bench/lockdown_cis_map.yml): on WinRM each task that reaches the host is at least "
                "one round trip, and the role has no audit mode that changes nothing." % (shared, tasks, source.strip())]
    if controller:
        out += ["", "## Controller-side work", "", "Best of three runs on the controller (no host involved).", "",
                "| work | goal | measured |", "|---|---|---|"]
        out += ["| %s | %s | %s |" % row for row in controller]
    out += [
        "",
        "What the estimate leaves out, each of which would add tasks to the stock role: cleaning up when a step fails "
        "part-way (a `block`/`rescue` with its own tasks), completing an interrupted install on the next run, and "
        "pruning old versions (`keep_versions`).",
        "",
    ]
    return "\n".join(out)


# ------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=20, help="simulated hosts (default 20)")
    parser.add_argument("--latency-ms", type=int, default=200, help="simulated latency per round trip (default 200)")
    parser.add_argument("--forks", type=int, default=20, help="ansible-playbook forks (default 20)")
    parser.add_argument("--workdir", default=os.path.join(REPO, ".tmp", "bench"), help="mirror, state, inventory, logs")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks.md"), help="report file")
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write --out")
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.forks < 1 or args.latency_ms < 0:
        parser.error("--hosts and --forks must be at least 1, --latency-ms at least 0")

    workdir = os.path.abspath(args.workdir)
    state_dir = os.path.join(workdir, "state")
    mirror_dir = os.path.join(workdir, "mirror")
    inventory = os.path.join(workdir, "inventory.yml")
    playbook = os.path.join(workdir, "go_toolchain.yml")
    names = ["bench-%03d" % i for i in range(1, args.hosts + 1)]

    print(demo.BANNER + "\n", flush=True)
    try:
        demo.check_collection()
        playbook_bin = demo.ansible_bin("ansible-playbook")
        WinSimHost = demo.import_winsim()
    except (demo.DemoError, ImportError) as err:
        print("bench: %s" % err, file=sys.stderr)
        return 2
    try:
        from ansible.release import __version__ as ansible_version
    except ImportError:
        ansible_version = "?"

    if os.path.isdir(state_dir):
        shutil.rmtree(state_dir)
    os.makedirs(state_dir)
    gomirror.build(mirror_dir)
    server, base = gomirror.serve(mirror_dir)
    try:
        group_vars = demo.base_group_vars(state_dir, base)
        group_vars[demo.OS_PROFILE_VAR] = OS_PROFILE
        group_vars[demo.LATENCY_VAR] = args.latency_ms
        demo.write_inventory(inventory, {name: {} for name in names}, group_vars)
        with open(playbook, "w", encoding="utf-8") as handle:
            handle.write(PLAYBOOK)

        runs: list[dict] = []
        for key, label in (("first", "first converge"), ("again", "no-change converge")):
            if runs:  # the state dir is fresh before the first run: nothing to reset
                for name in names:
                    WinSimHost(state_dir, name).reset_counters()
            served_before = len(server.requests)
            log = os.path.join(workdir, "%s.log" % key)
            wall, rc, output = run_playbook(playbook_bin, playbook, inventory, args.forks, log)
            stats = demo.parse_recap(output)
            if rc != 0 or set(stats) != set(names):
                sys.stderr.write(output[-6000:])
                print("bench: the %s failed (rc=%d); full output in %s" % (label, rc, log), file=sys.stderr)
                return rc or 1
            counters = {name: dict(WinSimHost(state_dir, name).counters()) for name in names}
            runs.append({
                "key": key,
                "name": label,
                "wall": wall,
                "hosts": len(names),
                "round_trips": per_host(counters, "round_trips"),
                "bytes_sent": per_host(counters, "bytes_sent"),
                "bytes_received": per_host(counters, "bytes_received"),
                "changed_hosts": sum(1 for name in names if (stats.get(name) or {}).get("changed", 0)),
                "downloads": sum(1 for r in server.requests[served_before:] if r["path"].endswith(".zip") and r["status"] == 200),
            })
            print("%s: %.1f s" % (label, wall), flush=True)
        rolling = measure_rolling(playbook_bin, workdir, state_dir, inventory, names, args.forks, WinSimHost)
        baseline = measure_baseline(playbook_bin, workdir, state_dir, inventory, names, args.forks, WinSimHost)
        modules = measure_modules(playbook_bin, workdir, state_dir, base, WinSimHost)
    finally:
        server.shutdown()
    controller = measure_controller()

    report = render(runs, args, ansible_version, modules, controller, rolling, baseline)
    print()
    print(report)
    if not args.no_write:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(report)
        print("wrote %s" % os.path.relpath(os.path.abspath(args.out), REPO))
    if runs[-1]["changed_hosts"]:
        print("bench: the no-change converge reported changes on %d host(s): the role is not idempotent"
              % runs[-1]["changed_hosts"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
