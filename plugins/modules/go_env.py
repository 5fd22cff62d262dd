#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds only documentation: the work is done by the action plugin of the same name
# on the controller, which talks to the host through the gowin agent.

DOCUMENTATION = r"""
---
module: go_env
short_description: Set the Go environment on Windows Server, validated by Go's own rules
version_added: 0.1.0
description:
  - Sets C(GOROOT), C(GOPATH), C(GOBIN), C(GOMODCACHE), C(GOCACHE), C(GOPROXY), C(GOSUMDB), C(GOPRIVATE),
    C(GONOPROXY), C(GONOSUMDB), C(GOINSECURE), C(GOFLAGS), C(CGO_ENABLED), C(GOTOOLCHAIN), C(GOAMD64), the telemetry
    mode, and other C(GO*) variables at machine or user scope. Each value is checked on the controller the way
    the go command checks it, and the messages quote its wording, so a C(GOPROXY) typo fails the task instead
    of the next build.
  - Ensures entries on C(PATH) at that scope (by default C(GOROOT\bin) and C(GOBIN)). The machine C(Path) stays
    C(REG_EXPAND_SZ), and C(%VAR%) references are kept unexpanded. Entries compare case-insensitively, ignoring a
    trailing C(\) and surrounding quotes. Nothing is added twice, and other entries keep their order.
  - After a change, running processes are told that the environment changed (C(WM_SETTINGCHANGE)).
  - Creates the C(GOMODCACHE) and C(GOCACHE) folders with access for their owner, Administrators and SYSTEM only.
  - Returns each variable before and after, and what a new process would see (machine and user combined as
    Windows combines them). It also returns what C(go env) would report (the process environment, then the user's
    C(%AppData%\go\env), then C(GOROOT\go.env)), and warnings for settings that conflict.
  - A run that changes nothing costs one round trip to the host.
  - The connection account must be a local administrator on the host. C(become) does not apply.
author:
  - Gowin Team (@gowin)
options:
  scope:
    description:
      - V(machine) sets system variables (C(HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment)).
      - V(user) sets the variables of the account Ansible connects as (C(HKCU\Environment)).
    type: str
    choices: [machine, user]
    default: machine
  state:
    description:
      - V(present) sets the variables given and ensures the O(path) entries.
      - V(absent) removes the variables named by the options given (their values are ignored) and the O(path) entries,
        and O(session_script) if given. Nothing else is touched.
    type: str
    choices: [present, absent]
    default: present
  install_root:
    description:
      - The O(gowin.server.go_install#module:install_root) of M(gowin.server.go_install). When O(goroot) is not given
        and a version is active there, C(GOROOT) is set to C(<install_root>\current).
    type: str
    default: C:\opt\go
  goroot:
    description:
      - C(GOROOT). Default is the C(current) junction of the active toolchain M(gowin.server.go_install) recorded, if
        any. Otherwise C(GOROOT) is not managed.
    type: str
  gopath:
    description:
      - C(GOPATH), one absolute path or several separated by C(;). It must not be C(GOROOT) or inside it.
    type: str
  gobin:
    description: C(GOBIN), an absolute path.
    type: str
  gomodcache:
    description: C(GOMODCACHE), an absolute path; the folder is created with access for its owner, Administrators and SYSTEM only.
    type: str
  gocache:
    description: C(GOCACHE), an absolute path; the folder is created like O(gomodcache).
    type: str
  goproxy:
    description:
      - C(GOPROXY), a string or a list (joined with C(,)). Entries separated by C(,) fall through to the next one only
        on 404 or 410; entries separated by C(|) fall through on any error.
      - Each entry is C(direct), C(off), or an C(https://), C(http://) or C(file://) URL. Plain C(http://) needs
        O(allow_plain_http). Entries after C(direct) or C(off) are never used, and the module warns about them.
      - Credentials in a URL are allowed (C(https://user:password@proxy.example.com)); percent-encode C(,), C(|), C(/),
        C(?), C(#) and characters net/url refuses in user info (spaces, quotes, non-ASCII) in the password, as the go
        command needs. The host gets the real value; in results, diffs, warnings and messages the password is
        hidden (C(https://user:xxxxx@proxy.example.com)); each entry is parsed as net/url parses it and its user
        info, up to the last C(@) before the host, is redacted. Such a password is no_log for the whole task.
    type: raw
  gosumdb:
    description:
      - C(GOSUMDB), either V(off), a known database name (C(sum.golang.org)), or a verifier key C(name+hash+key),
        optionally followed by a space and the database URL.
      - The URL is C(https://) or C(http://), or C(file://) for a copy of the database on disk or a share, written
        as the go command reads it on Windows, for example C(file:///C:/mirror/sumdb/sum.golang.org) or
        C(file://fileserver/share/sumdb). C(file://C:/path) (too few slashes) and paths without a drive letter
        are rejected.
      - Credentials in the URL are redacted as for O(goproxy).
    type: str
  goprivate:
    description:
      - C(GOPRIVATE), comma-separated C(path.Match) glob patterns of module path prefixes (a string or a list).
      - Empty patterns are skipped, as the go command skips them. A value of only commas (V(,)) is kept as V(,). It
        matches nothing. In O(gonoproxy) or O(gonosumdb) it still overrides O(goprivate), so that every module
        uses the proxy or the checksum database.
      - Deliberately stricter than the go command, because each of these settings would silently do nothing.
        Malformed patterns (such as C(example.com/[)) are rejected, where the go command ignores them. Patterns
        with whitespace inside are rejected, because module paths never contain whitespace. Blanks around a
        pattern are removed, where the go command would keep them and the pattern would never match.
    type: raw
  gonoproxy:
    description: C(GONOPROXY), patterns as for O(goprivate). When set, it replaces O(goprivate) for the proxy decision.
    type: raw
  gonosumdb:
    description: C(GONOSUMDB), patterns as for O(goprivate).
    type: raw
  goinsecure:
    description: C(GOINSECURE), patterns as for O(goprivate).
    type: raw
  goflags:
    description:
      - C(GOFLAGS), a string or a list of flags, each C(-flag) or C(-flag=value).
      - A string is split the way the go command splits C(GOFLAGS). Fields are separated by blanks, and a field
        in single or double quotes is one flag, for example C("-ldflags=-s -w"). Each list element is one
        flag and is quoted when it contains blanks. Go releases that split C(GOFLAGS) at every blank fail on
        quoted flags, so the module warns when it writes one.
      - A flag that no go command defines (a typo such as C(-typoflag)) is rejected, because every go command
        would fail with C(unknown flag). Set O(allow_unknown_goflags) to keep a flag of a newer Go release.
      - A flag that only some go commands define (C(-f) and C(-e) of C(go list), C(-count) of C(go test), the
        analyzer flags of C(go vet) such as C(-printf)) is accepted with a warning naming those commands, since
        the other go commands ignore it. A value that those commands would refuse, such as C(-f) without a value or
        C(-json=Dir) (a bool for C(go build)), is rejected, and the message names the commands that refuse it.
    type: raw
  allow_unknown_goflags:
    description:
      - Keep O(goflags) entries that no go command known to this collection defines, with a warning, instead of
        failing. Use it for flags added by Go releases newer than this collection.
      - Every go command that does not know such a flag fails, so set this only when all go commands on the host know
        the flag.
    type: bool
    default: false
  cgo_enabled:
    description: C(CGO_ENABLED) (true sets C(1), false sets C(0)).
    type: bool
  gotoolchain:
    description:
      - C(GOTOOLCHAIN), one of V(local), V(auto), V(path), a toolchain name, or V(local), V(auto) or a toolchain
        name followed by C(+auto) or C(+path).
      - A toolchain name is C(go) followed by a Go release, such as C(go1.22.5), C(go1.23rc1) or C(go1.20). It may
        have a custom suffix after C(-), such as C(go1.22.5-corp), which the go command looks up in C(PATH).
      - From Go 1.21 on, a version without a patch number is a language version, not a toolchain. C(go1.22) and
        C(go1.22+auto) are rejected (write C(go1.22.0)), as are names that do not start with C(go1), names with a
        path separator or a blank, and the C(<prefix>-goVERSION) form, which only Go 1.21 read.
    type: str
  gotelemetry:
    description:
      - The go command's telemetry mode (what C(go env GOTELEMETRY) reports). The go command keeps it in the user's
        config, not in the environment, so this writes C(%AppData%\go\telemetry\mode) of the connection account
        the way C(go telemetry off|local|on) does, whatever O(scope) is. With O(state=absent), the mode file is removed
        (back to V(local)).
    type: str
    choices: ["off", local, "on"]
  goamd64:
    description: C(GOAMD64), V(v1) to V(v4).
    type: str
  extra:
    description:
      - Other C(GO*) or C(CGO_*) variables, as a dict of upper-case names to values. Names that have an option of
        their own must use that option.
      - A value that holds a URL with credentials (C(scheme://user:password@host)) is written to the host as given
        and shown redacted, as for O(goproxy).
    type: dict
    default: {}
  path:
    description:
      - Entries to ensure on C(PATH) at this scope. The default is C(GOROOT\bin), and C(GOBIN) when it is set.
      - An empty list leaves C(PATH) alone.
    type: list
    elements: str
  session_script:
    description:
      - Also write a PowerShell script at this path that sets the same variables in a session (dot-source it), for
        sites that keep the persistent C(PATH) untouched.
    type: str
  allow_plain_http:
    description: Accept plain C(http://) entries in O(goproxy).
    type: bool
    default: false
notes:
  - Check mode and diff mode are supported.
  - Processes that are already running, services included, keep their environment until restarted.
    C(WM_SETTINGCHANGE) reaches only programs that listen for it, such as Explorer.
  - Runs at the same time against one host (two playbooks, a job template started twice) do not lose each
    other's changes. The changes are made under the host lock (C(HKLM\SOFTWARE\GoWin\Lock)), in the same
    round trip, and every write holds only if the value is still what the task read; a task that finds a
    value changed reads the host again and plans again. A task waits up to 10 minutes for another run's
    lock; a lock left by a run that died is taken over once its lease (15 minutes) has run out.
seealso:
  - module: gowin.server.go_install
  - module: gowin.server.go_verify
"""

