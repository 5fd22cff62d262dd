# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'journal' (plugins/plugin_utils/_agent/journal.ps1): journal.get,
which reads HKLM\\SOFTWARE\\GoWin\\Journal\\<name>, and the writer the deploy twin uses. Vectors:
tests/contract/vectors/journal.yml.
"""

from __future__ import annotations

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, OpFailure, _op

JOURNAL_KEY = "HKLM\\SOFTWARE\\GoWin\\Journal"
JOURNAL_VALUES = ("Id", "Stage", "Outcome", "From", "To", "Started", "Finished", "Detail")


class JournalOps:
    """The journal ops of WinSimHost (a mixin over host.HostBase)."""

    def _journal(self, name: str, **values: str) -> None:
        for key, value in values.items():
            self.registry.set(JOURNAL_KEY + "\\" + name, key, "REG_SZ", value)

    @_op("journal.get", "name")
    def _journal_get(self, a: Args) -> JsonDict:
        name = a.need_text("name")
        if len(name) > 256 or "\\" in name or "/" in name or name.strip() != name or any(ord(c) < 32 for c in name):
            raise OpFailure("bad_args", "journal.get: argument 'name' must be at most 256 characters, without '\\' or '/' or "
                                        "leading or trailing spaces")
        key = self.registry.find(JOURNAL_KEY + "\\" + name)
        if key is None:
            return {"exists": False}
        found: JsonDict = {"exists": True}
        for value in JOURNAL_VALUES:
            data = key["values"].get(value, {}).get("data")
            found[value.lower()] = None if data is None else str(data)
        found["interrupted"] = not found["outcome"]
        return found
