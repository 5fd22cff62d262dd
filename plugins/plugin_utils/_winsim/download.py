# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'download' (plugins/plugin_utils/_agent/download.ps1):
file.download: http(s), shares, local paths.
Vectors: tests/contract/vectors/download.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    CHUNK,
    JsonDict,
    Node,
    OpFailure,
    _DRIVE_PATH,
    _ci_find,
    _op,
    _redact_url,
    is_unc,
    parse_path,
)


class DownloadOps:
    """The download ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("file.download", "url", "dest", "sha256", "username", "password", "validate_certs", "timeout")
    def _file_download(self, a: Args) -> JsonDict:
        url = a.need_text("url")
        dest_path = a.path("dest")
        sha = a.text("sha256")
        if sha is not None and not re.match(r"^[0-9a-fA-F]{64}$", sha):
            a.fail("sha256", "must be 64 hex digits (a SHA-256)")
        a.flag("validate_certs", True)
        a.number("timeout", 300, 1, 86400)
        a.text("username")
        a.text("password", empty=True)
        if a.given("password") and not a.given("username"):
            a.fail("username", "is required when password is given")
        dest = self.resolve(dest_path)
        if dest.kind == "directory":
            raise OpFailure("exists", "file.download: dest %s is a directory" % dest.path)
        real = self._writable(dest, "file.download")
        self._check_unlocked(dest.path, "file.download")
        source = self._source(url, dest, a)
        truncate = self._take_fault(lambda f: f["fault"] == "truncate_download")
        created = self._mkdirs(os.path.dirname(real))
        try:
            size, digest = self._write_stream(dest, source(), "file.download", truncate["bytes"] if truncate else None)
            if sha is not None and digest != sha.lower():
                raise OpFailure(
                    "checksum_mismatch",
                    "file.download: %s has sha256 %s, expected %s; the file was deleted" % (_redact_url(url), digest, sha.lower()),
                )
        except BaseException:
            # Whatever failed once the arguments were good, no file is left at dest.
            left = self.resolve(dest.path)
            if left.kind == "file":
                self._remove(left, "file.download")
            self._rmdirs(created)
            raise
        return {"size": size, "sha256": digest}

    def _source(self, url: str, dest: Node, a: Args) -> Callable[[], Iterator[bytes]]:
        """What reads the source, after checking the form of `url` (bad_args); reading may fail download_failed."""
        if url.lower().startswith(("http://", "https://")):
            return lambda: self._http_chunks(url, a)
        if is_unc(url):
            return lambda: self._file_chunks(self._share_file(url), url)
        if not _DRIVE_PATH.match(url.replace("/", "\\")):
            a.fail(
                "url",
                "must be an https:// or http:// URL, a UNC path (\\\\server\\share\\file) or a local path (C:\\...); got '%s'"
                % _redact_url(url),
            )
        source = self.resolve(parse_path(url, "url"))
        if source.path.key == dest.path.key:
            a.fail("url", "is the same file as dest")
        return lambda: self._file_chunks(source.real if source.kind == "file" else None, url)

    def _share_file(self, url: str) -> str | None:
        """The file a UNC path names under <state_dir>/_shares (server and share names too are case-insensitive)."""
        parts = [p for p in url.replace("/", "\\").split("\\") if p]
        if len(parts) < 3:
            return None
        real = self.shares_root
        for part in parts:
            name = _ci_find(os.listdir(real), part) if os.path.isdir(real) else None
            if name is None:
                return None
            real = os.path.join(real, name)
        return real if os.path.isfile(real) else None

    @staticmethod
    def _file_chunks(real: str | None, url: str) -> Iterator[bytes]:
        if real is None:
            raise OpFailure("download_failed", "file.download: %s does not exist or is not a file" % url)
        with open(real, "rb") as handle:
            yield from iter(lambda: handle.read(CHUNK), b"")

    @staticmethod
    def _http_chunks(url: str, a: Args) -> Iterator[bytes]:
        shown = _redact_url(url)
        handlers: list[urllib.request.BaseHandler] = []
        if url.lower().startswith("https://"):
            context = ssl.create_default_context()
            if not a.flag("validate_certs", True):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        username = a.text("username")
        if username is not None:
            # Sent up front, and only to URLs below this one: never to a host a redirect leads to.
            passwords = urllib.request.HTTPPasswordMgrWithPriorAuth()
            passwords.add_password(None, url, username, a.text("password", empty=True) or "", is_authenticated=True)
            handlers.append(urllib.request.HTTPBasicAuthHandler(passwords))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(url, headers={"User-Agent": "gowin-winsim/1"})
        timeout = a.number("timeout", 300, 1, 86400)
        try:
            with opener.open(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                got = 0
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    got += len(chunk)
                    yield chunk
                if length is not None and length.isdigit() and got < int(length):
                    raise OpFailure(
                        "download_failed", "download of %s failed: the connection closed after %d of %s bytes" % (shown, got, length)
                    )
        except urllib.error.HTTPError as exc:
            raise OpFailure("download_failed", "download of %s failed: HTTP %d %s" % (shown, exc.code, exc.reason)) from None
        except urllib.error.URLError as exc:
            raise OpFailure("download_failed", "download of %s failed: %s" % (shown, exc.reason)) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            reason = "timed out after %s seconds" % timeout if isinstance(exc, TimeoutError) else "%s: %s" % (type(exc).__name__, exc)
            raise OpFailure("download_failed", "download of %s failed: %s" % (shown, reason)) from None
