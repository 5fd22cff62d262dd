# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report builder (plugins/plugin_utils/_report.py) on evidence shaped as the modules return it: every
document matches the shipped schema, statuses map as documented, results that failed or are missing become errors
(told by what is missing, never by reading a message), only named fields are copied, and the JUnit and HTML
renderings are well-formed with every value escaped (data never becomes markup or script)."""

from __future__ import annotations

import html.parser
import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _report as rp
from ansible_collections.gowin.server.plugins.plugin_utils._jsonschema import Validator

with open(rp.SCHEMA_PATH, encoding="utf-8") as _f:
    SCHEMA = Validator(json.load(_f))
WINSIM = "gowin.server.winsim"


def facts(active="1.22.5"):
    return {"changed": False, "ansible_facts": {"gowin": {"os_caption": "Microsoft Windows Server 2022 Datacenter", "os_build": 20348,
                                                          "toolchains": [{"version": active, "active": True, "goroot": "C:\\opt\\go\\" + active}],
                                                          "active": active, "password_like": "never copied"}}}


def verify(passed=True):
    return {"changed": False, "passed": passed, "go_version": "go version go1.22.5 windows/amd64", "modelled": True,
            "checks": [{"name": "go version", "pass": True, "expected": "go1.22", "actual": "go1.22.5"},
                       {"name": "go env GOPROXY", "pass": passed, "expected": "https://proxy", "actual": "direct"}]}


def svc(changed=False, healthy=True):
    r = {"changed": changed, "changes": ["start service a"] if changed else [], "service": {"state": "running", "environment": ["X"]},
         "release": {"sha256": "ab" * 32}, "modelled": True, "ansible_loop_var": "go_service_index", "go_service_index": 0,
         "invocation": {"module_args": {"password": "hunter2"}}}
    if healthy is not None:
        r.update(healthy=healthy, health={"healthy": healthy, "reason": "passed 1 probe(s) in a row" if healthy else "HTTP 503",
                                          "kind": "http", "target": "http://127.0.0.1/healthz", "probe_count": 1,
                                          "probes": [{"n": 1, "ok": healthy, "status": 200 if healthy else 503, "body": "secret body"}]})
    return r


def baseline(*results, waivers=()):
    return {"changed": False, "mode": "audit", "baseline": {"name": "go_server", "title": "Go server"}, "score": 50.0,
            "totals": {"compliant": 1}, "reboot_required": False, "modelled": True, "waivers": list(waivers),
            "results": list(results) or [{"id": "fs.long_paths", "title": "Long paths", "status": "non_compliant", "severity": "medium",
                                          "refs": ["MSFT"], "expected": {"value": 1}, "actual": {"value": 0}, "evidence": {"k": "v"},
                                          "note": None, "reboot_required": False}]}


def evidence(**over):
    ev = {"schema": rp.EVIDENCE_SCHEMA, "facts": facts(), "toolchain": verify(), "service_names": ["a"], "services": [svc()],
          "baseline": baseline()}
    ev.update(over)
    return ev


def build(*hosts):
    doc = rp.build([(h[0], h[1], h[2] if len(h) > 2 else WINSIM) for h in hosts], "run-1", "2026-12-07T10:00:00Z", "Fleet", "0.1.0", "2.19.0")
    assert SCHEMA.errors(json.loads(json.dumps(doc))) == []
    return doc


def checks(doc, host=0):
    return {c["id"]: c for c in doc["hosts"][host]["checks"]}


def test_statuses_summary_and_matrix():
    doc = build(("win1", evidence()), ("win2", evidence(toolchain=verify(False), services=[svc(changed=True, healthy=False)])))
    c1, c2 = checks(doc, 0), checks(doc, 1)
    assert c1["toolchain/go env GOPROXY"]["status"] == "pass" and c2["toolchain/go env GOPROXY"]["status"] == "fail"
    assert "expected https://proxy, found direct" in c2["toolchain/go env GOPROXY"]["detail"]
    assert c1["service/a/config"]["status"] == "pass" and c2["service/a/config"]["status"] == "fail"
    assert c2["service/a/config"]["detail"] == "would change: start service a" and c2["service/a/health"]["detail"] == "HTTP 503"
    assert c1["baseline/fs.long_paths"]["status"] == "fail" and c1["baseline/fs.long_paths"]["refs"] == ["MSFT"]
    assert [h["status"] for h in doc["hosts"]] == ["fail", "fail"]
    assert doc["summary"]["hosts_by_status"] == {"pass": 0, "fail": 2, "error": 0}
    assert doc["summary"]["matrix"]["win1"]["services"] == {"status": "pass", "checks": 2, "passed": 2}
    assert doc["summary"]["matrix"]["win2"]["services"] == {"status": "fail", "checks": 2, "passed": 0}
    assert doc["simulated"] is True and doc["hosts"][0]["modelled"] is True


@pytest.mark.parametrize("status, expected", [("compliant", "pass"), ("fixed", "pass"), ("non_compliant", "fail"),
                                              ("waived", "waived"), ("not_applicable", "skipped"), ("error", "error"), ("odd", "error")])
def test_baseline_statuses_map(status, expected):
    r = {"id": "x", "title": "X", "status": status, "severity": "low", "refs": [], "expected": 1, "actual": 0, "evidence": {},
         "note": "n", "reboot_required": False}
    if status == "waived":
        r["waiver"] = {"reason": "why", "expires": "2099-01-01", "approved_by": None}
    doc = build(("h", evidence(baseline=baseline(r))))
    assert checks(doc)["baseline/x"]["status"] == expected
    if status == "waived":
        assert checks(doc)["baseline/x"]["detail"] == "waived until 2099-01-01: why"


def test_failed_skipped_or_missing_results_are_errors_told_by_what_is_missing():
    failed = {"failed": True, "msg": "go.exe is not there"}
    doc = build(("h", evidence(toolchain=failed, services=[{"failed_when_result": False, "changed": False}], baseline={"skipped": True})))
    c = checks(doc)
    assert c["toolchain/go_verify"]["status"] == "error" and c["toolchain/go_verify"]["detail"] == "go.exe is not there"
    assert c["service/a/config"]["status"] == "error" and c["service/a/config"]["detail"] == "win_service_go returned no service"
    assert c["baseline/dsc_baseline"]["status"] == "error" and c["baseline/dsc_baseline"]["detail"] == "skipped"
    assert doc["hosts"][0]["status"] == "error"
    # a service named but with no result at all (the loop stopped before it)
    doc = build(("h", evidence(service_names=["a", "b"], services=[svc()])))
    assert checks(doc)["service/b/config"]["detail"] == "no result was registered"


def test_a_service_check_that_stopped_tells_where_and_why_for_each_service_left_without_a_result():
    stop = {"task": "Check that every service entry names the service and one binary", "msg": "no two entries may name one service",
            "in_loop": False}
    doc = build(("h", evidence(service_names=["a", "A"], services=[], service_failure=stop)))
    c = checks(doc)
    why = "the service check stopped at task 'Check that every service entry names the service and one binary': no two entries may name one service"
    assert c["service/a/config"]["detail"] == why and c["service/A/config"]["detail"] == why
    assert [s["status"] for s in doc["hosts"][0]["services"]] == ["error", "error"] and doc["hosts"][0]["status"] == "error"
    # the loop failed: a service it checked keeps its result, a failed one its own message, one without a result the stop
    failed = {"failed": True, "msg": "src: no such file"}
    doc = build(("h", evidence(service_names=["a", "b", "c"], services=[svc(), failed],
                               service_failure={"task": "Deploy the Go service", "msg": "One or more items failed", "in_loop": True})))
    c = checks(doc)
    assert c["service/a/config"]["status"] == "pass" and c["service/b/config"]["detail"] == "src: no such file"
    assert c["service/c/config"]["detail"] == "the service check stopped at task 'Deploy the Go service': One or more items failed"
    # no stop recorded ({} from validate, or evidence from before the field): as before
    for ev in (evidence(service_names=["a", "b"], services=[svc()], service_failure={}), evidence(service_names=["a", "b"], services=[svc()])):
        assert checks(build(("h", ev)))["service/b/config"]["detail"] == "no result was registered"
    doc = build(("h", evidence(service_names=["a"], services=[], service_failure={"task": "", "msg": "x" * 5000, "in_loop": False})))
    detail = checks(doc)["service/a/config"]["detail"]
    assert detail.startswith("the service check stopped: xxx") and len(detail) <= 2000


def test_a_host_without_evidence_is_an_error_and_areas_left_out_are_not_checked():
    doc = build(("gone", None, "psrp"), ("other", {"schema": "something/else"}, None),
                ("bare", evidence(facts=None, toolchain=None, baseline=None, service_names=[], services=[]), "psrp"))
    gone, other, bare = doc["hosts"]
    assert gone["status"] == other["status"] == "error" and not gone["reachable"] and not gone["modelled"]
    assert [c["id"] for c in gone["checks"]] == ["host/evidence"]
    assert doc["summary"]["matrix"]["gone"]["toolchain"]["status"] == "error"
    assert bare["status"] == "pass" and bare["checks"] == [] and bare["reachable"] and doc["simulated"] is False
    assert doc["summary"]["matrix"]["bare"]["baseline"] == {"status": "skipped", "checks": 0, "passed": 0}
    # ansible-core 2.16 templates a None in set_fact as '': a part that did not run either way
    doc = build(("h", evidence(facts="", toolchain="", baseline="", service_names=[], services=[]), "psrp"))
    assert doc["hosts"][0]["checks"] == [] and doc["hosts"][0]["toolchain"] is None and doc["hosts"][0]["facts"] is None


def test_only_named_fields_are_copied():
    doc = build(("h", evidence()))
    text = json.dumps(doc)
    assert "hunter2" not in text and "never copied" not in text and "secret body" not in text and "invocation" not in text
    assert set(doc["hosts"][0]["services"][0]["health"]["probes"][0]) == {"n", "ok", "status"}


def test_long_and_odd_values_are_bounded():
    r = {"id": "x", "title": "t\x00\x1b[31m", "status": "non_compliant", "severity": "low", "refs": ["r"] * 3, "expected": "e" * 5000,
         "actual": {"deep": {"er": {"and": {"deeper": {"still": {"more": {"levels": {"here": {"x": 1}}}}}}}}}, "evidence": {},
         "note": None, "reboot_required": False}
    doc = build(("h", evidence(baseline=baseline(r))))
    row = doc["hosts"][0]["baseline"]["results"][0]
    assert "\x00" not in row["title"] and "\x1b" not in row["title"]
    assert len(row["expected"]) <= 2000 and row["expected"].endswith("(5000 characters)")
    assert len(checks(doc)["baseline/x"]["detail"]) < 700


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.scripts = [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_html_and_junit_escape_every_value():
    evil = '<script>alert(1)</script>"\'&<img src=x onerror=alert(2)>'
    r = {"id": "x" + evil, "title": evil, "status": "non_compliant", "severity": "low", "refs": [evil], "expected": evil, "actual": evil,
         "evidence": {"v": evil}, "note": evil, "reboot_required": False}
    doc = build((evil, evidence(baseline=baseline(r, waivers=[{"id": "x", "reason": evil, "expires": "2099-01-01", "approved_by": evil,
                                                               "expired": False, "applied": False}]))))
    page = rp.html(doc)
    p = _Tags()
    p.feed(page)
    assert [t for t, _a in p.tags].count("script") == 1 and len(p.scripts) == 1 and "alert" not in p.scripts[0]
    assert not any(t == "img" for t, _a in p.tags)
    assert not any(k.startswith("on") for _t, a in p.tags for k in a)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # JUnit parses, and the values come back as they were
    root = ET.fromstring(rp.junit(doc))
    suite = root.find("testsuite")
    assert suite.get("name") == evil
    case = [c for c in suite.findall("testcase") if c.get("name") == "baseline/x" + evil][0]
    assert case.find("failure").get("message") == evil and json.loads(case.find("failure").text)["detail"] == evil


def test_the_page_needs_no_network_and_has_the_banner_only_for_simulated_hosts():
    real_host = evidence(toolchain=dict(verify(), modelled=False), services=[dict(svc(), modelled=False)],
                         baseline=dict(baseline(), modelled=False))
    real = rp.html(build(("h", real_host, "psrp")))
    assert "SIMULATED" not in real
    page = rp.html(build(("h", evidence())))
    assert 'id="simulated"' in page
    for needle in ("<link", " src=", "url(", "@import", "fetch(", "XMLHttpRequest"):
        assert needle not in page, needle
    p = _Tags()
    p.feed(page)
    # the only links are to places in the page itself; URLs in the evidence are text
    assert all(a["href"].startswith("#") for _t, a in p.tags if "href" in a)
    assert not any(k in a for _t, a in p.tags for k in ("src", "action", "formaction", "data", "poster"))
    assert "default-src 'none'" in page


def test_junit_counts_and_kinds():
    doc = build(("win1", evidence(toolchain=verify(False))), ("gone", None))
    root = ET.fromstring(rp.junit(doc))
    assert root.get("tests") == str(sum(doc["summary"]["checks"].values()))
    assert root.get("failures") == str(doc["summary"]["checks"]["fail"]) and root.get("errors") == "1"
    win1, gone = root.findall("testsuite")
    assert win1.find("properties/property").get("name") == "modelled"
    assert gone.find("testcase/error") is not None
    kinds = {c.get("name"): [x.tag for x in c] for c in win1.findall("testcase")}
    assert kinds["toolchain/go version"] == [] and kinds["toolchain/go env GOPROXY"] == ["failure"]
