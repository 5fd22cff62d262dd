"""win_service_go on winsim hosts: real Go builds registered as services, checked before they are trusted.

Each test runs ansible-playbook against winsim and reads the host's model back (service key, run
record, ACLs, firewall, event sources, user rights, round-trip counters)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import os
import shutil
import threading
from pathlib import Path

import pytest

from conftest import Fleet, reg

from ansible_collections.gowin.server.plugins.plugin_utils import _winsvc
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.service import SECRET_MARKER

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("gowin_fixture_build", os.path.join(HERE, "..", "fixtures", "build.py"))
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

NAME = "orders-api"
SVC_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\" + NAME
ROOT = "C:\\opt\\services\\" + NAME
SID = _winsvc.service_sid(NAME)
SECRET = "hunter2-Zq9!"


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    """A function: fixture variant name -> path of the real Go build, copied under its own name."""
    try:
        go = build.go_binary()
        build.go_version(go)
    except build.GoMissing as e:
        pytest.skip(str(e))
    out = tmp_path_factory.mktemp("bin")

    def get(variant: str, filename: str = NAME + ".exe") -> str:
        folder = out / variant
        folder.mkdir(exist_ok=True)
        dest = folder / filename
        if not dest.exists():
            shutil.copyfile(build.build(variant, go), dest)
        return str(dest)
    return get


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def svc(fleet: Fleet, check=False, diff=False, verbosity=0, allow_warnings=False, **args):
    args.setdefault("name", NAME)
    return fleet.play([{"name": "svc", "gowin.server.win_service_go": args}], check=check, diff=diff,
                      verbosity=verbosity, allow_warnings=allow_warnings)


def ok(run, host="win1"):
    res = run.one(host, "svc")
    assert not res.failed, "%s\n%s" % (res.result.get("msg"), run.stdout[-3000:])
    assert "Traceback" not in run.stdout + run.stderr
    return res.result


def failed(run, host="win1"):
    res = run.one(host, "svc")
    assert res.failed, run.stdout[-3000:]
    assert "Traceback" not in run.stdout + run.stderr
    return res.result


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # pylint: disable=arguments-differ
        pass


def serve_folder(folder: Path) -> http.server.ThreadingHTTPServer:
    """A loopback HTTP server for `folder` (stop it with .shutdown())."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def environment_of(h) -> list[str]:
    return reg(h, SVC_KEY, "Environment") or []


