"""The go_service role and the gowin.server.deploy_service playbook on winsim: services from a list
variable, validated by the role's argument spec, rolled out in batches that stop at a canary that rolls back."""

from __future__ import annotations

import json

from conftest import reg

from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import split_command_line
# exe is a fixture: imported to be used by name
from test_win_service_go import SECRET, exe, sha  # noqa: F401  pylint: disable=unused-import

TASK = "Deploy the Go service"
HEALTHZ = {"http": {"url": "http://127.0.0.1:47931/healthz"}, "startup_timeout_s": 2, "period_s": 1}
KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\"


def _deploy(fleet, services, verbosity=0, **extra):
    return fleet.play(playbook="gowin.server.deploy_service", verbosity=verbosity,
                      extra_vars=dict(extra, go_service_services=services))


def _task(run, host):
    found = [r for r in run.results if r.host == host and r.task.endswith(TASK)]
    assert len(found) == 1, [(r.host, r.task) for r in run.results]
    return found[0]


def test_the_role_deploys_each_service_and_a_second_run_changes_nothing(host1, exe):
    h = host1.host("win1")
    services = [
        {"name": "orders-api", "src": exe("svcnative-healthy-amd64"), "health": HEALTHZ,
         "secret_environment": {"ORDERS_DB_PASSWORD": SECRET}},
        {"name": "billing-worker", "src": exe("svcnative-amd64", "billing-worker.exe"), "start_mode": "delayed"},
    ]
    run = _deploy(host1, services, verbosity=3)
    assert run.rc == 0, run.stdout[-3000:]
    res = _task(run, "win1").result
    assert [r["changed"] for r in res["results"]] == [True, True]
    assert res["results"][0]["healthy"] is True
    assert SECRET not in run.stdout + run.stderr
    for name in ("orders-api", "billing-worker"):
        assert h.service_state(name)["state"] == "running"
    assert reg(h, KEY + "billing-worker", "DelayedAutostart") == 1
    again = _deploy(host1, services)
    assert again.rc == 0 and [r["changed"] for r in _task(again, "win1").result["results"]] == [False, False]
    assert h.counters()["round_trips"] == 2  # one per service


def test_go_service_defaults_apply_to_every_entry(host1, exe):
    h = host1.host("win1")
    run = _deploy(host1, [{"name": "orders-api", "src": exe("svcnative-amd64")}],
                  go_service_defaults={"install_root": "C:\\srv", "start_mode": "manual"})
    assert run.rc == 0, run.stdout[-3000:]
    assert reg(h, KEY + "orders-api", "ImagePath").startswith('C:\\srv\\orders-api\\releases\\')
    assert reg(h, KEY + "orders-api", "Start") == 3


