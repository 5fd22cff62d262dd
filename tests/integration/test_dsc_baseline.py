"""dsc_baseline on winsim hosts through ansible-playbook: audit (one round trip, nothing changed), enforce
(fixed, then compliant, idempotent), check and diff modes, waivers, include/exclude, the lockout guard,
a connection lost in the middle of an enforce, and bad input that changes nothing."""

from __future__ import annotations

import pytest
import yaml

from conftest import Fleet, reg

FS_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\FileSystem"
SYSTEM_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"
TLS10 = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.0\\Server"
MSV1_0 = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa\\MSV1_0"


def setting(sid, kind, expect, **more):
    s = {"id": sid, "title": sid, "kind": kind, "refs": ["MSFT test"], "severity": "medium", "rationale": "test", "expect": expect}
    s.update(more)
    return s


SETTINGS = [
    setting("fs.long_paths", "registry", {"key": FS_KEY, "name": "LongPathsEnabled", "type": "REG_DWORD", "value": 1}, tags=["go"]),
    setting("tls.tls10_server", "tls", {"protocol": "TLS 1.0", "side": "server", "enabled": False}, tags=["tls"]),
    setting("tls.rc4", "tls", {"cipher": "RC4 128/128", "enabled": False}, tags=["tls"]),
    setting("uac.admin_prompt", "registry", {"key": SYSTEM_KEY, "name": "ConsentPromptBehaviorAdmin", "type": "REG_DWORD",
                                             "value": 2}, tags=["uac"]),
    setting("uac.lua", "registry", {"key": SYSTEM_KEY, "name": "EnableLUA", "type": "REG_DWORD", "value": 1}, tags=["uac"]),
    setting("svc.spooler", "service", {"name": "Spooler", "start_mode": "disabled", "state": "stopped"}, tags=["services"]),
    setting("svc.fax", "service", {"name": "Fax", "start_mode": "disabled"}, tags=["services"]),
    setting("legacy.only2016", "registry", {"key": FS_KEY, "name": "Legacy", "type": "REG_DWORD", "value": 1},
            applies_to=["ws2016"]),
    setting("net.prefer_ipv4", "registry", {"key": "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip6\\Parameters",
                                            "name": "DisabledComponents", "type": "REG_DWORD", "value": 32},
            opt_in=True, tags=["ipv6"], reboot_required=True),
]


@pytest.fixture
def sim(tmp_path):
    fleet = Fleet(tmp_path, None, {"win1": "ws2022"})
    path = tmp_path / "baseline.yml"
    path.write_text(yaml.safe_dump({"schema": "gowin.server/baseline/1", "name": "itest", "title": "Integration", "settings": SETTINGS}))
    fleet.doc = str(path)
    return fleet


def baseline(fleet, check=False, diff=False, **args):
    args.setdefault("baseline", fleet.doc)
    return fleet.play([{"name": "baseline", "gowin.server.dsc_baseline": args}], check=check, diff=diff)


def ok(run, host="win1"):
    res = run.one(host, "baseline")
    assert not res.failed, "%s\n%s" % (res.result.get("msg"), run.stdout[-2000:])
    assert "Traceback" not in run.stdout + run.stderr
    return res.result


def by_id(result):
    return {r["id"]: r for r in result["results"]}


def test_audit_reports_findings_with_evidence_changes_nothing_in_one_round_trip(sim):
    h = sim.host("win1")
    h.snapshot()  # creates the host
    before = h.snapshot()
    r = ok(baseline(sim))
    assert r["changed"] is False and r["round_trips"] == 1 and r["modelled"] is True
    assert h.snapshot() == before
    res = by_id(r)
    assert "net.prefer_ipv4" not in res  # opt_in: only when included
    long_paths = res["fs.long_paths"]
    assert long_paths["status"] == "non_compliant"
    assert long_paths["actual"] == {"type": "REG_DWORD", "value": 0}
    assert long_paths["expected"] == {"type": "REG_DWORD", "value": 1}
    assert long_paths["evidence"]["key"] == FS_KEY and long_paths["evidence"]["key_exists"] is True
    assert long_paths["refs"] == ["MSFT test"]
    assert res["tls.tls10_server"]["status"] == "non_compliant" and "not configured" in res["tls.tls10_server"]["note"]
    assert res["uac.lua"]["status"] == "compliant"
    assert res["uac.admin_prompt"]["actual"] == {"type": "REG_DWORD", "value": 5}
    assert res["svc.spooler"]["actual"] == {"start_mode": "auto", "state": "running"}
    assert res["svc.fax"]["status"] == "not_applicable" and "not installed" in res["svc.fax"]["note"]
    assert res["legacy.only2016"]["status"] == "not_applicable" and "ws2016" in res["legacy.only2016"]["note"]
    assert r["totals"] == {"compliant": 1, "non_compliant": 5, "fixed": 0, "waived": 0, "not_applicable": 2, "error": 0}
    assert r["score"] == round(100 / 6, 1)
    assert r["host"] == {"release": "ws2022", "core": False, "os_build": 20348}


