"""win_service_go's hang watchdog on winsim: a scheduled task, the fixed launcher, the agent and the settings,
installed in the apply round trip; winsim's tick(minutes) runs the task as the Task Scheduler would, and a
real Go build that stops answering after 150 s (svcnative-hangs) is ended and restarted by its recovery action."""

from __future__ import annotations

import json

# exe is a fixture: imported to be used by name
from test_win_service_go import NAME, exe, failed, ok, svc  # noqa: F401  pylint: disable=unused-import

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.watchdog import LAUNCHER

HANGS = {"http": {"url": "http://127.0.0.1:47935/healthz"}, "timeout_s": 5}
RESTART = {"actions": [{"type": "restart", "delay_ms": 5000}], "reset_after_s": 86400}
TASK = "\\GoWin\\Watchdog\\" + NAME
FOLDER = "C:\\ProgramData\\GoWin\\watchdog"
SETTINGS = FOLDER + "\\" + NAME + ".json"


def task(h):
    (found,) = h.execute([{"op": "task.get", "args": {"path": TASK}}])
    return found["data"]


def test_a_watchdog_catches_a_hang_and_the_recovery_action_restarts_the_service(host1, exe):
    h = host1.host("win1")
    h.reset_counters()
    r = ok(svc(host1, src=exe("svcnative-hangs-amd64"), health=HANGS, recovery=RESTART,
               watchdog={"period_min": 1, "failure_threshold": 2}))
    assert r["changed"] is True and r["healthy"] is True
    assert r["watchdog"] == {"task": TASK, "settings": SETTINGS, "period_min": 1, "failure_threshold": 2,
                             "check": {"kind": "http", "target": "http://127.0.0.1:47935/healthz", "timeout_s": 5}}
    assert "create watchdog task %s (every 1 min)" % TASK in r["changes"]
    assert h.counters()["ops"].get("task.set") == 1
    found = task(h)
    assert found["exists"] and found["enabled"] and found["runs_as_system"] and found["interval_min"] == 1
    assert found["execute"] == "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    assert found["arguments"] == '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%s\\watchdog.ps1" -Settings "%s"' % (FOLDER, SETTINGS)
    # what the task runs: the shipped launcher as it is, the agent of the watchdog family, the settings as data
    with open(LAUNCHER, "rb") as handle:
        assert h.read_file(FOLDER + "\\watchdog.ps1") == b"\xef\xbb\xbf" + handle.read()
    agent = h.read_file(FOLDER + "\\agent.ps1").decode("utf-8-sig")
    assert "function Invoke-OpWatchdogTick" in agent and "function Invoke-OpZipExtract" not in agent
    settings = json.loads(h.read_file(SETTINGS))
    assert settings == {"version": 1, "service": NAME, "failure_threshold": 2, "event_source": NAME,
                        "health": {"http": {"url": "http://127.0.0.1:47935/healthz", "expect_status": 200, "validate_certs": True},
                                   "timeout_s": 5}}
    acl = h.execute([{"op": "acl.get", "args": {"path": FOLDER}}])[0]["data"]
    assert acl["protected"] is True
    assert sorted(a["sid"] for a in acl["aces"] if not a.get("inherited")) == ["S-1-5-18", "S-1-5-32-544"]

    first_pid = h.service_state(NAME)["pid"]
    assert [run["data"]["action"] for run in h.tick(2)] == ["healthy", "healthy"]
    runs = h.tick(2)  # 150 s after its start it stops answering: two failed checks end it
    assert [run["data"]["action"] for run in runs] == ["failed", "ended"]
    assert runs[1]["data"]["ended_pid"] == first_pid
    state = h.service_state(NAME)
    assert state["state"] == "running" and state["pid"] != first_pid
    (event,) = h.events()
    assert event["source"] == NAME and event["log"] == "Application" and event["id"] == 7001
    assert [run["data"]["action"] for run in h.tick(1)] == ["healthy"]


