# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""winsim's WDAC policies beyond what the contract vectors reach: the format and activation of each os_profile,
a policy that waits for the twin's reboot(), the strictest policy winning, the test helpers that alter, delete or
place policy files, and record values the twin (like the agent) does not trust."""

from __future__ import annotations

import calendar
import hashlib
import time
import typing as t
from pathlib import Path

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _baseline, _winsim
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost, wdac
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.wdac import ACTIVE_DIR, SINGLE_FILE, WDAC_KEY, policy_id_for

AUDIT = {"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit", "name": "GoWin audit"}
EXPECTED = {"ws2016": ("single", "restart"), "ws2019": ("single", "restart"), "ws2022": ("multiple", "restart"), "ws2025": ("multiple", "citool")}


def run(host: WinSimHost, op: str, **args: t.Any) -> dict:
    (result,) = host.execute([{"op": op, "args": args}])
    return result


def ok(host: WinSimHost, op: str, **args: t.Any) -> dict:
    result = run(host, op, **args)
    assert result["ok"], result
    return result["data"]


@pytest.mark.parametrize("profile", _winsim.PROFILE_NAMES)
def test_every_profile_has_its_releases_format_and_activation_and_nothing_deployed(tmp_path: Path, profile: str) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile=profile)
    before = host.snapshot()
    data = ok(host, "wdac.get")
    assert (data["format"], data["activation"]) == EXPECTED[profile.replace("-core", "")]
    assert (data["kernel"], data["user"], data["records"]) == ("off", "off", {})
    assert data["examples"] == ["AllowAll", "AllowMicrosoft", "DefaultWindows_Audit", "DefaultWindows_Enforced"]
    assert host.snapshot() == before


def test_a_single_format_policy_loads_at_the_reboot(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2019")
    before = host.snapshot()
    result = ok(host, "wdac.set", **AUDIT)
    assert result == {"changed": True, "restart_needed": True, "policy_id": None,  # a single-format policy has no PolicyID
                      "sha256": result["sha256"], "file": SINGLE_FILE, "activation": "restart"}
    assert host.snapshot() != before
    assert hashlib.sha256(host.read_file(SINGLE_FILE) or b"").hexdigest() == result["sha256"]
    assert host.wdac_loaded() == "off"
    assert ok(host, "wdac.set", **AUDIT)["restart_needed"] is True
    host.reboot()
    assert host.wdac_loaded() == "audit"
    assert (ok(host, "wdac.get")["kernel"], ok(host, "wdac.get")["user"]) == ("audit", "audit")
    assert ok(host, "wdac.set", **AUDIT) == dict(result, changed=False, restart_needed=False)
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["pending"] is False
    assert host.registry.value(WDAC_KEY + "\\GoWinAudit", "PolicyId") is None


def test_a_change_of_mode_waits_for_the_restart_even_while_code_integrity_reports_the_old_mode(tmp_path: Path) -> None:
    # The review's case: audit loaded, then enforced deployed; a re-run before the restart still says restart_needed.
    for profile in ("ws2019", "ws2022"):
        host = WinSimHost(str(tmp_path), "win-" + profile, profile=profile)
        ok(host, "wdac.set", **AUDIT)
        host.reboot()
        assert ok(host, "wdac.get")["kernel"] == "audit"
        enforced = {**AUDIT, "mode": "enforced"}
        assert ok(host, "wdac.set", **enforced)["restart_needed"] is True
        again = ok(host, "wdac.set", **enforced)
        assert (again["changed"], again["restart_needed"]) == (False, True), profile
        data = ok(host, "wdac.get")
        assert (data["kernel"], data["records"]["GoWinAudit"]["pending"]) == ("audit", True)
        host.reboot()
        data = ok(host, "wdac.get")
        assert (data["kernel"], data["records"]["GoWinAudit"]["pending"]) == ("enforced", False)
        assert ok(host, "wdac.set", **enforced)["restart_needed"] is False


def test_pending_follows_the_boot_recorded_within_the_slack_windows_allows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_winsim.host, "boot_stamp", lambda _seconds: "2026-03-04T05:06:07Z")  # digits that pad
    host = WinSimHost(str(tmp_path), "win1", profile="ws2022")
    ok(host, "wdac.set", **AUDIT)
    key = WDAC_KEY + "\\GoWinAudit"
    boot = host.registry.value(key, "Boot")
    assert boot is not None and boot == {"type": "REG_SZ", "data": ok(host, "host.facts")["boot_time"]}
    when = calendar.timegm(time.strptime(boot["data"], "%Y-%m-%dT%H:%M:%SZ"))
    moved = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when + 20))
    ok(host, "registry.set", path=key, name="Boot", type="REG_SZ", data=moved)  # LastBootUpTime moved by 20 seconds
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["pending"] is True
    assert moved == "2026-03-04T05:06:27Z"
    ok(host, "registry.set", path=key, name="Boot", type="REG_SZ", data="2026-3-4T5:6:27Z")  # the agent's TryParseExact refuses it
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["pending"] is False
    ok(host, "registry.set", path=key, name="Boot", type="REG_SZ", data=moved[:-1] + "+00:00")  # not the agent's form
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["pending"] is False
    ok(host, "registry.set", path=key, name="Boot", type="REG_SZ", data="2020-01-01T00:00:00Z")  # another boot
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["pending"] is False
    ok(host, "registry.set", path=key, name="Boot", type="REG_DWORD", data=5)  # not REG_SZ: no boot recorded
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["pending"] is False
    other = WinSimHost(str(tmp_path), "win2", profile="ws2025")
    ok(other, "wdac.set", **AUDIT)  # CiTool loads it at once: nothing waits, no Boot
    assert other.registry.value(key, "Boot") is None
    assert ok(other, "wdac.get")["records"]["GoWinAudit"]["pending"] is False


def test_the_twin_and_the_controller_tell_one_boot_by_one_rule() -> None:
    assert wdac.same_boot is _baseline.same_boot  # one copy: the twin's pending and dsc_baseline's restarts agree
    boot = "2026-03-04T05:06:07Z"
    assert _baseline.same_boot(boot, "2026-03-04T05:06:37Z") and _baseline.same_boot("2026-03-04T05:06:37Z", boot)
    assert not _baseline.same_boot(boot, "2026-03-04T05:06:38Z")  # more than BOOT_SLACK_S: another boot
    # only the agent's form (its TryParseExact of 'yyyy-MM-ddTHH:mm:ssZ'): no short fields, offsets, leap seconds or
    # days a month does not have
    for other in ("2026-3-4T5:6:7Z", "2026-03-04T05:06:07+00:00", "2026-03-04T05:06:60Z", "2026-02-30T05:06:07Z", "", None, 5):
        assert not _baseline.same_boot(other, other), other


def test_the_strictest_policy_is_enforced_and_a_change_of_mode_redeploys_under_the_same_id(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2025")
    first = ok(host, "wdac.set", **AUDIT)
    enforced = ok(host, "wdac.set", record="GoWinEnforced", example="AllowMicrosoft", mode="enforced", name="GoWin enforced")
    assert enforced["policy_id"] != first["policy_id"] and enforced["file"] == ACTIVE_DIR + "\\" + enforced["policy_id"] + ".cip"
    assert ok(host, "wdac.get")["kernel"] == "enforced"
    changed = ok(host, "wdac.set", **{**AUDIT, "mode": "enforced"})
    assert changed["changed"] is True and changed["policy_id"] == first["policy_id"] and changed["sha256"] != first["sha256"]
    records = ok(host, "wdac.get")["records"]
    assert list(records) == ["GoWinAudit", "GoWinEnforced"]
    assert records["GoWinAudit"]["mode"] == "enforced" and records["GoWinAudit"]["file_sha256"] == changed["sha256"]


def test_an_altered_or_deleted_file_is_seen_and_deployed_again(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2025")
    deployed = ok(host, "wdac.set", **AUDIT)
    host.wdac_tamper("gowinaudit")
    record = ok(host, "wdac.get")["records"]["GoWinAudit"]
    assert record["file_sha256"] == hashlib.sha256(b"altered by a test\r\n").hexdigest() != record["sha256"]
    assert host.wdac_loaded() == "audit"  # a loaded policy stays loaded until the host restarts
    host.reboot()
    assert host.wdac_loaded() == "off"  # ... and then an altered file is not the policy deployed
    assert ok(host, "wdac.set", **AUDIT) == deployed  # deployed again: the same bytes, the same id
    host.wdac_tamper("GoWinAudit", delete=True)
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["file_sha256"] is None
    assert ok(host, "wdac.set", **AUDIT)["changed"] is True
    assert host.wdac_policy_file("GoWinAudit") == deployed["file"]


def test_a_foreign_sipolicy_is_never_written_over(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2016")
    path = host.wdac_place_foreign()
    before = host.snapshot()
    result = run(host, "wdac.set", **AUDIT)
    assert result["error"]["kind"] == "conflict" and path in result["error"]["message"]
    assert host.snapshot() == before
    # On the multiple format a SIPolicy.p7b is nobody's business of this family.
    other = WinSimHost(str(tmp_path), "win2", profile="ws2022")
    other.wdac_place_foreign()
    assert ok(other, "wdac.set", **AUDIT)["changed"] is True


def test_on_the_single_format_the_policy_of_another_record_is_named_in_the_conflict(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2016")
    ok(host, "wdac.set", **AUDIT)
    before = host.snapshot()
    result = run(host, "wdac.set", **{**AUDIT, "record": "GoWinOther"})
    assert result["error"]["kind"] == "conflict"
    assert "record 'GoWinAudit'" in result["error"]["message"] and "one policy only" in result["error"]["message"]
    assert host.snapshot() == before


def test_record_values_that_are_not_reg_sz_or_point_elsewhere_are_not_trusted(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2022")
    deployed = ok(host, "wdac.set", **AUDIT)
    key = WDAC_KEY + "\\GoWinAudit"
    ok(host, "registry.set", path=key, name="Mode", type="REG_EXPAND_SZ", data="audit")
    record = ok(host, "wdac.get")["records"]["GoWinAudit"]
    assert record["mode"] is None and record["file_sha256"] == deployed["sha256"]
    assert ok(host, "wdac.set", **AUDIT)["changed"] is True  # the mode was unknown: built and written again
    ok(host, "registry.set", path=key, name="File", type="REG_SZ", data="C:\\Windows\\System32\\drivers\\etc\\hosts")
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["file_sha256"] is None  # never a path outside the two places
    ok(host, "registry.set", path=key, name="PolicyId", type="REG_SZ", data="..\\..\\evil")
    redeployed = ok(host, "wdac.set", **AUDIT)
    assert redeployed["policy_id"] == policy_id_for("GoWinAudit") and redeployed["file"] == deployed["file"]
    lower = deployed["file"].replace("System32", "system32")
    ok(host, "registry.set", path=key, name="File", type="REG_SZ", data=lower)
    assert ok(host, "wdac.get")["records"]["GoWinAudit"]["file_sha256"] == deployed["sha256"]  # compared ignoring case


@pytest.mark.parametrize("args, words", [
    ({"record": "a b"}, ["record", "must be"]),
    ({"record": "x" * 65}, ["record", "must be"]),
    ({"example": "Allow-All"}, ["example", "must be"]),
    ({"mode": "Audit"}, ["mode", "must be", "audit, enforced"]),
    ({"name": ""}, ["name", "must be"]),
    ({"name": "a/b"}, ["name", "must be"]),
    ({"name": 5}, ["name", "must be"]),
])
def test_bad_arguments_are_refused_naming_them(tmp_path: Path, args: dict, words: list[str]) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    result = run(host, "wdac.set", **{**AUDIT, **args})
    assert result["error"]["kind"] == "bad_args"
    for word in words:
        assert word in result["error"]["message"]
    assert run(host, "wdac.set", **{**AUDIT, "example": "NoSuch"})["error"]["kind"] == "not_found"
