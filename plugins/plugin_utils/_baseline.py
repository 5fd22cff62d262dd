# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Baselines for dsc_baseline, all on the controller: loading and validating documents (the shipped
JSON schema, then the checks a schema cannot say), choosing the settings that apply to a host, the
read ops of one probe, Test (status and evidence per setting), waivers, the Set ops of an enforce, and
the lockout guard. Pure functions of their inputs; the action plugin does the round trips.
docs/baseline-format.md describes documents; docs/agent-protocol.md the ops.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import typing as t

import yaml

from ansible_collections.gowin.server.plugins.plugin_utils._jsonschema import Validator

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_baselines")
SCHEMA_PATH = os.path.join(HERE, "baseline.schema.json")
SHIPPED = ("go_server",)
RELEASES = {14393: "ws2016", 17763: "ws2019", 20348: "ws2022", 26100: "ws2025"}
STATUSES = ("compliant", "non_compliant", "fixed", "waived", "not_applicable", "error")
SCHANNEL = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL"
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
# Where an enforce notes the settings it set that take effect only after a restart, with the boot time it
# saw: until the host has started again (boot_time moved on by more than BOOT_SLACK_S), an audit reports them
# reboot_required.
PENDING_KEY = "HKLM\\SOFTWARE\\GoWin\\Baseline"
# Readings of LastBootUpTime in one boot differ by up to this much (Windows moves it by a few seconds when it syncs
# the clock). The one copy in Python (the winsim twin of the agent's wdac family imports same_boot from here); the
# agent's is $script:WdacBootSlackS in wdac.ps1.
BOOT_SLACK_S = 30
# boot_time as the agent writes it (host.facts, the wdac record's Boot): 'yyyy-MM-ddTHH:mm:ssZ' in UTC, exactly what
# the agent's TryParseExact of that format takes back (two digits each, no leap second).
BOOT_TEXT = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z")

# The lockout guard's registry values (docs/dsc_baseline guards): what would cut a network logon.
POLICIES_SYSTEM = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"
MSV1_0 = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa\\MSV1_0"
WINRM_SERVICE_POLICY = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WinRM\\Service"
SERVICES_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services"
# Inbound rules Windows ships for WinRM (the ones `winrm quickconfig` enables), by port.
WINRM_RULES = {5985: ("WINRM-HTTP-In-TCP", "WINRM-HTTP-In-TCP-PUBLIC", "WINRM-HTTP-In-TCP-NoScope"),
               5986: ("WINRM-HTTPS-In-TCP", "WINRM-HTTPS-In-TCP-PUBLIC", "WINRM-HTTPS-In-TCP-NoScope")}
SID_EVERYONE, SID_NETWORK, SID_AUTH_USERS = "S-1-1-0", "S-1-5-2", "S-1-5-11"
SID_ADMINS, SID_USERS, SID_LOCAL, SID_LOCAL_ADMIN = "S-1-5-32-544", "S-1-5-32-545", "S-1-5-113", "S-1-5-114"


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Bounds on a document, checked before it is validated: nesting (YAML flow brackets or indentation, before
# parsing: a parser recursing thousands of levels deep can crash the worker), values in all (YAML aliases make a
# small file hold a huge structure), and strings (as Windows takes them).
MAX_DOC_DEPTH = 16
MAX_DOC_VALUES = 200_000
MAX_TEXT = 32767
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _DocLoader(_SAFE_LOADER):  # pylint: disable=too-many-ancestors
    """The safe loader, refusing a key given twice in one mapping (the last one would win silently)."""


def _map_without_duplicates(loader: t.Any, node: t.Any) -> t.Iterator[dict]:
    data: dict = {}
    yield data
    seen: set = set()
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, "found the key %r twice in one mapping" % (key,), key_node.start_mark)
            seen.add(key)
        except TypeError:
            pass  # an unhashable key: construct_mapping refuses it
    data.update(loader.construct_mapping(node))


_DocLoader.add_constructor("tag:yaml.org,2002:map", _map_without_duplicates)


class BaselineError(Exception):
    """A document, an option or a waiver the module refuses (the message names what and where)."""


# ---------------------------------------------------------------------------------------- documents

_VALIDATOR: Validator | None = None


def schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


def validator() -> Validator:
    global _VALIDATOR  # pylint: disable=global-statement
    if _VALIDATOR is None:
        _VALIDATOR = Validator(schema())
    return _VALIDATOR


def _where(doc: t.Any, path: tuple, origin: str) -> str:
    """'<origin> settings[3] (id fs.long_paths) expect.value' for a path into a document."""
    parts = [origin] if origin else []
    rest = list(path)
    if len(rest) >= 2 and rest[0] == "settings" and isinstance(rest[1], int):
        index = rest[1]
        label = "settings[%d]" % index
        try:
            sid = doc["settings"][index].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            sid = None
        if isinstance(sid, str):
            label += " (id %s)" % sid
        parts.append(label)
        rest = rest[2:]
    if not rest and len(parts) <= 1:
        parts.append("the document")
    field = ""
    for p in rest:
        field += "[%d]" % p if isinstance(p, int) else ("." if field else "") + str(p)
    if field:
        parts.append(field)
    return " ".join(parts) if parts else "the document"


def check_document(doc: t.Any, origin: str) -> None:
    """Raise BaselineError listing every problem (at most 10), each naming the setting and field."""
    found = validator().errors(doc)
    if not found and isinstance(doc, dict):
        found = _semantic_errors(doc)
    if found:
        lines = ["%s: %s" % (_where(doc, path, origin), message) for path, message in found[:10]]
        more = "" if len(found) <= 10 else " (and %d more)" % (len(found) - 10)
        raise BaselineError("; ".join(lines) + more)


