"""win_service_go's release option on winsim: going back (or forth) on purpose to a release kept on the host.

Each test runs ansible-playbook against winsim with real Go builds and reads the service's image path,
the release record and winsim's counters back."""

from __future__ import annotations

import pytest

from conftest import reg
# exe is a fixture: imported to be used by name
from test_win_service_go import NAME, ROOT, SVC_KEY, exe, failed, ok, sha, svc  # noqa: F401  pylint: disable=unused-import

RECORD = "HKLM\\SOFTWARE\\GoWin\\Services\\" + NAME
HEALTHZ = {"http": {"url": "http://127.0.0.1:47931/healthz"}, "startup_timeout_s": 2, "period_s": 1}


def releases_on_disk(h) -> set[str]:
    return {e["name"] for e in h.execute([{"op": "dir.list", "args": {"path": ROOT + "\\releases"}}])[0]["data"]["entries"]}


def two_releases(host1, exe, first="svcnative-healthy-amd64", second="svcnative-stripped-amd64"):
    old, new = exe(first), exe(second)
    ok(svc(host1, src=old))
    ok(svc(host1, src=new))
    return old, new


def test_release_previous_goes_back_with_one_update_and_a_second_run_changes_nothing(host1, exe):
    h = host1.host("win1")
    old, new = two_releases(host1, exe)
    assert reg(h, RECORD, "Binaries") == ["%s\\%s.exe" % (sha(new)[:12], NAME), "%s\\%s.exe" % (sha(old)[:12], NAME)]
    h.reset_counters()
    r = ok(svc(host1, release="previous", health=HEALTHZ))
    assert r["changed"] is True and r["update"]["outcome"] == "updated" and r["healthy"] is True
    # the record and releases (reused by the usual read), the usual read, the update; the binary is not fetched
    # to be read (the controller read it when src installed it)
    assert h.counters()["round_trips"] == 3 and h.counters()["bytes_received"] < 1_000_000
    assert r["release"]["sha256"] == sha(old) and r["release"]["previous"] == sha(new)[:12]
    assert sha(old)[:12] in reg(h, SVC_KEY, "ImagePath") and h.service_state(NAME)["state"] == "running"
    assert h.counters()["ops"]["deploy.update"] == 1
    # the record keeps the order of first installs: the newest is still the newest, so 'previous' stays put
    assert reg(h, RECORD, "Releases") == [sha(new)[:12], sha(old)[:12]]
    assert {sha(old)[:12], sha(new)[:12]} <= releases_on_disk(h)
    h.reset_counters()
    again = ok(svc(host1, release="previous", health=HEALTHZ))
    assert again["changed"] is False and sha(old)[:12] in again["service"]["image_path"]
    assert h.counters()["round_trips"] == 2  # the record, then the usual read


def test_release_by_id_goes_forth_again(host1, exe):
    h = host1.host("win1")
    old, new = two_releases(host1, exe)
    ok(svc(host1, release="previous"))
    r = ok(svc(host1, release=sha(new)[:12].upper()))
    assert r["changed"] is True and r["release"]["sha256"] == sha(new) and sha(new)[:12] in reg(h, SVC_KEY, "ImagePath")
    assert ok(svc(host1, release=sha(new)[:12]))["changed"] is False


def test_check_and_diff_mode_plan_the_switch_and_change_nothing(host1, exe):
    h = host1.host("win1")
    old, new = two_releases(host1, exe)
    before = h.snapshot()
    r = ok(svc(host1, check=True, diff=True, release="previous"))
    assert r["changed"] is True and "update" not in r
    assert "start service %s" % NAME in r["changes"] and "set image_path" in r["changes"]
    assert sha(new)[:12] in r["diff"]["before"] and sha(old)[:12] in r["diff"]["after"]
    assert h.snapshot() == before and "deploy.update" not in h.counters()["ops"]


def test_going_back_to_a_release_that_fails_health_rolls_forward_again(host1, exe):
    h = host1.host("win1")
    bad, good = two_releases(host1, exe, first="svcnative-unhealthy-amd64", second="svcnative-healthy-amd64")
    r = failed(svc(host1, release="previous", health=HEALTHZ))
    assert r["rolled_back"] is True and r["healthy"] is False and r["rollback_health"]["healthy"] is True
    assert "Rolled back to release %s" % sha(good)[:12] in r["msg"]
    assert sha(good)[:12] in reg(h, SVC_KEY, "ImagePath") and h.service_state(NAME)["state"] == "running"
    assert sha(bad)[:12] in releases_on_disk(h)


def test_a_record_without_binaries_finds_the_program_in_the_release_folder(host1, exe):
    """Releases recorded by an earlier version of the collection have no file name: the folder is listed."""
    h = host1.host("win1")
    old, _new = two_releases(host1, exe)
    h.execute([{"op": "registry.remove", "args": {"path": RECORD, "name": "Binaries"}}])
    h.reset_counters()
    r = ok(svc(host1, release="previous"))
    assert r["changed"] is True and sha(old)[:12] in reg(h, SVC_KEY, "ImagePath")
    # one more than with the file names recorded: the release folder is listed
    assert h.counters()["round_trips"] == 4  # the record and releases, the release folder, the usual read, the apply


