"""win_service_go's wrapper mode on winsim: a plain console Go program (consolehttp, which never talks to the SCM)
run as a service by shawl or WinSW. The wrappers are the collection's Go stand-ins (tests/fixtures/go/wrapper),
which carry what tells shawl and WinSW apart; winsim recognises the wrapper from its binary and runs the program
its command line (shawl) or its configuration (WinSW) names, whose behaviour marker says how it answers."""

from __future__ import annotations

import pytest

from conftest import reg

from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import split_command_line
# exe is a fixture: imported to be used by name
from test_win_service_go import NAME, ROOT, SVC_KEY, exe, failed, ok, sha, svc  # noqa: F401  pylint: disable=unused-import

HEALTH = {"http": {"url": "http://127.0.0.1:47936/healthz"}, "startup_timeout_s": 5, "period_s": 1}
PROGRAM = "consolehttp-healthy-amd64"


def wrapped(exe, kind, **args):
    args.setdefault("src", exe(PROGRAM))
    args.setdefault("health", HEALTH)
    args.setdefault("service_protocol", "wrapper")
    args.setdefault("wrapper", {"kind": kind, "src": exe("wrapper-%s-amd64" % kind, "%s.exe" % kind)})
    return args


def test_a_console_program_runs_under_shawl_configured_by_its_image_path(host1, exe):
    h = host1.host("win1")
    r = ok(svc(host1, **wrapped(exe, "shawl", args=["-addr", "127.0.0.1:47936"])))
    assert r["changed"] is True and r["healthy"] is True
    release = r["release"]["folder"]
    assert r["wrapper"]["kind"] == "shawl" and r["wrapper"]["path"] == release + "\\%s-shawl.exe" % NAME
    assert r["wrapper"]["sha256"] == sha(exe("wrapper-shawl-amd64", "shawl.exe")) and r["wrapper"]["config"] is None
    argv = split_command_line(reg(h, SVC_KEY, "ImagePath"))
    assert argv[:9] == [release + "\\%s-shawl.exe" % NAME, "run", "--name", NAME, "--no-restart", "--stop-timeout", "10000",
                        "--cwd", "C:\\ProgramData\\%s\\data" % NAME], argv
    assert argv[argv.index("--") + 1:] == [release + "\\%s.exe" % NAME, "-addr", "127.0.0.1:47936"]
    assert argv[argv.index("--log-rotate") + 1] == "bytes=10485760" and argv[argv.index("--log-retain") + 1] == "5"
    assert argv[argv.index("--log-dir") + 1] == "C:\\ProgramData\\%s\\logs" % NAME and "--kill-process-tree" in argv
    # restarts are the SCM's: a program that exits non-zero counts as a failure
    assert reg(h, SVC_KEY, "FailureActionsOnNonCrashFailures") == 1
    state = h.service_state(NAME)
    assert state["state"] == "running"
    # the release folder is named by the program and the wrapper together
    assert release.rsplit("\\", 1)[-1] != sha(exe(PROGRAM))[:12]
    h.reset_counters()
    again = ok(svc(host1, **wrapped(exe, "shawl", args=["-addr", "127.0.0.1:47936"])))
    assert again["changed"] is False and h.counters()["round_trips"] == 1


def test_a_console_program_runs_under_winsw_configured_by_the_xml_beside_it(host1, exe):
    h = host1.host("win1")
    r = ok(svc(host1, **wrapped(exe, "winsw", args=["-addr", "127.0.0.1:47936"], display_name="Orders API")))
    assert r["healthy"] is True
    release = r["release"]["folder"]
    wexe = release + "\\%s-winsw.exe" % NAME
    assert r["wrapper"] == {"kind": "winsw", "path": wexe, "sha256": sha(exe("wrapper-winsw-amd64", "winsw.exe")),
                            "config": release + "\\%s-winsw.xml" % NAME, "evidence": r["wrapper"]["evidence"]}
    assert split_command_line(reg(h, SVC_KEY, "ImagePath")) == [wexe]
    config = h.read_file(r["wrapper"]["config"]).decode("utf-8")
    assert "<executable>%%BASE%%\\%s.exe</executable>" % NAME in config
    assert "<arguments>-addr 127.0.0.1:47936</arguments>" in config
    assert "<name>Orders API</name>" in config and '<onfailure action="none" />' in config
    assert "<stoptimeout>10 sec</stoptimeout>" in config and "<keepFiles>5</keepFiles>" in config
    assert h.service_state(NAME)["state"] == "running"
    assert ok(svc(host1, **wrapped(exe, "winsw", args=["-addr", "127.0.0.1:47936"], display_name="Orders API")))["changed"] is False


