"""dsc_baseline's wdac kind on winsim hosts through ansible-playbook: go_server's WDAC audit policy on a fresh
ws2022 (audit finds it missing, enforce deploys it in one batch, then compliant and idempotent), check and
diff modes, the single-format restart path of ws2016, a policy file that went missing, a foreign SIPolicy.p7b
that is never overwritten, and an enforced policy chosen only by its id and refused by the lockout guard."""

from __future__ import annotations

import pytest
import yaml

from conftest import Fleet


def setting(sid, expect, **more):
    s = {"id": sid, "title": sid, "kind": "wdac", "refs": ["MSFT Example App Control for Business base policies"],
         "severity": "medium", "rationale": "test", "tags": ["wdac"], "expect": expect}
    s.update(more)
    return s


AUDIT = setting("wdac.audit", {"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit"})
ENFORCED = setting("wdac.enforced", {"record": "GoWinEnforced", "example": "DefaultWindows_Enforced", "mode": "enforced"})


def fleet_with_doc(tmp_path, profile, *settings):
    fleet = Fleet(tmp_path, None, {"win1": profile})
    path = tmp_path / "baseline.yml"
    path.write_text(yaml.safe_dump({"schema": "gowin.server/baseline/1", "name": "wdac", "title": "WDAC", "settings": list(settings)}))
    fleet.doc = str(path)
    return fleet


def baseline(fleet, check=False, diff=False, **args):
    return fleet.play([{"name": "baseline", "gowin.server.dsc_baseline": args}], check=check, diff=diff)


def result(run, host="win1", failed=False):
    res = run.one(host, "baseline")
    assert "Traceback" not in run.stdout + run.stderr
    assert res.failed is failed, "%s\n%s" % (res.result.get("msg"), run.stdout[-2000:])
    return res.result


def by_id(r):
    return {x["id"]: x for x in r["results"]}


def wdac_state(h):
    return h.execute([{"op": "wdac.get", "args": {}}])[0]["data"]


def test_go_server_wdac_audit_on_ws2022_audit_enforce_idempotent(tmp_path):
    fleet = Fleet(tmp_path, None, {"win1": "ws2022"})
    h = fleet.host("win1")
    before = h.snapshot()
    r = result(baseline(fleet, baseline="go_server", include=["wdac"]))
    x = by_id(r)["wdac.audit"]
    assert r["round_trips"] == 1 and r["changed"] is False and h.snapshot() == before
    assert x["status"] == "non_compliant" and x["note"] == "no policy deployed"
    assert x["evidence"]["source"] == "wdac" and x["evidence"]["format"] == "multiple" and x["evidence"]["activation"] == "restart"
    assert x["refs"] == ["MSFT Example App Control for Business base policies"]

    check = baseline(fleet, check=True, diff=True, baseline="go_server", mode="enforce", include=["wdac"])
    c = result(check)
    assert c["changed"] is True and by_id(c)["wdac.audit"]["planned"] == ["wdac.set"] and h.snapshot() == before
    assert "+wdac.audit:" in check.stdout and '"mode": "audit"' in check.stdout

    r = result(baseline(fleet, baseline="go_server", mode="enforce", include=["wdac"]))
    x = by_id(r)["wdac.audit"]
    # Server 2022 has no CiTool: the policy is deployed and loads when the host restarts.
    assert r["changed"] is True and r["round_trips"] == 2 and x["status"] == "fixed" and x["reboot_required"] is True
    assert r["reboot_required"] is True
    state = wdac_state(h)
    assert state["kernel"] == "off" and state["user"] == "off"
    rec = state["records"]["GoWinAudit"]
    assert rec["pending"] is True
    assert rec["mode"] == "audit" and rec["example"] == "DefaultWindows_Audit" and rec["name"] == "GoWin DefaultWindows audit"
    assert rec["file"].lower().endswith("\\codeintegrity\\cipolicies\\active\\%s.cip" % rec["policy_id"].lower())
    assert rec["file_sha256"] == rec["sha256"] == x["evidence"]["sha256"]

    after = h.snapshot()
    r = result(baseline(fleet, baseline="go_server", include=["wdac"]))
    x = by_id(r)["wdac.audit"]
    assert (x["status"], x["reboot_required"], r["round_trips"]) == ("compliant", True, 1) and "restarts" in x["note"]
    r = result(baseline(fleet, baseline="go_server", mode="enforce", include=["wdac"]))
    assert r["changed"] is False and r["round_trips"] == 1 and h.snapshot() == after
    h.reboot()
    r = result(baseline(fleet, baseline="go_server", include=["wdac"]))
    x = by_id(r)["wdac.audit"]
    assert (x["status"], x["reboot_required"], r["reboot_required"]) == ("compliant", False, False)
    assert wdac_state(h)["kernel"] == "audit" and wdac_state(h)["records"]["GoWinAudit"]["pending"] is False


