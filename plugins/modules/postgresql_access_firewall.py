#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_firewall
short_description: Filter the PostgreSQL ports with nftables, iptables or firewalld, with a self-rollback
version_added: 0.1.0
description:
  - Lets only O(sources) connect to the TCP O(ports); with O(egress), also limits which hosts and ports
    processes of O(server_user) may open new connections to. Other ports are not looked at; loopback
    traffic to the ports is always accepted.
  - "Touches only what it owns: with nftables the table C(inet pgsec), replaced in one transaction; with
    iptables the chains C(PGSEC-INPUT) and C(PGSEC-OUTPUT) of table C(filter), one jump to each at the top of
    C(INPUT) and C(OUTPUT), one C(iptables-restore --noflush) per family; with firewalld rich rules in O(zone)
    (accepts at priority -100, the drop or C(reject type=\"tcp-reset\") at -99, so they decide before the
    zone's services), recorded in C(/var/lib/pgsec-hardening/firewalld.json). A rule that existed before is
    never removed, and C(firewall-cmd --reload), which drops others' runtime rules, is never run."
  - "Rules only narrow access: other tables, chains and zones still apply. Clients the whole firewall still
    refuses are in RV(refused_sources); other zones that open the ports are named in warnings."
  - "Before a change the full ruleset is saved under C(/var/lib/pgsec-hardening/) (root only) and a detached
    job is armed (a transient systemd timer C(pgsec-firewall-rollback-TOKEN), or a detached C(sleep) without
    systemd) that puts back pgsec's own rules (others' changes, such as fail2ban bans, are kept) unless O(confirm)
    comes within O(rollback_timeout) seconds; by default the same task confirms over a new connection.
    O(persist) is written only once the change is confirmed."
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
extends_documentation_fragment:
  - pgsec.hardening.firewall_rollback
options:
  backend:
    description:
      - Firewall to use. V(auto) keeps the backend that holds pgsec's rules, else V(firewalld) when it runs, else
        what the host uses (iptables-legacy or iptables-nft rules give V(iptables), with that variant's tools),
        else V(nftables). V(firewalld) adds rich rules to O(zone) through C(firewall-cmd).
      - Fails, naming C(pgsec_firewall_backend), when the backend is missing, when firewalld runs and another
        one is asked for, when pgsec's rules are elsewhere, or when iptables-legacy and nftables rules would
        both filter incoming traffic.
    type: str
    choices: [auto, nftables, iptables, firewalld]
    default: auto
  ports:
    description: TCP ports of the PostgreSQL servers (and poolers) to filter. At most 15 with iptables.
    type: list
    elements: int
    default: [5432]
  sources:
    description:
      - Client addresses or networks (IPv4 and IPv6, CIDR) allowed to connect to O(ports).
      - An empty list closes the ports to every other host and needs O(allow_none=true).
    type: list
    elements: str
    default: []
  allow_none:
    description: Allow an empty O(sources), closing the ports to everyone but the host itself.
    type: bool
    default: false
  action:
    description: What happens to connections from other sources. V(reject) answers with a TCP reset.
    type: str
    choices: [drop, reject]
    default: drop
  log:
    description: Log refused connections (at most 5 per minute, prefix C(pgsec-refused:)).
    type: bool
    default: false
  zone:
    description:
      - firewalld only. Zone that gets the rich rules (default firewalld's default zone), the zone of the
        interfaces or sources the clients come from. pgsec's rules in another zone are moved here.
    type: str
  firewalld_remove_open_port:
    description:
      - firewalld only. When O(zone) opens a port of O(ports) to every source (a service such as C(postgresql),
        or a C(ports) entry), remove that opening instead of failing; recorded, and put back by the rollback
        (never by O(state=absent)). A service or port range that opens other ports too is never removed.
    type: bool
    default: false
  egress:
    description:
      - Hosts and ports processes of O(server_user) may open new connections to (replication, archive
        targets, LDAP...). Replies and loopback traffic are always allowed; other new connections of that
        user are logged (prefix C(pgsec-egress-refused:)) and rejected. Other users are never affected.
      - Empty means no egress filtering. Not possible with firewalld (it cannot match a user's connections).
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Address or network (CIDR).
        type: str
        required: true
      port:
        description: Destination port.
        type: int
        required: true
      protocol:
        description: Transport protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
  server_user:
    description: OS user the PostgreSQL server runs as; used for O(egress).
    type: str
    default: postgres
  state:
    description: V(absent) removes every rule pgsec owns (from whichever backend holds them) and their persistence.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Reads the rules and reports what would change, changes nothing.
    support: full
  diff_mode:
    description: Shows the owned rules before and after, and the persistence files (firewalld - the rich rules of
      both configurations).
    support: full
notes:
  - Runs as root. Needs nft, or iptables/ip6tables with -save and -restore, or a running firewalld (0.7 or later).
  - "firewalld: policies (firewalld 0.9 and later) run before the zones and are not looked at; a policy that
    accepts the ports from other hosts bypasses pgsec's rules."
seealso:
  - module: pgsec.hardening.postgresql_access_facts
'''

EXAMPLES = r'''
- name: Only the application network may reach PostgreSQL (confirmed over a new connection, else rolled back)
  pgsec.hardening.postgresql_access_firewall:
    sources: [198.18.1.0/24, "2001:db8:1::/64"]
    action: reject
    log: true

- name: Load the rules and leave the confirmation to a later task
  pgsec.hardening.postgresql_access_firewall:
    sources: [198.18.1.0/24]
    confirm_over_new_connection: false
  register: firewall

- name: Keep the change
  pgsec.hardening.postgresql_access_firewall:
    confirm: "{{ firewall.rollback_token }}"
  when: firewall.rollback_token

- name: The server user may only reach the standby and the archive host
  pgsec.hardening.postgresql_access_firewall:
    sources: [198.18.1.0/24]
    egress:
      - {host: 198.18.1.12, port: 5432}
      - {host: 198.18.2.5, port: 22}
    rollback_timeout: 0
'''

RETURN = r'''
backend:
  description: Backend used (C(nftables), C(iptables) or C(firewalld)); null when there was nothing to remove.
  returned: always
  type: str
  sample: nftables
variant:
  description: For iptables, C(nft) or C(legacy).
  returned: always
  type: str
backend_reason:
  description: Why this backend was chosen.
  returned: always
  type: str
before:
  description: The rules pgsec owned before, canonical (nft syntax, iptables-save lines, firewalld rich rules).
  returned: always
  type: str
after:
  description: The rules pgsec owns after the change, in the same form.
  returned: always
  type: str
rollback_token:
  description:
    - Pass it as O(confirm) to keep the change; null when nothing was applied, with O(rollback_timeout=0), and
      once confirmed. Also an earlier, unconfirmed change's token when the rules are as wanted (RV(rollback_pending)).
  returned: always
  type: str
  sample: 20261125T114210-3f9a1c2e
rollback_pending:
  description: RV(rollback_token) belongs to an earlier, still unconfirmed change.
  returned: when such a change exists and nothing else had to change
  type: bool
rollback_deadline:
  description: Epoch seconds at which the rollback fires.
  returned: when a rollback was armed
  type: int
rollback_method:
  description: C(systemd) (transient timer unit) or C(process) (detached sleep, PID in the state directory).
  returned: when a rollback was armed
  type: str
saved_ruleset:
  description: Files holding the full ruleset as it was before the change.
  returned: when a rollback was armed
  type: list
  elements: str
persisted:
  description: Persistence files written or removed (and C(systemctl) actions), now.
  returned: always
  type: list
  elements: str
persist_pending:
  description: Persistence waits for the confirmation.
  returned: always
  type: bool
verified:
  description: Reading the rules back after the change gives exactly the planned state.
  returned: when rules were applied
  type: bool
refused_sources:
  description: Sources that the firewall as a whole still refuses (other tables drop them), with C(port) and C(default).
  returned: when rules were applied
  type: list
  elements: dict
confirmed:
  description: The token whose rollback was cancelled.
  returned: with O(confirm), and when O(confirm_over_new_connection) confirmed the change
  type: str
confirm_attempts:
  description: New connections tried before the confirmation went through (or before giving up).
  returned: when O(confirm_over_new_connection) tried to confirm
  type: int
zone:
  description: The firewalld zone that holds pgsec's rich rules.
  returned: with the firewalld backend
  type: str
  sample: public
firewalld_changes:
  description: The firewalld changes done (in check mode, to be done), one line each; the permanent ones wait
    for the confirmation when RV(persist_pending).
  returned: with the firewalld backend
  type: list
  elements: str
  sample: ['runtime zone public: add rich-rule rule priority="-100" family="ipv4" source address="198.18.1.0/24"
    port port="5432" protocol="tcp" accept']
'''

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.run import main


if __name__ == '__main__':
    main()
