# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim: a SIMULATED Windows Server host kept on disk, for tests and offline use. It is not Windows.
This module holds the host itself (state, transactions, counters, faults, the file tree, the
registry and ACL models) and the twin of the 'host' op family; each other op family has its
twin in ``_winsim/<family>.py``, a mixin of WinSimHost (``_winsim/__init__.py``).
It answers the agent protocol (docs/agent-protocol.md) with a Python twin of every op, and keeps
the Windows behaviour our bugs would hide in: case-insensitive paths and registry, environment
variables as registry values, MAX_PATH, junctions, reserved device names, files held open by a
running process, inherited ACLs, a drive that fills up.

Per host, ``<state_dir>/<name>/`` holds ``state.json`` (registry, ACL metadata, junctions, accounts,
drive free space, locked files, pending reboot), ``fs/`` (real file contents: ``C:\\opt\\x`` lives
at ``fs/C/opt/x``, stored with the case first used), ``counters.json`` and ``faults.json``.
``<state_dir>/_shares/<server>/<share>/`` is what ``\\\\server\\share`` serves to every host.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import struct
import threading
import time
import typing as t
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass


ACCOUNT_NAME = "ansible"
ACCOUNT_SID = "S-1-5-21-3623811015-3361044348-30300820-1001"
TRUSTED_INSTALLER_SID = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
GIB = 1024 ** 3
INITIAL_FREE_BYTES = 40 * GIB
MAX_PATH = 260  # includes the terminating NUL: the longest usable path has 259 characters
READ_LIMIT = 64 * 1024
CHUNK = 1024 * 1024
MAX_JUNCTION_HOPS = 31
STATE_SCHEMA = 1

FULL_CONTROL = 2032127
MODIFY = 1245631
READ_AND_EXECUTE = 1179817
READ = 1179785
WRITE = 278
WRITE_DATA_APPEND_DATA = 6

ERROR_KINDS = (
    "bad_args", "not_found", "exists", "access_denied", "in_use", "path_too_long", "disk_full",
    "checksum_mismatch", "verify_failed", "corrupt_archive", "download_failed", "identity_not_found",
    "identity_lookup_failed", "exec_failed", "unsupported", "busy", "conflict", "service_failed", "timeout", "internal",
)
REG_TYPES = ("REG_SZ", "REG_EXPAND_SZ", "REG_DWORD", "REG_QWORD", "REG_MULTI_SZ", "REG_BINARY")
SECRET_ARGS = frozenset({"password"})
SECRET_MAP_ARGS = frozenset({"secret_environment"})  # mappings whose values are secret
SECRET_MASK = "********"

ENV_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
USER_ENV_KEY = "HKU\\" + ACCOUNT_SID + "\\Environment"
FILESYSTEM_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\FileSystem"
CURRENT_VERSION_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
NDP_KEY = "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"
COMPUTER_NAME_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName"
SESSION_MANAGER_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"
SERVICES_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services"
EVENTLOG_KEY = SERVICES_KEY + "\\EventLog"
# What EventLog.CreateEventSource writes as EventMessageFile without a message file: the .NET Framework
# runtime directory's EventLogMessages.dll (64-bit PowerShell runs the 64-bit framework).
EVENTLOG_MESSAGES_DLL = {
    arch: "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\EventLogMessages.dll" for arch in ("amd64", "arm64")
}
# The logs every Windows Server has (event sources are registered to one of them).
BASELINE_EVENT_LOGS = ("Application", "Security", "System")
# What Windows (and so the agent) looks at to say a reboot is pending.
REBOOT_MARKER_KEYS = (
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired",
)
REBOOT_MARKER_VALUE = (SESSION_MANAGER_KEY, "PendingFileRenameOperations")

PE_MACHINES = {0x8664: "amd64", 0xAA64: "arm64", 0x14C: "386"}
# Which PE machines a host of each arch can start (arm64 Windows emulates x64 and x86).
PE_CODES = {name: code for code, name in PE_MACHINES.items()}
RUNNABLE = {"amd64": ("amd64", "386"), "arm64": ("arm64", "amd64", "386")}
FILE_ENCODINGS = ("utf8", "utf8bom", "utf16le")
_BOMS = {"utf8": b"", "utf8bom": b"\xef\xbb\xbf", "utf16le": b"\xff\xfe"}
_CODECS = {"utf8": "utf-8", "utf8bom": "utf-8", "utf16le": "utf-16-le"}
PROFILE_LIST_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\" + ACCOUNT_SID
PROGRAM_FILES_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion"
STAND_IN_NOTE = b"winsim: a stand-in for a program built by a modelled 'go build'; it contains no code and cannot run.\r\n"
GO_MOD_INIT_USAGE = (
    "go: cannot determine module path for source directory %s (outside GOPATH, module path must be specified)\n\n"
    "Example usage:\n\t'go mod init example.com/m' to initialize a v0 or v1 module\n"
    "\t'go mod init example.com/m/v2' to initialize a v2 module\n\nRun 'go help mod init' for more information.\n"
)

JsonDict = dict[str, t.Any]
RegPath = t.Union[str, tuple[str, tuple[str, ...]]]


class OpFailure(Exception):
    """An op failed with one of the protocol's error kinds."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# --------------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class Profile:
    name: str
    year: str
    build: int
    ubr: int
    display_version: str
    dotnet_release: int
    dotnet_version: str
    core: bool

    @property
    def product_name(self) -> str:
        return "Windows Server %s Datacenter" % self.year

    @property
    def caption(self) -> str:
        return "Microsoft " + self.product_name

    @property
    def installation_type(self) -> str:
        return "Server Core" if self.core else "Server"

    @property
    def ps_version(self) -> str:
        return "5.1.%d.%d" % (self.build, self.ubr)


_PROFILE_BASES: dict[str, tuple[str, int, int, str, int, str]] = {
    "ws2016": ("2016", 14393, 7428, "1607", 394802, "4.6.01590"),
    "ws2019": ("2019", 17763, 6893, "1809", 528049, "4.8.03761"),
    "ws2022": ("2022", 20348, 2966, "21H2", 528449, "4.8.04161"),
    "ws2025": ("2025", 26100, 2894, "24H2", 533320, "4.8.09032"),
}
PROFILE_NAMES: tuple[str, ...] = tuple(n + s for n in _PROFILE_BASES for s in ("", "-core"))
ARCHES = ("amd64", "arm64")


def get_profile(name: str) -> Profile:
    base = name[:-5] if name.endswith("-core") else name
    if base not in _PROFILE_BASES:
        raise ValueError("os_profile must be one of %s; got %r" % (", ".join(PROFILE_NAMES), name))
    year, build, ubr, display, release, version = _PROFILE_BASES[base]
    return Profile(name, year, build, ubr, display, release, version, name.endswith("-core"))


# --------------------------------------------------------------------------------------------
# Windows paths

_INVALID_NAME_CHARS = frozenset('<>:"|?*') | frozenset(chr(c) for c in range(32))
_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + ["COM%d" % i for i in range(1, 10)] + ["LPT%d" % i for i in range(1, 10)]
)
_DRIVE_PATH = re.compile(r"^([A-Za-z]):(\\.*)?$", re.S)
_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.I)
_HEX = re.compile(r"^([0-9a-fA-F]{2})*$")


@dataclass(frozen=True)
class WinPath:
    """A normalized absolute drive path; parts keep the case they were given or stored with."""

    drive: str
    parts: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.drive + ":\\" + "\\".join(self.parts)

    @property
    def key(self) -> str:
        return str(self).lower()

    @property
    def is_root(self) -> bool:
        return not self.parts

    @property
    def parent(self) -> WinPath:
        return WinPath(self.drive, self.parts[:-1])

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""

    def child(self, *names: str) -> WinPath:
        return WinPath(self.drive, self.parts + tuple(names))


def is_reserved_name(name: str) -> bool:
    return name.split(".")[0].rstrip(" ").upper() in _RESERVED_NAMES


def check_name(name: str, what: str, kind: str = "bad_args") -> str:
    """One path component: Windows drops trailing dots and spaces; some characters and names are not allowed."""
    trimmed = name.rstrip(" .")
    if not trimmed:
        raise OpFailure(kind, "%s: '%s' is not a valid file or folder name" % (what, name))
    bad = sorted(c for c in set(trimmed) if c in _INVALID_NAME_CHARS)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise OpFailure(kind, "%s: '%s' contains characters Windows does not allow in a name (%s)" % (what, name, shown))
    if is_reserved_name(trimmed):
        raise OpFailure(
            kind,
            "%s: '%s' is a reserved device name (CON, PRN, AUX, NUL, COM1-COM9, LPT1-LPT9, with or without an "
            "extension) and cannot be used as a file or folder name" % (what, name),
        )
    return trimmed


def is_unc(value: str) -> bool:
    return value.replace("/", "\\").startswith("\\\\")


def parse_path(value: object, arg: str) -> WinPath:
    """Parse an absolute drive path (`/` accepted as `\\`, `.` and `..` folded like GetFullPath)."""
    what = "argument '%s'" % arg
    if not isinstance(value, str) or not value:
        raise OpFailure("bad_args", "%s must be an absolute Windows path such as C:\\opt\\go" % what)
    if is_unc(value):
        raise OpFailure("unsupported", "%s: winsim supports UNC paths (%s) only as a file.download url" % (what, value))
    match = _DRIVE_PATH.match(value.replace("/", "\\"))
    if not match:
        raise OpFailure(
            "bad_args",
            "%s must be an absolute Windows path such as C:\\opt\\go (drive letter, colon, backslash); got '%s'" % (what, value),
        )
    parts: list[str] = []
    for comp in (match.group(2) or "").split("\\"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts:
                parts.pop()
            continue
        parts.append(check_name(comp, what))
    return WinPath(match.group(1).upper(), tuple(parts))


def parse_reg_path(value: object, arg: str) -> tuple[str, tuple[str, ...]]:
    what = "argument '%s'" % arg
    hives = {"HKLM": "HKLM", "HKEY_LOCAL_MACHINE": "HKLM", "HKU": "HKU", "HKEY_USERS": "HKU"}
    if not isinstance(value, str) or not value.strip("\\"):
        raise OpFailure("bad_args", "%s must be a registry key path such as HKLM\\SOFTWARE\\GoWin" % what)
    comps = value.strip("\\").split("\\")
    if comps[0].upper() in ("HKCU", "HKEY_CURRENT_USER"):
        # the connection account's own hive, HKU\<its SID>
        if len(comps) == 1:
            raise OpFailure("bad_args", "%s: name a key below HKCU, such as HKCU\\Environment" % what)
        comps = ["HKU", ACCOUNT_SID] + comps[1:]
    hive = hives.get(comps[0].upper())
    if hive is None:
        raise OpFailure("bad_args", "%s: hive '%s' is not supported; accepted hives: HKLM, HKU, HKCU" % (what, comps[0]))
    if any(not c for c in comps[1:]):
        raise OpFailure("bad_args", "%s: '%s' has an empty key name" % (what, value))
    return hive, tuple(comps[1:])


def check_length(path: WinPath, what: str, long_paths: bool) -> None:
    text = str(path)
    if len(text) >= MAX_PATH and not long_paths:
        raise OpFailure(
            "path_too_long",
            "%s: the path is %d characters long (%s...); Windows allows at most %d unless LongPathsEnabled is 1 "
            "under %s" % (what, len(text), text[:48], MAX_PATH - 1, FILESYSTEM_KEY),
        )


def pe_machine(stream: t.BinaryIO) -> str | None:
    """The machine of a PE image (the uint16 after 'PE\\0\\0', whose offset is at 0x3C); None if not a PE image."""
    head = stream.read(0x40)
    if len(head) < 0x40 or head[:2] != b"MZ":
        return None
    (offset,) = struct.unpack_from("<I", head, 0x3C)
    stream.seek(offset)
    header = stream.read(6)
    if len(header) < 6 or header[:4] != b"PE\0\0":
        return None
    (machine,) = struct.unpack_from("<H", header, 4)
    return PE_MACHINES.get(machine, "unknown")


def decode_text(data: bytes) -> str:
    """UTF-8 text as the ops report it: a BOM is dropped, invalid bytes become U+FFFD."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="replace")