def test_a_new_winsw_configuration_is_a_new_release_switched_in_one_host_op(host1, exe):
    h = host1.host("win1")
    first = ok(svc(host1, **wrapped(exe, "winsw")))
    h.reset_counters()
    r = ok(svc(host1, **wrapped(exe, "winsw", args=["-addr", "127.0.0.1:47936"])))
    assert r["release"]["folder"] != first["release"]["folder"]
    assert r["update"]["outcome"] == "updated" and r["healthy"] is True
    assert h.counters()["ops"]["deploy.update"] == 1
    assert r["release"]["previous"] == first["release"]["folder"].rsplit("\\", 1)[-1]


def test_switching_a_native_service_to_wrapper_mode_is_an_update(host1, exe):
    h = host1.host("win1")
    ok(svc(host1, src=exe("svcnative-healthy-amd64"), health={"http": {"url": "http://127.0.0.1:47931/healthz"}}))
    r = ok(svc(host1, **wrapped(exe, "shawl")))
    assert r["update"]["outcome"] == "updated" and r["healthy"] is True
    assert "-shawl.exe" in reg(h, SVC_KEY, "ImagePath")


def test_check_mode_installs_no_wrapper(host1, exe):
    h = host1.host("win1")
    before = h.snapshot()
    r = ok(svc(host1, check=True, **wrapped(exe, "winsw")))
    assert r["changed"] is True
    assert any(c.startswith("install the winsw wrapper ") for c in r["changes"])
    assert any(c.startswith("write the WinSW configuration ") for c in r["changes"])
    assert h.snapshot() == before


def test_a_program_whose_wrapper_cannot_find_it_fails_to_start(host1, exe):
    """The stand-in starts; the program it names is the one the module installed: removing it by hand breaks the start."""
    h = host1.host("win1")
    r = ok(svc(host1, **wrapped(exe, "shawl")))
    ok(svc(host1, **wrapped(exe, "shawl"), state="stopped"))
    h.execute([{"op": "path.remove", "args": {"path": r["release"]["path"]}}])
    bad = failed(svc(host1, **wrapped(exe, "shawl")))
    # shawl reports the failed launch's Win32 error (2: the file was not found) as the service's exit code
    assert "stopped while starting (exit code 2): its wrapper could not start %s" % r["release"]["path"] in bad["msg"], bad["msg"]
    assert h.service_state(NAME)["state"] == "stopped" and h.service_state(NAME)["exit_code"] == 2


@pytest.mark.parametrize("change, words", [
    (lambda e: {"wrapper": {"kind": "shawl", "src": e("wrapper-winsw-amd64", "winsw.exe")}},
     "wrapper kind is shawl but wrapper src is WinSW"),
    (lambda e: {"wrapper": {"kind": "winsw", "src": e("svcnative-amd64", "winsw.exe")}},
     "wrapper src is not a WinSW binary"),
    (lambda e: {"service_protocol": "auto"}, "wrapper is used only with service_protocol: wrapper (it is auto)"),
    (lambda e: {"wrapper": None}, "service_protocol: wrapper needs wrapper"),
    (lambda e: {"wrapper": {"kind": "nssm", "src": e("wrapper-shawl-amd64", "shawl.exe")}}, "nssm"),
    (lambda e: {"wrapper": {"kind": "shawl"}}, "wrapper needs exactly one of src, url or path"),
    (lambda e: {"wrapper": {"kind": "shawl", "src": e("wrapper-shawl-amd64", "shawl.exe"), "path": "C:\\w\\shawl.exe"}},
     "wrapper needs exactly one of src, url or path (the wrapper binary), got src, path"),
    (lambda e: {"wrapper": {"kind": "shawl", "url": "https://artifacts.example.com/shawl.exe"}},
     "wrapper url needs wrapper checksum"),
    (lambda e: {"wrapper": {"kind": "shawl", "src": e("wrapper-shawl-amd64", "shawl.exe"), "ctrl_c_timeout_s": 30}},
     "wrapper ctrl_c_timeout_s (30) must be shorter than stop_timeout_s (30)"),
    (lambda e: {"wrapper": {"kind": "shawl", "src": e("wrapper-shawl-amd64", "shawl.exe"), "log_retain": 0}},
     "wrapper log_retain must be a whole number from 1 to 100, got 0"),
    (lambda e: {"wrapper": {"kind": "shawl", "src": e("wrapper-shawl-amd64", "shawl.exe"), "checksum": "sha256:" + "0" * 64}},
     "checksum mismatch"),
    (lambda e: {"wrapper": {"kind": "shawl", "path": "C:\\nowhere\\shawl.exe"}}, "wrapper path: C:\\nowhere\\shawl.exe is not a file on the host"),
])
def test_bad_wrapper_values_fail_naming_the_option_and_change_nothing(host1, exe, change, words):
    h = host1.host("win1")
    before = h.snapshot()
    args = wrapped(exe, "shawl")
    args.update(change(exe))
    if args.get("wrapper") is None:
        args.pop("wrapper")
    r = failed(svc(host1, **args))
    assert words in r["msg"], r["msg"]
    assert h.snapshot() == before


