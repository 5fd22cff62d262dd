# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim: a SIMULATED Windows Server host kept on disk, for tests and offline use. It is not Windows.
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
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import struct
import threading
import typing as t
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ansible_collections.gowin.server.plugins.plugin_utils._goenv import go_env_view

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
    "exec_failed", "unsupported", "internal",
)
REG_TYPES = ("REG_SZ", "REG_EXPAND_SZ", "REG_DWORD", "REG_QWORD", "REG_MULTI_SZ", "REG_BINARY")
SECRET_ARGS = frozenset({"password"})
SECRET_MASK = "********"

ENV_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
USER_ENV_KEY = "HKU\\" + ACCOUNT_SID + "\\Environment"
FILESYSTEM_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\FileSystem"
CURRENT_VERSION_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
NDP_KEY = "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"
COMPUTER_NAME_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName"
SESSION_MANAGER_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"
SERVICES_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services"
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


def _redact_url(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += ":%d" % parts.port
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


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


def _ace(sid: str, mask: int, inherit: bool = True, ace_type: str = "allow") -> JsonDict:
    return {"sid": sid, "mask": mask, "type": ace_type, "inherit": inherit}


def _ace_sort_key(ace: JsonDict) -> tuple[str, int, str, bool]:
    return (ace["sid"], ace["mask"], ace["type"], ace["inherit"])


# --------------------------------------------------------------------------------------------
# Op arguments


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


OpHandler = Callable[["WinSimHost", Args], JsonDict]
OPS: dict[str, tuple[OpHandler, tuple[str, ...]]] = {}


def _op(name: str, *accepted: str) -> Callable[[OpHandler], OpHandler]:
    def register(handler: OpHandler) -> OpHandler:
        OPS[name] = (handler, accepted)
        return handler

    return register


# --------------------------------------------------------------------------------------------
# The model of go.exe


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
    cwd: WinPath | None

    @property
    def goroot(self) -> WinPath:
        return self.exe.parent.parent

    @property
    def version_file(self) -> WinPath:
        return self.goroot.child("VERSION")


GO_MODELLED = "'go version', 'go env [-json] [NAME...]', 'go mod init [PATH]' (with cwd) and 'go build [-o OUT] [.]' (with cwd)"


def _go_command(argv: list[str], cwd: WinPath | None) -> GoCommand:
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
    if command.verb in ("mod init", "build") and cwd is None:
        raise OpFailure("unsupported", "go.run: winsim models 'go %s' only with cwd (the folder it runs in)" % command.verb)
    return command


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
}
_FAULT_REQUIRED = {"fail_op": ("op", "kind"), "truncate_download": ("bytes",), "drop_connection": ("after_ops",), "disk_full": ("free_bytes",)}


def _new_counters() -> JsonDict:
    return {"round_trips": 0, "bytes_sent": 0, "bytes_received": 0, "ops": {}, "puts": 0}


def _dump(value: object) -> str:
    return json.dumps(value, indent=1, ensure_ascii=True) + "\n"


