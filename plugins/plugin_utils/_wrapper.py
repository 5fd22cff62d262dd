# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Wrapper mode of win_service_go: a plain console program run as a service by a service wrapper the user
supplies (the collection ships none). Two kinds:

- shawl (github.com/mtkennerly/shawl, Rust): configured entirely by its command line, which becomes the
  service's image path: ``shawl.exe run [options] -- program args...``. On a stop it sends the program a
  Ctrl+C event and ends it after ``--stop-timeout`` ms. ``--log-rotate``/``--log-retain``/``--log-as``/
  ``--log-cmd-as`` came with shawl 1.4, ``--kill-process-tree`` with 1.8: what a binary offers is read
  from the option names clap keeps in it.
- WinSW (github.com/winsw/winsw, .NET): reads ``<its base name>.xml`` next to its executable; the image
  path is the executable alone. On a stop it sends Ctrl+C and ends the program after ``<stoptimeout>``.

Both are told apart by what their binaries hold (``recognise``); the collection's test stand-ins
(tests/fixtures/go/wrapper) say which one they stand for with ``gowin-wrapper-kind:<kind>``. Restarts are
left to the SCM's recovery actions (shawl ``--no-restart``, WinSW ``<onfailure action="none"/>``), which
then count a program's non-zero exit as a failure (FailureActionsOnNonCrashFailures). The environment is
the service's own (the SCM gives it to the wrapper; the program inherits it): nothing secret is written
into an image path or a file.
"""

from __future__ import annotations

import re
import typing as t
from xml.sax.saxutils import escape

from ansible_collections.gowin.server.plugins.plugin_utils._service_plan import ServiceError, _known_keys, _whole
from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import command_line

KINDS = ("shawl", "winsw")
STANDIN = re.compile(rb"gowin-wrapper-kind:(shawl|winsw)\b")
SHAWL_TEXT = b"Wrap arbitrary commands as Windows services"
WINSW_NAMES = (b"WinSW", "WinSW".encode("utf-16-le"))
WINSW_TEXT = (b"Windows Service Wrapper", "Windows Service Wrapper".encode("utf-16-le"))
SHAWL_FEATURES = ("log-rotate", "log-retain", "log-as", "log-cmd-as", "kill-process-tree")
OPTIONS = ("kind", "src", "url", "path", "checksum", "ctrl_c_timeout_s", "log_rotate_bytes", "log_retain")
DEFAULT_ROTATE = 10 * 1024 * 1024
DEFAULT_RETAIN = 5
DEFAULT_CTRL_C = 10


# A wrapper option or binary the module refuses (the message names the option): the service planner's error.
WrapperError = ServiceError


def recognise(data: bytes) -> dict:
    """What a wrapper binary is: {"kind": "shawl" | "winsw" | None, "evidence", "standin", "features"}."""
    found = STANDIN.search(data)
    standin = found is not None
    kind = found.group(1).decode("ascii") if found else None
    evidence = "the gowin test stand-in marker gowin-wrapper-kind:%s" % kind if found else ""
    if kind is None and SHAWL_TEXT in data:
        kind, evidence = "shawl", "shawl's description %r" % SHAWL_TEXT.decode("ascii")
    if kind is None and any(n in data for n in WINSW_NAMES) and any(t_ in data for t_ in WINSW_TEXT):
        kind, evidence = "winsw", "the names WinSW and Windows Service Wrapper"
    features: list[str] = []
    if kind == "shawl":
        # clap keeps each long option's name as a string literal; Rust packs literals without separators
        features = [f for f in SHAWL_FEATURES if f.encode("ascii") in data]
    return {"kind": kind, "evidence": evidence or "neither shawl's description nor WinSW's names", "standin": standin,
            "features": features}


def wrapper_of(wrapper: dict | None, service_protocol: str, stop_timeout_s: int, release: bool = False) -> dict | None:
    """The wrapper option checked against service_protocol; None outside wrapper mode. With `release` (the task names
    a release on the host) the wrapper binary is the one in that release's folder: src, url and path are refused."""
    if service_protocol != "wrapper":
        if wrapper is not None:
            raise WrapperError("wrapper is used only with service_protocol: wrapper (it is %s)" % service_protocol)
        return None
    if wrapper is None:
        raise WrapperError("service_protocol: wrapper needs wrapper: its kind (shawl or winsw) and the wrapper binary "
                           "(src, url or path)")
    if not isinstance(wrapper, dict):
        raise WrapperError("wrapper must be a mapping with kind and one of src, url or path")
    _known_keys("wrapper", wrapper, OPTIONS)
    kind = wrapper.get("kind")
    if kind not in KINDS:
        raise WrapperError("wrapper kind must be shawl or winsw, got %r" % (kind,))
    given = [k for k in ("src", "url", "path") if wrapper.get(k) is not None]
    if release:
        if given:
            raise WrapperError("wrapper %s is not used with release: the release's folder holds its wrapper binary; give wrapper "
                               "kind (and its options, checksum among them) only" % ", ".join(given))
        return dict(_wrapper_options(wrapper, stop_timeout_s), kind=kind, source="release", checksum=wrapper.get("checksum"))
    if len(given) != 1:
        raise WrapperError("wrapper needs exactly one of src, url or path (the wrapper binary), got %s" % (", ".join(given) or "none"))
    for key in given:
        if not isinstance(wrapper[key], str) or not wrapper[key].strip():
            raise WrapperError("wrapper %s must be a non-empty string" % key)
    plan: dict[str, t.Any] = {"kind": kind, "source": given[0], given[0]: wrapper[given[0]], "checksum": wrapper.get("checksum")}
    plan.update(_wrapper_options(wrapper, stop_timeout_s))
    return plan