RECORD = "HKLM\\SOFTWARE\\GoWin\\Services\\" + NAME
OTHER = "svcnative-healthy-amd64"  # a second program (it listens elsewhere: a release of it without health goes in)


def back(exe, kind, **args):
    """The task that names a release in wrapper mode: the wrapper's kind (and options), no binary."""
    args.setdefault("health", HEALTH)
    args.setdefault("service_protocol", "wrapper")
    args.setdefault("wrapper", {"kind": kind})
    return args


def two_wrapper_releases(host1, exe, kind, first_kind=None, **args):
    """A release of PROGRAM under the wrapper, then one of OTHER under it (the newest); their folders."""
    first = ok(svc(host1, **wrapped(exe, first_kind or kind, **args)))
    second = ok(svc(host1, **wrapped(exe, kind, src=exe(OTHER), health=None, **args)))
    assert second["release"]["folder"] != first["release"]["folder"]
    return first["release"], second["release"]


@pytest.mark.parametrize("kind", ["shawl", "winsw"])
def test_release_previous_in_wrapper_mode_switches_to_that_releases_wrapper_and_a_second_run_changes_nothing(host1, exe, kind):
    h = host1.host("win1")
    old, new = two_wrapper_releases(host1, exe, kind, args=["-addr", "127.0.0.1:47936"])
    h.reset_counters()
    r = ok(svc(host1, **back(exe, kind, release="previous", args=["-addr", "127.0.0.1:47936"])))
    assert r["changed"] is True and r["update"]["outcome"] == "updated" and r["healthy"] is True
    # the record and releases, the usual read (the release's files stat'ed in it), the update: nothing copied
    assert h.counters()["round_trips"] == 3 and h.counters()["ops"]["deploy.update"] == 1
    assert "file.download" not in h.counters()["ops"] and "file.write" not in h.counters()["ops"]
    # release describes the program; the wrapper is the one in the same folder
    wexe = old["folder"] + "\\%s-%s.exe" % (NAME, kind)
    assert r["release"]["folder"] == old["folder"] and r["release"]["path"] == old["path"] == old["folder"] + "\\%s.exe" % NAME
    assert r["release"]["sha256"] == sha(exe(PROGRAM)) and r["release"]["wrapper_sha256"] == sha(exe("wrapper-%s-amd64" % kind, "%s.exe" % kind))
    assert r["release"]["previous"] == new["folder"].rsplit("\\", 1)[-1]
    assert r["wrapper"]["path"] == wexe and r["wrapper"]["kind"] == kind
    argv = split_command_line(reg(h, SVC_KEY, "ImagePath"))
    if kind == "shawl":  # shawl's command line, built for that release's wrapper and program
        assert argv[0] == wexe and argv[1] == "run" and argv[argv.index("--") + 1:] == [old["path"], "-addr", "127.0.0.1:47936"]
    else:  # WinSW alone; its configuration is the one in that release's folder, untouched
        assert argv == [wexe]
        assert "<executable>%%BASE%%\\%s.exe</executable>" % NAME in h.read_file(r["wrapper"]["config"]).decode("utf-8")
    state = h.service_state(NAME)
    assert state["state"] == "running"
    # the release order of first installs is kept: previous stays put, so going back again changes nothing
    assert reg(h, RECORD, "Releases") == [new["folder"].rsplit("\\", 1)[-1], old["folder"].rsplit("\\", 1)[-1]]
    h.reset_counters()
    again = ok(svc(host1, **back(exe, kind, release="previous", args=["-addr", "127.0.0.1:47936"])))
    assert again["changed"] is False and again["release"]["folder"] == old["folder"]
    assert h.counters()["round_trips"] == 2  # the record, then the usual read
    newest = new["folder"].rsplit("\\", 1)[-1].upper()
    for check in (True, False):
        forth = ok(svc(host1, check=check, **back(exe, kind, release=newest, args=["-addr", "127.0.0.1:47936"], health=None)))
        assert forth["changed"] is True and forth["release"]["folder"] == new["folder"]
        assert forth["release"]["sha256"] == sha(exe(OTHER))
    assert new["folder"] in reg(h, SVC_KEY, "ImagePath")


