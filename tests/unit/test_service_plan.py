# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""win_service_go's planning (_service_plan): options to the host's service and firewall configuration,
and the comparison with what the host reports. The round trips go through winsim's twins of the agent's
ops, so "nothing differs after applying" is shown against the same model the contract vectors hold."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _service_plan as sp
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost
from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import service_sid, split_command_line

KEY = bytes(range(16))


def run(host: WinSimHost, op: str, **args: t.Any) -> dict:
    (result,) = host.execute([{"op": op, "args": args}])
    assert result["ok"], result
    return result["data"]


@pytest.mark.parametrize("account,kind,scm,sid", [
    (None, "virtual", "NT SERVICE\\orders-api", service_sid("orders-api")),
    ("virtual", "virtual", "NT SERVICE\\orders-api", service_sid("orders-api")),
    ("localservice", "LocalService", "NT AUTHORITY\\LocalService", "S-1-5-19"),
    ("NT AUTHORITY\\Network Service", "NetworkService", "NT AUTHORITY\\NetworkService", "S-1-5-20"),
    ("CORP\\svc-orders$", "gmsa", "CORP\\svc-orders$", None),
])
def test_accounts(account: str | None, kind: str, scm: str, sid: str | None) -> None:
    found = sp.account_of("orders-api", account, None, False)
    assert (found.kind, found.scm_name, found.sid) == (kind, scm, sid)
    assert found.needs_logon_right == (kind == "gmsa")


def test_a_user_account_needs_a_password_and_the_right() -> None:
    found = sp.account_of("orders-api", "CORP\\svc-orders", "pw", False)
    assert found.kind == "user" and found.needs_password and found.needs_logon_right
    with pytest.raises(sp.ServiceError, match="needs password"):
        sp.account_of("orders-api", ".\\svc", None, False)


@pytest.mark.parametrize("account,password,allow,message", [
    ("LocalSystem", None, False, "allow_local_system"),
    ("NT AUTHORITY\\SYSTEM", None, False, "allow_local_system"),
    ("CORP\\svc$", "pw", False, "password is only for a user account"),
    ("NT SERVICE\\other", None, False, "another service"),
    ("a\\b\\c", None, False, "account must be"),
])
def test_refused_accounts_name_the_option(account: str, password: str | None, allow: bool, message: str) -> None:
    with pytest.raises(sp.ServiceError, match=message):
        sp.account_of("orders-api", account, password, allow)


def test_local_system_only_when_allowed() -> None:
    assert sp.account_of("x", "LocalSystem", None, True).sid == "S-1-5-18"


def test_the_image_path_gives_each_argument_back() -> None:
    binary = "C:\\opt\\services\\orders-api\\releases\\0123456789ab\\orders-api.exe"
    args = ["--config", "C:\\Program Data\\orders api\\config.yaml", 'say "hi"', "trailing\\", ""]
    line = sp.image_path(binary, args)
    assert split_command_line(line) == [binary, *args]
    with pytest.raises(sp.ServiceError, match="args"):
        sp.image_path(binary, [8080])  # type: ignore[list-item]


def test_environment_names_and_values_are_checked() -> None:
    assert sp.environment_of({"GOMAXPROCS": "4"}, {"TOKEN": "x"}) == ({"GOMAXPROCS": "4"}, {"TOKEN": "x"})
    for plain, secret, message in (
        ({"A=B": "x"}, None, "environment names"),
        ({"A B": "x"}, None, "environment names"),
        ({"GOMAXPROCS": 4}, None, "quote numbers"),
        ({"TOKEN": "a"}, {"token": "b"}, "secret_environment names token"),
        (None, {"T": "a\0b"}, "secret_environment values must not contain NUL"),
    ):
        with pytest.raises(sp.ServiceError, match=message):
            sp.environment_of(plain, secret)


def test_recovery_defaults_and_refusals() -> None:
    default = sp.recovery_of(None, False)
    assert default == {"reset_after_s": 86400, "actions": sp.DEFAULT_RECOVERY, "command": "", "on_non_crash_failure": True}
    with pytest.raises(sp.ServiceError, match="allow_reboot_action"):
        sp.recovery_of({"actions": [{"type": "reboot", "delay_ms": 0}]}, False)
    assert sp.recovery_of({"actions": [{"type": "reboot", "delay_ms": 0}]}, True)["actions"][0]["type"] == "reboot"
    with pytest.raises(sp.ServiceError, match="command"):
        sp.recovery_of({"actions": [{"type": "run", "delay_ms": 0}]}, False)
    with pytest.raises(sp.ServiceError, match="delay_ms"):
        sp.recovery_of({"actions": [{"type": "restart", "delay_ms": -1}]}, False)


def _desired(binary: str) -> dict:
    return {
        "display_name": "Orders API", "description": "orders, as a service", "image_path": sp.image_path(binary, ["--port", "8443"]),
        "start_mode": "delayed", "account": sp.account_of("orders-api", None, None, False).scm_name, "sid_type": "unrestricted",
        "dependencies": ["EventLog"], "recovery": sp.recovery_of(None, False),
    }


