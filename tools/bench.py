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

Then, at fleet scale (--fleet-hosts, default 200; --fleet-forks, default 50), the whole site playbook with one
`/bin/true` task per host over the local connection beside it, twice: wall time, round trips and bytes per host,
the controller CPU per host-task of the gowin.server modules against that of `/bin/true` (split by task in the
same run by a callback plugin), and the controller's peak memory. `--only fleet` runs just that part and replaces
only its section of the report; `--no-fleet` leaves it out.

The hosts are simulations and the latency is added by winsim; numbers compare approaches under
one model, they are not measurements of a real Windows fleet.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
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


def playbook_command(playbook_bin: str, playbook: str, inventory: str, forks: int, log: str,
                     extra_vars: str | None = None, **extra_env: str) -> tuple[list[str], dict[str, str]]:
    """The ansible-playbook command line (printed) and its environment: the default callback, no colour."""
    env = demo.ansible_env(ANSIBLE_NOCOLOR="1", **extra_env)
    env.pop("ANSIBLE_FORCE_COLOR", None)
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    cmd = [playbook_bin, playbook, "-i", inventory, "-f", str(forks)] + (["-e", extra_vars] if extra_vars else [])
    print("$ " + " ".join(cmd) + "  > " + os.path.relpath(log, REPO), flush=True)
    return cmd, env


def run_playbook(playbook_bin: str, playbook: str, inventory: str, forks: int, log: str,
                 extra_vars: str | None = None) -> tuple[float, int, str]:
    """Run the playbook with the default callback, output to `log`; (wall seconds, rc, output)."""
    cmd, env = playbook_command(playbook_bin, playbook, inventory, forks, log, extra_vars)
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


# ------------------------------------------------------------------------------------ fleet scale

# The whole site on a large simulated fleet and, in the same ansible-playbook run, one trivial task per host over the
# local connection: what Ansible's own per-host-task machinery costs, the baseline for what a gowin.server task costs.
FLEET_TRUE_TASK = "Run /bin/true on the controller (the per-host-task baseline)"
FLEET_PLAYBOOK = (
    "# Written by tools/bench.py: the whole site, then one trivial task per host on the controller.\n"
    "- name: The whole site\n"
    "  ansible.builtin.import_playbook: gowin.server.site\n"
    "\n"
    "- name: The per-host-task baseline (local connection)\n"
    "  hosts: all\n"
    "  gather_facts: false\n"
    "  vars:\n"
    "    ansible_connection: local\n"
    "    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
    "  tasks:\n"
    "    - name: %s\n"
    "      ansible.builtin.command: /bin/true\n"
    "      changed_when: false\n" % FLEET_TRUE_TASK
)
# The callback that splits the run's CPU by task: a shim in the work folder loads cpu_callback_class() from this file.
CPU_CALLBACK = "gowin_bench_cpu"
CPU_RECORD_VAR = "GOWIN_BENCH_CPU_FILE"
CPU_CALLBACK_SHIM = '''# Written by tools/bench.py: its per-task CPU recorder (bench.cpu_callback_class) as a callback plugin.
DOCUMENTATION = """
name: gowin_bench_cpu
type: aggregate
short_description: CPU of the ansible-playbook process tree per play and task, for tools/bench.py
description: Writes one JSON line per play or task to the file named by GOWIN_BENCH_CPU_FILE.
"""
import sys

sys.path.insert(0, %r)
import bench  # noqa: E402

CallbackModule = bench.cpu_callback_class()
'''
# How the segments of a run are grouped in the report: (kind, label).
FLEET_KINDS: list[tuple[str, str]] = [
    ("gowin", "gowin.server modules on the simulated hosts"),
    ("true", "`ansible.builtin.command: /bin/true`, local connection"),
    ("other", "other tasks of the site (assert, debug, set_fact, include_role)"),
    ("report", "`gowin.server.fleet_report` (on localhost, once)"),
    ("between", "between tasks (playbook load, play and batch starts)"),
]
RESULT_STATUSES = ("ok", "failed", "skipped", "unreachable")
FLEET_RUN_LABELS = {"first": "first converge", "again": "no-change converge"}
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def parse_stat(line: str) -> tuple[int, int, int]:
    """(ppid, clock ticks of CPU: utime + stime + cutime + cstime, rss pages) from a /proc/<pid>/stat line."""
    fields = line[line.rindex(")") + 2:].split()  # the command name, in brackets, may hold spaces
    return int(fields[1]), sum(int(field) for field in fields[11:15]), int(fields[21])