def _wrapper_options(wrapper: dict, stop_timeout_s: int) -> dict:
    """The wrapper's options besides its kind and binary, checked (defaults filled in)."""
    plan: dict[str, t.Any] = {}
    ctrl_c = wrapper.get("ctrl_c_timeout_s")
    plan["ctrl_c_timeout_s"] = DEFAULT_CTRL_C if ctrl_c is None else _whole("wrapper ctrl_c_timeout_s", ctrl_c, 1, 3600)
    if plan["ctrl_c_timeout_s"] >= stop_timeout_s:
        raise WrapperError("wrapper ctrl_c_timeout_s (%d) must be shorter than stop_timeout_s (%d): the SCM stop would end the "
                           "wrapper before it ends the program it sent Ctrl+C to" % (plan["ctrl_c_timeout_s"], stop_timeout_s))
    plan["explicit"] = [k for k in ("log_rotate_bytes", "log_retain") if wrapper.get(k) is not None]
    rotate = wrapper.get("log_rotate_bytes")
    plan["log_rotate_bytes"] = DEFAULT_ROTATE if rotate is None else _whole("wrapper log_rotate_bytes", rotate, 1024, 2 ** 31 - 1)
    retain = wrapper.get("log_retain")
    plan["log_retain"] = DEFAULT_RETAIN if retain is None else _whole("wrapper log_retain", retain, 1, 100)
    return plan


def judge(plan: dict, found: dict, option: str) -> list[str]:
    """Refuse a wrapper binary that is not the kind asked for, or that cannot honour an option given (naming it);
    returns warnings for defaults it cannot honour."""
    if found["kind"] is None:
        raise WrapperError("%s is not a %s binary (%s found)" % (option, _title(plan["kind"]), found["evidence"]))
    if found["kind"] != plan["kind"]:
        raise WrapperError("wrapper kind is %s but %s is %s (%s)" % (plan["kind"], option, _title(found["kind"]), found["evidence"]))
    warnings: list[str] = []
    if plan["kind"] == "shawl":
        missing = [k for k in ("log-rotate", "log-retain", "log-as", "log-cmd-as") if k not in found["features"]]
        if missing:
            named = list(plan["explicit"])
            if named:
                given = ", ".join("wrapper " + n for n in named)
                raise WrapperError("%s: this shawl binary cannot honour %s (it has no --%s: shawl older than 1.4); use "
                                   "shawl 1.4 or newer, or leave %s unset" % (option, given, missing[0], " and ".join(named)))
            warnings.append("%s: this shawl binary has no --log-rotate (shawl older than 1.4): its logs go to the release "
                            "folder, unrotated; use shawl 1.4 or newer" % option)
        if "kill-process-tree" not in found["features"]:
            warnings.append("%s: this shawl binary has no --kill-process-tree (shawl older than 1.8): a stop ends the program "
                            "but not the processes it started" % option)
    return warnings


