# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The access policy and its evaluation: facts + policy -> findings.

The policy is the collection's ``pgsec_*`` variables (see DEFAULT_POLICY). ``evaluate``
checks the facts of ``postgresql_access_facts`` against it and returns one finding per
control and cluster (per port for the firewall, per host for host-wide controls):

  {"id", "host", "cluster", "subject", "expected", "actual", "status", "severity",
   "reference", "title", "remediation"}

``status`` is relative to the policy: ``pass`` (compliant), ``fail`` (drift), ``manual``
(a person has to judge, or the control does not apply: the text says which) or ``error``
(the facts needed are missing). ``severity`` says how bad a failure of that finding is.
Findings are plain JSON-able data and never contain key material or passphrase commands.

Everything here is pure Python so that the audit module, the roles and unit tests share it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import functools
import ipaddress
import posixpath
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import (
    covers_everything,
    format_ip,
    format_network,
    is_link_local,
    is_loopback,
    network_contains,
    network_overlap,
    normalize_cidr,
    parse_ip,
    parse_network,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool, as_list, fail
from ansible_collections.pgsec.hardening.plugins.module_utils.pg_config import split_setting
from ansible_collections.pgsec.hardening.plugins.module_utils.pg_hba import rule_covers_all_addresses

PROFILES = ('baseline', 'cis')
STATUSES = ('fail', 'error', 'manual', 'pass')          # report order: what needs attention first
SEVERITIES = ('critical', 'high', 'medium', 'low', 'info')  # worst first
TLS_VERSIONS = ('TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3')
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
CONTROLS = (
    # id, scope, severity, title, reference, remediation
    ('facts.complete', 'cluster', 'info', 'Facts were gathered completely',
     'pgsec.hardening: postgresql_access_facts',
     'Fix what the facts module could not read (see actual) and audit again.'),
    ('listen.not_wildcard', 'cluster', 'high', 'listen_addresses is not a wildcard',
     CIS + ' 5.2',
     "Set listen_addresses to the specific addresses clients use ('' for Unix sockets only) and restart; "
     "the pgsec.hardening listen role derives them from pgsec_clients."),
    ('listen.within_policy', 'cluster', 'medium', 'The server listens only where clients need it',
     'pgsec.hardening policy: listen_addresses derived from pgsec_clients (Unix sockets only without clients)',
     'Set listen_addresses to the expected addresses (or adjust pgsec_clients / pgsec_listen_addresses) and restart.'),
    ('listen.auto_conf_override', 'cluster', 'medium', 'No access setting is overridden by ALTER SYSTEM',
     'PostgreSQL documentation: ALTER SYSTEM (postgresql.auto.conf is read last and wins)',
     'Remove the override with ALTER SYSTEM RESET <name> (then reload or restart) and keep the setting '
     'in postgresql.conf, where the hardening roles manage it.'),
    ('socket.permissions', 'cluster', 'high', 'unix_socket_permissions is not world-accessible',
     'pgdsat 2.6',
     'Set unix_socket_permissions to pgsec_unix_socket_permissions (0770 with unix_socket_group, or 0700) and restart.'),
    ('socket.files', 'cluster', 'high', 'Live Unix socket files have the intended mode and group',
     'pgdsat 2.6 (applied to the live socket files)',
     'Set unix_socket_permissions / unix_socket_group as the policy says and restart; the server sets them '
     'on the socket file when it starts.'),
    ('socket.directories', 'cluster', 'medium', 'Socket directories cannot be used to spoof the server',
     'PostgreSQL documentation: Preventing Server Spoofing (unix_socket_directories)',
     'Put the sockets in a directory only the server user (and the allowed group) can write, such as '
     '/run/postgresql with mode 2775 or stricter, as listed in pgsec_socket_directories.'),
    ('tls.enabled', 'cluster', 'high', 'TLS is enabled',
     CIS + ' 6.8',
     'Install a certificate and key, set ssl = on and reload; a server built without OpenSSL must be '
     'replaced by a build with SSL support first.'),
    ('tls.min_protocol', 'cluster', 'medium', 'Old TLS protocol versions are disabled',
     CIS + ' 6.9',
     'Set ssl_min_protocol_version to the required version and reload.'),
    ('tls.ciphers', 'cluster', 'medium', 'No weak TLS cipher suites',
     CIS + ' 6.10',
     'Set ssl_ciphers to pgsec_tls_ciphers and reload.'),
    ('tls.certificate', 'cluster', 'high', 'The server certificate is valid and matches its key',
     'PostgreSQL documentation: SSL server files (ssl_cert_file, ssl_key_file, ssl_ca_file)',
     'Install a current certificate (RSA >= 2048 or EC >= 256 bits, SHA-2 signature) that matches the key '
     'and chains to ssl_ca_file, then reload.'),
    ('tls.key_file', 'cluster', 'high', 'The private key file is readable only by the server',
     'PostgreSQL documentation: SSL server files (private key permissions)',
     'chown the key to the server user with mode 0600, or to root with the server group and mode 0640.'),
    ('tls.key_passphrase', 'cluster', 'low', 'The private key is protected by a passphrase',
     CIS + ' 6.8',
     'Encrypt the key and set ssl_passphrase_command (and ssl_passphrase_command_supports_reload) '
     'to a command that obtains the passphrase from a secret store.'),
    ('hba.valid', 'cluster', 'high', 'pg_hba.conf is valid',
     'PostgreSQL documentation: pg_hba_file_rules (a pg_hba.conf with errors is not loaded)',
     'Fix the lines reported and reload; PostgreSQL keeps the old rules (or refuses to start) until then.'),
    ('hba.ssl_required', 'cluster', 'high', 'Client connections over TCP must use SSL',
     CIS + ' 6.8 (TCP only over hostssl; loopback lines included under cis, 5.8)',
     "Turn accepting 'host'/'hostnossl' lines into 'hostssl' lines and reject 'hostnossl' connections "
     "from the clients' networks."),
    ('hba.no_all_addresses', 'cluster', 'high', 'No rule accepts connections from any address',
     CIS + ' 5.9',
     'Replace 0.0.0.0/0, ::/0 and "all" with the networks of pgsec_clients (under cis in reject lines too: '
     'reject per client network instead).'),
    ('hba.range_size', 'cluster', 'medium', 'Authorized address ranges are narrow',
     CIS + ' 5.9 (at most /16 for IPv4, /48 for IPv6; pgsec_hba_max_prefix_v4 / pgsec_hba_max_prefix_v6)',
     'Narrow the address ranges to the clients\' networks.'),
    ('hba.sources_within_policy', 'cluster', 'medium', 'pg_hba.conf admits exactly the clients of the policy',
     'pgsec.hardening policy: pg_hba sources derived from pgsec_clients',
     'Let the hardening roles write pg_hba.conf from pgsec_clients, or add the missing clients to the policy.'),
    ('hba.auth_method', 'cluster', 'high', 'Strong authentication methods',
     CIS + ' 5.4, 5.12 (local lines: 5.3)',
     'Use scram-sha-256 (or cert/gss) for TCP, peer for local lines, set password_encryption = scram-sha-256 '
     'and reset passwords still stored as MD5.'),
    ('hba.specific_targets', 'cluster', 'medium', 'TCP rules name specific databases and users',
     CIS + ' 5.10',
     "Replace 'all' in the database and user columns of TCP lines with the databases and users of each client."),
    ('hba.no_remote_superuser', 'cluster', 'high', 'Superusers cannot log in remotely',
     CIS + ' 5.11',
     'Do not list postgres (or other superusers) or "all" users in non-loopback TCP lines; administer '
     'through the Unix socket.'),
    ('hba.localhost_tcp', 'cluster', 'low', 'No TCP rules for the loopback interface',
     CIS + ' 5.8',
     'Remove host lines for 127.0.0.1/::1 and connect locally through the Unix socket.'),
    ('hba.reject_unmatched', 'cluster', 'low', 'pg_hba.conf ends TCP rules with an explicit reject',
     'pgsec.hardening policy: PostgreSQL itself refuses unmatched TCP connections (explicit final rejects; '
     'under cis per client network, as CIS 5.9 allows no 0.0.0.0/0)',
     "Add 'host all all 0.0.0.0/0 reject' and 'host all all ::/0 reject' (or 'host all all all reject') "
     "after the last accepting TCP line; under cis 'hostssl all all NETWORK reject' after the client lines "
     "and 'hostnossl all all NETWORK reject' for each client network."),
    ('firewall.active', 'host', 'high', 'A host firewall is active',
     'pgsec.hardening policy: host firewall for the PostgreSQL port (defense in depth)',
     'Enable the firewall backend of pgsec_firewall_backend (the pgsec.hardening firewall role does this).'),
    ('firewall.port_filtered', 'port', 'high', 'The PostgreSQL port is filtered by default',
     'pgsec.hardening policy: host firewall for the PostgreSQL port (defense in depth)',
     'Drop or reject new connections to the port by default, for IPv4 and IPv6, and allow only the clients.'),
    ('firewall.sources_within_policy', 'port', 'medium', 'The firewall admits only the clients of the policy',
     'pgsec.hardening policy: firewall sources derived from pgsec_clients',
     'Allow the port only from the sources of pgsec_clients.'),
    ('manual.physical_access', 'host', 'info', 'Physical access to the host is restricted',
     'Organisational control: physical security of database hosts (not automatable)',
     'Confirm that only authorised staff can reach the hardware, consoles and backups of this host '
     '(data centre access lists, locked racks, console/IPMI credentials), and record the evidence.'),
    ('manual.provider_attestation', 'host', 'info', "The hosting provider's controls are attested",
     'Organisational control: SOC 2 Type II / SOC 3 report of the hosting provider (not automatable)',
     "Obtain and review the provider's current SOC 2 Type II (or SOC 3) report, check that it covers the "
     'region/service hosting this server and note the complementary user-entity controls you must run.'),
    ('manual.network_segregation', 'host', 'info', 'Database hosts are on a segregated network',
     'Organisational control: network segregation (VLAN / VPC / security groups) (not automatable)',
     'Confirm that this host sits in a database network segment (VLAN, VPC subnet, security group) '
     'reachable only from application networks and administrators, independently of the host firewall.'),
)
_CONTROL_FIELDS = ('id', 'scope', 'severity', 'title', 'reference', 'remediation')

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
     ('tls.enabled', 'hba.ssl_required', 'tls.key_passphrase')),
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
CONTROL_IDS = tuple(control[0] for control in CONTROLS)

