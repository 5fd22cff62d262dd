"""go_env and go_verify on winsim hosts: scopes, PATH rules, absent, check, diff, idempotence, bad input."""

from __future__ import annotations

import pytest

from conftest import reg

MACHINE = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
USER_SID = "S-1-5-21-3623811015-3361044348-30300820-1001"
USER = "HKU\\%s\\Environment" % USER_SID
GOBIN_DIR = "C:\\opt\\go\\current\\bin"


def ok(run, host="win1", task="env"):
    res = run.one(host, task)
    assert not res.failed, "%s\n%s" % (res.result.get("msg"), run.stdout[-2000:])
    assert "Traceback" not in run.stdout + run.stderr
    return res.result


def env(fleet, check=False, diff=False, allow_warnings=False, **args):
    return fleet.play([{"name": "env", "gowin.server.go_env": args}], check=check, diff=diff, allow_warnings=allow_warnings)


def set_value(h, path, name, data, kind="REG_SZ"):
    res = h.execute([{"op": "registry.set", "args": {"path": path, "name": name, "type": kind, "data": data}}])
    assert res[0]["ok"], res


@pytest.fixture
def installed(host1):
    assert host1.install(version="1.22.5").rc == 0
    return host1


def test_machine_scope_sets_validated_values_and_path_then_changes_nothing(installed):
    h = installed.host("win1")
    path_before = reg(h, MACHINE, "Path")
    notified = h.notifications()
    r = ok(env(installed, gopath="C:\\go-work", goproxy=["https://proxy.corp.example.com", "direct"],
               goprivate="corp.example.com/*,git.example.com", gotoolchain="local", cgo_enabled=False,
               goflags=["-mod=readonly", "-trimpath"], gomodcache="C:\\go-cache\\mod", gocache="C:\\go-cache\\build"))
    assert r["changed"] is True
    assert reg(h, MACHINE, "GOROOT") == "C:\\opt\\go\\current"  # defaulted from go_install's record
    assert reg(h, MACHINE, "GOPATH") == "C:\\go-work"
    assert reg(h, MACHINE, "GOPROXY") == "https://proxy.corp.example.com,direct"
    assert reg(h, MACHINE, "GOFLAGS") == "-mod=readonly -trimpath"
    assert reg(h, MACHINE, "CGO_ENABLED") == "0"
    value = h.registry_value(MACHINE, "Path")
    assert value["type"] == "REG_EXPAND_SZ"
    assert value["data"] == path_before + ";" + GOBIN_DIR  # appended, nothing else moved or expanded
    assert "%SystemRoot%" in value["data"]
    assert h.notifications() == notified + 1
    assert r["variables"]["GOPROXY"] == {"before": None, "after": "https://proxy.corp.example.com,direct"}
    assert r["path"]["added"] == [GOBIN_DIR]
    assert r["effective"]["go_env"]["GOPROXY"] == "https://proxy.corp.example.com,direct"
    assert r["effective"]["go_env"]["GONOSUMDB"] == "corp.example.com/*,git.example.com"  # defaults to GOPRIVATE
    assert r["effective"]["go_env"]["GOMODCACHE"] == "C:\\go-cache\\mod"
    # the caches exist, for their owner, Administrators and SYSTEM only
    acl = h.execute([{"op": "acl.get", "args": {"path": "C:\\go-cache\\mod"}}])[0]["data"]
    assert acl["exists"] and acl["protected"]
    assert {a["sid"] for a in acl["aces"]} == {"S-1-5-32-544", "S-1-5-18", USER_SID}
    again = ok(env(installed, gopath="C:\\go-work", goproxy=["https://proxy.corp.example.com", "direct"],
                   goprivate="corp.example.com/*,git.example.com", gotoolchain="local", cgo_enabled=False,
                   goflags=["-mod=readonly", "-trimpath"], gomodcache="C:\\go-cache\\mod", gocache="C:\\go-cache\\build"))
    assert again["changed"] is False and again["changes"] == []
    assert h.counters()["round_trips"] == 1
    assert h.notifications() == notified + 1


