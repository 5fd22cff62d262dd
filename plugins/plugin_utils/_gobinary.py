# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

What the controller reads from a Windows executable before it may become a service: the PE
headers (machine, PE32/PE32+, subsystem), the Go build information as ``go version -m`` shows
it, the function names from Go's pclntab (present even with ``-ldflags=-s -w``) and the COFF
symbol table, and from those whether the program talks to the Service Control Manager.

Pure Python, standard library only, working on bytes (a file on the controller, or bytes read
from the host). Arbitrary, truncated or hostile input gives a result or a ``BinaryError``, never
another exception; the cost is a few ``bytes.find`` scans and ``struct`` reads, no per-byte loop.
"""

from __future__ import annotations

import hashlib
import re
import struct
import typing as t

__all__ = ["BinaryError", "function_names", "inspect", "inspect_file", "parse_modinfo", "scm_verdict"]


class BinaryError(Exception):
    """The bytes are not a PE image this module can read; the message says what is wrong."""


MACHINES = {0x8664: "amd64", 0xAA64: "arm64", 0x14C: "386"}
SUBSYSTEMS = {1: "native", 2: "gui", 3: "console"}
_PE32, _PE32PLUS = 0x10B, 0x20B

# Exceptions a malformed image can provoke in the readers below; they become BinaryError or a note.
_MALFORMED = (struct.error, IndexError, ValueError, OverflowError, KeyError, UnicodeError)

# cmd/go/internal/modload infoStart/infoEnd framing is 16 bytes on each side of the modinfo string.
BUILDINFO_MAGIC = b"\xff Go buildinf:"
_BUILDINFO_ALIGN = 16
_BUILDINFO_HEADER = 32
_BUILDINFO_WINDOW = 64 * 1024  # debug/buildinfo reads the first 64 kB of the data section

# pclntab header magics (debug/gosym): Go 1.2-1.15, 1.16-1.17, 1.18-1.19, 1.20 and later.
_PCLN_MAGICS = {0xFFFFFFFB: "go1.2-1.15", 0xFFFFFFFA: "go1.16-1.17", 0xFFFFFFF0: "go1.18-1.19",
                0xFFFFFFF1: "go1.20+"}
_MAX_CANDIDATES = 4096  # pclntab header candidates tried before giving up (hostile input)

SVC_RUN = "golang.org/x/sys/windows/svc.Run"
KARDIANOS = "github.com/kardianos/service"
XSYS = "golang.org/x/sys"
SCM_STRINGS = ("StartServiceCtrlDispatcherW", "StartServiceCtrlDispatcherA")


class _Section(t.NamedTuple):
    name: str
    vaddr: int
    vsize: int
    raw_size: int
    raw_off: int
    flags: int


# ---------------------------------------------------------------------------------------------
# PE headers


def _u16(d: bytes, o: int) -> int:
    return struct.unpack_from("<H", d, o)[0]


def _u32(d: bytes, o: int) -> int:
    return struct.unpack_from("<I", d, o)[0]


def _cstr(d: bytes, start: int, end: int | None = None) -> str:
    """The NUL-terminated string at ``start`` (not past ``end``), decoded leniently."""
    end = len(d) if end is None else min(end, len(d))
    if start < 0 or start >= end:
        return ""
    stop = d.find(b"\0", start, end)
    return d[start:end if stop < 0 else stop].decode("utf-8", "replace")


def _parse_pe(d: bytes) -> dict:
    n = len(d)
    if n < 64:
        raise BinaryError("not a PE image: %d bytes is shorter than a DOS header (64 bytes)" % n)
    if d[:2] != b"MZ":
        raise BinaryError("not a PE image: no 'MZ' signature at offset 0 (the file starts with %r)" % d[:4])
    pe = _u32(d, 0x3C)
    if pe + 24 > n:
        raise BinaryError("not a PE image: e_lfanew points to offset %d, beyond the end of the %d-byte file"
                          % (pe, n))
    if d[pe:pe + 4] != b"PE\0\0":
        raise BinaryError("not a PE image: no 'PE\\0\\0' signature at offset %d (found %r); an MS-DOS "
                          "or NE/LE executable is not accepted" % (pe, d[pe:pe + 4]))
    machine, nsect, _ts, symptr, nsyms, optsize, chars = struct.unpack_from("<HHIIIHH", d, pe + 4)
    opt = pe + 24
    if optsize < 2 or opt + 2 > n:
        raise BinaryError("truncated PE image: no optional header (SizeOfOptionalHeader %d)" % optsize)
    magic = _u16(d, opt)
    if magic == _PE32:
        pe_format, need = "PE32", 96
    elif magic == _PE32PLUS:
        pe_format, need = "PE32+", 112
    else:
        raise BinaryError("not a PE image: optional header magic 0x%x is neither PE32 (0x10b) nor PE32+ "
                          "(0x20b)" % magic)
    if optsize < need - 24:  # up to and including Subsystem/DllCharacteristics
        raise BinaryError("malformed PE image: optional header of %d bytes is too short for %s" % (optsize, pe_format))
    if opt + optsize > n:
        raise BinaryError("truncated PE image: the optional header ends at offset %d, beyond the end of the "
                          "%d-byte file" % (opt + optsize, n))
    image_base = _u32(d, opt + 28) if magic == _PE32 else struct.unpack_from("<Q", d, opt + 24)[0]
    subsystem_id = _u16(d, opt + 68)
    sect_off = opt + optsize
    if sect_off + 40 * nsect > n:
        raise BinaryError("truncated PE image: %d section headers at offset %d do not fit in the %d-byte file"
                          % (nsect, sect_off, n))
    strtab_off = symptr + 18 * nsyms if symptr and nsyms else 0
    sections = []
    for i in range(nsect):
        raw_name, vsize, vaddr, raw_size, raw_off, _r, _l, _nr, _nl, flags = struct.unpack_from(
            "<8sIIIIIIHHI", d, sect_off + 40 * i)
        name = raw_name.rstrip(b"\0").decode("utf-8", "replace")
        if name.startswith("/") and name[1:].isdigit() and strtab_off:
            name = _cstr(d, strtab_off + int(name[1:]))
        sections.append(_Section(name, vaddr, vsize, raw_size, raw_off, flags))
    return {
        "machine": MACHINES.get(machine, "unknown"),
        "machine_id": machine,
        "pe_format": pe_format,
        "subsystem": SUBSYSTEMS.get(subsystem_id, subsystem_id),
        "subsystem_id": subsystem_id,
        "dll": bool(chars & 0x2000),
        "image_base": image_base,
        "sections": sections,
        "symptr": symptr,
        "nsyms": nsyms,
    }


def _section_bytes(d: bytes, s: _Section) -> tuple[int, int]:
    """File range [start, end) of a section's raw data, clipped to the file."""
    start = min(s.raw_off, len(d))
    return start, min(start + s.raw_size, len(d))


