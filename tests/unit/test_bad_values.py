"""Bad values on the controller: what no module takes, the path allowlist, version numbers, malformed
download indexes and the messages that quote values. (The sweep through ansible-playbook is
tests/integration/test_bad_input_sweep.py.)"""

from __future__ import annotations

import json

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _action as act
from ansible_collections.gowin.server.plugins.plugin_utils import _goversion as gv
from ansible_collections.gowin.server.plugins.plugin_utils import _sources as src
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp


def _nested(depth):
    value = "x"
    for _n in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value, words", [
    ("a" * 32768, "32768 characters long; Windows takes at most 32767"),
    ("C:\\a\x00b", "NUL character"),
    ("C:\\a" + chr(0xD800) + "b", "lone surrogate (U+D800 at position 4)"),
    ({"k": "ok", "v": chr(0xDFFF)}, "lone surrogate (U+DFFF"),
    ({chr(0xDC00): "key"}, "lone surrogate (U+DC00"),
    (_nested(17), "nested more than 16 levels deep"),
])
def test_values_no_module_takes(value, words):
    assert words in act.value_problem(value)


@pytest.mark.parametrize("value", ["a" * 32767, "C:\\opt\\gö", "\U0001F600", _nested(16), {"a": [1, 2.5, True, None]}, 10 ** 50])
def test_values_every_module_may_take(value):
    assert act.value_problem(value) is None


def test_long_quoted_values_are_cut_in_messages():
    msg = act.shorten_message("argument 'build' is of type str: The value '%s' is not a valid boolean." % ("A" * 100_000))
    assert len(msg) < 300 and "(100000 characters)" in msg and msg.startswith("argument 'build'")
    assert len(act.shorten_message("x" * 10_000)) <= act.MAX_MESSAGE
    assert act.shorten_message("version must be exact, got '1.x'") == "version must be exact, got '1.x'"


@pytest.mark.parametrize("value, words", [
    ("\\\\?\\C:\\go", "not a Win32 device path"),
    ("\\\\.\\PhysicalDrive0", "not a Win32 device path"),
    ("\\\\?\\UNC\\srv\\share", "not a Win32 device path"),
    ("C:\\opt\\\u201cgo\u201d", "contains '\u201c' '\u201d'"),
    ("C:\\opt\\\u2018go\u2019", "contains '\u2018' '\u2019'"),
    ("C:\\opt\\go$x", "contains '$'"),
    ("C:\\opt\\go=1", "contains '='"),
    ("C:\\opt\\go\u00a0x", "contains '\\xa0'"),
])
def test_install_root_allowlist_and_device_paths(value, words):
    with pytest.raises(wp.PathError) as err:
        wp.check_absolute("install_root", value, allow_unc=True, strict=True)
    assert str(err.value).startswith("install_root ") and words in str(err.value)


@pytest.mark.parametrize("value", ["C:\\opt\\go", "D:\\Go Tools (x86)\\go-1_22+b@c#d~e,f", "C:\\opt\\gö\\Ünïcode", "\\\\srv\\share\\go"])
def test_install_root_allowlist_takes(value):
    assert wp.check_absolute("install_root", value, allow_unc=True, strict=True)


def test_device_paths_refused_where_unc_is_allowed():
    with pytest.raises(wp.PathError, match="gopath must be a drive path"):
        wp.check_absolute("gopath", "\\\\?\\C:\\go", allow_unc=True)
    assert wp.check_absolute("gopath", "\\\\srv\\share\\go", allow_unc=True) == "\\\\srv\\share\\go"


@pytest.mark.parametrize("text", ["1." + "9" * 5000, "1.2" + "0" * 20, "1.22.1234567890", "go1234567890.1"])
def test_version_numbers_have_at_most_nine_digits(text):
    with pytest.raises(gv.VersionError, match="at most 9 digits"):
        gv.parse_request("version", text)


def test_version_of_nine_digits_is_read():
    assert gv.parse_request("version", "1.999999999").kind == "series"


def test_index_with_huge_numbers_and_bad_shapes_is_read_without_crashing():
    index = [
        {"version": "go1." + "9" * 5000, "stable": True, "files": []},
        {"version": "go1.22.5", "stable": True, "files": "not a list"},
        {"version": "go1.22.4", "stable": True, "files": [
            1, "x", None, {"os": "windows", "arch": "amd64", "kind": "archive", "filename": "go1.22.4.windows-amd64.zip"}]},
        {"version": ["go1.22.3"]},
        "go1.22.2",
    ]
    assert gv.resolve(gv.parse_request("version", "1.22"), index).name == "1.22.5"
    assert gv.find_file(index, gv.parse_release("go1.22.5"), "windows", "amd64") is None
    found = gv.find_file(index, gv.parse_release("go1.22.4"), "windows", "amd64")
    assert found["filename"] == "go1.22.4.windows-amd64.zip"


@pytest.mark.parametrize("body, words", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('[{"version": "go1.22.5", "n": %s}]' % ("9" * 5000), "a number of thousands of digits"),
    ("\xff\xfe not utf-8", "is not JSON"),
])
def test_malformed_index_documents_fail_cleanly(tmp_path, monkeypatch, body, words):
    monkeypatch.setenv("GOWIN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "index.json"
    path.write_bytes(body.encode("latin-1"))
    with pytest.raises(src.SourceError) as err:
        src.fetch_index("file://" + str(path), True, None, None, 10)
    assert words in str(err.value)
    assert body[:40] not in str(err.value)  # never quotes the content


def test_a_corrupted_cache_entry_is_fetched_again(tmp_path, monkeypatch):
    monkeypatch.setenv("GOWIN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "index.json"
    path.write_text(json.dumps([{"version": "go1.22.5", "stable": True, "files": []}]))
    url = "file://" + str(path)
    assert src.fetch_index(url, True, None, None, 10)[0]["version"] == "go1.22.5"
    for cached in (tmp_path / "cache" / "index").iterdir():
        cached.write_text("[" * 100_000)
    assert src.fetch_index(url, True, None, None, 10)[0]["version"] == "go1.22.5"
