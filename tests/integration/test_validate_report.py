"""The role gowin.server.validate and gowin.server.fleet_report through ansible-playbook on winsim hosts: validate
changes nothing (check mode or not) and leaves structured evidence; the report's three files are built from it
(report.json against its schema, JUnit with one testcase per host and check, a self-contained HTML page), name
failures with their evidence, carry waivers, mark simulated hosts, keep secrets out and report a host that left
no evidence. The browser test of the page is tests/integration/test_report_browser.py."""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from conftest import REPO, Fleet
# exe is a fixture: imported to be used by name
from test_win_service_go import exe  # noqa: F401  pylint: disable=unused-import

from ansible_collections.gowin.server.plugins.plugin_utils._jsonschema import Validator

SCHEMA = json.loads((REPO / "plugins" / "plugin_utils" / "_reports" / "report.schema.json").read_text())
SECRET = "s3cr3t-Report-Value"
HEALTHZ = {"http": {"url": "http://127.0.0.1:47931/healthz"}}


def service(exe, name="orders-api", variant="svcnative-healthy-amd64"):
    return {"name": name, "src": exe(variant), "health": HEALTHZ, "secret_environment": {"DB_PASSWORD": SECRET}}


def converge(fleet: Fleet, services: list[dict]) -> None:
    """The toolchain from the mirror, then the services, through the roles."""
    m = fleet.mirror
    run = fleet.play(roles=[{"role": "gowin.server.go_toolchain"}], extra_vars={
        "go_toolchain_index_url": m.index_url, "go_toolchain_base_url": m.dl, "go_toolchain_allow_plain_http": True,
        "go_toolchain_version": "1.22.5"})
    assert run.rc == 0, run.stdout[-3000:]
    if services:
        run = fleet.play(roles=[{"role": "gowin.server.go_service"}], extra_vars={"go_service_services": services})
        assert run.rc == 0, run.stdout[-3000:]


def validate(fleet: Fleet, dest: Path, check: bool = False, **extra):
    extra_vars = {"gowin_report_dir": str(dest), "gowin_run_id": "itest-1", "baseline_include": ["fs.long_paths", "tls", "wdac"]}
    extra_vars.update(extra)
    return fleet.play(playbook="gowin.server.validate", check=check, extra_vars=extra_vars)


def report(dest: Path) -> dict:
    doc = json.loads((dest / "report.json").read_text())
    assert Validator(SCHEMA).errors(doc) == []
    return doc


def module_round_trips(result: dict) -> int:
    """The round trips a task's module reported (a loop: the sum over its items)."""
    if isinstance(result.get("results"), list) and all(isinstance(r, dict) and "ansible_loop_var" in r for r in result["results"]):
        return sum(module_round_trips(r) for r in result["results"] if isinstance(r, dict))
    return int(result.get("round_trips") or 0)


def by_id(host: dict) -> dict:
    return {c["id"]: c for c in host["checks"]}


@pytest.fixture
def two(tmp_path, mirror) -> Fleet:
    return Fleet(tmp_path, mirror, {"win1": "ws2022", "win2": "ws2019"})