def test_user_scope_and_shadowing_warning(installed):
    h = installed.host("win1")
    ok(env(installed, goproxy="https://proxy.golang.org,direct", path=[]))
    before_machine = reg(h, MACHINE, "GOPROXY")
    run = env(installed, scope="user", goproxy="https://user:s3cr3t@proxy.corp.example.com,direct", goflags="-mod=mod",
              allow_warnings=True)
    # the one warning expected (ansible-core may wrap it over several lines)
    assert len(run.warnings) == 1 and "hides the machine variable GOPROXY" in " ".join((run.stdout + run.stderr).split())
    assert "s3cr3t" not in run.stdout + run.stderr
    r = ok(run)
    assert reg(h, USER, "GOPROXY") == "https://user:s3cr3t@proxy.corp.example.com,direct"
    assert reg(h, USER, "GOFLAGS") == "-mod=mod"
    assert reg(h, MACHINE, "GOPROXY") == before_machine and reg(h, MACHINE, "GOFLAGS") is None
    assert any("GOPROXY" in w and "hides the machine variable" in w for w in r["warnings"])
    assert not any("TEMP" in w for w in r["warnings"])  # only Go's variables are reported
    # credentials never reach the output
    text = str(r)
    assert "s3cr3t" not in text
    assert r["effective"]["go_env"]["GOPROXY"].startswith("https://user:xxxxx@proxy.corp.example.com")
    again = ok(env(installed, scope="user", goproxy="https://user:s3cr3t@proxy.corp.example.com,direct", goflags="-mod=mod",
                   allow_warnings=True))
    assert again["changed"] is False and h.counters()["round_trips"] == 1


def test_telemetry_mode_is_the_go_commands_own_file(installed):
    h = installed.host("win1")
    mode_file = "C:\\Users\\ansible\\AppData\\Roaming\\go\\telemetry\\mode"
    r = ok(env(installed, gotelemetry="off", path=[]))
    assert r["telemetry"] == {"before": "local", "after": "off"}
    assert h.read_file(mode_file) == b"off"
    assert r["effective"]["go_env"]["GOTELEMETRY"] == "off"
    assert reg(h, MACHINE, "GOTELEMETRY") is None  # the go command would ignore a variable
    on = ok(env(installed, gotelemetry="on", path=[]))
    assert on["changed"] and h.read_file(mode_file).startswith(b"on 20")  # `go telemetry on` records the day
    assert ok(env(installed, gotelemetry="on", path=[]))["changed"] is False
    gone = ok(env(installed, state="absent", gotelemetry="on", path=[]))
    assert gone["changed"] and h.read_file(mode_file) is None


def test_path_rules(installed):
    h = installed.host("win1")
    long_tail = ";".join("C:\\Tools\\t%03d" % i for i in range(180))  # a very long PATH (over 2047 chars)
    seeded = ("%SystemRoot%\\system32;\"C:\\Program Files\\Git\\cmd\";C:\\Tools\\bin;C:\\Tools\\bin;"
              "c:\\OPT\\GO\\current\\bin\\;%GOPATH%\\bin;" + long_tail)
    set_value(h, MACHINE, "Path", seeded, "REG_EXPAND_SZ")
    set_value(h, MACHINE, "GOPATH", "C:\\go-work")
    r = ok(env(installed, gopath="C:\\go-work", gobin="C:\\go-work\\bin",
               path=[GOBIN_DIR, "C:\\go-work\\bin", "C:\\Program Files\\Git\\cmd\\", "C:\\Tools\\t179", "C:\\New\\bin"]))
    value = h.registry_value(MACHINE, "Path")
    # only the missing entry is added: the trailing backslash, the quotes, %GOPATH%\bin and the case all matched
    assert r["path"]["added"] == ["C:\\New\\bin"]
    assert value["data"] == seeded + ";C:\\New\\bin"
    assert value["type"] == "REG_EXPAND_SZ"
    assert value["data"].count("C:\\Tools\\bin") == 2  # existing duplicates are left as they were
    again = ok(env(installed, gopath="C:\\go-work", gobin="C:\\go-work\\bin",
                   path=[GOBIN_DIR, "C:\\go-work\\bin", "C:\\New\\bin"]))
    assert again["changed"] is False


