# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The policy model: its variables (DEFAULT_POLICY), the values they may take, and merge_policy."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import functools
import posixpath
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import normalize_cidr
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool, as_list, fail
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_config import split_setting
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.ciphers import TLS_VERSIONS, _tls_rank, weak_cipher_classes


PROFILES = ('baseline', 'cis')
STATUSES = ('fail', 'error', 'manual', 'pass')          # report order: what needs attention first
SEVERITIES = ('critical', 'high', 'medium', 'low', 'info')  # worst first
# What pgsec_firewall_backend accepts: firewall/select.BACKENDS and none. Written out, not imported, so
# that the audit module does not carry every backend (test_run checks that the two agree).
FIREWALL_BACKENDS = ('auto', 'nftables', 'iptables', 'firewalld', 'none')
CLIENTCERT_MODES = ('none', 'verify-ca', 'verify-full')
# What the pg_hba block can write for a TCP client (ldap, radius, gss... need options it does not take).
CLIENT_AUTH_METHODS = ('scram-sha-256', 'cert')

# TLS 1.2 and older suites: only AEAD or SHA-2 MACs with forward secrecy, nothing anonymous,
# nothing without encryption, no RSA key exchange, no PSK/SRP (PostgreSQL configures neither).
# TLS 1.3 suites are not affected by ssl_ciphers. Accepted by OpenSSL 1.1.1 and 3.x.
DEFAULT_TLS_CIPHERS = 'HIGH:!aNULL:!eNULL:!kRSA:!PSK:!SRP:!MD5:!SHA1:!RC4:!3DES:!DES:!EXPORT'

# The cis profile (CIS PostgreSQL 17 v1.0.0, sections 5 and 6, read as an auditor reads them).
CIS = 'CIS PostgreSQL 17 v1.0.0'
CIS_TLS_MIN_PROTOCOL = 'TLSv1.3'
# 6.10: only suites with forward secrecy (ECDHE, DHE), AEAD encryption of 128 bits or more, 256 bits
# preferred. ssl_ciphers under cis must name a subset of these suites, by name (no aliases such as
# HIGH, whose expansion depends on the OpenSSL build). TLS 1.3 suites are configured apart
# (ssl_tls13_ciphers, PostgreSQL 18 and newer) and must be a subset of CIS_TLS13_CIPHERS.
CIS_TLS_CIPHERS = (
    'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
    'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
    'DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-CHACHA20-POLY1305', 'DHE-RSA-AES128-GCM-SHA256',
)
CIS_TLS13_CIPHERS = ('TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256')
CIS_DEFAULT_TLS_CIPHERS = ':'.join(CIS_TLS_CIPHERS)
# 5.9: the widest pg_hba network of any line, reject lines included: a /16 for IPv4 and, for
# IPv6, a /48 (one site's allocation; a /16 of IPv6 would be absurdly wide).
CIS_MAX_PREFIX = {4: 16, 6: 48}
# 5.4 / 5.12: what a TCP line may use under cis (scram-sha-256, or a client certificate).
CIS_AUTH_METHODS = ('scram-sha-256', 'cert')
# 5.10: pg_hba names that do not name specific databases or users.
CIS_BROAD_DATABASES = ('all', 'sameuser', 'samerole', 'samegroup')
CIS_BROAD_USERS = ('all',)

DEFAULT_POLICY = {
    'pgsec_profile': 'baseline',
    'pgsec_clients': [],
    'pgsec_port': 5432,
    'pgsec_listen_addresses': None,
    'pgsec_unix_socket_permissions': '0770',
    'pgsec_unix_socket_group': '',
    'pgsec_socket_directories': [],
    'pgsec_tls_enabled': True,
    'pgsec_tls_min_protocol_version': 'TLSv1.2',
    'pgsec_tls_ciphers': DEFAULT_TLS_CIPHERS,
    'pgsec_tls_cert_warn_days': 30,
    'pgsec_firewall_backend': 'auto',
    'pgsec_hba_max_prefix_v4': 16,
    'pgsec_hba_max_prefix_v6': 48,
}


_ON_VALUES = ('on', 'true', 'yes', '1')
_WILDCARD_LISTEN = ('*', '0.0.0.0', '::')
_TCP_TYPES = ('host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc')
_SECRET_SETTING = re.compile(r'passphrase_command$|secret|passwd', re.I)  # values never shown
_OCTAL_MODE = re.compile(r'^0?[0-7]{3,4}$')


class PolicyError(ValueError):
    """The policy variables are invalid; the message names the variable and the value."""


