# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim, the simulated Windows host: ``host.py`` holds the host (state, transactions, counters,
faults) and the 'host' op family; every other op family has its twin in ``<family>.py``, the twin
of ``_agent/<family>.ps1``. WinSimHost is the host with every family's ops.
"""

from __future__ import annotations

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.acl import AclOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.auditpol import AuditpolOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.deploy import DeployOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.download import DownloadOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.env import EnvOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.eventlog import EventlogOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.feature import FeatureOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.firewall import FirewallOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.fs import FsOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.go import GoOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.health import HealthOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import (
    ACCOUNT_NAME,
    ACCOUNT_SID,
    ENV_KEY,
    ERROR_KINDS,
    FILESYSTEM_KEY,
    OPS,
    PROFILE_NAMES,
    REBOOT_MARKER_KEYS,
    REBOOT_MARKER_VALUE,
    SESSION_MANAGER_KEY,
    Args,
    HostBase,
    OpFailure,
    op_family,
    pe_machine,
    stand_in_pe,
)
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.journal import JournalOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.junction import JunctionOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.lock import LockOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.policy import PolicyOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.reboot import RebootOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.registry import RegistryOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.service import ServiceOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.signature import SignatureOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.task import TaskOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.watchdog import WatchdogOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.tree import TreeOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.wdac import WdacOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.write import WriteOps
from ansible_collections.gowin.server.plugins.plugin_utils._winsim.zip import ZipOps


__all__ = [
    "ACCOUNT_NAME", "ACCOUNT_SID", "ENV_KEY", "ERROR_KINDS", "FILESYSTEM_KEY", "OPS", "PROFILE_NAMES", "REBOOT_MARKER_KEYS",
    "REBOOT_MARKER_VALUE", "SESSION_MANAGER_KEY", "Args", "HostBase", "OpFailure", "WinSimHost", "op_family", "pe_machine",
    "stand_in_pe",
]


class WinSimHost(RebootOps, FeatureOps, WdacOps, WatchdogOps, DeployOps, JournalOps, RegistryOps, EnvOps, EventlogOps, HealthOps,
                 ServiceOps, SignatureOps, PolicyOps, AuditpolOps, FirewallOps, TaskOps, FsOps, TreeOps, WriteOps, JunctionOps, DownloadOps,
                 ZipOps, AclOps, GoOps, LockOps, HostBase):
    """One simulated host. Every public method is one locked transaction on the state directory."""
