#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds only documentation: the work is done by the action plugin of the same name
# on the controller, which talks to the host through the gowin agent.

DOCUMENTATION = r"""
---
module: go_install
short_description: Install verified Go toolchains side by side on Windows Server
version_added: 0.1.0
description:
  - Installs Go on Windows Server 2016, 2019, 2022 and 2025 (Server Core included) from the official zip
    distribution (never the MSI), verified by SHA-256, into C(<install_root>\<version>), side by side with
    other versions.
  - One version is active; C(<install_root>\current) is a junction to it, so C(<install_root>\current) is a stable
    C(GOROOT).
  - Installs are atomic. The zip is downloaded to a staging folder, verified by SHA-256, and extracted. The module
    then checks that C(go\VERSION) names the requested version and that C(bin\go.exe) is a PE image for the target
    architecture. Only then is the folder renamed into place, C(go version) and C(go env GOROOT) run, and the version
    recorded. A failure leaves the active version as it was. A run that was interrupted is completed by the next run.
  - A re-install of a version that is there (damaged, another architecture, another file) moves the old folder aside
    only once the new tree is verified, and puts it back if anything fails after that.
  - Runs at the same time against one host serialize on the host lock (C(HKLM\SOFTWARE\GoWin\Lock)); a run that
    finds the version installed by another run meanwhile reads the host again. A task waits up to 10 minutes for
    another run's lock; a lock left by a run that died is taken over once its 15-minute lease has run out.
  - Each installed version is recorded under C(HKLM\SOFTWARE\GoWin\Toolchains\<version>) (path, SHA-256, source URL,
    install time); the active version is the C(Active) value of C(HKLM\SOFTWARE\GoWin\Toolchains).
  - All deciding happens on the controller. A run that changes nothing costs one round trip to the host; an install
    costs two, or three when the controller pushes the zip (O(download_on=controller), O(source=controller)), because
    the staging folder must exist before the push.
  - The connection account must be a local administrator on the host. C(become) does not apply.
  - This is an action plugin; it works over the C(ansible.windows) connections (winrm, psrp, ssh with PowerShell)
    and the simulated Windows host of the C(gowin.server.winsim) connection plugin.
author:
  - Gowin Team (@gowin)
options:
  version:
    description:
      - The Go version to install or remove.
      - An exact version (V(1.22.5) or V(go1.22.5)); a minor series (V(1.22)), meaning the newest stable patch release
        of that series in the index; or V(latest), the newest stable release.
      - Pre-releases (V(1.23rc1), V(1.24beta1)) are installed only when named exactly.
      - Numbers are written without leading zeros, as Go writes them (V(1.022) is refused, not read as 1.22).
        Before Go 1.21 the first release of a series is named C(go1.20), not C(go1.20.0); V(1.20.0) means that
        release, while V(1.20) stays the series (its newest patch release).
      - Must be exact when O(source) is V(url) or V(controller), and when O(state=absent).
      - Quote it in YAML. Unquoted, V(1.20) is the number 1.2 by the time it reaches the module; a number is refused
        with a message saying to quote it.
    type: str
    required: true
  state:
    description:
      - V(present) installs the version (and activates it when O(activate) is true).
      - V(absent) removes a version this module installed. It refuses to remove the active version unless O(force)
        is true.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), also remove the active version, leaving no version active.
    type: bool
    default: false
  arch:
    description:
      - The architecture of the distribution. V(auto) uses the host's architecture.
    type: str
    choices: [auto, amd64, arm64, '386']
    default: auto
  install_root:
    description:
      - The folder that holds one sub-folder per version, plus the C(current) junction.
      - 'An absolute local path. Because it becomes C(GOROOT) and enters C(PATH), folder names may use only letters,
        digits, spaces, parentheses and C(. _ - + @ # ~ ,) (an allowlist; quotes of any kind, typographic ones included, are
        refused). Win32 device paths (C(\\?\), C(\\.\)) are refused.'
    type: str
    default: C:\opt\go
  activate:
    description:
      - Make this version the active one (retarget the C(current) junction and record it).
    type: bool
    default: true
  source:
    description:
      - Where the distribution comes from.
      - V(index) looks the version up in a JSON index in the format of U(https://go.dev/dl/?mode=json&include=all)
        at O(index_url), takes its SHA-256 from there, and fetches the file from O(base_url).
      - V(url) fetches O(url), an explicit zip URL or UNC path; O(checksum) is required.
      - V(controller) pushes O(src), a zip file on the controller; O(checksum) is required.
    type: str
    choices: [index, url, controller]
    default: index
  index_url:
    description:
      - The download index, fetched by the controller (cached there for five minutes).
    type: str
    default: https://go.dev/dl/?mode=json&include=all
  base_url:
    description:
      - Where the files named in the index are fetched from, for an internal mirror such as Artifactory.
        The file name from the index is appended.
    type: str
    default: https://go.dev/dl/
  url:
    description:
      - With O(source=url), the zip to install. Either an C(https://) URL or a UNC path (C(\\server\share\go1.22.5.windows-amd64.zip)).
      - Given with another O(source), the task fails (set O(source=url)).
    type: str
  src:
    description:
      - With O(source=controller), the path of the zip on the controller.
      - Given with another O(source), the task fails (set O(source=controller)).
    type: path
  download_on:
    description:
      - V(host) makes each host download the file itself.
      - V(controller) downloads each file once into the controller's cache (C(~/.cache/gowin/downloads), or
        C($GOWIN_CACHE_DIR/downloads)), verifies it by SHA-256 on every use, and pushes it to hosts that have no
        internet access. Needs an C(http(s\)) source.
    type: str
    choices: [host, controller]
    default: host
  checksum:
    description:
      - The expected SHA-256 of the zip, as C(sha256:<64 hex digits>).
      - Required unless the index gives it. When both are given they must agree.
    type: str
  allow_plain_http:
    description:
      - Accept plain C(http://) for O(index_url), O(base_url) and O(url). The SHA-256 check still applies.
    type: bool
    default: false
  validate_certs:
    description:
      - Validate TLS certificates for every download (index, files). Turn off only for a test mirror.
    type: bool
    default: true
  url_username:
    description:
      - User name for HTTP basic authentication to the index and the files.
      - Instead, a URL may hold its own credentials (C(https://user:password@mirror.example.com/go/dl/)) in
        O(index_url), O(base_url) or O(url); they are used for that URL only. Percent-encode the password (RFC 3986);
        user info with characters a URL cannot hold unencoded (spaces, quotes, C(@), non-ASCII letters) is taken as
        written, up to the last C(@) before the host. Such a password is no_log for the whole task; the URL is recorded
        on the host, returned and printed without its user info. Giving credentials both ways is refused.
      - On redirects, the controller (O(download_on=controller), and the index fetch) and the hosts follow at most
        10 redirects themselves, and send the credentials only to the origin (scheme, host and port) of the URL given;
        a redirect to another origin, such as a mirror's CDN, is followed without them, as browsers, curl and requests
        do. A redirect from C(https://) to plain C(http://) is refused (on the controller unless O(allow_plain_http)),
        and so is one to anything but C(http://) or C(https://).
    type: str
  url_password:
    description:
      - Password for HTTP basic authentication. Needs O(url_username). Never logged or returned.
    type: str
  timeout:
    description:
      - Seconds allowed for each download, from 1 to 86400.
    type: int
    default: 600
  keep_versions:
    description:
      - After installing, keep only this many of the newest versions in O(install_root) that this module installed,
        plus the active one and the one this task asks for, and remove the rest. Folders the module did not install
        are never touched.
      - A whole number from 1 to 1000.
    type: int
  harden_acl:
    description:
      - Lock O(install_root) down so that only administrators can change the toolchains.
      - Inheritance off; Administrators and SYSTEM full control; Users and O(read_groups) read and execute only.
        This is the intent of C(icacls C:\opt\go /grant Users:(RX\) /deny Users:(WD,AD,WA\)) without the deny
        entry, because every account, administrators included, is a member of Users, so a deny entry for Users
        would lock out the administrators that manage the toolchains.
    type: bool
    default: true
  read_groups:
    description:
      - More accounts or groups (C(DOMAIN\name), a local name, or a SID) given read and execute on O(install_root)
        when O(harden_acl) is true.
    type: list
    elements: str
    default: []
notes:
  - Check mode and diff mode are supported. In check mode nothing on the host changes; the result says what would.
  - The account Ansible connects as must be a local administrator.
  - Against the simulated host C(gowin.server.winsim), running C(go.exe) is modelled from the files, and results
    say so with C(modelled=true).
seealso:
  - module: gowin.server.go_facts
"""

