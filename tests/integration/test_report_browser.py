"""The fleet report's page in a real browser: Debian's Chromium, headless, loads report.html from a validate run
on winsim hosts (no network: Chromium is started with every background connection off), runs its script, and
the DOM it leaves is read back. The counts the page shows are report.json's, each host and check is there, the
SIMULATED banner shows, and a status filter given in the address (#status=fail) hides every other check. A
screenshot of the page goes to tests/output/report/ (the README's picture is taken from it)."""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, Fleet
# exe is a fixture: imported to be used by name
from test_validate_report import converge, report, service, validate
from test_win_service_go import exe  # noqa: F401  pylint: disable=unused-import

OUTPUT = REPO / "tests" / "output" / "report"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars", "--mute-audio"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (make go-toolchain installs Debian's chromium with apt-get)")
    return ""  # pragma: no cover


def browse(page: Path, profile: Path, fragment: str = "", screenshot: Path | None = None) -> str:
    """Load the page in headless Chromium; the DOM after its script ran (or take a screenshot)."""
    url = page.resolve().as_uri() + fragment
    cmd = [chromium()] + FLAGS + ["--user-data-dir=%s" % profile, "--virtual-time-budget=3000"]
    if screenshot is not None:
        cmd += ["--window-size=1280,1600", "--screenshot=%s" % screenshot, url]
    else:
        cmd += ["--dump-dom", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class Dom(html.parser.HTMLParser):
    """What the tests read of the DOM Chromium dumped: elements by id (their text), check rows and host sections."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.rows: list[dict] = []
        self.hosts: list[dict] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "tr" and "check" in classes:
            self.rows.append({"status": a.get("data-status"), "hidden": "hidden" in classes})
        if tag == "details" and "host" in classes:
            self.hosts.append({"id": a.get("id"), "hidden": "hidden" in classes, "open": "open" in a})
        if tag not in ("br", "meta", "input", "img", "link"):
            self._open.append((tag, a.get("id")))
            if a.get("id"):
                self.text.setdefault(a["id"], "")

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _t, ident in self._open:
            if ident:
                self.text[ident] += data


def dom(text: str) -> Dom:
    d = Dom()
    d.feed(text)
    return d


def count(d: Dom, ident: str) -> int:
    found = re.match(r"\s*(\d+)", d.text[ident])
    assert found, (ident, d.text[ident])
    return int(found.group(1))


@pytest.fixture
def page(tmp_path, mirror, exe):
    fleet = Fleet(tmp_path, mirror, {"win1": "ws2022", "win2": "ws2019"})
    svc = service(exe)
    converge(fleet, [svc])
    fleet.host("win2").crash_service("orders-api")
    dest = tmp_path / "report"
    waiver = {"id": "fs.long_paths", "reason": "a legacy tool", "expires": "2099-12-31", "approved_by": "CAB"}
    run = validate(fleet, dest, go_service_services=[svc], baseline_waivers=[waiver], baseline_include=["go", "tls", "wdac", "network"])
    assert run.rc == 0, run.stdout[-3000:]
    return dest


def test_the_page_shows_report_json_in_a_real_browser_and_filters_by_status(page, tmp_path):
    doc = report(page)
    html_file = page / "report.html"
    d = dom(browse(html_file, tmp_path / "profile"))
    s = doc["summary"]
    assert count(d, "count-hosts") == s["hosts"] == 2
    for st in ("pass", "fail", "error"):
        assert count(d, "hosts-" + st) == s["hosts_by_status"][st]
    for st in ("pass", "fail", "error", "waived", "skipped"):
        assert count(d, "checks-" + st) == s["checks"][st]
    total = sum(s["checks"].values())
    assert len(d.rows) == total and not any(r["hidden"] for r in d.rows)
    assert int(d.text["shown"]) == total == int(d.text["total"])  # the script ran: all shown
    assert "SIMULATED" in d.text["simulated"]
    assert [h["id"] for h in d.hosts] == ["host-win1", "host-win2"]
    assert "a legacy tool" in d.text["waivers"]
    assert "win2" in d.text["matrix"] and "fail" in d.text["matrix"]

    # the filter in the address: only failing checks are shown, and the count says so
    f = dom(browse(html_file, tmp_path / "profile", "#status=fail"))
    shown = [r for r in f.rows if not r["hidden"]]
    assert shown and all(r["status"] == "fail" for r in shown)
    assert len(shown) == s["checks"]["fail"] == int(f.text["shown"])
    assert all(r["hidden"] for r in f.rows if r["status"] != "fail")
    w = dom(browse(html_file, tmp_path / "profile", "#status=waived"))
    assert int(w.text["shown"]) == s["checks"]["waived"] >= 1

    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "report.png"
    if shot.exists():
        shot.unlink()
    browse(html_file, tmp_path / "profile", screenshot=shot)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000  # a rendered page, not a blank one
    (OUTPUT / "report.json").write_text(json.dumps(doc, indent=1))
