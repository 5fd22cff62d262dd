"""win_service_go's wrapper mode on winsim, the paths the other wrapper tests leave out: diff mode (the wrapper
installed, a changed configuration, then no diff) and a wrapper binary downloaded from a loopback HTTP url,
checked against its checksum before anything on the host changes."""

from __future__ import annotations

import shutil

import pytest

from conftest import reg

from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import split_command_line
# exe is a fixture: imported to be used by name
from test_win_service_go import NAME, SVC_KEY, exe, failed, ok, serve_folder, sha, svc  # noqa: F401  pylint: disable=unused-import
from test_win_service_go_wrapper import PROGRAM, wrapped

ADDR = ["-addr", "127.0.0.1:47936"]


def _diff_lines(stdout: str, sign: str) -> list[str]:
    """The lines ansible printed with --diff that start with sign (+ or -), without the sign, headers left out."""
    return [line[1:] for line in stdout.splitlines() if line.startswith(sign) and not line.startswith(sign * 3)]


@pytest.mark.parametrize("kind", ["shawl", "winsw"])
def test_diff_mode_shows_the_wrapper_install_then_a_changed_configuration_then_nothing(host1, exe, kind):
    h = host1.host("win1")
    wexe_sha = sha(exe("wrapper-%s-amd64" % kind, "%s.exe" % kind))
    run = svc(host1, diff=True, **wrapped(exe, kind, args=ADDR))
    r = ok(run)
    assert r["changed"] is True and r["healthy"] is True
    first = r["release"]["folder"]
    wexe = first + "\\%s-%s.exe" % (NAME, kind)
    # a new service: nothing before; after, the image path runs the wrapper of the new release and the wrapper is named
    assert r["diff"]["before"] == ""
    assert "image_path: " + reg(h, SVC_KEY, "ImagePath") in r["diff"]["after"].splitlines()
    assert "wrapper: %s %s (sha256:%s)" % (kind, wexe, wexe_sha[:12]) in r["diff"]["after"].splitlines()
    added = _diff_lines(run.stdout, "+")
    assert "wrapper: %s %s (sha256:%s)" % (kind, wexe, wexe_sha[:12]) in added, run.stdout
    assert any(line.startswith("image_path: " + wexe) for line in added), run.stdout
    assert not _diff_lines(run.stdout, "-"), run.stdout
    if kind == "winsw":
        assert "    <stoptimeout>10 sec</stoptimeout>" in added, "\n".join(added)
        assert "    <arguments>-addr 127.0.0.1:47936</arguments>" in added

    # a changed ctrl_c_timeout_s and args
    task = wrapped(exe, kind, args=ADDR + ["-v"])
    task["wrapper"]["ctrl_c_timeout_s"] = 20
    run = svc(host1, diff=True, **task)
    r = ok(run)
    assert r["changed"] is True and r["update"]["outcome"] == "updated" and r["healthy"] is True
    added, removed = _diff_lines(run.stdout, "+"), _diff_lines(run.stdout, "-")
    image = reg(h, SVC_KEY, "ImagePath")
    assert [line for line in removed if line.startswith("image_path: ")] == ["image_path: " + r["diff"]["before"].split("image_path: ")[1].split("\n")[0]]
    assert [line for line in added if line.startswith("image_path: ")] == ["image_path: " + image], run.stdout
    if kind == "shawl":  # shawl's configuration is its command line: the same release, a new image path
        assert r["release"]["folder"] == first
        before_argv = split_command_line(next(line for line in removed if line.startswith("image_path: "))[len("image_path: "):])
        after_argv = split_command_line(image)
        assert before_argv[before_argv.index("--stop-timeout") + 1] == "10000" and before_argv[-1] == "127.0.0.1:47936"
        assert after_argv[after_argv.index("--stop-timeout") + 1] == "20000" and after_argv[-1] == "-v"
        assert not any(line.startswith("wrapper: ") for line in added), run.stdout  # nothing new installed
    else:  # WinSW's configuration is a file: a new release, its wrapper and configuration shown in full
        assert r["release"]["folder"] != first
        new_exe = r["release"]["folder"] + "\\%s-winsw.exe" % NAME
        assert image == new_exe and first in r["diff"]["before"]
        assert "wrapper: winsw %s (sha256:%s)" % (new_exe, wexe_sha[:12]) in added
        assert "WinSW configuration %s:" % r["wrapper"]["config"] in added
        assert "    <stoptimeout>20 sec</stoptimeout>" in added and "    <arguments>-addr 127.0.0.1:47936 -v</arguments>" in added
        config = h.read_file(r["wrapper"]["config"]).decode("utf-8")
        assert "<stoptimeout>20 sec</stoptimeout>" in config and "<arguments>-addr 127.0.0.1:47936 -v</arguments>" in config

    # the same task again: no change, no diff
    run = svc(host1, diff=True, **task)
    r = ok(run)
    assert r["changed"] is False and r["diff"]["before"] == r["diff"]["after"]
    assert "--- before" not in run.stdout and not _diff_lines(run.stdout, "+") and not _diff_lines(run.stdout, "-"), run.stdout