class WinSimHost:
    """One simulated host. Every public method is one locked transaction on the state directory."""

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
            "accounts": {},
            "drives": {"C": {"free_bytes": INITIAL_FREE_BYTES}},
            "pending_reboot": [],
            "notifications": 0,
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
        }
        for service, (display, group, account, start) in services.items():
            key = SERVICES_KEY + "\\" + service
            values += [
                (key, "DisplayName", sz, display),
                (key, "ImagePath", exp, "%SystemRoot%\\System32\\svchost.exe -k " + group + " -p"),
                (key, "ObjectName", sz, account),
                (key, "Start", dword, start),
                (key, "Type", dword, 32),
                (key, "ErrorControl", dword, 1),
            ]
        for path, name, reg_type, data in values:
            reg.set(path, name, reg_type, data)
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
                _ace(SID_USERS, READ_AND_EXECUTE), _ace(SID_USERS, WRITE_DATA_APPEND_DATA),
                _ace(SID_AUTHENTICATED_USERS, MODIFY),
            ]),
            ("C:\\Windows", TRUSTED_INSTALLER_SID, system_acl),
            ("C:\\Program Files", TRUSTED_INSTALLER_SID, system_acl),
            ("C:\\Program Files (x86)", TRUSTED_INSTALLER_SID, system_acl),
            ("C:\\ProgramData", SID_SYSTEM, [
                _ace(SID_SYSTEM, FULL_CONTROL), _ace(SID_ADMINISTRATORS, FULL_CONTROL),
                _ace(SID_CREATOR_OWNER, FULL_CONTROL), _ace(SID_USERS, READ_AND_EXECUTE), _ace(SID_USERS, WRITE),
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

    def _user_profile(self) -> str:
        """The connection account's profile folder (ProfileImagePath, expanded as the profile service does)."""
        data = self._reg_data(PROFILE_LIST_KEY, "ProfileImagePath")
        base = Environ()
        base.set("SystemRoot", str(self._reg_data(CURRENT_VERSION_KEY, "SystemRoot", "C:\\Windows")))
        base.set("SystemDrive", "C:")
        return _no_trailing_slash(base.expand(data)) if isinstance(data, str) and data else "C:\\Users\\" + ACCOUNT_NAME

    def _load_env_key(self, environ: Environ, key: str, machine_path: str | None = None) -> None:
        """Add one Environment key's values: REG_SZ as they are, then REG_EXPAND_SZ expanded; Path is appended."""
        found = self.registry.find(key)
        values = found["values"] if found is not None else {}
        for expand in (False, True):
            for name, value in values.items():
                if value["type"] != ("REG_EXPAND_SZ" if expand else "REG_SZ") or not isinstance(value["data"], str):
                    continue
                data = environ.expand(value["data"]) if expand else value["data"]
                if machine_path is not None and name.lower() == "path" and machine_path:
                    data = machine_path + ("" if machine_path.endswith(";") else ";") + data
                environ.set(name, data)

    def _new_process_env(self) -> Environ:
        """The environment a new process of the connection account gets, built from the registry as Windows does at logon."""
        environ = Environ()
        profile = self._user_profile()
        computer = str(self._reg_data(COMPUTER_NAME_KEY, "ComputerName", "WINSIM"))
        system: list[tuple[str, str]] = [
            ("SystemRoot", str(self._reg_data(CURRENT_VERSION_KEY, "SystemRoot", "C:\\Windows"))),
            ("SystemDrive", "C:"),
            ("ALLUSERSPROFILE", "C:\\ProgramData"),
            ("ProgramData", "C:\\ProgramData"),
            ("ProgramFiles", str(self._reg_data(PROGRAM_FILES_KEY, "ProgramFilesDir", "C:\\Program Files"))),
            ("ProgramFiles(x86)", str(self._reg_data(PROGRAM_FILES_KEY, "ProgramFilesDir (x86)", "C:\\Program Files (x86)"))),
            ("PUBLIC", "C:\\Users\\Public"),
            ("COMPUTERNAME", computer),
        ]
        for name, value in system:
            environ.set(name, value)
        self._load_env_key(environ, ENV_KEY)
        account: list[tuple[str, str]] = [
            ("USERNAME", ACCOUNT_NAME),
            ("USERDOMAIN", computer),
            ("USERPROFILE", profile),
            ("HOMEDRIVE", profile[:2]),
            ("HOMEPATH", profile[2:] or "\\"),
            ("APPDATA", profile + "\\AppData\\Roaming"),
            ("LOCALAPPDATA", profile + "\\AppData\\Local"),
        ]
        for name, value in account:
            environ.set(name, value)
        self._load_env_key(environ, USER_ENV_KEY, machine_path=environ.get("Path"))
        return environ

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

    def _move_meta(self, old: WinPath, new: WinPath) -> None:
        prefix, old_text, new_text = old.key, str(old), str(new)
        for table in ("acls", "junctions"):
            entries = self._state[table]
            for key in [k for k in entries if _under(k, prefix)]:
                entry = entries.pop(key)
                entry["path"] = new_text + entry["path"][len(old_text):]
                entries[entry["path"].lower()] = entry

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

    def _inheritable(self, folder: WinPath) -> list[JsonDict]:
        """The ACEs a child of `folder` inherits: its inheritable explicit ones, then what it inherited."""
        entry = self._acl_entry(folder) or {}
        own = [a for a in entry.get("aces", []) if a["inherit"]]
        if folder.is_root or entry.get("protected"):
            return own
        return own + self._inheritable(folder.parent)

    def _acl(self, node: Node) -> JsonDict:
        entry = self._acl_entry(node.path) or {}
        is_dir = node.kind == "directory"
        protected = bool(entry.get("protected")) or node.path.is_root
        explicit = sorted(entry.get("aces", []), key=lambda a: a["type"] != "deny")
        inherited = [] if protected else self._inheritable(node.path.parent)
        return {
            "exists": True,
            "owner": entry.get("owner", SID_ADMINISTRATORS),
            "protected": protected,
            "aces": [dict(a, inherit=a["inherit"] and is_dir, inherited=False) for a in explicit]
            + [dict(a, inherit=is_dir, inherited=True) for a in inherited],
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
        """A SID for an account name or SID string (case-insensitive; BUILTIN\\ and local prefixes optional)."""
        if _SID.match(name):
            return "S" + name[1:]
        domain, _sep, account = name.rpartition("\\")
        domain = domain.lower()
        computer = self.computer_name.lower()
        for known_domain, known_name, sid in self._accounts():
            if known_name.lower() == account.lower() and (
                domain in ("", known_domain.lower()) or (domain == "." and known_domain.lower() == computer)
            ):
                return sid
        return None

    # ---- the ops ----------------------------------------------------------------------------

    def execute(self, ops: list[JsonDict]) -> list[JsonDict]:
        """Run ops in order; stop at the first failure. Results as in docs/agent-protocol.md."""
        results: list[JsonDict] = []
        with self._transaction():
            for index, item in enumerate(ops):
                result = self._run_one(index, item)
                results.append(result)
                if not result["ok"]:
                    break
        return results

    def _run_one(self, index: int, item: object) -> JsonDict:
        name = item.get("op") if isinstance(item, dict) else None
        counted = name if isinstance(name, str) and name in OPS else "(unknown)"
        self._counters["ops"][counted] = self._counters["ops"].get(counted, 0) + 1
        secrets: list[str] = []
        try:
            if not isinstance(item, dict) or not isinstance(name, str):
                raise OpFailure("bad_args", "op #%d must be an object with a string 'op'" % index)
            if name not in OPS:
                raise OpFailure("unsupported", "unknown op '%s'; this agent knows: %s" % (name, ", ".join(sorted(OPS))))
            raw = item.get("args")
            if isinstance(raw, dict):
                secrets = [str(raw[k]) for k in SECRET_ARGS if raw.get(k)]
            fault = self._take_fault(lambda f: f["fault"] == "fail_op" and f["op"] == name)
            if fault is not None:
                raise OpFailure(fault["kind"], fault.get("message") or "injected fault (winsim fail_op)")
            handler, accepted = OPS[name]
            return {"ok": True, "data": handler(self, Args(name, raw, accepted, self._long_paths()))}
        except OpFailure as failure:
            kind, message = failure.kind, failure.message
        except Exception as exc:  # a bug in the model must still answer like the agent would
            kind, message = "internal", "winsim: %s: %s" % (type(exc).__name__, exc)
        for secret in secrets:
            message = message.replace(secret, SECRET_MASK)
        return {"ok": False, "error": {"kind": kind, "message": message}}

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

    @_op("registry.get", "path", "depth")
    def _registry_get(self, a: Args) -> JsonDict:
        path = parse_reg_path(a.need_text("path"), "path")
        depth = a.number("depth", 0, 0, 3)
        key = self.registry.find(path)
        if key is None:
            return {"exists": False, "values": {}, "keys": {}}
        return dict(exists=True, **Registry.node(key, depth))

    @_op("registry.set", "path", "name", "type", "data")
    def _registry_set(self, a: Args) -> JsonDict:
        path = parse_reg_path(a.need_text("path"), "path")
        name = a.need_text("name", empty=True)
        reg_type = a.need_text("type", choices=REG_TYPES)
        if a.raw.get("data") is None:
            a.fail("data", "is required (a string, an integer, a list of strings or a hex string, by type)")
        data = check_reg_data(reg_type, a.raw["data"])
        before = self.registry.value(path, name)
        if before == {"type": reg_type, "data": data}:
            return {"changed": False, "before": before}
        self.registry.set(path, name, reg_type, data)
        return {"changed": True, "before": before}

    @_op("registry.remove", "path", "name")
    def _registry_remove(self, a: Args) -> JsonDict:
        path = parse_reg_path(a.need_text("path"), "path")
        name = a.text("name", empty=True)
        if name is not None:
            return {"changed": self.registry.remove_value(path, name)}
        if not path[1]:
            a.fail("path", "names the hive %s itself; only keys below a hive can be removed" % path[0])
        return {"changed": self.registry.remove_key(path)}

    @_op("file.stat", "path", "checksum", "pe", "read", "expect")
    def _file_stat(self, a: Args) -> JsonDict:
        path = a.path("path")
        want = {"sha256": a.flag("checksum", False), "pe_machine": a.flag("pe", False), "content": a.flag("read", False)}
        checks = self._stat_checks(a)
        node = self.resolve(path, follow=False)
        facts: JsonDict = {"exists": node.exists}
        if node.kind == "junction":
            facts.update(type="junction", target=node.target)
        elif node.exists:
            facts.update(type=node.kind, mtime=int(os.stat(node.host_path).st_mtime))
        if node.kind == "file":
            facts["size"] = os.path.getsize(node.host_path)
            if want["sha256"] or "sha256" in checks:
                facts["sha256"] = self._sha256(node.host_path)
            if want["pe_machine"] or "pe_machine" in checks:
                facts["pe_machine"] = self._pe_of(node)
            if want["content"] or "first_line" in checks:
                facts["content"] = decode_text(self._read_head(node, READ_LIMIT))
        differences = []
        for field, expected in checks.items():
            if field == "first_line":
                actual = facts["content"].split("\n", 1)[0].rstrip("\r") if "content" in facts else None
            else:
                actual = facts.get(field)
            if actual != expected:
                differences.append("%s is %s, expected %s" % (field, json.dumps(actual), json.dumps(expected)))
        if differences:
            raise OpFailure("verify_failed", "%s: %s" % (path, "; ".join(differences)))
        for field, wanted in want.items():
            if not wanted:
                facts.pop(field, None)
        return facts

    @staticmethod
    def _stat_checks(a: Args) -> JsonDict:
        accepted: dict[str, Callable[[object], bool]] = {
            "exists": lambda v: isinstance(v, bool),
            "type": lambda v: v in ("file", "directory", "junction"),
            "sha256": lambda v: isinstance(v, str) and re.match(r"^[0-9a-fA-F]{64}$", v) is not None,
            "pe_machine": lambda v: v is None or v in ("amd64", "arm64", "386", "unknown"),
            "first_line": lambda v: isinstance(v, str),
        }
        checks = dict(a.mapping("expect") or {})
        for field, value in checks.items():
            if field not in accepted or not accepted[field](value):
                a.fail(
                    "expect",
                    "has a bad entry '%s'; accepted: exists (true|false), type (file|directory|junction), sha256 (64 hex "
                    "digits), pe_machine (amd64|arm64|386|unknown|null), first_line (a string)" % field,
                )
        if "sha256" in checks:
            checks["sha256"] = checks["sha256"].lower()
        return checks

    @_op("file.write", "path", "content", "encoding")
    def _file_write(self, a: Args) -> JsonDict:
        path = a.path("path")
        content = a.need_text("content", empty=True)
        encoding = a.text("encoding", choices=FILE_ENCODINGS) or "utf8"
        try:
            data = _BOMS[encoding] + content.encode(_CODECS[encoding])
        except UnicodeEncodeError:
            a.fail("content", "cannot be written as %s: it holds a lone UTF-16 surrogate" % encoding)
        changed = self._write_atomic(path, data, "file.write")
        return {"changed": changed, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    @_op("dir.list", "path")
    def _dir_list(self, a: Args) -> JsonDict:
        node = self.resolve(a.path("path"))
        if node.kind != "directory":
            return {"exists": False, "entries": []}
        return {"exists": True, "entries": [{"name": n, "type": k} for n, k in self._children(node)]}

    @_op("dir.ensure", "path")
    def _dir_ensure(self, a: Args) -> JsonDict:
        node = self.resolve(a.path("path"))
        if node.kind == "directory":
            return {"changed": False}
        if node.kind == "file":
            raise OpFailure("exists", "dir.ensure: %s is a file" % node.path)
        self._mkdirs(self._writable(node, "dir.ensure"))
        return {"changed": True}

    @_op("path.remove", "path", "recurse")
    def _path_remove(self, a: Args) -> JsonDict:
        path = a.path("path")
        recurse = a.flag("recurse", True)
        node = self.resolve(path, follow=False)
        if not node.exists:
            return {"changed": False}
        if node.path.is_root:
            a.fail("path", "is the root of drive %s:; a drive root is never removed" % node.path.drive)
        if node.kind == "directory" and not recurse and self._children(node):
            a.fail("recurse", "is false but %s is not empty; set recurse to true to remove it with its contents" % node.path)
        self._remove(node, "path.remove")
        return {"changed": True}

    @_op("path.move", "src", "dest")
    def _path_move(self, a: Args) -> JsonDict:
        src_path, dest_path = a.path("src"), a.path("dest")
        src = self.resolve(src_path, follow=False)
        if not src.exists:
            raise OpFailure("not_found", "path.move: src %s does not exist" % src_path)
        dest = self.resolve(dest_path, follow=False)
        same = dest.exists and dest.path.key == src.path.key
        if dest.exists and not same:
            raise OpFailure("exists", "path.move: dest %s already exists" % dest.path)
        if src.path.drive != dest.path.drive:
            raise OpFailure("unsupported", "path.move: %s and %s are on different drives; a move is a rename" % (src_path, dest_path))
        if not same and _under(dest.path.key, src.path.key):
            a.fail("dest", "is inside src %s; a folder cannot be moved into itself" % src.path)
        parent = self.resolve(dest.path.parent)
        if parent.kind != "directory":
            raise OpFailure("not_found", "path.move: the folder of dest, %s, does not exist" % dest.path.parent)
        self._check_unlocked(src.path, "path.move")
        new_path = parent.path.child(dest_path.name)
        if src.kind == "junction":
            entry = self._state["junctions"].pop(src.path.key)
            entry["path"] = str(new_path)
            self._state["junctions"][new_path.key] = entry
        else:
            moved_to = os.path.join(parent.host_path, dest_path.name)
            os.rename(src.host_path, moved_to)
            self._move_meta(src.path, new_path)
            self._forget(src.host_path)
            self._touched(moved_to)
        return {"changed": True}

    @_op("file.download", "url", "dest", "sha256", "username", "password", "validate_certs", "timeout")
    def _file_download(self, a: Args) -> JsonDict:
        url = a.need_text("url")
        dest_path = a.path("dest")
        sha = a.text("sha256")
        if sha is not None and not re.match(r"^[0-9a-fA-F]{64}$", sha):
            a.fail("sha256", "must be 64 hex digits (a SHA-256)")
        a.flag("validate_certs", True)
        a.number("timeout", 300, 1, 86400)
        a.text("username")
        a.text("password", empty=True)
        if a.given("password") and not a.given("username"):
            a.fail("username", "is required when password is given")
        dest = self.resolve(dest_path)
        if dest.kind == "directory":
            raise OpFailure("exists", "file.download: dest %s is a directory" % dest.path)
        real = self._writable(dest, "file.download")
        self._check_unlocked(dest.path, "file.download")
        source = self._source(url, dest, a)
        truncate = self._take_fault(lambda f: f["fault"] == "truncate_download")
        created = self._mkdirs(os.path.dirname(real))
        try:
            size, digest = self._write_stream(dest, source(), "file.download", truncate["bytes"] if truncate else None)
            if sha is not None and digest != sha.lower():
                raise OpFailure(
                    "checksum_mismatch",
                    "file.download: %s has sha256 %s, expected %s; the file was deleted" % (_redact_url(url), digest, sha.lower()),
                )
        except BaseException:
            # Whatever failed once the arguments were good, no file is left at dest.
            left = self.resolve(dest.path)
            if left.kind == "file":
                self._remove(left, "file.download")
            self._rmdirs(created)
            raise
        return {"size": size, "sha256": digest}

    def _source(self, url: str, dest: Node, a: Args) -> Callable[[], Iterator[bytes]]:
        """What reads the source, after checking the form of `url` (bad_args); reading may fail download_failed."""
        if url.lower().startswith(("http://", "https://")):
            return lambda: self._http_chunks(url, a)
        if is_unc(url):
            return lambda: self._file_chunks(self._share_file(url), url)
        if not _DRIVE_PATH.match(url.replace("/", "\\")):
            a.fail(
                "url",
                "must be an https:// or http:// URL, a UNC path (\\\\server\\share\\file) or a local path (C:\\...); got '%s'"
                % _redact_url(url),
            )
        source = self.resolve(parse_path(url, "url"))
        if source.path.key == dest.path.key:
            a.fail("url", "is the same file as dest")
        return lambda: self._file_chunks(source.real if source.kind == "file" else None, url)

    def _share_file(self, url: str) -> str | None:
        """The file a UNC path names under <state_dir>/_shares (server and share names too are case-insensitive)."""
        parts = [p for p in url.replace("/", "\\").split("\\") if p]
        if len(parts) < 3:
            return None
        real = self.shares_root
        for part in parts:
            name = _ci_find(os.listdir(real), part) if os.path.isdir(real) else None
            if name is None:
                return None
            real = os.path.join(real, name)
        return real if os.path.isfile(real) else None

    @staticmethod
    def _file_chunks(real: str | None, url: str) -> Iterator[bytes]:
        if real is None:
            raise OpFailure("download_failed", "file.download: %s does not exist or is not a file" % url)
        with open(real, "rb") as handle:
            yield from iter(lambda: handle.read(CHUNK), b"")

    @staticmethod
    def _http_chunks(url: str, a: Args) -> Iterator[bytes]:
        shown = _redact_url(url)
        handlers: list[urllib.request.BaseHandler] = []
        if url.lower().startswith("https://"):
            context = ssl.create_default_context()
            if not a.flag("validate_certs", True):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        username = a.text("username")
        if username is not None:
            # Sent up front, and only to URLs below this one: never to a host a redirect leads to.
            passwords = urllib.request.HTTPPasswordMgrWithPriorAuth()
            passwords.add_password(None, url, username, a.text("password", empty=True) or "", is_authenticated=True)
            handlers.append(urllib.request.HTTPBasicAuthHandler(passwords))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(url, headers={"User-Agent": "gowin-winsim/1"})
        timeout = a.number("timeout", 300, 1, 86400)
        try:
            with opener.open(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                got = 0
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    got += len(chunk)
                    yield chunk
                if length is not None and length.isdigit() and got < int(length):
                    raise OpFailure(
                        "download_failed", "download of %s failed: the connection closed after %d of %s bytes" % (shown, got, length)
                    )
        except urllib.error.HTTPError as exc:
            raise OpFailure("download_failed", "download of %s failed: HTTP %d %s" % (shown, exc.code, exc.reason)) from None
        except urllib.error.URLError as exc:
            raise OpFailure("download_failed", "download of %s failed: %s" % (shown, exc.reason)) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            reason = "timed out after %s seconds" % timeout if isinstance(exc, TimeoutError) else "%s: %s" % (type(exc).__name__, exc)
            raise OpFailure("download_failed", "download of %s failed: %s" % (shown, reason)) from None

    @_op("zip.extract", "src", "dest")
    def _zip_extract(self, a: Args) -> JsonDict:
        src_path, dest_path = a.path("src"), a.path("dest")
        src = self.resolve(src_path)
        if src.kind != "file":
            raise OpFailure("not_found", "zip.extract: src %s does not exist or is not a file" % src_path)
        dest = self.resolve(dest_path)
        if dest.kind == "file":
            raise OpFailure("exists", "zip.extract: dest %s is a file" % dest.path)
        dest_real = dest.host_path if dest.exists else self._writable(dest, "zip.extract")
        try:
            archive = zipfile.ZipFile(src.host_path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise OpFailure("corrupt_archive", "zip.extract: %s is not a valid zip archive (%s)" % (src_path, exc)) from None
        with archive:
            plan = self._zip_plan(archive, dest.path, a)
            created = [] if dest.exists else self._mkdirs(dest_real)
            written: list[Node] = []
            total = 0
            try:
                for parts, info in plan:
                    node = self.resolve(dest.path.child(*parts))
                    real = self._writable(node, "zip.extract")
                    if info is None:
                        created += self._mkdirs(real)
                        continue
                    created += self._mkdirs(os.path.dirname(real))
                    with archive.open(info) as member:
                        size, _digest = self._write_stream(node, iter(lambda: member.read(CHUNK), b""), "zip.extract")
                    written.append(self.resolve(node.path))
                    total += size
            except BaseException as exc:
                for done in written:
                    self._remove(done, "zip.extract")
                self._rmdirs(created)
                if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError, zipfile.LargeZipFile, NotImplementedError)):
                    raise OpFailure("corrupt_archive", "zip.extract: %s cannot be read (%s); nothing was kept" % (src_path, exc)) from None
                if isinstance(exc, OpFailure) and exc.kind == "disk_full":
                    exc.message += "; the files written were removed"
                raise
        return {"files": len(written), "bytes": total}

    def _zip_plan(self, archive: zipfile.ZipFile, dest: WinPath, a: Args) -> list[tuple[tuple[str, ...], zipfile.ZipInfo | None]]:
        """Entries as (path parts below dest, info or None for a folder); all checked before anything is written."""
        stored_case: dict[str, str] = {}
        plan: list[tuple[tuple[str, ...], zipfile.ZipInfo | None]] = []
        seen: set[str] = set()
        for info in archive.infolist():
            raw = info.filename.replace("\\", "/")
            what = "zip entry '%s'" % info.filename
            if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or ".." in raw.split("/"):
                raise OpFailure("corrupt_archive", "zip.extract: %s would be written outside dest" % what)
            parts: list[str] = []
            for comp in (c for c in raw.split("/") if c not in ("", ".")):
                name = check_name(comp, "zip.extract: " + what, kind="corrupt_archive")
                # Entries that differ only in case land in one folder, spelled as first met.
                parts.append(stored_case.setdefault("/".join(parts + [name]).lower(), name))
            if not parts:
                continue
            key = "/".join(parts).lower()
            if key in seen and not info.is_dir():
                raise OpFailure("corrupt_archive", "zip.extract: %s appears twice" % what)
            seen.add(key)
            target = dest.child(*parts)
            a.check_length(target, "zip.extract: " + what)
            node = self.resolve(target)
            if node.exists and not (info.is_dir() and node.kind == "directory"):
                raise OpFailure("exists", "zip.extract: %s already exists; nothing was extracted" % node.path)
            if node.blocker is not None:
                raise OpFailure("exists", "zip.extract: %s is a file, so %s cannot be extracted" % (node.blocker, what))
            plan.append((tuple(parts), None if info.is_dir() else info))
        return plan

    @_op("junction.set", "path", "target")
    def _junction_set(self, a: Args) -> JsonDict:
        raw_target = a.raw.get("target")
        if isinstance(raw_target, str) and is_unc(raw_target):
            a.fail("target", "must be a local path (C:\\...); a junction cannot point to a network share")
        path, target = a.path("path"), a.path("target")
        node = self.resolve(path, follow=False)
        if node.kind == "junction":
            before = node.target
            if before is not None and before.lower() == str(target).lower():
                return {"changed": False, "before": before}
            self._state["junctions"][node.path.key]["target"] = str(target)
            return {"changed": True, "before": before}
        if node.exists:
            raise OpFailure("exists", "junction.set: %s is a %s, not a junction" % (node.path, node.kind))
        real = self._writable(node, "junction.set")
        self._mkdirs(os.path.dirname(real))
        self._state["junctions"][node.path.key] = {"path": str(node.path), "target": str(target)}
        return {"changed": True, "before": None}

    @_op("acl.get", "path")
    def _acl_get(self, a: Args) -> JsonDict:
        node = self.resolve(a.path("path"))
        if not node.exists:
            return {"exists": False, "owner": None, "protected": False, "aces": []}
        return self._acl(node)

    @_op("acl.set", "path", "protected", "aces")
    def _acl_set(self, a: Args) -> JsonDict:
        path = a.path("path")
        protected = a.flag("protected", False)
        raw_aces = a.raw.get("aces")
        if not isinstance(raw_aces, list):
            a.fail("aces", "is required (a list of {identity, mask, type, inherit})")
        shapes = [self._ace_shape(a, index, raw) for index, raw in enumerate(raw_aces)]
        node = self.resolve(path)
        if not node.exists:
            raise OpFailure("not_found", "acl.set: %s does not exist" % path)
        aces = []
        for index, (identity, mask, ace_type, inherit) in enumerate(shapes):
            if inherit and node.kind != "directory":
                a.fail("aces[%d].inherit" % index, "must be false on a file (only folders pass ACEs on)")
            sid = self.lookup_identity(identity)
            if sid is None:
                raise OpFailure(
                    "identity_not_found", "acl.set: aces[%d]: no account or group named '%s' is known on this host" % (index, identity)
                )
            aces.append(_ace(sid, mask, inherit, ace_type))
        entry = self._state["acls"].get(node.path.key)
        current = entry or {"aces": [], "protected": False}
        if bool(current["protected"]) == protected and sorted(current["aces"], key=_ace_sort_key) == sorted(aces, key=_ace_sort_key):
            return {"changed": False}
        owner = entry["owner"] if entry else SID_ADMINISTRATORS
        self._state["acls"][node.path.key] = {"path": str(node.path), "owner": owner, "protected": protected, "aces": aces}
        return {"changed": True}

    @staticmethod
    def _ace_shape(a: Args, index: int, raw: object) -> tuple[str, int, str, bool]:
        what = "aces[%d]" % index
        fields = ("identity", "mask", "type", "inherit")
        if not isinstance(raw, dict):
            a.fail(what, "must be an object with %s" % ", ".join(fields))
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            a.fail(what, "has an unknown key '%s'; accepted: %s" % (unknown[0], ", ".join(fields)))
        identity, mask, ace_type, inherit = (raw.get(f) for f in fields)
        if not isinstance(identity, str) or not identity:
            a.fail(what + ".identity", "is required (an account name or SID)")
        if not isinstance(mask, int) or isinstance(mask, bool) or not 1 <= mask <= 0xFFFFFFFF:
            a.fail(what + ".mask", "must be an integer FileSystemRights mask from 1 to 4294967295")
        if ace_type not in ("allow", "deny"):
            a.fail(what + ".type", "must be one of allow, deny")
        if not isinstance(inherit, bool):
            a.fail(what + ".inherit", "must be true or false")
        return identity, mask, ace_type, inherit

    @_op("identity.resolve", "names")
    def _identity_resolve(self, a: Args) -> JsonDict:
        names = a.strings("names")
        if any(not n for n in names):
            a.fail("names", "must not contain an empty name")
        return {"sids": {name: self.lookup_identity(name) for name in names}}

    @_op("env.notify")
    def _env_notify(self, a: Args) -> JsonDict:
        """What a real host does with WM_SETTINGCHANGE cannot be seen here: winsim counts the broadcasts."""
        self._state["notifications"] = int(self._state.get("notifications", 0)) + 1
        return {"sent": True}

    @_op("go.run", "exe", "args", "env", "cwd", "timeout", "expect_rc", "expect_stdout_prefix")
    def _go_run(self, a: Args) -> JsonDict:
        exe_path = a.path("exe")
        argv = a.strings("args", default=[])
        env = a.mapping("env") or {}
        if not all(isinstance(v, str) for v in env.values()):
            a.fail("env", "must map names to strings")
        cwd = a.optional_path("cwd")
        a.number("timeout", 120, 1, 86400)
        expect_rc = a.optional_number("expect_rc", -(2 ** 31), 2 ** 32 - 1)
        expect_prefix = a.text("expect_stdout_prefix", empty=True)
        exe = self.resolve(exe_path)
        if exe.kind != "file":
            raise OpFailure("not_found", "go.run: %s does not exist" % exe_path)
        if cwd is not None and self.resolve(cwd).kind != "directory":
            raise OpFailure("not_found", "go.run: cwd %s does not exist" % cwd)
        machine = self._pe_of(exe)
        if machine is None:
            raise OpFailure("exec_failed", "go.run: %s is not a valid Win32 application" % exe_path)
        if machine not in RUNNABLE[self.arch]:
            raise OpFailure("exec_failed", "go.run: %s is a %s program, which this %s host cannot run" % (exe_path, machine, self.arch))
        command = _go_command(argv, cwd)
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
        return {"rc": rc, "stdout": stdout, "stderr": stderr, "modelled": True, "modelled_from": modelled_from}

    # ---- the model of go.exe ----------------------------------------------------------------

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
        cwd = t.cast(WinPath, go.cwd)
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
        cwd = t.cast(WinPath, go.cwd)
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

    # ---- faults -----------------------------------------------------------------------------

    def _take_fault(self, match: Callable[[JsonDict], bool]) -> JsonDict | None:
        for index, fault in enumerate(self._faults):
            if match(fault):
                return self._faults.pop(index)
        return None

    def add_fault(self, fault: JsonDict) -> None:
        """Queue a fault (see FAULT_FORMS). fail_op, truncate_download and drop_connection act once;
        disk_full sets the drive's free space at once and stays until clear_faults()."""
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

    def count_round_trip(self, sent: int, received: int, put: bool = False) -> None:
        with self._transaction():
            self._counters["round_trips"] += 1
            self._counters["bytes_sent"] += sent
            self._counters["bytes_received"] += received
            if put:
                self._counters["puts"] += 1

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

    def request_reboot(self, reason: str) -> None:
        """Flag a pending reboot (host.facts pending_reboot) until reboot()."""
        with self._transaction() as state:
            if reason not in state["pending_reboot"]:
                state["pending_reboot"].append(reason)

    def reboot(self) -> None:
        """Clear what waits for a reboot: the pending flags and Windows' reboot markers."""
        with self._transaction() as state:
            state["pending_reboot"] = []
            for key in REBOOT_MARKER_KEYS:
                self.registry.remove_key(key)
            self.registry.remove_value(*REBOOT_MARKER_VALUE)
