# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: cloud_rules
short_description: Provider-neutral firewall rules from pgsec_clients
version_added: 0.1.0
description:
  - Renders O(_input) (C(pgsec_clients)) into one ingress rule per client source and port, IPv4 and IPv6 alike,
    described with the client's name (C(pgsec.hardening client NAME)); a source two clients share gives one rule
    naming both.
  - With O(manage_egress), the egress allowlist (C(pgsec_firewall_egress)) becomes egress rules.
  - Nothing is widened. A rule admits C(0.0.0.0/0) or C(::/0) only when a client's C(sources) says so.
  - Bad input is refused with an error naming the variable and the value (C(pgsec_clients[0].sources[1]),
    C(pgsec_cloud_ports[0]), C(pgsec_firewall_egress[0].host)), with the words of the host roles.
  - The role M(pgsec.hardening.cloud_firewall) uses it for C(aws) and C(openstack); the docs
    (docs/cloud-firewall.md) show it feeding C(google.cloud.gcp_compute_firewall) and
    C(azure.azcollection.azure_rm_securitygroup), which are not tested against a live API.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
options:
  _input:
    description: C(pgsec_clients).
    type: list
    elements: dict
    required: true
  ports:
    description: The PostgreSQL ports.
    type: list
    elements: int
    default: [5432]
  egress:
    description: C(pgsec_firewall_egress), each C(host), C(port) and optional C(protocol).
    type: list
    elements: dict
    default: []
  manage_egress:
    description: Render O(egress) as egress rules.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: The rules of the policy
  ansible.builtin.debug:
    msg: "{{ pgsec_clients | pgsec.hardening.cloud_rules(ports=[5432]) }}"

- name: Only the IPv6 sources, for a provider that wants them apart
  ansible.builtin.set_fact:
    db_sources_v6: "{{ pgsec_clients | pgsec.hardening.cloud_rules | selectattr('family', 'equalto', 6)
                       | map(attribute='source') | list }}"
'''

RETURN = r'''
_value:
  description:
    - The rules, sorted. Each has C(direction) (C(ingress) or C(egress)), C(family) (C(4) or C(6)), C(protocol)
      (C(tcp) or C(udp)), C(port_min), C(port_max), C(source) (a CIDR, the client for ingress or the destination
      for egress), C(description) and C(id) (C(null)).
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.pgsec.hardening.plugins.module_utils.cloud.rules import CloudRulesError, wanted_rules


def cloud_rules(clients, ports=None, egress=None, manage_egress=False):
    try:
        return wanted_rules(clients, ports, egress, manage_egress)
    except CloudRulesError as error:
        raise AnsibleFilterError(str(error))


class FilterModule(object):
    def filters(self):
        return {'cloud_rules': cloud_rules}
