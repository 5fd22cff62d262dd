# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Go release versions as the go.dev download index names them, version requests as users write
them, and resolution of the one against the other.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

# A number as internal/gover cutInt reads it: decimal digits without an unnecessary leading zero
# (gover.Parse("1.022") is the zero Version, so 1.022 is not a Go version and must not become 1.22).
# At most 9 digits: Go's own numbers are small, and Python refuses to read an int of thousands of digits.
_NUM = r"(?:0|[1-9][0-9]{0,8})"
# go1.22.5, go1.20 (first release of a series before 1.21), go1.23rc1, go1.22beta1, go1
_RELEASE = re.compile(
    r"^go(?P<major>%s)(?:\.(?P<minor>%s))?(?:\.(?P<patch>%s))?(?:(?P<pre>rc|beta)(?P<pre_num>%s))?$" % ((_NUM,) * 4)
)
_REQUEST = re.compile(
    r"^(?:go)?(?P<major>%s)\.(?P<minor>%s)(?:\.(?P<patch>%s))?(?:(?P<pre>rc|beta)(?P<pre_num>%s))?$" % ((_NUM,) * 4)
)
ACCEPTED = (
    "an exact version (1.22.5, go1.22.5, 1.23rc1), a minor series (1.22: its newest stable patch) or latest; "
    "numbers have no leading zeros and at most 9 digits"
)


class VersionError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class GoVersion:
    major: int
    minor: int
    patch: int
    # release sorts after its rc which sorts after its beta
    stage: int  # 0 beta, 1 rc, 2 release
    pre_num: int
    name: str  # as go names it, without the "go" prefix: 1.22.5, 1.20, 1.23rc1

    @property
    def stable(self) -> bool:
        return self.stage == 2

    @property
    def series(self) -> tuple[int, int]:
        return (self.major, self.minor)

    @property
    def tag(self) -> str:
        return "go" + self.name

    def __str__(self) -> str:
        return self.name


def parse_release(tag: str) -> GoVersion:
    """Parse a release name from the index or a VERSION file (go1.22.5)."""
    m = _RELEASE.match(tag.strip())
    if not m:
        raise VersionError("not a Go release name: %r" % tag)
    pre = m.group("pre")
    return GoVersion(
        int(m.group("major")),
        int(m.group("minor") or 0),
        int(m.group("patch") or 0),
        {"beta": 0, "rc": 1, None: 2}[pre],
        int(m.group("pre_num") or 0),
        tag.strip()[2:],
    )


def parse_version_file(text: str) -> str | None:
    """First line of GOROOT\\VERSION (go1.21+ adds a `time ...` line after it)."""
    for line in text.replace("\r", "").split("\n"):
        line = line.strip()
        if line:
            return line
    return None


@dataclass(frozen=True)
class Request:
    kind: str  # exact | series | latest
    text: str
    major: int = 0
    minor: int = 0
    exact: GoVersion | None = None

    def exact_name(self) -> str:
        if self.exact is None:
            raise VersionError("%s is not an exact version" % self.text)
        return self.exact.name


def parse_request(option: str, value: t.Any) -> Request:
    if not isinstance(value, str) or not value.strip():
        raise VersionError("%s must be %s, got %r" % (option, ACCEPTED, value))
    text = value.strip()
    if text.lower() == "latest":
        return Request("latest", text)
    m = _REQUEST.match(text)
    if not m:
        raise VersionError("%s must be %s, got %r" % (option, ACCEPTED, value))
    major, minor = int(m.group("major")), int(m.group("minor"))
    if m.group("patch") is None and m.group("pre") is None:
        return Request("series", text, major, minor)
    patch = int(m.group("patch") or 0)
    if m.group("pre"):
        if m.group("patch") is not None:
            raise VersionError("%s must be %s; a pre-release has no patch number (1.23rc1), got %r" % (option, ACCEPTED, value))
        name = "%d.%d%s%s" % (major, minor, m.group("pre"), m.group("pre_num"))
    elif (major, minor) < (1, 21) and patch == 0:
        # Before Go 1.21 the first release of a series was named go1.N, not go1.N.0: 1.20.0 means that
        # release (go1.20), as internal/gover Parse reads "1.20" as 1.20.0 for minors below 21
        # (gover.Compare("1.20", "1.20.0") == 0). The bare 1.20 stays a series request (its newest patch).
        name = "%d.%d" % (major, minor)
    else:
        name = "%d.%d.%d" % (major, minor, patch)
    return Request("exact", text, major, minor, parse_release("go" + name))


def index_versions(index: t.Any) -> list[tuple[GoVersion, bool]]:
    """(release, stable) for each release in the index; stable needs both the name and the index's flag."""
    if not isinstance(index, list):
        raise VersionError("the download index is not a JSON list of releases")
    found = []
    for rel in index:
        if isinstance(rel, dict) and isinstance(rel.get("version"), str):
            try:
                version = parse_release(rel["version"])
            except VersionError:
                continue
            found.append((version, version.stable and rel.get("stable", True) is not False))
    return found


def resolve(request: Request, index: list) -> GoVersion:
    """Pick the release a request means. Pre-releases only when named exactly."""
    listed = index_versions(index)
    if request.exact is not None:
        if any(v == request.exact for v, _stable in listed):
            return request.exact
        raise VersionError(
            "version %s is not in the download index (newest stable: %s)"
            % (request.text, _newest_stable_text(listed))
        )
    stable = [v for v, is_stable in listed if is_stable]
    if request.kind == "series":
        stable = [v for v in stable if v.series == (request.major, request.minor)]
    if not stable:
        raise VersionError(
            "no stable release of %s is in the download index (newest stable: %s)"
            % (request.text, _newest_stable_text(listed))
        )
    return max(stable)


def _newest_stable_text(listed: list[tuple[GoVersion, bool]]) -> str:
    stable = [v for v, is_stable in listed if is_stable]
    return max(stable).name if stable else "none"


def find_file(index: list, version: GoVersion, goos: str, arch: str, kind: str = "archive") -> dict | None:
    for rel in index:
        if isinstance(rel, dict) and rel.get("version") == version.tag:
            files = rel.get("files")
            for f in files if isinstance(files, list) else []:
                if isinstance(f, dict) and f.get("os") == goos and f.get("arch") == arch and f.get("kind") == kind:
                    return f
    return None


def sort_names(names: t.Iterable[str]) -> list[str]:
    """Version folder names newest first; names that are not versions sort last."""

    def key(name: str) -> tuple:
        try:
            return (1, parse_release("go" + name))
        except VersionError:
            return (0, name)

    return sorted(names, key=key, reverse=True)
