# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'health' (plugins/plugin_utils/_agent/health.ps1): health.probe,
on the agent's schedule, in modelled time (nothing waits). Who answers comes from the SCM model: a
running service whose binary declares ``"listen": "host:port"`` in its behaviour marker (docs/winsim.md)
answers on that port, as its marker says (``health_status``, ``health_body``, ``ready_after_s``, ``hang``,
``hang_after_s``, ``crash_after_s``). A running service's uptime is kept in its run record and moves only while a probe
runs (or a test calls ``advance``); a service that reaches its ``crash_after_s`` is stopped with exit
code 1067, as a crash leaves it. A ``command`` probe runs nothing: a program that exists answers with
the ``exit_code`` (default 0) and ``output`` of its behaviour marker. Vectors: tests/contract/vectors/health.yml.
"""

from __future__ import annotations

import re
import urllib.parse

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, OpFailure, _op, parse_path
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.service import PROCESS_ABORTED, behaviour_of

KEPT_PROBES = 10
EXCERPT = 200
REFUSED = "No connection could be made because the target machine actively refused it"
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
ANY_ADDRESSES = ("", "0.0.0.0", "::", "[::]")


def _excerpt(text: str | None) -> str | None:
    return None if text is None else text[:EXCERPT]


def _spec(a: Args) -> JsonDict:
    given = [k for k in ("http", "tcp", "command") if a.given(k)]
    if len(given) != 1:
        raise OpFailure("bad_args", "health.probe: exactly one of the arguments 'http', 'tcp', 'command' is required")
    kind = given[0]
    raw = a.raw[kind]
    if kind == "command":
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw) or not raw[0]:
            a.fail("command", "must be a list of strings starting with the program")
        if any("\0" in x for x in raw):
            a.fail("command", "must not hold NUL characters")
        return {"kind": "command", "target": raw[0], "argv": list(raw)}
    if not isinstance(raw, dict):
        a.fail(kind, "must be a mapping")
    sub = Args("health.probe", raw, ("host", "port") if kind == "tcp" else ("url", "expect_status", "body_regex", "validate_certs"), True)
    if kind == "tcp":
        host = sub.need_text("host")
        port = sub.optional_number("port", 1, 65535)
        if port is None:
            sub.fail("port", "is required")
        return {"kind": "tcp", "target": "%s:%d" % (host, port), "host": host, "port": port}
    url = sub.need_text("url")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        a.fail("http.url", "must be an http or https URL, got %s" % url)
    if parsed.username is not None or parsed.password is not None:
        a.fail("http.url", "must not hold a user name or password")
    pattern = sub.text("body_regex", empty=True)
    regex = None
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            a.fail("http.body_regex", "is not a regular expression: %s" % exc)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    path = parsed.path or "/"
    return {"kind": "http", "target": urllib.parse.urlunsplit((parsed.scheme, parsed.netloc.lower(), path, parsed.query, "")),
            "host": parsed.hostname, "port": port, "path": path, "regex": regex,
            "expect_status": sub.number("expect_status", 200, 100, 599), "validate_certs": sub.flag("validate_certs", True)}


class HealthOps:
    """The health ops of WinSimHost (a mixin over host.HostBase and service.ServiceOps)."""

    def _local_name(self, host: str) -> bool:
        lower = host.lower().strip("[]")
        return lower in ("localhost", "::1") or lower.startswith("127.") or lower == self.name.lower()

    def _listeners(self) -> list[tuple[str, JsonDict]]:
        """(service name, its run record) of each running service whose binary listens."""
        found = []
        for name, record in sorted((self._state.get("services") or {}).items()):
            behaviour = record.get("behaviour") or {}
            if record.get("state") == "running" and isinstance(behaviour.get("listen"), str):
                found.append((name, record))
        return found

    def _advance(self, ms: int) -> None:
        """Modelled time passes for every running service; one that reaches its crash_after_s crashes."""
        for name, record in list((self._state.get("services") or {}).items()):
            if record.get("state") != "running":
                continue
            record["uptime_ms"] = int(record.get("uptime_ms", 10 ** 9)) + ms
            crash = (record.get("behaviour") or {}).get("crash_after_s")
            if isinstance(crash, int) and crash > 0 and record["uptime_ms"] >= crash * 1000:
                self._stopped(name, PROCESS_ABORTED)

    def _answer(self, spec: JsonDict, timeout_ms: int) -> tuple[JsonDict, int]:
        """One probe at the current modelled time: (its result, how long it took in ms)."""
        if spec["kind"] == "command":
            return self._answer_command(spec)
        probe: JsonDict = {"ok": False, "status": None, "body": None, "error": None} if spec["kind"] == "http" else {"ok": False, "error": None}
        if not self._local_name(spec["host"]):
            probe["error"] = ("NameResolutionFailure: " if spec["kind"] == "http" else "") + \
                "winsim models only the listeners of this host (%s), not %s" % (self.name, spec["host"])
            return probe, 0
        record = None
        for _name, candidate in self._listeners():
            host, _sep, port = candidate["behaviour"]["listen"].rpartition(":")
            if port.isdigit() and int(port) == spec["port"] and (host.lower() in ANY_ADDRESSES or self._local_name(host)):
                record = candidate
                break
        behaviour = (record or {}).get("behaviour") or {}
        ready = int(behaviour.get("ready_after_s") or 0) * 1000
        if record is None or int(record.get("uptime_ms", 10 ** 9)) < ready:
            probe["error"] = ("ConnectFailure: Unable to connect to the remote server" if spec["kind"] == "http" else REFUSED)
            return probe, 0
        if spec["kind"] == "tcp":
            probe["ok"] = True
            return probe, 0
        hang_after = behaviour.get("hang_after_s")
        if behaviour.get("hang") or (isinstance(hang_after, int) and hang_after > 0
                                     and int(record.get("uptime_ms", 10 ** 9)) >= hang_after * 1000):
            probe["error"] = "no answer within %d s" % (timeout_ms // 1000)
            return probe, timeout_ms
        status = behaviour.get("health_status") or 200
        body = behaviour.get("health_body")
        body = "ok" if not isinstance(body, str) else body
        if spec["path"] != "/healthz":
            status, body = 404, "404 page not found\n"
        probe["status"], probe["body"] = status, _excerpt(body)
        if status != spec["expect_status"]:
            probe["error"] = "HTTP %d, expected %d" % (status, spec["expect_status"])
        elif spec["regex"] is not None and not spec["regex"].search(body):
            probe["error"] = "the body does not match body_regex"
        else:
            probe["ok"] = True
        return probe, 0

    def _answer_command(self, spec: JsonDict) -> tuple[JsonDict, int]:
        probe: JsonDict = {"ok": False, "exit_code": None, "output": None, "error": None}
        node = None
        try:
            node = self.resolve(parse_path(spec["argv"][0], "command"))
        except OpFailure:
            node = None
        if node is None or node.kind != "file":
            probe["error"] = "cannot start %s: The system cannot find the file specified" % spec["argv"][0]
            return probe, 0
        with open(node.real, "rb") as handle:
            behaviour = behaviour_of(handle.read())
        code = behaviour.get("exit_code", 0)
        probe["exit_code"] = code if isinstance(code, int) else 1
        output = behaviour.get("output")
        probe["output"] = _excerpt(output.strip()) if isinstance(output, str) else ""
        if probe["exit_code"] != 0:
            probe["error"] = "exit code %d" % probe["exit_code"]
        else:
            probe["ok"] = True
        return probe, 0

    @_op("health.probe", "http", "tcp", "command", "service", "startup_timeout_s", "period_s", "timeout_s", "success_threshold",
         "failure_threshold")
    def _health_probe(self, a: Args) -> JsonDict:
        spec = _spec(a)
        service = None
        if a.given("service"):
            name = a.need_text("service")
            if len(name) > 256 or "\\" in name or "/" in name:
                a.fail("service", "must be a service name (at most 256 characters, no '\\' or '/')")
            service = self._existing("health.probe", name)["name"]
        startup_ms = a.number("startup_timeout_s", 60, 1, 3600) * 1000
        period_ms = a.number("period_s", 2, 1, 3600) * 1000
        timeout_ms = a.number("timeout_s", 5, 1, 3600) * 1000
        successes = a.number("success_threshold", 1, 1, 100)
        failures = a.number("failure_threshold", 3, 1, 100)
        now = 0
        kept: list[JsonDict] = []
        count = ok_run = bad_run = 0
        answered = healthy = False
        reason = None
        facts = None
        while True:
            due = max(count * period_ms, now)
            if count and due > startup_ms:
                reason = ("it passed %d of the %d probes in a row needed within startup_timeout_s (%d s)" % (ok_run, successes, startup_ms // 1000)
                          if answered else "no probe passed within startup_timeout_s (%d s)" % (startup_ms // 1000))
                break
            if due > now:
                self._advance(due - now)
                now = due
            if service is not None:
                info = self._service_info(service)
                if not info["exists"]:
                    facts, reason = {"state": "missing", "exit_code": None}, "the service %s is gone (it was deleted)" % service
                    break
                if info["state"] in ("stopped", "stop_pending"):
                    facts = {"state": info["state"], "exit_code": info["exit_code"]}
                    reason = "the service %s is %s (exit code %s)" % (service, info["state"], info["exit_code"])
                    break
            probe, took = self._answer(spec, timeout_ms)
            count += 1
            kept.append(dict({"n": count, "at_ms": now, "duration_ms": took}, **probe))
            kept = kept[-KEPT_PROBES:]
            if took:
                self._advance(took)
                now += took
            if probe["ok"]:
                answered = True
                ok_run += 1
                bad_run = 0
                if ok_run >= successes:
                    healthy, reason = True, "passed %d probe(s) in a row" % ok_run
                    break
            else:
                ok_run = 0
                bad_run += 1
                if answered and bad_run >= failures:
                    reason = "failed %d probes in a row after it had answered" % bad_run
                    break
        return {"healthy": healthy, "reason": reason, "kind": spec["kind"], "target": spec["target"], "probe_count": count,
                "probes": kept, "elapsed_ms": now, "service": facts, "modelled": True,
                "modelled_from": "the behaviour markers of this host's running services, in modelled time (nothing waited)"}

    # ---- test API -----------------------------------------------------------------------------

    def advance(self, seconds: int) -> None:
        """Modelled time passes on this host: running services age (and crash when their marker says so)."""
        with self._transaction():
            self._advance(int(seconds * 1000))