@pytest.mark.parametrize("setup,args,words", [
    ("none", {"release": "previous"}, ["release: previous needs a release installed before the newest one",
                                       "holds none (nothing was deployed by this module)"]),
    ("one", {"release": "previous"}, ["release: previous needs a release installed before the newest one; the record of %s holds" % NAME]),
    ("two", {"release": "latest"}, ["release must be 'previous' or a release id (the 12 hex digits of a release folder), got 'latest'"]),
    ("two", {"release": "0123456789ab"}, ["release: 0123456789ab is not a recorded release of %s; recorded:" % NAME]),
    ("two", {"release": "previous", "checksum": "sha256:" + "0" * 64}, ["checksum:", "does not match"]),
    ("two", {"release": "previous", "src": "x.exe"}, ["mutually exclusive", "release"]),
    ("gone", {"release": "previous"}, ["release: the folder of release", "is gone from"]),
    ("tampered", {"release": "previous"}, ["release: the binary of release", "does not match its id", "changed on the host"]),
    ("no-file", {"release": "previous"}, ["release: %s\\releases\\" % ROOT, "is not a file on the host"]),
])
def test_bad_release_values_are_refused_and_change_nothing(host1, exe, setup, args, words):
    h = host1.host("win1")
    if setup == "one":
        ok(svc(host1, src=exe("svcnative-amd64")))
    elif setup != "none":
        old, _new = two_releases(host1, exe)
        if setup == "gone":
            h.execute([{"op": "path.remove", "args": {"path": ROOT + "\\releases\\" + sha(old)[:12]}}])
        elif setup == "no-file":
            h.execute([{"op": "path.remove", "args": {"path": ROOT + "\\releases\\%s\\%s.exe" % (sha(old)[:12], NAME)}}])
        elif setup == "tampered":
            h.put(exe("svcnative-exit-amd64"), ROOT + "\\releases\\%s\\%s.exe" % (sha(old)[:12], NAME))
    before = h.snapshot()
    r = failed(svc(host1, **args))
    assert all(w in r["msg"] for w in words), r["msg"]
    assert h.snapshot() == before


def test_previous_is_null_after_a_first_deploy_and_the_replaced_release_after_a_switch_in_every_later_run(host1, exe):
    h = host1.host("win1")
    old, new = exe("svcnative-healthy-amd64"), exe("svcnative-stripped-amd64")
    first = ok(svc(host1, src=old))
    assert first["changed"] is True and first["release"]["previous"] is None
    # a first deploy records one release: there was none before it, in this run or any later one
    assert reg(h, RECORD, "Releases") == [sha(old)[:12]]
    for check in (False, True):
        again = ok(svc(host1, src=old, check=check))
        assert again["changed"] is False and again["release"]["sha256"] == sha(old) and again["release"]["previous"] is None
    second = ok(svc(host1, src=new))
    assert second["release"]["sha256"] == sha(new) and second["release"]["previous"] == sha(old)[:12]
    assert reg(h, RECORD, "Releases") == [sha(new)[:12], sha(old)[:12]]
    # the record says which release each one replaced when the service switched to it
    assert reg(h, RECORD, "Replaced") == ["%s\\%s" % (sha(new)[:12], sha(old)[:12])]
    for check in (False, True):
        again = ok(svc(host1, src=new, check=check))
        assert again["changed"] is False and again["release"]["previous"] == sha(old)[:12]
    # going back on purpose: the release it replaced is the newer one, now and in the runs after
    back = ok(svc(host1, release="previous"))
    assert back["release"]["sha256"] == sha(old) and back["release"]["previous"] == sha(new)[:12]
    again = ok(svc(host1, release="previous"))
    assert again["changed"] is False and again["release"]["previous"] == sha(new)[:12]


def test_a_run_that_switches_nothing_keeps_the_release_the_active_one_replaced(host1, exe):
    """keep_releases counts besides the active release and the one it replaced, in every run, not only in the switch."""
    h = host1.host("win1")
    old, new = two_releases(host1, exe)
    r = ok(svc(host1, src=new, keep_releases=1))
    assert r["release"]["removed"] == [] and sha(old)[:12] in r["release"]["kept"]
    assert {sha(old)[:12], sha(new)[:12]} <= releases_on_disk(h)
    assert ok(svc(host1, release="previous", keep_releases=1))["release"]["sha256"] == sha(old)


def test_a_record_without_replaced_takes_previous_from_the_order_of_installs(host1, exe):
    """A record written by an earlier version of the collection has no Replaced: the release installed before the active one."""
    h = host1.host("win1")
    old, new = two_releases(host1, exe)
    h.execute([{"op": "registry.remove", "args": {"path": RECORD, "name": "Replaced"}}])
    r = ok(svc(host1, src=new))
    assert r["changed"] is False and r["release"]["previous"] == sha(old)[:12]
