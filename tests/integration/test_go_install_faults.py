"""Faults while installing: the previous state stays intact and the next run completes the job."""

from __future__ import annotations

import hashlib
import os

import pytest

TOOLCHAINS = "HKLM\\SOFTWARE\\GoWin\\Toolchains"
ROOT = "C:\\opt\\go"


def view(h) -> dict:
    """What a user would call the toolchain state: records, folders, the junction."""
    reg, listing, current = (r["data"] for r in h.execute([
        {"op": "registry.get", "args": {"path": TOOLCHAINS, "depth": 1}},
        {"op": "dir.list", "args": {"path": ROOT}},
        {"op": "file.stat", "args": {"path": ROOT + "\\current"}},
    ]))
    return {
        "active": (reg["values"].get("Active") or {}).get("data"),
        "records": {k: {n: v["data"] for n, v in node["values"].items()} for k, node in reg["keys"].items()},
        "entries": sorted(e["name"] for e in listing["entries"]),
        "current": current.get("target"),
    }


@pytest.fixture
def seeded(host1, mirror):
    assert host1.install(version="1.21.13").rc == 0
    return host1


def assert_recovers(fleet, before):
    """The next run installs and activates 1.22.5, and leaves nothing behind."""
    run = fleet.install(version="1.22.5")
    res = run.one("win1", "install")
    assert not res.failed, res.result.get("msg")
    assert res.result["changed"] and res.result["active"] == "1.22.5"
    after = view(fleet.host("win1"))
    assert after["entries"] == ["1.21.13", "1.22.5", "current"]
    assert after["records"]["1.22.5"]["Status"] == "installed"
    assert after["records"]["1.21.13"] == before["records"]["1.21.13"]
    assert fleet.install(version="1.22.5").one("win1", "install").result["changed"] is False


def test_truncated_download(seeded, mirror):
    h = seeded.host("win1")
    before = view(h)
    h.add_fault({"fault": "truncate_download", "bytes": 100})
    res = seeded.install(version="1.22.5").one("win1", "install")
    assert res.failed and res.result["error_kind"] == "checksum_mismatch"
    assert res.result["msg"].startswith("base_url: file.download failed (checksum_mismatch)")
    assert "the host is as it was" in res.result["msg"]
    assert view(h) == before
    assert_recovers(seeded, before)


def test_checksum_mismatch_from_a_url(seeded, mirror):
    h = seeded.host("win1")
    before = view(h)
    res = seeded.install(version="1.22.5", source="url", url=mirror.file_url("1.22.5"),
                         checksum="sha256:" + mirror.sha("1.22.4")).one("win1", "install")
    assert res.failed and res.result["error_kind"] == "checksum_mismatch"
    assert mirror.sha("1.22.5") in res.result["msg"] and mirror.sha("1.22.4") in res.result["msg"]
    assert view(h) == before
    assert_recovers(seeded, before)


def test_corrupt_zip_on_a_file_share(seeded, mirror):
    h = seeded.host("win1")
    before = view(h)
    share = os.path.join(str(seeded.state_dir), "_shares", "fs01", "soft")
    os.makedirs(share, exist_ok=True)
    data = b"PK\x03\x04 this is not really a zip archive" * 10
    with open(os.path.join(share, "go1.22.5.windows-amd64.zip"), "wb") as handle:
        handle.write(data)
    res = seeded.install(version="1.22.5", source="url", url="\\\\fs01\\soft\\go1.22.5.windows-amd64.zip",
                         checksum="sha256:" + hashlib.sha256(data).hexdigest()).one("win1", "install")
    assert res.failed and res.result["error_kind"] == "corrupt_archive"
    assert view(h) == before
    assert_recovers(seeded, before)


def test_a_zip_of_the_wrong_version_is_refused(seeded, mirror):
    """go\\VERSION must name the version asked for, even when the checksum matches what was given."""
    h = seeded.host("win1")
    before = view(h)
    res = seeded.install(version="1.22.5", source="url", url=mirror.file_url("1.22.4"),
                         checksum="sha256:" + mirror.sha("1.22.4")).one("win1", "install")
    assert res.failed and res.result["error_kind"] == "verify_failed"
    assert "go1.22.5" in res.result["msg"]
    assert view(h) == before


def test_disk_full_while_extracting(seeded, mirror):
    h = seeded.host("win1")
    before = view(h)
    size = mirror.files["go1.22.5.windows-amd64.zip"]["size"]
    h.add_fault({"fault": "disk_full", "free_bytes": size + 64})  # room for the zip, not for its contents
    res = seeded.install(version="1.22.5").one("win1", "install")
    assert res.failed and res.result["error_kind"] == "disk_full"
    assert view(h) == before
    h.add_fault({"fault": "disk_full", "free_bytes": 40 * 2 ** 30})  # space freed up again
    assert_recovers(seeded, before)


def test_go_fails_to_run_after_the_rename(seeded, mirror):
    h = seeded.host("win1")
    before = view(h)
    h.add_fault({"fault": "fail_op", "op": "go.run", "kind": "exec_failed", "message": "go.exe crashed"})
    res = seeded.install(version="1.22.5").one("win1", "install")
    assert res.failed and res.result["error_kind"] == "exec_failed"
    assert view(h) == before  # the renamed folder and its pending record were rolled back
    assert_recovers(seeded, before)


