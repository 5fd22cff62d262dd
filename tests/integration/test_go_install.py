"""go_install on winsim hosts: install, upgrade, switch, prune, absent, check, diff, idempotence."""

from __future__ import annotations

from conftest import reg

import re

TOOLCHAINS = "HKLM\\SOFTWARE\\GoWin\\Toolchains"
ROOT = "C:\\opt\\go"


def assert_ok(run, host, task="install"):
    res = run.one(host, task)
    assert not res.failed, "%s failed: %s\n%s" % (host, res.result.get("msg"), run.stdout[-2000:])
    assert "Traceback" not in run.stdout + run.stderr
    return res.result


def test_first_install_then_no_change_in_one_round_trip(fleet, mirror):
    run = fleet.install(version="1.22")
    assert run.rc == 0, run.stdout[-3000:]
    for name in fleet.hosts:
        r = assert_ok(run, name)
        assert r["changed"] is True
        assert r["version"] == "1.22.8"  # the newest stable 1.22 patch in the index
        assert r["active"] == "1.22.8"
        assert r["goroot"] == ROOT + "\\1.22.8"
        assert r["active_goroot"] == ROOT + "\\current"
        assert r["installed_versions"] == ["1.22.8"]
        assert r["sha256"] == mirror.sha("1.22.8")
        assert r["source_url"] == mirror.file_url("1.22.8")
        assert r["go_version"] == "go version go1.22.8 windows/amd64"
        assert r["modelled"] is True
        host = fleet.host(name)
        assert reg(host, TOOLCHAINS, "Active") == "1.22.8"
        assert reg(host, TOOLCHAINS + "\\1.22.8", "Sha256") == mirror.sha("1.22.8")
        assert reg(host, TOOLCHAINS + "\\1.22.8", "Status") == "installed"
        assert host.read_file(ROOT + "\\current\\VERSION").startswith(b"go1.22.8\n")
        assert host.read_file(ROOT + "\\1.22.8\\bin\\go.exe")[:2] == b"MZ"
        # the version folder is GOROOT: no go\ folder inside it
        assert host.read_file(ROOT + "\\1.22.8\\go\\bin\\go.exe") is None
        # an install is exactly two round trips: probe, apply
        assert host.counters()["round_trips"] == 2
    again = fleet.install(version="1.22")
    for name in fleet.hosts:
        r = assert_ok(again, name)
        assert r["changed"] is False and r["changes"] == []
        assert fleet.host(name).counters()["round_trips"] == 1


def test_staging_is_gone_and_acl_is_hardened(host1, mirror):
    assert host1.install(version="1.22.5").rc == 0
    listing = host1.host("win1").execute([{"op": "dir.list", "args": {"path": ROOT}}])[0]["data"]
    names = sorted(e["name"] for e in listing["entries"])
    assert names == ["1.22.5", "current"]
    acl = host1.host("win1").execute([{"op": "acl.get", "args": {"path": ROOT}}])[0]["data"]
    assert acl["protected"] is True
    explicit = {(a["sid"], a["mask"], a["type"]) for a in acl["aces"] if not a["inherited"]}
    assert explicit == {("S-1-5-32-544", 2032127, "allow"), ("S-1-5-18", 2032127, "allow"), ("S-1-5-32-545", 1179817, "allow")}
    # the version folders inherit it: Users can read and execute, not write
    child = host1.host("win1").execute([{"op": "acl.get", "args": {"path": ROOT + "\\1.22.5\\bin"}}])[0]["data"]
    users = [a for a in child["aces"] if a["sid"] == "S-1-5-32-545"]
    assert users and all(a["mask"] == 1179817 and a["inherited"] for a in users)


