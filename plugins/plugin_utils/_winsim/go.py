# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'go' (plugins/plugin_utils/_agent/go.ps1):
go.run and the model of go.exe.
Vectors: tests/contract/vectors/go.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from ansible_collections.gowin.server.plugins.plugin_utils._goenv import go_env_view
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    Args,
    Environ,
    GO_MOD_INIT_USAGE,
    JsonDict,
    OpFailure,
    PE_CODES,
    RUNNABLE,
    WinPath,
    _DRIVE_PATH,
    _op,
    decode_text,
    go_json,
    parse_path,
    stand_in_pe,
)


@dataclass(frozen=True)
class GoCommand:
    """A go command line winsim models."""

    verb: str  # "version" | "env" | "mod init" | "build"
    params: tuple[str, ...] = ()  # env: the names; mod init: its arguments
    as_json: bool = False  # env -json
    out: str | None = None  # build -o


@dataclass(frozen=True)
class GoCall:
    """One modelled run of go.exe: the toolchain (from exe), the environment it gets and where it runs."""

    exe: WinPath
    machine: str
    version: str
    environ: Environ
    cwd: WinPath

    @property
    def goroot(self) -> WinPath:
        return self.exe.parent.parent

    @property
    def version_file(self) -> WinPath:
        return self.goroot.child("VERSION")


GO_MODELLED = "'go version', 'go env [-json] [NAME...]', 'go mod init [PATH]' and 'go build [-o OUT] [.]'"
# Where go.run runs a program without cwd: %SystemRoot%\System32, as the agent's Environment.SystemDirectory.
DEFAULT_CWD = "C:\\Windows\\System32"


def _go_command(argv: list[str]) -> GoCommand:
    """Which modelled command `argv` is; anything else fails unsupported."""
    command: GoCommand | None = None
    if argv == ["version"]:
        command = GoCommand("version")
    elif argv[:1] == ["env"]:
        as_json = argv[1:2] == ["-json"]
        names = tuple(argv[2:] if as_json else argv[1:])
        if (names or as_json) and not any(n.startswith("-") for n in names):
            command = GoCommand("env", names, as_json=as_json)
    elif argv[:2] == ["mod", "init"] and not any(p.startswith("-") for p in argv[2:]):
        command = GoCommand("mod init", tuple(argv[2:]))
    elif argv[:1] == ["build"]:
        rest, out, good = argv[1:], None, True
        while rest and good:
            word = rest.pop(0)
            if word == "-o" and rest:
                out = rest.pop(0)
            elif word.startswith("-o="):
                out = word[3:]
            else:
                good = word in (".", "./", ".\\") and not rest
        command = GoCommand("build", out=out) if good and (out is None or out) else None
    if command is None:
        raise OpFailure("unsupported", "go.run: winsim models only %s; it cannot run %s" % (GO_MODELLED, json.dumps(argv)))
    return command


