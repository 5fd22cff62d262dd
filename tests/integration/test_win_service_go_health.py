"""win_service_go's health check on winsim: real Go builds whose behaviour marker says how they answer.

Each test runs ansible-playbook against winsim; the probes run on the host in modelled time, inside the
apply round trip, and the tests read the service's run record and winsim's counters back."""

from __future__ import annotations

import pytest

from conftest import reg
# exe is a fixture: imported to be used by name
from test_win_service_go import NAME, ROOT, SECRET, SVC_KEY, exe, failed, ok, sha, svc  # noqa: F401  pylint: disable=unused-import

HEALTHZ = {"http": {"url": "http://127.0.0.1:47931/healthz"}}


def test_a_new_service_is_probed_after_its_start_in_the_same_round_trip(host1, exe):
    h = host1.host("win1")
    h.reset_counters()
    r = ok(svc(host1, src=exe("svcnative-healthy-amd64"), health=dict(HEALTHZ, success_threshold=2, period_s=3)))
    assert r["changed"] is True and r["healthy"] is True
    health = r["health"]
    assert health["kind"] == "http" and health["target"] == "http://127.0.0.1:47931/healthz"
    assert health["probe_count"] == 2 and health["reason"] == "passed 2 probe(s) in a row"
    assert [(p["n"], p["at_ms"], p["ok"], p["status"], p["body"]) for p in health["probes"]] == \
        [(1, 0, True, 200, "ok"), (2, 3000, True, 200, "ok")]
    assert health["modelled"] is True
    assert h.counters()["ops"].get("health.probe") == 1
    with_health = h.counters()["round_trips"]
    # the second run starts nothing, so it probes nothing: one round trip
    h.reset_counters()
    again = ok(svc(host1, src=exe("svcnative-healthy-amd64"), health=dict(HEALTHZ, success_threshold=2, period_s=3)))
    assert again["changed"] is False and "healthy" not in again and "health" not in again
    assert h.counters()["round_trips"] == 1 and "health.probe" not in h.counters()["ops"]
    # the same first deploy without a health check costs as many round trips: the probe rides in the apply batch
    ok(svc(host1, state="absent", remove_data=True))
    h.reset_counters()
    ok(svc(host1, src=exe("svcnative-healthy-amd64")))
    assert h.counters()["round_trips"] == with_health


def test_a_new_service_that_answers_503_fails_the_task_with_the_evidence(host1, exe):
    h = host1.host("win1")
    r = failed(svc(host1, src=exe("svcnative-unhealthy-amd64"),
                   health={"http": {"url": "http://127.0.0.1:47932/healthz"}, "startup_timeout_s": 4, "period_s": 2}))
    assert r["healthy"] is False
    assert r["msg"].startswith("health: the new service %s is not healthy after its start: no probe passed within "
                               "startup_timeout_s (4 s); last probe: HTTP 503, expected 200 (body 'db-down')" % NAME), r["msg"]
    assert [(p["at_ms"], p["status"], p["ok"]) for p in r["health"]["probes"]] == [(0, 503, False), (2000, 503, False), (4000, 503, False)]
    # the task says what it did: the service is registered and running (left as it is)
    assert r["changes"][-1] == "start service %s" % NAME
    assert h.service_state(NAME)["state"] == "running"


def test_expect_status_and_body_regex_decide_what_healthy_means(host1, exe):
    r = ok(svc(host1, src=exe("svcnative-unhealthy-amd64"),
               health={"http": {"url": "http://localhost:47932/healthz", "expect_status": 503, "body_regex": "^db-"}}))
    assert r["healthy"] is True and r["health"]["probes"][0]["status"] == 503


def test_a_body_that_does_not_match_fails_each_probe_saying_so(host1, exe):
    r = failed(svc(host1, src=exe("svcnative-healthy-amd64"),
                   health={"http": {"url": "http://127.0.0.1:47931/healthz", "body_regex": '"status":\\s*"up"'},
                           "startup_timeout_s": 2, "period_s": 1}))
    assert [p["error"] for p in r["health"]["probes"]] == ["the body does not match body_regex"] * 3
    assert "last probe: the body does not match body_regex (body 'ok')" in r["msg"]


