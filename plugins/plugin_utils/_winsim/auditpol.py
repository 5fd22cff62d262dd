# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'auditpol' (plugins/plugin_utils/_agent/auditpol.ps1):
auditpol.get, auditpol.set. The system audit policy is kept per subcategory as auditpol's numeric
Setting Value (state["audit_policy"]: GUID -> 0 none, 1 success, 2 failure, 3 both). A new host has
the defaults of a fresh, non-domain-joined Windows Server of its release (``default_audit_policy``):
the 60 subcategories that ``auditpol /list /subcategory:* /v`` lists on Windows Server 2016, 2019,
2022 and 2025 alike (the 59 of Microsoft's "Advanced security audit policy settings" and MS-GPAC,
plus Access Rights, Audit_Logon_AccessRights of ntsecapi.h), with the server editions' defaults
(Microsoft's explain text of "Audit account logon events": Credential Validation, Kerberos
Authentication Service and Kerberos Service Ticket Operations audit Success on server editions).
Tests change one entry with ``set_audit_setting`` and read the table with ``audit_settings``.
Vectors: tests/contract/vectors/auditpol.yml.
"""

from __future__ import annotations

import re

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, OpFailure, _op

GUID = re.compile(r"^\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}$")
MAX_ENTRIES = 60
_TAIL = "-69AE-11D9-BED3-505054503030}"

# (GUID, English name as auditpol writes it, default Setting Value on a fresh Windows Server).
SUBCATEGORIES: tuple[tuple[str, str, int], ...] = tuple(("{0CCE92%s%s" % (low, _TAIL), name, value) for low, name, value in (
    # System
    ("10", "Security State Change", 1), ("11", "Security System Extension", 0), ("12", "System Integrity", 3),
    ("13", "IPsec Driver", 0), ("14", "Other System Events", 3),
    # Logon/Logoff
    ("15", "Logon", 3), ("16", "Logoff", 1), ("17", "Account Lockout", 1), ("18", "IPsec Main Mode", 0),
    ("19", "IPsec Quick Mode", 0), ("1A", "IPsec Extended Mode", 0), ("1B", "Special Logon", 1),
    ("1C", "Other Logon/Logoff Events", 0), ("43", "Network Policy Server", 3), ("47", "User / Device Claims", 0),
    ("49", "Group Membership", 0), ("4B", "Access Rights", 0),
    # Object Access
    ("1D", "File System", 0), ("1E", "Registry", 0), ("1F", "Kernel Object", 0), ("20", "SAM", 0),
    ("21", "Certification Services", 0), ("22", "Application Generated", 0), ("23", "Handle Manipulation", 0),
    ("24", "File Share", 0), ("25", "Filtering Platform Packet Drop", 0), ("26", "Filtering Platform Connection", 0),
    ("27", "Other Object Access Events", 0), ("44", "Detailed File Share", 0), ("45", "Removable Storage", 0),
    ("46", "Central Policy Staging", 0),
    # Privilege Use
    ("28", "Sensitive Privilege Use", 0), ("29", "Non Sensitive Privilege Use", 0), ("2A", "Other Privilege Use Events", 0),
    # Detailed Tracking
    ("2B", "Process Creation", 0), ("2C", "Process Termination", 0), ("2D", "DPAPI Activity", 0), ("2E", "RPC Events", 0),
    ("48", "Plug and Play Events", 0), ("4A", "Token Right Adjusted Events", 0),
    # Policy Change
    ("2F", "Audit Policy Change", 1), ("30", "Authentication Policy Change", 1), ("31", "Authorization Policy Change", 0),
    ("32", "MPSSVC Rule-Level Policy Change", 0), ("33", "Filtering Platform Policy Change", 0),
    ("34", "Other Policy Change Events", 0),
    # Account Management
    ("35", "User Account Management", 1), ("36", "Computer Account Management", 1), ("37", "Security Group Management", 1),
    ("38", "Distribution Group Management", 0), ("39", "Application Group Management", 0),
    ("3A", "Other Account Management Events", 0),
    # DS Access
    ("3B", "Directory Service Access", 1), ("3C", "Directory Service Changes", 0), ("3D", "Directory Service Replication", 0),
    ("3E", "Detailed Directory Service Replication", 0),
    # Account Logon
    ("3F", "Credential Validation", 1), ("40", "Kerberos Service Ticket Operations", 1), ("41", "Other Account Logon Events", 0),
    ("42", "Kerberos Authentication Service", 1),
))
NAMES = {guid: name for guid, name, _value in SUBCATEGORIES}


def default_audit_policy(profile: str) -> dict[str, int]:
    """GUID -> Setting Value of a fresh, non-domain-joined Windows Server of `profile` (ws2016 .. ws2025,
    with or without -core): the same 60 subcategories and defaults on all four releases."""
    del profile  # no release in scope adds, drops or changes a subcategory
    return {guid: value for guid, _name, value in SUBCATEGORIES}


def _flags(value: int) -> JsonDict:
    return {"success": bool(value & 1), "failure": bool(value & 2)}


class AuditpolOps:
    """The auditpol ops of WinSimHost (a mixin over host.HostBase)."""

    def _audit_table(self) -> dict[str, JsonDict]:
        """GUID -> {"name", "value"}: the state's table, or the profile's defaults on a host made before it."""
        table = self._state.get("audit_policy")
        if table is None:
            table = {g: {"name": NAMES[g], "value": v} for g, v in default_audit_policy(self.profile.name).items()}
        return table

    def _baseline(self) -> JsonDict:
        state = super()._baseline()
        state["audit_policy"] = {g: {"name": NAMES[g], "value": v} for g, v in default_audit_policy(self.profile.name).items()}
        return state

    def _audit_rows(self) -> list[JsonDict]:
        return [dict({"guid": g, "name": e["name"]}, **_flags(e["value"])) for g, e in sorted(self._audit_table().items())]

    @_op("auditpol.get")
    def _auditpol_get(self, a: Args) -> JsonDict:
        return {"subcategories": self._audit_rows()}

    @_op("auditpol.set", "subcategories")
    def _auditpol_set(self, a: Args) -> JsonDict:
        entries = a.raw.get("subcategories")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES:
            a.fail("subcategories", "must be a list of 1 to %d entries {guid, success, failure}" % MAX_ENTRIES)
        wanted: list[tuple[str, int]] = []
        for index, entry in enumerate(entries):
            where = "subcategories[%d]" % index
            if not isinstance(entry, dict) or set(entry) != {"guid", "success", "failure"}:
                a.fail(where, "must be an object with exactly guid, success and failure")
            guid = entry["guid"]
            if not isinstance(guid, str) or not GUID.match(guid):
                a.fail(where + ".guid", "must be a subcategory GUID such as {0CCE9215-69AE-11D9-BED3-505054503030}")
            for flag in ("success", "failure"):
                if not isinstance(entry[flag], bool):
                    a.fail("%s.%s" % (where, flag), "must be true or false")
            if guid.upper() in [g for g, _v in wanted]:
                a.fail(where + ".guid", "names %s twice" % guid.upper())
            wanted.append((guid.upper(), (1 if entry["success"] else 0) | (2 if entry["failure"] else 0)))
        table = self._audit_table()
        for guid, _value in wanted:
            if guid not in table:
                raise OpFailure("not_found", "auditpol.set: the host has no audit subcategory %s" % guid)
        results = []
        changed = False
        for guid, value in wanted:
            before = table[guid]["value"]
            if before != value:
                table = self._state.setdefault("audit_policy", table)
                table[guid]["value"] = value
                changed = True
            results.append({"guid": guid, "before": _flags(before), "after": _flags(table[guid]["value"])})
        return {"changed": changed, "results": results}

    # ---- test and bench API -----------------------------------------------------------------

    def audit_settings(self) -> list[JsonDict]:
        """The audit policy as auditpol.get reports it."""
        with self._transaction():
            return self._audit_rows()

    def set_audit_setting(self, guid: str, success: bool = False, failure: bool = False, present: bool = True,
                          name: str | None = None) -> None:
        """Override one subcategory (present=False: the host does not have it, as on a release without it)."""
        with self._transaction() as state:
            table = state.setdefault("audit_policy", self._audit_table())
            key = guid.upper()
            if not present:
                table.pop(key, None)
                return
            table[key] = {"name": name or NAMES.get(key, key), "value": (1 if success else 0) | (2 if failure else 0)}
