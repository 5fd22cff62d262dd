# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for gowin.server.go_facts: one round trip of read ops."""

from __future__ import annotations

from ansible_collections.gowin.server.plugins.plugin_utils import _install_plan as ip
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp
from ansible_collections.gowin.server.plugins.plugin_utils._action import GowinAction, ModuleFailure
from ansible_collections.gowin.server.plugins.plugin_utils._channel import Channel

# .NET Framework 4.x: the smallest Release value of each version (Microsoft's published table).
_DOTNET = [(533320, "4.8.1"), (528040, "4.8"), (461808, "4.7.2"), (461308, "4.7.1"), (460798, "4.7"),
           (394802, "4.6.2"), (394254, "4.6.1"), (393295, "4.6"), (379893, "4.5.2"), (378675, "4.5.1"), (378389, "4.5")]


def dotnet_version(release: int | None) -> str | None:
    for floor, name in _DOTNET:
        if release is not None and release >= floor:
            return name
    return None


def build_facts(obs: ip.Observed, root: str) -> dict:
    f = obs.facts
    active, mismatch = active_version(obs, root)
    return {
        "computer_name": f.get("computer_name"),
        "os_caption": f.get("os_caption"),
        "os_build": f.get("os_build"),
        "os_version": f.get("os_version"),
        "edition": f.get("edition"),
        "installation_type": f.get("installation_type"),
        "server_core": f.get("installation_type") == "Server Core",
        "arch": f.get("arch"),
        "powershell_version": f.get("ps_version"),
        "powershell_language_mode": f.get("ps_language_mode"),
        "dotnet_release": f.get("dotnet_release"),
        "dotnet_version": dotnet_version(f.get("dotnet_release")),
        "long_paths_enabled": bool(f.get("long_paths_enabled")),
        "pending_reboot": bool(f.get("pending_reboot")),
        "is_admin": bool(f.get("is_admin")),
        "install_root": root,
        "install_drive": f.get("drive"),
        "install_drive_free_bytes": f.get("free_bytes"),
        "toolchains": [dict(t, active=t["version"] == active) for t in ip.toolchains_from(obs)],
        "active": active,
        "active_goroot": wp.join(root, "current") if active else None,
        "active_mismatch": mismatch,
    }


def active_version(obs: ip.Observed, root: str) -> tuple[str | None, dict | None]:
    """The active version is the one the current junction points to (what GOROOT=<root>\\current runs),
    when that is a recorded toolchain in root; go_install switches the junction first and records Active
    second, so after a run that stopped between the two the registry names the previous version. Then
    (or when they differ in any other way) the second item says what each one holds."""
    cur = obs.current
    target = cur.get("target") if cur.get("exists") and cur.get("type") == "junction" else None
    by_junction = None
    if isinstance(target, str) and wp.same(wp.parent(target), root):
        rec = obs.records.get(wp.normalize(target).rsplit("\\", 1)[-1].lower())
        by_junction = rec.name if rec is not None else None
    registry = obs.active or None
    if by_junction == registry:
        return registry, None
    return by_junction, {"registry": registry, "junction": target}


class ActionModule(GowinAction):
    MODULE = "go_facts"

    def execute(self, params: dict, channel: Channel, task_vars: dict) -> dict:
        try:
            root = wp.check_absolute("install_root", params["install_root"], strict=True)
        except wp.PathError as err:
            raise ModuleFailure(str(err)) from None
        probe = ip.probe_ops(root, None, False, [])
        obs = ip.observe(probe, channel.run_checked(probe))
        facts = build_facts(obs, root)
        result = {"changed": False, "ansible_facts": {"gowin": facts}}
        mismatch = facts["active_mismatch"]
        if mismatch:
            result["warnings"] = [
                "%s\\current points to %s but the registry records %s as the active Go version: an activation was "
                "interrupted or changed by hand; active is what the junction runs, and the next gowin.server.go_install "
                "run that activates a version sets both" % (root, mismatch["junction"] or "nothing", mismatch["registry"] or "none")
            ]
        return result
