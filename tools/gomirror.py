#!/usr/bin/env python
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local Go download mirror serving STAND-IN distributions, for offline tests, demos and benchmarks.

THE FILES THIS BUILDS ARE NOT GO. They copy the *layout* of the official Windows Go zips
(``go<ver>.windows-<arch>.zip`` with a top folder ``go/``, a ``VERSION`` file in the format of that
release, ``go.env``, ``bin/go.exe``, ``pkg/tool/windows_<arch>/``...) so that installing, verifying
and inventorying toolchains can be tested without the internet. The ``.exe`` files are minimal PE
images with a correct header (so the machine type can be read back, as a real check would) and no
code at all: they carry the ASCII note "gowin stand-in: not a real Go toolchain".

The index mimics ``https://go.dev/dl/?mode=json&include=all`` field for field. Only the Windows
zips are served; the ``.msi`` installers, source tarballs and linux/darwin archives are listed for
realism with the SHA-256 of a placeholder and answer 404 when asked for.

Standard library only. Use it as a module (tests put ``<repo>/tools`` on ``sys.path``)::

    import gomirror
    info = gomirror.build("/tmp/mirror")              # -> {"dir", "index_path", "index", "files"}
    server, base = gomirror.serve("/tmp/mirror")       # base = "http://127.0.0.1:<port>"
    ...                                                # server.requests: the request log
    server.shutdown()

or from the shell::

    python tools/gomirror.py build DIR
    python tools/gomirror.py serve DIR --port 8765 [--pidfile F] [--auth user:pass]
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import hmac
import html
import io
import json
import os
import re
import shutil
import signal
import struct
import sys
import threading
import typing as t
import zipfile
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "ARCHES",
    "DEFAULT_VERSIONS",
    "MACHINES",
    "STAND_IN_NOTE",
    "build",
    "featured",
    "is_stable",
    "make_pe",
    "pe_machine",
    "serve",
    "version_key",
]

STAND_IN_NOTE = "gowin stand-in: not a real Go toolchain"

# Newest first, as go.dev lists them. go1.24rc1 is the newest entry and is not stable, so a
# resolver asked for "latest" must skip it and pick go1.23.2.
DEFAULT_VERSIONS: tuple[str, ...] = (
    "go1.24rc1",
    "go1.23.2",
    "go1.23.1",
    "go1.23.0",
    "go1.23rc2",
    "go1.23rc1",
    "go1.22.8",
    "go1.22.5",
    "go1.22.4",
    "go1.22.0",
    "go1.22rc1",
    "go1.21.13",
    "go1.21.0",
    "go1.20.14",
)

# The "time" line of VERSION (Go 1.21+) and the timestamp of every zip entry. Plausible values,
# fixed so that the archives and their SHA-256 are the same on every build.
RELEASE_TIMES: dict[str, str] = {
    "go1.24rc1": "2024-12-13T18:40:09Z",
    "go1.23.2": "2024-10-01T16:46:28Z",
    "go1.23.1": "2024-09-05T18:20:04Z",
    "go1.23.0": "2024-08-13T15:53:30Z",
    "go1.23rc2": "2024-07-16T16:28:42Z",
    "go1.23rc1": "2024-06-21T16:32:12Z",
    "go1.22.8": "2024-10-01T16:46:33Z",
    "go1.22.5": "2024-06-04T20:40:17Z",
    "go1.22.4": "2024-05-28T17:08:51Z",
    "go1.22.0": "2024-02-06T22:10:43Z",
    "go1.22rc1": "2023-12-19T20:51:29Z",
    "go1.21.13": "2024-08-06T18:14:12Z",
    "go1.21.0": "2023-08-08T14:37:25Z",
    "go1.20.14": "2024-02-06T17:09:23Z",
}
_FALLBACK_TIME = "2024-01-01T00:00:00Z"

ARCHES: tuple[str, ...] = ("amd64", "arm64", "386")
MACHINES: dict[str, int] = {"amd64": 0x8664, "arm64": 0xAA64, "386": 0x014C}
_MACHINE_NAMES = {v: k for k, v in MACHINES.items()}

# Listed in the index for realism, never served.
_OTHER_ARCHIVES = (("darwin", "amd64"), ("darwin", "arm64"), ("linux", "amd64"), ("linux", "arm64"))

