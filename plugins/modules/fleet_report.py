#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds only documentation: the work is done by the action plugin of the same name
# on the controller; it reaches no host.

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Write the fleet report (JSON, JUnit, HTML) from the evidence of gowin.server.validate
version_added: 0.1.0
description:
  - Runs on the controller only and connects to no host. It reads the structured evidence the role
    C(gowin.server.validate) left on each host in O(hosts), as the variable named by O(evidence_var). That evidence
    is the results of M(gowin.server.go_facts), M(gowin.server.go_verify), M(gowin.server.win_service_go) in check
    mode and M(gowin.server.dsc_baseline) in audit mode. It never parses a message.
  - It writes three files to O(dest). C(report.json) is one document per run, described by the schema
    C(plugins/plugin_utils/_reports/report.schema.json) and by C(docs/report-format.md). C(report.junit.xml) has
    one testcase per host and check, for CI. C(report.html) is one self-contained page with inline CSS and a little
    JavaScript and loads nothing from the network.
  - A host in O(hosts) that left no evidence (unreachable, or failed before validate) is in the report with an
    error. Hosts whose evidence comes from the simulated host C(gowin.server.winsim) are marked C(modelled), and the
    page shows a SIMULATED banner.
  - Each file is written to a temporary file in O(dest) and then renamed over the old one, so a reader never sees a
    half-written report. Only fields the report names are copied from the module results, so no module
    argument, password or secret environment value can reach it.
  - Run it once, after validate, for example in a play on C(localhost) (see EXAMPLES).
author:
  - Gowin Team (@gowin)
options:
  hosts:
    description:
      - The inventory hosts to report on, in this order.
      - Empty (the default) means the hosts of the current play, as C(ansible_play_hosts_all).
    type: list
    elements: str
    default: []
  evidence_var:
    description: The host variable that holds each host's evidence (what C(gowin.server.validate) sets).
    type: str
    default: validate_evidence
  dest:
    description:
      - The folder the report files go to, on the controller. It is created when missing.
      - A O(dest) that exists and is not a folder, or that the user running Ansible cannot write to (or create), fails
        the task naming O(dest) before anything is written.
      - Empty (the default) means C(gowin-reports/<run id>) under the current directory.
    type: path
    default: ""
  run_id:
    description:
      - The id of the run, in the report and in the default O(dest). It is 1 to 64 letters, digits, C(.), C(_) or C(-).
      - Empty (the default) means the time in UTC and a random suffix, such as C(20261207T101500Z-3f9a).
    type: str
    default: ""
  title:
    description: The title of the report (1 to 200 characters, one line).
    type: str
    default: Go on Windows Server fleet report
  formats:
    description: The files to write.
    type: list
    elements: str
    choices: [json, junit, html]
    default: [json, junit, html]
notes:
  - Check mode is supported. It builds the report and returns its summary, and writes nothing.
  - C(changed) is always false. The report records what the run found and is not the state of any host, so a
    second run of a site that changes nothing stays at C(changed=0).
seealso:
  - module: gowin.server.dsc_baseline
  - module: gowin.server.go_verify
"""

EXAMPLES = r"""
- name: Validate every host
  hosts: windows
  gather_facts: false
  roles:
    - role: gowin.server.validate

- name: Write the fleet report
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Report on the hosts just validated
      gowin.server.fleet_report:
        hosts: "{{ groups['windows'] }}"
        dest: reports/latest
      register: report

    - name: Say where the page is
      ansible.builtin.debug:
        msg: "{{ report.files.html }}: {{ report.summary.hosts_by_status }}"
"""

RETURN = r"""
run_id:
  description: The id of the run.
  returned: always
  type: str
  sample: 20261207T101500Z-3f9a
dest:
  description: The folder of the report files (absolute).
  returned: always
  type: str
files:
  description: The path of each file written, by format (in check mode, where it would be written).
  returned: always
  type: dict
  sample: {json: /srv/reports/latest/report.json, junit: /srv/reports/latest/report.junit.xml, html: /srv/reports/latest/report.html}
summary:
  description:
    - The report's summary. It holds C(hosts), C(hosts_by_status) (pass, fail, error), C(checks) (counts of pass, fail,
      error, waived and skipped) and C(matrix) (per host and area, the worst status and the number of checks passed).
  returned: always
  type: dict
simulated:
  description: Whether the evidence of any host came from the simulated host C(gowin.server.winsim).
  returned: always
  type: bool
"""
