# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'service' (plugins/plugin_utils/_agent/service.ps1):
service.get, service.set, service.remove, service.start, service.stop, and the model of the
Service Control Manager behind them. A service's configuration IS its key under
HKLM\\SYSTEM\\CurrentControlSet\\Services (values as the SCM writes them); its run state (stopped or
running, process ID, exit code, whether a password was set: never the password) is kept beside the
registry in state["services"]. What a start does comes from the binary the image path names: its PE
machine, whether it talks to the SCM (_gobinary's verdict: a program that does not fails with 1053
after ServicesPipeTimeout, modelled without waiting), and a ``gowin-winsim-behaviour:{json}`` marker
(docs/winsim.md). A running service's executable is held open (in use) until it stops.
Secret environment values are never stored: the key holds ``NAME=`` + a marker with their SHA-256,
which is all service.get's digests need. Vectors: tests/contract/vectors/service.yml.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from ansible_collections.gowin.server.plugins.plugin_utils import _gobinary
from ansible_collections.gowin.server.plugins.plugin_utils import _wrapper
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    ENV_KEY,
    RUNNABLE,
    SERVICES_KEY,
    Args,
    Environ,
    JsonDict,
    Node,
    OpFailure,
    _op,
    parse_path,
)
from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import split_command_line

START_MODES = ("auto", "delayed", "manual", "disabled")
SID_TYPES = {"none": 0, "unrestricted": 1, "restricted": 3}
ACTION_TYPES = ("none", "restart", "reboot", "run")
RECOVERY_KEYS = ("reset_after_s", "actions", "command", "on_non_crash_failure")
U32 = 4294967295
SECRET_MARKER = "\ufffewinsim-secret-sha256:"
BEHAVIOUR_MARKER = b"gowin-winsim-behaviour:"
_ENV_NAME = re.compile(r"^[\x21-\x3c\x3e-\x7e]{1,255}$")
_SID = re.compile(r"^S-1-\d+(-\d+)+$")
CONTROL_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control"
NEVER_STARTED = 1077
PROCESS_ABORTED = 1067
SERVICE_SPECIFIC_ERROR = 1066
EXCEPTION_IN_SERVICE = 1064
FILE_NOT_FOUND = 2
BAD_EXE_FORMAT = 193
WIN32_TEXT = {
    2: "The system cannot find the file specified.",
    193: "%1 is not a valid Win32 application.",
    1053: "The service did not respond to the start or control request in a timely fashion.",
    1058: "The service cannot be started, either because it is disabled or because it has no enabled devices associated with it.",
    1068: "The dependency service or group failed to start.",
    1069: "The service did not start due to a logon failure.",
    1075: "The dependency service does not exist or has been marked for deletion.",
}
BUILTIN_ACCOUNTS = {
    "localsystem": "localsystem", "nt authority\\system": "localsystem", ".\\localsystem": "localsystem",
    "nt authority\\localservice": "localservice", "nt authority\\local service": "localservice",
    "nt authority\\networkservice": "networkservice", "nt authority\\network service": "networkservice",
}
SVCHOST = "c:\\windows\\system32\\svchost.exe"
LOGON_RIGHT = "SeServiceLogonRight"


def _name(a: Args, arg: str = "name") -> str:
    name = a.need_text(arg)
    if len(name) > 256:
        a.fail(arg, "must be at most 256 characters, got %d" % len(name))
    if "\\" in name or "/" in name:
        a.fail(arg, "must not contain '\\' or '/'")
    if any(ord(c) < 32 for c in name):
        a.fail(arg, "must not contain control characters")
    if name.strip() != name:
        a.fail(arg, "must not start or end with a space")
    return name


def _no_nul(a: Args, arg: str, value: str | None) -> None:
    if value is not None and "\0" in value:
        a.fail(arg, "must not contain NUL")


def _environment(a: Args, arg: str) -> list[tuple[str, str]] | None:
    raw = a.mapping(arg)
    if raw is None:
        return None
    out = []
    for name, value in raw.items():
        if not isinstance(value, str):
            a.fail(arg, "must map names to strings")
        if not _ENV_NAME.match(name):
            a.fail(arg, "names must be 1 to 255 printable ASCII characters without '=' or spaces")
        if "\0" in value:
            a.fail(arg, "has a value that holds NUL")
        out.append((name, value))
    return out


