#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_drift
short_description: See in one run which access areas of a host differ from the plan
version_added: 0.1.0
description:
  - Checks every area the roles enforce (Unix sockets, listen addresses, TLS, pg_hba, host firewall) against
    its planned parameters, in one module run, and returns which areas would change.
  - Each area is checked by the same code its own module runs in check mode
    (M(pgsec.hardening.postgresql_access_config), M(pgsec.hardening.postgresql_access_tls),
    M(pgsec.hardening.postgresql_access_hba), M(pgsec.hardening.postgresql_access_firewall)); the socket
    groups, members, directories and the boot-time declaration are checked the way
    M(ansible.builtin.group), M(ansible.builtin.user), M(ansible.builtin.file) and M(ansible.builtin.copy) see them.
  - Bad parameters, TLS material or a cipher list OpenSSL refuses, and a firewall that cannot be changed fail
    here with that area's message, before any area is changed.
  - Never changes anything; in check mode it runs the same.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
extends_documentation_fragment:
  - pgsec.hardening.area_check
options:
  clusters:
    description: The clusters, as entries of C(ansible_facts.pgsec.clusters).
    type: list
    elements: dict
    required: true
  sockets:
    description:
      - C(groups) (C(name), C(members)), C(directories) (C(path), C(mode), C(group)), C(server_user),
        C(tmpfiles) (C(path), C(content); empty content means no file) and C(settings) (the socket settings).
      - Omit to leave the area out.
    type: dict
  listen:
    description: C(settings), the listen settings of every cluster. Omit to leave the area out.
    type: dict
  tls:
    description:
      - C(material), the options of M(pgsec.hardening.postgresql_access_tls) but C(cluster) and C(key);
        C(settings), per cluster id the TLS settings set beside the file paths; C(ciphers), checked with
        C(openssl ciphers). Omit to leave the area out.
    type: dict
  tls_key:
    description: The private key (PEM) for O(tls).
    type: str
  tls_key_passphrase:
    description: Its passphrase.
    type: str
  hba:
    description: The options of M(pgsec.hardening.postgresql_access_hba) but C(cluster). Omit to leave the area out.
    type: dict
  firewall:
    description: The options of M(pgsec.hardening.postgresql_access_firewall). Omit to leave the area out.
    type: dict
seealso:
  - module: pgsec.hardening.postgresql_access_facts
  - module: pgsec.hardening.postgresql_access_survey
    description: The same checks, with the facts and the plan, in one run (the first play of the harden playbook).
'''

EXAMPLES = r'''
- name: See which areas drift
  pgsec.hardening.postgresql_access_drift:
    clusters: "{{ ansible_facts.pgsec.clusters }}"
    listen:
      settings:
        listen_addresses: [198.18.0.10]
    firewall:
      sources: [198.18.1.0/24]
  register: drift

- name: Set listen_addresses only where it drifts
  pgsec.hardening.postgresql_access_config:
    cluster: "{{ item }}"
    owner: listen
    settings:
      listen_addresses: [198.18.0.10]
  loop: "{{ ansible_facts.pgsec.clusters }}"
  when: drift.areas.listen
'''

RETURN = r'''
areas:
  description: Per area (C(sockets), C(listen), C(tls), C(hba), C(firewall)), whether it would change.
  returned: always
  type: dict
  sample: {sockets: false, listen: true, tls: false, hba: false, firewall: false}
changes:
  description: Per area, what would change, one short line each.
  returned: always
  type: dict
  sample: {listen: ["15/main: listen settings"]}
drifting:
  description: The areas that would change, in the order the roles apply them.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.drift import AREAS, DriftError, check_host


def main():
    module = AnsibleModule(
        argument_spec=dict(
            clusters=dict(type='list', elements='dict', required=True),
            sockets=dict(type='dict'),
            listen=dict(type='dict'),
            tls=dict(type='dict'),
            tls_key=dict(type='str', no_log=True),
            tls_key_passphrase=dict(type='str', no_log=True),
            hba=dict(type='dict'),
            firewall=dict(type='dict'),
        ),
        supports_check_mode=True,
    )
    try:
        result = check_host(module, module.params)
    except DriftError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, drifting=[area for area in AREAS if result['areas'][area]], **result)


if __name__ == '__main__':
    main()
