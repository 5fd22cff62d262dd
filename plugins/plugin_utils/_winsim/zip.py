# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'zip' (plugins/plugin_utils/_agent/zip.ps1):
zip.extract.
Vectors: tests/contract/vectors/zip.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    CHUNK,
    JsonDict,
    Node,
    OpFailure,
    WinPath,
    _op,
    check_name,
)


class ZipOps:
    """The zip ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("zip.extract", "src", "dest", "strip")
    def _zip_extract(self, a: Args) -> JsonDict:
        src_path, dest_path = a.path("src"), a.path("dest")
        strip = a.text("strip")
        if strip is not None:
            if "\\" in strip or "/" in strip or strip in (".", ".."):
                a.fail("strip", "must be the name of one folder (such as go), not a path")
            check_name(strip, "argument 'strip'")
        src = self.resolve(src_path)
        if src.kind != "file":
            raise OpFailure("not_found", "zip.extract: src %s does not exist or is not a file" % src_path)
        dest = self.resolve(dest_path)
        if dest.kind == "file":
            raise OpFailure("exists", "zip.extract: dest %s is a file" % dest.path)
        dest_real = dest.host_path if dest.exists else self._writable(dest, "zip.extract")
        try:
            archive = zipfile.ZipFile(src.host_path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise OpFailure("corrupt_archive", "zip.extract: %s is not a valid zip archive (%s)" % (src_path, exc)) from None
        with archive:
            plan = self._zip_plan(archive, dest.path, a, strip)
            created = [] if dest.exists else self._mkdirs(dest_real)
            written: list[Node] = []
            total = 0
            try:
                for parts, info in plan:
                    node = self.resolve(dest.path.child(*parts))
                    real = self._writable(node, "zip.extract")
                    if info is None:
                        created += self._mkdirs(real)
                        continue
                    created += self._mkdirs(os.path.dirname(real))
                    with archive.open(info) as member:
                        size, _digest = self._write_stream(node, iter(lambda: member.read(CHUNK), b""), "zip.extract")
                    written.append(self.resolve(node.path))
                    total += size
            except BaseException as exc:
                for done in written:
                    self._remove(done, "zip.extract")
                self._rmdirs(created)
                if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError, zipfile.LargeZipFile, NotImplementedError)):
                    raise OpFailure("corrupt_archive", "zip.extract: %s cannot be read (%s); nothing was kept" % (src_path, exc)) from None
                if isinstance(exc, OpFailure) and exc.kind == "disk_full":
                    exc.message += "; the files written were removed"
                raise
        return {"files": len(written), "bytes": total}

    def _zip_plan(self, archive: zipfile.ZipFile, dest: WinPath, a: Args,
                  strip: str | None = None) -> list[tuple[tuple[str, ...], zipfile.ZipInfo | None]]:
        """Entries as (path parts below dest, info or None for a folder); all checked before anything is
        written. With `strip`, every entry must be below that one top folder, which is left out."""
        stored_case: dict[str, str] = {}
        plan: list[tuple[tuple[str, ...], zipfile.ZipInfo | None]] = []
        seen: set[str] = set()
        for info in archive.infolist():
            raw = info.filename.replace("\\", "/")
            what = "zip entry '%s'" % info.filename
            if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or ".." in raw.split("/"):
                raise OpFailure("corrupt_archive", "zip.extract: %s would be written outside dest" % what)
            parts: list[str] = []
            for comp in (c for c in raw.split("/") if c not in ("", ".")):
                name = check_name(comp, "zip.extract: " + what, kind="corrupt_archive")
                # Entries that differ only in case land in one folder, spelled as first met.
                parts.append(stored_case.setdefault("/".join(parts + [name]).lower(), name))
            if not parts:
                continue
            if strip is not None:
                if parts[0].lower() != strip.lower() or (len(parts) == 1 and not info.is_dir()):
                    raise OpFailure("corrupt_archive", "zip.extract: %s is not inside the archive's top folder '%s' (strip); "
                                    "nothing was extracted" % (what, strip))
                parts = parts[1:]
                if not parts:
                    continue
            key = "/".join(parts).lower()
            if key in seen and not info.is_dir():
                raise OpFailure("corrupt_archive", "zip.extract: %s appears twice" % what)
            seen.add(key)
            target = dest.child(*parts)
            a.check_length(target, "zip.extract: " + what)
            node = self.resolve(target)
            if node.exists and not (info.is_dir() and node.kind == "directory"):
                raise OpFailure("exists", "zip.extract: %s already exists; nothing was extracted" % node.path)
            if node.blocker is not None:
                raise OpFailure("exists", "zip.extract: %s is a file, so %s cannot be extracted" % (node.blocker, what))
            plan.append((tuple(parts), None if info.is_dir() else info))
        return plan
