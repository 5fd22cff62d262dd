# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'wdac' (plugins/plugin_utils/_agent/wdac.ps1): wdac.get, wdac.set.
Windows Defender Application Control policies built from Microsoft's example policies. The release of the
os_profile decides the policy format and how a policy is loaded: Windows Server 2016 and 2019 take the single
``SIPolicy.p7b``; 2022 takes multiple ``{id}.cip`` policies under ``CiPolicies\\Active``; both are loaded when the
host starts (activation ``restart``: no CiTool, and the agent does not use PS_UpdateAndCompareCIPolicy, documented only
before 1903); 2025 loads them at once with CiTool (``citool``). Every profile has the example policies AllowAll, AllowMicrosoft, DefaultWindows_Audit and
DefaultWindows_Enforced.

A new host has no policy: code integrity is off in kernel and user mode, no record, no policy file. A
deployed policy is a file in the host's file tree (so host snapshots and file.stat see it), whose bytes are a
deterministic text of its example, mode, name and policy id (its sha256 stands for the binary's); the
record is the registry key HKLM\\SOFTWARE\\GoWin\\Baseline\\Wdac\\<record>, as the agent writes it (no PolicyId on the
single format; Boot, the host's boot_time, on the restart activation: the record is pending while the boot is the same). What code
integrity enforces is state["wdac_loaded"] (the mode of the strictest policy loaded; kernel and user mode both
report it): a citool activation loads the host's policies at once; a restart one waits for the host's
``reboot()``, which this mixin extends to load them. Policy ids are GUIDs derived from the record name. Test
helpers alter or delete a policy file and place a foreign SIPolicy.p7b. Vectors: tests/contract/vectors/wdac.yml.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

# same_boot (BOOT_SLACK_S, the agent's boot_time form) has one copy, the controller's: the twin compares as it does
from ansible_collections.gowin.server.plugins.plugin_utils._baseline import same_boot
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, OpFailure, Profile, WinPath, _op, parse_path

WDAC_KEY = "HKLM\\SOFTWARE\\GoWin\\Baseline\\Wdac"
WINDIR = "C:\\Windows"
EXAMPLES_DIR = WINDIR + "\\schemas\\CodeIntegrity\\ExamplePolicies"
ACTIVE_DIR = WINDIR + "\\System32\\CodeIntegrity\\CiPolicies\\Active"
SINGLE_FILE = WINDIR + "\\System32\\CodeIntegrity\\SIPolicy.p7b"
EXAMPLE_POLICIES = ("AllowAll", "AllowMicrosoft", "DefaultWindows_Audit", "DefaultWindows_Enforced")
MODES = ("audit", "enforced")
RECORD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
EXAMPLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,63}")
POLICY_NAME = re.compile(r"[A-Za-z0-9 ._-]{1,64}")
GUID = re.compile(r"\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}")
# Record values (REG_SZ) -> the field of wdac.get's record.
VALUES = {"policy_id": "PolicyId", "mode": "Mode", "example": "Example", "name": "Name", "sha256": "Sha256", "file": "File",
          "boot": "Boot"}
_STRICTNESS = {"off": 0, "audit": 1, "enforced": 2}
_POLICY_IDS = uuid.UUID("6f1d3c55-8a0e-4c5e-9f57-2d0c8e1b7a41")  # the namespace of the twin's policy ids


def policy_format(profile: Profile) -> str:
    """multiple from Windows 10 1903 (build 18362: Windows Server 2022 and later), else single."""
    return "multiple" if profile.build >= 18362 else "single"


def activation(profile: Profile) -> str:
    """citool where CiTool.exe exists (Windows Server 2025), else restart."""
    return "citool" if profile.build >= 26100 else "restart"


def policy_id_for(record: str) -> str:
    """The twin's policy id of a record: a GUID in braces, upper case, the same for the same name in any case."""
    return "{%s}" % str(uuid.uuid5(_POLICY_IDS, record.lower())).upper()


def policy_bytes(example: str, mode: str, name: str, policy_id: str) -> bytes:
    """What the twin's built policy holds (stands for ConvertFrom-CIPolicy's binary)."""
    text = json.dumps({"example": example, "mode": mode, "name": name, "policy_id": policy_id}, sort_keys=True)
    return ("winsim WDAC policy (a stand-in for a binary policy; it enforces nothing)\r\n" + text + "\r\n").encode("ascii")


def is_policy_file(path: str | None) -> bool:
    """True for the two places Windows reads policies from: a {GUID}.cip under CiPolicies\\Active, or SIPolicy.p7b."""
    if not path:
        return False
    if path.lower() == SINGLE_FILE.lower():
        return True
    prefix = ACTIVE_DIR.lower() + "\\"
    if not path.lower().startswith(prefix) or not path.lower().endswith(".cip"):
        return False
    return GUID.fullmatch(path[len(prefix):-4]) is not None


def _check(a: Args, arg: str, pattern: re.Pattern[str], expected: str) -> str:
    value = a.need_text(arg)
    if not pattern.fullmatch(value):
        a.fail(arg, "must be " + expected)
    return value


class WdacOps:
    """The wdac ops of WinSimHost (a mixin over host.HostBase)."""

    # ---- the model --------------------------------------------------------------------------

    def _wdac_file_sha256(self, path: str | None) -> str | None:
        if not is_policy_file(path):
            return None
        node = self.resolve(parse_path(path, "path"))
        return self._sha256(node.host_path) if node.kind == "file" else None

    def _wdac_records(self) -> dict[str, JsonDict]:
        """record name -> its values (None for one that is missing or not REG_SZ), in ordinal order."""
        key = self.registry.find(WDAC_KEY)
        if key is None:
            return {}
        records: dict[str, JsonDict] = {}
        for name in sorted(key["keys"]):
            values = key["keys"][name]["values"]
            found: JsonDict = {}
            for field, value_name in VALUES.items():
                stored = next((v for n, v in values.items() if n.lower() == value_name.lower()), None)
                found[field] = stored["data"] if stored is not None and stored["type"] == "REG_SZ" else None
            if found["sha256"] is not None:
                found["sha256"] = found["sha256"].lower()
            records[name] = found
        return records

    def _wdac_boot(self) -> str | None:
        return self._state.get("boot_time")

    def _wdac_pending(self, rec: JsonDict) -> bool:
        """A record deployed for the next start that the host has not restarted since."""
        return activation(self.profile) == "restart" and same_boot(rec["boot"], self._wdac_boot())

    def _wdac_status(self) -> str:
        return str(self._state.get("wdac_loaded", "off"))

    def _wdac_load(self) -> None:
        """Code integrity loads the deployed policies: it enforces the strictest of those whose file is intact."""
        loaded = "off"
        for rec in self._wdac_records().values():
            intact = rec["sha256"] is not None and self._wdac_file_sha256(rec["file"]) == rec["sha256"]
            if intact and rec["mode"] in MODES and _STRICTNESS[rec["mode"]] > _STRICTNESS[loaded]:
                loaded = rec["mode"]
        if loaded == "off":
            self._state.pop("wdac_loaded", None)
        else:
            self._state["wdac_loaded"] = loaded

    # ---- ops --------------------------------------------------------------------------------

    @_op("wdac.get")
    def _wdac_get(self, a: Args) -> JsonDict:
        del a
        records = self._wdac_records()
        for rec in records.values():
            rec["file_sha256"] = self._wdac_file_sha256(rec["file"])
            rec["pending"] = self._wdac_pending(rec)
        status = self._wdac_status()
        return {
            "format": policy_format(self.profile), "activation": activation(self.profile), "kernel": status, "user": status,
            "examples": sorted(EXAMPLE_POLICIES), "records": records,
        }

    @_op("wdac.set", "record", "example", "mode", "name")
    def _wdac_set(self, a: Args) -> JsonDict:
        record = _check(a, "record", RECORD_NAME, "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        example = _check(a, "example", EXAMPLE_NAME,
                         "the name of an example policy: 1 to 64 letters, digits or '_', starting with a letter or digit")
        mode = a.need_text("mode", MODES)
        name = _check(a, "name", POLICY_NAME, "1 to 64 letters, digits, spaces, '.', '_' or '-'")
        canonical = next((e for e in EXAMPLE_POLICIES if e.lower() == example.lower()), None)  # file names: any case
        if canonical is None:
            raise OpFailure("not_found", "example policy '%s' is not on this host (%s)" % (example, EXAMPLES_DIR))
        fmt, how = policy_format(self.profile), activation(self.profile)
        records = self._wdac_records()
        rec = next((r for n, r in records.items() if n.lower() == record.lower()), None)
        rec_sha = rec["sha256"] if rec is not None else None
        if rec is not None and (rec["example"], rec["mode"], rec["name"]) == (example, mode, name):
            file_sha = self._wdac_file_sha256(rec["file"])
            if file_sha is not None and rec_sha and file_sha == rec_sha:
                return {"changed": False, "restart_needed": self._wdac_pending(rec), "policy_id": rec["policy_id"], "sha256": rec_sha,
                        "file": rec["file"], "activation": how}
        policy_id: str | None = None
        if fmt == "multiple":
            stored_id = rec["policy_id"] if rec is not None else None
            policy_id = stored_id.upper() if stored_id is not None and GUID.fullmatch(stored_id) else policy_id_for(record)
            target = ACTIVE_DIR + "\\" + policy_id + ".cip"
        else:
            target = SINGLE_FILE
            there = self._wdac_file_sha256(target)
            if there is not None and (not rec_sha or there != rec_sha):
                owner = next((n for n, r in records.items() if r["sha256"] == there and n.lower() != record.lower()), None)
                if owner is not None:
                    raise OpFailure("conflict", "the WDAC policy at %s is the policy of record '%s': this release takes one policy only; "
                                                "it is left as it is" % (target, owner))
                raise OpFailure("conflict", "a WDAC policy this collection did not deploy is at %s; it is left as it is" % target)
        data = policy_bytes(example, mode, name, policy_id or "")
        path = parse_path(target, "path")
        self._drop_readonly(path)
        self._write_atomic(path, data, "wdac.set")
        sha = hashlib.sha256(data).hexdigest()
        key = WDAC_KEY + "\\" + record  # an existing key of that name in another case is the one written (keys: any case)
        boot = self._wdac_boot() if how == "restart" else None
        for field, value in (("PolicyId", policy_id), ("Mode", mode), ("Example", example), ("Name", name), ("Sha256", sha), ("File", target),
                             ("Boot", boot)):
            if value is None:
                self.registry.remove_value(key, field)
            else:
                self.registry.set(key, field, "REG_SZ", value)
        if how != "restart":
            self._wdac_load()
        return {"changed": True, "restart_needed": how == "restart", "policy_id": policy_id, "sha256": sha, "file": target,
                "activation": how}

    def _drop_readonly(self, path: WinPath) -> None:
        node = self.resolve(path)
        self._state["readonly"] = [p for p in self._state.get("readonly", []) if p.lower() != node.path.key]

    # ---- test and bench API -----------------------------------------------------------------

    def reboot(self) -> None:
        """A restart: code integrity loads the policies deployed (intact) now, then the host clears what waited for it."""
        with self._transaction():
            self._wdac_load()
            super().reboot()  # type: ignore[misc]

    def wdac_policy_file(self, record: str) -> str | None:
        """The File value of a record (None without one)."""
        with self._transaction():
            rec = next((r for n, r in self._wdac_records().items() if n.lower() == record.lower()), None)
            return None if rec is None else rec["file"]

    def wdac_tamper(self, record: str, delete: bool = False, data: bytes = b"altered by a test\r\n") -> None:
        """Alter (or delete) the policy file of a record, as something other than this collection would."""
        with self._transaction():
            rec = next((r for n, r in self._wdac_records().items() if n.lower() == record.lower()), None)
            if rec is None or not rec["file"]:
                raise ValueError("no WDAC record %r with a file" % record)
            path = parse_path(rec["file"], "path")
            if delete:
                node = self.resolve(path)
                if node.kind == "file":
                    self._remove(node, "wdac_tamper")
            else:
                self._write_atomic(path, data, "wdac_tamper")

    def wdac_place_foreign(self, data: bytes = b"a SIPolicy.p7b from elsewhere\r\n") -> str:
        """Put a SIPolicy.p7b this collection did not deploy (another tool's policy); returns its path."""
        with self._transaction():
            self._write_atomic(parse_path(SINGLE_FILE, "path"), data, "wdac_place_foreign")
            return SINGLE_FILE

    def wdac_loaded(self) -> str:
        """What code integrity enforces now: off, audit or enforced."""
        with self._transaction():
            return self._wdac_status()
