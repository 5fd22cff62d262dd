"""Windows path rules, checksum and URL handling, the controller download cache."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _sources as src
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp


@pytest.mark.parametrize("value,expected", [
    ("C:\\opt\\go", "C:\\opt\\go"),
    ("C:/opt/go/", "C:\\opt\\go"),
    ("d:\\Program Files (x86)\\Go", "d:\\Program Files (x86)\\Go"),
    ("C:\\\\opt\\\\go", "C:\\opt\\go"),
])
def test_absolute_paths(value, expected):
    assert wp.check_absolute("install_root", value, strict=True) == expected


@pytest.mark.parametrize("value,fragment", [
    ("opt\\go", "absolute Windows path"),
    ("\\opt\\go", "absolute Windows path"),
    ("C:opt", "absolute Windows path"),
    ("", "empty value"),
    ("C:\\opt\\CON", "reserved Windows device name 'CON'"),
    ("C:\\opt\\nul.txt\\go", "reserved Windows device name"),
    ("C:\\opt\\LPT1", "reserved"),
    ("C:\\opt\\go;calc", "';'"),
    ("C:\\opt\\go$(calc)", "'$'"),
    ("C:\\opt\\go`whoami", "'`'"),
    ("C:\\opt\\%PATH%", "'%'"),
    ("C:\\opt\\go|x", "'|'"),
    ("C:\\opt\\go&x", "'&'"),
    ("C:\\opt\\go'x", "\"'\""),
    ("C:\\opt\\go.", "must not end with a dot"),
    ("C:\\opt\\go\nx", "control characters"),
    ("\\\\server\\share\\go", "absolute Windows path"),
])
def test_bad_paths_name_the_option(value, fragment):
    with pytest.raises(wp.PathError) as err:
        wp.check_absolute("install_root", value, strict=True)
    assert "install_root" in str(err.value)
    assert fragment in str(err.value)


def test_windows_invalid_characters_without_strict():
    assert wp.check_absolute("p", "C:\\a;b") == "C:\\a;b"
    with pytest.raises(wp.PathError):
        wp.check_absolute("p", "C:\\a?b")


def test_unc_and_helpers():
    assert wp.check_absolute("url", "//srv/share/go.zip", allow_unc=True) == "\\\\srv\\share\\go.zip"
    assert wp.join("C:\\opt\\go\\", "1.22.5", "go") == "C:\\opt\\go\\1.22.5\\go"
    assert wp.same("c:/OPT/go/", "C:\\opt\\Go")
    assert not wp.same("C:\\opt\\go", "C:\\opt\\go2")
    assert wp.parent("C:\\opt\\go\\1.22.5") == "C:\\opt\\go"
    assert wp.parent("C:\\opt") == "C:\\"
    assert wp.components("C:\\") == []


@pytest.mark.parametrize("value,expected", [
    ("sha256:" + "A" * 64, "a" * 64),
    (None, None),
])
def test_checksum(value, expected):
    assert src.parse_checksum("checksum", value) == expected


@pytest.mark.parametrize("value", [
    "a" * 64, "sha256:" + "a" * 63, "sha1:" + "a" * 40, "sha256:" + "g" * 64, "md5:abc", "sha256:$(x)",
])
def test_bad_checksum(value):
    with pytest.raises(src.SourceError) as err:
        src.parse_checksum("checksum", value)
    assert "checksum must be sha256:<64 hex digits>" in str(err.value)


def test_urls():
    assert src.check_url("index_url", "https://go.dev/dl/?mode=json&include=all", False)
    assert src.check_url("url", "http://127.0.0.1:8080/go.zip", True)
    assert src.check_url("url", "\\\\fs\\soft\\go.zip", False, allow_unc=True) == "\\\\fs\\soft\\go.zip"
    assert src.check_url("index_url", "file:///srv/index.json", False, allow_file=True)


@pytest.mark.parametrize("value,fragment", [
    ("http://mirror/go.zip", "set allow_plain_http: true"),
    ("ftp://mirror/go.zip", "must be an https:// URL"),
    ("https://", "with a host name"),
    ("https://mirror/go.zip`whoami", "'`'"),
    ("https://mirror/go .zip", "' '"),
    ("https://mirror/\"x", "'\"'"),
    ("https://mirror/a|b", "'|'"),
    ("file:///etc/passwd", "must be an https:// URL"),
    ("\\\\fs\\share\\go.zip", "must be an https:// URL"),
])
def test_bad_urls(value, fragment):
    with pytest.raises(src.SourceError) as err:
        src.check_url("url", value, False)
    assert str(err.value).startswith("url ")
    assert fragment in str(err.value)


def test_url_filename():
    assert src.url_filename("https://m/dl/go1.22.5.windows-amd64.zip?x=1") == "go1.22.5.windows-amd64.zip"
    assert src.url_filename("\\\\fs\\s\\go.zip") == "go.zip"


def test_controller_cache_verifies_every_use(tmp_path, monkeypatch):
    payload = b"stand-in zip bytes"
    sha = hashlib.sha256(payload).hexdigest()
    served = []

    class Resp:
        def read(self):
            served.append(1)
            return payload

    monkeypatch.setattr(src, "open_url", lambda *a, **k: Resp())
    path = src.controller_copy("https://m/go.zip", sha, True, None, None, 10, cache_dir=str(tmp_path))
    assert open(path, "rb").read() == payload
    src.controller_copy("https://m/go.zip", sha, True, None, None, 10, cache_dir=str(tmp_path))
    assert len(served) == 1  # cached
    with open(path, "wb") as handle:  # the cache gets corrupted
        handle.write(b"tampered")
    again = src.controller_copy("https://m/go.zip", sha, True, None, None, 10, cache_dir=str(tmp_path))
    assert open(again, "rb").read() == payload and len(served) == 2
    with pytest.raises(src.SourceError) as err:
        src.controller_copy("https://m/other.zip", "0" * 64, True, None, None, 10, cache_dir=str(tmp_path))
    assert str(err.value).startswith("checksum: ") and "checksum mismatch" in str(err.value)
    assert not os.path.exists(os.path.join(str(tmp_path), "0" * 64 + ".zip"))


def test_download_errors_never_show_the_password(monkeypatch, tmp_path):
    def boom(*a, **k):
        raise OSError("401 for https://user:s3cret@m/x")

    monkeypatch.setattr(src, "open_url", boom)
    with pytest.raises(src.SourceError) as err:
        src.controller_copy("https://m/x.zip", "0" * 64, True, "user", "s3cret", 10, cache_dir=str(tmp_path))
    assert "s3cret" not in str(err.value)