_ON_VALUES = ('on', 'true', 'yes', '1')
_WILDCARD_LISTEN = ('*', '0.0.0.0', '::')
_TCP_TYPES = ('host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc')
_SECRET_SETTING = re.compile(r'passphrase_command$|secret|passwd', re.I)  # values never shown
_PEM = re.compile(r'-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)', re.S)
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


def client_sources(policy):
    """Every source network of pgsec_clients, canonical CIDR, in order, without duplicates."""
    sources = []
    for client in policy.get('pgsec_clients') or []:
        for source in client['sources']:
            if source not in sources:
                sources.append(source)
    return sources


def listen_addresses_for_clients(clients, local_networks):
    """Local addresses on the networks the clients come from, or None when none of them is.

    ``local_networks`` are the host's interface addresses with their prefix ("198.18.1.11/24").
    No clients means Unix sockets only: []. Clients that are not on a local network (routed)
    give None: the address they reach cannot be derived from the interfaces alone.
    """
    sources = []
    for client in clients or []:
        sources.extend(client['sources'])
    if not sources:
        return []
    addresses = []
    for text in local_networks or []:
        try:
            interface = ipaddress.ip_interface(str(text))
        except ValueError:
            continue
        if interface.ip.is_loopback:
            continue
        network = '%s/%d' % (interface.network.network_address, interface.network.prefixlen)
        if any(network_overlap(network, source) for source in sources):
            address = format_ip(interface.ip)
            if address not in addresses:
                addresses.append(address)
    return addresses or None


def _source_network(text):
    """The source as an ip_network; IPv4-mapped IPv6 (::ffff:a.b.c.d/96+) as the IPv4 network."""
    network = parse_network(text) if isinstance(text, str) else None
    if network is not None and network.version == 6 and network.prefixlen >= 96 \
            and network.network_address.ipv4_mapped is not None:
        network = ipaddress.ip_network('%s/%d' % (network.network_address.ipv4_mapped, network.prefixlen - 96))
    return network


def _is_loopback_entry(entry):
    return entry.get('scope') == 'host' or is_loopback(entry.get('address'))


def _listen_text(entry):
    """An interface address as listen_addresses needs it: link-local with its %zone."""
    address = format_ip(parse_ip(entry['address']))
    if is_link_local(address) and entry.get('name'):
        return '%s%%%s' % (address, entry['name'])
    return address


def _prefer_routable(entries):
    """Drop link-local addresses unless nothing else is left."""
    routable = [entry for entry in entries if not is_link_local(entry['address'])]
    return routable or entries


def _best_route(cidr, family, routes):
    """The most specific route of the family covering cidr (lowest metric, then first, on ties)."""
    best, best_key = None, None
    for index, route in enumerate(routes):
        if route.get('family') != family:
            continue
        if route.get('dst') == 'default':
            prefixlen = 0
        elif network_contains(route.get('dst'), cidr):
            prefixlen = parse_network(route['dst']).prefixlen
        else:
            continue
        key = (-prefixlen, route.get('metric') or 0, index)
        if best_key is None or key < best_key:
            best, best_key = route, key
    return best


def _addresses_for_source(source, interfaces, routes):
    """Local addresses the host uses to reach one source network, [] when there is none."""
    network = _source_network(source)
    if network is None:
        return []
    cidr = format_network(network)
    if is_loopback(cidr):
        return ['127.0.0.1' if network.version == 4 else '::1']
    family = 'ipv4' if network.version == 4 else 'ipv6'
    usable = [entry for entry in interfaces
              if entry.get('family') == family and parse_ip(entry.get('address')) is not None
              and isinstance(entry.get('prefixlen'), int) and not _is_loopback_entry(entry)]
    connected = [entry for entry in usable
                 if network_overlap('%s/%d' % (entry['address'], entry['prefixlen']), cidr)]
    if connected:
        return [_listen_text(entry) for entry in _prefer_routable(connected)]
    route = _best_route(cidr, family, routes)
    if route is None:
        return []
    prefsrc = parse_ip(route.get('prefsrc'))
    if prefsrc is not None:
        return [format_ip(prefsrc)]
    on_dev = [entry for entry in usable if route.get('dev') and entry.get('name') == route['dev']]
    chosen = ([entry for entry in on_dev if entry.get('scope') == 'global']
              or _prefer_routable(on_dev))[:1]
    return [_listen_text(entry) for entry in chosen]


def derive_listen_addresses(clients, interfaces, routes):
    """The local addresses pgsec_clients reach this host on, from its interfaces and routes.

    clients: [{sources: [CIDR, ...]}]; interfaces and routes as ``postgresql_access_facts``
    returns them. A source on a connected network gives the interface addresses on it;
    otherwise the most specific covering route gives its prefsrc or the first global address
    of its device; loopback sources give 127.0.0.1/::1. Returns {"addresses": [...] (first
    appearance, no duplicates), "unreachable": [sources without any], "by_source": {source: [...]}}.
    """
    addresses, unreachable, by_source = [], [], {}
    for client in clients or []:
        for source in client.get('sources') or []:
            if source in by_source:
                continue
            found = _addresses_for_source(source, interfaces or [], routes or [])
            by_source[source] = found
            if not found:
                unreachable.append(source)
            for address in found:
                if address not in addresses:
                    addresses.append(address)
    return {'addresses': addresses, 'unreachable': unreachable, 'by_source': by_source}


# ---------------------------------------------------------------------------- TLS helpers

def _tls_rank(version):
    """0 for '' (any version), 1.. for TLSv1..TLSv1.3, -1 when unknown."""
    if not version:
        return 0
    for index, known in enumerate(TLS_VERSIONS, 1):
        if known.lower() == str(version).strip().lower():
            return index
    return -1


WEAK_CIPHER_CLASSES = ('eNULL', 'aNULL', 'EXPORT', 'RC4', 'DES', '3DES', 'MD5')
_ALL_WEAK = frozenset(WEAK_CIPHER_CLASSES)
_SEVERE_CIPHER_CLASSES = ('eNULL', 'aNULL', 'EXPORT')
# Which weak classes a cipher-string alias may select (OpenSSL >= 1.1 semantics, conservative:
# an alias counts when it can select at least one suite of the class). Names are upper-cased.
_KEY_EXCHANGE_OR_AUTH = ('ARSA', 'AECDSA', 'ADSS', 'DSS', 'ECDSA', 'KRSA', 'RSA', 'DHE', 'EDH', 'ECDHE', 'EECDH',
                         'PSK', 'KPSK', 'APSK', 'ECDHEPSK', 'DHEPSK', 'RSAPSK', 'KRSAPSK', 'KECDHEPSK', 'KDHEPSK',
                         'SRP', 'KSRP', 'ASRP', 'KGOST', 'AGOST', 'AGOST01', 'GOST')
_STRONG_ENCRYPTION = ('AES', 'AES128', 'AES256', 'AESGCM', 'AESCCM', 'AESCCM8', 'CHACHA20', 'CAMELLIA',
                      'CAMELLIA128', 'CAMELLIA256', 'ARIA', 'ARIA128', 'ARIA256', 'ARIAGCM', 'SEED', 'IDEA',
                      'GOST89', 'AEAD')
_ALIAS_GROUPS = (
    (('ALL',), _ALL_WEAK - {'eNULL'}),
    (('COMPLEMENTOFALL', 'ENULL', 'NULL'), {'eNULL', 'MD5', 'aNULL'}),
    (('DEFAULT',), _ALL_WEAK - {'eNULL', 'aNULL'}),
    (('COMPLEMENTOFDEFAULT',), {'aNULL', 'eNULL'}),
    (('HIGH',), {'aNULL'}),
    (('MEDIUM',), {'RC4', '3DES', 'MD5', 'aNULL'}),
    (('LOW',), {'DES', 'MD5', 'aNULL'}),
    (('EXPORT', 'EXP', 'EXPORT40', 'EXPORT56', 'EXP40', 'EXP56'), _ALL_WEAK),
    (('ANULL', 'ADH', 'AECDH', 'KDHE', 'KEDH', 'DH', 'KECDHE', 'KEECDH', 'ECDH', 'TLSV1', 'TLSV1.0', 'SSLV3',
      'SSLV2'), _ALL_WEAK),
    (_KEY_EXCHANGE_OR_AUTH, _ALL_WEAK - {'aNULL'}),
    (('SHA1', 'SHA'), _ALL_WEAK - {'MD5'}),
    (_STRONG_ENCRYPTION, {'aNULL'}),
    (('RC4',), {'RC4', 'MD5', 'aNULL', 'EXPORT'}),
    (('DES',), {'DES', 'EXPORT', 'aNULL', 'MD5'}),
    (('3DES',), {'3DES', 'aNULL'}),
    (('RC2',), {'EXPORT', 'MD5'}),
    (('MD5',), _ALL_WEAK - {'3DES'}),
    (('SHA256', 'SHA384', 'TLSV1.2'), {'eNULL', 'aNULL'}),
    (('FIPS',), {'3DES', 'eNULL'}),
    (('SUITEB128', 'SUITEB128ONLY', 'SUITEB192', 'SUITEB128C2'), set()),
)
_ALIAS_MAY_SELECT = dict((name, frozenset(classes)) for names, classes in _ALIAS_GROUPS for name in names)
# What '!ALIAS' removes for good.
_ALIAS_REMOVES = {
    'ANULL': {'aNULL'}, 'ENULL': {'eNULL'}, 'NULL': {'eNULL'}, 'EXPORT': {'EXPORT'}, 'EXP': {'EXPORT'},
    'RC4': {'RC4'}, 'DES': {'DES'}, '3DES': {'3DES'}, 'MD5': {'MD5'}, 'LOW': {'DES'}, 'MEDIUM': {'RC4', '3DES'},
}


def _suite_classes(name):
    """Weak classes of one explicit cipher suite name such as ECDHE-RSA-AES128-GCM-SHA256."""
    upper = name.upper()
    parts = upper.split('-')
    classes = set()
    if 'NULL' in parts:
        classes.add('eNULL')
    if parts[0] in ('ADH', 'AECDH') or 'ANON' in parts:
        classes.add('aNULL')
    if parts[0].startswith('EXP'):
        classes.add('EXPORT')
    if 'RC4' in parts:
        classes.add('RC4')
    if 'DES-CBC3' in upper or '3DES' in parts or 'EDE3' in upper:
        classes.add('3DES')
    elif 'DES' in parts or 'DES40' in parts or 'DES-CBC' in upper:
        classes.add('DES')
    if parts[-1] == 'MD5':
        classes.add('MD5')
    return classes


