#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds only documentation: the work is done by the action plugin of the same name
# on the controller, which talks to the host through the gowin agent.

DOCUMENTATION = r"""
---
module: dsc_baseline
short_description: Test a Windows Server against a hardening baseline, or enforce it, with evidence per setting
version_added: 0.2.0
description:
  - Tests the host against a baseline document (DSC style, see C(docs/baseline-format.md) in the collection) and
    returns structured evidence per setting (expected, actual, status, references) for reports.
  - With O(mode=audit) it only reads (one round trip whatever the number of settings) and never changes anything;
    C(changed) is always false.
  - With O(mode=enforce) it tests, sets what differs and tests again in the same batch (two round trips), after
    checking every change against the connection the run uses (O(lockout_guard)).
  - Setting kinds are C(registry), C(tls) (Schannel), C(audit_policy), C(security_policy) (account policies and
    user rights), C(service), C(optional_feature), C(firewall_profile) and C(wdac) (an App Control policy from
    one of Microsoft's example policies, in audit mode, or enforced only when O(include) names the setting).
  - Against the simulated host C(gowin.server.winsim) every store is modelled with the defaults of its OS profile,
    and results say C(modelled=true).
author:
  - Gowin Team (@gowin)
options:
  baseline:
    description:
      - The name of a baseline the collection ships (V(go_server)) or the path of a baseline document on the
        controller (YAML or JSON; relative to the playbook's folder when not absolute).
      - The document is validated against the collection's JSON schema; an error names the setting and field.
    type: str
    default: go_server
  settings:
    description:
      - More settings, in the document format; one with the id of a baseline setting replaces it.
    type: list
    elements: dict
    default: []
  mode:
    description:
      - V(audit) tests only. V(enforce) tests, sets what differs, then tests again.
    type: str
    choices: [audit, enforce]
    default: audit
  include:
    description:
      - Only the settings with one of these ids or tags. A setting marked C(opt_in) in the document (such as the
        IPv6 preference of V(go_server)) is tested only when named here by id or tag.
      - An entry that is neither an id nor a tag of the baseline is refused.
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Leave out the settings with one of these ids or tags (after O(include)).
    type: list
    elements: str
    default: []
  waivers:
    description:
      - Accepted exceptions. A setting that is not compliant and has a waiver in force gets status C(waived) and is
        not set by an enforce.
      - A waiver whose O(waivers[].expires) date has passed counts as none; it is reported with C(expired=true).
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: The setting's id.
        type: str
        required: true
      reason:
        description: Why the setting is not applied (required; a waiver without a reason is refused).
        type: str
        required: true
      expires:
        description: The last day the waiver is in force, V(YYYY-MM-DD).
        type: str
        required: true
      approved_by:
        description: Who approved the waiver.
        type: str
  reboot:
    description:
      - V(never) reports C(reboot_required) and leaves the restart to you.
      - V(if_required) restarts the host through the connection after an enforce that leaves a setting waiting for a
        restart (as M(ansible.windows.win_reboot) does), waits until the host answers from a new boot, and tests every
        setting again. An audit never restarts anything.
      - An enforce notes the settings it set that need a restart on the host (C(HKLM\SOFTWARE\GoWin\Baseline)), so
        that until the host has restarted, an audit reports them with C(reboot_required=true).
    type: str
    choices: [never, if_required]
    default: never
  reboot_timeout_s:
    description: How long O(reboot=if_required) waits for the host to come back, in seconds.
    type: int
    default: 600
  lockout_guard:
    description:
      - Before enforcing, check each change against the connection in use and refuse those that would cut it. The
        setting gets status C(error) with the reason, it is not applied, and the task fails.
      - Guards C(LocalAccountTokenFilterPolicy=0) while connecting as a local account other than the built-in
        Administrator over WinRM or PSRP; C(FilterAdministratorToken=1) while connecting as the built-in Administrator;
        C(RestrictReceivingNTLMTraffic=2) while authenticating with NTLM (which includes Negotiate with a local
        account); the WinRM service policy C(AllowBasic=0) with Basic authentication, C(AllowUnencryptedTraffic=0)
        with Basic or certificate authentication over HTTP, C(AllowAutoConfig=0); the C(WinRM) service stopped or
        disabled over WinRM or PSRP (C(sshd) over SSH); denying network logon (C(SeDenyNetworkLogonRight)) to a SID
        the connection account's network logon carries, or giving access from the network (C(SeNetworkLogonRight))
        only to SIDs it does not carry; a firewall profile set to block inbound connections (or turned on) when no
        enabled inbound rule allows the connection's TCP port on that profile (WinRM's built-in rules and
        O(lockout_guard_rules) are looked at); an enforced C(wdac) policy over WinRM, PSRP or SSH (user-mode code
        integrity puts remote PowerShell into ConstrainedLanguage mode).
      - V(false) turns the guard off. Keep it on unless another way in is ready.
    type: bool
    default: true
  lockout_guard_rules:
    description:
      - Names (IDs) of more firewall rules that keep this run's port open, looked at by the firewall profile guard.
    type: list
    elements: str
    default: []
notes:
  - The connection account must be a local administrator (as for every module of this collection).
  - The connection facts the guard uses come from the connection plugin (C(ansible.builtin.winrm) C(transport) and
    C(port), C(ansible.builtin.psrp) C(auth) and C(port), C(ansible.builtin.ssh)) and from the host (the account's
    SID and whether it is local). Over C(gowin.server.winsim) they come from its C(remote_*) options.
  - Settings that need a restart report C(reboot_required); the restart is yours to schedule unless O(reboot=if_required).
seealso:
  - module: gowin.server.win_service_go
"""