def test_validate_changes_nothing_and_the_report_tells_each_host_and_check(two, exe, tmp_path):
    svc = service(exe)
    converge(two, [svc])
    before = two.snapshot()
    dest = tmp_path / "report"
    run = validate(two, dest, go_service_services=[svc], validate_go_version="1.22")
    assert run.rc == 0, run.stdout[-3000:]
    assert two.snapshot() == before  # validate changed nothing
    for name in ("win1", "win2"):
        # the round trips are the modules' own (go_facts 1, go_verify 2, the service read 1 and its probe 1, the
        # baseline 1), and nothing else reaches the host
        used = {r.task.split(" : ")[-1]: module_round_trips(r.result) for r in run.of(name) if module_round_trips(r.result)}
        assert used == {"Read the host and its Go toolchains": 1, "Check the active Go toolchain": 2, "Deploy the Go service": 2,
                        "Test the hardening baseline in audit mode (changes nothing)": 1}, used
        assert two.host(name).counters()["round_trips"] == sum(used.values())
    doc = report(dest)
    assert doc["run_id"] == "itest-1" and doc["simulated"] is True and doc["schema"] == "gowin.server/report/1"
    assert [h["name"] for h in doc["hosts"]] == ["win1", "win2"]
    win1 = doc["hosts"][0]
    assert win1["reachable"] and win1["modelled"] and win1["facts"]["os_build"] == 20348
    assert win1["toolchain"]["passed"] is True and win1["toolchain"]["active"] == "1.22.5"
    assert [s["name"] for s in win1["services"]] == ["orders-api"]
    s = win1["services"][0]
    assert (s["status"], s["state"], s["in_sync"], s["healthy"]) == ("pass", "running", True, True)
    checks = by_id(win1)
    assert checks["service/orders-api/health"]["status"] == "pass" and checks["service/orders-api/config"]["status"] == "pass"
    assert checks["baseline/fs.long_paths"]["status"] == "fail"  # a fresh host: long paths off
    assert checks["baseline/fs.long_paths"]["refs"] and checks["baseline/fs.long_paths"]["evidence"]
    assert any(k.startswith("toolchain/") and c["status"] == "pass" for k, c in checks.items())
    assert win1["status"] == "fail"
    # ws2019: the wdac setting does not apply (skipped), on ws2022 it is missing (fail)
    assert by_id(doc["hosts"][1])["baseline/wdac.audit"]["status"] == "skipped"
    assert checks["baseline/wdac.audit"]["status"] == "fail"
    # the summary counts what the hosts hold
    every = [c for h in doc["hosts"] for c in h["checks"]]
    assert doc["summary"]["checks"] == {st: sum(1 for c in every if c["status"] == st) for st in ("pass", "fail", "error", "waived", "skipped")}
    assert doc["summary"]["hosts_by_status"] == {"pass": 0, "fail": 2, "error": 0}
    assert doc["summary"]["matrix"]["win1"]["services"] == {"status": "pass", "checks": 2, "passed": 2}
    assert doc["summary"]["matrix"]["win1"]["baseline"]["status"] == "fail"
    # JUnit: one testsuite per host, one testcase per check, failures with the evidence
    junit = ET.parse(str(dest / "report.junit.xml")).getroot()
    suites = junit.findall("testsuite")
    assert [x.get("name") for x in suites] == ["win1", "win2"]
    assert len(suites[0].findall("testcase")) == len(win1["checks"])
    failure = [tc for tc in suites[0].findall("testcase") if tc.get("name") == "baseline/fs.long_paths"][0].find("failure")
    assert failure is not None and "LongPathsEnabled" in failure.text
    assert int(junit.get("failures")) == doc["summary"]["checks"]["fail"]
    # HTML: self-contained, the banner, every host
    page = (dest / "report.html").read_text()
    assert "SIMULATED" in page and 'id="host-win1"' in page and 'id="host-win2"' in page
    assert "<link" not in page and " src=" not in page and "url(" not in page  # nothing loaded from anywhere
    # no secret anywhere
    for f in ("report.json", "report.junit.xml", "report.html"):
        assert SECRET not in (dest / f).read_text()
    assert SECRET not in run.stdout


def test_check_mode_writes_no_report_and_a_second_run_replaces_the_files(two, exe, tmp_path):
    converge(two, [])
    dest = tmp_path / "report"
    run = validate(two, dest, check=True)
    assert run.rc == 0 and not dest.exists()
    run = validate(two, dest)
    assert run.rc == 0
    first = (dest / "report.json").read_text()
    run = validate(two, dest, gowin_run_id="itest-2")
    assert run.rc == 0 and (dest / "report.json").read_text() != first and report(dest)["run_id"] == "itest-2"
    assert sorted(p.name for p in dest.iterdir()) == ["report.html", "report.json", "report.junit.xml"]  # no temporary file left


