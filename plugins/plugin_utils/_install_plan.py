# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Planning for go_install and go_facts: which ops read a host's toolchains (the probe), what the
host has (observe), and what to change (plan), as pure functions of data.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.gowin.server.plugins.plugin_utils import _goversion as gv
from ansible_collections.gowin.server.plugins.plugin_utils import _sources as src
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp

TOOLCHAINS_KEY = "HKLM\\SOFTWARE\\GoWin\\Toolchains"
SID_ADMINS = "S-1-5-32-544"
SID_SYSTEM = "S-1-5-18"
SID_USERS = "S-1-5-32-545"
FULL_CONTROL = 2032127
READ_EXECUTE = 1179817
STAGING_PREFIX = ".staging-"
# The post-install checks must exercise the new go.exe itself: no toolchain switching, no GOROOT
# or GOFLAGS inherited from the machine (a machine GOROOT naming `current` would make the new
# version report the old root).
VERIFY_ENV = {"GOTOOLCHAIN": "local", "GOROOT": "", "GOFLAGS": ""}


def record_key(version: str) -> str:
    return TOOLCHAINS_KEY + "\\" + version


def active_version(toolchains: dict) -> str | None:
    """The Active value of a registry.get of TOOLCHAINS_KEY (value names are case-insensitive)."""
    for name, value in (toolchains.get("values") or {}).items():
        if name.lower() == "active" and value.get("data"):
            return str(value["data"])
    return None


# ---------------------------------------------------------------- probe and observation


def probe_ops(root: str, version: str | None, harden_acl: bool, read_groups: list[str]) -> list[dict]:
    ops: list[dict] = [
        {"op": "host.facts", "args": {"path": root}},
        {"op": "registry.get", "args": {"path": TOOLCHAINS_KEY, "depth": 1}},
        {"op": "dir.list", "args": {"path": root}},
        {"op": "file.stat", "args": {"path": wp.join(root, "current")}},
    ]
    if version:
        home = wp.join(root, version)
        ops.append({"op": "file.stat", "args": {"path": wp.join(home, "VERSION"), "read": True}})
        ops.append({"op": "file.stat", "args": {"path": wp.join(home, "bin", "go.exe"), "pe": True}})
    if harden_acl:
        ops.append({"op": "acl.get", "args": {"path": root}})
        if read_groups:
            ops.append({"op": "identity.resolve", "args": {"names": list(read_groups)}})
    return ops


@dataclass
class Record:
    name: str
    values: dict[str, t.Any]

    def get(self, key: str, default: t.Any = None) -> t.Any:
        for k, v in self.values.items():
            if k.lower() == key.lower():
                return v.get("data") if isinstance(v, dict) else v
        return default

    @property
    def status(self) -> str:
        return str(self.get("Status", ""))


@dataclass
class Observed:
    facts: dict
    records: dict[str, Record]  # lower-cased version name -> record
    active: str | None
    root_exists: bool
    entries: dict[str, str]  # lower-cased name -> name as stored
    current: dict
    version_file: dict | None = None
    go_exe: dict | None = None
    acl: dict | None = None
    group_sids: dict[str, str | None] = field(default_factory=dict)

    def record(self, version: str) -> Record | None:
        return self.records.get(version.lower())

    def installed(self) -> list[str]:
        return gv.sort_names(r.name for r in self.records.values() if r.status == "installed")

    def staging_leftovers(self) -> list[str]:
        return sorted(n for k, n in self.entries.items() if k.startswith(STAGING_PREFIX))


def observe(ops: list[dict], data: list[dict]) -> Observed:
    by_op: dict[str, list[dict]] = {}
    for op, d in zip(ops, data):
        by_op.setdefault(op["op"], []).append(d)
    reg = by_op["registry.get"][0]
    records = {}
    for name, node in (reg.get("keys") or {}).items():
        records[name.lower()] = Record(name, (node or {}).get("values") or {})
    active = active_version(reg)
    listing = by_op["dir.list"][0]
    stats = by_op["file.stat"]
    obs = Observed(
        facts=by_op["host.facts"][0],
        records=records,
        active=active,
        root_exists=bool(listing.get("exists")),
        entries={e["name"].lower(): e["name"] for e in listing.get("entries") or []},
        current=stats[0],
    )
    if len(stats) == 3:
        obs.version_file, obs.go_exe = stats[1], stats[2]
    if "acl.get" in by_op:
        obs.acl = by_op["acl.get"][0]
    if "identity.resolve" in by_op:
        obs.group_sids = by_op["identity.resolve"][0].get("sids") or {}
    return obs


# ---------------------------------------------------------------- ACL