def weak_cipher_classes(cipher_string):
    """Which weak cipher classes an OpenSSL cipher string may enable, without running openssl.

    Elements are processed in order as OpenSSL does: ``A+B`` selects the intersection,
    ``-X`` removes (later elements may add back), ``!X`` removes for good, ``+X`` only
    reorders, ``@...`` are commands. Aliases are judged conservatively (an alias that
    may select a weak class counts as selecting it). Returns {"weak": {class: [elements
    that select it]}, "unknown": [unrecognised elements]}; classes are WEAK_CIPHER_CLASSES.
    """
    present = {}
    killed = set()
    unknown = []
    for element in re.split(r'[:, ]+', cipher_string or ''):
        if not element or element.startswith('@'):
            continue
        prefix = element[0] if element[0] in '!-+' else ''
        body = element[len(prefix):]
        if prefix == '+':
            continue
        if prefix in ('!', '-'):
            # removing an alias removes its class; removing one named suite leaves the class in place
            removed = _ALIAS_REMOVES.get(body.upper(), ())
            if prefix == '!':
                killed.update(removed)
            else:
                for name in removed:
                    present.pop(name, None)
            continue
        selected = None
        for alias in body.split('+'):
            upper = alias.upper()
            if upper in _ALIAS_MAY_SELECT:
                classes = set(_ALIAS_MAY_SELECT[upper])
            elif upper.startswith('TLS_'):
                classes = set()  # a TLS 1.3 suite name: ssl_ciphers does not configure TLS 1.3
            elif '-' in alias:
                classes = _suite_classes(alias)
            else:
                unknown.append(alias)
                classes = set()
            selected = classes if selected is None else selected & classes
        for name in selected or ():
            present.setdefault(name, []).append(element)
    weak = {name: elements for name, elements in present.items() if name not in killed}
    return {'weak': weak, 'unknown': unknown}


def _cipher_elements(cipher_string):
    return [element for element in re.split(r'[:, ]+', cipher_string or '') if element]


def redact(value):
    """Remove anything PEM-looking from text (findings never carry key material)."""
    if isinstance(value, str):
        return _PEM.sub('[PEM data removed]', value)
    return value


# ---------------------------------------------------------------------------- small helpers

def _is_on(value):
    return str(value).strip().lower() in _ON_VALUES


def _quote(value):
    return "'%s'" % value


def _mode_int(text):
    try:
        return int(str(text), 8)
    except (TypeError, ValueError):
        return None


def _same_path(first, second):
    """Paths equal after normalisation, with /var/run and /run taken as the same directory."""
    def norm(path):
        path = posixpath.normpath(path or '')
        if path == '/var/run' or path.startswith('/var/run/'):
            path = path[len('/var'):]
        return path
    return norm(first) == norm(second)


def _listener_text(listener):
    address = listener.get('address') or '?'
    if ':' in address:
        address = '[%s]' % address
    return '%s:%s' % (address, listener.get('port'))


def _rule_text(rule):
    """Where a pg_hba rule is and what it says, without options (which may hold secrets)."""
    where = '%s:%s' % (posixpath.basename(rule.get('file') or 'pg_hba.conf'), rule.get('line'))
    parts = [rule.get('type') or '?', ','.join(rule.get('database') or []), ','.join(rule.get('user') or [])]
    if rule.get('type') != 'local':
        address = rule.get('address') or ''
        if rule.get('netmask'):
            address += ' ' + rule['netmask']
        parts.append(address)
    parts.append(rule.get('method') or '?')
    clientcert = (rule.get('options') or {}).get('clientcert')
    if clientcert:
        parts.append('clientcert=%s' % clientcert)
    return '%s %s' % (where, ' '.join(parts))


def _rules_text(rules, limit=8):
    texts = [_rule_text(rule) for rule in rules[:limit]]
    if len(rules) > limit:
        texts.append('... and %d more' % (len(rules) - limit))
    return '; '.join(texts)


def _worst(severities):
    ranked = [severity for severity in SEVERITIES if severity in severities]
    return ranked[0] if ranked else None


def _outcome(status, subject, expected, actual, severity=None):
    return {'status': status, 'subject': subject, 'expected': expected, 'actual': actual, 'severity': severity}


def _expand_listen(elements):
    """Addresses a listen_addresses list means: '*' -> 0.0.0.0 and ::, localhost -> 127.0.0.1 and ::1."""
    addresses = set()
    for element in elements:
        if element == '*':
            addresses.update(('0.0.0.0', '::'))
        elif element.lower() == 'localhost':
            addresses.update(('127.0.0.1', '::1'))
        else:
            address = parse_ip(element)
            addresses.add(format_ip(address) if address is not None else element)
    return addresses


def _address_is_loopback(address):
    return address in ('localhost',) or is_loopback(address)


# ---------------------------------------------------------------------------- evaluation context

class _Context(object):
    """One cluster's facts with the policy, and the helpers every control uses."""

    def __init__(self, host_facts, cluster, policy, local_networks, interfaces=None, routes=None):
        self.host_facts = host_facts
        self.cluster = cluster
        self.policy = policy
        self.cis = policy['pgsec_profile'] == 'cis'
        self.local_networks = local_networks
        self.interfaces = interfaces
        self.routes = routes
        self.running = bool(cluster.get('running'))

    def cluster_problem(self):
        errors = self.cluster.get('errors') or []
        if errors:
            return '; '.join('%s: %s' % (error.get('step'), error.get('message')) for error in errors[:3])
        return 'not in the facts'

    def require(self, key):
        value = self.cluster.get(key)
        if value is None:
            raise MissingFacts('%s of this cluster could not be gathered (%s)' % (key, self.cluster_problem()))
        return value

    @property
    def settings(self):
        return self.require('settings')

    def setting(self, name, required=True):
        entry = self.settings.get(name)
        if entry is None and required:
            raise MissingFacts('setting %s is not in the facts (%s)' % (name, self.cluster_problem()))
        return entry

    def value(self, name, default=None):
        entry = self.settings.get(name)
        if entry is None or entry.get('value') is None:
            return default
        return entry['value']

    def pending(self, name):
        """What the configuration files say for a running server when it differs from the live value."""
        entry = self.settings.get(name) or {}
        if self.running and 'file_value' in entry and entry['file_value'] != entry.get('value'):
            return entry['file_value']
        return None

    @property
    def server_user(self):
        return self.cluster.get('server_user') or 'postgres'

    @property
    def port(self):
        text = str(self.value('port', '') or '')
        return int(text) if text.isdigit() else None

    def listeners(self, kind):
        """Live listeners ('tcp' or 'unix'), None when the server does not run."""
        if not self.running:
            return None
        listeners = self.cluster.get('listeners')
        if listeners is None:
            raise MissingFacts('live listeners were not gathered (%s)' % self.cluster_problem())
        return listeners.get(kind) or []

    def not_running_note(self):
        return 'server not running: live state not checked, settings from %s' % (
            self.cluster.get('settings_from') or 'configuration files')

    @property
    def hba(self):
        return self.require('hba')

    def hba_rules(self):
        return [rule for rule in self.hba.get('rules') or [] if not rule.get('error')]

    def tcp_rules(self, accepting=True):
        rules = [rule for rule in self.hba_rules() if rule.get('type') in _TCP_TYPES]
        if accepting:
            rules = [rule for rule in rules if rule.get('method') != 'reject']
        return rules

    @property
    def tls(self):
        return self.require('tls')

    def ssl_library(self):
        """ssl_library: '' for a build without SSL support, None when unknown (stopped server)."""
        entry = self.settings.get('ssl_library')
        if entry is not None and entry.get('value') is not None:
            return entry['value']
        return (self.cluster.get('tls') or {}).get('library')

    def ssl_on(self):
        return _is_on(self.value('ssl', 'off'))

    def tls_not_applicable(self):
        """Why the TLS detail controls do not apply, or None."""
        if self.ssl_library() == '':
            return ('not applicable: this server is built without SSL support (ssl_library is empty), '
                    'so it cannot use TLS at all; see tls.enabled')
        if not self.policy['pgsec_tls_enabled'] and not self.ssl_on():
            return 'not applicable: ssl is off and pgsec_tls_enabled is false'
        return None


def _rule_is_loopback(rule):
    kind = rule.get('address_kind')
    if kind == 'cidr':
        return bool(rule.get('cidr')) and is_loopback(rule['cidr'])
    if kind == 'hostname':
        return (rule.get('address') or '').lower() == 'localhost'
    return kind == 'samehost'


def _rule_families(rule):
    if rule.get('address_kind') == 'cidr' and rule.get('family') in (4, 6):
        return (rule['family'],)
    return (4, 6)


# ---------------------------------------------------------------------------- listen

def _check_listen_not_wildcard(ctx):
    entry = ctx.setting('listen_addresses')
    values = [('listen_addresses', entry.get('value') or '')]
    pending = ctx.pending('listen_addresses')
    if pending is not None:
        values.append(('configuration files (after restart)', pending))
    actual = []
    wildcard = False
    for label, value in values:
        elements = split_setting('listen_addresses', value)
        if elements is None:
            elements = [value]
        if any(element in _WILDCARD_LISTEN for element in elements):
            wildcard = True
        actual.append('%s = %s' % (label, _quote(value)))
    live = ctx.listeners('tcp')
    if live is None:
        actual.append(ctx.not_running_note())
    else:
        wild = [listener for listener in live if listener.get('wildcard')]
        if wild:
            wildcard = True
            actual.append('live wildcard listeners: %s' % ', '.join(_listener_text(item) for item in wild))
        else:
            actual.append('live TCP listeners: %s' % (', '.join(_listener_text(item) for item in live) or 'none'))
    return _outcome('fail' if wildcard else 'pass', 'listen_addresses',
                    "specific addresses, never '*', 0.0.0.0 or ::", '; '.join(actual))


def _expected_listen(ctx):
    """(expected address list or None, why)."""
    policy = ctx.policy
    if policy['pgsec_listen_addresses'] is not None:
        return policy['pgsec_listen_addresses'], 'pgsec_listen_addresses'
    if not policy['pgsec_clients']:
        return [], 'no pgsec_clients: Unix sockets only'
    if ctx.interfaces:
        derived = derive_listen_addresses(policy['pgsec_clients'], ctx.interfaces, ctx.routes)
        if not derived['addresses']:
            return None, 'this host has no route to the networks of pgsec_clients (%s)' % (
                ', '.join(derived['unreachable']))
        why = 'addresses this host reaches pgsec_clients from (interfaces and routes)'
        if derived['unreachable']:
            why += '; no route to %s' % ', '.join(derived['unreachable'])
        return derived['addresses'], why
    networks = ctx.local_networks
    if not networks:
        return None, 'the facts have no interface addresses to derive them from pgsec_clients'
    expected = listen_addresses_for_clients(policy['pgsec_clients'], networks)
    if expected is None:
        return None, 'no local interface is on the networks of pgsec_clients (routed clients)'
    return expected, 'addresses on the networks of pgsec_clients'


