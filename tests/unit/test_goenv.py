# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Go's environment rules (plugins/plugin_utils/_goenv.py).

The value tables come from Go's documentation: `go help environment`, `go help goproxy`,
`go help module-private`, `go help module-auth`, https://go.dev/doc/toolchain and the GOAMD64
entry of https://go.dev/wiki/MinimumRequirements. Each invalid value names the option and the
go command's own wording.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _goenv as ge

SUM_KEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"


def make_key(name: str, key: bytes, hash_name: str | None = None) -> str:
    """A verifier key name+hash+base64(key), hashed independently of the module under test."""
    digest = hashlib.sha256((hash_name or name).encode() + b"\n" + key).digest()
    return "%s+%s+%s" % (name, digest[:4].hex(), base64.b64encode(key).decode())


OWN_KEY = make_key("sum.example.com", b"\x01" + bytes(range(32)))


def error_of(func, *args) -> str:
    with pytest.raises(ge.GoEnvError) as err:
        func(*args)
    return str(err.value)


# ---------------------------------------------------------------- GOPROXY

GOPROXY_VALID = [
    ("https://proxy.golang.org,direct", False, "https://proxy.golang.org,direct"),
    ("https://proxy.golang.org", False, "https://proxy.golang.org"),
    ("off", False, "off"),
    ("direct", False, "direct"),
    ("https://corp.example.com|https://proxy.golang.org|direct", False, "https://corp.example.com|https://proxy.golang.org|direct"),
    ("https://corp.example.com|https://proxy.golang.org,direct", False, "https://corp.example.com|https://proxy.golang.org,direct"),
    ("proxy.example.com", False, "proxy.example.com"),  # https:// implied, the user's text kept
    ("proxy.example.com:8080/goproxy,direct", False, "proxy.example.com:8080/goproxy,direct"),
    ("user:token@proxy.example.com", False, "user:token@proxy.example.com"),
    ("https://user:token@proxy.corp.example.com,direct", False, "https://user:token@proxy.corp.example.com,direct"),
    ("file:///C:/goproxy", False, "file:///C:/goproxy"),
    ("HTTPS://PROXY.EXAMPLE.COM", False, "HTTPS://PROXY.EXAMPLE.COM"),
    ("https://[::1]:8443", False, "https://[::1]:8443"),
    ([" https://a.example.com ", "direct"], False, "https://a.example.com,direct"),
    (" https://a.example.com , direct ", False, "https://a.example.com,direct"),
    ("https://a.example.com,,direct,", False, "https://a.example.com,direct"),
    ("https://a.example.com|,direct", False, "https://a.example.com|direct"),
    ("http://localhost:3000,direct", True, "http://localhost:3000,direct"),
]


@pytest.mark.parametrize("value,plain,expected", GOPROXY_VALID)
def test_goproxy_valid(value, plain, expected):
    normalized, warnings = ge.validate_goproxy("goproxy", value, plain)
    assert normalized == expected
    assert warnings == []


GOPROXY_INVALID = [
    ("", "goproxy: an empty value is the same as unset"),
    ([], "omit the option to leave GOPROXY unmanaged"),
    (",", "goproxy: GOPROXY list is not the empty string, but contains no entries"),
    (" | ", "goproxy: GOPROXY list is not the empty string, but contains no entries"),
    ("ftp://x", "goproxy: invalid proxy URL scheme (must be https, http, file): ftp://x (as the go command says)"),
    ("noproxy", "goproxy: invalid proxy URL missing scheme: noproxy"),
    ("Direct", "goproxy: invalid proxy URL missing scheme: Direct"),
    ("https://proxy.example.com,OFF", "goproxy: invalid proxy URL missing scheme: OFF"),
    ("C:\\goproxy", "goproxy: invalid proxy URL scheme (must be https, http, file)"),
    ("http://proxy.example.com", "set allow_plain_http: true"),
    ("proxy.example.com,http://other.example.com,direct", "goproxy: http://other.example.com is a plain http:// proxy"),
    ("file://server/share/goproxy", "goproxy: invalid file:// proxy URL with non-path elements: file://server/share/goproxy"),
    ("file:///C:/goproxy?x=1", "invalid file:// proxy URL with non-path elements"),
    ("https://exa mple.com", 'goproxy: parse "https://exa mple.com": invalid character " " in host name'),
    ("https://example.com:80x", 'goproxy: parse "https://example.com:80x": invalid port ":80x" after host'),
    ("https://example.com/%zz", 'goproxy: parse "https://example.com/%zz": invalid URL escape "%zz"'),
    ("https://", "goproxy: proxy URL https:// has no host"),
    (["https://a.example.com", 3], "goproxy: list elements must be strings"),
    (42, "goproxy must be a string or a list of strings"),
    ("https://a.example.com\ndirect", "goproxy: GOPROXY must not contain NUL or line breaks"),
]


@pytest.mark.parametrize("value,fragment", GOPROXY_INVALID)
def test_goproxy_invalid(value, fragment):
    assert fragment in error_of(ge.validate_goproxy, "goproxy", value, False)


def test_goproxy_entries_after_direct_or_off_are_warned_not_checked():
    normalized, warnings = ge.validate_goproxy("goproxy", "https://a.example.com,direct,ftp://never,noproxy", False)
    assert normalized == "https://a.example.com,direct,ftp://never,noproxy"
    assert warnings == ["goproxy: entries after direct/off are never used: ftp://never, noproxy (the go command stops at direct)"]
    _normalized, warnings = ge.validate_goproxy("goproxy", "off|https://b.example.com", False)
    assert "entries after direct/off are never used: https://b.example.com" in warnings[0]


def test_goproxy_windows_path_gets_a_file_url_hint():
    assert "file:///C:/path/to/proxy" in error_of(ge.validate_goproxy, "goproxy", "C:\\goproxy", False)


# ---------------------------------------------------------------- GOSUMDB


def test_sumdb_key_hash_of_the_real_key():
    name, hash16, key64 = SUM_KEY.split("+", 2)
    assert ge.sumdb_key_hash(name, base64.b64decode(key64)) == 0x033DE0AE == int(hash16, 16)


GOSUMDB_VALID = [
    ("off", "off"),
    ("sum.golang.org", "sum.golang.org"),
    ("sum.golang.google.cn", "sum.golang.google.cn"),
    ("sum.golang.org https://sum.golang.google.cn", "sum.golang.org https://sum.golang.google.cn"),
    ("sum.golang.org  https://proxy.example.com/sumdb/sum.golang.org", "sum.golang.org https://proxy.example.com/sumdb/sum.golang.org"),
    (SUM_KEY, SUM_KEY),
    (SUM_KEY + " https://sum.golang.org", SUM_KEY + " https://sum.golang.org"),
    (OWN_KEY, OWN_KEY),
    (OWN_KEY + " http://sumdb.corp.example.com", OWN_KEY + " http://sumdb.corp.example.com"),
    (make_key("sum.example.com/db", b"\x01" + bytes(32)), make_key("sum.example.com/db", b"\x01" + bytes(32))),
    # sumdb.go dbDial parses any URL; cmd/go/internal/web reads file:// URLs from disk
    ("sum.golang.org file:///C:/sumdb", "sum.golang.org file:///C:/sumdb"),
    ("sum.golang.org file:///c:/mirror/sumdb/sum.golang.org", "sum.golang.org file:///c:/mirror/sumdb/sum.golang.org"),
    ("sum.golang.org file://localhost/D:/sumdb", "sum.golang.org file://localhost/D:/sumdb"),
    ("sum.golang.org file://fileserver/share/sumdb", "sum.golang.org file://fileserver/share/sumdb"),
    (OWN_KEY + " file:///C:/sumdb", OWN_KEY + " file:///C:/sumdb"),
]


