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


def test_release_is_refused_in_wrapper_mode(host1, exe):
    args = wrapped(exe, "shawl")
    args.pop("src")
    r = failed(svc(host1, **dict(args, release="previous")))
    assert "release is not supported in wrapper mode yet" in r["msg"], r["msg"]


def test_a_wrapper_on_the_host_is_copied_into_the_release(host1, exe):
    h = host1.host("win1")
    h.put(exe("wrapper-shawl-amd64", "shawl.exe"), "C:\\tools\\shawl.exe")
    r = ok(svc(host1, **wrapped(exe, "shawl", wrapper={"kind": "shawl", "path": "C:\\tools\\shawl.exe"})))
    assert r["healthy"] is True
    assert h.read_file(r["wrapper"]["path"]) == h.read_file("C:\\tools\\shawl.exe")
    assert ok(svc(host1, **wrapped(exe, "shawl", wrapper={"kind": "shawl", "path": "C:\\tools\\shawl.exe"})))["changed"] is False
    assert ROOT in r["wrapper"]["path"]