def _check_listen_within_policy(ctx):
    entry = ctx.setting('listen_addresses')
    value = entry.get('value') or ''
    elements = split_setting('listen_addresses', value) or ([value] if value else [])
    setting = _expand_listen(elements)
    live = ctx.listeners('tcp')
    live_addresses = set(listener.get('address') for listener in live) if live is not None else None
    actual = ['listen_addresses = %s' % _quote(value)]
    if live is None:
        actual.append(ctx.not_running_note())
    else:
        actual.append('live: %s' % (', '.join(_listener_text(item) for item in live) or 'no TCP listener'))
    expected, why = _expected_listen(ctx)
    current = setting | (live_addresses or set())
    if expected is None:
        expected_text = 'the local addresses on the networks of pgsec_clients'
        if current & set(('0.0.0.0', '::')):
            return _outcome('fail', 'listen_addresses', expected_text,
                            '; '.join(actual + ['listens on every address']), 'medium')
        if all(_address_is_loopback(address) for address in current):
            return _outcome('fail', 'listen_addresses', expected_text,
                            '; '.join(actual + ['pgsec_clients cannot connect: loopback/Unix sockets only']), 'low')
        return _outcome('error', 'listen_addresses', expected_text,
                        '; '.join(actual + ['cannot tell whether these are the right addresses: %s '
                                            '(set pgsec_listen_addresses to check exactly)' % why]))
    wanted = _expand_listen(expected)
    explicit = set(format_ip(parse_ip(item)) for item in expected if parse_ip(item) is not None)
    extra = (setting - wanted) | ((live_addresses or set()) - wanted)
    missing = (wanted - setting) | ((explicit - live_addresses) if live_addresses is not None else set())
    expected_text = '%s (%s)' % (_quote(', '.join(expected)), why)
    if not extra and not missing:
        return _outcome('pass', 'listen_addresses', expected_text, '; '.join(actual))
    severity = 'low'
    if extra:
        actual.append('not wanted: %s' % ', '.join(sorted(extra)))
        if not all(_address_is_loopback(address) for address in extra):
            severity = 'medium'
    if missing:
        actual.append('missing: %s' % ', '.join(sorted(missing)))
    return _outcome('fail', 'listen_addresses', expected_text, '; '.join(actual), severity)


def _shown_value(name, value):
    if _SECRET_SETTING.search(name) and value:
        return '(set, value hidden)'
    return _quote(value)


def _check_auto_conf_override(ctx):
    auto_conf = ctx.cluster.get('auto_conf_file')
    overrides = []
    for name, entry in sorted(ctx.settings.items()):
        if entry.get('from_auto_conf') or (auto_conf and entry.get('sourcefile') == auto_conf):
            overrides.append('%s = %s' % (name, _shown_value(name, entry.get('value'))))
    subject = auto_conf or 'postgresql.auto.conf'
    expected = 'no access setting set by ALTER SYSTEM'
    if overrides:
        return _outcome('fail', subject, expected, 'overridden by ALTER SYSTEM: %s' % ', '.join(overrides))
    return _outcome('pass', subject, expected, 'no access setting comes from postgresql.auto.conf')


# ---------------------------------------------------------------------------- sockets

def _socket_mode(ctx):
    """(mode int, text) of unix_socket_permissions; a stopped server's unread compiled default is 0777."""
    entry = ctx.setting('unix_socket_permissions')
    mode = _mode_int(entry.get('value'))
    if mode is None:
        raise MissingFacts('unix_socket_permissions has an unreadable value %r' % entry.get('value'))
    if mode == 0 and entry.get('source') == 'default' and ctx.cluster.get('settings_from') != 'pg_settings':
        return 0o777, "0777 (PostgreSQL's compiled default; the facts could not read it from the stopped server)"
    text = '%04o' % mode
    pending = ctx.pending('unix_socket_permissions')
    if pending is not None and _mode_int(pending) is not None and _mode_int(pending) != mode:
        text += ' (configuration files say %04o after restart)' % _mode_int(pending)
    return mode, text


def _check_socket_permissions(ctx):
    mode, text = _socket_mode(ctx)
    group = ctx.value('unix_socket_group', '') or ''
    wanted = ctx.policy['pgsec_unix_socket_permissions']
    wanted_group = ctx.policy['pgsec_unix_socket_group']
    with_group = ' with unix_socket_group %s' % wanted_group if wanted_group else ''
    expected = '%s%s, never world-accessible' % (wanted, with_group)
    if ctx.cis:
        expected += '; cis: 0770 with a unix_socket_group, or 0700'
    actual = 'unix_socket_permissions = %s, unix_socket_group = %s' % (text, _quote(group))
    problems = []
    if mode & 0o007:
        problems.append(('high', 'every local user can connect'))
    if ctx.cis:
        if mode not in (0o700, 0o770):
            problems.append(('medium', 'cis allows only 0770 or 0700'))
        elif mode == 0o770 and not group:
            problems.append(('medium', 'cis: group access needs an explicit unix_socket_group'))
    if mode != int(wanted, 8):
        problems.append(('low', 'differs from pgsec_unix_socket_permissions %s' % wanted))
    if wanted_group and group != wanted_group:
        problems.append(('low', 'unix_socket_group differs from pgsec_unix_socket_group %s' % wanted_group))
    if not problems:
        return _outcome('pass', 'unix_socket_permissions', expected, actual)
    return _outcome('fail', 'unix_socket_permissions', expected,
                    '%s: %s' % (actual, '; '.join(problem for _severity, problem in problems)),
                    _worst([severity for severity, _problem in problems]))


def _check_socket_files(ctx):
    wanted = ctx.policy['pgsec_unix_socket_permissions']
    wanted_group = ctx.policy['pgsec_unix_socket_group']
    expected = 'socket files with mode %s%s' % (wanted, ' and group %s' % wanted_group if wanted_group else '')
    sockets = ctx.listeners('unix')
    if sockets is None:
        raise MissingFacts('%s: no socket files to inspect (socket.permissions checks the setting)'
                           % ctx.not_running_note())
    if not sockets:
        if not (ctx.value('unix_socket_directories', '') or '').strip():
            return _outcome('pass', 'Unix socket files', expected, 'no Unix sockets (unix_socket_directories is empty)')
        raise MissingFacts('the running server has no Unix socket in the facts although unix_socket_directories '
                           'is %s' % _quote(ctx.value('unix_socket_directories')))
    problems = []
    actual = []
    for socket in sockets:
        stat = socket.get('stat') or {}
        path = socket.get('path') or stat.get('path')
        if not stat.get('exists'):
            problems.append('medium')
            actual.append('%s is gone (removed by a tmp cleaner?): local clients cannot connect' % path)
            continue
        mode = _mode_int(stat.get('mode')) or 0
        issues = []
        if mode & 0o007:
            problems.append('high')
            issues.append('world-accessible')
        if mode != int(wanted, 8):
            problems.append('low')
            issues.append('mode is not %s' % wanted)
        if wanted_group and stat.get('group') != wanted_group:
            problems.append('low')
            issues.append('group is not %s' % wanted_group)
        actual.append('%s %s:%s %04o%s' % (path, stat.get('owner'), stat.get('group'), mode,
                                           ' (%s)' % ', '.join(issues) if issues else ''))
    text = '; '.join(actual)
    if not problems:
        return _outcome('pass', 'Unix socket files', expected, text)
    return _outcome('fail', 'Unix socket files', expected, text, _worst(problems))


def _check_socket_directories(ctx):
    directories = ctx.require('socket_directories')
    wanted = ctx.policy['pgsec_socket_directories']
    expected = 'no world-writable socket directory'
    if wanted:
        expected += '; exactly %s' % ', '.join(
            '%s%s%s' % (entry['path'], ' group %s' % entry['group'] if entry['group'] else '',
                        ' mode %s' % entry['mode'] if entry['mode'] else '') for entry in wanted)
    problems = []
    actual = []
    for directory in directories:
        path = directory.get('path')
        if not directory.get('exists'):
            problems.append(('low', '%s does not exist' % path))
            actual.append('%s missing' % path)
            continue
        mode = _mode_int(directory.get('mode')) or 0
        actual.append('%s %s:%s %04o' % (path, directory.get('owner'), directory.get('group'), mode))
        if mode & 0o002 and not mode & 0o1000:
            problems.append(('high', '%s is world-writable without the sticky bit: any local user can replace '
                                     'the socket' % path))
        elif mode & 0o002:
            problems.append(('low', '%s is world-writable (sticky): another local user can create the socket '
                                    'name while the server is down and impersonate it' % path))
        spec = next((entry for entry in wanted if _same_path(entry['path'], path)), None)
        if wanted and spec is None:
            problems.append(('low', '%s is not in pgsec_socket_directories' % path))
        if spec is not None:
            if spec['mode'] and mode != int(spec['mode'], 8):
                problems.append(('low', '%s mode %04o, policy %s' % (path, mode, spec['mode'])))
            if spec['group'] and directory.get('group') != spec['group']:
                problems.append(('low', '%s group %s, policy %s' % (path, directory.get('group'), spec['group'])))
    for entry in wanted:
        if not any(_same_path(entry['path'], directory.get('path')) for directory in directories):
            problems.append(('low', '%s (pgsec_socket_directories) is not in unix_socket_directories' % entry['path']))
    text = ', '.join(actual) or 'no socket directories (unix_socket_directories is empty)'
    if not problems:
        return _outcome('pass', 'unix_socket_directories', expected, text)
    return _outcome('fail', 'unix_socket_directories', expected,
                    '%s: %s' % (text, '; '.join(problem for _severity, problem in problems)),
                    _worst([severity for severity, _problem in problems]))


# ---------------------------------------------------------------------------- TLS