@pytest.mark.parametrize("value,expected", GOSUMDB_VALID)
def test_gosumdb_valid(value, expected):
    assert ge.validate_gosumdb("gosumdb", value) == expected


GOSUMDB_INVALID = [
    ("", "gosumdb: an empty value is the same as unset"),
    ("   ", "gosumdb: missing GOSUMDB"),
    ("sum.golang.org https://a https://b", "gosumdb: invalid GOSUMDB: too many fields (as the go command says)"),
    ("sum.example.com", "gosumdb: invalid GOSUMDB: malformed verifier id"),
    ("OFF", "gosumdb: invalid GOSUMDB: malformed verifier id"),
    ("sum.golang.org+033de0a+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "invalid GOSUMDB: malformed verifier id"),
    ("sum.golang.org+033de0ag+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "invalid GOSUMDB: malformed verifier id"),
    ("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn", "invalid GOSUMDB: malformed verifier id"),
    ("sum.golang.org+033de0ae", "invalid GOSUMDB: malformed verifier id"),
    ("sum.golang.org+033de0af+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "gosumdb: invalid GOSUMDB: invalid verifier hash"),
    ("sum.golang.com+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "invalid GOSUMDB: invalid verifier hash"),
    (make_key("sum.example.com", b"\x02" + bytes(32)), "gosumdb: invalid GOSUMDB: unknown verifier algorithm"),
    (make_key("sum.example.com", b"\x01" + bytes(16)), "gosumdb: invalid GOSUMDB: malformed verifier id"),
    (make_key("sum.example.com/", b"\x01" + bytes(32)), "gosumdb: invalid sumdb name (must be host[/path]): sum.example.com/"),
    (make_key("sum.example.com?x", b"\x01" + bytes(32)), "invalid sumdb name (must be host[/path])"),
    (make_key("me@sum.example.com", b"\x01" + bytes(32)), "invalid sumdb name (must be host[/path])"),
    ("sum example.com+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "gosumdb: invalid GOSUMDB: malformed verifier id"),
    ("sum.golang.org ftp://mirror.example.com", "gosumdb: the checksum database URL must be an https://, http:// or file:// URL"),
    # cmd/go/internal/web url.go urlToFilePath, url_windows.go convertFileURLPath
    ("sum.golang.org file://C:/sumdb", "gosumdb: the checksum database URL file://C:/sumdb: file URL encodes volume in host field: too few slashes?"),
    ("sum.golang.org file:///sumdb", "gosumdb: the checksum database URL file:///sumdb: file URL missing drive letter"),
    ("sum.golang.org file:///C:", "file:///C:: path is not absolute"),
    ("sum.golang.org file://server/", "file://server/: path is not absolute"),
    ("sum.golang.org file:sumdb", "file:sumdb: path is not absolute"),
    ("sum.golang.org https://exa%zzmple", 'gosumdb: invalid GOSUMDB URL: parse "https://exa%zzmple": invalid URL escape "%zz"'),
    ("sum.golang.google.cn https://x.example.com", "invalid GOSUMDB: malformed verifier id"),
    (["sum.golang.org"], "gosumdb must be a string"),
]


@pytest.mark.parametrize("value,fragment", GOSUMDB_INVALID)
def test_gosumdb_invalid(value, fragment):
    assert fragment in error_of(ge.validate_gosumdb, "gosumdb", value)


def test_gosumdb_error_shows_what_is_accepted():
    assert "sum.golang.google.cn, or a verifier key name+hash+key" in error_of(ge.validate_gosumdb, "gosumdb", "sum.example.com")


# ---------------------------------------------------------------- GOPRIVATE, GONOPROXY, GONOSUMDB, GOINSECURE

PATTERNS_VALID = [
    ("*.corp.example.com,rsc.io/private", "*.corp.example.com,rsc.io/private"),
    (["*.corp.example.com", "rsc.io/private"], "*.corp.example.com,rsc.io/private"),
    ("example.com/*", "example.com/*"),
    ("[a-z]*.example.com", "[a-z]*.example.com"),
    ("golang.org/x/[^t]*", "golang.org/x/[^t]*"),
    ("git.example.com/a\\*b", "git.example.com/a\\*b"),
    ("git.example.com/[\\]]x", "git.example.com/[\\]]x"),
    ("?.example.com", "?.example.com"),
    (" a.example.com , b.example.com ", "a.example.com,b.example.com"),
    ("a.example.com,,b.example.com,", "a.example.com,b.example.com"),
    ("corp.example.com/", "corp.example.com/"),
    ("*", "*"),
    # MatchPrefixPatterns skips empty globs, so commas alone are a valid value that matches nothing
    # (for GONOPROXY/GONOSUMDB it still overrides GOPRIVATE); kept non-empty as ","
    (",", ","),
    (",,", ","),
    (" , ", ","),
    ([",", ""], ","),
    ("a.example.com,", "a.example.com"),
    ("/", "/"),
]


@pytest.mark.parametrize("option", ["goprivate", "gonoproxy", "gonosumdb", "goinsecure"])
@pytest.mark.parametrize("value,expected", PATTERNS_VALID)
def test_patterns_valid(option, value, expected):
    assert ge.validate_patterns(option, value) == expected


PATTERNS_INVALID = [
    ("example.com/[", "malformed pattern \"example.com/[\": syntax error in pattern"),
    ("[]a.example.com", "malformed pattern \"[]a.example.com\": syntax error in pattern"),
    ("a.example.com\\", "syntax error in pattern"),
    ("[-a].example.com", "syntax error in pattern"),
    ("[a-].example.com", "syntax error in pattern"),
    ("[]].example.com", "syntax error in pattern"),
    ("x.example.com,ok.example.com/[a", "malformed pattern \"ok.example.com/[a\""),
    ("[a-z.example.com", "syntax error in pattern"),
    ("a b.example.com", "contains whitespace"),
    ("a\tb.example.com", "contains whitespace"),
    ("a.example.com, b c.example.com", 'pattern "b c.example.com" contains whitespace'),
    ("", "an empty value is the same as unset"),
    ([], "an empty value is the same as unset"),
]


@pytest.mark.parametrize("option", ["goprivate", "goinsecure"])
@pytest.mark.parametrize("value,fragment", PATTERNS_INVALID)
def test_patterns_invalid(option, value, fragment):
    message = error_of(ge.validate_patterns, option, value)
    assert message.startswith(option + ":") or message.startswith(option + " ")
    assert fragment in message


def test_comma_alone_in_gonoproxy_overrides_goprivate_in_go_env_view():
    """cfg: GONOPROXY defaults to GOPRIVATE only when empty; "," is not empty and matches nothing."""
    value = ge.validate_patterns("gonoproxy", ",")
    view = ge.go_env_view({"GOPRIVATE": "corp.example.com", "GONOPROXY": value}, None, None, goroot="C:\\go",
                          version="go1.22.5", goarch="amd64", user_profile="", appdata="", local_appdata="")
    assert view["GONOPROXY"] == ","
    assert ge.match_prefix_patterns(view["GONOPROXY"], "corp.example.com/x") is False
    warnings = ge.conflict_warnings({}, {}, view)
    assert any("GONOPROXY=, is set" in w and "corp.example.com would still use it" in w for w in warnings)


def test_malformed_pattern_says_go_would_ignore_it():
    assert "the go command would silently ignore it" in error_of(ge.validate_patterns, "gonosumdb", "a.com/[")


# Go's own path.Match table (src/path/match_test.go)
PATH_MATCH = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True), ("a*", "abc", True),
    ("a*", "ab/c", False), ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False), ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True), ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True), ("ab[b-d]", "abc", True), ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False), ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a\u263ab", True), ("a[^a]b", "a\u263ab", True), ("a???b", "a\u263ab", False),
    ("a[^a][^a][^a]b", "a\u263ab", False), ("[a-\u03b6]*", "\u03b1", True), ("*[a-\u03b6]", "A", False),
    ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True), ("[\\-]", "-", True),
    ("[x\\-]", "x", True), ("[x\\-]", "-", True), ("[x\\-]", "z", False), ("[\\-x]", "x", True),
    ("[\\-x]", "-", True), ("[\\-x]", "a", False), ("*x", "xxx", True),
]
PATH_MATCH_BAD = [
    ("[]a]", "]"), ("[-]", "-"), ("[x-]", "x"), ("[x-]", "-"), ("[x-]", "z"), ("[-x]", "x"), ("[-x]", "-"),
    ("[-x]", "a"), ("\\", "a"), ("[a-b-c]", "a"), ("[", "a"), ("[^", "a"), ("[^bc", "a"), ("a[", "a"),
    ("a[", "ab"), ("a[", "x"), ("a/b[", "x"), ("*x[", "ax"),
]