def test_enforce_fixes_then_audits_compliant_and_a_second_enforce_changes_nothing(sim):
    h = sim.host("win1")
    r = ok(baseline(sim, mode="enforce", include=["go", "tls", "uac", "services", "ipv6"]))
    assert r["changed"] is True and r["round_trips"] == 2
    res = by_id(r)
    assert {k: v["status"] for k, v in res.items()} == {
        "fs.long_paths": "fixed", "tls.tls10_server": "fixed", "tls.rc4": "fixed", "uac.admin_prompt": "fixed",
        "uac.lua": "compliant", "svc.spooler": "fixed", "svc.fax": "not_applicable", "net.prefer_ipv4": "fixed"}
    assert res["net.prefer_ipv4"]["reboot_required"] is True and r["reboot_required"] is True
    assert reg(h, FS_KEY, "LongPathsEnabled") == 1
    assert reg(h, TLS10, "Enabled") == 0 and reg(h, TLS10, "DisabledByDefault") == 1
    assert reg(h, "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Ciphers\\RC4 128/128", "Enabled") == 0
    spooler = h.execute([{"op": "service.get", "args": {"name": "Spooler"}}])[0]["data"]
    assert (spooler["start_mode"], spooler["state"]) == ("disabled", "stopped")
    audit = ok(baseline(sim, include=["go", "tls", "uac", "services", "ipv6"]))
    assert audit["totals"]["non_compliant"] == 0 and audit["totals"]["compliant"] == 7 and audit["score"] == 100.0
    again = ok(baseline(sim, mode="enforce", include=["go", "tls", "uac", "services", "ipv6"]))
    assert again["changed"] is False and again["round_trips"] == 1


def test_check_mode_enforce_plans_and_changes_nothing(sim):
    h = sim.host("win1")
    before = h.snapshot()
    run = baseline(sim, check=True, diff=True, mode="enforce", include=["go", "services"])
    r = ok(run)
    assert r["changed"] is True and r["round_trips"] == 1
    assert h.snapshot() == before
    res = by_id(r)
    assert res["fs.long_paths"]["status"] == "non_compliant" and res["fs.long_paths"]["planned"] == ["registry.set"]
    assert res["svc.spooler"]["planned"] == ["service.set", "service.stop"]
    assert '-fs.long_paths: {"type": "REG_DWORD", "value": 0}' in run.stdout
    assert '+fs.long_paths: {"type": "REG_DWORD", "value": 1}' in run.stdout


def test_audit_never_changes_anything_even_with_enforce_words_around(sim):
    h = sim.host("win1")
    before = h.snapshot()
    r = ok(baseline(sim, mode="audit", lockout_guard=False, include=["ipv6", "tls"]))
    assert r["changed"] is False and h.snapshot() == before
    assert by_id(r)["net.prefer_ipv4"]["status"] == "non_compliant"


def test_waivers_valid_expired_and_refused(sim):
    h = sim.host("win1")
    r = ok(baseline(sim, mode="enforce", include=["go", "tls"], waivers=[
        {"id": "fs.long_paths", "reason": "a legacy tool breaks with long paths", "expires": "2099-12-31", "approved_by": "CAB"},
        {"id": "tls.rc4", "reason": "old", "expires": "2020-01-01"},
    ]))
    res = by_id(r)
    assert res["fs.long_paths"]["status"] == "waived"
    assert res["fs.long_paths"]["waiver"] == {"reason": "a legacy tool breaks with long paths", "expires": "2099-12-31", "approved_by": "CAB"}
    assert reg(h, FS_KEY, "LongPathsEnabled") == 0  # a waived setting is not enforced
    assert res["tls.rc4"]["status"] == "fixed"  # an expired waiver counts as none
    assert [(w["id"], w["expired"], w["applied"]) for w in r["waivers"]] == [("fs.long_paths", False, True), ("tls.rc4", True, False)]
    assert r["score"] == 100.0
    before = h.snapshot()
    run = baseline(sim, mode="enforce", waivers=[{"id": "fs.long_paths", "reason": "", "expires": "2099-12-31"}])
    bad = run.one("win1", "baseline")
    assert bad.failed and "waivers[0] (id fs.long_paths): a waiver needs a reason" in bad.result["msg"]
    assert h.snapshot() == before


