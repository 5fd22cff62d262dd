"""The shipped go_server baseline on winsim hosts of each release: a fresh ws2016, ws2022 and ws2025 give
different, realistic audits in one round trip; enforce fixes everything the guard allows, a second audit is
compliant and a second enforce changes nothing; the guards that go_server's opt-in settings meet."""

from __future__ import annotations

import pytest

from conftest import Fleet

SYSTEM_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"


@pytest.fixture
def fleet3(tmp_path):
    return Fleet(tmp_path, None, {"s2016": "ws2016", "s2022": "ws2022", "s2025": "ws2025"})


@pytest.fixture
def one(tmp_path):
    return Fleet(tmp_path, None, {"win1": "ws2022"})


def baseline(fleet, check=False, **args):
    return fleet.play([{"name": "baseline", "gowin.server.dsc_baseline": args}], check=check)


def result(run, host):
    res = run.one(host, "baseline")
    assert "Traceback" not in run.stdout + run.stderr
    return res


def statuses(r):
    return {x["id"]: x["status"] for x in r["results"]}


def test_a_fresh_host_of_each_release_audits_differently_in_one_round_trip(fleet3):
    before = fleet3.snapshot()
    run = baseline(fleet3)
    found = {}
    for host in fleet3.hosts:
        res = result(run, host)
        assert not res.failed, res.result.get("msg")
        r = res.result
        assert r["changed"] is False and r["round_trips"] == 1 and r["modelled"] is True
        assert r["baseline"]["name"] == "go_server" and r["baseline"]["settings"] >= 60
        assert r["totals"]["error"] == 0 and r["totals"]["non_compliant"] > 30
        for x in r["results"]:
            assert x["refs"] and x["title"] and x["kind"]
            if x["status"] == "non_compliant":
                assert x["evidence"] and x["expected"] is not None
        found[host] = statuses(r)
        assert not {x["id"] for x in r["results"]} & {"net.ipv6.prefer_ipv4", "rights.deny_network_logon"}  # opt-in
    assert fleet3.snapshot() == before
    # SMB1 is installed on a new 2016 server and removed from 2019 on
    assert found["s2016"]["smb.smb1_feature_off"] == "non_compliant"
    assert found["s2022"]["smb.smb1_feature_off"] == found["s2025"]["smb.smb1_feature_off"] == "compliant"
    # 2025 requires SMB signing on outbound connections by default
    assert found["s2025"]["smb.client.require_signing"] == "compliant"
    assert found["s2022"]["smb.client.require_signing"] == "non_compliant"
    # 2025 locks accounts after 10 bad passwords by default (still more than the baseline's 5)
    r2025 = {x["id"]: x for x in result(run, "s2025").result["results"]}
    r2016 = {x["id"]: x for x in result(run, "s2016").result["results"]}
    assert r2025["account.lockout_threshold"]["actual"] == 10 and r2016["account.lockout_threshold"]["actual"] == 0
    # a setting of the 2022/2025 benchmarks only
    assert found["s2016"]["account.relax_min_password_length_limits"] == "not_applicable"
    assert found["s2022"]["account.relax_min_password_length_limits"] != "not_applicable"


def test_enforce_then_audit_compliant_then_enforce_changes_nothing(fleet3):
    run = baseline(fleet3, mode="enforce")
    for host in fleet3.hosts:
        res = result(run, host)
        assert not res.failed, res.result.get("msg")
        r = res.result
        assert r["changed"] is True and r["round_trips"] == 2
        assert r["totals"]["non_compliant"] == 0 and r["totals"]["error"] == 0 and r["totals"]["fixed"] > 30
        assert r["reboot_required"] is True  # Schannel, RunAsPPL and SMB1 take effect after a restart
        assert r["score"] == 100.0
    run = baseline(fleet3)
    for host in fleet3.hosts:
        r = result(run, host).result
        assert r["totals"]["non_compliant"] == 0 and r["score"] == 100.0 and r["reboot_required"] is True
    run = baseline(fleet3, mode="enforce")
    for host in fleet3.hosts:
        r = result(run, host).result
        assert r["changed"] is False and r["round_trips"] == 1


