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
import json
import re
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import command_line, service_sid

__all__ = [
    "Account", "ServiceError", "account_of", "acl_differs", "binary_view", "check_binary", "check_service_name", "config_changes",
    "env_digest", "environment_of", "firewall_differs", "firewall_rule", "folder_aces", "health_of", "image_path", "recovery_of",
    "release_folder", "token_sids", "unreadable_parent",
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
                raise ServiceError("%s names must be 1 to 255 printable ASCII characters without '=' or spaces, got %r"
                                   % (option, name if isinstance(name, str) else type(name).__name__))
            if not isinstance(value, str):
                raise ServiceError("%s values must be strings; quote numbers and booleans (GOMAXPROCS: '4'); %s is not"
                                   % (option, name))
            if "\0" in value:
                raise ServiceError("%s values must not contain NUL (the value of %s does)" % (option, name))
            if name.upper() in seen:
                raise ServiceError("%s names %s, which %s has too (names are case-insensitive)" % (option, name, seen[name.upper()]))
            seen[name.upper()] = option
            checked[name] = value
        out.append(checked)
    return out[0], out[1]


def env_digest(key: bytes, value: str) -> str:
    """What service.get reports for a value: HMAC-SHA256(key, SHA-256(UTF-8 value))."""
    return hmac.new(key, hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest(), hashlib.sha256).hexdigest()


def _known_keys(option: str, given: dict, known: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        word = "key" if len(unknown) == 1 else "keys"
        raise ServiceError("%s has no %s %s; it accepts %s" % (option, word, ", ".join(unknown), ", ".join(known)))


def recovery_of(recovery: dict | None, allow_reboot_action: bool) -> dict:
    recovery = dict(recovery or {})
    _known_keys("recovery", recovery, ("actions", "reset_after_s", "on_non_crash_failure", "command"))
    actions = recovery.get("actions")
    actions = DEFAULT_RECOVERY if actions is None else actions
    checked = []
    if not isinstance(actions, list):
        raise ServiceError("recovery actions must be a list of {type, delay_ms}")
    for action in actions:
        if not isinstance(action, dict):
            raise ServiceError("recovery actions must be a list of {type, delay_ms}, got an entry %r" % (action,))
        _known_keys("recovery actions entry", action, ("type", "delay_ms"))
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
    _known_keys("firewall", firewall, ("port", "protocol", "profiles", "remote_addresses"))
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


HEALTH_TIMES = (("startup_timeout_s", 60, 1, 3600), ("period_s", 2, 1, 3600), ("timeout_s", 5, 1, 3600),
                ("success_threshold", 1, 1, 100), ("failure_threshold", 3, 1, 100))
_HOST_PORT = re.compile(r"^(?:(\[[0-9A-Fa-f:.]+\]|[^:\s\[\]]+):)?([0-9]{1,5})$")


def _whole(option: str, value: t.Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ServiceError("%s must be a whole number from %d to %d, got %r" % (option, low, high, value))
    return value


def health_of(health: dict | None) -> dict | None:
    """The health.probe arguments (without the service) of the module's health option, or None without one."""
    if health is None:
        return None
    if not isinstance(health, dict):
        raise ServiceError("health must be a mapping with one of http, tcp or command")
    _known_keys("health", health, ("http", "tcp", "command") + tuple(t[0] for t in HEALTH_TIMES))
    given = [k for k in ("http", "tcp", "command") if health.get(k) is not None]
    if len(given) != 1:
        raise ServiceError("health needs exactly one of http, tcp or command, got %s" % (", ".join(given) or "none"))
    args: dict[str, t.Any] = {}
    for option, default, low, high in HEALTH_TIMES:
        value = health.get(option)
        args[option] = default if value is None else _whole("health %s" % option, value, low, high)
    kind = given[0]
    value = health[kind]
    if kind == "command":
        if not isinstance(value, list) or not value or not all(isinstance(x, str) for x in value) or not value[0].strip():
            raise ServiceError("health command must be a list of strings: the program on the host, then its arguments")
        if any("\0" in x for x in value):
            raise ServiceError("health command must not hold NUL characters")
        args["command"] = list(value)
    elif kind == "tcp":
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        found = _HOST_PORT.match(text.strip())
        port = int(found.group(2)) if found else 0
        if not found or not 1 <= port <= 65535:
            raise ServiceError("health tcp must be host:port (127.0.0.1:8443, [::1]:8443) or a port (8443, meaning 127.0.0.1), got %r" % (value,))
        args["tcp"] = {"host": (found.group(1) or "127.0.0.1").strip("[]"), "port": port}
    else:
        if not isinstance(value, dict):
            raise ServiceError("health http must be a mapping with url (and expect_status, body_regex, validate_certs)")
        _known_keys("health http", value, ("url", "expect_status", "body_regex", "validate_certs"))
        url = value.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        try:
            port_ok = parts is not None and (parts.port is None or 1 <= parts.port <= 65535)
        except ValueError:
            port_ok = False
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or any(c in url for c in " \t\r\n"):
            raise ServiceError("health http url must be an http or https URL on the host, such as http://127.0.0.1:8080/healthz, got %r" % (url,))
        if parts.username is not None or parts.password is not None:
            raise ServiceError("health http url must not hold a user name or password (the probe sends no credentials)")
        spec: dict[str, t.Any] = {"url": url, "expect_status": 200, "validate_certs": True}
        if value.get("expect_status") is not None:
            spec["expect_status"] = _whole("health http expect_status", value["expect_status"], 100, 599)
        if value.get("validate_certs") is not None:
            if not isinstance(value["validate_certs"], bool):
                raise ServiceError("health http validate_certs must be true or false")
            spec["validate_certs"] = value["validate_certs"]
        pattern = value.get("body_regex")
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern or len(pattern) > 1000:
                raise ServiceError("health http body_regex must be a regular expression of 1 to 1000 characters")
            try:
                re.compile(pattern)
            except re.error as err:
                raise ServiceError("health http body_regex is not a regular expression: %s" % err) from None
            spec["body_regex"] = pattern
        args["http"] = spec
    return args


WATCHDOG_FOLDER = "C:\\ProgramData\\GoWin\\watchdog"
WATCHDOG_TASK_FOLDER = "\\GoWin\\Watchdog"
WATCHDOG_TIMES = (("period_min", 5, 1, 1440), ("failure_threshold", 3, 1, 100))


def watchdog_of(watchdog: dict | None, health: dict | None, name: str) -> dict | None:
    """The watchdog option checked: {period_min, failure_threshold} when it is wanted, None when the service should
    have none (not given, or state absent). It needs the health check it runs, and a service name that can name its
    task and files (the SCM takes names a task path or file name cannot hold)."""
    if watchdog is None:
        return None
    if not isinstance(watchdog, dict):
        raise ServiceError("watchdog must be a mapping with period_min, failure_threshold and state")
    _known_keys("watchdog", watchdog, ("period_min", "failure_threshold", "state"))
    state = watchdog.get("state") or "present"
    if state not in ("present", "absent"):
        raise ServiceError("watchdog state must be present or absent, got %r" % (state,))
    if state == "absent":
        return None
    if health is None:
        raise ServiceError("watchdog needs health: the watchdog ends the service's process after failed checks of health, "
                           "so it needs the check (http, tcp or command) to run")
    if any(c in name for c in ':*?"<>|') or name.endswith("."):
        raise ServiceError("watchdog: the service name %r cannot name its scheduled task and files (it holds one of : * ? \" "
                           "< > | or ends with a dot); rename the service or leave watchdog out" % name)
    plan = {}
    for option, default, low, high in WATCHDOG_TIMES:
        value = watchdog.get(option)
        plan[option] = default if value is None else _whole("watchdog %s" % option, value, low, high)
    return plan


def watchdog_paths(name: str) -> dict:
    """Where a service's watchdog lives on the host."""
    base = WATCHDOG_FOLDER + "\\"
    return {"folder": WATCHDOG_FOLDER, "launcher": base + "watchdog.ps1", "agent": base + "agent.ps1",
            "settings": base + name + ".json", "state": base + name + ".state.json", "last": base + name + ".last.json",
            "task": WATCHDOG_TASK_FOLDER + "\\" + name}


def watchdog_settings(name: str, health: dict, failure_threshold: int, event_source: str) -> str:
    """The settings file's text (the launcher's agent reads it as data): the check of health, one attempt."""
    check = {k: v for k, v in health.items() if k in ("http", "tcp", "command", "timeout_s")}
    doc = {"version": 1, "service": name, "health": check, "failure_threshold": failure_threshold, "event_source": event_source}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def watchdog_arguments(paths: dict) -> str:
    """The scheduled task's arguments to powershell.exe: the fixed launcher and the settings file, nothing else."""
    return ('-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%s" -Settings "%s"' % (paths["launcher"], paths["settings"]))


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


# ---- the binary -----------------------------------------------------------------------------

XSYS_FIXED = "v0.0.0-20211216021012-1d35b9e2eb4e"  # golang/go#44921: svc.Run as a non-LocalSystem account


def _xsys_older(version: str) -> bool:
    """Whether an x/sys module version is older than XSYS_FIXED (pseudo-versions compare by their time)."""
    m = re.match(r"^v(\d+)\.(\d+)\.(\d+)(?:-(?:[0-9A-Za-z.]+\.)?(\d{14})-[0-9a-f]+)?", version or "")
    if not m:
        return False
    major, minor, patch, stamp = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if (major, minor, patch) != (0, 0, 0):
        return False  # every tagged x/sys release (v0.1.0, 2022) is newer
    return stamp is not None and stamp < "20211216021012"


def check_binary(info: dict, option: str, host_arch: str, allow_wow64: bool, service_protocol: str,
                 account: Account) -> list[str]:
    """Refuse a binary that cannot run as this service (ServiceError naming `option`); the warnings."""
    warnings = []
    machine = info.get("machine")
    if info.get("dll"):
        raise ServiceError("%s is a DLL, not a program" % option)
    if machine != host_arch:
        if machine == "386" and host_arch in ("amd64", "arm64"):
            if not allow_wow64:
                raise ServiceError("%s is a 32-bit (386) program and the host is %s: set allow_wow64: true to run it under "
                                   "WOW64, or build it with GOARCH=%s" % (option, host_arch, host_arch))
        else:
            raise ServiceError("%s is a program for %s and the host is %s: build it with GOOS=windows GOARCH=%s"
                               % (option, machine or "an unknown machine", host_arch, host_arch))
    build = info.get("build_info") or {}
    goos = (build.get("settings") or {}).get("GOOS")
    if goos and goos != "windows":
        raise ServiceError("%s was built for GOOS=%s: build it with GOOS=windows" % (option, goos))
    scm = info.get("scm") or {}
    if service_protocol != "native":
        if not scm.get("dispatches") and scm.get("rule") != "unknown" and (info.get("go") or service_protocol == "refuse"):
            raise ServiceError(
                "%s does not talk to the Windows Service Control Manager (%s): the SCM would kill it with error 1053 "
                "(the service did not respond in time) about 30 seconds after each start. Build it with "
                "golang.org/x/sys/windows/svc (svc.Run), or run it under a service wrapper (service_protocol: wrapper, with "
                "wrapper: shawl or winsw); service_protocol: native skips this check" % (option, scm.get("evidence", "no dispatcher found")))
        if not scm.get("dispatches"):
            why = "it is not a Go program" if not info.get("go") else scm.get("evidence", "")
            if service_protocol == "refuse":
                raise ServiceError("%s: whether it talks to the Service Control Manager cannot be told (%s), and "
                                   "service_protocol is refuse" % (option, why))
            warnings.append("%s: whether it talks to the Service Control Manager cannot be told (%s); if it does not, it "
                            "fails to start with error 1053" % (option, why))
    for dep in build.get("deps") or []:
        mod = dep.get("replace") or dep
        if dep.get("path") == "golang.org/x/sys" and _xsys_older(mod.get("version", "")) and account.kind != "LocalSystem":
            warnings.append("%s uses golang.org/x/sys %s, older than %s: svc.Run may fail to detect that it runs as a service "
                            "under an account other than LocalSystem (golang/go#44921); update golang.org/x/sys"
                            % (option, mod.get("version"), XSYS_FIXED))
    return warnings


def binary_view(info: dict) -> dict:
    """The `binary` result: what was read, without the parser's internals."""
    build = info.get("build_info")
    view = {k: info.get(k) for k in ("sha256", "size", "machine", "pe_format", "subsystem", "go")}
    view["scm"] = {k: (info.get("scm") or {}).get(k) for k in ("dispatches", "rule", "evidence")}
    view["signature"] = info.get("signature")
    if build:
        settings = build.get("settings") or {}
        view["build_info"] = {
            "go_version": build.get("go_version"), "path": build.get("path"),
            "main": {k: (build.get("main") or {}).get(k) for k in ("path", "version")} if build.get("main") else None,
            "vcs_revision": settings.get("vcs.revision"), "vcs_modified": settings.get("vcs.modified"),
            "goos": settings.get("GOOS"), "goarch": settings.get("GOARCH"), "cgo_enabled": settings.get("CGO_ENABLED"),
            "settings": dict(settings),
            "deps": [{"path": d.get("path"), "version": d.get("version"),
                      "replace": ({"path": d["replace"].get("path"), "version": d["replace"].get("version")}
                                  if d.get("replace") else None)} for d in build.get("deps") or []],
        }
    return view


# ---- folders and their ACLs -----------------------------------------------------------------

FULL_CONTROL, MODIFY, READ_AND_EXECUTE = 2032127, 1245631, 1179817
SID_SYSTEM, SID_ADMINISTRATORS = "S-1-5-18", "S-1-5-32-544"
# Groups in a service process's token besides its own identity (checked on the first real host).
_TOKEN_GROUPS = ("S-1-1-0", "S-1-5-11", "S-1-5-32-545", "S-1-5-6")
_LIST, _TRAVERSE, _GENERIC_ALL, _GENERIC_READ, _GENERIC_EXECUTE = 0x1, 0x20, 0x10000000, 0x80000000, 0x20000000


def folder_aces(identity_sid: str, mask: int) -> list[dict]:
    """The explicit ACEs of a folder the module owns (protected): SYSTEM and Administrators full, the identity `mask`."""
    aces = [{"identity": SID_SYSTEM, "mask": FULL_CONTROL, "type": "allow", "inherit": True},
            {"identity": SID_ADMINISTRATORS, "mask": FULL_CONTROL, "type": "allow", "inherit": True}]
    if identity_sid not in (SID_SYSTEM, SID_ADMINISTRATORS):
        aces.append({"identity": identity_sid, "mask": mask, "type": "allow", "inherit": True})
    return aces


def acl_differs(current: dict, aces: list[dict]) -> bool:
    """Whether acl.get's `current` is not exactly the protected ACL of these explicit ACEs."""
    if not current.get("exists") or not current.get("protected") or not current.get("canonical", True):
        return True
    have = sorted((a["sid"], a["mask"], a["type"], tuple(a.get("flags") or [])) for a in current.get("aces") or []
                  if not a.get("inherited"))
    want = sorted((a["identity"], a["mask"], a["type"], ("OI", "CI") if a["inherit"] else ()) for a in aces)
    return have != want or any(a.get("inherited") for a in current.get("aces") or [])


def token_sids(account: Account, identity_sid: str | None) -> set[str]:
    sids = set(_TOKEN_GROUPS)
    if identity_sid:
        sids.add(identity_sid)
    if account.kind == "virtual":
        sids.add("S-1-5-80-0")
    if account.kind == "LocalSystem":
        sids.update((SID_SYSTEM, SID_ADMINISTRATORS))
    return sids


def _reads(mask: int) -> bool:
    return bool(mask & _GENERIC_ALL) or (mask & (_LIST | _TRAVERSE)) == (_LIST | _TRAVERSE) or \
        (bool(mask & _GENERIC_READ) and bool(mask & _GENERIC_EXECUTE))


def unreadable_parent(parents: list[tuple[str, dict]], sids: set[str]) -> str | None:
    """The first folder (from the drive root down) the service identity cannot list and traverse, or None.

    `parents` are (path, acl.get data) from the root down. A folder that does not exist yet gets the
    container-inheritable ACEs of the nearest existing one above it (how Windows creates it)."""
    inherited: list[dict] | None = None
    for path, acl in parents:
        if acl.get("exists"):
            aces = [a for a in acl.get("aces") or [] if "IO" not in (a.get("flags") or [])]
            inherited = [a for a in acl.get("aces") or [] if "CI" in (a.get("flags") or [])]
        elif inherited is not None:
            aces = inherited
        else:
            continue
        if any(a["type"] == "deny" and a.get("sid") in sids and a["mask"] & (_LIST | _TRAVERSE | _GENERIC_ALL | _GENERIC_READ)
               for a in aces):
            return path
        if not any(a["type"] == "allow" and a.get("sid") in sids and _reads(a["mask"]) for a in aces):
            return path
    return None
