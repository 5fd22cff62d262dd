# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

Go's environment rules as the go command applies them on Windows: validators for the variables
go_env manages (each raises GoEnvError naming the module option and quoting the go command's own
wording where it has one), the go env file format, the view ``go env -json`` reports, the
environment a new Windows process gets from the registry, and warnings about settings that fight
each other. URL credentials never leave this module unredacted in a message or a warning.

Ported from the Go sources (Go 1.21 to 1.25, current rules where they changed); each function names the Go
file or package it follows.
"""

from __future__ import annotations

import base64
import hashlib
import re
import typing as t
from dataclasses import dataclass
from urllib.parse import unquote

from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp

GO_SAYS = " (as the go command says)"

# cmd/go/internal/modfetch/sumdb.go knownGOSUMDB
KNOWN_GOSUMDB = {"sum.golang.org": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"}
# sumdb.go dbDial: an alias of sum.golang.org reachable from mainland China
GOSUMDB_ALIASES = {"sum.golang.google.cn": "sum.golang.org https://sum.golang.google.cn"}

DEFAULT_GOPROXY = "https://proxy.golang.org,direct"
DEFAULT_GOSUMDB = "sum.golang.org"
DEFAULT_GOTOOLCHAIN = "auto"

# The flags each go command defines, for GOFLAGS (cmd/go/internal/base/goflags.go InitGOFLAGS refuses
# a flag that no command defines: hasFlag(Go, name); SetFromGOFLAGS then applies a flag only to the
# commands that define it and checks its value there). Union of Go 1.21 to 1.25.
# kind: bool, int, duration, string, mod (-mod), buildvcs (bool or auto), testv (bool or test2json),
# listjson (bool or a field list), getu (bool or patch).
_BUILD_FLAGS = {
    # cmd/go/internal/work/build.go AddBuildFlags
    "a": "bool", "n": "bool", "p": "int", "race": "bool", "msan": "bool", "asan": "bool", "v": "bool",
    "work": "bool", "x": "bool", "asmflags": "string", "buildmode": "string", "buildvcs": "buildvcs",
    "compiler": "string", "gccgoflags": "string", "gcflags": "string", "installsuffix": "string",
    "ldflags": "string", "linkshared": "bool", "mod": "mod", "modcacherw": "bool", "modfile": "string",
    "overlay": "string", "pgo": "string", "pkgdir": "string", "tags": "string", "trimpath": "bool",
    "toolexec": "string",
}
_COVER_FLAGS = {"cover": "bool", "covermode": "string", "coverpkg": "string"}  # work/build.go AddCoverFlags
_MOD_COMMON = {"modcacherw": "bool", "modfile": "string"}  # cmd/go/internal/base/flag.go AddModCommonFlags
# cmd/go/internal/test/testflag.go init: flags of the test binary, also accepted as -test.NAME
_TEST_BINARY_FLAGS = {
    "bench": "string", "benchmem": "bool", "benchtime": "string", "blockprofile": "string",
    "blockprofilerate": "int", "count": "int", "coverprofile": "string", "cpu": "string", "cpuprofile": "string",
    "failfast": "bool", "fullpath": "bool", "fuzz": "string", "fuzzminimizetime": "string", "fuzztime": "string",
    "list": "string", "memprofile": "string", "memprofilerate": "int", "mutexprofile": "string",
    "mutexprofilefraction": "int", "outputdir": "string", "parallel": "int", "run": "string", "short": "bool",
    "shuffle": "string", "skip": "string", "timeout": "duration", "trace": "string", "v": "testv",
    "artifacts": "bool",
}
# cmd/vet (go tool vet -flags): its analyzers and core flags, which go vet accepts (vet/vetflag.go vetFlags)
_VET_TOOL_FLAGS = dict(
    {name: "bool" for name in (
        "appends", "asmdecl", "assign", "atomic", "bools", "buildtag", "cgocall", "composites", "copylocks",
        "defers", "directive", "errorsas", "framepointer", "hostport", "httpresponse", "ifaceassert",
        "loopclosure", "lostcancel", "nilfunc", "printf", "shift", "sigchanyzer", "slog", "stdmethods",
        "stdversion", "stringintconv", "structtag", "testinggoroutine", "tests", "timeformat", "unmarshal",
        "unreachable", "unsafeptr", "unusedresult", "waitgroup", "json", "V", "flags",
    )},
    **{"c": "int", "printf.funcs": "string", "unusedresult.funcs": "string", "unusedresult.stringmethods": "string"},
)
GOFLAGS_COMMANDS: dict[str, dict[str, str]] = {
    "go build": dict(_BUILD_FLAGS, **_COVER_FLAGS, o="string", json="bool"),
    "go install": dict(_BUILD_FLAGS, **_COVER_FLAGS, json="bool"),
    "go run": dict(_BUILD_FLAGS, **_COVER_FLAGS, exec="string"),
    # cmd/go/internal/test/testflag.go
    "go test": dict(_BUILD_FLAGS, **_COVER_FLAGS, **_TEST_BINARY_FLAGS,
                    **{"test." + k: v for k, v in _TEST_BINARY_FLAGS.items()},
                    c="bool", o="string", exec="string", json="bool", vet="string"),
    # cmd/go/internal/vet/vetflag.go: build flags without -json, -vettool, then the vet tool's flags
    "go vet": dict(_BUILD_FLAGS, vettool="string", **{k: v for k, v in _VET_TOOL_FLAGS.items() if k not in _BUILD_FLAGS}),
    # cmd/go/internal/list/list.go
    "go list": dict(_BUILD_FLAGS, f="string", json="listjson", e="bool", m="bool", u="bool", versions="bool",
                    retracted="bool", reuse="string", compiled="bool", deps="bool", export="bool", find="bool",
                    test="bool"),
    "go clean": dict(_BUILD_FLAGS, i="bool", r="bool", cache="bool", testcache="bool", modcache="bool",
                     fuzzcache="bool"),  # cmd/go/internal/clean/clean.go
    "go get": dict(_BUILD_FLAGS, d="bool", t="bool", u="getu", tool="bool"),  # modget/get.go
    "go generate": dict(_BUILD_FLAGS, run="string", skip="string"),  # generate/generate.go
    "go fix": dict(_BUILD_FLAGS, fix="string"),  # fix/fix.go
    "go fmt": {"n": "bool", "x": "bool", "mod": "mod", "modfile": "string"},  # fmtcmd/fmt.go
    "go env": {"json": "bool", "u": "bool", "w": "bool", "changed": "bool"},  # envcmd/env.go
    "go version": {"m": "bool", "v": "bool", "json": "bool"},  # version/version.go
    "go tool": {"n": "bool", "modfile": "string"},  # tool/tool.go
    # cmd/go/internal/modcmd
    "go mod download": dict(_MOD_COMMON, x="bool", json="bool", reuse="string"),
    "go mod edit": dict(_MOD_COMMON, **{name: "string" for name in (
        "module", "go", "toolchain", "require", "droprequire", "exclude", "dropexclude", "replace", "dropreplace",
        "retract", "dropretract", "godebug", "dropgodebug", "tool", "droptool", "ignore", "dropignore")},
        fmt="bool", print="bool", json="bool"),
    "go mod graph": dict(_MOD_COMMON, go="string", x="bool"),
    "go mod init": dict(_MOD_COMMON),
    "go mod tidy": dict(_MOD_COMMON, e="bool", v="bool", x="bool", diff="bool", go="string", compat="string"),
    "go mod vendor": dict(_MOD_COMMON, e="bool", v="bool", o="string"),
    "go mod verify": dict(_MOD_COMMON),
    "go mod why": dict(_MOD_COMMON, m="bool", vendor="bool"),
    # cmd/go/internal/workcmd
    "go work edit": {name: "string" for name in (
        "go", "toolchain", "use", "dropuse", "replace", "dropreplace", "godebug", "dropgodebug")}
    | {"fmt": "bool", "print": "bool", "json": "bool"},
    "go work use": {"r": "bool"},
    "go work vendor": {"e": "bool", "v": "bool", "o": "string"},
}
# name -> {command: kind}
GOFLAGS_KNOWN: dict[str, dict[str, str]] = {}
for _command, _flags in GOFLAGS_COMMANDS.items():
    for _name, _kind in _flags.items():
        GOFLAGS_KNOWN.setdefault(_name, {})[_command] = _kind
# The commands that share the build flags; a flag all of them know gets no "only these commands" warning.
_BUILD_COMMANDS = ("go build", "go install", "go run", "go test", "go vet", "go list")
# strconv.ParseBool
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}

# Variables the go command computes itself and does not read from the environment
# (cmd/go/internal/envcmd/env.go: `go env -w` calls them read-only; telemetry.Mode() reads a file).
COMPUTED_VARS = {
    "GOEXE": "the go command derives it from GOOS",
    "GOGCCFLAGS": "the go command computes it",
    "GOHOSTARCH": "it is the architecture of go.exe itself",
    "GOHOSTOS": "it is the OS of go.exe itself",
    "GOMOD": "the go command finds go.mod itself",
    "GOVERSION": "it is the version of go.exe itself",
    "GOTELEMETRY": "the go command reads the mode from its config folder: run `go telemetry off|local|on`",
    "GOTELEMETRYDIR": "the go command derives it from %AppData%",
}

_EXTRA_NAME = re.compile(r"^(GO[A-Z0-9_]*|CGO_[A-Z0-9_]+)$")
_VAR_REF = re.compile(r"%([^%]+)%")


class GoEnvError(ValueError):
    pass


# ---------------------------------------------------------------- helpers


def redact_url(text: t.Any) -> t.Any:
    """Hide URL credentials in a value: `https://user:pass@host` -> `https://user:xxxxx@host`.

    Works on the parsed value, not with a pattern over the text, and in linear time. The text is split
    into entries at ',' and '|' (GOPROXY's separators, as cmd/go/internal/modfetch/proxy.go splits
    them); in each entry every URL's authority runs from after `scheme://` to the first '/', '?' or '#'
    (net/url), and its user info ends at the LAST '@' of the authority, so a password holding '@', ':',
    quotes, spaces or '%40' is hidden whole. Like net/url URL.Redacted for a user and password; a user
    name alone (`https://token@host`) is hidden too (`https://xxxxx@host`): Go keeps it, but proxies
    take tokens that way. An entry without a scheme (`user:pass@host`, https:// implied in GOPROXY) is
    handled as well.

    A password that holds an unencoded separator cuts its URL in two as the go command reads it; no
    part of it is shown either: a URL whose authority holds a ':' and ends at a ',' or '|' is read on
    with the entries after it up to an '@' (if one comes before the next URL), and one whose authority
    holds a ':' and ends at '/', '?' or '#' is hidden up to the last '@' that follows in the entry.
    Non-strings are returned as they are.
    """
    return _redact(text, None)


def url_passwords(text: t.Any) -> set[str]:
    """The passwords (and user-only tokens) redact_url hides in text, as written and percent-decoded:
    what a task treats as no_log (its messages are scrubbed of them)."""
    found: list[str] = []
    _redact(text, found)
    out = {form for f in found for form in (f, unquote(f)) if form}
    # a password with an unencoded ',' or '|' is cut into entries as the go command reads them, and a
    # message about one entry quotes its part: each part (but the shortest) is a secret too
    return out | {part for f in out for part in _LIST_SPLIT.split(f)[::2] if len(part) >= 3}


def _redact(text: t.Any, found: list[str] | None) -> t.Any:
    if not isinstance(text, str) or "@" not in text:
        return text  # no user info without an '@'
    tokens = _LIST_SPLIT.split(text)  # entry, separator, entry, ...: linear
    out: list[str] = []
    i = 0
    while i < len(tokens):
        entry = tokens[i]
        j = i
        if "://" not in entry and "@" not in entry:
            out.append(entry)
            if i + 1 < len(tokens):
                out.append(tokens[i + 1])
            i += 2
            continue
        if _cut_at_separator(entry):
            # read on over the following entries up to one with an '@' in its authority part
            k = i + 2
            while k < len(tokens):
                nxt = tokens[k]
                if "://" in nxt:
                    break
                head = _until_any(nxt, "/?#")
                if "@" in nxt[:head]:
                    j = k
                    break
                if head < len(nxt):
                    break
                k += 2
        if j > i:
            entry = "".join(tokens[i:j + 1])
        out.append(_redact_entry(entry, found))
        if j + 1 < len(tokens):
            out.append(tokens[j + 1])
        i = j + 2
    return "".join(out)


_LIST_SPLIT = re.compile(r"([,|])")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def _until_any(text: str, marks: str, start: int = 0, end: int | None = None) -> int:
    """The index of the first of marks in text[start:end], or end."""
    stop = len(text) if end is None else end
    for mark in marks:
        found = text.find(mark, start, stop)
        if found >= 0:
            stop = found
    return stop


def _urls(entry: str) -> t.Iterator[tuple[int, int]]:
    """(start, end) of the authority of each `scheme://` URL in entry, left to right. Linear: each
    '://' is found with str.find and its scheme read backwards no further than the previous URL."""
    pos = 0
    while True:
        mark = entry.find("://", pos)
        if mark < 0:
            return
        begin = mark
        while begin > pos and entry[begin - 1] in _SCHEME_CHARS:
            begin -= 1
        while begin < mark and not entry[begin].isalpha():
            begin += 1
        start = mark + 3
        if begin == mark:  # no scheme before '://'
            pos = start
            continue
        end = _until_any(entry, "/?#", start)
        yield start, end
        pos = end


def _cut_at_separator(entry: str) -> bool:
    """Does the entry end inside a URL's authority that holds a ':' and no '@' (user:pass cut by a separator)?"""
    last = None
    for last in _urls(entry):
        pass
    if last is None:
        return False
    start, end = last
    return end == len(entry) and ":" in entry[start:end] and "@" not in entry[start:end]


def _hide(userinfo: str, found: list[str] | None) -> str:
    user, sep, password = userinfo.partition(":")
    if found is not None:
        found.append(password if sep else user)
    return user + ":xxxxx" if sep else "xxxxx"


def _redact_entry(entry: str, found: list[str] | None) -> str:
    out = []
    pos = 0
    any_url = False
    last_at = entry.rfind("@")  # once: a search per URL would make many URLs quadratic
    for start, end in _urls(entry):
        any_url = True
        out.append(entry[pos:start])
        authority = entry[start:end]
        at = authority.rfind("@")
        if at >= 0:
            out.append(_hide(authority[:at], found) + authority[at:])
            pos = end
            continue
        later = last_at if last_at >= end and ":" in authority else -1
        if later >= 0:  # a '/', '?' or '#' of the password ended the authority early
            out.append(_hide(authority + entry[end:later], found) + entry[later:])
            return "".join(out)
        out.append(authority)
        pos = end
    rest = entry[pos:]
    if not any_url:
        # no scheme: `user:pass@host` (https:// implied in GOPROXY); never a path like C:\Users\me@corp
        head = _until_any(rest, "/\\?#")
        at = rest.rfind("@", 0, head)
        if at >= 0 and ":" in rest[:at]:
            return _hide(rest[:at], found) + rest[at:]
    out.append(rest)
    return "".join(out)


def _redacted_repr(value: t.Any) -> str:
    """repr of an option's list with every string in it redacted (one by one: a quote in a password
    would change how a pattern over the repr splits it)."""
    if isinstance(value, (list, tuple)):
        return repr([redact_url(v) for v in value])
    return repr(redact_url(value))


_QUOTED = re.compile(r'\s*"(?:[^"\\]|\\.)*"')


def _goquote(text: str) -> str:
    """strconv.Quote, for the ASCII and printable text these messages hold."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 32 or ord(c) == 127:
            out.append("\\x%02x" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _empty(option: str, variable: str) -> GoEnvError:
    return GoEnvError(
        "%s: an empty value is the same as unset to the go command (it falls back to the go env file and go.env); "
        "omit the option to leave %s unmanaged" % (option, variable)
    )


def _text(option: str, variable: str, value: t.Any, sep: str | None = None) -> str:
    """The option's value as one string: a list is joined with sep when the variable is a list."""
    if sep is not None and isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise GoEnvError("%s: list elements must be strings, got %r" % (option, _redacted_repr(value)))
        value = sep.join(value)
    if not isinstance(value, str):
        kind = "a string or a list of strings" if sep is not None else "a string"
        raise GoEnvError("%s must be %s, got %s" % (option, kind, type(value).__name__))
    if value == "":
        raise _empty(option, variable)
    if "\x00" in value or "\n" in value or "\r" in value:
        raise GoEnvError("%s: %s must not contain NUL or line breaks" % (option, variable))
    return value


# ---------------------------------------------------------------- net/url, the parts Go uses here


class _URLError(ValueError):
    pass


@dataclass
class _URL:
    scheme: str = ""
    opaque: str = ""
    user: str | None = None
    host: str = ""
    path: str = ""
    query: str | None = None  # None: no '?'
    fragment: str | None = None  # None: no '#'


_HEX = "0123456789abcdefABCDEF"
_HOST_OK = set("-_.~!$&'()*+,;=:[]<>\"")
_USERINFO_OK = set("-._:~!$&'()*+,;=%@")


def _check_escapes(text: str) -> None:
    for i, c in enumerate(text):
        if c == "%" and not (len(text) > i + 2 and text[i + 1] in _HEX and text[i + 2] in _HEX):
            raise _URLError("invalid URL escape %s" % _goquote(text[i:i + 3]))


def _parse_host(host: str) -> str:
    # net/url parseHost
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise _URLError("missing ']' in host")
        port = host[end + 1:]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
    if port and not (port.startswith(":") and port[1:].isdigit() or port == ":"):
        raise _URLError("invalid port %s after host" % _goquote(port))
    _check_escapes(host)
    for c in host:
        if ord(c) < 0x80 and not c.isalnum() and c not in _HOST_OK and c != "%":
            raise _URLError("invalid character %s in host name" % _goquote(c))
    return host


def _parse_url(raw: str) -> _URL:
    """net/url Parse (not via a request); raises _URLError with net/url's wording."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise _URLError("net/url: invalid control character in URL")
    url = _URL()
    raw, hash_mark, fragment = raw.partition("#")
    if hash_mark:
        url.fragment = fragment
    rest = raw
    # getScheme
    for i, c in enumerate(raw):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-."):
            if i == 0:
                break
            continue
        if c == ":":
            if i == 0:
                raise _URLError("missing protocol scheme")
            url.scheme, rest = raw[:i].lower(), raw[i + 1:]
        break
    if rest.endswith("?") and rest.count("?") == 1:
        url.query, rest = "", rest[:-1]
    elif "?" in rest:
        rest, _mark, url.query = rest.partition("?")
    if not rest.startswith("/"):
        if url.scheme:
            url.opaque = rest
            return url
        if ":" in rest.split("/", 1)[0]:
            raise _URLError("first path segment in URL cannot contain colon")
    if rest.startswith("//") and (url.scheme or not rest.startswith("///")):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        at = authority.rfind("@")
        url.host = _parse_host(authority[at + 1:])
        if at >= 0:
            userinfo = authority[:at]
            if not all(c.isascii() and c.isalnum() or c in _USERINFO_OK for c in userinfo):
                raise _URLError("net/url: invalid userinfo")
            _check_escapes(userinfo)
            url.user = userinfo
    _check_escapes(rest)
    url.path = rest
    return url


def _url_error(option: str, raw: str, err: _URLError) -> GoEnvError:
    # net/url Error.Error: `parse "URL": err`
    return GoEnvError("%s: parse %s: %s%s" % (option, _goquote(redact_url(raw)), _url_detail(raw, err), GO_SAYS))


def _url_detail(raw: str, err: _URLError) -> str:
    """net/url's wording, without what it quotes (an escape, a port, a character) when the URL held
    credentials: that may be a part of the password."""
    text = str(err)
    return _QUOTED.sub("", text) if redact_url(raw) != raw else text


# ---------------------------------------------------------------- GOPROXY


def _windows_is_abs(path: str) -> bool:
    """path/filepath IsAbs on Windows: `C:\\x`, `C:/x`, or a UNC path."""
    if re.match(r"^[A-Za-z]:[\\/]", path):
        return True
    return bool(re.match(r"^[\\/]{2}[^\\/]+[\\/][^\\/]+", path))


def validate_goproxy(option: str, value: str | list[str], allow_plain_http: bool) -> tuple[str, list[str]]:
    """GOPROXY, as cmd/go/internal/modfetch/proxy.go proxyList and newProxyRepo check it.

    Returns (normalized value, warnings). The normalized value keeps the user's entries as written
    (trimmed, empty entries dropped, each followed by the separator that followed it: `|` means
    "fall through on any error", `,` "only on 404/410").
    """
    text = _text(option, "GOPROXY", value, ",")
    kept: list[tuple[str, str]] = []
    unused: list[str] = []
    ended = False
    rest = text
    while rest != "":
        cut = min((i for i in (rest.find(","), rest.find("|")) if i >= 0), default=-1)
        if cut >= 0:
            token, sep, rest = rest[:cut], rest[cut], rest[cut + 1:]
        else:
            token, sep, rest = rest, "", ""
        token = token.strip()
        if token == "":
            continue
        if ended:
            # proxyList stops at off/direct and never looks at, or checks, what follows
            unused.append(token)
            kept.append((token, sep))
            continue
        if token in ("off", "direct"):
            ended = True
            kept.append((token, sep))
            continue
        _check_proxy(option, token, allow_plain_http)
        kept.append((token, sep))
    if not kept:
        raise GoEnvError("%s: GOPROXY list is not the empty string, but contains no entries%s" % (option, GO_SAYS))
    normalized = "".join(tok + sep for tok, sep in kept[:-1]) + kept[-1][0]
    warnings = []
    if unused:
        stop = next(tok for tok, _sep in kept if tok in ("off", "direct"))
        warnings.append(
            "%s: entries after direct/off are never used: %s (the go command stops at %s)"
            % (option, ", ".join(redact_url(u) for u in unused), stop)
        )
    return normalized, warnings


def _check_proxy(option: str, token: str, allow_plain_http: bool) -> None:
    url_text = token
    # Single-word tokens are reserved for built-in behaviours; anything with ":/" or an absolute
    # file path must be a complete URL; for everything else https:// is implied.
    if any(c in token for c in ".:/") and ":/" not in token and not _windows_is_abs(token) and not token.startswith("/"):
        url_text = "https://" + token
    try:
        url = _parse_url(url_text)
    except _URLError as err:
        raise _url_error(option, url_text, err) from None
    shown = redact_url(url_text)
    if url.scheme in ("http", "https"):
        if not url.host:
            raise GoEnvError("%s: proxy URL %s has no host" % (option, shown))
        if url.scheme == "http" and not allow_plain_http:
            raise GoEnvError(
                "%s: %s is a plain http:// proxy: module downloads and credentials would travel unencrypted; "
                "use https://, or set allow_plain_http: true to accept it" % (option, shown)
            )
    elif url.scheme == "file":
        if url.opaque or url.user is not None or url.host or url.query is not None or url.fragment is not None:
            raise GoEnvError(
                "%s: invalid file:// proxy URL with non-path elements: %s%s; a local folder is file:///C:/path/to/proxy"
                % (option, shown, GO_SAYS)
            )
    elif url.scheme == "":
        raise GoEnvError(
            "%s: invalid proxy URL missing scheme: %s%s; entries are https://, http:// or file:// URLs, "
            "a host name (https:// implied), direct or off" % (option, shown, GO_SAYS)
        )
    else:
        hint = "; a local folder is written file:///C:/path/to/proxy" if re.match(r"^[A-Za-z]:\\", token) else ""
        raise GoEnvError(
            "%s: invalid proxy URL scheme (must be https, http, file): %s%s%s" % (option, shown, GO_SAYS, hint)
        )


# ---------------------------------------------------------------- GOSUMDB


def sumdb_key_hash(name: str, key: bytes) -> int:
    """golang.org/x/mod/sumdb/note keyHash: first 4 bytes (big-endian) of SHA-256(name + "\\n" + key)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8") + b"\n" + key).digest()[:4], "big")


def _verifier_name(vkey: str) -> str:
    """golang.org/x/mod/sumdb/note NewVerifier; returns the name or raises _URLError with note's wording."""
    name, _plus, rest = vkey.partition("+")
    hash16, _plus, key64 = rest.partition("+")
    try:
        key = base64.b64decode(key64, validate=True)
    except ValueError:
        key = b""
    name_ok = name != "" and not any(c.isspace() for c in name)
    if len(hash16) != 8 or not all(c in _HEX for c in hash16) or not name_ok or not key:
        raise _URLError("malformed verifier id")
    if int(hash16, 16) != sumdb_key_hash(name, key):
        raise _URLError("invalid verifier hash")
    if key[0] != 1:  # algEd25519
        raise _URLError("unknown verifier algorithm")
    if len(key) != 33:
        raise _URLError("malformed verifier id")
    return name


def validate_gosumdb(option: str, value: t.Any) -> str:
    """GOSUMDB, as cmd/go/internal/modfetch/sumdb.go dbDial checks it: off, a known name, or a
    verifier key `name+hash+key`, optionally followed by the database's URL."""
    text = _text(option, "GOSUMDB", value)
    if text == "off" or text in GOSUMDB_ALIASES:
        return text
    accepted = (
        "GOSUMDB is off, sum.golang.org, sum.golang.google.cn, or a verifier key name+hash+key "
        "(such as %s), optionally followed by a space and the database URL" % KNOWN_GOSUMDB["sum.golang.org"]
    )
    fields = text.split()
    if not fields:
        raise GoEnvError("%s: missing GOSUMDB%s; %s" % (option, GO_SAYS, accepted))
    if len(fields) > 2:
        raise GoEnvError("%s: invalid GOSUMDB: too many fields%s; %s" % (option, GO_SAYS, accepted))
    try:
        name = _verifier_name(KNOWN_GOSUMDB.get(fields[0], fields[0]))
    except _URLError as err:
        raise GoEnvError("%s: invalid GOSUMDB: %s%s; %s" % (option, err, GO_SAYS, accepted)) from None
    try:
        direct: _URL | None = _parse_url("https://" + name)
    except _URLError:
        direct = None
    if (direct is None or name.endswith("/") or not direct.host or direct.user is not None or direct.opaque
            or direct.query is not None or direct.fragment is not None or "%" in direct.path):
        raise GoEnvError("%s: invalid sumdb name (must be host[/path]): %s%s" % (option, redact_url(name), GO_SAYS))
    if len(fields) == 2:
        try:
            url = _parse_url(fields[1])
        except _URLError as err:
            raise GoEnvError(
                "%s: invalid GOSUMDB URL: parse %s: %s%s" % (option, _goquote(redact_url(fields[1])), _url_detail(fields[1], err), GO_SAYS)
            ) from None
        if url.scheme == "file":
            # sumdb.go dbDial takes any URL url.Parse accepts; the database is then read through
            # cmd/go/internal/web, which reads a file:// URL from disk (web/url.go urlToFilePath).
            problem = _file_url_problem(url)
            if problem:
                raise GoEnvError(
                    "%s: the checksum database URL %s: %s (as the go command would say when it reads it); a local folder "
                    "is file:///C:/path/to/sumdb and a share file://server/share/sumdb" % (option, redact_url(fields[1]), problem)
                )
        elif url.scheme not in ("http", "https") or not url.host:
            # Stricter than dbDial, which parses any URL: cmd/go/internal/web only fetches these schemes.
            raise GoEnvError(
                "%s: the checksum database URL must be an https://, http:// or file:// URL with a host or path, got %s"
                % (option, redact_url(fields[1]))
            )
    return " ".join(fields)


def _file_url_problem(url: _URL) -> str:
    """cmd/go/internal/web url.go urlToFilePath with url_windows.go convertFileURLPath: why the go command
    on Windows cannot read this file:// URL, or "" if it can (file:///C:/x, file://localhost/C:/x, file://host/share)."""
    if url.path == "":
        if url.host or not url.opaque:
            return "file URL missing path"
        return "" if _windows_is_abs(url.opaque.replace("/", "\\")) else "path is not absolute"
    if not url.path.startswith("/"):
        return "path is not absolute"
    if url.host not in ("", "localhost"):
        if re.match(r"^[A-Za-z]:$", url.host):
            return "file URL encodes volume in host field: too few slashes?"
        unc = "\\\\" + url.host + url.path.replace("/", "\\")  # \\host\share\path
        return "" if _windows_is_abs(unc) else "path is not absolute"
    if not re.match(r"^/[A-Za-z]:([\\/]|$)", url.path):
        return "file URL missing drive letter"
    return "" if _windows_is_abs(url.path[1:]) else "path is not absolute"


# ---------------------------------------------------------------- GOPRIVATE and friends: path.Match


class _BadPattern(ValueError):
    pass


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """path.scanChunk"""
    star = False
    while pattern.startswith("*"):
        pattern, star = pattern[1:], True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> tuple[str, str]:
    """path.getEsc"""
    if chunk == "" or chunk[0] in "-]":
        raise _BadPattern()
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if chunk == "":
            raise _BadPattern()
    char, rest = chunk[0], chunk[1:]
    if rest == "":
        raise _BadPattern()
    return char, rest


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    """path.matchChunk: (rest, ok); raises _BadPattern. Once failed it keeps checking the syntax."""
    failed = False
    while chunk:
        if not failed and s == "":
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = False
            if chunk.startswith("^"):
                negated, chunk = True, chunk[1:]
            matched = False
            nrange = 0
            while True:
                if chunk.startswith("]") and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if not failed and lo <= r <= hi:
                    matched = True
                nrange += 1
            if matched == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if chunk == "":
                    raise _BadPattern()
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return "", False
    return s, True


def path_match(pattern: str, name: str) -> bool:
    """path.Match; raises _BadPattern (ErrBadPattern) for a malformed pattern."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            return "/" not in name
        rest, ok = _match_chunk(chunk, name)
        if ok and (rest == "" or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest, ok = _match_chunk(chunk, name[i + 1:])
                if ok and not (pattern == "" and rest):
                    name, found = rest, True
                    break
                i += 1
            if found:
                continue
        while pattern:
            _star, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return name == ""


def check_pattern(pattern: str) -> None:
    """Raise _BadPattern when path.Match would return ErrBadPattern for this pattern."""
    while pattern:
        _star, chunk, pattern = _scan_chunk(pattern)
        _match_chunk(chunk, "")


def match_prefix_patterns(globs: str, target: str) -> bool:
    """golang.org/x/mod/module MatchPrefixPatterns: does any glob match a prefix of target's path elements?"""
    for glob in globs.split(","):
        glob = glob[:-1] if glob.endswith("/") else glob  # strings.TrimSuffix(glob, "/")
        if glob == "":
            continue
        n = glob.count("/")
        prefix = target
        for i, c in enumerate(target):
            if c == "/":
                if n == 0:
                    prefix = target[:i]
                    break
                n -= 1
        if n > 0:
            continue
        try:
            if path_match(glob, prefix):
                return True
        except _BadPattern:
            continue
    return False


def validate_patterns(option: str, value: str | list[str]) -> str:
    """GOPRIVATE, GONOPROXY, GONOSUMDB, GOINSECURE: comma-separated path.Match globs of module path
    prefixes (golang.org/x/mod/module MatchPrefixPatterns). Returns them joined with `,`.

    As in MatchPrefixPatterns, empty globs are skipped, so `,` alone is a valid value that matches
    nothing: it is kept as `,` (an empty value would be unset). That matters for GONOPROXY and
    GONOSUMDB, which default to GOPRIVATE only when empty (cmd/go/internal/cfg: envOr): `,` makes
    every module use the proxy or the checksum database even if GOPRIVATE names it.

    Stricter than Go, on purpose: blanks around a glob are removed (Go would keep them, and the glob
    would never match), a glob with whitespace inside is refused, and so is a malformed glob (Go
    ignores it silently: path.Match returns ErrBadPattern, which MatchPrefixPatterns treats as no
    match). Each of these is a setting that silently does nothing.
    """
    variable = option.upper()
    text = _text(option, variable, value, ",")
    globs = []
    for glob in text.split(","):
        glob = glob.strip()
        if glob == "":
            continue  # MatchPrefixPatterns: `if glob == "" { continue }`
        if any(c.isspace() for c in glob):
            raise GoEnvError(
                "%s: pattern %s contains whitespace; module paths never do, so it would never match (the go command "
                "would silently ignore it). Patterns are comma-separated globs of module path prefixes such as "
                "*.corp.example.com,rsc.io/private" % (option, _goquote(redact_url(glob)))
            )
        try:
            check_pattern(glob[:-1] if glob.endswith("/") else glob)
        except _BadPattern:
            raise GoEnvError(
                "%s: malformed pattern %s: syntax error in pattern (path.Match); the go command would silently ignore it. "
                "Patterns are comma-separated globs of module path prefixes such as *.corp.example.com,rsc.io/private "
                "(* ? [a-z] [^x], \\ escapes)" % (option, _goquote(redact_url(glob)))
            ) from None
        globs.append(glob)
    if not globs:
        # only commas (and blanks): Go accepts it and it matches nothing; keep it non-empty
        return ","
    return ",".join(globs)


# ---------------------------------------------------------------- GOFLAGS


def split_goflags(text: str) -> list[str]:
    """cmd/internal/quoted Split, as InitGOFLAGS splits GOFLAGS: fields separated by space, tab, CR or LF;
    a field that starts with ' or " runs to the next same quote, which is removed (no escapes; a quote
    further inside a field is an ordinary character). Raises ValueError with Split's wording."""
    fields = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\n\r":
            i += 1
        if i >= n:
            break
        if text[i] in "\"'":
            quote = text[i]
            end = text.find(quote, i + 1)
            if end < 0:
                raise ValueError("unterminated %s string" % quote)
            fields.append(text[i + 1:end])
            i = end + 1
            continue
        start = i
        while i < n and text[i] not in " \t\n\r":
            i += 1
        fields.append(text[start:i])
    return fields


def join_goflags(option: str, fields: list[str]) -> str:
    """The fields as one GOFLAGS value that split_goflags reads back: a field with whitespace or a quote is
    quoted ("..." unless it holds a double quote, then '...'), like cmd/internal/quoted Join."""
    out = []
    for field in fields:
        if not any(c in field for c in " \t\n\r\"'"):
            out.append(field)
        elif '"' not in field:
            out.append('"%s"' % field)
        elif "'" not in field:
            out.append("'%s'" % field)
        else:
            raise GoEnvError(
                "%s: %s contains both single and double quotes and cannot be quoted (as cmd/internal/quoted Join says); "
                "GOFLAGS can hold a flag with spaces only inside one kind of quotes" % (option, _goquote(field))
            )
    return " ".join(out)


def _go_int(text: str) -> bool:
    """strconv.ParseInt(text, 0, 64), as flag.IntVar parses: 10, -3, 0x1f, 0o17, 017, 0b101, 1_000."""
    m = re.fullmatch(r"[+-]?(0[xX](_?[0-9a-fA-F])+|0[bB](_?[01])+|0[oO](_?[0-7])+|0(_?[0-7])*|[1-9](_?[0-9])*)", text)
    if not m:
        return False
    digits = re.sub(r"^[+-]?(0[xXbBoO])?", "", text).replace("_", "") or "0"
    base = {"x": 16, "b": 2, "o": 8}.get(text.lstrip("+-")[1:2].lower(), 8 if text.lstrip("+-").startswith("0") else 10)
    return -(2 ** 63) <= int(digits, base) < 2 ** 63


# time.ParseDuration: a signed sequence of decimal numbers with units (300ms, 1.5h, 2h45m), or 0
_DURATION = re.compile(r"[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)")


def _flag_value_error(name: str, kind: str, has_value: bool, value: str) -> str | None:
    """What SetFromGOFLAGS says for this flag and value in a command where the flag has this kind; None if accepted.
    name is the flag as written, with its dash (cmd/go/internal/base/goflags.go SetFromGOFLAGS; on Windows
    the go command names the source %GOFLAGS%)."""
    where = "(from %GOFLAGS%)"
    booly = value in _GO_BOOLS
    if kind in ("bool", "buildvcs", "testv", "listjson", "getu"):
        if not has_value:
            return None
        extra = {"buildvcs": ("", "auto"), "testv": ("test2json",), "getu": ("patch",)}.get(kind, ())
        if booly or value in extra or kind == "listjson":
            return None
        return "go: invalid boolean value %s for flag %s %s" % (_goquote(value), name, where)
    if not has_value:
        return "go: flag needs an argument: %s %s" % (name, where)
    if kind == "int" and not _go_int(value):
        return "go: invalid value %s for flag %s %s: parse error" % (_goquote(value), name, where)
    if kind == "duration" and not _DURATION.fullmatch(value):
        return "go: invalid value %s for flag %s %s: parse error" % (_goquote(value), name, where)
    if kind == "mod" and value not in ("", "mod", "readonly", "vendor"):
        # cmd/go/internal/modload/init.go setDefaultBuildMod
        return "go: -mod=%s not supported (can be '', 'mod', 'readonly', or 'vendor')" % value
    return None


def _commands_text(commands: list[str]) -> str:
    return commands[0] if len(commands) == 1 else ", ".join(commands[:-1]) + " and " + commands[-1]


def validate_goflags(option: str, value: str | list[str], allow_unknown: bool = False) -> tuple[str, list[str]]:
    """GOFLAGS, as cmd/go/internal/base/goflags.go InitGOFLAGS and SetFromGOFLAGS check it.

    A string is split as the go command splits it (cmd/internal/quoted Split: "-tags=magic wizardry" in
    quotes is one flag); each list element is one flag. A flag no go command defines makes every go
    command fail (InitGOFLAGS), so it is refused unless allow_unknown (for flags of newer Go releases
    than this table). A flag only some commands define is applied by those and ignored by the others
    (SetFromGOFLAGS); a value those commands refuse is refused here, naming them.
    Returns (the flags joined as GOFLAGS, quoted where needed; warnings).
    """
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise GoEnvError("%s: list elements must be strings, got %r" % (option, _redacted_repr(value)))
        fields = [v.strip() for v in value if v.strip()]
        text = _text(option, "GOFLAGS", " ".join(value) if fields else "", None)
    else:
        text = _text(option, "GOFLAGS", value)
        try:
            fields = split_goflags(text)
        except ValueError as err:
            raise GoEnvError("%s: go: parsing $GOFLAGS: %s%s; close the quote" % (option, err, GO_SAYS)) from None
    if not fields:
        raise _empty(option, "GOFLAGS")
    warnings = []
    for index, field in enumerate(fields):
        # InitGOFLAGS: every field looks like -x, --x, -x=value or --x=value
        if (not field.startswith("-") or field in ("-", "--") or field.startswith(("---", "-=", "--="))):
            raise GoEnvError(
                "%s: go: parsing $GOFLAGS: non-flag %s%s; each flag must be -flag or -flag=value (a value with spaces "
                "goes inside quotes around the whole flag: \"-ldflags=-s -w\")" % (option, _goquote(field), GO_SAYS)
            )
        name = field[2:] if field.startswith("--") else field[1:]
        name, has_value, flag_value = name.partition("=")
        if name == "C":
            # cmd/go/internal/base/flag.go AddChdirFlag: -C is only read as the first command-line argument
            raise GoEnvError(
                "%s: go: invalid value %s for flag -C (from %%GOFLAGS%%): -C flag must be first flag on command line%s; "
                "-C cannot be set in GOFLAGS" % (option, _goquote(flag_value), GO_SAYS)
            )
        commands = GOFLAGS_KNOWN.get(name)
        if commands is None:
            # InitGOFLAGS: !hasFlag(Go, name)
            message = "%s: go: parsing $GOFLAGS: unknown flag -%s" % (option, name)
            if not allow_unknown:
                raise GoEnvError(
                    "%s%s: no go command defines it, so every go command would fail; set allow_unknown_goflags: true "
                    "to keep a flag of a newer Go release than this collection knows" % (message, GO_SAYS)
                )
            warnings.append(
                "%s (as go commands that do not know it say; kept because allow_unknown_goflags is true)" % message
            )
            continue
        shown = "-" + name  # SetFromGOFLAGS names the flag with one dash
        refusals: dict[str, list[str]] = {}
        for command, kind in commands.items():
            error = _flag_value_error(shown, kind, bool(has_value), flag_value)
            if error is not None:
                refusals.setdefault(error, []).append(command)
        if refusals:
            raise GoEnvError("%s: %s" % (option, "; ".join(
                "%s (as %s would say)" % (error, _commands_text(cmds)) for error, cmds in refusals.items())))
        if not all(command in commands for command in _BUILD_COMMANDS):
            hint = ""
            if index and "=" in fields[index - 1] and isinstance(value, str):
                hint = " (if it was meant as part of the previous flag's value, quote both: %s)" % join_goflags(
                    option, [fields[index - 1] + " " + field])
            warnings.append(
                "%s: %s is a flag of %s only; the other go commands ignore it%s"
                % (option, shown, _commands_text(list(commands)), hint)
            )
    normalized = join_goflags(option, fields)
    if any(any(c in f for c in " \t\n\r\"'") for f in fields):
        warnings.append(
            "%s: GOFLAGS=%s has a quoted flag: the go command splits GOFLAGS with its quoting rules (cmd/internal/quoted), "
            "but older go commands split it at every space and fail on the quoted flag (non-flag)" % (option, normalized)
        )
    return normalized, warnings


# ---------------------------------------------------------------- GOTOOLCHAIN, GOAMD64, GOTELEMETRY


def _cut_int(text: str) -> tuple[str, str] | None:
    """internal/gover cutInt: decimal digits with no unnecessary leading zero -> (number, rest)."""
    m = re.match(r"[0-9]+", text)
    if not m or (m.group(0).startswith("0") and len(m.group(0)) > 1):
        return None
    return m.group(0), text[m.end():]


@dataclass(frozen=True)
class _Gover:
    """internal/gover Version: the original decimal strings; the zero value means malformed."""

    major: str = ""
    minor: str = ""
    patch: str = ""
    kind: str = ""
    pre: str = ""


def _parse_pre_release(text: str) -> tuple[str, str] | None:
    """internal/gover parsePreRelease: lower-case letters, then an optional number (rc, rc1, beta2, x, testmod)."""
    m = re.match(r"[a-z]+", text)
    if not m:
        return None
    kind, rest = m.group(0), text[m.end():]
    if rest == "":
        return kind, ""
    cut = _cut_int(rest)
    if cut is None or cut[1] != "":
        return None
    return kind, cut[0]


def gover_parse(version: str) -> _Gover:
    """internal/gover Parse: major[.minor[.patch]][kind[pre]]; the zero _Gover if malformed.

    "1" is 1.0.0; a missing patch is "0" before 1.21 (1.20 is the release 1.20.0) and stays
    missing from 1.21 on (1.21 is the language version, not a release).
    """
    cut = _cut_int(version)
    if cut is None:
        return _Gover()
    major, rest = cut
    if rest == "":
        return _Gover(major, "0", "0")
    if not rest.startswith("."):
        return _Gover()
    cut = _cut_int(rest[1:])
    if cut is None:
        return _Gover()
    minor, rest = cut
    if rest == "":
        return _Gover(major, minor, "0" if _cmp_int(minor, "21") < 0 else "")
    if rest.startswith("."):
        cut = _cut_int(rest[1:])
        if cut is None:
            return _Gover()
        patch, rest = cut
        if rest == "":
            return _Gover(major, minor, patch)
        pre = _parse_pre_release(rest)  # a pre-release of a patch release: 1.21.3rc1
        return _Gover() if pre is None else _Gover(major, minor, patch, pre[0], pre[1])
    pre = _parse_pre_release(rest)
    return _Gover() if pre is None else _Gover(major, minor, "", pre[0], pre[1])


def _cmp_int(x: str, y: str) -> int:
    """internal/gover CmpInt: compare decimal strings."""
    if x == y:
        return 0
    if len(x) != len(y):
        return -1 if len(x) < len(y) else 1
    return -1 if x < y else 1


def gover_is_valid(version: str) -> bool:
    """internal/gover IsValid: 1, 1.21, 1.21.3, 1.21rc1, 1.21rc, 1.9999x, 1.21.3rc1."""
    return gover_parse(version) != _Gover()


def gover_is_lang(version: str) -> bool:
    """internal/gover IsLang: a language version (1.21, 1.600), not a release (1.21.0, 1.21rc1, 1.20)."""
    v = gover_parse(version)
    return v != _Gover() and v.patch == "" and v.kind == "" and v.pre == ""


def gover_compare_minor(version: str, major: str, minor: str) -> int:
    """internal/gover Compare against major.minor, by major then minor (all this module needs)."""
    v = gover_parse(version)
    return _cmp_int(v.major, major) or _cmp_int(v.minor, minor)


def gover_from_toolchain(name: str) -> str:
    """cmd/go/internal/gover/toolchain.go FromToolchain: go1.21.3 -> 1.21.3, go1.21.0-bigcorp -> 1.21.0.

    "" if not a toolchain name: a path separator, no "go" prefix (gccgo-go1.23rc4: Go 1.21 read
    <prefix>-goVERSION too, newer releases do not), or a version gover.IsValid refuses. The version
    ends at the first '-', space or tab.
    """
    if "\\" in name or "/" in name:
        return ""
    if not name.startswith("go"):
        return ""
    version = name[2:]
    cut = re.search(r"[ \t-]", version)
    if cut:
        version = version[:cut.start()]
    return version if gover_is_valid(version) else ""


def validate_gotoolchain(option: str, value: t.Any) -> str:
    """GOTOOLCHAIN, as cmd/go/internal/toolchain/select.go Select and Exec check it."""
    text = _text(option, "GOTOOLCHAIN", value)
    accepted = (
        "GOTOOLCHAIN is auto, path, local, a toolchain such as go1.22.5, go1.23rc1 or go1.20 (from Go 1.21 on a release "
        "has a patch number: go1.22 is a language version), or one of these followed by +auto or +path"
    )
    if text in ("auto", "path", "local"):
        return text
    # select.go Select: strings.Cut(gotoolchain, "+"), then gover.FromToolchain(min)
    minimum, plus, suffix = text.partition("+")
    if minimum != "local" and gover_from_toolchain(minimum) == "":
        if plus:
            raise GoEnvError(
                "%s: invalid GOTOOLCHAIN %s: invalid minimum toolchain %s%s; %s"
                % (option, _goquote(text), _goquote(minimum), GO_SAYS, accepted)
            )
        raise GoEnvError("%s: invalid GOTOOLCHAIN %s%s; %s" % (option, _goquote(text), GO_SAYS, accepted))
    if plus and suffix not in ("auto", "path"):
        raise GoEnvError(
            "%s: invalid GOTOOLCHAIN %s: only version suffixes are +auto and +path%s" % (option, _goquote(text), GO_SAYS)
        )
    if minimum == "local":
        return text
    # select.go Select, "minimal sanity check ... before search": names start go1 or contain -go1
    # (go222 and go2.0 are valid gover versions, but not Go 1 toolchains).
    if not minimum.startswith("go1") and "-go1" not in minimum:
        raise GoEnvError("%s: invalid GOTOOLCHAIN %s%s; %s" % (option, _goquote(minimum), GO_SAYS, accepted))
    version = gover_from_toolchain(minimum)
    # select.go Exec: a language version (1.21 and later, no patch) names no downloadable toolchain.
    if gover_is_lang(version) and gover_compare_minor(version, "1", "21") >= 0:
        if suffix == "path":
            # with +path the go command only looks in PATH: `cannot find "go1.21" in PATH`
            raise GoEnvError(
                "%s: invalid GOTOOLCHAIN %s: %s is a language version, not a toolchain (go1.21 and later releases are "
                "named %s.0, %s.1, ...); with +path the go command looks for a program named %s in PATH and finds none"
                % (option, _goquote(text), minimum, minimum, minimum, minimum)
            )
        raise GoEnvError(
            "%s: invalid toolchain: %s is a language version but not a toolchain version (%s.x)%s; name a release "
            "such as %s.0" % (option, minimum, minimum, GO_SAYS, minimum)
        )
    # Not from Go: the go command would pass a name with a space or tab to exec.LookPath and then try
    # to download golang.org/toolchain@v0.0.1-<name>.windows-<arch>, which no such name has.
    if re.search(r"[ \t]", minimum):
        raise GoEnvError(
            "%s: GOTOOLCHAIN %s contains a space or tab: the go command would look for a program of exactly that name "
            "in PATH and then fail to download it; a custom toolchain is named goVERSION-suffix, such as go1.22.5-corp"
            % (option, _goquote(text))
        )
    return text


def validate_goamd64(option: str, value: t.Any) -> str:
    """GOAMD64, as internal/buildcfg goamd64 checks it."""
    text = _text(option, "GOAMD64", value)
    if text not in ("v1", "v2", "v3", "v4"):
        raise GoEnvError("%s: go: invalid GOAMD64: must be v1, v2, v3, v4%s; got %s" % (option, GO_SAYS, _goquote(text)))
    return text


def validate_gotelemetry(option: str, value: t.Any) -> str:
    """The telemetry mode: off, local or on (golang.org/x/telemetry).

    Note: the go command does not read GOTELEMETRY from the environment; `go env GOTELEMETRY`
    reports the mode stored under %AppData%\\go\\telemetry by `go telemetry off|local|on`.
    """
    text = _text(option, "GOTELEMETRY", value)
    if text not in ("off", "local", "on"):
        raise GoEnvError("%s: the telemetry mode must be off, local or on, got %s" % (option, _goquote(text)))
    return text


# ---------------------------------------------------------------- paths

_PATH_RELATIVE = {
    # cmd/go/main.go, cmd/go/internal/modload/init.go, cmd/go/internal/cache/default.go,
    # cmd/go/internal/work (install)
    "GOPATH": "GOPATH entry is relative; must be absolute path: %s",
    "GOMODCACHE": "GOMODCACHE entry is relative; must be absolute path: %s",
    "GOCACHE": "GOCACHE is not an absolute path",
    "GOBIN": "GOBIN must be an absolute path",
}


def validate_path(option: str, value: t.Any, allow_list: bool = False) -> str:
    """An absolute Windows folder for the variable named like the option (gopath -> GOPATH).

    GOPATH (allow_list) may be a `;`-separated list, given as a string or a list; empty entries are
    dropped, as the go command ignores them. Only GOPATH entries may be UNC paths.
    """
    variable = option.upper()
    text = _text(option, variable, value, ";" if allow_list else None)
    entries = [e.strip() for e in text.split(";")] if allow_list else [text.strip()]
    entries = [e for e in entries if e]
    if not entries:
        raise GoEnvError("%s: %s holds no paths; omit the option to leave %s unmanaged" % (option, _goquote(text), variable))
    out = []
    for entry in entries:
        if "%" in entry:
            raise GoEnvError(
                "%s: %s contains a %%VAR%% reference, which the go command does not expand; give the expanded absolute path"
                % (option, _goquote(entry))
            )
        if variable == "GOPATH" and entry.startswith("~"):
            raise GoEnvError("%s: go: GOPATH entry cannot start with shell metacharacter '~': %s%s" % (option, _goquote(entry), GO_SAYS))
        if variable == "GOCACHE" and entry == "off":
            raise GoEnvError("%s: build cache is disabled by GOCACHE=off, but required as of Go 1.12%s" % (option, GO_SAYS))
        if ";" in entry:
            raise GoEnvError("%s: %s takes one path, and ';' separates list entries; got %s" % (option, variable, _goquote(entry)))
        if not _windows_is_abs(entry):
            wording = _PATH_RELATIVE.get(variable)
            if wording is None:
                wording = "%s must be an absolute path" % variable
            elif "%s" in wording:
                wording = wording % _goquote(entry)
            example = "C:\\Users\\me\\go" if variable == "GOPATH" else "C:\\go\\" + option
            raise GoEnvError("%s: %s%s; give an absolute Windows path such as %s" % (
                option, wording, GO_SAYS if variable in _PATH_RELATIVE else "", example))
        try:
            out.append(wp.check_absolute(option, entry, allow_unc=variable == "GOPATH"))
        except wp.PathError as err:
            raise GoEnvError(str(err)) from None
    return ";".join(out)


def check_gopath_not_in_goroot(gopath: str, goroot: str) -> None:
    """cmd/go/main.go warns `GOPATH set to GOROOT (%s) has no effect`; an entry inside GOROOT is as bad
    (go get would write into the Go installation). Both are errors here."""
    root = wp.normalize(goroot).lower()
    for entry in (e.strip() for e in gopath.split(";")):
        if not entry:
            continue
        if wp.same(entry, goroot):
            raise GoEnvError(
                "gopath: warning: GOPATH set to GOROOT (%s) has no effect%s; GOPATH must be a folder outside GOROOT"
                % (entry, GO_SAYS)
            )
        if wp.normalize(entry).lower().startswith(root.rstrip("\\") + "\\"):
            raise GoEnvError(
                "gopath: GOPATH entry %s is inside GOROOT (%s): the go command would write modules and binaries into "
                "the Go installation; choose a folder outside GOROOT" % (entry, goroot)
            )


# ---------------------------------------------------------------- extra variables


def validate_extra(option: str, extra: t.Any, managed: set[str]) -> dict[str, str]:
    """Other Go variables: NAME -> value. Names GO... or CGO_... in upper case, not one an option manages."""
    if not isinstance(extra, dict):
        raise GoEnvError("%s must be a dictionary of variable name to value, got %s" % (option, type(extra).__name__))
    out = {}
    for name, raw in extra.items():
        if not isinstance(name, str) or not _EXTRA_NAME.match(name):
            raise GoEnvError(
                "%s: %r is not a Go variable name: names are upper case GO... or CGO_... (such as GOEXPERIMENT, CGO_CFLAGS)"
                % (option, name)
            )
        if name in managed:
            raise GoEnvError("%s: %s is managed by its own option: use the %s option instead" % (option, name, name.lower()))
        if name in COMPUTED_VARS:
            raise GoEnvError(
                "%s: setting %s has no effect: %s" % (option, name, COMPUTED_VARS[name])
            )
        if isinstance(raw, bool):
            text = "1" if raw else "0"
        elif isinstance(raw, int):
            text = str(raw)
        elif isinstance(raw, str):
            text = raw
        else:
            raise GoEnvError("%s: the value of %s must be a string, a number or a boolean, got %s" % (option, name, type(raw).__name__))
        if "\x00" in text or "\n" in text or "\r" in text:
            raise GoEnvError("%s: the value of %s must not contain NUL or line breaks" % (option, name))
        out[name] = text
    return out


# ---------------------------------------------------------------- go env files and go env -json


def parse_env_file(text: str) -> dict[str, str]:
    """The go env file (%AppData%\\go\\env, written by `go env -w`) and GOROOT\\go.env.

    cmd/go/internal/cfg readEnvFile: a line is KEY=VALUE only if it starts with A-Z and has `=`
    (comments, blank lines and anything else are ignored); later lines win. Unlike Go we also drop
    a UTF-8 BOM (Go would ignore the first line), the \\r of CRLF line ends (Go would keep it in
    the value) and spaces around the key (Go would keep them, and no lookup would find the key).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    out: dict[str, str] = {}
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        key, eq, val = line.partition("=")
        if not eq or not ("A" <= line[0] <= "Z"):
            continue
        out[key.strip()] = val
    return out


def go_env_view(
    environ: dict[str, str],
    user_env_text: str | None,
    goroot_env_text: str | None,
    *,
    goroot: str,
    version: str,
    goarch: str,
    user_profile: str,
    appdata: str,
    local_appdata: str,
    telemetry_mode: str = "local",
) -> dict[str, str]:
    """What `go env -json` reports on Windows for a process with this environment.

    cmd/go/internal/cfg Getenv: a non-empty process variable wins (names are case-insensitive on
    Windows), then the user's go env file (none when GOENV=off), then GOROOT\\go.env (only for names
    the user file does not have), then the built-in default. goarch is the arch of go.exe (GOHOSTARCH).
    CGO_ENABLED defaults to 0: no C compiler is assumed on the host (Go 1.20+ picks 0 when none is found).
    """
    env = {str(k).upper(): v for k, v in environ.items() if isinstance(v, str)}
    goenv = env.get("GOENV", "")
    user = parse_env_file(user_env_text) if user_env_text is not None and goenv != "off" else {}
    shipped = parse_env_file(goroot_env_text) if goroot_env_text is not None else {}

    def get(name: str, default: str = "") -> str:
        if env.get(name):
            return env[name]
        value = user[name] if name in user else shipped.get(name, "")
        return value or default

    gopath = get("GOPATH", wp.join(user_profile, "go") if user_profile else "")
    first_gopath = next((e for e in gopath.split(";") if e), "")
    goos = get("GOOS", "windows")
    target_arch = get("GOARCH", goarch)
    root = env.get("GOROOT") or goroot
    goprivate = get("GOPRIVATE")
    view = {
        "AR": get("AR", "ar"),
        "CGO_ENABLED": get("CGO_ENABLED", "0"),
        "GO111MODULE": get("GO111MODULE"),
        "GOARCH": target_arch,
        "GOBIN": get("GOBIN"),
        "GOCACHE": get("GOCACHE", wp.join(local_appdata, "go-build") if local_appdata else ""),
        # cfg.EnvFile: only the process environment sets GOENV; with GOENV=off go env shows ""
        "GOENV": "" if goenv == "off" else (goenv or (wp.join(appdata, "go", "env") if appdata else "")),
        "GOEXE": ".exe" if goos == "windows" else "",
        "GOEXPERIMENT": get("GOEXPERIMENT"),
        "GOFLAGS": get("GOFLAGS"),
        "GOHOSTARCH": goarch,
        "GOHOSTOS": "windows",
        "GOINSECURE": get("GOINSECURE"),
        "GOMODCACHE": get("GOMODCACHE", wp.join(first_gopath, "pkg", "mod") if first_gopath else ""),
        "GONOPROXY": get("GONOPROXY", goprivate),
        "GONOSUMDB": get("GONOSUMDB", goprivate),
        "GOOS": goos,
        "GOPATH": gopath,
        "GOPRIVATE": goprivate,
        "GOPROXY": get("GOPROXY", DEFAULT_GOPROXY),
        "GOROOT": root,
        "GOSUMDB": get("GOSUMDB", DEFAULT_GOSUMDB),
        "GOTELEMETRY": telemetry_mode,
        "GOTELEMETRYDIR": wp.join(appdata, "go", "telemetry") if appdata else "",
        "GOTMPDIR": get("GOTMPDIR"),
        "GOTOOLCHAIN": get("GOTOOLCHAIN", DEFAULT_GOTOOLCHAIN),
        "GOTOOLDIR": wp.join(root, "pkg", "tool", "windows_" + goarch) if root else "",
        "GOVCS": get("GOVCS"),
        "GOVERSION": version,
        "GOWORK": get("GOWORK"),
        # outside a module with modules on, go env prints os.DevNull, which is NUL on Windows
        "GOMOD": "" if get("GO111MODULE") == "off" else "NUL",
    }
    if target_arch == "amd64":
        view["GOAMD64"] = get("GOAMD64", "v1")
    if env.get("GODEBUG"):
        view["GODEBUG"] = env["GODEBUG"]
    return dict(sorted(view.items()))


def _reg_text(value: t.Any) -> tuple[str, bool] | None:
    """(data, expand) of a registry value, None for types Windows does not put in the environment."""
    if not isinstance(value, dict) or not isinstance(value.get("data"), str):
        return None
    kind = value.get("type", "REG_SZ")
    if kind not in ("REG_SZ", "REG_EXPAND_SZ"):
        return None
    return value["data"], kind == "REG_EXPAND_SZ"


def _expand(text: str, resolve: t.Callable[[str], str | None]) -> str:
    """ExpandEnvironmentStrings: %NAME% replaced; unknown names stay as written."""

    def sub(m: re.Match) -> str:
        found = resolve(m.group(1))
        return m.group(0) if found is None else found

    return _VAR_REF.sub(sub, text)


def effective_windows_env(machine: dict, user: dict, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a new process started at user level gets from the registry.

    machine and user are NAME -> {"type": "REG_SZ"|"REG_EXPAND_SZ", "data": str} (as registry.get
    returns them; other types are ignored, as Windows ignores them). User values override machine
    values, except Path: machine Path + ";" + user Path. REG_EXPAND_SZ values are expanded: machine
    values against machine values, user values against user and machine values (a user value that
    names itself, like Path=%Path%;..., sees the machine value). base holds the session variables
    (USERPROFILE, SystemRoot...) used for expansion only. Names are case-insensitive; the result
    keeps the stored case of the winning value.
    """
    base_up = {k.upper(): v for k, v in (base or {}).items()}
    mach = {}
    for name, value in machine.items():
        parsed = _reg_text(value)
        if parsed is not None:
            mach[name.upper()] = (name, parsed[0], parsed[1])
    usr = {}
    for name, value in user.items():
        parsed = _reg_text(value)
        if parsed is not None:
            usr[name.upper()] = (name, parsed[0], parsed[1])

    def machine_value(key: str, stack: tuple[str, ...]) -> str | None:
        if key in stack or key not in mach:
            return base_up.get(key)
        _name, data, expand = mach[key]
        if not expand:
            return data
        return _expand(data, lambda ref: machine_value(ref.upper(), stack + (key,)))

    def user_value(key: str, stack: tuple[str, ...]) -> str | None:
        if key in stack or key not in usr:
            return machine_value(key, ())
        _name, data, expand = usr[key]
        if not expand:
            return data
        return _expand(data, lambda ref: user_value(ref.upper(), stack + (key,)))

    out: dict[str, str] = {}
    for key, (name, _data, _expand_it) in mach.items():
        if key not in usr or key == "PATH":
            out[name] = machine_value(key, ()) or ""
    for key, (name, _data, _expand_it) in usr.items():
        value = user_value(key, ())
        if key == "PATH" and key in mach:
            mname = mach[key][0]
            head = out[mname]
            if value:
                out[mname] = (head if head.endswith(";") or not head else head + ";") + value
            continue
        out[name] = value or ""
    return out


