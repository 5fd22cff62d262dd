# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Where Go distributions come from: checksums, URLs, the go.dev JSON index, and the controller's
download cache (every cached file is verified by SHA-256 on every use).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
import typing as t
import urllib.error
from urllib.parse import quote, unquote, urljoin, urlsplit

from ansible.module_utils.urls import open_url

_CHECKSUM = re.compile(r"^sha256:(?P<hex>[0-9a-fA-F]{64})$")
# Characters that may not appear unencoded in a URL (RFC 3986) and that shells give meaning to.
_URL_FORBIDDEN = set(' \t\r\n"`<>\\^{}|')
INDEX_CACHE_SECONDS = 300
# Redirects the controller follows itself (never urllib's handler, which would carry the Authorization
# header to any host a mirror names): at most MAX_REDIRECTS hops, credentials only to the original origin.
REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10
# An anchored match at the start of the text only: linear, whatever follows.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# RFC 3986 userinfo: unreserved, pct-encoded, sub-delims and ':'. Userinfo made only of these is
# percent-decoded; anything else (spaces, quotes, '@', non-ASCII) is taken as written.
_RFC_USERINFO = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:%")
_HEX = frozenset("0123456789abcdefABCDEF")


class SourceError(ValueError):
    pass


def parse_checksum(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    m = _CHECKSUM.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise SourceError(
            "%s must be sha256:<64 hex digits> (for example sha256:%s), got %r" % (option, "0" * 64, value)
        )
    return m.group("hex").lower()


# ---------------------------------------------------------------- user info in URLs


def _authority(url: str) -> tuple[int, int] | None:
    """Where the authority of a 'scheme://' URL starts and ends: up to the first '/', '?' or '#' (as
    net/url, urllib and the agent's Get-RedactedUrl cut it). Linear."""
    found = _SCHEME.match(url)
    if not found:
        return None
    start = found.end()
    end = len(url)
    for mark in "/?#":
        i = url.find(mark, start, end)
        if i >= 0:
            end = i
    return start, end


def split_userinfo(url: str) -> tuple[str, str | None]:
    """(the URL without its user info, the user info or None).

    The user info ends at the LAST '@' of the authority, so a password holding '@', ':' or '%40' is
    cut off whole. Linear; the rest of the URL is kept as written.
    """
    span = _authority(url) if isinstance(url, str) else None
    if span is None:
        return url, None
    start, end = span
    at = url.rfind("@", start, end)
    if at < 0:
        return url, None
    return url[:start] + url[at + 1:], url[start:at]


def strip_userinfo(url: t.Any) -> t.Any:
    """The URL without user name and password (what is recorded, returned and printed); other values as they are."""
    return split_userinfo(url)[0] if isinstance(url, str) else url


def _host_port_ok(authority: str) -> bool:
    """host[:port] with a port of digits only (or an IPv6 address in brackets)."""
    close = authority.rfind("]") if authority.startswith("[") else -1
    colon = authority.find(":", close + 1)
    if colon < 0:
        return True
    port = authority[colon + 1:]
    return port == "" or (port.isascii() and port.isdigit())


def shown_url(url: t.Any) -> t.Any:
    """A URL as messages show it: without user info, and with more hidden where a password whose '/',
    '?' or '#' was not percent-encoded ended the authority early (the authority is then not host[:port],
    or it has a ':' and an '@' follows): up to the last '@', or the whole authority."""
    if not isinstance(url, str):
        return url
    bare = strip_userinfo(url)
    span = _authority(bare)
    if span is None:
        return bare
    start, end = span
    authority = bare[start:end]
    at = bare.rfind("@", end)
    if _host_port_ok(authority) and (at < 0 or ":" not in authority):
        return bare
    if at >= 0:
        return bare[:start] + "xxxxx@" + bare[at + 1:]
    return bare[:start] + "xxxxx" + bare[end:]


def _decode(part: str) -> str:
    if set(part) <= _RFC_USERINFO and all(
        part[i + 1:i + 2] in _HEX and part[i + 2:i + 3] in _HEX for i in range(len(part)) if part[i] == "%"
    ):
        try:
            return unquote(part, errors="strict")
        except UnicodeDecodeError:
            return part
    return part


def url_credentials(option: str, value: t.Any) -> tuple[str, str] | None:
    """(user, password) given in the URL's user info (`https://user:pass@mirror/...`), or None.

    Percent-encoded user info (RFC 3986) is decoded; user info holding characters a URL cannot hold
    unencoded (spaces, quotes, '@', non-ASCII) is taken as written. The password is split off at the
    first ':'. Raises SourceError (never quoting the user info) when the user info cannot be sent."""
    if not isinstance(value, str):
        return None
    _bare, userinfo = split_userinfo(value.strip())
    if userinfo is None:
        return None
    raw_user, _sep, raw_password = userinfo.partition(":")
    user, password = _decode(raw_user), _decode(raw_password)
    if any(ord(c) < 32 or ord(c) == 127 for c in user + password):
        raise SourceError("%s: the user name and password in the URL must not contain control characters" % option)
    if not user:
        raise SourceError("%s: the user info in the URL has no user name (HTTP basic authentication needs one)" % option)
    return user, password


def url_secrets(password: str | None) -> set[str]:
    """The forms a password may take in text (as given, percent-encoded), for scrubbing messages."""
    if not password:
        return set()
    return {password, quote(password, safe=""), quote(password)} - {""}


def check_url(option: str, value: str, allow_plain_http: bool, allow_unc: bool = False, allow_file: bool = False) -> str:
    """Return the URL without user info, or raise SourceError naming the option and what is accepted
    (messages never quote user info: url_credentials reads it)."""
    if not isinstance(value, str) or not value.strip():
        raise SourceError("%s must be an https:// URL, got an empty value" % option)
    value, userinfo = split_userinfo(value.strip())
    if allow_unc and value.startswith(("\\\\", "//")):
        from ansible_collections.gowin.server.plugins.plugin_utils._winpath import PathError, check_absolute

        try:
            return check_absolute(option, value, allow_unc=True)
        except PathError as err:
            raise SourceError(str(err)) from None
    accepted = "an https:// URL" + (" or a UNC path (\\\\server\\share\\go.zip)" if allow_unc else "")
    shown = shown_url(value)
    bad = sorted(set(value) & _URL_FORBIDDEN)
    if bad or any(ord(c) < 32 for c in value):
        raise SourceError(
            "%s must be %s without spaces or any of \" ` < > \\ ^ { } |; %r contains %s"
            % (option, accepted, shown, " ".join(repr(c) for c in bad) or "control characters")
        )
    span = _authority(value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0..65535
    except ValueError:
        parts = None
    if parts is None or (span is not None and not _host_port_ok(value[span[0]:span[1]])):
        raise SourceError(
            "%s must be %s with a host name and a port of 0 to 65535 if any, got %r (a '/', '?' or '#' in a password "
            "must be percent-encoded)" % (option, accepted, shown)
        )
    if parts.scheme == "file" and allow_file:
        if userinfo is not None:
            raise SourceError("%s: a file:// URL takes no user name or password" % option)
        return value
    if parts.scheme == "http":
        if not allow_plain_http:
            raise SourceError(
                "%s uses plain http:// (%s); use https://, or set allow_plain_http: true to accept it "
                "(the SHA-256 check still applies)" % (option, shown)
            )
    elif parts.scheme != "https":
        raise SourceError("%s must be %s, got %r" % (option, accepted, shown))
    if not parts.hostname:
        raise SourceError("%s must be %s with a host name, got %r" % (option, accepted, shown))
    return value


def _cache_root() -> str:
    return os.path.join(os.path.expanduser(os.environ.get("GOWIN_CACHE_DIR", "~/.cache/gowin")))


def _atomic_write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"https": 443, "http": 80}.get(scheme)


def http_get(url: str, validate_certs: bool, username: str | None, password: str | None, timeout: int,
             allow_plain_http: bool = False) -> bytes:
    """GET url (without user info) and return the body, following redirects here, not in urllib.

    At most MAX_REDIRECTS redirects (301, 302, 303, 307, 308; a relative Location is resolved against
    the URL that answered, and user info in a Location is dropped). Basic credentials go only to the
    origin (scheme, host, port) of url, as browsers, curl and requests do: a redirect to another origin
    is followed without them. A redirect from https to plain http is refused unless allow_plain_http;
    a redirect to anything but http(s) is refused. Raises SourceError (never quoting credentials),
    or the error open_url raised for the last URL."""
    origin = _origin(url)
    current = url
    hops = 0
    while True:
        same = _origin(current) == origin
        try:
            resp = open_url(
                current,
                validate_certs=validate_certs,
                url_username=username if same else None,
                url_password=password if same else None,
                force_basic_auth=bool(username) and same,
                follow_redirects="none",
                timeout=timeout,
                http_agent="gowin.server",
            )
            return resp.read()
        except urllib.error.HTTPError as err:
            if err.code not in REDIRECT_CODES:
                raise
            code = err.code
            location = (err.headers.get("Location") or err.headers.get("URI") or "").strip() if err.headers else ""
            err.close()
        answered = "%s answered HTTP %d" % (shown_url(current), code)
        if not location:
            raise SourceError(answered + " without a Location")
        hops += 1
        if hops > MAX_REDIRECTS:
            raise SourceError("%s: more than %d redirects" % (answered, MAX_REDIRECTS))
        following = strip_userinfo(urljoin(current, strip_userinfo(location)))
        scheme = urlsplit(following).scheme.lower()
        if scheme not in ("http", "https") or not urlsplit(following).hostname or shown_url(following) != following:
            raise SourceError("%s, a redirect to %s, which is not an http(s) URL; it is not followed"
                              % (answered, shown_url(following)))
        if scheme == "http" and _origin(current)[0] == "https" and not allow_plain_http:
            raise SourceError(
                "%s, a redirect from https to plain http (%s); it is refused unless allow_plain_http is true"
                % (answered, following)
            )
        current = following


def _failure(err: Exception, secrets: t.Iterable[str]) -> str:
    text = str(err)
    for secret in sorted(set(secrets) - {""}, key=len, reverse=True):
        text = text.replace(secret, "********")
    return text


def fetch_index(url: str, validate_certs: bool, username: str | None, password: str | None, timeout: int,
                allow_plain_http: bool = False) -> list:
    """The download index, fetched by the controller; reused for a few minutes by every host."""
    key = hashlib.sha256(("%s|%s" % (url, username or "")).encode("utf-8")).hexdigest()
    path = os.path.join(_cache_root(), "index", key + ".json")
    try:
        if time.time() - os.path.getmtime(path) < INDEX_CACHE_SECONDS:
            with open(path, "rb") as handle:
                return json.loads(handle.read())
    except (OSError, ValueError, RecursionError):
        pass
    shown = shown_url(url)
    try:
        body = http_get(url, validate_certs, username, password, timeout, allow_plain_http)
    except Exception as err:  # urllib raises a zoo of types; the message is what matters
        raise SourceError("could not fetch the download index from %s: %s" % (shown, _failure(err, url_secrets(password)))) from None
    try:
        index = json.loads(body)
    except json.JSONDecodeError as err:
        # never quote the content: index_url may name any file on the controller
        raise SourceError("the download index at %s is not JSON (%s at line %d column %d)" % (shown, err.msg, err.lineno, err.colno)) from None
    except RecursionError:
        raise SourceError("the download index at %s is nested too deeply to be a Go download index" % shown) from None
    except ValueError:
        # not UTF-8, or a number Python will not read (thousands of digits)
        raise SourceError("the download index at %s is not a JSON document this module reads "
                          "(not UTF-8 text, or a number of thousands of digits)" % shown) from None
    if not isinstance(index, list):
        raise SourceError("the download index at %s is not a JSON list of releases" % shown)
    _atomic_write(path, body)
    return index


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def controller_copy(
    url: str, sha256: str, validate_certs: bool, username: str | None, password: str | None, timeout: int,
    cache_dir: str | None = None, allow_plain_http: bool = False,
) -> str:
    """A verified local copy of url in the controller cache (downloaded once, verified every use)."""
    root = os.path.expanduser(cache_dir) if cache_dir else os.path.join(_cache_root(), "downloads")
    path = os.path.join(root, sha256 + ".zip")
    os.makedirs(root, exist_ok=True)
    # Every host's worker process asks at once: the first downloads, the others wait and reuse it.
    with open(path + ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _cached_or_fetched(path, url, sha256, validate_certs, username, password, timeout, allow_plain_http)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_or_fetched(path: str, url: str, sha256: str, validate_certs: bool, username: str | None,
                       password: str | None, timeout: int, allow_plain_http: bool) -> str:
    if os.path.exists(path):
        if sha256_file(path) == sha256:
            return path
        os.unlink(path)  # a corrupted cache entry is fetched again, never used
    shown = shown_url(url)
    try:
        data = http_get(url, validate_certs, username, password, timeout, allow_plain_http)
    except Exception as err:
        raise SourceError("the controller could not download %s: %s" % (shown, _failure(err, url_secrets(password)))) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise SourceError("checksum: %s does not match: expected sha256:%s, got sha256:%s (checksum mismatch)" % (shown, sha256, actual))
    _atomic_write(path, data)
    return path


def verify_local(option: str, path: str, sha256: str) -> str:
    if not os.path.isfile(path):
        raise SourceError("%s must be a zip file on the controller; %r does not exist" % (option, path))
    actual = sha256_file(path)
    if actual != sha256:
        raise SourceError("checksum: %s does not match: expected sha256:%s, got sha256:%s (checksum mismatch)" % (path, sha256, actual))
    return path


def url_filename(url: str) -> str:
    tail = re.split(r"[\\/]", urlsplit(url).path if "://" in url else url)[-1]
    return tail or "go.zip"


def open_url_args(params: dict, option: str | None = None) -> dict[str, t.Any]:
    """The arguments of fetch_index and controller_copy for the URL of option: url_username and
    url_password, else the user name and password that option's URL held (params["credentials"])."""
    username, password = params.get("url_username"), params.get("url_password")
    found = (params.get("credentials") or {}).get(option) if username is None else None
    if found:
        username, password = found
    return dict(
        validate_certs=params["validate_certs"],
        username=username,
        password=password,
        timeout=params["timeout"],
        allow_plain_http=bool(params.get("allow_plain_http")),
    )
