# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: access_proposal
short_description: A proposed pgsec_clients, as host_vars YAML, from a host's access facts
version_added: 0.1.0
description:
  - Takes C(ansible_facts.pgsec) from M(pgsec.hardening.postgresql_access_facts) and returns YAML text with
    a C(pgsec_clients) that keeps every client the servers were serving (sessions, standbys, established
    connections) or logged in recently (server log lines of C(log_connections)), each as its own address,
    grouped by user and database, with a comment per entry saying what was seen.
  - The playbook C(pgsec.hardening.discover) writes it per host.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
options:
  _input:
    description: The host's C(ansible_facts.pgsec).
    type: dict
    required: true
  host:
    description: The host's name, for the header comment.
    type: str
    default: ''
  generated_at:
    description: When, for the header comment.
    type: str
    default: ''
'''

EXAMPLES = r'''
- name: Write the proposal on the controller
  ansible.builtin.copy:
    content: "{{ ansible_facts.pgsec | pgsec.hardening.access_proposal(inventory_hostname) }}"
    dest: "host_vars/{{ inventory_hostname }}.yml"
    mode: "0644"
  delegate_to: localhost
'''

RETURN = r'''
_value:
  description: YAML text for host_vars, starting with C(---).
  type: str
'''

from ansible_collections.pgsec.hardening.plugins.module_utils.discover import proposal_yaml


def access_proposal(facts, host='', generated_at=''):
    return proposal_yaml(facts or {}, host, generated_at)


class FilterModule(object):
    def filters(self):
        return {'access_proposal': access_proposal}
