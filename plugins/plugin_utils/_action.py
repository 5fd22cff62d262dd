# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

What every gowin.server action plugin shares: arguments validated from the doc stub's
DOCUMENTATION (the one copy of the argument spec), the channel, and errors turned into clean
task failures (no traceback reaches the user).
"""

from __future__ import annotations

import importlib
import os
import re
import secrets
import socket
import time
import typing as t

import yaml
from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp
from ansible_collections.gowin.server.plugins.plugin_utils._channel import Channel, ChannelError, OpError

_SPEC_KEYS = ("type", "default", "choices", "elements", "aliases", "no_log", "required")

# What no option of any module takes, whatever its type: Windows keeps no string longer than 32,767
# characters (UNICODE_STRING, environment values, long paths), no NUL inside one, and no unpaired
# surrogate survives the UTF-8 the channel speaks; no option is a structure nested this deep.
MAX_TEXT = 32767
MAX_DEPTH = 16
# A message quotes at most this much of a value (Ansible's own argument errors quote values whole).
_LONG_QUOTE = re.compile(r"'([^']{160,})'")
MAX_MESSAGE = 2000


class ModuleFailure(Exception):
    """A failure to report to the user as the task's msg (plus optional result data)."""

    def __init__(self, message: str, **data: t.Any) -> None:
        super().__init__(message)
        self.data = data


def spec_from_documentation(documentation: str) -> dict:
    """Turn a DOCUMENTATION block's options into an argument_spec."""
    doc = yaml.safe_load(documentation) or {}
    return _options_to_spec(doc.get("options") or {})


def _options_to_spec(options: dict) -> dict:
    # Top-level options only. The suboptions a module documents (dsc_baseline waivers; win_service_go recovery,
    # firewall, health, watchdog, wrapper) are checked by the planner that reads them (check_waivers, recovery_of,
    # health_of, watchdog_of, wrapper_of: unknown keys, types, ranges, each message naming the option's path), not
    # by Ansible's validator, which would fill every unset suboption with None and answer first in its own words.
    return {name: {k: opt[k] for k in _SPEC_KEYS if k in opt} for name, opt in options.items()}


def value_problem(value: t.Any, depth: int = 0) -> str | None:
    """Why no module takes this value (see MAX_TEXT), or None."""
    if depth > MAX_DEPTH:
        return "it is nested more than %d levels deep" % MAX_DEPTH
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return "it is %d characters long; Windows takes at most %d" % (len(value), MAX_TEXT)
        if "\x00" in value:
            return "it contains a NUL character, which no Windows string can hold"
        bad = re.search("[\ud800-\udfff]", value)
        if bad:
            return ("it contains a lone surrogate (U+%04X at position %d), which is not Unicode text: "
                    "Windows and Go cannot use it" % (ord(bad.group()), bad.start()))
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = value_problem(key, depth + 1) or value_problem(item, depth + 1)
            if problem:
                return problem
    elif isinstance(value, (list, tuple)):
        for item in value:
            problem = value_problem(item, depth + 1)
            if problem:
                return problem
    return None


def shorten_message(text: str) -> str:
    """A long value quoted in a message cut to its start and length; the message to MAX_MESSAGE."""
    text = _LONG_QUOTE.sub(lambda m: "'%s...' (%d characters)" % (m.group(1)[:60], len(m.group(1))), text)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE - 40] + "... (message cut, %d characters)" % len(text)
    return text


