# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never cut off what works: what a new policy would refuse of what a server is serving now.

Pure: the live facts of each cluster (live_access) and the plan (clients, listen addresses, what is
managed) go in; out come the clients, standbys and MD5-era roles the change would cut, each with
what would refuse it and the pgsec_clients entry that would keep it. The plan refuses on them
(pgsec_lockout_guard: refuse, the default), or warns (warn), or does not look (off).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import (
    is_loopback,
    network_contains,
    normalize_cidr,
    parse_ip,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool, fail

GUARD_MODES = ('refuse', 'warn', 'off')
LOOPBACK_LISTEN = ('localhost', '127.0.0.1', '::1')
WILDCARD_LISTEN = ('*', '0.0.0.0', '::')


class GuardInputError(ValueError):
    """A guard variable with a bad value; the message names the variable and the value."""


_bad = functools.partial(fail, GuardInputError)


def guard_settings(user):
    """(mode, cut networks, md5 compatibility) from the pgsec_* variables, validated."""
    mode = user.get('pgsec_lockout_guard', 'refuse')
    if mode not in GUARD_MODES:
        _bad('pgsec_lockout_guard', mode, 'is not one of %s' % ', '.join(GUARD_MODES))
    cut = user.get('pgsec_lockout_cut') or []
    if not isinstance(cut, list):
        _bad('pgsec_lockout_cut', cut, 'is not a list of networks (CIDR) whose clients may be cut')
    networks = []
    for index, item in enumerate(cut):
        network = normalize_cidr(item) if isinstance(item, str) else None
        if network is None:
            _bad('pgsec_lockout_cut[%d]' % index, item, 'is not an IP network (CIDR) or address')
        networks.append(network)
    compat = as_bool(GuardInputError, 'pgsec_hba_md5_compat', user.get('pgsec_hba_md5_compat', False))
    return mode, networks, compat


def host_cidr(address):
    parsed = parse_ip(address)
    return '%s/%d' % (address, 32 if parsed.version == 4 else 128)


def _covers(networks, address):
    return any(network_contains(network, host_cidr(address)) for network in networks)


def _database_matches(patterns, database, user, physical_replication):
    for pattern in patterns:
        if physical_replication:
            if pattern == 'replication':
                return True
            continue
        if pattern in ('all', database) or (pattern == 'sameuser' and database == user):
            return True
        if pattern.startswith(('+', '@')) or pattern in ('samerole', 'samegroup'):
            return True  # group membership and files are not known here: do not refuse on a guess
    return False


def _user_matches(patterns, user):
    return any(pattern in ('all', user) or pattern.startswith(('+', '@')) for pattern in patterns)


def _listened(listen_addresses, local_address, loopback):
    if any(item in WILDCARD_LISTEN for item in listen_addresses):
        return True
    if local_address:
        return local_address in listen_addresses or (is_loopback(local_address) and 'localhost' in listen_addresses)
    return not loopback or any(item in LOOPBACK_LISTEN for item in listen_addresses)


def live_clients(live):
    """Sessions (with walsenders marked as standbys) and connections that are not sessions."""
    replication = dict((entry['pid'], entry) for entry in live.get('replication') or [])
    clients = []
    for session in live.get('sessions') or []:
        standby = session.get('backend_type') == 'walsender'
        clients.append({
            'kind': 'standby' if standby and not session.get('database') else
                    ('logical replication' if standby else 'session'),
            'address': session['address'], 'user': session.get('user'), 'database': session.get('database'),
            'application': session.get('application'), 'local_address': session.get('local_address'),
            'state': (replication.get(session.get('pid')) or {}).get('state'), 'ssl': session.get('ssl'),
        })
    for seen in live.get('seen_in_log') or []:  # logged in recently (log_connections), maybe gone now
        clients.append({'kind': 'standby' if seen['replication'] else 'session', 'address': seen['address'],
                        'user': seen['user'], 'database': seen['database'], 'application': None,
                        'local_address': None, 'state': 'seen in the server log', 'ssl': None})
    for conn in live.get('connections') or []:
        clients.append({'kind': 'connection', 'address': conn['address'], 'user': None, 'database': None,
                        'application': None, 'local_address': conn.get('local_address'), 'state': None, 'ssl': None})
    return clients


def _refusers(client, plan):
    """What of the new access would refuse this client (empty: it keeps working)."""
    address = client['address']
    loopback = is_loopback(address)
    refused = []
    if not _listened(plan['listen_addresses'], client['local_address'], loopback):
        refused.append('listen_addresses')
    if loopback:
        if plan['hba_managed'] and not plan['keep_loopback']:
            refused.append('pg_hba (loopback lines dropped)')
        return refused, None
    by_source = [c for c in plan['clients'] if _covers(c['sources'], address)]
    if not by_source:
        refused += ['pg_hba'] if plan['hba_managed'] else []
        refused += ['the firewall'] if plan['firewall_managed'] else []
        return refused, None
    if client['kind'] == 'connection':
        return refused, by_source[0]
    physical = client['kind'] == 'standby'
    matching = [c for c in by_source if _database_matches(c['databases'], client['database'], client['user'], physical)
                and _user_matches(c['users'], client['user'])]
    if not matching and plan['hba_managed']:
        refused.append('pg_hba (no pgsec_clients entry for this %s and user)'
                       % ('replication connection' if physical else 'database'))
    if matching and plan['hba_managed'] and plan.get('tls_required') and client['ssl'] is False \
            and plan.get('server_ssl_now'):
        # The server offers TLS already, so a client without it asked for none (sslmode=disable).
        refused.append('pg_hba (TLS only, and this client connects without TLS although the server offers it)')
    return refused, (matching or by_source)[0]


def _keep_with(client):
    entry = {'name': 'standby' if client['kind'] == 'standby' else 'seen', 'sources': [host_cidr(client['address'])]}
    if client['kind'] != 'connection':
        entry['databases'] = ['replication'] if client['kind'] == 'standby' else [client['database']]
        entry['users'] = [client['user']]
    return entry


def describe_client(client):
    parts = []
    if client['user']:
        parts.append('user %s' % client['user'])
    if client['kind'] == 'standby':
        parts.append('replication')
    elif client['database']:
        parts.append('database %s' % client['database'])
    if client['application']:
        parts.append("application '%s'" % client['application'])
    if client['state']:
        parts.append(client['state'])
    label = 'connection' if client['kind'] == 'connection' else client['kind']
    return '%s %s%s' % (label, client['address'], ' (%s)' % ', '.join(parts) if parts else '')


def flow_text(value):
    """A small dict as YAML flow text, as a user would paste it into pgsec_clients."""
    items = []
    for key, item in value.items():
        items.append('%s: %s' % (key, '[%s]' % ', '.join(item) if isinstance(item, list) else item))
    return '{%s}' % ', '.join(items)


def evaluate(clusters, plan, user):
    """{mode, cuts, md5_lockouts, slots, compat_clients, messages}: what the new access would cut.

    clusters: facts of the selected clusters (with ``live``); plan: {clients (merged, with method),
    listen_addresses, hba_managed, firewall_managed, keep_loopback}.
    """
    mode, intended, compat = guard_settings(user)
    result = {'mode': mode, 'cuts': [], 'md5_lockouts': [], 'slots': [], 'compat_clients': [], 'messages': [],
              'notes': []}
    if mode == 'off':
        return result
    seen = set()
    for cluster in clusters:
        live = cluster.get('live')
        if not live:
            if cluster.get('running'):
                result['notes'].append('%s: what the server is serving could not be read, so the lockout guard '
                                       'could not check it' % cluster['id'])
            continue
        ssl_now = str(((cluster.get('settings') or {}).get('ssl') or {}).get('value', '')).lower() in ('on', 'true')
        cluster_plan = dict(plan, server_ssl_now=ssl_now)
        for client in live_clients(live):
            key = (cluster['id'], client['kind'], client['address'], client['user'], client['database'])
            if key in seen or _covers(intended, client['address']):
                continue
            seen.add(key)
            refused, entry = _refusers(client, cluster_plan)
            if refused:
                result['cuts'].append(dict(client, cluster=cluster['id'], refused_by=refused, keep_with=_keep_with(client)))
            elif entry is not None and client['ssl'] is False and plan.get('tls_required') and plan['hba_managed']:
                result['notes'].append(
                    '%s: %s connects without TLS today and will need it: libpq\'s default sslmode=prefer switches '
                    'to TLS once the server offers it, sslmode=disable (which pg_basebackup -R can write into a '
                    "standby's primary_conninfo) is refused" % (cluster['id'], describe_client(client)))
        for role in live.get('md5_roles') or []:
            if not plan['hba_managed']:
                break
            admitting = [c for c in plan['clients'] if c['auth_method'] == 'scram-sha-256' and _user_matches(c['users'], role)]
            if not admitting:
                continue
            if compat:
                result['compat_clients'] += [c['name'] for c in admitting if c['name'] not in result['compat_clients']]
            else:
                result['md5_lockouts'].append({'cluster': cluster['id'], 'role': role,
                                               'clients': [c['name'] for c in admitting]})
        for slot in live.get('slots') or []:
            if not slot.get('active'):
                result['slots'].append(dict(slot, cluster=cluster['id']))
    for cut in result['cuts']:
        result['messages'].append(
            '%s: %s would be refused by %s; keep it with %s in pgsec_clients, or cut it on purpose with '
            'pgsec_lockout_cut: [%s]' % (cut['cluster'], describe_client(cut), ' and '.join(cut['refused_by']),
                                         flow_text(cut['keep_with']), cut['keep_with']['sources'][0]))
    for lockout in result['md5_lockouts']:
        result['messages'].append(
            "%s: role %s has its password stored as MD5, which the scram-sha-256 lines of pgsec_clients %s would "
            "refuse. This collection never changes a password: re-hash it (SET password_encryption = "
            "'scram-sha-256'; then ALTER ROLE %s PASSWORD with the same password, or \\password %s in psql), or set "
            "pgsec_hba_md5_compat: true to write md5 lines, which accept SCRAM and MD5 secrets"
            % (lockout['cluster'], lockout['role'], ', '.join("'%s'" % name for name in lockout['clients']),
               lockout['role'], lockout['role']))
    for slot in result['slots']:
        result['notes'].append(
            "%s: replication slot '%s' (%s) is inactive, so its client is not known: make sure a pgsec_clients entry "
            "with databases: [replication] covers its standby" % (slot['cluster'], slot['name'], slot.get('type')))
    return result


def apply_compat(clients, compat_clients):
    """Clients whose scram-sha-256 lines would lock MD5-era roles out get md5 (which accepts SCRAM too)."""
    return [dict(client, auth_method='md5') if client['name'] in compat_clients else client for client in clients]