def test_release_in_wrapper_mode_builds_shawls_command_line_from_the_task(host1, exe):
    """shawl's configuration is its command line, not a file of the release: new args are a switch to the same release."""
    h = host1.host("win1")
    old, _new = two_wrapper_releases(host1, exe, "shawl", args=["-addr", "127.0.0.1:47936"])
    r = ok(svc(host1, **back(exe, "shawl", release="previous", args=["-addr", "127.0.0.1:47936", "-v"])))
    assert r["release"]["folder"] == old["folder"] and r["healthy"] is True
    argv = split_command_line(reg(h, SVC_KEY, "ImagePath"))
    assert argv[argv.index("--") + 1:] == [old["path"], "-addr", "127.0.0.1:47936", "-v"]


def test_check_mode_plans_the_switch_to_a_wrapper_release_and_changes_nothing(host1, exe):
    h = host1.host("win1")
    old, new = two_wrapper_releases(host1, exe, "winsw")
    before = h.snapshot()
    r = ok(svc(host1, check=True, diff=True, **back(exe, "winsw", release="previous")))
    assert r["changed"] is True and "update" not in r and "set image_path" in r["changes"]
    assert not any(c.startswith(("install", "write")) for c in r["changes"]), r["changes"]
    assert new["folder"] in r["diff"]["before"] and old["folder"] in r["diff"]["after"]
    assert h.snapshot() == before


def test_a_rolled_back_wrapper_update_describes_the_program_of_the_release_active_again(host1, exe):
    """release.sha256 is the program's (as in native mode), release.wrapper_sha256 the wrapper's, after a rollback too."""
    h = host1.host("win1")
    first = ok(svc(host1, **wrapped(exe, "shawl")))
    shawl = sha(exe("wrapper-shawl-amd64", "shawl.exe"))
    assert first["release"]["sha256"] == sha(exe(PROGRAM)) and first["release"]["wrapper_sha256"] == shawl
    # OTHER listens on another port: the health check of the new release fails, the first one runs again
    r = failed(svc(host1, **wrapped(exe, "shawl", src=exe(OTHER))))
    assert r["rolled_back"] is True and r["rollback_health"]["healthy"] is True
    assert r["release"]["folder"] == first["release"]["folder"] and r["release"]["path"] == first["release"]["path"]
    assert r["release"]["sha256"] == sha(exe(PROGRAM)) and r["release"]["wrapper_sha256"] == shawl
    failed_release = r["release"]["failed"]
    assert failed_release["sha256"] == sha(exe(OTHER)) and failed_release["wrapper_sha256"] == shawl
    assert failed_release["path"].endswith("\\%s.exe" % NAME) and failed_release["folder"] != first["release"]["folder"]
    assert first["release"]["folder"] in reg(h, SVC_KEY, "ImagePath") and h.service_state(NAME)["state"] == "running"


