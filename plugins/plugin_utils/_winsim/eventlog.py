# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'eventlog' (plugins/plugin_utils/_agent/eventlog.ps1):
eventlog.get, eventlog.register, eventlog.remove. Sources are what Windows keeps them as, subkeys
HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\<log>\\<source> with EventMessageFile; the baseline
holds the Application, System and Security logs with their default sources (host.py).
Vectors: tests/contract/vectors/eventlog.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    EVENTLOG_KEY,
    EVENTLOG_MESSAGES_DLL,
    Args,
    JsonDict,
    OpFailure,
    _op,
)

MAX_SOURCE = 254 - len("SYSTEM\\CurrentControlSet\\Services\\EventLog")  # 212, as .NET counts it


def _source(a: Args) -> str:
    source = a.need_text("source")
    if len(source) > MAX_SOURCE:
        a.fail("source", "must be at most %d characters, got %d" % (MAX_SOURCE, len(source)))
    if "\\" in source or "/" in source:
        a.fail("source", "must not contain '\\' or '/'")
    if any(ord(c) < 32 for c in source):
        a.fail("source", "must not contain control characters")
    if source.strip() != source:
        a.fail("source", "must not start or end with a space")
    return source


class EventlogOps:
    """The eventlog ops of WinSimHost (a mixin over host.HostBase)."""

    def _event_logs(self) -> JsonDict:
        key = self.registry.find(EVENTLOG_KEY)
        return {} if key is None else key["keys"]

    def _find_source(self, source: str) -> JsonDict | None:
        for log, log_key in self._event_logs().items():
            for name, key in log_key["keys"].items():
                if name.lower() == source.lower():
                    value = key["values"].get("EventMessageFile")
                    return {"log": log, "source": name, "message_file": value["data"] if value else None}
        return None

    @staticmethod
    def _result(found: JsonDict | None) -> JsonDict:
        if found is None:
            return {"exists": False, "log": None, "message_file": None, "log_default": False}
        return {"exists": True, "log": found["log"], "message_file": found["message_file"],
                "log_default": found["log"].lower() == found["source"].lower()}

    @_op("eventlog.get", "source")
    def _eventlog_get(self, a: Args) -> JsonDict:
        return self._result(self._find_source(_source(a)))

    @_op("eventlog.register", "source", "log", "message_file")
    def _eventlog_register(self, a: Args) -> JsonDict:
        source = _source(a)
        wanted_log = a.text("log") or "Application"
        message_file = str(a.path("message_file")) if a.given("message_file") else None
        if message_file is not None and len(message_file) >= 260:
            raise OpFailure("path_too_long", "eventlog.register: argument 'message_file' must be under 260 characters (the event log API)")
        log = next((name for name in self._event_logs() if name.lower() == wanted_log.lower()), None)
        if log is None:
            raise OpFailure("not_found", "eventlog.register: there is no event log named '%s' (this op never creates a log)" % wanted_log)
        found = self._find_source(source)
        key_path = EVENTLOG_KEY + "\\" + log + "\\"
        if found is not None:
            if found["log"].lower() != log.lower():
                raise OpFailure("exists", "eventlog.register: the source '%s' is registered to the log '%s'; a source belongs to one "
                                          "log: remove it first (Windows maps it to another log only after a restart)" % (source, found["log"]))
            if message_file is None or (found["message_file"] or "").lower() == message_file.lower():
                return dict(self._result(found), changed=False)
            self.registry.set(key_path + found["source"], "EventMessageFile", "REG_EXPAND_SZ", message_file)
            return dict(self._result(self._find_source(source)), changed=True)
        # CreateEventSource: EventMessageFile is the file given, or the framework's EventLogMessages.dll
        self.registry.set(key_path + source, "EventMessageFile", "REG_EXPAND_SZ", message_file or EVENTLOG_MESSAGES_DLL[self.arch])
        return dict(self._result(self._find_source(source)), changed=True)

    @_op("eventlog.remove", "source")
    def _eventlog_remove(self, a: Args) -> JsonDict:
        source = _source(a)
        found = self._find_source(source)
        if found is None:
            return {"changed": False, "log": None}
        if found["log"].lower() == found["source"].lower():
            raise OpFailure("bad_args", "eventlog.remove: '%s' is the default source of the log '%s', which the log needs" % (source, found["log"]))
        self.registry.remove_key(EVENTLOG_KEY + "\\" + found["log"] + "\\" + found["source"])
        return {"changed": True, "log": found["log"]}
