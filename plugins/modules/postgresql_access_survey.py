#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_survey
short_description: Gather, plan and check every access area of a host in one run
version_added: 0.1.0
description:
  - Runs on the host what M(pgsec.hardening.postgresql_access_facts), M(pgsec.hardening.postgresql_access_plan)
    and M(pgsec.hardening.postgresql_access_drift) do one after the other, in one module run, and says which
    areas would change. The harden playbook surveys every host with it first; only hosts where something
    drifts go on to the batches.
  - Its action plugin reads the TLS material on the controller first (given in C(pgsec_tls_cert) and the like,
    or generated in C(pgsec_tls_generate_dir)), and afterwards says whether the generated material would be
    made again.
  - A refusal of the policy (named variable and value), of the TLS material or of a firewall that cannot be
    changed fails here, before any change; it changes nothing itself.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
extends_documentation_fragment:
  - pgsec.hardening.area_check
options:
  policy:
    description: The C(pgsec_*) policy variables, as for M(pgsec.hardening.postgresql_access_plan).
    type: dict
    required: true
  tls_material:
    description:
      - C(cert), C(ca) and C(crl) (PEM text) when TLS is on. The action plugin fills it in from the
        variables or the generated files when not given.
    type: dict
  tls_key:
    description: The private key (PEM) of O(tls_material).
    type: str
  tls_key_passphrase:
    description: Its passphrase.
    type: str
  passphrase_given:
    description: Whether C(pgsec_tls_key_passphrase) is set (the plan never sees the passphrase itself).
    type: bool
    default: false
  host_name:
    description: The name the certificate must cover when C(pgsec_tls_names) is empty.
    type: str
seealso:
  - module: pgsec.hardening.postgresql_access_drift
'''

EXAMPLES = r'''
- name: Survey the host
  pgsec.hardening.postgresql_access_survey:
    policy:
      pgsec_clients:
        - {name: app, sources: [198.18.1.0/24]}
      pgsec_tls_enabled: false
  register: survey

- name: Show what would change
  ansible.builtin.debug:
    var: survey.drift.changes
  when: survey.work
'''

RETURN = r'''
ansible_facts:
  description: C(pgsec), as M(pgsec.hardening.postgresql_access_facts) with C(accounts) and without the firewall.
  returned: always
  type: dict
plan:
  description: What M(pgsec.hardening.postgresql_access_plan) returns for this host.
  returned: always
  type: dict
drift:
  description: What M(pgsec.hardening.postgresql_access_drift) returns for the plan, C(areas), C(changes) and
    C(drifting); with generated TLS material that would be made again, C(tls) drifts too.
  returned: always
  type: dict
  sample: {areas: {sockets: false, listen: true, tls: false, hba: false, firewall: false},
           changes: {listen: ["15/main: listen settings"]}, drifting: [listen]}
work:
  description: Whether the host has anything to do (an area drifts, or a cluster has not read its files yet).
  returned: always
  type: bool
in_recovery:
  description: Whether a running cluster of the host is a standby.
  returned: always
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.drift import AREAS, DriftError
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError
from ansible_collections.pgsec.hardening.plugins.module_utils.survey import survey_host


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type='dict', required=True),
            tls_material=dict(type='dict'),
            tls_key=dict(type='str', no_log=True),
            tls_key_passphrase=dict(type='str', no_log=True),
            passphrase_given=dict(type='bool', default=False, no_log=False),
            host_name=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    material = dict(params['tls_material'] or {}, key=params['tls_key'], passphrase=params['tls_key_passphrase'])
    try:
        result = survey_host(module, params['policy'], material, params['passphrase_given'], params['host_name'])
    except (PolicyError, DriftError) as exc:
        module.fail_json(msg=str(exc))
    areas = result['drift']['areas']
    drift = dict(result['drift'], drifting=[area for area in AREAS if areas[area]])
    module.exit_json(changed=False, ansible_facts={'pgsec': result['facts']}, plan=result['plan'], drift=drift,
                     work=any(areas.values()) or bool(result['plan']['reload_pending']),
                     in_recovery=any((cluster.get('live') or {}).get('in_recovery')
                                     for cluster in result['facts']['clusters']))


if __name__ == '__main__':
    main()