@pytest.mark.parametrize("pattern,name,matched", PATH_MATCH)
def test_path_match_as_go(pattern, name, matched):
    assert ge.path_match(pattern, name) is matched
    ge.check_pattern(pattern)


@pytest.mark.parametrize("pattern,name", PATH_MATCH_BAD)
def test_path_match_bad_pattern_as_go(pattern, name):
    with pytest.raises(ge._BadPattern):
        ge.path_match(pattern, name)
    with pytest.raises(ge._BadPattern):
        ge.check_pattern(pattern)


@pytest.mark.parametrize("globs,target,matched", [
    ("*.corp.example.com", "git.corp.example.com/team/repo", True),
    ("*.corp.example.com", "corp.example.com/repo", False),
    ("rsc.io/private", "rsc.io/private/quux", True),
    ("rsc.io/private", "rsc.io/privateer", False),
    ("rsc.io/private/", "rsc.io/private", True),
    ("example.com/*", "example.com", False),
    ("example.com/*", "example.com/a/b", True),
    ("*", "github.com/x/y", True),
    ("a.com,[bad,b.com", "b.com/x", True),
    ("[a-c].example.com", "b.example.com", True),
    ("[^a-c].example.com", "b.example.com", False),
    ("a\\*b.com", "a*b.com", True),
    ("a\\*b.com", "axb.com", False),
    ("", "anything", False),
])
def test_match_prefix_patterns(globs, target, matched):
    assert ge.match_prefix_patterns(globs, target) is matched


# ---------------------------------------------------------------- GOFLAGS

# Flags every build command defines: accepted without a warning.
GOFLAGS_VALID = [
    ("-mod=mod", "-mod=mod"),
    ("-mod=readonly -trimpath", "-mod=readonly -trimpath"),
    ("  -mod=vendor\t-v ", "-mod=vendor -v"),
    ("--mod=vendor", "--mod=vendor"),
    ("-mod=", "-mod="),
    (["-race", "-trimpath"], "-race -trimpath"),
    ("-buildvcs=false", "-buildvcs=false"),
    ("-buildvcs=auto", "-buildvcs=auto"),
    ("-buildvcs", "-buildvcs"),
    ("-race=true -trimpath=1 -v=F", "-race=true -trimpath=1 -v=F"),
    ("-ldflags=-s", "-ldflags=-s"),
    ("-tags=integration,windows", "-tags=integration,windows"),
    ("-p=4", "-p=4"),
    ("-p=0x10 -p=017 -p=0b11 -p=1_000 -p=-1", "-p=0x10 -p=017 -p=0b11 -p=1_000 -p=-1"),  # strconv.ParseInt base 0
    ("-modcacherw", "-modcacherw"),
    ("'-mod=readonly'", "-mod=readonly"),  # quoted.Split removes quotes around a field
    ('"-trimpath" -mod=mod', "-trimpath -mod=mod"),
]


@pytest.mark.parametrize("value,expected", GOFLAGS_VALID)
def test_goflags_valid(value, expected):
    assert ge.validate_goflags("goflags", value) == (expected, [])


# cmd/internal/quoted Split: a field that starts with a quote runs to the same quote, no escapes,
# quotes inside a field are ordinary characters.
@pytest.mark.parametrize("text,fields", [
    ("-a -b", ["-a", "-b"]),
    (" \t-a\r\n-b ", ["-a", "-b"]),
    ('"-tags=magic wizardry"', ["-tags=magic wizardry"]),
    ("'-ldflags=-s -w' -trimpath", ["-ldflags=-s -w", "-trimpath"]),
    ('-tags="a b"', ['-tags="a', 'b"']),  # a quote inside a field does not quote
    ("\"it's\"", ["it's"]),
    ('\'say "x"\'', ['say "x"']),
    ('"a"b', ["a", "b"]),  # the quoted field ends at its closing quote
    ('""', [""]),
    ("", []),
])
def test_split_goflags_as_quoted_split(text, fields):
    assert ge.split_goflags(text) == fields


@pytest.mark.parametrize("text,quote", [('"-tags=a b', '"'), ("-x '-tags", "'")])
def test_split_goflags_unterminated(text, quote):
    with pytest.raises(ValueError, match="unterminated %s string" % quote):
        ge.split_goflags(text)


@pytest.mark.parametrize("value,expected", [
    ('"-tags=magic wizardry"', '"-tags=magic wizardry"'),
    ("'-ldflags=-s -w' -trimpath", '"-ldflags=-s -w" -trimpath'),
    (["-ldflags=-s -w", "-trimpath"], '"-ldflags=-s -w" -trimpath'),
    (['-ldflags=-X "main.v=1 2"'], "'-ldflags=-X \"main.v=1 2\"'"),
])
def test_goflags_quoted_flag_is_one_flag(value, expected):
    normalized, warnings = ge.validate_goflags("goflags", value)
    assert normalized == expected
    assert ge.split_goflags(normalized)[0] == (value[0] if isinstance(value, list) else ge.split_goflags(value)[0])
    assert len(warnings) == 1 and "older go commands split it at every space" in warnings[0]