def test_a_service_that_takes_time_to_listen_is_healthy_once_it_does(host1, exe):
    r = ok(svc(host1, src=exe("svcnative-slow-amd64"), health={"tcp": "127.0.0.1:47934", "period_s": 1}))
    assert r["healthy"] is True
    assert [(p["at_ms"], p["ok"]) for p in r["health"]["probes"]] == [(0, False), (1000, False), (2000, False), (3000, False), (4000, True)]


def test_a_service_that_is_slower_than_startup_timeout_fails(host1, exe):
    r = failed(svc(host1, src=exe("svcnative-slow-amd64"), health={"tcp": 47934, "period_s": 1, "startup_timeout_s": 3}))
    assert r["health"]["reason"] == "no probe passed within startup_timeout_s (3 s)"
    assert r["health"]["probe_count"] == 4


def test_a_release_that_crashes_after_its_start_is_unhealthy_with_its_exit_code(host1, exe):
    h = host1.host("win1")
    r = failed(svc(host1, src=exe("svcnative-crash-amd64"),
                   health={"http": {"url": "http://127.0.0.1:47933/healthz"}, "period_s": 1, "success_threshold": 5}))
    assert r["health"]["service"] == {"state": "stopped", "exit_code": 1067}
    assert r["health"]["reason"] == "the service %s is stopped (exit code 1067)" % NAME
    assert [p["ok"] for p in r["health"]["probes"]] == [True, True, True]
    assert r["service"]["state"] == "stopped"
    assert h.service_state(NAME)["state"] == "stopped" and h.service_state(NAME)["exit_code"] == 1067


def test_an_update_to_an_unhealthy_release_rolls_back_and_the_old_release_serves(host1, exe):
    h = host1.host("win1")
    good, bad = exe("svcnative-healthy-amd64"), exe("svcnative-unhealthy-amd64")
    ok(svc(host1, src=good, health=HEALTHZ))
    h.reset_counters()
    r = failed(svc(host1, src=bad, health=dict(HEALTHZ, startup_timeout_s=2, period_s=1)))
    assert r["msg"] == ("health: release %s of service %s was not healthy: no probe passed within startup_timeout_s (2 s). Rolled "
                        "back to release %s, which is running and healthy" % (sha(bad)[:12], NAME, sha(good)[:12])), r["msg"]
    assert r["rolled_back"] is True and r["healthy"] is False and r["rollback_health"]["healthy"] is True
    # nothing listened on 47931 while the new release ran (it listens on 47932): the evidence says so
    assert r["health"]["probes"][0]["error"].startswith("ConnectFailure")
    assert [st["stage"] for st in r["update"]["stages"]] == ["switched", "stopped", "started", "probed", "stopped_back",
                                                             "switched_back", "started_back", "probed_back"]
    assert h.counters()["ops"]["deploy.update"] == 1
    assert h.service_state(NAME)["state"] == "running"
    assert sha(good)[:12] in reg(h, SVC_KEY, "ImagePath")
    assert r["service"]["image_path"] == reg(h, SVC_KEY, "ImagePath")
    # both releases are kept; the journal says what happened, and the next run reports it
    releases = {e["name"] for e in h.execute([{"op": "dir.list", "args": {"path": ROOT + "\\releases"}}])[0]["data"]["entries"]}
    assert {sha(good)[:12], sha(bad)[:12]} <= releases
    again = ok(svc(host1, src=good, health=HEALTHZ))
    assert again["changed"] is False
    assert again["last_update"]["outcome"] == "rolled_back" and again["last_update"]["interrupted"] is False


def test_an_update_to_a_healthy_release_goes_in_with_one_host_op(host1, exe):
    h = host1.host("win1")
    ok(svc(host1, src=exe("svcnative-amd64")))
    h.reset_counters()
    r = ok(svc(host1, src=exe("svcnative-healthy-amd64"), health=HEALTHZ))
    assert r["update"]["outcome"] == "updated" and r["healthy"] is True and r["stopped_by"] == "scm"
    assert h.counters()["ops"]["deploy.update"] == 1 and "service.stop" not in h.counters()["ops"]
    assert "last_update" not in r  # no update had run before this one
    again = ok(svc(host1, src=exe("svcnative-healthy-amd64"), health=HEALTHZ))
    assert again["changed"] is False
    assert again["last_update"]["outcome"] == "updated" and again["last_update"]["id"] == r["update"]["journal_id"]