def test_the_watchdog_is_idempotent_and_changes_in_place(host1, exe):
    h = host1.host("win1")
    args = dict(src=exe("svcnative-hangs-amd64"), health=HANGS, recovery=RESTART, watchdog={"period_min": 3})
    ok(svc(host1, **args))
    h.reset_counters()
    again = ok(svc(host1, **args))
    assert again["changed"] is False and again["watchdog"]["period_min"] == 3
    assert h.counters()["round_trips"] == 1
    # a new threshold rewrites the settings only; a new period re-registers the task only
    r = ok(svc(host1, **{**args, "watchdog": {"period_min": 3, "failure_threshold": 5}}))
    assert r["changes"] == ["write the watchdog settings %s" % SETTINGS]
    assert json.loads(h.read_file(SETTINGS))["failure_threshold"] == 5
    r = ok(svc(host1, **{**args, "watchdog": {"period_min": 10, "failure_threshold": 5}}))
    assert r["changes"] == ["update watchdog task %s (every 10 min)" % TASK]
    assert task(h)["interval_min"] == 10


def test_check_mode_and_diff_mode_show_the_watchdog_and_change_nothing(host1, exe):
    h = host1.host("win1")
    args = dict(src=exe("svcnative-hangs-amd64"), health=HANGS)
    ok(svc(host1, **args))
    before = h.snapshot()
    run = svc(host1, check=True, diff=True, **{**args, "watchdog": {"period_min": 2}})
    r = ok(run)
    assert r["changed"] is True and "create watchdog task %s (every 2 min)" % TASK in r["changes"]
    assert h.snapshot() == before
    assert "+watchdog: task %s every 2 min" % TASK in run.stdout
    ok(svc(host1, **{**args, "watchdog": {"period_min": 2}}))
    run = svc(host1, check=True, diff=True, **args)  # without the option: removed
    r = ok(run)
    assert r["changes"] == ["remove watchdog task %s" % TASK, "remove watchdog settings %s" % SETTINGS]
    assert "-watchdog: task %s every 2 min" % TASK in run.stdout
    assert task(h)["exists"] is True


def test_absent_removes_the_watchdog_with_the_service_and_leaves_the_shared_files(host1, exe):
    h = host1.host("win1")
    args = dict(src=exe("svcnative-hangs-amd64"), health=HANGS, watchdog={})
    ok(svc(host1, **args))
    assert task(h)["interval_min"] == 5
    h.tick(5)  # one tick: the state and last files exist
    assert h.read_file(FOLDER + "\\" + NAME + ".last.json") is not None
    r = ok(svc(host1, **{**args, "watchdog": {"state": "absent"}}))
    assert r["watchdog"] is None and "remove watchdog task %s" % TASK in r["changes"]
    assert task(h)["exists"] is False
    for leaf in (".json", ".state.json", ".last.json"):
        assert h.read_file(FOLDER + "\\" + NAME + leaf) is None, leaf
    assert h.read_file(FOLDER + "\\watchdog.ps1") is not None  # shared by the watchdogs of other services
    ok(svc(host1, **args))
    r = ok(svc(host1, state="absent"))
    assert "remove watchdog task %s" % TASK in r["changes"] and task(h)["exists"] is False
    assert h.read_file(SETTINGS) is None


def test_bad_watchdog_values_fail_naming_the_option_and_change_nothing(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-hangs-amd64")
    before = h.snapshot()
    for watchdog, health, words in (
            ({"period_min": 0}, HANGS, "watchdog period_min must be a whole number from 1 to 1440, got 0"),
            ({"period_min": 1441}, HANGS, "watchdog period_min must be a whole number from 1 to 1440, got 1441"),
            ({"failure_threshold": 101}, HANGS, "watchdog failure_threshold must be a whole number from 1 to 100, got 101"),
            ({"state": "enabled"}, HANGS, "state"),
            ({"interval": 5}, HANGS, "interval"),
            ({"period_min": 2}, None, "watchdog needs health")):
        args = dict(src=binary, watchdog=watchdog)
        if health:
            args["health"] = health
        r = failed(svc(host1, **args))
        assert words in r["msg"], (watchdog, r["msg"])
    # a name the SCM takes but a task path and a file name cannot hold (its own folders given): refused before anything changes
    r = failed(svc(host1, name="orders:api", src=binary, health=HANGS, watchdog={}, log_dir="C:\\logs\\orders",
                   data_dir="C:\\data\\orders"))
    assert "watchdog: the service name 'orders:api' cannot name its scheduled task and files" in r["msg"], r["msg"]
    assert h.snapshot() == before