EXAMPLES = r"""
- name: Install the newest Go 1.22 patch release and make it active
  gowin.server.go_install:
    version: "1.22"

- name: Install an exact version from an internal mirror, keep two versions
  gowin.server.go_install:
    version: 1.22.5
    index_url: https://artifactory.example.com/go/dl/?mode=json&include=all
    base_url: https://artifactory.example.com/go/dl/
    url_username: "{{ mirror_user }}"
    url_password: "{{ mirror_password }}"
    keep_versions: 2

- name: Hosts without internet access get the file pushed from the controller
  gowin.server.go_install:
    version: latest
    download_on: controller

- name: Install from a file share, without activating it
  gowin.server.go_install:
    version: 1.23.2
    source: url
    url: \\fileserver\software\go\go1.23.2.windows-amd64.zip
    checksum: sha256:0b2b8bd4b5ebd4c2b9a45e1b1d9d4e5a8f5e7fca3e4f2b6f8c9a0b1c2d3e4f5a
    activate: false

- name: Remove an old version
  gowin.server.go_install:
    version: 1.21.13
    state: absent
"""

RETURN = r"""
version:
  description: The version this task resolved to (without the C(go) prefix).
  returned: always
  type: str
  sample: 1.22.5
goroot:
  description: The GOROOT of that version.
  returned: always
  type: str
  sample: C:\opt\go\1.22.5
active:
  description: The active version after the task, or null when none is.
  returned: always
  type: str
  sample: 1.22.5
active_goroot:
  description: The stable GOROOT through the C(current) junction, when a version is active.
  returned: always
  type: str
  sample: C:\opt\go\current
installed_versions:
  description: Every version recorded as installed after the task, newest first.
  returned: always
  type: list
  elements: str
  sample: [1.22.5, 1.21.13]
sha256:
  description: SHA-256 of the zip the version was installed from.
  returned: when the version is installed
  type: str
source_url:
  description: Where the zip came from.
  returned: when the version is installed
  type: str
arch:
  description: The architecture of the toolchain.
  returned: always
  type: str
  sample: amd64
changes:
  description: What the task changed (or would change in check mode), for people.
  returned: always
  type: list
  elements: str
go_version:
  description: The output of C(go version) after an install.
  returned: when a version was installed
  type: str
  sample: go version go1.22.5 windows/amd64
modelled:
  description: True when the host is simulated and C(go version) was derived from the files, not run.
  returned: when a version was installed
  type: bool
diff:
  description: The toolchain state before and after (also shown with C(--diff)).
  returned: always
  type: dict
round_trips:
  description: How many round trips to the host the task made (each one batch of agent operations).
  returned: always
  type: int
  sample: 1
"""
