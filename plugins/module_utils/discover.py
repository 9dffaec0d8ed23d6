# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A proposed pgsec_clients from what a host is serving and has served: the first step on a production server.

Pure: the facts of one host in, YAML text for its host_vars out. Every live session, standby,
established connection and recent log-in (log_connections) becomes part of an entry that keeps it
working, and nothing else: each source is the client's own address (/32 or /128), grouped by user
and database, with a comment saying what was seen and on which of the host's networks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import is_loopback, network_contains, parse_ip
from ansible_collections.pgsec.hardening.plugins.module_utils.lockout_guard import host_cidr, live_clients

_NAME = re.compile(r'[^a-z0-9_-]+')


def _network_of(address, local_networks):
    """The host's network (as address/prefix of the host) that the client is on, or None."""
    for entry in local_networks or []:
        network = entry.split('/')[0]
        prefix = entry.split('/')[1] if '/' in entry else None
        if prefix and network_contains('%s/%s' % (network, prefix), host_cidr(address)) \
                and not is_loopback(network):
            return entry
    return None


def _what(client):
    if client['state'] == 'seen in the server log':
        return 'logged in (server log)'
    if client['kind'] == 'standby':
        return 'standby streaming' if client['state'] == 'streaming' else 'standby'
    if client['kind'] == 'connection':
        return 'connection without a session'
    return 'live session' + (" ('%s')" % client['application'] if client['application'] else '')


def propose(facts):
    """[{name, sources, databases?, users?, seen: [...]}] for one host's facts."""
    groups = {}
    for cluster in facts.get('clusters') or []:
        for client in live_clients(cluster.get('live') or {}):
            address = client['address']
            if not address or parse_ip(address) is None or is_loopback(address):
                continue
            if client['kind'] == 'connection':
                key = ('', '')
            else:
                database = 'replication' if client['kind'] == 'standby' else client['database']
                key = (client['user'], database)
            group = groups.setdefault(key, {'sources': [], 'seen': []})
            source = host_cidr(address)
            if source not in group['sources']:
                group['sources'].append(source)
            note = '%s %s on %s: %s' % (cluster['id'], address,
                                        _network_of(address, facts.get('local_networks')) or 'a routed network',
                                        _what(client))
            if note not in group['seen']:
                group['seen'].append(note)
    entries = []
    names = set()
    for (user, database), group in sorted(groups.items()):
        base = 'seen-%s-%s' % (user, database) if user else 'seen-connections'
        name = _NAME.sub('-', base.lower()).strip('-')[:60]
        while name in names:
            name += '-x'
        names.add(name)
        entry = {'name': name, 'sources': sorted(group['sources']), 'seen': group['seen']}
        if user:
            entry.update(databases=[database], users=[user])
        entries.append(entry)
    return entries


def proposal_yaml(facts, host, generated_at=''):
    """host_vars text for one host: pgsec_clients with a comment per entry on what was seen."""
    entries = propose(facts)
    lines = ['---',
             '# pgsec_clients proposed by pgsec.hardening.discover for %s%s.' % (host, ' at ' + generated_at if generated_at else ''),
             '# From what the servers were serving (sessions, standbys, established connections) and the recent',
             '# log-ins in their logs (log_connections). Each entry keeps clients that were seen, and no more.',
             '# Review it, widen sources to networks where you know them, then:',
             '#   ansible-playbook pgsec.hardening.harden --check --diff   and then without --check.']
    if not entries:
        lines += ['# No TCP client was seen: the server can listen on Unix sockets only.', 'pgsec_clients: []']
        return '\n'.join(lines) + '\n'
    lines.append('pgsec_clients:')
    for entry in entries:
        for note in entry['seen']:
            lines.append('  # seen: %s' % note)
        if 'users' not in entry:
            lines.append('  # (user and database unknown: connected but not logged in while looked at)')
        lines.append('  - name: %s' % entry['name'])
        lines.append('    sources: [%s]' % ', '.join('"%s"' % source for source in entry['sources']))
        if 'users' in entry:
            lines.append('    databases: [%s]' % ', '.join('"%s"' % item for item in entry['databases']))
            lines.append('    users: [%s]' % ', '.join('"%s"' % item for item in entry['users']))
    return '\n'.join(lines) + '\n'
