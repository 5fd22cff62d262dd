# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'junction' (plugins/plugin_utils/_agent/junction.ps1):
junction.set.
Vectors: tests/contract/vectors/junction.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

import os

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    JsonDict,
    OpFailure,
    _op,
    is_unc,
)


class JunctionOps:
    """The junction ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("junction.set", "path", "target")
    def _junction_set(self, a: Args) -> JsonDict:
        raw_target = a.raw.get("target")
        if isinstance(raw_target, str) and is_unc(raw_target):
            a.fail("target", "must be a local path (C:\\...); a junction cannot point to a network share")
        path, target = a.path("path"), a.path("target")
        node = self.resolve(path, follow=False)
        if node.kind == "junction":
            before = node.target
            if before is not None and before.lower() == str(target).lower():
                return {"changed": False, "before": before}
            self._state["junctions"][node.path.key]["target"] = str(target)
            return {"changed": True, "before": before}
        if node.exists:
            raise OpFailure("exists", "junction.set: %s is a %s, not a junction" % (node.path, node.kind))
        real = self._writable(node, "junction.set")
        self._mkdirs(os.path.dirname(real))
        self._state["junctions"][node.path.key] = {"path": str(node.path), "target": str(target)}
        return {"changed": True, "before": None}
