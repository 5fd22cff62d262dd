# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local Go mirror of stand-in distributions (tools/gomirror.py) used by tests, demo and bench."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile

import pytest

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools")
sys.path.insert(0, TOOLS)

import gomirror  # noqa: E402

PE_MACHINES = {"amd64": 0x8664, "arm64": 0xAA64, "386": 0x014C}
UNSTABLE = {"go1.24rc1", "go1.23rc2", "go1.23rc1", "go1.22rc1"}
# Loopback only: never let an http_proxy in the environment see these requests.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    return gomirror.build(tmp_path_factory.mktemp("mirror"))


@pytest.fixture(scope="module")
def server(mirror):
    srv, base = gomirror.serve(mirror["dir"])
    yield srv, base
    srv.shutdown()


def _get(url, method="GET", auth=None):
    req = urllib.request.Request(url, method=method)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with OPENER.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _coff_machine(data: bytes) -> int:
    assert data[:2] == b"MZ"
    (e_lfanew,) = struct.unpack_from("<I", data, 0x3C)
    assert data[e_lfanew:e_lfanew + 4] == b"PE\0\0"
    return struct.unpack_from("<H", data, e_lfanew + 4)[0]


# ---------------------------------------------------------------------------------- build


def test_default_versions_exercise_resolution():
    versions = list(gomirror.DEFAULT_VERSIONS)
    assert versions[0] == "go1.24rc1" and not gomirror.is_stable("go1.24rc1")
    assert versions == sorted(versions, key=gomirror.version_key, reverse=True)
    assert {v for v in versions if not gomirror.is_stable(v)} == UNSTABLE
    assert "go1.20.14" in versions


def test_version_key_orders_prereleases_before_release():
    keys = ["go1.23rc1", "go1.23rc2", "go1.23.0", "go1.23.1", "go1.24beta1", "go1.24rc1"]
    assert sorted(reversed(keys), key=gomirror.version_key) == keys
    assert gomirror.version_key("go1.20") == gomirror.version_key("go1.20.0")
    with pytest.raises(ValueError):
        gomirror.version_key("1.22.5")


