"""Secrets (issue 11): URL credentials redacted on the parsed value in linear time, user info split off
URLs before anything records or prints them, and the controller's redirects keep credentials at home."""

from __future__ import annotations

import email.message
import io
import signal
import time
import urllib.error
from urllib.parse import quote

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _goenv as ge
from ansible_collections.gowin.server.plugins.plugin_utils import _sources as src

RAW = "pä@s:s\"w'o rd%40"
ENC = quote(RAW, safe="")


def secret_free(text: str, *secrets: str) -> bool:
    return not any(s in text for s in secrets for s in (s, quote(s, safe=""), quote(s)))


# ---------------------------------------------------------------- go_env values


@pytest.mark.parametrize("value,shown", [
    ("https://deploy:%s@proxy.example.com/mod|https://proxy.golang.org,direct" % RAW,
     "https://deploy:xxxxx@proxy.example.com/mod|https://proxy.golang.org,direct"),
    ("https://deploy:%s@proxy.example.com,direct" % ENC, "https://deploy:xxxxx@proxy.example.com,direct"),
    ("deploy:%s@proxy.example.com|off" % RAW, "deploy:xxxxx@proxy.example.com|off"),
    ("sum.golang.org https://deploy:%s@sum.example.com" % RAW, "sum.golang.org https://deploy:xxxxx@sum.example.com"),
    ("https://deploy:%s@mirror.example.com/x?y=1" % RAW, "https://deploy:xxxxx@mirror.example.com/x?y=1"),
    # a password with the list separators cuts its URL in two as Go reads it: no part is shown
    ("https://deploy:pw1x,pw2y|pw3z@proxy.example.com,direct", "https://deploy:xxxxx@proxy.example.com,direct"),
    ("https://deploy:123,456@proxy.example.com", "https://deploy:xxxxx@proxy.example.com"),
    # and one with a '/' ends the authority early
    ("https://deploy:pw1x/pw2y@proxy.example.com/mod", "https://deploy:xxxxx@proxy.example.com/mod"),
    ("https://a.example.com,https://u:tok@b.example.com", "https://a.example.com,https://u:xxxxx@b.example.com"),
    ("https://tok%40en@h.example.com", "https://xxxxx@h.example.com"),
])
def test_redact_url_hides_every_part_of_the_password(value, shown):
    assert ge.redact_url(value) == shown
    for part in ("pä", "s:s", "w'o rd", "pw1x", "pw2y", "pw3z", "123", "456", "tok"):
        assert part not in shown


def test_url_passwords_are_the_no_log_values_of_a_value():
    found = ge.url_passwords("https://deploy:%s@h.example.com|https://deploy:pw1x,pw2y|pw3z@h.example.com" % ENC)
    assert {RAW, ENC, "pw1x", "pw2y", "pw3z"} <= found


@pytest.mark.parametrize("call", [
    lambda: ge.validate_goproxy("goproxy", "https://deploy:%s@proxy.example.com" % RAW, False),
    lambda: ge.validate_goproxy("goproxy", ["https://deploy:%s@proxy.example.com" % RAW, 1], False),
    lambda: ge.validate_goproxy("goproxy", "https://deploy:ab%%zz%s@proxy.example.com" % ENC, False),
    lambda: ge.validate_gosumdb("gosumdb", "sum.golang.org https://deploy:%%zz%s@sum.example.com" % ENC),
    lambda: ge.validate_patterns("gonosumdb", "deploy:%s@corp.example.com" % RAW),
    lambda: ge.validate_goflags("goflags", ["https://deploy:%s@x" % RAW, 1]),
])
def test_messages_never_quote_the_password(call):
    with pytest.raises(ge.GoEnvError) as err:
        call()
    assert secret_free(str(err.value), RAW, "%zz")


