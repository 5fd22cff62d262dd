# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for gowin.server.fleet_report: the fleet report from the hosts' validate evidence, on the controller.

An action plugin rather than a callback: the report is a step the playbook asks for (where, which hosts, which
formats; check mode; its result registered and shown), it reads the evidence as host variables that the role
gowin.server.validate set from structured module results, and it runs the same under ansible-playbook,
ansible-runner, Automation Controller and AWX without enabling a callback in their configuration."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import tempfile
import typing as t

import yaml
from ansible import __version__ as ansible_version
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.gowin.server.plugins.plugin_utils import _report as rp
from ansible_collections.gowin.server.plugins.plugin_utils._action import spec_from_documentation
from ansible_collections.gowin.server.plugins.plugin_utils._jsonschema import Validator

_RUN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_FILES = {"json": "report.json", "junit": "report.junit.xml", "html": "report.html"}
_COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_version() -> str:
    """The version of this collection: MANIFEST.json when installed, galaxy.yml in a source tree."""
    try:
        with open(os.path.join(_COLLECTION_ROOT, "MANIFEST.json"), encoding="utf-8") as f:
            return str(json.load(f)["collection_info"]["version"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(_COLLECTION_ROOT, "galaxy.yml"), encoding="utf-8") as f:
            return str(yaml.safe_load(f)["version"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "unknown"


def write_atomic(path: str, text: str) -> None:
    """Write text to path through a temporary file in the same folder, renamed over it."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: t.Any = None, task_vars: dict | None = None) -> dict:
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        try:
            result.update(self._report(task_vars))
        except (rp.ReportError, OSError) as err:
            result.update(failed=True, msg=str(err))
        return result

    def _params(self) -> dict:
        from ansible_collections.gowin.server.plugins.modules import fleet_report as doc  # pylint: disable=import-outside-toplevel

        outcome = ArgumentSpecValidator(spec_from_documentation(doc.DOCUMENTATION)).validate(dict(self._task.args))
        if outcome.error_messages:
            raise rp.ReportError("; ".join(str(e) for e in outcome.errors.errors))
        p = outcome.validated_parameters
        if p["run_id"] and not _RUN_ID.fullmatch(p["run_id"]):
            raise rp.ReportError("run_id must be 1 to 64 letters, digits, '.', '_' or '-', got %r" % p["run_id"][:80])
        if not p["title"].strip() or len(p["title"]) > 200 or any(c in p["title"] for c in "\r\n"):
            raise rp.ReportError("title must be one line of 1 to 200 characters")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p["evidence_var"]):
            raise rp.ReportError("evidence_var must be a variable name (letters, digits, '_'), got %r" % p["evidence_var"][:80])
        if not p["formats"]:
            raise rp.ReportError("formats must name at least one of json, junit, html")
        return p

    def _report(self, task_vars: dict) -> dict:
        p = self._params()
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        run_id = p["run_id"] or now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
        hosts = list(p["hosts"] or task_vars.get("ansible_play_hosts_all") or [])
        hostvars = task_vars.get("hostvars") or {}
        seen, entries = set(), []
        for name in hosts:
            if not isinstance(name, str) or name in seen:
                continue
            seen.add(name)
            if name not in hostvars:
                raise rp.ReportError("hosts: %r is not a host of the inventory" % name[:200])
            hv = hostvars[name]
            evidence = hv[p["evidence_var"]] if p["evidence_var"] in hv else None
            connection = hv["ansible_connection"] if "ansible_connection" in hv else None
            entries.append((name, evidence, str(connection) if connection is not None else None))
        doc = rp.build(entries, run_id, now.isoformat().replace("+00:00", "Z"), p["title"], collection_version(), ansible_version)
        with open(rp.SCHEMA_PATH, encoding="utf-8") as f:
            problems = Validator(json.load(f)).errors(json.loads(json.dumps(doc)))
        if problems:  # pragma: no cover - the builder and the schema are held together by the unit tests
            shown = ["%s: %s" % ("/".join(map(str, path)), msg) for path, msg in problems[:5]]
            raise rp.ReportError("the report does not match its schema: %s" % "; ".join(shown))
        dest = os.path.abspath(os.path.expanduser(p["dest"] or os.path.join("gowin-reports", run_id)))
        files = {fmt: os.path.join(dest, _FILES[fmt]) for fmt in p["formats"]}
        if not self._task.check_mode:
            os.makedirs(dest, exist_ok=True)
            render = {"json": lambda d: json.dumps(d, indent=2, sort_keys=True) + "\n", "junit": rp.junit, "html": rp.html}
            for fmt, path in files.items():
                write_atomic(path, render[fmt](doc))
        # changed is false: the report is what the run found, not a state of any host (a second run of a site that
        # changes nothing is reported with changed=0 everywhere, its idempotence check included)
        return {"changed": False, "run_id": run_id, "dest": dest, "files": files,
                "summary": doc["summary"], "simulated": doc["simulated"]}
