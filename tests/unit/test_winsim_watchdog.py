# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""winsim's test API for the hang watchdog: tick(minutes) advances modelled time and runs what the
scheduled tasks would run (only the collection's own launcher, byte for byte), with the SCM's
recovery actions after a tick ends a service's process. The op watchdog.tick itself is held to the
protocol by tests/contract/vectors/watchdog.yml."""

from __future__ import annotations

import importlib.util
import json
import os
import typing as t
from pathlib import Path

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.watchdog import LAUNCHER

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("gowin_fixture_build", os.path.join(HERE, "..", "fixtures", "build.py"))
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

FOLDER = "C:\\ProgramData\\GoWin\\watchdog"
POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"


@pytest.fixture(scope="module")
def hangs_exe() -> bytes:
    try:
        go = build.go_binary()
        build.go_version(go)
    except build.GoMissing as e:
        pytest.skip(str(e))
    return Path(build.build("svcnative-hangs-amd64", go)).read_bytes()


def ok(host: WinSimHost, op: str, **args: t.Any) -> dict:
    (result,) = host.execute([{"op": op, "args": args}])
    assert result["ok"], result
    return result["data"]


def put(host: WinSimHost, tmp_path: Path, path: str, data: bytes) -> None:
    local = tmp_path / "upload.bin"
    local.write_bytes(data)
    host.put(str(local), path)


def arguments(name: str) -> str:
    return '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%s\\watchdog.ps1" -Settings "%s\\%s.json"' % (FOLDER, FOLDER, name)


def setup(host: WinSimHost, tmp_path: Path, exe: bytes, launcher: bytes | None = None, interval: int = 1,
          recovery: bool = True) -> None:
    put(host, tmp_path, "C:\\svc\\orders\\orders.exe", exe)
    service = {"name": "orders", "create": True, "image_path": '"C:\\svc\\orders\\orders.exe"', "start_mode": "auto"}
    if recovery:
        service["recovery"] = {"reset_after_s": 86400, "actions": [{"type": "restart", "delay_ms": 5000}]}
    ok(host, "service.set", **service)
    ok(host, "eventlog.register", source="orders")
    ok(host, "service.start", name="orders")
    with open(LAUNCHER, "rb") as handle:
        put(host, tmp_path, FOLDER + "\\watchdog.ps1", launcher if launcher is not None else handle.read())
    put(host, tmp_path, FOLDER + "\\agent.ps1", b"# the agent")
    settings = {"version": 1, "service": "orders", "health": {"http": {"url": "http://127.0.0.1:47935/healthz"}, "timeout_s": 5},
                "failure_threshold": 2, "event_source": "orders"}
    put(host, tmp_path, FOLDER + "\\orders.json", json.dumps(settings).encode())
    ok(host, "task.set", path="\\GoWin\\Watchdog\\orders", execute=POWERSHELL, arguments=arguments("orders"), interval_min=interval)


def test_tick_catches_a_hang_ends_the_process_and_the_recovery_action_restarts_it(tmp_path: Path, hangs_exe: bytes) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    setup(host, tmp_path, hangs_exe)
    first_pid = host.service_state("orders")["pid"]
    actions = [run["data"]["action"] for run in host.tick(2)]
    assert actions == ["healthy", "healthy"]  # it answers for 150 s after its start
    runs = host.tick(2)
    assert [run["data"]["action"] for run in runs] == ["failed", "ended"]
    assert runs[1]["data"]["ended_pid"] == first_pid and runs[1]["data"]["event_written"] is True
    state = host.service_state("orders")
    assert state["state"] == "running" and state["pid"] != first_pid  # the SCM's restart action
    (event,) = host.events()
    assert event["source"] == "orders" and event["id"] == 7001 and "failed 2 health checks in a row" in event["message"]
    assert [run["data"]["action"] for run in host.tick(1)] == ["healthy"]  # the new process answers again
    last = json.loads(host.read_file(FOLDER + "\\orders.last.json"))
    assert last["results"][0]["data"]["action"] == "healthy"
    assert json.loads(host.read_file(FOLDER + "\\orders.state.json"))["failures"] == 0


def test_without_a_restart_action_the_ended_service_stays_stopped(tmp_path: Path, hangs_exe: bytes) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    setup(host, tmp_path, hangs_exe, recovery=False)
    runs = host.tick(4)
    assert runs[-1]["data"]["action"] == "ended"
    assert host.service_state("orders")["state"] == "stopped"
    assert [run["data"]["action"] for run in host.tick(1)] == ["skipped"]


def test_a_task_runs_every_interval_min_minutes(tmp_path: Path, hangs_exe: bytes) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    setup(host, tmp_path, hangs_exe, interval=2)
    assert len(host.tick(1)) == 0
    assert len(host.tick(1)) == 1
    assert len(host.tick(3)) == 1


def test_a_launcher_that_is_not_the_collections_runs_nothing(tmp_path: Path, hangs_exe: bytes) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    with open(LAUNCHER, "rb") as handle:
        changed = handle.read() + b"\r\nStop-Computer\r\n"
    setup(host, tmp_path, hangs_exe, launcher=changed)
    runs = host.tick(4)
    assert [run["ok"] for run in runs] == [False] * 4
    assert "not the collection's" in runs[0]["error"]["message"]
    assert host.read_file(FOLDER + "\\orders.state.json") is None
    assert host.events() == []


def test_a_removed_or_foreign_task_is_not_run(tmp_path: Path, hangs_exe: bytes) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    setup(host, tmp_path, hangs_exe)
    ok(host, "task.remove", path="\\GoWin\\Watchdog\\orders")
    ok(host, "task.set", path="\\Other\\job", execute="C:\\Windows\\System32\\cmd.exe", arguments="/c exit 0")
    assert host.tick(3) == []