def desired_aces(group_sids: dict[str, str | None]) -> list[dict]:
    aces = [
        {"identity": SID_ADMINS, "mask": FULL_CONTROL, "type": "allow", "inherit": True},
        {"identity": SID_SYSTEM, "mask": FULL_CONTROL, "type": "allow", "inherit": True},
        {"identity": SID_USERS, "mask": READ_EXECUTE, "type": "allow", "inherit": True},
    ]
    for sid in sorted({s for s in group_sids.values() if s} - {SID_ADMINS, SID_SYSTEM, SID_USERS}):
        aces.append({"identity": sid, "mask": READ_EXECUTE, "type": "allow", "inherit": True})
    return aces


def _ace_flags(ace: dict) -> tuple[str, ...]:
    """An ACE's exact inheritance flags (acl.get `flags`; `inherit: true` is short for OI, CI)."""
    flags = ace.get("flags")
    if flags is None:
        flags = ["OI", "CI"] if ace.get("inherit") else []
    return tuple(f for f in ("OI", "CI", "NP", "IO") if f in flags)


def acl_matches(acl: dict | None, aces: list[dict]) -> bool:
    """Whether an acl.get result is protected, canonical and has exactly `aces` (acl.set ACEs whose
    identities are SIDs) as its explicit ACEs: same SID, mask, type and flags, as many of each."""
    if not acl or not acl.get("exists") or acl.get("canonical") is False:
        return False
    explicit = sorted(
        ((a.get("sid") or "").upper(), int(a["mask"]), a["type"], _ace_flags(a))
        for a in acl.get("aces") or []
        if not a.get("inherited")
    )
    wanted = sorted((a["identity"].upper(), a["mask"], a["type"], _ace_flags(a)) for a in aces)
    return bool(acl.get("protected")) and explicit == wanted


def acl_summary(hardened: bool) -> str:
    return "Administrators, SYSTEM: full control; Users and read_groups: read & execute; inheritance off" if hardened else "not managed by gowin"


# ---------------------------------------------------------------- plan


@dataclass
class Plan:
    changes: list[str] = field(default_factory=list)
    pre_ops: list[dict] = field(default_factory=list)  # before the distribution is on the host
    install_ops: list[dict] = field(default_factory=list)  # download (host mode), extract, verify, move, record
    post_ops: list[dict] = field(default_factory=list)  # activate, prune
    needs_install: bool = False
    staging: str | None = None
    zip_path: str | None = None
    after_active: str | None = None
    after_installed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # A re-install over a version folder that is there (damaged, other arch, other file): the folder is
    # moved aside only after the new tree is verified, and put back if anything fails after that.
    replaces: str | None = None  # the version folder's name as stored
    old_record: dict | None = None  # the version's registry record before the re-install

    @property
    def aside(self) -> str | None:
        return wp.join(self.staging, "old") if self.staging and self.replaces else None

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def ops(self) -> list[dict]:
        return self.pre_ops + self.install_ops + self.post_ops


def installed_ok(obs: Observed, version: str, arch: str, want_sha: str | None = None) -> tuple[bool, str]:
    """Is version fully installed for arch (from the file with want_sha, if given)? (ok, reason it is not)"""
    rec = obs.record(version)
    if rec is None:
        return False, "not installed"
    if rec.status != "installed":
        return False, "an earlier install did not finish (status %s)" % (rec.status or "unknown")
    if want_sha and str(rec.get("Sha256", "")).lower() != want_sha:
        return False, "it was installed from a file with sha256:%s, not sha256:%s" % (rec.get("Sha256"), want_sha)
    if version.lower() not in obs.entries:
        return False, "its folder is missing"
    first = gv.parse_version_file((obs.version_file or {}).get("content") or "")
    if first != "go" + version:
        return False, "VERSION says %r, not go%s" % (first, version)
    if (obs.go_exe or {}).get("pe_machine") != arch:
        return False, "bin\\go.exe is for %s, not %s" % ((obs.go_exe or {}).get("pe_machine"), arch)
    return True, ""


