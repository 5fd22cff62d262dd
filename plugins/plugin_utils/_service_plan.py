# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

The controller's half of win_service_go: from the module's options to the service configuration the
host should have (the arguments of the agent's service.set and firewall.set ops), and the comparison
of that with what service.get and firewall.get report, field by field, so that the host is sent only
what differs and a second run sends nothing. Pure Python; every refusal is a ServiceError whose message
names the option and what it accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import typing as t
from dataclasses import dataclass

from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import command_line, service_sid

__all__ = [
    "Account", "ServiceError", "account_of", "config_changes", "env_digest", "environment_of", "firewall_differs",
    "firewall_rule", "image_path", "recovery_of", "release_folder", "check_service_name",
]

DEFAULT_RECOVERY = [{"type": "restart", "delay_ms": 5000}, {"type": "restart", "delay_ms": 30000},
                    {"type": "restart", "delay_ms": 120000}]
START_MODES = ("auto", "delayed", "manual", "disabled")
SID_TYPES = ("unrestricted", "restricted", "none")
_ENV_NAME = re.compile(r"^[\x21-\x3c\x3e-\x7e]{1,255}$")
_GMSA = re.compile(r"^[^\\/@]+\\[^\\/@]+\$$")
_USER = re.compile(r"^(?:[^\\/@]+\\[^\\/@]+|[^\\/@]+@[^\\/@]+)$")
_SIDS = {"localsystem": "S-1-5-18", "localservice": "S-1-5-19", "networkservice": "S-1-5-20"}
_SCM_NAMES = {"localsystem": "LocalSystem", "localservice": "NT AUTHORITY\\LocalService",
              "networkservice": "NT AUTHORITY\\NetworkService"}
_SAME_ACCOUNT = {
    "localsystem": "localsystem", "nt authority\\system": "localsystem", ".\\localsystem": "localsystem",
    "nt authority\\localservice": "localservice", "nt authority\\local service": "localservice",
    "nt authority\\networkservice": "networkservice", "nt authority\\network service": "networkservice",
}


class ServiceError(Exception):
    """A refused option: the message names it and what it accepts."""


def check_service_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 256:
        raise ServiceError("name must be 1 to 256 characters")
    if "\\" in name or "/" in name:
        raise ServiceError("name must not contain '\\' or '/' (the Service Control Manager refuses them)")
    if any(ord(c) < 32 for c in name) or name.strip() != name:
        raise ServiceError("name must not contain control characters or start or end with a space")
    return name


@dataclass(frozen=True)
class Account:
    """The identity a service runs as."""

    kind: str  # virtual | LocalService | NetworkService | LocalSystem | gmsa | user
    scm_name: str  # what the SCM stores as ObjectName
    sid: str | None  # known without asking the host (None: resolve it there)
    needs_password: bool
    needs_logon_right: bool  # "Log on as a service" must be granted


def account_of(name: str, account: str | None, password: str | None, allow_local_system: bool) -> Account:
    value = (account or "virtual").strip()
    key = value.lower()
    if key == "virtual":
        found = Account("virtual", "NT SERVICE\\" + name, service_sid(name), False, False)
    elif key in ("localservice", "networkservice", "localsystem") or key in _SAME_ACCOUNT:
        canon = _SAME_ACCOUNT.get(key, key)
        if canon == "localsystem" and not allow_local_system:
            raise ServiceError("account LocalSystem runs the service with every right on the host: set allow_local_system: true "
                               "to accept that, or use virtual (the default), LocalService, NetworkService, a gMSA or a user")
        found = Account({"localservice": "LocalService", "networkservice": "NetworkService", "localsystem": "LocalSystem"}[canon],
                        _SCM_NAMES[canon], _SIDS[canon], False, False)
    elif key.startswith("nt service\\"):
        if key != ("nt service\\" + name).lower():
            raise ServiceError("account %s is the virtual account of another service; use virtual for this one's" % value)
        found = Account("virtual", "NT SERVICE\\" + name, service_sid(name), False, False)
    elif _GMSA.match(value):
        found = Account("gmsa", value, None, False, True)
    elif _USER.match(value):
        found = Account("user", value, None, True, True)
    else:
        raise ServiceError("account must be virtual, LocalService, NetworkService, LocalSystem, a gMSA (DOMAIN\\name$) or a user "
                           "(DOMAIN\\name, .\\name or name@domain)")
    if found.needs_password and not password:
        raise ServiceError("account %s is a user account: it needs password (a gMSA, DOMAIN\\name$, needs none)" % value)
    if password and not found.needs_password:
        raise ServiceError("password is only for a user account; %s takes none" % value)
    return found


def same_account(left: str, right: str) -> bool:
    def norm(a: str) -> str:
        lower = a.lower()
        return _SAME_ACCOUNT.get(lower, lower[2:] if lower.startswith(".\\") else lower)

    return norm(left) == norm(right)


def image_path(binary: str, args: t.Sequence[str]) -> str:
    """The image path: the binary and each argument quoted so the program gets them back one by one."""
    for arg in args:
        if not isinstance(arg, str):
            raise ServiceError("args must be a list of strings; quote numbers ('8080')")
        if "\0" in arg:
            raise ServiceError("args must not contain NUL")
    return command_line([binary, *args])


def environment_of(plain: dict | None, secret: dict | None) -> tuple[dict[str, str], dict[str, str]]:
    seen: dict[str, str] = {}
    out = []
    for option, values in (("environment", plain or {}), ("secret_environment", secret or {})):
        checked = {}
        for name, value in values.items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise ServiceError("%s names must be 1 to 255 printable ASCII characters without '=' or spaces" % option)
            if not isinstance(value, str):
                raise ServiceError("%s values must be strings; quote numbers and booleans (GOMAXPROCS: '4')" % option)
            if "\0" in value:
                raise ServiceError("%s values must not contain NUL" % option)
            if name.upper() in seen:
                raise ServiceError("%s names %s, which %s has too (names are case-insensitive)" % (option, name, seen[name.upper()]))
            seen[name.upper()] = option
            checked[name] = value
        out.append(checked)
    return out[0], out[1]


def env_digest(key: bytes, value: str) -> str:
    """What service.get reports for a value: HMAC-SHA256(key, SHA-256(UTF-8 value))."""
    return hmac.new(key, hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest(), hashlib.sha256).hexdigest()


def recovery_of(recovery: dict | None, allow_reboot_action: bool) -> dict:
    recovery = dict(recovery or {})
    actions = recovery.get("actions")
    actions = DEFAULT_RECOVERY if actions is None else actions
    checked = []
    for action in actions:
        kind = action.get("type")
        if kind not in ("restart", "run", "none", "reboot"):
            raise ServiceError("recovery actions type must be restart, run or none (reboot with allow_reboot_action: true)")
        if kind == "reboot" and not allow_reboot_action:
            raise ServiceError("recovery action reboot restarts the whole host when the service fails: set allow_reboot_action: true")
        delay = action.get("delay_ms", 0)
        if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 4294967295:
            raise ServiceError("recovery actions delay_ms must be an integer from 0 to 4294967295")
        checked.append({"type": kind, "delay_ms": delay})
    if len(checked) > 16:
        raise ServiceError("recovery takes at most 16 actions")
    reset = recovery.get("reset_after_s", 86400)
    if not isinstance(reset, int) or isinstance(reset, bool) or not 0 <= reset <= 4294967295:
        raise ServiceError("recovery reset_after_s must be an integer from 0 to 4294967295")
    command = recovery.get("command") or ""
    if any(a["type"] == "run" for a in checked) and not command:
        raise ServiceError("recovery command is needed for a run action")
    flag = recovery.get("on_non_crash_failure", True)
    return {"reset_after_s": reset, "actions": checked, "command": command, "on_non_crash_failure": bool(flag)}


def release_folder(install_root: str, name: str, sha256: str) -> str:
    return "%s\\%s\\releases\\%s" % (install_root.rstrip("\\"), name, sha256[:12].lower())


def config_changes(current: dict, desired: dict, plain_env: dict[str, str], secret_env: dict[str, str],
                   key: bytes) -> dict:
    """The service.set arguments that differ between service.get's `current` and `desired`.

    `desired` holds service.set fields (display_name, description, image_path, start_mode, account,
    sid_type, dependencies, recovery); the environment is compared by name and keyed digest.
    """
    if not current.get("exists"):
        out = dict(desired)
        if plain_env or secret_env:
            out["environment"], out["secret_environment"] = dict(plain_env), dict(secret_env)
        return out
    out = {}
    for field in ("display_name", "image_path", "start_mode", "sid_type"):
        if field in desired and current.get(field) != desired[field]:
            out[field] = desired[field]
    if "description" in desired and (current.get("description") or "") != (desired["description"] or ""):
        out["description"] = desired["description"] or ""
    if "account" in desired and not same_account(str(current.get("account") or ""), desired["account"]):
        out["account"] = desired["account"]
    if "dependencies" in desired and [d.lower() for d in current.get("dependencies") or []] != [d.lower() for d in desired["dependencies"]]:
        out["dependencies"] = list(desired["dependencies"])
    if "recovery" in desired:
        have = current.get("recovery") or {}
        want = desired["recovery"]
        if (have.get("reset_after_s"), have.get("actions"), have.get("command") or "", bool(have.get("on_non_crash_failure"))) != \
                (want["reset_after_s"], want["actions"], want["command"] or "", want["on_non_crash_failure"]):
            out["recovery"] = want
    wanted = {n.upper(): (n, env_digest(key, v)) for n, v in {**plain_env, **secret_env}.items()}
    have_env = {e["name"].upper(): (e["name"], e.get("digest")) for e in current.get("environment") or []}
    if wanted != have_env:
        out["environment"], out["secret_environment"] = dict(plain_env), dict(secret_env)
    return out


# ---- the firewall rule ----------------------------------------------------------------------


def _ports(port: t.Any) -> list[str]:
    values = port if isinstance(port, list) else [port]
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ServiceError("firewall port must be a port number, a range such as 8000-8080, or a list of them")
        text = str(value).strip()
        m = re.fullmatch(r"([0-9]{1,5})(?:-([0-9]{1,5}))?", text)
        if not m or not 1 <= int(m.group(1)) <= 65535 or (m.group(2) and not int(m.group(1)) <= int(m.group(2)) <= 65535):
            raise ServiceError("firewall port must be 1 to 65535 or a range such as 8000-8080; got %s" % text[:40])
        out.append(text)
    if not out:
        raise ServiceError("firewall port is required (a port number or a list of them)")
    return out


_KEYWORDS = {k.lower(): k for k in ("LocalSubnet", "DNS", "DHCP", "WINS", "DefaultGateway", "Internet", "Intranet",
                                    "IntranetRemoteAccess", "PlayToDevice")}


def _address(text: str) -> str:
    if not isinstance(text, str):
        raise ServiceError("firewall remote_addresses must be strings")
    keyword = _KEYWORDS.get(text.lower())
    if keyword:
        return keyword
    try:
        if "-" in text:
            low, high = (ipaddress.ip_address(x.strip()) for x in text.split("-", 1))
            if low.version != high.version or low > high:
                raise ValueError(text)
            return "%s-%s" % (low, high)
        if "/" in text:
            return str(ipaddress.ip_network(text.strip(), strict=False))
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ServiceError("firewall remote_addresses must be addresses, subnets (10.0.0.0/8), ranges (a-b) or keywords "
                           "(LocalSubnet, Internet, ...); got %s" % text[:60]) from None


def _meaning(address: str) -> str:
    """An address as Windows may report it (10.0.0.0/255.0.0.0, 10.1.2.3/32, an IPv6 address written
    out in full) reduced to one form; keywords compare case-insensitively."""
    try:
        if "-" in address:
            return "-".join(str(ipaddress.ip_address(x.strip())) for x in address.split("-", 1))
        net = ipaddress.ip_network(address.strip(), strict=False)
        return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
    except ValueError:
        return address.lower()


def firewall_rule(name: str, firewall: dict, program: str, display_name: str) -> dict:
    """The firewall.set arguments of the rule the module owns (gowin-<name>)."""
    protocol = (firewall.get("protocol") or "tcp").lower()
    if protocol not in ("tcp", "udp"):
        raise ServiceError("firewall protocol must be tcp or udp")
    profiles = firewall.get("profiles") or ["any"]
    for profile in profiles:
        if profile not in ("any", "domain", "private", "public"):
            raise ServiceError("firewall profiles must be any, domain, private or public")
    addresses = [_address(a) for a in firewall.get("remote_addresses") or []]
    return {
        "name": "gowin-" + name, "display_name": "gowin %s (%s)" % (display_name, name),
        "description": "Owned by gowin.server.win_service_go for the service %s; replaced as a whole when it differs." % name,
        "direction": "inbound", "action": "allow", "enabled": True, "protocol": protocol,
        "local_ports": _ports(firewall.get("port")), "remote_addresses": addresses,
        "profiles": ["any"] if "any" in profiles else [p for p in ("domain", "private", "public") if p in profiles],
        "program": program, "service": name,
    }


def firewall_differs(current: dict, desired: dict) -> bool:
    if not current.get("exists"):
        return True
    for field in ("display_name", "direction", "action", "enabled", "protocol", "service"):
        if current.get(field) != desired.get(field):
            return True
    if (current.get("program") or "").lower() != (desired.get("program") or "").lower():
        return True
    if sorted(current.get("local_ports") or []) != sorted(desired["local_ports"]):
        return True
    if sorted(current.get("profiles") or ["any"]) != sorted(desired["profiles"]):
        return True
    return sorted(_meaning(a) for a in current.get("remote_addresses") or []) != sorted(_meaning(a) for a in desired["remote_addresses"])
