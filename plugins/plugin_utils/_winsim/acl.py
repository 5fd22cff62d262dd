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
    Args,
    JsonDict,
    OpFailure,
    SID_ADMINISTRATORS,
    _ace,
    _ace_sort_key,
    _op,
)


class AclOps:
    """The acl ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("acl.get", "path")
    def _acl_get(self, a: Args) -> JsonDict:
        node = self.resolve(a.path("path"))
        if not node.exists:
            return {"exists": False, "owner": None, "protected": False, "aces": []}
        return self._acl(node)

    @_op("acl.set", "path", "protected", "aces")
    def _acl_set(self, a: Args) -> JsonDict:
        path = a.path("path")
        protected = a.flag("protected", False)
        raw_aces = a.raw.get("aces")
        if not isinstance(raw_aces, list):
            a.fail("aces", "is required (a list of {identity, mask, type, inherit})")
        shapes = [self._ace_shape(a, index, raw) for index, raw in enumerate(raw_aces)]
        node = self.resolve(path)
        if not node.exists:
            raise OpFailure("not_found", "acl.set: %s does not exist" % path)
        aces = []
        for index, (identity, mask, ace_type, inherit) in enumerate(shapes):
            if inherit and node.kind != "directory":
                a.fail("aces[%d].inherit" % index, "must be false on a file (only folders pass ACEs on)")
            sid = self.lookup_identity(identity)
            if sid is None:
                raise OpFailure(
                    "identity_not_found", "acl.set: aces[%d]: no account or group named '%s' is known on this host" % (index, identity)
                )
            aces.append(_ace(sid, mask, inherit, ace_type))
        entry = self._state["acls"].get(node.path.key)
        current = entry or {"aces": [], "protected": False}
        if bool(current["protected"]) == protected and sorted(current["aces"], key=_ace_sort_key) == sorted(aces, key=_ace_sort_key):
            return {"changed": False}
        owner = entry["owner"] if entry else SID_ADMINISTRATORS
        self._state["acls"][node.path.key] = {"path": str(node.path), "owner": owner, "protected": protected, "aces": aces}
        return {"changed": True}

    @staticmethod
    def _ace_shape(a: Args, index: int, raw: object) -> tuple[str, int, str, bool]:
        what = "aces[%d]" % index
        fields = ("identity", "mask", "type", "inherit")
        if not isinstance(raw, dict):
            a.fail(what, "must be an object with %s" % ", ".join(fields))
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            a.fail(what, "has an unknown key '%s'; accepted: %s" % (unknown[0], ", ".join(fields)))
        identity, mask, ace_type, inherit = (raw.get(f) for f in fields)
        if not isinstance(identity, str) or not identity:
            a.fail(what + ".identity", "is required (an account name or SID)")
        if not isinstance(mask, int) or isinstance(mask, bool) or not 1 <= mask <= 0xFFFFFFFF:
            a.fail(what + ".mask", "must be an integer FileSystemRights mask from 1 to 4294967295")
        if ace_type not in ("allow", "deny"):
            a.fail(what + ".type", "must be one of allow, deny")
        if not isinstance(inherit, bool):
            a.fail(what + ".inherit", "must be true or false")
        return identity, mask, ace_type, inherit

    @_op("identity.resolve", "names")
    def _identity_resolve(self, a: Args) -> JsonDict:
        names = a.strings("names")
        if any(not n for n in names):
            a.fail("names", "must not contain an empty name")
        return {"sids": {name: self.lookup_identity(name) for name in names}}
