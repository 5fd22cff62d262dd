# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Windows path rules, checked on the controller before anything reaches a host.
"""

from __future__ import annotations

import re

RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + ["COM%d" % i for i in range(1, 10)] + ["LPT%d" % i for i in range(1, 10)]
)
_DRIVE_ABS = re.compile(r"^[A-Za-z]:\\")
_UNC = re.compile(r"^\\\\[^\\]+\\[^\\]+")
# Characters Windows itself refuses in a path component.
_WINDOWS_INVALID = set('<>:"|?*')
# What folders that become GOROOT or enter PATH may hold (an allowlist): letters and digits of any
# script, spaces and these marks. Everything else is refused: ';' splits PATH, '%' is expanded in
# REG_EXPAND_SZ, and quotes (typographic ones too: PowerShell reads U+2018-U+201E as quotes), '$',
# '`', '&' and the rest break the batch and PowerShell scripts people write around GOROOT.
_INSTALL_ROOT_MARKS = set(" ._-()+@#~,")


def _unsafe_in_install_root(comp: str) -> list[str]:
    return sorted({c for c in comp if not (c.isalnum() or c in _INSTALL_ROOT_MARKS)})


class PathError(ValueError):
    pass


def normalize(path: str) -> str:
    """`/` to `\\`, repeated separators folded (a UNC prefix kept), no trailing separator."""
    path = path.replace("/", "\\")
    unc = path.startswith("\\\\")
    body = re.sub(r"\\+", r"\\", path[2:] if unc else path)
    path = ("\\\\" + body) if unc else body
    if len(path) > 3 and path.endswith("\\"):
        path = path.rstrip("\\")
    return path


def join(*parts: str) -> str:
    return normalize("\\".join(p.strip("\\") if i else p.rstrip("\\") for i, p in enumerate(parts)))


def same(a: str | None, b: str | None) -> bool:
    """Case-insensitive comparison of two Windows paths, ignoring separators' form and trailing `\\`."""
    if a is None or b is None:
        return a is b
    return normalize(a).lower() == normalize(b).lower()


def parent(path: str) -> str:
    path = normalize(path)
    head = path.rsplit("\\", 1)[0]
    return head + "\\" if re.fullmatch(r"[A-Za-z]:", head) else head


def components(path: str) -> list[str]:
    path = normalize(path)
    if _UNC.match(path):
        return path[2:].split("\\")[2:]
    return path[3:].split("\\") if len(path) > 3 else []


def check_absolute(option: str, value: str, allow_unc: bool = False, strict: bool = False) -> str:
    """Return the normalized path or raise PathError naming the option and what is accepted."""
    if not isinstance(value, str) or not value.strip():
        raise PathError("%s must be an absolute Windows path such as C:\\opt\\go, got an empty value" % option)
    if any(ord(c) < 32 for c in value):
        raise PathError("%s must not contain control characters, got %r" % (option, value))
    path = normalize(value.strip())
    if path.startswith(("\\\\?\\", "\\\\.\\", "\\??\\")):
        raise PathError(
            "%s must be a drive path such as C:\\opt\\go%s, not a Win32 device path (\\\\?\\ or \\\\.\\); got %r"
            % (option, " or a UNC path \\\\server\\share\\..." if allow_unc else "", value)
        )
    if not (_DRIVE_ABS.match(path + "\\") or (allow_unc and _UNC.match(path))):
        accepted = "an absolute Windows path such as C:\\opt\\go" + (" or a UNC path \\\\server\\share\\..." if allow_unc else "")
        raise PathError("%s must be %s, got %r" % (option, accepted, value))
    for comp in components(path):
        bad = _unsafe_in_install_root(comp) if strict else sorted(set(comp) & _WINDOWS_INVALID)
        if bad:
            rule = "use only letters, digits, spaces and . _ - ( ) + @ # ~ ," if strict else 'not use < > : " | ? *'
            raise PathError(
                "%s must %s in a folder name; %r contains %s" % (option, rule, value, " ".join(repr(c) for c in bad))
            )
        if comp.split(".")[0].upper() in RESERVED_NAMES:
            raise PathError(
                "%s must not use the reserved Windows device name %r (CON, PRN, AUX, NUL, COM1-9, LPT1-9), got %r"
                % (option, comp, value)
            )
        if comp.endswith((".", " ")):
            raise PathError("%s folder names must not end with a dot or a space, got %r" % (option, value))
    return path
