"""Where the zip comes from: host download, controller download and push, controller file, file share, auth."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import gomirror  # noqa: E402

ROOT = "C:\\opt\\go"
# A password full of PowerShell metacharacters: it must travel as data and never be printed.
PASSWORD = "p@ss$(calc)`;|&'\"{x}"


def ok(run, host="win1", task="install"):
    res = run.one(host, task)
    assert not res.failed, res.result.get("msg")
    return res.result


def test_download_on_controller_downloads_once_and_pushes(fleet, mirror, tmp_path):
    before = len(mirror.server.requests)
    cache = {"GOWIN_CACHE_DIR": str(tmp_path / "fresh-cache")}  # nothing cached by other tests
    args = dict(mirror.module_args(), version="1.22.5", download_on="controller")
    run = fleet.play([{"name": "install", "gowin.server.go_install": args}], env=cache)
    for name in fleet.hosts:
        r = ok(run, name)
        assert r["changed"] and r["sha256"] == mirror.sha("1.22.5")
        assert fleet.host(name).read_file(ROOT + "\\1.22.5\\VERSION").startswith(b"go1.22.5")
        assert fleet.host(name).counters()["puts"] == 1
        assert fleet.host(name).counters()["ops"].get("file.download", 0) == 0
    zips = [r for r in mirror.server.requests[before:] if r["path"].endswith("go1.22.5.windows-amd64.zip")]
    assert len(zips) == 1  # three hosts, one download: the others waited for it and reused it
    assert ok(fleet.play([{"name": "install", "gowin.server.go_install": args}], env=cache), "ws2016")["changed"] is False


def test_source_controller(host1, mirror, tmp_path):
    local = tmp_path / "go1.22.4.windows-amd64.zip"
    shutil.copy(mirror.files["go1.22.4.windows-amd64.zip"]["path"], local)
    r = ok(host1.install(version="1.22.4", source="controller", src=str(local), checksum="sha256:" + mirror.sha("1.22.4")))
    assert r["changed"] and r["active"] == "1.22.4" and r["source_url"] == "controller:go1.22.4.windows-amd64.zip"
    # a checksum that is not the local file's fails before anything reaches the host, even for an
    # installed version (the checksum names the file the user wants installed)
    h = host1.host("win1")
    before = h.snapshot()
    for version in ("1.22.4", "1.22.5"):
        res = host1.install(version=version, source="controller", src=str(local),
                            checksum="sha256:" + "1" * 64).one("win1", "install")
        assert res.failed and res.result["msg"].startswith("checksum: ") and "checksum mismatch" in res.result["msg"]
    assert h.snapshot() == before


def test_source_url_from_a_unc_share_without_activating(host1, mirror):
    share = Path(host1.state_dir) / "_shares" / "fs01" / "software" / "go"
    share.mkdir(parents=True)
    shutil.copy(mirror.files["go1.23.2.windows-amd64.zip"]["path"], share)
    assert host1.install(version="1.22.5").rc == 0
    r = ok(host1.install(version="1.23.2", source="url", url="\\\\fs01\\software\\go\\go1.23.2.windows-amd64.zip",
                         checksum="sha256:" + mirror.sha("1.23.2"), activate=False))
    assert r["changed"] and r["active"] == "1.22.5"
    assert r["installed_versions"] == ["1.23.2", "1.22.5"]
    assert r["source_url"] == "\\\\fs01\\software\\go\\go1.23.2.windows-amd64.zip"


@pytest.fixture
def auth_mirror(mirror):
    server, base = gomirror.serve(mirror.dir, auth=("deploy", PASSWORD))
    yield base.rstrip("/")
    server.shutdown()


@pytest.mark.parametrize("download_on", ["host", "controller"])
def test_basic_auth_password_is_data_and_never_shown(host1, auth_mirror, download_on):
    args = {"index_url": auth_mirror + "/dl/?mode=json&include=all", "base_url": auth_mirror + "/dl/",
            "url_username": "deploy", "url_password": PASSWORD, "version": "1.22.5", "download_on": download_on}
    run = host1.install(**args)
    r = ok(run)
    assert r["changed"] and r["sha256"]
    # -vvv and diff output, the result, and the host's state never hold the password
    loud = host1.play([{"name": "install", "gowin.server.go_install": dict(args, version="1.22.4", allow_plain_http=True)}],
                      diff=True, verbosity=3)
    assert ok(loud)["changed"]
    h = host1.host("win1")
    for text in (run.stdout, run.stderr, loud.stdout, loud.stderr, str(r), str(loud.results)):
        assert PASSWORD not in text
        assert "$(calc)`;|&" not in text
    assert PASSWORD.encode() not in open(os.path.join(str(host1.state_dir), "win1", "state.json"), "rb").read()
    # a wrong password: a clear error, still without the password
    # (1.21.0 is in no cache yet: the controller cache is keyed by SHA-256 and would need no password)
    bad = host1.install(**dict(args, version="1.21.0", url_password="wrong-" + PASSWORD))
    res = bad.one("win1", "install")
    assert res.failed and "401" in res.result["msg"]
    assert res.result["msg"].startswith("base_url")  # the message names the option
    assert PASSWORD not in bad.stdout + bad.stderr + str(res.result)
