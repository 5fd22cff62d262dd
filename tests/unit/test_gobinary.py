# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's binary inspection (_gobinary) on real Go builds of tests/fixtures/go/*.

The binaries are built by tests/fixtures/build.py (cached in .tmp/fixtures/); without a Go
toolchain the tests that need them are skipped with the reason. Build info is compared with what
``go version -m`` prints for the same file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import struct
import subprocess

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _gobinary as gb

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("gowin_fixture_build", os.path.join(HERE, "..", "fixtures", "build.py"))
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

PROGRAMS = ("svcnative", "consolehttp", "cli")
MACHINE_IDS = {"amd64": 0x8664, "arm64": 0xAA64, "386": 0x14C}


@pytest.fixture(scope="session")
def go():
    try:
        go = build.go_binary()
        build.go_version(go)
        return go
    except build.GoMissing as e:
        pytest.skip("real Go test binaries unavailable: %s" % e)


@pytest.fixture(scope="session")
def binaries(go):
    return build.build_all(go)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def go_version_m(go: str, path: str) -> dict:
    """`go version -m` output parsed independently of _gobinary (tab-separated columns)."""
    out = subprocess.run([go, "version", "-m", path], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    lines = out.rstrip("\n").split("\n")
    assert lines[0].startswith(path + ": "), "go version -m did not read %s: %r" % (path, out)
    res = {"go_version": lines[0].rsplit(": ", 1)[1], "path": "", "main": None, "deps": [], "settings": {}}
    for line in lines[1:]:
        cols = line[1:].split("\t")  # each line is indented with one tab
        word = cols[0]
        if word == "path":
            res["path"] = cols[1]
        elif word in ("mod", "dep"):
            mod = {"path": cols[1], "version": cols[2] if len(cols) > 2 else "",
                   "sum": cols[3] if len(cols) > 3 else "", "replace": None}
            if word == "mod":
                res["main"] = mod
            else:
                res["deps"].append(mod)
        elif word == "build":
            key, _sep, value = cols[1].partition("=")
            if value.startswith('"'):
                value = json.loads(value)  # strconv.Quote of ASCII text reads back as a JSON string
            res["settings"][key] = value
    return res


# ---------------------------------------------------------------------------------------------
# Real binaries


@pytest.mark.parametrize("arch", build.ARCHES)
@pytest.mark.parametrize("prog", PROGRAMS)
def test_pe_headers_per_arch(binaries, prog, arch):
    res = gb.inspect_file(binaries["%s-%s" % (prog, arch)])
    assert res["machine"] == arch
    assert res["machine_id"] == MACHINE_IDS[arch]
    assert res["pe_format"] == ("PE32" if arch == "386" else "PE32+")
    assert res["subsystem"] == "console" and res["subsystem_id"] == 3
    assert res["dll"] is False
    assert res["go"] is True
    assert res["notes"] == []


@pytest.mark.parametrize("name", sorted(build.variants()))
def test_build_info_equals_go_version_m(go, binaries, name):
    prog, arch, _flags = build.variants()[name]
    bi = gb.inspect_file(binaries[name])["build_info"]
    expected = go_version_m(go, binaries[name])
    assert bi["format"] == "inline"
    for key in ("go_version", "path", "main", "deps", "settings"):
        assert bi[key] == expected[key], key
    assert list(bi["settings"]) == list(expected["settings"])  # same order as go version -m
    assert bi["path"] == "example.com/" + prog
    assert bi["main"] == {"path": "example.com/" + prog, "version": "(devel)", "sum": "", "replace": None}
    assert bi["settings"]["GOOS"] == "windows"
    assert bi["settings"]["GOARCH"] == arch
    assert bi["settings"]["CGO_ENABLED"] == "0"
    assert bi["go_version"] == build.go_version(go).split()[2]


def test_ldflags_and_trimpath_settings(go, binaries):
    stripped = gb.inspect_file(binaries["svcnative-stripped-amd64"])["build_info"]["settings"]
    assert stripped["-ldflags"] == "-s -w"  # go version -m shows it quoted: -ldflags="-s -w"
    trim = gb.inspect_file(binaries["cli-trimpath-amd64"])
    assert trim["build_info"]["settings"]["-trimpath"] == "true"
    # cmd/go leaves -ldflags out of the build info under -trimpath (go.dev/issue/52372); the -X
    # value is in the bytes all the same.
    assert "-ldflags" not in trim["build_info"]["settings"]
    assert b"1.2.3" in _read(binaries["cli-trimpath-amd64"])


@pytest.mark.parametrize("arch", build.ARCHES)
@pytest.mark.parametrize("prog,dispatches,rule", [
    ("svcnative", True, "own-call"), ("consolehttp", False, "none"), ("cli", False, "none")])
def test_scm_verdict_on_real_binaries(binaries, prog, arch, dispatches, rule):
    scm = gb.inspect_file(binaries["%s-%s" % (prog, arch)])["scm"]
    assert scm["dispatches"] is dispatches, scm
    assert scm["rule"] == rule
    assert scm["evidence"]
    assert scm["strings_found"] == (["StartServiceCtrlDispatcherW"] if dispatches else [])


def test_stripped_binary_still_has_function_names_from_pclntab(binaries):
    data = _read(binaries["svcnative-stripped-amd64"])
    res = gb.inspect(data)
    assert res["symbols"]["coff_symbols"] == 0  # -s: no COFF symbol table
    assert res["symbols"]["pclntab"]["magic"] == "0xfffffff0"  # Go 1.18-1.19 header
    assert res["symbols"]["functions"] > 1000
    names = set(gb.function_names(data)["pclntab"])
    assert {"main.main", "main.serviceMain", "main.handler", "main.setStatus", "runtime.main",
            "syscall.NewCallback"} <= names
    assert res["scm"]["dispatches"] is True


@pytest.mark.parametrize("arch", build.ARCHES)
def test_pclntab_names_agree_with_coff_symbols(binaries, arch):
    """On an unstripped build, every main.* function the pclntab names is also a COFF symbol."""
    names = gb.function_names(_read(binaries["cli-%s" % arch]))
    assert names["coff"], "unstripped build has a COFF symbol table"
    pcln_main = {n for n in names["pclntab"] if n.startswith("main.")}
    assert {"main.main"} <= pcln_main <= set(names["coff"])


def _pe_sections(data: bytes):
    pe = gb._parse_pe(data)
    return pe, {s.name: s for s in pe["sections"]}


def test_pointer_format_build_info(go, binaries, tmp_path):
    """The pre-1.18 blob (pointers to Go string headers) on a real build rewritten to that format.

    Go 1.19 only writes the inline format, so the blob of a real binary is rewritten in place:
    flags 0 (little endian, pointers), two string headers and the string bytes after the header.
    `go version -m` (which still reads the pointer format) must agree.
    """
    data = bytearray(_read(binaries["cli-amd64"]))
    pe, sects = _pe_sections(bytes(data))
    s = sects[".data"]
    i = data.find(gb.BUILDINFO_MAGIC, s.raw_off, s.raw_off + s.raw_size)
    vers, nxt = gb._decode_string(bytes(data), i + 32, s.raw_off + s.raw_size)
    mod, end = gb._decode_string(bytes(data), nxt, s.raw_off + s.raw_size)

    def va(off: int) -> int:
        return pe["image_base"] + s.vaddr + (off - s.raw_off)

    hdr_v, hdr_m, str_v = i + 32, i + 48, i + 64
    str_m = str_v + len(vers)
    data[i + 15] = 0
    struct.pack_into("<QQ", data, i + 16, va(hdr_v), va(hdr_m))
    struct.pack_into("<QQ", data, hdr_v, va(str_v), len(vers))
    struct.pack_into("<QQ", data, hdr_m, va(str_m), len(mod))
    data[str_v:str_m + len(mod)] = vers + mod
    exe = tmp_path / "pointer.exe"
    exe.write_bytes(bytes(data))
    exe.chmod(0o755)  # go version skips files without an executable bit

    bi = gb.inspect(bytes(data))["build_info"]
    assert bi["format"] == "pointer"
    expected = go_version_m(go, str(exe))
    for key in ("go_version", "path", "main", "deps", "settings"):
        assert bi[key] == expected[key], key
    assert bi["settings"]["GOARCH"] == "amd64"


def test_twenty_megabytes_with_an_overlay(binaries):
    """A 20 MB file (random overlay after the image) is read for the same findings; its speed goal
    (under 0.75 s) is measured by `make bench`, not asserted here."""
    data = _read(binaries["consolehttp-amd64"])
    rng = random.Random(7)
    big = data + rng.randbytes(20 * 1024 * 1024 - len(data))
    res = gb.inspect(big)
    assert res["build_info"]["path"] == "example.com/consolehttp"
    assert res["scm"]["dispatches"] is False


def test_truncated_and_flipped_real_binary_only_binary_error(binaries):
    """Fuzz-ish: truncations at many offsets and byte flips give a result or BinaryError, nothing else."""
    data = _read(binaries["svcnative-stripped-amd64"])
    res = gb.inspect(data)
    pcl = res["symbols"]["pclntab"]["offset"]
    _pe, sects = _pe_sections(data)
    bi = data.find(gb.BUILDINFO_MAGIC, sects[".data"].raw_off)
    rng = random.Random(1053)
    cuts = list(range(0, 1024, 7)) + [rng.randrange(len(data)) for _cut in range(40)]
    cuts += [pcl + k for k in range(0, 80, 3)] + [bi + k for k in range(0, 64, 3)]
    hot = list(range(0, 1024)) + list(range(pcl, pcl + 80)) + list(range(bi, bi + 300))
    outcomes = {"result": 0, "error": 0}

    def attempt(blob: bytes) -> None:
        try:
            out = gb.inspect(blob)
        except gb.BinaryError as e:
            assert str(e)
            outcomes["error"] += 1
        else:
            assert isinstance(out, dict) and isinstance(out["scm"]["dispatches"], bool)
            outcomes["result"] += 1

    for cut in cuts:
        attempt(data[:cut])
    for _case in range(250):
        blob = bytearray(data)
        for _edit in range(rng.randint(1, 8)):
            pos = rng.choice(hot) if rng.random() < 0.8 else rng.randrange(len(blob))
            blob[pos] = rng.choice((0, 0xFF, rng.randrange(256), blob[pos] ^ (1 << rng.randrange(8))))
        attempt(bytes(blob))
    assert outcomes["result"] and outcomes["error"]


# ---------------------------------------------------------------------------------------------
# Hand-made inputs (no Go needed)


def _dos_stub(e_lfanew: int = 64, size: int = 128) -> bytearray:
    b = bytearray(size)
    b[:2] = b"MZ"
    struct.pack_into("<I", b, 0x3C, e_lfanew)
    return b


@pytest.mark.parametrize("blob,message", [
    (b"", "shorter than a DOS header"),
    (b"#!/bin/sh\necho hi\n", "shorter than a DOS header"),
    (b"\x7fELF" + b"\0" * 200, "no 'MZ' signature"),
    (bytes(_dos_stub(e_lfanew=0x10000)), "e_lfanew points to offset 65536, beyond the end"),
    (bytes(_dos_stub()), "no 'PE\\\\0\\\\0' signature at offset 64"),
])
def test_not_pe_refused(blob, message):
    with pytest.raises(gb.BinaryError, match=message):
        gb.inspect(blob)


def test_bad_optional_header_and_truncated_sections_refused():
    b = _dos_stub(size=64 + 24 + 2)
    b[64:68] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", b, 68, 0x8664, 1, 0, 0, 0, 240, 0x22)
    struct.pack_into("<H", b, 88, 0x107)
    with pytest.raises(gb.BinaryError, match="optional header magic 0x107"):
        gb.inspect(bytes(b))
    struct.pack_into("<H", b, 88, 0x20B)
    with pytest.raises(gb.BinaryError, match="truncated PE image: the optional header ends"):
        gb.inspect(bytes(b))
    b += bytes(240)
    with pytest.raises(gb.BinaryError, match="1 section headers at offset 328 do not fit"):
        gb.inspect(bytes(b))
    b += bytes(40)
    struct.pack_into("<H", b, 88 + 68, 2)
    res = gb.inspect(bytes(b))  # a minimal valid PE32+ header: not a Go binary
    assert (res["machine"], res["pe_format"], res["subsystem"], res["go"]) == ("amd64", "PE32+", "gui", False)
    assert res["scm"]["dispatches"] is False and res["scm"]["rule"] == "none"
    struct.pack_into("<H", b, 68, 0x1C4)
    struct.pack_into("<H", b, 88 + 68, 16)
    res = gb.inspect(bytes(b))
    assert (res["machine"], res["machine_id"], res["subsystem"]) == ("unknown", 0x1C4, 16)


def test_inspect_rejects_non_bytes():
    with pytest.raises(TypeError):
        gb.inspect("MZ")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The SCM decision (pure): x/sys is not available offline, so its rules are tested on inputs.

XSYS_DEP = {"path": "golang.org/x/sys", "version": "v0.15.0", "sum": "h1:x=", "replace": None}


@pytest.mark.parametrize("funcs,deps,strings,dispatches,rule", [
    # x/sys/windows/svc.Run linked in: yes (x/sys also names StartServiceCtrlDispatcherW).
    (["main.main", gb.SVC_RUN], [XSYS_DEP], ["StartServiceCtrlDispatcherW"], True, "x/sys/windows/svc"),
    # x/sys without svc.Run: the string is x/sys's declaration, not a call: no.
    (["main.main", "golang.org/x/sys/windows.GetVersion"], [XSYS_DEP], ["StartServiceCtrlDispatcherW"], False,
     "x/sys-without-svc"),
    # x/sys as a plain module path string, no svc: no.
    (["main.main"], ["golang.org/x/sys"], ["StartServiceCtrlDispatcherW"], False, "x/sys-without-svc"),
    # x/sys replaced by a fork still counts as x/sys.
    (["main.main"], [{"path": "golang.org/x/sys", "version": "v0.1.0", "sum": "",
                      "replace": {"path": "example.com/sysfork", "version": "v0.1.0", "sum": ""}}],
     ["StartServiceCtrlDispatcherW"], False, "x/sys-without-svc"),
    # x/sys functions seen but no build info (deps unknown): still x/sys: no.
    (["golang.org/x/sys/windows.StartServiceCtrlDispatcher"], [], ["StartServiceCtrlDispatcherW"], False,
     "x/sys-without-svc"),
    # Own call without x/sys: yes.
    (["main.main"], [], ["StartServiceCtrlDispatcherW"], True, "own-call"),
    (None, [], ["StartServiceCtrlDispatcherW"], True, "own-call"),
    # kardianos/service: yes.
    (["github.com/kardianos/service.(*windowsService).Run"], [XSYS_DEP,
     {"path": "github.com/kardianos/service", "version": "v1.2.2", "sum": "", "replace": None}],
     ["StartServiceCtrlDispatcherW"], True, "kardianos/service"),
    # GOPATH-era vendored x/sys svc: yes.
    (["example.com/app/vendor/golang.org/x/sys/windows/svc.Run"], [], [], True, "x/sys/windows/svc"),
    # x/sys present but the function table unreadable: not confirmed.
    (None, [XSYS_DEP], ["StartServiceCtrlDispatcherW"], False, "unknown"),
    # Nothing at all.
    (["main.main"], [], [], False, "none"),
    ([], None, None, False, "none"),
])
def test_scm_verdict_rules(funcs, deps, strings, dispatches, rule):
    v = gb.scm_verdict(funcs, deps, strings)
    assert v["dispatches"] is dispatches
    assert v["rule"] == rule
    assert v["evidence"]


def test_scm_verdict_svc_run_must_be_exact():
    v = gb.scm_verdict(["golang.org/x/sys/windows/svc.IsWindowsService"], [XSYS_DEP], ["StartServiceCtrlDispatcherW"])
    assert v["dispatches"] is False and v["rule"] == "x/sys-without-svc"


# ---------------------------------------------------------------------------------------------
# modinfo parsing


def test_parse_modinfo_quoting_and_replacements():
    mod = "\n".join([
        "path\texample.com/app/cmd/app",
        "mod\texample.com/app\tv1.4.0\th1:main=",
        "dep\tgolang.org/x/sys\tv0.15.0\th1:sys=",
        "dep\texample.com/lib\tv1.0.0\th1:lib=",
        "=>\t../lib\t(devel)\t",
        "build\t-compiler=gc",
        'build\t-ldflags="-X main.version=1.2.3 -X \\"main.who=a b\\""',
        'build\t"we=ird key"=v\\x41',
        "build\tvcs=git",
        "build\tvcs.revision=0123456789abcdef0123456789abcdef01234567",
        "build\tvcs.modified=false",
        "build\tnoequals",
        "unknown\tline",
        "",
    ])
    info = gb.parse_modinfo(mod, "go1.22.5")
    assert info["go_version"] == "go1.22.5"
    assert info["path"] == "example.com/app/cmd/app"
    assert info["main"] == {"path": "example.com/app", "version": "v1.4.0", "sum": "h1:main=", "replace": None}
    assert info["deps"] == [
        {"path": "golang.org/x/sys", "version": "v0.15.0", "sum": "h1:sys=", "replace": None},
        {"path": "example.com/lib", "version": "v1.0.0", "sum": "h1:lib=",
         "replace": {"path": "../lib", "version": "(devel)", "sum": ""}},
    ]
    assert info["settings"] == {
        "-compiler": "gc", "-ldflags": '-X main.version=1.2.3 -X "main.who=a b"', "we=ird key": "v\\x41",
        "vcs": "git", "vcs.revision": "0123456789abcdef0123456789abcdef01234567", "vcs.modified": "false",
    }
    assert gb._go_unquote('"a\\tb\\x41\\u00e9\\101"') == "a\tbA\u00e9A"


def test_go_missing_is_reported(monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(build.GoMissing, match="not on PATH"):
        build.go_binary()
