# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

The fleet report (gowin.server.fleet_report): one document per run built from the structured evidence the role
gowin.server.validate leaves on each host (the results of go_facts, go_verify, win_service_go in check mode and
dsc_baseline in audit mode, as registered), never from messages. build() makes report.json's document (schema
_reports/report.schema.json, docs/report-format.md); junit() and html() render it. Only fields named here are
copied from a module's result, so nothing a module returns besides them (its arguments, say) reaches a report.
"""

from __future__ import annotations

import html as _html
import json
import os
import re
import typing as t
from xml.sax.saxutils import escape as _xml_escape, quoteattr as _xml_attr

SCHEMA = "gowin.server/report/1"
EVIDENCE_SCHEMA = "gowin.server/evidence/1"
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_reports")
SCHEMA_PATH = os.path.join(HERE, "report.schema.json")
AREAS = ("toolchain", "services", "baseline")
CHECK_STATUSES = ("pass", "fail", "error", "waived", "skipped")
HOST_STATUSES = ("pass", "fail", "error")
_RANK = {"skipped": 0, "pass": 1, "waived": 2, "fail": 3, "error": 4}
_BASELINE_STATUS = {"compliant": "pass", "fixed": "pass", "non_compliant": "fail", "waived": "waived",
                    "not_applicable": "skipped", "error": "error"}
_FACTS = ("computer_name", "os_caption", "os_build", "os_version", "edition", "installation_type", "server_core", "arch",
          "powershell_version", "dotnet_version", "long_paths_enabled", "pending_reboot")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: t.Any, limit: int = 2000) -> str | None:
    """A value as one bounded text without control characters (None stays None)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = _CONTROL.sub("?", text)
    return text if len(text) <= limit else text[:limit - 40] + "... (%d characters)" % len(text)


def _plain(value: t.Any, depth: int = 0) -> t.Any:
    """A JSON value of what a module returned: strings bounded, depth bounded, anything else as text."""
    if depth > 8:
        return _text(value, 200)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return _text(value)


def _failed(result: t.Any) -> str | None:
    """Why a registered result holds no evidence: none registered, the task skipped, or failed (its own message, shown
    as it is, never read). The role registers with failed_when: false, so a failure is told by what is missing."""
    if not isinstance(result, dict):
        return "no result was registered"
    if result.get("skipped"):
        return "skipped"
    if result.get("failed") or result.get("unreachable"):
        return _text(result.get("msg") or "the task failed") or "the task failed"
    return None


def _missing(result: t.Any, what: str) -> str:
    """The reason shown when a result lacks the field it must have."""
    why = _failed(result)
    if why is not None:
        return why
    msg = _text(result.get("msg")) if isinstance(result, dict) else None
    return msg or what


def _check(cid: str, area: str, status: str, title: str, detail: t.Any = None, refs: list | None = None,
           evidence: t.Any = None) -> dict:
    return {"id": cid, "area": area, "status": status, "title": title, "detail": _text(detail),
            "refs": [str(r) for r in refs or []], "evidence": _plain(evidence)}


def _worst(statuses: t.Iterable[str], empty: str = "skipped") -> str:
    found = list(statuses)
    return max(found, key=lambda s: _RANK[s]) if found else empty


def _facts(result: t.Any) -> dict | None:
    if not isinstance(result, dict) or _failed(result) is not None:
        return None
    gowin = ((result or {}).get("ansible_facts") or {}).get("gowin")
    if not isinstance(gowin, dict):
        return None
    return {k: _plain(gowin.get(k)) for k in _FACTS}


