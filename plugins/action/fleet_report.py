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

from ansible_collections.gowin.server.plugins.plugin_utils import _report as rp
from ansible_collections.gowin.server.plugins.plugin_utils._action import GowinAction, ModuleFailure
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


def dest_problem(dest: str, files: t.Iterable[str]) -> str | None:
    """What keeps the report from being written to the folder dest (checked before anything is written), or None."""
    if os.path.lexists(dest) and not os.path.isdir(dest):
        return "%s exists and is not a folder" % dest
    existing = dest
    while not os.path.lexists(existing):  # the nearest that exists: dest itself, or the folder it is created in
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if existing != dest and not os.path.isdir(existing):
        return "%s cannot be created: %s is not a folder" % (dest, existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == dest:
            return "%s is not writable by this user" % dest
        return "%s cannot be created: %s is not writable by this user" % (dest, existing)
    for path in files:
        if os.path.isdir(path):
            return "%s holds a folder named %s, where the report file goes" % (dest, os.path.basename(path))
    return None


class ActionModule(GowinAction):
    MODULE = "fleet_report"
    USES_CHANNEL = False
    _requires_connection = False

    def execute(self, params: dict, channel: None, task_vars: dict) -> dict:
        del channel  # a controller-only module: USES_CHANNEL is False
        try:
            return self._report(self._checked(params), task_vars)
        except OSError as err:  # the shipped report schema cannot be read: no traceback reaches the user
            raise ModuleFailure("the report could not be built: %s" % err) from None

    @staticmethod
    def _checked(p: dict) -> dict:
        if p["run_id"] and not _RUN_ID.fullmatch(p["run_id"]):
            raise ModuleFailure("run_id must be 1 to 64 letters, digits, '.', '_' or '-', got %r" % p["run_id"][:80])
        if not p["title"].strip() or len(p["title"]) > 200 or any(c in p["title"] for c in "\r\n"):
            raise ModuleFailure("title must be one line of 1 to 200 characters")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p["evidence_var"]):
            raise ModuleFailure("evidence_var must be a variable name (letters, digits, '_'), got %r" % p["evidence_var"][:80])
        if not p["formats"]:
            raise ModuleFailure("formats must name at least one of json, junit, html")
        return p

    def _report(self, p: dict, task_vars: dict) -> dict:
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
                raise ModuleFailure("hosts: %r is not a host of the inventory" % name[:200])
            hv = hostvars[name]
            evidence = hv[p["evidence_var"]] if p["evidence_var"] in hv else None
            connection = hv["ansible_connection"] if "ansible_connection" in hv else None
            entries.append((name, evidence, str(connection) if connection is not None else None))
        doc = rp.build(entries, run_id, now.isoformat().replace("+00:00", "Z"), p["title"], collection_version(), ansible_version)
        with open(rp.SCHEMA_PATH, encoding="utf-8") as f:
            problems = Validator(json.load(f)).errors(json.loads(json.dumps(doc)))
        if problems:  # pragma: no cover - the builder and the schema are held together by the unit tests
            shown = ["%s: %s" % ("/".join(map(str, path)), msg) for path, msg in problems[:5]]
            raise ModuleFailure("the report does not match its schema: %s" % "; ".join(shown))
        dest = os.path.abspath(os.path.expanduser(p["dest"] or os.path.join("gowin-reports", run_id)))
        files = {fmt: os.path.join(dest, _FILES[fmt]) for fmt in p["formats"]}
        if not self.check_mode:
            problem = dest_problem(dest, files.values())
            if problem:
                raise ModuleFailure("dest: %s; dest is the folder the report files go to (created when missing). "
                                    "Nothing was written" % problem)
            render = {"json": lambda d: json.dumps(d, indent=2, sort_keys=True) + "\n", "junit": rp.junit, "html": rp.html}
            try:
                os.makedirs(dest, exist_ok=True)
                for fmt, path in files.items():
                    write_atomic(path, render[fmt](doc))
            except OSError as err:
                raise ModuleFailure("dest: the report could not be written to %s: %s" % (dest, err.strerror or err)) from None
        # changed is false: the report is what the run found, not a state of any host (a second run of a site that
        # changes nothing is reported with changed=0 everywhere, its idempotence check included)
        return {"changed": False, "run_id": run_id, "dest": dest, "files": files,
                "summary": doc["summary"], "simulated": doc["simulated"]}
