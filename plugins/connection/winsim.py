# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: winsim
short_description: A SIMULATED Windows Server host for tests and offline use (this is not Windows)
description:
  - This connection plugin is a B(simulation). There is no Windows machine behind it, and nothing it
    reports says anything about a real Windows host.
  - It answers the gowin.server agent protocol from a model of a Windows Server host kept in files
    on the controller, so playbooks, roles and Molecule scenarios that use the C(gowin.server)
    modules can run in CI and offline, with check mode, diff mode and idempotence exercised for real.
  - Only C(gowin.server) modules work over it. Any other command, including the modules of other
    collections, C(ansible.builtin.raw) and fact gathering, fails with C(winsim only runs gowin.server modules).
    Set C(gather_facts) to false in plays that target it.
  - The model keeps the Windows behaviour that hides bugs, namely case-insensitive paths and registry keys,
    environment variables stored as registry values, the 260-character path limit unless
    C(LongPathsEnabled) is set, junctions, reserved device names, files held open by a running
    service, inherited ACLs, a drive that can fill up, and reboot-pending flags.
  - Whatever would need a real Windows program to run (for example C(go version)) is modelled
    from files, and such results carry C(modelled=true) with how they were derived.
  - Each host is the folder O(state_dir)/O(host); delete it to start that host afresh.
    C(\\server\share\...) paths used as download sources are read from O(state_dir)/_shares/server/share/.
author:
  - Gowin Team (@gowin)
version_added: 0.1.0
options:
  host:
    description:
      - The simulated host's name; its state lives in the folder of this name under O(state_dir).
      - Its computer name is derived from it (upper case, at most 15 characters).
    type: str
    vars:
      - name: inventory_hostname
      - name: ansible_winsim_host
  state_dir:
    description:
      - The folder that holds the state of all simulated hosts.
    type: path
    default: ~/.cache/gowin/winsim
    env:
      - name: GOWIN_WINSIM_STATE_DIR
    vars:
      - name: ansible_winsim_state_dir
  os_profile:
    description:
      - Which Windows Server release a new host simulates; C(-core) means Server Core.
      - It applies when the host's state is created. A host created with another profile
        or O(arch) is refused (delete its folder to re-create it).
      - Builds 14393, 17763, 20348 and 26100, Windows PowerShell 5.1, .NET Framework 4.6.2 (2016),
        4.8 (2019, 2022) and 4.8.1 (2025).
    type: str
    default: ws2022
    choices: [ws2016, ws2016-core, ws2019, ws2019-core, ws2022, ws2022-core, ws2025, ws2025-core]
    vars:
      - name: ansible_winsim_os_profile
  arch:
    description:
      - The processor architecture a new host simulates.
    type: str
    default: amd64
    choices: [amd64, arm64]
    vars:
      - name: ansible_winsim_arch
  latency_ms:
    description:
      - Milliseconds of delay added to every round trip, to feel what WinRM costs.
    type: int
    default: 0
    env:
      - name: GOWIN_WINSIM_LATENCY_MS
    vars:
      - name: ansible_winsim_latency_ms
  remote_transport:
    description:
      - The real connection this simulated host stands for, as the lockout guard of M(gowin.server.dsc_baseline)
        sees it (nothing else reads it).
    type: str
    default: winrm
    choices: [winrm, psrp, ssh]
    vars:
      - name: ansible_winsim_remote_transport
  remote_auth:
    description:
      - The authentication of that real connection (V(negotiate) with the simulated local account means NTLM).
    type: str
    default: ntlm
    choices: [ntlm, negotiate, kerberos, credssp, basic, certificate, ssh]
    vars:
      - name: ansible_winsim_remote_auth
  remote_port:
    description:
      - The TCP port of that real connection (V(5986) means HTTPS).
    type: int
    default: 5985
    vars:
      - name: ansible_winsim_remote_port