def plan_present(params: dict, obs: Observed, version: str, arch: str, token: str) -> Plan:
    root = params["install_root"]
    plan = Plan()
    installed = obs.installed()
    if not obs.root_exists:
        plan.pre_ops.append({"op": "dir.ensure", "args": {"path": root}})
        plan.changes.append("create %s" % root)
    if params["harden_acl"]:
        aces = desired_aces(obs.group_sids)
        if not acl_matches(obs.acl, aces):
            plan.pre_ops.append({"op": "acl.set", "args": {"path": root, "protected": True, "aces": aces}})
            plan.changes.append("harden the ACL of %s" % root)
    for leftover in obs.staging_leftovers():
        plan.pre_ops.append({"op": "path.remove", "args": {"path": wp.join(root, leftover), "recurse": True}})
        plan.changes.append("remove %s left by an interrupted run" % leftover)

    ok, reason = installed_ok(obs, version, arch, params.get("sha256"))
    if not ok:
        rec = obs.record(version)
        if rec is None and version.lower() in obs.entries:
            raise ValueError(
                "%s already exists but was not installed by gowin.server; move it away or choose another install_root"
                % wp.join(root, obs.entries[version.lower()])
            )
        plan.needs_install = True
        plan.staging = wp.join(root, STAGING_PREFIX + version + "-" + token)
        plan.changes.append("install Go %s (%s)" % (version, arch) + ("" if rec is None else ": " + reason))
        # the record as the probe read it: the first change is conditional on it, a rollback restores it
        plan.old_record = None if rec is None else {k: (v.get("data") if isinstance(v, dict) else v) for k, v in rec.values.items()}
        if version.lower() in obs.entries:
            plan.replaces = obs.entries[version.lower()]
        if version not in installed:
            installed = gv.sort_names(installed + [version])
    active = obs.active
    if params["activate"]:
        target = wp.join(root, version)
        cur = obs.current
        if active != version or not (cur.get("exists") and cur.get("type") == "junction" and wp.same(cur.get("target"), target)):
            plan.post_ops.append({"op": "junction.set", "args": {"path": wp.join(root, "current"), "target": target}})
            plan.post_ops.append(
                {"op": "registry.set", "args": {"path": TOOLCHAINS_KEY, "name": "Active", "type": "REG_SZ", "data": version}}
            )
            plan.changes.append("activate Go %s (%s -> %s)" % (version, wp.join(root, "current"), target))
            active = version
    keep = params.get("keep_versions")
    if keep:
        ours = [n for n in installed if _in_root(obs, n, root)]
        kept = set(ours[:keep]) | ({active} if active else set()) | {version}
        for name in ours:
            if name not in kept:
                plan.post_ops.append({"op": "path.remove", "args": {"path": wp.join(root, name), "recurse": True}})
                plan.post_ops.append({"op": "registry.remove", "args": {"path": record_key(name)}})
                plan.changes.append("remove Go %s (keep_versions=%d)" % (name, keep))
                plan.removed.append(name)
        installed = [n for n in installed if n not in plan.removed]
    plan.after_active = active
    plan.after_installed = installed
    return plan


def _in_root(obs: Observed, name: str, root: str) -> bool:
    rec = obs.record(name)
    path = rec.get("Path") if rec else None
    return path is None or wp.same(wp.parent(path), root)


def install_ops(params: dict, plan: Plan, version: str, arch: str, source: dict, installed_at: str) -> list[dict]:
    """Stage, verify, rename into place, prove it runs, record. Nothing here touches the active version."""
    root = params["install_root"]
    if plan.staging is None:
        raise ValueError("install_ops needs a plan that installs")
    final = wp.join(root, version)
    tree = wp.join(plan.staging, "tree")
    exe = wp.join(final, "bin", "go.exe")
    zip_path = wp.join(plan.staging, source["filename"])
    plan.zip_path = zip_path
    # First, the record says an install is under way, on condition that its Status is still what the
    # probe read: if another run installed this version meanwhile, this fails 'conflict' before
    # anything is downloaded, and the plugin reads the host again.
    old_status = (plan.old_record or {}).get("Status")
    expect = {"type": "REG_SZ", "data": old_status} if isinstance(old_status, str) else {"exists": False}
    pending = {"path": record_key(version), "name": "Status", "type": "REG_SZ", "data": "pending", "expect": expect}
    ops: list[dict] = [{"op": "registry.set", "args": pending}]
    if source["mode"] == "host":
        dl = {"url": source["url"], "dest": zip_path, "sha256": source["sha256"],
              "validate_certs": params["validate_certs"], "timeout": params["timeout"]}
        if params.get("url_username"):
            dl["username"] = params["url_username"]
            dl["password"] = params.get("url_password") or ""
        ops.append({"op": "file.download", "args": dl})
    else:
        ops.append({"op": "file.stat", "args": {"path": zip_path, "checksum": True,
                                                "expect": {"exists": True, "sha256": source["sha256"]}}})
    record = {
        "Path": final, "GoRoot": final, "Sha256": source["sha256"],
        "SourceUrl": src.strip_userinfo(source["url"]),  # never a user name or password
        "Arch": arch, "InstalledAt": installed_at, "InstallRoot": root,
    }
    ops += [
        # The zip's one top folder go\ is left out: the version folder itself is GOROOT.
        {"op": "zip.extract", "args": {"src": zip_path, "dest": tree, "strip": "go"}},
        {"op": "file.stat", "args": {"path": wp.join(tree, "VERSION"), "read": True,
                                     "expect": {"exists": True, "first_line": "go" + version}}},
        {"op": "file.stat", "args": {"path": wp.join(tree, "bin", "go.exe"), "pe": True,
                                     "expect": {"exists": True, "pe_machine": arch}}},
    ]
    if plan.replaces:
        # Only now, with the new tree verified, is the folder that was there moved aside (not deleted).
        ops.append({"op": "path.move", "args": {"src": wp.join(root, plan.replaces), "dest": plan.aside}})
    ops += [
        {"op": "path.move", "args": {"src": tree, "dest": final}},
        {"op": "go.run", "args": {"exe": exe, "args": ["version"], "env": VERIFY_ENV, "expect_rc": 0,
                                  "expect_stdout_prefix": "go version go%s " % version}},
        {"op": "go.run", "args": {"exe": exe, "args": ["env", "GOROOT"], "env": VERIFY_ENV, "expect_rc": 0}},
    ]
    for name, value in record.items():
        ops.append({"op": "registry.set", "args": {"path": record_key(version), "name": name, "type": "REG_SZ", "data": value}})
    ops.append({"op": "registry.set", "args": {"path": record_key(version), "name": "Status", "type": "REG_SZ", "data": "installed"}})
    ops.append({"op": "path.remove", "args": {"path": plan.staging, "recurse": True}})
    return ops