def test_a_change_of_mode_waits_for_the_restart_and_is_not_reported_as_failed(tmp_path):
    # audit loaded after a restart, then the same record enforced: code integrity still reports audit until the restart.
    fleet = fleet_with_doc(tmp_path, "ws2019", AUDIT)
    h = fleet.host("win1")
    result(baseline(fleet, baseline=fleet.doc, mode="enforce"))
    h.reboot()
    assert wdac_state(h)["kernel"] == "audit"
    strict = setting("wdac.audit", {"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "enforced"})
    args = {"baseline": fleet.doc, "settings": [strict], "include": ["wdac.audit"], "lockout_guard": False}
    r = result(baseline(fleet, mode="enforce", **args))
    x = by_id(r)["wdac.audit"]
    assert (x["status"], x["reboot_required"]) == ("fixed", True)
    for mode in ("audit", "enforce"):
        r = result(baseline(fleet, mode=mode, **args))
        x = by_id(r)["wdac.audit"]
        assert (x["status"], x["reboot_required"], r["changed"]) == ("compliant", True, False), x
    assert wdac_state(h)["kernel"] == "audit"
    h.reboot()
    r = result(baseline(fleet, mode="audit", **args))
    x = by_id(r)["wdac.audit"]
    assert (x["status"], x["reboot_required"]) == ("compliant", False) and wdac_state(h)["kernel"] == "enforced"


def test_a_waived_wdac_setting_is_not_deployed(tmp_path):
    fleet = Fleet(tmp_path, None, {"win1": "ws2025"})
    h = fleet.host("win1")
    before = h.snapshot()
    waiver = {"id": "wdac.audit", "reason": "a vendor agent is not yet in the policy", "expires": "2099-12-31", "approved_by": "CAB"}
    r = result(baseline(fleet, baseline="go_server", mode="enforce", include=["wdac"], waivers=[waiver]))
    x = by_id(r)["wdac.audit"]
    assert x["status"] == "waived" and x["waiver"]["reason"] == waiver["reason"] and r["changed"] is False
    assert h.snapshot() == before and wdac_state(h)["records"] == {}
    expired = dict(waiver, expires="2020-01-01")
    r = result(baseline(fleet, baseline="go_server", mode="enforce", include=["wdac"], waivers=[expired]))
    assert by_id(r)["wdac.audit"]["status"] == "fixed" and r["waivers"][0]["expired"] is True
    assert wdac_state(h)["kernel"] == "audit"


def test_a_long_record_name_gets_a_policy_name_of_64_characters(tmp_path):
    record = "GoWin" + "x" * 59  # 64 characters: "GoWin " + record would be 70
    fleet = fleet_with_doc(tmp_path, "ws2025", setting("wdac.long", {"record": record, "example": "AllowAll", "mode": "audit"}))
    h = fleet.host("win1")
    r = result(baseline(fleet, baseline=fleet.doc, mode="enforce"))
    assert by_id(r)["wdac.long"]["status"] == "fixed"
    assert wdac_state(h)["records"][record]["name"] == ("GoWin " + record)[:64]


def test_go_server_wdac_does_not_apply_to_ws2016(tmp_path):
    fleet = Fleet(tmp_path, None, {"win1": "ws2016"})
    r = result(baseline(fleet, baseline="go_server", include=["wdac"]))
    assert by_id(r)["wdac.audit"]["status"] == "not_applicable"


def test_single_format_on_ws2016_waits_for_a_restart(tmp_path):
    fleet = fleet_with_doc(tmp_path, "ws2016", AUDIT)
    h = fleet.host("win1")
    r = result(baseline(fleet, baseline=fleet.doc, mode="enforce"))
    x = by_id(r)["wdac.audit"]
    assert x["status"] == "fixed" and x["reboot_required"] is True and r["reboot_required"] is True
    assert x["evidence"]["format"] == "single" and x["evidence"]["file"].lower().endswith("\\codeintegrity\\sipolicy.p7b")
    assert wdac_state(h)["kernel"] == "off"
    r = result(baseline(fleet, baseline=fleet.doc))
    x = by_id(r)["wdac.audit"]
    assert x["status"] == "compliant" and x["reboot_required"] is True and "restarts" in x["note"]
    h.reboot()
    r = result(baseline(fleet, baseline=fleet.doc))
    x = by_id(r)["wdac.audit"]
    assert x["status"] == "compliant" and x["reboot_required"] is False and r["reboot_required"] is False
    assert wdac_state(h)["kernel"] == "audit"


def test_a_policy_file_that_went_missing_is_found_and_put_back(tmp_path):
    fleet = fleet_with_doc(tmp_path, "ws2025", AUDIT)
    h = fleet.host("win1")
    result(baseline(fleet, baseline=fleet.doc, mode="enforce"))
    assert wdac_state(h)["activation"] == "citool"
    h.wdac_tamper("GoWinAudit", delete=True)
    r = result(baseline(fleet, baseline=fleet.doc))
    x = by_id(r)["wdac.audit"]
    assert x["status"] == "non_compliant" and "missing" in x["note"]
    r = result(baseline(fleet, baseline=fleet.doc, mode="enforce"))
    assert by_id(r)["wdac.audit"]["status"] == "fixed"
    rec = wdac_state(h)["records"]["GoWinAudit"]
    assert rec["file_sha256"] == rec["sha256"]


def test_a_foreign_sipolicy_is_never_overwritten(tmp_path):
    other = setting("fs.x", {"key": "HKLM\\SOFTWARE\\GoWinTest", "name": "X", "type": "REG_DWORD", "value": 1}, kind="registry", tags=["x"])
    fleet = fleet_with_doc(tmp_path, "ws2019", AUDIT, other)
    h = fleet.host("win1")
    h.wdac_place_foreign()
    before = wdac_state(h)
    r = result(baseline(fleet, baseline=fleet.doc, mode="enforce"), failed=True)
    x = by_id(r)["wdac.audit"]
    assert x["status"] == "error" and "did not deploy" in x["note"] and "wdac.set failed (conflict)" in x["note"]
    assert by_id(r)["fs.x"]["status"] == "fixed"  # WDAC goes last: the rest of the batch was applied
    assert "wdac.audit" in r["msg"]
    assert wdac_state(h) == before


def test_an_enforced_policy_is_chosen_only_by_its_id_and_the_guard_refuses_it(tmp_path):
    fleet = fleet_with_doc(tmp_path, "ws2022", AUDIT, ENFORCED)
    h = fleet.host("win1")
    r = result(baseline(fleet, baseline=fleet.doc, include=["wdac"]))
    assert set(by_id(r)) == {"wdac.audit"}
    before = h.snapshot()
    for transport in ("winrm", "psrp"):
        args = {"baseline": fleet.doc, "mode": "enforce", "include": ["wdac.enforced"]}
        run = fleet.play([{"name": "baseline", "gowin.server.dsc_baseline": args}],
                         extra_vars={"ansible_winsim_remote_transport": transport})
        r = result(run, failed=True)
        x = by_id(r)["wdac.enforced"]
        assert x["status"] == "error" and "ConstrainedLanguage" in x["note"] and r["lockout"][0]["id"] == "wdac.enforced"
        assert "lockout_guard: false turns the guard off" in r["msg"]
        assert h.snapshot() == before
    r = result(baseline(fleet, baseline=fleet.doc, mode="enforce", include=["wdac.enforced"], lockout_guard=False))
    x = by_id(r)["wdac.enforced"]
    assert (x["status"], x["reboot_required"]) == ("fixed", True) and wdac_state(h)["kernel"] == "off"
    h.reboot()
    assert wdac_state(h)["kernel"] == "enforced"


@pytest.mark.parametrize("expect, words", [
    ({"record": "GoWin Audit", "example": "DefaultWindows_Audit", "mode": "audit"}, ["wdac.audit", "expect.record"]),
    ({"record": "GoWinAudit", "example": "..\\..\\x", "mode": "audit"}, ["wdac.audit", "expect.example"]),
    ({"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "enforce"}, ["wdac.audit", "expect.mode", "enforced"]),
    ({"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit", "name": "n" * 65}, ["wdac.audit", "expect.name", "64"]),
    ({"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit", "name": "a;b"}, ["wdac.audit", "expect.name"]),
    ({"record": "GoWinAudit", "example": "DefaultWindows_Audit"}, ["wdac.audit", "mode"]),
])
def test_bad_wdac_settings_are_refused_inline_and_change_nothing(tmp_path, expect, words):
    fleet = Fleet(tmp_path, None, {"win1": "ws2022"})
    h = fleet.host("win1")
    before = h.snapshot()
    r = result(baseline(fleet, baseline="go_server", mode="enforce", include=["wdac"], settings=[setting("wdac.audit", expect)]), failed=True)
    for w in words:
        assert w in r["msg"]
    assert h.snapshot() == before and h.counters()["round_trips"] == 0