def test_waivers_failures_and_errors_are_reported_as_such(two, exe, tmp_path):
    svc = service(exe)
    converge(two, [svc])
    two.host("win1").crash_service("orders-api")
    waiver = {"id": "fs.long_paths", "reason": "a legacy tool", "expires": "2099-12-31", "approved_by": "CAB"}
    dest = tmp_path / "report"
    other = dict(svc, args=["--port", "9"])  # what the host runs is not this: config would change
    run = validate(two, dest, go_service_services=[other], baseline_waivers=[waiver], validate_go_version="1.21")
    assert run.rc == 0, run.stdout[-3000:]
    doc = report(dest)
    win1, win2 = doc["hosts"]
    c1 = by_id(win1)
    assert c1["baseline/fs.long_paths"]["status"] == "waived" and "a legacy tool" in c1["baseline/fs.long_paths"]["detail"]
    assert c1["service/orders-api/health"]["status"] == "fail" and "not running" in c1["service/orders-api/health"]["detail"]
    assert c1["service/orders-api/config"]["status"] == "fail" and "would change" in c1["service/orders-api/config"]["detail"]
    assert any(k.startswith("toolchain/") and c["status"] == "fail" for k, c in c1.items())  # 1.22.5 is not 1.21
    assert win1["baseline"]["waivers"] == [dict(waiver, expired=False, applied=True)]
    assert by_id(win2)["service/orders-api/health"]["status"] == "pass"
    page = (dest / "report.html").read_text()
    assert 'id="waivers"' in page and "a legacy tool" in page and "2099-12-31" in page


def test_a_host_that_left_no_evidence_is_an_error_and_the_others_are_reported(two, tmp_path):
    converge(two, [])
    dest = tmp_path / "report"
    run = validate(two, dest, validate_toolchain=False, validate_baseline=False, gowin_hosts="win1")
    assert run.rc == 0
    assert [h["name"] for h in report(dest)["hosts"]] == ["win1"]  # gowin_hosts chooses the hosts of both plays
    # the report play asked for both, but only win1 ran validate in this playbook run
    playbook = tmp_path / "both.yml"
    playbook.write_text(yaml.safe_dump([
        {"name": "validate one", "hosts": "win1", "gather_facts": False, "roles": [{"role": "gowin.server.validate"}]},
        {"name": "report", "hosts": "localhost", "gather_facts": False,
         "tasks": [{"name": "report", "gowin.server.fleet_report": {"hosts": ["win1", "win2"], "dest": str(dest)}}]},
    ]))
    run = two.play(playbook=str(playbook), extra_vars={"validate_toolchain": False, "validate_baseline": False})
    assert run.rc == 0, run.stdout[-3000:]
    doc = report(dest)
    win1, win2 = doc["hosts"]
    assert win1["status"] == "pass" and win1["reachable"] is True
    assert win2["status"] == "error" and win2["reachable"] is False
    assert by_id(win2)["host/evidence"]["status"] == "error"
    assert doc["summary"]["hosts_by_status"] == {"pass": 1, "fail": 0, "error": 1}
    junit = ET.parse(str(dest / "report.junit.xml")).getroot()
    assert junit.findall("testsuite")[1].find("testcase").find("error") is not None


