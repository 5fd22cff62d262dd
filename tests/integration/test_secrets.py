"""Secrets never leave where they belong (issue 11), through real ansible-playbook runs on winsim.

A loopback mirror (origin A, basic auth) redirects to a second loopback port (origin B, another
origin) and to itself; both record every Authorization header they get. Passwords with '@', ':',
quotes, '%40', a space and a non-ASCII letter go in every credential-bearing option; after each play
(success, failure, check mode, diff mode, -vvvv) stdout, stderr, the results, winsim's state folder and
the controller's cache are searched for every form of them.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import yaml

from conftest import Fleet, reg

USER = "deploy"
RAW = "pä@s:s\"w'o rd%40"  # as written; percent-encoded in URLs below
ENC = quote(RAW, safe="")
OTHER = "0th€r:pa\"ss@w'rd"  # a second one (user scope GOPROXY)
CUT = ("pw1x", "pw2y", "pw3z")  # a password with the GOPROXY separators in it: "pw1x,pw2y|pw3z"
ROOT = "C:\\opt\\go"
MACHINE = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
RECORDS = "HKLM\\SOFTWARE\\GoWin\\Toolchains"


def forms(password: str, user: str = USER) -> set[str]:
    """Every way a password could show up in text: as written, percent-encoded, JSON- and repr-escaped,
    inside an Authorization header."""
    return {
        password, quote(password, safe=""), quote(password), json.dumps(password)[1:-1],
        json.dumps(password, ensure_ascii=False)[1:-1], repr(password)[1:-1],
        base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii"),
    }


def leaks(places: dict[str, str | bytes], secrets: set[str]) -> list[tuple[str, str]]:
    found = []
    for where, text in places.items():
        for secret in secrets:
            needle = secret.encode("utf-8") if isinstance(text, bytes) else secret
            if needle in text:
                found.append((where, secret))
    return found


class Vars(dict):
    """Secrets travel as variables from a vars file (as from a vault), never in the playbook nor on the
    command line: ansible-core 2.19 quotes the playbook's lines around a failed task, and -vvvv prints
    the command line's extra vars; neither is this collection's output."""

    def __call__(self, value):
        name = "secret_%d" % len(self)
        self[name] = value
        return "{{ %s }}" % name


def play(fleet: Fleet, v: Vars, tasks: list, **kwargs):
    """fleet.play, with the secrets in a vars file."""
    n = len(list(fleet.root.glob("secrets-play-*.yml")))
    vars_file = fleet.root / ("secrets-vars-%d.yml" % n)
    vars_file.write_text(yaml.safe_dump(dict(v)))
    path = fleet.root / ("secrets-play-%d.yml" % n)
    path.write_text(yaml.safe_dump([{"name": "secrets", "hosts": "all", "gather_facts": False,
                                     "vars_files": [str(vars_file)], "tasks": tasks}], sort_keys=False))
    return fleet.play(playbook=str(path), **kwargs)


def folder(path: Path) -> dict[str, bytes]:
    """Every file under path, by name: its content (and its name, searched as content too)."""
    out = {}
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as handle:
                out[full] = handle.read() + b"\n" + full.encode("utf-8")
    return out


class _Origin(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mirror, auth: tuple[str, str] | None):
        self.mirror = mirror
        self.auth = auth
        self.seen: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self.other = ""  # base URL of the other origin
        super().__init__(("127.0.0.1", 0), _Handler)
        self.base = "http://127.0.0.1:%d" % self.server_address[1]
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: _Origin

    def log_message(self, *args) -> None:  # noqa: D102 - quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        header = self.headers.get("Authorization")
        self.server.seen.append((self.path, header))
        if self.server.auth is not None:
            want = "Basic " + base64.b64encode(("%s:%s" % self.server.auth).encode("utf-8")).decode("ascii")
            if header != want:
                self._send(401, b"401 Unauthorized\n", {"WWW-Authenticate": 'Basic realm="A"'})
                return
        path = urlsplit(self.path).path
        kind, _sep, name = path.lstrip("/").partition("/")
        if kind == "dl" and name == "":
            self._send(200, json.dumps(self.server.mirror.index).encode("ascii"), {"Content-Type": "application/json"})
        elif kind == "dl":  # to the other origin
            self._send(302, headers={"Location": self.server.other + "/files/" + name})
        elif kind == "same":  # to this origin, relative
            self._send(302, headers={"Location": "/files/" + name})
        elif kind == "files" and name in self.server.mirror.files:
            with open(self.server.mirror.files[name]["path"], "rb") as handle:
                self._send(200, handle.read(), {"Content-Type": "application/zip"})
        else:
            self._send(404, b"404\n")


@pytest.fixture
def origins(mirror):
    a = _Origin(mirror, (USER, RAW))
    b = _Origin(mirror, None)
    a.other, b.other = b.base, a.base
    yield a, b
    for server in (a, b):
        server.shutdown()
        server.server_close()


def fleet_in(tmp_path: Path, mirror, name: str) -> Fleet:
    root = tmp_path / name
    root.mkdir()
    return Fleet(root, mirror, {"win1": "ws2022"})


def sent_auth(server: _Origin, fragment: str) -> list[bool]:
    """For each request whose path holds fragment: did it carry an Authorization header?"""
    return [header is not None for path, header in server.seen if fragment in path]


def test_go_install_credentials_stay_with_their_origin_and_out_of_every_output(tmp_path, mirror, origins):
    a, b = origins
    fleet = fleet_in(tmp_path, mirror, "install")
    cache = tmp_path / "controller-cache"
    index = "/dl/?mode=json&include=all"
    in_url = "http://%s:%s@%s" % (USER, ENC, a.base[len("http://"):])  # user info, percent-encoded
    raw_in_url = "http://%s:%s@%s" % (USER, RAW, a.base[len("http://"):])  # user info as written
    common = {"allow_plain_http": True, "install_root": ROOT}
    v = Vars()
    creds = {"url_username": USER, "url_password": v(RAW)}
    in_url, raw_in_url, wrong_in_url = v(in_url), v(raw_in_url), v(raw_in_url.replace(RAW, "wrong-" + RAW))

    def task(name, check=False, fail=False, **args):
        t = {"name": name, "gowin.server.go_install": dict(common, **args)}
        if check:
            t["check_mode"] = True
        if fail:
            t["ignore_errors"] = True
        return t

    run = play(fleet, v, [
        task("ctl cross-origin", version="1.22.5", download_on="controller", index_url=a.base + index,
             base_url=a.base + "/dl/", **creds),
        task("ctl same-origin", version="1.22.4", download_on="controller", index_url=a.base + index,
             base_url=a.base + "/same/", **creds),
        task("ctl user info", version="1.21.0", download_on="controller", index_url=in_url + index,
             base_url=in_url + "/dl/"),
        task("host cross-origin", version="1.23.2", download_on="host", index_url=a.base + index,
             base_url=a.base + "/dl/", **creds),
        task("host user info as written", version="1.23.1", download_on="host", index_url=raw_in_url + index,
             base_url=raw_in_url + "/same/"),
        task("check user info", check=True, version="1.23.0", source="url", download_on="controller",
             url=in_url + "/same/go1.23.0.windows-amd64.zip", checksum="sha256:" + mirror.sha("1.23.0")),
        task("wrong password", fail=True, version="1.22.8", download_on="controller", index_url=a.base + index,
             base_url=a.base + "/dl/", url_username=USER, url_password=v("wrong-" + RAW)),
        task("wrong password in url", fail=True, version="1.20.14", source="url", download_on="controller",
             url=wrong_in_url + "/same/go1.20.14.windows-amd64.zip",
             checksum="sha256:" + mirror.sha("1.20.14")),
    ], diff=True, verbosity=4, env={"GOWIN_CACHE_DIR": str(cache)})
    assert "Traceback" not in run.stdout + run.stderr
    for name in ("ctl cross-origin", "ctl same-origin", "ctl user info", "host cross-origin",
                 "host user info as written", "check user info"):
        res = run.one("win1", name)
        assert not res.failed, (name, res.result.get("msg"))
        assert res.result["changed"] is True
        assert "@" not in (res.result.get("source_url") or ""), res.result.get("source_url")

    # origin A got the credentials for the index and each file; origin B, another port, never did
    assert sent_auth(a, "/dl/?mode=json")[0] is True
    for version in ("1.22.5", "1.21.0", "1.23.2"):
        assert sent_auth(a, "/dl/go%s.windows" % version) == [True], version
        assert sent_auth(b, "/files/go%s.windows" % version) == [False], version
    assert b.seen and not any(header for _path, header in b.seen)
    # a redirect to the same origin keeps them (controller and host downloads; raw user info works too)
    assert sent_auth(a, "/files/go1.22.4.windows") == [True]
    assert sent_auth(a, "/files/go1.23.1.windows") == [True]
    assert sent_auth(a, "/files/go1.23.0.windows") == [True]  # check mode fetches into the controller cache

    h = fleet.host("win1")
    for version in ("1.21.0", "1.23.1"):
        recorded = reg(h, RECORDS + "\\" + version, "SourceUrl")
        assert recorded and recorded.startswith(a.base) and "@" not in recorded, recorded
    assert h.read_file(ROOT + "\\1.23.0\\VERSION") is None

    wrong = run.one("win1", "wrong password")
    assert wrong.failed and wrong.result["msg"].startswith("base_url") and "401" in wrong.result["msg"]
    wrong = run.one("win1", "wrong password in url")
    assert wrong.failed and wrong.result["msg"].startswith("url") and "401" in wrong.result["msg"]

    # bad option values: a clear message naming the options, and nothing changes on the host
    before = h.snapshot()
    bad = play(fleet, v, [
        task("password alone", fail=True, version="1.22.0", url_password=v(RAW), index_url=a.base + index,
             base_url=a.base + "/dl/"),
        task("both ways", fail=True, version="1.22.0", index_url=a.base + index, base_url=in_url + "/dl/", **creds),
    ], verbosity=4, env={"GOWIN_CACHE_DIR": str(cache)})
    alone = bad.one("win1", "password alone")
    assert alone.failed and "url_password" in alone.result["msg"] and "url_username" in alone.result["msg"]
    both = bad.one("win1", "both ways")
    assert both.failed and "base_url" in both.result["msg"] and "url_username" in both.result["msg"], both.result["msg"]
    assert h.snapshot() == before

    places: dict[str, str | bytes] = {
        "stdout": run.stdout, "stderr": run.stderr, "results": json.dumps([r.result for r in run.results]),
        "bad stdout": bad.stdout, "bad stderr": bad.stderr, "bad results": json.dumps([r.result for r in bad.results]),
    }
    places.update(folder(fleet.state_dir))
    places.update(folder(cache))
    assert leaks(places, forms(RAW) | forms("wrong-" + RAW)) == []


def test_go_env_url_passwords_reach_the_host_and_no_output(tmp_path, mirror):
    fleet = fleet_in(tmp_path, mirror, "env")
    goproxy = "https://%s:%s@proxy.example.com/mod|https://proxy.golang.org,direct" % (USER, ENC)
    gosumdb = "sum.golang.org https://%s:%s@sum.example.com" % (USER, ENC)
    mirror_url = "https://%s:%s@mirror.example.com/x" % (USER, RAW)  # extra: no grammar, taken as written
    v = Vars()
    args = {"scope": "machine", "goroot": ROOT + "\\current", "goproxy": v(goproxy), "gosumdb": v(gosumdb),
            "extra": {"GOMIRROR_URL": v(mirror_url)}}

    def task(name, check=False, fail=False, **more):
        t = {"name": name, "gowin.server.go_env": more}
        if check:
            t["check_mode"] = True
        if fail:
            t["ignore_errors"] = True
        return t

    cut = ",".join(CUT[:2]) + "|" + CUT[2]
    run = play(fleet, v, [
        task("check", check=True, **args),
        task("set", **args),
        task("again", **args),
        task("user hides machine", scope="user", goroot=ROOT + "\\current",
             goproxy=v("https://other:%s@proxy2.example.com" % quote(OTHER, safe=""))),
        task("raw in goproxy", fail=True, goproxy=v("https://%s:%s@proxy.example.com" % (USER, RAW))),
        task("raw in gosumdb", fail=True, gosumdb=v("sum.golang.org https://%s:%s@sum.example.com" % (USER, RAW))),
        task("raw in gonosumdb", fail=True, gonosumdb=v("%s:%s@corp.example.com" % (USER, RAW))),
        task("separators in goproxy", fail=True, goproxy=v("https://%s:%s@proxy.example.com" % (USER, cut))),
    ], diff=True, verbosity=4, allow_warnings=True)
    assert "Traceback" not in run.stdout + run.stderr
    for name, changed in (("check", True), ("set", True), ("again", False)):
        res = run.one("win1", name)
        assert not res.failed, (name, res.result.get("msg"))
        assert res.result["changed"] is changed, name
    shown = run.one("win1", "set").result["variables"]
    assert shown["GOPROXY"]["after"] == "https://deploy:xxxxx@proxy.example.com/mod|https://proxy.golang.org,direct"
    assert shown["GOSUMDB"]["after"] == "sum.golang.org https://deploy:xxxxx@sum.example.com"
    assert shown["GOMIRROR_URL"]["after"] == "https://deploy:xxxxx@mirror.example.com/x"
    assert run.one("win1", "again").result["variables"]["GOPROXY"]["before"] == shown["GOPROXY"]["after"]
    warned = run.one("win1", "user hides machine").result
    assert any("hides the machine variable GOPROXY" in w for w in warned["warnings"]), warned["warnings"]
    for name in ("raw in goproxy", "raw in gosumdb", "raw in gonosumdb", "separators in goproxy"):
        res = run.one("win1", name)
        assert res.failed and res.result["msg"].startswith(name.split()[-1] + ":"), (name, res.result.get("msg"))

    # the host has the real values
    h = fleet.host("win1")
    assert reg(h, MACHINE, "GOPROXY") == goproxy
    assert reg(h, MACHINE, "GOSUMDB") == gosumdb
    assert reg(h, MACHINE, "GOMIRROR_URL") == mirror_url

    places = {"stdout": run.stdout, "stderr": run.stderr, "results": json.dumps([r.result for r in run.results])}
    secrets = forms(RAW) | forms(OTHER, "other") | set(CUT)
    assert leaks(places, secrets) == []