def test_upgrade_switch_and_keep_versions(host1, mirror):
    h = host1.host("win1")
    assert host1.install(version="1.21.13").rc == 0
    up = host1.install(version="1.22.5")
    r = assert_ok(up, "win1")
    assert r["changed"] and r["active"] == "1.22.5" and r["installed_versions"] == ["1.22.5", "1.21.13"]
    assert h.read_file(ROOT + "\\current\\VERSION").startswith(b"go1.22.5")
    # switching back to an installed version downloads nothing: only the junction and the record change
    back = host1.install(version="1.21.13")
    r = assert_ok(back, "win1")
    assert r["changed"] and r["active"] == "1.21.13"
    assert [c for c in r["changes"] if c.startswith("install")] == []
    assert h.read_file(ROOT + "\\current\\VERSION").startswith(b"go1.21.13")
    assert host1.install(version="latest").rc == 0
    assert host1.install(version="1.23.1").rc == 0
    # keep_versions: the 2 newest (1.23.2, 1.23.1) plus the active one (1.23.1 now)
    # a folder named like a version that this collection did not install is never pruned
    h.execute([{"op": "dir.ensure", "args": {"path": ROOT + "\\1.19.13\\go"}}])
    pruned = host1.install(version="1.23.1", keep_versions=2)
    r = assert_ok(pruned, "win1")
    assert r["changed"]
    assert r["installed_versions"] == ["1.23.2", "1.23.1"]
    assert reg(h, TOOLCHAINS + "\\1.21.13", "Status") is None
    assert h.read_file(ROOT + "\\1.22.5\\VERSION") is None
    assert h.read_file(ROOT + "\\1.23.2\\VERSION") is not None
    listing = h.execute([{"op": "dir.list", "args": {"path": ROOT + "\\1.19.13"}}])[0]["data"]
    assert listing["exists"] and [e["name"] for e in listing["entries"]] == ["go"]


def test_absent(host1, mirror):
    h = host1.host("win1")
    assert host1.install(version="1.21.13").rc == 0
    assert host1.install(version="1.22.5").rc == 0
    gone = host1.install(version="1.21.13", state="absent")
    r = assert_ok(gone, "win1")
    assert r["changed"] and r["installed_versions"] == ["1.22.5"] and r["active"] == "1.22.5"
    assert h.read_file(ROOT + "\\1.21.13\\VERSION") is None
    again = host1.install(version="1.21.13", state="absent")
    assert assert_ok(again, "win1")["changed"] is False
    assert h.counters()["round_trips"] == 1
    before = h.snapshot()
    refused = host1.install(version="1.22.5", state="absent")
    res = refused.one("win1", "install")
    assert res.failed and "active version" in res.result["msg"] and "force" in res.result["msg"]
    assert h.snapshot() == before
    forced = host1.install(version="1.22.5", state="absent", force=True)
    r = assert_ok(forced, "win1")
    assert r["active"] is None and r["installed_versions"] == []
    assert reg(h, TOOLCHAINS, "Active") is None
    assert h.read_file(ROOT + "\\current\\VERSION") is None


def test_check_mode_changes_nothing(host1, mirror):
    h = host1.host("win1")
    before = h.snapshot()
    run = host1.install(version="1.22.5", check=True)
    r = assert_ok(run, "win1")
    assert r["changed"] is True
    assert any(c.startswith("install Go 1.22.5") for c in r["changes"])
    assert h.snapshot() == before
    assert h.counters()["round_trips"] == 1  # the probe only
    assert host1.install(version="1.22.5").rc == 0
    assert assert_ok(host1.install(version="1.22.5", check=True), "win1")["changed"] is False
    # check mode of a switch predicts it without doing it
    assert host1.install(version="1.21.13", activate=False).rc == 0
    before = h.snapshot()
    r = assert_ok(host1.install(version="1.21.13", check=True), "win1")
    assert r["changed"] and r["active"] == "1.21.13"
    assert h.snapshot() == before


def test_diff_mode(host1, mirror):
    assert host1.install(version="1.21.13").rc == 0
    run = host1.install(version="1.22.5", diff=True)
    r = assert_ok(run, "win1")
    assert r["diff"]["before"]["active"] == "1.21.13"
    assert r["diff"]["after"]["active"] == "1.22.5"
    assert r["diff"]["after"]["installed_versions"] == ["1.22.5", "1.21.13"]
    # ansible prints the diff with --diff
    assert re.search(r'-\s+"active": "1\.21\.13"', run.stdout) and re.search(r'\+\s+"active": "1\.22\.5"', run.stdout)
    quiet = host1.install(version="1.22.5", diff=True)
    assert assert_ok(quiet, "win1")["diff"]["before"] == assert_ok(quiet, "win1")["diff"]["after"]


def test_arm64_host_gets_the_arm64_zip(tmp_path, mirror):
    from conftest import Fleet

    fleet = Fleet(tmp_path, mirror, {"arm1": "ws2025"}, arch={"arm1": "arm64"})
    r = assert_ok(fleet.install(version="1.22.5"), "arm1")
    assert r["arch"] == "arm64" and r["sha256"] == mirror.sha("1.22.5", "arm64")
    assert r["go_version"] == "go version go1.22.5 windows/arm64"
    # asking for another arch than the installed one reinstalls
    r = assert_ok(fleet.install(version="1.22.5", arch="amd64"), "arm1")
    assert r["changed"] and r["sha256"] == mirror.sha("1.22.5", "amd64")
