# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'acl' (plugins/plugin_utils/_agent/acl.ps1):
ACLs and account names.
Vectors: tests/contract/vectors/acl.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    ACE_FLAGS,
    OICI,
    Args,
    JsonDict,
    OpFailure,
    SID_ADMINISTRATORS,
    _ace,
    _ace_sort_key,
    _dotnet_order,
    _is_canonical,
    _op,
)

ACE_FIELDS = ("identity", "mask", "type", "inherit", "flags")


class AclOps:
    """The acl ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("acl.get", "path")
    def _acl_get(self, a: Args) -> JsonDict:
        node = self.resolve(a.path("path"))
        if not node.exists:
            return {"exists": False, "owner": None, "protected": False, "canonical": True, "aces": []}
        return self._acl(node)

    @_op("acl.set", "path", "protected", "aces")
    def _acl_set(self, a: Args) -> JsonDict:
        path = a.path("path")
        protected = a.flag("protected", False)
        raw_aces = a.raw.get("aces")
        if not isinstance(raw_aces, list):
            a.fail("aces", "is required (a list of {identity, mask, type, inherit or flags})")
        shapes = [self._ace_shape(a, index, raw) for index, raw in enumerate(raw_aces)]
        node = self.resolve(path)
        if not node.exists:
            raise OpFailure("not_found", "acl.set: %s does not exist" % path)
        is_dir = node.kind == "directory"
        for index, (_identity, _mask, _type, flags, key) in enumerate(shapes):
            if flags and not is_dir:
                a.fail("aces[%d].%s" % (index, key), "must be %s on a file (only folders pass ACEs on)" % ("false" if key == "inherit" else "[]"))
        aces = []
        for index, (identity, mask, ace_type, flags, _key) in enumerate(shapes):
            try:
                sid = self.lookup_identity(identity)
            except OpFailure as failure:
                raise OpFailure(failure.kind, "acl.set: aces[%d]: %s" % (index, failure.message)) from None
            if sid is None:
                raise OpFailure(
                    "identity_not_found", "acl.set: aces[%d]: no account or group named '%s' is known on this host" % (index, identity)
                )
            aces.append(_ace(sid, mask, ace_type=ace_type, flags=flags))
        self._refuse_mergeable(a, aces)
        entry = self._state["acls"].get(node.path.key)
        current = self._explicit_aces(node.path, is_dir)
        same = (
            bool((entry or {}).get("protected")) == protected
            and _is_canonical(current)
            and sorted(map(_ace_sort_key, current)) == sorted(map(_ace_sort_key, aces))
        )
        if same:
            return {"changed": False}
        owner = entry["owner"] if entry else SID_ADMINISTRATORS
        self._state["acls"][node.path.key] = {"path": str(node.path), "owner": owner, "protected": protected, "aces": _dotnet_order(aces)}
        return {"changed": True}

    @staticmethod
    def _refuse_mergeable(a: Args, aces: list[JsonDict]) -> None:
        """Two ACEs of one SID and type with the same mask or the same flags: .NET's CommonAcl merges such a
        pair into one ACE (MergeAces), so what Windows stores would not be what was asked."""
        for j, later in enumerate(aces):
            for i in range(j):
                first = aces[i]
                if first["sid"].upper() != later["sid"].upper() or first["type"] != later["type"]:
                    continue
                what = "mask" if first["mask"] == later["mask"] else "flags" if first["flags"] == later["flags"] else None
                if what:
                    a.fail(
                        "aces[%d]" % j,
                        "and aces[%d] are both %s ACEs for %s with the same %s: Windows keeps such a pair as one ACE; "
                        "give one ACE (combine the masks or the flags)" % (i, first["type"], first["sid"], what),
                    )

    @staticmethod
    def _ace_shape(a: Args, index: int, raw: object) -> tuple[str, int, str, list[str], str]:
        """(identity, mask, type, flags, the key the flags came from) of one ACE argument."""
        what = "aces[%d]" % index
        if not isinstance(raw, dict):
            a.fail(what, "must be an object with identity, mask, type and inherit or flags")
        unknown = sorted(set(raw) - set(ACE_FIELDS))
        if unknown:
            a.fail(what, "has an unknown key '%s'; accepted: %s" % (unknown[0], ", ".join(ACE_FIELDS)))
        identity, mask, ace_type, inherit, flags = (raw.get(f) for f in ACE_FIELDS)
        if not isinstance(identity, str) or not identity:
            a.fail(what + ".identity", "is required (an account name or SID)")
        if not isinstance(mask, int) or isinstance(mask, bool) or not 1 <= mask <= 0xFFFFFFFF:
            a.fail(what + ".mask", "must be an integer FileSystemRights mask from 1 to 4294967295")
        if ace_type not in ("allow", "deny"):
            a.fail(what + ".type", "must be one of allow, deny")
        if inherit is not None and flags is not None:
            a.fail(what, "takes inherit or flags, not both")
        if flags is None:
            if not isinstance(inherit, bool):
                a.fail(what + ".inherit", "must be true or false (or give flags)")
            return identity, mask, ace_type, list(OICI) if inherit else [], "inherit"
        if not isinstance(flags, list) or any(f not in ACE_FLAGS for f in flags) or len(set(flags)) != len(flags):
            a.fail(what + ".flags", "must be a list of distinct flags from %s" % ", ".join(ACE_FLAGS))
        if ("NP" in flags or "IO" in flags) and not ("OI" in flags or "CI" in flags):
            a.fail(what + ".flags", "NP and IO need OI or CI (they say how the ACE is inherited)")
        return identity, mask, ace_type, [f for f in ACE_FLAGS if f in flags], "flags"

    @_op("identity.resolve", "names")
    def _identity_resolve(self, a: Args) -> JsonDict:
        names = a.strings("names")
        if any(not n for n in names):
            a.fail("names", "must not contain an empty name")
        sids = {}
        for name in names:
            try:
                sids[name] = self.lookup_identity(name)
            except OpFailure as failure:
                raise OpFailure(failure.kind, "identity.resolve: " + failure.message) from None
        return {"sids": sids}