def _int_in(a: Args, arg: str, where: JsonDict, key: str, default: int) -> int:
    value = where.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U32:
        a.fail(arg, "%s must be an integer from 0 to %d" % (key, U32))
    return value


def _recovery(a: Args) -> JsonDict | None:
    raw = a.mapping("recovery")
    if raw is None:
        return None
    for key in raw:
        if key not in RECOVERY_KEYS:
            raise OpFailure("bad_args", "%s: argument 'recovery' has an unknown key '%s'; accepted: %s" % (a.op, key, ", ".join(RECOVERY_KEYS)))
    reset = _int_in(a, "recovery", raw, "reset_after_s", 86400)
    command = raw.get("command")
    if command is None:
        command = ""
    if not isinstance(command, str):
        a.fail("recovery", "command must be a string")
    _no_nul(a, "recovery", command)
    flag = raw.get("on_non_crash_failure")
    if flag is not None and not isinstance(flag, bool):
        a.fail("recovery", "on_non_crash_failure must be true or false")
    actions_raw = raw.get("actions")
    if actions_raw is None:
        actions_raw = []
    if not isinstance(actions_raw, list):
        a.fail("recovery", "actions must be a list")
    actions = []
    for item in actions_raw:
        if not isinstance(item, dict):
            a.fail("recovery", "actions must be mappings {type, delay_ms}")
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            a.fail("recovery", "action type is required")
        if kind not in ACTION_TYPES:
            a.fail("recovery", "action type must be one of none, restart, reboot, run")
        actions.append({"type": kind, "delay_ms": _int_in(a, "recovery", item, "delay_ms", 0)})
    if len(actions) > 16:
        a.fail("recovery", "takes at most 16 actions")
    if any(x["type"] == "run" for x in actions) and not command:
        a.fail("recovery", "needs a command for a 'run' action")
    return {"reset_after_s": reset, "actions": actions, "command": command, "on_non_crash_failure": bool(flag)}


def _failure_actions(data: str | None) -> JsonDict:
    raw = bytes.fromhex(data) if data else b""
    if len(raw) < 20:
        return {"reset_after_s": 0, "actions": []}
    count = int.from_bytes(raw[12:16], "little")
    actions = []
    for i in range(count):
        at = 20 + 8 * i
        if at + 8 > len(raw):
            break
        kind = int.from_bytes(raw[at:at + 4], "little")
        actions.append({"type": ACTION_TYPES[kind] if kind < 4 else "type_%d" % kind,
                        "delay_ms": int.from_bytes(raw[at + 4:at + 8], "little")})
    return {"reset_after_s": int.from_bytes(raw[0:4], "little"), "actions": actions}


def _failure_bytes(reset: int, actions: list[JsonDict]) -> str:
    out = reset.to_bytes(4, "little") + b"\0" * 8 + len(actions).to_bytes(4, "little") + b"\0" * 4
    for x in actions:
        out += ACTION_TYPES.index(x["type"]).to_bytes(4, "little") + x["delay_ms"].to_bytes(4, "little")
    return out.hex()


def _digest(key: bytes, entry_value: str) -> str:
    if entry_value.startswith(SECRET_MARKER):
        inner = bytes.fromhex(entry_value[len(SECRET_MARKER):])
    else:
        inner = hashlib.sha256(entry_value.encode("utf-8", "surrogatepass")).digest()
    return hmac.new(key, inner, hashlib.sha256).hexdigest()


def _digest_key(a: Args) -> bytes | None:
    text = a.text("digest_key")
    if text is None:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{32,128}", text) or len(text) % 2:
        a.fail("digest_key", "must be 32 to 128 hex digits (16 to 64 bytes)")
    return bytes.fromhex(text)


def behaviour_of(data: bytes) -> JsonDict:
    """The test behaviour a binary declares with gowin-winsim-behaviour:{json} (docs/winsim.md), or {}."""
    start = data.find(BEHAVIOUR_MARKER)
    while start >= 0:
        text = data[start + len(BEHAVIOUR_MARKER):start + len(BEHAVIOUR_MARKER) + 4096].decode("latin-1")
        if text.startswith("{"):
            try:
                found, _end = json.JSONDecoder().raw_decode(text)
            except ValueError:
                found = None
            if isinstance(found, dict):
                return found
        start = data.find(BEHAVIOUR_MARKER, start + 1)
    return {}