def test_warnings_show_values_redacted():
    value = "https://deploy:%s@proxy.example.com" % RAW
    warnings = ge.conflict_warnings({"GOPROXY": "https://other:%s@p.example.com" % ENC}, {"GOPROXY": value},
                                    {"GOPRIVATE": "x.example.com", "GONOSUMDB": "deploy:%s@y" % ENC,
                                     "GOINSECURE": "*,deploy:%s@z" % ENC})
    assert any("hides the machine variable GOPROXY" in w for w in warnings)
    assert any(w.startswith("GOINSECURE=") for w in warnings) and any(w.startswith("GOPRIVATE=") for w in warnings)
    assert all(secret_free(w, RAW) for w in warnings), warnings


class _Slow(Exception):
    pass


def _timed(text: str, budget: float) -> float:
    """Seconds redact_url takes on text; raises _Slow past budget (a quadratic redaction takes minutes)."""
    def alarm(*_args):
        raise _Slow()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        start = time.perf_counter()
        ge.redact_url(text)
        return time.perf_counter() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("make", [
    lambda n: "a:" * (n // 2) + "@",
    lambda n: "https://" + "@" * n,
    lambda n: ("x://y:1" * (n // 14)) + "@" * (n // 2),
    lambda n: "https://u:a" + ",b" * (n // 4) + "@h",
    lambda n: "a" * n + "://x@",
    lambda n: "|https://u:x@h" * (n // 14),
    lambda n: "u:@," * (n // 4),
    lambda n: "a" * n,
    lambda n: "a:" * (n // 2),
    lambda n: "a" * (n // 2) + ":" + "b" * (n // 2) + "@" + "c" * 10,
], ids=["colons", "ats", "urls", "commas", "scheme", "entries", "bare", "letters", "colons-no-at", "long-user"])
def test_redaction_of_a_megabyte_finishes(make):
    """A quadratic redaction of these 1 MB values takes hours; linear, milliseconds. The budget only
    catches the first (the speed itself is measured by `make bench`, Controller-side work)."""
    _timed(make(1_000_000), 30.0)


# ---------------------------------------------------------------- go_install URLs


@pytest.mark.parametrize("url,bare,creds", [
    ("https://deploy:%s@m.example.com/dl/" % ENC, "https://m.example.com/dl/", ("deploy", RAW)),
    ("https://deploy:%s@m.example.com:8443/dl/?x=1" % RAW, "https://m.example.com:8443/dl/?x=1", ("deploy", RAW)),
    ("https://token@m.example.com/", "https://m.example.com/", ("token", "")),
    ("https://m.example.com/a@b", "https://m.example.com/a@b", None),
    ("\\\\fs\\share@x\\go.zip", "\\\\fs\\share@x\\go.zip", None),
])
def test_user_info_is_split_off_at_the_last_at_of_the_authority(url, bare, creds):
    assert src.strip_userinfo(url) == bare
    assert src.url_credentials("url", url) == creds
    assert src.check_url("url", url, False, allow_unc=True) == bare


@pytest.mark.parametrize("url", [
    "https://deploy:%s@m.example.com/go .zip" % RAW,  # refused for the space in the path
    "http://deploy:%s@m.example.com/go.zip" % RAW,  # refused for plain http
    "ftp://deploy:%s@m.example.com/go.zip" % RAW,
    "https://deploy:pw1x/pw2y@m.example.com/go.zip",  # an unencoded '/' in the password
    "https://deploy:pw1x?pw2y@m.example.com/go.zip",
])
def test_url_errors_never_quote_the_user_info(url):
    with pytest.raises(src.SourceError) as err:
        src.check_url("url", url, False)
    assert str(err.value).startswith("url ")
    assert secret_free(str(err.value), RAW, "pw1x", "pw2y")


def test_user_info_with_control_characters_is_refused_without_quoting_it():
    with pytest.raises(src.SourceError) as err:
        src.url_credentials("base_url", "https://deploy:se%0Acret@m.example.com/")
    assert str(err.value).startswith("base_url: ") and "se" not in str(err.value).split(":", 1)[1].replace("user name", "")


def test_a_file_index_that_is_not_json_is_not_quoted(tmp_path, monkeypatch):
    monkeypatch.setenv("GOWIN_CACHE_DIR", str(tmp_path / "cache"))
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n")
    with pytest.raises(src.SourceError) as err:
        src.fetch_index("file://" + str(secret), True, None, None, 10)
    text = str(err.value)
    assert "is not JSON" in text and "line 1 column 1" in text
    assert "BEGIN" not in text and "b3Bl" not in text


# ---------------------------------------------------------------- redirects on the controller


class _Resp:
    def read(self):
        return b"[]"


def _redirect(url, code, location):
    headers = email.message.Message()
    if location is not None:
        headers["Location"] = location
    return urllib.error.HTTPError(url, code, "Found", headers, io.BytesIO(b""))


def _fake(monkeypatch, answers):
    """open_url answering from answers {url: (code, location)}; returns the calls (url, user, password, follow)."""
    calls = []

    def open_url(url, **kw):
        calls.append((url, kw.get("url_username"), kw.get("url_password"), kw.get("force_basic_auth"), kw.get("follow_redirects")))
        if url in answers:
            raise _redirect(url, *answers[url])
        return _Resp()

    monkeypatch.setattr(src, "open_url", open_url)
    return calls


def test_credentials_go_only_to_the_original_origin(monkeypatch):
    calls = _fake(monkeypatch, {
        "https://m.example.com/dl/go.zip": (302, "/files/go.zip"),  # same origin, relative
        "https://m.example.com/files/go.zip": (307, "https://cdn.example.net/go.zip"),  # another host
        "https://cdn.example.net/go.zip": (301, "https://m.example.com:8443/go.zip"),  # another port
        "https://m.example.com:8443/go.zip": (308, "https://deploy:x@m.example.com/final.zip"),  # back home
    })
    assert src.http_get("https://m.example.com/dl/go.zip", True, "deploy", RAW, 10) == b"[]"
    assert [(c[0], c[1], c[2], c[3]) for c in calls] == [
        ("https://m.example.com/dl/go.zip", "deploy", RAW, True),
        ("https://m.example.com/files/go.zip", "deploy", RAW, True),
        ("https://cdn.example.net/go.zip", None, None, False),
        ("https://m.example.com:8443/go.zip", None, None, False),
        ("https://m.example.com/final.zip", "deploy", RAW, True),  # the Location's user info is dropped
    ]
    assert {c[4] for c in calls} == {"none"}  # urllib never follows a redirect itself


@pytest.mark.parametrize("answers,fragment", [
    ({"https://m.example.com/a": (302, "http://m.example.com/a")}, "redirect from https to plain http"),
    ({"https://m.example.com/a": (302, "file:///etc/passwd")}, "not an http(s) URL"),
    ({"https://m.example.com/a": (302, None)}, "without a Location"),
    ({"https://m.example.com/a": (302, "/a")}, "more than 10 redirects"),
])
def test_redirects_that_are_refused(monkeypatch, answers, fragment):
    calls = _fake(monkeypatch, answers)
    with pytest.raises(src.SourceError) as err:
        src.http_get("https://m.example.com/a", True, "deploy", RAW, 10)
    assert fragment in str(err.value) and secret_free(str(err.value), RAW)
    assert len(calls) <= src.MAX_REDIRECTS + 1


def test_a_downgrade_is_followed_without_credentials_with_allow_plain_http(monkeypatch):
    calls = _fake(monkeypatch, {"https://m.example.com/a": (302, "http://m.example.com/a")})
    assert src.http_get("https://m.example.com/a", True, "deploy", RAW, 10, allow_plain_http=True) == b"[]"
    assert calls[-1][:3] == ("http://m.example.com/a", None, None)  # another scheme: another origin