def process_table() -> dict[int, tuple[int, int, int]]:
    """{pid: parse_stat(...)} of every process now; a process gone meanwhile is left out."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as handle:
                    table[int(entry)] = parse_stat(handle.read())
            except (OSError, ValueError):
                continue
    return table


def descendants(parents: t.Mapping[int, int], root: int) -> list[int]:
    """root and every process below it, from a {pid: ppid} map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _tree(root: int) -> tuple[dict[int, tuple[int, int, int]], list[int]]:
    table = process_table()
    return table, [pid for pid in descendants({pid: row[0] for pid, row in table.items()}, root) if pid in table]


def tree_cpu(root: int) -> float:
    """User + system CPU seconds of root's process tree so far: the live processes' own and their reaped children's."""
    table, pids = _tree(root)
    return sum(table[pid][1] for pid in pids) / _CLK_TCK


def parse_proc_stat_cpu(text: str) -> int:
    """Busy clock ticks of the whole machine (every state but idle and iowait) from /proc/stat."""
    fields = [int(field) for field in text.split("\n", 1)[0].split()[1:9]]
    return sum(fields) - fields[3] - fields[4]


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy since boot, every process counted."""
    with open("/proc/stat", encoding="utf-8") as handle:
        return parse_proc_stat_cpu(handle.read()) / _CLK_TCK


def pss_bytes(pid: int) -> int:
    """The proportional set size of a process (shared pages split between their users); 0 when it is gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class MemorySampler(threading.Thread):
    """Samples root's process tree every `interval` seconds: the peaks of its summed RSS, summed PSS and size."""

    def __init__(self, root: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_rss = self.peak_pss = self.peak_processes = self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            table, pids = _tree(self.root)
            self.peak_rss = max(self.peak_rss, sum(table[pid][2] for pid in pids) * _PAGE_SIZE)
            self.peak_pss = max(self.peak_pss, sum(pss_bytes(pid) for pid in pids))
            self.peak_processes = max(self.peak_processes, len(pids))
            self.samples += 1

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_measured(cmd: list[str], env: dict[str, str], log: str) -> dict[str, t.Any]:
    """Run cmd with output to `log`, reaped by os.wait4: wall time, rc, output, the CPU (user, sys) and ru_maxrss of
    its process tree (the reaped descendants included), and the sampled memory peaks."""
    with open(log, "w", encoding="utf-8") as handle:
        start, busy = time.monotonic(), machine_cpu()
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, text=True, stdout=handle, stderr=subprocess.STDOUT)
        sampler = MemorySampler(proc.pid)
        sampler.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall, busy = time.monotonic() - start, machine_cpu() - busy
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    with open(log, "r", encoding="utf-8") as handle:
        output = handle.read()
    return {"wall": wall, "rc": proc.returncode, "output": output, "cpu_user": usage.ru_utime, "cpu_sys": usage.ru_stime,
            "machine_cpu": busy, "maxrss": usage.ru_maxrss * 1024, "peak_rss": sampler.peak_rss, "peak_pss": sampler.peak_pss,
            "peak_processes": sampler.peak_processes, "samples": sampler.samples}


