#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds only documentation: the work is done by the action plugin of the same name
# on the controller, which talks to the host through the gowin agent.

DOCUMENTATION = r"""
---
module: go_facts
short_description: Facts about a Windows Server host and the Go toolchains on it
version_added: 0.1.0
description:
  - Reads, in one round trip, what a Go deployment on Windows Server needs to know about the host. That is the
    operating system, its build and edition, whether it is Server Core, the architecture, the PowerShell version and
    language mode, the .NET Framework release, and whether long paths are enabled.
  - It also reads the Go toolchains M(gowin.server.go_install) installed, the active one, and the free space on the
    install drive.
  - Sets C(ansible_facts.gowin).
  - The connection account must be a local administrator on the host.
author:
  - Gowin Team (@gowin)
options:
  install_root:
    description:
      - The folder whose drive's free space is reported, normally the O(gowin.server.go_install#module:install_root)
        of M(gowin.server.go_install).
    type: str
    default: C:\opt\go
notes:
  - Check mode is supported (the module only reads).
seealso:
  - module: gowin.server.go_install
"""

EXAMPLES = r"""
- name: Gather Go facts
  gowin.server.go_facts:

- name: Show the active toolchain
  ansible.builtin.debug:
    msg: "{{ ansible_facts.gowin.active }} at {{ ansible_facts.gowin.active_goroot }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts under the C(gowin) key.
  returned: always
  type: dict
  contains:
    gowin:
      description: Host and toolchain facts.
      returned: always
      type: dict
      contains:
        os_caption:
          description: The operating system's name.
          type: str
          returned: always
          sample: Microsoft Windows Server 2022 Datacenter
        os_build:
          description: The build number.
          type: int
          returned: always
          sample: 20348
        os_version:
          description: The version string.
          type: str
          returned: always
          sample: 10.0.20348
        edition:
          description: The edition ID.
          type: str
          returned: always
          sample: ServerDatacenter
        installation_type:
          description: V(Server) or V(Server Core).
          type: str
          returned: always
        server_core:
          description: Whether this is Server Core.
          type: bool
          returned: always
        arch:
          description: The host's architecture as Go names it (V(amd64), V(arm64), V(386)).
          type: str
          returned: always
        powershell_version:
          description: The Windows PowerShell version.
          type: str
          returned: always
          sample: 5.1.20348.2400
        powershell_language_mode:
          description: The language mode (the agent needs V(FullLanguage)).
          type: str
          returned: always
        dotnet_release:
          description: The .NET Framework 4 C(Release) value.
          type: int
          returned: always
          sample: 528449
        dotnet_version:
          description: The .NET Framework version that release means.
          type: str
          returned: always
          sample: "4.8"
        long_paths_enabled:
          description: Whether C(LongPathsEnabled) is 1.
          type: bool
          returned: always
        pending_reboot:
          description: Whether the host waits for a reboot.
          type: bool
          returned: always
        install_root:
          description: The install root asked about.
          type: str
          returned: always
        install_drive:
          description: Its drive.
          type: str
          returned: always
          sample: "C:"
        install_drive_free_bytes:
          description: Free space on that drive.
          type: int
          returned: always
        toolchains:
          description: The toolchains M(gowin.server.go_install) recorded, newest first.
          type: list
          elements: dict
          returned: always
          sample:
            - version: 1.22.5
              path: C:\opt\go\1.22.5
              goroot: C:\opt\go\1.22.5
              sha256: 2a1b...
              source_url: https://go.dev/dl/go1.22.5.windows-amd64.zip
              arch: amd64
              installed_at: "2026-11-21T20:00:00Z"
              status: installed
              active: true
        active:
          description:
            - The active version, or null. This is the recorded toolchain the C(current) junction points to, which is
              what C(GOROOT=<install_root>\current) runs.
          type: str
          returned: always
        active_goroot:
          description: The GOROOT through the C(current) junction, or null.
          type: str
          returned: always
        active_mismatch:
          description:
            - Null when the C(current) junction and the C(Active) registry value agree. Otherwise what each one holds,
              and the task warns. M(gowin.server.go_install) switches the junction first and records C(Active)
              second, so a run that stopped between the two leaves the registry naming the previous version.
          type: dict
          returned: always
          sample: {registry: 1.22.5, junction: C:\opt\go\1.22.8}
round_trips:
  description: How many round trips to the host the task made (each one batch of agent operations).
  returned: always
  type: int
  sample: 1
"""