def test_check_mode_plans_an_update_and_runs_nothing(host1, exe):
    h = host1.host("win1")
    old = exe("svcnative-healthy-amd64")
    ok(svc(host1, src=old, health=HEALTHZ))
    before = h.snapshot()
    r = ok(svc(host1, check=True, diff=True, src=exe("svcnative-unhealthy-amd64"), health=HEALTHZ))
    assert r["changed"] is True and "update" not in r and "healthy" not in r
    assert "stop service %s" % NAME in r["changes"] and "start service %s" % NAME in r["changes"]
    assert sha(old)[:12] in r["diff"]["before"] and sha(exe("svcnative-unhealthy-amd64"))[:12] in r["diff"]["after"]
    assert h.snapshot() == before and "deploy.update" not in h.counters()["ops"]


def test_a_user_password_carried_by_an_update_never_reaches_output_or_the_host_state(host1, exe):
    h = host1.host("win1")
    h.add_account("svc-orders", "S-1-5-21-3623811015-3361044348-30300820-1107")
    password = "Upd8-" + "s3cret!pw"
    args = {"account": h.computer_name + "\\svc-orders", "password": password, "update_password": "always"}
    ok(svc(host1, src=exe("svcnative-healthy-amd64"), **args))
    run = svc(host1, src=exe("svcnative-unhealthy-amd64"), verbosity=4, health=dict(HEALTHZ, startup_timeout_s=1), **args)
    r = failed(run)
    assert r["rolled_back"] is True
    assert password not in run.stdout + run.stderr
    for path in host1.state_dir.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path


def test_rollback_false_leaves_the_failing_release_running(host1, exe):
    h = host1.host("win1")
    ok(svc(host1, src=exe("svcnative-healthy-amd64")))
    bad = exe("svcnative-unhealthy-amd64")
    r = failed(svc(host1, src=bad, rollback=False, health={"http": {"url": "http://127.0.0.1:47932/healthz"}, "startup_timeout_s": 1}))
    assert r["msg"].endswith("It was left running (rollback: false)") and "rolled_back" not in r
    assert r["update"]["outcome"] == "failed"
    assert sha(bad)[:12] in reg(h, SVC_KEY, "ImagePath") and h.service_state(NAME)["state"] == "running"


def test_a_release_that_ignores_stop_is_ended_and_the_stage_says_so(host1, exe):
    ok(svc(host1, src=exe("svcnative-hang-amd64")))
    r = ok(svc(host1, src=exe("svcnative-healthy-amd64"), stop_timeout_s=3, health=HEALTHZ))
    assert r["stopped_by"] == "kill" and r["update"]["outcome"] == "updated"


@pytest.mark.parametrize("stage", ["begin", "switched", "stopped", "started", "probed", "rolling_back", "switched_back"])
def test_an_update_cut_off_at_any_stage_leaves_a_release_and_the_next_run_completes_it(host1, exe, stage):
    h = host1.host("win1")
    good, bad = exe("svcnative-healthy-amd64"), exe("svcnative-unhealthy-amd64")
    ok(svc(host1, src=good, health=HEALTHZ))
    h.add_fault({"fault": "kill_agent", "after_stage": stage})
    run = svc(host1, src=bad, health=dict(HEALTHZ, startup_timeout_s=1, period_s=1))
    assert run.rc != 0 and not h.faults(), run.stdout[-2000:]
    assert "Traceback" not in run.stdout + run.stderr
    image = reg(h, SVC_KEY, "ImagePath")
    assert sha(good)[:12] in image or sha(bad)[:12] in image  # the old or the new release, never neither
    # the next run with the same (bad) release reads the journal, says so, and carries the update out again
    r = failed(svc(host1, src=bad, health=dict(HEALTHZ, startup_timeout_s=1, period_s=1), allow_warnings=True))
    assert r["last_update"]["interrupted"] is True and r["last_update"]["stage"] == stage
    assert r["rolled_back"] is True and sha(good)[:12] in reg(h, SVC_KEY, "ImagePath")
    assert h.service_state(NAME)["state"] == "running"
    # and the run after that with the good release has nothing left to do
    assert ok(svc(host1, src=good, health=HEALTHZ))["changed"] is False