def _semantic_errors(doc: dict) -> list[tuple[tuple, str]]:
    """What the schema cannot say: unique ids, ranges that hold their own value, consistent services."""
    out: list[tuple[tuple, str]] = []
    seen: dict[str, int] = {}
    for i, s in enumerate(doc.get("settings", [])):
        path = ("settings", i)
        low = s["id"].lower()
        if low in seen:
            out.append((path + ("id",), "repeats the id of settings[%d]" % seen[low]))
        seen.setdefault(low, i)
        e = s["expect"]
        if "value" in e and ("min" in e or "max" in e) and isinstance(e["value"], int):
            lo, hi = e.get("min"), e.get("max")
            if lo is not None and hi is not None and lo > hi:
                out.append((path + ("expect",), "min %d is above max %d" % (lo, hi)))
            elif (lo is not None and e["value"] < lo) or (hi is not None and e["value"] > hi):
                out.append((path + ("expect", "value"), "%d is outside min..max, yet it is what enforce writes" % e["value"]))
        if s["kind"] == "service" and e.get("start_mode") == "disabled" and e.get("state") == "running":
            out.append((path + ("expect",), "a disabled service cannot be running: start_mode disabled with state running"))
        if s["kind"] == "registry":
            problem = _key_problem(e["key"])
            if problem:
                out.append((path + ("expect", "key"), problem))
            if e.get("type") == "REG_MULTI_SZ" and "" in e.get("value", []):
                out.append((path + ("expect", "value"), "holds an empty string, which REG_MULTI_SZ cannot hold (the list ends there)"))
        if s["kind"] == "security_policy" and e["section"] == "system_access":
            lo, hi = SYSTEM_ACCESS_RANGES[e["key"]]
            for field in ("value", "min", "max"):
                if field in e and not lo <= e[field] <= hi:
                    out.append((path + ("expect", field), "%d is outside what Windows takes for %s (%d to %d)" % (e[field], e["key"], lo, hi)))
    if not out:
        out = [(("settings",), c) for c in _conflicts(doc)]
    return out


# What Windows takes for each [System Access] value (secedit; the Local Security Policy editor's ranges).
SYSTEM_ACCESS_RANGES = {
    "MinimumPasswordAge": (0, 998), "MaximumPasswordAge": (-1, 999), "MinimumPasswordLength": (0, 128),
    "PasswordComplexity": (0, 1), "PasswordHistorySize": (0, 24), "LockoutBadCount": (0, 999),
    "ResetLockoutCount": (1, 99999), "LockoutDuration": (-1, 99999), "RequireLogonToChangePassword": (0, 1),
    "ForceLogoffWhenHourExpire": (0, 1), "ClearTextPassword": (0, 1), "LSAAnonymousNameLookup": (0, 1),
    "EnableAdminAccount": (0, 1), "EnableGuestAccount": (0, 1),
}


def _key_problem(key: str) -> str | None:
    """A registry key spelled as no setting means it: '/' between key names (a literal character in a key
    name, so nothing would read that key; cipher names under SCHANNEL\\Ciphers hold one), a name with a
    leading or trailing space."""
    parts = key.split("\\")
    for i, part in enumerate(parts):
        if part != part.strip():
            return "the key name %r has a leading or trailing space" % part
        cipher = i >= 2 and parts[i - 1].lower() == "ciphers" and parts[i - 2].lower() == "schannel"
        if "/" in part and not cipher:
            return "has '/' in the key name %r: registry keys are separated by \\ (a '/' is a character of the name)" % part
    return None


def _targets(s: dict) -> list[tuple[tuple, t.Any]]:
    """What a setting makes true, as (the value it sets, the value), to find two settings that contradict."""
    kind, e = s["kind"], s["expect"]
    if kind == "registry":
        want = ("absent",) if e.get("state") == "absent" else (e["type"], json.dumps(e["value"]), e.get("min"), e.get("max"))
        return [(("registry", _canonical_key(e["key"]), e["name"].lower()), want)]
    if kind == "tls":
        key = _canonical_key(_tls_key(e))
        on = e["enabled"]
        out = [(("registry", key, "enabled"), ("tls", on))]
        if "cipher" not in e:
            out.append((("registry", key, "disabledbydefault"), ("tls", on)))
        return out
    if kind == "audit_policy":
        return [(("audit", e["subcategory"].upper(), side), e[side]) for side in ("success", "failure") if side in e]
    if kind == "security_policy":
        if e["section"] == "system_access":
            return [(("system_access", e["key"]), (e["value"], e.get("min"), e.get("max")))]
        return [(("right", e["right"], e.get("match", "exact")), tuple(sorted(x.upper() for x in e["holders"])))]
    if kind == "service":
        return [(("service", e["name"].lower(), k), e[k]) for k in ("start_mode", "state") if k in e]
    if kind == "optional_feature":
        return [(("feature", e["name"].lower()), e["state"])]
    if kind == "wdac":
        return [(("wdac", e["record"].lower()), (e["example"], e["mode"], policy_name(e)))]
    return [(("firewall", e["profile"], k), v) for k, v in e.items() if k != "profile"]


def _conflicts(doc: dict) -> list[str]:
    seen: dict[tuple, tuple[str, t.Any]] = {}
    out = []
    for s in doc["settings"]:
        for target, value in _targets(s):
            if target in seen and seen[target][1] != value:
                out.append("%s and %s set the same thing (%s) to different values" % (seen[target][0], s["id"], " ".join(str(x) for x in target)))
            seen.setdefault(target, (s["id"], value))
    return out


def _canonical_key(key: str) -> str:
    """Lower case, with ControlSet00N read as CurrentControlSet (what it links to on a running host)."""
    return re.sub(r"(?i)^hklm\\system\\controlset\d{3}\\", lambda _m: "hklm\\system\\currentcontrolset\\", key).lower()


def _nesting_problem(text: str) -> str | None:
    """Too deep to parse safely (checked on the text: flow brackets, then indentation)."""
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > 4 * MAX_DOC_DEPTH:
                return "nests brackets more than %d levels deep" % (4 * MAX_DOC_DEPTH)
        elif ch in "]}":
            depth = max(0, depth - 1)
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) - len(line.lstrip(" ")) > 16 * MAX_DOC_DEPTH:
            return "is indented more than %d spaces at line %d" % (16 * MAX_DOC_DEPTH, number)
    return None