def test_the_argument_spec_refuses_a_bad_entry_before_anything_changes(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    for services, words in (
            ([{"src": exe("svcnative-amd64")}], ["name"]),
            ([{"name": "a", "src": exe("svcnative-amd64"), "healthh": {}}], ["healthh"]),
            ([{"name": "a", "src": exe("svcnative-amd64"), "start_mode": "sometimes"}], ["start_mode", "sometimes"]),
            ([{"name": "a", "src": exe("svcnative-amd64")}, {"name": "A", "src": exe("svcnative-amd64")}], ["no two entries"]),
    ):
        run = _deploy(host1, services)
        assert run.rc != 0 and all(w in run.stdout for w in words), run.stdout[-2000:]
    assert h.snapshot() == before


def test_go_service_only_and_override_refuse_bad_values_before_anything_changes(host1, exe):
    h = host1.host("win1")
    services = [{"name": "orders-api", "src": exe("svcnative-amd64")}, {"name": "billing", "src": exe("svcnative-amd64", "billing.exe")}]
    before = h.snapshot()
    for extra, words in (
            ({"go_service_only": {"orders-api": True}}, ["go_service_only", "list"]),
            ({"go_service_only": ["payments"]}, ["go_service_only", "known: orders-api, billing"]),
            ({"go_service_only": ["orders-api"], "go_service_override": {"args": ["-x"]}},
             ["go_service_override", "src, url, path, release, checksum"]),
            ({"go_service_override": {"url": "https://example.com/o.exe"}}, ["needs go_service_only"]),
    ):
        run = _deploy(host1, services, **extra)
        assert run.rc != 0 and all(w in run.stdout for w in words), (extra, run.stdout[-2000:])
    assert h.snapshot() == before
    # a good selection: only that entry, with the release the override names (its own checksum dropped)
    other = exe("svcnative-stripped-amd64")
    run = _deploy(host1, [dict(services[0], checksum="sha256:" + sha(services[0]["src"])), services[1]],
                  go_service_only=["Orders-API"], go_service_override={"src": other, "checksum": "sha256:" + sha(other)})
    assert run.rc == 0, run.stdout[-3000:]
    assert [r["release"]["sha256"] for r in _task(run, "win1").result["results"]] == [sha(other)]
    assert reg(h, KEY + "billing", "ImagePath") is None


def test_a_release_that_rolls_back_on_the_canary_never_reaches_the_other_hosts(fleet, exe):
    good, bad = exe("svcnative-healthy-amd64"), exe("svcnative-unhealthy-amd64")
    run = _deploy(fleet, [{"name": "orders-api", "src": good, "health": HEALTHZ}])
    assert run.rc == 0, run.stdout[-3000:]
    hosts = list(fleet.hosts)
    run = _deploy(fleet, [{"name": "orders-api", "src": bad, "health": HEALTHZ}])
    assert run.rc != 0
    canary = _task(run, hosts[0]).result["results"][0]
    assert canary["failed"] is True and canary["rolled_back"] is True
    assert canary["msg"].startswith("health: release %s of service orders-api was not healthy" % sha(bad)[:12])
    # the canary serves the old release again; the later batches never ran
    for name in hosts:
        h = fleet.host(name)
        assert sha(good)[:12] in reg(h, KEY + "orders-api", "ImagePath"), name
        assert h.service_state("orders-api")["state"] == "running"
    for name in hosts[1:]:
        assert not [r for r in run.results if r.host == name], name
        assert fleet.host(name).counters()["round_trips"] == 0
    assert "PLAY RECAP" in run.stdout and hosts[1] not in run.stdout.split("PLAY RECAP")[1]


def test_a_good_release_rolls_out_batch_by_batch(fleet, exe):
    run = _deploy(fleet, [{"name": "orders-api", "src": exe("svcnative-healthy-amd64"), "health": HEALTHZ}],
                  gowin_deploy_serial=[1, 2])
    assert run.rc == 0, run.stdout[-3000:]
    assert run.stdout.count("PLAY [Roll Go services out across the fleet]") == 2
    for name in fleet.hosts:
        assert fleet.host(name).service_state("orders-api")["state"] == "running"


def test_release_previous_rolls_the_whole_fleet_back_and_again_changes_nothing(fleet, exe):
    old, new = exe("svcnative-healthy2-amd64"), exe("svcnative-healthy-amd64")
    for binary in (old, new):
        run = _deploy(fleet, [{"name": "orders-api", "src": binary, "health": HEALTHZ}])
        assert run.rc == 0, run.stdout[-3000:]
    back = [{"name": "orders-api", "release": "previous", "health": HEALTHZ}]
    run = _deploy(fleet, back)
    assert run.rc == 0, run.stdout[-3000:]
    for name in fleet.hosts:
        res = _task(run, name).result["results"][0]
        assert res["changed"] is True and res["healthy"] is True and res["release"]["sha256"] == sha(old)
        assert sha(old)[:12] in reg(fleet.host(name), KEY + "orders-api", "ImagePath")
    again = _deploy(fleet, back)
    assert again.rc == 0 and not any(_task(again, name).result["results"][0]["changed"] for name in fleet.hosts)


def test_the_role_passes_wrapper_and_watchdog_through_and_a_second_run_changes_nothing(host1, exe):
    """One entry: a plain console program under shawl, with a hang watchdog probing it through the wrapper."""
    h = host1.host("win1")
    shawl = exe("wrapper-shawl-amd64", "shawl.exe")
    health = {"http": {"url": "http://127.0.0.1:47936/healthz"}, "startup_timeout_s": 5, "period_s": 1, "timeout_s": 5}
    services = [{"name": "report-api", "src": exe("consolehttp-healthy-amd64", "report-api.exe"),
                 "args": ["-addr", "127.0.0.1:47936"], "health": health,
                 "recovery": {"actions": [{"type": "restart", "delay_ms": 5000}]},
                 "service_protocol": "wrapper", "wrapper": {"kind": "shawl", "src": shawl, "ctrl_c_timeout_s": 7},
                 "watchdog": {"period_min": 2, "failure_threshold": 4}}]
    run = _deploy(host1, services)
    assert run.rc == 0, run.stdout[-3000:]
    res = _task(run, "win1").result["results"][0]
    assert res["changed"] is True and res["healthy"] is True
    folder = res["release"]["folder"]
    wexe = folder + "\\report-api-shawl.exe"
    assert res["wrapper"]["kind"] == "shawl" and res["wrapper"]["path"] == wexe and res["wrapper"]["sha256"] == sha(shawl)
    argv = split_command_line(reg(h, KEY + "report-api", "ImagePath"))
    assert argv[0] == wexe and argv[argv.index("--stop-timeout") + 1] == "7000"
    assert argv[argv.index("--") + 1:] == [folder + "\\report-api.exe", "-addr", "127.0.0.1:47936"]
    assert h.service_state("report-api")["state"] == "running"
    # the watchdog task, as the Task Scheduler has it, and its settings
    path = "\\GoWin\\Watchdog\\report-api"
    (found,) = h.execute([{"op": "task.get", "args": {"path": path}}])
    assert found["data"]["exists"] and found["data"]["enabled"] and found["data"]["runs_as_system"]
    assert found["data"]["interval_min"] == 2
    assert res["watchdog"]["task"] == path and res["watchdog"]["failure_threshold"] == 4
    settings = json.loads(h.read_file("C:\\ProgramData\\GoWin\\watchdog\\report-api.json"))
    assert settings["service"] == "report-api" and settings["failure_threshold"] == 4
    assert settings["health"]["http"]["url"] == "http://127.0.0.1:47936/healthz"
    # its tick probes the wrapped program and finds it answering
    assert [tick["data"]["action"] for tick in h.tick(2)] == ["healthy"]
    again = _deploy(host1, services)
    assert again.rc == 0, again.stdout[-3000:]
    second = _task(again, "win1").result["results"][0]
    assert second["changed"] is False and second["watchdog"]["task"] == path
    assert h.counters()["round_trips"] == 1
