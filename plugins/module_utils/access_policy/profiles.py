# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Profiles beyond the baseline: the cis profile (what it requires, CIS_MAPPING) and its refusals."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import parse_ip, parse_network
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import _as_bool, CIS_AUTH_METHODS, CIS_BROAD_DATABASES, CIS_BROAD_USERS
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import CIS_MAX_PREFIX, CIS_TLS13_CIPHERS, CIS_TLS_CIPHERS
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import CIS_TLS_MIN_PROTOCOL, PolicyError, _WILDCARD_LISTEN
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.ciphers import _cipher_elements


# What the cis profile covers: control, what it requires, the variables that decide it (what the
# profile asks for rather than guesses), how the roles enforce it, and the audit's findings for it.
# docs/cis.md carries this table (tests/tools/cis_table.py writes it; a unit test compares).
CIS_MAPPING = (
    ('5.2', 'listen_addresses names specific addresses, never `*`, `0.0.0.0` or `::`',
     ('pgsec_clients', 'pgsec_listen_addresses', 'pgsec_listen_allow_wildcard'),
     'listen role: the local addresses the client networks reach the host on; a wildcard in '
     'pgsec_listen_addresses is refused even with pgsec_listen_allow_wildcard',
     ('listen.not_wildcard',)),
    ('5.3', '`local` lines use peer',
     (),
     'postgresql_access_hba (local_peer): every accepting `local` line that is not peer is commented out '
     'and replaced in place by the same line with peer; checked with pg_hba_file_rules, restored on error',
     ('hba.auth_method',)),
    ('5.4', 'TCP lines use scram-sha-256 (or a client certificate)',
     ('pgsec_tls_hba_method', 'pgsec_clients'),
     'client lines use scram-sha-256 or cert; pgsec_tls_hba_method md5/password is refused',
     ('hba.auth_method',)),
    ('5.8', 'no TCP lines for localhost: local clients use the Unix socket',
     ('pgsec_hba_keep_loopback',),
     'loopback TCP lines are commented out whatever pgsec_hba_keep_loopback says; a loopback client source '
     'is refused',
     ('hba.localhost_tcp', 'hba.ssl_required')),
    ('5.9', 'no `0.0.0.0/0`, `::/0` or `all` address in any line, reject lines included; networks at most '
     '/16 (IPv4) and /48 (IPv6)',
     ('pgsec_clients', 'pgsec_hba_max_prefix_v4', 'pgsec_hba_max_prefix_v6'),
     'wider client sources are refused; the managed block rejects per client network instead of for '
     '0.0.0.0/0, and PostgreSQL refuses what matches no line',
     ('hba.no_all_addresses', 'hba.range_size', 'hba.reject_unmatched')),
    ('5.10', 'each TCP line names specific databases and users',
     ('pgsec_clients',),
     'each client must give `databases` and `users`; `all`, `sameuser`, `samerole`, regular expressions '
     'and @files are refused',
     ('hba.specific_targets',)),
    ('5.11', 'no superuser can log in over TCP',
     ('pgsec_clients',),
     'a client naming postgres or the server user is refused before any change; the block rejects every '
     'superuser (pg_roles.rolsuper) over TCP before the client lines, and a client naming one is refused',
     ('hba.no_remote_superuser',)),
    ('5.12', 'password_encryption = scram-sha-256',
     (),
     'tls role: password_encryption in pgsec.d/tls.conf',
     ('hba.auth_method',)),
    ('6.8', 'TLS on, TCP only over hostssl, the server key passphrase-protected and unlocked by '
     'ssl_passphrase_command',
     ('pgsec_tls_enabled', 'pgsec_tls_key_passphrase', 'pgsec_tls_generate'),
     'TLS forced on (pgsec_tls_enabled: false refused); pgsec_tls_key_passphrase required, or generated '
     'with pgsec_tls_generate; only hostssl client lines, hostnossl rejected',
     ('tls.enabled', 'hba.ssl_required', 'tls.key_passphrase', 'tls.passphrase_store')),
    ('6.9', 'ssl_min_protocol_version = TLSv1.3',
     ('pgsec_tls_min_protocol_version',),
     'TLSv1.3 forced; another pgsec_tls_min_protocol_version is refused',
     ('tls.min_protocol',)),
    ('6.10', 'ssl_ciphers a subset of the CIS list (forward secrecy, AEAD, >= 128 bits)',
     ('pgsec_tls_ciphers', 'pgsec_tls13_ciphers'),
     'default: the list itself; anything else is refused (aliases such as HIGH included)',
     ('tls.ciphers',)),
    ('pgdsat 2.6', 'socket files 0770 with a unix_socket_group, or 0700; never 0777',
     ('pgsec_unix_socket_permissions', 'pgsec_unix_socket_group'),
     'default 0700 (0770 with pgsec_unix_socket_group); any other mode is refused',
     ('socket.permissions', 'socket.files')),
)


# ---------------------------------------------------------------------------- the cis profile

