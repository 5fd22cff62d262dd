# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'reboot' (plugins/plugin_utils/_agent/reboot.ps1): reboot.request
and reboot.cancel. A request is kept as state["reboot_at"] (the time it is due); the first round trip
after that time finds the host restarted: what waited for a restart completes (WinSimHost.reboot) and
host.facts' boot_time moves on. Vectors: tests/contract/vectors/reboot.yml.
"""

from __future__ import annotations

import calendar
import time

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, OpFailure, _op, boot_stamp


class RebootOps:
    """The reboot ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("reboot.request", "delay_s", "reason")
    def _reboot_request(self, a: Args) -> JsonDict:
        delay = a.number("delay_s", 5, 0, 600)
        reason = a.text("reason")
        if reason is not None and (len(reason) > 200 or any(ord(c) < 32 for c in reason)):
            a.fail("reason", "must be at most 200 characters without control characters")
        if self._state.get("reboot_at") is not None:
            raise OpFailure("busy", "a shutdown or restart is already scheduled on the host (shutdown /a takes it back)")
        self._state["reboot_at"] = time.time() + delay
        return {"scheduled": True, "delay_s": delay}

    @_op("reboot.cancel")
    def _reboot_cancel(self, a: Args) -> JsonDict:
        del a
        if self._state.get("reboot_at") is None:
            return {"cancelled": False}
        self._state["reboot_at"] = None
        return {"cancelled": True}

    def before_request(self) -> None:
        """A restart that fell due since the last round trip has happened."""
        due = self._state.get("reboot_at")
        if due is not None and time.time() >= due:
            self._state["reboot_at"] = None
            self.reboot()

    def reboot(self) -> None:
        """A restart: what waited for it completes, and the host has booted again (a later boot_time)."""
        with self._transaction() as state:
            super().reboot()  # type: ignore[misc]
            before = state.get("boot_time")
            now = time.time()
            if before is not None:
                now = max(now, calendar.timegm(time.strptime(before, "%Y-%m-%dT%H:%M:%SZ")) + 60)
            state["boot_time"] = boot_stamp(now)
            state["reboot_at"] = None
