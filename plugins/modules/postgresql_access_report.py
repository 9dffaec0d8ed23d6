#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_report
short_description: Write a fleet report of PostgreSQL access findings on the controller
version_added: 0.1.0
description:
  - Takes the registered results of M(pgsec.hardening.postgresql_access_audit) for many hosts and writes
    one report as JSON (for machines), Markdown and a self-contained HTML page (for people).
  - Hosts whose audit failed or that could not be reached appear in the report as such.
  - Runs on the controller (it is an action plugin); it changes no managed host.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
extends_documentation_fragment:
  - pgsec.hardening.controller
options:
  results:
    description:
      - Registered results of M(pgsec.hardening.postgresql_access_audit) by inventory hostname.
      - A host without a result, or whose result failed or is unreachable, is reported as failed.
    type: dict
    required: true
  extra_findings:
    description:
      - More findings by inventory hostname, added to that host's audit findings (the audit playbook passes
        the cloud security group's, C(pgsec_cloud_firewall.findings)).
    type: dict
    default: {}
  dest:
    description:
      - Directory to write C(pgsec-access-report.json), C(.md) and C(.html) into; created if missing.
      - A relative path is relative to the controller's working directory.
    type: path
    required: true
  formats:
    description: Which reports to write.
    type: list
    elements: str
    choices: [json, markdown, html]
    default: [json, markdown, html]
  fail_on_severity:
    description:
      - Report C(exceeds_threshold=true) when a failed finding has this severity or a worse one.
      - C(none) never does.
    type: str
    choices: [none, info, low, medium, high, critical]
    default: none
  title:
    description: Title of the report.
    type: str
    default: PostgreSQL access audit
attributes:
  check_mode:
    description: Writes the report in check mode too; it only touches the controller.
    support: full
seealso:
  - module: pgsec.hardening.postgresql_access_audit
'''

EXAMPLES = r'''
- name: Write the report of every audited host
  pgsec.hardening.postgresql_access_report:
    results: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'audit'))) }}"
    dest: reports/
    fail_on_severity: high
  register: report
  run_once: true
  delegate_to: localhost
'''

RETURN = r'''
files:
  description: Absolute paths written, by format.
  returned: always
  type: dict
  sample: {json: /srv/reports/pgsec-access-report.json, markdown: /srv/reports/pgsec-access-report.md}
summary:
  description: Per host counts by status and severity, worst failed severity, drift, and failed hosts.
  returned: always
  type: dict
terminal:
  description:
    - The per-host summary as lines for the terminal (state, number of clusters, failed controls by
      severity, manual controls), then the path of each report. The audit playbook prints it.
  returned: always
  type: list
  elements: str
  sample:
    - 'PostgreSQL access audit: 2 hosts, 1 with drift, 0 not audited, worst: high'
    - host  state    clusters  failed  critical  high  medium  low  info  manual
    - pg1   audited         1       5         0     3       2    0     0       3
    - pg2   audited         1       0         0     0       0    0     0       3
    - 'json report: /srv/reports/pgsec-access-report.json'
stats:
  description: The small summary meant for C(ansible.builtin.set_stats) (AWX shows it with the job).
  returned: always
  type: dict
host_stats:
  description:
    - One C(set_stats) variable per host, named C(pgsec_audit_host_) and the host name, each with C(host),
      C(state), C(message), C(drift), C(worst_severity), C(clusters), C(counts) and C(failed_by_severity).
    - In a name with characters other than letters, digits and C(_), they become C(_) and a hash of the
      name follows, so that two hosts never share a variable.
    - Top-level keys survive AWX's merge of the artifacts of a sliced job, which replaces keys of the same name.
  returned: always
  type: dict
  sample:
    pgsec_audit_host_pg1:
      host: pg1
      state: audited
      message: null
      drift: true
      worst_severity: high
      clusters: [15/main]
      counts: {fail: 5, error: 0, manual: 3, pass: 10}
      failed_by_severity: {critical: 0, high: 3, medium: 2, low: 0, info: 0}
exceeds_threshold:
  description: Whether a failed finding reached O(fail_on_severity).
  returned: always
  type: bool
'''