EXAMPLES = r"""
- name: Machine-wide Go environment for an internal proxy
  gowin.server.go_env:
    gopath: C:\go-work
    gomodcache: D:\go-cache\mod
    gocache: D:\go-cache\build
    goproxy:
      - https://athens.corp.example.com
      - direct
    goprivate: corp.example.com/*,git.example.com
    gotoolchain: local

- name: The connection account's own GOFLAGS
  gowin.server.go_env:
    scope: user
    goflags: [-mod=readonly, -trimpath]

- name: A session script instead of touching PATH
  gowin.server.go_env:
    path: []
    session_script: C:\ProgramData\Go\env.ps1

- name: Remove GOFLAGS and GOINSECURE again
  gowin.server.go_env:
    state: absent
    goflags: ""
    goinsecure: ""
    path: []
"""

RETURN = r"""
scope:
  description: The scope that was managed.
  returned: always
  type: str
variables:
  description: Each managed variable, before and after (URL credentials redacted). A null means "not set".
  returned: always
  type: dict
  sample: {"GOPROXY": {"before": null, "after": "https://athens.corp.example.com,direct"}}
path:
  description: The C(PATH) at this scope, before and after, as lists of entries, and what was added or removed.
  returned: always
  type: dict
effective:
  description:
    - C(environment) is what a new process of the connection account sees (machine and user combined, C(Path)
      concatenated, C(%VAR%) expanded), for the Go variables and C(Path).
    - C(go_env) is what C(go env) would report in such a process, by the go command's precedence. That is the process
      environment, then the user's C(%AppData%\go\env), then C(GOROOT\go.env), then the defaults.
  returned: always
  type: dict
warnings:
  description: Settings that conflict or that the go command would ignore.
  returned: always
  type: list
  elements: str
changes:
  description: What the task changed (or would change in check mode), for people.
  returned: always
  type: list
  elements: str
round_trips:
  description: How many round trips to the host the task made (each one batch of agent operations).
  returned: always
  type: int
  sample: 1
"""
