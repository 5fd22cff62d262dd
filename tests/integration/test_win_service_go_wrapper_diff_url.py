"""win_service_go's wrapper mode on winsim, the paths the other wrapper tests leave out: diff mode (the wrapper
installed, a changed configuration, then no diff)."""

from __future__ import annotations

import pytest

from conftest import reg

from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import split_command_line
# exe is a fixture: imported to be used by name
from test_win_service_go import NAME, SVC_KEY, exe, ok, sha, svc  # noqa: F401  pylint: disable=unused-import
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