def test_a_service_check_that_stops_is_an_error_saying_where_and_why_and_no_earlier_result_stands_in(two, exe, tmp_path):
    converge(two, [])
    svc = service(exe)
    dest = tmp_path / "report"
    # one playbook: the deploy registers go_service's results; then validate's service check stops before its loop
    # (two entries name one service), so those results are not this check's
    playbook = tmp_path / "deploy-then-validate.yml"
    playbook.write_text(yaml.safe_dump([
        {"name": "deploy", "hosts": "win1", "gather_facts": False, "roles": [{"role": "gowin.server.go_service"}],
         "vars": {"go_service_services": [svc]}},
        {"name": "validate", "hosts": "win1", "gather_facts": False, "roles": [{"role": "gowin.server.validate"}],
         "vars": {"validate_services": [svc, dict(svc, name="ORDERS-API")], "validate_baseline": False}},
        {"name": "report", "hosts": "localhost", "gather_facts": False,
         "tasks": [{"name": "report", "gowin.server.fleet_report": {"hosts": ["win1"], "dest": str(dest)}}]},
    ]))
    run = two.play(playbook=str(playbook))
    assert run.rc == 0, run.stdout[-3000:]  # rescued: the host goes on to the baseline and the report
    assert run.one("win1", "Deploy the Go service").changed  # the deploy's results were registered
    assert [r.status for r in run.of("win1", "Keep where and why the service check stopped")] == ["ok"]
    win1 = report(dest)["hosts"][0]
    assert [s["name"] for s in win1["services"]] == ["orders-api", "ORDERS-API"]
    assert [s["status"] for s in win1["services"]] == ["error", "error"]
    why = ("the service check stopped at task 'Check that every service entry names the service and one binary': "
           "every entry of go_service_services needs a name, and no two entries may name the same service")
    checks = by_id(win1)
    assert checks["service/orders-api/config"]["detail"] == why and checks["service/ORDERS-API/config"]["detail"] == why
    assert "service/orders-api/health" not in checks  # no health from the deploy's results
    assert win1["status"] == "error" and checks["toolchain/go version"]["status"] == "pass"
    assert SECRET not in (dest / "report.json").read_text()
    # the loop itself fails (one entry's src is missing): its results are this check's, each service its own message
    missing = str(tmp_path / "no-such.exe")
    run = validate(two, dest, go_service_services=[svc, dict(svc, name="billing", src=missing)], validate_baseline=False,
                   gowin_hosts="win1")
    assert run.rc == 0, run.stdout[-3000:]
    checks = by_id(report(dest)["hosts"][0])
    assert checks["service/orders-api/config"]["status"] == "pass" and checks["service/orders-api/health"]["status"] == "pass"
    assert checks["service/billing/config"]["status"] == "error" and missing in checks["service/billing/config"]["detail"]
    assert "the service check stopped" not in checks["service/billing/config"]["detail"]