def _read_va(d: bytes, pe: dict, addr: int, size: int) -> bytes | None:
    """``size`` bytes at virtual address ``addr`` (absolute, as Go stores pointers), or None."""
    rva = addr - pe["image_base"]
    for s in pe["sections"]:
        if s.vaddr <= rva < s.vaddr + s.raw_size:
            start, end = _section_bytes(d, s)
            off = start + (rva - s.vaddr)
            if off + size > end:
                return None
            return d[off:off + size]
    return None


# ---------------------------------------------------------------------------------------------
# Go build info


def _uvarint(d: bytes, o: int, end: int) -> tuple[int, int]:
    """encoding/binary.Uvarint of d[o:end]: (value, bytes used); used <= 0 on error."""
    x = shift = 0
    for i in range(10):
        if o + i >= end:
            return 0, 0
        b = d[o + i]
        if b < 0x80:
            if i == 9 and b > 1:
                return 0, -(i + 1)
            return x | (b << shift), i + 1
        x |= (b & 0x7F) << shift
        shift += 7
    return 0, -11


def _decode_string(d: bytes, o: int, end: int) -> tuple[bytes, int]:
    u, k = _uvarint(d, o, min(end, len(d)))
    if k <= 0 or u >= end - o - k:
        return b"", -1
    return d[o + k:o + k + u], o + k + u


def _data_section(pe: dict) -> _Section | None:
    """The first writable initialized-data section, as debug/buildinfo's peExe.DataStart picks it."""
    for s in pe["sections"]:
        if s.vaddr and s.raw_size and s.flags & ~0x600000 == 0xC0000040:
            return s
    return None


