#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: access_plan
short_description: Validate the access policy against a host's facts and decide what the roles set
version_added: 0.1.0
description:
  - Merges the C(pgsec_*) policy variables with their defaults, validates them, and derives for one
    host what the access roles will set, before anything on the host changes.
  - C(listen_addresses) is derived from O(policy) C(pgsec_clients) and the host's interfaces and routes
    (the local address each client network is reached from), or taken from C(pgsec_listen_addresses),
    whose addresses must belong to the host; a wildcard needs C(pgsec_listen_allow_wildcard=true).
  - Any invalid input fails with a message that names the variable and the value.
  - Runs on the controller (it is an action plugin) and changes nothing.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
options:
  policy:
    description: The C(pgsec_*) variables by name (unset ones take the collection's defaults).
    type: dict
    required: true
  facts:
    description: C(ansible_facts.pgsec) of the host, from M(pgsec.hardening.postgresql_access_facts).
    type: dict
    required: true
  host_groups:
    description: Group names that exist on the host (to refuse unknown groups); not checked when omitted.
    type: list
    elements: str
  host_users:
    description: User names that exist on the host (to refuse unknown group members); not checked when omitted.
    type: list
    elements: str
attributes:
  check_mode:
    description: Changes nothing, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to diff.
    support: none
seealso:
  - module: pgsec.hardening.postgresql_access_facts
'''

EXAMPLES = r'''
- name: Decide what to set
  pgsec.hardening.access_plan:
    policy:
      pgsec_clients:
        - {name: app, sources: [198.18.1.0/24]}
    facts: "{{ ansible_facts.pgsec }}"
  register: plan
'''

RETURN = r'''
policy:
  description: The merged and normalised policy.
  returned: success
  type: dict
clusters:
  description: The clusters the roles act on (C(pgsec_clusters), or all), with C(id), C(data_directory), C(config_file) and C(running).
  returned: success
  type: list
  elements: dict
listen:
  description: C(addresses), whether they were C(derived), C(by_source) (source network to addresses) and the C(settings) the listen role sets.
  returned: success
  type: dict
sockets:
  description: C(groups) to create with their C(members), C(directories) (C(path), C(group), C(mode), C(runtime)) and the C(settings) the sockets role sets.
  returned: success
  type: dict
'''