def test_include_and_exclude(sim):
    r = ok(baseline(sim, include=["tls", "fs.long_paths"], exclude=["tls.rc4"]))
    assert [x["id"] for x in r["results"]] == ["fs.long_paths", "tls.tls10_server"]
    run = baseline(sim, include=["nope"])
    assert run.one("win1", "baseline").failed
    assert "include: 'nope' is neither a setting id nor a tag of baseline itest" in run.one("win1", "baseline").result["msg"]


GUARDED = [
    setting("uac.latfp", "registry", {"key": SYSTEM_KEY, "name": "LocalAccountTokenFilterPolicy", "type": "REG_DWORD", "value": 0}),
    setting("ntlm.deny_in", "registry", {"key": MSV1_0, "name": "RestrictReceivingNTLMTraffic", "type": "REG_DWORD", "value": 2}),
    setting("svc.winrm_off", "service", {"name": "WinRM", "start_mode": "disabled", "state": "stopped"}),
    setting("fs.long_paths", "registry", {"key": FS_KEY, "name": "LongPathsEnabled", "type": "REG_DWORD", "value": 1}),
]


def test_the_lockout_guard_refuses_each_change_that_would_cut_the_connection(sim):
    h = sim.host("win1")
    run = baseline(sim, mode="enforce", settings=GUARDED, include=[s["id"] for s in GUARDED])
    res = run.one("win1", "baseline")
    assert res.failed and "lockout guard" in res.result["msg"] and "lockout_guard: false" in res.result["msg"]
    found = by_id(res.result)
    for sid in ("uac.latfp", "ntlm.deny_in", "svc.winrm_off"):
        assert found[sid]["status"] == "error" and found[sid]["note"].startswith("lockout guard: ")
    assert "H\\ansible" not in found["uac.latfp"]["note"] and "local account WIN1\\ansible" in found["uac.latfp"]["note"]
    assert [x["id"] for x in res.result["lockout"]] == ["uac.latfp", "ntlm.deny_in", "svc.winrm_off"]
    assert found["fs.long_paths"]["status"] == "fixed"  # the others are applied
    assert reg(h, SYSTEM_KEY, "LocalAccountTokenFilterPolicy") == 1
    assert reg(h, MSV1_0, "RestrictReceivingNTLMTraffic") is None
    winrm = h.execute([{"op": "service.get", "args": {"name": "WinRM"}}])[0]["data"]
    assert (winrm["start_mode"], winrm["state"]) == ("auto", "running")


def test_the_ntlm_guard_knows_kerberos_and_the_guard_can_be_turned_off(sim):
    h = sim.host("win1")
    ntlm = [GUARDED[1]]
    run = sim.play([{"name": "baseline", "gowin.server.dsc_baseline": {"baseline": sim.doc, "mode": "enforce", "settings": ntlm,
                                                                       "include": ["ntlm.deny_in"]},
                     "vars": {"ansible_winsim_remote_auth": "kerberos"}}])
    assert by_id(ok(run))["ntlm.deny_in"]["status"] == "fixed"
    assert ok(run)["connection"]["auth"] == "kerberos"
    assert reg(h, MSV1_0, "RestrictReceivingNTLMTraffic") == 2
    r = ok(baseline(sim, mode="enforce", settings=[GUARDED[0]], include=["uac.latfp"], lockout_guard=False))
    assert by_id(r)["uac.latfp"]["status"] == "fixed" and r["lockout"] == []
    assert reg(h, SYSTEM_KEY, "LocalAccountTokenFilterPolicy") == 0


