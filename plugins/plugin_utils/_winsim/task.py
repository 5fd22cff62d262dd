# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'task' (plugins/plugin_utils/_agent/task.ps1): task.get, task.set,
task.remove, scheduled tasks that run one program as SYSTEM every n minutes. The store is state["tasks"]
(lower-case path -> task), kept as the agent reads a task back: the path as first registered (the Task
Scheduler's names are case-insensitive), the program and its arguments, the interval in whole minutes.
The simulated host runs nothing on its own: tests advance time with WinSimHost.tick, which runs what the
due tasks would run (the watchdog). Vectors: tests/contract/vectors/task.yml.
"""

from __future__ import annotations

import re

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, _op

_EXECUTE = re.compile(r'^[A-Za-z]:\\[^"<>|*?\x00-\x1f]+$')
_PATH_SHAPE = ("must be a task path such as \\GoWin\\Watchdog\\name (a folder and a name, each without / : * ? \" < > | "
               "or control characters)")


def task_path(a: Args) -> str:
    """The 'path' argument: '\\Folder\\...\\Name', at least one folder, parts not empty, no leading or
    trailing space, no trailing dot, none of / : * ? " < > | or control characters, at most 200 characters."""
    path = a.need_text("path")
    if len(path) > 200 or not path.startswith("\\"):
        a.fail("path", _PATH_SHAPE)
    parts = path[1:].split("\\")
    if len(parts) < 2:
        a.fail("path", _PATH_SHAPE)
    for part in parts:
        if (not part or part.endswith((".", " ")) or part.startswith(" ") or any(c in part for c in '/:*?"<>|')
                or any(ord(c) < 32 for c in part)):
            a.fail("path", _PATH_SHAPE)
    return path


def _missing(path: str) -> JsonDict:
    return {"exists": False, "path": path, "enabled": False, "execute": None, "arguments": None, "interval_min": None,
            "description": None, "runs_as_system": False}


class TaskOps:
    """The task ops of WinSimHost (a mixin over host.HostBase)."""

    def _tasks(self) -> JsonDict:
        return self._state.setdefault("tasks", {})

    def _task_view(self, path: str) -> JsonDict:
        task = (self._state.get("tasks") or {}).get(path.lower())
        return _missing(path) if task is None else dict({"exists": True}, **task)

    @_op("task.get", "path")
    def _task_get(self, a: Args) -> JsonDict:
        return self._task_view(task_path(a))

    @_op("task.set", "path", "execute", "arguments", "interval_min", "description")
    def _task_set(self, a: Args) -> JsonDict:
        path = task_path(a)
        execute = a.need_text("execute")
        if len(execute) > 260 or not _EXECUTE.match(execute):
            a.fail("execute", "must be the absolute path of a program (such as "
                              "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe, at most 260 characters, "
                              "without \" < > | * ? or control characters)")
        arguments = a.text("arguments", empty=True) or ""
        interval = a.number("interval_min", 5, 1, 1440)
        description = a.text("description", empty=True) or ""
        if any(ord(c) < 32 for c in arguments + description):
            raise_for = "arguments" if any(ord(c) < 32 for c in arguments) else "description"
            a.fail(raise_for, "must not hold control characters (arguments 'arguments' and 'description')")
        now = self._task_view(path)
        wanted = {"enabled": True, "execute": execute, "arguments": arguments, "interval_min": interval,
                  "description": description or None, "runs_as_system": True}
        if now["exists"] and all(now[k] == v for k, v in wanted.items()):
            return {"changed": False, "created": False}
        self._tasks()[path.lower()] = dict({"path": now["path"] if now["exists"] else path}, **wanted)
        return {"changed": True, "created": not now["exists"]}

    @_op("task.remove", "path")
    def _task_remove(self, a: Args) -> JsonDict:
        path = task_path(a)
        if path.lower() not in (self._state.get("tasks") or {}):
            return {"changed": False}
        del self._tasks()[path.lower()]
        return {"changed": True}
