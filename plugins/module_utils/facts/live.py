# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a cluster is serving right now: the data the lockout guard compares with a new policy.

One query per running cluster (sessions with their TLS state, walsenders, replication slots, login
roles whose stored secret is MD5) plus the established TCP connections to the cluster's ports from
/proc/net/tcp*, which also shows clients behind a pooler and connections not yet authenticated.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.listeners import decode_proc_address

TCP_ESTABLISHED = '01'

LIVE_SQL = (
    "SELECT json_build_object("
    "'sessions', (SELECT json_agg(json_build_object("
    "'pid', a.pid, 'address', host(a.client_addr), 'port', a.client_port, 'user', a.usename,"
    " 'database', a.datname, 'application', a.application_name, 'backend_type', a.backend_type,"
    " 'ssl', s.ssl, 'since', a.backend_start) ORDER BY a.pid)"
    " FROM pg_catalog.pg_stat_activity a LEFT JOIN pg_catalog.pg_stat_ssl s ON s.pid = a.pid"
    " WHERE a.client_addr IS NOT NULL),"
    "'replication', (SELECT json_agg(json_build_object("
    "'pid', r.pid, 'address', host(r.client_addr), 'port', r.client_port, 'user', r.usename,"
    " 'application', r.application_name, 'state', r.state, 'sync_state', r.sync_state) ORDER BY r.pid)"
    " FROM pg_catalog.pg_stat_replication r),"
    "'slots', (SELECT json_agg(json_build_object("
    "'name', l.slot_name, 'type', l.slot_type, 'database', l.database, 'active', l.active,"
    " 'active_pid', l.active_pid) ORDER BY l.slot_name) FROM pg_catalog.pg_replication_slots l),"
    # Only the kind of secret is read, never the secret.
    "'md5_roles', (SELECT json_agg(rolname ORDER BY rolname) FROM pg_catalog.pg_authid"
    " WHERE rolcanlogin AND rolpassword LIKE 'md5%%'),"
    "'in_recovery', pg_catalog.pg_is_in_recovery(),"
    "'logfile', pg_catalog.pg_current_logfile())"
)
LOG_TAIL_BYTES = 1024 * 1024  # the recent part of the server log that is read for connection lines
_RECEIVED = re.compile(r'\[(\d+)\].*?LOG:\s+connection received: host=(\S+)')
_AUTHORIZED = re.compile(r'\[(\d+)\].*?LOG:\s+(replication )?connection authorized: user=(\S+)(?: database=(\S+))?')


def parse_established(text, family='inet', ports=None, byteorder='little'):
    """Established TCP connections from /proc/net/tcp{,6} text whose local port is in ports (all when None)."""
    connections = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].endswith(':') or fields[3].upper() != TCP_ESTABLISHED:
            continue
        try:
            local_hex, local_port = fields[1].rsplit(':', 1)
            remote_hex, remote_port = fields[2].rsplit(':', 1)
            entry = {'family': family, 'local_address': decode_proc_address(local_hex, byteorder),
                     'local_port': int(local_port, 16), 'address': decode_proc_address(remote_hex, byteorder),
                     'port': int(remote_port, 16)}
        except ValueError:
            continue
        if ports is None or entry['local_port'] in ports:
            connections.append(entry)
    return connections


def parse_connection_log(text):
    """Clients that logged in, from server log lines of log_connections (the prefix must carry [%p]).

    [{address, user, database (None for physical replication), replication, count}], TCP only.
    """
    hosts = {}
    seen = {}
    for line in (text or '').splitlines():
        match = _RECEIVED.search(line)
        if match:
            hosts[match.group(1)] = match.group(2)
            continue
        match = _AUTHORIZED.search(line)
        if not match:
            continue
        address = hosts.pop(match.group(1), None)
        if address is None or address in ('[local]', 'local'):
            continue
        replication = bool(match.group(2))
        key = (_unmapped(address), match.group(3), None if replication else match.group(4), replication)
        seen[key] = seen.get(key, 0) + 1
    return [{'address': key[0], 'user': key[1], 'database': key[2], 'replication': key[3], 'count': count}
            for key, count in sorted(seen.items(), key=lambda item: tuple(str(part) for part in item[0]))]


def _unmapped(address):
    """An IPv4-mapped IPv6 address as PostgreSQL and the firewall see the client: a.b.c.d."""
    if address and address.startswith('::ffff:') and '.' in address:
        return address[len('::ffff:'):]
    return address


def parse_live(json_text, established=(), log_text=None):
    """The answer of LIVE_SQL plus the cluster's established connections, as facts.

    Each session gains the local address it reached (from the matching connection); connections
    that match no session are kept under ``connections`` (not yet logged in, or not visible as a session).
    """
    data = json.loads(json_text) if isinstance(json_text, str) else dict(json_text or {})
    sessions = data.get('sessions') or []
    by_peer = dict(((_unmapped(conn['address']), conn['port']), conn) for conn in established)
    matched = set()
    for session in sessions:
        conn = by_peer.get((session.get('address'), session.get('port')))
        session['local_address'] = _unmapped(conn['local_address']) if conn else None
        session['local_port'] = conn['local_port'] if conn else None
        if conn:
            matched.add((session.get('address'), session.get('port')))
    others = [dict(conn, address=_unmapped(conn['address']), local_address=_unmapped(conn['local_address']))
              for key, conn in by_peer.items() if key not in matched]
    return {'sessions': sessions, 'replication': data.get('replication') or [], 'slots': data.get('slots') or [],
            'md5_roles': data.get('md5_roles') or [], 'in_recovery': bool(data.get('in_recovery')),
            'seen_in_log': parse_connection_log(log_text),
            'connections': sorted(others, key=lambda conn: (conn['address'], conn['port']))}