def _find_buildinfo(d: bytes, pe: dict) -> tuple[str, str, str] | None:
    """(go version, modinfo without framing, blob format) or None when this is not a Go binary."""
    sect = _data_section(pe)
    if sect is None:
        return None
    start, end = _section_bytes(d, sect)
    window = min(end, start + _BUILDINFO_WINDOW)
    i = d.find(BUILDINFO_MAGIC, start, window)
    while i >= 0 and (i - start) % _BUILDINFO_ALIGN:
        i = d.find(BUILDINFO_MAGIC, i + 1, window)
    if i < 0 or window - i < _BUILDINFO_HEADER:
        return None
    ptr_size, flags = d[i + 14], d[i + 15]
    if flags & 2:
        fmt = "inline"
        vers, nxt = _decode_string(d, i + _BUILDINFO_HEADER, end)
        mod = _decode_string(d, nxt, end)[0] if nxt >= 0 else b""
    else:
        fmt = "pointer"
        if ptr_size not in (4, 8):
            return None
        order = ">" if flags else "<"
        code = order + ("I" if ptr_size == 4 else "Q")

        def read_string(addr: int) -> bytes:
            hdr = _read_va(d, pe, addr, 2 * ptr_size)
            if hdr is None:
                return b""
            p, ln = struct.unpack_from(order + ("II" if ptr_size == 4 else "QQ"), hdr)
            if ln > len(d):
                return b""
            return _read_va(d, pe, p, ln) or b""

        vers = read_string(struct.unpack_from(code, d, i + 16)[0])
        mod = read_string(struct.unpack_from(code, d, i + 16 + ptr_size)[0])
    if not vers:
        return None
    if len(mod) >= 33 and mod[-17:-16] == b"\n":
        mod = mod[16:-16]
    else:
        mod = b""
    return vers.decode("utf-8", "replace"), mod.decode("utf-8", "replace"), fmt


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
            '"': '"', "'": "'"}
_ESC_RE = re.compile(r'\\(?:([abfnrtv\\"\'])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))')


def _go_unquote(s: str) -> str:
    """strconv.Unquote of a double-quoted Go string literal (lenient: bad input comes back as is)."""
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        return s
    body = s[1:-1]
    out = bytearray()
    pos = 0
    for m in _ESC_RE.finditer(body):
        out += body[pos:m.start()].encode("utf-8", "surrogatepass")
        simple, hx, octal, u4, u8 = m.groups()
        if simple:
            out += _ESCAPES[simple].encode()
        elif hx or octal:
            out.append(int(hx, 16) if hx else int(octal, 8) & 0xFF)
        else:
            cp = int(u4 or u8, 16)
            out += (chr(cp) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else "\ufffd").encode()
        pos = m.end()
    out += body[pos:].encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


def _quoted_prefix(s: str) -> str:
    """strconv.QuotedPrefix for a double-quoted string ('' when unterminated)."""
    i = 1
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == '"':
            return s[:i + 1]
        i += 1
    return ""


def _module(fields: list[str]) -> dict:
    return {"path": fields[0] if fields else "", "version": fields[1] if len(fields) > 1 else "",
            "sum": fields[2] if len(fields) > 2 else "", "replace": None}


def parse_modinfo(mod: str, go_version: str = "") -> dict:
    """The modinfo string (debug.BuildInfo.String() form) as a dict; unknown lines are ignored."""
    info: dict = {"go_version": go_version, "path": "", "main": None, "deps": [], "settings": {}}
    last: dict | None = None
    for line in mod.split("\n"):
        word, _sep, rest = line.partition("\t")
        if word == "go":
            info["go_version"] = info["go_version"] or rest
        elif word == "path":
            info["path"] = rest
        elif word == "mod":
            last = info["main"] = _module(rest.split("\t"))
        elif word == "dep":
            last = _module(rest.split("\t"))
            info["deps"].append(last)
        elif word == "=>" and last is not None:
            rep = _module(rest.split("\t"))
            del rep["replace"]
            last["replace"] = rep
        elif word == "build":
            if rest.startswith('"'):
                qkey = _quoted_prefix(rest)
                if not qkey or rest[len(qkey):len(qkey) + 1] != "=":
                    continue
                key, value = _go_unquote(qkey), rest[len(qkey) + 1:]
            else:
                key, sep, value = rest.partition("=")
                if not sep:
                    continue
            if value.startswith('"'):
                value = _go_unquote(value)
            info["settings"][key] = value
    return info


# ---------------------------------------------------------------------------------------------
# Function names: Go pclntab and COFF symbols


