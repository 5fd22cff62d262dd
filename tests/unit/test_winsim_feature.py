# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""winsim's optional features and firewall profiles beyond what the contract vectors reach: the defaults
of each os_profile (Windows Server 2016 has SMB1 installed, 2019 and later do not), a change that waits for
a restart until the twin's reboot(), and a group policy over a profile's local settings."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _winsim
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.firewall import DEFAULT_LOG_FILE

SMB1 = ["SMB1Protocol", "SMB1Protocol-Client", "SMB1Protocol-Server"]


def ok(host: WinSimHost, op: str, **args: t.Any) -> dict:
    (result,) = host.execute([{"op": op, "args": args}])
    assert result["ok"], result
    return result["data"]


def features(host: WinSimHost, *names: str) -> dict:
    return ok(host, "feature.get", names=list(names))["features"]


@pytest.mark.parametrize("profile", ["ws2016", "ws2016-core"])
def test_a_new_windows_server_2016_has_smb1_enabled_as_one_feature(tmp_path: Path, profile: str) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile=profile)
    found = features(host, *SMB1)
    assert found["SMB1Protocol"] == {"exists": True, "state": "enabled", "restart_needed": False}
    assert found["SMB1Protocol-Client"] == {"exists": False, "state": None, "restart_needed": False}
    assert found["SMB1Protocol-Server"]["exists"] is False


@pytest.mark.parametrize("profile", ["ws2019", "ws2022", "ws2022-core", "ws2025"])
def test_a_new_windows_server_2019_or_later_has_smb1_disabled_with_client_and_server(tmp_path: Path, profile: str) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile=profile)
    found = features(host, *SMB1)
    assert found == {name: {"exists": True, "state": "disabled", "restart_needed": False} for name in SMB1}


@pytest.mark.parametrize("profile", _winsim.PROFILE_NAMES)
def test_every_profile_has_telnet_client_disabled_and_defender_enabled(tmp_path: Path, profile: str) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile=profile)
    found = features(host, "TelnetClient", "Windows-Defender", "MicrosoftWindowsPowerShellV2")
    assert [found[n]["state"] for n in ("TelnetClient", "Windows-Defender", "MicrosoftWindowsPowerShellV2")] == ["disabled", "enabled", "enabled"]


def test_disabling_smb1_waits_for_the_reboot(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2016")
    assert ok(host, "host.facts")["pending_reboot"] is False
    assert ok(host, "feature.set", name="SMB1Protocol", state="disabled") == {"changed": True, "state": "disable_pending", "restart_needed": True}
    assert ok(host, "host.facts")["pending_reboot"] is True
    assert ok(host, "registry.get", path=_winsim.REBOOT_MARKER_KEYS[0])["exists"] is True  # CBS RebootPending, as Windows sets it
    assert host.feature_state("smb1protocol") == "disable_pending"
    host.reboot()
    assert features(host, "SMB1Protocol")["SMB1Protocol"] == {"exists": True, "state": "disabled", "restart_needed": False}
    assert ok(host, "host.facts")["pending_reboot"] is False
    assert ok(host, "feature.set", name="SMB1Protocol", state="disabled")["changed"] is False


def test_enabling_an_smb1_sub_feature_enables_its_parent_and_waits_for_the_reboot(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2022")
    assert ok(host, "feature.set", name="smb1protocol-server", state="enabled")["state"] == "enable_pending"
    assert features(host, "SMB1Protocol")["SMB1Protocol"]["state"] == "enable_pending"
    host.reboot()
    found = features(host, *SMB1)
    assert [found[n]["state"] for n in SMB1] == ["enabled", "disabled", "enabled"]
    assert ok(host, "host.facts")["pending_reboot"] is False


def test_a_change_back_before_the_reboot_cancels_the_pending_one(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile="ws2016")
    ok(host, "feature.set", name="SMB1Protocol", state="disabled")
    assert ok(host, "feature.set", name="SMB1Protocol", state="enabled") == {"changed": True, "state": "enabled", "restart_needed": False}


def test_a_change_that_needs_no_restart_leaves_no_pending_reboot(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    assert ok(host, "feature.set", name="TelnetClient", state="enabled") == {"changed": True, "state": "enabled", "restart_needed": False}
    assert ok(host, "host.facts")["pending_reboot"] is False
    host.reboot()  # the host's own reboot still runs under the feature mixin's
    assert host.feature_state("TelnetClient") == "enabled"


@pytest.mark.parametrize("profile", _winsim.PROFILE_NAMES)
def test_every_profile_starts_with_windows_servers_firewall_defaults(tmp_path: Path, profile: str) -> None:
    host = WinSimHost(str(tmp_path), "win1", profile=profile)
    profiles = ok(host, "firewall.profile_get")["profiles"]
    assert sorted(profiles) == ["domain", "private", "public"]
    for settings in profiles.values():
        assert settings == {
            "enabled": True, "default_inbound": "block", "default_outbound": "allow", "log_allowed": False, "log_blocked": False,
            "log_file": DEFAULT_LOG_FILE, "log_max_kb": 4096, "allow_local_rules": True, "policy_owned": False, "policy_fields": [],
        }
    assert ok(host, "firewall.get", name="WINRM-HTTP-In-TCP")["exists"] is True  # the rules are untouched


def test_a_group_policy_setting_is_in_force_over_the_local_one(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    host.set_firewall_policy("domain", log_blocked=True)
    domain = ok(host, "firewall.profile_get")["profiles"]["domain"]
    assert (domain["log_blocked"], domain["policy_owned"], domain["policy_fields"]) == (True, True, ["log_blocked"])
    result = ok(host, "firewall.profile_set", profile="domain", log_blocked=False, log_max_kb=16384)
    assert result == {"changed": True, "before": {"log_blocked": True, "log_max_kb": 4096},
                      "after": {"log_blocked": True, "log_max_kb": 16384}, "policy_owned": True}
    host.set_firewall_policy("domain")
    assert ok(host, "firewall.profile_get")["profiles"]["domain"]["log_blocked"] is False  # the local value, set above
    with pytest.raises(ValueError):
        host.set_firewall_policy("work", enabled=False)