def _toolchain(facts_result: t.Any, verify: t.Any) -> tuple[dict | None, list[dict]]:
    checks: list[dict] = []
    gowin = ((facts_result or {}).get("ansible_facts") or {}).get("gowin") if isinstance(facts_result, dict) else None
    toolchains = []
    if isinstance(gowin, dict):
        for tc in gowin.get("toolchains") or []:
            if isinstance(tc, dict):
                toolchains.append({"version": _text(tc.get("version")), "active": bool(tc.get("active")),
                                   "goroot": _text(tc.get("goroot") or tc.get("path"))})
    if _failed(verify) is not None or not isinstance(verify.get("checks"), list):
        checks.append(_check("toolchain/go_verify", "toolchain", "error", "go_verify ran", _missing(verify, "go_verify returned no checks")))
        return {"passed": False, "go_version": None, "active": gowin.get("active") if isinstance(gowin, dict) else None,
                "toolchains": toolchains, "modelled": bool((verify or {}).get("modelled")) if isinstance(verify, dict) else False}, checks
    for c in verify["checks"]:
        if not isinstance(c, dict):
            continue
        name = _text(c.get("name"), 200) or "check"
        checks.append(_check("toolchain/" + name, "toolchain", "pass" if c.get("pass") else "fail", name,
                             None if c.get("pass") else "expected %s, found %s" % (_text(c.get("expected"), 300), _text(c.get("actual"), 300)),
                             evidence={"expected": c.get("expected"), "actual": c.get("actual")}))
    return {"passed": bool(verify.get("passed")), "go_version": _text(verify.get("go_version")),
            "active": _text(gowin.get("active")) if isinstance(gowin, dict) else None, "toolchains": toolchains,
            "modelled": bool(verify.get("modelled"))}, checks


def _health(h: t.Any) -> dict | None:
    if not isinstance(h, dict):
        return None
    probes = [{k: _plain(p.get(k)) for k in ("n", "at_ms", "ok", "status", "error") if k in p}
              for p in h.get("probes") or [] if isinstance(p, dict)]
    return {"healthy": bool(h.get("healthy")), "reason": _text(h.get("reason")), "kind": _text(h.get("kind")),
            "target": _text(h.get("target")), "probe_count": h.get("probe_count") if isinstance(h.get("probe_count"), int) else None,
            "probes": probes[-10:]}


def _stopped(failure: t.Any) -> str | None:
    """Where and why validate's service check stopped (its rescue's record), or None: it did not stop."""
    if not isinstance(failure, dict) or not failure:
        return None
    task, msg = _text(failure.get("task"), 300), _text(failure.get("msg"), 1500) or "the task failed"
    return "the service check stopped%s: %s" % (" at task '%s'" % task if task else "", msg)


def _services(names: list, results: t.Any, failure: t.Any = None) -> tuple[list[dict], list[dict]]:
    services, checks = [], []
    results = results if isinstance(results, list) else []
    stopped = _stopped(failure)
    for i, name in enumerate(names):
        name = _text(name, 256) or "service %d" % i
        r = results[i] if i < len(results) else None
        if _failed(r) is not None or not isinstance(r.get("service"), dict):
            services.append({"name": name, "status": "error", "state": None, "in_sync": None, "changes": [], "healthy": None,
                             "health": None, "release": None, "modelled": False})
            checks.append(_check("service/%s/config" % name, "services", "error", "%s is deployed as configured" % name,
                                 stopped if r is None and stopped else _missing(r, "win_service_go returned no service")))
            continue
        svc = r["service"]
        changes = [_text(c, 300) for c in r.get("changes") or []]
        in_sync = not r.get("changed")
        entry = {"name": name, "state": _text(svc.get("state")), "in_sync": in_sync, "changes": changes,
                 "healthy": r.get("healthy") if isinstance(r.get("healthy"), bool) else None, "health": _health(r.get("health")),
                 "release": _text(((r.get("release") or {}).get("sha256") or "")[:12]) or None, "modelled": bool(r.get("modelled"))}
        checks.append(_check("service/%s/config" % name, "services", "pass" if in_sync else "fail", "%s is deployed as configured" % name,
                             None if in_sync else "would change: " + "; ".join(changes), evidence={"changes": changes}))
        if entry["healthy"] is not None:
            checks.append(_check("service/%s/health" % name, "services", "pass" if entry["healthy"] else "fail", "%s is healthy" % name,
                                 None if entry["healthy"] else (entry["health"] or {}).get("reason"), evidence=entry["health"]))
        entry["status"] = _worst((c["status"] for c in checks if c["id"].startswith("service/%s/" % name)), "pass")
        services.append(entry)
    return services, checks