class SegmentLog:
    """Cuts a run into segments at its events (a play or a task starting, the run ending): for each, the CPU and wall
    time spent from its start to the next event and the results of its task, one JSON line each to `path`. The linear
    strategy ends a task on every host of the batch before it starts the next, so a task's segment holds its work."""

    def __init__(self, path: str, cpu: t.Callable[[], float], clock: t.Callable[[], float] = time.monotonic) -> None:
        self._path, self._cpu, self._clock = path, cpu, clock
        self._open: dict[str, t.Any] | None = None

    def boundary(self, kind: str, name: str = "", action: str = "") -> None:
        """Close the open segment and, unless kind is "end", open one."""
        cpu, now = self._cpu(), self._clock()
        if self._open is not None:
            segment = self._open
            segment["cpu"] = cpu - segment.pop("_cpu")
            segment["wall"] = now - segment.pop("_start")
            with open(self._path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(segment) + "\n")
        self._open = None
        if kind != "end":
            self._open = {"kind": kind, "name": name, "action": action, "_cpu": cpu, "_start": now, "changed": 0}
            self._open.update((status, 0) for status in RESULT_STATUSES)

    def result(self, status: str, changed: bool = False) -> None:
        if self._open is not None:
            self._open[status] += 1
            self._open["changed"] += int(changed)


def cpu_callback_class() -> type:
    """The callback plugin class (ansible imported only here): a SegmentLog of the ansible-playbook process tree."""
    from ansible.plugins.callback import CallbackBase

    class CallbackModule(CallbackBase):
        CALLBACK_VERSION = 2.0
        CALLBACK_TYPE = "aggregate"
        CALLBACK_NAME = CPU_CALLBACK
        CALLBACK_NEEDS_ENABLED = True

        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            super().__init__(*args, **kwargs)
            root = os.getpid()  # callbacks run in the main ansible-playbook process, the workers' parent
            self._log = SegmentLog(os.environ[CPU_RECORD_VAR], lambda: tree_cpu(root))

        def v2_playbook_on_start(self, playbook: t.Any) -> None:
            self._log.boundary("load")

        def v2_playbook_on_play_start(self, play: t.Any) -> None:
            self._log.boundary("play", play.get_name())

        def v2_playbook_on_task_start(self, task: t.Any, is_conditional: bool) -> None:
            self._log.boundary("task", task.get_name(), task.action)

        def v2_playbook_on_handler_task_start(self, task: t.Any) -> None:
            self._log.boundary("handler", task.get_name(), task.action)

        def v2_playbook_on_stats(self, stats: t.Any) -> None:
            self._log.boundary("end")

        def v2_runner_on_ok(self, result: t.Any) -> None:
            self._log.result("ok", bool(result._result.get("changed")))

        def v2_runner_on_failed(self, result: t.Any, ignore_errors: bool = False) -> None:
            self._log.result("failed", bool(result._result.get("changed")))

        def v2_runner_on_skipped(self, result: t.Any) -> None:
            self._log.result("skipped")

        def v2_runner_on_unreachable(self, result: t.Any) -> None:
            self._log.result("unreachable")

    return CallbackModule


def segment_kind(segment: dict[str, t.Any]) -> str:
    """The FLEET_KINDS key of a segment."""
    action = segment.get("action") or ""
    if segment["kind"] not in ("task", "handler"):
        return "between"
    if action == "gowin.server.fleet_report":
        return "report"
    if action.startswith("gowin.server."):
        return "gowin"
    return "true" if segment.get("name") == FLEET_TRUE_TASK else "other"


def host_tasks(segment: dict[str, t.Any]) -> int:
    """The host-tasks of a segment: one per host its task returned a result for (a loop's items are one)."""
    return sum(int(segment.get(status, 0)) for status in RESULT_STATUSES)


def cpu_by_kind(segments: t.Iterable[dict[str, t.Any]]) -> dict[str, dict[str, float]]:
    """{kind: {host_tasks, skipped, cpu}} over the segments, for every kind of FLEET_KINDS."""
    out = {key: {"host_tasks": 0, "skipped": 0, "cpu": 0.0} for key, _label in FLEET_KINDS}
    for segment in segments:
        row = out[segment_kind(segment)]
        row["host_tasks"] += host_tasks(segment)
        row["skipped"] += int(segment.get("skipped", 0))
        row["cpu"] += float(segment["cpu"])
    return out