GOFLAGS_INVALID = [
    ("mod=mod", 'goflags: go: parsing $GOFLAGS: non-flag "mod=mod" (as the go command says)'),
    ("-", 'goflags: go: parsing $GOFLAGS: non-flag "-"'),
    ("--", 'non-flag "--"'),
    ("---mod=mod", 'non-flag "---mod=mod"'),
    ("-=x", 'non-flag "-=x"'),
    ("--=x", 'non-flag "--=x"'),
    ('-tags="a b"', 'goflags: go: parsing $GOFLAGS: non-flag "b\\""'),
    ('""', 'non-flag ""'),
    ('"-tags=a b', 'goflags: go: parsing $GOFLAGS: unterminated " string (as the go command says)'),
    ("-x '-y", "goflags: go: parsing $GOFLAGS: unterminated ' string"),
    (["-ldflags=-X 'a' \"b\" c"], "contains both single and double quotes and cannot be quoted"),
    ("-C=C:\\src", "goflags: go: invalid value \"C:\\\\src\" for flag -C (from %GOFLAGS%): -C flag must be first flag on command line"),
    ("-C", "-C flag must be first flag on command line"),
    ("-race=maybe", 'goflags: go: invalid boolean value "maybe" for flag -race (from %GOFLAGS%) (as go build, go install, go run, go test'),
    ("-buildvcs=sometimes", 'invalid boolean value "sometimes" for flag -buildvcs'),
    ("-ldflags", "goflags: go: flag needs an argument: -ldflags (from %GOFLAGS%) (as go build"),
    ("-p=four", 'goflags: go: invalid value "four" for flag -p (from %GOFLAGS%): parse error (as go build'),
    ("-p=08", 'invalid value "08" for flag -p'),  # base 0: a leading 0 is octal
    ("-p=99999999999999999999", 'invalid value "99999999999999999999" for flag -p'),
    ("-mod=Vendor", "goflags: go: -mod=Vendor not supported (can be '', 'mod', 'readonly', or 'vendor')"),
    ("", "goflags: an empty value is the same as unset"),
    ("   ", "omit the option to leave GOFLAGS unmanaged"),
    ([], "omit the option to leave GOFLAGS unmanaged"),
    (["-x", 3], "goflags: list elements must be strings"),
    (3, "goflags must be a string"),
    ("-x\n-v", "goflags: GOFLAGS must not contain NUL or line breaks"),
    # InitGOFLAGS: a flag no go command defines makes every go command fail (goflags.txt: -typoflag)
    ("-typoflag", "goflags: go: parsing $GOFLAGS: unknown flag -typoflag (as the go command says)"),
    ("--foo=bar -trimpath", "unknown flag -foo"),
    ("-trimpath -Mod=mod", "unknown flag -Mod"),  # flag names are case-sensitive
    ("-test.typo=1", "unknown flag -test.typo"),
    # flags only some commands define: SetFromGOFLAGS checks the value in those commands (goflags.txt)
    ("-f", "goflags: go: flag needs an argument: -f (from %GOFLAGS%) (as go list would say)"),
    ("-e=asdf", 'goflags: go: invalid boolean value "asdf" for flag -e (from %GOFLAGS%) (as go list, go mod tidy, go mod vendor and go work vendor would say)'),
    ("-count=x", 'invalid value "x" for flag -count (from %GOFLAGS%): parse error (as go test would say)'),
    ("-timeout=30x", 'invalid value "30x" for flag -timeout (from %GOFLAGS%): parse error (as go test would say)'),
    ("-printf=maybe", 'invalid boolean value "maybe" for flag -printf (from %GOFLAGS%) (as go vet would say)'),
    # one flag, several kinds: the commands that refuse the value are named, the others accept it
    ("-json=Dir,ImportPath", 'invalid boolean value "Dir,ImportPath" for flag -json (from %GOFLAGS%) (as go build, go install, go test, go vet'),
    ("-v=test2json", 'invalid boolean value "test2json" for flag -v (from %GOFLAGS%) (as go build, go install, go run, go vet'),
    ("-u=patch", 'invalid boolean value "patch" for flag -u (from %GOFLAGS%) (as go list and go env would say)'),
    ("-c=3", 'invalid boolean value "3" for flag -c (from %GOFLAGS%) (as go test would say)'),
]


@pytest.mark.parametrize("value,fragment", GOFLAGS_INVALID)
def test_goflags_invalid(value, fragment):
    assert fragment in error_of(ge.validate_goflags, "goflags", value)


def test_goflags_unknown_flag_names_the_opt_out():
    message = error_of(ge.validate_goflags, "goflags", "-typoflag")
    assert "every go command would fail" in message and "allow_unknown_goflags: true" in message


@pytest.mark.parametrize("value,unknown", [
    ("-newflag", ["-newflag"]),
    ("--newflag=bar -trimpath", ["-newflag"]),
    ("-a2 -b2", ["-a2", "-b2"]),
])
def test_goflags_unknown_flag_kept_with_allow_unknown(value, unknown):
    normalized, warnings = ge.validate_goflags("goflags", value, True)
    assert normalized == " ".join(value.split())
    assert len(warnings) == len(unknown)
    for warning, flag in zip(warnings, unknown):
        assert warning.startswith("goflags: go: parsing $GOFLAGS: unknown flag %s " % flag)
        assert "allow_unknown_goflags is true" in warning


def test_goflags_allow_unknown_does_not_excuse_bad_values():
    assert "non-flag" in error_of(ge.validate_goflags, "goflags", "-newflag x", True)
    assert "flag needs an argument: -ldflags" in error_of(ge.validate_goflags, "goflags", "-ldflags", True)


# Flags only some go commands define are not unknown (goflags.txt: GOFLAGS='-e -f={{.Dir}} --test.benchtime=1s
# -count=10' works for go list): they are kept, with a warning naming the commands that use them.
@pytest.mark.parametrize("value,flag,commands", [
    ("-f={{.Dir}}", "-f", "go list only"),
    ("-e", "-e", "go list, go mod tidy, go mod vendor and go work vendor only"),
    ("-count=1", "-count", "go test only"),
    ("--test.benchtime=1s", "-test.benchtime", "go test only"),
    ("-timeout=1h30m", "-timeout", "go test only"),
    ("-printf=false", "-printf", "go vet only"),
    ("-unusedresult.funcs=fmt.Sprint", "-unusedresult.funcs", "go vet only"),
    ("-vettool=C:\\tools\\vet.exe", "-vettool", "go vet only"),
    ("-json=Dir", None, None),  # refused above: not every command reads a field list
    ("-o=C:\\out", "-o", "go build, go test, go mod vendor and go work vendor only"),
    ("-json", "-json", None),  # not every build command (go run, go list as a bool...) defines it
])
def test_goflags_partly_known_flag_is_kept_with_a_warning(value, flag, commands):
    if flag is None:
        assert "invalid boolean value" in error_of(ge.validate_goflags, "goflags", value)
        return
    normalized, warnings = ge.validate_goflags("goflags", value)
    assert normalized == value
    assert len(warnings) == 1
    assert warnings[0].startswith("goflags: %s is a flag of " % flag)
    assert warnings[0].endswith("the other go commands ignore it")
    if commands:
        assert "is a flag of %s;" % commands in warnings[0]


def test_goflags_space_split_value_hints_at_quoting():
    normalized, warnings = ge.validate_goflags("goflags", "-ldflags=-s -w")
    assert normalized == "-ldflags=-s -w"  # Go reads two flags: -ldflags=-s and go env's -w
    assert warnings == ['goflags: -w is a flag of go env only; the other go commands ignore it (if it was meant as '
                        'part of the previous flag\'s value, quote both: "-ldflags=-s -w")']


def test_goflags_table_has_go_list_and_test_flags_from_goflags_txt():
    assert GOFLAGS_KNOWN_KIND("f", "go list") == "string"
    assert GOFLAGS_KNOWN_KIND("e", "go list") == "bool"
    assert GOFLAGS_KNOWN_KIND("test.benchtime", "go test") == "string"
    assert "go build" not in ge.GOFLAGS_KNOWN["f"]


def GOFLAGS_KNOWN_KIND(name: str, command: str) -> str:
    return ge.GOFLAGS_KNOWN[name][command]


# ---------------------------------------------------------------- GOTOOLCHAIN

# internal/gover Parse and IsValid (src/internal/gover/gover_test.go cases among them)
@pytest.mark.parametrize("version,valid", [
    ("1", True), ("1.21", True), ("1.21.0", True), ("1.21rc1", True), ("1.21rc", True), ("1.9999x", True),
    ("1.999testmod", True), ("1.21.3rc1", True), ("1.20", True), ("222", True), ("2.0", True),
    ("01.21", False), ("1.021", False), ("1.21.01", False), ("1.21rc01", False), ("1.", False), ("1.21.", False),
    ("1.21-rc1", False), ("1.21RC1", False), ("1.21rc1x", False), ("v1.21", False), ("", False), ("1.2.3.4", False),
])
def test_gover_is_valid(version, valid):
    assert ge.gover_is_valid(version) is valid


@pytest.mark.parametrize("version,lang", [
    ("1.21", True), ("1.22", True), ("1.600", True), ("2.21", True),
    ("1.20", False), ("1.2", False), ("1", False),  # before 1.21 a missing patch is .0: a release
    ("1.21.0", False), ("1.21rc1", False), ("1.21rc", False), ("1.9999x", False), ("bad", False),
])
def test_gover_is_lang(version, lang):
    assert ge.gover_is_lang(version) is lang


