"""Every bad value fails with a message naming the option and what is accepted; the host is untouched."""

from __future__ import annotations

import pytest

META = "$(Remove-Item -Recurse C:\\); `whoami`; & calc | iex"

# (case id, task args over the mirror defaults, text the message must contain)
CASES = [
    ("version-malformed", {"version": "1.22.x"}, "version must be an exact version (1.22.5"),
    ("version-meta", {"version": "1.22.5; Remove-Item C:\\"}, "version must be"),
    ("version-subexpr", {"version": "$(calc)"}, "version must be"),
    ("version-not-in-index", {"version": "1.22.99"}, "version 1.22.99 is not in the download index"),
    ("version-series-not-in-index", {"version": "1.19"}, "no stable release of 1.19"),
    ("version-series-absent", {"version": "1.22", "state": "absent"}, "version must be an exact version such as 1.22.5 when state=absent"),
    ("version-series-url", {"version": "latest", "source": "url", "url": "https://m/go.zip", "checksum": "sha256:" + "a" * 64},
     "version must be an exact version such as 1.22.5 when source=url"),
    ("arch-unknown", {"version": "1.22.5", "arch": "x64"}, "value of arch must be one of: auto, amd64, arm64, 386, got: x64"),
    ("arch-meta", {"version": "1.22.5", "arch": "amd64;calc"}, "value of arch must be one of"),
    ("checksum-format", {"version": "1.22.5", "checksum": "md5:0123"}, "checksum must be sha256:<64 hex digits>"),
    ("checksum-meta", {"version": "1.22.5", "checksum": "sha256:" + META}, "checksum must be sha256:<64 hex digits>"),
    ("checksum-not-the-index", {"version": "1.22.5", "checksum": "sha256:" + "0" * 64}, "does not match the index's sha256"),
    ("index-plain-http", {"version": "latest", "allow_plain_http": False}, "index_url uses plain http://"),
    ("index-meta", {"version": "latest", "index_url": "https://m/dl/?x=`whoami`"}, "index_url must be an https:// URL"),
    ("index-scheme", {"version": "latest", "index_url": "ftp://m/index.json"}, "index_url must be an https:// URL"),
    ("base-meta", {"version": "1.22.5", "base_url": "https://m/dl/\"; calc"}, "base_url must be an https:// URL"),
    ("url-plain-http", {"version": "1.22.5", "source": "url", "url": "http://m/go.zip", "checksum": "sha256:" + "a" * 64,
                        "allow_plain_http": False}, "url uses plain http://"),
    ("url-meta", {"version": "1.22.5", "source": "url", "url": "https://m/go.zip|calc", "checksum": "sha256:" + "a" * 64},
     "url must be an https:// URL or a UNC path"),
    ("url-without-checksum", {"version": "1.22.5", "source": "url", "url": "https://m/go.zip"},
     "source is url but all of the following are missing: checksum"),
    ("url-missing", {"version": "1.22.5", "source": "url", "checksum": "sha256:" + "a" * 64},
     "source is url but all of the following are missing: url"),
    ("src-missing-file", {"version": "1.22.5", "source": "controller", "src": "/nonexistent/go.zip",
                          "checksum": "sha256:" + "a" * 64}, "src must be a zip file on the controller"),
    ("install-root-relative", {"version": "1.22.5", "install_root": "opt\\go"}, "install_root must be an absolute Windows path"),
    ("install-root-reserved", {"version": "1.22.5", "install_root": "C:\\opt\\CON"}, "install_root must not use the reserved Windows device name 'CON'"),
    ("install-root-reserved-ext", {"version": "1.22.5", "install_root": "C:\\opt\\aux.go"}, "reserved Windows device name"),
    ("install-root-drive", {"version": "1.22.5", "install_root": "D:\\"}, "install_root must be a folder, not the root of a drive"),
    ("install-root-subexpr", {"version": "1.22.5", "install_root": "C:\\opt\\go$(calc)"}, "install_root must use only letters"),
    ("install-root-semicolon", {"version": "1.22.5", "install_root": "C:\\opt\\go;calc"}, "install_root must use only letters"),
    ("install-root-backtick", {"version": "1.22.5", "install_root": "C:\\opt\\go`n"}, "install_root must use only letters"),
    ("install-root-unc", {"version": "1.22.5", "install_root": "\\\\srv\\share\\go"}, "install_root must be an absolute Windows path"),
    ("source-unknown", {"version": "1.22.5", "source": "ftp"}, "value of source must be one of: index, url, controller, got: ftp"),
    ("download-on-unknown", {"version": "1.22.5", "download_on": "both"}, "value of download_on must be one of: host, controller"),
    ("download-on-controller-unc", {"version": "1.22.5", "source": "url", "url": "\\\\fs\\soft\\go.zip",
                                    "checksum": "sha256:" + "a" * 64, "download_on": "controller"},
     "download_on=controller needs an http(s) source"),
    ("state-unknown", {"version": "1.22.5", "state": "removed"}, "value of state must be one of: present, absent"),
    ("keep-zero", {"version": "1.22.5", "keep_versions": 0}, "keep_versions must be a whole number from 1 to 1000, got 0"),
    ("keep-huge", {"version": "1.22.5", "keep_versions": 10 ** 40}, "keep_versions must be a whole number from 1 to 1000, got a number of about 41 digits"),
    ("timeout-huge", {"version": "1.22.5", "timeout": 10 ** 9}, "timeout must be a number of seconds from 1 to 86400"),
    ("version-float", {"version": 1.2}, "version was given a number, not text: YAML reads an unquoted value such as 1.20"),
    ("version-huge-number", {"version": "1." + "9" * 5000}, "at most 9 digits, got '1.99999"),
    ("version-long-number", {"version": "1.2" + "0" * 20}, "at most 9 digits"),
    ("url-without-source-url", {"version": "1.22.5", "url": "https://m/go.zip"}, "url is given but source is index"),
    ("src-without-source-controller", {"version": "1.22.5", "src": "/tmp/go.zip"}, "src is given but source is index"),
    ("install-root-device", {"version": "1.22.5", "install_root": "\\\\?\\C:\\go"}, "not a Win32 device path"),
    ("install-root-typographic", {"version": "1.22.5", "install_root": "C:\\opt\\\u201cgo\u201d"},
     "install_root must use only letters, digits, spaces and . _ - ( ) + @ # ~ , in a folder name"),
    ("install-root-colon", {"version": "1.22.5", "install_root": "C:\\opt\\go:x"}, "install_root must use only letters"),
    ("install-root-nul", {"version": "1.22.5", "install_root": "C:\\opt\\go\x00x"}, "install_root: it contains a NUL character"),
    ("keep-text", {"version": "1.22.5", "keep_versions": "two"}, "keep_versions"),
    ("timeout-negative", {"version": "1.22.5", "timeout": -1}, "timeout must be a number of seconds from 1 to 86400 (a day), got -1"),
    ("activate-not-bool", {"version": "1.22.5", "activate": "maybe"}, "activate"),
    ("validate-certs-not-bool", {"version": "1.22.5", "validate_certs": "sometimes"}, "validate_certs"),
    ("read-groups-meta", {"version": "1.22.5", "read_groups": ["Users; calc"]}, "read_groups entries must be account or group names"),
    ("read-groups-unknown", {"version": "1.22.5", "read_groups": ["CORP\\NoSuchGroup"]},
     "read_groups: no such account or group on the host: CORP\\NoSuchGroup"),
    ("username-colon", {"version": "1.22.5", "url_username": "a:b", "url_password": "x"}, "url_username must not contain ':'"),
    ("unknown-option", {"version": "1.22.5", "colour": "red"}, "Unsupported parameters"),
]