def _check_tls_enabled(ctx):
    ctx.setting('ssl')
    ssl_value = ctx.value('ssl', 'off')
    library = ctx.ssl_library()
    required = ctx.policy['pgsec_tls_enabled']
    expected = 'ssl = on with an SSL library' if required else 'TLS optional (pgsec_tls_enabled is false)'
    actual = ['ssl = %s' % ssl_value]
    pending = ctx.pending('ssl')
    if pending is not None:
        actual.append('configuration files say %s (reload pending)' % pending)
    if library == '':
        actual.append('this server is built without SSL support (ssl_library is empty): it cannot serve TLS '
                      'whatever ssl says')
    elif library is None:
        actual.append('ssl_library unknown' if ctx.running else 'ssl_library unknown (%s)' % ctx.not_running_note())
    else:
        actual.append('ssl_library = %s' % library)
    if not required:
        return _outcome('pass', 'ssl', expected, '; '.join(actual), 'info')
    if library == '' or not _is_on(ssl_value):
        return _outcome('fail', 'ssl', expected, '; '.join(actual))
    return _outcome('pass', 'ssl', expected, '; '.join(actual))


def _tls_na(ctx, subject, expected):
    why = ctx.tls_not_applicable()
    if why:
        return _outcome('manual', subject, expected, why, 'info')
    return None


def _check_tls_min_protocol(ctx):
    wanted = ctx.policy['pgsec_tls_min_protocol_version']
    expected = '%s or newer%s' % (wanted, ' (cis profile)' if ctx.cis else '')
    skipped = _tls_na(ctx, 'ssl_min_protocol_version', expected)
    if skipped:
        return skipped
    ctx.setting('ssl_min_protocol_version')
    value = ctx.value('ssl_min_protocol_version', '') or ''
    actual = ['ssl_min_protocol_version = %s' % _quote(value)]
    rank = _tls_rank(value)
    problems = []
    if rank < _tls_rank(wanted):
        problems.append('high' if rank <= _tls_rank('TLSv1.1') else 'medium')
        actual.append('allows protocols older than %s' % wanted)
    maximum = ctx.value('ssl_max_protocol_version', '') or ''
    if maximum:
        actual.append('ssl_max_protocol_version = %s' % _quote(maximum))
        if 0 <= _tls_rank(maximum) < _tls_rank(wanted):
            problems.append('medium')
            actual.append('the maximum is below the required minimum')
    if problems:
        return _outcome('fail', 'ssl_min_protocol_version', expected, '; '.join(actual), _worst(problems))
    return _outcome('pass', 'ssl_min_protocol_version', expected, '; '.join(actual))


def _check_tls_ciphers(ctx):
    wanted = ctx.policy['pgsec_tls_ciphers']
    expected = '%s (pgsec_tls_ciphers): no NULL, EXPORT, RC4, DES, 3DES, MD5 or anonymous suites' % _quote(wanted)
    if ctx.cis:
        expected += '; cis: only suites of the CIS 6.10 list (%s)' % ':'.join(CIS_TLS_CIPHERS)
    skipped = _tls_na(ctx, 'ssl_ciphers', expected)
    if skipped:
        return skipped
    ctx.setting('ssl_ciphers')
    value = ctx.value('ssl_ciphers', '') or ''
    analysis = weak_cipher_classes(value)
    actual = ['ssl_ciphers = %s' % _quote(value)]
    tls13 = ctx.value('ssl_tls13_ciphers')
    if tls13:
        actual.append('ssl_tls13_ciphers = %s' % _quote(tls13))
    severity = None
    if analysis['weak']:
        actual.append('may enable %s' % ', '.join(
            '%s (via %s)' % (name, ', '.join(analysis['weak'][name])) for name in WEAK_CIPHER_CLASSES
            if name in analysis['weak']))
        severity = 'high' if any(name in analysis['weak'] for name in _SEVERE_CIPHER_CLASSES) else 'medium'
        if _tls_rank(ctx.value('ssl_min_protocol_version', '')) >= _tls_rank('TLSv1.3'):
            severity = 'low'
            actual.append('(not negotiable while ssl_min_protocol_version is TLSv1.3)')
    if analysis['unknown']:
        actual.append('unrecognised elements: %s' % ', '.join(analysis['unknown']))
    if _cipher_elements(value) != _cipher_elements(wanted):
        actual.append('differs from pgsec_tls_ciphers')
        severity = severity or 'low'
    if ctx.cis:
        outside = [element for element in _cipher_elements(value) if element not in CIS_TLS_CIPHERS]
        if outside or not value:
            actual.append('not a subset of the CIS 6.10 suites: %s' % (', '.join(outside) or 'empty'))
            tls13_only = _tls_rank(ctx.value('ssl_min_protocol_version', '')) >= _tls_rank('TLSv1.3')
            if severity is None or (severity == 'low' and not tls13_only):
                severity = 'low' if tls13_only else 'medium'
        if tls13:
            outside = [element for element in _cipher_elements(tls13) if element not in CIS_TLS13_CIPHERS]
            if outside:
                actual.append('ssl_tls13_ciphers not a subset of the CIS 6.10 TLS 1.3 suites: %s' % ', '.join(outside))
                severity = severity or 'medium'
    if severity:
        return _outcome('fail', 'ssl_ciphers', expected, '; '.join(actual), severity)
    return _outcome('pass', 'ssl_ciphers', expected, '; '.join(actual))


def _file_entry(ctx, setting_name):
    """(configured path or None, stat dict or None)."""
    path = ctx.value(setting_name, '') or ''
    stat = (ctx.tls.get('files') or {}).get(setting_name)
    return path, stat


def _certificate_summary(certificate, key, chain):
    parts = []
    subject = certificate.get('subject') or '?'
    issuer = certificate.get('issuer') or '?'
    parts.append('subject %s, issuer %s%s' % (subject, issuer, ' (self-signed)' if certificate.get('self_issued') else ''))
    if certificate.get('key_type'):
        parts.append('%s %s bits' % (certificate['key_type'], certificate.get('key_bits') or '?'))
    if certificate.get('signature_algorithm'):
        parts.append(certificate['signature_algorithm'])
    if certificate.get('not_after'):
        parts.append('valid until %s (%s days left)' % (certificate['not_after'][:10], certificate.get('days_left')))
    if key is not None:
        if key.get('matches_certificate') is True:
            parts.append('key matches')
        elif key.get('matches_certificate') is False:
            parts.append('KEY DOES NOT MATCH')
        elif key.get('error_kind') == 'encrypted':
            parts.append('key is passphrase-protected (match not checked)')
        elif key.get('error'):
            parts.append('key not readable (%s)' % (key.get('error_kind') or 'unreadable'))
    if chain is not None:
        parts.append('chain to %s %s' % (chain.get('ca_path'), 'verifies' if chain.get('ok') else 'does NOT verify'))
    return ', '.join(parts)


def _check_tls_certificate(ctx):
    warn_days = ctx.policy['pgsec_tls_cert_warn_days']
    expected = ('a readable certificate, valid for more than %d days, matching its key, chaining to ssl_ca_file '
                'when set; RSA >= 2048 or EC >= 256 bits, SHA-2 signature' % warn_days)
    skipped = _tls_na(ctx, 'ssl_cert_file', expected)
    if skipped:
        return skipped
    tls = ctx.tls
    path, stat = _file_entry(ctx, 'ssl_cert_file')
    subject = path or 'ssl_cert_file'
    if not path:
        return _outcome('fail', subject, expected, 'ssl_cert_file is empty: no certificate configured')
    if stat is not None and not stat.get('exists'):
        return _outcome('fail', subject, expected, '%s does not exist; ssl = on cannot work' % stat.get('path'))
    certificate = tls.get('certificate')
    if not certificate:
        raise MissingFacts('the certificate %s was not inspected' % path)
    if not certificate.get('readable'):
        raise MissingFacts('the certificate %s could not be read: %s' % (path, certificate.get('error')))
    key, chain = tls.get('key'), tls.get('chain')
    problems = []
    if certificate.get('expired'):
        problems.append(('critical', 'expired'))
    elif certificate.get('not_yet_valid'):
        problems.append(('high', 'not valid yet'))
    elif certificate.get('days_left') is not None and certificate['days_left'] <= warn_days:
        problems.append(('medium', 'expires in %s days (warning window %d)' % (certificate['days_left'], warn_days)))
    if key is not None and key.get('matches_certificate') is False:
        problems.append(('high', 'the key does not belong to the certificate'))
    ca_path, ca_stat = _file_entry(ctx, 'ssl_ca_file')
    if ca_path:
        if ca_stat is not None and not ca_stat.get('exists'):
            problems.append(('medium', 'ssl_ca_file %s does not exist' % ca_path))
        elif chain is not None and not chain.get('ok'):
            messages = ', '.join(error.get('message') or '?' for error in chain.get('errors') or [])
            problems.append(('medium', 'does not chain to ssl_ca_file: %s' % messages))
    key_type, bits = certificate.get('key_type'), certificate.get('key_bits') or 0
    if key_type in ('RSA', 'DSA') and bits < 2048 or key_type == 'EC' and bits < 256:
        problems.append(('medium', 'weak %s key of %d bits' % (key_type, bits)))
    algorithm = (certificate.get('signature_algorithm') or '').lower()
    if 'sha1' in algorithm or 'md5' in algorithm:
        problems.append(('medium', 'weak signature algorithm %s' % certificate.get('signature_algorithm')))
    summary = _certificate_summary(certificate, key, chain)
    if not problems:
        return _outcome('pass', subject, expected, summary)
    return _outcome('fail', subject, expected,
                    '%s: %s' % ('; '.join(problem for _severity, problem in problems), summary),
                    _worst([severity for severity, _problem in problems]))


def _check_tls_key_file(ctx):
    server_user = ctx.server_user
    expected = '0600 owned by %s, or 0640 owned by root with group %s; never world-readable' % (server_user, server_user)
    skipped = _tls_na(ctx, 'ssl_key_file', expected)
    if skipped:
        return skipped
    path, stat = _file_entry(ctx, 'ssl_key_file')
    subject = path or 'ssl_key_file'
    if not path:
        return _outcome('fail', subject, expected, 'ssl_key_file is empty: no key configured')
    if stat is None:
        raise MissingFacts('the key file %s was not inspected' % path)
    if not stat.get('exists'):
        return _outcome('fail', subject, expected, '%s does not exist; ssl = on cannot work' % stat.get('path'))
    if stat.get('type') == 'link':
        raise MissingFacts('%s is a symbolic link: the facts describe the link, not the key file' % stat.get('path'))
    mode = _mode_int(stat.get('mode')) or 0
    owner, group = stat.get('owner'), stat.get('group')
    actual = '%s %s:%s %04o' % (stat.get('path'), owner, group, mode)
    if mode & 0o007:
        return _outcome('fail', subject, expected, actual + ': every local user can read the private key', 'critical')
    if owner == server_user:
        if mode & 0o077:
            return _outcome('fail', subject, expected,
                            actual + ': group access to a key owned by the server user (PostgreSQL refuses it)',
                            'high')
        return _outcome('pass', subject, expected, actual)
    if owner == 'root':
        if mode & 0o037:
            return _outcome('fail', subject, expected,
                            actual + ': a root-owned key may be at most 0640 (PostgreSQL refuses it)', 'high')
        if mode & 0o040 and group != server_user:
            return _outcome('fail', subject, expected,
                            actual + ': every member of group %s can read the key, not only the server' % group,
                            'low')
        return _outcome('pass', subject, expected, actual)
    return _outcome('fail', subject, expected,
                    actual + ': owned by %s; PostgreSQL accepts only %s or root' % (owner, server_user), 'high')


