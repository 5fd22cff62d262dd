# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'feature' (plugins/plugin_utils/_agent/feature.ps1): feature.get,
feature.set. Windows optional features, as the DISM API reports them. A new host has the features of its
os_profile (``default_features``): SMB1Protocol is enabled on Windows Server 2016 (installed by default
there) and disabled on 2019 and later (not installed by default since version 1709, which also split it
into SMB1Protocol-Client, -Server and -Deprecation); TelnetClient and TFTP are disabled, Windows Defender
and the Windows PowerShell 2.0 engine are enabled. The features are kept in state["features"] (lower-case
name -> {name, state}) from the first change on; until then they are the profile's defaults.

A change to a feature that needs a restart (SMB1, Windows Defender) waits for one: the feature is
``enable_pending`` / ``disable_pending`` and Component Based Servicing's RebootPending key exists (so
host.facts says pending_reboot, as on Windows) until the host's ``reboot()``, which this mixin extends to
finish the pending changes first. Vectors: tests/contract/vectors/feature.yml.
"""

from __future__ import annotations

import re

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import REBOOT_MARKER_KEYS, Args, JsonDict, OpFailure, Profile, _op

FEATURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_NAMES = 50
STATES = ("enabled", "disabled", "disabled_removed", "enable_pending", "disable_pending")
PENDING = ("enable_pending", "disable_pending")
CBS_REBOOT_PENDING = REBOOT_MARKER_KEYS[0]
# Features whose change waits for a restart.
NEEDS_RESTART = frozenset({"smb1protocol", "smb1protocol-client", "smb1protocol-server", "windows-defender", "windows-defender-features"})
# What a feature needs (enabled with it by Enable-WindowsOptionalFeature -All; disabled with it when it goes).
PARENTS = {
    "smb1protocol-client": "SMB1Protocol", "smb1protocol-server": "SMB1Protocol", "smb1protocol-deprecation": "SMB1Protocol",
    "microsoftwindowspowershellv2": "MicrosoftWindowsPowerShellV2Root", "windows-defender": "Windows-Defender-Features",
}
_WANTED_STATES = {"enabled": ("enabled", "enable_pending"), "disabled": ("disabled", "disabled_removed", "disable_pending")}


def default_features(profile: Profile) -> dict[str, JsonDict]:
    """The optional features of a new host of this profile (lower-case name -> {name, state})."""
    features: list[tuple[str, str]] = [
        ("TelnetClient", "disabled"),
        ("TFTP", "disabled"),
        ("SimpleTCP", "disabled"),
        ("Windows-Defender", "enabled"),
        ("MicrosoftWindowsPowerShellV2Root", "enabled"),
        ("MicrosoftWindowsPowerShellV2", "enabled"),
    ]
    if profile.build < 17763:
        # Windows Server 2016: SMB1 is installed, as one feature; Defender has its parent feature.
        features += [("SMB1Protocol", "enabled"), ("Windows-Defender-Features", "enabled")]
    else:
        features += [("SMB1Protocol", "disabled"), ("SMB1Protocol-Client", "disabled"), ("SMB1Protocol-Server", "disabled"),
                     ("SMB1Protocol-Deprecation", "disabled")]
    return {name.lower(): {"name": name, "state": state} for name, state in features}


def _check_name(a: Args, arg: str, name: object) -> str:
    if not isinstance(name, str) or not FEATURE_NAME.fullmatch(name):
        a.fail(arg, "must be feature names: 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def _info(feature: JsonDict | None) -> JsonDict:
    if feature is None:
        return {"exists": False, "state": None, "restart_needed": False}
    return {"exists": True, "state": feature["state"], "restart_needed": feature["state"] in PENDING}


class FeatureOps:
    """The feature ops of WinSimHost (a mixin over host.HostBase)."""

    def _features(self) -> dict[str, JsonDict]:
        """The features as they are now (a read does not store the profile's defaults: its snapshot stays the same)."""
        stored = self._state.get("features")
        return stored if stored is not None else default_features(self.profile)

    @_op("feature.get", "names")
    def _feature_get(self, a: Args) -> JsonDict:
        names = a.strings("names")
        if not 1 <= len(names) <= MAX_NAMES:
            a.fail("names", "must list 1 to %d feature names, got %d" % (MAX_NAMES, len(names)))
        seen: set[str] = set()
        for name in names:
            _check_name(a, "names", name)
            if name.lower() in seen:
                a.fail("names", "lists '%s' twice (names are compared case-insensitively)" % name)
            seen.add(name.lower())
        features = self._features()
        return {"features": {name: _info(features.get(name.lower())) for name in names}}

    @_op("feature.set", "name", "state")
    def _feature_set(self, a: Args) -> JsonDict:
        name = _check_name(a, "name", a.need_text("name"))
        want = a.need_text("state", ("enabled", "disabled"))
        features = self._features()
        feature = features.get(name.lower())
        if feature is None:
            raise OpFailure("not_found", "optional feature '%s' does not exist on this host" % name)
        if feature["state"] in _WANTED_STATES[want]:
            return {"changed": False, "state": feature["state"], "restart_needed": feature["state"] in PENDING}
        features = {k: dict(v) for k, v in features.items()}
        changed: list[str] = []
        if want == "enabled":
            key: str | None = name.lower()
            while key is not None:  # the feature and what it needs (-All)
                if features[key]["state"] not in _WANTED_STATES["enabled"]:
                    changed.append(key)
                parent = PARENTS.get(key)
                key = parent.lower() if parent is not None and parent.lower() in features else None
        else:
            changed = [name.lower()] + [k for k, p in PARENTS.items() if p.lower() == name.lower() and k in features
                                        and features[k]["state"] not in _WANTED_STATES["disabled"]]
        restart = False
        for key in changed:
            now = features[key]["state"]
            if want == "enabled":
                after = "enabled" if now == "disable_pending" or key not in NEEDS_RESTART else "enable_pending"
            else:
                after = "disabled" if now == "enable_pending" or key not in NEEDS_RESTART else "disable_pending"
            features[key]["state"] = after
            restart = restart or after in PENDING
        self._state["features"] = features
        if any(f["state"] in PENDING for f in features.values()):
            self.registry.ensure(CBS_REBOOT_PENDING)
        return {"changed": True, "state": features[name.lower()]["state"], "restart_needed": restart}

    # ---- test and bench API -----------------------------------------------------------------

    def reboot(self) -> None:
        """A restart: the pending feature changes finish, then the host clears what waited for it (host.reboot)."""
        with self._transaction() as state:
            stored = state.get("features")
            if stored is not None:
                for feature in stored.values():
                    if feature["state"] in PENDING:
                        feature["state"] = "enabled" if feature["state"] == "enable_pending" else "disabled"
            super().reboot()  # type: ignore[misc]

    def feature_state(self, name: str) -> str | None:
        with self._transaction():
            feature = self._features().get(name.lower())
            return None if feature is None else str(feature["state"])
