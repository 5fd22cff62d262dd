# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Planning for go_env and go_verify: the Go variables and PATH at machine or user scope, as pure
functions of the probe's data.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

from ansible_collections.gowin.server.plugins.plugin_utils import _goenv as ge
from ansible_collections.gowin.server.plugins.plugin_utils import _install_plan as ip
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp

MACHINE_ENV = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
USER_ENV = "HKCU\\Environment"
# The longest value a Windows environment variable can hold.
MAX_VALUE = 32767

# option name -> variable name, in the order results list them
OPTION_VARS = {
    "goroot": "GOROOT", "gopath": "GOPATH", "gobin": "GOBIN", "gomodcache": "GOMODCACHE", "gocache": "GOCACHE",
    "goproxy": "GOPROXY", "gosumdb": "GOSUMDB", "goprivate": "GOPRIVATE", "gonoproxy": "GONOPROXY",
    "gonosumdb": "GONOSUMDB", "goinsecure": "GOINSECURE", "goflags": "GOFLAGS", "cgo_enabled": "CGO_ENABLED",
    "gotoolchain": "GOTOOLCHAIN", "goamd64": "GOAMD64",
}
# The go command keeps its telemetry mode in the user's config (what `go telemetry MODE` writes),
# not in the environment: golang.org/x/telemetry internal/telemetry Dir.SetModeAsOf.
TELEMETRY_DEFAULT = "local"
_VAR_REF = re.compile(r"%([^%;]+)%")


def scope_key(scope: str) -> str:
    return MACHINE_ENV if scope == "machine" else USER_ENV


# ---------------------------------------------------------------- desired values


def desired_values(params: dict) -> tuple[dict[str, str], list[str]]:
    """Validate the options given (state=present) -> ({NAME: value}, warnings). Raises GoEnvError."""
    values: dict[str, str] = {}
    warnings: list[str] = []
    get = params.get
    if get("goroot") is not None:
        values["GOROOT"] = ge.validate_path("goroot", get("goroot"))
    if get("gopath") is not None:
        values["GOPATH"] = ge.validate_path("gopath", get("gopath"), allow_list=True)
    for option in ("gobin", "gomodcache", "gocache"):
        if get(option) is not None:
            values[OPTION_VARS[option]] = ge.validate_path(option, get(option))
    if get("goproxy") is not None:
        values["GOPROXY"], more = ge.validate_goproxy("goproxy", get("goproxy"), bool(get("allow_plain_http")))
        warnings += more
    if get("gosumdb") is not None:
        values["GOSUMDB"] = ge.validate_gosumdb("gosumdb", get("gosumdb"))
    for option in ("goprivate", "gonoproxy", "gonosumdb", "goinsecure"):
        if get(option) is not None:
            values[OPTION_VARS[option]] = ge.validate_patterns(option, get(option))
    if get("goflags") is not None:
        values["GOFLAGS"], more = ge.validate_goflags("goflags", get("goflags"), bool(get("allow_unknown_goflags")))
        warnings += more
    if get("cgo_enabled") is not None:
        values["CGO_ENABLED"] = "1" if get("cgo_enabled") else "0"
    if get("gotoolchain") is not None:
        values["GOTOOLCHAIN"] = ge.validate_gotoolchain("gotoolchain", get("gotoolchain"))
    if get("goamd64") is not None:
        values["GOAMD64"] = ge.validate_goamd64("goamd64", get("goamd64"))
    values.update(ge.validate_extra("extra", get("extra") or {}, set(OPTION_VARS.values())))
    return values, warnings


def named_variables(params: dict) -> list[str]:
    """state=absent: the variables the options given name."""
    names = [var for option, var in OPTION_VARS.items() if params.get(option) is not None]
    for name in params.get("extra") or {}:
        if not re.fullmatch(r"(GO[A-Z0-9_]*|CGO_[A-Z0-9_]+)", str(name)):
            raise ge.GoEnvError("extra: %r is not a Go variable name (GO... or CGO_..., upper case)" % name)
        names.append(str(name))
    return names


def check_path_entry(entry: t.Any) -> str:
    if not isinstance(entry, str) or not entry.strip():
        raise ge.GoEnvError("path entries must be absolute folders such as C:\\opt\\go\\current\\bin, got %r" % (entry,))
    text = entry.strip()
    if ";" in text or '"' in text or any(ord(c) < 32 for c in text):
        raise ge.GoEnvError("path entries must not contain ';', '\"' or control characters, got %r" % entry)
    if _VAR_REF.match(text):  # %GOPATH%\bin: kept as written, like Windows does
        return text
    try:
        return wp.check_absolute("path", text)
    except wp.PathError as err:
        raise ge.GoEnvError(str(err) + " (or a %VAR%\\... reference)") from None


# ---------------------------------------------------------------- PATH


