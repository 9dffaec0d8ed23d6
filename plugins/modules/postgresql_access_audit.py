#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_audit
short_description: Check every PostgreSQL cluster on a host against the access policy
version_added: 0.1.0
description:
  - Gathers the same facts as M(pgsec.hardening.postgresql_access_facts) and evaluates them against
    the collection's access policy, returning one finding per control and cluster.
  - Each finding has C(id), C(host), C(cluster), C(subject), C(expected), C(actual), C(status)
    (C(pass), C(fail), C(manual) or C(error)), C(severity), C(reference) (a CIS PostgreSQL benchmark or
    pgdsat control where one exists), C(title) and C(remediation).
  - Reads only and never changes the host.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
options:
  policy:
    description:
      - The access policy, as the collection's C(pgsec_*) variables (for example C(pgsec_profile),
        C(pgsec_clients), C(pgsec_port), C(pgsec_unix_socket_permissions), C(pgsec_tls_min_protocol_version)).
      - Missing keys take the collection's defaults.
    type: dict
    default: {}
  data_directories:
    description: Extra data directories to inspect, as for M(pgsec.hardening.postgresql_access_facts).
    type: list
    elements: path
    default: []
  include_facts:
    description: Also return the gathered facts as C(ansible_facts.pgsec).
    type: bool
    default: false
attributes:
  check_mode:
    description: Runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is nothing to diff.
    support: none
seealso:
  - module: pgsec.hardening.postgresql_access_facts
'''

EXAMPLES = r'''
- name: Audit against the CIS profile for one client network
  pgsec.hardening.postgresql_access_audit:
    policy:
      pgsec_profile: cis
      pgsec_clients:
        - name: app
          sources: [198.18.1.0/24]
          databases: [appdb]
          users: [app]
  register: audit

- name: Show what failed
  ansible.builtin.debug:
    msg: "{{ audit.findings | selectattr('status', 'equalto', 'fail') | map(attribute='id') | list }}"
'''

RETURN = r'''
findings:
  description: One entry per control and cluster (per host for host-wide controls).
  returned: always
  type: list
  elements: dict
  sample:
    - id: listen.not_wildcard
      host: db1
      cluster: 15/main
      subject: listen_addresses
      expected: specific addresses, never '*'
      actual: "'*' (live listeners 0.0.0.0:5432, [::]:5432)"
      status: fail
      severity: high
      reference: CIS PostgreSQL 17 v1.0.0 5.2
counts:
  description: Number of findings by status.
  returned: always
  type: dict
  sample: {pass: 12, fail: 5, manual: 3, error: 0}
ansible_facts:
  description: The gathered facts, with O(include_facts=true).
  returned: when include_facts is true
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.gather import HostIO, gather
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError, evaluate, merge_policy


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type='dict', default={}),
            data_directories=dict(type='list', elements='path', default=[]),
            include_facts=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )

    def run_command(argv, environ_update=None):
        return module.run_command(argv, environ_update=environ_update)

    try:
        policy = merge_policy(module.params['policy'])
    except PolicyError as exc:
        module.fail_json(msg=str(exc))
    facts = gather(HostIO(run_command), module.params['data_directories'])
    findings = evaluate(facts, policy, host=None)
    counts = {}
    for finding in findings:
        counts[finding['status']] = counts.get(finding['status'], 0) + 1
    result = dict(changed=False, findings=findings, counts=counts)
    if module.params['include_facts']:
        result['ansible_facts'] = {'pgsec': facts}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