def test_a_wrapper_from_url_is_checked_against_its_checksum_and_a_wrong_one_changes_nothing(host1, exe, tmp_path):
    h = host1.host("win1")
    shawl = exe("wrapper-shawl-amd64", "shawl.exe")
    www = tmp_path / "www"
    www.mkdir()
    shutil.copyfile(shawl, www / "shawl-1.9.0-x64.exe")
    server = serve_folder(www)
    try:
        url = "http://127.0.0.1:%d/shawl-1.9.0-x64.exe" % server.server_address[1]

        def task(checksum, **extra):
            return wrapped(exe, "shawl", args=ADDR, allow_plain_http=True,
                           wrapper={"kind": "shawl", "url": url, "checksum": checksum}, **extra)

        wrong = "sha256:" + "1" * 64
        empty = h.snapshot()
        r = failed(svc(host1, **task(wrong)))
        assert "wrapper checksum: %s does not match" % url in r["msg"] and "(checksum mismatch)" in r["msg"], r["msg"]
        assert h.snapshot() == empty and reg(h, SVC_KEY, "ImagePath") is None
        r = failed(svc(host1, **dict(task("sha256:" + sha(shawl)), allow_plain_http=False)))
        assert "allow_plain_http" in r["msg"], r["msg"]
        assert h.snapshot() == empty

        r = ok(svc(host1, **task("sha256:" + sha(shawl).upper())))
        assert r["changed"] is True and r["healthy"] is True
        wexe = r["release"]["folder"] + "\\%s-shawl.exe" % NAME
        assert r["wrapper"]["path"] == wexe and r["wrapper"]["sha256"] == sha(shawl) == r["release"]["wrapper_sha256"]
        assert h.execute([{"op": "file.stat", "args": {"path": wexe, "checksum": True}}])[0]["data"]["sha256"] == sha(shawl)
        assert split_command_line(reg(h, SVC_KEY, "ImagePath"))[0] == wexe and h.service_state(NAME)["state"] == "running"
        assert r["release"]["sha256"] == sha(exe(PROGRAM))
        assert ok(svc(host1, **task("sha256:" + sha(shawl))))["changed"] is False

        # a wrong checksum with a new configuration: refused before anything changes, the running release stays as it is
        before = h.snapshot()
        pid = h.service_state(NAME)["pid"]
        r = failed(svc(host1, **dict(task(wrong), args=ADDR + ["-v"])))
        assert "wrapper checksum: %s does not match" % url in r["msg"] and "(checksum mismatch)" in r["msg"], r["msg"]
        assert h.snapshot() == before
        assert h.service_state(NAME)["state"] == "running" and h.service_state(NAME)["pid"] == pid
    finally:
        server.shutdown()