def test_absent_removes_only_what_is_named(installed):
    h = installed.host("win1")
    ok(env(installed, goflags="-trimpath", goinsecure="*.internal", gopath="C:\\go-work"))
    path_with = reg(h, MACHINE, "Path")
    r = ok(env(installed, state="absent", goflags="", goinsecure="", path=[GOBIN_DIR]))
    assert r["changed"]
    assert reg(h, MACHINE, "GOFLAGS") is None and reg(h, MACHINE, "GOINSECURE") is None
    assert reg(h, MACHINE, "GOPATH") == "C:\\go-work" and reg(h, MACHINE, "GOROOT") is not None
    assert reg(h, MACHINE, "Path") == path_with.replace(";" + GOBIN_DIR, "")
    assert ok(env(installed, state="absent", goflags="", goinsecure="", path=[GOBIN_DIR]))["changed"] is False


def test_check_and_diff(installed):
    h = installed.host("win1")
    before = h.snapshot()
    run = env(installed, check=True, diff=True, goproxy="https://proxy.golang.org|direct", gotoolchain="go1.22.5+auto")
    r = ok(run)
    assert r["changed"] and h.snapshot() == before
    assert "GOPROXY=https://proxy.golang.org|direct" in r["diff"]["after"]
    assert "GOPROXY" not in r["diff"]["before"]
    assert "+GOPROXY=https://proxy.golang.org|direct" in run.stdout.replace(" ", "")


def test_session_script(installed):
    h = installed.host("win1")
    r = ok(env(installed, path=[], gopath="C:\\it's go", session_script="C:\\ProgramData\\Go\\env.ps1"))
    assert r["changed"]
    text = h.read_file("C:\\ProgramData\\Go\\env.ps1").decode("utf-8-sig")
    assert "$env:GOPATH = 'C:\\it''s go'" in text  # a single-quoted literal: data stays data
    assert "$env:GOROOT = 'C:\\opt\\go\\current'" in text
    assert reg(h, MACHINE, "Path").count(GOBIN_DIR) == 0  # path: [] leaves PATH alone
    again = ok(env(installed, path=[], gopath="C:\\it's go", session_script="C:\\ProgramData\\Go\\env.ps1"))
    assert again["changed"] is False


BAD = [
    ("scope", {"scope": "global"}, "value of scope must be one of: machine, user"),
    ("goproxy-scheme", {"goproxy": "ftp://proxy.example.com"}, "invalid proxy URL scheme (must be https, http, file)"),
    ("goproxy-plain-http", {"goproxy": "http://proxy.example.com"}, "allow_plain_http"),
    ("goproxy-empty-list", {"goproxy": ", ,"}, "GOPROXY list is not the empty string, but contains no entries"),
    ("goproxy-word", {"goproxy": "noproxy"}, "invalid proxy URL missing scheme"),
    ("gosumdb-fields", {"gosumdb": "a b c"}, "invalid GOSUMDB: too many fields"),
    ("gosumdb-key", {"gosumdb": "sum.example.com+00000000+AAAA"}, "invalid GOSUMDB: invalid verifier hash"),
    ("gosumdb-name", {"gosumdb": "sum.example.com"}, "invalid GOSUMDB: malformed verifier id"),
    ("goprivate-pattern", {"goprivate": "corp.example.com/[abc"}, "syntax error in pattern"),
    ("goflags-nonflag", {"goflags": "trimpath"}, 'non-flag "trimpath"'),
    ("gotoolchain", {"gotoolchain": "go1.x"}, 'invalid GOTOOLCHAIN "go1.x"'),
    ("gotoolchain-suffix", {"gotoolchain": "go1.22.5+never"}, "only version suffixes are +auto and +path"),
    ("goamd64", {"goamd64": "v5"}, "invalid GOAMD64: must be v1, v2, v3, v4"),
    ("gotelemetry", {"gotelemetry": "maybe"}, "value of gotelemetry must be one of"),
    ("gopath-relative", {"gopath": "go"}, 'GOPATH entry is relative; must be absolute path: "go"'),
    ("gopath-in-goroot", {"gopath": "C:\\opt\\go\\current\\work"}, "gopath"),
    ("gobin-relative", {"gobin": "bin"}, "gobin"),
    ("gomodcache-reserved", {"gomodcache": "C:\\cache\\CON"}, "reserved Windows device name"),
    ("gocache-relative", {"gocache": "cache"}, "gocache"),
    ("extra-name", {"extra": {"PATH": "x"}}, "extra"),
    ("extra-managed", {"extra": {"GOPROXY": "direct"}}, "goproxy"),
    ("path-semicolon", {"path": ["C:\\a;C:\\b"]}, "path entries must not contain ';'"),
    ("path-relative", {"path": ["bin"]}, "path"),
    ("session-relative", {"session_script": "env.ps1"}, "session_script must be an absolute Windows path"),
    ("install-root-meta", {"install_root": "C:\\opt\\go$(calc)"}, "install_root must use only"),
    ("goproxy-no-host", {"goproxy": "https://"}, "goproxy"),
    ("goproxy-spaces", {"goproxy": "https://proxy.example.com; calc"}, "goproxy"),
    ("gosumdb-meta", {"gosumdb": "sum.golang.org; calc"}, "gosumdb"),
    ("goflags-meta", {"goflags": "-ldflags=$(calc) | iex"}, "goflags"),
    ("unknown", {"colour": "red"}, "Unsupported parameters for gowin.server.go_env"),
    ("state", {"state": "gone"}, "value of state must be one of: present, absent"),
    ("goroot-relative", {"goroot": "go"}, "goroot"),
    ("gonoproxy-pattern", {"gonoproxy": "a/[b"}, "gonoproxy"),
    ("gonosumdb-pattern", {"gonosumdb": ["ok.example.com", "bad\\"]}, "gonosumdb"),
    ("goinsecure-pattern", {"goinsecure": "[]"}, "goinsecure"),
    ("cgo-not-bool", {"cgo_enabled": "sometimes"}, "cgo_enabled"),
    ("plain-http-not-bool", {"allow_plain_http": "perhaps"}, "allow_plain_http"),
    ("extra-not-dict", {"extra": ["GOWORK"]}, "extra"),
    ("path-not-list", {"path": {"a": 1}}, "path"),
    ("gotoolchain-meta", {"gotoolchain": "go1.22.5;calc"}, "gotoolchain"),
    ("gotoolchain-language-version", {"gotoolchain": "go1.22"},
     "gotoolchain: invalid toolchain: go1.22 is a language version but not a toolchain version (go1.22.x)"),
    ("goflags-unknown", {"goflags": "-trimpath -typoflag"}, "goflags: go: parsing $GOFLAGS: unknown flag -typoflag"),
    ("goflags-unterminated", {"goflags": '"-tags=a b'}, 'goflags: go: parsing $GOFLAGS: unterminated " string'),
    ("allow-unknown-goflags-not-bool", {"goflags": "-x", "allow_unknown_goflags": "perhaps"}, "allow_unknown_goflags"),
]


