# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Windows service facts the controller computes itself, so that nothing depends on name resolution
on the host: the service SID of a name (the SID of ``NT SERVICE\\<name>``), and a command line built
from an argument list with the quoting the Microsoft C runtime reads back (CommandLineToArgvW).
"""

from __future__ import annotations

import hashlib
import struct
import typing as t

__all__ = ["argv_element", "command_line", "service_sid", "split_command_line", "upcase"]


def upcase(name: str) -> str:
    """Upper case as Windows' RtlUpcaseUnicodeString does it: one character for one (so 'ß' stays)."""
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in name)


def service_sid(name: str) -> str:
    """The service SID: S-1-5-80- and the five little-endian 32-bit words of SHA-1(UTF-16LE(upper-case name))."""
    digest = hashlib.sha1(upcase(name).encode("utf-16-le", "surrogatepass")).digest()
    return "S-1-5-80-" + "-".join(str(word) for word in struct.unpack("<5I", digest))


def argv_element(arg: str) -> str:
    """One argument quoted so that CommandLineToArgvW reads it back unchanged (the agent's ConvertTo-ArgvElement)."""
    if arg and not any(c in arg for c in " \t\n\v\""):
        return arg
    out = ['"']
    slashes = 0
    for ch in arg:
        if ch == "\\":
            slashes += 1
        elif ch == '"':
            out.append("\\" * (2 * slashes + 1) + '"')
            slashes = 0
        else:
            out.append("\\" * slashes + ch)
            slashes = 0
    out.append("\\" * (2 * slashes) + '"')
    return "".join(out)


def command_line(args: t.Iterable[str]) -> str:
    return " ".join(argv_element(a) for a in args)


def split_command_line(line: str) -> list[str]:
    """CommandLineToArgvW's reading of a command line (the rules since the 2008 C runtime).

    The first element (the program) is special: it ends at the next quote if it starts with one,
    else at the first space or tab, and backslashes are literal in it."""
    args: list[str] = []
    i, n = 0, len(line)
    while i < n and line[i] in " \t":
        i += 1
    if i >= n:
        return args
    if line[i] == '"':
        end = line.find('"', i + 1)
        end = n if end < 0 else end
        args.append(line[i + 1:end])
        i = end + 1
    else:
        start = i
        while i < n and line[i] not in " \t":
            i += 1
        args.append(line[start:i])
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        cur: list[str] = []
        quoted = False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                count = j - i
                if j < n and line[j] == '"':
                    cur.append("\\" * (count // 2))
                    if count % 2:
                        cur.append('"')
                        i = j + 1
                    else:
                        i = j
                    continue
                cur.append("\\" * count)
                i = j
                continue
            if line[i] == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    cur.append('"')
                    i += 2
                    continue
                quoted = not quoted
                i += 1
                continue
            cur.append(line[i])
            i += 1
        args.append("".join(cur))
