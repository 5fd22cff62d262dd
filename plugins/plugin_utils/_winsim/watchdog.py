# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'watchdog' (plugins/plugin_utils/_agent/watchdog.ps1): watchdog.tick,
one tick of a service's hang watchdog, and the test API ``tick(minutes)`` that advances modelled time and
runs what the host's scheduled tasks would run: a task whose program is powershell.exe and whose arguments
name the collection's launcher (byte for byte the shipped plugins/plugin_utils/_watchdog/watchdog.ps1, a UTF-8
byte order mark aside, next to an agent.ps1) and a settings file. When a tick ends a service's process, the SCM's recovery actions are
modelled at once (the delay is not waited): the n-th failure takes the n-th action (the last one repeats);
``restart`` starts the service again. Events the watchdog writes are kept in state["events"] (``events()``).
Vectors: tests/contract/vectors/watchdog.yml.
"""

from __future__ import annotations

import datetime
import json
import os
import re

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import OPS, Args, JsonDict, OpFailure, _op, parse_path

EVENT_ID = 7001
SETTINGS_LIMIT = 65536
SETTINGS_FIELDS = ("version", "service", "health", "failure_threshold", "event_source")
HEALTH_FIELDS = ("http", "tcp", "command", "timeout_s")
TERMINATED = 1  # the exit code taskkill /F leaves (TerminateProcess with 1)
LAUNCHER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_watchdog", "watchdog.ps1")
_ARGUMENTS = re.compile(r'-File "(?P<launcher>[^"]+)" -Settings "(?P<settings>[^"]+)"$')


def _unmarked(data: bytes) -> bytes:
    """The bytes without a UTF-8 byte order mark (win_service_go writes the launcher with one, for PowerShell 5.1)."""
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class WatchdogOps:
    """The watchdog ops of WinSimHost (a mixin over host.HostBase, service, health, eventlog and task)."""

    def _small_file(self, path: str) -> bytes | None:
        try:
            node = self.resolve(parse_path(path, "path"))
        except OpFailure:
            return None
        if node.kind != "file":
            return None
        with open(node.real, "rb") as handle:
            return handle.read()

    def _put_small(self, path: str, data: bytes, what: str) -> None:
        node = self.resolve(parse_path(path, "path"))
        self._mkdirs(os.path.dirname(self._writable(node, what)))
        self._write_stream(node, [data], what)

    def _watchdog_settings(self, path: str) -> JsonDict:
        def bad(message: str) -> OpFailure:
            return OpFailure("bad_args", "watchdog settings %s: %s" % (path, message))

        if not path.lower().endswith(".json"):
            raise OpFailure("bad_args", "watchdog.tick: argument 'settings' must be the path of a .json file")
        data = self._small_file(path)
        if data is None:
            raise OpFailure("not_found", "watchdog settings %s do not exist" % path)
        if len(data) > SETTINGS_LIMIT:
            raise bad("larger than %d bytes" % SETTINGS_LIMIT)
        try:
            doc = json.loads(data.decode("utf-8").lstrip("\ufeff"))
        except (UnicodeDecodeError, ValueError):
            raise bad("not valid JSON") from None
        if not isinstance(doc, dict):
            raise bad("must be a JSON object")
        for key in doc:
            if key not in SETTINGS_FIELDS:
                raise bad("unknown field '%s' (%s)" % (key, ", ".join(SETTINGS_FIELDS)))
        if not _is_int(doc.get("version")) or doc["version"] != 1:
            raise bad("field 'version' must be 1")
        service = doc.get("service")
        if not isinstance(service, str) or not service or len(service) > 256 or "\\" in service or "/" in service:
            raise bad("field 'service' must be a service name (at most 256 characters, no '\\' or '/')")
        threshold = doc.get("failure_threshold")
        if not _is_int(threshold) or not 1 <= threshold <= 100:
            raise bad("field 'failure_threshold' must be an integer from 1 to 100")
        source = doc.get("event_source")
        if source is not None and (not isinstance(source, str) or not source or len(source) > 211):
            raise bad("field 'event_source' must be an event source name or null")
        health = doc.get("health")
        if not isinstance(health, dict):
            raise bad("field 'health' must be an object (one of http, tcp, command, and timeout_s)")
        for key in health:
            if key not in HEALTH_FIELDS:
                raise bad("field 'health' does not accept '%s' (%s)" % (key, ", ".join(HEALTH_FIELDS)))
        return {"service": service, "health": health, "failure_threshold": threshold, "event_source": source}

    def _watchdog_failures(self, path: str) -> int:
        data = self._small_file(path)
        try:
            doc = json.loads(data.decode("utf-8")) if data is not None else {}
        except (UnicodeDecodeError, ValueError):
            return 0
        failures = doc.get("failures") if isinstance(doc, dict) else None
        return failures if _is_int(failures) and failures >= 0 else 0

    def _watchdog_state(self, path: str, failures: int, action: str) -> None:
        at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = json.dumps({"failures": failures, "action": action, "at": at}, separators=(",", ":"))
        self._put_small(path, line.encode("ascii"), "watchdog.tick")

    def _recover(self, name: str) -> None:
        """What the SCM does when a service's process ends without a stop: its recovery action for this failure."""
        info = self._service_info(name)
        record = self._run_record(name)
        record["failures"] = int(record.get("failures", 0)) + 1
        actions = info["recovery"]["actions"]
        if not actions:
            return
        action = actions[min(record["failures"], len(actions)) - 1]
        if action["type"] == "restart":
            try:
                self._start("scm recovery", info, ())
            except OpFailure:
                pass

    def _watchdog_tick(self, settings_path: str) -> JsonDict:
        settings = self._watchdog_settings(settings_path)
        state_path = settings_path[:-5] + ".state.json"
        result: JsonDict = {"action": None, "service": settings["service"], "failures": 0,
                            "failure_threshold": settings["failure_threshold"], "health": None, "ended_pid": None,
                            "event_written": False, "state_file": state_path}
        info = self._service_info(settings["service"])
        if not info["exists"]:
            result["action"] = "missing"
            return result
        result["service"] = info["name"]
        if info["state"] != "running":
            result["action"] = "skipped"
            self._watchdog_state(state_path, 0, "skipped")
            return result
        probe_args = dict({"service": info["name"], "startup_timeout_s": 1, "period_s": 2, "success_threshold": 1,
                           "failure_threshold": 1}, **settings["health"])
        handler, accepted = OPS["health.probe"]
        try:
            health = handler(self, Args("health.probe", probe_args, accepted, self._long_paths()))
        except OpFailure as failure:
            if failure.kind == "bad_args":
                raise OpFailure("bad_args", "watchdog settings %s: field 'health': %s" % (settings_path, failure.message)) from None
            raise
        result["health"] = health
        if health["healthy"]:
            result["action"] = "healthy"
            self._watchdog_state(state_path, 0, "healthy")
            return result
        failures = self._watchdog_failures(state_path) + 1
        result["failures"] = failures
        if failures < settings["failure_threshold"]:
            result["action"] = "failed"
            self._watchdog_state(state_path, failures, "failed")
            return result
        if info["pid"] is None or not info["own_process"]:
            result["action"] = "cannot_end"
            self._watchdog_state(state_path, failures, "cannot_end")
            return result
        result["action"], result["ended_pid"] = "ended", info["pid"]
        self._stopped(info["name"], TERMINATED)
        self._recover(info["name"])
        if settings["event_source"] is not None:
            found = self._find_source(settings["event_source"])
            if found is not None:
                message = ("gowin watchdog: the service %s (process %s) failed %d health checks in a row (%s); its process tree "
                           "was ended for its recovery actions to restart it." % (info["name"], info["pid"], failures, health["reason"]))
                self._state.setdefault("events", []).append({"log": found["log"], "source": found["source"], "type": "warning",
                                                             "id": EVENT_ID, "message": message})
                result["event_written"] = True
        self._watchdog_state(state_path, 0, "ended")
        return result

    @_op("watchdog.tick", "settings")
    def _watchdog_tick_op(self, a: Args) -> JsonDict:
        return self._watchdog_tick(str(a.path("settings")))

    # ---- test API -----------------------------------------------------------------------------

    def tick(self, minutes: int = 1) -> list[JsonDict]:
        """Modelled time moves on by whole minutes; each scheduled task due in a minute runs what it would run.
        Returns, per run, {"task", "settings", "ok", "data" | "error"} (the launcher's <settings>.last.json too)."""
        with open(LAUNCHER, "rb") as handle:
            launcher = handle.read()
        runs: list[JsonDict] = []
        with self._transaction():
            for _minute in range(int(minutes)):
                self._advance(60000)
                clock = int(self._state.get("task_clock_min", 0)) + 1
                self._state["task_clock_min"] = clock
                for key in sorted(self._state.get("tasks") or {}):
                    task = self._state["tasks"][key]
                    if not task["enabled"] or clock % int(task["interval_min"]) != 0:
                        continue
                    if not task["execute"].lower().endswith("\\windowspowershell\\v1.0\\powershell.exe"):
                        continue
                    match = _ARGUMENTS.search(task["arguments"] or "")
                    if match is None:
                        continue
                    folder = match.group("launcher").rsplit("\\", 1)[0]
                    found = self._small_file(match.group("launcher"))
                    if found is None or _unmarked(found) != _unmarked(launcher) or self._small_file(folder + "\\agent.ps1") is None:
                        runs.append({"task": task["path"], "settings": match.group("settings"), "ok": False,
                                     "error": {"kind": "not_found", "message": "the launcher or the agent is not the collection's"}})
                        continue
                    settings = match.group("settings")
                    try:
                        run: JsonDict = {"ok": True, "data": self._watchdog_tick(settings)}
                    except OpFailure as failure:
                        run = {"ok": False, "error": {"kind": failure.kind, "message": failure.message}}
                    if settings.lower().endswith(".json"):
                        answer = {"v": 1, "agent": "watchdog", "results": [run]}
                        self._put_small(settings[:-5] + ".last.json", json.dumps(answer).encode("ascii"), "watchdog")
                    runs.append(dict({"task": task["path"], "settings": settings}, **run))
        return runs

    def events(self) -> list[JsonDict]:
        """The events written on this host (by the watchdog), oldest first."""
        with self._transaction():
            return [dict(e) for e in self._state.get("events") or []]