def cpu_by_module(segments: t.Iterable[dict[str, t.Any]]) -> dict[str, dict[str, float]]:
    """{module: {host_tasks, skipped, cpu}} over the segments of gowin.server modules on the hosts."""
    out: dict[str, dict[str, float]] = {}
    for segment in segments:
        if segment_kind(segment) == "gowin":
            row = out.setdefault(segment["action"].rsplit(".", 1)[-1], {"host_tasks": 0, "skipped": 0, "cpu": 0.0})
            row["host_tasks"] += host_tasks(segment)
            row["skipped"] += int(segment.get("skipped", 0))
            row["cpu"] += float(segment["cpu"])
    return out


def ms_per_host_task(row: t.Mapping[str, float]) -> float | None:
    """Milliseconds of controller CPU per host-task, None without host-tasks."""
    return row["cpu"] * 1000.0 / row["host_tasks"] if row["host_tasks"] else None


def write_fleet_files(fleet_dir: str, state_dir: str, base: str, names: list[str], latency_ms: int,
                      binary: dict[str, str]) -> tuple[str, str, str]:
    """The fleet's inventory (the demo's service, on every host), playbook and callback folder: their paths."""
    group_vars = demo.base_group_vars(state_dir, base)
    group_vars[demo.OS_PROFILE_VAR] = OS_PROFILE
    group_vars[demo.LATENCY_VAR] = latency_ms
    group_vars["go_service_services"] = [demo.service_entry(binary)]
    inventory = demo.write_inventory(os.path.join(fleet_dir, "inventory.yml"), {name: {} for name in names}, group_vars)
    playbook = os.path.join(fleet_dir, "site-and-baseline.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(FLEET_PLAYBOOK)
    callbacks = os.path.join(fleet_dir, "callback_plugins")
    os.makedirs(callbacks, exist_ok=True)
    with open(os.path.join(callbacks, CPU_CALLBACK + ".py"), "w", encoding="utf-8") as handle:
        handle.write(CPU_CALLBACK_SHIM % os.path.join(REPO, "tools"))
    return inventory, playbook, callbacks


def fleet_run(playbook_bin: str, fleet_dir: str, files: tuple[str, str, str], names: list[str], forks: int,
              key: str, WinSimHost: type) -> dict[str, t.Any]:
    """One run of the fleet playbook, measured: wall, winsim counters per host, changed hosts, CPU, memory."""
    inventory, playbook, callbacks = files
    state_dir = os.path.join(fleet_dir, "state")
    record = os.path.join(fleet_dir, "%s-cpu.jsonl" % key)
    if os.path.exists(record):
        os.remove(record)
    log = os.path.join(fleet_dir, "%s.log" % key)
    extra_vars = json.dumps({"gowin_report_dir": os.path.join(fleet_dir, "report-%s" % key)})
    cmd, env = playbook_command(playbook_bin, playbook, inventory, forks, log, extra_vars, ANSIBLE_CALLBACKS_ENABLED=CPU_CALLBACK,
                                ANSIBLE_CALLBACK_PLUGINS=callbacks, **{CPU_RECORD_VAR: record})
    run = run_measured(cmd, env, log)
    output = run.pop("output")
    stats = demo.parse_recap(output)
    if run["rc"] != 0 or not set(names) <= set(stats):
        sys.stderr.write(output[-6000:])
        raise RuntimeError("the fleet %s failed (rc=%d); full output in %s" % (key, run["rc"], log))
    with open(record, encoding="utf-8") as handle:
        segments = [json.loads(line) for line in handle]
    with open(log, encoding="utf-8") as handle:
        run["warnings"] = sum(1 for line in handle if "[WARNING]" in line)
    counters = {name: dict(WinSimHost(state_dir, name).counters()) for name in names}
    run.update({
        "key": key, "hosts": len(names),
        "round_trips": per_host(counters, "round_trips"),
        "bytes_sent": per_host(counters, "bytes_sent"), "bytes_received": per_host(counters, "bytes_received"),
        "changed_hosts": sum(1 for name in names if stats[name]["changed"]),
        "kinds": cpu_by_kind(segments), "modules": cpu_by_module(segments),
        "segments_cpu": sum(float(s["cpu"]) for s in segments),
    })
    print("fleet %s: %.1f s, %.1f s CPU" % (key, run["wall"], run["cpu_user"] + run["cpu_sys"]), flush=True)
    return run


def measure_fleet(playbook_bin: str, workdir: str, base: str, hosts: int, forks: int, latency_ms: int,
                  WinSimHost: type) -> dict[str, t.Any] | None:
    """The whole site and /bin/true on `hosts` fresh simulated hosts: a first converge, then a no-change converge."""
    fleet_dir = os.path.join(workdir, "fleet")
    state_dir = os.path.join(fleet_dir, "state")
    try:
        binary = demo.build_service(os.path.join(fleet_dir, "build"))
    except demo.DemoError as err:
        print("bench: %s; the fleet is not measured" % err, file=sys.stderr)
        return None
    if os.path.isdir(state_dir):
        shutil.rmtree(state_dir)
    os.makedirs(state_dir)
    names = ["fleet-%03d" % i for i in range(1, hosts + 1)]
    files = write_fleet_files(fleet_dir, state_dir, base, names, latency_ms, binary)
    runs = []
    for key in ("first", "again"):
        for name in names if runs else ():  # fresh hosts before the first run: nothing to reset
            WinSimHost(state_dir, name).reset_counters()
        runs.append(fleet_run(playbook_bin, fleet_dir, files, names, forks, key, WinSimHost))
    return {"hosts": hosts, "forks": forks, "latency_ms": latency_ms, "runs": runs,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")}


def _ms(value: float | None) -> str:
    return "-" if value is None else "%.1f ms" % value


def _mib(value: float) -> str:
    return "%.0f MiB" % (value / 1024.0 / 1024.0)


def fleet_run_table(runs: list[dict[str, t.Any]]) -> list[str]:
    lines = ["| run | wall time | round trips / host | bytes sent / host | bytes received / host | hosts changed | "
             "controller CPU (user + sys) | largest process (ru_maxrss) | process tree, peak PSS (RSS) summed |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        lines.append("| %s | %.1f s | %s | %s | %s | %d of %d | %.1f s + %.1f s | %s | %s (%s), %d processes |" % (
            FLEET_RUN_LABELS[r["key"]], r["wall"], _fmt_stat(r["round_trips"]), _kib(r["bytes_sent"]["mean"]),
            _kib(r["bytes_received"]["mean"]), r["changed_hosts"], r["hosts"], r["cpu_user"], r["cpu_sys"],
            _mib(r["maxrss"]), _mib(r["peak_pss"]), _mib(r["peak_rss"]), r["peak_processes"]))
    return lines


def other_load_text(runs: list[dict[str, t.Any]], cores: int | None = None) -> str:
    """What else kept the machine's cores busy during each run (from /proc/stat, less the run's own tree)."""
    cores = cores or os.cpu_count() or 1
    parts = []
    for r in runs:
        other = max(0.0, r["machine_cpu"] - r["cpu_user"] - r["cpu_sys"])
        parts.append("%s %.0f CPU s (%.0f %% of %d cores)" % (FLEET_RUN_LABELS[r["key"]], other, 100.0 * other / (r["wall"] * cores), cores))
    return ("Other processes on the machine (tools/bench.py itself, and anything else running) used, during the runs: %s; "
            "wall times are only comparable between runs with little of it." % ", ".join(parts))


def fleet_cpu_table(runs: list[dict[str, t.Any]]) -> list[str]:
    """Controller CPU by kind of task, each run in two columns: host-tasks and CPU (ms per host-task)."""
    head = " | ".join("%s: host-tasks | %s: CPU (per host-task)" % ((FLEET_RUN_LABELS[r["key"]],) * 2) for r in runs)
    lines = ["| task | %s |" % head, "| --- |" + " ---: | ---: |" * len(runs)]
    for key, label in FLEET_KINDS:
        cells = []
        for r in runs:
            row = r["kinds"][key]
            per = ms_per_host_task(row) if key != "between" else None
            cells.append("%s | %.1f s%s" % (_num(row["host_tasks"]) if key != "between" else "-", row["cpu"],
                                            " (%s)" % _ms(per) if per is not None else ""))
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    lines.append("| outside the callback's view (interpreter start-up, inventory, exit) | %s |" % " | ".join(
        "- | %.1f s" % (r["cpu_user"] + r["cpu_sys"] - r["segments_cpu"]) for r in runs))
    lines.append("| **the ansible-playbook process tree (os.wait4)** | %s |" % " | ".join(
        "**%d** | **%.1f s**" % (sum(k["host_tasks"] for k in r["kinds"].values()), r["cpu_user"] + r["cpu_sys"]) for r in runs))
    return lines


def fleet_module_table(runs: list[dict[str, t.Any]]) -> list[str]:
    lines = ["| module | %s |" % " | ".join("%s: host-tasks | CPU / host-task" % FLEET_RUN_LABELS[r["key"]] for r in runs),
             "| --- |" + " ---: | ---: |" * len(runs)]
    for module in sorted({m for r in runs for m in r["modules"]}):
        cells = []
        for r in runs:
            row = r["modules"].get(module, {"host_tasks": 0, "skipped": 0, "cpu": 0.0})
            cells.append("%s | %s" % (_num(row["host_tasks"]), _ms(ms_per_host_task(row))))
        lines.append("| `gowin.server.%s` | %s |" % (module, " | ".join(cells)))
    return lines


def fleet_ratio_lines(runs: list[dict[str, t.Any]]) -> list[str]:
    out = []
    for r in runs:
        ours, base = ms_per_host_task(r["kinds"]["gowin"]), ms_per_host_task(r["kinds"]["true"])
        if ours is not None and base:
            out.append("- %s: a gowin.server host-task cost %s of controller CPU, %.1fx the %s of a `/bin/true` host-task."
                       % (FLEET_RUN_LABELS[r["key"]], _ms(ours), ours / base, _ms(base)))
    return out


def fleet_section(fleet: dict[str, t.Any], ansible_version: str) -> list[str]:
    runs = fleet["runs"]
    again = [r for r in runs if r["key"] == "again"]
    out = [
        "## Fleet scale (%d simulated hosts)" % fleet["hosts"],
        "",
        "The whole site (`gowin.server.site`: the toolchain, the services through deploy_service with its canary, 25 %% "
        "and rest batches, the baseline audit through harden, validate and the fleet report), then one "
        "`ansible.builtin.command: /bin/true` per host over the local connection, in one ansible-playbook run: %d "
        "simulated hosts (%s), forks %d, %d ms per round trip, the demo's orders-api service on every host; "
        "%s, ansible-core %s, %d CPU cores. First converge on fresh hosts, then the same run again." % (
            fleet["hosts"], OS_PROFILE, fleet["forks"], fleet["latency_ms"], fleet["date"], ansible_version, os.cpu_count() or 0),
        "",
    ]
    out += fleet_run_table(runs)
    out += ["", "Round trips and bytes are per host, from the winsim counters, reset before each run. Hosts changed counts "
            "the simulated hosts with changed > 0 in the recap (localhost, where the report is written, left out). "
            + other_load_text(runs)]
    if again and again[0]["changed_hosts"]:
        out.append("**The no-change converge changed %d host(s): the site is not idempotent there.**" % again[0]["changed_hosts"])
    warnings = sum(r["warnings"] for r in runs)
    if warnings:
        out.append("The runs printed %d warning line(s) (see .tmp/bench/fleet/*.log)." % warnings)
    out += ["", "### Controller CPU per host-task", ""]
    out += fleet_cpu_table(runs)
    out += [""] + fleet_ratio_lines(runs) + ["", "By module (the gowin.server rows above):", ""]
    out += fleet_module_table(runs)
    out += [
        "",
        "How this is measured. CPU is user + system time of the ansible-playbook process tree: its total comes from "
        "`os.wait4` on the ansible-playbook process (the main process and every worker it forked and reaped). Within the "
        "same run a callback plugin (`cpu_callback_class` in tools/bench.py) reads the CPU of the tree from /proc at every "
        "play start, task start and the end of the run (each live process's own time plus its reaped children's), so each "
        "task's segment holds the work of that task on every host of the batch: the linear strategy finishes a task on all "
        "of them before it starts the next. Host-tasks are the results the callback saw (one per host and task; a loop's "
        "items count as one; skipped ones count too). The `/bin/true` row is the baseline: Ansible forks a worker per host, "
        "templates the task, runs the command module (an AnsiballZ Python process) over the local connection and processes "
        "the result; the gowin.server rows do the same plus the module's own work, and, because the hosts are simulated, the "
        "simulated host's work too (winsim runs the ops in the worker), which a real host does on its side. The latency "
        "(a sleep per round trip) costs no CPU. The stand-in mirror that serves the zips runs in tools/bench.py and is not "
        "counted.",
        "",
        "Memory. `largest process` is `ru_maxrss` from `os.wait4`: the peak resident set of the largest single process of "
        "the tree (usually the main ansible-playbook process), not a sum. The last column samples the tree once a second "
        "from /proc and gives the peak of the summed PSS (proportional set size: pages shared by the forked workers are "
        "split between them) and, in brackets, of the summed RSS, which counts each shared page once per process and "
        "so overstates what the machine needs.",
    ]
    return out


def splice_section(document: str, section: str, before: str = "## Controller-side work") -> str:
    """document with its fleet section replaced by `section`, or `section` put before the `before` heading (or at
    the end) when it has none."""
    lines = document.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("## Fleet scale (")), None)
    if start is None:
        start = end = next((i for i, line in enumerate(lines) if line == before), len(lines))
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    head = lines[:start] if not lines[:start] or lines[start - 1] == "" else lines[:start] + [""]
    tail = [""] + lines[end:] if end < len(lines) else []
    return "\n".join(head + section.rstrip("\n").split("\n") + tail) + "\n"


