# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'deploy' (plugins/plugin_utils/_agent/deploy.ps1): deploy.update,
the service update that finishes on the host (switch, stop, start, probe; on failure switch back, start,
probe), built from the twins of service.set/stop/start, firewall.set/remove and health.probe, with the
journal under HKLM\\SOFTWARE\\GoWin\\Journal\\<name> (written with the journal twin's helper). The fault
``{"fault": "kill_agent", "op": "deploy.update", "after_stage": S}`` ends the agent's process right after
stage S was journaled: the effects so far stay, the connection fails (docs/winsim.md). Vectors:
tests/contract/vectors/deploy.yml.
"""

from __future__ import annotations

import datetime
import re
import typing as t

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import OPS, AgentKilled, Args, JsonDict, OpFailure, _op, hide_secrets, request_secrets
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.health import _spec
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.service import _name

STAGES = ("begin", "switched", "stopped", "started", "probed", "rolling_back", "stopped_back", "switched_back", "started_back", "done")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mapping(a: Args, arg: str, name: str, key: str, required: bool = False) -> JsonDict | None:
    value = a.raw.get(arg)
    if value is None:
        if required:
            a.fail(arg, "is required")
        return None
    if not isinstance(value, dict):
        a.fail(arg, "must be a mapping")
    copy = dict(value)
    if key in copy and copy[key] != name:
        a.fail(arg, "must be about the service '%s'" % name)
    copy.setdefault(key, name)
    return copy


class DeployOps:
    """The deploy ops of WinSimHost (a mixin over the service, firewall and health twins)."""

    def _run_twin(self, op: str, args: JsonDict) -> JsonDict:
        handler, accepted = OPS[op]
        return handler(self, Args(op, args, accepted, self._long_paths()))

    def _step(self, step: t.Callable[[], t.Any], secrets: list[str]) -> tuple[bool, t.Any, JsonDict | None]:
        """Run one stage; its failure is reported with every secret of the request masked (the agent's Invoke-DeployStage)."""
        try:
            return True, step(), None
        except OpFailure as failure:
            return False, None, {"kind": failure.kind, "message": hide_secrets(failure.message, secrets)}

    def _killed_after(self, stage: str) -> None:
        fault = self._take_fault(lambda f: f["fault"] == "kill_agent" and f.get("op", "deploy.update") == "deploy.update"
                                 and f["after_stage"] == stage)
        if fault is not None:
            raise AgentKilled("deploy.update: the agent's process ended after the stage %s (kill_agent fault)" % stage)

    @_op("deploy.update", "name", "id", "set", "back", "firewall", "firewall_back", "stop_timeout_s", "start_timeout_s", "health", "rollback",
         "start_back")
    def _deploy_update(self, a: Args) -> JsonDict:
        name = _name(a)
        job = a.need_text("id")
        if not re.fullmatch(r"[0-9a-f]{16,64}", job):
            a.fail("id", "must be 16 to 64 lower-case hex digits")
        forward = _mapping(a, "set", name, "name", required=True)
        back = _mapping(a, "back", name, "name", required=True)
        for arg, value in (("set", forward), ("back", back)):
            if not value.get("image_path"):
                a.fail(arg, "must hold image_path")
            if "create" in value:
                a.fail(arg, "must not hold create: deploy.update changes a service that exists")
        extra = sorted(set(back) - {"name", "image_path"})
        if extra:
            a.fail("back", "holds only image_path (got '%s')" % extra[0])
        firewall = a.raw.get("firewall")
        firewall_back = a.raw.get("firewall_back")
        for arg, value in (("firewall", firewall), ("firewall_back", firewall_back)):
            if value is not None and not isinstance(value, dict):
                a.fail(arg, "must be a mapping")
        if firewall_back is not None and firewall is None:
            a.fail("firewall_back", "needs 'firewall'")
        stop_timeout = a.number("stop_timeout_s", 30, 1, 3600)
        start_timeout = a.number("start_timeout_s", 30, 1, 3600)
        health = a.raw.get("health")
        if health is not None:
            if not isinstance(health, dict):
                a.fail("health", "must be a mapping")
            if "service" in health:
                a.fail("health", "must not name a service: it probes this one")
            self._check_probe(health)
        rollback = a.flag("rollback", True)
        info = self._existing("deploy.update", name)
        name = info["name"]
        was_running = info["state"] == "running"
        start_back = a.flag("start_back", was_running)
        secrets = request_secrets(a.raw)
        clock = 0
        stages: list[JsonDict] = []
        self._journal(name, Id=job, Stage="begin", Outcome="", From=info["image_path"] or "", To=forward["image_path"], Started=_now(),
                      Finished="", Detail="")
        self._killed_after("begin")
        result: JsonDict = {"outcome": None, "changed": True, "journal_id": job, "stages": None, "stopped_by": None, "health": None,
                            "rollback_health": None, "error": None, "rollback_error": None, "state": None, "pid": None,
                            "modelled": True, "modelled_from": "the twins of service.set/stop/start, firewall.set and health.probe"}

        def switch() -> None:
            self._run_twin("service.set", forward)
            if firewall is not None:
                self._run_twin("firewall.set", firewall)

        def stop() -> t.Any:
            return self._run_twin("service.stop", {"name": name, "timeout_s": stop_timeout})["stopped_by"] if was_running else None

        def start() -> None:
            self._run_twin("service.start", {"name": name, "timeout_s": start_timeout})

        failed = None
        for stage, step in (("switched", switch), ("stopped", stop), ("started", start)):
            good, data, error = self._step(step, secrets)
            stages.append({"stage": stage, "at_ms": clock, "ok": good, "error": error})
            if not good:
                failed = error
                break
            if stage == "stopped":
                result["stopped_by"] = data
            self._journal(name, Stage=stage)
            self._killed_after(stage)
        if failed is None and health is not None:
            good, found, error = self._probe(name, health, secrets)
            result["health"] = found
            clock += (found or {}).get("elapsed_ms", 0)
            stages.append({"stage": "probed", "at_ms": clock, "ok": good, "error": error})
            self._journal(name, Stage="probed")
            self._killed_after("probed")
            if not good:
                failed = error
        if failed is None:
            result["outcome"] = "updated"
        elif not rollback:
            result["outcome"], result["error"] = "failed", failed
        else:
            result["error"] = failed
            self._journal(name, Stage="rolling_back", Detail="%s: %s" % (failed["kind"], failed["message"]))
            self._killed_after("rolling_back")

            def stop_back() -> None:
                if self._service_info(name)["state"] != "stopped":
                    self._run_twin("service.stop", {"name": name, "timeout_s": stop_timeout})

            def switch_back() -> None:
                self._run_twin("service.set", back)
                if firewall_back is not None:
                    self._run_twin("firewall.set", firewall_back)
                elif firewall is not None:
                    self._run_twin("firewall.remove", {"name": firewall.get("name")})

            def start_previous() -> None:
                if start_back:
                    start()

            back_failed = None
            for stage, step in (("stopped_back", stop_back), ("switched_back", switch_back), ("started_back", start_previous)):
                good, _data, error = self._step(step, secrets)
                stages.append({"stage": stage, "at_ms": clock, "ok": good, "error": error})
                if not good:
                    back_failed = error
                    break
                self._journal(name, Stage=stage)
                self._killed_after(stage)
            if back_failed is None and start_back and health is not None:
                good, found, error = self._probe(name, health, secrets)
                result["rollback_health"] = found
                clock += (found or {}).get("elapsed_ms", 0)
                stages.append({"stage": "probed_back", "at_ms": clock, "ok": good, "error": error})
                if not good:
                    back_failed = error
            if back_failed is None:
                result["outcome"] = "rolled_back"
            else:
                result["outcome"], result["rollback_error"] = "rollback_failed", back_failed
        detail = "%s: %s" % (result["error"]["kind"], result["error"]["message"]) if result["error"] else ""
        self._journal(name, Stage="done", Outcome=result["outcome"], Finished=_now(), Detail=detail)
        after = self._service_info(name)
        result["state"], result["pid"], result["stages"] = after["state"], after["pid"], stages
        return result

    def _check_probe(self, health: JsonDict) -> None:
        """health.probe's own argument checks, run before anything changes (bad_args as that op says)."""
        checked = Args("health.probe", health, OPS["health.probe"][1], self._long_paths())
        _spec(checked)
        for arg in ("startup_timeout_s", "period_s", "timeout_s"):
            checked.number(arg, 1, 1, 3600)
        for arg in ("success_threshold", "failure_threshold"):
            checked.number(arg, 1, 1, 100)

    def _probe(self, name: str, health: JsonDict, secrets: list[str]) -> tuple[bool, JsonDict | None, JsonDict | None]:
        good, found, error = self._step(lambda: self._run_twin("health.probe", dict(health, service=name)), secrets)
        if good and not found["healthy"]:
            return False, found, {"kind": "unhealthy", "message": found["reason"]}
        return good, found, error
