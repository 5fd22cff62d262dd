"""`make demo` and its example service, examples/orders-api: the Go program built for windows/amd64 by the
Go toolchain and read back as a Go service binary, its own Go tests (handlers, configuration, graceful
shutdown), the program itself run as a console program, and tools/demo.py end to end on three simulated
hosts: the toolchain, then orders-api deployed, running and healthy on each, and a second run that changes
nothing. Without Go the tests that need it are skipped, and the demo itself fails saying why."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN, REPO, ansible_env

import demo  # noqa: E402  (tools/ is on sys.path through conftest)

from ansible_collections.gowin.server.plugins.plugin_utils import _gobinary
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.service import behaviour_of

_spec = importlib.util.spec_from_file_location("gowin_fixture_build", str(REPO / "tests" / "fixtures" / "build.py"))
builder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(builder)

SOURCE = REPO / "examples" / "orders-api"
GO_TESTS = {"TestHealthzAnswersOK", "TestOrdersStartsEmptyAsAJSONArray", "TestCreateThenReadOrders",
            "TestUnknownOrdersAre404", "TestBadOrdersAreRefusedAndNothingIsStored", "TestMethodsNotAllowed",
            "TestConcurrentCreatesGetDistinctIDs", "TestListenAddressPrecedence", "TestBadConfigIsRefused",
            "TestServeShutsDownGracefully", "TestServeReportsAPortInUse"}


@pytest.fixture(scope="module")
def go() -> str:
    try:
        go = builder.go_binary()
        builder.go_version(go)
    except builder.GoMissing as err:
        pytest.skip(str(err))
    return go


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None, timeout: float = 5) -> tuple[int, dict, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback, a test)
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


# ------------------------------------------------------------------------------------ the program


def test_the_demo_builds_orders_api_as_a_go_windows_service_whose_marker_tells_the_truth(go, tmp_path):
    binary = demo.build_service(str(tmp_path / "build"))
    data = Path(binary["path"]).read_bytes()
    assert data[:2] == b"MZ"
    info = _gobinary.inspect(data)
    assert info["sha256"] == binary["sha256"]
    assert (info["format"], info["machine"], info["pe_format"], info["subsystem"]) == ("pe", "amd64", "PE32+", "console")
    assert info["go"] is True
    build_info = info["build_info"]
    assert build_info["path"] == "example.com/orders-api"
    assert build_info["go_version"].startswith("go1.")
    assert build_info["deps"] == []  # the standard library only
    settings = build_info["settings"]
    assert (settings["GOOS"], settings["GOARCH"], settings["CGO_ENABLED"]) == ("windows", "amd64", "0")
    # it talks to the SCM itself (StartServiceCtrlDispatcherW through syscall), so win_service_go accepts it
    assert info["scm"]["dispatches"] is True and info["scm"]["rule"] == "own-call", info["scm"]
    # winsim's model of it, and what the deploy expects of it, are one address and one path
    behaviour = behaviour_of(data)
    assert behaviour == {"listen": demo.SERVICE_ADDR}
    entry = demo.service_entry(binary)
    assert entry["environment"]["ORDERS_ADDR"] == behaviour["listen"]
    assert entry["checksum"] == "sha256:" + info["sha256"]
    assert entry["health"]["http"]["url"] == "http://127.0.0.1:%s/healthz" % behaviour["listen"].rsplit(":", 1)[1]
    # the build is cached: the same sources, flags and Go give the same file
    assert demo.build_service(str(tmp_path / "build")) == binary


def test_the_go_tests_of_orders_api_pass(go):
    env = builder._env("amd64")
    for name in ("GOOS", "GOARCH"):  # the host's own platform: the handlers' tests run here
        env.pop(name)
    proc = subprocess.run([go, "test", "-count=1", "-json", "./..."], cwd=str(SOURCE), env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    passed = {e["Test"] for e in events if e.get("Action") == "pass" and e.get("Test") and "/" not in e["Test"]}
    failed = {e.get("Test") or e.get("Package") for e in events if e.get("Action") == "fail"}
    assert proc.returncode == 0 and not failed, "failed: %s\n%s%s" % (failed, proc.stdout[-4000:], proc.stderr[-2000:])
    assert GO_TESTS <= passed, "not run or not passed: %s" % sorted(GO_TESTS - passed)
    # and the Windows side (the SCM code) compiles and passes vet
    vet = subprocess.run([go, "vet", "./..."], cwd=str(SOURCE), env=builder._env("amd64"),
                         capture_output=True, text=True, timeout=600, check=False)
    assert vet.returncode == 0, vet.stdout + vet.stderr


def test_orders_api_runs_as_a_console_program_where_its_marker_says_and_stops_on_ctrl_c(go, tmp_path):
    """The real program (built for this machine with a marker naming a free loopback port): with no -addr
    and no ORDERS_ADDR it listens where its marker says, serves /healthz and the orders API, and an
    interrupt (Ctrl+C) shuts it down gracefully with exit code 0."""
    port = _free_port()
    marker = 'gowin-winsim-behaviour:{"listen":"127.0.0.1:%d"}' % port
    host_os, host_arch = subprocess.run([go, "env", "GOHOSTOS", "GOHOSTARCH"], capture_output=True, text=True,
                                        timeout=60, check=True).stdout.split()
    exe = builder.build_module(str(SOURCE), "orders-api-host", goos=host_os, arch=host_arch,
                               flags=("-ldflags=-X main.behaviour=" + marker,), out=str(tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "ORDERS_ADDR"}
    proc = subprocess.Popen([exe], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 15
        while True:
            try:
                status, _headers, body = _http("GET", base + "/healthz", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "orders-api did not listen on 127.0.0.1:%d" % port
                time.sleep(0.1)
        assert (status, body) == (200, "ok")
        status, headers, body = _http("POST", base + "/orders", {"item": "widget", "quantity": 2})
        assert status == 201 and headers["Location"] == "/orders/1", body
        assert json.loads(body)["item"] == "widget"
        status, _headers, body = _http("GET", base + "/orders")
        assert status == 200 and [o["id"] for o in json.loads(body)] == [1]
        status, _headers, body = _http("POST", base + "/orders", {"item": "", "quantity": 2})
        assert status == 400 and "item is required" in json.loads(body)["error"]
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "listening on 127.0.0.1:%d" % port in err
    assert "shutting down" in err and "orders-api: " in err and err.rstrip().endswith("stopped"), err


# ------------------------------------------------------------------------------------ the demo


def _demo(workdir: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "tools" / "demo.py"), "--workdir", str(workdir), *extra],
                          cwd=str(REPO), env=env or ansible_env(), capture_output=True, text=True, timeout=900, check=False)


def _hosts(workdir: Path) -> dict[str, WinSimHost]:
    return {name: WinSimHost(str(workdir / "state"), name, profile=profile) for name, profile in demo.DEMO_HOSTS.items()}


def _state_without_time(workdir: Path, name: str) -> dict:
    """A simulated host's state with the services' uptime left out (the modelled clock, not a change)."""
    state = json.loads((workdir / "state" / name / "state.json").read_text())
    for svc in (state.get("services") or {}).values():
        svc.pop("uptime_ms", None)
    return state


def test_the_demo_deploys_orders_api_healthy_to_each_host_and_a_second_run_changes_nothing(go, tmp_path):
    workdir = tmp_path / "demo"
    first = _demo(workdir)
    out = first.stdout + first.stderr
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "[WARNING]" not in out
    recap = demo.parse_recap(first.stdout)
    assert set(recap) == set(demo.DEMO_HOSTS) | {"localhost"}  # localhost: the fleet report's play
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values()), recap
    # the site ends with validate and the fleet report, which the demo shows on one screen
    report = json.loads((workdir / "report" / "report.json").read_text())
    assert [h["name"] for h in report["hosts"]] == sorted(demo.DEMO_HOSTS) and report["simulated"] is True
    assert all(report["summary"]["matrix"][h]["services"] == {"status": "pass", "checks": 2, "passed": 2} for h in demo.DEMO_HOSTS)
    assert all(report["summary"]["matrix"][h]["toolchain"]["status"] == "pass" for h in demo.DEMO_HOSTS), report["summary"]["matrix"]
    screen = first.stdout[first.stdout.index("Fleet report (gowin.server.fleet_report): "):]
    assert "report.html" in screen.splitlines()[0] and (workdir / "report" / "report.html").exists()
    for host in demo.DEMO_HOSTS:
        line = next(line for line in screen.splitlines() if line.startswith(host + " "))
        assert line.split()[2:5] == ["pass", "3/3", "pass"], line
    assert demo.BANNER in first.stdout and demo.SERVICE_BANNER in first.stdout

    sha = demo.build_service(str(workdir / "build"))["sha256"]  # cached: the binary the demo deployed
    deploys = demo.read_deploys(str(workdir / "site-results.jsonl"))
    assert set(deploys) == set(demo.DEMO_HOSTS)
    for host, res in deploys.items():
        assert res["changed"] is True and res.get("failed") is not True, (host, res)
        assert res["healthy"] is True, (host, res.get("health"))
        last = res["health"]["probes"][-1]
        assert (res["health"]["target"], last["status"], last["body"]) == (demo.SERVICE_HEALTH_URL, 200, "ok"), res["health"]
        assert res["binary"]["scm"]["dispatches"] is True
        assert res["release"]["sha256"] == sha
    for host, h in _hosts(workdir).items():
        state = h.service_state(demo.SERVICE_NAME)
        assert state["state"] == "running", (host, state)
        assert state["image"].lower() == ("C:\\opt\\services\\orders-api\\releases\\%s\\orders-api.exe" % sha[:12]).lower()
        assert state["behaviour"] == {"listen": demo.SERVICE_ADDR}
    # the table the demo printed comes from the check-mode read-back and the deploy's health evidence
    table = first.stdout[first.stdout.index("The example service on each simulated host"):]
    for host in demo.DEMO_HOSTS:
        line = next(line for line in table.splitlines() if line.startswith(host + " "))
        assert line.split()[:7] == [host, "orders-api", "running", sha[:12], "changed", "yes", "yes"], line
    assert "round trips used by the play (winsim counters): ws2016 " in first.stdout

    before = {name: _state_without_time(workdir, name) for name in demo.DEMO_HOSTS}
    second = _demo(workdir, "--keep-state")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert "[WARNING]" not in second.stdout + second.stderr
    again = demo.read_deploys(str(workdir / "site-results.jsonl"))
    assert set(again) == set(demo.DEMO_HOSTS)
    assert all(res["changed"] is False for res in again.values()), again
    after = _hosts(workdir)
    for name, h in after.items():
        assert h.service_state(demo.SERVICE_NAME)["state"] == "running"
        ops = h.counters()["ops"]  # counted from the start of the second run (the demo resets them)
        # reads only: the site's baseline audit reads the firewall profiles too, and validate probes the health
        assert not {op for op in ops if op.split(".")[0] in ("service", "deploy", "firewall", "health")} - {
            "service.get", "firewall.get", "firewall.profile_get", "health.probe"}, (name, ops)
        # nothing changed but the time that passed (validate's health probe waits a period: services' uptime grows)
        assert _state_without_time(workdir, name) == before[name], name
    table = second.stdout[second.stdout.index("The example service on each simulated host"):]
    for host in demo.DEMO_HOSTS:
        line = next(line for line in table.splitlines() if line.startswith(host + " "))
        assert line.split()[:7] == [host, "orders-api", "running", sha[:12], "unchanged", "yes", "-"], line


def test_without_go_the_demo_says_so_and_fails_before_touching_anything(tmp_path):
    env = ansible_env()
    env["PATH"] = str(BIN)  # the venv's tools only: no go
    workdir = tmp_path / "demo"
    proc = _demo(workdir, env=env)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "go" in proc.stderr and "not on PATH" in proc.stderr and "examples/orders-api" in proc.stderr, proc.stderr
    assert "ansible-playbook" not in proc.stdout
    assert not (workdir / "inventory.yml").exists()
