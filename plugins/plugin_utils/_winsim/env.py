# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'env' (plugins/plugin_utils/_agent/env.ps1):
the environment of a new process and env.notify.
Vectors: tests/contract/vectors/env.yml. Protocol: docs/agent-protocol.md.
"""

from __future__ import annotations

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    ACCOUNT_NAME,
    Args,
    COMPUTER_NAME_KEY,
    CURRENT_VERSION_KEY,
    ENV_KEY,
    Environ,
    JsonDict,
    PROFILE_LIST_KEY,
    PROGRAM_FILES_KEY,
    USER_ENV_KEY,
    _no_trailing_slash,
    _op,
)


class EnvOps:
    """The env ops of WinSimHost (a mixin over host.HostBase)."""

    def _user_profile(self) -> str:
        """The connection account's profile folder (ProfileImagePath, expanded as the profile service does)."""
        data = self._reg_data(PROFILE_LIST_KEY, "ProfileImagePath")
        base = Environ()
        base.set("SystemRoot", str(self._reg_data(CURRENT_VERSION_KEY, "SystemRoot", "C:\\Windows")))
        base.set("SystemDrive", "C:")
        return _no_trailing_slash(base.expand(data)) if isinstance(data, str) and data else "C:\\Users\\" + ACCOUNT_NAME

    def _load_env_key(self, environ: Environ, key: str, machine_path: str | None = None) -> None:
        """Add one Environment key's values: REG_SZ as they are, then REG_EXPAND_SZ expanded; Path is appended."""
        found = self.registry.find(key)
        values = found["values"] if found is not None else {}
        for expand in (False, True):
            for name, value in values.items():
                if value["type"] != ("REG_EXPAND_SZ" if expand else "REG_SZ") or not isinstance(value["data"], str):
                    continue
                data = environ.expand(value["data"]) if expand else value["data"]
                if machine_path is not None and name.lower() == "path" and machine_path:
                    data = machine_path + ("" if machine_path.endswith(";") else ";") + data
                environ.set(name, data)

    def _new_process_env(self) -> Environ:
        """The environment a new process of the connection account gets, built from the registry as Windows does at logon."""
        environ = Environ()
        profile = self._user_profile()
        computer = str(self._reg_data(COMPUTER_NAME_KEY, "ComputerName", "WINSIM"))
        system: list[tuple[str, str]] = [
            ("SystemRoot", str(self._reg_data(CURRENT_VERSION_KEY, "SystemRoot", "C:\\Windows"))),
            ("SystemDrive", "C:"),
            ("ALLUSERSPROFILE", "C:\\ProgramData"),
            ("ProgramData", "C:\\ProgramData"),
            ("ProgramFiles", str(self._reg_data(PROGRAM_FILES_KEY, "ProgramFilesDir", "C:\\Program Files"))),
            ("ProgramFiles(x86)", str(self._reg_data(PROGRAM_FILES_KEY, "ProgramFilesDir (x86)", "C:\\Program Files (x86)"))),
            ("PUBLIC", "C:\\Users\\Public"),
            ("COMPUTERNAME", computer),
        ]
        for name, value in system:
            environ.set(name, value)
        self._load_env_key(environ, ENV_KEY)
        account: list[tuple[str, str]] = [
            ("USERNAME", ACCOUNT_NAME),
            ("USERDOMAIN", computer),
            ("USERPROFILE", profile),
            ("HOMEDRIVE", profile[:2]),
            ("HOMEPATH", profile[2:] or "\\"),
            ("APPDATA", profile + "\\AppData\\Roaming"),
            ("LOCALAPPDATA", profile + "\\AppData\\Local"),
        ]
        for name, value in account:
            environ.set(name, value)
        self._load_env_key(environ, USER_ENV_KEY, machine_path=environ.get("Path"))
        return environ

    @_op("env.notify")
    def _env_notify(self, a: Args) -> JsonDict:
        """What a real host does with WM_SETTINGCHANGE cannot be seen here: winsim counts the broadcasts."""
        self._state["notifications"] = int(self._state.get("notifications", 0)) + 1
        return {"sent": True}
