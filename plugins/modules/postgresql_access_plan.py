#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_plan
short_description: Validate the access policy against a host's facts and decide what the roles set
version_added: 0.1.0
description:
  - Merges the C(pgsec_*) policy variables with their defaults, validates them, and derives for one
    host what the access roles will set, before anything on the host changes.
  - C(listen_addresses) is derived from O(policy) C(pgsec_clients) and the host's interfaces and routes
    (the local address each client network is reached from), or taken from C(pgsec_listen_addresses),
    whose addresses must belong to the host; a wildcard needs C(pgsec_listen_allow_wildcard=true).
  - Any invalid input fails with a message that names the variable and the value.
  - With C(pgsec_profile=cis) in O(policy), everything the CIS PostgreSQL 17 access controls do not allow is
    refused, every problem in one message (a wildcard listen address even with C(pgsec_listen_allow_wildcard),
    socket modes other than C(0700) or C(0770) with a group, clients without specific C(databases) and C(users),
    superusers, loopback or wider than /16 (IPv4) or /48 (IPv6) sources, weak methods, other TLS versions or
    cipher suites, C(pgsec_hba_manage=false), a key without passphrase). Whether C(pgsec_tls_key_passphrase)
    is set is read from the task's variables; its value never reaches the plan.
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
  tls_generate_dir:
    description:
      - The controller directory of the generated CA (C(pgsec_tls_generate_dir)). When given and TLS is on,
        C(tls.generated) says whether this host's generated material is current (C(exists), C(current), C(reason)),
        so that the tasks generating it can be skipped.
    type: str
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
  pgsec.hardening.postgresql_access_plan:
    policy:
      pgsec_clients:
        - {name: app, sources: [198.18.1.0/24]}
    facts: "{{ ansible_facts.pgsec }}"
  register: plan

- name: Show where the clients will be served from
  ansible.builtin.debug:
    msg: "listen_addresses = {{ plan.listen.addresses | join(', ') }}, ports {{ plan.ports }}"
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
ports:
  description: The TCP ports the run leaves the clusters on (C(pgsec_port) when it moves one), which the firewall filters.
  returned: success
  type: list
  elements: int
sockets:
  description:
    - C(groups) to create with their C(members), C(directories) (C(path), C(group), C(mode), C(runtime)) and the C(settings)
      the sockets role sets; C(server_user), the directories' owner; C(tmpfiles) (C(path), C(content)), the boot-time
      declaration of the runtime directories (empty content when none is needed).
  returned: success
  type: dict
hba:
  description:
    - What the profile asks of M(pgsec.hardening.postgresql_access_hba), C(local_peer), C(final_reject) (C(all) or C(sources)),
      C(reject_superusers), and C(loopback_allowed) (false under cis, whatever C(pgsec_hba_keep_loopback) says).
  returned: success
  type: dict
tls:
  description:
    - What the profile adds to the TLS role, extra C(settings) (C(password_encryption) under cis), C(tls13_ciphers) for
      PostgreSQL 18 and newer, and C(passphrase_required).
    - C(names), the names the certificate must cover; C(cluster_settings), per cluster id the TLS settings set beside
      the file paths (protocol, ciphers, C(ssl_groups) or C(ssl_ecdh_curve), the profile's); C(generated) with
      O(tls_generate_dir).
  returned: success
  type: dict
guard:
  description: The lockout guard's verdict on the live sessions, standbys and password hashes (C(mode), C(messages),
    C(notes), C(compat_clients)).
  returned: success
  type: dict
reload_pending:
  description: The configuration results of clusters that have not read the files the roles own yet (a run stopped
    between writing and reloading); the handler reloads them.
  returned: success
  type: list
  elements: dict
area_args:
  description:
    - The parameters of M(pgsec.hardening.postgresql_access_hba) (C(hba)) and M(pgsec.hardening.postgresql_access_firewall)
      (C(firewall)), decided once; the drift check and the area's own task take the same values. An unset variable
      gives null, so the module's default applies.
  returned: success
  type: dict
'''
