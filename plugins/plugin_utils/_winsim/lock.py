# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'lock' (plugins/plugin_utils/_agent/lock.ps1):
the host lock that serializes the changes of concurrent runs.
Vectors: tests/contract/vectors/lock.yml. Protocol: docs/agent-protocol.md.

The lock is the registry key HKLM\\SOFTWARE\\GoWin\\Lock (Owner, Expires, Holder), as on a real
host; winsim's transactions (one per request, under a file lock) stand in for the agent's mutex.
"""

from __future__ import annotations

import re
import time

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    JsonDict,
    OpFailure,
    _op,
)

LOCK_KEY = "HKLM\\SOFTWARE\\GoWin\\Lock"
_OWNER = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class LockOps:
    """The lock ops of WinSimHost (a mixin over host.HostBase)."""

    def _lock_state(self) -> JsonDict | None:
        owner = self.registry.value(LOCK_KEY, "Owner")
        if not owner or owner.get("type") != "REG_SZ" or not owner.get("data"):
            return None
        expires = self.registry.value(LOCK_KEY, "Expires") or {}
        holder = self.registry.value(LOCK_KEY, "Holder") or {}
        until = expires.get("data") if expires.get("type") in ("REG_QWORD", "REG_DWORD") else 0
        return {"owner": owner["data"], "expires": int(until or 0), "holder": str(holder.get("data") or "")}

    @staticmethod
    def _lock_owner(a: Args) -> str:
        owner = a.need_text("owner")
        if not _OWNER.match(owner):
            a.fail("owner", "must be 1 to 128 letters, digits or . _ : - (a token naming the run)")
        return owner

    @_op("lock.acquire", "owner", "lease", "holder")
    def _lock_acquire(self, a: Args) -> JsonDict:
        owner = self._lock_owner(a)
        if a.raw.get("lease") is None:
            a.fail("lease", "is required (seconds, 1 to 86400)")
        lease = a.number("lease", 0, 1, 86400)
        holder = a.text("holder", empty=True) or ""
        if len(holder) > 200:
            a.fail("holder", "must be at most 200 characters")
        now = int(time.time())
        state = self._lock_state()
        took_over = None
        if state is not None and state["owner"] != owner:
            if state["expires"] > now:
                raise OpFailure(
                    "busy",
                    "the host is locked by another gowin.server run (%s) until %s; it is released when that run ends"
                    % (state["holder"], _utc(state["expires"])),
                )
            took_over = state["holder"]
        expires = now + lease
        self.registry.set(LOCK_KEY, "Owner", "REG_SZ", owner)
        self.registry.set(LOCK_KEY, "Expires", "REG_QWORD", expires)
        self.registry.set(LOCK_KEY, "Holder", "REG_SZ", holder)
        return {"acquired": True, "expires": expires, "took_over": took_over}

    @_op("lock.release", "owner")
    def _lock_release(self, a: Args) -> JsonDict:
        owner = self._lock_owner(a)
        state = self._lock_state()
        if state is None or state["owner"] != owner:
            return {"released": False}
        self.registry.remove_key(LOCK_KEY)
        return {"released": True}