def check_values(doc: t.Any, origin: str) -> None:
    """Refuse a structure deeper than MAX_DOC_DEPTH, with more than MAX_DOC_VALUES values (aliases
    counted as the copies they stand for), or with strings no Windows setting can hold."""
    count = 0
    stack: list[tuple[t.Any, int, tuple]] = [(doc, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        count += 1
        if count > MAX_DOC_VALUES:
            raise BaselineError("%s: the document holds more than %d values (YAML aliases count as copies)" % (origin, MAX_DOC_VALUES))
        if depth > MAX_DOC_DEPTH:
            raise BaselineError("%s: %s: nested more than %d levels deep" % (origin, _where(doc, path, ""), MAX_DOC_DEPTH))
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise BaselineError("%s %s: is %d characters long; Windows takes at most %d" % (origin, _where(doc, path, ""), len(value), MAX_TEXT))
            bad = _CONTROL.search(value)
            if bad:
                raise BaselineError("%s %s: contains the control character U+%04X, which a setting cannot hold"
                                    % (origin, _where(doc, path, ""), ord(bad.group())))
        elif isinstance(value, dict):
            stack.extend((v, depth + 1, path + (k,)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, path + (i,)) for i, v in enumerate(value))


def _parse(path: str, baseline: str) -> t.Any:
    if not os.path.isfile(path):
        raise BaselineError("baseline: %s is not a file on the controller" % baseline)
    size = os.path.getsize(path)
    if size > MAX_DOCUMENT_BYTES:
        raise BaselineError("baseline: %s is %d bytes; a baseline document is at most %d" % (baseline, size, MAX_DOCUMENT_BYTES))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    problem = _nesting_problem(text)
    if problem:
        raise BaselineError("baseline: %s %s" % (baseline, problem))
    if path.lower().endswith(".json"):
        try:
            return json.loads(text)
        except ValueError as err:
            raise BaselineError("baseline: %s is not valid JSON: %s" % (baseline, err)) from None
    return yaml.load(text, Loader=_DocLoader)  # nosec: a safe loader (no Python tags), libyaml's when present


def load(baseline: str, settings: list | None, source_dir: str | None = None) -> dict:
    """The document named by the `baseline` option (a shipped name or a file on the controller), with
    the `settings` option's entries replacing settings of the same id or added at the end."""
    if baseline in SHIPPED:
        path, origin = os.path.join(HERE, baseline + ".yml"), "baseline %s:" % baseline
    elif re.match(r"^[a-z][a-z0-9_]*$", baseline):
        raise BaselineError("baseline: %r is not a shipped baseline (shipped: %s) and not a path to a document"
                            % (baseline, ", ".join(SHIPPED)))
    elif not baseline.strip():
        raise BaselineError("baseline: must not be empty: give a shipped baseline (%s) or the path of a document" % ", ".join(SHIPPED))
    else:
        path = os.path.expanduser(baseline)
        path = path if os.path.isabs(path) or not source_dir else os.path.join(source_dir, path)
        origin = "baseline %s:" % baseline
    try:
        doc = _parse(path, baseline)
    except OSError as err:
        raise BaselineError("baseline: cannot read %s on the controller: %s" % (baseline, err.strerror or err)) from None
    except UnicodeDecodeError:
        raise BaselineError("baseline: %s is not UTF-8 text" % baseline) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = " at line %d column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise BaselineError("baseline: %s is not valid YAML%s: %s" % (baseline, where, getattr(err, "problem", err))) from None
    check_values(doc, origin)
    check_document(doc, origin)
    if settings:
        extra = {"schema": doc["schema"], "name": doc["name"], "title": doc["title"], "settings": list(settings)}
        check_values(extra, "settings:")
        check_document(extra, "settings:")
        merged = {s["id"].lower(): s for s in doc["settings"]}
        for s in settings:
            merged[s["id"].lower()] = s
        doc = dict(doc, settings=list(merged.values()))
        if len(doc["settings"]) > 2000:
            raise BaselineError("settings: the baseline and the settings option together hold %d settings; at most 2000" % len(doc["settings"]))
        conflicts = _conflicts(doc)
        if conflicts:
            raise BaselineError("settings: " + "; ".join(conflicts[:5]))
    return doc


# ---------------------------------------------------------------------------------------- selection


def host_release(facts: dict) -> tuple[str | None, bool]:
    """('ws2022', core?) from host.facts; the release is None for a build this collection does not know."""
    return RELEASES.get(int(facts.get("os_build") or 0)), str(facts.get("installation_type", "")).lower() == "server core"


def check_selection(doc: dict, include: list[str], exclude: list[str]) -> None:
    ids = {s["id"].lower() for s in doc["settings"]}
    tags = {tag for s in doc["settings"] for tag in s.get("tags", [])}
    low_tags = {tag.lower() for tag in tags}
    for option, words in (("include", include), ("exclude", exclude)):
        for word in words:
            if word.lower() not in ids and word.lower() not in low_tags:
                raise BaselineError("%s: %r is neither a setting id nor a tag of baseline %s (tags: %s)"
                                    % (option, word, doc["name"], ", ".join(sorted(tags)) or "none"))


def selected(doc: dict, include: list[str], exclude: list[str]) -> list[dict]:
    """The settings include/exclude choose (an opt_in setting only when include names it or its tag)."""
    inc = {w.lower() for w in include}
    exc = {w.lower() for w in exclude}
    out = []
    for s in doc["settings"]:
        words = {s["id"].lower()} | {tag.lower() for tag in s.get("tags", [])}
        if words & exc:
            continue
        if (include or s.get("opt_in")) and not words & inc:
            continue
        if s["kind"] == "wdac" and s["expect"]["mode"] == "enforced" and s["id"].lower() not in inc:
            continue  # an enforced WDAC policy only when include names the setting itself
        out.append(s)
    return out


def applies(setting: dict, release: str | None, core: bool) -> str | None:
    """Why the setting does not apply to this host, or None."""
    listed = setting.get("applies_to") or []
    releases = [x for x in listed if x.startswith("ws")]
    kinds = [x for x in listed if x in ("core", "desktop")]
    if releases and release not in releases:
        return "applies to %s; this host is %s" % (", ".join(releases), release or "a release this baseline does not know")
    if kinds and ("core" if core else "desktop") not in kinds:
        return "applies to %s installations; this host is %s" % (" and ".join(kinds), "Server Core" if core else "Desktop Experience")
    return None


# ---------------------------------------------------------------------------------------- waivers


def check_waivers(waivers: list[dict], doc: dict, today: dt.date) -> tuple[dict, list[dict]]:
    """In-force waivers by lower-case id, and the report of every waiver (expired ones flagged)."""
    ids = {s["id"].lower(): s["id"] for s in doc["settings"]}
    active: dict[str, dict] = {}
    report = []
    for i, w in enumerate(waivers):
        label = "waivers[%d]" % i
        if not isinstance(w, dict):
            raise BaselineError("%s: must be a mapping with id, reason, expires and approved_by" % label)
        unknown = set(w) - {"id", "reason", "expires", "approved_by"}
        if unknown:
            raise BaselineError("%s: unknown field(s) %s; accepted: id, reason, expires, approved_by" % (label, ", ".join(sorted(unknown))))
        wid = w.get("id")
        if wid is None:
            raise BaselineError("%s: needs an id (the setting it waives)" % label)
        if not isinstance(wid, str) or wid.lower() not in ids:
            raise BaselineError("%s: id %r is not a setting of baseline %s" % (label, wid, doc["name"]))
        label += " (id %s)" % wid
        reason = w.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise BaselineError("%s: a waiver needs a reason (why the setting is not applied, for the auditor)" % label)
        expires = w.get("expires")
        if isinstance(expires, dt.date) and not isinstance(expires, dt.datetime):
            day = expires
        elif isinstance(expires, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", expires):
            try:
                day = dt.date.fromisoformat(expires)
            except ValueError:
                raise BaselineError("%s: expires %r is not a date" % (label, expires)) from None
        elif expires is None:
            raise BaselineError("%s: needs expires, the last day it is in force (YYYY-MM-DD)" % label)
        else:
            raise BaselineError("%s: expires must be a date YYYY-MM-DD, got %r" % (label, str(expires)[:40]))
        approved = w.get("approved_by")
        if approved is not None and (not isinstance(approved, str) or not approved.strip()):
            raise BaselineError("%s: approved_by must be a name" % label)
        expired = day < today
        entry = {"id": ids[wid.lower()], "reason": reason, "expires": day.isoformat(), "approved_by": approved,
                 "expired": expired, "applied": False}
        report.append(entry)
        if not expired:
            if wid.lower() in active:
                raise BaselineError("%s: the setting already has a waiver in force (waivers[%d])" % (label, active[wid.lower()]["index"]))
            active[wid.lower()] = dict(entry, index=i)
    return active, report


# ---------------------------------------------------------------------------------------- reads


def _tls_key(e: dict) -> str:
    if "cipher" in e:
        return SCHANNEL + "\\Ciphers\\" + e["cipher"]
    return SCHANNEL + "\\Protocols\\%s\\%s" % (e["protocol"], "Server" if e["side"] == "server" else "Client")


def policy_name(e: dict) -> str:
    """The name a wdac setting's policy carries (PolicyName in its XML)."""
    return e.get("name") or ("GoWin " + e["record"])[:64]  # a policy name holds 64 characters at most


def registry_keys(setting: dict) -> list[str]:
    if setting["kind"] == "registry":
        return [setting["expect"]["key"]]
    if setting["kind"] == "tls":
        return [_tls_key(setting["expect"])]
    return []


def probe_ops(settings: list[dict], guard_rules: list[str] = (), pending: bool = False) -> tuple[list[dict], list[tuple]]:
    """The read ops for these settings (each store read once) and a tag per op; with `pending`, the record of
    settings that wait for a restart too."""
    ops: list[dict] = []
    tags: list[tuple] = []
    seen: set = set()

    def add(tag: tuple, op: dict) -> None:
        if tag not in seen:
            seen.add(tag)
            ops.append(op)
            tags.append(tag)

    features = []
    for s in settings:
        kind, e = s["kind"], s["expect"]
        for key in registry_keys(s):
            add(("registry", key.lower()), {"op": "registry.get", "args": {"path": key, "depth": 0}})
        if kind == "audit_policy":
            add(("audit",), {"op": "auditpol.get", "args": {}})
        elif kind == "security_policy":
            add(("secpol",), {"op": "policy.export", "args": {}})
        elif kind == "service":
            add(("service", e["name"].lower()), {"op": "service.get", "args": {"name": e["name"]}})
        elif kind == "optional_feature" and e["name"].lower() not in [f.lower() for f in features]:
            features.append(e["name"])
        elif kind == "firewall_profile":
            add(("fwprofile",), {"op": "firewall.profile_get", "args": {}})
        elif kind == "wdac":
            add(("wdac",), {"op": "wdac.get", "args": {}})
    for i in range(0, len(features), 50):
        add(("features", i), {"op": "feature.get", "args": {"names": features[i:i + 50]}})
    for name in guard_rules:
        add(("rule", name.lower()), {"op": "firewall.get", "args": {"name": name}})
    if pending:
        add(("registry", PENDING_KEY.lower()), {"op": "registry.get", "args": {"path": PENDING_KEY, "depth": 0}})
    return ops, tags


def observe(tags: list[tuple], data: list[dict]) -> dict:
    obs: dict = {"registry": {}, "services": {}, "features": {}, "rules": {}, "audit": None, "secpol": None, "fwprofile": None,
                 "wdac": None}
    for tag, d in zip(tags, data):
        if tag[0] == "registry":
            obs["registry"][tag[1]] = d
        elif tag[0] == "audit":
            obs["audit"] = {x["guid"].upper(): x for x in d.get("subcategories", [])}
        elif tag[0] == "secpol":
            obs["secpol"] = d
        elif tag[0] == "service":
            obs["services"][tag[1]] = d
        elif tag[0] == "features":
            obs["features"].update({k.lower(): v for k, v in (d.get("features") or {}).items()})
        elif tag[0] == "fwprofile":
            obs["fwprofile"] = d.get("profiles") or {}
        elif tag[0] == "rule":
            obs["rules"][tag[1]] = d
        elif tag[0] == "wdac":
            obs["wdac"] = d
    return obs


def _reg_value(obs: dict, key: str, name: str) -> dict | None:
    node = obs["registry"].get(key.lower()) or {}
    for vname, v in (node.get("values") or {}).items():
        if vname.lower() == name.lower():
            return {"type": v.get("type"), "value": v.get("data")}
    return None


# ---------------------------------------------------------------------------------------- Test


class Unreadable(Exception):
    """The host did not report what a setting needs (the status is error)."""


def expected_of(s: dict) -> dict:
    e = dict(s["expect"])
    if s["kind"] == "registry":
        e.pop("key", None)
        e.pop("name", None)
    return e


def actual_of(s: dict, obs: dict) -> t.Any:
    kind, e = s["kind"], s["expect"]
    if kind == "registry":
        return _reg_value(obs, e["key"], e["name"])
    if kind == "tls":
        names = ("Enabled",) if "cipher" in e else ("Enabled", "DisabledByDefault")
        out = {}
        for n in names:
            v = _reg_value(obs, _tls_key(e), n)
            out[n] = None if v is None else (v["value"] if v["type"] == "REG_DWORD" else "%s %r" % (v["type"], v["value"]))
        return out
    if kind == "audit_policy":
        table = obs["audit"]
        if table is None:
            raise Unreadable("the audit policy was not read")
        row = table.get(e["subcategory"].upper())
        if row is None:
            raise Unreadable("the host's audit policy has no subcategory %s (%s)" % (e["subcategory"], e["name"]))
        return {"success": bool(row.get("success")), "failure": bool(row.get("failure"))}
    if kind == "security_policy":
        sp = obs["secpol"]
        if sp is None:
            raise Unreadable("the security policy was not read")
        if e["section"] == "system_access":
            return (sp.get("system_access") or {}).get(e["key"])
        return sorted((sp.get("privilege_rights") or {}).get(e["right"], []), key=str.upper)
    if kind == "service":
        svc = obs["services"].get(e["name"].lower()) or {}
        if not svc.get("exists"):
            return None
        return {k: svc.get(k) for k in ("start_mode", "state") if k in e}
    if kind == "optional_feature":
        f = obs["features"].get(e["name"].lower())
        if f is None:
            raise Unreadable("the host did not report feature %s" % e["name"])
        return {"exists": bool(f.get("exists")), "state": f.get("state"), "restart_needed": bool(f.get("restart_needed"))}
    if kind == "firewall_profile":
        prof = (obs["fwprofile"] or {}).get(e["profile"])
        if prof is None:
            raise Unreadable("the host did not report firewall profile %s" % e["profile"])
        return {k: prof.get(k) for k in e if k != "profile"}
    if kind == "wdac":
        return _wdac_actual(e, obs)
    raise Unreadable("kind %s is not known" % kind)  # pragma: no cover - the schema lists the kinds


def _wdac_record(e: dict, obs: dict) -> dict | None:
    for name, rec in ((obs.get("wdac") or {}).get("records") or {}).items():
        if name.lower() == e["record"].lower():
            return rec
    return None


def _wdac_actual(e: dict, obs: dict) -> dict:
    w = obs.get("wdac")
    if w is None:
        raise Unreadable("the WDAC state was not read")
    rec = _wdac_record(e, obs)
    examples = {x.lower() for x in w.get("examples") or []}
    out = {"deployed": rec is not None, "example": None, "mode": None, "name": None, "file_intact": False, "pending": False,
           "kernel": w.get("kernel"), "user": w.get("user"), "activation": w.get("activation"),
           "example_available": e["example"].lower() in examples}
    if rec is not None:
        out.update(example=rec.get("example"), mode=rec.get("mode"), name=rec.get("name"), pending=rec.get("pending") is True,
                   file_intact=bool(rec.get("sha256")) and rec.get("file_sha256") == rec.get("sha256"))
    return out


def _wdac_complies(e: dict, actual: dict) -> tuple[bool, str | None, bool]:
    if not actual["deployed"]:
        if not actual["example_available"]:
            return False, "no policy deployed, and this host has no example policy %s" % e["example"], False
        return False, "no policy deployed", False
    if (actual["example"], actual["mode"], actual["name"]) != (e["example"], e["mode"], policy_name(e)):
        return False, "the deployed policy is %s in %s mode, named %r" % (actual["example"], actual["mode"], actual["name"]), False
    if not actual["file_intact"]:
        return False, "the policy file is missing or not the one deployed", False
    if actual["pending"]:  # deployed in this boot for the next start: what code integrity reports now is the old policy
        return True, "deployed; this release loads it when the host restarts", True
    loaded = actual["kernel"] in ("audit", "enforced") if e["mode"] == "audit" else actual["kernel"] == "enforced"
    if loaded:
        return True, None, False
    return False, "the policy is deployed but code integrity reports %s" % actual["kernel"], False


def _holders_ok(match: str, want: list[str], have: list[str]) -> bool:
    w, h = {x.upper() for x in want}, {x.upper() for x in have}
    if match == "includes":
        return w <= h
    if match == "excludes":
        return not (w & h)
    return w == h


def complies(s: dict, actual: t.Any) -> tuple[bool, str | None, bool]:
    """(compliant?, a note for people, pending a restart?)."""
    kind, e = s["kind"], s["expect"]
    if kind == "registry":
        if e.get("state") == "absent":
            return actual is None, None, False
        if actual is None:
            return False, "the value is not set", False
        if actual["type"] != e["type"]:
            return False, "the value is %s, not %s" % (actual["type"], e["type"]), False
        if "min" in e or "max" in e:
            v = actual["value"]
            return isinstance(v, int) and e.get("min", v) <= v <= e.get("max", v), None, False
        return actual["value"] == e["value"], None, False
    if kind == "tls":
        on = e["enabled"]
        enabled = actual.get("Enabled")
        if enabled is None or ("DisabledByDefault" in actual and actual["DisabledByDefault"] is None):
            return False, "not configured: the release's default applies", False
        if not isinstance(enabled, int):
            return False, "Enabled is not a REG_DWORD", False
        ok = (enabled != 0) if on else (enabled == 0)
        if "DisabledByDefault" in actual:
            ok = ok and actual["DisabledByDefault"] == (0 if on else 1)
        return ok, None, False
    if kind == "audit_policy":
        return all(actual[side] == e[side] for side in ("success", "failure") if side in e), None, False
    if kind == "security_policy":
        if e["section"] == "system_access":
            if not isinstance(actual, int):
                return False, "not set", False
            if "min" in e or "max" in e:
                return e.get("min", actual) <= actual <= e.get("max", actual), None, False
            return actual == e["value"], None, False
        return _holders_ok(e.get("match", "exact"), e["holders"], actual), None, False
    if kind == "service":
        return all(actual.get(k) == e[k] for k in ("start_mode", "state") if k in e), None, False
    if kind == "optional_feature":
        state = actual["state"]
        if e["state"] == "disabled":
            if not actual["exists"] or state in ("disabled", "disabled_removed"):
                return True, None if actual["exists"] else "the release does not have this feature", False
            return state == "disable_pending", ("disabled; a restart completes it" if state == "disable_pending" else None), state == "disable_pending"
        return state in ("enabled", "enable_pending"), ("enabled; a restart completes it" if state == "enable_pending" else None), state == "enable_pending"
    if kind == "firewall_profile":
        for k, want in e.items():
            if k == "profile":
                continue
            have = actual.get(k)
            if k == "log_max_kb":
                if not isinstance(have, int) or have < want:
                    return False, None, False
            elif have != want:
                return False, None, False
        return True, None, False
    if kind == "wdac":
        return _wdac_complies(e, actual)
    return False, None, False  # pragma: no cover


def evidence_of(s: dict, obs: dict) -> dict:
    kind, e = s["kind"], s["expect"]
    if kind in ("registry", "tls"):
        key = registry_keys(s)[0]
        node = obs["registry"].get(key.lower()) or {}
        names = [e["name"]] if kind == "registry" else (["Enabled"] if "cipher" in e else ["Enabled", "DisabledByDefault"])
        return {"source": "registry", "key": key, "key_exists": bool(node.get("exists")),
                "values": {n: _reg_value(obs, key, n) for n in names}}
    if kind == "audit_policy":
        return {"source": "auditpol", "subcategory": e["subcategory"], "name": e["name"]}
    if kind == "security_policy":
        sec = "[System Access] " + e["key"] if e["section"] == "system_access" else "[Privilege Rights] " + e["right"]
        out = {"source": "secedit", "entry": sec}
        if e["section"] == "privilege_rights":
            out["policy_owned"] = e["right"] in ((obs["secpol"] or {}).get("policy_owned_rights") or [])
        return out
    if kind == "service":
        svc = obs["services"].get(e["name"].lower()) or {}
        return {"source": "service", "name": e["name"], "exists": bool(svc.get("exists"))}
    if kind == "optional_feature":
        return {"source": "feature", "name": e["name"]}
    if kind == "wdac":
        w = obs.get("wdac") or {}
        rec = _wdac_record(e, obs) or {}
        return {"source": "wdac", "record": e["record"], "policy_id": rec.get("policy_id"), "file": rec.get("file"),
                "sha256": rec.get("sha256"), "format": w.get("format"), "activation": w.get("activation")}
    return {"source": "firewall profile", "profile": e["profile"]}


def test_all(settings: list[dict], obs: dict, release: str | None, core: bool, waivers: dict) -> list[dict]:
    """One result per setting: status, expected, actual, evidence (before any waiver or Set)."""
    results = []
    for s in settings:
        r = {"id": s["id"], "title": s["title"], "kind": s["kind"], "refs": list(s["refs"]), "severity": s["severity"],
             "tags": list(s.get("tags", [])), "expected": expected_of(s), "actual": None,
             "reboot_required": False, "evidence": {}, "note": None}
        why_not = applies(s, release, core)
        if why_not:
            r.update(status="not_applicable", note=why_not)
            results.append(r)
            continue
        try:
            actual = actual_of(s, obs)
        except Unreadable as err:
            r.update(status="error", note=str(err))
            results.append(r)
            continue
        r["actual"] = actual
        r["evidence"] = evidence_of(s, obs)
        if s["kind"] == "service" and actual is None:
            missing = s["expect"].get("if_missing", "not_applicable")
            r.update(status=missing, note="the service is not installed")
            results.append(r)
            continue
        ok, note, pending = complies(s, actual)
        r.update(status="compliant" if ok else "non_compliant", note=note, reboot_required=pending)
        w = waivers.get(s["id"].lower())
        if w and not ok:
            r.update(status="waived", waiver={k: w[k] for k in ("reason", "expires", "approved_by")})
        results.append(r)
    return results


# ---------------------------------------------------------------------------------------- Set


def set_ops(items: list[tuple[dict, dict]], obs: dict) -> list[tuple[list[str], dict]]:
    """The write ops that make these (setting, result) pairs compliant: [(ids the op serves, op)], in a
    fixed order (policy stores, registry, features, firewall, services, then WDAC policies)."""
    audit: dict[str, dict] = {}
    audit_ids: list[str] = []
    sa: dict = {}
    rights: dict[str, list[str]] = {}
    sec_ids: list[str] = []
    registry: list[tuple[list[str], dict]] = []
    features: list[tuple[list[str], dict]] = []
    profiles: dict[str, dict] = {}
    prof_ids: dict[str, list[str]] = {}
    services: list[tuple[list[str], dict]] = []
    wdac: list[tuple[list[str], dict]] = []
    for s, r in items:
        kind, e, sid = s["kind"], s["expect"], s["id"]
        if kind == "registry":
            if e.get("state") == "absent":
                registry.append(([sid], {"op": "registry.remove", "args": {"path": e["key"], "name": e["name"]}}))
            else:
                registry.append(([sid], {"op": "registry.set", "args": {"path": e["key"], "name": e["name"], "type": e["type"], "data": e["value"]}}))
        elif kind == "tls":
            key = _tls_key(e)
            want = {"Enabled": (0xFFFFFFFF if "cipher" in e else 1) if e["enabled"] else 0}
            if "cipher" not in e:
                want["DisabledByDefault"] = 0 if e["enabled"] else 1
            for name, data in want.items():
                have = _reg_value(obs, key, name)
                if have != {"type": "REG_DWORD", "value": data}:
                    registry.append(([sid], {"op": "registry.set", "args": {"path": key, "name": name, "type": "REG_DWORD", "data": data}}))
        elif kind == "audit_policy":
            guid = e["subcategory"].upper()
            cur = audit.get(guid) or dict(r["actual"])
            for side in ("success", "failure"):
                if side in e:
                    cur[side] = e[side]
            audit[guid] = cur
            audit_ids.append(sid)
        elif kind == "security_policy":
            sec_ids.append(sid)
            if e["section"] == "system_access":
                sa[e["key"]] = e["value"]
            else:
                have = rights.get(e["right"], list(r["actual"]))
                match = e.get("match", "exact")
                if match == "exact":
                    new = list(e["holders"])
                elif match == "includes":
                    new = have + [x for x in e["holders"] if x.upper() not in {h.upper() for h in have}]
                else:
                    new = [h for h in have if h.upper() not in {x.upper() for x in e["holders"]}]
                rights[e["right"]] = new
        elif kind == "optional_feature":
            features.append(([sid], {"op": "feature.set", "args": {"name": e["name"], "state": e["state"]}}))
        elif kind == "wdac":
            wargs = {"record": e["record"], "example": e["example"], "mode": e["mode"], "name": policy_name(e)}
            wdac.append(([sid], {"op": "wdac.set", "args": wargs}))
        elif kind == "firewall_profile":
            fields = profiles.setdefault(e["profile"], {})
            for k, v in e.items():
                if k != "profile" and (r["actual"] or {}).get(k) != v:
                    if k == "log_max_kb" and isinstance((r["actual"] or {}).get(k), int) and r["actual"][k] >= v:
                        continue
                    fields[k] = v
            prof_ids.setdefault(e["profile"], []).append(sid)
        elif kind == "service":
            have = r["actual"] or {}
            if "start_mode" in e and have.get("start_mode") != e["start_mode"]:
                services.append(([sid], {"op": "service.set", "args": {"name": e["name"], "start_mode": e["start_mode"]}}))
            if "state" in e and have.get("state") != e["state"]:
                verb = "service.stop" if e["state"] == "stopped" else "service.start"
                services.append(([sid], {"op": verb, "args": {"name": e["name"]}}))
    ops: list[tuple[list[str], dict]] = []
    if audit:
        entries = [{"guid": g, "success": v["success"], "failure": v["failure"]} for g, v in sorted(audit.items())]
        ops.append((audit_ids, {"op": "auditpol.set", "args": {"subcategories": entries}}))
    if sa or rights:
        args: dict = {}
        if sa:
            args["system_access"] = sa
        if rights:
            args["privilege_rights"] = rights
        ops.append((sec_ids, {"op": "policy.configure", "args": args}))
    ops += registry + features
    for prof, fields in sorted(profiles.items()):
        if fields:
            ops.append((prof_ids[prof], {"op": "firewall.profile_set", "args": dict(fields, profile=prof)}))
    return ops + services + wdac  # WDAC last: a policy the host refuses stops the batch after everything else


# ---------------------------------------------------------------------------------------- lockout guard


def account_sids(conn: dict) -> set[str]:
    """The SIDs a network logon of the connection account carries (as far as the controller can tell)."""
    sids = {conn.get("user_sid", "").upper(), SID_EVERYONE, SID_NETWORK, SID_AUTH_USERS, SID_USERS}
    if conn.get("is_admin", True):
        sids.add(SID_ADMINS)
    if conn.get("account") == "local":
        sids.add(SID_LOCAL)
        if conn.get("is_admin", True):
            sids.add(SID_LOCAL_ADMIN)
    return {s for s in sids if s}


def guard_reason(s: dict, conn: dict, obs: dict, planned_rights: dict) -> str | None:
    """Why applying this setting would cut the connection this run uses (None: it would not)."""
    kind, e = s["kind"], s["expect"]
    remote = conn.get("transport") in ("winrm", "psrp")
    if kind == "registry":
        key, name = _canonical_key(e["key"]), e["name"].lower()
        removed = e.get("state") == "absent"
        value = None if removed else e.get("value")
        if key == POLICIES_SYSTEM.lower() and name == "localaccounttokenfilterpolicy" and (removed or value == 0):
            if remote and conn.get("account") == "local" and not conn.get("builtin_admin"):
                return ("LocalAccountTokenFilterPolicy 0 applies UAC remote restrictions to local accounts: this run connects "
                        "as the local account %s (not the built-in Administrator) over %s, whose network logon would get a "
                        "filtered token without administrator rights" % (conn.get("user_name"), conn.get("transport")))
        if key == POLICIES_SYSTEM.lower() and name == "filteradministratortoken" and value == 1:
            if remote and conn.get("builtin_admin"):
                return ("FilterAdministratorToken 1 puts the built-in Administrator in Admin Approval Mode: this run connects "
                        "as that account over %s, whose network logon would lose its administrator rights" % conn.get("transport"))
        if key == MSV1_0.lower() and name == "restrictreceivingntlmtraffic" and value == 2 and conn.get("auth") == "ntlm":
            return "RestrictReceivingNTLMTraffic 2 denies all incoming NTLM: this run authenticates with NTLM"
        if key == WINRM_SERVICE_POLICY.lower() and remote:
            if name == "allowbasic" and value == 0 and conn.get("auth") == "basic":
                return "AllowBasic 0 turns off Basic authentication in the WinRM service: this run authenticates with Basic"
            if name == "allowunencryptedtraffic" and value == 0 and conn.get("auth") == "basic" and not conn.get("https"):
                return ("AllowUnencryptedTraffic 0 refuses unencrypted WinRM messages: this run uses Basic over HTTP, which "
                        "has no message encryption")
            if name == "allowunencryptedtraffic" and value == 0 and conn.get("auth") == "certificate" and not conn.get("https"):
                return "AllowUnencryptedTraffic 0 refuses unencrypted WinRM messages: this run uses certificate authentication over HTTP"
            if name == "allowautoconfig" and value == 0:
                return "AllowAutoConfig 0 stops the WinRM service listening on its configured listeners: this run connects over WinRM"
        carrier = {"winrm": remote, "sshd": conn.get("transport") == "ssh"}
        for svc, used in carrier.items():
            if used and key == (SERVICES_KEY + "\\" + svc).lower() and name == "start" and (removed or value == 4):
                return "Start 4 disables the %s service, which carries this run's connection (after the next restart)" % svc
    if kind == "service":
        svc = e["name"].lower()
        cutting = e.get("start_mode") == "disabled" or e.get("state") == "stopped"
        if svc == "winrm" and remote and cutting:
            return "the WinRM service carries this run's connection (%s): stopping or disabling it cuts it" % conn.get("transport")
        if svc == "sshd" and conn.get("transport") == "ssh" and cutting:
            return "the OpenSSH server carries this run's connection: stopping or disabling it cuts it"
    if kind == "security_policy" and e["section"] == "privilege_rights":
        mine = account_sids(conn)
        new = {x.upper() for x in planned_rights.get(e["right"], [])}
        if e["right"] == "SeDenyNetworkLogonRight" and new & mine:
            return ("denying network logon to %s takes it from this run's account %s (a network logon carries it)"
                    % (", ".join(sorted(new & mine)), conn.get("user_name")))
        if e["right"] == "SeNetworkLogonRight" and not new & mine:
            return ("access from the network would be only for %s, and this run's account %s holds none of them"
                    % (", ".join(sorted(new)) or "no one", conn.get("user_name")))
    if kind == "wdac" and e["mode"] == "enforced" and conn.get("transport") in ("winrm", "psrp", "ssh"):
        return ("an enforced WDAC policy turns on user-mode code integrity, which runs remote PowerShell (this run's %s "
                "connection) in ConstrainedLanguage mode: the agent, and most of Ansible's Windows modules, could no "
                "longer run; deploy it in audit mode and review the CodeIntegrity event log first" % conn.get("transport"))
    if kind == "firewall_profile" and remote:
        takes = e.get("default_inbound") == "block" or e.get("enabled") is True
        if takes and not _port_rule(conn, obs, e["profile"]):
            return ("the %s profile would block inbound connections and no enabled inbound rule allows TCP %s (this run's "
                    "port) on it: add one (or name it in lockout_guard_rules) first" % (e["profile"], conn.get("port")))
    return None


def _port_rule(conn: dict, obs: dict, profile: str) -> bool:
    port = str(conn.get("port"))
    for rule in obs["rules"].values():
        if not rule.get("exists") or not rule.get("enabled", True):
            continue
        if rule.get("direction") != "inbound" or rule.get("action") != "allow":
            continue
        profiles = [p.lower() for p in rule.get("profiles") or ["any"]]
        if "any" not in profiles and profile not in profiles:
            continue
        ports = [str(p) for p in rule.get("local_ports") or ["any"]]
        if rule.get("protocol") not in ("tcp", "any", None):
            continue
        if "any" in [p.lower() for p in ports] or port in ports or any(_in_range(port, p) for p in ports):
            return True
    return False


def _in_range(port: str, spec: str) -> bool:
    m = re.match(r"^(\d+)-(\d+)$", spec)
    return bool(m and port.isdigit() and int(m.group(1)) <= int(port) <= int(m.group(2)))


def guard_rules(conn: dict, extra: list[str]) -> list[str]:
    return list(WINRM_RULES.get(int(conn.get("port") or 0), ())) + list(extra)


# ---------------------------------------------------------------------------------------- restarts


def _boot_seconds(stamp: t.Any) -> int | None:
    if not isinstance(stamp, str) or not BOOT_TEXT.fullmatch(stamp):
        return None
    try:
        return int(dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp())
    except ValueError:
        return None


def same_boot(a: t.Any, b: t.Any) -> bool:
    """Two boot_time texts of one boot (within BOOT_SLACK_S); false when either is missing or not in the agent's form."""
    x, y = _boot_seconds(a), _boot_seconds(b)
    return x is not None and y is not None and abs(x - y) <= BOOT_SLACK_S


def pending_ids(obs: dict, boot_time: t.Any) -> set[str]:
    """The ids an earlier enforce set that still wait for a restart of this boot."""
    node = obs["registry"].get(PENDING_KEY.lower()) or {}
    values = {k.lower(): v for k, v in (node.get("values") or {}).items()}
    ids = (values.get("pendingreboot") or {}).get("data")
    stamp = (values.get("pendingboottime") or {}).get("data")
    if not isinstance(ids, list) or not same_boot(stamp, boot_time):
        return set()
    return {str(x).lower() for x in ids}


def mark_pending(results: list[dict], pending: set[str]) -> None:
    for r in results:
        if r["id"].lower() in pending and r["status"] in ("compliant", "waived", "non_compliant"):
            r["reboot_required"] = True
            if r["status"] == "compliant":
                r["note"] = "set by an earlier enforce; takes effect after the host restarts"


def pending_ops(ids: list[str], boot_time: str) -> list[dict]:
    return [{"op": "registry.set", "args": {"path": PENDING_KEY, "name": "PendingReboot", "type": "REG_MULTI_SZ", "data": sorted(ids)}},
            {"op": "registry.set", "args": {"path": PENDING_KEY, "name": "PendingBootTime", "type": "REG_SZ", "data": boot_time}}]


# ---------------------------------------------------------------------------------------- totals


def totals(results: list[dict]) -> dict:
    out = {s: 0 for s in STATUSES}
    for r in results:
        out[r["status"]] += 1
    return out


def score(counts: dict) -> float:
    """Percent of the applicable, unwaived settings that are compliant or fixed (100 when there are none)."""
    base = sum(counts.values()) - counts["not_applicable"] - counts["waived"]
    if base <= 0:
        return 100.0
    return round(100.0 * (counts["compliant"] + counts["fixed"]) / base, 1)
