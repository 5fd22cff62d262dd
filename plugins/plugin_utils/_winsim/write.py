# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'write' (plugins/plugin_utils/_agent/write.ps1):
file.write.
Vectors: tests/contract/vectors/write.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

import hashlib

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    FILE_ENCODINGS,
    JsonDict,
    _BOMS,
    _CODECS,
    _op,
)


class WriteOps:
    """The write ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("file.write", "path", "content", "encoding")
    def _file_write(self, a: Args) -> JsonDict:
        path = a.path("path")
        content = a.need_text("content", empty=True)
        encoding = a.text("encoding", choices=FILE_ENCODINGS) or "utf8"
        try:
            data = _BOMS[encoding] + content.encode(_CODECS[encoding])
        except UnicodeEncodeError:
            a.fail("content", "cannot be written as %s: it holds a lone UTF-16 surrogate" % encoding)
        changed = self._write_atomic(path, data, "file.write")
        return {"changed": changed, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