class MissingFacts(Exception):
    """A control needs facts that were not gathered; becomes a finding with status 'error'."""


# ---------------------------------------------------------------------------- policy

def default_policy():
    """A fresh copy of the policy defaults (DEFAULT_POLICY)."""
    return copy.deepcopy(DEFAULT_POLICY)


_fail = functools.partial(fail, PolicyError)
_as_bool = functools.partial(as_bool, PolicyError)
_as_list = functools.partial(as_list, PolicyError)


def _as_int(name, value, low, high):
    if isinstance(value, bool):
        _fail(name, value, 'is not an integer')
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        _fail(name, value, 'is not an integer')
    if not low <= number <= high:
        _fail(name, value, 'is not between %d and %d' % (low, high))
    return number


def _as_mode(name, value, allow_special=False):
    """A file mode as 4 octal digits. YAML reads unquoted 0770 as the integer 504, so ints are modes."""
    if isinstance(value, bool):
        _fail(name, value, 'is not a file mode')
    if isinstance(value, int):
        limit = 0o7777 if allow_special else 0o777
        if not 0 <= value <= limit:
            _fail(name, value, "is not a file mode; write it quoted, e.g. '0770'")
        return '%04o' % value
    text = str(value).strip()
    if not _OCTAL_MODE.match(text):
        _fail(name, value, "is not an octal file mode such as '0770'")
    number = int(text, 8)
    if not allow_special and number > 0o777:
        _fail(name, value, 'may not have setuid/setgid/sticky bits')
    return '%04o' % number


def _as_cidr(name, value):
    cidr = normalize_cidr(value) if isinstance(value, str) else None
    if cidr is None:
        _fail(name, value, 'is not an IP address or network in CIDR notation')
    return cidr


def _merge_clients(value):
    clients = []
    names = set()
    for index, client in enumerate(_as_list('pgsec_clients', value)):
        where = 'pgsec_clients[%d]' % index
        if not isinstance(client, dict):
            _fail(where, client, 'is not a dict')
        unknown = sorted(set(client) - {'name', 'sources', 'databases', 'users', 'auth_method', 'clientcert'})
        if unknown:
            _fail(where, client, 'has unknown keys: %s' % ', '.join(unknown))
        name = client.get('name') or 'client%d' % (index + 1)
        if name in names:
            _fail(where + '.name', name, 'is used twice')
        names.add(name)
        sources = [_as_cidr('%s.sources[%d]' % (where, number), source)
                   for number, source in enumerate(_as_list(where + '.sources', client.get('sources')))]
        if not sources:
            _fail(where + '.sources', client.get('sources'), 'must list at least one network')
        method = client.get('auth_method') or 'scram-sha-256'
        if method not in CLIENT_AUTH_METHODS:
            _fail(where + '.auth_method', method, 'is not one of %s' % ', '.join(CLIENT_AUTH_METHODS))
        clientcert = client.get('clientcert') or 'none'
        if clientcert not in CLIENTCERT_MODES:
            _fail(where + '.clientcert', clientcert, 'is not one of %s' % ', '.join(CLIENTCERT_MODES))
        clients.append({
            'name': str(name), 'sources': sources,
            'databases': [str(item) for item in _as_list(where + '.databases', client.get('databases'))] or ['all'],
            'users': [str(item) for item in _as_list(where + '.users', client.get('users'))] or ['all'],
            'auth_method': method, 'clientcert': clientcert,
        })
    return clients


def _merge_socket_directories(value):
    directories = []
    for index, entry in enumerate(_as_list('pgsec_socket_directories', value)):
        where = 'pgsec_socket_directories[%d]' % index
        if isinstance(entry, str):
            entry = {'path': entry}
        if not isinstance(entry, dict) or not str(entry.get('path') or '').startswith('/'):
            _fail(where, entry, 'needs an absolute path')
        directories.append({
            'path': posixpath.normpath(entry['path']),
            'group': str(entry['group']) if entry.get('group') not in (None, '') else None,
            'mode': _as_mode(where + '.mode', entry['mode'], allow_special=True)
            if entry.get('mode') not in (None, '') else None,
        })
    return directories