def _pclntab_names(d: bytes, off: int, magic: int, ptr: int) -> list[str] | None:
    """Function names of the pclntab candidate at file offset ``off``, or None when it does not hold."""
    word = "<I" if ptr == 4 else "<Q"
    rest = len(d) - off

    def w(i: int) -> int:
        return struct.unpack_from(word, d, off + 8 + i * ptr)[0]

    if magic in (0xFFFFFFF0, 0xFFFFFFF1, 0xFFFFFFFA):
        # 1.18+: nfunc, nfiles, textStart, funcnameOffset, cuOffset, filetabOffset, pctabOffset,
        # pclnOffset; 1.16-1.17 has no textStart. The name table is NUL-terminated strings.
        modern = magic != 0xFFFFFFFA
        nwords = 8 if modern else 7
        if rest < 8 + nwords * ptr:
            return None
        vals = [w(i) for i in range(nwords)]
        nfunc = vals[0]
        funcname, cu, filetab, pctab, pcln = vals[-5:]
        hdr = 8 + nwords * ptr
        if not (0 < nfunc < 1 << 24 and hdr <= funcname < cu <= filetab <= pctab <= pcln < rest):
            return None
        entry = 8 if modern else 2 * ptr  # functab entry: (entryoff, funcoff) uint32 or uintptr pairs
        if pcln + (nfunc + 1) * entry > rest:
            return None
        # Check the first function: its _func.nameOff must point into the name table.
        funcoff = struct.unpack_from("<I" if modern else word, d, off + pcln + (4 if modern else ptr))[0]
        fpos = off + pcln + funcoff + (4 if modern else ptr)
        if fpos + 4 > len(d):
            return None
        nameoff = struct.unpack_from("<i", d, fpos)[0]
        if not 0 <= nameoff < cu - funcname:
            return None
        table = d[off + funcname:off + cu]
        return [n.decode("utf-8", "replace") for n in table.split(b"\0") if n]
    # Go 1.2-1.15: nfunc, then (entry, funcoff) pairs; _func{entry uintptr, nameoff int32}.
    if rest < 8 + ptr:
        return None
    nfunc = w(0)
    tab = off + 8 + ptr
    if not 0 < nfunc < 1 << 24 or tab + nfunc * 2 * ptr > len(d):
        return None
    pairs = struct.unpack_from("<%d%s" % (nfunc * 2, word[1]), d, tab)
    names = []
    for funcoff in pairs[1::2]:
        fpos = off + funcoff + ptr
        if fpos + 4 > len(d):
            return None
        nameoff = struct.unpack_from("<i", d, fpos)[0]
        if not 0 < nameoff < rest:
            return None
        names.append(_cstr(d, off + nameoff))
    return names


def _find_pclntab(d: bytes) -> tuple[dict, list[str]] | None:
    tried = 0
    for magic, label in _PCLN_MAGICS.items():
        pat = struct.pack("<I", magic) + b"\0\0"
        i = d.find(pat)
        while i >= 0 and tried < _MAX_CANDIDATES:
            tried += 1
            if i + 8 <= len(d) and d[i + 6] in (1, 2, 4) and d[i + 7] in (4, 8):
                names = _pclntab_names(d, i, magic, d[i + 7])
                if names:
                    return {"offset": i, "magic": "0x%08x" % magic, "go": label, "ptr_size": d[i + 7],
                            "functions": len(names)}, names
            i = d.find(pat, i + 1)
    return None


def _coff_symbols(d: bytes, pe: dict) -> list[str]:
    symptr, nsyms = pe["symptr"], pe["nsyms"]
    if not symptr or not nsyms or symptr + 18 * nsyms + 4 > len(d):
        return []
    strtab = symptr + 18 * nsyms
    strtab_end = min(len(d), strtab + _u32(d, strtab))
    names = []
    i = 0
    while i < nsyms:
        raw, _v, _s, _ty, _cls, naux = struct.unpack_from("<8sIhHBB", d, symptr + 18 * i)
        if raw[:4] == b"\0\0\0\0":
            names.append(_cstr(d, strtab + struct.unpack_from("<I", raw, 4)[0], strtab_end))
        else:
            names.append(raw.rstrip(b"\0").decode("utf-8", "replace"))
        i += 1 + naux
    return [n for n in names if n]


# ---------------------------------------------------------------------------------------------
# Service Control Manager use


def _dep_paths(deps: t.Iterable[t.Any]) -> set[str]:
    paths = set()
    for dep in deps or ():
        if isinstance(dep, str):
            paths.add(dep)
        elif isinstance(dep, dict):
            paths.add(dep.get("path") or "")
            if isinstance(dep.get("replace"), dict):
                paths.add(dep["replace"].get("path") or "")
    return paths