def _baseline(result: t.Any) -> tuple[dict | None, list[dict]]:
    if _failed(result) is not None or not isinstance(result.get("results"), list):
        return None, [_check("baseline/dsc_baseline", "baseline", "error", "dsc_baseline ran", _missing(result, "dsc_baseline returned no results"))]
    checks, rows = [], []
    for r in result["results"]:
        if not isinstance(r, dict):
            continue
        status = _BASELINE_STATUS.get(str(r.get("status")), "error")
        waiver = r.get("waiver") if isinstance(r.get("waiver"), dict) else None
        row = {"id": _text(r.get("id"), 200), "title": _text(r.get("title"), 500),
               "status": r["status"] if r.get("status") in _BASELINE_STATUS else "error",
               "severity": _text(r.get("severity")), "refs": [_text(x, 200) for x in r.get("refs") or []],
               "expected": _plain(r.get("expected")), "actual": _plain(r.get("actual")), "evidence": _plain(r.get("evidence")),
               "note": _text(r.get("note")), "reboot_required": bool(r.get("reboot_required")),
               "waiver": None if waiver is None else {k: _text(waiver.get(k), 500) for k in ("reason", "expires", "approved_by")}}
        rows.append(row)
        detail = row["note"]
        if status == "fail" and detail is None:
            detail = "expected %s, found %s" % (_text(row["expected"], 300), _text(row["actual"], 300))
        if status == "waived":
            detail = "waived until %s: %s" % (row["waiver"]["expires"], row["waiver"]["reason"])
        checks.append(_check("baseline/" + (row["id"] or "?"), "baseline", status, row["title"] or row["id"] or "?", detail, row["refs"],
                             evidence=row["evidence"]))
    base = result.get("baseline") if isinstance(result.get("baseline"), dict) else {}
    totals = result.get("totals") if isinstance(result.get("totals"), dict) else {}
    waivers = [{k: _plain(w.get(k)) for k in ("id", "reason", "expires", "approved_by", "expired", "applied")}
               for w in result.get("waivers") or [] if isinstance(w, dict)]
    return {"name": _text(base.get("name")), "title": _text(base.get("title")), "mode": _text(result.get("mode")),
            "score": result.get("score") if isinstance(result.get("score"), (int, float)) else None,
            "totals": {str(k): v for k, v in totals.items() if isinstance(v, int)}, "reboot_required": bool(result.get("reboot_required")),
            "modelled": bool(result.get("modelled")), "results": rows, "waivers": waivers}, checks


def host_entry(name: str, evidence: t.Any, connection: str | None = None) -> dict:
    """One host of the report from the evidence its validate run left (None: the host left none)."""
    entry: dict[str, t.Any] = {"name": name, "status": "error", "reachable": False, "modelled": connection == "gowin.server.winsim",
                               "facts": None, "toolchain": None, "services": [], "baseline": None, "checks": []}
    if not isinstance(evidence, dict) or evidence.get("schema") != EVIDENCE_SCHEMA:
        entry["checks"] = [_check("host/evidence", "host", "error", "validate left evidence",
                                  "no evidence from gowin.server.validate: the host was unreachable, failed before it, or was not validated")]
        return entry
    entry["reachable"] = True
    checks: list[dict] = []
    # a part validate did not run is None (ansible-core 2.16 templates a None in set_fact as ''): only a mapping is a result
    entry["facts"] = _facts(evidence.get("facts"))
    if isinstance(evidence.get("toolchain"), dict):
        entry["toolchain"], more = _toolchain(evidence.get("facts"), evidence.get("toolchain"))
        checks += more
    names = evidence.get("service_names") if isinstance(evidence.get("service_names"), list) else []
    entry["services"], more = _services(names, evidence.get("services"), evidence.get("service_failure"))
    checks += more
    if isinstance(evidence.get("baseline"), dict):
        entry["baseline"], more = _baseline(evidence.get("baseline"))
        checks += more
    entry["checks"] = checks
    parts = [entry["toolchain"], entry["baseline"]] + entry["services"]
    entry["modelled"] = entry["modelled"] or any(isinstance(p, dict) and p.get("modelled") for p in parts)
    entry["status"] = _worst((c["status"] for c in checks if c["status"] in ("fail", "error")), "pass")
    return entry