notes:
  - This is a simulation for tests and offline use, not Windows. Test against real Windows Server
    hosts (the collection's C(windows) Molecule scenario, or the contract tests with C(GOWIN_TEST_HOST))
    before relying on a change.
  - The counters of round trips and bytes, and the fault hooks used by the collection's own tests,
    are in the host folder (C(counters.json), C(faults.json)). Faults (fail an op, truncate a download,
    drop the connection after some ops, fill the disk) are queued with the Python API
    C(WinSimHost.add_fault()); C(docs/winsim.md) in the collection describes them.
  - C(become) does not apply, as with the real agent; the simulated connection account is a local administrator.
"""

EXAMPLES = r"""
# inventory.yml: two simulated hosts, one of them Server Core 2019
all:
  hosts:
    sim-2022:
    sim-2019core:
      ansible_winsim_os_profile: ws2019-core
  vars:
    ansible_connection: gowin.server.winsim
    ansible_winsim_state_dir: "{{ playbook_dir }}/.winsim"
"""

import hashlib
import json
import os
import re
import shutil
import time
import typing as t

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.gowin.server.plugins.plugin_utils import _channel
from ansible_collections.gowin.server.plugins.plugin_utils._winsim import OpFailure, WinSimHost

display = Display()

REFUSAL = b"winsim only runs gowin.server modules"
# Ways a PowerShell script writes to the console instead of its pipeline. The psrp connection runs
# the bootstrap inside its runspace and reads only pipeline output, so such an answer never arrives.
_CONSOLE_WRITERS = (
    ("[Console]::Out", re.compile(r"(?i)\[\s*(System\.)?Console\s*\]\s*::\s*(Out|Write|WriteLine)\b")),
    ("Write-Host", re.compile(r"(?i)(?<![\w$-])Write-Host(?![\w-])")),
    ("Out-Host", re.compile(r"(?i)(?<![\w$-])Out-Host(?![\w-])")),
    ("$Host.UI", re.compile(r"(?i)\$Host\.UI\b")),
)


def console_writers(script: str) -> list[str]:
    """The console-writing constructs in a script's code lines (whole-line comments are skipped)."""
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    return [name for name, pattern in _CONSOLE_WRITERS if pattern.search(code)]


def _fatal(kind: str, message: str) -> bytes:
    """A document like the one the bootstrap or agent writes when it cannot run the request."""
    return json.dumps({"v": _channel.PROTOCOL_VERSION, "fatal": {"kind": kind, "message": message}}).encode("utf-8")


class Connection(ConnectionBase):
    """Answers the gowin agent protocol from a simulated Windows host (see DOCUMENTATION)."""

    transport = "gowin.server.winsim"
    module_implementation_preferences = (".ps1", ".exe", "")
    allow_executable = False
    has_pipelining = False
    become_methods: list[str] = []
    _shell_type = "powershell"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._host: WinSimHost | None = None
        self._files: _channel.AgentFiles | None = None
        self._families_sent: tuple[str, ...] | None = None

    @property
    def sim(self) -> WinSimHost:
        """The simulated host (connects first); tests and benchmarks read counters and state from it."""
        self._connect()
        if self._host is None:
            raise AnsibleConnectionFailure("winsim: the connection is not open")
        return self._host

    def _connect(self) -> Connection:
        if self.connected:
            return self
        name = self.get_option("host")
        if not name:
            raise AnsibleConnectionFailure("winsim: no host name (set inventory_hostname or ansible_winsim_host)")
        try:
            self._host = WinSimHost(self.get_option("state_dir"), name, self.get_option("os_profile"), self.get_option("arch"))
        except (ValueError, OSError) as exc:
            raise AnsibleConnectionFailure("winsim: %s" % exc) from exc
        try:
            # Read through the module so the folder is the one in force now.
            self._files = _channel.load_agent_files(_channel.AGENT_DIR)
        except (OSError, ValueError) as exc:
            raise AnsibleConnectionFailure("winsim: cannot read the shipped agent in %s: %s" % (_channel.AGENT_DIR, exc)) from exc
        display.vvv("WINSIM CONNECTION to simulated host %s in %s" % (name, self._host.root), host=name)
        self._connected = True
        return self

    def _round_trip_delay(self) -> None:
        latency = self.get_option("latency_ms") or 0
        if latency > 0:
            time.sleep(latency / 1000.0)

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        host = self.sim
        payload = in_data or b""
        sent = len(to_bytes(cmd)) + len(payload)
        self._round_trip_delay()
        if to_text(cmd) != _channel.BOOTSTRAP_COMMAND:
            host.count_round_trip(sent, len(REFUSAL))
            return 1, b"", REFUSAL
        self._families_sent: tuple[str, ...] | None = None
        try:
            rc, body = self._answer(host, payload)
        except AnsibleConnectionFailure:
            host.count_round_trip(sent, 0, families=self._families_sent)
            raise
        host.count_round_trip(sent, len(body), families=self._families_sent)
        return rc, body, b""

    def _answer(self, host: WinSimHost, payload: bytes) -> tuple[int, bytes]:
        try:
            agent_text, request = _channel.split_payload(payload)
        except (ValueError, UnicodeDecodeError):
            return 1, _fatal("protocol", "gowin bootstrap: no request marker in input")
        agent_hash = hashlib.sha256(agent_text.encode("utf-8")).hexdigest()
        ops = request.get("ops") if isinstance(request, dict) else None
        if not isinstance(request, dict) or request.get("v") != _channel.PROTOCOL_VERSION or not isinstance(ops, list):
            return 1, _fatal("protocol", "the request is not a version %d request with a list of ops" % _channel.PROTOCOL_VERSION)
        files = self._files
        if files is None:
            raise AnsibleConnectionFailure("winsim: the connection is not open")
        families = files.families_for(ops)
        self._families_sent = families
        expected, expected_hash, _packed = files.assemble(families)
        if agent_text != expected:
            return 1, _fatal(
                "protocol",
                "agent mismatch: the request carries agent %s, which is not this collection's core.ps1 with the "
                "families %s (agent %s); winsim only runs the agent of the installed gowin.server, assembled "
                "for the request's ops" % (agent_hash, ", ".join(families) or "(none)", expected_hash),
            )
        writers = sorted(set(console_writers(agent_text) + console_writers(_channel.BOOTSTRAP)))
        if writers:
            return 1, _fatal(
                "protocol",
                "winsim refuses an agent that writes to the console (%s): over psrp its answer would never reach "
                "the controller; the agent must emit its one JSON document as pipeline output" % ", ".join(writers),
            )
        drop = host.take_fault("drop_connection")
        if drop is not None:
            host.execute(ops[: drop["after_ops"]], families)
            raise AnsibleConnectionFailure("winsim: the connection dropped after %d op(s) (drop_connection fault)" % drop["after_ops"])
        results = host.execute(ops, families)
        if host.agent_killed:
            raise AnsibleConnectionFailure("winsim: %s" % host.agent_killed)
        document = {"v": _channel.PROTOCOL_VERSION, "agent": agent_hash, "results": results}
        return 0, json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        host = self.sim
        if not os.path.isfile(in_path):
            raise AnsibleFileNotFound("winsim: file or module does not exist: %s" % in_path)
        self._round_trip_delay()
        try:
            size = host.put(in_path, out_path)
        except OpFailure as exc:
            raise AnsibleError("winsim: put_file to %s failed (%s): %s" % (out_path, exc.kind, exc.message)) from None
        host.count_round_trip(size, 0, put=True)

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        host = self.sim
        self._round_trip_delay()
        try:
            data = host.read_file(in_path)
        except OpFailure as exc:
            raise AnsibleError("winsim: fetch_file of %s failed (%s): %s" % (in_path, exc.kind, exc.message)) from None
        if data is None:
            raise AnsibleFileNotFound("winsim: %s does not exist on the simulated host" % in_path)
        tmp = out_path + ".winsim-part"
        with open(tmp, "wb") as handle:
            handle.write(data)
        shutil.move(tmp, out_path)
        host.count_round_trip(0, len(data))

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        self._connected = False