def test_a_rolled_back_switch_from_native_to_wrapper_mode_describes_the_native_release(host1, exe):
    native_health = {"http": {"url": "http://127.0.0.1:47931/healthz"}, "startup_timeout_s": 2, "period_s": 1}
    first = ok(svc(host1, src=exe("svcnative-healthy-amd64"), health=native_health))
    assert first["release"]["wrapper_sha256"] is None
    # the wrapped program listens on another port than the one checked: the native release runs again
    r = failed(svc(host1, **wrapped(exe, "winsw", health=native_health)))
    assert r["rolled_back"] is True and r["rollback_health"]["healthy"] is True
    assert r["release"]["path"] == first["release"]["path"] and r["release"]["sha256"] == sha(exe("svcnative-healthy-amd64"))
    assert r["release"]["wrapper_sha256"] is None and r["release"]["failed"]["wrapper_sha256"] == sha(exe("wrapper-winsw-amd64", "winsw.exe"))


@pytest.mark.parametrize("setup, args, words", [
    ("native-then-shawl", {}, ["release: release {rid} is a native release (its folder holds no shawl or WinSW wrapper)",
                               "release must name a release deployed in wrapper mode with wrapper kind shawl"]),
    ("shawl-then-native", {"service_protocol": "auto", "wrapper": None},
     ["release: release {rid} is a shawl wrapper release (its folder holds the wrapper %s-shawl.exe)" % NAME,
      "service_protocol: wrapper and wrapper kind: shawl"]),
    ("shawl-then-winsw", {"wrapper": {"kind": "winsw"}},
     ["release: release {rid} is a shawl wrapper release, not a WinSW one: set wrapper kind: shawl"]),
    ("winsw-twice", {"wrapper": {"kind": "winsw", "src": "winsw.exe"}},
     ["wrapper src is not used with release: the release's folder holds its wrapper binary"]),
    ("winsw-twice", {"args": ["-addr", "127.0.0.1:1"]},
     ["release: the WinSW configuration", "of release {rid} is not the one this task's options make",
      "give the options that release was deployed with"]),
    ("winsw-twice", {"wrapper": {"kind": "winsw", "ctrl_c_timeout_s": 20}}, ["release: the WinSW configuration"]),
    ("winsw-config-gone", {}, ["release: the WinSW configuration", "of release {rid} is gone"]),
    ("shawl-tampered", {}, ["release: the files of release {rid} do not match its id", "was changed on the host"]),
    ("shawl-swapped", {}, ["wrapper kind is shawl but the wrapper of release {rid} is WinSW"]),
    ("shawl-twice", {"wrapper": {"kind": "shawl", "checksum": "sha256:" + "0" * 64}},
     ["wrapper checksum:", "does not match", "checksum mismatch"]),
])
def test_bad_releases_in_wrapper_mode_are_refused_naming_release_and_change_nothing(host1, exe, setup, args, words):
    h = host1.host("win1")
    if setup == "native-then-shawl":
        old = ok(svc(host1, src=exe("svcnative-healthy-amd64")))["release"]
        ok(svc(host1, **wrapped(exe, "shawl")))
    elif setup == "shawl-then-native":
        old = ok(svc(host1, **wrapped(exe, "shawl")))["release"]
        ok(svc(host1, src=exe("svcnative-healthy-amd64")))
    elif setup == "shawl-then-winsw":
        old, _new = two_wrapper_releases(host1, exe, "winsw", first_kind="shawl")
    else:
        old, _new = two_wrapper_releases(host1, exe, setup.split("-")[0])
        if setup == "winsw-config-gone":
            h.execute([{"op": "path.remove", "args": {"path": old["folder"] + "\\%s-winsw.xml" % NAME}}])
        elif setup == "shawl-tampered":  # another build of the same kind: still shawl, but not the release's
            tampered = exe("wrapper-shawl-amd64", "shawl.exe") + ".tampered"
            with open(exe("wrapper-shawl-amd64", "shawl.exe"), "rb") as original, open(tampered, "wb") as dst:
                dst.write(original.read() + b"\0" * 512)
            h.put(tampered, old["folder"] + "\\%s-shawl.exe" % NAME)
        elif setup == "shawl-swapped":
            h.put(exe("wrapper-winsw-amd64", "winsw.exe"), old["folder"] + "\\%s-shawl.exe" % NAME)
    rid = old["folder"].rsplit("\\", 1)[-1]
    task = back(exe, "winsw" if setup.startswith("winsw") else "shawl", release="previous")
    for key, value in args.items():
        if value is None:
            task.pop(key, None)
        else:
            task[key] = value
    before = h.snapshot()
    r = failed(svc(host1, **task))
    for w in words:
        assert w.replace("{rid}", rid) in r["msg"], r["msg"]
    assert h.snapshot() == before