def build(hosts: list[tuple[str, t.Any, str | None]], run_id: str, generated: str, title: str, collection_version: str,
          ansible_version: str) -> dict:
    """The report document of a run: hosts are (name, evidence or None, connection plugin)."""
    entries = [host_entry(name, ev, conn) for name, ev, conn in hosts]
    checks = {s: 0 for s in CHECK_STATUSES}
    for e in entries:
        for c in e["checks"]:
            checks[c["status"]] += 1
    by_host = {s: sum(1 for e in entries if e["status"] == s) for s in HOST_STATUSES}
    matrix = {}
    for e in entries:
        row = {}
        for area in AREAS:
            mine = [c["status"] for c in e["checks"] if c["area"] == area]
            row[area] = {"status": _worst(mine) if e["reachable"] else "error", "checks": len(mine),
                         "passed": sum(1 for s in mine if s == "pass")}
        matrix[e["name"]] = row
    return {
        "schema": SCHEMA, "run_id": run_id, "generated": generated, "title": title,
        "collection_version": collection_version, "ansible_version": ansible_version,
        "simulated": any(e["modelled"] for e in entries),
        "summary": {"hosts": len(entries), "hosts_by_status": by_host, "checks": checks, "matrix": matrix},
        "hosts": entries,
    }


# ---------------------------------------------------------------------------------------- JUnit


def junit(doc: dict) -> str:
    """One testsuite per host, one testcase per check: fail as <failure>, error as <error>, waived and skipped
    as <skipped>, each with the detail and the evidence."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    c = doc["summary"]["checks"]
    total = sum(c.values())
    out.append("<testsuites name=%s tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\">" % (
        _xml_attr("gowin.server " + doc["run_id"]), total, c["fail"], c["error"], c["waived"] + c["skipped"]))
    for h in doc["hosts"]:
        hc = {s: sum(1 for x in h["checks"] if x["status"] == s) for s in CHECK_STATUSES}
        out.append("  <testsuite name=%s tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" timestamp=%s>" % (
            _xml_attr(h["name"]), len(h["checks"]), hc["fail"], hc["error"], hc["waived"] + hc["skipped"], _xml_attr(doc["generated"])))
        if h["modelled"]:
            out.append('    <properties><property name="modelled" value="true"/></properties>')
        for x in h["checks"]:
            head = "    <testcase classname=%s name=%s" % (_xml_attr("%s.%s" % (h["name"], x["area"])), _xml_attr(x["id"]))
            body = _xml_escape(json.dumps({"detail": x["detail"], "refs": x["refs"], "evidence": x["evidence"]}, sort_keys=True, indent=1))
            message = _xml_attr(x["detail"] or x["title"])
            if x["status"] == "pass":
                out.append(head + "/>")
            elif x["status"] == "fail":
                out += [head + ">", "      <failure message=%s type=\"non_compliant\">%s</failure>" % (message, body), "    </testcase>"]
            elif x["status"] == "error":
                out += [head + ">", "      <error message=%s type=\"error\">%s</error>" % (message, body), "    </testcase>"]
            else:
                out += [head + ">", "      <skipped message=%s/>" % _xml_attr("%s: %s" % (x["status"], x["detail"] or x["title"])), "    </testcase>"]
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------- HTML

_CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--error:#8250df;--waived:#9a6700;--skipped:#6e7781;--bg:#f6f8fa;--fg:#1f2328;--line:#d0d7de}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#24292f;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#d0d7de}
main{padding:16px 24px;max-width:1280px;margin:auto}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:0 0 16px}
h2{font-size:16px;margin:0 0 8px}
.sim{background:#fff8c5;border:2px solid #d4a72c;color:#7d4e00;padding:8px 16px;border-radius:8px;margin:0 0 16px;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:110px;background:#fff}
.card b{display:block;font-size:22px}.card span{color:#57606a}
table{border-collapse:collapse;width:100%}table.checks{table-layout:fixed}table.checks col.a{width:9%}table.checks col.c{width:25%}
table.checks col.s{width:8%}table.checks col.d{width:43%}table.checks col.r{width:15%}td{overflow-wrap:anywhere}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600}.st{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.st-pass{background:var(--pass)}.st-fail{background:var(--fail)}.st-error{background:var(--error)}.st-waived{background:var(--waived)}
.st-skipped{background:var(--skipped)}
.filters button{border:1px solid var(--line);background:#fff;border-radius:6px;padding:4px 10px;margin:0 4px 4px 0;cursor:pointer}
.filters button.on{background:#0969da;color:#fff;border-color:#0969da}details{border-top:1px solid var(--line);padding:6px 0}
summary{cursor:pointer;font-weight:600}code,pre{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;word-break:break-all;margin:4px 0 0;max-height:16em;overflow:auto;background:var(--bg);padding:4px 6px;border-radius:4px}
details.ev{border:0;padding:2px 0 0}details.ev summary{font-weight:400;color:#0969da;font-size:12px}
.muted{color:#57606a}.expired{color:var(--fail);font-weight:600}.hidden{display:none}
"""