class ServiceOps:
    """The service ops of WinSimHost (a mixin over host.HostBase): the SCM model."""

    # ---- the model ---------------------------------------------------------------------------

    def _service_keys(self) -> JsonDict:
        key = self.registry.find(SERVICES_KEY)
        return {} if key is None else key["keys"]

    def _service_name(self, name: str) -> str | None:
        """The SCM's spelling of a Win32 service's name (a key with a Win32 service Type), or None."""
        for found, key in self._service_keys().items():
            if found.lower() == name.lower():
                kind = key["values"].get("Type", {}).get("data")
                return found if isinstance(kind, int) and kind & 0x30 else None
        return None

    def _run_record(self, name: str) -> JsonDict:
        records = self._state.setdefault("services", {})
        return records.setdefault(name.lower(), {"state": "stopped", "pid": None, "exit_code": NEVER_STARTED})

    def _run_record_view(self, name: str) -> JsonDict:
        """The run record for reading: a service never started has none stored, and a read stores none."""
        found = (self._state.get("services") or {}).get(name.lower())
        return dict(found) if found else {"state": "stopped", "pid": None, "exit_code": NEVER_STARTED}

    def _svc_value(self, name: str, value: str) -> object:
        found = self.registry.value(SERVICES_KEY + "\\" + name, value)
        return None if found is None else found["data"]

    def _service_info(self, name: str, key: bytes | None = None) -> JsonDict:
        canonical = self._service_name(name)
        if canonical is None:
            return {"exists": False}

        def v(value: str) -> object:
            return self._svc_value(canonical, value)

        start, delayed, sid = v("Start"), v("DelayedAutostart"), v("ServiceSidType")
        mode = {0: "boot", 1: "system", 2: "delayed" if delayed == 1 else "auto", 4: "disabled"}.get(start, "manual")
        failure = _failure_actions(v("FailureActions"))
        environment = []
        for entry in v("Environment") or []:
            eq = entry.find("=", 1)
            if eq < 1:
                continue
            row = {"name": entry[:eq]}
            if key is not None:
                row["digest"] = _digest(key, entry[eq + 1:])
            environment.append(row)
        record = self._run_record_view(canonical)
        kind = v("Type")
        return {
            "exists": True,
            "name": canonical,
            "display_name": str(v("DisplayName") or ""),
            "description": v("Description") or None,
            "image_path": str(v("ImagePath") or ""),
            "own_process": isinstance(kind, int) and bool(kind & 0x10),
            "start_mode": mode,
            "account": v("ObjectName") or "LocalSystem",
            "sid_type": {1: "unrestricted", 3: "restricted"}.get(sid, "none"),
            "dependencies": [d for d in v("DependOnService") or [] if d],
            "recovery": {"reset_after_s": failure["reset_after_s"], "actions": failure["actions"],
                         "command": v("FailureCommand") or None, "on_non_crash_failure": v("FailureActionsOnNonCrashFailures") == 1},
            "environment": environment,
            "state": record["state"],
            "pid": record["pid"],
            "exit_code": record["exit_code"],
        }

    def _existing(self, op: str, name: str) -> JsonDict:
        info = self._service_info(name)
        if not info["exists"]:
            raise OpFailure("not_found", "%s: there is no service named '%s'" % (op, name))
        return info

    def _account_ok(self, account: str, service: str) -> bool:
        """Whether the SCM takes this account for the service (Create/Change fail 22 otherwise)."""
        lower = account.lower()
        if lower in BUILTIN_ACCOUNTS:
            return True
        if lower.startswith("nt service\\"):
            other = account[len("nt service\\"):]
            return other.lower() == service.lower() or self._service_name(other) is not None
        return self.lookup_identity(account[2:] if account.startswith(".\\") else account) is not None

    def _set_value(self, name: str, value: str, reg_type: str, data: object) -> None:
        self.registry.set(SERVICES_KEY + "\\" + name, value, reg_type, data)

    # ---- service.get / service.set -------------------------------------------------------------

    @_op("service.get", "name", "digest_key")
    def _service_get(self, a: Args) -> JsonDict:
        name = _name(a)
        return self._service_info(name, _digest_key(a))

    @_op("service.set", "name", "create", "display_name", "description", "image_path", "start_mode", "account", "password",
         "sid_type", "dependencies", "recovery", "environment", "secret_environment", "digest_key")
    def _service_set(self, a: Args) -> JsonDict:
        name = _name(a)
        create = a.flag("create", False)
        display_name = a.text("display_name")
        description = a.text("description", empty=True)
        image_path = a.text("image_path")
        start_mode = a.text("start_mode")
        if start_mode is not None and start_mode not in START_MODES:
            a.fail("start_mode", "must be one of auto, delayed, manual, disabled")
        account = a.text("account")
        _no_nul(a, "account", account)
        if account is not None and len(account) > 256:
            a.fail("account", "must be at most 256 characters")
        password = a.text("password", empty=True)
        sid_type = a.text("sid_type")
        has_deps = a.given("dependencies")
        deps = a.strings("dependencies", [])
        recovery = _recovery(a)
        plain_env = _environment(a, "environment")
        secret_env = _environment(a, "secret_environment")
        key = _digest_key(a)
        for arg, value in (("display_name", display_name), ("description", description), ("image_path", image_path)):
            _no_nul(a, arg, value)
        if display_name is not None and len(display_name) > 256:
            a.fail("display_name", "must be at most 256 characters")
        if image_path is not None and len(image_path) > 32767:
            a.fail("image_path", "must be at most 32767 characters")
        if sid_type is not None and sid_type not in SID_TYPES:
            a.fail("sid_type", "must be one of none, unrestricted, restricted")
        for dep in deps:
            if not dep or len(dep) > 256 or "/" in dep or "\\" in dep or dep.startswith("+"):
                a.fail("dependencies", "must be service names (1 to 256 characters, no '/', '\\' or leading '+')")
        if password is not None and account is None:
            a.fail("password", "needs 'account'")
        all_env = None
        if plain_env is not None or secret_env is not None:
            secret_names = {n.upper() for n, _v in secret_env or []}
            items = sorted((plain_env or []) + (secret_env or []), key=lambda e: e[0].upper())
            for before, after in zip(items, items[1:]):
                if before[0].upper() == after[0].upper():
                    raise OpFailure("bad_args", "%s: the environment names '%s' twice (names are case-insensitive)" % (a.op, after[0]))
            all_env = [(n, SECRET_MARKER + hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest()
                        if n.upper() in secret_names else v) for n, v in items]

        applied: list[str] = []
        created = False
        canonical = self._service_name(name)
        if canonical is None:
            if not create:
                raise OpFailure("not_found", "service.set: there is no service named '%s' (create it with create: true)" % name)
            if image_path is None:
                raise OpFailure("bad_args", "service.set: creating a service needs 'image_path'")
            if name.lower() in self._service_keys_lower():
                raise OpFailure("exists", "service.set: creating the service failed: the service exists (23)")
            shown = display_name if display_name is not None else name
            self._check_display_name(name, shown,
                                     "service.set: creating the service failed: the display name is taken by another service (19)")
            if account is not None and not self._account_ok(account, name):
                raise OpFailure("identity_not_found", "service.set: creating the service failed: the account is not valid "
                                                      "or is not allowed to run a service (22)")
            mode = start_mode or "auto"
            self._set_value(name, "Type", "REG_DWORD", 16)
            self._set_value(name, "Start", "REG_DWORD", {"manual": 3, "disabled": 4}.get(mode, 2))
            self._set_value(name, "ErrorControl", "REG_DWORD", 1)
            self._set_value(name, "ImagePath", "REG_EXPAND_SZ", image_path)
            self._set_value(name, "DisplayName", "REG_SZ", shown)
            self._set_value(name, "ObjectName", "REG_SZ", account or "LocalSystem")
            if deps:
                self._set_value(name, "DependOnService", "REG_MULTI_SZ", deps)
            self._state.setdefault("services", {})[name.lower()] = {
                "state": "stopped", "pid": None, "exit_code": NEVER_STARTED, "password_set": bool(password)}
            created, canonical = True, name
            display_name = image_path = account = password = None
            has_deps = False
            if start_mode != "delayed":
                start_mode = None
        name = canonical
        if display_name is not None:
            self._check_display_name(name, display_name, "service.set: display_name failed (1078): The name is already in use as "
                                                         "either a service name or a service display name.")
            self._set_value(name, "DisplayName", "REG_SZ", display_name)
            applied.append("display_name")
        if image_path is not None:
            self._set_value(name, "ImagePath", "REG_EXPAND_SZ", image_path)
            applied.append("image_path")
        if start_mode is not None:
            self._set_value(name, "Start", "REG_DWORD", {"manual": 3, "disabled": 4}.get(start_mode, 2))
            self._set_value(name, "DelayedAutostart", "REG_DWORD", 1 if start_mode == "delayed" else 0)
            applied.append("start_mode")
        if account is not None:
            if not self._account_ok(account, name):
                raise OpFailure("identity_not_found", "service.set: account failed: the account is not valid or is not allowed to run a service (22)")
            self._set_value(name, "ObjectName", "REG_SZ", account)
            self._run_record(name)["password_set"] = bool(password)
            applied.append("account")
            if password is not None:
                applied.append("password")
        if description is not None:
            self._set_value(name, "Description", "REG_SZ", description)
            applied.append("description")
        if sid_type is not None:
            self._set_value(name, "ServiceSidType", "REG_DWORD", SID_TYPES[sid_type])
            applied.append("sid_type")
        if has_deps:
            if deps:
                self._set_value(name, "DependOnService", "REG_MULTI_SZ", deps)
            else:
                self.registry.remove_value(SERVICES_KEY + "\\" + name, "DependOnService")
            applied.append("dependencies")
        if recovery is not None:
            self._set_value(name, "FailureActions", "REG_BINARY", _failure_bytes(recovery["reset_after_s"], recovery["actions"]))
            self._set_value(name, "FailureCommand", "REG_SZ", recovery["command"])
            self._set_value(name, "FailureActionsOnNonCrashFailures", "REG_DWORD", 1 if recovery["on_non_crash_failure"] else 0)
            applied.append("recovery")
        if all_env is not None:
            if all_env:
                self._set_value(name, "Environment", "REG_MULTI_SZ", ["%s=%s" % e for e in all_env])
            else:
                self.registry.remove_value(SERVICES_KEY + "\\" + name, "Environment")
            applied.append("environment")
        return dict(self._service_info(name, key), changed=created or bool(applied), created=created, applied=applied)

    def _service_keys_lower(self) -> set[str]:
        return {k.lower() for k in self._service_keys()}

    def _check_display_name(self, name: str, display: str, message: str) -> None:
        for other, key in self._service_keys().items():
            if other.lower() == name.lower():
                continue
            shown = key["values"].get("DisplayName", {}).get("data")
            if display.lower() == other.lower() or (isinstance(shown, str) and shown.lower() == display.lower()):
                raise OpFailure("exists", message)

    # ---- service.remove -------------------------------------------------------------------------

    @_op("service.remove", "name")
    def _service_remove(self, a: Args) -> JsonDict:
        info = self._service_info(_name(a))
        if not info["exists"]:
            return {"changed": False, "delete_pending": False}
        if info["state"] != "stopped":
            raise OpFailure("in_use", "service.remove: the service '%s' is %s; stop it first" % (info["name"], info["state"]))
        self.registry.remove_key(SERVICES_KEY + "\\" + info["name"])
        self._state.setdefault("services", {}).pop(info["name"].lower(), None)
        return {"changed": True, "delete_pending": False}

    # ---- service.start / service.stop -----------------------------------------------------------

    def _start_failure(self, name: str, code: int, why: str) -> OpFailure:
        return OpFailure("service_failed", "service.start: '%s' did not start (%d): %s [winsim: %s]" % (name, code, WIN32_TEXT[code], why))

    def _program(self, image_path: str) -> tuple[str | None, str]:
        """The program the SCM would start for an image path (CreateProcess's reading), expanded with the machine's variables."""
        environ = Environ()
        environ.set("SystemRoot", "C:\\Windows")
        environ.set("SystemDrive", "C:")
        self._load_env_key(environ, ENV_KEY)
        line = environ.expand(image_path).strip()
        if line.startswith('"'):
            return (split_command_line(line) or [None])[0], line
        words = line.split(" ")
        for count in range(1, len(words) + 1):
            candidate = " ".join(words[:count])
            for path in (candidate, candidate + ".exe"):
                try:
                    node = self.resolve(parse_path(path, "image_path"))
                except OpFailure:
                    continue
                if node.kind == "file":
                    return path, line
        return words[0] or None, line

    def _start(self, op_name: str, info: JsonDict, chain: tuple[str, ...]) -> JsonDict:
        """Start one service (its dependencies first); returns how the start was modelled."""
        name = info["name"]
        if info["start_mode"] == "disabled":
            raise self._start_failure(name, 1058, "its start mode is disabled")
        for dep in info["dependencies"]:
            dep_info = self._service_info(dep)
            if not dep_info["exists"]:
                raise self._start_failure(name, 1075, "the dependency %s does not exist" % dep)
            if dep_info["state"] != "running" and dep.lower() not in chain:
                try:
                    self._start(op_name, dep_info, chain + (name.lower(),))
                except OpFailure as failure:
                    raise self._start_failure(name, 1068, "the dependency %s did not start: %s" % (dep, failure.message)) from None
        record = self._run_record(name)
        account = info["account"]
        lower = account.lower()
        if lower not in BUILTIN_ACCOUNTS:
            if lower.startswith("nt service\\"):
                if lower[len("nt service\\"):] != name.lower():
                    raise self._start_failure(name, 1069, "%s is the virtual account of another service" % account)
            else:
                sid = self.lookup_identity(account[2:] if account.startswith(".\\") else account)
                holders = self._state.get("rights", {}).get(LOGON_RIGHT, ["*S-1-5-80-0"])
                if sid is None:
                    raise self._start_failure(name, 1069, "the account %s does not exist" % account)
                if not account.endswith("$") and not record.get("password_set"):
                    raise self._start_failure(name, 1069, "no password was set for %s" % account)
                if "*" + sid not in holders:
                    raise self._start_failure(name, 1069, "%s does not hold %s (Log on as a service)" % (account, LOGON_RIGHT))
        program, line = self._program(info["image_path"])
        if program is not None and program.lower() == SVCHOST:
            how = "a Windows service hosted by svchost.exe: started as the SCM would"
            behaviour: JsonDict = {}
        else:
            node = None
            if program is not None:
                try:
                    node = self.resolve(parse_path(program, "image_path"))
                except OpFailure:
                    node = None
            if node is None or node.kind != "file":
                raise self._start_failure(name, 2, "the image path names %s, which does not exist" % program)
            with open(node.real, "rb") as handle:
                data = handle.read()
            try:
                found = _gobinary.inspect(data)
            except _gobinary.BinaryError as exc:
                raise self._start_failure(name, 193, "%s is not a PE image: %s" % (program, exc)) from None
            if found["machine"] not in RUNNABLE.get(self.arch, ()):
                raise self._start_failure(name, 193, "%s is a %s program on a %s host" % (program, found["machine"], self.arch))
            wrapped = _wrapper.recognise(data)
            if wrapped["kind"] is not None:
                return self._start_wrapped(name, record, node, line, wrapped)
            if not found["scm"]["dispatches"]:
                timeout = self._reg_data(CONTROL_KEY, "ServicesPipeTimeout", 30000)
                raise self._start_failure(name, 1053, "modelled from the binary, after ServicesPipeTimeout %s ms: %s"
                                          % (timeout, found["scm"]["evidence"]))
            behaviour = behaviour_of(data)
            how = "the binary %s (PE %s, %s: %s)%s" % (
                program, found["machine"], found["scm"]["rule"], found["scm"]["evidence"],
                "; behaviour %s" % json.dumps(behaviour, sort_keys=True) if behaviour else "")
            if behaviour.get("start") == "exit":
                code = behaviour.get("exit_code", 1)
                record.update(state="stopped", pid=None, exit_code=int(code) if isinstance(code, int) else 1)
                raise OpFailure("service_failed", "service.start: '%s' stopped while starting (exit code %d) [winsim: %s]"
                                % (name, record["exit_code"], how))
            locked = self._state["locked"]
            if node.path.key not in [p.lower() for p in locked]:
                locked.append(str(node.path))
            record["image"] = str(node.path)
        record.update(state="running", pid=self._next_pid(), exit_code=0, behaviour=behaviour, uptime_ms=0)
        return {"modelled": True, "modelled_from": how}

    def _wrapped_child(self, name: str, node: Node, line: str, kind: str) -> str:
        """The program a wrapper would run: after '--' on shawl's command line, WinSW's <executable>."""
        if kind == "shawl":
            argv = split_command_line(line)
            if len(argv) < 2 or argv[1] != "run" or "--" not in argv or argv.index("--") + 1 >= len(argv):
                raise self._start_failure(name, 1053, "shawl was started without 'run ... -- <program>': it printed its usage and exited")
            return argv[argv.index("--") + 1]
        config = _wrapper.config_file(str(node.path))
        try:
            xml_node = self.resolve(parse_path(config, "config"))
        except OpFailure:
            xml_node = None
        if xml_node is None or xml_node.kind != "file":
            raise self._start_failure(name, 1053, "WinSW found no configuration %s beside its executable and exited" % config)
        with open(xml_node.real, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
        found = re.search(r"<executable>([^<]*)</executable>", text)
        if found is None:
            raise self._start_failure(name, 1053, "the WinSW configuration %s has no <executable>" % config)
        folder = str(node.path).rsplit("\\", 1)[0]
        return found.group(1).replace("&amp;", "&").replace("%BASE%", folder)

    def _start_wrapped(self, name: str, record: JsonDict, node: Node, line: str, wrapped: JsonDict) -> JsonDict:
        """A service wrapper (shawl, WinSW) starts: it talks to the SCM and runs its program, whose marker says the rest."""
        kind = wrapped["kind"]
        child = self._wrapped_child(name, node, line, kind)
        try:
            child_node = self.resolve(parse_path(child, "program"))
        except OpFailure:
            child_node = None
        how = "the %s wrapper %s (%s), running %s" % (kind, node.path, wrapped["evidence"], child)

        def cannot_launch(win32: int, why: str) -> OpFailure:
            # The program's CreateProcess failed: shawl reports that Win32 error as the service's exit code; WinSW
            # (.NET's ServiceBase, its OnStart throwing) reports 1064, as the stand-ins (tests/fixtures/go/wrapper) do.
            code = win32 if kind == "shawl" else EXCEPTION_IN_SERVICE
            record.update(state="stopped", pid=None, exit_code=code)
            return OpFailure("service_failed", "service.start: '%s' stopped while starting (exit code %d): its wrapper could not start "
                                               "%s: %s [winsim: %s]" % (name, code, child, why, how))

        if child_node is None or child_node.kind != "file":
            raise cannot_launch(FILE_NOT_FOUND, WIN32_TEXT[FILE_NOT_FOUND])
        with open(child_node.real, "rb") as handle:
            data = handle.read()
        try:
            found = _gobinary.inspect(data)
        except _gobinary.BinaryError as exc:
            raise cannot_launch(BAD_EXE_FORMAT, "it is not a PE image (%s)" % exc) from None
        if found["machine"] not in RUNNABLE.get(self.arch, ()):
            raise cannot_launch(BAD_EXE_FORMAT, "it is a %s program on a %s host" % (found["machine"], self.arch))
        behaviour = behaviour_of(data)
        behaviour.pop("stop", None)  # the wrapper ends it after its Ctrl+C timeout: the stop reaches the SCM
        if behaviour.get("start") == "exit":
            # shawl reports the program's exit as a service-specific error; WinSW ends itself without telling the SCM
            code = SERVICE_SPECIFIC_ERROR if kind == "shawl" else PROCESS_ABORTED
            record.update(state="stopped", pid=None, exit_code=code)
            raise OpFailure("service_failed", "service.start: '%s' stopped while starting (exit code %d): the program exited with %s "
                                              "[winsim: %s]" % (name, code, behaviour.get("exit_code", 1), how))
        locked = self._state["locked"]
        for path in (node.path, child_node.path):
            if path.key not in [p.lower() for p in locked]:
                locked.append(str(path))
        record["image"] = str(node.path)
        record["wrapped"] = str(child_node.path)
        record.update(state="running", pid=self._next_pid(), exit_code=0, behaviour=behaviour, uptime_ms=0, wrapper=kind)
        return {"modelled": True, "modelled_from": how + ("; behaviour %s" % json.dumps(behaviour, sort_keys=True) if behaviour else "")}

    def _next_pid(self) -> int:
        pid = int(self._state.get("next_pid", 4100))
        self._state["next_pid"] = pid + 4
        return pid

    def _stopped(self, name: str, exit_code: int) -> None:
        record = self._run_record(name)
        image = record.pop("image", None)
        wrapped = record.pop("wrapped", None)
        record.pop("wrapper", None)
        record.pop("uptime_ms", None)
        record.update(state="stopped", pid=None, exit_code=exit_code, behaviour={})
        if image is not None:
            still = [r.get(k, "").lower() for r in self._state["services"].values() if r.get("state") == "running" for k in ("image", "wrapped")]
            for held in (image, wrapped):
                if held is not None and held.lower() not in still:
                    self._state["locked"] = [p for p in self._state["locked"] if p.lower() != held.lower()]

    @_op("service.start", "name", "timeout_s")
    def _service_start(self, a: Args) -> JsonDict:
        name = _name(a)
        a.number("timeout_s", 30, 1, 3600)
        info = self._existing("service.start", name)
        if info["state"] == "running":
            return {"changed": False, "state": "running", "pid": info["pid"]}
        how = self._start("service.start", info, ())
        record = self._run_record(info["name"])
        return dict({"changed": True, "state": "running", "pid": record["pid"], "waited_ms": 0}, **how)

    @_op("service.stop", "name", "timeout_s")
    def _service_stop(self, a: Args) -> JsonDict:
        name = _name(a)
        timeout = a.number("timeout_s", 30, 1, 3600)
        info = self._existing("service.stop", name)
        if info["state"] == "stopped":
            return {"changed": False, "state": "stopped", "stopped_by": None}
        running = []
        for other in self._service_keys():
            other_info = self._service_info(other) if self._service_name(other) else {"exists": False}
            if other_info["exists"] and other_info["state"] != "stopped" and \
                    info["name"].lower() in [d.lower() for d in other_info["dependencies"]]:
                running.append(other_info["name"])
        if running:
            raise OpFailure("in_use", "service.stop: '%s' has running dependent services: %s; stop them first" % (info["name"], ", ".join(running)))
        record = self._run_record(info["name"])
        if (record.get("behaviour") or {}).get("stop") == "hang":
            if not info["own_process"]:
                raise OpFailure("timeout", "service.stop: '%s' did not stop within %d seconds, and its process is shared or unknown" % (info["name"], timeout))
            self._stopped(info["name"], PROCESS_ABORTED)
            return {"changed": True, "state": "stopped", "stopped_by": "kill", "modelled": True,
                    "modelled_from": "the binary's behaviour marker: it ignores stop requests, so after %d s its process tree was ended" % timeout}
        self._stopped(info["name"], 0)
        return {"changed": True, "state": "stopped", "stopped_by": "scm", "modelled": True,
                "modelled_from": "the service accepted the stop request"}

    # ---- test and bench API -----------------------------------------------------------------

    def service_state(self, name: str) -> JsonDict:
        """A service's run record as the model keeps it (state, pid, exit_code, password_set, image)."""
        with self._transaction():
            canonical = self._service_name(name)
            if canonical is None:
                raise KeyError("no service named %r" % name)
            return self._run_record_view(canonical)

    def crash_service(self, name: str, exit_code: int = PROCESS_ABORTED) -> None:
        """The service's process ends on its own (as a crash does): stopped, with that exit code."""
        with self._transaction():
            canonical = self._service_name(name)
            if canonical is None or self._run_record_view(canonical)["state"] != "running":
                raise ValueError("%r is not a running service" % name)
            self._stopped(canonical, exit_code)
