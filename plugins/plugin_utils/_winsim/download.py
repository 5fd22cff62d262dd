# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'download' (plugins/plugin_utils/_agent/download.ps1):
file.download: http(s), shares, local paths.
Vectors: tests/contract/vectors/download.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import os
import re
import ssl
import typing as t
import urllib.error
import urllib.parse
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
            # Checked before anything at dest is touched, as the agent does with System.Uri.TryCreate.
            request_url = _http_url(url)
            if request_url is None:
                a.fail("url", "is not a valid http(s) URL (it needs a host, and a port of 0 to 65535 if any); got '%s'" % _redact_url(url))
            return lambda: self._http_chunks(t.cast(str, request_url), url, a)
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
    def _http_chunks(request_url: str, url: str, a: Args) -> Iterator[bytes]:
        shown = _redact_url(url)
        timeout = a.number("timeout", 300, 1, 86400)
        try:
            with _get_following_redirects(request_url, shown, a, timeout) as response:
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


# ---- http(s) URLs and redirects, as the agent's ConvertTo-HttpUri and Get-HttpResponse ------------

REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10
_HOST_CHARS = frozenset("-_.")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~[]"


def _http_url(url: str) -> str | None:
    """The http(s) URL a download requests, or None where System.Uri.TryCreate(UriKind.Absolute) would
    not take it: userinfo cut at the authority's last '@' (never sent), the scheme http or https, a
    host (a DNS name of letters, digits, '-', '_' and '.', or an IPv6 address in brackets) and a port
    of 0..65535 if any. Path and query are percent-encoded where .NET escapes them (space, non-ASCII).
    """
    bare = _redact_url(url)
    try:
        parts = urllib.parse.urlsplit(bare)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    netloc = parts.netloc
    if netloc.startswith("["):
        close = netloc.find("]")
        if close < 0:
            return None
        try:
            ipaddress.IPv6Address(netloc[1:close])
        except ValueError:
            return None
        rest = netloc[close + 1:]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        host, _sep, port = netloc.partition(":")
        if not host or ":" in port or host.startswith(".") or ".." in host:
            return None
        if not all(c.isalnum() or c in _HOST_CHARS for c in host):
            return None
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return None
    path = urllib.parse.quote(parts.path.replace("\\", "/"), safe=_PATH_SAFE) or "/"
    query = "?" + urllib.parse.quote(parts.query, safe=_PATH_SAFE + "?") if parts.query else ""
    return "%s://%s%s%s" % (parts.scheme.lower(), netloc, path, query)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects come back as HTTPError: _get_following_redirects follows them itself."""

    def redirect_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        return None


def _get_following_redirects(request_url: str, shown: str, a: Args, timeout: int) -> t.Any:
    """GET request_url, following at most 10 redirects (301, 302, 303, 307, 308; a relative Location
    resolved against the URL that answered). Basic credentials go only to the original origin
    (scheme, host, port); a redirect from https to http is refused unless the original was http."""
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if request_url.startswith("https://"):
        context = ssl.create_default_context()
        if not a.flag("validate_certs", True):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    username = a.text("username")
    auth = None
    if username is not None:
        token = "%s:%s" % (username, a.text("password", empty=True) or "")
        auth = "Basic " + base64.b64encode(token.encode("utf-8")).decode("ascii")
    origin = _origin(request_url)
    current = request_url
    hops = 0
    while True:
        headers = {"User-Agent": "gowin-winsim/1"}
        if auth is not None and _origin(current) == origin:
            headers["Authorization"] = auth
        try:
            return opener.open(urllib.request.Request(current, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code not in REDIRECT_CODES:
                raise
            location = exc.headers.get("Location") or ""
            exc.close()
            code = exc.code
        failed = "download of %s failed: HTTP %d " % (shown, code)
        if not location:
            raise OpFailure("download_failed", failed + "without a Location")
        hops += 1
        if hops > MAX_REDIRECTS:
            raise OpFailure("download_failed", "download of %s failed: more than %d redirects" % (shown, MAX_REDIRECTS))
        if location.startswith("//"):
            location = urllib.parse.urlsplit(current).scheme + ":" + location
        location = _redact_url(location)
        following = _http_url(urllib.parse.urljoin(current, location))
        if following is None:
            raise OpFailure("download_failed", failed + "redirects to %s, which is not an http(s) URL" % location)
        if following.startswith("http://") and origin[0] == "https":
            raise OpFailure("download_failed", failed + "redirects from https to %s; a redirect to plain http is refused" % following)
        current = following