def _cis_names_problem(where, names, given, broad, what, client):
    """Why a client's databases or users do not name specific ones under cis (CIS 5.10), or None."""
    if not given:
        return ("%s: not given, which means 'all'; pgsec_profile cis needs the %s client %s uses, by name "
                "(CIS 5.10)" % (where, what, client))
    for name in names:
        if name in broad:
            return "%s: %r does not name specific %s (CIS 5.10); list the %s client %s uses" % (
                where, name, what, what, client)
        if name.startswith('/'):
            return '%s: %r is a regular expression, which pgsec_profile cis does not accept: name the %s (CIS 5.10)' % (
                where, name, what)
        if name.startswith('@'):
            return '%s: %r includes names from a file, which pgsec_profile cis cannot check: name the %s (CIS 5.10)' % (
                where, name, what)
    return None


def _cis_source_problems(where, source, limits):
    network = parse_network(source)
    if network is None:
        return []
    if network.prefixlen == 0:
        return ['%s: %r admits every address, which pgsec_profile cis never allows (CIS 5.9)' % (where, source)]
    if network.is_loopback:
        return ['%s: %r is loopback; under pgsec_profile cis local clients use the Unix socket, not TCP (CIS 5.8)'
                % (where, source)]
    limit = limits[network.version]
    if network.prefixlen < limit:
        return ['%s: %r is wider than /%d, the widest IPv%d network pgsec_profile cis admits (CIS 5.9; '
                'pgsec_hba_max_prefix_v%d)' % (where, source, limit, network.version, network.version)]
    return []


def _cis_cipher_problem(name, value, allowed, what):
    elements = _cipher_elements(value)
    outside = [element for element in elements if element not in allowed]
    if not elements or outside:
        return ('%s: %r is not a subset of the CIS 6.10 %s suites (%s): %s; name suites from that list, '
                'separated by colons (aliases such as HIGH are not accepted under pgsec_profile cis)'
                % (name, value, what, ':'.join(allowed), 'not in the list: %s' % ', '.join(outside) if outside
                   else 'empty'))
    return None