def scm_verdict(func_names: t.Iterable[str] | None, deps: t.Iterable[t.Any] | None,
                strings_found: t.Iterable[str] | None) -> dict:
    """Whether a program talks to the Windows Service Control Manager (issue 7's rules).

    ``func_names``: function names from the pclntab / symbol table (None when unreadable);
    ``deps``: module paths or build-info dependency dicts; ``strings_found``: which of
    ``SCM_STRINGS`` occur in the bytes.
    """
    names = set(func_names or ())
    found = set(strings_found or ())
    dep_paths = _dep_paths(deps)

    svc = [n for n in names if n == SVC_RUN or n.endswith("/vendor/" + SVC_RUN)]
    if svc:
        return {"dispatches": True, "rule": "x/sys/windows/svc",
                "evidence": "the function %s is in the symbol table" % SVC_RUN}
    kard = sorted(n for n in names if n.startswith(KARDIANOS + ".") or ("/vendor/" + KARDIANOS + ".") in n)
    if kard:
        return {"dispatches": True, "rule": "kardianos/service",
                "evidence": "functions of %s are in the symbol table (%s)" % (KARDIANOS, kard[0])}
    xsys_dep = any(p == XSYS or p.startswith(XSYS + "/") for p in dep_paths)
    xsys_func = any(n.startswith(XSYS + "/") or ("/vendor/" + XSYS + "/") in n for n in names)
    own = [s for s in SCM_STRINGS if s in found]
    if own and not (xsys_dep or xsys_func):
        return {"dispatches": True, "rule": "own-call",
                "evidence": "the program names %s itself and golang.org/x/sys is not among its dependencies"
                            % own[0]}
    if xsys_dep or xsys_func:
        where = "among its dependencies" if xsys_dep else "in its function names"
        if func_names is None:
            return {"dispatches": False, "rule": "unknown",
                    "evidence": "golang.org/x/sys is %s but the function table could not be read, so "
                                "svc.Run cannot be confirmed" % where}
        return {"dispatches": False, "rule": "x/sys-without-svc",
                "evidence": "golang.org/x/sys is %s but %s is not linked in (x/sys names "
                            "StartServiceCtrlDispatcherW in every build)" % (where, SVC_RUN)}
    return {"dispatches": False, "rule": "none",
            "evidence": "no SCM dispatcher: neither %s, %s nor a StartServiceCtrlDispatcher call"
                        % (SVC_RUN, KARDIANOS)}


# ---------------------------------------------------------------------------------------------
# Entry points


def inspect(data: bytes | bytearray | memoryview) -> dict:
    """Inspect a Windows executable given as bytes; raises BinaryError when it is not a PE image."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("inspect() takes bytes, not %s" % type(data).__name__)
    d = data if isinstance(data, bytes) else bytes(data)
    try:
        pe = _parse_pe(d)
    except _MALFORMED as e:
        raise BinaryError("malformed PE image: %s" % e) from None
    notes: list[str] = []

    build_info = None
    try:
        found = _find_buildinfo(d, pe)
        if found is not None:
            build_info = parse_modinfo(found[1], found[0])
            build_info["format"] = found[2]
    except _MALFORMED as e:
        notes.append("build info unreadable: %s" % e)

    func_names: list[str] | None = None
    pclntab = None
    try:
        pcl = _find_pclntab(d)
        if pcl is not None:
            pclntab, func_names = pcl
    except _MALFORMED as e:
        notes.append("pclntab unreadable: %s" % e)
    coff: list[str] = []
    try:
        coff = _coff_symbols(d, pe)
    except _MALFORMED as e:
        notes.append("COFF symbol table unreadable: %s" % e)
    if coff:
        func_names = (func_names or []) + coff
    if func_names is None and build_info is not None:
        notes.append("Go binary without a readable pclntab")

    strings_found = [s for s in SCM_STRINGS if s.encode() in d]
    scm = scm_verdict(func_names, build_info["deps"] if build_info else (), strings_found)
    scm["strings_found"] = strings_found

    return {
        "format": "pe",
        "size": len(d),
        "sha256": hashlib.sha256(d).hexdigest(),
        "machine": pe["machine"],
        "machine_id": pe["machine_id"],
        "pe_format": pe["pe_format"],
        "subsystem": pe["subsystem"],
        "subsystem_id": pe["subsystem_id"],
        "dll": pe["dll"],
        "sections": [s.name for s in pe["sections"]],
        "go": build_info is not None,
        "build_info": build_info,
        "symbols": {"pclntab": pclntab, "coff_symbols": len(coff),
                    "functions": len(set(func_names)) if func_names else 0},
        "scm": scm,
        "notes": notes,
    }


def function_names(data: bytes) -> dict:
    """The function names found in a PE image: ``{"pclntab": [...], "coff": [...]}``."""
    d = data if isinstance(data, bytes) else bytes(data)
    try:
        pe = _parse_pe(d)
        pcl = _find_pclntab(d)
        return {"pclntab": pcl[1] if pcl else [], "coff": _coff_symbols(d, pe)}
    except _MALFORMED as e:
        raise BinaryError("malformed PE image: %s" % e) from None


def inspect_file(path: str) -> dict:
    """``inspect`` of a file on the controller."""
    with open(path, "rb") as f:
        return inspect(f.read())