class GoOps:
    """The go ops of WinSimHost (a mixin over host.HostBase)."""

    @_op("go.run", "exe", "args", "env", "cwd", "timeout", "expect_rc", "expect_stdout_prefix")
    def _go_run(self, a: Args) -> JsonDict:
        exe_path = a.path("exe")
        argv = a.strings("args", default=[])
        env = a.mapping("env") or {}
        if not all(isinstance(v, str) for v in env.values()):
            a.fail("env", "must map names to strings")
        given_cwd = a.optional_path("cwd")
        a.number("timeout", 120, 1, 86400)
        expect_rc = a.optional_number("expect_rc", -(2 ** 31), 2 ** 32 - 1)
        expect_prefix = a.text("expect_stdout_prefix", empty=True)
        exe = self.resolve(exe_path)
        if exe.kind != "file":
            raise OpFailure("not_found", "go.run: %s does not exist" % exe_path)
        if given_cwd is not None and self.resolve(given_cwd).kind != "directory":
            raise OpFailure("not_found", "go.run: cwd %s does not exist" % given_cwd)
        # Without cwd the program runs in %SystemRoot%\System32, never in the agent's own folder.
        cwd = given_cwd if given_cwd is not None else parse_path(DEFAULT_CWD, "cwd")
        machine = self._pe_of(exe)
        if machine is None:
            raise OpFailure("exec_failed", "go.run: %s is not a valid Win32 application" % exe_path)
        if machine not in RUNNABLE[self.arch]:
            raise OpFailure("exec_failed", "go.run: %s is a %s program, which this %s host cannot run" % (exe_path, machine, self.arch))
        command = _go_command(argv)
        environ = self._new_process_env()
        for name, value in env.items():
            if value == "":
                environ.remove(name)
            else:
                environ.set(name, value)
        version_file = exe_path.parent.parent.child("VERSION")
        version_node = self.resolve(version_file)
        if version_node.kind != "file":
            raise OpFailure("unsupported", "go.run: winsim models the Go version from %s, which does not exist" % version_file)
        go = GoCall(exe_path, machine, decode_text(self._read_head(version_node, 4096)).split("\n", 1)[0].strip(), environ, cwd)
        models: dict[str, Callable[[GoCall, GoCommand], tuple[int, str, str, str]]] = {
            "version": self._go_version, "env": self._go_env, "mod init": self._go_mod_init, "build": self._go_build,
        }
        rc, stdout, stderr, modelled_from = models[command.verb](go, command)
        if expect_rc is not None and expect_rc not in (rc, rc & 0xFFFFFFFF):
            tail = "; stderr: %s" % json.dumps(stderr[:400]) if stderr else ""
            raise OpFailure("verify_failed", "go.run: rc is %d, expected %d%s" % (rc, expect_rc, tail))
        if expect_prefix is not None and not stdout.startswith(expect_prefix):
            raise OpFailure("verify_failed", "go.run: stdout %s does not start with %s" % (json.dumps(stdout[:200]), json.dumps(expect_prefix)))
        return {"rc": rc, "stdout": stdout, "stderr": stderr, "cwd": str(cwd), "modelled": True, "modelled_from": modelled_from}

    def _text_of(self, path_text: str) -> str | None:
        """The text of a file named by a path from the environment (None when it is not an absolute path to a file)."""
        try:
            path = parse_path(path_text, "path")
        except OpFailure:
            return None
        node = self.resolve(path)
        if node.kind != "file":
            return None
        with open(node.host_path, "rb") as handle:
            return decode_text(handle.read())

    def _go_view(self, go: GoCall) -> dict[str, str]:
        """go_env_view() of the modelled toolchain, with the files it reads taken from the model."""
        environ = go.environ
        goroot = environ.get("GOROOT") or str(go.goroot)
        appdata = environ.get("APPDATA") or ""
        goenv = environ.get("GOENV")
        if goenv == "off":
            user_env_text = None
        else:
            user_env_file = goenv or (appdata + "\\go\\env" if appdata else "")
            user_env_text = self._text_of(user_env_file) if user_env_file else None
        return go_env_view(
            environ.as_dict(), user_env_text, self._text_of(goroot + "\\go.env"),
            goroot=goroot, version=go.version, goarch=go.machine, user_profile=environ.get("USERPROFILE") or "",
            appdata=appdata, local_appdata=environ.get("LOCALAPPDATA") or "",
        )

    def _go_version(self, go: GoCall, command: GoCommand) -> tuple[int, str, str, str]:
        stdout = "go version %s windows/%s\n" % (go.version, go.machine)
        return 0, stdout, "", "%s (first line) and the PE machine of %s" % (go.version_file, go.exe)

    def _go_env(self, go: GoCall, command: GoCommand) -> tuple[int, str, str, str]:
        view = self._go_view(go)
        names = command.params
        if command.as_json:
            stdout = go_json({n: view.get(n, "") for n in names} if names else view)
        else:
            stdout = "".join(view.get(n, "") + "\n" for n in names)
        modelled_from = "go_env_view() of the process environment (registry and env argument), %s, %s, the go env files and the PE machine of %s" % (
            go.version_file, go.goroot, go.exe)
        return 0, stdout, "", modelled_from

    def _go_mod_init(self, go: GoCall, command: GoCommand) -> tuple[int, str, str, str]:
        cwd = go.cwd
        params = command.params
        mod_file = cwd.child("go.mod")
        modelled_from = "go mod init as Go does it, with the version of %s" % go.version_file
        if len(params) > 1:
            return 1, "", "go: 'go mod init' accepts at most one argument\n", modelled_from
        if self.resolve(mod_file).exists:
            return 1, "", "go: %s already exists\n" % mod_file, modelled_from
        if not params or not params[0]:
            return 1, "", GO_MOD_INIT_USAGE % cwd, modelled_from
        text = "module %s\n\ngo %s\n" % (params[0], go.version[2:] if go.version.startswith("go") else go.version)
        try:
            self._write_atomic(mod_file, text.encode("utf-8"), "go mod init")
        except OpFailure as failure:
            return 1, "", "go: %s\n" % failure.message, modelled_from
        stderr = "go: creating new go.mod: module %s\n" % params[0]
        if any((kind == "directory" or name.lower().endswith(".go")) and not name.startswith((".", "_"))
               for name, kind in self._children(self.resolve(cwd))):
            stderr += "go: to add module requirements and sums:\n\tgo mod tidy\n"
        return 0, "", stderr, modelled_from

    def _go_build(self, go: GoCall, command: GoCommand) -> tuple[int, str, str, str]:
        cwd = go.cwd
        out_arg = command.out
        modelled_from = "go build as a stand-in PE image, from go.mod, the .go files in %s and GOOS/GOARCH of go_env_view()" % cwd
        folder = cwd
        while self.resolve(folder.child("go.mod")).kind != "file":
            if folder.is_root:
                return 1, "", "go: go.mod file not found in current directory or any parent directory; see 'go help modules'\n", modelled_from
            folder = folder.parent
        mod_text = self._text_of(str(folder.child("go.mod"))) or ""
        cwd_node = self.resolve(cwd)
        sources = [name for name, kind in self._children(cwd_node) if kind == "file" and name.lower().endswith(".go")
                   and not name.lower().endswith("_test.go") and not name.startswith((".", "_"))]
        if not sources:
            return 1, "", "no Go files in %s\n" % cwd, modelled_from
        if not any(re.search(r"^\s*package\s+main\b", self._text_of(str(cwd.child(n))) or "", re.M) for n in sources):
            raise OpFailure("unsupported", "go.run: winsim models 'go build' of a main package only; no .go file in %s says package main" % cwd)
        view = self._go_view(go)
        goos, goarch = view.get("GOOS") or "windows", view.get("GOARCH") or go.machine
        if goos != "windows" or goarch not in PE_CODES:
            raise OpFailure("unsupported", "go.run: winsim models 'go build' for windows/amd64, arm64 and 386 only, not %s/%s" % (goos, goarch))
        found = re.search(r"^\s*module\s+\"?([^\s\"]+)", mod_text, re.M)
        import_path = "/".join([found.group(1) if found else folder.name, *cwd.parts[len(folder.parts):]])
        elements = import_path.split("/")
        name = elements[-2] if len(elements) > 1 and re.fullmatch(r"v[0-9]+", elements[-1]) else elements[-1]
        if out_arg is None:
            out = cwd.child(name + ".exe")
        else:
            text = out_arg.replace("/", "\\")
            if text.startswith("\\") and not text.startswith("\\\\"):
                text = cwd.drive + ":" + text
            elif not _DRIVE_PATH.match(text) and not text.startswith("\\\\"):
                text = str(cwd) + "\\" + text
            out = parse_path(text, "args")
            if text.endswith("\\") or self.resolve(out).kind == "directory":
                out = out.child(name + ".exe")
        try:
            self._write_atomic(out, stand_in_pe(goarch), "go build")
        except OpFailure as failure:
            if failure.kind == "in_use":
                return 1, "", "go: open %s: The process cannot access the file because it is being used by another process.\n" % out, modelled_from
            return 1, "", "go: %s\n" % failure.message, modelled_from
        return 0, "", "", modelled_from