def test_a_connection_dropped_during_the_update_leaves_the_host_to_finish_it(host1, exe):
    h = host1.host("win1")
    good, bad = exe("svcnative-healthy-amd64"), exe("svcnative-unhealthy-amd64")
    ok(svc(host1, src=good, health=HEALTHZ))
    # the apply batch runs on the host in full, and its answer is lost (skip the read and folder round trips)
    h.add_fault({"fault": "drop_connection", "after_ops": 50, "skip_round_trips": 2})
    run = svc(host1, src=bad, health=dict(HEALTHZ, startup_timeout_s=1))
    assert run.rc != 0 and not h.faults()
    assert sha(good)[:12] in reg(h, SVC_KEY, "ImagePath") and h.service_state(NAME)["state"] == "running"
    r = ok(svc(host1, src=good, health=HEALTHZ))
    assert r["changed"] is False and r["last_update"]["outcome"] == "rolled_back"


def test_state_restarted_probes_after_the_start(host1, exe):
    ok(svc(host1, src=exe("svcnative-healthy-amd64")))
    r = ok(svc(host1, src=exe("svcnative-healthy-amd64"), state="restarted", health={"tcp": "localhost:47931"}))
    assert r["changed"] is True and r["healthy"] is True and r["health"]["kind"] == "tcp"


def test_a_command_probe_runs_the_program_on_the_host(host1, exe):
    h = host1.host("win1")
    h.put(exe("cli-amd64", "check.exe"), "C:\\tools\\check.exe")
    r = ok(svc(host1, src=exe("svcnative-healthy-amd64"), health={"command": ["C:\\tools\\check.exe", "-version"]}))
    assert r["healthy"] is True and r["health"]["probes"][0]["exit_code"] == 0
    r = failed(svc(host1, src=exe("svcnative-healthy-amd64"), state="restarted",
                   health={"command": ["C:\\tools\\missing.exe"], "startup_timeout_s": 1, "period_s": 1}))
    assert "cannot start C:\\tools\\missing.exe" in r["health"]["probes"][0]["error"]


