#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds only documentation: the work is done by the action plugin of the same name
# on the controller, which talks to the host through the gowin agent.

DOCUMENTATION = r"""
---
module: go_verify
short_description: Check a Go installation on Windows Server the way a person would after installing it
version_added: 0.1.0
description:
  - Runs the usual post-install checklist on the host, in the environment a new process of the connection account
    would get (machine and user variables combined, as Windows combines them).
  - It runs C(go version) and C(go env -json) and compares them with the expectations given. It checks that
    C(GOROOT\bin) is on that C(PATH).
  - With O(build), it runs a smoke test in a fresh temporary folder (C(go mod init), a hello program, C(go build)) and
    then removes the folder.
  - Returns every check with C(pass) and its evidence. The task fails when a check fails, unless
    O(fail_on_mismatch=false).
  - Costs two round trips, one to read and one to run the checks.
  - Against the simulated host C(gowin.server.winsim), the go commands are modelled (C(go version) from
    C(go\VERSION), C(go env) from Go's precedence rules, C(go mod init) writes C(go.mod)), and results say
    C(modelled=true).
author:
  - Gowin Team (@gowin)
options:
  install_root:
    description:
      - Where M(gowin.server.go_install) put the toolchains; used to find C(go.exe) when O(go_exe) is not given and
        C(GOROOT) is not set.
    type: str
    default: C:\opt\go
  go_exe:
    description:
      - The C(go.exe) to check. The default is C(GOROOT\bin\go.exe) for the C(GOROOT) a new process sees, or
        C(<install_root>\current\bin\go.exe).
    type: str
  version:
    description: The expected Go version, exact (V(1.22.5)) or a minor series (V(1.22)).
    type: str
  goroot:
    description: The expected C(GOROOT) (compared case-insensitively, ignoring a trailing C(\)).
    type: str
  gopath:
    description: The expected C(GOPATH).
    type: str
  gobin:
    description: The expected C(GOBIN).
    type: str
  gomodcache:
    description: The expected C(GOMODCACHE).
    type: str
  gocache:
    description: The expected C(GOCACHE).
    type: str
  goproxy:
    description: The expected C(GOPROXY) (a string or a list joined with C(,)).
    type: raw
  gosumdb:
    description: The expected C(GOSUMDB).
    type: str
  goprivate:
    description: The expected C(GOPRIVATE) (a string or a list joined with C(,)).
    type: raw
  gonoproxy:
    description: The expected C(GONOPROXY).
    type: raw
  gonosumdb:
    description: The expected C(GONOSUMDB).
    type: raw
  goinsecure:
    description: The expected C(GOINSECURE).
    type: raw
  goflags:
    description: The expected C(GOFLAGS) (a string or a list joined with spaces).
    type: raw
  cgo_enabled:
    description: The expected C(CGO_ENABLED).
    type: bool
  gotoolchain:
    description: The expected C(GOTOOLCHAIN).
    type: str
  env:
    description: Other expected C(go env) values, as a dict of names to values.
    type: dict
    default: {}
  build:
    description:
      - Run the smoke test (C(go mod init), a hello program, C(go build)) in a temporary folder, then remove it.
      - Skipped in check mode, which writes nothing.
    type: bool
    default: true
  fail_on_mismatch:
    description: Fail the task when a check fails. With false, the checks are only reported.
    type: bool
    default: true
notes:
  - Check mode is supported; the smoke test is skipped in it.
  - The checks run as the connection account, which must be a local administrator.
seealso:
  - module: gowin.server.go_env
  - module: gowin.server.go_install
"""

EXAMPLES = r"""
- name: Check the toolchain and the environment after setting them
  gowin.server.go_verify:
    version: "1.22"
    goproxy: https://athens.corp.example.com,direct
    gotoolchain: local

- name: Report only, without building
  gowin.server.go_verify:
    build: false
    fail_on_mismatch: false
  register: go_check
"""

RETURN = r"""
passed:
  description: Whether every check passed.
  returned: always
  type: bool
checks:
  description: Every check, with what was expected, what was found, and the evidence.
  returned: always
  type: list
  elements: dict
  sample:
    - name: go version
      pass: true
      expected: go1.22.5
      actual: go version go1.22.5 windows/amd64
      modelled: false
go_version:
  description: The output of C(go version).
  returned: always
  type: str
go_env:
  description: The output of C(go env -json) (URL credentials redacted).
  returned: always
  type: dict
go_exe:
  description: The C(go.exe) that was checked.
  returned: always
  type: str
modelled:
  description: True when the host is simulated and the go commands were modelled rather than run.
  returned: always
  type: bool
round_trips:
  description: How many round trips to the host the task made (each one batch of agent operations).
  returned: always
  type: int
  sample: 1
"""