def merge_policy(user=None):
    """The effective policy: defaults overlaid with the user's pgsec_* variables, validated and normalised.

    Raises PolicyError naming the variable and the value. Unknown pgsec_* keys are kept as given
    (other roles' variables). The cis profile forces TLS on and ssl_min_protocol_version TLSv1.3,
    defaults the socket mode to 0700 unless a socket group or mode is given, and ssl_ciphers to
    the CIS 6.10 suites (CIS_TLS_CIPHERS) unless pgsec_tls_ciphers is given. Idempotent.

    This only normalises: the audit evaluates any policy. What the roles refuse under cis
    (cis_problems) is checked by the plan (access_plan.plan_host).
    """
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise PolicyError('policy: %r is not a dict of pgsec_* variables' % (user,))
    given = {key: value for key, value in user.items() if value is not None or key == 'pgsec_listen_addresses'}
    policy = default_policy()
    policy.update(given)

    profile = str(policy['pgsec_profile']).strip().lower()
    if profile not in PROFILES:
        _fail('pgsec_profile', policy['pgsec_profile'], 'is not one of %s' % ', '.join(PROFILES))
    policy['pgsec_profile'] = profile
    policy['pgsec_clients'] = _merge_clients(policy['pgsec_clients'])
    policy['pgsec_port'] = _as_int('pgsec_port', policy['pgsec_port'], 1, 65535)

    listen = policy['pgsec_listen_addresses']
    if listen is not None:
        if isinstance(listen, str):
            elements = split_setting('listen_addresses', listen)
            if elements is None:
                _fail('pgsec_listen_addresses', listen, 'is not a valid listen_addresses list')
            listen = elements
        policy['pgsec_listen_addresses'] = [str(item).strip() for item in _as_list('pgsec_listen_addresses', listen)
                                            if str(item).strip()]

    group = policy['pgsec_unix_socket_group']
    policy['pgsec_unix_socket_group'] = '' if group is None else str(group).strip()
    if profile == 'cis' and 'pgsec_unix_socket_permissions' not in given and not policy['pgsec_unix_socket_group']:
        policy['pgsec_unix_socket_permissions'] = '0700'
    policy['pgsec_unix_socket_permissions'] = _as_mode('pgsec_unix_socket_permissions',
                                                       policy['pgsec_unix_socket_permissions'])
    policy['pgsec_socket_directories'] = _merge_socket_directories(policy['pgsec_socket_directories'])

    policy['pgsec_tls_enabled'] = _as_bool('pgsec_tls_enabled', policy['pgsec_tls_enabled'])
    version = str(policy['pgsec_tls_min_protocol_version']).strip()
    matching = [known for known in TLS_VERSIONS if known.lower() == version.lower()]
    if not matching:
        _fail('pgsec_tls_min_protocol_version', version, 'is not one of %s' % ', '.join(TLS_VERSIONS))
    if _tls_rank(matching[0]) < _tls_rank('TLSv1.2'):
        _fail('pgsec_tls_min_protocol_version', version, 'is below TLSv1.2, the oldest version this collection allows')
    policy['pgsec_tls_min_protocol_version'] = matching[0]
    if profile == 'cis':
        policy['pgsec_tls_enabled'] = True
        policy['pgsec_tls_min_protocol_version'] = CIS_TLS_MIN_PROTOCOL
        if 'pgsec_tls_ciphers' not in given:
            policy['pgsec_tls_ciphers'] = CIS_DEFAULT_TLS_CIPHERS
    ciphers = str(policy['pgsec_tls_ciphers']).strip()
    if not ciphers:
        _fail('pgsec_tls_ciphers', policy['pgsec_tls_ciphers'], 'is empty')
    weak = weak_cipher_classes(ciphers)['weak']
    if weak:
        _fail('pgsec_tls_ciphers', ciphers, 'allows weak ciphers: %s' % ', '.join(sorted(weak)))
    policy['pgsec_tls_ciphers'] = ciphers
    policy['pgsec_tls_cert_warn_days'] = _as_int('pgsec_tls_cert_warn_days', policy['pgsec_tls_cert_warn_days'],
                                                 0, 3650)
    backend = str(policy['pgsec_firewall_backend']).strip().lower()
    if backend not in FIREWALL_BACKENDS:
        _fail('pgsec_firewall_backend', policy['pgsec_firewall_backend'],
              'is not one of %s' % ', '.join(FIREWALL_BACKENDS))
    policy['pgsec_firewall_backend'] = backend
    policy['pgsec_hba_max_prefix_v4'] = _as_int('pgsec_hba_max_prefix_v4', policy['pgsec_hba_max_prefix_v4'], 0, 32)
    policy['pgsec_hba_max_prefix_v6'] = _as_int('pgsec_hba_max_prefix_v6', policy['pgsec_hba_max_prefix_v6'], 0, 128)
    return policy