@pytest.mark.parametrize("after_ops", [2, 3])
def test_a_connection_lost_in_the_middle_of_an_enforce_is_completed_by_the_next_run(sim, after_ops):
    h = sim.host("win1")
    h.add_fault({"fault": "drop_connection", "after_ops": after_ops, "skip_round_trips": 1})
    run = baseline(sim, mode="enforce", include=["go", "tls"])
    assert run.one("win1", "baseline").status == "unreachable"
    # lock.acquire, then the registry writes in order: the first after_ops - 1 of them were made
    assert reg(h, FS_KEY, "LongPathsEnabled") == 1
    assert (reg(h, TLS10, "Enabled") == 0) == (after_ops >= 3)
    r = ok(baseline(sim, mode="enforce", include=["go", "tls"]))
    res = by_id(r)
    assert res["fs.long_paths"]["status"] == "compliant"
    assert res["tls.tls10_server"]["status"] == "fixed" and res["tls.rc4"]["status"] == "fixed"
    assert ok(baseline(sim, mode="enforce", include=["go", "tls"]))["changed"] is False


@pytest.mark.parametrize("args, words", [
    ({"mode": "fix"}, "value of mode must be one of: audit, enforce, got: fix"),
    ({"baseline": "cis_l9"}, "baseline: 'cis_l9' is not a shipped baseline"),
    ({"baseline": "/nonexistent/b.yml"}, "baseline: /nonexistent/b.yml is not a file on the controller"),
    ({"settings": [{"id": "x", "title": "x", "kind": "registry", "refs": ["MSFT t"], "severity": "low", "rationale": "r",
                    "expect": {"key": FS_KEY, "name": "X", "type": "REG_DWORD", "value": -1}}]},
     "settings: settings[0] (id x) expect.value: must be at least 0, got -1"),
    ({"waivers": [{"id": "fs.long_paths", "reason": "r", "expires": "next year"}]}, "expires must be a date YYYY-MM-DD"),
    ({"waivers": [{"id": "fs.long_paths", "expires": "2030-01-01"}]}, "waivers[0] (id fs.long_paths): a waiver needs a reason"),
    ({"exclude": ["zzz"]}, "exclude: 'zzz' is neither a setting id nor a tag"),
    ({"reboot": "always"}, "value of reboot must be one of: never, if_required, got: always"),
    ({"lockout_guard": "maybe"}, "lockout_guard"),
])
def test_bad_input_is_refused_naming_the_option_and_changes_nothing(sim, args, words):
    h = sim.host("win1")
    before = h.snapshot()
    run = baseline(sim, mode=args.pop("mode", "enforce"), **args)
    res = run.one("win1", "baseline")
    assert res.failed and words in res.result["msg"], res.result["msg"]
    assert "Traceback" not in run.stdout + run.stderr
    assert h.snapshot() == before
    assert h.counters()["round_trips"] == 0


def test_the_harden_playbook_audits_by_default_and_enforces_when_asked(sim):
    h = sim.host("win1")
    h.snapshot()
    before = h.snapshot()
    extra = {"baseline_name": sim.doc, "baseline_include": ["go", "tls"]}
    run = sim.play(playbook="gowin.server.harden", extra_vars=extra)
    assert run.rc == 0, run.stdout[-3000:]
    audit = run.one("win1", "Test the host against the baseline, or enforce it").result
    assert audit["mode"] == "audit" and audit["changed"] is False and h.snapshot() == before
    assert "itest (audit): score 0.0%, 0 compliant, 0 fixed, 3 non-compliant" in run.stdout
    run = sim.play(playbook="gowin.server.harden", extra_vars=dict(extra, gowin_baseline_mode="enforce"))
    assert run.rc == 0, run.stdout[-3000:]
    assert "itest (enforce): score 100.0%, 0 compliant, 3 fixed" in run.stdout and "a restart is needed" not in run.stdout
    run = sim.play(playbook="gowin.server.harden", extra_vars=dict(extra, gowin_baseline_mode="enforce", baseline_waivers=[{"id": "x"}]))
    assert run.rc != 0
    assert "waivers[0]: id 'x' is not a setting of baseline itest" in run.one("win1", "Test the host against the baseline, or enforce it").result["msg"]


def test_a_setting_that_needs_a_restart_stays_reported_until_the_host_restarts(sim):
    h = sim.host("win1")
    r = ok(baseline(sim, mode="enforce", include=["ipv6"]))
    assert by_id(r)["net.prefer_ipv4"]["status"] == "fixed" and r["reboot_required"] is True and r["rebooted"] is False
    audit = ok(baseline(sim, include=["ipv6"]))
    found = by_id(audit)["net.prefer_ipv4"]
    assert found["status"] == "compliant" and found["reboot_required"] is True and "after the host restarts" in found["note"]
    assert audit["reboot_required"] is True and audit["round_trips"] == 1
    h.reboot()
    audit = ok(baseline(sim, include=["ipv6"]))
    assert audit["reboot_required"] is False and by_id(audit)["net.prefer_ipv4"]["reboot_required"] is False