# Cut points in the apply batch of an install on a host that already has Go 1.21.13 (21 ops: the
# host lock's acquire first and release last): 2 after the pending record, 3 after the download,
# 6 after the staged tree is verified, 7 after the rename, 9 after go ran, 17 after the record says
# installed, 18 after staging is removed, 19 after the junction moved but before Active is written.
@pytest.mark.parametrize("after_ops", [2, 3, 6, 7, 9, 17, 18, 19])
def test_connection_lost_between_apply_ops(seeded, mirror, after_ops):
    h = seeded.host("win1")
    before = view(h)
    # skip_round_trips: the probe passes, the connection drops inside the apply batch
    h.add_fault({"fault": "drop_connection", "after_ops": after_ops, "skip_round_trips": 1})
    run = seeded.install(version="1.22.5")
    assert run.one("win1", "install").status == "unreachable"
    mid = view(h)
    # what the cut left: exactly the first after_ops ops of the apply batch ran
    staged = [e for e in mid["entries"] if e.startswith(".staging-")]
    status = mid["records"].get("1.22.5", {}).get("Status")
    assert bool(staged) == (3 <= after_ops < 18)
    assert status == {2: "pending", 3: "pending", 6: "pending", 7: "pending", 9: "pending", 17: "installed",
                      18: "installed", 19: "installed"}[after_ops]
    assert ("1.22.5" in mid["entries"]) == (after_ops >= 7)
    # the version that was active stays whole and (until the very last ops) active
    assert mid["records"]["1.21.13"] == before["records"]["1.21.13"]
    assert "1.21.13" in mid["entries"]
    assert mid["active"] == "1.21.13"
    assert (mid["current"] == before["current"]) == (after_ops < 19)
    # the run gave the host lock back on its way out (the connection came back for that)
    assert h.registry_value("HKLM\\SOFTWARE\\GoWin\\Lock", "Owner") is None
    assert_recovers(seeded, before)


def _still_works(fleet, version: str) -> None:
    """The toolchain that was there still runs: go_verify passes and go_facts says it is active."""
    run = fleet.play([
        {"name": "env", "gowin.server.go_env": {}},
        {"name": "verify", "gowin.server.go_verify": {"version": version}},
        {"name": "facts", "gowin.server.go_facts": {}},
    ])
    assert run.one("win1", "verify").result.get("passed") is True, run.stdout[-3000:]
    assert run.one("win1", "facts").result["ansible_facts"]["gowin"]["active"] == version


def test_a_failed_reinstall_with_a_checksum_typo_keeps_the_working_toolchain(seeded, mirror):
    # The record says 1.21.13 came from another file, so this is a re-install; its download fails the
    # checksum. The installed folder must still be there (it used to be deleted before the download).
    h = seeded.host("win1")
    before = view(h)
    res = seeded.install(version="1.21.13", source="url", url=mirror.file_url("1.21.13"),
                         checksum="sha256:" + mirror.sha("1.22.5")).one("win1", "install")
    assert res.failed and res.result["error_kind"] == "checksum_mismatch"
    assert "the host is as it was" in res.result["msg"]
    assert view(h) == before
    assert h.read_file(ROOT + "\\1.21.13\\bin\\go.exe")[:2] == b"MZ"
    _still_works(seeded, "1.21.13")


def test_a_failed_reinstall_for_another_arch_puts_the_old_folder_back(seeded, mirror):
    # arm64 over the amd64 install on an amd64 host: the new tree verifies, the old folder is moved
    # aside, the new go.exe cannot run, and the rollback puts the old folder and record back.
    h = seeded.host("win1")
    before = view(h)
    res = seeded.install(version="1.21.13", arch="arm64").one("win1", "install")
    assert res.failed and res.result["error_kind"] == "exec_failed", res.result.get("msg")
    assert "the host is as it was" in res.result["msg"]
    assert view(h) == before
    assert h.execute([{"op": "file.stat", "args": {"path": ROOT + "\\1.21.13\\bin\\go.exe", "pe": True}}])[0]["data"]["pe_machine"] == "amd64"
    _still_works(seeded, "1.21.13")


def test_a_reinstall_that_succeeds_replaces_the_folder_and_leaves_nothing_aside(seeded, mirror):
    h = seeded.host("win1")
    # damage the install: go\VERSION names another version, so the next run re-installs it
    h.execute([{"op": "file.write", "args": {"path": ROOT + "\\1.21.13\\VERSION", "content": "go1.20.1\n"}}])
    run = seeded.install(version="1.21.13")
    res = run.one("win1", "install")
    assert not res.failed and res.result["changed"], res.result.get("msg")
    assert h.read_file(ROOT + "\\1.21.13\\VERSION").startswith(b"go1.21.13")
    assert not [e for e in view(h)["entries"] if e.startswith(".staging")]
    _still_works(seeded, "1.21.13")