def test_check_mode_probes_nothing_and_changes_nothing(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    h.reset_counters()
    r = ok(svc(host1, check=True, src=exe("svcnative-healthy-amd64"), health=HEALTHZ))
    assert r["changed"] is True and "healthy" not in r
    assert h.snapshot() == before and "health.probe" not in h.counters()["ops"]


def test_secrets_never_reach_the_evidence(host1, exe):
    # the secret is the health body the service answers with (it echoes configuration): scrubbed everywhere
    r = failed(svc(host1, src=exe("svcnative-unhealthy-amd64"), verbosity=4, secret_environment={"DB_PASSWORD": "db-down"},
                   health={"http": {"url": "http://127.0.0.1:47932/healthz"}, "startup_timeout_s": 1, "period_s": 1}))
    assert all(p["body"] == "********" for p in r["health"]["probes"])
    assert "db-down" not in r["msg"]


BAD = [
    ({}, ["health needs exactly one of http, tcp or command, got none"]),
    ({"tcp": 8080, "command": ["x.exe"]}, ["exactly one of http, tcp or command, got tcp, command"]),
    ({"tcp": "host:port"}, ["health tcp must be host:port"]),
    ({"tcp": 70000}, ["health tcp must be host:port"]),
    ({"tcp": True}, ["health tcp must be host:port"]),
    ({"command": []}, ["health command must be a list of strings"]),
    ({"command": [""]}, ["health command must be a list of strings"]),
    ({"http": {"url": "ftp://127.0.0.1/x"}}, ["health http url must be an http or https URL"]),
    ({"http": {"url": "http://user:pw@127.0.0.1/x"}}, ["must not hold a user name or password"]),
    ({"http": {"url": "http://127.0.0.1:99999/x"}}, ["health http url must be an http or https URL"]),
    ({"http": {"url": "http://127.0.0.1/x", "expect_status": 99}}, ["health http expect_status must be a whole number from 100 to 599"]),
    ({"http": {"url": "http://127.0.0.1/x", "body_regex": "(open"}}, ["health http body_regex is not a regular expression"]),
    ({"http": {"url": "http://127.0.0.1/x", "bogus": 1}}, ["health http has no key bogus"]),
    ({"tcp": 8080, "period_s": 0}, ["health period_s must be a whole number from 1 to 3600"]),
    ({"tcp": 8080, "startup_timeout_s": 3601}, ["health startup_timeout_s must be a whole number from 1 to 3600"]),
    ({"tcp": 8080, "success_threshold": 0}, ["health success_threshold must be a whole number from 1 to 100"]),
    ({"tcp": 8080, "failure_threshold": 101}, ["health failure_threshold must be a whole number from 1 to 100"]),
    ({"tcp": 8080, "timeout_s": -1}, ["health timeout_s must be a whole number from 1 to 3600"]),
    ({"tcp": 8080, "interval": 3}, ["health has no key interval"]),
]


def test_bad_health_values_are_refused_before_anything_changes(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-healthy-amd64")
    before = h.snapshot()
    tasks = [{"name": "bad %d" % n, "gowin.server.win_service_go": {"name": NAME, "src": binary, "health": health},
              "ignore_errors": True} for n, (health, _words) in enumerate(BAD)]
    run = host1.play(tasks, allow_warnings=True)
    assert "Traceback" not in run.stdout + run.stderr
    wrong = []
    for n, (health, words) in enumerate(BAD):
        res = run.one("win1", "bad %d" % n)
        msg = res.result.get("msg", "")
        if not res.failed or any(w not in msg for w in words):
            wrong.append((health, res.status, msg))
    assert not wrong, "\n".join(map(repr, wrong))
    assert h.snapshot() == before


def test_after_a_rollback_release_is_the_release_that_runs_and_the_failed_one_is_reported_apart(host1, exe):
    h = host1.host("win1")
    good, bad = exe("svcnative-healthy-amd64"), exe("svcnative-unhealthy-amd64")
    ok(svc(host1, src=good, health=HEALTHZ))
    r = failed(svc(host1, src=bad, health=dict(HEALTHZ, startup_timeout_s=2, period_s=1)))
    assert r["rolled_back"] is True
    good_folder, bad_folder = ROOT + "\\releases\\" + sha(good)[:12], ROOT + "\\releases\\" + sha(bad)[:12]
    # release is the active one, the release rolled back to; it was the first, so nothing was active before it
    release = r["release"]
    assert release["sha256"] == sha(good) and release["folder"] == good_folder
    assert release["path"] == good_folder + "\\%s.exe" % NAME and release["path"] in reg(h, SVC_KEY, "ImagePath")
    assert release["previous"] is None
    assert release["failed"] == {"id": sha(bad)[:12], "folder": bad_folder, "path": bad_folder + "\\%s.exe" % NAME, "sha256": sha(bad),
                                 "wrapper_sha256": None}
    assert {sha(good)[:12], sha(bad)[:12]} <= set(release["kept"]) and release["removed"] == []
    # the next run reads the same active release back
    again = ok(svc(host1, src=good, health=HEALTHZ))
    assert again["changed"] is False and again["release"]["sha256"] == sha(good) and again["release"]["previous"] is None
    assert "failed" not in again["release"]


def test_after_a_rollback_from_a_second_release_previous_is_the_release_it_replaced(host1, exe):
    first, good, bad = exe("svcnative-amd64"), exe("svcnative-healthy-amd64"), exe("svcnative-unhealthy-amd64")
    ok(svc(host1, src=first))
    ok(svc(host1, src=good, health=HEALTHZ))
    r = failed(svc(host1, src=bad, health=dict(HEALTHZ, startup_timeout_s=2, period_s=1)))
    assert r["rolled_back"] is True and r["release"]["sha256"] == sha(good) and r["release"]["previous"] == sha(first)[:12]
    assert r["release"]["failed"]["sha256"] == sha(bad)


def test_with_rollback_false_the_failed_release_is_the_active_one(host1, exe):
    h = host1.host("win1")
    good, bad = exe("svcnative-healthy-amd64"), exe("svcnative-unhealthy-amd64")
    ok(svc(host1, src=good, health=HEALTHZ))
    r = failed(svc(host1, src=bad, health=dict(HEALTHZ, startup_timeout_s=2, period_s=1), rollback=False))
    assert r["update"]["outcome"] == "failed" and "rolled_back" not in r
    assert sha(bad)[:12] in reg(h, SVC_KEY, "ImagePath") and h.service_state(NAME)["state"] == "running"
    assert r["release"]["sha256"] == sha(bad) and r["release"]["previous"] == sha(good)[:12] and "failed" not in r["release"]
    # the next run finds it active and says the same of it
    again = ok(svc(host1, src=bad, rollback=False))
    assert again["changed"] is False and again["release"]["sha256"] == sha(bad) and again["release"]["previous"] == sha(good)[:12]


def test_a_rollback_whose_previous_release_is_not_healthy_either_still_reports_the_release_switched_back_to(host1, exe):
    h = host1.host("win1")
    old, bad = exe("svcnative-amd64"), exe("svcnative-unhealthy-amd64")  # the old build does not listen at all
    ok(svc(host1, src=old))
    r = failed(svc(host1, src=bad, health=dict(HEALTHZ, startup_timeout_s=2, period_s=1)))
    assert r["update"]["outcome"] == "rollback_failed" and r["rolled_back"] is False
    assert "switched_back" in [st["stage"] for st in r["update"]["stages"] if st["ok"]]
    assert sha(old)[:12] in reg(h, SVC_KEY, "ImagePath") and r["service"]["image_path"] == reg(h, SVC_KEY, "ImagePath")
    assert r["release"]["sha256"] == sha(old) and r["release"]["failed"]["sha256"] == sha(bad) and r["release"]["previous"] is None


def test_probe_health_reports_the_health_of_a_running_service_without_changing_it(host1, exe):
    h = host1.host("win1")
    ok(svc(host1, src=exe("svcnative-healthy-amd64"), health=HEALTHZ))
    before = h.snapshot()
    for check in (False, True):
        h.reset_counters()
        r = ok(svc(host1, check=check, src=exe("svcnative-healthy-amd64"), health=HEALTHZ, probe_health=True))
        assert r["changed"] is False and r["healthy"] is True and r["health"]["probes"][0]["status"] == 200
        # one round trip to read, one to probe; nothing written
        assert h.counters()["round_trips"] == 2 and h.counters()["ops"].get("health.probe") == 1
        assert h.snapshot() == before
    # an unhealthy service is reported, not failed
    h.crash_service(NAME)
    r = ok(svc(host1, check=True, src=exe("svcnative-healthy-amd64"), health=HEALTHZ, probe_health=True))
    assert r["healthy"] is False and r["health"]["reason"] == "the service %s is not running" % NAME
    assert r["health"]["probe_count"] == 0 and r["changed"] is True  # check mode: it would start it again
    # without health there is nothing to probe, and probe_health false (the default) probes nothing
    r = ok(svc(host1, check=True, src=exe("svcnative-healthy-amd64"), probe_health=True))
    assert "healthy" not in r and "health" not in r


def test_probe_health_with_diff_shows_the_service_as_it_is_and_hides_secrets(host1, exe):
    h = host1.host("win1")
    args = {"src": exe("svcnative-healthy-amd64"), "health": HEALTHZ, "environment": {"LEVEL": "info"},
            "secret_environment": {"TOKEN": SECRET}}
    ok(svc(host1, **args))
    before = h.snapshot()
    for check in (False, True):
        h.reset_counters()
        run = svc(host1, check=check, diff=True, probe_health=True, **args)
        r = ok(run)
        assert r["changed"] is False and r["healthy"] is True and r["health"]["probes"][0]["status"] == 200
        # nothing would change: the diff is the service as it is, before and after alike, and Ansible shows none
        assert r["diff"]["before"] == r["diff"]["after"] and "image_path: " in r["diff"]["before"]
        assert "LEVEL=info" in r["diff"]["before"] and "TOKEN=********" in r["diff"]["before"]
        assert "--- before" not in run.stdout and SECRET not in run.stdout + run.stderr
        assert h.counters()["round_trips"] == 2 and h.counters()["ops"].get("health.probe") == 1
        assert h.snapshot() == before
    # not running: the diff is the plan's (the configuration stays), the health says why; nothing is probed or started
    h.crash_service(NAME)
    before = h.snapshot()
    h.reset_counters()
    run = svc(host1, check=True, diff=True, probe_health=True, **args)
    r = ok(run)
    assert r["changed"] is True and "start service %s" % NAME in r["changes"]
    assert r["healthy"] is False and r["health"]["reason"] == "the service %s is not running" % NAME
    assert r["diff"]["before"] == r["diff"]["after"] and SECRET not in run.stdout + run.stderr
    assert h.counters()["round_trips"] == 1 and "health.probe" not in h.counters()["ops"] and h.snapshot() == before


def test_probe_health_takes_only_booleans(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    run = svc(host1, src=exe("svcnative-healthy-amd64"), health=HEALTHZ, probe_health="sometimes")
    res = run.one("win1", "svc")
    assert res.failed and "probe_health" in res.result["msg"] and "bool" in res.result["msg"]
    assert h.snapshot() == before