def _check_tls_key_passphrase(ctx):
    expected = ('key encrypted, ssl_passphrase_command set' if ctx.cis
                else 'site decision (cis requires ssl_passphrase_command)')
    skipped = _tls_na(ctx, 'ssl_passphrase_command', expected)
    if skipped:
        return skipped
    ctx.setting('ssl_passphrase_command')
    command_set = bool((ctx.value('ssl_passphrase_command', '') or '').strip())
    key = ctx.tls.get('key') or {}
    encrypted = key.get('error_kind') == 'encrypted'
    if command_set:
        actual = 'ssl_passphrase_command is set (value hidden)'
    else:
        actual = 'ssl_passphrase_command is empty'
    if key.get('readable'):
        actual += '; the key is not passphrase-protected'
    elif encrypted:
        actual += '; the key is passphrase-protected'
    if encrypted and not command_set:
        return _outcome('fail', 'ssl_passphrase_command', expected,
                        actual + ': the server cannot load the key without a terminal prompt', 'medium')
    if ctx.cis:
        if not command_set:
            return _outcome('fail', 'ssl_passphrase_command', expected, actual, 'medium')
        if key.get('readable'):
            return _outcome('fail', 'ssl_passphrase_command', expected,
                            actual + ': the command is never used', 'low')
        return _outcome('pass', 'ssl_passphrase_command', expected, actual)
    return _outcome('manual', 'ssl_passphrase_command', expected,
                    actual + ' (not required by the baseline profile)', 'info')


# ---------------------------------------------------------------------------- pg_hba

def _check_hba_valid(ctx):
    hba = ctx.hba
    subject = hba.get('file') or 'pg_hba.conf'
    expected = 'pg_hba.conf parses without errors and the server reports none'
    stat = hba.get('stat') or {}
    if stat and stat.get('exists') is False:
        return _outcome('fail', subject, expected, '%s does not exist' % subject)
    problems = ['%s:%s: %s' % (posixpath.basename(error.get('file') or subject), error.get('line'),
                               error.get('message')) for error in hba.get('errors') or []]
    problems += ['server: line %s: %s' % (rule.get('line_number') or rule.get('line'), rule.get('error'))
                 for rule in hba.get('server_errors') or []]
    rules = hba.get('rules') or []
    if problems:
        return _outcome('fail', subject, expected, '; '.join(problems[:6]))
    return _outcome('pass', subject, expected, '%d rules, no errors' % len(rules))


def _check_hba_ssl_required(ctx):
    expected = 'every accepting TCP rule is hostssl (hostnossl only to reject)'
    if not ctx.cis:
        expected += '; loopback-only rules exempt in the baseline profile'
    if not ctx.policy['pgsec_tls_enabled']:
        return _outcome('manual', 'pg_hba.conf', expected, 'not applicable: pgsec_tls_enabled is false', 'info')
    rules = ctx.tcp_rules()
    plain = [rule for rule in rules if rule.get('type') in ('host', 'hostnossl', 'hostnogssenc')]
    exempt = [rule for rule in plain if not ctx.cis and _rule_is_loopback(rule)]
    offending = [rule for rule in plain if rule not in exempt]
    notes = []
    if exempt:
        notes.append('loopback-only rules allowed in baseline: %s' % _rules_text(exempt, 4))
    if any(rule.get('type') == 'hostgssenc' for rule in rules):
        notes.append('hostgssenc rules are encrypted by GSSAPI')
    if offending:
        return _outcome('fail', 'pg_hba.conf', expected,
                        'accept connections without SSL: %s' % '; '.join([_rules_text(offending)] + notes))
    ssl_rules = [rule for rule in rules if rule.get('type') == 'hostssl']
    actual = '%d hostssl rule(s), no plain TCP rule accepts' % len(ssl_rules)
    if ssl_rules and not ctx.ssl_on():
        actual += ' (ssl is off, so hostssl rules never match)'
    return _outcome('pass', 'pg_hba.conf', expected, '; '.join([actual] + notes))


def _check_hba_no_all_addresses(ctx):
    if ctx.cis:
        # as auditors read 5.9: no line for every address at all, reject lines included
        expected = 'no TCP rule for all, 0.0.0.0/0 or ::/0, reject rules included (cis)'
        rules = [rule for rule in ctx.tcp_rules(accepting=False) if rule_covers_all_addresses(rule)]
        accepting = [rule for rule in rules if rule.get('method') != 'reject']
        if accepting:
            severity = 'critical' if any(rule.get('method') == 'trust' for rule in accepting) else 'high'
            return _outcome('fail', 'pg_hba.conf', expected, 'open to every address: %s' % _rules_text(accepting),
                            severity)
        if rules:
            return _outcome('fail', 'pg_hba.conf', expected, 'reject rules for every address (reject per client '
                            'network instead): %s' % _rules_text(rules), 'low')
        return _outcome('pass', 'pg_hba.conf', expected, 'no TCP rule covers every address')
    expected = 'no accepting rule for all, 0.0.0.0/0 or ::/0'
    offending = [rule for rule in ctx.tcp_rules() if rule_covers_all_addresses(rule)]
    if offending:
        severity = 'critical' if any(rule.get('method') == 'trust' for rule in offending) else 'high'
        return _outcome('fail', 'pg_hba.conf', expected, 'open to every address: %s' % _rules_text(offending),
                        severity)
    return _outcome('pass', 'pg_hba.conf', expected, 'no accepting rule covers every address')


def _check_hba_range_size(ctx):
    max4, max6 = ctx.policy['pgsec_hba_max_prefix_v4'], ctx.policy['pgsec_hba_max_prefix_v6']
    expected = 'IPv4 ranges /%d or narrower, IPv6 /%d or narrower' % (max4, max6)
    if ctx.cis:
        max4, max6 = max(max4, CIS_MAX_PREFIX[4]), max(max6, CIS_MAX_PREFIX[6])
        expected = 'IPv4 ranges /%d or narrower, IPv6 /%d or narrower, reject rules included (cis)' % (max4, max6)
    offending = []
    notes = []
    for rule in ctx.tcp_rules(accepting=not ctx.cis):
        kind = rule.get('address_kind')
        if kind == 'all':
            offending.append(rule)
        elif kind == 'cidr' and rule.get('prefix_len') is not None:
            limit = max4 if rule.get('family') == 4 else max6
            if rule['prefix_len'] < limit:
                offending.append(rule)
        elif kind == 'samenet':
            notes.append('%s: samenet admits every network the host is on' % _rule_text(rule))
    if offending:
        return _outcome('fail', 'pg_hba.conf', expected,
                        'ranges too large: %s' % '; '.join([_rules_text(offending)] + notes))
    return _outcome('pass', 'pg_hba.conf', expected,
                    '; '.join(['every accepting range is within the limits'] + notes))


def _check_hba_sources_within_policy(ctx):
    sources = client_sources(ctx.policy)
    expected = ('accepting non-loopback TCP rules only for %s' % ', '.join(sources) if sources
                else 'no accepting non-loopback TCP rule (no pgsec_clients)')
    rules = [rule for rule in ctx.tcp_rules() if not _rule_is_loopback(rule)]
    outside = []
    for rule in rules:
        cidr = rule.get('cidr') if rule.get('address_kind') == 'cidr' else None
        if cidr is None or not any(network_contains(source, cidr) for source in sources):
            outside.append(rule)
    required_types = ('hostssl',) if ctx.policy['pgsec_tls_enabled'] else ('hostssl', 'host', 'hostnossl')
    missing = []
    for source in sources:
        covered = any(rule.get('type') in required_types and (
            rule_covers_all_addresses(rule) or (rule.get('cidr') and network_contains(rule['cidr'], source)))
            for rule in rules)
        if not covered:
            missing.append(source)
    actual = []
    severity = None
    if outside:
        actual.append('admits sources outside the policy: %s' % _rules_text(outside))
        severity = 'high' if any(rule_covers_all_addresses(rule) for rule in outside) else 'medium'
    if missing:
        actual.append('no %s rule admits %s' % ('/'.join(required_types), ', '.join(missing)))
        severity = severity or 'low'
    if severity:
        return _outcome('fail', 'pg_hba.conf', expected, '; '.join(actual), severity)
    return _outcome('pass', 'pg_hba.conf', expected,
                    '%d non-loopback accepting rule(s), all within the clients\' sources' % len(rules))


_TCP_METHOD_SEVERITY = {'trust': 'critical', 'password': 'high', 'ident': 'high', 'md5': 'medium'}


def _check_hba_auth_method(ctx):
    expected = 'TCP: scram-sha-256, cert or gss (never trust, password, md5, ident); local: %s; ' \
               'password_encryption = scram-sha-256' % ('peer' if ctx.cis else 'not trust')
    problems = []
    for rule in ctx.tcp_rules():
        severity = _TCP_METHOD_SEVERITY.get(rule.get('method'))
        if severity:
            problems.append((severity, _rule_text(rule)))
    for rule in ctx.hba_rules():
        if rule.get('type') != 'local' or rule.get('method') == 'reject':
            continue
        if rule.get('method') == 'trust':
            problems.append(('high', _rule_text(rule)))
        elif ctx.cis and rule.get('method') != 'peer':
            problems.append(('medium', _rule_text(rule)))
    encryption = ctx.value('password_encryption')
    notes = []
    if encryption is not None and encryption.lower() not in ('scram-sha-256',):
        problems.append(('medium', 'password_encryption = %s' % _quote(encryption)))
    elif encryption is not None:
        notes.append('password_encryption = scram-sha-256')
    if problems:
        return _outcome('fail', 'pg_hba.conf', expected,
                        'weak methods: %s' % '; '.join(text for _severity, text in problems[:8]),
                        _worst([severity for severity, _text in problems]))
    return _outcome('pass', 'pg_hba.conf', expected, '; '.join(['no weak authentication method'] + notes))