INDEX_NAME = "index.json"

_VERSION_RE = re.compile(r"^go1\.(\d+)(?:\.(\d+))?(?:(beta|rc)(\d+))?$")
_FILENAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------------------------
# versions


def _parse(version: str) -> tuple[int, int | None, str | None, int]:
    m = _VERSION_RE.match(version)
    if not m:
        raise ValueError("not a Go release version: %r (expected e.g. go1.22.5, go1.23rc1, go1.20)" % (version,))
    minor, patch, pre, pre_n = m.groups()
    if pre and patch is not None:
        raise ValueError("not a Go release version: %r (a pre-release has no patch number)" % (version,))
    return int(minor), (int(patch) if patch is not None else None), pre, int(pre_n or 0)


def version_key(version: str) -> tuple[int, int, int, int, int]:
    """Sort key: go1.23rc1 < go1.23rc2 < go1.23.0 (== go1.23) < go1.23.1."""
    minor, patch, pre, pre_n = _parse(version)
    if pre:
        return (1, minor, -1, 0 if pre == "beta" else 1, pre_n)
    return (1, minor, patch or 0, 2, 0)


def is_stable(version: str) -> bool:
    return _parse(version)[2] is None


def _series(version: str) -> tuple[int, int]:
    return (1, _parse(version)[0])


def _release_time(version: str) -> str:
    return RELEASE_TIMES.get(version, _FALLBACK_TIME)


# --------------------------------------------------------------------------------------------
# PE images


def make_pe(arch: str, label: str) -> bytes:
    """A minimal PE image: DOS header, 'PE\\0\\0', COFF header with the machine of `arch`, an
    optional header, one read-only data section holding the stand-in note. No code section."""
    machine = MACHINES[arch]
    file_align, sect_align, headers_size = 0x200, 0x1000, 0x200
    note = (
        "%s\r\n%s for windows/%s. Built by gowin.server tools/gomirror.py for offline tests;\r\n"
        "this image contains no code and cannot run.\r\n" % (STAND_IN_NOTE, label, arch)
    ).encode("ascii")
    raw_size = (len(note) + file_align - 1) // file_align * file_align
    image_size = sect_align + (len(note) + sect_align - 1) // sect_align * sect_align

    # DOS header: e_magic, e_cblp, e_cp, e_crlc, e_cparhdr, e_minalloc, e_maxalloc, e_ss, e_sp,
    # e_csum, e_ip, e_cs, e_lfarlc, e_ovno, e_res[4], e_oemid, e_oeminfo, e_res2[10], e_lfanew.
    e_lfanew = 0x80
    dos = struct.pack("<2s13H8x2H20xI", b"MZ", 0x90, 3, 0, 4, 0, 0xFFFF, 0, 0xB8, 0, 0, 0, 0x40, 0, 0, 0, e_lfanew)
    assert len(dos) == 0x40
    stub = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21" b"This program cannot be run in DOS mode.\r\r\n$"
    dos += stub.ljust(e_lfanew - 0x40, b"\0")

    pe32plus = arch != "386"
    if pe32plus:
        opt = struct.pack(
            "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
            0x20B, 3, 0, 0, raw_size, 0, 0, sect_align,   # magic, linker, code/data sizes, entry, BaseOfCode
            0x140000000, sect_align, file_align,          # ImageBase, alignments
            6, 1, 1, 0, 6, 1, 0,                          # OS, image, subsystem versions, Win32VersionValue
            image_size, headers_size, 0,                  # SizeOfImage, SizeOfHeaders, CheckSum
            3, 0x8160,                                    # console subsystem; ASLR, NX, TS-aware
            0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
        )
        characteristics = 0x0022  # EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE
    else:
        opt = struct.pack(
            "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
            0x10B, 3, 0, 0, raw_size, 0, 0, sect_align, sect_align,
            0x400000, sect_align, file_align,
            6, 1, 1, 0, 6, 1, 0,
            image_size, headers_size, 0,
            3, 0x8140,
            0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
        )
        characteristics = 0x0102  # EXECUTABLE_IMAGE | 32BIT_MACHINE
    opt += b"\0" * (16 * 8)  # no data directories
    coff = struct.pack("<HHIIIHH", machine, 1, 0, 0, 0, len(opt), characteristics)
    section = struct.pack(
        "<8sIIIIIIHHI", b".rdata", len(note), sect_align, raw_size, headers_size, 0, 0, 0, 0, 0x40000040
    )
    head = dos + b"PE\0\0" + coff + opt + section
    assert len(head) <= headers_size
    return head.ljust(headers_size, b"\0") + note.ljust(raw_size, b"\0")


