# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for gowin.server.go_env: args -> probe -> plan -> apply -> result."""

from __future__ import annotations

from datetime import datetime, timezone

from ansible_collections.gowin.server.plugins.plugin_utils import _env_plan as ep
from ansible_collections.gowin.server.plugins.plugin_utils import _goenv as ge
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp
from ansible_collections.gowin.server.plugins.plugin_utils._action import GowinAction, ModuleFailure
from ansible_collections.gowin.server.plugins.plugin_utils._channel import Channel, OpError


class ActionModule(GowinAction):
    MODULE = "go_env"

    def execute(self, params: dict, channel: Channel, task_vars: dict) -> dict:
        p = dict(params)
        present = p["state"] == "present"
        # A password in a URL value (GOPROXY, GOSUMDB, extra...) is no_log for the whole task: values are
        # redacted where results, diffs and warnings show them, and every message is scrubbed of it
        # (read from the options as given, before they are validated: the messages of a refused value
        # need it most). The host gets the real value.
        for value in _texts(p):
            self._no_log_values |= ge.url_passwords(value)
        try:
            p["install_root"] = wp.check_absolute("install_root", p["install_root"], strict=True)
            if p.get("session_script") is not None:
                p["session_script"] = wp.check_absolute("session_script", p["session_script"])
            desired, warnings = ep.desired_values(p) if present else ({}, [])
            names = [] if present else ep.named_variables(p)
            explicit_path = None if p.get("path") is None else [ep.check_path_entry(e) for e in p["path"]]
            for option, name in (("gomodcache", "GOMODCACHE"), ("gocache", "GOCACHE")):
                if name in desired:
                    p[option] = desired[name]
        except (ge.GoEnvError, wp.PathError) as err:
            raise ModuleFailure(str(err)) from None

        # A write that finds a value changed since the probe read it fails 'conflict' (another run
        # wrote it): read again and plan again, holding the host lock by then (at most 3 tries).
        base_desired, base_warnings = desired, warnings
        attempt = 0
        first: dict | None = None  # what the first probe saw: the task's "before", whatever the retries find
        while True:
            attempt += 1
            desired, warnings = dict(base_desired), list(base_warnings)
            ops, tags = ep.probe_ops(p)
            obs = ep.observe(tags, channel.run_checked(ops))

            if present and "GOROOT" not in desired:
                goroot = ep.default_goroot(p, obs)
                if goroot:
                    desired["GOROOT"] = goroot
            try:
                if present and "GOPATH" in desired and "GOROOT" in desired:
                    ge.check_gopath_not_in_goroot(desired["GOPATH"], desired["GOROOT"])
                entries = explicit_path if explicit_path is not None else ep.default_path_entries(desired, obs, p["scope"])
                plan = ep.plan(p, obs, desired, names, entries, today=datetime.now(timezone.utc).strftime("%Y-%m-%d"))
            except ge.GoEnvError as err:
                raise ModuleFailure(str(err)) from None

            view = ep.effective(obs, p["scope"], plan.after_scope, (plan.telemetry or {}).get("after"))
            machine_after = plan.after_scope if p["scope"] == "machine" else obs.machine
            user_after = plan.after_scope if p["scope"] == "user" else obs.user
            warnings += ge.conflict_warnings(_data(machine_after), _data(user_after), view["go_env"])

            if first is None:
                first = {"variables": {n: d["before"] for n, d in plan.variables.items()}, "path": plan.path_before,
                         "changes": [], "ran": False}
            else:  # a retry: report the change from what the task first found
                for n, d in plan.variables.items():
                    d["before"] = first["variables"].get(n, d["before"])
                plan.path_before = first["path"]
            changes = list(dict.fromkeys(first["changes"] + plan.changes))
            redact = ge.redact_url
            variables = {n: {k: (redact(v) if isinstance(v, str) else v) for k, v in d.items()} for n, d in plan.variables.items()}
            result = {
                "changed": plan.changed or first["ran"],
                "scope": p["scope"],
                "variables": variables,
                "path": {"before": plan.path_before, "after": plan.path_after, "added": plan.added, "removed": plan.removed},
                "telemetry": plan.telemetry,
                "effective": view,
                "warnings": list(dict.fromkeys(self._scrub(w) for w in warnings)),
                "changes": changes,
                "diff": {
                    "before": _diff_text({n: d["before"] for n, d in variables.items()}, plan.path_before),
                    "after": _diff_text({n: d["after"] for n, d in variables.items()}, plan.path_after),
                    "before_header": "%s environment" % p["scope"],
                    "after_header": "%s environment" % p["scope"],
                },
            }
            if plan.changed and not self.check_mode:
                try:
                    self.run_locked(channel, plan.ops)
                except OpError as err:
                    if err.kind == "conflict" and attempt < 3:
                        # the ops before the refused one were made: they count as this task's changes
                        first["ran"] = first["ran"] or err.index > 0
                        first["changes"] += plan.changes if err.index > 0 else []
                        continue
                    raise
            return result


def _texts(params: dict) -> list[str]:
    """Every string among the options (a list joined as the GOPROXY list is, a dictionary's values)."""
    out = []
    for value in params.values():
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)):
            value = ",".join(v for v in value if isinstance(v, str))
        if isinstance(value, str):
            out.append(value)
    return out


def _data(values: dict) -> dict[str, str]:
    """The Go variables of a scope (a user TEMP hiding the machine TEMP is Windows as usual, not a Go conflict)."""
    return {k: v.get("data") for k, v in values.items()
            if isinstance(v, dict) and isinstance(v.get("data"), str) and k.upper().startswith(("GO", "CGO_"))}


def _diff_text(variables: dict, path: list[str]) -> str:
    lines = ["%s=%s" % (name, "" if value is None else value) for name, value in sorted(variables.items()) if value is not None]
    lines.append("Path:")
    lines += ["  " + entry for entry in path]
    return "\n".join(lines) + "\n"
