# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'registry' (plugins/plugin_utils/_agent/registry.ps1):
the registry ops (the Registry model itself is host state, in host.py).
Vectors: tests/contract/vectors/registry.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    JsonDict,
    REG_TYPES,
    Registry,
    _op,
    check_reg_data,
    parse_reg_path,
)


class RegistryOps:
    """The registry ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("registry.get", "path", "depth")
    def _registry_get(self, a: Args) -> JsonDict:
        path = parse_reg_path(a.need_text("path"), "path")
        depth = a.number("depth", 0, 0, 3)
        key = self.registry.find(path)
        if key is None:
            return {"exists": False, "values": {}, "keys": {}}
        return dict(exists=True, **Registry.node(key, depth))

    @_op("registry.set", "path", "name", "type", "data")
    def _registry_set(self, a: Args) -> JsonDict:
        path = parse_reg_path(a.need_text("path"), "path")
        name = a.need_text("name", empty=True)
        reg_type = a.need_text("type", choices=REG_TYPES)
        if a.raw.get("data") is None:
            a.fail("data", "is required (a string, an integer, a list of strings or a hex string, by type)")
        data = check_reg_data(reg_type, a.raw["data"])
        before = self.registry.value(path, name)
        if before == {"type": reg_type, "data": data}:
            return {"changed": False, "before": before}
        self.registry.set(path, name, reg_type, data)
        return {"changed": True, "before": before}

    @_op("registry.remove", "path", "name")
    def _registry_remove(self, a: Args) -> JsonDict:
        path = parse_reg_path(a.need_text("path"), "path")
        name = a.text("name", empty=True)
        if name is not None:
            return {"changed": self.registry.remove_value(path, name)}
        if not path[1]:
            a.fail("path", "names the hive %s itself; only keys below a hive can be removed" % path[0])
        return {"changed": self.registry.remove_key(path)}
