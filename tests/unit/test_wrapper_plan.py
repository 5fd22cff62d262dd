# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wrapper mode's planner (plugins/plugin_utils/_wrapper.py): telling shawl and WinSW apart from their binaries
(the collection's Go stand-ins, real builds), what a shawl binary can honour, the option checks, and the
configuration each wrapper gets (shawl's command line, WinSW's XML)."""

from __future__ import annotations

import importlib.util
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _wrapper as wr
from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import split_command_line

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("gowin_fixture_build", os.path.join(HERE, "..", "fixtures", "build.py"))
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.fixture(scope="module")
def binary():
    try:
        go = build.go_binary()
        build.go_version(go)
    except build.GoMissing as e:
        pytest.skip(str(e))
    return lambda name: Path(build.build(name, go)).read_bytes()


def plan(**wrapper):
    wrapper.setdefault("kind", "shawl")
    wrapper.setdefault("src", "files/shawl.exe")
    return wr.wrapper_of(wrapper, "wrapper", 30)


def test_the_stand_ins_are_told_apart_by_their_marker(binary):
    shawl, winsw = wr.recognise(binary("wrapper-shawl-amd64")), wr.recognise(binary("wrapper-winsw-amd64"))
    assert (shawl["kind"], shawl["standin"], winsw["kind"], winsw["standin"]) == ("shawl", True, "winsw", True)
    assert "gowin-wrapper-kind:shawl" in shawl["evidence"]
    assert wr.recognise(binary("svcnative-amd64"))["kind"] is None
    assert wr.recognise(binary("consolehttp-healthy-amd64"))["kind"] is None


def test_real_wrappers_are_told_apart_by_what_they_hold():
    """What the real binaries carry (shawl's clap description; WinSW's assembly names, UTF-16 in .NET's heaps)."""
    shawl = b"MZ..." + wr.SHAWL_TEXT + b"...log-rotatelog-retainlog-aslog-cmd-as..."
    assert wr.recognise(shawl) == {"kind": "shawl", "evidence": "shawl's description 'Wrap arbitrary commands as Windows services'",
                                   "standin": False, "features": ["log-rotate", "log-retain", "log-as", "log-cmd-as"]}
    winsw = b"MZ..." + "WinSW".encode("utf-16-le") + b"..." + "Windows Service Wrapper".encode("utf-16-le")
    assert wr.recognise(winsw)["kind"] == "winsw"
    assert wr.recognise(b"MZ...WinSW only")["kind"] is None


def test_an_old_shawl_is_refused_for_log_options_given_and_warned_about_otherwise():
    old = {"kind": "shawl", "evidence": "x", "standin": False, "features": []}
    with pytest.raises(wr.WrapperError, match=r"cannot honour wrapper log_retain .*shawl older than 1.4"):
        wr.judge(plan(log_retain=3), old, "wrapper src")
    warnings = wr.judge(plan(), old, "wrapper src")
    assert any("no --log-rotate" in w for w in warnings) and any("no --kill-process-tree" in w for w in warnings)
    new = dict(old, features=list(wr.SHAWL_FEATURES))
    assert wr.judge(plan(log_retain=3), new, "wrapper src") == []


def test_a_wrapper_of_another_kind_or_none_is_refused():
    with pytest.raises(wr.WrapperError, match="wrapper kind is winsw but wrapper path is shawl"):
        wr.judge(plan(kind="winsw"), {"kind": "shawl", "evidence": "e", "features": []}, "wrapper path")
    with pytest.raises(wr.WrapperError, match="wrapper src is not a WinSW binary"):
        wr.judge(plan(kind="winsw"), {"kind": None, "evidence": "nothing", "features": []}, "wrapper src")


@pytest.mark.parametrize("wrapper, protocol, words", [
    ({"kind": "shawl", "src": "a"}, "auto", "wrapper is used only with service_protocol: wrapper"),
    (None, "wrapper", "service_protocol: wrapper needs wrapper"),
    ({"kind": "shawl", "src": "a", "args": []}, "wrapper", "wrapper has no key args"),
    ({"kind": "nssm", "src": "a"}, "wrapper", "wrapper kind must be shawl or winsw, got 'nssm'"),
    ({"kind": "shawl", "src": "a", "url": "https://x/y.exe"}, "wrapper", "exactly one of src, url or path"),
    ({"kind": "shawl", "src": " "}, "wrapper", "wrapper src must be a non-empty string"),
    ({"kind": "shawl", "src": "a", "ctrl_c_timeout_s": 0}, "wrapper", "ctrl_c_timeout_s must be a whole number from 1 to 3600"),
    ({"kind": "shawl", "src": "a", "ctrl_c_timeout_s": 30}, "wrapper", "must be shorter than stop_timeout_s (30)"),
    ({"kind": "shawl", "src": "a", "log_rotate_bytes": 10}, "wrapper", "log_rotate_bytes must be a whole number from 1024"),
    ({"kind": "shawl", "src": "a", "log_retain": True}, "wrapper", "log_retain must be a whole number from 1 to 100, got True"),
])
def test_bad_wrapper_options_name_the_option(wrapper, protocol, words):
    with pytest.raises(wr.WrapperError) as err:
        wr.wrapper_of(wrapper, protocol, 30)
    assert words in str(err.value)


def test_shawls_command_line_gives_the_program_its_arguments_back_one_by_one():
    p = plan(ctrl_c_timeout_s=7, log_rotate_bytes=4096, log_retain=2)
    line = wr.shawl_image_path("C:\\opt\\services\\a b\\releases\\x\\a b-shawl.exe", "C:\\opt\\services\\a b\\releases\\x\\a.exe",
                               ["--config", 'C:\\Program Files\\a\\c "q".yaml', ""], "a b", p, list(wr.SHAWL_FEATURES),
                               "C:\\ProgramData\\a b\\data", "C:\\ProgramData\\a b\\logs")
    argv = split_command_line(line)
    assert argv[:10] == ["C:\\opt\\services\\a b\\releases\\x\\a b-shawl.exe", "run", "--name", "a b", "--no-restart",
                         "--stop-timeout", "7000", "--cwd", "C:\\ProgramData\\a b\\data", "--log-dir"]
    assert argv[argv.index("--log-rotate") + 1] == "bytes=4096" and argv[argv.index("--log-retain") + 1] == "2"
    assert "--kill-process-tree" in argv
    assert argv[argv.index("--") + 1:] == ["C:\\opt\\services\\a b\\releases\\x\\a.exe", "--config", 'C:\\Program Files\\a\\c "q".yaml', ""]
    old = wr.shawl_image_path("C:\\s.exe", "C:\\a.exe", [], "a", p, [], "C:\\d", "C:\\l")
    assert "--log-dir" not in old and "--kill-process-tree" not in old


def test_winsws_xml_holds_data_only_escaped():
    text = wr.winsw_config("%BASE%\\a.exe", ["--name", "<b> & \"c\""], "a", "A <&> B", None, plan(kind="winsw", log_rotate_bytes=2048),
                           "C:\\d", "C:\\l")
    root = ET.fromstring(text.encode("utf-8"))
    assert root.find("executable").text == "%BASE%\\a.exe"
    assert split_command_line("x " + root.find("arguments").text)[1:] == ["--name", "<b> & \"c\""]
    assert root.find("name").text == "A <&> B" and root.find("description").text == "A <&> B"
    assert root.find("log").get("mode") == "roll-by-size" and root.find("log/sizeThreshold").text == "2"
    assert root.find("onfailure").get("action") == "none"
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")


def test_a_task_that_names_a_release_gives_the_wrapper_kind_and_options_but_no_binary():
    found = wr.wrapper_of({"kind": "winsw", "ctrl_c_timeout_s": 5, "checksum": "sha256:" + "a" * 64}, "wrapper", 30, release=True)
    assert found["source"] == "release" and found["kind"] == "winsw" and found["ctrl_c_timeout_s"] == 5
    assert found["log_retain"] == wr.DEFAULT_RETAIN and found["checksum"] == "sha256:" + "a" * 64
    for key in ("src", "url", "path"):
        with pytest.raises(wr.WrapperError, match="wrapper %s is not used with release: the release's folder holds its wrapper" % key):
            wr.wrapper_of({"kind": "shawl", key: "C:\\w\\shawl.exe"}, "wrapper", 30, release=True)
    # the options are checked as without release
    with pytest.raises(wr.WrapperError, match="must be shorter than stop_timeout_s"):
        wr.wrapper_of({"kind": "shawl", "ctrl_c_timeout_s": 40}, "wrapper", 30, release=True)
    with pytest.raises(wr.WrapperError, match="wrapper is used only with service_protocol: wrapper"):
        wr.wrapper_of({"kind": "shawl"}, "native", 30, release=True)


@pytest.mark.parametrize("present, asked, words", [
    ([], "shawl", "release: release 0123456789ab is a native release (its folder holds no shawl or WinSW wrapper)"),
    (["shawl"], None, "release: release 0123456789ab is a shawl wrapper release (its folder holds the wrapper svc-shawl.exe): "
                      "name it with service_protocol: wrapper and wrapper kind: shawl"),
    (["winsw"], "shawl", "release: release 0123456789ab is a WinSW wrapper release, not a shawl one: set wrapper kind: winsw"),
])
def test_a_release_of_another_kind_than_the_task_asks_for_is_refused_naming_release(present, asked, words):
    with pytest.raises(wr.WrapperError) as err:
        wr.check_release_kind("0123456789ab", "svc", present, asked)
    assert words in str(err.value)


@pytest.mark.parametrize("present, asked", [([], None), (["shawl"], "shawl"), (["winsw"], "winsw"), (["shawl", "winsw"], "winsw")])
def test_a_release_of_the_kind_asked_for_is_accepted(present, asked):
    assert wr.check_release_kind("0123456789ab", "svc", present, asked) is None


def test_the_program_and_wrapper_an_image_path_runs():
    """What a rollback starts again, for release: the program (recorded, or after shawl's '--'), and its wrapper."""
    from ansible_collections.gowin.server.plugins.action.win_service_go import _image_files

    folder = "C:\\opt\\services\\svc"
    rel = folder + "\\releases\\0123456789ab"
    record = {"values": {"Binaries": {"data": ["0123456789ab\\svc.exe", "ba9876543210\\native.exe"]}}}
    shawl = '"%s\\svc-shawl.exe" run --name svc -- "%s\\svc.exe" -addr x' % (rel, rel)
    assert _image_files(shawl, folder, record) == (rel + "\\svc.exe", rel + "\\svc-shawl.exe")
    assert _image_files('"%s\\svc-winsw.exe"' % rel, folder, record) == (rel + "\\svc.exe", rel + "\\svc-winsw.exe")
    native = folder + "\\releases\\ba9876543210\\native.exe"
    assert _image_files('"%s" -v' % native, folder, record) == (native, None)
    # not recorded: shawl's program is the argument after '--'; anything else is its own program
    assert _image_files(shawl, folder, {}) == (rel + "\\svc.exe", rel + "\\svc-shawl.exe")
    assert _image_files('"C:\\elsewhere\\app.exe" -- x', folder, {}) == ("C:\\elsewhere\\app.exe", None)