def test_builds_are_deterministic(tmp_path):
    one = gomirror.build(tmp_path / "a")
    two = gomirror.build(tmp_path / "b")
    assert one["index"] == two["index"]
    assert {k: v["sha256"] for k, v in one["files"].items()} == {k: v["sha256"] for k, v in two["files"].items()}
    for name in one["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "index.json").read_bytes() == (tmp_path / "b" / "index.json").read_bytes()
    # a rebuild in place leaves files untouched
    mtime = os.stat(tmp_path / "a" / "go1.22.5.windows-amd64.zip").st_mtime_ns
    gomirror.build(tmp_path / "a")
    assert os.stat(tmp_path / "a" / "go1.22.5.windows-amd64.zip").st_mtime_ns == mtime


def test_every_version_and_arch_is_built_and_small(mirror):
    expected = {"%s.windows-%s.zip" % (v, a) for v in gomirror.DEFAULT_VERSIONS for a in ("amd64", "arm64", "386")}
    assert set(mirror["files"]) == expected
    for info in mirror["files"].values():
        assert os.path.getsize(info["path"]) == info["size"] < 16 * 1024


@pytest.mark.parametrize("version", gomirror.DEFAULT_VERSIONS)
@pytest.mark.parametrize("arch", ["amd64", "arm64", "386"])
def test_official_layout(mirror, version, arch):
    name = "%s.windows-%s.zip" % (version, arch)
    with zipfile.ZipFile(mirror["files"][name]["path"]) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names == sorted(names)
        assert all(n.startswith("go/") for n in names)
        for required in ("go/VERSION", "go/LICENSE", "go/README.STAND-IN.txt", "go/bin/go.exe", "go/bin/gofmt.exe",
                         "go/src/go.mod", "go/pkg/tool/windows_%s/compile.exe" % arch):
            assert required in names
        assert not any(n.startswith("go/pkg/tool/") and "windows_%s/" % arch not in n for n in names)

        version_text = zf.read("go/VERSION").decode("ascii")
        if gomirror.version_key(version) >= gomirror.version_key("go1.21rc1"):
            lines = version_text.split("\n")
            assert lines[0] == version
            assert lines[1].startswith("time ") and lines[1].endswith("Z")
            assert version_text.endswith("\n") and len(lines) == 3
            go_env = zf.read("go/go.env").decode("ascii")
            assert "GOPROXY=https://proxy.golang.org,direct\n" in go_env
            assert "GOSUMDB=sum.golang.org\n" in go_env
            assert "GOTOOLCHAIN=auto\n" in go_env
            assert go_env.startswith("# This file contains the initial defaults for go command configuration.\n")
        else:
            assert version_text == version  # pre-1.21: the version alone, no newline
            assert "go/go.env" not in names

        for exe in [n for n in names if n.endswith(".exe")]:
            data = zf.read(exe)
            assert _coff_machine(data) == PE_MACHINES[arch], exe
            assert gomirror.pe_machine(data) == arch
            assert b"gowin stand-in: not a real Go toolchain" in data
        assert "not" in zf.read("go/README.STAND-IN.txt").decode().lower()
        for info in zf.infolist():
            assert info.date_time == zf.infolist()[0].date_time


def test_known_version_file_format(mirror):
    with zipfile.ZipFile(mirror["files"]["go1.22.5.windows-amd64.zip"]["path"]) as zf:
        assert zf.read("go/VERSION") == b"go1.22.5\ntime 2024-06-04T20:40:17Z\n"


def test_pe_machine_rejects_non_pe():
    assert gomirror.pe_machine(b"not a PE image") is None
    assert gomirror.pe_machine(b"MZ" + b"\0" * 100) is None
    data = bytearray(gomirror.make_pe("amd64", "x"))
    struct.pack_into("<H", data, struct.unpack_from("<I", data, 0x3C)[0] + 4, 0x1234)
    assert gomirror.pe_machine(bytes(data)) == "unknown"


# ---------------------------------------------------------------------------------- index


def test_index_format(mirror):
    index = mirror["index"]
    with open(mirror["index_path"], encoding="ascii") as handle:
        assert json.load(handle) == index
    assert [r["version"] for r in index] == list(gomirror.DEFAULT_VERSIONS)
    assert index[0]["version"] == "go1.24rc1" and index[0]["stable"] is False
    latest_stable = next(r for r in index if r["stable"])
    assert latest_stable["version"] == "go1.23.2"
    for release in index:
        assert list(release) == ["version", "stable", "files"]
        assert release["stable"] is (release["version"] not in UNSTABLE)
        kinds = set()
        for f in release["files"]:
            assert list(f) == ["filename", "os", "arch", "version", "sha256", "size", "kind"]
            assert f["version"] == release["version"]
            assert len(f["sha256"]) == 64 and int(f["sha256"], 16) >= 0
            assert isinstance(f["size"], int) and f["size"] > 0
            kinds.add((f["os"], f["kind"]))
            if f["kind"] == "source":
                assert (f["os"], f["arch"]) == ("", "")
        assert ("", "source") in kinds and ("windows", "installer") in kinds and ("linux", "archive") in kinds
        zips = [f for f in release["files"] if f["os"] == "windows" and f["kind"] == "archive"]
        assert sorted(f["arch"] for f in zips) == ["386", "amd64", "arm64"]
        for f in zips:
            with open(os.path.join(mirror["dir"], f["filename"]), "rb") as handle:
                data = handle.read()
            assert hashlib.sha256(data).hexdigest() == f["sha256"]
            assert len(data) == f["size"]


def test_featured_is_newest_stable_of_two_series(mirror):
    assert [r["version"] for r in gomirror.featured(mirror["index"])] == ["go1.23.2", "go1.22.8"]


# ---------------------------------------------------------------------------------- server


def test_serves_full_index(server, mirror):
    srv, base = server
    status, headers, body = _get(base + "/dl/?mode=json&include=all")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == mirror["index"]
    status, _headers, body = _get(base + "/dl/?include=all&mode=json")
    assert status == 200 and json.loads(body) == mirror["index"]


def test_serves_stable_index(server):
    _srv, base = server
    status, _headers, body = _get(base + "/dl/?mode=json")
    assert status == 200
    assert [r["version"] for r in json.loads(body)] == ["go1.23.2", "go1.22.8"]


def test_serves_file_with_length(server, mirror):
    srv, base = server
    name = "go1.22.5.windows-amd64.zip"
    status, headers, body = _get(base + "/dl/" + name)
    assert status == 200
    assert int(headers["Content-Length"]) == len(body) == mirror["files"][name]["size"]
    assert hashlib.sha256(body).hexdigest() == mirror["files"][name]["sha256"]
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.read("go/VERSION").startswith(b"go1.22.5\n")
    assert srv.requests[-1]["path"] == "/dl/" + name and srv.requests[-1]["status"] == 200
    status, _headers, body = _get(base + "/dl/" + name + ".sha256")
    assert status == 200 and body.decode().strip() == mirror["files"][name]["sha256"]


def test_head(server, mirror):
    srv, base = server
    name = "go1.21.0.windows-arm64.zip"
    status, headers, body = _get(base + "/dl/" + name, method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == mirror["files"][name]["size"]
    assert srv.requests[-1]["method"] == "HEAD"


@pytest.mark.parametrize("path", [
    "/dl/go1.22.5.windows-amd64.msi",        # listed, not served
    "/dl/go1.22.5.src.tar.gz",
    "/dl/go1.99.0.windows-amd64.zip",
    "/dl/..%2F..%2Fetc%2Fpasswd",
    "/dl/index.json",
    "/elsewhere",
])
def test_not_found(server, path):
    srv, base = server
    status, _headers, _body = _get(base + path)
    assert status == 404
    assert srv.requests[-1]["status"] == 404


def test_faults(server, mirror):
    srv, base = server
    name = "go1.23.2.windows-amd64.zip"
    srv.faults[name] = b"PK\x03\x04truncated"
    try:
        status, _headers, body = _get(base + "/dl/" + name)
        assert status == 200 and body == b"PK\x03\x04truncated"
        srv.faults[name] = 503
        assert _get(base + "/dl/" + name)[0] == 503
    finally:
        srv.faults.clear()
    assert _get(base + "/dl/" + name)[0] == 200


def test_basic_auth(mirror):
    srv, base = gomirror.serve(mirror["dir"], auth=("gouser", "s3cret"))
    try:
        status, headers, _body = _get(base + "/dl/?mode=json&include=all")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic ")
        assert _get(base + "/dl/go1.22.5.windows-amd64.zip", auth=("gouser", "wrong"))[0] == 401
        status, _headers, body = _get(base + "/dl/go1.22.5.windows-amd64.zip", auth=("gouser", "s3cret"))
        assert status == 200 and len(body) == mirror["files"]["go1.22.5.windows-amd64.zip"]["size"]
        assert [r["status"] for r in srv.requests] == [401, 401, 200]
        assert srv.requests[-1]["user"] == "gouser"
    finally:
        srv.shutdown()


def test_redirect_mode(mirror):
    srv, base = gomirror.serve(mirror["dir"], redirect=True)
    try:
        status, _headers, body = _get(base + "/dl/go1.22.5.windows-386.zip")  # urllib follows the 302
        assert status == 200 and len(body) == mirror["files"]["go1.22.5.windows-386.zip"]["size"]
        assert [r["status"] for r in srv.requests] == [302, 200]
    finally:
        srv.shutdown()


def test_serve_needs_a_built_mirror(tmp_path):
    with pytest.raises(FileNotFoundError):
        gomirror.serve(tmp_path)


def test_shutdown_stops_serving(mirror):
    srv, base = gomirror.serve(mirror["dir"])
    assert _get(base + "/dl/?mode=json")[0] == 200
    srv.shutdown()
    srv.shutdown()  # idempotent
    with pytest.raises(OSError):
        OPENER.open(base + "/dl/?mode=json", timeout=2)


def test_cli_build_and_serve(tmp_path):
    script = os.path.join(TOOLS, "gomirror.py")
    out = subprocess.run([sys.executable, script, "build", str(tmp_path / "m"), "--versions", "go1.22.5,go1.20.14"],
                         capture_output=True, text=True, check=True)
    assert "6 stand-in zips" in out.stdout
    pidfile = tmp_path / "mirror.pid"
    proc = subprocess.Popen([sys.executable, script, "serve", str(tmp_path / "m"), "--port", "0", "--pidfile", str(pidfile)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        assert int(pidfile.read_text()) == proc.pid
        status, _headers, body = _get(base + "/dl/?mode=json&include=all")
        assert status == 200 and [r["version"] for r in json.loads(body)] == ["go1.22.5", "go1.20.14"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert not pidfile.exists()