def test_reboot_if_required_restarts_the_host_waits_for_it_and_tests_again(sim):
    h = sim.host("win1")
    boot_before = h.execute([{"op": "host.facts"}])[0]["data"]["boot_time"]
    check = ok(sim.play([{"name": "baseline", "gowin.server.dsc_baseline": {
        "baseline": sim.doc, "mode": "enforce", "include": ["ipv6"], "reboot": "if_required"}}], check=True))
    assert check["rebooted"] is False and "reboot.request" in by_id(check)["net.prefer_ipv4"]["planned"]
    assert h.execute([{"op": "host.facts"}])[0]["data"]["boot_time"] == boot_before
    r = ok(baseline(sim, mode="enforce", include=["ipv6", "go"], reboot="if_required"))
    assert r["rebooted"] is True and r["reboot_required"] is False and r["changed"] is True
    assert {x["id"]: x["status"] for x in r["results"]} == {"fs.long_paths": "fixed", "net.prefer_ipv4": "fixed"}
    assert r["round_trips"] >= 5  # probe, set + test, the request, at least one poll, the test after the restart
    assert h.execute([{"op": "host.facts"}])[0]["data"]["boot_time"] != boot_before
    again = ok(baseline(sim, mode="enforce", include=["ipv6", "go"], reboot="if_required"))
    assert again["changed"] is False and again["rebooted"] is False and again["round_trips"] == 1
    run = baseline(sim, reboot_timeout_s=5)
    assert "reboot_timeout_s must be from 30 to 3600 seconds, got 5" in run.one("win1", "baseline").result["msg"]


def test_the_winrm_basic_guard_follows_the_connection_authentication(sim):
    h = sim.host("win1")
    basic = setting("winrm.no_basic", "registry", {"key": "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WinRM\\Service",
                                                   "name": "AllowBasic", "type": "REG_DWORD", "value": 0})
    args = {"baseline": sim.doc, "mode": "enforce", "settings": [basic], "include": ["winrm.no_basic"]}
    task = {"name": "baseline", "gowin.server.dsc_baseline": args}
    run = sim.play([dict(task, vars={"ansible_winsim_remote_auth": "basic", "ansible_winsim_remote_port": 5986})])
    res = run.one("win1", "baseline")
    assert res.failed and [x["id"] for x in res.result["lockout"]] == ["winrm.no_basic"]
    assert res.result["connection"] == {"transport": "winrm", "auth": "basic", "port": 5986, "https": True, "account": "local",
                                        "builtin_admin": False, "user_name": "WIN1\\ansible"}
    assert reg(h, "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WinRM\\Service", "AllowBasic") is None
    r = ok(sim.play([task]))  # NTLM: Basic off does not concern this run
    assert by_id(r)["winrm.no_basic"]["status"] == "fixed"


@pytest.mark.parametrize("args, words", [
    ({"lockout_guard_rules": ["WINRM*"]}, "lockout_guard_rules[0]: 'WINRM*' is not a firewall rule name"),
    ({"lockout_guard_rules": ["ok", ""]}, "lockout_guard_rules[1]"),
    ({"include": ["go"], "exclude": ["fs.long_paths"]}, "include and exclude leave no setting of baseline itest to test"),
    ({"settings": [setting("x.conflict", "registry", {"key": FS_KEY, "name": "LongPathsEnabled", "type": "REG_DWORD", "value": 0})]},
     "fs.long_paths and x.conflict set the same thing"),
])
def test_more_bad_input_is_refused_on_the_controller(sim, args, words):
    h = sim.host("win1")
    before = h.snapshot()
    res = baseline(sim, mode="enforce", **args).one("win1", "baseline")
    assert res.failed and words in res.result["msg"], res.result["msg"]
    assert h.snapshot() == before and h.counters()["round_trips"] == 0


def test_an_expired_waiver_beside_one_in_force_is_not_applied(sim):
    r = ok(baseline(sim, include=["go"], waivers=[
        {"id": "fs.long_paths", "reason": "old", "expires": "2020-01-01"},
        {"id": "fs.long_paths", "reason": "new", "expires": "2099-01-01"}]))
    assert [(w["expired"], w["applied"]) for w in r["waivers"]] == [(True, False), (False, True)]
