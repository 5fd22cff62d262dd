# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'fs' (plugins/plugin_utils/_agent/fs.ps1):
reading files and folders: stat and list.
Vectors: tests/contract/vectors/fs.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    JsonDict,
    OpFailure,
    READ_LIMIT,
    _op,
    decode_text,
)


class FsOps:
    """The fs ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("file.stat", "path", "checksum", "pe", "read", "expect")
    def _file_stat(self, a: Args) -> JsonDict:
        path = a.path("path")
        want = {"sha256": a.flag("checksum", False), "pe_machine": a.flag("pe", False), "content": a.flag("read", False)}
        checks = self._stat_checks(a)
        node = self.resolve(path, follow=False)
        facts: JsonDict = {"exists": node.exists}
        if node.kind == "junction":
            facts.update(type="junction", target=node.target)
        elif node.exists:
            facts.update(type=node.kind, mtime=int(os.stat(node.host_path).st_mtime))
        if node.kind == "file":
            facts["size"] = os.path.getsize(node.host_path)
            facts["readonly"] = self._is_readonly(node.path)
            if want["sha256"] or "sha256" in checks:
                facts["sha256"] = self._sha256(node.host_path)
            if want["pe_machine"] or "pe_machine" in checks:
                facts["pe_machine"] = self._pe_of(node)
            if want["content"] or "first_line" in checks:
                facts["content"] = decode_text(self._read_head(node, READ_LIMIT))
        differences = []
        for field, expected in checks.items():
            if field == "first_line":
                actual = facts["content"].split("\n", 1)[0].rstrip("\r") if "content" in facts else None
            else:
                actual = facts.get(field)
            if actual != expected:
                differences.append("%s is %s, expected %s" % (field, json.dumps(actual), json.dumps(expected)))
        if differences:
            raise OpFailure("verify_failed", "%s: %s" % (path, "; ".join(differences)))
        for field, wanted in want.items():
            if not wanted:
                facts.pop(field, None)
        return facts

    @staticmethod
    def _stat_checks(a: Args) -> JsonDict:
        accepted: dict[str, Callable[[object], bool]] = {
            "exists": lambda v: isinstance(v, bool),
            "type": lambda v: v in ("file", "directory", "junction"),
            "sha256": lambda v: isinstance(v, str) and re.match(r"^[0-9a-fA-F]{64}$", v) is not None,
            "pe_machine": lambda v: v is None or v in ("amd64", "arm64", "386", "unknown"),
            "first_line": lambda v: isinstance(v, str),
        }
        checks = dict(a.mapping("expect") or {})
        for field, value in checks.items():
            if field not in accepted or not accepted[field](value):
                a.fail(
                    "expect",
                    "has a bad entry '%s'; accepted: exists (true|false), type (file|directory|junction), sha256 (64 hex "
                    "digits), pe_machine (amd64|arm64|386|unknown|null), first_line (a string)" % field,
                )
        if "sha256" in checks:
            checks["sha256"] = checks["sha256"].lower()
        return checks

    @_op("dir.list", "path")
    def _dir_list(self, a: Args) -> JsonDict:
        node = self.resolve(a.path("path"))
        if node.kind != "directory":
            return {"exists": False, "entries": []}
        return {"exists": True, "entries": [{"name": n, "type": k} for n, k in self._children(node)]}