# ---------------------------------------------------------------- warnings


def conflict_warnings(machine: dict[str, str], user: dict[str, str], effective_go: dict[str, str]) -> list[str]:
    """Settings that fight each other: user values hiding machine ones, and Go settings that undo others."""
    warnings = []
    mach = {k.upper(): (k, v) for k, v in machine.items() if isinstance(v, str)}
    for name, value in sorted(user.items()):
        key = name.upper()
        if key == "PATH" or key not in mach or not isinstance(value, str):
            continue
        if mach[key][1] != value:
            warnings.append(
                "the user variable %s=%s hides the machine variable %s=%s: processes of this user see the user value"
                % (name, redact_url(value), mach[key][0], redact_url(mach[key][1]))
            )
    go = {k.upper(): v for k, v in effective_go.items() if isinstance(v, str)}
    toolchain = go.get("GOTOOLCHAIN", "")
    switches = toolchain == "auto" or toolchain.endswith("+auto")
    proxies = [p.strip() for p in re.split(r"[,|]", go.get("GOPROXY", ""))]
    first_proxy = next((p for p in proxies if p), "")
    if switches and go.get("GOSUMDB") == "off":
        warnings.append(
            "GOSUMDB=off with GOTOOLCHAIN=%s: toolchain downloads cannot be verified against the checksum database"
            % toolchain
        )
    if switches and first_proxy == "off":
        warnings.append(
            "GOPROXY=off with GOTOOLCHAIN=%s: toolchain switching cannot download the toolchain a go.mod asks for"
            % toolchain
        )
    private = go.get("GOPRIVATE", "")
    if private:
        for var, purpose in (("GONOSUMDB", "checksum database"), ("GONOPROXY", "proxy")):
            other = go.get(var, "")
            if other == private:
                continue
            missing = [g.strip() for g in private.split(",")
                       if g.strip() and g.strip() not in other.split(",") and not match_prefix_patterns(other, g.strip())]
            if missing:
                warnings.append(
                    "GOPRIVATE=%s but %s=%s is set: the go command uses %s instead of GOPRIVATE to decide what skips the %s, "
                    "so %s would still use it" % (redact_url(private), var, redact_url(other), var, purpose,
                                                  ", ".join(redact_url(m) for m in missing))
                )
    try:
        flags = split_goflags(go.get("GOFLAGS", ""))
    except ValueError:
        flags = []
    if "-mod=vendor" in flags or "--mod=vendor" in flags:
        warnings.append(
            "GOFLAGS has -mod=vendor for every go command: modules without a vendor folder fail to build"
        )
    insecure = [g.strip().rstrip("/") for g in go.get("GOINSECURE", "").split(",")]
    if any(g and set(g) == {"*"} for g in insecure):
        warnings.append(
            "GOINSECURE=%s matches every module path: all direct fetches may use plain HTTP and skip certificate checks"
            % redact_url(go.get("GOINSECURE", ""))
        )
    return warnings
