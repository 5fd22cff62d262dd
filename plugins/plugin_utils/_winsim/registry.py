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
    OpFailure,
    REG_TYPES,
    Registry,
    _op,
    check_reg_data,
    parse_reg_path,
)


_EXPECT_HELP = "must be {exists: false} or {type: T, data: D} (the value as read before)"


def _expectation(a: Args) -> JsonDict | None:
    """The value a write expects to find: None (not given), {"exists": False} or {"type", "data"}."""
    expect = a.mapping("expect")
    if expect is None:
        return None
    if "exists" in expect:
        if set(expect) != {"exists"} or expect["exists"] is not False:
            a.fail("expect", _EXPECT_HELP)
        return {"exists": False}
    if set(expect) != {"type", "data"} or expect["type"] not in REG_TYPES + ("REG_NONE",):
        a.fail("expect", _EXPECT_HELP)
    data = expect["data"]
    if expect["type"] in REG_TYPES:
        try:
            data = check_reg_data(expect["type"], data)
        except OpFailure:
            a.fail("expect", _EXPECT_HELP)
    return {"type": expect["type"], "data": data}


def _check_expectation(expect: JsonDict | None, before: JsonDict | None, what: str) -> None:
    if expect is None:
        return
    ok = before is None if expect.get("exists") is False else before == expect
    if not ok:
        # The value is not shown: it may be a secret (a GOPROXY password).
        raise OpFailure("conflict", "%s changed since it was read (another run or program wrote it); read it again" % what)


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

    @_op("registry.set", "path", "name", "type", "data", "expect")
    def _registry_set(self, a: Args) -> JsonDict:
        path = parse_reg_path(a.need_text("path"), "path")
        name = a.need_text("name", empty=True)
        reg_type = a.need_text("type", choices=REG_TYPES)
        if a.raw.get("data") is None:
            a.fail("data", "is required (a string, an integer, a list of strings or a hex string, by type)")
        data = check_reg_data(reg_type, a.raw["data"])
        expect = _expectation(a)
        before = self.registry.value(path, name)
        _check_expectation(expect, before, "registry.set: %s value '%s'" % (_shown(path), name))
        if before == {"type": reg_type, "data": data}:
            return {"changed": False, "before": before}
        self.registry.set(path, name, reg_type, data)
        return {"changed": True, "before": before}

    @_op("registry.remove", "path", "name", "expect")
    def _registry_remove(self, a: Args) -> JsonDict:
        path = parse_reg_path(a.need_text("path"), "path")
        name = a.text("name", empty=True)
        expect = _expectation(a)
        if expect is not None and name is None:
            a.fail("expect", "applies to a value: give 'name' too (a key is removed with what it holds)")
        if name is not None:
            _check_expectation(expect, self.registry.value(path, name), "registry.remove: %s value '%s'" % (_shown(path), name))
            return {"changed": self.registry.remove_value(path, name)}
        if not path[1]:
            a.fail("path", "names the hive %s itself; only keys below a hive can be removed" % path[0])
        return {"changed": self.registry.remove_key(path)}


def _shown(path: tuple[str, tuple[str, ...]]) -> str:
    return "\\".join((path[0],) + tuple(path[1]))