_JS = """
(function(){
  function apply(status){
    var rows=document.querySelectorAll('tr.check'),shown=0;
    for(var i=0;i<rows.length;i++){var ok=status==='all'||rows[i].getAttribute('data-status')===status;
      rows[i].classList.toggle('hidden',!ok);if(ok){shown++;}}
    var hosts=document.querySelectorAll('details.host');
    for(var j=0;j<hosts.length;j++){var vis=hosts[j].querySelectorAll('tr.check:not(.hidden)').length;
      hosts[j].classList.toggle('hidden',vis===0&&status!=='all');if(status!=='all'&&vis>0){hosts[j].open=true;}}
    var b=document.querySelectorAll('.filters button');
    for(var k=0;k<b.length;k++){b[k].classList.toggle('on',b[k].getAttribute('data-filter')===status);}
    document.getElementById('shown').textContent=String(shown);
    document.body.setAttribute('data-filter',status);
  }
  var b=document.querySelectorAll('.filters button');
  for(var k=0;k<b.length;k++){b[k].addEventListener('click',function(e){var s=e.currentTarget.getAttribute('data-filter');
    history.replaceState(null,'','#status='+s);apply(s);});}
  var m=/status=([a-z]+)/.exec(location.hash);apply(m?m[1]:'all');
})();
"""


def _e(value: t.Any) -> str:
    return _html.escape("" if value is None else str(value), quote=True)


def _badge(status: str) -> str:
    return '<span class="st st-%s">%s</span>' % (_e(status), _e(status))