def test_register_then_nothing_changes_in_one_round_trip(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-amd64")
    args = dict(src=binary, checksum="sha256:" + sha(binary),
                args=["--config", "C:\\ProgramData\\orders-api\\config.yaml", "two words"],
                environment={"GOMAXPROCS": "4", "GOMEMLIMIT": "2GiB"}, secret_environment={"DB_PASS": SECRET},
                firewall={"port": 8443, "remote_addresses": ["10.0.0.0/8"]})
    r = ok(svc(host1, **args))
    assert r["changed"] is True
    sha12 = sha(binary)[:12]
    exe_path = "%s\\releases\\%s\\%s.exe" % (ROOT, sha12, NAME)
    assert h.execute([{"op": "file.stat", "args": {"path": exe_path, "checksum": True}}])[0]["data"]["sha256"] == sha(binary)
    # the image path, read back with Windows' argv rules, gives each argument as one
    image = reg(h, SVC_KEY, "ImagePath")
    assert _winsvc.split_command_line(image) == [exe_path, "--config", "C:\\ProgramData\\orders-api\\config.yaml", "two words"]
    assert reg(h, SVC_KEY, "ObjectName") == "NT SERVICE\\" + NAME
    assert reg(h, SVC_KEY, "Start") == 2
    assert reg(h, SVC_KEY, "ServiceSidType") == 1
    entries = sorted(environment_of(h))
    assert entries[1:] == ["GOMAXPROCS=4", "GOMEMLIMIT=2GiB"]
    # winsim keeps a marker for a secret value (never the value): the name is set, the value is the secret's digest
    assert entries[0] == "DB_PASS=" + SECRET_MARKER + hashlib.sha256(SECRET.encode()).hexdigest()
    state = h.service_state(NAME)
    assert state["state"] == "running" and state["pid"]
    assert r["service"]["state"] == "running" and r["service"]["account"] == "NT SERVICE\\" + NAME
    assert r["service"]["sid"] == SID
    assert r["binary"]["machine"] == "amd64" and r["binary"]["build_info"]["go_version"]
    assert r["release"]["sha256"] == sha(binary) and r["release"]["path"] == exe_path
    # recovery: restart after 5 s, 30 s, 120 s, reset after a day, also on non-crash failures
    assert r["service"]["recovery"]["actions"] == [{"type": "restart", "delay_ms": d} for d in (5000, 30000, 120000)]
    assert reg(h, SVC_KEY, "FailureActionsOnNonCrashFailures") == 1
    # folders: the identity reads its release, modifies log and data; Users get nothing
    for path, mask in ((ROOT, "read_and_execute"), ("C:\\ProgramData\\orders-api\\logs", "modify"),
                       ("C:\\ProgramData\\orders-api\\data", "modify")):
        acl = h.execute([{"op": "acl.get", "args": {"path": path}}])[0]["data"]
        assert acl["exists"] and acl["protected"], path
        sids = {a["sid"] for a in acl["aces"]}
        assert sids == {"S-1-5-32-544", "S-1-5-18", SID}, (path, acl["aces"])
        assert "S-1-5-32-545" not in sids
    rule = h.execute([{"op": "firewall.get", "args": {"name": "gowin-" + NAME}}])[0]["data"]
    assert rule["exists"] and rule["local_ports"] == ["8443"] and rule["remote_addresses"] == ["10.0.0.0/255.0.0.0"]  # as Windows reports it
    assert rule["program"].lower() == exe_path.lower() and rule["direction"] == "inbound" and rule["action"] == "allow"
    source = h.execute([{"op": "eventlog.get", "args": {"source": NAME}}])[0]["data"]
    assert source["exists"] and source["log"] == "Application"
    # the secret is in no result and no output
    run = svc(host1, **args)
    again = ok(run)
    assert again["changed"] is False and again["changes"] == []
    assert h.counters()["round_trips"] == 1
    assert SECRET not in run.stdout + run.stderr + repr(r) + repr(again)


def test_check_mode_changes_nothing_and_reports_the_plan(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    r = ok(svc(host1, check=True, diff=True, src=exe("svcnative-amd64"), environment={"A": "1"},
               secret_environment={"S": SECRET}))
    assert r["changed"] is True and "create service %s" % NAME in r["changes"]
    assert r["service"]["state"] == "running"
    assert h.snapshot() == before
    assert h.counters()["round_trips"] == 1
    assert SECRET not in repr(r)
    assert "S=********" in r["diff"]["after"] and "A=1" in r["diff"]["after"]


def test_diff_names_what_changes_and_hides_secrets(host1, exe):
    binary = exe("svcnative-amd64")
    ok(svc(host1, src=binary, environment={"LEVEL": "info"}, secret_environment={"TOKEN": SECRET}))
    run = svc(host1, diff=True, src=binary, environment={"LEVEL": "debug"}, secret_environment={"TOKEN": SECRET + "x"},
              start_mode="delayed")
    r = ok(run)
    assert r["changed"] is True
    # the host gives values back as keyed digests only: an old value other than the wanted one is not shown
    assert "LEVEL=<another value>" in r["diff"]["before"] and "LEVEL=debug" in r["diff"]["after"]
    assert "firewall rule" not in r["diff"]["before"]
    assert "start_mode: auto" in r["diff"]["before"] and "start_mode: delayed" in r["diff"]["after"]
    assert "TOKEN=********" in r["diff"]["before"] and "TOKEN=********" in r["diff"]["after"]
    assert SECRET not in run.stdout + run.stderr
    assert "set environment" in r["changes"] and "set start_mode" in r["changes"]
    # environment changes need a restart: the service was stopped and started again
    assert "stop service %s" % NAME in r["changes"] and "start service %s" % NAME in r["changes"]
    assert r["stopped_by"] == "scm"


def test_each_option_reconfigures_and_then_is_idempotent(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-amd64")
    ok(svc(host1, src=binary))
    pid = h.service_state(NAME)["pid"]
    changes = dict(display_name="Orders API", description="Takes orders; $(not code) `n", start_mode="manual",
                   sid_type="restricted", dependencies=["W32Time"], args=["--port", "8443"],
                   recovery={"actions": [{"type": "restart", "delay_ms": 1000}, {"type": "none", "delay_ms": 0}],
                             "reset_after_s": 3600, "on_non_crash_failure": False},
                   firewall={"port": [8443, 9090], "protocol": "tcp", "profiles": ["domain"]}, account="NetworkService")
    r = ok(svc(host1, src=binary, **changes))
    assert r["changed"] is True
    assert reg(h, SVC_KEY, "DisplayName") == "Orders API"
    assert reg(h, SVC_KEY, "Description") == "Takes orders; $(not code) `n"
    assert reg(h, SVC_KEY, "Start") == 3
    assert reg(h, SVC_KEY, "ServiceSidType") == 3
    assert reg(h, SVC_KEY, "DependOnService") == ["W32Time"]
    assert reg(h, SVC_KEY, "ObjectName") == "NT AUTHORITY\\NetworkService"
    assert reg(h, SVC_KEY, "FailureActionsOnNonCrashFailures") == 0
    assert _winsvc.split_command_line(reg(h, SVC_KEY, "ImagePath"))[1:] == ["--port", "8443"]
    state = h.service_state(NAME)
    assert state["state"] == "running" and state["pid"] != pid  # account and args need a restart
    rule = h.execute([{"op": "firewall.get", "args": {"name": "gowin-" + NAME}}])[0]["data"]
    assert sorted(rule["local_ports"]) == ["8443", "9090"] and rule["profiles"] == ["domain"]
    again = ok(svc(host1, src=binary, **changes))
    assert again["changed"] is False
    assert h.counters()["round_trips"] == 1
    # dropping the firewall option removes the module's rule
    dropped = dict(changes)
    del dropped["firewall"]
    r = ok(svc(host1, src=binary, **dropped))
    assert r["changes"] == ["remove firewall rule gowin-" + NAME]
    assert not h.execute([{"op": "firewall.get", "args": {"name": "gowin-" + NAME}}])[0]["data"]["exists"]


def test_start_mode_delayed_and_disabled(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-amd64")
    ok(svc(host1, src=binary, start_mode="delayed"))
    assert reg(h, SVC_KEY, "Start") == 2 and reg(h, SVC_KEY, "DelayedAutostart") == 1
    ok(svc(host1, src=binary, start_mode="disabled", state="stopped"))
    assert reg(h, SVC_KEY, "Start") == 4 and h.service_state(NAME)["state"] == "stopped"


def test_new_binary_switches_release_and_prunes_old_ones(host1, exe):
    h = host1.host("win1")
    builds = [exe("svcnative-amd64"), exe("svcnative-stripped-amd64"), exe("svcnative-hang-amd64"), exe("svcnative-exit-amd64")]
    shas = [sha(b)[:12] for b in builds]
    ok(svc(host1, src=builds[0], keep_releases=2))
    r = ok(svc(host1, src=builds[1], keep_releases=2))
    assert r["release"]["previous"] == shas[0] and r["release"]["sha256"][:12] == shas[1]
    assert r["stopped_by"] == "scm" and h.service_state(NAME)["state"] == "running"
    assert h.service_state(NAME)["image"].lower().endswith("%s\\%s.exe" % (shas[1], NAME))
    r = ok(svc(host1, src=builds[2], keep_releases=2))
    listing = h.execute([{"op": "dir.list", "args": {"path": ROOT + "\\releases"}}])[0]["data"]
    assert sorted(e["name"] for e in listing["entries"]) == sorted(shas[1:3])
    assert r["release"]["removed"] == [shas[0]]
    assert sorted(reg(h, "HKLM\\SOFTWARE\\GoWin\\Services\\" + NAME, "Releases")) == sorted(shas[1:3])
    # the hang build ignores stop requests: the stop ends its process tree and says so
    r = ok(svc(host1, src=builds[0], keep_releases=2, stop_timeout_s=2))
    assert r["stopped_by"] == "kill"
    assert h.service_state(NAME)["state"] == "running"


def test_update_whose_start_fails_switches_back_to_the_running_release(host1, exe):
    h = host1.host("win1")
    good, bad = exe("svcnative-amd64"), exe("svcnative-exit-amd64")
    ok(svc(host1, src=good))
    h.reset_counters()
    r = failed(svc(host1, src=bad))
    assert r["rolled_back"] is True
    assert r["msg"].startswith("update: release %s of service %s failed at the stage started (service_failed): " % (sha(bad)[:12], NAME))
    assert r["msg"].endswith("Rolled back to release %s, which is running" % sha(good)[:12])
    assert [st["stage"] for st in r["update"]["stages"]] == ["switched", "stopped", "started", "stopped_back", "switched_back", "started_back"]
    assert r["update"]["outcome"] == "rolled_back" and h.counters()["ops"]["deploy.update"] == 1
    assert "service.start" not in h.counters()["ops"]  # the whole update was one host op
    state = h.service_state(NAME)
    assert state["state"] == "running"
    assert sha(good)[:12] in reg(h, SVC_KEY, "ImagePath")
    # the next run with the good build finds nothing to do beyond the record of the failed release
    again = ok(svc(host1, src=good))
    assert "start service %s" % NAME not in again["changes"]


def test_stopped_and_restarted(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-amd64")
    ok(svc(host1, src=binary))
    pid = h.service_state(NAME)["pid"]
    r = ok(svc(host1, src=binary, state="restarted"))
    assert r["changed"] is True and h.service_state(NAME)["pid"] != pid
    r = ok(svc(host1, src=binary, state="stopped"))
    assert r["changed"] is True and r["stopped_by"] == "scm" and h.service_state(NAME)["state"] == "stopped"
    assert ok(svc(host1, src=binary, state="stopped"))["changed"] is False
    # a crashed service is started again by state=started
    ok(svc(host1, src=binary))
    h.crash_service(NAME)
    r = ok(svc(host1, src=binary))
    assert r["changes"] == ["start service %s" % NAME] and h.service_state(NAME)["state"] == "running"


def test_absent_keeps_data_unless_remove_data(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-amd64")
    ok(svc(host1, src=binary, firewall={"port": 8443}))
    h.execute([{"op": "file.write", "args": {"path": "C:\\ProgramData\\orders-api\\data\\db.json", "content": "{}"}}])
    r = ok(svc(host1, state="absent", check=True))
    assert r["changed"] is True and h.service_state(NAME)["state"] == "running"
    r = ok(svc(host1, state="absent"))
    assert r["changed"] is True and r["stopped_by"] == "scm"
    assert reg(h, SVC_KEY, "ImagePath") is None
    assert not h.execute([{"op": "firewall.get", "args": {"name": "gowin-" + NAME}}])[0]["data"]["exists"]
    assert not h.execute([{"op": "eventlog.get", "args": {"source": NAME}}])[0]["data"]["exists"]
    assert not h.execute([{"op": "file.stat", "args": {"path": ROOT}}])[0]["data"]["exists"]
    assert h.execute([{"op": "file.stat", "args": {"path": "C:\\ProgramData\\orders-api\\data\\db.json"}}])[0]["data"]["exists"]
    assert ok(svc(host1, state="absent"))["changed"] is False
    assert h.counters()["round_trips"] == 1
    r = ok(svc(host1, state="absent", remove_data=True))
    assert r["changed"] is True
    assert not h.execute([{"op": "file.stat", "args": {"path": "C:\\ProgramData\\orders-api\\data"}}])[0]["data"]["exists"]


def test_console_program_is_refused_before_anything_changes(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    r = failed(svc(host1, src=exe("consolehttp-amd64")))
    assert "1053" in r["msg"]
    assert h.snapshot() == before
    assert h.counters()["round_trips"] == 1


@pytest.mark.parametrize("variant,accepted", [("svcnative-arm64", False), ("svcnative-386", False)])
def test_architecture_is_checked_against_the_host(host1, exe, variant, accepted):
    h = host1.host("win1")
    before = h.snapshot()
    r = failed(svc(host1, src=exe(variant)))
    assert "allow_wow64" in r["msg"] if variant.endswith("386") else "arm64" in r["msg"]
    assert h.snapshot() == before


def test_386_runs_with_allow_wow64(host1, exe):
    r = ok(svc(host1, src=exe("svcnative-386"), allow_wow64=True, allow_warnings=True))
    assert r["binary"]["machine"] == "386" and r["service"]["state"] == "running"


def test_arm64_binary_on_an_arm64_host(tmp_path, mirror, exe):
    fleet = Fleet(tmp_path, mirror, {"win1": "ws2022"}, arch={"win1": "arm64"})
    r = ok(svc(fleet, src=exe("svcnative-arm64")))
    assert r["service"]["state"] == "running"
    r = failed(svc(fleet, src=exe("svcnative-amd64")))
    assert "amd64" in r["msg"]


def test_local_system_needs_allow_local_system(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    r = failed(svc(host1, src=exe("svcnative-amd64"), account="LocalSystem"))
    assert "allow_local_system" in r["msg"]
    assert h.snapshot() == before
    r = ok(svc(host1, src=exe("svcnative-amd64"), account="LocalSystem", allow_local_system=True))
    assert reg(h, SVC_KEY, "ObjectName") == "LocalSystem"


def test_gmsa_gets_the_logon_right_and_a_policy_owner_is_reported(host1, exe):
    h = host1.host("win1")
    gmsa_sid = "S-1-5-21-1004336348-1177238915-682003330-4101"
    h.add_account("CORP\\svc-orders$", gmsa_sid)
    h.set_policy_right("SeServiceLogonRight")
    run = svc(host1, src=exe("svcnative-amd64"), account="CORP\\svc-orders$", allow_warnings=True)
    r = ok(run)
    assert reg(h, SVC_KEY, "ObjectName") == "CORP\\svc-orders$"
    assert "*" + gmsa_sid in h.user_right_holders("SeServiceLogonRight")
    assert r["logon_right"]["has_right"] is True and r["logon_right"]["policy_owned"] is True
    assert "group policy" in " ".join((run.stdout + run.stderr).split())
    acl = h.execute([{"op": "acl.get", "args": {"path": "C:\\ProgramData\\orders-api\\data"}}])[0]["data"]
    assert gmsa_sid in {a["sid"] for a in acl["aces"]}
    again = svc(host1, src=exe("svcnative-amd64"), account="CORP\\svc-orders$")
    assert ok(again)["changed"] is False
    assert h.counters()["round_trips"] == 1


def test_missing_dependency_is_refused_before_anything_changes(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    r = failed(svc(host1, src=exe("svcnative-amd64"), dependencies=["W32Time", "NoSuchSvc"]))
    assert r["msg"].startswith("dependencies: NoSuchSvc is not a service")
    assert h.snapshot() == before


def test_unknown_account_is_refused(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    r = failed(svc(host1, src=exe("svcnative-amd64"), account="CORP\\nobody$"))
    assert "CORP\\nobody$" in r["msg"] and "not known" in r["msg"]
    assert h.snapshot() == before


def test_user_password_never_shown_and_update_password(host1, exe):
    h = host1.host("win1")
    user_sid = "S-1-5-21-3623811015-3361044348-30300820-1107"
    h.add_account("svc-orders", user_sid)
    binary = exe("svcnative-amd64")
    account = h.computer_name + "\\svc-orders"
    run = svc(host1, src=binary, account=account, password=SECRET, verbosity=4, diff=True)
    r = ok(run)
    assert h.service_state(NAME)["password_set"] is True
    assert "*" + user_sid in h.user_right_holders("SeServiceLogonRight")
    out = run.stdout + run.stderr
    assert SECRET not in out
    for path in Path(host1.state_dir).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    # on_create: a new password is not pushed to an existing service
    again = svc(host1, src=binary, account=account, password=SECRET + "new", verbosity=4)
    assert ok(again)["changed"] is False
    assert h.counters()["round_trips"] == 1
    # always: pushed every run (and that is a change), the service restarted to use it
    pid = h.service_state(NAME)["pid"]
    run = svc(host1, src=binary, account=account, password=SECRET + "new", update_password="always", verbosity=4)
    r = ok(run)
    assert r["changed"] is True and "set password" in r["changes"]
    assert h.service_state(NAME)["pid"] != pid  # a new password is used from the next start: restarted
    assert SECRET not in run.stdout + run.stderr
    # a user without a password is refused
    r = failed(svc(host1, src=binary, account=account))
    assert "password" in r["msg"]


def test_metacharacters_are_stored_literally(host1, exe):
    h = host1.host("win1")
    text = "$(Remove-Item C:\\) ; & | `\"'%PATH%"
    folder = "C:\\ProgramData\\$(calc) 'x' `y; &z"
    source = "orders $(calc) `y; &z '"
    r = ok(svc(host1, src=exe("svcnative-amd64"), args=[text], environment={"GREETING": text}, display_name=text,
               description=text, log_dir=folder + "\\logs", data_dir=folder + "\\data", event_source=source))
    assert h.execute([{"op": "file.stat", "args": {"path": folder + "\\logs"}}])[0]["data"]["type"] == "directory"
    assert h.execute([{"op": "eventlog.get", "args": {"source": source}}])[0]["data"]["exists"]
    assert _winsvc.split_command_line(reg(h, SVC_KEY, "ImagePath"))[1:] == [text]
    assert "GREETING=" + text in environment_of(h)
    assert reg(h, SVC_KEY, "DisplayName") == text and reg(h, SVC_KEY, "Description") == text
    assert r["changed"] is True


def test_path_on_the_host_is_read_and_used(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-amd64")
    h.execute([{"op": "dir.ensure", "args": {"path": "C:\\drop"}}])
    h.put(binary, "C:\\drop\\orders-api.exe")
    r = ok(svc(host1, path="C:\\drop\\orders-api.exe", checksum="sha256:" + sha(binary)))
    assert r["binary"]["machine"] == "amd64" and h.service_state(NAME)["state"] == "running"
    assert sha(binary)[:12] in reg(h, SVC_KEY, "ImagePath")
    again = ok(svc(host1, path="C:\\drop\\orders-api.exe"))
    assert again["changed"] is False
    r = failed(svc(host1, path="C:\\drop\\orders-api.exe", checksum="sha256:" + "0" * 64))
    assert "checksum mismatch" in r["msg"]


def test_url_download_with_checksum(host1, exe, tmp_path):
    binary = exe("svcnative-amd64")
    serve = tmp_path / "www"
    serve.mkdir()
    shutil.copyfile(binary, serve / "orders-api.exe")
    server = serve_folder(serve)
    try:
        url = "http://127.0.0.1:%d/orders-api.exe" % server.server_address[1]
        r = ok(svc(host1, url=url, checksum="sha256:" + sha(binary), allow_plain_http=True))
        assert r["service"]["state"] == "running"
        before = host1.host("win1").snapshot()
        r = failed(svc(host1, url=url, allow_plain_http=True))
        assert "checksum" in r["msg"]
        r = failed(svc(host1, url=url, checksum="sha256:" + sha(binary)))
        assert "allow_plain_http" in r["msg"]
        r = failed(svc(host1, url=url, checksum="sha256:" + "1" * 64, allow_plain_http=True))
        assert "checksum" in r["msg"]
        assert host1.host("win1").snapshot() == before
    finally:
        server.shutdown()


def test_disk_full_during_push_leaves_the_service_untouched(host1, exe):
    h = host1.host("win1")
    ok(svc(host1, src=exe("svcnative-amd64")))
    before_image = reg(h, SVC_KEY, "ImagePath")
    h.add_fault({"fault": "disk_full", "free_bytes": 1024})
    new = exe("svcnative-stripped-amd64")
    r = failed(svc(host1, src=new))
    assert "service was not touched" in r["msg"]
    h.clear_faults()
    assert reg(h, SVC_KEY, "ImagePath") == before_image
    assert h.service_state(NAME)["state"] == "running"
    assert not h.execute([{"op": "file.stat", "args": {"path": ROOT + "\\releases\\" + sha(new)[:12]}}])[0]["data"]["exists"]


def test_connection_drop_mid_apply_then_the_next_run_completes(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-amd64")
    h.add_fault({"fault": "drop_connection", "after_ops": 3, "skip_round_trips": 1})
    run = svc(host1, src=binary)
    assert run.rc != 0
    assert "Traceback" not in run.stdout + run.stderr
    r = ok(svc(host1, src=binary))
    assert h.service_state(NAME)["state"] == "running"
    assert ok(svc(host1, src=binary))["changed"] is False
    assert r["service"]["state"] == "running"


BAD = [
    # (case, args, words the message must hold)
    ("no binary", {}, ["src", "url", "path"]),
    ("two binaries", {"src": "X", "path": "C:\\x.exe"}, ["mutually exclusive", "src", "path"]),
    ("name with slash", {"name": "a/b"}, ["name"]),
    ("name empty", {"name": ""}, ["name"]),
    ("name too long", {"name": "a" * 257}, ["name", "256"]),
    ("state", {"state": "running"}, ["state", "started", "absent"]),
    ("checksum form", {"checksum": "md5:abc"}, ["checksum", "sha256:"]),
    ("checksum wrong", {"checksum": "sha256:" + "0" * 64}, ["checksum mismatch"]),
    ("install_root relative", {"install_root": "opt\\services"}, ["install_root"]),
    ("install_root drive", {"install_root": "C:\\"}, ["install_root"]),
    ("keep_releases", {"keep_releases": 101}, ["keep_releases", "0 to 100"]),
    ("args not list", {"args": {"a": 1}}, ["args"]),
    ("environment name", {"environment": {"A=B": "1"}}, ["environment", "A=B"]),
    ("environment both", {"environment": {"A": "1"}, "secret_environment": {"a": "2"}}, ["secret_environment", "environment has too"]),
    ("account unknown kind", {"account": "LocalSystem"}, ["allow_local_system"]),
    ("gmsa with password", {"account": "CORP\\svc$", "password": "x"}, ["password"]),
    ("update_password", {"update_password": "sometimes"}, ["update_password", "always", "on_create"]),
    ("sid_type", {"sid_type": "open"}, ["sid_type", "unrestricted"]),
    ("start_mode", {"start_mode": "boot"}, ["start_mode", "auto", "delayed"]),
    ("dependency self", {"dependencies": [NAME]}, ["dependencies"]),
    ("dependency slash", {"dependencies": ["a\\b"]}, ["dependencies"]),
    ("recovery type", {"recovery": {"actions": [{"type": "explode", "delay_ms": 1}]}}, ["recovery", "restart"]),
    ("recovery reboot", {"recovery": {"actions": [{"type": "reboot", "delay_ms": 1}]}}, ["allow_reboot_action"]),
    ("recovery key", {"recovery": {"reset": 5}}, ["recovery", "reset", "reset_after_s"]),
    ("recovery action key", {"recovery": {"actions": [{"type": "restart", "delay": 5}]}}, ["recovery", "delay", "delay_ms"]),
    ("recovery action form", {"recovery": {"actions": ["restart"]}}, ["recovery actions", "type, delay_ms"]),
    ("stop_timeout_s", {"stop_timeout_s": 0}, ["stop_timeout_s"]),
    ("start_timeout_s", {"start_timeout_s": 99999}, ["start_timeout_s"]),
    ("event_source", {"event_source": "a\\b"}, ["event_source"]),
    ("event_log", {"event_log": ""}, ["event_log"]),
    ("log_dir", {"log_dir": "logs"}, ["log_dir"]),
    ("data_dir", {"data_dir": "D:"}, ["data_dir"]),
    ("firewall port", {"firewall": {"port": 70000}}, ["firewall", "port"]),
    ("firewall protocol", {"firewall": {"port": 80, "protocol": "icmp"}}, ["protocol", "tcp", "udp"]),
    ("firewall profiles", {"firewall": {"port": 80, "profiles": ["home"]}}, ["profiles"]),
    ("firewall address", {"firewall": {"port": 80, "remote_addresses": ["10.0.0.0/33"]}}, ["remote_addresses"]),
    ("firewall key", {"firewall": {"ports": 80}}, ["firewall has no key ports", "port"]),
    ("service_protocol", {"service_protocol": "magic"}, ["service_protocol", "native"]),
    ("url scheme", {"src": None, "url": "ftp://example.com/x.exe", "checksum": "sha256:" + "0" * 64}, ["url"]),
    ("url password alone", {"src": None, "url": "https://example.com/x.exe", "checksum": "sha256:" + "0" * 64,
                            "url_password": "pw"}, ["url_username"]),
    ("display_name", {"display_name": "x" * 300}, ["display_name", "256"]),
    ("src missing", {"src": "/no/such/file.exe"}, ["src", "not found"]),
    ("path relative", {"src": None, "path": "orders.exe"}, ["path"]),
    ("signature", {"signature": "signed"}, ["signature", "any", "valid"]),
    ("signer_thumbprints", {"signer_thumbprints": ["abc"]}, ["signer_thumbprints", "40 hex digits"]),
]


def test_bad_values_name_the_option_and_change_nothing(host1, exe):
    h = host1.host("win1")
    binary = exe("svcnative-amd64")
    ok(svc(host1, src=binary))
    before = h.snapshot()
    tasks = []
    for case, args, _words in BAD:
        task = {"name": NAME, "src": binary}
        if case == "no binary":
            del task["src"]
        task.update(args)
        task = {k: v for k, v in task.items() if v is not None}
        tasks.append({"name": case, "gowin.server.win_service_go": task, "ignore_errors": True})
    run = host1.play(tasks, allow_warnings=True)
    assert "Traceback" not in run.stdout + run.stderr
    wrong = []
    for case, _args, words in BAD:
        res = run.one("win1", case)
        msg = res.result.get("msg", "")
        if not res.failed or any(word not in msg for word in words):
            wrong.append((case, res.status, msg))
    assert not wrong, "\n".join(map(repr, wrong))
    assert h.snapshot() == before


def test_module_examples_run(host1, exe, tmp_path):
    """Every EXAMPLES task runs against winsim: its binaries real Go builds, its URL a loopback server."""
    import ast  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel
    h = host1.host("win1")
    source = Path(HERE).parents[1] / "plugins" / "modules" / "win_service_go.py"
    tasks = next(yaml.safe_load(ast.literal_eval(node.value)) for node in ast.parse(source.read_text()).body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXAMPLES")
    serve = tmp_path / "www"
    serve.mkdir()
    server = serve_folder(serve)
    h.add_account("CORP\\svc-billing$", "S-1-5-21-1004336348-1177238915-682003330-4102")
    h.execute([{"op": "dir.ensure", "args": {"path": "C:\\drop"}}])
    # an earlier release of orders-api, for the example that rolls back to it on purpose
    ok(svc(host1, src=exe("svcnative-healthy2-amd64", NAME + ".exe")))
    try:
        for task in tasks:
            args = task["gowin.server.win_service_go"]
            binary = exe("svcnative-amd64", args["name"] + ".exe")
            if args.get("service_protocol") == "wrapper":  # a console program under the stand-in of its wrapper
                binary = exe("consolehttp-healthy-amd64", args["name"] + ".exe")
                wrapper = exe("wrapper-%s-amd64" % args["wrapper"]["kind"], "%s.exe" % args["wrapper"]["kind"])
                args["wrapper"]["src"], args["wrapper"]["checksum"] = wrapper, "sha256:" + sha(wrapper)
                args["args"] = [a.replace(":9090", ":47936") for a in args["args"]]
                args["health"]["tcp"] = args["health"]["tcp"].replace(":9090", ":47936")
            elif "health" in args:  # a build that answers /healthz, on the port its behaviour marker names
                binary = exe("svcnative-healthy-amd64", args["name"] + ".exe")
                args["health"]["http"]["url"] = args["health"]["http"]["url"].replace(":8080/", ":47931/")
            if "src" in args:
                args["src"] = binary
            if "url" in args:
                shutil.copyfile(binary, serve / (args["name"] + ".exe"))
                args["url"] = "http://127.0.0.1:%d/%s.exe" % (server.server_address[1], args["name"])
                args["allow_plain_http"] = True
            if "path" in args:
                h.put(binary, args["path"])
            if "checksum" in args:
                args["checksum"] = "sha256:" + sha(binary)
        play = {"name": "examples", "hosts": "all", "gather_facts": False, "vars": {"orders_db_password": SECRET},
                "tasks": tasks}
        path = host1.root / "examples.yml"
        path.write_text(yaml.safe_dump([play], sort_keys=False))
        run = host1.play(playbook=str(path))
    finally:
        server.shutdown()
    assert run.rc == 0, run.stdout[-4000:]
    assert len(run.results) == len(tasks) and not any(r.failed for r in run.results)
    assert SECRET not in run.stdout + run.stderr
    for name in ("orders-api", "billing-worker", "inventory-api", "report-api"):
        assert h.service_state(name)["state"] == "running"
    assert run.one("win1", tasks[0]["name"]).result["healthy"] is True
    back = next(task["name"] for task in tasks if task["gowin.server.win_service_go"].get("release") == "previous")
    assert run.one("win1", back).result["changed"] is True and run.one("win1", back).result["healthy"] is True
    assert sha(exe("svcnative-healthy2-amd64", NAME + ".exe"))[:12] in reg(h, SVC_KEY, "ImagePath")


def test_install_root_the_identity_cannot_list_is_refused(host1, exe):
    h = host1.host("win1")
    h.execute([{"op": "dir.ensure", "args": {"path": "C:\\locked"}}])
    h.set_acl("C:\\locked", [{"sid": "S-1-5-32-544", "mask": 2032127, "type": "allow", "flags": ["OI", "CI"]},
                             {"sid": "S-1-5-18", "mask": 2032127, "type": "allow", "flags": ["OI", "CI"]}], protected=True)
    before = h.snapshot()
    r = failed(svc(host1, src=exe("svcnative-amd64"), install_root="C:\\locked\\services"))
    assert r["msg"].startswith("install_root: the service account NT SERVICE\\%s cannot list C:\\locked" % NAME)
    assert h.snapshot() == before


@pytest.mark.parametrize("after_ops", [0, 1, 2, 4])
def test_connection_drop_during_an_update_leaves_the_old_or_the_new_release_and_the_next_run_completes(host1, exe, after_ops):
    h = host1.host("win1")
    old, new = exe("svcnative-amd64"), exe("svcnative-stripped-amd64")
    ok(svc(host1, src=old))
    # skip the read round trip and the folders one: the drop comes inside the locked apply batch
    h.add_fault({"fault": "drop_connection", "after_ops": after_ops, "skip_round_trips": 2})
    run = svc(host1, src=new)
    assert run.rc != 0 and not h.faults(), run.stdout[-2000:]  # the drop happened
    assert "Traceback" not in run.stdout + run.stderr
    image = reg(h, SVC_KEY, "ImagePath")
    assert sha(old)[:12] in image or sha(new)[:12] in image
    r = ok(svc(host1, src=new))
    assert h.service_state(NAME)["state"] == "running" and sha(new)[:12] in reg(h, SVC_KEY, "ImagePath")
    assert r["service"]["state"] == "running"
    assert ok(svc(host1, src=new))["changed"] is False


@pytest.fixture(scope="module")
def signed(exe):
    """(signed build, tampered build, the test signer's thumbprint); skipped without osslsigncode."""
    try:
        return build.signed("svcnative-amd64"), build.signed("svcnative-amd64", tampered=True), build.signing_cert()[2]
    except build.SignMissing as e:
        pytest.skip(str(e))


def test_signature_valid_is_checked_on_the_host_after_the_copy(host1, signed):
    h = host1.host("win1")
    good, _tampered, thumb = signed
    r = failed(svc(host1, src=good, signature="valid"))
    assert r["msg"].startswith("signature: the Authenticode signature of the src binary is UnknownError on this host")
    assert thumb in r["msg"] and "release folder was removed" in r["msg"]
    assert reg(h, SVC_KEY, "ImagePath") is None
    assert not h.execute([{"op": "file.stat", "args": {"path": ROOT + "\\releases\\" + sha(good)[:12]}}])[0]["data"]["exists"]
    h.trust_certificate(thumb)  # the test root goes into the host's Trusted Root store
    r = ok(svc(host1, src=good, signature="valid", signer_thumbprints=[":".join(thumb[i:i + 2] for i in range(0, 40, 2)).lower()]))
    assert r["binary"]["signature"]["status"] == "Valid" and r["binary"]["signature"]["signer"]["thumbprint"] == thumb
    assert h.service_state(NAME)["state"] == "running"
    again = ok(svc(host1, src=good, signature="valid", signer_thumbprints=[thumb]))
    assert again["changed"] is False and again["binary"]["signature"]["status"] == "Valid"
    assert h.counters()["round_trips"] == 1
    # pinned to another signer: refused in the read, nothing changes
    before = h.snapshot()
    r = failed(svc(host1, src=good, signer_thumbprints=["0" * 40]))
    assert r["msg"].startswith("signer_thumbprints: the src binary is signed by %s" % thumb)
    assert h.snapshot() == before


def test_a_binary_changed_after_signing_is_refused(host1, signed):
    h = host1.host("win1")
    _good, tampered, thumb = signed
    h.trust_certificate(thumb)
    r = failed(svc(host1, src=tampered, signature="valid"))
    assert "HashMismatch" in r["msg"]
    assert reg(h, SVC_KEY, "ImagePath") is None


def test_signature_any_reports_what_the_host_says(host1, exe):
    binary = exe("svcnative-amd64")
    first = ok(svc(host1, src=binary))
    assert first["binary"]["signature"] is None  # not on the host before the copy
    again = ok(svc(host1, src=binary))
    assert again["binary"]["signature"]["status"] == "NotSigned" and again["binary"]["signature"]["signer"] is None


def test_path_that_is_not_signed_is_refused_before_anything_changes(host1, exe):
    h = host1.host("win1")
    h.execute([{"op": "dir.ensure", "args": {"path": "C:\\drop"}}])
    h.put(exe("svcnative-amd64"), "C:\\drop\\orders-api.exe")
    before = h.snapshot()
    r = failed(svc(host1, path="C:\\drop\\orders-api.exe", signature="valid"))
    assert r["msg"].startswith("signature: the Authenticode signature of the path binary is NotSigned")
    assert h.snapshot() == before
    assert h.counters()["round_trips"] == 1