def cis_problems(policy, user=None, server_users=(), passphrase_given=False):
    """What the policy asks for that the cis profile does not allow: one message per problem.

    Each message names the variable and the value and says which CIS control refuses it. [] when
    the profile is not cis or nothing is wrong.

    policy: merged (merge_policy). user: the variables as given (to tell a value given from a
    default; role variables such as pgsec_hba_manage are read from here). server_users: the OS
    users the clusters run as (superusers by name, besides postgres). passphrase_given: whether
    pgsec_tls_key_passphrase is set; the secret itself never reaches this code.
    """
    if policy.get('pgsec_profile') != 'cis':
        return []
    user = user or {}
    problems = []

    # 5.2: never every address, whatever pgsec_listen_allow_wildcard says
    for index, item in enumerate(policy.get('pgsec_listen_addresses') or []):
        address = parse_ip(item)
        if item in _WILDCARD_LISTEN or (address is not None and address.is_unspecified):
            problems.append("pgsec_listen_addresses[%d]: %r listens on every address, which pgsec_profile cis never "
                            "allows (CIS 5.2), even with pgsec_listen_allow_wildcard: true; list the addresses the "
                            "clients use, or leave pgsec_listen_addresses unset to derive them from pgsec_clients"
                            % (index, item))

    # pgdsat 2.6: 0770 with a group, or 0700
    mode = policy['pgsec_unix_socket_permissions']
    if mode not in ('0700', '0770'):
        problems.append("pgsec_unix_socket_permissions: %r is not allowed by pgsec_profile cis (pgdsat 2.6): use "
                        "'0770' with pgsec_unix_socket_group, or '0700'" % mode)
    elif mode == '0770' and not policy['pgsec_unix_socket_group']:
        problems.append("pgsec_unix_socket_permissions: '0770' needs pgsec_unix_socket_group under pgsec_profile cis "
                        "(pgdsat 2.6): name the group whose members may connect, or use '0700'")

    # 5.8 - 5.11: each client by name, its databases and users, from narrow networks
    limits = {4: max(CIS_MAX_PREFIX[4], policy['pgsec_hba_max_prefix_v4']),
              6: max(CIS_MAX_PREFIX[6], policy['pgsec_hba_max_prefix_v6'])}
    for family in (4, 6):
        name = 'pgsec_hba_max_prefix_v%d' % family
        if policy[name] < CIS_MAX_PREFIX[family]:
            problems.append('%s: %d admits networks wider than /%d, which pgsec_profile cis does not (CIS 5.9)'
                            % (name, policy[name], CIS_MAX_PREFIX[family]))
    raw_clients = user.get('pgsec_clients') if isinstance(user.get('pgsec_clients'), list) else []
    superusers = set(['postgres'] + [str(name) for name in server_users or () if name])
    for index, client in enumerate(policy['pgsec_clients']):
        where = 'pgsec_clients[%d]' % index
        raw = raw_clients[index] if index < len(raw_clients) and isinstance(raw_clients[index], dict) else {}
        for key, broad, what in (('databases', CIS_BROAD_DATABASES, 'databases'), ('users', CIS_BROAD_USERS, 'users')):
            problem = _cis_names_problem('%s.%s' % (where, key), client[key], bool(raw.get(key)), broad, what,
                                         client['name'])
            if problem:
                problems.append(problem)
        for name in client['users']:
            if name in superusers:
                problems.append('%s.users: %r is a superuser; pgsec_profile cis lets no superuser log in over TCP '
                                '(CIS 5.11): administer through the Unix socket' % (where, name))
        for number, source in enumerate(client['sources']):
            problems.extend(_cis_source_problems('%s.sources[%d]' % (where, number), source, limits))

    # pg_hba is enforced, with strong methods (5.3, 5.4, 5.12)
    try:
        manage = user.get('pgsec_hba_manage') is None or _as_bool('pgsec_hba_manage', user['pgsec_hba_manage'])
    except PolicyError as exc:
        problems.append(str(exc))
        manage = True
    if not manage:
        problems.append('pgsec_hba_manage: false leaves pg_hba.conf alone, but pgsec_profile cis enforces it '
                        '(CIS 5.3, 5.4, 5.8 - 5.12); remove it')
    method = user.get('pgsec_tls_hba_method')
    if method not in (None, '') and method not in CIS_AUTH_METHODS:
        problems.append('pgsec_tls_hba_method: %r is not allowed by pgsec_profile cis, which needs %s for TCP '
                        '(CIS 5.4)' % (method, ' or '.join(CIS_AUTH_METHODS)))

    # 6.8 - 6.10: TLS 1.3, the listed suites, a key unlocked by ssl_passphrase_command
    if 'pgsec_tls_enabled' in user and user['pgsec_tls_enabled'] is not None:
        try:
            enabled = _as_bool('pgsec_tls_enabled', user['pgsec_tls_enabled'])
        except PolicyError:
            enabled = True  # merge_policy reported it already
        if not enabled:
            problems.append('pgsec_tls_enabled: false, but pgsec_profile cis requires TLS (CIS 6.8); remove it')
    version = user.get('pgsec_tls_min_protocol_version')
    if version not in (None, '') and str(version).strip().lower() != CIS_TLS_MIN_PROTOCOL.lower():
        problems.append('pgsec_tls_min_protocol_version: %r is not %s, which pgsec_profile cis requires (CIS 6.9); '
                        'remove it' % (version, CIS_TLS_MIN_PROTOCOL))
    problem = _cis_cipher_problem('pgsec_tls_ciphers', policy['pgsec_tls_ciphers'], CIS_TLS_CIPHERS, 'TLS 1.2')
    if problem:
        problems.append(problem)
    tls13 = user.get('pgsec_tls13_ciphers')
    if tls13:
        problem = _cis_cipher_problem('pgsec_tls13_ciphers', str(tls13), CIS_TLS13_CIPHERS, 'TLS 1.3')
        if problem:
            problems.append(problem)
    try:
        generate = user.get('pgsec_tls_generate') is not None and _as_bool('pgsec_tls_generate', user['pgsec_tls_generate'])
    except PolicyError as exc:
        problems.append(str(exc))
        generate = False
    if not passphrase_given and not generate:
        problems.append("pgsec_tls_key_passphrase: '' (not set), but pgsec_profile cis requires a passphrase-protected "
                        'server key unlocked by ssl_passphrase_command (CIS 6.8); give the passphrase of '
                        'pgsec_tls_key (from the vault), or use pgsec_tls_generate: true, which generates one')
    return problems


def check_cis(policy, user=None, server_users=(), passphrase_given=False):
    """Raise PolicyError with every problem of cis_problems; nothing when there is none."""
    problems = cis_problems(policy, user, server_users, passphrase_given)
    if len(problems) == 1:
        raise PolicyError(problems[0])
    if problems:
        raise PolicyError('pgsec_profile cis: %d problems: %s' % (
            len(problems), ' | '.join('(%d) %s' % (index, text) for index, text in enumerate(problems, 1))))


def cis_enforcement(policy):
    """What the roles do beyond the policy's settings under each profile (the plan's ``hba`` and ``tls``).

    hba: the options of postgresql_access_hba: local lines made peer (5.3), rejects per client
    network instead of 0.0.0.0/0 (5.9), superusers rejected over TCP before the clients (5.11),
    no loopback TCP lines (5.8). tls: extra settings (password_encryption, 5.12), the TLS 1.3
    suites for PostgreSQL 18 (6.10), whether the key must be passphrase-protected (6.8).
    """
    cis = policy.get('pgsec_profile') == 'cis'
    return {
        'hba': {'local_peer': cis, 'final_reject': 'sources' if cis else 'all', 'reject_superusers': cis,
                'loopback_allowed': not cis},
        'tls': {'settings': {'password_encryption': 'scram-sha-256'} if cis else {},
                'tls13_ciphers': ':'.join(CIS_TLS13_CIPHERS) if cis else '',
                'passphrase_required': cis},
    }