def pe_machine(data: bytes) -> str | None:
    """Read the COFF machine back: "amd64" | "arm64" | "386" | "unknown", or None if not a PE image."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        return None
    (e_lfanew,) = struct.unpack_from("<I", data, 0x3C)
    if e_lfanew + 6 > len(data) or data[e_lfanew:e_lfanew + 4] != b"PE\0\0":
        return None
    (machine,) = struct.unpack_from("<H", data, e_lfanew + 4)
    return _MACHINE_NAMES.get(machine, "unknown")


# --------------------------------------------------------------------------------------------
# distribution trees

_GO_ENV = """\
# This file contains the initial defaults for go command configuration.
# Values set by 'go env -w' and written to the user's go/env file override these.
# The environment overrides everything else.

# Use the Go module mirror and checksum database by default.
# See https://proxy.golang.org for details.
GOPROXY=https://proxy.golang.org,direct
GOSUMDB=sum.golang.org

# Automatically download newer toolchains as directed by go.mod files.
# See https://go.dev/doc/toolchain for details.
GOTOOLCHAIN=auto
"""

_LICENSE = """\
This is the LICENSE file of a STAND-IN Go distribution built by gowin.server's
tools/gomirror.py for offline tests. It contains no Go source code and no Go
binaries. Real Go distributions are released by the Go Authors under a BSD-style
license: https://go.dev/LICENSE

The stand-in files themselves are part of the gowin.server test tooling,
GNU General Public License v3.0 or later.
"""

_README = """\
STAND-IN GO DISTRIBUTION -- NOT GO

This archive ({filename}) was built by gowin.server's tools/gomirror.py for
offline tests, demos and benchmarks. It copies the layout of the official
Windows Go zip for {version} ({arch}) so that installing, verifying and
inventorying Go toolchains can be exercised without the internet.

Nothing in it is a Go toolchain: bin/go.exe, bin/gofmt.exe and the files under
pkg/tool are minimal PE images with a correct header for windows/{arch} and no
code. They cannot run. The src/ files are placeholders, not Go's sources.

