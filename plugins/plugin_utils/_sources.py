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
from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url

_CHECKSUM = re.compile(r"^sha256:(?P<hex>[0-9a-fA-F]{64})$")
# Characters that may not appear unencoded in a URL (RFC 3986) and that shells give meaning to.
_URL_FORBIDDEN = set(' \t\r\n"`<>\\^{}|')
INDEX_CACHE_SECONDS = 300


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


def check_url(option: str, value: str, allow_plain_http: bool, allow_unc: bool = False, allow_file: bool = False) -> str:
    """Return the URL or raise SourceError naming the option and what is accepted."""
    if not isinstance(value, str) or not value.strip():
        raise SourceError("%s must be an https:// URL, got an empty value" % option)
    value = value.strip()
    if allow_unc and value.startswith(("\\\\", "//")):
        from ansible_collections.gowin.server.plugins.plugin_utils._winpath import PathError, check_absolute

        try:
            return check_absolute(option, value, allow_unc=True)
        except PathError as err:
            raise SourceError(str(err)) from None
    accepted = "an https:// URL" + (" or a UNC path (\\\\server\\share\\go.zip)" if allow_unc else "")
    bad = sorted(set(value) & _URL_FORBIDDEN)
    if bad or any(ord(c) < 32 for c in value):
        raise SourceError(
            "%s must be %s without spaces or any of \" ` < > \\ ^ { } |; %r contains %s"
            % (option, accepted, value, " ".join(repr(c) for c in bad) or "control characters")
        )
    parts = urlsplit(value)
    if parts.scheme == "file" and allow_file:
        return value
    if parts.scheme == "http":
        if not allow_plain_http:
            raise SourceError(
                "%s uses plain http:// (%s); use https://, or set allow_plain_http: true to accept it "
                "(the SHA-256 check still applies)" % (option, value)
            )
    elif parts.scheme != "https":
        raise SourceError("%s must be %s, got %r" % (option, accepted, value))
    if not parts.hostname:
        raise SourceError("%s must be %s with a host name, got %r" % (option, accepted, value))
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


def fetch_index(url: str, validate_certs: bool, username: str | None, password: str | None, timeout: int) -> list:
    """The download index, fetched by the controller; reused for a few minutes by every host."""
    key = hashlib.sha256(("%s|%s" % (url, username or "")).encode("utf-8")).hexdigest()
    path = os.path.join(_cache_root(), "index", key + ".json")
    try:
        if time.time() - os.path.getmtime(path) < INDEX_CACHE_SECONDS:
            with open(path, "rb") as handle:
                return json.loads(handle.read())
    except (OSError, ValueError):
        pass
    try:
        resp = open_url(
            url,
            validate_certs=validate_certs,
            url_username=username,
            url_password=password,
            force_basic_auth=bool(username),
            timeout=timeout,
            http_agent="gowin.server",
        )
        body = resp.read()
    except Exception as err:  # urllib raises a zoo of types; the message is what matters
        raise SourceError("could not fetch the download index from %s: %s" % (url, _scrub(str(err), password))) from None
    try:
        index = json.loads(body)
    except ValueError:
        raise SourceError("the download index at %s is not JSON (it starts with %r)" % (url, body[:80])) from None
    if not isinstance(index, list):
        raise SourceError("the download index at %s is not a JSON list of releases" % url)
    _atomic_write(path, body)
    return index


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "********") if secret else text


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def controller_copy(
    url: str, sha256: str, validate_certs: bool, username: str | None, password: str | None, timeout: int,
    cache_dir: str | None = None,
) -> str:
    """A verified local copy of url in the controller cache (downloaded once, verified every use)."""
    root = os.path.expanduser(cache_dir) if cache_dir else os.path.join(_cache_root(), "downloads")
    path = os.path.join(root, sha256 + ".zip")
    os.makedirs(root, exist_ok=True)
    # Every host's worker process asks at once: the first downloads, the others wait and reuse it.
    with open(path + ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _cached_or_fetched(path, url, sha256, validate_certs, username, password, timeout)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_or_fetched(path: str, url: str, sha256: str, validate_certs: bool, username: str | None,
                       password: str | None, timeout: int) -> str:
    if os.path.exists(path):
        if sha256_file(path) == sha256:
            return path
        os.unlink(path)  # a corrupted cache entry is fetched again, never used
    try:
        resp = open_url(
            url, validate_certs=validate_certs, url_username=username, url_password=password,
            force_basic_auth=bool(username), timeout=timeout, http_agent="gowin.server",
        )
        data = resp.read()
    except Exception as err:
        raise SourceError("the controller could not download %s: %s" % (url, _scrub(str(err), password))) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise SourceError("checksum: %s does not match: expected sha256:%s, got sha256:%s (checksum mismatch)" % (url, sha256, actual))
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


def open_url_args(params: dict) -> dict[str, t.Any]:
    return dict(
        validate_certs=params["validate_certs"],
        username=params.get("url_username"),
        password=params.get("url_password"),
        timeout=params["timeout"],
    )