def render(runs: list[dict], args: argparse.Namespace, ansible_version: str, modules: list[dict] | None = None,
           controller: list[tuple[str, str, str]] | None = None, rolling: list[dict] | None = None,
           baseline: list[dict] | None = None, fleet: dict | None = None) -> str:
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
    if fleet:
        out += [""] + fleet_section(fleet, ansible_version)
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


def measure_toolchain(playbook_bin: str, workdir: str, state_dir: str, inventory: str, names: list[str], forks: int,
                      server: t.Any, WinSimHost: type) -> list[dict]:
    """gowin.server.go_toolchain on every host: a first converge (installs), then a no-change converge."""
    playbook = os.path.join(workdir, "go_toolchain.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(PLAYBOOK)
    runs: list[dict] = []
    for key, label in (("first", "first converge"), ("again", "no-change converge")):
        if runs:  # the state dir is fresh before the first run: nothing to reset
            for name in names:
                WinSimHost(state_dir, name).reset_counters()
        served_before = len(server.requests)
        log = os.path.join(workdir, "%s.log" % key)
        wall, rc, output = run_playbook(playbook_bin, playbook, inventory, forks, log)
        stats = demo.parse_recap(output)
        if rc != 0 or set(stats) != set(names):
            sys.stderr.write(output[-6000:])
            raise RuntimeError("the %s failed (rc=%d); full output in %s" % (label, rc, log))
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
    return runs


def write_report(report: str, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(report)
    print("wrote %s" % os.path.relpath(os.path.abspath(path), REPO))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=20, help="simulated hosts (default 20)")
    parser.add_argument("--latency-ms", type=int, default=200, help="simulated latency per round trip (default 200)")
    parser.add_argument("--forks", type=int, default=20, help="ansible-playbook forks (default 20)")
    parser.add_argument("--fleet-hosts", type=int, default=200, help="simulated hosts of the fleet-scale run (default 200)")
    parser.add_argument("--fleet-forks", type=int, default=50, help="forks of the fleet-scale run (default 50)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--no-fleet", action="store_true", help="leave the fleet-scale run out (its section too)")
    scope.add_argument("--only", choices=["fleet"],
                       help="run only this part; with --out, only its section of the report is replaced")
    parser.add_argument("--workdir", default=os.path.join(REPO, ".tmp", "bench"), help="mirror, state, inventory, logs")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks.md"), help="report file")
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write --out")
    args = parser.parse_args(argv)
    if min(args.hosts, args.forks, args.fleet_hosts, args.fleet_forks) < 1 or args.latency_ms < 0:
        parser.error("--hosts, --forks, --fleet-hosts and --fleet-forks must be at least 1, --latency-ms at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = os.path.abspath(args.workdir)
    state_dir = os.path.join(workdir, "state")
    mirror_dir = os.path.join(workdir, "mirror")
    inventory = os.path.join(workdir, "inventory.yml")
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
    runs: list[dict] = []
    rolling: list[dict] = []
    baseline: list[dict] = []
    modules: list[dict] = []
    fleet = None
    try:
        if args.only != "fleet":
            group_vars = demo.base_group_vars(state_dir, base)
            group_vars[demo.OS_PROFILE_VAR] = OS_PROFILE
            group_vars[demo.LATENCY_VAR] = args.latency_ms
            demo.write_inventory(inventory, {name: {} for name in names}, group_vars)
            runs = measure_toolchain(playbook_bin, workdir, state_dir, inventory, names, args.forks, server, WinSimHost)
            rolling = measure_rolling(playbook_bin, workdir, state_dir, inventory, names, args.forks, WinSimHost)
            baseline = measure_baseline(playbook_bin, workdir, state_dir, inventory, names, args.forks, WinSimHost)
            modules = measure_modules(playbook_bin, workdir, state_dir, base, WinSimHost)
        if not args.no_fleet:
            fleet = measure_fleet(playbook_bin, workdir, base, args.fleet_hosts, args.fleet_forks, args.latency_ms, WinSimHost)
    except RuntimeError as err:
        print("bench: %s" % err, file=sys.stderr)
        return 1
    finally:
        server.shutdown()

    if args.only == "fleet":
        if fleet is None:
            return 2
        section = "\n".join(fleet_section(fleet, ansible_version)) + "\n"
        print()
        print(section)
        if not args.no_write:
            document = "# Benchmarks\n"
            if os.path.isfile(args.out):
                with open(args.out, encoding="utf-8") as handle:
                    document = handle.read()
            write_report(splice_section(document, section), args.out)
    else:
        report = render(runs, args, ansible_version, modules, measure_controller(), rolling, baseline, fleet)
        print()
        print(report)
        if not args.no_write:
            write_report(report, args.out)
    return idempotence_rc(runs, fleet)


def idempotence_rc(runs: list[dict], fleet: dict | None) -> int:
    """1 (and why, on stderr) when a no-change converge reported changes, else 0."""
    rc = 0
    if runs and runs[-1]["changed_hosts"]:
        print("bench: the no-change converge reported changes on %d host(s): the role is not idempotent"
              % runs[-1]["changed_hosts"], file=sys.stderr)
        rc = 1
    if fleet and fleet["runs"][-1]["changed_hosts"]:
        print("bench: the fleet's no-change converge reported changes on %d host(s): the site is not idempotent"
              % fleet["runs"][-1]["changed_hosts"], file=sys.stderr)
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