# cmd/go/internal/gover/toolchain_test.go fromToolchainTests, and neighbours
@pytest.mark.parametrize("name,version", [
    ("go1.2.3", "1.2.3"), ("1.2.3", ""), ("go1.2.3+bigcorp", ""), ("go1.2.3-bigcorp", "1.2.3"),
    ("go1.2.3-bigcorp more text", "1.2.3"), ("gccgo-go1.23rc4", ""), ("gccgo-go1.23rc4-bigdwarf", ""),
    ("go1.21\tx", "1.21"), ("go1.9999x", "1.9999x"), ("bin/go1.22.0", ""), ("bin\\go1.22.0", ""), ("go", ""),
])
def test_gover_from_toolchain(name, version):
    assert ge.gover_from_toolchain(name) == version


GOTOOLCHAIN_VALID = [
    "auto", "path", "local", "go1.21.0", "go1.22.5", "go1.21rc1", "go1", "go1.20", "go1.2", "go1.21.0+auto",
    "go1.21.0+path", "local+auto", "local+path", "go1.21.0-custom", "go1.22beta1+auto",
    # Go accepts these (gover.IsValid: a pre-release kind is any lower-case word, its number optional)
    "go1.9999x", "go1.999testmod", "go1.21rc", "go1.2x+path", "go1.21.3rc1", "go1.21rc+auto",
    "go1.22.0-bigcorp+auto",
]


@pytest.mark.parametrize("value", GOTOOLCHAIN_VALID)
def test_gotoolchain_valid(value):
    assert ge.validate_gotoolchain("gotoolchain", value) == value


LANGUAGE_VERSION = "is a language version but not a toolchain version"
GOTOOLCHAIN_INVALID = [
    ("", "gotoolchain: an empty value is the same as unset"),
    ("1.22.5", 'gotoolchain: invalid GOTOOLCHAIN "1.22.5" (as the go command says)'),
    ("go1.021", 'invalid GOTOOLCHAIN "go1.021"'),
    ("go1.21.", 'invalid GOTOOLCHAIN "go1.21."'),
    ("go1.21RC1", 'invalid GOTOOLCHAIN "go1.21RC1"'),
    ("default", 'invalid GOTOOLCHAIN "default"'),
    ("Go1.22.0", 'invalid GOTOOLCHAIN "Go1.22.0"'),
    (" auto", 'invalid GOTOOLCHAIN " auto"'),
    ("./go1.22.0", 'invalid GOTOOLCHAIN "./go1.22.0"'),
    ("bin/go1.22.0", 'invalid GOTOOLCHAIN "bin/go1.22.0"'),  # a path separator: not looked up in PATH
    ("bin\\go1.22.0+auto", 'invalid minimum toolchain "bin\\\\go1.22.0"'),
    # Go 1.21 read <prefix>-goVERSION; gover.FromToolchain now requires the go prefix
    ("gccgo-go1.23rc4", 'gotoolchain: invalid GOTOOLCHAIN "gccgo-go1.23rc4" (as the go command says)'),
    ("mycorp-go1.22.0+auto", 'invalid minimum toolchain "mycorp-go1.22.0"'),
    # valid gover versions, but select.go Select's sanity check wants go1...
    ("go222", 'gotoolchain: invalid GOTOOLCHAIN "go222" (as the go command says)'),
    ("go2.0", 'invalid GOTOOLCHAIN "go2.0"'),
    ("go2.0.1+auto", 'invalid GOTOOLCHAIN "go2.0.1" (as the go command says)'),
    # select.go Exec: from 1.21 on, goX.Y is a language version
    ("go1.21", "gotoolchain: invalid toolchain: go1.21 %s (go1.21.x) (as the go command says)" % LANGUAGE_VERSION),
    ("go1.22", "invalid toolchain: go1.22 %s (go1.22.x)" % LANGUAGE_VERSION),
    ("go1.21+auto", "invalid toolchain: go1.21 %s (go1.21.x)" % LANGUAGE_VERSION),
    ("go1.600", "invalid toolchain: go1.600 %s (go1.600.x)" % LANGUAGE_VERSION),
    ("go1.22-bigcorp", "invalid toolchain: go1.22-bigcorp %s" % LANGUAGE_VERSION),
    ("go1.21+path", 'gotoolchain: invalid GOTOOLCHAIN "go1.21+path": go1.21 is a language version, not a toolchain'),
    # a space or tab: FromToolchain accepts it, but no toolchain of that name can be found or downloaded
    ("go1.2.3-bigcorp more text", 'gotoolchain: GOTOOLCHAIN "go1.2.3-bigcorp more text" contains a space or tab'),
    ("go1.22.0\tx+auto", "contains a space or tab"),
    ("go1.22+local", 'gotoolchain: invalid GOTOOLCHAIN "go1.22+local": only version suffixes are +auto and +path'),
    ("go1.22.0+", 'invalid GOTOOLCHAIN "go1.22.0+": only version suffixes are +auto and +path'),
    ("auto+auto", 'gotoolchain: invalid GOTOOLCHAIN "auto+auto": invalid minimum toolchain "auto"'),
    ("path+auto", 'invalid GOTOOLCHAIN "path+auto": invalid minimum toolchain "path"'),
    ("go1.x+path", 'invalid GOTOOLCHAIN "go1.x+path": invalid minimum toolchain "go1.x"'),
    (1.22, "gotoolchain must be a string"),
]


@pytest.mark.parametrize("value,fragment", GOTOOLCHAIN_INVALID)
def test_gotoolchain_invalid(value, fragment):
    assert fragment in error_of(ge.validate_gotoolchain, "gotoolchain", value)


def test_gotoolchain_error_says_what_is_accepted():
    assert "a toolchain such as go1.22.5" in error_of(ge.validate_gotoolchain, "gotoolchain", "go222")
    assert "name a release such as go1.22.0" in error_of(ge.validate_gotoolchain, "gotoolchain", "go1.22")


# ---------------------------------------------------------------- GOAMD64, GOTELEMETRY


@pytest.mark.parametrize("value", ["v1", "v2", "v3", "v4"])
def test_goamd64_valid(value):
    assert ge.validate_goamd64("goamd64", value) == value


@pytest.mark.parametrize("value,fragment", [
    ("v5", "goamd64: go: invalid GOAMD64: must be v1, v2, v3, v4 (as the go command says)"),
    ("V1", "go: invalid GOAMD64: must be v1, v2, v3, v4"),
    ("1", "go: invalid GOAMD64: must be v1, v2, v3, v4"),
    ("v1 ", "go: invalid GOAMD64: must be v1, v2, v3, v4"),
    ("", "goamd64: an empty value is the same as unset"),
])
def test_goamd64_invalid(value, fragment):
    assert fragment in error_of(ge.validate_goamd64, "goamd64", value)


@pytest.mark.parametrize("value", ["off", "local", "on"])
def test_gotelemetry_valid(value):
    assert ge.validate_gotelemetry("gotelemetry", value) == value


@pytest.mark.parametrize("value", ["ON", "true", "1", "remote"])
def test_gotelemetry_invalid(value):
    assert "gotelemetry: the telemetry mode must be off, local or on" in error_of(ge.validate_gotelemetry, "gotelemetry", value)


# ---------------------------------------------------------------- paths

PATHS_VALID = [
    ("gopath", "C:\\Users\\me\\go", True, "C:\\Users\\me\\go"),
    ("gopath", "C:/Users/me/go/", True, "C:\\Users\\me\\go"),
    ("gopath", "C:\\a;D:\\b", True, "C:\\a;D:\\b"),
    ("gopath", ["C:\\a", "D:\\b"], True, "C:\\a;D:\\b"),
    ("gopath", "C:\\a;;D:\\b;", True, "C:\\a;D:\\b"),
    ("gopath", "\\\\server\\share\\go", True, "\\\\server\\share\\go"),
    ("gomodcache", "D:\\modcache", False, "D:\\modcache"),
    ("gocache", "D:\\gocache\\", False, "D:\\gocache"),
    ("gobin", "C:\\go\\bin", False, "C:\\go\\bin"),
    ("goroot", "C:\\Program Files\\Go", False, "C:\\Program Files\\Go"),
]