def rollback_ops(plan: Plan, ran: list[dict], version: str, root: str) -> list[dict]:
    """After a failed apply, undo what THIS run did (`ran`: only the ops that succeeded): put a version
    folder it moved aside back, remove a tree it moved into place, restore or remove the record it
    wrote, and drop its staging folder. Nothing another run made is touched."""
    ops: list[dict] = []
    final = wp.join(root, version)
    tree = wp.join(plan.staging, "tree") if plan.staging else None
    moved_new = any(o["op"] == "path.move" and o["args"]["src"] == tree for o in ran)
    moved_aside = plan.aside is not None and any(o["op"] == "path.move" and o["args"]["dest"] == plan.aside for o in ran)
    recorded = any(o["op"] == "registry.set" and o["args"]["name"] == "Status" and o["args"]["data"] == "installed" for o in ran)
    if moved_new and not recorded:
        ops.append({"op": "path.remove", "args": {"path": final, "recurse": True}})
    if moved_aside and not recorded:
        ops.append({"op": "path.move", "args": {"src": plan.aside, "dest": wp.join(root, plan.replaces or version)}})
    if plan.staging:
        ops.append({"op": "path.remove", "args": {"path": plan.staging, "recurse": True}})
    if any(o["op"] == "registry.set" and o["args"]["path"] == record_key(version) for o in ran) and not recorded:
        ops.append({"op": "registry.remove", "args": {"path": record_key(version)}})
        for name, value in (plan.old_record or {}).items():
            if isinstance(value, str):
                ops.append({"op": "registry.set", "args": {"path": record_key(version), "name": name, "type": "REG_SZ", "data": value}})
    return ops


def plan_absent(params: dict, obs: Observed, version: str) -> Plan:
    root = params["install_root"]
    plan = Plan()
    installed = obs.installed()
    rec = obs.record(version)
    active = obs.active
    if rec is None:
        plan.after_active, plan.after_installed = active, installed
        return plan
    if active == version:
        if not params["force"]:
            raise ValueError(
                "refusing to remove Go %s: it is the active version; activate another version first, "
                "or set force: true to remove it and leave no active version" % version
            )
        plan.post_ops.append({"op": "path.remove", "args": {"path": wp.join(root, "current"), "recurse": False}})
        plan.post_ops.append({"op": "registry.remove", "args": {"path": TOOLCHAINS_KEY, "name": "Active"}})
        plan.changes.append("deactivate Go %s (force)" % version)
        active = None
    plan.post_ops.append({"op": "path.remove", "args": {"path": rec.get("Path") or wp.join(root, version), "recurse": True}})
    plan.post_ops.append({"op": "registry.remove", "args": {"path": record_key(rec.name)}})
    plan.changes.append("remove Go %s" % version)
    plan.removed.append(version)
    plan.after_active = active
    plan.after_installed = [n for n in installed if n != rec.name]
    return plan


def state_view(active: str | None, installed: list[str], root: str, hardened: bool | None) -> dict:
    view: dict[str, t.Any] = {"install_root": root, "active": active, "installed_versions": list(installed)}
    if hardened is not None:
        view["acl"] = acl_summary(hardened)
    return view


def toolchains_from(obs: Observed) -> list[dict]:
    out = []
    for name in gv.sort_names(r.name for r in obs.records.values()):
        rec = obs.records[name.lower()]
        out.append({
            "version": rec.name,
            "path": rec.get("Path"),
            "goroot": rec.get("GoRoot"),
            "sha256": rec.get("Sha256"),
            "source_url": src.strip_userinfo(rec.get("SourceUrl")),  # an older release may have recorded one
            "arch": rec.get("Arch"),
            "installed_at": rec.get("InstalledAt"),
            "status": rec.status or None,
            "active": rec.name == obs.active,
        })
    return out