def test_check_mode_enforce_of_go_server_changes_nothing(one):
    before = one.snapshot()
    r = result(baseline(one, check=True, mode="enforce"), "win1").result
    assert r["changed"] is True and r["round_trips"] == 1 and one.snapshot() == before
    assert all(x.get("planned") for x in r["results"] if x["status"] == "non_compliant")


def test_the_remote_admin_settings_are_refused_for_a_local_administrator_connection(one):
    h = one.host("win1")
    run = baseline(one, mode="enforce", include=["remote_admin"])
    res = result(run, "win1")
    assert res.failed
    r = res.result
    assert {x["id"] for x in r["lockout"]} == {"rights.deny_network_logon", "uac.local_account_remote_restrictions"}
    deny = [x for x in r["lockout"] if x["id"] == "rights.deny_network_logon"][0]
    assert "S-1-5-114" in deny["reason"]
    # the built-in Administrator is not this account: its Admin Approval Mode does not cut the run
    assert statuses(r)["uac.builtin_admin_approval"] == "fixed"
    holders = h.execute([{"op": "policy.user_right", "args": {"right": "SeDenyNetworkLogonRight"}}])[0]["data"]["holders"]
    assert "S-1-5-114" not in holders
    assert h.registry_value(SYSTEM_KEY, "LocalAccountTokenFilterPolicy")["data"] == 1


def test_the_deny_network_guard_holds_for_a_local_account_whatever_the_authentication(tmp_path):
    fleet = Fleet(tmp_path, None, {"win1": "ws2022"})
    run = fleet.play([{"name": "baseline", "gowin.server.dsc_baseline": {"mode": "enforce", "include": ["rights.deny_network_logon"]},
                       "vars": {"ansible_winsim_remote_auth": "kerberos"}}])
    r = result(run, "win1").result
    # still a local account (the simulated one): the guard holds whatever the authentication
    assert [x["id"] for x in r["lockout"]] == ["rights.deny_network_logon"]


def test_the_firewall_guard_needs_a_rule_that_keeps_the_port_open_on_that_profile(one):
    h = one.host("win1")
    opened = h.execute([{"op": "firewall.profile_set", "args": {"profile": "public", "default_inbound": "allow"}}])
    assert opened[0]["ok"], opened
    run = baseline(one, mode="enforce", include=["firewall.public.state"])
    res = result(run, "win1")
    assert res.failed and [x["id"] for x in res.result["lockout"]] == ["firewall.public.state"]
    assert "TCP 5985" in res.result["lockout"][0]["reason"]
    prof = h.execute([{"op": "firewall.profile_get"}])[0]["data"]["profiles"]["public"]
    assert prof["default_inbound"] == "allow"
    rule_args = {"name": "ops-winrm-public", "protocol": "tcp", "local_ports": ["5985"], "profiles": ["public"],
                 "direction": "inbound", "action": "allow"}
    rule = h.execute([{"op": "firewall.set", "args": rule_args}])
    assert rule[0]["ok"], rule
    r = result(baseline(one, mode="enforce", include=["firewall.public.state"], lockout_guard_rules=["ops-winrm-public"]), "win1")
    assert not r.failed, r.result.get("msg")
    assert statuses(r.result)["firewall.public.state"] == "fixed"
    assert h.execute([{"op": "firewall.profile_get"}])[0]["data"]["profiles"]["public"]["default_inbound"] == "block"


def test_reboot_if_required_completes_the_smb1_removal_on_ws2016(tmp_path):
    fleet = Fleet(tmp_path, None, {"old": "ws2016"})
    h = fleet.host("old")
    r = result(baseline(fleet, mode="enforce", include=["smb.smb1_feature_off"]), "old").result
    assert statuses(r) == {"smb.smb1_feature_off": "fixed"} and r["reboot_required"] is True
    assert h.execute([{"op": "feature.get", "args": {"names": ["SMB1Protocol"]}}])[0]["data"]["features"]["SMB1Protocol"]["state"] == "disable_pending"
    r = result(baseline(fleet, mode="enforce", include=["smb.smb1_feature_off"], reboot="if_required"), "old").result
    assert r["rebooted"] is True and r["reboot_required"] is False
    assert h.execute([{"op": "feature.get", "args": {"names": ["SMB1Protocol"]}}])[0]["data"]["features"]["SMB1Protocol"]["state"] == "disabled"
