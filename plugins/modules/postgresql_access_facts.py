#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_facts
short_description: Gather how every PostgreSQL cluster on a host can be reached
version_added: 0.1.0
description:
  - Finds every PostgreSQL cluster on the host, in the Debian layout (C(/etc/postgresql/VERSION/NAME)),
    with its configuration inside the data directory (RHEL/PGDG and source builds), and in data
    directories given explicitly, running or not.
  - For each cluster returns the effective access settings with their source, the live TCP and
    Unix-socket listeners of the postmaster (read from C(/proc), not guessed from configuration),
    socket directories, TLS material, pg_hba rules and what the host firewall does to its port.
  - Settings come from C(pg_settings) when the server runs (one C(psql) call per cluster) and from
    the configuration files plus C(postgres --describe-config) when it does not.
  - Reads only; it never changes the host, so it runs the same in check mode.
  - A cluster that cannot be inspected gets its C(errors) filled and does not hide the others.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
options:
  data_directories:
    description:
      - Extra data directories to inspect, for clusters kept where the module does not look by itself
        (it looks in the Debian layout, C(/var/lib/pgsql/*/data), C(/var/lib/pgsql/data),
        C(/usr/local/pgsql/data) and the working directory of every running postmaster).
    type: list
    elements: path
    default: []
  firewall:
    description:
      - Whether to inspect the host firewall (nftables, iptables-nft, iptables-legacy, firewalld).
    type: bool
    default: true
  accounts:
    description:
      - Also return the names of the host's groups and users (C(accounts)), which the plan needs to check the
        socket groups and their members; saves two M(ansible.builtin.getent) runs.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and return the same facts.
    support: full
  diff_mode:
    description: Changes nothing, so there is nothing to diff.
    support: none
  facts:
    description: Returns C(ansible_facts.pgsec).
    support: full
notes:
  - Needs root, or the PostgreSQL server's OS user, to read configuration, C(/proc/PID/fd) and key files.
  - Private keys are only read by C(openssl) to compare them with the certificate; their content is never returned.
  - Needs only Python's standard library on the host, C(psql) (from the server packages), C(openssl), and the
    firewall tools that are installed.
seealso:
  - name: PostgreSQL connections and authentication
    description: The settings this module reports on.
    link: https://www.postgresql.org/docs/current/runtime-config-connection.html
'''

EXAMPLES = r'''
- name: Gather the access surface of every cluster
  pgsec.hardening.postgresql_access_facts:

- name: Show what each cluster listens on
  ansible.builtin.debug:
    msg: "{{ item.id }}: {{ item.listeners.tcp | map(attribute='address') | list }}"
  loop: "{{ ansible_facts.pgsec.clusters }}"
  loop_control:
    label: "{{ item.id }}"

- name: Include a data directory in an unusual place, skip the firewall
  pgsec.hardening.postgresql_access_facts:
    data_directories:
      - /srv/pg/reporting
    firewall: false
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    pgsec:
      description: The host's PostgreSQL access surface.
      returned: always
      type: complex
      contains:
        version:
          description: Version of this structure; it changes when the shape does.
          type: int
          sample: 1
        clusters:
          description: One entry per cluster found on the host.
          type: list
          elements: dict
          contains:
            id:
              description: C(VERSION/NAME) for Debian clusters, the data directory otherwise.
              type: str
              sample: 15/main
            layout:
              description: C(debian) when configuration lives in C(/etc/postgresql), C(pgdata) when inside the data directory.
              type: str
              sample: debian
            version:
              description: Major version from C(PG_VERSION) or the Debian path.
              type: str
              sample: "15"
            name:
              description: Debian cluster name, null for other layouts.
              type: str
            data_directory:
              description: The data directory.
              type: str
              sample: /var/lib/postgresql/15/main
            config_file:
              description: The main configuration file.
              type: str
              sample: /etc/postgresql/15/main/postgresql.conf
            auto_conf_file:
              description: Where C(ALTER SYSTEM) writes (C(postgresql.auto.conf)).
              type: str
            config_files_read:
              description: Every configuration file read, includes followed.
              type: list
              elements: str
            bindir:
              description: Directory of the server binaries.
              type: str
            running:
              description: Whether a postmaster runs for this data directory.
              type: bool
            pid:
              description: The postmaster's PID when running.
              type: int
            server_user:
              description: OS user owning the data directory.
              type: str
              sample: postgres
            start_time:
              description: C(pg_postmaster_start_time()) when running.
              type: str
            server_version_num:
              description: C(server_version_num) when running.
              type: int
            settings_from:
              description: C(pg_settings) for a running server, C(configuration files) otherwise.
              type: str
            settings:
              description:
                - Access settings by name, with every C(ssl*) setting.
                - Each has C(value), C(context) (C(postmaster) needs a restart, C(sighup) a reload),
                  C(source), C(sourcefile), C(sourceline), C(pending_restart), C(boot_val), C(vartype),
                  C(unit), C(from_auto_conf) (set by C(ALTER SYSTEM)), and for a running server
                  C(file_value), C(file), C(line) (what the configuration files say now).
              type: dict
              sample:
                listen_addresses:
                  value: "*"
                  context: postmaster
                  source: configuration file
                  sourcefile: /etc/postgresql/15/main/postgresql.conf
                  sourceline: 60
                  pending_restart: false
                  from_auto_conf: false
            listeners:
              description: What the postmaster really listens on, from C(/proc/net) and its open sockets.
              type: dict
              contains:
                tcp:
                  description: TCP listeners (C(family) C(inet)/C(inet6), C(address), C(port), C(wildcard)).
                  type: list
                  elements: dict
                unix:
                  description: Unix sockets (C(path), C(port)) with C(stat) of the socket file (owner, group, mode).
                  type: list
                  elements: dict
            socket_directories:
              description: Each directory of C(unix_socket_directories) with C(exists), C(owner), C(group), C(mode).
              type: list
              elements: dict
            hba:
              description:
                - The pg_hba file (C(file), C(stat)), its C(rules) in order (C(type), C(database), C(user),
                  C(address), C(cidr), C(prefix_len), C(method), C(options), C(file), C(line)),
                  parse C(errors), C(valid), and C(server_errors) from C(pg_hba_file_rules).
              type: dict
            tls:
              description:
                - C(enabled), C(library) (C(ssl_library); empty when the server is built without OpenSSL),
                  C(files) (stat of every C(ssl_*_file)), C(certificate) (subject, SANs, issuer, dates,
                  C(days_left), key type and size, signature algorithm), C(key) (C(readable),
                  C(matches_certificate)) and C(chain) (C(ok) when it verifies against C(ssl_ca_file)).
              type: dict
            conf_load_time:
              description: When the running server last read its configuration (C(pg_conf_load_time()), seconds since the epoch); null when it does not run.
              type: float
            changed_since_load:
              description:
                - Configuration, pg_hba and TLS files whose modification time is after C(conf_load_time), as C(path) and
                  C(mtime), on disk but not in effect (a run stopped between a write and the reload, or an edit without
                  one). The roles reload the cluster when a file they own is among them; the audit reports them.
              type: list
              elements: dict
            live:
              description:
                - What the running server is serving now, read before any change; null when the server does
                  not run or could not be queried (then C(errors) says why). The lockout guard compares it with
                  a new policy.
                - C(sessions) are TCP sessions from C(pg_stat_activity) (C(pid), C(address), C(port), C(user),
                  C(database), C(application), C(backend_type), C(ssl), C(since), and C(local_address) /
                  C(local_port) from the matching connection); walsenders are sessions with C(backend_type)
                  C(walsender).
                - C(replication) from C(pg_stat_replication) (C(address), C(user), C(application), C(state),
                  C(sync_state)); C(slots) from C(pg_replication_slots) (C(name), C(type), C(database),
                  C(active), C(active_pid)); C(md5_roles), login roles whose stored secret is MD5 (only the
                  kind of secret is read); C(in_recovery), whether the server is a standby.
                - C(connections) are established TCP connections to the cluster's port (from
                  C(/proc/net/tcp*)) that match no session, such as clients that have not logged in yet.
              type: dict
              sample:
                sessions:
                  - {pid: 812, address: 198.18.1.16, port: 50000, user: replicator, database: null,
                     application: 15/main, backend_type: walsender, ssl: true, local_address: 198.18.1.11,
                     local_port: 5432}
                replication: [{pid: 812, address: 198.18.1.16, user: replicator, state: streaming}]
                slots: [{name: standby1, type: physical, database: null, active: true, active_pid: 812}]
                md5_roles: [legacy_app]
                in_recovery: false
                connections: []
            errors:
              description: What could not be inspected for this cluster, as C(step) and C(message).
              type: list
              elements: dict
        local_networks:
          description: The host's addresses with their prefix length, from C(ip -j addr); null without iproute2.
          type: list
          elements: str
          sample: [127.0.0.1/8, 198.18.1.11/24, "::1/128"]
        interfaces:
          description:
            - Every address of every interface, from C(ip -j address show) (the same call as C(local_networks)).
            - Empty when C(ip) is missing or does not print JSON.
          type: list
          elements: dict
          contains:
            name:
              description: The interface.
              type: str
              sample: eth0
            address:
              description: The address, without prefix.
              type: str
              sample: 198.18.1.11
            prefixlen:
              description: Prefix length of the address's network.
              type: int
              sample: 24
            family:
              description: C(ipv4) or C(ipv6).
              type: str
              sample: ipv4
            scope:
              description: Scope as C(ip) prints it, such as C(global), C(host) (loopback) or C(link) (link-local).
              type: str
              sample: global
        routes:
          description:
            - The main routing table, from C(ip -j route show table main) and C(ip -j -6 route show table main).
            - Used with C(interfaces) to tell which local address clients on routed networks reach.
            - Empty when C(ip) is missing or does not print JSON.
          type: list
          elements: dict
          contains:
            dst:
              description: C(default) or the destination network in CIDR notation (a host route as C(/32) or C(/128)).
              type: str
              sample: 198.18.5.0/24
            dev:
              description: Outgoing interface (the first next hop's for multipath routes); null for blackhole,
                unreachable, prohibit and throw routes.
              type: str
              sample: eth0
            gateway:
              description: Next hop, null for directly connected networks.
              type: str
              sample: 198.18.1.1
            prefsrc:
              description: Preferred source address (C(src)), null when the route has none.
              type: str
              sample: 198.18.1.11
            family:
              description: C(ipv4) or C(ipv6).
              type: str
              sample: ipv4
            metric:
              description: Route metric, null when C(ip) does not print one (usual for IPv4).
              type: int
              sample: 1024
        firewall:
          description:
            - C(backend) in use (C(firewalld), C(nftables), C(iptables-nft), C(iptables-legacy) or C(none)),
              every C(active) one, and per PostgreSQL port what happens to a new connection
              (C(filtered), C(default), C(allowed_sources), C(ipv4), C(ipv6), C(rules)).
            - Null when O(firewall=false).
          type: dict
        accounts:
          description: With O(accounts), C(groups) and C(users), the names in the host's group and passwd databases.
          type: dict
          returned: with O(accounts)
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.gather import HostIO, gather, gather_accounts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            data_directories=dict(type='list', elements='path', default=[]),
            firewall=dict(type='bool', default=True),
            accounts=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )

    def run_command(argv, environ_update=None):
        return module.run_command(argv, environ_update=environ_update)

    facts = gather(HostIO(run_command), module.params['data_directories'], module.params['firewall'])
    if module.params['accounts']:
        facts['accounts'] = gather_accounts()
    module.exit_json(changed=False, ansible_facts={'pgsec': facts})


if __name__ == '__main__':
    main()
