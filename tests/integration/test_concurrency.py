"""Two runs against one host at once: the host lock and conditional writes keep both runs' changes.

Each test starts two ansible-playbook processes together against the same simulated host, with a
simulated latency of a few seconds per round trip, so that each run probes the host before the
other one writes (the race the lock and the conditional writes are for)."""

from __future__ import annotations

import json
import subprocess
import time

import yaml

from conftest import BIN, REPO, Fleet, ansible_env, reg  # noqa: F401 (conftest is the harness)

MACHINE_ENV = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
LATENCY_MS = 2500


def _start(fleet: Fleet, name: str, tasks: list[dict]):
    play = [{"name": name, "hosts": "all", "gather_facts": False, "tasks": tasks}]
    path = fleet.root / ("%s.yml" % name)
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    record = fleet.root / ("%s.jsonl" % name)
    cmd = [str(BIN / "ansible-playbook"), "-i", str(fleet.inventory), str(path), "-e", json.dumps({"ansible_winsim_latency_ms": LATENCY_MS})]
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=ansible_env(record), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, record


def _finish(started) -> list[dict]:
    outcomes = []
    for proc, record in started:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:] + err[-2000:]
        outcomes.append([json.loads(line) for line in record.read_text().splitlines()])
    return outcomes


def _probe_times(fleet: Fleet, host: str) -> None:
    fleet.host(host).reset_counters()


def test_two_go_env_runs_at_once_keep_both_path_entries(host1: Fleet) -> None:
    host = host1.host("win1")
    before = reg(host, MACHINE_ENV, "Path")
    started = [
        _start(host1, "first", [{"name": "add a", "gowin.server.go_env": {"scope": "machine", "path": ["C:\\tools\\a"]}}]),
        _start(host1, "second", [{"name": "add b", "gowin.server.go_env": {"scope": "machine", "path": ["C:\\tools\\b"]}}]),
    ]
    first, second = _finish(started)
    path = reg(host1.host("win1"), MACHINE_ENV, "Path").split(";")
    assert "C:\\tools\\a" in path and "C:\\tools\\b" in path, path
    assert [e for e in path if e not in ("C:\\tools\\a", "C:\\tools\\b")] == before.split(";")
    assert first[0]["result"]["changed"] and second[0]["result"]["changed"]
    # the lock was given back: nothing is left under HKLM\SOFTWARE\GoWin\Lock
    assert host1.host("win1").registry_value("HKLM\\SOFTWARE\\GoWin\\Lock", "Owner") is None


def test_a_stale_lock_is_taken_over_and_a_held_one_waited_for(host1: Fleet) -> None:
    host = host1.host("win1")
    lock = "HKLM\\SOFTWARE\\GoWin\\Lock"
    # A lock left by a run that died (its lease ran out long ago): the next run takes it over.
    host.execute([
        {"op": "registry.set", "args": {"path": lock, "name": "Owner", "type": "REG_SZ", "data": "gw-dead"}},
        {"op": "registry.set", "args": {"path": lock, "name": "Expires", "type": "REG_QWORD", "data": 1000000000}},
        {"op": "registry.set", "args": {"path": lock, "name": "Holder", "type": "REG_SZ", "data": "a run that died"}},
    ])
    run = host1.play([{"name": "set gopath", "gowin.server.go_env": {"scope": "machine", "gopath": "C:\\gopath"}}])
    assert run.rc == 0, run.stdout[-3000:]
    assert reg(host1.host("win1"), MACHINE_ENV, "GOPATH") == "C:\\gopath"
    assert host1.host("win1").registry_value(lock, "Owner") is None
    # A live lock (another run, 6 seconds left): the task waits for it to run out, then makes its change.
    until = int(time.time()) + 6
    host1.host("win1").execute([
        {"op": "registry.set", "args": {"path": lock, "name": "Owner", "type": "REG_SZ", "data": "gw-other"}},
        {"op": "registry.set", "args": {"path": lock, "name": "Expires", "type": "REG_QWORD", "data": until}},
    ])
    started = time.monotonic()
    run = host1.play([{"name": "set gopath", "gowin.server.go_env": {"scope": "machine", "gopath": "C:\\gopath2"}}])
    assert run.rc == 0, run.stdout[-3000:]
    assert time.monotonic() - started >= 4
    assert reg(host1.host("win1"), MACHINE_ENV, "GOPATH") == "C:\\gopath2"


def test_two_installs_of_one_version_at_once_leave_it_installed_and_working(host1: Fleet) -> None:
    # Both runs probe an empty host and plan the install; the second one's first change finds the
    # record written by the first (conflict), reads the host again and has nothing left to do. It
    # used to count its own failed rename as done and delete the winner's folder and record.
    task = dict(host1.mirror.module_args(), version="1.22.5")
    started = [
        _start(host1, "install-one", [{"name": "install", "gowin.server.go_install": task}]),
        _start(host1, "install-two", [{"name": "install", "gowin.server.go_install": task}]),
    ]
    one, two = _finish(started)
    results = [one[0]["result"], two[0]["result"]]
    assert all(r.get("active") == "1.22.5" and not r.get("failed") for r in results), results
    host = host1.host("win1")
    assert host.read_file("C:\\opt\\go\\1.22.5\\bin\\go.exe")[:2] == b"MZ"
    assert reg(host, "HKLM\\SOFTWARE\\GoWin\\Toolchains\\1.22.5", "Status") == "installed"
    assert reg(host, "HKLM\\SOFTWARE\\GoWin\\Toolchains", "Active") == "1.22.5"
    listing = host.execute([{"op": "dir.list", "args": {"path": "C:\\opt\\go"}}])[0]["data"]["entries"]
    assert sorted(e["name"] for e in listing) == ["1.22.5", "current"]  # no staging left behind
    assert host.registry_value("HKLM\\SOFTWARE\\GoWin\\Lock", "Owner") is None
    verify = host1.play([{"name": "env", "gowin.server.go_env": {}},
                         {"name": "verify", "gowin.server.go_verify": {"version": "1.22.5"}}])
    assert verify.one("win1", "verify").result.get("passed") is True
