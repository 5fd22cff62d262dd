"""Version requests, release ordering and resolution against a go.dev-format index."""

from __future__ import annotations

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _goversion as gv


def rel(tag: str, stable: bool | None = None) -> dict:
    if stable is None:
        stable = "rc" not in tag and "beta" not in tag
    return {"version": tag, "stable": stable, "files": []}


# Newest first, as go.dev serves it, with a pre-release on top.
INDEX = [rel(t) for t in [
    "go1.24rc1", "go1.23.2", "go1.23.1", "go1.23.0", "go1.23rc2", "go1.23rc1", "go1.22.8", "go1.22.5",
    "go1.22.0", "go1.22rc1", "go1.21.13", "go1.21.0", "go1.20.14", "go1.20", "go1.20rc3",
]]


@pytest.mark.parametrize("text,kind,name", [
    ("1.22.5", "exact", "1.22.5"),
    ("go1.22.5", "exact", "1.22.5"),
    (" 1.22.5 ", "exact", "1.22.5"),
    ("1.23rc1", "exact", "1.23rc1"),
    ("go1.24beta1", "exact", "1.24beta1"),
    ("1.22.0", "exact", "1.22.0"),
    ("1.20.0", "exact", "1.20"),  # before 1.21 the first release is go1.20, not go1.20.0
    ("1.22", "series", None),
    ("go1.22", "series", None),
    ("latest", "latest", None),
    ("LATEST", "latest", None),
])
def test_parse_request(text, kind, name):
    req = gv.parse_request("version", text)
    assert req.kind == kind
    if name:
        assert req.exact_name() == name


@pytest.mark.parametrize("text", [
    "", "1", "1.22.5.1", "v1.22.5", "1.22.x", "1.22-rc1", "1.22.5rc1", "newest", "1.22;Remove-Item C:\\",
    "$(Get-Process)", "1.22`n", "go 1.22", "1.22 ", "1.x",
])
def test_parse_request_rejects(text):
    if text == "1.22 ":  # surrounding blanks are forgiven
        assert gv.parse_request("version", text).kind == "series"
        return
    with pytest.raises(gv.VersionError) as err:
        gv.parse_request("version", text)
    assert "version must be" in str(err.value)
    assert "latest" in str(err.value)  # says what is accepted


# internal/gover cutInt: "no digits or unnecessary leading zero" makes the whole version invalid,
# so 1.022 is not 1.22 (it used to resolve to the newest 1.22.x).
@pytest.mark.parametrize("text", [
    "1.022", "go1.022", "01.22", "1.22.05", "1.022.5", "1.23rc01", "1.20.00", "00.1",
])
def test_parse_request_rejects_leading_zeros(text):
    with pytest.raises(gv.VersionError) as err:
        gv.parse_request("version", text)
    assert str(err.value).startswith("version must be ")
    assert "no leading zeros" in str(err.value)


# Its neighbours: a lone 0 is a number, and zeros that are not leading are fine.
@pytest.mark.parametrize("text,kind,name", [
    ("1.0", "series", None),
    ("1.20.10", "exact", "1.20.10"),
    ("1.10", "series", None),
    ("1.22.0", "exact", "1.22.0"),
    ("1.23rc10", "exact", "1.23rc10"),
    ("1.20.0", "exact", "1.20"),  # gover: 1.20 == 1.20.0, and the index names that release go1.20
    ("1.19.0", "exact", "1.19"),
    ("1.21.0", "exact", "1.21.0"),  # from 1.21 on the first release carries .0
])
def test_parse_request_zero_neighbours(text, kind, name):
    req = gv.parse_request("version", text)
    assert req.kind == kind
    if name:
        assert req.exact_name() == name


def test_leading_zero_no_longer_resolves_to_a_series():
    with pytest.raises(gv.VersionError):
        gv.resolve(gv.parse_request("version", "1.022"), INDEX)
    assert gv.resolve(gv.parse_request("version", "1.22"), INDEX).name == "1.22.8"
    assert gv.resolve(gv.parse_request("version", "1.20"), INDEX).name == "1.20.14"
    assert gv.resolve(gv.parse_request("version", "1.20.0"), INDEX).name == "1.20"