EXAMPLES = r"""
- name: Audit the host against the shipped go_server baseline (changes nothing)
  gowin.server.dsc_baseline:
    baseline: go_server
  register: audit

- name: Enforce the TLS and SMB settings only, with a waiver for one of them
  gowin.server.dsc_baseline:
    baseline: go_server
    mode: enforce
    include: [tls, smb]
    waivers:
      - id: tls.tls1_0.client
        reason: Legacy payment gateway client, replaced in Q1
        expires: "2027-03-31"
        approved_by: Security Architecture Board

- name: Enforce, replacing one shipped setting and adding one of our own
  gowin.server.dsc_baseline:
    mode: enforce
    settings:
      - id: account.lockout_threshold
        title: Accounts lock after 5 bad passwords
        kind: security_policy
        refs: ["MSFT Account lockout threshold"]
        severity: medium
        rationale: Slows password guessing against local accounts.
        expect: {section: system_access, key: LockoutBadCount, value: 5, min: 1, max: 5}
      - id: orders.tls_gateway
        title: The orders API gateway key is set
        kind: registry
        refs: ["MSFT Registry value (internal standard)"]
        severity: low
        rationale: The gateway reads its region from here.
        expect: {key: 'HKLM\SOFTWARE\Orders', name: Region, type: REG_SZ, value: eu-west}
"""

RETURN = r"""
mode:
  description: The mode the task ran in.
  returned: always
  type: str
  sample: audit
baseline:
  description: The baseline's name, title and number of settings in the document.
  returned: always
  type: dict
  sample: {name: go_server, title: Windows Server baseline for servers running Go services, settings: 68}
host:
  description: The host's release and installation type as the baseline's C(applies_to) reads them.
  returned: always
  type: dict
  sample: {release: ws2022, core: false, os_build: 20348}
results:
  description:
    - One entry per selected setting, in document order.
    - C(status) is C(compliant), C(non_compliant), C(fixed), C(waived), C(not_applicable) or C(error).
    - C(expected) is the setting's C(expect) (without the registry key and name, which C(evidence) has);
      C(actual) what the host has (C(null) when a registry value or service is not there).
    - C(evidence) says where the value was read; C(note) explains a status for people; C(planned) is the change an
      enforce in check mode would make; C(waiver) is the waiver in force.
  returned: always
  type: list
  elements: dict
  sample:
    - id: fs.long_paths
      title: Win32 long paths are enabled
      kind: registry
      refs: ["MSFT Maximum Path Length Limitation"]
      severity: medium
      tags: [go, filesystem]
      status: compliant
      expected: {type: REG_DWORD, value: 1}
      actual: {type: REG_DWORD, value: 1}
      reboot_required: false
      evidence: {source: registry, key: 'HKLM\SYSTEM\CurrentControlSet\Control\FileSystem', key_exists: true}
      note: null
totals:
  description: The number of results per status.
  returned: always
  type: dict
  sample: {compliant: 40, non_compliant: 20, fixed: 0, waived: 1, not_applicable: 3, error: 0}
score:
  description: Percent of the applicable, unwaived settings that are compliant or fixed.
  returned: always
  type: float
  sample: 66.7
reboot_required:
  description: A setting fixed by this run, or pending on the host, takes effect only after a restart.
  returned: always
  type: bool
waivers:
  description: Every waiver given, with C(expired) and whether it C(applied) to a non-compliant setting.
  returned: always
  type: list
  elements: dict
rebooted:
  description: The host was restarted by this task (O(reboot=if_required)) and tested again afterwards.
  returned: always
  type: bool
lockout:
  description: The settings the lockout guard refused, with the reason.
  returned: always
  type: list
  elements: dict
connection:
  description: What the lockout guard knew of the connection.
  returned: always
  type: dict
  sample: {transport: winrm, auth: ntlm, port: 5985, https: false, account: local, builtin_admin: false}
modelled:
  description: True when the host is the simulated C(gowin.server.winsim), whose stores are models.
  returned: always
  type: bool
"""
