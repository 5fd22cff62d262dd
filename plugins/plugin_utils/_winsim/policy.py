# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'policy' (plugins/plugin_utils/_agent/policy.ps1):
policy.user_right, policy.export, policy.configure. One store, as secedit exports it:
state["rights"] (right -> holders as ``*S-1-...``; a right without holders is absent) and
state["system_access"] ([System Access] name -> integer, or string for the account names). A new host
has the defaults of a fresh, non-domain-joined Windows Server of its release (``default_rights``,
``default_system_access``: secedit /export of stock 2016, 2019, 2022 and 2025 servers; 2025 turns
account lockout on at 10 attempts, 10 minutes, 10 minutes). The lockout duration and reset time are
kept while the threshold is 0 (the SAM keeps them: 30 and 30 minutes before 2025) but, as secedit
does, not exported then. Rights a group policy sets (state["policy_rights"], see
``set_policy_right``) are reported as policy_owned. Vectors: tests/contract/vectors/policy.yml.
"""

from __future__ import annotations

import re

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, _op

_RIGHT = re.compile(r"^Se[A-Za-z]{1,60}(Right|Privilege)$")
_SID = re.compile(r"^S-1-\d+(-\d+)+$")

# The [System Access] names policy.configure sets (integers -1 to 99999).
CONFIGURABLE = ("MinimumPasswordAge", "MaximumPasswordAge", "MinimumPasswordLength", "PasswordComplexity", "PasswordHistorySize",
                "LockoutBadCount", "ResetLockoutCount", "LockoutDuration", "RequireLogonToChangePassword", "ForceLogoffWhenHourExpire",
                "ClearTextPassword", "LSAAnonymousNameLookup", "EnableAdminAccount", "EnableGuestAccount")
LOCKOUT_TIMES = ("ResetLockoutCount", "LockoutDuration")
MAX_BAD_COUNT = 999
MAX_RIGHTS = 60

_ADMINS, _USERS, _BACKUP_OPS, _EVERYONE = "*S-1-5-32-544", "*S-1-5-32-545", "*S-1-5-32-551", "*S-1-1-0"
_LOCAL_SERVICE, _NETWORK_SERVICE, _SERVICE = "*S-1-5-19", "*S-1-5-20", "*S-1-5-6"
_WDI_SERVICE_HOST = "*S-1-5-80-3139157870-2983391045-3678747466-658725712-1809340420"  # NT SERVICE\WdiServiceHost
_WINDOW_MANAGER = "*S-1-5-90-0"  # Window Manager\Window Manager Group
_PRINT_SPOOLER = "*S-1-5-99-216390572-1995538116-3857911515-2404958512-2623887229"  # RESTRICTED SERVICES\PrintSpoolerService
_ALL_RESTRICTED = "*S-1-5-99-0"  # RESTRICTED SERVICES\ALL RESTRICTED SERVICES


def default_rights(profile: str) -> dict[str, list[str]]:
    """[Privilege Rights] of a fresh, non-domain-joined Windows Server (a member server's defaults,
    Microsoft's "Default values" per right) as secedit exports it; rights nobody holds (SeDenyNetworkLogonRight,
    SeDenyServiceLogonRight, SeDenyRemoteInteractiveLogonRight, SeTrustedCredManAccessPrivilege, SeTcbPrivilege,
    ...) are absent."""
    base = profile[:-5] if profile.endswith("-core") else profile
    later = base != "ws2016"  # the Window Manager group may raise scheduling priority from 2019 on
    newest = base == "ws2025"  # 2025: restricted services (the print spooler's SID)
    rights = {
        "SeNetworkLogonRight": [_EVERYONE, _ADMINS, _USERS, _BACKUP_OPS],
        "SeBackupPrivilege": [_ADMINS, _BACKUP_OPS],
        "SeChangeNotifyPrivilege": [_EVERYONE, _LOCAL_SERVICE, _NETWORK_SERVICE, _ADMINS, _USERS, _BACKUP_OPS]
        + ([_PRINT_SPOOLER] if newest else []),
        "SeSystemtimePrivilege": [_LOCAL_SERVICE, _ADMINS],
        "SeCreatePagefilePrivilege": [_ADMINS],
        "SeDebugPrivilege": [_ADMINS],
        "SeRemoteShutdownPrivilege": [_ADMINS],
        "SeAuditPrivilege": [_LOCAL_SERVICE, _NETWORK_SERVICE] + ([_PRINT_SPOOLER] if newest else []),
        "SeIncreaseQuotaPrivilege": [_LOCAL_SERVICE, _NETWORK_SERVICE, _ADMINS],
        "SeIncreaseBasePriorityPrivilege": [_ADMINS] + ([_WINDOW_MANAGER] if later else []),
        "SeLoadDriverPrivilege": [_ADMINS],
        "SeBatchLogonRight": [_ADMINS, _BACKUP_OPS, "*S-1-5-32-559"],
        "SeServiceLogonRight": ["*S-1-5-80-0"] + ([_ALL_RESTRICTED] if newest else []),
        "SeInteractiveLogonRight": [_ADMINS, _USERS, _BACKUP_OPS],
        "SeSecurityPrivilege": [_ADMINS],
        "SeSystemEnvironmentPrivilege": [_ADMINS],
        "SeProfileSingleProcessPrivilege": [_ADMINS],
        "SeSystemProfilePrivilege": [_ADMINS, _WDI_SERVICE_HOST],
        "SeAssignPrimaryTokenPrivilege": [_LOCAL_SERVICE, _NETWORK_SERVICE],
        "SeRestorePrivilege": [_ADMINS, _BACKUP_OPS],
        "SeShutdownPrivilege": [_ADMINS, _BACKUP_OPS],
        "SeTakeOwnershipPrivilege": [_ADMINS],
        "SeUndockPrivilege": [_ADMINS],
        "SeManageVolumePrivilege": [_ADMINS],
        "SeRemoteInteractiveLogonRight": [_ADMINS, "*S-1-5-32-555"],
        "SeImpersonatePrivilege": [_LOCAL_SERVICE, _NETWORK_SERVICE, _ADMINS, _SERVICE] + ([_PRINT_SPOOLER] if newest else []),
        "SeCreateGlobalPrivilege": [_LOCAL_SERVICE, _NETWORK_SERVICE, _ADMINS, _SERVICE],
        "SeIncreaseWorkingSetPrivilege": [_USERS],
        "SeTimeZonePrivilege": [_LOCAL_SERVICE, _ADMINS],
        "SeCreateSymbolicLinkPrivilege": [_ADMINS],
        "SeDelegateSessionUserImpersonatePrivilege": [_ADMINS],
    }
    return rights


def default_system_access(profile: str) -> dict[str, int | str]:
    """[System Access] of a fresh, non-domain-joined Windows Server, in secedit's order, with the lockout
    duration and reset time the SAM keeps (exported only while LockoutBadCount is above 0)."""
    base = profile[:-5] if profile.endswith("-core") else profile
    lockout = 10 if base == "ws2025" else 0  # Windows Server 2025 locks an account out after 10 bad passwords
    window = 10 if base == "ws2025" else 30
    values: dict[str, int | str] = {
        "MinimumPasswordAge": 0, "MaximumPasswordAge": 42, "MinimumPasswordLength": 0, "PasswordComplexity": 1,
        "PasswordHistorySize": 0, "LockoutBadCount": lockout, "ResetLockoutCount": window, "LockoutDuration": window,
    }
    if base == "ws2025":
        values["AllowAdministratorLockout"] = 1
    values.update({
        "RequireLogonToChangePassword": 0, "ForceLogoffWhenHourExpire": 0, "NewAdministratorName": "Administrator",
        "NewGuestName": "Guest", "ClearTextPassword": 0, "LSAAnonymousNameLookup": 0, "EnableAdminAccount": 1, "EnableGuestAccount": 0,
    })
    return values


def _holders(entries: list[str]) -> list[str]:
    """Holders as the ops report them: a SID without its '*', an unmapped name as it is."""
    return [h[1:] if h.startswith("*") else h for h in entries]


def json_name(name: str) -> str:
    shown = repr(name)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def same_holders(entries: list[str], sids: list[str]) -> bool:
    """Whether the exported holders (*SIDs, names) are exactly these SIDs (case-insensitive, any order)."""
    return {e.upper() for e in entries} == {("*" + s).upper() for s in sids}


def check_lockout(a: Args, given: dict, current: dict) -> None:
    """What secedit (the SAM) can configure: the lockout times take effect, and are exported, only while
    LockoutBadCount is above 0; then the reset time must be 1 or more and at most the duration (-1 = until
    an administrator unlocks the account)."""
    count = given.get("LockoutBadCount", current.get("LockoutBadCount", 0))
    if count > MAX_BAD_COUNT:
        a.fail("system_access", "must give LockoutBadCount an integer from 0 to %d" % MAX_BAD_COUNT)
    times = [k for k in LOCKOUT_TIMES if k in given]
    if count <= 0:
        if times:
            a.fail("system_access", "sets %s while LockoutBadCount is 0: secedit neither applies nor exports the lockout "
                   "times then (set LockoutBadCount above 0 in the same call)" % " and ".join(times))
        return
    reset = given.get("ResetLockoutCount", current.get("ResetLockoutCount"))
    duration = given.get("LockoutDuration", current.get("LockoutDuration"))
    if reset is None or duration is None:
        a.fail("system_access", "must give LockoutDuration and ResetLockoutCount when it turns LockoutBadCount above 0 "
               "(secedit does not export them while the threshold is 0)")
    if reset < 1:
        a.fail("system_access", "must give ResetLockoutCount 1 to 99999 minutes while LockoutBadCount is above 0")
    if duration != -1 and (duration < 1 or reset > duration):
        a.fail("system_access", "cannot configure ResetLockoutCount %d with LockoutDuration %d: the reset time must be at most "
               "the lockout duration (or LockoutDuration -1, until an administrator unlocks)" % (reset, duration))


class PolicyOps:
    """The policy ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("policy.user_right", "right", "sid", "grant")
    def _policy_user_right(self, a: Args) -> JsonDict:
        right = a.need_text("right")
        if not _RIGHT.match(right):
            a.fail("right", "must be a user right constant such as SeServiceLogonRight")
        grant = a.flag("grant", False) if a.given("grant") else None
        rights = self._state.setdefault("rights", {})
        holders = rights.get(right, [])
        if not a.given("sid") and grant is None:
            return {"holders": [h[1:] if h.startswith("*") else h for h in holders], "changed": False,
                    "policy_owned": right in self._state.get("policy_rights", [])}
        sid = a.need_text("sid")
        if not _SID.match(sid):
            a.fail("sid", "must be a SID (S-1-...)")
        has = ("*" + sid).lower() in [h.lower() for h in holders]
        owned = right in self._state.get("policy_rights", [])
        if grant is None or grant == has:
            return {"has_right": has, "changed": False, "policy_owned": owned}
        kept = [h for h in holders if h.lower() != ("*" + sid).lower()]
        rights[right] = kept + (["*" + sid] if grant else [])
        return {"has_right": grant, "changed": True, "policy_owned": owned}

    def _baseline(self) -> JsonDict:
        state = super()._baseline()
        state["rights"] = default_rights(self.profile.name)
        state["system_access"] = default_system_access(self.profile.name)
        state["policy_rights"] = []
        return state

    def _system_access(self) -> dict[str, int | str]:
        """The state's [System Access], or the profile's defaults on a host made before it was kept."""
        if "system_access" not in self._state:
            return default_system_access(self.profile.name)
        return self._state["system_access"]

    def _exported_access(self) -> dict[str, int | str]:
        """[System Access] as secedit exports it: the lockout times only while the threshold is above 0."""
        values = self._system_access()
        hidden = LOCKOUT_TIMES if values.get("LockoutBadCount") == 0 else ()
        return {k: v for k, v in values.items() if k not in hidden}

    def _exported_rights(self) -> dict[str, list[str]]:
        rights = self._state.setdefault("rights", {})
        return {r: _holders(h) for r, h in sorted(rights.items()) if h}

    @_op("policy.export")
    def _policy_export(self, a: Args) -> JsonDict:
        return {"system_access": self._exported_access(), "privilege_rights": self._exported_rights(),
                "policy_owned_rights": sorted(self._state.get("policy_rights", []))}

    @_op("policy.configure", "system_access", "privilege_rights")
    def _policy_configure(self, a: Args) -> JsonDict:
        access = a.mapping("system_access") or {}
        rights = a.mapping("privilege_rights") or {}
        if not access and not rights:
            a.fail("system_access", "or 'privilege_rights' must name at least one setting")
        for name, value in access.items():
            if name not in CONFIGURABLE:
                a.fail("system_access", "names %s, which is not one of %s" % (json_name(name), ", ".join(CONFIGURABLE)))
            if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value <= 99999:
                a.fail("system_access", "must give %s an integer from -1 to 99999" % name)
        if len(rights) > MAX_RIGHTS:
            a.fail("privilege_rights", "must name at most %d rights" % MAX_RIGHTS)
        for right, holders in rights.items():
            if not _RIGHT.match(right):
                a.fail("privilege_rights", "names %s, which is not a user right constant such as SeServiceLogonRight" % json_name(right))
            if not isinstance(holders, list) or not all(isinstance(h, str) and _SID.match(h) for h in holders):
                a.fail("privilege_rights", "must give %s a list of SIDs (S-1-...; an empty list for no holders)" % right)
        current = self._exported_access()
        check_lockout(a, access, current)
        before = {"system_access": {k: current.get(k) for k in access},
                  "privilege_rights": {r: self._exported_rights().get(r, []) for r in rights}}
        store = self._state.setdefault("rights", {})
        access_changes = {k: v for k, v in access.items() if current.get(k) != v}
        right_changes = {r: h for r, h in rights.items() if not same_holders(store.get(r, []), h)}
        if access_changes:
            values = self._state.setdefault("system_access", dict(self._system_access()))
            values.update(access_changes)
        for right, holders in right_changes.items():
            kept: list[str] = []
            for sid in holders:
                if ("*" + sid).upper() not in [k.upper() for k in kept]:
                    kept.append("*" + sid)
            store[right] = kept
        exported, exported_rights = self._exported_access(), self._exported_rights()
        after = {"system_access": {k: exported.get(k) for k in access},
                 "privilege_rights": {r: exported_rights.get(r, []) for r in rights}}
        return {"changed": bool(access_changes or right_changes), "before": before, "after": after}

    # ---- test and bench API -----------------------------------------------------------------

    def set_policy_right(self, right: str, owned: bool = True) -> None:
        """Say that a group policy sets `right` (policy.user_right reports policy_owned)."""
        with self._transaction() as state:
            kept = [r for r in state.setdefault("policy_rights", []) if r != right]
            state["policy_rights"] = kept + ([right] if owned else [])

    def user_right_holders(self, right: str) -> list[str]:
        with self._transaction() as state:
            return list(state.setdefault("rights", {}).get(right, []))