def _title(kind: str) -> str:
    return {"shawl": "shawl", "winsw": "WinSW"}.get(kind, kind)


def exe_name(name: str, kind: str) -> str:
    """The file name of a service's wrapper in its release folder."""
    return "%s-%s.exe" % (name, kind)


def check_release_kind(release: str, name: str, present: t.Sequence[str], asked: str | None) -> None:
    """Refuse a release (named by the release option) whose folder is not of the kind the task asks for: a wrapper
    release of the wrapper kind asked (`asked`), or a release without a wrapper in native mode (`asked` None).
    `present` are the kinds whose wrapper the folder holds."""
    if asked is None and present:
        raise WrapperError("release: release %s is a %s wrapper release (its folder holds the wrapper %s): name it with "
                           "service_protocol: wrapper and wrapper kind: %s, or name a release deployed without a wrapper"
                           % (release, _title(present[0]), exe_name(name, present[0]), present[0]))
    if asked is not None and not present:
        raise WrapperError("release: release %s is a native release (its folder holds no shawl or WinSW wrapper): with "
                           "service_protocol: wrapper, release must name a release deployed in wrapper mode with wrapper kind %s; "
                           "deploy the program under its wrapper with src, url or path instead" % (release, asked))
    if asked is not None and asked not in present:
        raise WrapperError("release: release %s is a %s wrapper release, not a %s one: set wrapper kind: %s to go back to it, or "
                           "name a %s release" % (release, _title(present[0]), _title(asked), present[0], _title(asked)))


def config_file(wrapper_exe: str) -> str:
    """WinSW's configuration: the executable's path with .xml for .exe."""
    return wrapper_exe[:-4] + ".xml"


def shawl_image_path(wrapper_exe: str, program: str, args: t.Sequence[str], name: str, plan: dict, features: t.Sequence[str],
                     data_dir: str, log_dir: str) -> str:
    """shawl's whole configuration as the service's image path."""
    argv = [wrapper_exe, "run", "--name", name, "--no-restart", "--stop-timeout", str(plan["ctrl_c_timeout_s"] * 1000),
            "--cwd", data_dir]
    if "log-rotate" in features:
        argv += ["--log-dir", log_dir, "--log-as", name + "-shawl", "--log-cmd-as", name,
                 "--log-rotate", "bytes=%d" % plan["log_rotate_bytes"], "--log-retain", str(plan["log_retain"])]
    if "kill-process-tree" in features:
        argv.append("--kill-process-tree")
    return command_line(argv + ["--", program, *args])


def winsw_config(program: str, args: t.Sequence[str], name: str, display_name: str, description: str | None, plan: dict,
                 data_dir: str, log_dir: str) -> str:
    """WinSW's XML (both v2 and v3 read these elements)."""
    def text(value: str) -> str:
        return escape(value, {'"': "&quot;"})

    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<!-- Written by gowin.server.win_service_go for the service %s; replaced as a whole when it differs. -->" % text(name).replace("--", "- -"),
        "<service>",
        "  <id>%s</id>" % text(name),
        "  <name>%s</name>" % text(display_name),
        "  <description>%s</description>" % text(description or display_name),
        "  <executable>%s</executable>" % text(program),
        "  <arguments>%s</arguments>" % text(command_line(args)) if args else "  <arguments></arguments>",
        "  <workingdirectory>%s</workingdirectory>" % text(data_dir),
        "  <logpath>%s</logpath>" % text(log_dir),
        '  <log mode="roll-by-size">',
        "    <sizeThreshold>%d</sizeThreshold>" % max(1, plan["log_rotate_bytes"] // 1024),
        "    <keepFiles>%d</keepFiles>" % plan["log_retain"],
        "  </log>",
        "  <stoptimeout>%d sec</stoptimeout>" % plan["ctrl_c_timeout_s"],
        "  <stopparentprocessfirst>true</stopparentprocessfirst>",
        '  <onfailure action="none" />',
        "</service>",
    ]
    return "\r\n".join(lines) + "\r\n"