def test_bad_input_changes_nothing(installed):
    h = installed.host("win1")
    before = h.snapshot()
    tasks = [{"name": case, "gowin.server.go_env": args, "ignore_errors": True} for case, args, _fragment in BAD]
    run = installed.play(tasks)
    assert "Traceback" not in run.stdout + run.stderr
    for case, _args, fragment in BAD:
        res = run.one("win1", case)
        assert res.failed, "%s did not fail: %s" % (case, res.result)
        assert fragment in res.result["msg"], "%s: %r lacks %r" % (case, res.result["msg"], fragment)
    assert h.snapshot() == before


def test_goflags_quoting_and_allow_unknown_goflags(installed):
    h = installed.host("win1")
    run = env(installed, path=[], goflags=["-ldflags=-s -w", "-newflag=1"], allow_unknown_goflags=True, gonoproxy=",",
              allow_warnings=True)
    assert len(run.warnings) == 2  # the two below, and nothing else
    r = ok(run)
    assert reg(h, MACHINE, "GOFLAGS") == '"-ldflags=-s -w" -newflag=1'
    assert reg(h, MACHINE, "GONOPROXY") == ","
    assert any("unknown flag -newflag" in w and "allow_unknown_goflags is true" in w for w in r["warnings"])
    assert any("has a quoted flag" in w for w in r["warnings"])
    again = ok(env(installed, path=[], goflags='"-ldflags=-s -w" -newflag=1', allow_unknown_goflags=True, gonoproxy=",",
                   allow_warnings=True))
    assert again["changed"] is False


# ---------------------------------------------------------------- go_verify


def verify(fleet, check=False, **args):
    return fleet.play([{"name": "verify", "gowin.server.go_verify": args}], check=check)