@pytest.mark.parametrize("args, words", [
    ({"run_id": "../x"}, ["run_id", "letters, digits"]),
    ({"title": ""}, ["title", "1 to 200"]),
    ({"formats": ["pdf"]}, ["formats", "json, junit, html"]),
    ({"formats": []}, ["formats", "at least one"]),
    ({"evidence_var": "a-b"}, ["evidence_var", "variable name"]),
    ({"hosts": ["nosuch"]}, ["hosts", "nosuch", "not a host"]),
    # what every gowin.server module refuses (GowinAction.validate), in its words
    ({"colour": "red"}, ["Unsupported parameters for gowin.server.fleet_report: colour"]),
    ({"title": "Fleet\x00report"}, ["title: ", "NUL character"]),
    ({"run_id": "x" * 33000}, ["run_id: ", "33000 characters long"]),
])
def test_bad_options_are_refused_naming_them_and_nothing_is_written(two, tmp_path, args, words):
    dest = tmp_path / "report"
    task = {"name": "report", "gowin.server.fleet_report": dict({"dest": str(dest)}, **args)}
    playbook = tmp_path / "bad.yml"
    playbook.write_text(yaml.safe_dump([{"name": "report", "hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    run = two.play(playbook=str(playbook))
    res = run.one("localhost", "report")
    assert res.failed
    for w in words:
        assert w in res.result["msg"], res.result["msg"]
    assert not dest.exists()


def report_to(fleet: Fleet, tmp_path: Path, dest: Path):
    """fleet_report alone on localhost, on both hosts (neither validated: each is an error), to dest."""
    task = {"name": "report", "gowin.server.fleet_report": {"hosts": ["win1", "win2"], "dest": str(dest)}}
    playbook = tmp_path / "report.yml"
    playbook.write_text(yaml.safe_dump([{"name": "report", "hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    return fleet.play(playbook=str(playbook)).one("localhost", "report")


def test_a_dest_that_is_a_file_is_refused_naming_dest_and_nothing_is_written(two, tmp_path):
    dest = tmp_path / "report"
    dest.write_text("not a folder\n")
    res = report_to(two, tmp_path, dest)
    assert res.failed and "Traceback" not in res.result["msg"]
    assert res.result["msg"].startswith("dest: %s exists and is not a folder;" % dest), res.result["msg"]
    assert dest.read_text() == "not a folder\n"
    # a folder to create inside that file
    res = report_to(two, tmp_path, dest / "latest")
    assert res.failed and res.result["msg"].startswith("dest: %s cannot be created: %s is not a folder;" % (dest / "latest", dest))
    assert dest.read_text() == "not a folder\n" and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")) == []


def modes_hold() -> bool:
    """Whether a folder's mode binds this process: not for root (unless it runs without CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0:
        return True
    probe = tempfile.mkdtemp()
    os.chmod(probe, 0o500)
    try:
        return not os.access(probe, os.W_OK)
    finally:
        os.chmod(probe, 0o700)
        os.rmdir(probe)


@pytest.mark.skipif(not modes_hold(), reason="root writes to a folder of mode 0o500 all the same")
def test_a_dest_that_is_not_writable_is_refused_naming_dest_and_nothing_is_written(two, tmp_path):
    dest = tmp_path / "report"
    dest.mkdir()
    dest.chmod(0o500)
    try:
        res = report_to(two, tmp_path, dest)
        assert res.failed and res.result["msg"].startswith("dest: %s is not writable by this user;" % dest), res.result["msg"]
        res = report_to(two, tmp_path, dest / "latest")
        assert res.failed and res.result["msg"].startswith("dest: %s cannot be created: %s is not writable" % (dest / "latest", dest))
        assert list(dest.iterdir()) == []
    finally:
        dest.chmod(0o700)


def test_a_host_lost_in_the_middle_of_validate_is_unreachable_and_an_error_in_the_report(two, tmp_path):
    converge(two, [])
    # win2 answers go_facts, then its connection fails in go_verify's round trip: the host is unreachable
    two.host("win2").add_fault({"fault": "drop_connection", "after_ops": 0, "skip_round_trips": 1})
    dest = tmp_path / "report"
    run = validate(two, dest)
    assert run.rc == 4, run.stdout[-3000:]  # ansible-playbook's code for an unreachable host; the report play ran
    assert run.one("win2", "Read the host and its Go toolchains").status == "ok"
    assert run.one("win2", "Check the active Go toolchain").status == "unreachable"
    assert run.of("win2", "Test the hardening baseline in audit mode (changes nothing)") == []
    made = run.one("localhost", "Build report.json, report.junit.xml and report.html from the hosts' evidence")
    assert not made.failed and "round_trips" not in made.result  # fleet_report reaches no host
    doc = report(dest)
    win1, win2 = doc["hosts"]
    assert win1["reachable"] is True and win1["status"] == "fail" and win1["toolchain"]["passed"] is True
    assert (win2["status"], win2["reachable"], win2["modelled"]) == ("error", False, True)
    assert [c["id"] for c in win2["checks"]] == ["host/evidence"] and win2["checks"][0]["status"] == "error"
    assert doc["summary"]["hosts_by_status"] == {"pass": 0, "fail": 1, "error": 1}
    assert {area: cell["status"] for area, cell in doc["summary"]["matrix"]["win2"].items()} == \
        {"toolchain": "error", "services": "error", "baseline": "error"}
    junit = ET.parse(str(dest / "report.junit.xml")).getroot()
    assert junit.findall("testsuite")[1].get("name") == "win2" and junit.findall("testsuite")[1].find("testcase").find("error") is not None