Get real Go from https://go.dev/dl/
"""

_SRC_FILES = (
    ("go/src/go.mod", "module std\n\ngo 1.{minor}\n"),
    ("go/src/builtin/builtin.go", "// gowin stand-in placeholder, not Go's source.\n\npackage builtin\n"),
    ("go/src/fmt/print.go", "// gowin stand-in placeholder, not Go's source.\n\npackage fmt\n"),
    ("go/src/runtime/extern.go", "// gowin stand-in placeholder, not Go's source.\n\npackage runtime\n"),
    ("go/src/cmd/go/main.go", "// gowin stand-in placeholder, not Go's source.\n\npackage main\n"),
)

_TOOLS = ("asm", "compile", "link", "vet")


def zip_name(version: str, arch: str) -> str:
    return "%s.windows-%s.zip" % (version, arch)


def version_file(version: str) -> str:
    """VERSION as the release ships it: Go 1.21+ has a version line and a time line, ending in a
    newline; older releases hold only the version, without a newline."""
    if _parse(version)[0] >= 21:
        return "%s\ntime %s\n" % (version, _release_time(version))
    return version


def tree(version: str, arch: str) -> dict[str, bytes]:
    """The files of the stand-in zip: archive name -> content."""
    minor = _parse(version)[0]
    files: dict[str, bytes] = {
        "go/VERSION": version_file(version).encode("ascii"),
        "go/LICENSE": _LICENSE.encode("ascii"),
        "go/README.STAND-IN.txt": _README.format(filename=zip_name(version, arch), version=version, arch=arch).encode("ascii"),
        "go/bin/go.exe": make_pe(arch, "go.exe (%s)" % version),
        "go/bin/gofmt.exe": make_pe(arch, "gofmt.exe (%s)" % version),
    }
    if minor >= 21:
        files["go/go.env"] = _GO_ENV.encode("ascii")
    for name, text in _SRC_FILES:
        files[name] = text.format(minor=minor).encode("ascii")
    for tool in _TOOLS:
        files["go/pkg/tool/windows_%s/%s.exe" % (arch, tool)] = make_pe(arch, "%s.exe (%s)" % (tool, version))
    return files


def _zip_bytes(files: dict[str, bytes], when: str) -> bytes:
    """Deterministic zip: sorted entries, one fixed timestamp, fixed attributes, no directory entries."""
    stamp = _dt.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ")
    date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (0o100755 if name.endswith(".exe") else 0o100644) << 16
            zf.writestr(info, files[name])
    return buf.getvalue()


def _placeholder(filename: str) -> tuple[str, int]:
    data = ("gowin stand-in placeholder, not served: %s\n" % filename).encode("ascii")
    return hashlib.sha256(data).hexdigest(), len(data)


def _entry(filename: str, os_: str, arch: str, version: str, sha256: str, size: int, kind: str) -> dict:
    # Field order as go.dev writes it.
    return {"filename": filename, "os": os_, "arch": arch, "version": version, "sha256": sha256, "size": size, "kind": kind}


def _write_if_changed(path: str, data: bytes) -> None:
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return
    except OSError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def build(dest_dir: str | os.PathLike, versions: t.Iterable[str] = DEFAULT_VERSIONS) -> dict:
    """Write the stand-in zips and index.json into dest_dir (flat: every file at the top level).

    Returns {"dir", "index_path", "index" (the include=all list), "files" ({filename: {"path",
    "version", "arch", "sha256", "size"}} for the served zips)}. Files are rewritten only when
    their content changes, and the content is the same on every build.
    """
    dest = os.path.abspath(os.fspath(dest_dir))
    os.makedirs(dest, exist_ok=True)
    ordered = sorted(set(versions), key=version_key, reverse=True)
    index: list[dict] = []
    served: dict[str, dict] = {}
    for version in ordered:
        files: list[dict] = []
        src = "%s.src.tar.gz" % version
        files.append(_entry(src, "", "", version, *_placeholder(src), "source"))
        for os_, arch in _OTHER_ARCHIVES:
            name = "%s.%s-%s.tar.gz" % (version, os_, arch)
            files.append(_entry(name, os_, arch, version, *_placeholder(name), "archive"))
        for arch in sorted(ARCHES):  # go.dev order: 386, amd64, arm64
            name = zip_name(version, arch)
            data = _zip_bytes(tree(version, arch), _release_time(version))
            path = os.path.join(dest, name)
            _write_if_changed(path, data)
            digest = hashlib.sha256(data).hexdigest()
            served[name] = {"path": path, "version": version, "arch": arch, "sha256": digest, "size": len(data)}
            files.append(_entry(name, "windows", arch, version, digest, len(data), "archive"))
            msi = "%s.windows-%s.msi" % (version, arch)
            files.append(_entry(msi, "windows", arch, version, *_placeholder(msi), "installer"))
        index.append({"version": version, "stable": is_stable(version), "files": files})
    index_path = os.path.join(dest, INDEX_NAME)
    _write_if_changed(index_path, (json.dumps(index, indent=1) + "\n").encode("ascii"))
    return {"dir": dest, "index_path": index_path, "index": index, "files": served}


def featured(index: list[dict]) -> list[dict]:
    """What go.dev answers to ?mode=json without include=all: the newest stable release of each of
    the two newest stable minor series (e.g. go1.23.2 and go1.22.8)."""
    out: list[dict] = []
    seen: set[tuple[int, int]] = set()
    for release in sorted(index, key=lambda r: version_key(r["version"]), reverse=True):
        if not release.get("stable"):
            continue
        series = _series(release["version"])
        if series in seen:
            continue
        seen.add(series)
        out.append(release)
        if len(out) == 2:
            break
    return out


# --------------------------------------------------------------------------------------------
# server


class MirrorServer(ThreadingHTTPServer):
    """The mirror. Attributes tests use:

    - requests: list of {"method", "path" (with query), "status", "user", "bytes"}, in order.
    - faults: {filename: int | bytes}; an int answers that HTTP status for /dl/<filename>, bytes
      are served instead of the file (e.g. a truncated or corrupted zip).
    - base_url: "http://127.0.0.1:<port>".
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, root: str, auth: tuple[str, str] | None = None, redirect: bool = False, quiet: bool = True):
        self.root = os.path.abspath(root)
        self.auth = auth
        self.redirect = redirect
        self.quiet = quiet
        self.requests: list[dict] = []
        self.faults: dict[str, int | bytes] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        self.base_url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)

    def log_request_entry(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def load_index(self) -> list[dict]:
        with open(os.path.join(self.root, INDEX_NAME), "r", encoding="utf-8") as handle:
            return json.load(handle)

    def shutdown(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            super().shutdown()
            self._thread.join(timeout=10)
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: MirrorServer
    server_version = "gomirror/1 (gowin.server stand-in mirror)"

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - base class signature
        if not self.server.quiet:
            sys.stderr.write("gomirror: %s - %s\n" % (self.address_string(), format % args))

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def _user(self) -> tuple[bool, str | None]:
        header = self.headers.get("Authorization", "")
        user = None
        if header[:6].lower() == "basic ":
            try:
                user, _sep, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False, None
            if self.server.auth is None:
                return True, user
            want_user, want_pass = self.server.auth
            ok = hmac.compare_digest(user.encode("utf-8"), want_user.encode("utf-8")) & hmac.compare_digest(
                password.encode("utf-8"), want_pass.encode("utf-8")
            )
            return bool(ok), user
        return self.server.auth is None, None

    def _handle(self, head: bool) -> None:
        ok, user = self._user()
        entry = {"method": self.command, "path": self.path, "status": 0, "user": user, "bytes": 0}
        # logged before the answer goes out (and filled in as it does), so a client that has its
        # answer always finds its request in the log
        self.server.log_request_entry(entry)
        if not ok:
            self._send(entry, HTTPStatus.UNAUTHORIZED, b"401 Unauthorized\n", "text/plain; charset=utf-8", head,
                       extra={"WWW-Authenticate": 'Basic realm="gomirror", charset="UTF-8"'})
            return
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if path in ("/dl", "/dl/"):
            self._index(entry, parse_qs(parts.query), head)
        elif path.startswith("/dl/") or path.startswith("/files/"):
            self._file(entry, path.split("/", 2)[2], path.startswith("/files/"), head)
        else:
            self._send(entry, HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain; charset=utf-8", head)

    def _index(self, entry: dict, query: dict, head: bool) -> None:
        index = self.server.load_index()
        if query.get("mode") == ["json"]:
            listing = index if "all" in query.get("include", []) else featured(index)
            body = (json.dumps(listing, indent=1) + "\n").encode("ascii")
            self._send(entry, HTTPStatus.OK, body, "application/json", head)
            return
        rows = []
        for release in index:
            for f in release["files"]:
                rows.append('<li><a href="/dl/%s">%s</a> %s</li>' % (html.escape(f["filename"]), html.escape(f["filename"]), f["sha256"]))
        body = (
            "<!DOCTYPE html><html><head><title>gomirror: stand-in Go downloads</title></head><body>"
            "<h1>Stand-in Go downloads (not Go; for offline tests)</h1><ul>%s</ul></body></html>\n" % "".join(rows)
        ).encode("utf-8")
        self._send(entry, HTTPStatus.OK, body, "text/html; charset=utf-8", head)

    def _file(self, entry: dict, name: str, direct: bool, head: bool) -> None:
        if not _FILENAME_RE.match(name) or name == INDEX_NAME or name.endswith(".tmp"):
            self._send(entry, HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain; charset=utf-8", head)
            return
        fault = self.server.faults.get(name)
        if isinstance(fault, int):
            self._send(entry, fault, ("%d\n" % fault).encode("ascii"), "text/plain; charset=utf-8", head)
            return
        checksum_of = name[: -len(".sha256")] if name.endswith(".sha256") else None
        path = os.path.join(self.server.root, checksum_of or name)
        if not os.path.isfile(path):
            self._send(entry, HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain; charset=utf-8", head)
            return
        if self.server.redirect and not direct:
            # go.dev/dl/<file> answers with a redirect to the download host; so can we.
            self._send(entry, HTTPStatus.FOUND, b"", "text/plain; charset=utf-8", head, extra={"Location": "/files/" + name})
            return
        if checksum_of:
            with open(path, "rb") as handle:
                body = (hashlib.sha256(handle.read()).hexdigest() + "\n").encode("ascii")
            self._send(entry, HTTPStatus.OK, body, "text/plain; charset=utf-8", head)
            return
        if isinstance(fault, bytes):
            self._send(entry, HTTPStatus.OK, fault, "application/zip", head)
            return
        size = os.path.getsize(path)
        entry["status"] = 200
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/zip" if name.endswith(".zip") else "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if not head:
            with open(path, "rb") as handle:
                shutil.copyfileobj(handle, self.wfile)
            entry["bytes"] = size

    def _send(self, entry: dict, status: int, body: bytes, ctype: str, head: bool, extra: dict | None = None) -> None:
        entry["status"] = int(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)
            entry["bytes"] = len(body)


def serve(
    dir: str | os.PathLike,  # noqa: A002 - the documented parameter name
    host: str = "127.0.0.1",
    port: int = 0,
    auth: tuple[str, str] | None = None,
    redirect: bool = False,
    quiet: bool = True,
) -> tuple[MirrorServer, str]:
    """Serve a built mirror from a daemon thread; returns (server, base_url).

    GET|HEAD /dl/?mode=json&include=all -> the whole index; /dl/?mode=json -> featured();
    /dl/ -> an HTML listing; /dl/<filename> -> the file (404 if not served); /dl/<file>.sha256 ->
    its hex digest. auth=(user, password) requires HTTP basic auth on every path (401 otherwise).
    redirect=True makes /dl/<file> answer 302 to /files/<file>, as go.dev redirects to its
    download host. server.shutdown() stops it.
    """
    root = os.fspath(dir)
    if not os.path.isfile(os.path.join(root, INDEX_NAME)):
        raise FileNotFoundError("no %s in %s: run build() first" % (INDEX_NAME, root))
    server = MirrorServer((host, port), root, auth=auth, redirect=redirect, quiet=quiet)
    thread = threading.Thread(target=server.serve_forever, name="gomirror", kwargs={"poll_interval": 0.1}, daemon=True)
    server._thread = thread
    thread.start()
    return server, server.base_url


# --------------------------------------------------------------------------------------------
# CLI


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gomirror.py",
        description="Build or serve a local mirror of STAND-IN Go distributions (not Go) for offline tests.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_build = sub.add_parser("build", help="write the stand-in zips and index.json into DIR")
    p_build.add_argument("dir")
    p_build.add_argument("--versions", help="comma-separated versions (default: the built-in test set)")
    p_serve = sub.add_parser("serve", help="serve DIR (building it first if it has no index)")
    p_serve.add_argument("dir")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=0)
    p_serve.add_argument("--pidfile")
    p_serve.add_argument("--auth", metavar="USER:PASS", help="require HTTP basic auth")
    p_serve.add_argument("--redirect", action="store_true", help="answer /dl/<file> with a 302 like go.dev")
    p_serve.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    if args.cmd == "build":
        versions = [v.strip() for v in args.versions.split(",") if v.strip()] if args.versions else DEFAULT_VERSIONS
        info = build(args.dir, versions)
        print("built %d stand-in zips (NOT Go) and %s" % (len(info["files"]), info["index_path"]))
        return 0

    if not os.path.isfile(os.path.join(args.dir, INDEX_NAME)):
        build(args.dir)
        print("built stand-in mirror in %s" % os.path.abspath(args.dir), file=sys.stderr)
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            parser.error("--auth takes USER:PASS")
        auth = (user, password)
    server, base = serve(args.dir, host=args.host, port=args.port, auth=auth, redirect=args.redirect, quiet=not args.verbose)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as handle:
            handle.write("%d\n" % os.getpid())
    print(base, flush=True)
    print("gomirror: serving stand-in Go distributions (not Go) from %s; index %s/dl/?mode=json&include=all"
          % (os.path.abspath(args.dir), base), file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        if args.pidfile:
            try:
                os.remove(args.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(_main())
