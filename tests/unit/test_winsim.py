# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The winsim model's internals that the contract vectors cannot reach: persistence, snapshots,
counters, faults, free space, profiles, the test API. The ops themselves are held to the protocol
by tests/contract."""

from __future__ import annotations

import json
import os
import socket
import typing as t
from pathlib import Path

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _winsim
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost


@pytest.fixture
def host(tmp_path: Path) -> WinSimHost:
    return WinSimHost(str(tmp_path), "win1")


def ok(host: WinSimHost, op: str, **args: t.Any) -> dict:
    (result,) = host.execute([{"op": op, "args": args}])
    assert result["ok"], result
    return result["data"]


def error(host: WinSimHost, op: str, **args: t.Any) -> dict:
    (result,) = host.execute([{"op": op, "args": args}])
    assert not result["ok"], result
    return result["error"]


def put(host: WinSimHost, tmp_path: Path, path: str, data: bytes) -> int:
    local = tmp_path / "upload.bin"
    local.write_bytes(data)
    return host.put(str(local), path)


def free(host: WinSimHost) -> int:
    return ok(host, "host.facts")["free_bytes"]


# --- layout and persistence -------------------------------------------------------------------


def test_a_new_host_lays_out_its_folder(tmp_path: Path, host: WinSimHost) -> None:
    root = tmp_path / "win1"
    assert {"state.json", "fs"} <= set(os.listdir(root))
    for folder in ("Windows/System32", "Program Files", "ProgramData", "Users/ansible/AppData/Roaming"):
        assert (root / "fs" / "C" / folder).is_dir(), folder
    state = json.loads((root / "state.json").read_text())
    assert state["profile"] == "ws2022" and state["arch"] == "amd64"
    assert state["drives"] == {"C": {"free_bytes": 40 * 1024 ** 3}}


def test_files_live_under_fs_with_the_case_first_used(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\Opt\\Go\\x.txt", b"1")
    put(host, tmp_path, "c:/OPT/go/X.TXT", b"22")
    assert (tmp_path / "win1" / "fs" / "C" / "Opt" / "Go" / "x.txt").read_bytes() == b"22"
    assert sorted(os.listdir(tmp_path / "win1" / "fs" / "C" / "Opt")) == ["Go"]


def test_state_survives_a_new_instance(tmp_path: Path, host: WinSimHost) -> None:
    ok(host, "registry.set", path="HKLM\\SOFTWARE\\GoWin", name="Kept", type="REG_SZ", data="yes")
    again = WinSimHost(str(tmp_path), "win1")
    assert again.registry_value("hklm\\software\\gowin", "kept") == {"type": "REG_SZ", "data": "yes"}


def test_a_host_keeps_its_profile(tmp_path: Path) -> None:
    WinSimHost(str(tmp_path), "h", "ws2016-core", "arm64")
    with pytest.raises(ValueError, match="created as ws2016-core/arm64"):
        WinSimHost(str(tmp_path), "h", "ws2016", "arm64")


@pytest.mark.parametrize("name", ["", "../up", "a/b", "a\\b", "_shares", ".hidden"])
def test_host_names_must_be_plain_folder_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="folder name"):
        WinSimHost(str(tmp_path), name)


@pytest.mark.parametrize("profile,arch", [("ws2021", "amd64"), ("ws2022-nano", "amd64"), ("ws2022", "x86")])
def test_unknown_profiles_and_arches_are_refused(tmp_path: Path, profile: str, arch: str) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        WinSimHost(str(tmp_path), "h", profile, arch)
    assert not (tmp_path / "h").exists()


def test_the_computer_name_comes_from_the_host_name(tmp_path: Path) -> None:
    assert WinSimHost(str(tmp_path), "build-agent-0042.ci.example.com").computer_name == "BUILD-AGENT-004"
    assert WinSimHost(str(tmp_path), "web_1").computer_name == "WEB-1"


# --- profiles ---------------------------------------------------------------------------------

PROFILE_FACTS = {
    "ws2016": (14393, 394802, "Microsoft Windows Server 2016 Datacenter"),
    "ws2019": (17763, 528049, "Microsoft Windows Server 2019 Datacenter"),
    "ws2022": (20348, 528449, "Microsoft Windows Server 2022 Datacenter"),
    "ws2025": (26100, 533320, "Microsoft Windows Server 2025 Datacenter"),
}


@pytest.mark.parametrize("profile", _winsim.PROFILE_NAMES)
def test_every_profile_reports_its_release(tmp_path: Path, profile: str) -> None:
    facts = ok(WinSimHost(str(tmp_path), "h", profile), "host.facts")
    build, release, caption = PROFILE_FACTS[profile.replace("-core", "")]
    assert (facts["os_build"], facts["dotnet_release"], facts["os_caption"]) == (build, release, caption)
    assert facts["os_version"] == "10.0.%d" % build
    assert facts["ps_version"].startswith("5.1.%d." % build)
    assert facts["installation_type"] == ("Server Core" if profile.endswith("-core") else "Server")


def test_the_arch_is_the_registry_processor_architecture(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "h", arch="arm64")
    assert host.registry_value(_winsim.ENV_KEY, "PROCESSOR_ARCHITECTURE") == {"type": "REG_SZ", "data": "ARM64"}
    assert ok(host, "host.facts")["arch"] == "arm64"


# --- snapshots --------------------------------------------------------------------------------


def test_fresh_hosts_of_one_profile_have_the_same_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A new host's boot_time is a day before the wall clock, to the second: hold it still, or two hosts made across a
    # second's turn differ by it alone (this test failed a CI run so).
    monkeypatch.setattr(_winsim.host, "boot_stamp", lambda _seconds: "2026-01-01T00:00:00Z")
    assert WinSimHost(str(tmp_path / "a"), "h").snapshot() == WinSimHost(str(tmp_path / "b"), "h").snapshot()
    assert WinSimHost(str(tmp_path / "c"), "h", "ws2019").snapshot() != WinSimHost(str(tmp_path / "d"), "h").snapshot()


def test_reads_counters_and_faults_leave_the_snapshot_alone(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\data\\f.txt", b"content")
    before = host.snapshot()
    for op, args in [
        ("host.facts", {}), ("registry.get", {"path": "HKLM\\SOFTWARE", "depth": 3}), ("dir.list", {"path": "C:\\data"}),
        ("file.stat", {"path": "C:\\data\\f.txt", "checksum": True, "read": True, "pe": True}),
        ("acl.get", {"path": "C:\\data"}), ("identity.resolve", {"names": ["Users"]}),
    ]:
        ok(host, op, **args)
    host.count_round_trip(10, 20)
    host.add_fault({"fault": "fail_op", "op": "zip.extract", "kind": "internal"})
    assert host.snapshot() == before


@pytest.mark.parametrize("change,changes", [
    (lambda h, tmp: ok(h, "dir.ensure", path="C:\\new"), True),
    (lambda h, tmp: ok(h, "registry.set", path="HKLM\\SOFTWARE\\X", name="v", type="REG_DWORD", data=1), True),
    (lambda h, tmp: put(h, tmp, "C:\\data\\f.txt", b"contenT"), True),
    (lambda h, tmp: put(h, tmp, "C:\\data\\F.txt", b"content"), False),
    (lambda h, tmp: ok(h, "acl.set", path="C:\\data", aces=[{"identity": "Users", "mask": 1179785, "type": "allow", "inherit": True}]), True),
    (lambda h, tmp: ok(h, "junction.set", path="C:\\link", target="C:\\data"), True),
], ids=["dir", "registry", "file content", "same bytes again", "acl", "junction"])
def test_the_snapshot_follows_the_state(tmp_path: Path, host: WinSimHost, change: t.Callable, changes: bool) -> None:
    put(host, tmp_path, "C:\\data\\f.txt", b"content")
    before = host.snapshot()
    change(host, tmp_path)
    assert (host.snapshot() != before) is changes


def test_an_empty_folder_is_part_of_the_snapshot(tmp_path: Path, host: WinSimHost) -> None:
    before = host.snapshot()
    ok(host, "dir.ensure", path="C:\\empty")
    assert host.snapshot() != before
    ok(host, "path.remove", path="C:\\empty")
    assert host.snapshot() == before


# --- counters ---------------------------------------------------------------------------------


def test_counters_count_ops_round_trips_and_puts(tmp_path: Path, host: WinSimHost) -> None:
    assert host.counters() == {"round_trips": 0, "bytes_sent": 0, "bytes_received": 0, "ops": {}, "puts": 0, "families_sent": []}
    host.execute([{"op": "host.facts"}, {"op": "dir.ensure", "args": {"path": "C:\\x"}}, {"op": "nope.op"}, {"op": "host.facts"}])
    host.count_round_trip(100, 40)
    host.count_round_trip(7, 0, put=True)
    counters = host.counters()
    assert counters["ops"] == {"host.facts": 1, "dir.ensure": 1, "(unknown)": 1}
    assert (counters["round_trips"], counters["bytes_sent"], counters["bytes_received"], counters["puts"]) == (2, 107, 40, 1)
    assert json.loads((tmp_path / "win1" / "counters.json").read_text()) == counters
    host.reset_counters()
    assert host.counters()["round_trips"] == 0 and host.counters()["ops"] == {}


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault,match", [
    ({"fault": "explode"}, "one of"),
    ({"fault": "fail_op", "op": "zip.extract"}, "missing kind"),
    ({"fault": "fail_op", "op": "zip.extract", "kind": "weird"}, "kind must be one of"),
    ({"fault": "truncate_download", "bytes": "100"}, "bad field"),
    ({"fault": "drop_connection", "after_ops": True}, "bad field"),
    ({"fault": "disk_full", "free_bytes": 1, "when": "now"}, "bad field"),
])
def test_malformed_faults_are_refused(host: WinSimHost, fault: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        host.add_fault(fault)
    assert host.faults() == []


def test_faults_are_one_shot_and_persist_until_used(tmp_path: Path, host: WinSimHost) -> None:
    host.add_fault({"fault": "fail_op", "op": "dir.ensure", "kind": "access_denied", "message": "no"})
    host.add_fault({"fault": "drop_connection", "after_ops": 3})
    assert json.loads((tmp_path / "win1" / "faults.json").read_text())[0]["op"] == "dir.ensure"
    again = WinSimHost(str(tmp_path), "win1")
    assert ok(again, "host.facts")["system_drive"] == "C:"  # another op is not affected
    assert error(again, "dir.ensure", path="C:\\x") == {"kind": "access_denied", "message": "no"}
    assert ok(again, "dir.ensure", path="C:\\x") == {"changed": True}
    assert again.take_fault("drop_connection") == {"fault": "drop_connection", "after_ops": 3}
    assert again.take_fault("drop_connection") is None


def test_clear_faults_drops_pending_faults(host: WinSimHost) -> None:
    host.add_fault({"fault": "truncate_download", "bytes": 1})
    host.clear_faults()
    assert host.faults() == []


def test_disk_full_sets_the_free_space_until_cleared(tmp_path: Path, host: WinSimHost) -> None:
    start = free(host)
    host.add_fault({"fault": "disk_full", "free_bytes": 1234})
    assert free(host) == 1234 and free(host) == 1234
    assert [f["fault"] for f in host.faults()] == ["disk_full"]
    put(host, tmp_path, "C:\\a.bin", b"x" * 1000)
    assert free(host) == 234
    host.add_fault({"fault": "disk_full", "drive": "c:", "free_bytes": 500})  # a second one replaces the first
    assert free(host) == 500 and len(host.faults()) == 1
    host.clear_faults()
    # As if the drive had never been full: what was written since still counts.
    assert host.faults() == [] and free(host) == start - 1000


def test_disk_full_on_a_drive_that_does_not_exist_is_refused(host: WinSimHost) -> None:
    with pytest.raises(ValueError, match="drive D: does not exist"):
        host.add_fault({"fault": "disk_full", "drive": "D", "free_bytes": 1})


# --- free space -------------------------------------------------------------------------------


def test_writes_and_removals_move_the_free_space(tmp_path: Path, host: WinSimHost) -> None:
    start = free(host)
    put(host, tmp_path, "C:\\d\\a.bin", b"x" * 1000)
    assert free(host) == start - 1000
    put(host, tmp_path, "C:\\d\\a.bin", b"x" * 400)
    assert free(host) == start - 400
    put(host, tmp_path, "C:\\d\\sub\\b.bin", b"y" * 50)
    ok(host, "path.move", src="C:\\d", dest="C:\\e")
    assert free(host) == start - 450
    ok(host, "path.remove", path="C:\\e")
    assert free(host) == start


def test_a_write_that_does_not_fit_fails_and_frees_what_it_took(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\d\\old.bin", b"o" * 100)
    host.add_fault({"fault": "disk_full", "free_bytes": 150})
    with pytest.raises(_winsim.OpFailure) as caught:
        put(host, tmp_path, "C:\\d\\old.bin", b"n" * 300)
    assert caught.value.kind == "disk_full"
    # The old file was replaced by a write that failed: it is gone and its space is free again.
    assert host.read_file("C:\\d\\old.bin") is None and free(host) == 250


def test_zip_extract_takes_the_uncompressed_size(tmp_path: Path, host: WinSimHost, win_files: t.Any) -> None:
    put(host, tmp_path, "C:\\z.zip", win_files.zip_bytes({"a.bin": b"\0" * 5000, "d/b.bin": b"\1" * 3000}))
    start = free(host)
    assert ok(host, "zip.extract", src="C:\\z.zip", dest="C:\\out") == {"files": 2, "bytes": 8000, "crc_checked": True}
    assert free(host) == start - 8000


# --- downloads and secrets --------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_password_reaches_results_state_or_counters(tmp_path: Path, host: WinSimHost) -> None:
    secret = "Pa55-in-url-and-arg"
    url = "http://gowin:%s@127.0.0.1:%d/x.zip" % (secret, _closed_port())
    err = error(host, "file.download", url=url, dest="C:\\x.zip", username="gowin", password=secret)
    assert err["kind"] == "download_failed" and "127.0.0.1" in err["message"]
    bad = error(host, "file.download", url="C:\\x", dest="C:\\y", username="u", password=123)
    assert bad["kind"] == "bad_args" and "'password'" in bad["message"] and "123" not in bad["message"]
    for name in ("state.json", "counters.json", "faults.json"):
        path = tmp_path / "win1" / name
        assert not path.exists() or secret not in path.read_text()
    assert secret not in json.dumps(err)


def test_an_error_message_never_repeats_the_password(host: WinSimHost, monkeypatch: pytest.MonkeyPatch) -> None:
    def leaky(self: WinSimHost, a: _winsim.Args) -> dict:
        raise _winsim.OpFailure("download_failed", "server said: bad password %s" % a.raw["password"])

    monkeypatch.setitem(_winsim.OPS, "file.download", (leaky, _winsim.OPS["file.download"][1]))
    err = error(host, "file.download", url="http://x/", dest="C:\\x", username="u", password="hunter2-secret")
    assert err == {"kind": "download_failed", "message": "server said: bad password ********"}


def test_a_bug_in_the_model_answers_internal(host: WinSimHost, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: WinSimHost, a: _winsim.Args) -> dict:
        raise KeyError("boom")

    monkeypatch.setitem(_winsim.OPS, "host.facts", (broken, ("path",)))
    assert error(host, "host.facts") == {"kind": "internal", "message": "winsim: KeyError: 'boom'"}


# --- reading files ----------------------------------------------------------------------------


def test_read_returns_the_first_64_kib(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\big.txt", b"a" * 70000)
    content = ok(host, "file.stat", path="C:\\big.txt", read=True)["content"]
    assert content == "a" * 65536


def test_read_replaces_invalid_utf8(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\bin.txt", b"ok\xff\xfe!")
    assert ok(host, "file.stat", path="C:\\bin.txt", read=True)["content"] == "ok\ufffd\ufffd!"


def test_pe_header_far_into_the_file_is_found(tmp_path: Path, host: WinSimHost, win_files: t.Any) -> None:
    image = bytearray(win_files.pe_image("arm64"))
    far = bytearray(0x3000)
    far[:0x40] = image[:0x40]
    far[0x3C:0x40] = (0x2800).to_bytes(4, "little")
    far[0x2800:0x2806] = image[0x80:0x86]
    put(host, tmp_path, "C:\\far.exe", bytes(far))
    assert ok(host, "file.stat", path="C:\\far.exe", pe=True)["pe_machine"] == "arm64"


def test_pe_offset_past_the_end_is_not_a_pe_image(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\short.exe", b"MZ" + b"\0" * 0x3A + (0x10000).to_bytes(4, "little"))
    assert ok(host, "file.stat", path="C:\\short.exe", pe=True)["pe_machine"] is None


# --- the test API -----------------------------------------------------------------------------


def test_read_file_and_registry_value(tmp_path: Path, host: WinSimHost) -> None:
    assert host.read_file("C:\\nothing") is None
    assert host.read_file("C:\\Windows") is None
    put(host, tmp_path, "C:\\x.txt", b"data")
    assert host.read_file("C:/X.TXT") == b"data"
    assert host.registry_value(_winsim.FILESYSTEM_KEY, "longpathsenabled") == {"type": "REG_DWORD", "data": 0}
    assert host.registry_value("HKLM\\SOFTWARE\\Nope", "x") is None


def test_lock_and_unlock(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\svc\\app.exe", b"v1")
    host.lock("c:\\SVC\\app.exe")
    assert error(host, "path.remove", path="C:\\svc")["kind"] == "in_use"
    host.unlock("C:\\svc\\APP.exe")
    assert ok(host, "path.remove", path="C:\\svc") == {"changed": True}
    with pytest.raises(ValueError, match="does not exist"):
        host.lock("C:\\svc\\app.exe")


def test_a_lock_through_a_junction_holds_the_real_file(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\go\\1.22.5\\bin\\go.exe", b"v1")
    ok(host, "junction.set", path="C:\\go\\current", target="C:\\go\\1.22.5")
    host.lock("C:\\go\\current\\bin\\go.exe")
    assert error(host, "path.move", src="C:\\go\\1.22.5", dest="C:\\go\\old")["kind"] == "in_use"
    assert ok(host, "path.remove", path="C:\\go\\current") == {"changed": True}  # the link is not in use


def test_add_account(host: WinSimHost) -> None:
    host.add_account("svc-go", "s-1-5-21-1-2-3-1001")
    host.add_account("CORP\\GoDevs", "S-1-5-21-9-9-9-1104")
    sids = ok(host, "identity.resolve", names=["WIN1\\svc-go", "corp\\godevs"])["sids"]
    assert sids == {"WIN1\\svc-go": "S-1-5-21-1-2-3-1001", "corp\\godevs": "S-1-5-21-9-9-9-1104"}
    with pytest.raises(ValueError, match="sid"):
        host.add_account("x", "not-a-sid")


def test_reboot_clears_flags_and_markers(host: WinSimHost) -> None:
    assert ok(host, "host.facts")["pending_reboot"] is False
    host.request_reboot("LongPathsEnabled")
    ok(host, "registry.set", path=_winsim.REBOOT_MARKER_VALUE[0], name=_winsim.REBOOT_MARKER_VALUE[1], type="REG_MULTI_SZ", data=["a"])
    ok(host, "registry.set", path=_winsim.REBOOT_MARKER_KEYS[1], name="x", type="REG_SZ", data="")
    assert ok(host, "host.facts")["pending_reboot"] is True
    host.reboot()
    assert ok(host, "host.facts")["pending_reboot"] is False
    assert host.registry_value(_winsim.SESSION_MANAGER_KEY, "PendingFileRenameOperations") is None
    assert ok(host, "registry.get", path=_winsim.REBOOT_MARKER_KEYS[1])["exists"] is False


def test_junction_loops_fail_instead_of_hanging(host: WinSimHost) -> None:
    ok(host, "junction.set", path="C:\\a", target="C:\\b")
    ok(host, "junction.set", path="C:\\b", target="C:\\a")
    assert error(host, "file.stat", path="C:\\a\\x")["kind"] == "not_found"


def test_removing_a_folder_forgets_its_acls_and_junctions(host: WinSimHost) -> None:
    ok(host, "dir.ensure", path="C:\\t\\sub")
    ok(host, "acl.set", path="C:\\t\\sub", protected=True, aces=[{"identity": "SYSTEM", "mask": 2032127, "type": "allow", "inherit": True}])
    ok(host, "junction.set", path="C:\\t\\link", target="C:\\Windows")
    ok(host, "path.remove", path="C:\\T")
    ok(host, "dir.ensure", path="C:\\t\\sub")
    assert ok(host, "acl.get", path="C:\\t\\sub")["protected"] is False
    assert ok(host, "file.stat", path="C:\\t\\link")["exists"] is False
    assert ok(host, "file.stat", path="C:\\Windows\\System32")["exists"] is True


def test_moving_a_folder_carries_its_acls(host: WinSimHost) -> None:
    ok(host, "dir.ensure", path="C:\\stage\\go")
    ok(host, "acl.set", path="C:\\stage\\go", protected=True, aces=[{"identity": "SYSTEM", "mask": 2032127, "type": "allow", "inherit": True}])
    ok(host, "path.move", src="C:\\stage\\go", dest="C:\\Go")
    acl = ok(host, "acl.get", path="C:\\go")
    assert acl["protected"] is True and [a["sid"] for a in acl["aces"]] == ["S-1-5-18"]
    assert ok(host, "acl.get", path="C:\\stage")["protected"] is False


def test_one_batch_sees_its_own_moves_and_removals(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\a\\x.txt", b"x")
    ok(host, "dir.ensure", path="C:\\b")
    results = host.execute([
        {"op": "dir.list", "args": {"path": "C:\\b"}},  # the folder listings are now cached
        {"op": "file.stat", "args": {"path": "C:\\a\\x.txt"}},
        {"op": "path.move", "args": {"src": "C:\\a", "dest": "C:\\b\\a"}},
        {"op": "file.stat", "args": {"path": "C:\\b\\A\\X.TXT"}},
        {"op": "file.stat", "args": {"path": "C:\\a\\x.txt"}},
        {"op": "path.remove", "args": {"path": "C:\\b\\a"}},
        {"op": "dir.list", "args": {"path": "C:\\b"}},
        {"op": "dir.ensure", "args": {"path": "C:\\b\\a\\again"}},
        {"op": "file.stat", "args": {"path": "C:\\b\\a\\again"}},
    ])
    assert [r["ok"] for r in results] == [True] * 9
    assert [results[i]["data"]["exists"] for i in (1, 3, 4, 6, 8)] == [True, True, False, True, True]
    assert results[6]["data"]["entries"] == []


def test_drop_connection_can_spare_round_trips(host: WinSimHost) -> None:
    host.add_fault({"fault": "drop_connection", "after_ops": 2, "skip_round_trips": 2})
    assert host.take_fault("drop_connection") is None
    assert host.take_fault("drop_connection") is None
    assert host.take_fault("drop_connection") == {"fault": "drop_connection", "after_ops": 2, "skip_round_trips": 0}
    assert host.take_fault("drop_connection") is None and host.faults() == []


# --- env.notify -------------------------------------------------------------------------------


def test_notifications_count_env_notify_and_persist(tmp_path: Path, host: WinSimHost) -> None:
    assert host.notifications() == 0
    assert ok(host, "env.notify") == {"sent": True}
    host.execute([{"op": "env.notify"}, {"op": "env.notify", "args": {}}])
    assert host.notifications() == 3
    assert json.loads((tmp_path / "win1" / "state.json").read_text())["notifications"] == 3
    assert WinSimHost(str(tmp_path), "win1").notifications() == 3


def test_notifications_of_a_host_made_before_they_were_counted(tmp_path: Path, host: WinSimHost) -> None:
    state_file = tmp_path / "win1" / "state.json"
    state = json.loads(state_file.read_text())
    del state["notifications"]
    state_file.write_text(json.dumps(state))
    again = WinSimHost(str(tmp_path), "win1")
    assert again.notifications() == 0
    ok(again, "env.notify")
    assert again.notifications() == 1


def test_a_failed_batch_before_env_notify_sends_nothing(host: WinSimHost) -> None:
    results = host.execute([{"op": "dir.list", "args": {"path": "relative"}}, {"op": "env.notify"}])
    assert [r["ok"] for r in results] == [False]
    assert host.notifications() == 0


# --- the environment of a new process ---------------------------------------------------------

USER_ENV = "HKU\\" + _winsim.ACCOUNT_SID + "\\Environment"


def set_env(host: WinSimHost, key: str, name: str, data: str, reg_type: str = "REG_SZ") -> None:
    ok(host, "registry.set", path=key, name=name, type=reg_type, data=data)


def test_a_new_process_gets_the_accounts_folders_and_the_machine_values(host: WinSimHost) -> None:
    environ = host.process_environment()
    assert {k: environ[k] for k in ("USERPROFILE", "APPDATA", "LOCALAPPDATA", "TEMP", "TMP")} == {
        "USERPROFILE": "C:\\Users\\ansible",
        "APPDATA": "C:\\Users\\ansible\\AppData\\Roaming",
        "LOCALAPPDATA": "C:\\Users\\ansible\\AppData\\Local",
        "TEMP": "C:\\Users\\ansible\\AppData\\Local\\Temp",
        "TMP": "C:\\Users\\ansible\\AppData\\Local\\Temp",
    }
    assert (environ["SystemRoot"], environ["COMPUTERNAME"], environ["USERNAME"]) == ("C:\\Windows", "WIN1", "ansible")
    assert (environ["HOMEDRIVE"], environ["HOMEPATH"], environ["ProgramData"]) == ("C:", "\\Users\\ansible", "C:\\ProgramData")
    assert environ["ComSpec"] == "C:\\Windows\\system32\\cmd.exe"
    assert environ["PSModulePath"].startswith("C:\\Program Files\\WindowsPowerShell\\Modules;C:\\Windows\\system32\\")
    assert environ["Path"].split(";")[:2] == ["C:\\Windows\\system32", "C:\\Windows"]
    assert environ["PROCESSOR_ARCHITECTURE"] == "AMD64" and "%" not in "".join(environ.values())


def test_the_accounts_path_is_appended_to_the_machine_path(host: WinSimHost) -> None:
    machine_path = host.process_environment()["Path"]
    set_env(host, USER_ENV, "PATH", "%USERPROFILE%\\go\\bin;C:\\tools", "REG_EXPAND_SZ")
    environ = host.process_environment()
    assert environ["Path"] == machine_path + ";C:\\Users\\ansible\\go\\bin;C:\\tools"
    assert [k for k in environ if k.lower() == "path"] == ["Path"]


def test_the_accounts_values_override_the_machines_whatever_the_case(host: WinSimHost) -> None:
    set_env(host, _winsim.ENV_KEY, "GoFlags", "-mod=vendor")
    set_env(host, _winsim.ENV_KEY, "GOPATH", "C:\\machine")
    set_env(host, USER_ENV, "GOFLAGS", "-mod=mod")
    environ = host.process_environment()
    assert [k for k in environ if k.lower() == "goflags"] == ["GoFlags"]
    assert (environ["GoFlags"], environ["GOPATH"]) == ("-mod=mod", "C:\\machine")


def test_only_expand_sz_values_are_expanded(host: WinSimHost) -> None:
    set_env(host, USER_ENV, "LITERAL", "%USERPROFILE%\\x")
    set_env(host, USER_ENV, "EXPANDED", "%USERPROFILE%\\x;%NO_SUCH_VAR%", "REG_EXPAND_SZ")
    set_env(host, USER_ENV, "LATER", "%SET_BELOW%\\y", "REG_EXPAND_SZ")
    set_env(host, USER_ENV, "SET_BELOW", "C:\\below")
    ok(host, "registry.set", path=USER_ENV, name="COUNT", type="REG_DWORD", data=3)
    environ = host.process_environment()
    assert environ["LITERAL"] == "%USERPROFILE%\\x"
    assert environ["EXPANDED"] == "C:\\Users\\ansible\\x;%NO_SUCH_VAR%"
    assert environ["LATER"] == "C:\\below\\y"
    assert "COUNT" not in environ


def test_the_machine_username_is_replaced_by_the_accounts(host: WinSimHost) -> None:
    assert host.registry_value(_winsim.ENV_KEY, "USERNAME") == {"type": "REG_SZ", "data": "SYSTEM"}
    assert host.process_environment()["USERNAME"] == "ansible"


def test_host_facts_temp_follows_the_accounts_temp(host: WinSimHost) -> None:
    set_env(host, USER_ENV, "TEMP", "%SystemDrive%\\Scratch\\", "REG_EXPAND_SZ")
    facts = ok(host, "host.facts")
    assert (facts["temp"], facts["user_profile"], facts["program_data"]) == ("C:\\Scratch", "C:\\Users\\ansible", "C:\\ProgramData")


def go_toolchain(host: WinSimHost, tmp_path: Path, win_files: t.Any, root: str = "C:\\go") -> str:
    put(host, tmp_path, root + "\\bin\\go.exe", win_files.pe_image("amd64"))
    put(host, tmp_path, root + "\\VERSION", b"go1.22.5\ntime 2024-06-27T20:11:12Z\n")
    return root + "\\bin\\go.exe"


def test_go_env_json_is_gos_view_of_that_environment(tmp_path: Path, host: WinSimHost, win_files: t.Any) -> None:
    exe = go_toolchain(host, tmp_path, win_files)
    set_env(host, USER_ENV, "GOPRIVATE", "corp.example/<a>&b")
    data = ok(host, "go.run", exe=exe, args=["env", "-json"])
    assert data["stdout"].startswith('{\n\t"AR": "ar",\n') and data["stdout"].endswith('"\n}\n')
    assert "\\u003ca\\u003e\\u0026b" in data["stdout"] and "<" not in data["stdout"]
    view = json.loads(data["stdout"])
    assert list(view) == sorted(view)
    assert view["GOROOT"] == "C:\\go" and view["GOVERSION"] == "go1.22.5" and view["GOARCH"] == "amd64"
    assert view["GOPATH"] == "C:\\Users\\ansible\\go"
    assert view["GOCACHE"] == "C:\\Users\\ansible\\AppData\\Local\\go-build"
    assert view["GOENV"] == "C:\\Users\\ansible\\AppData\\Roaming\\go\\env"
    assert view["GOPRIVATE"] == "corp.example/<a>&b"
    assert data["modelled"] is True and "go_env_view" in data["modelled_from"]


def test_go_run_env_with_an_empty_value_removes_the_variable(tmp_path: Path, host: WinSimHost, win_files: t.Any) -> None:
    exe = go_toolchain(host, tmp_path, win_files)
    set_env(host, USER_ENV, "GOFLAGS", "-mod=mod")
    set_env(host, _winsim.ENV_KEY, "GOROOT", "C:\\elsewhere")
    assert ok(host, "go.run", exe=exe, args=["env", "GOFLAGS", "GOROOT"])["stdout"] == "-mod=mod\nC:\\elsewhere\n"
    cleared = ok(host, "go.run", exe=exe, args=["env", "GOFLAGS", "GOROOT"], env={"goflags": "", "GOROOT": ""})
    assert cleared["stdout"] == "\nC:\\go\n"


def test_go_run_sees_the_registry_as_it_is_when_the_op_runs(tmp_path: Path, host: WinSimHost, win_files: t.Any) -> None:
    exe = go_toolchain(host, tmp_path, win_files)
    results = host.execute([
        {"op": "go.run", "args": {"exe": exe, "args": ["env", "GOPROXY"]}},
        {"op": "registry.set", "args": {"path": USER_ENV, "name": "GOPROXY", "type": "REG_SZ", "data": "off"}},
        {"op": "go.run", "args": {"exe": exe, "args": ["env", "GOPROXY"]}},
    ])
    assert [r["data"]["stdout"] for r in (results[0], results[2])] == ["https://proxy.golang.org,direct\n", "off\n"]


@pytest.mark.parametrize("machine", ["amd64", "arm64", "386"])
def test_the_stand_in_pe_image_has_the_machine(machine: str) -> None:
    import io

    image = _winsim.stand_in_pe(machine)
    assert _winsim.pe_machine(io.BytesIO(image)) == machine and b"no code" in image


def test_file_write_leaves_no_temp_file(tmp_path: Path, host: WinSimHost) -> None:
    assert ok(host, "file.write", path="C:\\conf\\a.txt", content="one\n")["changed"] is True
    assert ok(host, "file.write", path="C:\\conf\\a.txt", content="two\n")["changed"] is True
    assert os.listdir(tmp_path / "win1" / "fs" / "C" / "conf") == ["a.txt"]
    assert host.read_file("C:\\conf\\a.txt") == b"two\n"


def test_file_write_keeps_the_free_space(tmp_path: Path, host: WinSimHost) -> None:
    before = free(host)
    ok(host, "file.write", path="C:\\conf\\a.txt", content="x" * 100)
    ok(host, "file.write", path="C:\\conf\\a.txt", content="y" * 40)
    assert free(host) == before - 40


def test_file_write_of_a_lone_surrogate_fails_bad_args(tmp_path):
    """(Not a contract vector: YAML cannot hold a lone surrogate.)"""
    host = WinSimHost(str(tmp_path), "surrogate")
    before = host.snapshot()
    res = host.execute([{"op": "file.write", "args": {"path": "C:\\x.txt", "content": "a\ud800b"}}])
    assert res[0]["ok"] is False and res[0]["error"]["kind"] == "bad_args" and "'content'" in res[0]["error"]["message"]
    assert host.snapshot() == before


# --- acl family: ACE flags, non-canonical DACLs, name lookups ----------------------------------
# (issue 6, item 3: winsim must model what Windows stores, so that the vectors can show it)

from ansible_collections.gowin.server.plugins.plugin_utils._winsim import host as _host  # noqa: E402

ADMINS, USERS, SYSTEM = "S-1-5-32-544", "S-1-5-32-545", "S-1-5-18"


def test_a_non_canonical_dacl_reads_as_stored_and_acl_set_replaces_it(host: WinSimHost) -> None:
    ok(host, "dir.ensure", path="C:\\nc")
    host.set_acl("C:\\nc", [
        {"sid": USERS, "mask": 1179817, "type": "allow", "flags": ["OI", "CI"]},
        {"sid": SYSTEM, "mask": 278, "type": "deny", "flags": ["OI", "CI"]},
    ], protected=True)
    acl = ok(host, "acl.get", path="C:\\nc")
    assert acl["canonical"] is False
    assert [(a["sid"], a["type"]) for a in acl["aces"]] == [(USERS, "allow"), (SYSTEM, "deny")]
    # the same ACEs, asked for again: not the same ACL, because it is not canonical
    same = [{"identity": USERS, "mask": 1179817, "type": "allow", "inherit": True}, {"identity": SYSTEM, "mask": 278, "type": "deny", "inherit": True}]
    assert ok(host, "acl.set", path="C:\\nc", protected=True, aces=same) == {"changed": True}
    acl = ok(host, "acl.get", path="C:\\nc")
    assert acl["canonical"] is True
    assert [(a["sid"], a["type"]) for a in acl["aces"]] == [(SYSTEM, "deny"), (USERS, "allow")]
    assert ok(host, "acl.set", path="C:\\nc", protected=True, aces=same) == {"changed": False}


@pytest.mark.parametrize("stored", [["OI", "CI", "IO"], ["OI", "CI", "NP"], ["OI"], ["CI"], []])
def test_acl_set_sees_an_ace_that_differs_only_in_flags(host: WinSimHost, stored: list) -> None:
    ok(host, "dir.ensure", path="C:\\f")
    host.set_acl("C:\\f", [{"sid": USERS, "mask": 1179817, "type": "allow", "flags": stored}], protected=True)
    assert ok(host, "acl.get", path="C:\\f")["aces"][0]["flags"] == stored
    aces = [{"identity": "Users", "mask": 1179817, "type": "allow", "inherit": True}]
    assert ok(host, "acl.set", path="C:\\f", protected=True, aces=aces) == {"changed": True}
    assert ok(host, "acl.set", path="C:\\f", protected=True, aces=aces) == {"changed": False}


def test_an_explicit_ace_reads_as_dotnet_cleans_it(host: WinSimHost, tmp_path: Path) -> None:
    # CommonAcl: on a file, inherit-only ACEs go and flags are dropped; on a folder, IO without OI/CI goes
    put(host, tmp_path, "C:\\c\\f.txt", b"x")
    host.set_acl("C:\\c\\f.txt", [
        {"sid": USERS, "mask": 1179817, "type": "allow", "flags": ["OI", "CI"]},
        {"sid": SYSTEM, "mask": 2032127, "type": "allow", "flags": ["OI", "IO"]},
    ], protected=True)
    assert [(a["sid"], a["flags"]) for a in ok(host, "acl.get", path="C:\\c\\f.txt")["aces"]] == [(USERS, [])]
    host.set_acl("C:\\c", [
        {"sid": USERS, "mask": 1179817, "type": "allow", "flags": ["IO"]},
        {"sid": SYSTEM, "mask": 2032127, "type": "allow", "flags": ["NP"]},
    ], protected=True)
    assert [(a["sid"], a["flags"]) for a in ok(host, "acl.get", path="C:\\c")["aces"]] == [(SYSTEM, [])]


def test_explicit_aces_sort_as_dotnet_framework_sorts_sids() -> None:
    # SecurityIdentifier.CompareTo in .NET 4.x subtracts sub-authorities as signed 32-bit integers
    sids = ["S-1-5-32-545", "S-1-5-21-1004336348-1-2-1104", "S-1-5-21-3623811015-1-2-1001", "S-1-5-18", "S-1-1-0", "S-1-5-32-544"]
    aces = [_host._ace(s, 1) for s in sids] + [_host._ace("S-1-5-32-555", 278, ace_type="deny")]
    assert [a["sid"] for a in _host._dotnet_order(aces)] == [
        "S-1-5-32-555", "S-1-1-0", "S-1-5-18", "S-1-5-32-544", "S-1-5-32-545",
        "S-1-5-21-3623811015-1-2-1001", "S-1-5-21-1004336348-1-2-1104",
    ]


def test_a_trust_failure_stays_until_faults_are_cleared(host: WinSimHost) -> None:
    assert "identity_lookup_failed" in _winsim.ERROR_KINDS
    host.add_account("CORP\\GoDevs", "S-1-5-21-1-2-3-1104")
    host.add_fault({"fault": "trust_failure", "domain": "corp"})
    # the fault is not used up: a broken trust stays broken
    failures = [error(host, "identity.resolve", names=["CORP\\GoDevs"]) for _attempt in (1, 2)]
    assert all(f["kind"] == "identity_lookup_failed" and "trust relationship" in f["message"] for f in failures)
    # a bare name of a domain account is asked of the domain as well
    assert error(host, "identity.resolve", names=["GoDevs"])["kind"] == "identity_lookup_failed"
    assert ok(host, "identity.resolve", names=["OTHER\\x", "Users"])["sids"] == {"OTHER\\x": None, "Users": USERS}
    host.clear_faults()
    assert ok(host, "identity.resolve", names=["CORP\\GoDevs"])["sids"] == {"CORP\\GoDevs": "S-1-5-21-1-2-3-1104"}


def test_a_trust_failure_fault_needs_its_domain(host: WinSimHost) -> None:
    with pytest.raises(ValueError, match="missing domain"):
        host.add_fault({"fault": "trust_failure"})


# --- URLs of file.download: redaction and validation (issue 6 item 3, issue 11) --------------

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.download import _http_url  # noqa: E402
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import _redact_url  # noqa: E402


@pytest.mark.parametrize("url, shown", [
    ("http://u:p@ss@host/x", "http://host/x"),
    ("https://gowin:p@ss:w%40rd@mirror.example:8443/go.zip?a=b@c#f@g", "https://mirror.example:8443/go.zip?a=b@c#f@g"),
    ("http://u:p@[::1]:8080/x", "http://[::1]:8080/x"),  # the host as written: brackets kept
    ("http://u:p@Mirror.Example/X", "http://Mirror.Example/X"),  # case kept
    ("http://u:p@[::1", "http://[::1"),  # unparsable, still redacted
    ("http://u:p@host?q=@", "http://host?q=@"),
    ("http://host/a@b", "http://host/a@b"),  # an '@' after the authority is not userinfo
    ("http://token@host", "http://host"),
    ("http://", "http://"),
    ("ftp://u:p@host/f", "ftp://host/f"),
    (r"\\server\share\a@b.zip", r"\\server\share\a@b.zip"),
])
def test_redact_url_cuts_at_the_last_at_of_the_authority(url: str, shown: str) -> None:
    assert _redact_url(url) == shown


def test_redact_url_is_linear() -> None:
    url = "http://" + "@:" * 200_000 + "@host/" + "@" * 200_000
    assert _redact_url(url) == "http://host/" + "@" * 200_000


@pytest.mark.parametrize("url, requested", [
    ("http://[::1", None),
    ("https://exa mple/", None),
    ("http://host:65536/", None),
    ("http://host:8x/", None),
    ("http://:80/", None),
    ("http://user@/x", None),
    ("http://a..b/", None),
    ("https://u:p@ss@Host:8443/a b?q=1 2#frag", "https://Host:8443/a%20b?q=1%202"),
    ("HTTP://host", "http://host/"),
    ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ("http://a_b.example/x", "http://a_b.example/x"),
])
def test_http_url_is_what_the_agent_would_request(url: str, requested: str | None) -> None:
    assert _http_url(url) == requested


def test_an_unparsable_url_touches_nothing(tmp_path: Path, host: WinSimHost) -> None:
    put(host, tmp_path, "C:\\dl\\go.zip", b"old")
    before = host.snapshot()
    for url in ("http://[::1", "https://exa mple/", "http://u:p@ss@[::1/x"):
        failure = error(host, "file.download", url=url, dest="C:\\dl\\go.zip")
        assert failure["kind"] == "bad_args" and "'url'" in failure["message"] and "p@ss" not in failure["message"]
    assert host.snapshot() == before


# --- secrets at depth (deploy.update carries service.set's arguments in 'set') -----------------


def test_request_secrets_are_found_at_any_depth() -> None:
    args = {"name": "a", "password": "top", "set": {"password": "pw1", "secret_environment": {"A": "s1", "B": ""}},
            "list": [{"password": "pw2"}, {"secret_environment": {"C": "s2"}}], "other": {"password": 7}}
    assert sorted(_host.request_secrets(args)) == ["pw1", "pw2", "s1", "s2", "top"]
    assert _host.hide_secrets("pw1 and s2, not pw", ["pw1", "s2"]) == "******** and ********, not pw"


def test_a_deploy_stage_that_fails_quoting_a_secret_of_set_reports_it_masked(
        tmp_path: Path, host: WinSimHost, win_files: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    put(host, tmp_path, "C:\\svc\\r1\\svc.exe", win_files.pe_image("amd64"))
    put(host, tmp_path, "C:\\svc\\r2\\svc.exe", win_files.pe_image("amd64"))
    ok(host, "service.set", name="orders", create=True, image_path="C:\\svc\\r1\\svc.exe", start_mode="manual")
    _handler, accepted = _host.OPS["service.start"]

    def refuses(_self: t.Any, _a: t.Any) -> t.NoReturn:
        raise _host.OpFailure("failed", "logon failure with tok-s3cret-value as the token")

    monkeypatch.setitem(_host.OPS, "service.start", (refuses, accepted))
    data = ok(host, "deploy.update", name="orders", id="0123456789abcdef", back={"image_path": "C:\\svc\\r1\\svc.exe"},
              set={"image_path": "C:\\svc\\r2\\svc.exe", "secret_environment": {"API_TOKEN": "tok-s3cret-value"}})
    assert data["outcome"] == "rolled_back" and data["error"]["message"] == "logon failure with ******** as the token"
    assert "tok-s3cret-value" not in json.dumps(data)
    journal = ok(host, "journal.get", name="orders")
    assert journal["detail"] == "failed: logon failure with ******** as the token"


# ---- security policy and audit policy defaults per release (policy.py, auditpol.py) ----------


@pytest.mark.parametrize("profile, lockout", [("ws2016", 0), ("ws2019-core", 0), ("ws2022", 0), ("ws2025", 10), ("ws2025-core", 10)])
def test_each_release_has_its_own_lockout_defaults(tmp_path: Path, profile: str, lockout: int) -> None:
    host = WinSimHost(str(tmp_path), "sec", profile)
    access = ok(host, "policy.export")["system_access"]
    assert access["LockoutBadCount"] == lockout
    if lockout:
        assert (access["LockoutDuration"], access["ResetLockoutCount"], access["AllowAdministratorLockout"]) == (10, 10, 1)
    else:
        assert "LockoutDuration" not in access and "ResetLockoutCount" not in access and "AllowAdministratorLockout" not in access
    assert (access["MaximumPasswordAge"], access["PasswordComplexity"], access["NewGuestName"]) == (42, 1, "Guest")


def test_lockout_times_are_given_with_a_threshold_turned_on_and_checked_against_each_other(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "sec", "ws2025")
    assert ok(host, "policy.configure", system_access={"LockoutBadCount": 0})["changed"] is True
    assert "LockoutDuration" not in ok(host, "policy.export")["system_access"]
    # The times are not exported while the threshold is 0: turning it on needs them, the op never guesses.
    assert "LockoutDuration" in error(host, "policy.configure", system_access={"LockoutBadCount": 3})["message"]
    changed = ok(host, "policy.configure", system_access={"LockoutBadCount": 3, "LockoutDuration": 20, "ResetLockoutCount": 20})
    assert changed["before"]["system_access"] == {"LockoutBadCount": 0, "LockoutDuration": None, "ResetLockoutCount": None}
    assert error(host, "policy.configure", system_access={"ResetLockoutCount": 21})["kind"] == "bad_args"
    assert ok(host, "policy.configure", system_access={"LockoutDuration": -1, "ResetLockoutCount": 60})["changed"] is True


def test_user_rights_are_one_store_for_policy_user_right_and_policy_export(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "sec", "ws2016")
    ok(host, "policy.user_right", right="SeBatchLogonRight", sid="S-1-5-32-559", grant=False)
    ok(host, "policy.user_right", right="SeBatchLogonRight", sid="S-1-5-32-551", grant=False)
    ok(host, "policy.user_right", right="SeBatchLogonRight", sid="S-1-5-32-544", grant=False)
    assert "SeBatchLogonRight" not in ok(host, "policy.export")["privilege_rights"]  # no holders: absent, as secedit
    ok(host, "policy.configure", privilege_rights={"SeBatchLogonRight": ["S-1-5-32-544"]})
    assert host.user_right_holders("SeBatchLogonRight") == ["*S-1-5-32-544"]
    host.set_policy_right("SeBatchLogonRight")
    assert ok(host, "policy.export")["policy_owned_rights"] == ["SeBatchLogonRight"]


@pytest.mark.parametrize("profile", ["ws2016", "ws2019", "ws2022", "ws2025"])
def test_every_release_lists_the_60_audit_subcategories_with_the_server_defaults(tmp_path: Path, profile: str) -> None:
    host = WinSimHost(str(tmp_path), "aud", profile)
    rows = ok(host, "auditpol.get")["subcategories"]
    assert len(rows) == 60 and [r["guid"] for r in rows] == sorted(r["guid"] for r in rows)
    by_name = {r["name"]: (r["success"], r["failure"]) for r in rows}
    assert by_name["Logon"] == (True, True) and by_name["Logoff"] == (True, False)
    assert by_name["Process Creation"] == (False, False) and by_name["Credential Validation"] == (True, False)
    assert host.audit_settings() == rows


def test_a_test_can_override_or_remove_one_audit_subcategory(tmp_path: Path) -> None:
    host = WinSimHost(str(tmp_path), "aud")
    logon = "{0CCE9215-69AE-11D9-BED3-505054503030}"
    host.set_audit_setting(logon, success=True, failure=False)
    assert [r for r in host.audit_settings() if r["guid"] == logon] == [{"guid": logon, "name": "Logon", "success": True, "failure": False}]
    host.set_audit_setting(logon, present=False)
    failure = error(host, "auditpol.set", subcategories=[{"guid": logon, "success": True, "failure": True}])
    assert failure["kind"] == "not_found" and logon in failure["message"]
    assert len(host.audit_settings()) == 59