def _broad_targets(rule, cis):
    databases, users = rule.get('database') or [], rule.get('user') or []
    if not cis:
        return 'all' in databases or 'all' in users
    return (any(name in CIS_BROAD_DATABASES or name[:1] in ('/', '@') for name in databases)
            or any(name in CIS_BROAD_USERS or name[:1] in ('/', '@') for name in users))


def _check_hba_specific_targets(ctx):
    expected = "TCP rules name databases and users, not 'all'"
    if ctx.cis:
        expected = ("accepting TCP rules name databases and users: not all, sameuser, samerole, "
                    "a regular expression or an @file")
    offending = [rule for rule in ctx.tcp_rules() if _broad_targets(rule, ctx.cis)]
    if not offending:
        return _outcome('pass', 'pg_hba.conf', expected, "no accepting TCP rule uses 'all'")
    text = "'all' in: %s" % _rules_text(offending)
    if ctx.cis:
        text = 'not specific: %s' % _rules_text(offending)
    if ctx.cis:
        return _outcome('fail', 'pg_hba.conf', expected, text)
    return _outcome('pass', 'pg_hba.conf', expected + ' (cis only)', 'not required by the baseline profile; ' + text,
                    'info')


def _check_hba_no_remote_superuser(ctx):
    expected = 'no non-loopback TCP rule for postgres, the server user or all users'
    names = {'all', 'postgres', ctx.server_user}
    offending = [rule for rule in ctx.tcp_rules() if not _rule_is_loopback(rule)
                 and names & set(rule.get('user') or [])]
    if not offending:
        return _outcome('pass', 'pg_hba.conf', expected, 'no remote rule can match a superuser by name')
    text = 'may admit superusers remotely: %s' % _rules_text(offending)
    if ctx.cis:
        return _outcome('fail', 'pg_hba.conf', expected, text)
    return _outcome('manual', 'pg_hba.conf', expected,
                    text + " (baseline: check that no superuser can log in through these rules, e.g. "
                           "'SELECT rolname FROM pg_roles WHERE rolsuper')", 'medium')


def _check_hba_localhost_tcp(ctx):
    expected = 'no TCP rules for 127.0.0.1 / ::1 (use the Unix socket)'
    offending = [rule for rule in ctx.tcp_rules() if _rule_is_loopback(rule)]
    if not offending:
        return _outcome('pass', 'pg_hba.conf', expected, 'no loopback TCP rule')
    text = 'loopback TCP rules: %s' % _rules_text(offending)
    if ctx.cis:
        return _outcome('fail', 'pg_hba.conf', expected, text)
    return _outcome('pass', 'pg_hba.conf', expected + ' (cis only)', 'not required by the baseline profile; ' + text,
                    'info')


_TYPE_COVERS = {'host': ('ssl', 'nossl'), 'hostnogssenc': ('ssl', 'nossl'), 'hostssl': ('ssl',),
                'hostnossl': ('nossl',), 'hostgssenc': ()}


def _reject_covers(reject, rule):
    """Whether a reject rule's addresses include every address of rule."""
    if reject.get('address_kind') == 'all':
        return True
    if reject.get('address_kind') != 'cidr' or not reject.get('cidr'):
        return False
    if rule.get('address_kind') == 'cidr' and rule.get('cidr'):
        return network_contains(reject['cidr'], rule['cidr'])
    return False


def _unclosed(rules, accepting):
    """Accepting rules whose addresses are not closed by 'all all' rejects for TLS and non-TLS connections.

    A reject after the rule closes what it covers; one before it closes only the connection kinds the
    rule cannot match itself (a hostnossl reject above a hostssl line).
    """
    open_rules = []
    for rule in accepting:
        index = rules.index(rule)
        own = set(_TYPE_COVERS.get(rule.get('type'), ()))
        covered = set()
        for other_index, other in enumerate(rules):
            if (other.get('method') != 'reject' or 'all' not in (other.get('database') or [])
                    or 'all' not in (other.get('user') or []) or not _reject_covers(other, rule)):
                continue
            kinds = set(_TYPE_COVERS.get(other.get('type'), ()))
            covered |= kinds if other_index > index else kinds - own
        if not covered >= {'ssl', 'nossl'}:
            open_rules.append(rule)
    return open_rules


def _check_hba_reject_unmatched(ctx):
    expected = "a final 'host all all 0.0.0.0/0 reject' and '::/0 reject' (or 'all') after the last accepting TCP rule"
    rules = [rule for rule in ctx.hba_rules() if rule.get('type') in _TCP_TYPES]
    accepting = [rule for rule in rules if rule.get('method') != 'reject']
    if ctx.cis:
        expected = ("each accepting TCP rule's network closed by 'all all NETWORK reject' rules for TLS and "
                    'non-TLS connections; other addresses match no rule, so PostgreSQL refuses them (cis: no '
                    '0.0.0.0/0, CIS 5.9)')
    if not accepting:
        return _outcome('pass', 'pg_hba.conf', expected, 'no TCP rule accepts anything')
    if ctx.cis:
        open_rules = _unclosed(rules, accepting)
        if open_rules:
            return _outcome('fail', 'pg_hba.conf', expected,
                            'no explicit reject after: %s' % _rules_text(open_rules))
        return _outcome('pass', 'pg_hba.conf', expected,
                        'every accepting TCP rule is followed by rejects for its network; PostgreSQL refuses '
                        'connections no rule matches')
    problems = []
    for family in (4, 6):
        covered = set()
        closed_at = None
        for index, rule in enumerate(rules):
            if (rule.get('method') == 'reject' and 'all' in (rule.get('database') or [])
                    and 'all' in (rule.get('user') or []) and rule_covers_all_addresses(rule)
                    and family in _rule_families(rule)):
                covered.update(_TYPE_COVERS.get(rule.get('type'), ()))
                if covered >= {'ssl', 'nossl'}:
                    closed_at = index
                    break
        if closed_at is None:
            problems.append('no catch-all reject for IPv%d' % family)
            continue
        dead = [rule for rule in rules[closed_at + 1:] if rule.get('method') != 'reject'
                and family in _rule_families(rule)]
        if dead:
            problems.append('IPv%d rules after the catch-all reject are never used: %s' % (family, _rules_text(dead, 3)))
    if problems:
        return _outcome('fail', 'pg_hba.conf', expected, '; '.join(problems))
    return _outcome('pass', 'pg_hba.conf', expected, 'TCP rules end with a catch-all reject for IPv4 and IPv6')


def _cluster_not_gathered(ctx):
    raise MissingFacts('the facts of this cluster could not be gathered (%s)' % ctx.cluster_problem())


def _check_facts_complete(ctx):
    errors = ctx.cluster.get('errors') or []
    expected = 'every part of the cluster inspected'
    if errors:
        return _outcome('error', 'facts', expected, '; '.join(
            '%s: %s' % (error.get('step'), redact(error.get('message'))) for error in errors[:5]))
    note = 'complete (settings from %s)' % (ctx.cluster.get('settings_from') or '?')
    if not ctx.running:
        note += '; server not running, so live listeners and socket files are unknown'
    return _outcome('pass', 'facts', expected, note)


# ---------------------------------------------------------------------------- firewall and host

def _firewall_not_managed(policy, subject, expected):
    if policy['pgsec_firewall_backend'] == 'none':
        return _outcome('manual', subject, expected,
                        'not checked: pgsec_firewall_backend is none; make sure the network filters the '
                        'PostgreSQL port elsewhere', 'info')
    return None


def _backend_matches(wanted, backend):
    if wanted == 'auto':
        return backend not in (None, 'none')
    if wanted == 'iptables':
        return (backend or '').startswith('iptables')
    return backend == wanted


def _check_firewall_active(host_facts, policy):
    wanted = policy['pgsec_firewall_backend']
    expected = 'an active host firewall (%s)' % ('any backend' if wanted == 'auto' else wanted)
    skipped = _firewall_not_managed(policy, 'host firewall', expected)
    if skipped:
        return skipped
    firewall = host_facts.get('firewall')
    if not firewall:
        raise MissingFacts('the firewall was not gathered (postgresql_access_facts firewall=false?)')
    backend = firewall.get('backend')
    active = firewall.get('active') or []
    actual = 'backend %s%s' % (backend, ' (active: %s)' % ', '.join(str(item) for item in active) if active else '')
    if backend in (None, 'none'):
        return _outcome('fail', 'host firewall', expected, 'no firewall is active')
    if not _backend_matches(wanted, backend):
        return _outcome('fail', 'host firewall', expected, actual + ', not %s' % wanted, 'medium')
    return _outcome('pass', 'host firewall', expected, actual)


def _clusters_on_port(clusters, port):
    return [cluster for cluster in clusters if _cluster_port(cluster) == port]


def _cluster_port(cluster):
    entry = (cluster.get('settings') or {}).get('port') or {}
    text = str(entry.get('value') or '')
    return int(text) if text.isdigit() else None


def _port_exposed(clusters):
    """True when a running cluster on the port listens on a non-loopback address."""
    for cluster in clusters:
        if not cluster.get('running'):
            continue
        for listener in (cluster.get('listeners') or {}).get('tcp') or []:
            if not is_loopback(listener.get('address') or ''):
                return True
    return False


def _port_summary(host_facts, port):
    firewall = host_facts.get('firewall')
    if not firewall:
        raise MissingFacts('the firewall was not gathered (postgresql_access_facts firewall=false?)')
    summary = (firewall.get('ports') or {}).get(str(port))
    if summary is None:
        raise MissingFacts('the firewall facts do not cover port %s' % port)
    return summary


def _check_firewall_port_filtered(host_facts, policy, port, clusters):
    subject = 'tcp/%s' % port
    expected = 'new connections dropped or rejected by default for IPv4 and IPv6'
    skipped = _firewall_not_managed(policy, subject, expected)
    if skipped:
        return skipped
    summary = _port_summary(host_facts, port)
    parts = []
    for family in ('ipv4', 'ipv6'):
        entry = summary.get(family) or {}
        parts.append('%s default %s' % (family.replace('ipv', 'IPv'), entry.get('default')))
    conditional = summary.get('conditional') or []
    if conditional:
        parts.append('%d rule(s) depend on conditions not evaluated (interfaces, sets, limits)' % len(conditional))
    used_by = ', '.join(str(cluster.get('id')) for cluster in clusters) or 'no cluster'
    parts.append('used by %s' % used_by)
    if all((summary.get(family) or {}).get('filtered') for family in ('ipv4', 'ipv6')):
        return _outcome('pass', subject, expected, '; '.join(parts))
    severity = 'high' if _port_exposed(clusters) else 'low'
    if severity == 'low':
        parts.append('nothing listens on it beyond loopback now')
    return _outcome('fail', subject, expected, '; '.join(parts), severity)


