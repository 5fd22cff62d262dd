# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'zip' (plugins/plugin_utils/_agent/zip.ps1):
zip.extract.
Vectors: tests/contract/vectors/zip.yml. Protocol: docs/agent-protocol.md.

The twin reads an archive the way the agent's .NET Framework ZipArchive does, not the way Python's
zipfile would extract it:

- names: UTF-8 when general purpose bit 11 is set, CP437 when it is not (APPNOTE 4.4.4 and
  appendix D; the agent opens the archive with entryNameEncoding CP437); the name is kept whole
  (zipfile's `filename` is cut at a NUL, `orig_filename` is not), so a NUL in a name is refused as
  the agent refuses it;
- data: the entry's compressed bytes after its local header, inflated (or copied, when stored) to
  their end, with neither the size nor the CRC-32 checked by the reader: the op checks both itself,
  the size first, as the agent does (zipfile would stop at the stated size and report a short or
  long entry as a bad CRC).
"""

from __future__ import annotations

import os
import re
import struct
import sys
import typing as t
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

UNFLAGGED_NAME_ENCODING = "cp437"  # the zip specification's encoding for names without that flag
LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # 30 bytes: signature ... name length, extra length
LOCAL_HEADER_SIGNATURE = 0x04034B50


class _Unreadable(Exception):
    """An entry .NET cannot read (its texts are those of .NET's InvalidDataException)."""


def _open_archive(path: str) -> zipfile.ZipFile:
    if sys.version_info >= (3, 11):
        return zipfile.ZipFile(path, metadata_encoding=UNFLAGGED_NAME_ENCODING)
    return zipfile.ZipFile(path)  # before 3.11 zipfile always decodes unflagged names as cp437


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as the agent sees it (ZipArchiveEntry.FullName): the whole stored name,
    decoded as UTF-8 when bit 11 is set and as CP437 when it is not."""
    return info.orig_filename


def entry_data(handle: t.BinaryIO, info: zipfile.ZipInfo) -> t.Iterator[bytes]:
    """The entry's data as ZipArchiveEntry.Open() gives it on .NET Framework: the CompressedLength
    bytes after the local header, inflated (deflate) or as they are (stored), until they or the
    deflate stream end."""
    handle.seek(info.header_offset)
    header = handle.read(LOCAL_HEADER.size)
    if len(header) < LOCAL_HEADER.size or LOCAL_HEADER.unpack(header)[0] != LOCAL_HEADER_SIGNATURE:
        raise _Unreadable("A local file header is corrupt.")
    fields = LOCAL_HEADER.unpack(header)
    handle.seek(info.header_offset + LOCAL_HEADER.size + fields[9] + fields[10])
    if info.compress_type == zipfile.ZIP_STORED:
        inflater = None
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    else:
        raise _Unreadable("The archive entry was compressed using an unsupported compression method.")
    left = info.compress_size
    while left > 0:
        data = handle.read(min(CHUNK, left))
        if not data:
            raise _Unreadable("A local file header is corrupt.")
        left -= len(data)
        if inflater is None:
            yield data
            continue
        while data:
            out = inflater.decompress(data, CHUNK)
            if out:
                yield out
            if inflater.eof:
                return
            data = inflater.unconsumed_tail
    if inflater is not None:
        tail = inflater.flush()
        if tail:
            yield tail


class _Crc32:
    """The chunks passed through, with the CRC-32 of those passed so far (what the agent computes
    over the same buffer in its copy loop)."""

    def __init__(self, chunks: t.Iterator[bytes]) -> None:
        self.chunks = chunks
        self.crc = 0

    def __iter__(self) -> t.Iterator[bytes]:
        for chunk in self.chunks:
            self.crc = zlib.crc32(chunk, self.crc)
            yield chunk


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
            archive = _open_archive(src.host_path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise OpFailure("corrupt_archive", "zip.extract: %s is not a valid zip archive (%s)" % (src_path, exc)) from None
        with archive, open(src.host_path, "rb") as handle:
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
                    data = _Crc32(entry_data(handle, info))
                    size, _digest = self._write_stream(node, data, "zip.extract")
                    written.append(self.resolve(node.path))
                    self._zip_check_entry(src_path, info, size, data.crc)
                    total += size
            except BaseException as exc:
                for done in written:
                    self._remove(done, "zip.extract")
                self._rmdirs(created)
                if isinstance(exc, (_Unreadable, zlib.error, zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, NotImplementedError)):
                    raise OpFailure("corrupt_archive", "zip.extract: %s cannot be read (%s); nothing was kept" % (src_path, exc)) from None
                if isinstance(exc, OpFailure) and exc.kind == "disk_full":
                    exc.message += "; the files written were removed"
                raise
        return {"files": len(written), "bytes": total, "crc_checked": True}

    @staticmethod
    def _zip_check_entry(src_path: WinPath, info: zipfile.ZipInfo, size: int, crc: int) -> None:
        """The agent's checks after copying an entry: the bytes it gave against the size the archive
        states, then their CRC-32 against the archive's."""
        name = entry_name(info)
        if size != info.file_size:
            raise OpFailure("corrupt_archive", "zip.extract: %s cannot be read (entry '%s' gave %d bytes, the archive says %d); "
                            "nothing was kept" % (src_path, name, size, info.file_size))
        if crc != info.CRC:
            raise OpFailure("corrupt_archive", "zip.extract: %s cannot be read (Bad CRC-32 for entry '%s': its data gives %08x, "
                            "the archive says %08x); nothing was kept" % (src_path, name, crc, info.CRC))

    def _zip_plan(self, archive: zipfile.ZipFile, dest: WinPath, a: Args,
                  strip: str | None = None) -> list[tuple[tuple[str, ...], zipfile.ZipInfo | None]]:
        """Entries as (path parts below dest, info or None for a folder); all checked before anything is
        written. With `strip`, every entry must be below that one top folder, which is left out."""
        stored_case: dict[str, str] = {}
        plan: list[tuple[tuple[str, ...], zipfile.ZipInfo | None]] = []
        seen: set[str] = set()
        for info in archive.infolist():
            name = entry_name(info)
            raw = name.replace("\\", "/")
            is_dir = raw.endswith("/")
            what = "zip entry '%s'" % name
            if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or ".." in raw.split("/"):
                raise OpFailure("corrupt_archive", "zip.extract: %s would be written outside dest" % what)
            parts: list[str] = []
            for comp in (c for c in raw.split("/") if c not in ("", ".")):
                checked = check_name(comp, "zip.extract: " + what, kind="corrupt_archive")
                # Entries that differ only in case land in one folder, spelled as first met.
                parts.append(stored_case.setdefault("/".join(parts + [checked]).lower(), checked))
            if not parts:
                continue
            if strip is not None:
                if parts[0].lower() != strip.lower() or (len(parts) == 1 and not is_dir):
                    raise OpFailure("corrupt_archive", "zip.extract: %s is not inside the archive's top folder '%s' (strip); "
                                    "nothing was extracted" % (what, strip))
                parts = parts[1:]
                if not parts:
                    continue
            key = "/".join(parts).lower()
            if key in seen and not is_dir:
                raise OpFailure("corrupt_archive", "zip.extract: %s appears twice" % what)
            seen.add(key)
            target = dest.child(*parts)
            a.check_length(target, "zip.extract: " + what)
            node = self.resolve(target)
            if node.exists and not (is_dir and node.kind == "directory"):
                raise OpFailure("exists", "zip.extract: %s already exists; nothing was extracted" % node.path)
            if node.blocker is not None:
                raise OpFailure("exists", "zip.extract: %s is a file, so %s cannot be extracted" % (node.blocker, what))
            plan.append((tuple(parts), None if is_dir else info))
        return plan