def path_key(entry: str, env: dict[str, str] | None = None) -> str:
    """How two PATH entries compare: quotes and a trailing backslash ignored, case-insensitive, %VAR% expanded."""
    text = entry.strip().strip('"').strip()
    if env:
        lower = {k.lower(): v for k, v in env.items()}
        text = _VAR_REF.sub(lambda m: lower.get(m.group(1).lower(), m.group(0)), text)
    text = text.replace("/", "\\")
    while len(text) > 3 and text.endswith("\\"):
        text = text[:-1]
    return text.lower()


def split_path(data: str | None) -> list[str]:
    return data.split(";") if data else []


def ensure_entries(current: list[str], wanted: list[str], env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Append the wanted entries that are missing; nothing else moves. -> (new list, added)."""
    have = {path_key(e, env) for e in current if e.strip()}
    added = []
    for entry in wanted:
        key = path_key(entry, env)
        if key not in have:
            added.append(entry)
            have.add(key)
    base = list(current)
    while base and not base[-1].strip():  # no ';;' between the old list and the additions
        base.pop()
    return (base + added if added else list(current)), added


def remove_entries(current: list[str], unwanted: list[str], env: dict[str, str]) -> tuple[list[str], list[str]]:
    keys = {path_key(e, env) for e in unwanted}
    kept = [e for e in current if not e.strip() or path_key(e, env) not in keys]
    removed = [e for e in current if e.strip() and path_key(e, env) in keys]
    return kept, removed


# ---------------------------------------------------------------- probe and observation


def probe_ops(params: dict, read_go_env: bool = True) -> tuple[list[dict], list[str]]:
    """The probe, and a tag for each optional op after the first six (what observe() files it under).

    read_go_env: read GOROOT\\go.env (go_env's `go env` view needs it; go_verify asks the real go command)."""
    ops = [
        {"op": "host.facts", "args": {}},
        {"op": "registry.get", "args": {"path": MACHINE_ENV}},
        {"op": "registry.get", "args": {"path": USER_ENV}},
        {"op": "registry.get", "args": {"path": ip.TOOLCHAINS_KEY, "depth": 1}},
        {"op": "file.stat", "args": {"path": wp.join(params["install_root"], "current"), "read": False}},
    ]
    goroot = params.get("goroot") or wp.join(params["install_root"], "current")
    ops.append({"op": "file.stat", "args": {"path": wp.join(goroot, "go.env"), "read": read_go_env}})
    tags = []
    for option in ("gomodcache", "gocache"):
        if params.get(option) and params.get("state", "present") == "present":
            ops.append({"op": "acl.get", "args": {"path": params[option]}})
            tags.append(option)
    if params.get("session_script"):
        ops.append({"op": "file.stat", "args": {"path": params["session_script"], "read": True}})
        tags.append("session_script")
    return ops, tags


@dataclass
class EnvObserved:
    facts: dict
    machine: dict[str, dict]  # name -> {"type", "data"} as stored
    user: dict[str, dict]
    records: dict
    active: str | None
    current_exists: bool
    goroot_go_env: str | None
    acls: dict[str, dict] = field(default_factory=dict)
    session_script: dict | None = None

    def scope_values(self, scope: str) -> dict[str, dict]:
        return self.machine if scope == "machine" else self.user


def observe(tags: list[str], data: list[dict]) -> EnvObserved:
    reg_toolchains = data[3]
    active = ip.active_version(reg_toolchains)
    goenv = data[5]
    obs = EnvObserved(
        facts=data[0],
        machine=data[1].get("values") or {},
        user=data[2].get("values") or {},
        records=reg_toolchains.get("keys") or {},
        active=active,
        current_exists=bool(data[4].get("exists")),
        goroot_go_env=goenv.get("content") if goenv.get("exists") else None,
    )
    for tag, d in zip(tags, data[6:]):
        if tag == "session_script":
            obs.session_script = d
        else:
            obs.acls[tag] = d
    return obs


def lookup(values: dict[str, dict], name: str) -> tuple[str | None, dict | None]:
    """(stored name, {"type","data"}) of a value, case-insensitively."""
    for stored, value in values.items():
        if stored.lower() == name.lower():
            return stored, value
    return None, None


def default_goroot(params: dict, obs: EnvObserved) -> str | None:
    if obs.active and obs.current_exists:
        return wp.join(params["install_root"], "current")
    return None


# ---------------------------------------------------------------- plan


@dataclass
class EnvPlan:
    ops: list[dict] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    variables: dict[str, dict] = field(default_factory=dict)
    path_before: list[str] = field(default_factory=list)
    path_after: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    after_scope: dict[str, dict] = field(default_factory=dict)  # the scope's values after the plan
    telemetry: dict | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def expect_of(value: dict | None) -> dict | None:
    """What a conditional registry write expects to find: the value as the probe read it."""
    if value is None:
        return {"exists": False}
    if value.get("type") in ("REG_SZ", "REG_EXPAND_SZ", "REG_DWORD", "REG_QWORD", "REG_MULTI_SZ", "REG_BINARY", "REG_NONE"):
        return {"type": value["type"], "data": value.get("data")}
    return None  # a type the protocol cannot name: written unconditionally


def _conditional(args: dict, value: dict | None) -> dict:
    expect = expect_of(value)
    if expect is not None:
        args["expect"] = expect
    return args


def _owner_only_aces(user_sid: str) -> list[dict]:
    return [
        {"identity": ip.SID_ADMINS, "mask": ip.FULL_CONTROL, "type": "allow", "inherit": True},
        {"identity": ip.SID_SYSTEM, "mask": ip.FULL_CONTROL, "type": "allow", "inherit": True},
        {"identity": user_sid, "mask": ip.FULL_CONTROL, "type": "allow", "inherit": True},
    ]


def plan(params: dict, obs: EnvObserved, desired: dict[str, str], names: list[str], path_entries: list[str],
         today: str = "1970-01-01") -> EnvPlan:
    """desired: NAME -> value (present); names: variables to remove (absent); today: for `go telemetry on`."""
    scope = params["scope"]
    key = scope_key(scope)
    values = obs.scope_values(scope)
    out = EnvPlan()
    after = {k: dict(v) for k, v in values.items()}
    present = params["state"] == "present"
    for name in (list(desired) if present else names):
        stored, value = lookup(values, name)
        before = value.get("data") if value else None
        target = desired.get(name) if present else None
        out.variables[name] = {"before": before, "after": target}
        if before == target:
            continue
        if target is None:
            out.ops.append({"op": "registry.remove", "args": _conditional({"path": key, "name": stored}, value)})
            out.changes.append("remove %s" % name)
            after.pop(stored, None)
        else:
            out.ops.append({"op": "registry.set", "args": _conditional(
                {"path": key, "name": stored or name, "type": "REG_SZ", "data": target}, value)})
            out.changes.append("set %s" % name)
            after[stored or name] = {"type": "REG_SZ", "data": target}

    # PATH: entries compare with %VAR% expanded by the values this scope will have
    stored, value = lookup(values, "Path")
    out.path_before = split_path(value.get("data") if value else None)
    env = {k: v["data"] for k, v in obs.machine.items() if isinstance(v.get("data"), str)}
    env.update({k: v["data"] for k, v in after.items() if isinstance(v.get("data"), str)})
    if present:
        new, out.added = ensure_entries(out.path_before, path_entries, env)
    else:
        new, out.removed = remove_entries(out.path_before, path_entries, env)
    out.path_after = new
    if out.added or out.removed:
        data = ";".join(new)
        if len(data) > MAX_VALUE:
            raise ge.GoEnvError("path: the %s PATH would be %d characters, more than Windows allows (%d)" % (scope, len(data), MAX_VALUE))
        # the machine Path is REG_EXPAND_SZ; a user Path keeps its type (REG_EXPAND_SZ when new)
        kind = "REG_EXPAND_SZ" if scope == "machine" or value is None else value.get("type", "REG_EXPAND_SZ")
        out.ops.append({"op": "registry.set", "args": _conditional(
            {"path": key, "name": stored or "Path", "type": kind, "data": data}, value)})
        out.changes += ["add %s to the %s PATH" % (e, scope) for e in out.added]
        out.changes += ["remove %s from the %s PATH" % (e, scope) for e in out.removed]
        after[stored or "Path"] = {"type": kind, "data": data}
    if out.ops:
        out.ops.append({"op": "env.notify", "args": {}})

    if present:
        for option in ("gomodcache", "gocache"):
            folder = desired.get(OPTION_VARS[option])
            if folder is None:
                continue
            aces = _owner_only_aces(obs.facts.get("user_sid", ""))
            acl = obs.acls.get(option)
            if not ip.acl_matches(acl, aces):
                if not (acl or {}).get("exists"):
                    out.ops.append({"op": "dir.ensure", "args": {"path": folder}})
                    out.changes.append("create %s" % folder)
                out.ops.append({"op": "acl.set", "args": {"path": folder, "protected": True, "aces": aces}})
                out.changes.append("restrict %s to its owner, Administrators and SYSTEM" % folder)

    telemetry = params.get("gotelemetry")
    mode_file = (obs.facts.get("go_user_config") or {}).get("telemetry_mode") or {}
    if telemetry is not None and mode_file.get("path"):
        have = telemetry_mode(obs)
        if present and have != telemetry:
            # `go telemetry on` records the day it was turned on
            content = telemetry if telemetry != "on" else "on " + today
            out.ops.append({"op": "file.write", "args": {"path": mode_file["path"], "content": content}})
            out.changes.append("set the go telemetry mode of %s to %s (was %s)" % (obs.facts.get("user_name"), telemetry, have))
        elif not present and mode_file.get("exists"):
            out.ops.append({"op": "path.remove", "args": {"path": mode_file["path"], "recurse": False}})
            out.changes.append("remove the go telemetry mode file (back to %s)" % TELEMETRY_DEFAULT)
        out.telemetry = {"before": have, "after": telemetry if present else TELEMETRY_DEFAULT}

    script = params.get("session_script")
    if script:
        exists = bool((obs.session_script or {}).get("exists"))
        if present:
            text = session_script_text(desired, path_entries)
            if not exists or (obs.session_script or {}).get("content") != text:
                out.ops.append({"op": "file.write", "args": {"path": script, "content": text, "encoding": "utf8bom"}})
                out.changes.append("write %s" % script)
        elif exists:
            out.ops.append({"op": "path.remove", "args": {"path": script, "recurse": False}})
            out.changes.append("remove %s" % script)
    out.after_scope = after
    return out


# Every character PowerShell's tokenizer takes for a single quote (it accepts the typographic ones too).
_PS_SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def _ps_quote(value: str) -> str:
    """A PowerShell single-quoted literal: the value stays data (every kind of quote doubled, nothing expands)."""
    for quote in _PS_SINGLE_QUOTES:
        value = value.replace(quote, quote + quote)
    return "'" + value + "'"


def session_script_text(desired: dict[str, str], path_entries: list[str]) -> str:
    lines = [
        "# Written by gowin.server.go_env; changes made here are overwritten.",
        "# Dot-source it to get the Go environment in this session:  . '<this file>'",
    ]
    for name in sorted(desired):
        lines.append("$env:%s = %s" % (name, _ps_quote(desired[name])))
    if path_entries:
        lines.append("foreach ($gowinEntry in @(%s)) {" % ", ".join(_ps_quote(e) for e in path_entries))
        lines.append("    $gowinHave = @($env:Path -split ';' | Where-Object { $_.Trim('\"').TrimEnd('\\') -ieq $gowinEntry.TrimEnd('\\') })")
        lines.append("    if ($gowinHave.Count -eq 0) { $env:Path = $gowinEntry + ';' + $env:Path }")
        lines.append("}")
    return "\r\n".join(lines) + "\r\n"


def default_path_entries(desired: dict[str, str], obs: EnvObserved, scope: str) -> list[str]:
    entries = []
    goroot = desired.get("GOROOT") or (lookup(obs.scope_values(scope), "GOROOT")[1] or {}).get("data")
    if goroot:
        entries.append(wp.join(goroot, "bin"))
    gobin = desired.get("GOBIN") or (lookup(obs.scope_values(scope), "GOBIN")[1] or {}).get("data")
    if gobin:
        entries.append(gobin)
    return entries


# ---------------------------------------------------------------- effective view


def go_relevant(name: str) -> bool:
    return name.upper().startswith(("GO", "CGO_")) or name.lower() == "path"


def telemetry_mode(obs: EnvObserved) -> str:
    mode_file = (obs.facts.get("go_user_config") or {}).get("telemetry_mode") or {}
    words = (mode_file.get("content") or "").split()
    return words[0] if mode_file.get("exists") and words and words[0] in ("off", "local", "on") else TELEMETRY_DEFAULT


def user_go_env(obs: EnvObserved) -> str | None:
    env_file = (obs.facts.get("go_user_config") or {}).get("env_file") or {}
    return env_file.get("content") if env_file.get("exists") else None


def effective(obs: EnvObserved, scope: str, after_scope: dict[str, dict], telemetry: str | None = None) -> dict:
    machine = after_scope if scope == "machine" else obs.machine
    user = after_scope if scope == "user" else obs.user
    env = ge.effective_windows_env(machine, user)
    facts = obs.facts
    goroot = next((v for k, v in env.items() if k.upper() == "GOROOT"), None) or ""
    go_env = ge.go_env_view(
        env, user_go_env(obs), obs.goroot_go_env, goroot=goroot, version=goroot_version(obs) or "",
        goarch=facts.get("arch") or "amd64", user_profile=facts.get("user_profile") or "",
        appdata=facts.get("appdata") or "", local_appdata=facts.get("local_appdata") or "",
        telemetry_mode=telemetry or telemetry_mode(obs),
    )
    return {
        "environment": {k: ge.redact_url(v) for k, v in sorted(env.items()) if go_relevant(k)},
        "go_env": {k: ge.redact_url(v) for k, v in go_env.items()},
    }


def goroot_version(obs: EnvObserved) -> str | None:
    return ("go" + obs.active) if obs.active else None