def html(doc: dict) -> str:
    """One self-contained page (inline CSS and a little JS, no network): every value escaped."""
    s = doc["summary"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
           "<title>%s</title><style>%s</style></head><body>" % (_e(doc["title"]), _CSS)]
    out.append("<header><h1>%s</h1><p>run %s &middot; %s &middot; gowin.server %s &middot; ansible-core %s</p></header><main>" % (
        _e(doc["title"]), _e(doc["run_id"]), _e(doc["generated"]), _e(doc["collection_version"]), _e(doc["ansible_version"])))
    if doc["simulated"]:
        sim = [h["name"] for h in doc["hosts"] if h["modelled"]]
        out.append('<div class="sim" id="simulated">SIMULATED: the evidence of %d host(s) (%s) comes from winsim, the simulated '
                   "Windows host, not from Windows.</div>" % (len(sim), _e(", ".join(sim[:20]) + (" ..." if len(sim) > 20 else ""))))
    out.append('<section><h2>Fleet</h2><div class="cards">')
    out.append('<div class="card" id="count-hosts"><b>%d</b><span>hosts</span></div>' % s["hosts"])
    for st in HOST_STATUSES:
        out.append('<div class="card" id="hosts-%s"><b>%d</b><span>hosts %s</span></div>' % (st, s["hosts_by_status"][st], st))
    out.append("</div><div class=\"cards\" style=\"margin-top:8px\">")
    for st in CHECK_STATUSES:
        out.append('<div class="card" id="checks-%s"><b>%d</b><span>checks %s</span></div>' % (st, s["checks"][st], st))
    out.append("</div></section>")
    out.append("<section><h2>Hosts &times; areas</h2><table id=\"matrix\"><tr><th>host</th><th>status</th>%s</tr>" % "".join(
        "<th>%s</th>" % a for a in AREAS))
    for h in doc["hosts"]:
        cells = "".join('<td data-area="%s">%s <span class="muted">%d/%d</span></td>' % (
            a, _badge(c["status"]), c["passed"], c["checks"]) for a, c in ((a, s["matrix"][h["name"]][a]) for a in AREAS))
        out.append('<tr data-host="%s"><td><a href="#host-%s">%s</a>%s</td><td>%s</td>%s</tr>' % (
            _e(h["name"]), _e(h["name"]), _e(h["name"]), " <span class=\"muted\">(simulated)</span>" if h["modelled"] else "",
            _badge(h["status"]), cells))
    out.append("</table></section>")
    total = sum(s["checks"].values())
    out.append('<section><h2>Checks</h2><div class="filters">')
    for f, label in (("all", "all"), ("fail", "failing"), ("error", "errors"), ("waived", "waived"), ("skipped", "not applicable"),
                     ("pass", "passing")):
        out.append('<button type="button" data-filter="%s">%s</button>' % (f, label))
    out.append('<span class="muted">showing <b id="shown">%d</b> of <b id="total">%d</b> checks</span></div>' % (total, total))
    for h in doc["hosts"]:
        f = h["facts"] or {}
        parts = (f.get("os_caption"), f.get("os_build") and "build %s" % f.get("os_build"), h["toolchain"] and h["toolchain"].get("go_version"))
        about = " &middot; ".join(_e(x) for x in parts if x)
        out.append('<details class="host" id="host-%s"%s><summary>%s %s <span class="muted">%s</span></summary>' % (
            _e(h["name"]), " open" if h["status"] != "pass" else "", _badge(h["status"]), _e(h["name"]), about))
        out.append('<table class="checks"><colgroup><col class="a"><col class="c"><col class="s"><col class="d"><col class="r"></colgroup>'
                   "<tr><th>area</th><th>check</th><th>status</th><th>detail</th><th>references</th></tr>")
        for x in h["checks"]:
            ev = "" if x["evidence"] in (None, {}, []) else '<details class="ev"><summary>evidence</summary><pre>%s</pre></details>' % _e(
                json.dumps(x["evidence"], sort_keys=True, indent=1))
            out.append('<tr class="check" data-status="%s"><td>%s</td><td><code>%s</code><br>%s</td><td>%s</td><td>%s%s</td><td>%s</td></tr>' % (
                _e(x["status"]), _e(x["area"]), _e(x["id"]), _e(x["title"]), _badge(x["status"]), _e(x["detail"] or ""), ev,
                "<br>".join(_e(r) for r in x["refs"])))
        out.append("</table></details>")
    out.append("</section>")
    waivers = [(h["name"], w) for h in doc["hosts"] for w in ((h["baseline"] or {}).get("waivers") or [])]
    out.append("<section><h2>Waivers</h2>")
    if waivers:
        out.append("<table id=\"waivers\"><tr><th>host</th><th>setting</th><th>reason</th><th>approved by</th><th>expires</th></tr>")
        for name, w in waivers:
            out.append("<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td><td%s>%s%s</td></tr>" % (
                _e(name), _e(w.get("id")), _e(w.get("reason")), _e(w.get("approved_by") or ""),
                ' class="expired"' if w.get("expired") else "", _e(w.get("expires")), " (expired: not applied)" if w.get("expired") else ""))
        out.append("</table>")
    else:
        out.append('<p class="muted">No waivers.</p>')
    out.append("</section></main><script>%s</script></body></html>" % _JS)
    return "\n".join(out) + "\n"