def stand_in_pe(machine: str) -> bytes:
    """A small PE image for `machine` (amd64 | arm64 | 386): MZ, e_lfanew at 0x3C, 'PE\\0\\0', the machine, a note."""
    image = bytearray(0x200)
    image[0:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x80)
    image[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<H", image, 0x84, PE_CODES[machine])
    return bytes(image) + STAND_IN_NOTE


def go_json(value: object) -> str:
    """JSON as `go env -json` prints it: keys sorted, one tab per level, HTML characters escaped, a final newline."""
    text = json.dumps(value, indent="\t", sort_keys=True, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text + "\n"


class Environ:
    """A process environment: names are case-insensitive and keep the case they were first set with."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, str]] = {}

    def get(self, name: str) -> str | None:
        item = self._items.get(name.lower())
        return None if item is None else item[1]

    def set(self, name: str, value: str) -> None:
        known = self._items.get(name.lower())
        self._items[name.lower()] = (known[0] if known is not None else name, value)

    def remove(self, name: str) -> None:
        self._items.pop(name.lower(), None)

    def expand(self, text: str) -> str:
        """%NAME% replaced as ExpandEnvironmentStrings does; an unknown name stays as written."""

        def one(match: re.Match[str]) -> str:
            value = self.get(match.group(1))
            return match.group(0) if value is None else value

        return re.sub(r"%([^%]+)%", one, text)

    def as_dict(self) -> dict[str, str]:
        return dict(self._items.values())


def _no_trailing_slash(path: str) -> str:
    """A folder path without a trailing backslash, except a drive root (C:\\)."""
    bare = path.rstrip("\\")
    return bare if len(bare) > 2 else path


def _ci_find(names: Iterable[str], name: str) -> str | None:
    low = name.lower()
    for candidate in names:
        if candidate.lower() == low:
            return candidate
    return None


def _under(key: str, prefix: str) -> bool:
    """Is path key `key` equal to or below `prefix` (both lowercase)?"""
    return key == prefix or key.startswith(prefix if prefix.endswith("\\") else prefix + "\\")


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _redact_url(url: str) -> str:
    """The URL without its userinfo@ part, as the agent's Get-RedactedUrl: the authority runs from after
    'scheme://' to the first '/', '?' or '#', and its userinfo ends at the LAST '@' in it, so a password
    holding '@', ':' or '%40' is hidden whole. Linear; the rest of the URL is kept as written."""
    found = _URL_SCHEME.match(url)
    if not found:
        return url
    start = found.end()
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    end = min(ends) if ends else len(url)
    at = url.rfind("@", start, end)
    return url if at < 0 else url[:start] + url[at + 1:]


# --------------------------------------------------------------------------------------------
# Registry values


def check_reg_data(reg_type: str, data: object) -> object:
    """Validate and normalize a value's data for its type (see the protocol's encoding)."""
    what = "argument 'data'"
    if reg_type in ("REG_SZ", "REG_EXPAND_SZ"):
        if isinstance(data, str):
            return data
        raise OpFailure("bad_args", "%s must be a string for %s" % (what, reg_type))
    if reg_type in ("REG_DWORD", "REG_QWORD"):
        high = 0xFFFFFFFF if reg_type == "REG_DWORD" else 0xFFFFFFFFFFFFFFFF
        if isinstance(data, int) and not isinstance(data, bool) and 0 <= data <= high:
            return data
        raise OpFailure("bad_args", "%s must be an integer from 0 to %d for %s" % (what, high, reg_type))
    if reg_type == "REG_MULTI_SZ":
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return list(data)
        raise OpFailure("bad_args", "%s must be a list of strings for REG_MULTI_SZ" % what)
    if isinstance(data, str) and _HEX.match(data):
        return data.lower()
    raise OpFailure("bad_args", "%s must be a hex string (two digits per byte) for REG_BINARY" % what)


class Registry:
    """The hives in state.json: a key is {"values": {name: {"type", "data"}}, "keys": {name: key}}."""

    def __init__(self, hives: JsonDict) -> None:
        self.hives = hives

    @staticmethod
    def new_key() -> JsonDict:
        return {"values": {}, "keys": {}}

    def find(self, path: RegPath) -> JsonDict | None:
        hive, parts = parse_reg_path(path, "path") if isinstance(path, str) else path
        key = self.hives[hive]
        for part in parts:
            found = _ci_find(key["keys"], part)
            if found is None:
                return None
            key = key["keys"][found]
        return key

    def ensure(self, path: RegPath) -> JsonDict:
        hive, parts = parse_reg_path(path, "path") if isinstance(path, str) else path
        key = self.hives[hive]
        for part in parts:
            found = _ci_find(key["keys"], part)
            if found is None:
                found = part
                key["keys"][part] = self.new_key()
            key = key["keys"][found]
        return key

    def value(self, path: RegPath, name: str) -> JsonDict | None:
        key = self.find(path)
        if key is None:
            return None
        found = _ci_find(key["values"], name)
        return None if found is None else dict(key["values"][found])

    def set(self, path: RegPath, name: str, reg_type: str, data: object) -> JsonDict | None:
        """Set a value (creating keys); returns the value it replaced, or None."""
        key = self.ensure(path)
        found = _ci_find(key["values"], name)
        before = None if found is None else key["values"].pop(found)
        # Windows keeps the name's first case when a value is overwritten.
        key["values"][name if found is None else found] = {"type": reg_type, "data": data}
        return before

    def remove_value(self, path: RegPath, name: str) -> bool:
        key = self.find(path)
        found = None if key is None else _ci_find(key["values"], name)
        if key is None or found is None:
            return False
        del key["values"][found]
        return True

    def remove_key(self, path: RegPath) -> bool:
        hive, parts = parse_reg_path(path, "path") if isinstance(path, str) else path
        parent = self.find((hive, parts[:-1]))
        found = None if parent is None else _ci_find(parent["keys"], parts[-1])
        if parent is None or found is None:
            return False
        del parent["keys"][found]
        return True

    @staticmethod
    def node(key: JsonDict, depth: int) -> JsonDict:
        return {
            "values": {name: dict(v) for name, v in key["values"].items()},
            "keys": {
                name: (Registry.node(sub, depth - 1) if depth > 0 else None) for name, sub in key["keys"].items()
            },
        }


# --------------------------------------------------------------------------------------------
# Identities

_WELL_KNOWN: tuple[tuple[str, str, str], ...] = (
    ("BUILTIN", "Administrators", "S-1-5-32-544"),
    ("BUILTIN", "Users", "S-1-5-32-545"),
    ("BUILTIN", "Remote Desktop Users", "S-1-5-32-555"),
    ("NT AUTHORITY", "SYSTEM", "S-1-5-18"),
    ("NT AUTHORITY", "LOCAL SERVICE", "S-1-5-19"),
    ("NT AUTHORITY", "NETWORK SERVICE", "S-1-5-20"),
    ("NT AUTHORITY", "Authenticated Users", "S-1-5-11"),
    ("", "Everyone", "S-1-1-0"),
    ("", "CREATOR OWNER", "S-1-3-0"),
    ("NT SERVICE", "TrustedInstaller", TRUSTED_INSTALLER_SID),
)
SID_ADMINISTRATORS = "S-1-5-32-544"
SID_USERS = "S-1-5-32-545"
SID_SYSTEM = "S-1-5-18"
SID_AUTHENTICATED_USERS = "S-1-5-11"
SID_CREATOR_OWNER = "S-1-3-0"
SID_EVERYONE = "S-1-1-0"


# An ACE's inheritance and propagation flags, in the order acl.get lists them (SDDL's names):
# OI object inherit, CI container inherit, NP no propagate, IO inherit only.
ACE_FLAGS = ("OI", "CI", "NP", "IO")
OICI = ["OI", "CI"]


def _ace(sid: str, mask: int, inherit: bool = True, ace_type: str = "allow", flags: list[str] | None = None) -> JsonDict:
    """A stored explicit ACE: {sid, mask, type, flags}; `inherit` is short for flags [OI, CI]."""
    if flags is None:
        flags = list(OICI) if inherit else []
    return {"sid": sid, "mask": mask, "type": ace_type, "flags": [f for f in ACE_FLAGS if f in flags]}


def _ace_flags(ace: JsonDict) -> list[str]:
    if "flags" in ace:
        return [f for f in ACE_FLAGS if f in ace["flags"]]
    return list(OICI) if ace.get("inherit") else []  # an entry stored before ACEs had flags


def _ace_sort_key(ace: JsonDict) -> tuple[str, int, str, tuple[str, ...]]:
    return (ace["sid"].upper(), ace["mask"], ace["type"], tuple(_ace_flags(ace)))


def _child_flags(flags: list[str], child_is_dir: bool) -> list[str] | None:
    """The flags of the ACE a child inherits from a folder's ACE with `flags`, or None when it inherits none.
    Windows' ACE inheritance rules (learn.microsoft.com, "ACE Inheritance Rules"): a file gets an effective
    ACE from OI; a folder gets CI ACEs as they are (IO dropped), an OI-only ACE as inherit-only (OI, IO) so
    that it reaches the files below; with NP the child gets an effective ACE without inheritance flags."""
    has = set(flags)
    if not child_is_dir:
        return [] if "OI" in has else None
    if "NP" in has:
        return [] if "CI" in has else None
    if "CI" in has:
        return [f for f in ("OI", "CI") if f in has]
    if "OI" in has:
        return ["OI", "IO"]
    return None


def _clean_ace(ace: JsonDict, is_dir: bool) -> JsonDict | None:
    """An explicit ACE as .NET reads it (CommonAcl drops meaningless ACEs and flags): mask 0 is gone;
    on a file inherit-only ACEs are gone and the other flags dropped; on a folder IO without OI/CI
    is gone and NP without OI/CI dropped."""
    flags = _ace_flags(ace)
    inherits = "OI" in flags or "CI" in flags
    if not ace["mask"] or ("IO" in flags and (not is_dir or not inherits)):
        return None
    if not is_dir:
        flags = []
    elif not inherits:
        flags = [f for f in flags if f != "NP"]
    return {"sid": ace["sid"], "mask": ace["mask"], "type": ace["type"], "flags": flags}


def _ace_row(ace: JsonDict, inherited: bool) -> JsonDict:
    """An ACE as acl.get reports it."""
    flags = _ace_flags(ace)
    return {"sid": ace["sid"], "mask": ace["mask"], "type": ace["type"], "inherit": flags == OICI, "flags": flags, "inherited": inherited}


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def _sid_compare(left: str, right: str) -> int:
    """SecurityIdentifier.CompareTo of .NET Framework 4.x: authority, then the number of sub-authorities,
    then each sub-authority as a difference of signed 32-bit integers (so 3623811015 sorts before 21)."""
    def parts(sid: str) -> tuple[int, list[int]]:
        fields = sid.split("-")[2:]
        authority = int(fields[0], 16) if fields[0].lower().startswith("0x") else int(fields[0])
        return authority, [int(f) for f in fields[1:]]

    (la, ls), (ra, rs) = parts(left), parts(right)
    if la != ra:
        return -1 if la < ra else 1
    if len(ls) != len(rs):
        return -1 if len(ls) < len(rs) else 1
    for x, y in zip(ls, rs):
        diff = _i32(_i32(x) - _i32(y))
        if diff:
            return diff
    return 0


def _dotnet_order(aces: list[JsonDict]) -> list[JsonDict]:
    """Explicit ACEs in the order .NET's CommonAcl keeps a canonical DACL: deny before allow, each by SID
    (_sid_compare). .NET's sort is not stable: the order of two ACEs of one SID and type is not defined
    by the protocol; winsim keeps the order they came in."""
    def compare(a: JsonDict, b: JsonDict) -> int:
        rank = (a["type"] != "deny") - (b["type"] != "deny")
        return rank or _sid_compare(a["sid"], b["sid"])

    return sorted(aces, key=functools.cmp_to_key(compare))


def _is_canonical(explicit: list[JsonDict]) -> bool:
    """Explicit deny ACEs before explicit allow ACEs (inherited ones always follow in winsim)."""
    types = [a["type"] for a in explicit]
    return "allow" not in types or "deny" not in types[types.index("allow"):]


# --------------------------------------------------------------------------------------------
# Op arguments


def boot_stamp(when: float) -> str:
    """host.facts' boot_time: UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def hardening_defaults(prof: "Profile") -> list[tuple[str, str, str, object]]:
    """Registry values of a fresh, non-domain Windows Server that baselines read (dsc_baseline): UAC, LSA,
    NTLM and SMB signing as each release ships them, plus LocalAccountTokenFilterPolicy 1, which a host
    that Ansible reaches as a local administrator other than the built-in Administrator must have (the
    usual WinRM setup for Ansible sets it; without it, this simulated connection could not work)."""
    dword = "REG_DWORD"
    system = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"
    lsa = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa"
    server = SERVICES_KEY + "\\LanmanServer\\Parameters"
    workstation = SERVICES_KEY + "\\LanmanWorkstation\\Parameters"
    values: list[tuple[str, str, str, object]] = [
        (system, "EnableLUA", dword, 1),
        (system, "ConsentPromptBehaviorAdmin", dword, 5),
        (system, "ConsentPromptBehaviorUser", dword, 3),
        (system, "PromptOnSecureDesktop", dword, 1),
        (system, "EnableInstallerDetection", dword, 1),
        (system, "EnableSecureUIAPaths", dword, 1),
        (system, "EnableVirtualization", dword, 1),
        (system, "ValidateAdminCodeSignatures", dword, 0),
        (system, "FilterAdministratorToken", dword, 0),
        (system, "LocalAccountTokenFilterPolicy", dword, 1),
        (lsa, "LimitBlankPasswordUse", dword, 1),
        (lsa, "NoLMHash", dword, 1),
        (lsa, "restrictanonymous", dword, 0),
        (lsa, "restrictanonymoussam", dword, 1),
        (lsa, "everyoneincludesanonymous", dword, 0),
        (lsa + "\\MSV1_0", "NTLMMinClientSec", dword, 0x20000000),
        (lsa + "\\MSV1_0", "NTLMMinServerSec", dword, 0x20000000),
        (server, "EnableSecuritySignature", dword, 0),
        (server, "RequireSecuritySignature", dword, 0),
        (workstation, "EnableSecuritySignature", dword, 1),
        # Windows Server 2025 requires SMB signing on every outbound connection by default.
        (workstation, "RequireSecuritySignature", dword, 1 if prof.build >= 26100 else 0),
    ]
    return values


class Args:
    """One op's arguments: unknown names and wrong types fail bad_args naming the argument."""

    def __init__(self, op: str, raw: object, accepted: tuple[str, ...], long_paths: bool) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise OpFailure("bad_args", "%s: 'args' must be an object" % op)
        unknown = sorted(set(raw) - set(accepted))
        if unknown:
            raise OpFailure(
                "bad_args",
                "%s: unknown argument '%s'; accepted: %s" % (op, unknown[0], ", ".join(accepted) or "(none)"),
            )
        self.op = op
        self.raw: JsonDict = raw
        self.long_paths = long_paths

    def fail(self, name: str, expected: str) -> t.NoReturn:
        raise OpFailure("bad_args", "%s: argument '%s' %s" % (self.op, name, expected))

    def given(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def got(self, name: str, value: object) -> str:
        if name in SECRET_ARGS:
            return ""
        shown = json.dumps(value)
        return "; got %s" % (shown if len(shown) <= 80 else shown[:77] + "...")

    def text(self, name: str, choices: tuple[str, ...] = (), empty: bool = False) -> str | None:
        """An optional string (None when not given)."""
        value = self.raw.get(name)
        if value is None:
            return None
        accepted = "one of " + ", ".join(choices) if choices else ("a string" if empty else "a non-empty string")
        if not isinstance(value, str) or (not value and not empty) or (choices and value not in choices):
            self.fail(name, "must be %s%s" % (accepted, self.got(name, value)))
        return value

    def need_text(self, name: str, choices: tuple[str, ...] = (), empty: bool = False) -> str:
        value = self.text(name, choices, empty)
        if value is None:
            self.fail(name, "is required (%s)" % ("one of " + ", ".join(choices) if choices else "a string"))
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(name, "must be true or false%s" % self.got(name, value))
        return value

    def optional_number(self, name: str, low: int = 0, high: int = 2 ** 63 - 1) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(name, "must be an integer from %d to %d%s" % (low, high, self.got(name, value)))
        return value

    def number(self, name: str, default: int, low: int = 0, high: int = 2 ** 63 - 1) -> int:
        value = self.optional_number(name, low, high)
        return default if value is None else value

    def optional_path(self, name: str) -> WinPath | None:
        value = self.raw.get(name)
        if value is None:
            return None
        path = parse_path(value, name)
        self.check_length(path, "argument '%s'" % name)
        return path

    def path(self, name: str) -> WinPath:
        path = self.optional_path(name)
        if path is None:
            self.fail(name, "is required (an absolute Windows path such as C:\\opt\\go)")
        return path

    def check_length(self, path: WinPath, what: str) -> None:
        check_length(path, what, self.long_paths)

    def strings(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self.raw.get(name)
        if value is None:
            if default is None:
                self.fail(name, "is required (a list of strings)")
            return list(default)
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            self.fail(name, "must be a list of strings")
        return list(value)

    def mapping(self, name: str) -> JsonDict | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(name, "must be an object")
        return value


OpHandler = Callable[["HostBase", Args], JsonDict]
OPS: dict[str, tuple[OpHandler, tuple[str, ...]]] = {}


def op_family(name: str) -> str:
    """The op family of a registered op: the name of the _winsim module its twin lives in."""
    return OPS[name][0].__module__.rsplit(".", 1)[-1]


def _op(name: str, *accepted: str) -> Callable[[OpHandler], OpHandler]:
    def register(handler: OpHandler) -> OpHandler:
        OPS[name] = (handler, accepted)
        return handler

    return register


# --------------------------------------------------------------------------------------------
# The file tree


@dataclass
class Node:
    """What a path resolves to. `path` is where it physically is (junctions followed)."""

    path: WinPath
    kind: str  # "file" | "directory" | "junction" | "missing"
    real: str | None  # the host path (for a missing one: where it would be created; None if it cannot be)
    target: str | None = None  # junctions: the target as stored
    blocker: WinPath | None = None  # missing because this file is in the way
    no_drive: bool = False

    @property
    def exists(self) -> bool:
        return self.kind != "missing"

    @property
    def host_path(self) -> str:
        if self.real is None:
            raise OpFailure("internal", "winsim: %s has no place in the file tree" % self.path)
        return self.real


FAULT_FORMS: dict[str, dict[str, type]] = {
    "fail_op": {"op": str, "kind": str, "message": str},
    "truncate_download": {"bytes": int},
    "drop_connection": {"after_ops": int, "skip_round_trips": int},
    "disk_full": {"free_bytes": int, "drive": str},
    "trust_failure": {"domain": str, "message": str},
    "kill_agent": {"op": str, "after_stage": str},
}
_FAULT_REQUIRED = {
    "fail_op": ("op", "kind"), "truncate_download": ("bytes",), "drop_connection": ("after_ops",), "disk_full": ("free_bytes",),
    "trust_failure": ("domain",), "kill_agent": ("after_stage",),
}
# What NTAccount.Translate throws (a SystemException with the text of Win32 error 1789) when the trust
# to the domain that holds a name is broken.
TRUST_FAILURE_MESSAGE = "The trust relationship between the primary domain and the trusted domain failed."


def _new_counters() -> JsonDict:
    return {"round_trips": 0, "bytes_sent": 0, "bytes_received": 0, "ops": {}, "puts": 0, "families_sent": []}


def _dump(value: object) -> str:
    return json.dumps(value, indent=1, ensure_ascii=True) + "\n"


def request_secrets(value: object) -> list[str]:
    """Every secret of an op's arguments, at any depth (the agent's Get-RequestSecrets): SECRET_ARGS strings
    and the values of SECRET_MAP_ARGS mappings; deploy.update carries service.set's arguments in 'set'."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_ARGS and isinstance(item, str):
                found += [item] if item else []
            elif key in SECRET_MAP_ARGS and isinstance(item, dict):
                found += [v for v in item.values() if isinstance(v, str) and v]
            else:
                found += request_secrets(item)
    elif isinstance(value, list):
        for item in value:
            found += request_secrets(item)
    return found


def hide_secrets(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, SECRET_MASK)
    return text


class AgentKilled(Exception):
    """The agent's process ended in the middle of an op (the kill_agent fault): effects so far stay, no answer."""


class HostBase:
    """State, transactions, counters and faults of one simulated host; the op families are mixins (see __init__)."""

    def __init__(self, state_dir: str, name: str, profile: str = "ws2022", arch: str = "amd64") -> None:
        if not name or name.startswith((".", "_")) or re.search(r"[\\/\0]", name):
            raise ValueError("winsim host name %r cannot be a folder name (no slashes, not starting with . or _)" % name)
        if arch not in ARCHES:
            raise ValueError("arch must be one of %s; got %r" % (", ".join(ARCHES), arch))
        self.profile = get_profile(profile)
        self.arch = arch
        self.name = name
        self.state_dir = os.path.abspath(os.path.expanduser(state_dir))
        self.root = os.path.join(self.state_dir, name)
        self.fs_root = os.path.join(self.root, "fs")
        self.shares_root = os.path.join(self.state_dir, "_shares")
        self._mutex = threading.RLock()
        self._depth = 0
        self._state: JsonDict = {}
        self._faults: list[JsonDict] = []
        self.agent_killed: str | None = None
        self._counters: JsonDict = _new_counters()
        self._listings: dict[str, dict[str, str]] = {}
        with self._transaction() as state:
            if (state["profile"], state["arch"]) != (profile, arch):
                raise ValueError(
                    "winsim host %r in %s was created as %s/%s, not %s/%s: remove %s or use another state_dir"
                    % (name, self.state_dir, state["profile"], state["arch"], profile, arch, self.root)
                )

    # ---- persistence ------------------------------------------------------------------------

    def _file(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _read_json(self, name: str, default: t.Any) -> t.Any:
        try:
            with open(self._file(name), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return default

    def _write_json(self, name: str, text: str) -> None:
        tmp = self._file(name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, self._file(name))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[JsonDict]:
        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield self._state
                finally:
                    self._depth -= 1
                return
            os.makedirs(self.root, exist_ok=True)
            with open(self._file(".lock"), "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._depth = 1
                self._listings = {}
                try:
                    state = self._read_json("state.json", None)
                    if state is None:
                        state = self._baseline()
                        self._write_json("state.json", _dump(state))
                    self._state = state
                    self._faults = self._read_json("faults.json", [])
                    self._counters = self._read_json("counters.json", _new_counters())
                    saved = [_dump(self._state), _dump(self._faults), _dump(self._counters)]
                    try:
                        yield self._state
                    finally:
                        for name, before, now in zip(
                            ("state.json", "faults.json", "counters.json"),
                            saved,
                            (_dump(self._state), _dump(self._faults), _dump(self._counters)),
                        ):
                            if now != before:
                                self._write_json(name, now)
                finally:
                    self._depth = 0
                    fcntl.flock(lock, fcntl.LOCK_UN)

    @property
    def registry(self) -> Registry:
        return Registry(self._state["registry"])

    # ---- the baseline -----------------------------------------------------------------------

    def _baseline(self) -> JsonDict:
        if os.path.isdir(self.fs_root):
            shutil.rmtree(self.fs_root)
        os.makedirs(os.path.join(self.fs_root, "C"))
        prof = self.profile
        computer = re.sub(r"[^A-Z0-9-]", "-", self.name.split(".")[0].upper())[:15] or "WINSIM"
        self._state = {
            "schema": STATE_SCHEMA,
            "profile": prof.name,
            "arch": self.arch,
            "registry": {"HKLM": Registry.new_key(), "HKU": Registry.new_key()},
            "acls": {},
            "junctions": {},
            "locked": [],
            "readonly": [],
            "accounts": {},
            "drives": {"C": {"free_bytes": INITIAL_FREE_BYTES}},
            "pending_reboot": [],
            "boot_time": boot_stamp(time.time() - 86400),
            "notifications": 0,
            # The SCM's run states (service.py): the baseline's automatic services are running.
            "services": {
                "eventlog": {"state": "running", "pid": 1388, "exit_code": 0},
                "winrm": {"state": "running", "pid": 2216, "exit_code": 0},
            },
            # Local security policy (policy.py adds "rights", "system_access" and "policy_rights": the defaults of
            # its release) and the audit policy (auditpol.py adds "audit_policy").
            # The firewall rule store (firewall.py), as Windows reports rules.
            "firewall": {
                "winrm-http-in-tcp": {
                    "name": "WINRM-HTTP-In-TCP", "display_name": "Windows Remote Management (HTTP-In)",
                    "description": "Inbound rule for Windows Remote Management via WS-Management. [TCP 5985]",
                    "direction": "inbound", "action": "allow", "enabled": True, "protocol": "tcp", "local_ports": ["5985"],
                    "remote_addresses": [], "profiles": ["domain", "private"], "program": "System", "service": None,
                },
            },
        }
        reg = self.registry
        exp, sz, dword = "REG_EXPAND_SZ", "REG_SZ", "REG_DWORD"
        values: list[tuple[str, str, str, object]] = [
            (CURRENT_VERSION_KEY, "ProductName", sz, prof.product_name),
            (CURRENT_VERSION_KEY, "EditionID", sz, "ServerDatacenter"),
            (CURRENT_VERSION_KEY, "InstallationType", sz, prof.installation_type),
            (CURRENT_VERSION_KEY, "CurrentBuild", sz, str(prof.build)),
            (CURRENT_VERSION_KEY, "CurrentBuildNumber", sz, str(prof.build)),
            (CURRENT_VERSION_KEY, "CurrentMajorVersionNumber", dword, 10),
            (CURRENT_VERSION_KEY, "CurrentMinorVersionNumber", dword, 0),
            (CURRENT_VERSION_KEY, "UBR", dword, prof.ubr),
            (CURRENT_VERSION_KEY, "ReleaseId" if prof.build < 20348 else "DisplayVersion", sz, prof.display_version),
            (CURRENT_VERSION_KEY, "SystemRoot", sz, "C:\\Windows"),
            (CURRENT_VERSION_KEY + "\\ProfileList\\" + ACCOUNT_SID, "ProfileImagePath", exp, "C:\\Users\\" + ACCOUNT_NAME),
            ("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion", "ProgramFilesDir", sz, "C:\\Program Files"),
            ("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion", "ProgramFilesDir (x86)", sz, "C:\\Program Files (x86)"),
            ("HKLM\\SOFTWARE\\Microsoft\\PowerShell\\3\\PowerShellEngine", "PowerShellVersion", sz, "5.1.%d.1" % prof.build),
            (ENV_KEY, "ComSpec", exp, "%SystemRoot%\\system32\\cmd.exe"),
            (ENV_KEY, "DriverData", sz, "C:\\Windows\\System32\\Drivers\\DriverData"),
            (ENV_KEY, "NUMBER_OF_PROCESSORS", sz, "2"),
            (ENV_KEY, "OS", sz, "Windows_NT"),
            (ENV_KEY, "Path", exp,
             "%SystemRoot%\\system32;%SystemRoot%;%SystemRoot%\\System32\\Wbem;%SYSTEMROOT%\\System32\\WindowsPowerShell\\v1.0\\"),
            (ENV_KEY, "PATHEXT", sz, ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC"),
            (ENV_KEY, "PROCESSOR_ARCHITECTURE", sz, self.arch.upper()),
            (ENV_KEY, "PSModulePath", exp,
             "%ProgramFiles%\\WindowsPowerShell\\Modules;%SystemRoot%\\system32\\WindowsPowerShell\\v1.0\\Modules"),
            (ENV_KEY, "TEMP", exp, "%SystemRoot%\\TEMP"),
            (ENV_KEY, "TMP", exp, "%SystemRoot%\\TEMP"),
            (ENV_KEY, "USERNAME", sz, "SYSTEM"),
            (ENV_KEY, "windir", exp, "%SystemRoot%"),
            (FILESYSTEM_KEY, "LongPathsEnabled", dword, 0),
            (NDP_KEY, "Install", dword, 1),
            (NDP_KEY, "Release", dword, prof.dotnet_release),
            (NDP_KEY, "Version", sz, prof.dotnet_version),
            (COMPUTER_NAME_KEY, "ComputerName", sz, computer),
            (USER_ENV_KEY, "TEMP", exp, "%USERPROFILE%\\AppData\\Local\\Temp"),
            (USER_ENV_KEY, "TMP", exp, "%USERPROFILE%\\AppData\\Local\\Temp"),
        ]
        services = {
            "EventLog": ("Windows Event Log", "LocalServiceNetworkRestricted", "NT AUTHORITY\\LocalService", 2),
            "W32Time": ("Windows Time", "LocalService", "NT AUTHORITY\\LocalService", 3),
            "WinRM": ("Windows Remote Management (WS-Management)", "NetworkService", "NT AUTHORITY\\NetworkService", 2),
            # Installed and automatic on every Windows Server release, Server Core included.
            "Spooler": ("Print Spooler", "", "LocalSystem", 2),
            # Automatic (trigger start): it runs when a remote registry client connects, so it is stopped here.
            "RemoteRegistry": ("Remote Registry", "localService", "NT AUTHORITY\\LocalService", 2),
        }
        for service, (display, group, account, start) in services.items():
            key = SERVICES_KEY + "\\" + service
            values += [
                (key, "DisplayName", sz, display),
                (key, "ImagePath", exp, "%SystemRoot%\\System32\\spoolsv.exe" if not group else
                 "%SystemRoot%\\System32\\svchost.exe -k " + group + " -p"),
                (key, "ObjectName", sz, account),
                (key, "Start", dword, start),
                (key, "Type", dword, 32 if group else 16),
                (key, "ErrorControl", dword, 1),
            ]
        values += hardening_defaults(prof)
        for path, name, reg_type, data in values:
            reg.set(path, name, reg_type, data)
        self._state["services"]["spooler"] = {"state": "running", "pid": 2480, "exit_code": 0}
        for log in BASELINE_EVENT_LOGS:
            reg.ensure(EVENTLOG_KEY + "\\" + log)
        reg.ensure("HKU\\.DEFAULT")
        reg.ensure("HKU\\S-1-5-18")

        for folder in (
            "Windows\\System32", "Windows\\Temp", "Program Files", "Program Files (x86)", "ProgramData",
            "Users\\Public", "Users\\" + ACCOUNT_NAME + "\\AppData\\Roaming", "Users\\" + ACCOUNT_NAME + "\\AppData\\Local\\Temp",
        ):
            os.makedirs(os.path.join(self.fs_root, "C", *folder.split("\\")))
        system_acl = [
            _ace(TRUSTED_INSTALLER_SID, FULL_CONTROL), _ace(SID_SYSTEM, MODIFY),
            _ace(SID_ADMINISTRATORS, MODIFY), _ace(SID_USERS, READ_AND_EXECUTE),
        ]
        acls: list[tuple[str, str, list[JsonDict]]] = [
            ("C:\\", TRUSTED_INSTALLER_SID, [
                _ace(SID_ADMINISTRATORS, FULL_CONTROL), _ace(SID_SYSTEM, FULL_CONTROL),
                _ace(SID_USERS, READ_AND_EXECUTE), _ace(SID_USERS, WRITE_DATA_APPEND_DATA, flags=["CI"]),
                _ace(SID_AUTHENTICATED_USERS, MODIFY),
            ]),
            ("C:\\Windows", TRUSTED_INSTALLER_SID, system_acl),
            ("C:\\Program Files", TRUSTED_INSTALLER_SID, system_acl),
            ("C:\\Program Files (x86)", TRUSTED_INSTALLER_SID, system_acl),
            ("C:\\ProgramData", SID_SYSTEM, [
                _ace(SID_SYSTEM, FULL_CONTROL), _ace(SID_ADMINISTRATORS, FULL_CONTROL),
                _ace(SID_CREATOR_OWNER, FULL_CONTROL), _ace(SID_USERS, READ_AND_EXECUTE), _ace(SID_USERS, WRITE, flags=["CI"]),
            ]),
            ("C:\\Users", SID_SYSTEM, [
                _ace(SID_SYSTEM, FULL_CONTROL), _ace(SID_ADMINISTRATORS, FULL_CONTROL),
                _ace(SID_USERS, READ_AND_EXECUTE), _ace(SID_EVERYONE, READ_AND_EXECUTE),
            ]),
            ("C:\\Users\\" + ACCOUNT_NAME, SID_SYSTEM, [
                _ace(SID_SYSTEM, FULL_CONTROL), _ace(SID_ADMINISTRATORS, FULL_CONTROL), _ace(ACCOUNT_SID, FULL_CONTROL),
            ]),
        ]
        for path, owner, aces in acls:
            self._state["acls"][path.lower()] = {"path": path, "owner": owner, "protected": True, "aces": aces}
        return self._state

    # ---- facts derived from the registry ---------------------------------------------------

    def _reg_data(self, path: str, name: str, default: t.Any = None) -> t.Any:
        value = self.registry.value(path, name)
        return default if value is None else value["data"]

    def _long_paths(self) -> bool:
        return self._reg_data(FILESYSTEM_KEY, "LongPathsEnabled") == 1

    @property
    def computer_name(self) -> str:
        with self._transaction():
            return str(self._reg_data(COMPUTER_NAME_KEY, "ComputerName", "WINSIM"))

    def _pending_reboot(self) -> bool:
        if self._state["pending_reboot"]:
            return True
        if any(self.registry.find(key) is not None for key in REBOOT_MARKER_KEYS):
            return True
        return bool(self._reg_data(*REBOOT_MARKER_VALUE))

    # ---- file tree --------------------------------------------------------------------------

    def _listing(self, real: str) -> dict[str, str]:
        cached = self._listings.get(real)
        if cached is None:
            cached = {name.lower(): name for name in os.listdir(real)}
            self._listings[real] = cached
        return cached

    def _touched(self, *reals: str) -> None:
        """Keep the cached listing of each parent right after creating or removing these host paths."""
        for real in reals:
            parent, name = os.path.split(real)
            listing = self._listings.get(parent)
            if listing is not None:
                if os.path.lexists(real):
                    listing[name.lower()] = name
                else:
                    listing.pop(name.lower(), None)

    def _forget(self, real: str) -> None:
        """After a folder was removed or renamed away: drop the cached listings of it and below it."""
        self._touched(real)
        below = real + os.sep
        for cached in [c for c in self._listings if c == real or c.startswith(below)]:
            del self._listings[cached]

    def resolve(self, path: WinPath, follow: bool = True) -> Node:
        """Walk a path case-insensitively, following junctions met on the way (and at the end if `follow`)."""
        drive, parts = path.drive, path.parts
        junctions = self._state["junctions"]
        for _hop in range(MAX_JUNCTION_HOPS + 1):
            if drive not in self._state["drives"]:
                return Node(WinPath(drive, parts), "missing", None, no_drive=True)
            real = os.path.join(self.fs_root, drive)
            canon: list[str] = []
            redirected = False
            for index, comp in enumerate(parts):
                last = index == len(parts) - 1
                junction = junctions.get(WinPath(drive, (*canon, comp)).key) if junctions else None
                if junction is not None:
                    link = parse_path(junction["path"], "path")
                    if last and not follow:
                        return Node(link, "junction", None, target=junction["target"])
                    target = parse_path(junction["target"], "target")
                    drive, parts = target.drive, target.parts + parts[index + 1:]
                    redirected = True
                    break
                name = self._listing(real).get(comp.lower())
                if name is None:
                    tail = parts[index:]
                    return Node(WinPath(drive, (*canon, *tail)), "missing", os.path.join(real, *tail))
                real = os.path.join(real, name)
                canon.append(name)
                if not last and not os.path.isdir(real):
                    blocker = WinPath(drive, tuple(canon))
                    return Node(WinPath(drive, (*canon, *parts[index + 1:])), "missing", None, blocker=blocker)
            if not redirected:
                return Node(WinPath(drive, tuple(canon)), "directory" if os.path.isdir(real) else "file", real)
        raise OpFailure("not_found", "%s: more than %d levels of junctions" % (path, MAX_JUNCTION_HOPS))

    def _writable(self, node: Node, what: str) -> str:
        """The host path where a missing node can be created, or the failure why it cannot."""
        if node.no_drive:
            raise OpFailure("not_found", "%s: drive %s: does not exist" % (what, node.path.drive))
        if node.blocker is not None:
            raise OpFailure("exists", "%s: %s is a file, so %s cannot be created below it" % (what, node.blocker, node.path))
        return node.host_path

    def _mkdirs(self, real: str) -> list[str]:
        """Create a folder and its parents; returns those created, deepest last."""
        created: list[str] = []
        probe = real
        while not os.path.isdir(probe):
            created.append(probe)
            probe = os.path.dirname(probe)
        for folder in reversed(created):
            os.mkdir(folder)
        self._touched(*created)
        return list(reversed(created))

    def _rmdirs(self, created: list[str]) -> None:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
            self._forget(folder)

    def _free(self, drive: str) -> int:
        return int(self._state["drives"][drive]["free_bytes"])

    def _consume(self, drive: str, count: int) -> None:
        free = self._free(drive)
        if count > free:
            raise OpFailure("disk_full", "there is not enough space on drive %s: (%d bytes free, %d more needed)" % (drive, free, count))
        self._state["drives"][drive]["free_bytes"] = free - count

    def _release(self, drive: str, count: int) -> None:
        self._state["drives"][drive]["free_bytes"] = self._free(drive) + count

    def _check_unlocked(self, path: WinPath, what: str) -> None:
        for locked in self._state["locked"]:
            if _under(locked.lower(), path.key):
                raise OpFailure(
                    "in_use",
                    "%s: %s is in use by another process (it is open, e.g. the executable of a running service)" % (what, locked),
                )

    def _write_stream(self, node: Node, chunks: Iterable[bytes], what: str, limit: int | None = None) -> tuple[int, str]:
        """Write a file from chunks keeping the drive's free space; on failure no file is left. Returns (size, sha256)."""
        if node.kind in ("directory", "junction"):
            raise OpFailure("exists", "%s: %s is a %s, not a file" % (what, node.path, node.kind))
        real = self._writable(node, what)
        self._check_unlocked(node.path, what)
        drive = node.path.drive
        if node.kind == "file":
            self._release(drive, os.path.getsize(real))
        digest = hashlib.sha256()
        size = 0
        source = iter(chunks)
        try:
            with open(real, "wb") as out:
                for chunk in source:
                    if limit is not None:
                        chunk = chunk[: limit - size]
                    self._consume(drive, len(chunk))
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if limit is not None and size >= limit:
                        break
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(real)
            self._release(drive, size)
            raise
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            self._touched(real)
        return size, digest.hexdigest()

    def _write_atomic(self, path: WinPath, data: bytes, what: str) -> bool:
        """Write a whole file through a temp file in its folder (parents created). False when it already holds `data`."""
        link = self.resolve(path, follow=False)
        node = self.resolve(path) if link.kind != "junction" else link
        if node.kind in ("directory", "junction"):
            raise OpFailure("exists", "%s: %s is a %s, not a file" % (what, node.path, "folder" if node.kind == "directory" else node.kind))
        if node.kind == "file" and os.path.getsize(node.host_path) == len(data):
            with open(node.host_path, "rb") as handle:
                if handle.read() == data:
                    return False
        real = self._writable(node, what)
        self._check_unlocked(node.path, what)
        folder = os.path.dirname(real)
        created = self._mkdirs(folder)
        temp_name = "~gw%s.tmp" % hashlib.sha256(data).hexdigest()[:8]
        temp = Node(node.path.parent.child(temp_name), "missing", os.path.join(folder, temp_name))
        try:
            self._write_stream(temp, [data], what)
        except BaseException:
            self._rmdirs(created)
            raise
        if node.kind == "file":
            self._release(node.path.drive, os.path.getsize(real))
        os.replace(temp.host_path, real)
        self._touched(temp.host_path, real)
        return True

    def _drop_meta(self, path: WinPath) -> None:
        prefix = path.key
        for table in ("acls", "junctions"):
            entries = self._state[table]
            for key in [k for k in entries if _under(k, prefix)]:
                del entries[key]
        self._state["locked"] = [p for p in self._state["locked"] if not _under(p.lower(), prefix)]
        self._state["readonly"] = [p for p in self._state.get("readonly", []) if not _under(p.lower(), prefix)]

    def _move_meta(self, old: WinPath, new: WinPath) -> None:
        prefix, old_text, new_text = old.key, str(old), str(new)
        for table in ("acls", "junctions"):
            entries = self._state[table]
            for key in [k for k in entries if _under(k, prefix)]:
                entry = entries.pop(key)
                entry["path"] = new_text + entry["path"][len(old_text):]
                entries[entry["path"].lower()] = entry
        self._state["readonly"] = [
            new_text + p[len(old_text):] if _under(p.lower(), prefix) else p for p in self._state.get("readonly", [])
        ]

    def _is_readonly(self, path: WinPath) -> bool:
        return path.key in [p.lower() for p in self._state.get("readonly", [])]

    def _tree_size(self, real: str) -> int:
        total = 0
        for folder, _dirs, files in os.walk(real):
            total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        return total

    def _remove(self, node: Node, what: str) -> None:
        if node.kind != "junction":
            self._check_unlocked(node.path, what)
        if node.kind == "file":
            size = os.path.getsize(node.host_path)
            os.remove(node.host_path)
            self._release(node.path.drive, size)
        elif node.kind == "directory":
            size = self._tree_size(node.host_path)
            shutil.rmtree(node.host_path)
            self._release(node.path.drive, size)
        self._drop_meta(node.path)
        if node.real is not None:
            self._forget(node.real)

    def _children(self, folder: Node) -> list[tuple[str, str]]:
        real = folder.host_path
        entries = [(name, "directory" if os.path.isdir(os.path.join(real, name)) else "file") for name in os.listdir(real)]
        for junction in self._state["junctions"].values():
            link = parse_path(junction["path"], "path")
            if link.parent.key == folder.path.key:
                entries.append((link.name, "junction"))
        return sorted(entries, key=lambda e: (e[0].lower(), e[0]))

    def _read_head(self, node: Node, count: int) -> bytes:
        with open(node.host_path, "rb") as handle:
            return handle.read(count)

    def _sha256(self, real: str) -> str:
        digest = hashlib.sha256()
        with open(real, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def _pe_of(self, node: Node) -> str | None:
        with open(node.host_path, "rb") as handle:
            return pe_machine(handle)

    # ---- ACLs -------------------------------------------------------------------------------

    def _acl_entry(self, path: WinPath) -> JsonDict | None:
        return self._state["acls"].get(path.key)

    def _explicit_aces(self, path: WinPath, is_dir: bool) -> list[JsonDict]:
        """The explicit ACEs of `path` in the order they are stored, as .NET reads them (_clean_ace)."""
        entry = self._acl_entry(path) or {}
        cleaned = (_clean_ace(a, is_dir) for a in entry.get("aces", []))
        return [a for a in cleaned if a is not None]

    def _inheritable(self, folder: WinPath, child_is_dir: bool) -> list[JsonDict]:
        """The ACEs a child of `folder` inherits (_child_flags), in the order of the folder's DACL."""
        return [
            dict(a, flags=flags) for a in self._stored_dacl(folder, True)
            for flags in [_child_flags(a["flags"], child_is_dir)] if flags is not None
        ]

    def _stored_dacl(self, path: WinPath, is_dir: bool) -> list[JsonDict]:
        """The DACL of `path` as stored: its explicit ACEs, then the ones it inherits (unless protected)."""
        entry = self._acl_entry(path) or {}
        inherited = [] if entry.get("protected") or path.is_root else self._inheritable(path.parent, is_dir)
        return self._explicit_aces(path, is_dir) + inherited

    def _acl(self, node: Node) -> JsonDict:
        """acl.get: as the agent reads a DACL through .NET, a canonical one comes back with its explicit ACEs
        in .NET's order (_dotnet_order); a non-canonical one as it is stored."""
        entry = self._acl_entry(node.path) or {}
        is_dir = node.kind == "directory"
        protected = bool(entry.get("protected")) or node.path.is_root
        explicit = self._explicit_aces(node.path, is_dir)
        canonical = _is_canonical(explicit)
        if canonical:
            explicit = _dotnet_order(explicit)
        inherited = [] if protected else self._inheritable(node.path.parent, is_dir)
        return {
            "exists": True,
            "owner": entry.get("owner", SID_ADMINISTRATORS),
            "protected": protected,
            "canonical": canonical,
            "aces": [_ace_row(a, False) for a in explicit] + [_ace_row(a, True) for a in inherited],
        }

    # ---- identities -------------------------------------------------------------------------

    def _accounts(self) -> list[tuple[str, str, str]]:
        computer = self.computer_name
        found = list(_WELL_KNOWN) + [(computer, ACCOUNT_NAME, ACCOUNT_SID)]
        for full, sid in self._state["accounts"].items():
            domain, _sep, name = full.rpartition("\\")
            found.append((domain, name, sid))
        return found

    def lookup_identity(self, name: str) -> str | None:
        """A SID for an account name or SID string (case-insensitive; BUILTIN\\ and local prefixes optional).

        None when no account has that name. A lookup that needs a domain whose trust is broken (a
        trust_failure fault) raises OpFailure identity_lookup_failed: names of that domain, and bare
        names that no local or well-known account has (Windows asks the domains for those)."""
        if _SID.match(name):
            return "S" + name[1:]
        domain, _sep, account = name.rpartition("\\")
        domain = domain.lower()
        computer = self.computer_name.lower()
        local = {"", "builtin", "nt authority", "nt service", computer}
        for known_domain, known_name, sid in self._accounts():
            if known_name.lower() == account.lower() and (
                domain in ("", known_domain.lower()) or (domain == "." and known_domain.lower() == computer)
            ):
                if known_domain.lower() not in local:
                    self._check_trust(name, known_domain)
                return sid
        if domain == "":
            self._check_trust(name, None)
        elif domain not in local and domain != ".":
            self._check_trust(name, domain)
        return None

    def _check_trust(self, name: str, domain: str | None) -> None:
        for fault in self._faults:
            if fault["fault"] == "trust_failure" and (domain is None or fault["domain"].lower() == domain.lower()):
                raise OpFailure("identity_lookup_failed", "looking up '%s' failed: %s" % (name, fault.get("message") or TRUST_FAILURE_MESSAGE))

    # ---- the ops ----------------------------------------------------------------------------

    def execute(self, ops: list[JsonDict], families: t.Iterable[str] | None = None) -> list[JsonDict]:
        """Run ops in order; stop at the first failure. Results as in docs/agent-protocol.md.

        With `families`, only the ops of those families are known, as in an agent assembled from
        core.ps1 and those family files (an op of any other family is an unknown op)."""
        results: list[JsonDict] = []
        known = set(OPS) if families is None else {name for name in OPS if op_family(name) in set(families)}
        self.agent_killed = None
        with self._transaction():
            self.before_request()
            for index, item in enumerate(ops):
                try:
                    result = self._run_one(index, item, known)
                except AgentKilled as killed:
                    self.agent_killed = str(killed)
                    break
                results.append(result)
                if not result["ok"]:
                    break
        return results

    def _run_one(self, index: int, item: object, known: set[str]) -> JsonDict:
        name = item.get("op") if isinstance(item, dict) else None
        counted = name if isinstance(name, str) and name in known else "(unknown)"
        self._counters["ops"][counted] = self._counters["ops"].get(counted, 0) + 1
        secrets: list[str] = []
        try:
            if not isinstance(item, dict) or not isinstance(name, str):
                raise OpFailure("bad_args", "op #%d must be an object with a string 'op'" % index)
            if name not in known:
                raise OpFailure("unsupported", "unknown op '%s'; this agent knows: %s" % (name, ", ".join(sorted(known))))
            raw = item.get("args")
            secrets = request_secrets(raw)
            fault = self._take_fault(lambda f: f["fault"] == "fail_op" and f["op"] == name)
            if fault is not None:
                raise OpFailure(fault["kind"], fault.get("message") or "injected fault (winsim fail_op)")
            handler, accepted = OPS[name]
            return {"ok": True, "data": handler(self, Args(name, raw, accepted, self._long_paths()))}
        except AgentKilled:
            raise
        except OpFailure as failure:
            kind, message = failure.kind, failure.message
        except Exception as exc:  # a bug in the model must still answer like the agent would
            kind, message = "internal", "winsim: %s: %s" % (type(exc).__name__, exc)
        return {"ok": False, "error": {"kind": kind, "message": hide_secrets(message, secrets)}}

    @_op("host.facts", "path")
    def _host_facts(self, a: Args) -> JsonDict:
        path = a.optional_path("path")
        drive = path.drive if path is not None else "C"
        prof = self.profile
        build = int(self._reg_data(CURRENT_VERSION_KEY, "CurrentBuild", prof.build))
        arch = str(self._reg_data(ENV_KEY, "PROCESSOR_ARCHITECTURE", "AMD64")).lower()
        profile = self._user_profile()
        return {
            "computer_name": self.computer_name,
            "os_caption": "Microsoft " + str(self._reg_data(CURRENT_VERSION_KEY, "ProductName", prof.product_name)),
            "os_build": build,
            "os_version": "10.0.%d" % build,
            "edition": self._reg_data(CURRENT_VERSION_KEY, "EditionID", "ServerDatacenter"),
            "installation_type": self._reg_data(CURRENT_VERSION_KEY, "InstallationType", prof.installation_type),
            "arch": {"x86": "386"}.get(arch, arch),
            "ps_version": prof.ps_version,
            "ps_language_mode": "FullLanguage",
            "dotnet_release": self._reg_data(NDP_KEY, "Release", 0),
            "long_paths_enabled": self._long_paths(),
            "system_drive": "C:",
            "drive": drive + ":",
            "free_bytes": self._free(drive) if drive in self._state["drives"] else None,
            "user_sid": ACCOUNT_SID,
            "user_name": self.computer_name + "\\" + ACCOUNT_NAME,
            "is_admin": True,
            "pending_reboot": self._pending_reboot(),
            "boot_time": self._state.get("boot_time") or "2026-01-01T00:00:00Z",
            "user_profile": profile,
            "appdata": profile + "\\AppData\\Roaming",
            "local_appdata": profile + "\\AppData\\Local",
            "temp": _no_trailing_slash(self._new_process_env().get("TEMP") or profile + "\\AppData\\Local\\Temp"),
            "program_data": "C:\\ProgramData",
            "go_user_config": self._go_user_config(profile + "\\AppData\\Roaming"),
        }

    def _go_user_config(self, appdata: str) -> JsonDict:
        """The go command's per-user files: its env file (GOENV, default %AppData%\\go\\env) and telemetry mode."""
        goenv = self._new_process_env().get("GOENV")
        env_path = None if goenv == "off" else (goenv or appdata + "\\go\\env")
        return {"env_file": self._small_text(env_path), "telemetry_mode": self._small_text(appdata + "\\go\\telemetry\\mode")}

    def _small_text(self, path: str | None) -> JsonDict:
        if path is None:
            return {"path": None, "exists": False, "content": None}
        try:
            node = self.resolve(parse_path(path, "path"))
        except OpFailure:
            return {"path": path, "exists": False, "content": None}
        if node.kind != "file":
            return {"path": path, "exists": False, "content": None}
        with open(node.host_path, "rb") as handle:
            return {"path": path, "exists": True, "content": handle.read(65536).decode("utf-8", "replace")}

    # ---- faults -----------------------------------------------------------------------------

    def _take_fault(self, match: Callable[[JsonDict], bool]) -> JsonDict | None:
        for index, fault in enumerate(self._faults):
            if match(fault):
                return self._faults.pop(index)
        return None

    def add_fault(self, fault: JsonDict) -> None:
        """Queue a fault (see FAULT_FORMS). fail_op, truncate_download and drop_connection act once;
        disk_full sets the drive's free space at once and stays until clear_faults(); so does trust_failure
        (lookups of names of that domain fail identity_lookup_failed, see lookup_identity)."""
        form = fault.get("fault") if isinstance(fault, dict) else None
        if form not in FAULT_FORMS:
            raise ValueError("fault must be a dict whose 'fault' is one of %s; got %r" % (", ".join(FAULT_FORMS), fault))
        fields = FAULT_FORMS[form]
        for name, value in fault.items():
            if name != "fault" and (name not in fields or not isinstance(value, fields[name]) or isinstance(value, bool)):
                raise ValueError("fault %s: bad field %r=%r; accepted: %s" % (form, name, value, ", ".join(fields)))
        missing = [name for name in _FAULT_REQUIRED[form] if name not in fault]
        if missing:
            raise ValueError("fault %s: missing %s" % (form, ", ".join(missing)))
        if form == "fail_op" and fault["kind"] not in ERROR_KINDS:
            raise ValueError("fault fail_op: kind must be one of %s" % ", ".join(ERROR_KINDS))
        with self._transaction() as state:
            if form == "disk_full":
                drive = fault.get("drive", "C").rstrip(":").upper()
                if drive not in state["drives"]:
                    raise ValueError("fault disk_full: drive %s: does not exist on this host" % drive)
                without = self._lift_disk_full(drive)
                self._faults.append({"fault": "disk_full", "drive": drive, "free_bytes": fault["free_bytes"], "free_bytes_without": without})
                state["drives"][drive]["free_bytes"] = fault["free_bytes"]
            else:
                self._faults.append(dict(fault))

    def _lift_disk_full(self, drive: str) -> int:
        """End a disk_full fault on `drive`: the free space it would have had, plus what changed since."""
        free = self._free(drive)
        for fault in [f for f in self._faults if f["fault"] == "disk_full" and f["drive"] == drive]:
            free = fault["free_bytes_without"] + free - fault["free_bytes"]
            self._faults.remove(fault)
        self._state["drives"][drive]["free_bytes"] = free
        return free

    def take_fault(self, form: str) -> JsonDict | None:
        """Consume the next pending fault of a form (the connection plugin uses it for drop_connection).

        A fault with ``skip_round_trips: n`` lets n more round trips pass first (e.g. 1 spares a
        module's probe, so the connection drops inside its apply batch)."""
        with self._transaction():
            for fault in self._faults:
                if fault["fault"] == form and fault.get("skip_round_trips", 0) > 0:
                    fault["skip_round_trips"] -= 1
                    return None
            return self._take_fault(lambda f: f["fault"] == form)

    def faults(self) -> list[JsonDict]:
        with self._transaction():
            return [dict(f) for f in self._faults]

    def clear_faults(self) -> None:
        """Drop pending faults and lift disk_full."""
        with self._transaction():
            for drive in {f["drive"] for f in self._faults if f["fault"] == "disk_full"}:
                self._lift_disk_full(drive)
            self._faults = []

    # ---- counters ---------------------------------------------------------------------------

    def counters(self) -> JsonDict:
        with self._transaction():
            return json.loads(json.dumps(self._counters))

    def notifications(self) -> int:
        """How many env.notify ops ran (the WM_SETTINGCHANGE broadcasts a real host would have sent)."""
        with self._transaction() as state:
            return int(state.get("notifications", 0))

    def reset_counters(self) -> None:
        with self._transaction():
            self._counters = _new_counters()

    def count_round_trip(self, sent: int, received: int, put: bool = False, families: t.Iterable[str] | None = None) -> None:
        """One round trip; `families`: the op families of the agent text it carried (for the benchmarks)."""
        with self._transaction():
            self._counters["round_trips"] += 1
            self._counters["bytes_sent"] += sent
            self._counters["bytes_received"] += received
            if put:
                self._counters["puts"] += 1
            if families is not None:
                self._counters.setdefault("families_sent", []).append(list(families))

    # ---- test and bench API -----------------------------------------------------------------

    def snapshot(self) -> str:
        """sha256 over state.json and every folder and file under fs/ (not counters, not faults)."""
        with self._transaction():
            digest = hashlib.sha256(_dump(self._state).encode("utf-8"))
            for folder, dirs, files in os.walk(self.fs_root):
                dirs.sort()
                rel = os.path.relpath(folder, self.fs_root)
                digest.update(b"D\0" + rel.encode("utf-8", "surrogateescape") + b"\0")
                for name in sorted(files):
                    digest.update(b"F\0" + name.encode("utf-8", "surrogateescape") + b"\0")
                    digest.update(self._sha256(os.path.join(folder, name)).encode("ascii"))
            return digest.hexdigest()

    def read_file(self, path: str) -> bytes | None:
        with self._transaction():
            node = self.resolve(parse_path(path, "path"))
            if node.kind != "file":
                return None
            with open(node.host_path, "rb") as handle:
                return handle.read()

    def process_environment(self) -> dict[str, str]:
        """The environment a new process of the connection account gets now (what go.run starts go.exe with)."""
        with self._transaction():
            return self._new_process_env().as_dict()

    def registry_value(self, path: str, name: str) -> JsonDict | None:
        with self._transaction():
            return self.registry.value(path, name)

    def put(self, local_path: str, path: str) -> int:
        """Copy a controller file into the model (what put_file does); returns its size."""
        with self._transaction():
            win = parse_path(path, "path")
            check_length(win, "put_file", self._long_paths())
            node = self.resolve(win)
            created = self._mkdirs(os.path.dirname(self._writable(node, "put_file")))
            try:
                with open(local_path, "rb") as handle:
                    size, _digest = self._write_stream(node, iter(lambda: handle.read(CHUNK), b""), "put_file")
            except BaseException:
                self._rmdirs(created)
                raise
            return size

    def lock(self, path: str) -> None:
        """Hold a file open (like a running service's executable): overwrite, move and remove fail in_use."""
        with self._transaction() as state:
            node = self.resolve(parse_path(path, "path"))
            if not node.exists:
                raise ValueError("cannot lock %s: it does not exist" % path)
            if str(node.path).lower() not in [p.lower() for p in state["locked"]]:
                state["locked"].append(str(node.path))

    def set_readonly(self, path: str, readonly: bool = True) -> None:
        """Set or clear a file's read-only attribute (file.write keeps it, path.remove clears it first)."""
        with self._transaction() as state:
            node = self.resolve(parse_path(path, "path"))
            if node.kind != "file":
                raise ValueError("cannot make %s read-only: it is not a file" % path)
            kept = [p for p in state.setdefault("readonly", []) if p.lower() != node.path.key]
            state["readonly"] = kept + ([str(node.path)] if readonly else [])

    def unlock(self, path: str) -> None:
        with self._transaction() as state:
            key = self.resolve(parse_path(path, "path")).path.key
            state["locked"] = [p for p in state["locked"] if p.lower() != key]

    def add_account(self, name: str, sid: str) -> None:
        """Make an account or group known (a bare name becomes <COMPUTERNAME>\\name)."""
        if not _SID.match(sid):
            raise ValueError("sid must look like S-1-5-21-...; got %r" % sid)
        with self._transaction() as state:
            full = name if "\\" in name else self.computer_name + "\\" + name
            state["accounts"][full] = "S" + sid[1:]

    def set_acl(self, path: str, aces: list[JsonDict], protected: bool = False, owner: str = SID_ADMINISTRATORS) -> None:
        """Store the explicit ACEs of `path` exactly as given, order kept ({sid, mask, type, flags}), as a tool
        that writes a raw DACL would (icacls /restore, SetSecurityInfo): e.g. a non-canonical DACL."""
        with self._transaction() as state:
            node = self.resolve(parse_path(path, "path"))
            stored = [_ace(a["sid"], a["mask"], ace_type=a["type"], flags=list(a.get("flags", []))) for a in aces]
            state["acls"][node.path.key] = {"path": str(node.path), "owner": owner, "protected": protected, "aces": stored}

    def request_reboot(self, reason: str) -> None:
        """Flag a pending reboot (host.facts pending_reboot) until reboot()."""
        with self._transaction() as state:
            if reason not in state["pending_reboot"]:
                state["pending_reboot"].append(reason)

    def before_request(self) -> None:
        """What happened on the host between round trips (the reboot family: a restart that fell due)."""

    def reboot(self) -> None:
        """Clear what waits for a reboot: the pending flags and Windows' reboot markers."""
        with self._transaction() as state:
            state["pending_reboot"] = []
            for key in REBOOT_MARKER_KEYS:
                self.registry.remove_key(key)
            self.registry.remove_value(*REBOOT_MARKER_VALUE)