@pytest.mark.parametrize("option,value,allow_list,expected", PATHS_VALID)
def test_paths_valid(option, value, allow_list, expected):
    assert ge.validate_path(option, value, allow_list=allow_list) == expected


PATHS_INVALID = [
    ("gopath", "go", True, 'gopath: GOPATH entry is relative; must be absolute path: "go" (as the go command says)'),
    ("gopath", "C:\\a;rel", True, 'GOPATH entry is relative; must be absolute path: "rel"'),
    ("gopath", "C:go", True, 'GOPATH entry is relative; must be absolute path: "C:go"'),
    ("gopath", "\\go", True, 'GOPATH entry is relative; must be absolute path: "\\\\go"'),
    ("gopath", "~\\go", True, "gopath: go: GOPATH entry cannot start with shell metacharacter '~'"),
    ("gopath", "%USERPROFILE%\\go", True, "gopath: \"%USERPROFILE%\\\\go\" contains a %VAR% reference"),
    ("gopath", "C:\\a;%X%\\b", True, "give the expanded absolute path"),
    ("gopath", ";;", True, "holds no paths"),
    ("gomodcache", "mod", False, 'gomodcache: GOMODCACHE entry is relative; must be absolute path: "mod"'),
    ("gocache", "cache", False, "gocache: GOCACHE is not an absolute path (as the go command says)"),
    ("gocache", "off", False, "gocache: build cache is disabled by GOCACHE=off, but required as of Go 1.12"),
    ("gobin", "bin", False, "gobin: GOBIN must be an absolute path (as the go command says)"),
    ("gobin", "\\\\server\\share\\bin", False, "gobin must be an absolute Windows path such as C:\\opt\\go"),
    ("gomodcache", "\\\\server\\share\\mod", False, "gomodcache must be an absolute Windows path"),
    ("gobin", "C:\\a;D:\\b", False, "gobin: GOBIN takes one path"),
    ("gobin", "%GOPATH%\\bin", False, "give the expanded absolute path"),
    ("gopath", "C:\\NUL\\go", True, "reserved Windows device name"),
    ("gocache", "C:\\a<b", False, "gocache must not use"),
    ("gotmpdir", "tmp", False, "gotmpdir: GOTMPDIR must be an absolute path"),
    ("gopath", "", True, "gopath: an empty value is the same as unset"),
]


@pytest.mark.parametrize("option,value,allow_list,fragment", PATHS_INVALID)
def test_paths_invalid(option, value, allow_list, fragment):
    assert fragment in error_of(ge.validate_path, option, value, allow_list)


@pytest.mark.parametrize("gopath,fragment", [
    ("C:\\Go", "gopath: warning: GOPATH set to GOROOT (C:\\Go) has no effect"),
    ("c:\\go\\", "GOPATH set to GOROOT"),
    ("D:\\work;C:\\Go", "GOPATH set to GOROOT"),
    ("C:\\Go\\work", "gopath: GOPATH entry C:\\Go\\work is inside GOROOT (C:\\Go)"),
])
def test_gopath_in_goroot_is_an_error(gopath, fragment):
    assert fragment in error_of(ge.check_gopath_not_in_goroot, gopath, "C:\\Go")


@pytest.mark.parametrize("gopath", ["C:\\Go2", "C:\\Users\\me\\go", "D:\\a;E:\\b"])
def test_gopath_outside_goroot_is_fine(gopath):
    assert ge.check_gopath_not_in_goroot(gopath, "C:\\Go") is None


# ---------------------------------------------------------------- extra

MANAGED = {"GOPROXY", "GOPATH", "CGO_ENABLED"}


def test_extra_valid():
    extra = {"GOEXPERIMENT": "rangefunc", "CGO_CFLAGS": "-O2 -g", "GODEBUG": "http2client=0", "GOWORK": "off",
             "GOVCS": "*:git", "GO111MODULE": True, "GOARM": 7, "GOFIPS140": False}
    assert ge.validate_extra("extra", extra, MANAGED) == {
        "GOEXPERIMENT": "rangefunc", "CGO_CFLAGS": "-O2 -g", "GODEBUG": "http2client=0", "GOWORK": "off",
        "GOVCS": "*:git", "GO111MODULE": "1", "GOARM": "7", "GOFIPS140": "0",
    }


@pytest.mark.parametrize("extra,fragment", [
    ({"goexperiment": "x"}, "extra: 'goexperiment' is not a Go variable name"),
    ({"PATH": "x"}, "is not a Go variable name"),
    ({"CGO_": "x"}, "is not a Go variable name"),
    ({"GO-X": "x"}, "is not a Go variable name"),
    ({"GOPROXY": "off"}, "extra: GOPROXY is managed by its own option: use the goproxy option"),
    ({"CGO_ENABLED": "1"}, "use the cgo_enabled option"),
    ({"GOVERSION": "go1.22"}, "extra: setting GOVERSION has no effect"),
    ({"GOTELEMETRY": "off"}, "go telemetry off|local|on"),
    ({"GOEXPERIMENT": None}, "extra: the value of GOEXPERIMENT must be a string, a number or a boolean"),
    ({"GOEXPERIMENT": 1.5}, "must be a string, a number or a boolean"),
    ({"GOEXPERIMENT": "a\nb"}, "extra: the value of GOEXPERIMENT must not contain NUL or line breaks"),
    ({"GOEXPERIMENT": "a\x00b"}, "must not contain NUL or line breaks"),
    (["GOEXPERIMENT=x"], "extra must be a dictionary"),
])
def test_extra_invalid(extra, fragment):
    assert fragment in error_of(ge.validate_extra, "extra", extra, MANAGED)


# ---------------------------------------------------------------- env files


def test_parse_env_file():
    text = (
        "\ufeffGOPROXY=https://a.example.com\r\n"
        "# a comment=yes\r\n"
        "\r\n"
        "GOFLAGS=-mod=mod  \r\n"
        "GOPRIVATE =*.corp.example.com\n"
        "lower=ignored\n"
        "  GOTOOLCHAIN=ignored-as-go-does\n"
        "NOEQUALS\n"
        "GOPROXY=https://b.example.com\n"
        "GOSUMDB=sum.golang.org https://x=y\n"
        "GOEMPTY="
    )
    assert ge.parse_env_file(text) == {
        "GOPROXY": "https://b.example.com",
        "GOFLAGS": "-mod=mod  ",
        "GOPRIVATE": "*.corp.example.com",
        "GOSUMDB": "sum.golang.org https://x=y",
        "GOEMPTY": "",
    }


def test_parse_env_file_bom_and_crlf():
    assert ge.parse_env_file("\ufeffGOFLAGS=-v\r\nGOPROXY=off\r\n") == {"GOFLAGS": "-v", "GOPROXY": "off"}
    assert ge.parse_env_file("") == {}


def test_parse_env_file_of_a_real_go_env():
    go_env = (
        "# This file contains the initial defaults for go command configuration.\n"
        "# Values set by 'go env -w' and written to the user's go/env file override these.\n"
        "\n"
        "# Use the Go module mirror and checksum database by default.\n"
        "# See https://proxy.golang.org for details.\n"
        "GOPROXY=https://proxy.golang.org,direct\n"
        "GOSUMDB=sum.golang.org\n"
        "\n"
        "# Automatically download newer toolchains as directed by go.mod files.\n"
        "# See https://go.dev/doc/toolchain for details.\n"
        "GOTOOLCHAIN=auto\n"
    )
    assert ge.parse_env_file(go_env) == {
        "GOPROXY": "https://proxy.golang.org,direct", "GOSUMDB": "sum.golang.org", "GOTOOLCHAIN": "auto",
    }