@pytest.fixture
def seeded(host1, mirror):
    """A host with Go 1.21.13 active, so 'unchanged' means something."""
    assert host1.install(version="1.21.13").rc == 0
    return host1


def test_bad_input_fails_cleanly_and_changes_nothing(seeded, mirror):
    h = seeded.host("win1")
    before = h.snapshot()
    tasks = []
    for case, args, _fragment in CASES:
        task_args = dict(mirror.module_args())
        task_args.update(args)
        tasks.append({"name": case, "gowin.server.go_install": task_args, "ignore_errors": True})
    run = seeded.play(tasks)
    assert "Traceback" not in run.stdout + run.stderr
    for case, _args, fragment in CASES:
        res = run.one("win1", case)
        assert res.failed, "%s did not fail: %s" % (case, res.result)
        assert fragment in res.result["msg"], "%s: %r lacks %r" % (case, res.result["msg"], fragment)
        assert "Traceback" not in res.result["msg"] and "Traceback" not in str(res.result.get("exception", ""))
    assert h.snapshot() == before, "a failing task changed the host"
    # not one of them got past the probe: nothing was ever sent to apply
    assert h.counters()["ops"].get("file.download", 0) == 0
    assert h.counters()["ops"].get("registry.set", 0) == 0


def test_go_facts_bad_input(host1):
    h = host1.host("win1")
    before = h.snapshot()
    run = host1.play([
        {"name": "relative", "gowin.server.go_facts": {"install_root": "go"}, "ignore_errors": True},
        {"name": "meta", "gowin.server.go_facts": {"install_root": "C:\\opt\\go|calc"}, "ignore_errors": True},
        {"name": "reserved", "gowin.server.go_facts": {"install_root": "C:\\PRN"}, "ignore_errors": True},
        {"name": "unknown", "gowin.server.go_facts": {"gather": "all"}, "ignore_errors": True},
    ])
    assert "install_root must be an absolute Windows path" in run.one("win1", "relative").result["msg"]
    assert "install_root must use only letters, digits, spaces and . _ - ( ) + @ # ~ , in a folder name" in run.one("win1", "meta").result["msg"]
    assert "reserved Windows device name 'PRN'" in run.one("win1", "reserved").result["msg"]
    assert "Unsupported parameters" in run.one("win1", "unknown").result["msg"]
    assert h.snapshot() == before


def test_a_number_given_as_a_password_is_refused_without_quoting_it(host1, mirror):
    run = host1.play([{"name": "install", "gowin.server.go_install": dict(
        mirror.module_args(), version="1.22.5", url_username="deploy", url_password=987654.321), "ignore_errors": True}],
        verbosity=3)
    res = run.one("win1", "install")
    assert res.failed and res.result["msg"].startswith("url_password was given a number, not text")
    assert "987654" not in res.result["msg"]


def test_a_path_the_host_refuses_names_the_option_it_came_from(host1):
    """A 300-character GOCACHE (LongPathsEnabled is 0): the host refuses it; the message names gocache."""
    long_path = "C:\\" + "\\".join(["d" * 60] * 5)
    before = host1.host("win1").snapshot()
    run = host1.play([{"name": "env", "gowin.server.go_env": {"gocache": long_path}, "ignore_errors": True}])
    res = run.one("win1", "env")
    assert res.failed and res.result["msg"].startswith("gocache: The host refused op "), res.result["msg"]
    assert res.result["error_kind"] == "path_too_long"
    assert host1.host("win1").snapshot() == before
