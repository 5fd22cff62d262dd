# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'policy' (plugins/plugin_utils/_agent/policy.ps1):
policy.user_right. Local user rights are kept as secedit exports them (state["rights"]: right ->
holders as ``*S-1-...``); the baseline gives SeServiceLogonRight to NT SERVICE\\ALL SERVICES
(S-1-5-80-0), as on a new Windows Server. Rights a group policy sets (state["policy_rights"], see
``set_policy_right``) are reported as policy_owned. Vectors: tests/contract/vectors/policy.yml.
"""

from __future__ import annotations

import re

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, _op

_RIGHT = re.compile(r"^Se[A-Za-z]{1,60}(Right|Privilege)$")
_SID = re.compile(r"^S-1-\d+(-\d+)+$")


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

    # ---- test and bench API -----------------------------------------------------------------

    def set_policy_right(self, right: str, owned: bool = True) -> None:
        """Say that a group policy sets `right` (policy.user_right reports policy_owned)."""
        with self._transaction() as state:
            kept = [r for r in state.setdefault("policy_rights", []) if r != right]
            state["policy_rights"] = kept + ([right] if owned else [])

    def user_right_holders(self, right: str) -> list[str]:
        with self._transaction() as state:
            return list(state.setdefault("rights", {}).get(right, []))