# ---------------------------------------------------------------- go env -json

FOLDERS = dict(
    goroot="C:\\Program Files\\Go", version="go1.22.5", goarch="amd64", user_profile="C:\\Users\\me",
    appdata="C:\\Users\\me\\AppData\\Roaming", local_appdata="C:\\Users\\me\\AppData\\Local",
)
GO_ENV_FILE = "GOPROXY=https://goroot.example.com,direct\nGOSUMDB=sum.golang.org\nGOTOOLCHAIN=auto\nGOFLAGS=-mod=goroot\n"


def test_go_env_view_defaults():
    view = ge.go_env_view({}, None, None, **FOLDERS)
    assert view["GOPATH"] == "C:\\Users\\me\\go"
    assert view["GOMODCACHE"] == "C:\\Users\\me\\go\\pkg\\mod"
    assert view["GOCACHE"] == "C:\\Users\\me\\AppData\\Local\\go-build"
    assert view["GOENV"] == "C:\\Users\\me\\AppData\\Roaming\\go\\env"
    assert view["GOPROXY"] == "https://proxy.golang.org,direct"
    assert view["GOSUMDB"] == "sum.golang.org"
    assert view["GOTOOLCHAIN"] == "auto"
    assert view["GOROOT"] == "C:\\Program Files\\Go"
    assert view["GOTOOLDIR"] == "C:\\Program Files\\Go\\pkg\\tool\\windows_amd64"
    assert view["GOVERSION"] == "go1.22.5"
    assert view["GOOS"] == view["GOHOSTOS"] == "windows"
    assert view["GOARCH"] == view["GOHOSTARCH"] == "amd64"
    assert view["GOEXE"] == ".exe"
    assert view["GOAMD64"] == "v1"
    assert view["CGO_ENABLED"] == "0"
    assert view["GOTELEMETRY"] == "local"
    assert view["GOMOD"] == "NUL"
    for name in ("GOBIN", "GOFLAGS", "GOINSECURE", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOTMPDIR", "GOWORK"):
        assert view[name] == "", name
    assert list(view) == sorted(view)


def test_go_env_view_precedence_environ_over_user_file_over_go_env_over_default():
    user_file = "GOPROXY=https://user.example.com\nGOFLAGS=-mod=user\n"
    go_env = GO_ENV_FILE + "GOPRIVATE=goroot.example.com\n"
    environ = {"GOPROXY": "https://environ.example.com"}
    view = ge.go_env_view(environ, user_file, go_env, **FOLDERS)
    assert view["GOPROXY"] == "https://environ.example.com"  # environ
    assert view["GOFLAGS"] == "-mod=user"  # user file over go.env
    assert view["GOPRIVATE"] == "goroot.example.com"  # go.env over default
    assert view["GOINSECURE"] == ""  # default
    view = ge.go_env_view({"GOPROXY": ""}, user_file, go_env, **FOLDERS)
    assert view["GOPROXY"] == "https://user.example.com"  # an empty process value does not count
    view = ge.go_env_view({}, None, go_env, **FOLDERS)
    assert view["GOPROXY"] == "https://goroot.example.com,direct"


def test_go_env_view_user_file_key_hides_go_env_even_when_empty():
    view = ge.go_env_view({}, "GOPROXY=\n", GO_ENV_FILE, **FOLDERS)
    assert view["GOPROXY"] == ge.DEFAULT_GOPROXY  # the user's (empty) line wins over go.env, then the default


def test_go_env_view_goenv_off_skips_the_user_file():
    view = ge.go_env_view({"GOENV": "off"}, "GOPROXY=https://user.example.com\n", GO_ENV_FILE, **FOLDERS)
    assert view["GOPROXY"] == "https://goroot.example.com,direct"
    assert view["GOENV"] == ""
    view = ge.go_env_view({"GOENV": "D:\\cfg\\goenv"}, "GOPROXY=https://user.example.com\n", None, **FOLDERS)
    assert view["GOPROXY"] == "https://user.example.com" and view["GOENV"] == "D:\\cfg\\goenv"


def test_go_env_view_gonoproxy_and_gonosumdb_default_to_goprivate():
    view = ge.go_env_view({"GOPRIVATE": "*.corp.example.com"}, None, None, **FOLDERS)
    assert view["GONOPROXY"] == view["GONOSUMDB"] == "*.corp.example.com"
    view = ge.go_env_view({"GOPRIVATE": "*.corp.example.com"}, "GONOSUMDB=other.example.com\n", None, **FOLDERS)
    assert view["GONOSUMDB"] == "other.example.com" and view["GONOPROXY"] == "*.corp.example.com"


def test_go_env_view_environ_names_are_case_insensitive():
    view = ge.go_env_view({"goproxy": "https://lower.example.com", "GoPath": "D:\\gp;E:\\gp2", "GoRoot": "D:\\Go"},
                          None, None, **FOLDERS)
    assert view["GOPROXY"] == "https://lower.example.com"
    assert view["GOPATH"] == "D:\\gp;E:\\gp2"
    assert view["GOMODCACHE"] == "D:\\gp\\pkg\\mod"  # the first GOPATH entry
    assert view["GOROOT"] == "D:\\Go" and view["GOTOOLDIR"] == "D:\\Go\\pkg\\tool\\windows_amd64"


def test_go_env_view_arch_specific_and_cross_settings():
    folders = dict(FOLDERS)
    folders["goarch"] = "arm64"
    view = ge.go_env_view({"GOARCH": "arm64", "GOOS": "linux", "CGO_ENABLED": "1"}, None, None, **folders)
    assert "GOAMD64" not in view
    assert view["GOEXE"] == "" and view["GOOS"] == "linux" and view["CGO_ENABLED"] == "1"
    assert view["GOTOOLDIR"].endswith("windows_arm64") and view["GOHOSTARCH"] == "arm64"
    view = ge.go_env_view({"GOAMD64": "v3", "GO111MODULE": "off"}, None, None, **FOLDERS)
    assert view["GOAMD64"] == "v3" and view["GOMOD"] == ""


# ---------------------------------------------------------------- registry -> new process


def sz(data: str) -> dict:
    return {"type": "REG_SZ", "data": data}


def esz(data: str) -> dict:
    return {"type": "REG_EXPAND_SZ", "data": data}


def test_effective_env_user_overrides_machine_keeping_the_user_case():
    env = ge.effective_windows_env({"GOPROXY": sz("https://m.example.com"), "GOROOT": sz("C:\\Go")},
                                   {"GoProxy": sz("https://u.example.com")})
    assert env == {"GOROOT": "C:\\Go", "GoProxy": "https://u.example.com"}


def test_effective_env_path_is_machine_then_user():
    env = ge.effective_windows_env({"Path": esz("C:\\Windows;C:\\Go\\bin")}, {"PATH": sz("C:\\Users\\me\\go\\bin")})
    assert env == {"Path": "C:\\Windows;C:\\Go\\bin;C:\\Users\\me\\go\\bin"}
    env = ge.effective_windows_env({"Path": sz("C:\\Windows;")}, {"Path": sz("C:\\u")})
    assert env["Path"] == "C:\\Windows;C:\\u"
    assert ge.effective_windows_env({}, {"Path": sz("C:\\u")}) == {"Path": "C:\\u"}


def test_effective_env_expands_reg_expand_sz_only():
    machine = {"GOROOT": sz("C:\\Go"), "Path": esz("%SystemRoot%\\system32;%GOROOT%\\bin"), "SystemRoot": sz("C:\\Windows"),
               "GOBIN": sz("%GOROOT%\\bin")}
    user = {"GOPATH": esz("%HOMEDRIVE%\\go"), "HOMEDRIVE": sz("D:"), "Path": esz("%GOPATH%\\bin;%UNKNOWN%\\x"),
            "GOCACHE": esz("%GOROOT%\\cache")}
    env = ge.effective_windows_env(machine, user)
    assert env["Path"] == "C:\\Windows\\system32;C:\\Go\\bin;D:\\go\\bin;%UNKNOWN%\\x"
    assert env["GOBIN"] == "%GOROOT%\\bin"  # REG_SZ is not expanded
    assert env["GOPATH"] == "D:\\go"
    assert env["GOCACHE"] == "C:\\Go\\cache"  # a user value sees machine values


def test_effective_env_machine_values_do_not_see_user_values():
    env = ge.effective_windows_env({"GOMODCACHE": esz("%GOPATH%\\mod"), "GOPATH": sz("C:\\m")}, {"GOPATH": sz("D:\\u")})
    assert env["GOMODCACHE"] == "C:\\m\\mod" and env["GOPATH"] == "D:\\u"


def test_effective_env_self_reference_base_and_odd_types():
    env = ge.effective_windows_env(
        {"Path": esz("C:\\m"), "LOOP": esz("%LOOP%x"), "DW": {"type": "REG_DWORD", "data": 1}},
        {"Path": esz("%Path%;C:\\u"), "GOPATH": esz("%USERPROFILE%\\go")},
        base={"USERPROFILE": "C:\\Users\\me"},
    )
    assert env["Path"] == "C:\\m;C:\\m;C:\\u"
    assert env["LOOP"] == "%LOOP%x"
    assert env["GOPATH"] == "C:\\Users\\me\\go"
    assert "DW" not in env


# ---------------------------------------------------------------- conflict warnings

QUIET_GO = {"GOTOOLCHAIN": "auto", "GOSUMDB": "sum.golang.org", "GOPROXY": "https://proxy.golang.org,direct"}


def test_no_conflicts_no_warnings():
    assert ge.conflict_warnings({"GOPATH": "C:\\gp", "Path": "C:\\a"}, {"GOPATH": "C:\\gp", "Path": "C:\\b"}, QUIET_GO) == []


def test_user_value_shadowing_machine_value():
    warnings = ge.conflict_warnings({"GOPATH": "C:\\m"}, {"GoPath": "D:\\u"}, QUIET_GO)
    assert len(warnings) == 1
    assert "GoPath=D:\\u" in warnings[0] and "GOPATH=C:\\m" in warnings[0]


@pytest.mark.parametrize("go,fragment", [
    ({"GOSUMDB": "off"}, "GOSUMDB=off with GOTOOLCHAIN=auto: toolchain downloads cannot be verified"),
    ({"GOSUMDB": "off", "GOTOOLCHAIN": "go1.22.0+auto"}, "GOSUMDB=off with GOTOOLCHAIN=go1.22.0+auto"),
    ({"GOPROXY": "off"}, "GOPROXY=off with GOTOOLCHAIN=auto: toolchain switching cannot download"),
    ({"GOPRIVATE": "*.corp.example.com,rsc.io/private", "GONOSUMDB": "rsc.io/private", "GONOPROXY": "*.corp.example.com,rsc.io/private"},
     "GONOSUMDB=rsc.io/private is set: the go command uses GONOSUMDB instead of GOPRIVATE"),
    ({"GOPRIVATE": "git.corp.example.com", "GONOPROXY": "example.org", "GONOSUMDB": "*.corp.example.com"},
     "GONOPROXY=example.org is set"),
    ({"GOFLAGS": "-trimpath -mod=vendor"}, "GOFLAGS has -mod=vendor"),
    ({"GOINSECURE": "*"}, "GOINSECURE=* matches every module path"),
    ({"GOINSECURE": "a.example.com,**/"}, "matches every module path"),
])
def test_conflicts(go, fragment):
    warnings = ge.conflict_warnings({}, {}, dict(QUIET_GO, **go))
    assert len(warnings) == 1, warnings
    assert fragment in warnings[0]


@pytest.mark.parametrize("go", [
    {"GOSUMDB": "off", "GOTOOLCHAIN": "local"},
    {"GOPROXY": "off", "GOTOOLCHAIN": "go1.22.0+path"},
    {"GOPROXY": "https://a.example.com,off"},
    {"GOPRIVATE": "git.corp.example.com", "GONOSUMDB": "*.corp.example.com", "GONOPROXY": "*"},
    {"GOPRIVATE": "x.example.com", "GONOSUMDB": "x.example.com", "GONOPROXY": "x.example.com"},
    {"GOFLAGS": "-mod=mod"},
    {"GOINSECURE": "*.example.com"},
])
def test_no_conflict(go):
    assert ge.conflict_warnings({}, {}, dict(QUIET_GO, **go)) == []


# ---------------------------------------------------------------- redaction


@pytest.mark.parametrize("text,expected", [
    ("https://user:tok@proxy.example.com", "https://user:xxxxx@proxy.example.com"),
    ("https://u:p@ss@h.example.com/x,direct", "https://u:xxxxx@h.example.com/x,direct"),
    ("https://tok@h.example.com", "https://xxxxx@h.example.com"),
    ("user:tok@proxy.example.com|direct", "user:xxxxx@proxy.example.com|direct"),
    ("GOPROXY=a:b@c.example.com", "GOPROXY=a:xxxxx@c.example.com"),
    ("https://proxy.golang.org,direct", "https://proxy.golang.org,direct"),
    ("C:\\Users\\me@corp\\go", "C:\\Users\\me@corp\\go"),
    ("me@example.com", "me@example.com"),
    (None, None),
])
def test_redact_url(text, expected):
    assert ge.redact_url(text) == expected


SECRET = "s3cr3tT0ken"


@pytest.mark.parametrize("call", [
    lambda: ge.validate_goproxy("goproxy", "ftp://u:%s@x.example.com" % SECRET, False),
    lambda: ge.validate_goproxy("goproxy", "https://u:%s@exa mple.com" % SECRET, False),
    lambda: ge.validate_goproxy("goproxy", "https://u:%s@example.com:bad" % SECRET, False),
    lambda: ge.validate_goproxy("goproxy", "http://u:%s@example.com" % SECRET, False),
    lambda: ge.validate_goproxy("goproxy", "http://%s@example.com" % SECRET, False),
    lambda: ge.validate_goproxy("goproxy", "u:%s@exa mple.com" % SECRET, False),
    lambda: ge.validate_goproxy("goproxy", "file://u:%s@host/x" % SECRET, False),
    lambda: ge.validate_gosumdb("gosumdb", "sum.golang.org ftp://u:%s@x.example.com" % SECRET),
    lambda: ge.validate_gosumdb("gosumdb", "sum.golang.org https://u:%s@exa%%zz" % SECRET),
])
def test_no_credential_in_errors(call):
    with pytest.raises(ge.GoEnvError) as err:
        call()
    assert SECRET not in str(err.value)
    assert "xxxxx" in str(err.value)


def test_no_credential_in_warnings():
    _value, warnings = ge.validate_goproxy(
        "goproxy", "https://u:%s@a.example.com,direct,https://v:%s@b.example.com,w:%s@c.example.com" % (SECRET, SECRET, SECRET), False)
    assert warnings and all(SECRET not in w for w in warnings)
    warnings = ge.conflict_warnings({"GOPROXY": "https://u:%s@m.example.com" % SECRET},
                                    {"GOPROXY": "https://u:%s-2@u.example.com" % SECRET}, QUIET_GO)
    assert len(warnings) == 1 and SECRET not in warnings[0] and "u:xxxxx@m.example.com" in warnings[0]


def test_credentials_stay_in_the_value_to_set():
    value, _warnings = ge.validate_goproxy("goproxy", "https://u:%s@a.example.com" % SECRET, False)
    assert value == "https://u:%s@a.example.com" % SECRET