@pytest.mark.parametrize("tag", ["go1.022", "go01.22.5", "go1.22.05"])
def test_release_names_with_leading_zeros_are_not_releases(tag):
    with pytest.raises(gv.VersionError):
        gv.parse_release(tag)
    assert gv.index_versions([rel(tag), rel("go1.22.5")]) == [(gv.parse_release("go1.22.5"), True)]


def test_parse_request_rejects_non_strings():
    with pytest.raises(gv.VersionError):
        gv.parse_request("version", None)


def test_release_ordering_beta_rc_release_patch():
    names = ["go1.22beta1", "go1.22rc1", "go1.22rc2", "go1.22.0", "go1.22.1", "go1.22.10", "go1.23rc1"]
    parsed = [gv.parse_release(n) for n in names]
    assert sorted(parsed) == parsed
    assert gv.parse_release("go1.20") < gv.parse_release("go1.20.1")
    assert gv.parse_release("go1.9.7") < gv.parse_release("go1.10")


@pytest.mark.parametrize("text,expected", [
    ("latest", "1.23.2"),  # go1.24rc1 is newer but not stable
    ("1.22", "1.22.8"),
    ("1.21", "1.21.13"),
    ("1.20", "1.20.14"),
    ("1.22.5", "1.22.5"),
    ("1.22.0", "1.22.0"),
    ("1.20.0", "1.20"),
    ("1.23rc2", "1.23rc2"),
    ("1.24rc1", "1.24rc1"),
])
def test_resolve(text, expected):
    assert gv.resolve(gv.parse_request("version", text), INDEX).name == expected


def test_resolve_ignores_index_order():
    assert gv.resolve(gv.parse_request("version", "latest"), list(reversed(INDEX))).name == "1.23.2"


def test_resolve_trusts_the_stable_flag_and_the_name():
    index = [rel("go1.25.0", stable=False), rel("go1.24.1")]
    assert gv.resolve(gv.parse_request("version", "latest"), index).name == "1.24.1"


@pytest.mark.parametrize("text,message", [
    ("1.22.6", "version 1.22.6 is not in the download index (newest stable: 1.23.2)"),
    ("1.19", "no stable release of 1.19"),
    ("1.24", "no stable release of 1.24"),  # only an rc exists
    ("1.23rc3", "not in the download index"),
])
def test_resolve_missing(text, message):
    with pytest.raises(gv.VersionError) as err:
        gv.resolve(gv.parse_request("version", text), INDEX)
    assert message in str(err.value)


def test_resolve_rejects_a_non_list_index():
    with pytest.raises(gv.VersionError):
        gv.resolve(gv.parse_request("version", "latest"), {"version": "go1.22.5"})


@pytest.mark.parametrize("content,first", [
    ("go1.22.5\ntime 2024-06-04T20:40:17Z\n", "go1.22.5"),
    ("go1.20.14", "go1.20.14"),
    ("go1.21.0\r\ntime 2023-08-08T19:19:32Z\r\n", "go1.21.0"),
    ("\n\ngo1.23rc1\n", "go1.23rc1"),
    ("", None),
])
def test_parse_version_file(content, first):
    assert gv.parse_version_file(content) == first


def test_find_file_and_sort_names():
    index = [{"version": "go1.22.5", "stable": True, "files": [
        {"filename": "go1.22.5.windows-amd64.msi", "os": "windows", "arch": "amd64", "kind": "installer"},
        {"filename": "go1.22.5.windows-amd64.zip", "os": "windows", "arch": "amd64", "kind": "archive"},
        {"filename": "go1.22.5.linux-amd64.tar.gz", "os": "linux", "arch": "amd64", "kind": "archive"},
    ]}]
    found = gv.find_file(index, gv.parse_release("go1.22.5"), "windows", "amd64")
    assert found["filename"].endswith(".zip")
    assert gv.find_file(index, gv.parse_release("go1.22.5"), "windows", "arm64") is None
    assert gv.sort_names(["1.21.13", "1.22.5", "1.23rc1", "junk", "1.22.10"]) == ["1.23rc1", "1.22.10", "1.22.5", "1.21.13", "junk"]