class GowinAction(ActionBase):
    """Subclasses set MODULE and implement execute(params, channel, task_vars) -> result dict."""

    TRANSFERS_FILES = False
    _requires_connection = True
    MODULE = ""
    # Whether the module talks to the host through the agent. A module that runs on the controller only
    # (fleet_report) sets it False: run() validates its arguments and turns its errors into task failures as for
    # every module, but opens no channel (execute() gets None) and reports no round_trips. Such a module also sets
    # _requires_connection = False, so that Ansible sets up no connection for it.
    USES_CHANNEL = True
    MUTUALLY_EXCLUSIVE: list = []
    REQUIRED_IF: list = []
    REQUIRED_TOGETHER: list = []
    # The host lock (docs/agent-protocol.md, family lock): how long a batch of changes may hold it,
    # how long a task waits for another run's lock, and how often it asks again meanwhile.
    LOCK_LEASE = 900
    LOCK_WAIT = 600.0
    LOCK_POLL = 2.0
    _lock_owner = ""
    _lock_held = False

    def argument_spec(self) -> dict:
        stub = importlib.import_module("ansible_collections.gowin.server.plugins.modules." + self.MODULE)
        return spec_from_documentation(stub.DOCUMENTATION)

    def validate(self) -> dict:
        spec = self.argument_spec()
        for name, value in self._task.args.items():
            problem = value_problem(value)
            if problem:
                raise ModuleFailure("%s: %s" % (name, problem))
            if isinstance(value, float) and spec.get(name, {}).get("type", "str") == "str":
                # YAML reads an unquoted 1.20 as the number 1.2: the text the user wrote is gone
                # (the value is not quoted: this runs before the task's secrets are known, and a password
                # option is secret by the plugin's own rules, not by a spec flag)
                raise ModuleFailure(
                    "%s was given a number, not text: YAML reads an unquoted value such as 1.20 as the number 1.2; "
                    "quote it" % name
                )
        validator = ArgumentSpecValidator(
            spec,
            mutually_exclusive=self.MUTUALLY_EXCLUSIVE,
            required_if=self.REQUIRED_IF,
            required_together=self.REQUIRED_TOGETHER,
        )
        outcome = validator.validate(dict(self._task.args))
        if outcome.error_messages:
            messages = []
            for err in outcome.errors.errors:
                text = str(err)
                if isinstance(err, UnsupportedError):
                    text = "Unsupported parameters for gowin.server.%s: %s" % (self.MODULE, text)
                messages.append(text)
            raise ModuleFailure("; ".join(messages))
        params = outcome.validated_parameters
        self._no_log_values = {str(params[k]) for k, v in spec.items() if v.get("no_log") and params.get(k)}
        return params

    @property
    def check_mode(self) -> bool:
        return bool(self._task.check_mode)

    # ------------------------------------------------------------ the host lock

    def _lock_op(self, verb: str) -> dict:
        if not self._lock_owner:
            self._lock_owner = "gw-" + secrets.token_hex(8)
        if verb == "release":
            return {"op": "lock.release", "args": {"owner": self._lock_owner}}
        holder = "controller %s pid %d, gowin.server.%s" % (socket.gethostname()[:60], os.getpid(), self.MODULE)
        return {"op": "lock.acquire", "args": {"owner": self._lock_owner, "lease": int(self.LOCK_LEASE), "holder": holder[:200]}}

    def run_locked(self, channel: Channel, ops: list[dict], release: bool = True) -> list[dict]:
        """Run a batch of changes under the host lock: lock.acquire first and (unless release is
        False, for a batch that more batches follow) lock.release last, in the same round trip.

        While another run holds the lock (the acquire fails busy, so nothing else ran), wait and try
        again, up to LOCK_WAIT seconds. Returns the data of `ops` only; an OpError raised for one of
        `ops` carries its index in `ops`. After a failure the lock is still held (release did not
        run): later batches of this task re-enter it, and run() gives it back at the end."""
        batch = [self._lock_op("acquire")] + list(ops) + ([self._lock_op("release")] if release else [])
        deadline = time.monotonic() + self.LOCK_WAIT
        while True:
            held_before = self._lock_held
            self._lock_held = True  # from here on it may be ours: a lost connection must still give it back
            try:
                data = channel.run_checked(batch)
            except OpError as err:
                if err.index == 0 and err.kind == "busy":
                    self._lock_held = held_before
                    if time.monotonic() >= deadline:
                        raise ModuleFailure(
                            "The host is busy: %s. This task waited %d seconds for it; run it again later." % (err, self.LOCK_WAIT),
                            error_kind="busy",
                        ) from None
                    time.sleep(self.LOCK_POLL)
                    continue
                self._lock_held = True
                if err.index > len(ops):  # the release itself failed: the changes are made
                    return [d.get("data") or {} for d in err.results[1:len(ops) + 1]]
                raise OpError(err.index - 1, ops[err.index - 1], err.kind, str(err), err.results[1:]) from None
            self._lock_held = not release
            return data[1:len(ops) + 1]

    def _give_back_lock(self, channel: Channel | None) -> None:
        if channel is None or not self._lock_held:
            return
        self._lock_held = False
        try:
            channel.run([self._lock_op("release")])
        except (ChannelError, AnsibleConnectionFailure):
            pass  # the lease runs out by itself

    def run(self, tmp: t.Any = None, task_vars: dict | None = None) -> dict:
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        channel = None
        try:
            params = self.validate()
            if self.USES_CHANNEL:
                channel = Channel(self)
            try:
                result.update(self.execute(params, channel, task_vars))
            finally:
                self._give_back_lock(channel)
            if channel is not None:
                result["round_trips"] = channel.round_trips
        except ModuleFailure as err:
            result.update(err.data)
            result.update(failed=True, msg=self._scrub(str(err)))
        except OpError as err:
            option = self._option_behind(err.op)
            result.update(
                failed=True,
                msg=self._scrub("%sThe host refused op %s (%s): %s" % (
                    option + ": " if option else "", err.op.get("op"), err.kind, err)),
                error_kind=err.kind,
            )
        except ChannelError as err:
            result.update(failed=True, msg=self._scrub(str(err)), error_kind=err.kind)
        except AnsibleConnectionFailure:
            raise
        return result

    def _option_behind(self, op: dict) -> str | None:
        """The option whose path the refused op worked on (the longest one the op's path starts with)."""
        paths = [v for k, v in (op.get("args") or {}).items() if k in ("path", "dest", "target", "src") and isinstance(v, str)]
        best, size = None, 0
        for name, value in self._task.args.items():
            if not isinstance(value, str) or len(value) < 3 or not re.match(r"^(?:[A-Za-z]:|\\\\)", value):
                continue
            given = wp.normalize(value).lower()
            for path in paths:
                low = path.lower()
                if (low == given or low.startswith(given + "\\")) and len(given) > size:
                    best, size = name, len(given)
        return best

    def _scrub(self, text: str) -> str:
        for secret in getattr(self, "_no_log_values", ()):
            if secret:
                text = text.replace(str(secret), "********")
        return shorten_message(text)

    def execute(self, params: dict, channel: Channel | None, task_vars: dict) -> dict:  # pragma: no cover - abstract
        """The module's work; `channel` is a Channel, or None when USES_CHANNEL is False."""
        raise NotImplementedError