def _check_firewall_sources(host_facts, policy, port):
    subject = 'tcp/%s' % port
    sources = client_sources(policy)
    expected = ('allowed only from %s' % ', '.join(sources) if sources
                else 'allowed from no remote source (no pgsec_clients)')
    skipped = _firewall_not_managed(policy, subject, expected)
    if skipped:
        return skipped
    summary = _port_summary(host_facts, port)
    allowed = []
    for family in ('ipv4', 'ipv6'):
        allowed.extend((summary.get(family) or {}).get('allowed_sources') or [])
    remote = [cidr for cidr in allowed if not is_loopback(cidr)]
    outside = [cidr for cidr in remote if not any(network_contains(source, cidr) for source in sources)]
    missing = [source for source in sources if not any(network_contains(cidr, source) for cidr in allowed)]
    actual = ['allowed from %s' % (', '.join(allowed) or 'nowhere')]
    severity = None
    if outside:
        actual.append('outside the policy: %s' % ', '.join(outside))
        severity = 'high' if any(covers_everything(cidr) for cidr in outside) else 'medium'
    if missing:
        actual.append('clients not allowed: %s' % ', '.join(missing))
        severity = severity or 'low'
    if severity:
        return _outcome('fail', subject, expected, '; '.join(actual), severity)
    return _outcome('pass', subject, expected, '; '.join(actual))


_MANUAL_EXPECTED = {
    'manual.physical_access': 'only authorised staff can physically reach the host, its consoles and its backups',
    'manual.provider_attestation': "a current SOC 2 Type II (or SOC 3) report covers the provider's service and "
                                   'region hosting this server',
    'manual.network_segregation': 'the host sits in a database network segment (VLAN / VPC / security group) '
                                  'reachable only from application networks and administrators',
}


def _manual(control_id):
    return _outcome('manual', 'host', _MANUAL_EXPECTED[control_id],
                    'not automatable: verify it and keep the evidence (see remediation)', 'info')


# ---------------------------------------------------------------------------- evaluate

_CLUSTER_CHECKS = (
    ('facts.complete', _check_facts_complete),
    ('listen.not_wildcard', _check_listen_not_wildcard),
    ('listen.within_policy', _check_listen_within_policy),
    ('listen.auto_conf_override', _check_auto_conf_override),
    ('socket.permissions', _check_socket_permissions),
    ('socket.files', _check_socket_files),
    ('socket.directories', _check_socket_directories),
    ('tls.enabled', _check_tls_enabled),
    ('tls.min_protocol', _check_tls_min_protocol),
    ('tls.ciphers', _check_tls_ciphers),
    ('tls.certificate', _check_tls_certificate),
    ('tls.key_file', _check_tls_key_file),
    ('tls.key_passphrase', _check_tls_key_passphrase),
    ('hba.valid', _check_hba_valid),
    ('hba.ssl_required', _check_hba_ssl_required),
    ('hba.no_all_addresses', _check_hba_no_all_addresses),
    ('hba.range_size', _check_hba_range_size),
    ('hba.sources_within_policy', _check_hba_sources_within_policy),
    ('hba.auth_method', _check_hba_auth_method),
    ('hba.specific_targets', _check_hba_specific_targets),
    ('hba.no_remote_superuser', _check_hba_no_remote_superuser),
    ('hba.localhost_tcp', _check_hba_localhost_tcp),
    ('hba.reject_unmatched', _check_hba_reject_unmatched),
)
_CONTROL_BY_ID = dict((control[0], dict(zip(_CONTROL_FIELDS, control))) for control in CONTROLS)
_SUBJECT_OF = {
    'listen.not_wildcard': 'listen_addresses', 'listen.within_policy': 'listen_addresses',
    'listen.auto_conf_override': 'postgresql.auto.conf', 'socket.permissions': 'unix_socket_permissions',
    'socket.files': 'Unix socket files', 'socket.directories': 'unix_socket_directories', 'tls.enabled': 'ssl',
    'tls.min_protocol': 'ssl_min_protocol_version', 'tls.ciphers': 'ssl_ciphers', 'tls.certificate': 'ssl_cert_file',
    'tls.key_file': 'ssl_key_file', 'tls.key_passphrase': 'ssl_passphrase_command', 'facts.complete': 'facts',
    'firewall.active': 'host firewall',
}


def controls():
    """The control catalogue: [{id, scope (cluster|port|host), severity, title, reference, remediation}]."""
    return [dict(zip(_CONTROL_FIELDS, control)) for control in CONTROLS]


def _finding(control_id, host, cluster, outcome):
    control = _CONTROL_BY_ID[control_id]
    return {
        'id': control_id, 'host': host, 'cluster': cluster,
        'subject': redact(outcome['subject']), 'expected': redact(outcome['expected']),
        'actual': redact(outcome['actual']), 'status': outcome['status'],
        'severity': outcome.get('severity') or control['severity'], 'reference': control['reference'],
        'title': control['title'], 'remediation': control['remediation'],
    }


def _run(control_id, host, cluster_id, check, *args):
    try:
        outcome = check(*args)
    except MissingFacts as exc:
        outcome = _outcome('error', _SUBJECT_OF.get(control_id, 'facts'), 'facts to evaluate this control',
                           'cannot evaluate: %s' % exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # malformed facts must not stop the audit
        outcome = _outcome('error', _SUBJECT_OF.get(control_id, 'facts'), 'facts to evaluate this control',
                           'cannot evaluate: unexpected facts (%s: %s)' % (type(exc).__name__, exc))
    return _finding(control_id, host, cluster_id, outcome)


def _local_networks(facts, local_networks):
    if local_networks is not None:
        return list(local_networks)
    for key in ('local_networks', 'addresses'):
        value = facts.get(key)
        if isinstance(value, list):
            return [item if isinstance(item, str) else '%s/%s' % (item.get('address'), item.get('prefix_len'))
                    for item in value if item]
    return None


def _interfaces_and_routes(facts, local_networks):
    """facts["interfaces"] and facts["routes"], or (None, None) when local_networks is given or there are none."""
    interfaces = facts.get('interfaces')
    if local_networks is not None or not isinstance(interfaces, list) or not interfaces:
        return None, None
    routes = facts.get('routes')
    return interfaces, routes if isinstance(routes, list) else []


def evaluate(facts, policy=None, host=None, local_networks=None):
    """Findings for one host's facts (``ansible_facts.pgsec``) against the policy.

    policy: pgsec_* variables (merged with merge_policy, so raw user input is fine).
    host: the inventory name put into every finding (None leaves it for the caller).
    local_networks: the host's interface addresses with prefix ("198.18.1.11/24"), used to
    derive the expected listen_addresses from pgsec_clients. When not given, facts["interfaces"]
    and facts["routes"] are used (derive_listen_addresses), or else facts["local_networks"].
    Returns findings in a stable order: per cluster, then per port, then host-wide.
    """
    policy = merge_policy(policy)
    facts = facts or {}
    if 'pgsec' in facts and 'clusters' not in facts:
        facts = facts['pgsec']
    networks = _local_networks(facts, local_networks)
    interfaces, routes = _interfaces_and_routes(facts, local_networks)
    findings = []
    clusters = facts.get('clusters')
    if not clusters:
        findings.append(_finding('facts.complete', host, None, _outcome(
            'error', 'facts', 'at least one PostgreSQL cluster',
            'no PostgreSQL cluster was found on this host' if clusters is not None
            else 'the facts have no cluster list (was postgresql_access_facts run?)')))
        clusters = []
    for cluster in clusters:
        ctx = _Context(facts, cluster, policy, networks, interfaces, routes)
        cluster_id = cluster.get('id')
        for control_id, check in _CLUSTER_CHECKS:
            if control_id != 'facts.complete' and cluster.get('settings') is None:
                check = _cluster_not_gathered
            findings.append(_run(control_id, host, cluster_id, check, ctx))
    ports = sorted(set([port for port in (_cluster_port(cluster) for cluster in clusters) if port is not None]
                       + [int(port) for port in ((facts.get('firewall') or {}).get('ports') or {})
                          if str(port).isdigit()]))
    for port in ports:
        on_port = _clusters_on_port(clusters, port)
        findings.append(_run('firewall.port_filtered', host, None, _check_firewall_port_filtered,
                             facts, policy, port, on_port))
        findings.append(_run('firewall.sources_within_policy', host, None, _check_firewall_sources,
                             facts, policy, port))
    findings.append(_run('firewall.active', host, None, _check_firewall_active, facts, policy))
    for control_id in ('manual.physical_access', 'manual.provider_attestation', 'manual.network_segregation'):
        findings.append(_run(control_id, host, None, _manual, control_id))
    return findings


def count_by_status(findings):
    """{status: number} with every status present."""
    counts = dict((status, 0) for status in STATUSES)
    for finding in findings:
        counts[finding.get('status')] = counts.get(finding.get('status'), 0) + 1
    return counts


def severity_rank(severity):
    """0 for critical ... 4 for info; len(SEVERITIES) for anything else."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def cis_finding_ids():
    """The finding ids the cis profile's controls are audited by (CIS_MAPPING), in catalogue order."""
    wanted = set(finding for row in CIS_MAPPING for finding in row[4])
    return [control_id for control_id in CONTROL_IDS if control_id in wanted]


def cis_table():
    """docs/cis.md's mapping table, as Markdown lines, from CIS_MAPPING and the control catalogue."""
    def code(names):
        return ', '.join('`%s`' % name for name in names) or '(none: the profile decides)'

    lines = ['| Control | Requirement | Variables | Enforced by the roles | Audit finding (check) |',
             '|---|---|---|---|---|']
    for control, requirement, variables, enforced, findings in CIS_MAPPING:
        label = control if control.startswith('pgdsat') else 'CIS %s' % control
        checks = '<br>'.join('`%s`: %s' % (finding, _CONTROL_BY_ID[finding]['title']) for finding in findings)
        lines.append('| %s | %s | %s | %s | %s |' % (label, requirement.replace('|', '\\|'), code(variables),
                                                     enforced.replace('|', '\\|'), checks))
    return lines