def test_verify_after_install_and_env(installed):
    h = installed.host("win1")
    ok(env(installed, goproxy="https://proxy.golang.org,direct", gotoolchain="local"))
    r = ok(verify(installed, version="1.22", goproxy="https://proxy.golang.org,direct", gotoolchain="local",
                  goroot="C:\\opt\\go\\current\\"), task="verify")
    assert r["passed"] is True and r["changed"] is False and r["modelled"] is True
    names = [c["name"] for c in r["checks"]]
    for name in ("go version", "go env -json", "go env GOPROXY", "go env GOTOOLCHAIN", "go env GOROOT",
                 "GOROOT\\bin on PATH", "go mod init", "go build", "hello.exe"):
        assert name in names
    assert all(c["pass"] for c in r["checks"])
    assert r["go_version"] == "go version go1.22.5 windows/amd64"
    assert h.counters()["round_trips"] == 2
    temp = h.execute([{"op": "host.facts", "args": {}}])[0]["data"]["temp"]
    listing = h.execute([{"op": "dir.list", "args": {"path": temp}}])[0]["data"]
    assert not [e for e in listing["entries"] if e["name"].startswith("gowin-verify-")]


def test_verify_passes_a_386_toolchain_on_an_amd64_host(host1):
    """go build with a 386 toolchain makes 386 programs (WOW64 runs them): hello.exe is checked against
    the toolchain's GOARCH, not the host's arch (it always failed before)."""
    assert host1.install(version="1.22.5", arch="386").rc == 0
    ok(env(host1, gotoolchain="local"))
    r = ok(verify(host1, version="1.22.5"), task="verify")
    hello = [c for c in r["checks"] if c["name"] == "hello.exe"][0]
    assert hello["pass"] is True and hello["actual"] == "386", hello
    assert r["passed"] is True and r["go_version"] == "go version go1.22.5 windows/386"


def test_verify_reports_mismatches(installed):
    run = verify(installed, version="1.23", goproxy="https://other.example.com")
    res = run.one("win1", "verify")
    assert res.failed and "go version" in res.result["msg"] and "go env GOPROXY" in res.result["msg"]
    failed = {c["name"] for c in res.result["checks"] if not c["pass"]}
    assert failed == {"go version", "go env GOPROXY", "GOROOT\\bin on PATH"}  # go_env has not put it on PATH yet
    soft = ok(verify(installed, version="1.23", fail_on_mismatch=False), task="verify")
    assert soft["passed"] is False


def test_verify_check_mode_builds_nothing(installed):
    h = installed.host("win1")
    before = h.snapshot()
    r = ok(verify(installed, check=True, version="1.22.5", fail_on_mismatch=False), task="verify")
    assert "go build" not in [c["name"] for c in r["checks"]]
    assert r["skipped_build"]
    assert h.snapshot() == before


def test_verify_bad_input(installed):
    h = installed.host("win1")
    before = h.snapshot()
    run = installed.play([
        {"name": "latest", "gowin.server.go_verify": {"version": "latest"}, "ignore_errors": True},
        {"name": "exe", "gowin.server.go_verify": {"go_exe": "go.exe"}, "ignore_errors": True},
        {"name": "version", "gowin.server.go_verify": {"version": "1.22;calc"}, "ignore_errors": True},
        {"name": "unknown", "gowin.server.go_verify": {"colour": "red"}, "ignore_errors": True},
        {"name": "root", "gowin.server.go_verify": {"install_root": "C:\\opt\\go|x"}, "ignore_errors": True},
        {"name": "build", "gowin.server.go_verify": {"build": "maybe"}, "ignore_errors": True},
        {"name": "fail", "gowin.server.go_verify": {"fail_on_mismatch": "maybe"}, "ignore_errors": True},
        {"name": "env", "gowin.server.go_verify": {"env": ["GOPROXY"]}, "ignore_errors": True},
        {"name": "cgo", "gowin.server.go_verify": {"cgo_enabled": "maybe"}, "ignore_errors": True},
    ])
    for name, fragment in (("root", "install_root"), ("build", "build"), ("fail", "fail_on_mismatch"), ("env", "env"),
                           ("cgo", "cgo_enabled")):
        res = run.one("win1", name)
        assert res.failed and fragment in res.result["msg"], (name, res.result["msg"])
    assert "not latest" in run.one("win1", "latest").result["msg"]
    assert "go_exe must be an absolute Windows path" in run.one("win1", "exe").result["msg"]
    assert "version must be" in run.one("win1", "version").result["msg"]
    assert "Unsupported parameters for gowin.server.go_verify" in run.one("win1", "unknown").result["msg"]
    assert h.snapshot() == before
