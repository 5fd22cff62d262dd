# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""winsim's WDAC policies beyond what the contract vectors reach: the format and activation of each os_profile,
a policy that waits for the twin's reboot(), the strictest policy winning, the test helpers that alter, delete or
place policy files, and record values the twin (like the agent) does not trust."""

from __future__ import annotations

import hashlib
import typing as t
from pathlib import Path

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _winsim
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.wdac import ACTIVE_DIR, SINGLE_FILE, WDAC_KEY, policy_id_for

AUDIT = {"record": "GoWinAudit", "example": "DefaultWindows_Audit", "mode": "audit", "name": "GoWin audit"}
EXPECTED = {"ws2016": ("single", "restart"), "ws2019": ("single", "restart"), "ws2022": ("multiple", "cim"), "ws2025": ("multiple", "citool")}


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
    assert result == {"changed": True, "restart_needed": True, "policy_id": policy_id_for("GoWinAudit"),
                      "sha256": result["sha256"], "file": SINGLE_FILE, "activation": "restart"}
    assert host.snapshot() != before
    assert hashlib.sha256(host.read_file(SINGLE_FILE) or b"").hexdigest() == result["sha256"]
    assert host.wdac_loaded() == "off"
    assert ok(host, "wdac.set", **AUDIT)["restart_needed"] is True
    host.reboot()
    assert host.wdac_loaded() == "audit"
    assert (ok(host, "wdac.get")["kernel"], ok(host, "wdac.get")["user"]) == ("audit", "audit")
    assert ok(host, "wdac.set", **AUDIT) == dict(result, changed=False, restart_needed=False)


def test_the_strictest_policy_is_enforced_and_a_change_of_mode_redeploys_under_the_same_id(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2022")
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
