# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'tree' (plugins/plugin_utils/_agent/tree.ps1):
changing the folder tree: ensure, remove, move.
Vectors: tests/contract/vectors/tree.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

import os

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    JsonDict,
    OpFailure,
    _op,
    _under,
)


class TreeOps:
    """The tree ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("dir.ensure", "path")
    def _dir_ensure(self, a: Args) -> JsonDict:
        node = self.resolve(a.path("path"))
        if node.kind == "directory":
            return {"changed": False}
        if node.kind == "file":
            raise OpFailure("exists", "dir.ensure: %s is a file" % node.path)
        self._mkdirs(self._writable(node, "dir.ensure"))
        return {"changed": True}

    @_op("path.remove", "path", "recurse")
    def _path_remove(self, a: Args) -> JsonDict:
        path = a.path("path")
        recurse = a.flag("recurse", True)
        node = self.resolve(path, follow=False)
        if not node.exists:
            return {"changed": False}
        if node.path.is_root:
            a.fail("path", "is the root of drive %s:; a drive root is never removed" % node.path.drive)
        if node.kind == "directory" and not recurse and self._children(node):
            a.fail("recurse", "is false but %s is not empty; set recurse to true to remove it with its contents" % node.path)
        self._remove(node, "path.remove")
        return {"changed": True}

    @_op("path.move", "src", "dest")
    def _path_move(self, a: Args) -> JsonDict:
        src_path, dest_path = a.path("src"), a.path("dest")
        src = self.resolve(src_path, follow=False)
        if not src.exists:
            raise OpFailure("not_found", "path.move: src %s does not exist" % src_path)
        dest = self.resolve(dest_path, follow=False)
        same = dest.exists and dest.path.key == src.path.key
        if dest.exists and not same:
            raise OpFailure("exists", "path.move: dest %s already exists" % dest.path)
        if src.path.drive != dest.path.drive:
            raise OpFailure("unsupported", "path.move: %s and %s are on different drives; a move is a rename" % (src_path, dest_path))
        if not same and _under(dest.path.key, src.path.key):
            a.fail("dest", "is inside src %s; a folder cannot be moved into itself" % src.path)
        parent = self.resolve(dest.path.parent)
        if parent.kind != "directory":
            raise OpFailure("not_found", "path.move: the folder of dest, %s, does not exist" % dest.path.parent)
        self._check_unlocked(src.path, "path.move")
        new_path = parent.path.child(dest_path.name)
        if src.kind == "junction":
            entry = self._state["junctions"].pop(src.path.key)
            entry["path"] = str(new_path)
            self._state["junctions"][new_path.key] = entry
        else:
            moved_to = os.path.join(parent.host_path, dest_path.name)
            os.rename(src.host_path, moved_to)
            self._move_meta(src.path, new_path)
            self._forget(src.host_path)
            self._touched(moved_to)
        return {"changed": True}