def test_applied_through_the_model_nothing_differs_after(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    desired = _desired("C:\\opt\\services\\orders-api\\releases\\0123456789ab\\orders-api.exe")
    plain, secret = {"GOMAXPROCS": "4", "GOMEMLIMIT": "2GiB"}, {"API_TOKEN": "s3cret"}
    before = run(host, "service.get", name="orders-api", digest_key=KEY.hex())
    first = sp.config_changes(before, desired, plain, secret, KEY)
    assert set(first) == set(desired) | {"environment", "secret_environment"}
    run(host, "service.set", name="orders-api", create=True, **first)
    after = run(host, "service.get", name="orders-api", digest_key=KEY.hex())
    assert sp.config_changes(after, desired, plain, secret, KEY) == {}
    # each field on its own is seen when it differs
    assert sp.config_changes(after, dict(desired, start_mode="auto"), plain, secret, KEY) == {"start_mode": "auto"}
    assert set(sp.config_changes(after, desired, plain, {"API_TOKEN": "rotated"}, KEY)) == {"environment", "secret_environment"}
    assert set(sp.config_changes(after, desired, {"GOMAXPROCS": "4"}, secret, KEY)) == {"environment", "secret_environment"}
    assert sp.config_changes(after, dict(desired, account="nt service\\ORDERS-API"), plain, secret, KEY) == {}
    changed_recovery = dict(desired, recovery=sp.recovery_of({"reset_after_s": 60}, False))
    assert list(sp.config_changes(after, changed_recovery, plain, secret, KEY)) == ["recovery"]
    # a digest under another key says nothing: everything environment differs
    assert "environment" in sp.config_changes(after, desired, plain, secret, bytes(16))


def test_the_firewall_rule_applied_through_the_model_does_not_differ(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "win1")
    program = "C:\\opt\\services\\orders-api\\releases\\0123456789ab\\orders-api.exe"
    rule = sp.firewall_rule("orders-api", {"port": [8443, "9000-9010"], "remote_addresses": ["10.0.0.0/8", "10.1.2.3/32", "localsubnet"],
                                           "profiles": ["private", "domain"]}, program, "Orders API")
    assert rule["name"] == "gowin-orders-api" and rule["local_ports"] == ["8443", "9000-9010"]
    assert rule["remote_addresses"] == ["10.0.0.0/8", "10.1.2.3/32", "LocalSubnet"] and rule["profiles"] == ["domain", "private"]
    assert sp.firewall_differs(run(host, "firewall.get", name=rule["name"]), rule)
    run(host, "firewall.set", **rule)
    reported = run(host, "firewall.get", name=rule["name"])
    assert "10.0.0.0/255.0.0.0" in reported["remote_addresses"]  # Windows' own form, still the same rule
    assert not sp.firewall_differs(reported, rule)
    assert sp.firewall_differs(reported, dict(rule, local_ports=["8443"]))
    assert sp.firewall_differs(reported, dict(rule, remote_addresses=["10.0.0.0/9", "10.1.2.3", "LocalSubnet"]))


@pytest.mark.parametrize("firewall,message", [
    ({"port": 0}, "firewall port"),
    ({"port": "80-70"}, "firewall port"),
    ({"port": True}, "firewall port"),
    ({"port": 80, "protocol": "icmp"}, "firewall protocol"),
    ({"port": 80, "remote_addresses": ["10.0.0.1;calc"]}, "remote_addresses"),
    ({"port": 80, "profiles": ["work"]}, "profiles"),
])
def test_refused_firewall_options(firewall: dict, message: str) -> None:
    with pytest.raises(sp.ServiceError, match=message):
        sp.firewall_rule("x", firewall, "C:\\x.exe", "x")


def test_release_folder_and_names() -> None:
    assert sp.release_folder("C:\\opt\\services\\", "orders-api", "ABCDEF0123456789" + "0" * 48) == \
        "C:\\opt\\services\\orders-api\\releases\\abcdef012345"
    for bad in ("", "a/b", "a\\b", " x", "x" * 257, "a\tb"):
        with pytest.raises(sp.ServiceError, match="name"):
            sp.check_service_name(bad)


@pytest.mark.parametrize("version,older", [
    ("v0.0.0-20210630005230-0f9fa26af87c", True),
    ("v0.0.0-20211216021012-1d35b9e2eb4e", False),
    ("v0.0.0-20220520151302-bc2c85ada10a", False),
    ("v0.1.0", False),
    ("v0.15.0", False),
    ("(devel)", False),
])
def test_x_sys_versions_before_the_non_local_system_fix(version: str, older: bool) -> None:
    assert sp._xsys_older(version) is older  # pylint: disable=protected-access


def test_check_binary_refuses_what_cannot_run_and_names_the_option() -> None:
    account = sp.account_of("svc", "virtual", None, False)
    native = {"machine": "amd64", "go": True, "scm": {"dispatches": True, "rule": "own-call"},
              "build_info": {"settings": {"GOOS": "windows"}, "deps": []}}
    assert sp.check_binary(native, "src", "amd64", False, "auto", account) == []
    with pytest.raises(sp.ServiceError, match="^url is a program for arm64 and the host is amd64"):
        sp.check_binary(dict(native, machine="arm64"), "url", "amd64", False, "auto", account)
    with pytest.raises(sp.ServiceError, match="allow_wow64"):
        sp.check_binary(dict(native, machine="386"), "src", "amd64", False, "auto", account)
    assert sp.check_binary(dict(native, machine="386"), "src", "amd64", True, "auto", account) is not None
    console = dict(native, scm={"dispatches": False, "rule": "no-dispatcher"})
    with pytest.raises(sp.ServiceError, match="1053"):
        sp.check_binary(console, "path", "amd64", False, "auto", account)
    sp.check_binary(console, "path", "amd64", False, "native", account)  # the user vouches for it
    with pytest.raises(sp.ServiceError, match="DLL"):
        sp.check_binary(dict(native, dll=True), "src", "amd64", False, "auto", account)


def test_acl_differs_only_when_the_folder_is_not_exactly_the_owned_acl() -> None:
    sid = service_sid("svc")
    aces = sp.folder_aces(sid, sp.MODIFY)
    exact = {"exists": True, "protected": True, "canonical": True,
             "aces": [{"sid": a["identity"], "mask": a["mask"], "type": "allow", "flags": ["OI", "CI"]} for a in aces]}
    assert not sp.acl_differs(exact, aces)
    assert sp.acl_differs(dict(exact, protected=False), aces)
    assert sp.acl_differs({"exists": False}, aces)
    extra = dict(exact, aces=exact["aces"] + [{"sid": "S-1-5-32-545", "mask": sp.READ_AND_EXECUTE, "type": "allow",
                                               "flags": ["OI", "CI"]}])
    assert sp.acl_differs(extra, aces)  # Users must have nothing
    weaker = dict(exact, aces=exact["aces"][:2] + [dict(exact["aces"][2], mask=sp.READ_AND_EXECUTE)])
    assert sp.acl_differs(weaker, aces)
    assert sp.folder_aces(sp.SID_SYSTEM, sp.MODIFY) == aces[:2]  # SYSTEM has full control already


def test_a_folder_above_the_binary_the_identity_cannot_list() -> None:
    account = sp.account_of("svc", "virtual", None, False)
    sids = sp.token_sids(account, service_sid("svc"))
    users_read = {"exists": True, "aces": [{"sid": "S-1-5-32-545", "mask": sp.READ_AND_EXECUTE, "type": "allow",
                                           "flags": ["OI", "CI"]}]}
    admins_only = {"exists": True, "aces": [{"sid": "S-1-5-32-544", "mask": sp.FULL_CONTROL, "type": "allow",
                                            "flags": ["OI", "CI"]}]}
    assert sp.unreadable_parent([("C:\\", users_read), ("C:\\opt", users_read)], sids) is None
    assert sp.unreadable_parent([("C:\\", users_read), ("C:\\opt", admins_only)], sids) == "C:\\opt"
    # a folder not there yet inherits from the nearest one above it
    assert sp.unreadable_parent([("C:\\", users_read), ("C:\\opt", admins_only), ("C:\\opt\\svc", {"exists": False})],
                                sids) == "C:\\opt"
    assert sp.unreadable_parent([("C:\\", users_read), ("C:\\new", {"exists": False})], sids) is None
    denied = {"exists": True, "aces": users_read["aces"] + [{"sid": service_sid("svc"), "mask": sp.READ_AND_EXECUTE,
                                                            "type": "deny", "flags": []}]}
    assert sp.unreadable_parent([("C:\\", denied)], sids) == "C:\\"


def test_an_old_x_sys_warns_unless_the_account_is_local_system() -> None:
    info = {"machine": "amd64", "go": True, "scm": {"dispatches": True, "rule": "svc.Run"},
            "build_info": {"settings": {"GOOS": "windows"},
                           "deps": [{"path": "golang.org/x/sys", "version": "v0.0.0-20210630005230-0f9fa26af87c"}]}}
    virtual = sp.account_of("svc", "virtual", None, False)
    system = sp.account_of("svc", "LocalSystem", None, True)
    warnings = sp.check_binary(info, "src", "amd64", False, "auto", virtual)
    assert len(warnings) == 1 and "golang/go#44921" in warnings[0] and warnings[0].startswith("src uses golang.org/x/sys")
    assert sp.check_binary(info, "src", "amd64", False, "auto", system) == []
    info["build_info"]["deps"][0]["replace"] = {"path": "golang.org/x/sys", "version": "v0.15.0"}
    assert sp.check_binary(info, "src", "amd64", False, "auto", virtual) == []  # the replacement is what is built in
    with pytest.raises(sp.ServiceError, match="GOOS=linux"):
        sp.check_binary(dict(info, build_info={"settings": {"GOOS": "linux"}}), "src", "amd64", False, "auto", virtual)
