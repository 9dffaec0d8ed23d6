# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the access roles will set on one host: policy + facts -> per-cluster settings.

Pure and run on the controller before any change, so that every refusal (an address the host
does not have, a client network it cannot reach, a port for two clusters) names the variable
and the value and leaves the host untouched.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import posixpath
import re

from ansible_collections.pgsec.hardening.plugins.module_utils import lockout_guard
from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import format_ip, parse_ip
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool, fail
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import (
    PolicyError,
    check_cis,
    cis_enforcement,
    client_sources,
    derive_listen_addresses,
    merge_policy,
)

WILDCARDS = ('*', '0.0.0.0', '::')
NAME_PATTERN = re.compile(r'^[a-z_][a-z0-9_-]{0,31}\$?$')
RUNTIME_ROOTS = ('/run/', '/var/run/')
# Shared directories the sockets role must never take over (chown to the server, chmod).
SYSTEM_DIRECTORIES = ('/', '/run', '/var/run', '/tmp', '/var/tmp', '/dev', '/dev/shm', '/run/shm', '/run/lock',
                      '/var/lock', '/var', '/var/lib', '/etc', '/usr', '/home', '/root', '/srv', '/opt')
CLUSTER_KEYS = ('id', 'layout', 'version', 'name', 'data_directory', 'config_file', 'bindir', 'server_user',
                'running')


_fail = functools.partial(fail, PolicyError)


def _flag(user, name, default=False):
    """A yes/no variable as Ansible reads one (true/false, yes/no, on/off, 1/0); anything else fails."""
    value = user.get(name, default)
    if isinstance(value, str) and not value.strip():
        return False  # an empty variable is an unset one
    return as_bool(PolicyError, name, value)


def select_clusters(clusters, wanted):
    """The facts clusters named in pgsec_clusters (all when empty), as identities."""
    by_id = dict((cluster['id'], cluster) for cluster in clusters or [])
    if wanted:
        if not isinstance(wanted, list) or not all(isinstance(name, str) for name in wanted):
            _fail('pgsec_clusters', wanted, 'is not a list of cluster ids')
        twice = sorted(set(name for name in wanted if wanted.count(name) > 1))
        if twice:
            _fail('pgsec_clusters', twice, 'are listed twice')
        unknown = [name for name in wanted if name not in by_id]
        if unknown:
            _fail('pgsec_clusters', unknown, 'names no cluster on this host (found: %s)'
                  % (', '.join(sorted(by_id)) or 'none'))
        chosen = [by_id[name] for name in wanted]
    else:
        chosen = list(clusters or [])
    return [dict((key, cluster.get(key)) for key in CLUSTER_KEYS) for cluster in chosen]


def _local_addresses(interfaces):
    return set(format_ip(parse_ip(entry['address'])) for entry in interfaces or []
               if parse_ip(entry.get('address', '')) is not None)


def plan_listen(policy, user, interfaces, routes):
    """listen_addresses for the host: the override, or derived from the clients' networks."""
    override = policy.get('pgsec_listen_addresses')
    allow_wildcard = _flag(user, 'pgsec_listen_allow_wildcard')
    has_clients = any(client['sources'] for client in policy['pgsec_clients'])
    if override is not None:
        local = _local_addresses(interfaces)
        for index, item in enumerate(override):
            where = 'pgsec_listen_addresses[%d]' % index
            address = parse_ip(item)
            if item in WILDCARDS or (address is not None and address.is_unspecified):
                if not allow_wildcard:
                    _fail(where, item, 'listens on every address; set pgsec_listen_allow_wildcard: true '
                                       'if that is really wanted')
                continue
            if item == 'localhost':
                continue
            if address is None:
                _fail(where, item, 'is not an IP address (host names are not accepted; use the address)')
            if interfaces and format_ip(address) not in local:
                _fail(where, item, 'is not an address of this host (it has %s)' % ', '.join(sorted(local)))
        if not override and has_clients:
            _fail('pgsec_listen_addresses', '', 'means Unix sockets only, but pgsec_clients has TCP sources; '
                                                'remove the clients or the override')
        return {'addresses': list(override), 'derived': False, 'unreachable': [], 'by_source': {}}
    derived = derive_listen_addresses(policy['pgsec_clients'], interfaces, routes)
    if derived['unreachable']:
        _fail('pgsec_clients', derived['unreachable'],
              'are networks this host has no route to; no local address can serve them')
    return {'addresses': derived['addresses'], 'derived': True, 'unreachable': [],
            'by_source': derived['by_source']}


def plan_sockets(policy, user, host_groups=None, host_users=None):
    """Groups to create, directories to make, and the socket settings.

    ``host_groups``/``host_users``: names that exist on the host (None: not checked).
    """
    groups = []
    wanted_groups = user.get('pgsec_socket_groups') or []
    if not isinstance(wanted_groups, list):
        _fail('pgsec_socket_groups', wanted_groups, 'is not a list of groups ({name, members})')
    for index, entry in enumerate(wanted_groups):
        where = 'pgsec_socket_groups[%d]' % index
        if isinstance(entry, str):
            entry = {'name': entry}
        if not isinstance(entry, dict):
            _fail(where, entry, 'is not a dict with name and members')
        name = str(entry.get('name') or '')
        if not NAME_PATTERN.match(name):
            _fail(where + '.name', name, 'is not a valid group name')
        members = entry.get('members') or []
        if not isinstance(members, list):
            _fail(where + '.members', members, 'is not a list of user names')
        for member in members:
            if not NAME_PATTERN.match(str(member)):
                _fail(where + '.members', member, 'is not a valid user name')
        if host_users is not None:
            missing = [str(member) for member in members if str(member) not in host_users]
            if missing:
                _fail(where + '.members', missing, 'are not users on this host')
        groups.append({'name': name, 'members': [str(member) for member in members]})
    known = set(host_groups or ()) | set(entry['name'] for entry in groups)

    def check_group(where, name):
        if not NAME_PATTERN.match(name):
            _fail(where, name, 'is not a valid group name')
        if host_groups is not None and name not in known:
            _fail(where, name, 'is not a group on this host; create it with pgsec_socket_groups')

    group = policy['pgsec_unix_socket_group']
    if group:
        check_group('pgsec_unix_socket_group', group)
    directories = []
    for index, entry in enumerate(policy['pgsec_socket_directories']):
        where = 'pgsec_socket_directories[%d]' % index
        if entry['group']:
            check_group(where + '.group', entry['group'])
        if any(entry['path'] == other['path'] for other in directories):
            _fail(where + '.path', entry['path'], 'is listed twice')
        if entry['path'] in SYSTEM_DIRECTORIES:
            _fail(where + '.path', entry['path'], 'is a system directory; use a directory of its own')
        directories.append(dict(entry, mode=entry['mode'] or '2775',
                                runtime=any(entry['path'].startswith(root) for root in RUNTIME_ROOTS)))
    settings = {'unix_socket_permissions': policy['pgsec_unix_socket_permissions'],
                'unix_socket_group': group}
    if directories:
        settings['unix_socket_directories'] = [entry['path'] for entry in directories]
    return {'groups': groups, 'directories': directories, 'settings': settings}


TMPFILES_PATH = '/etc/tmpfiles.d/pgsec-postgresql-sockets.conf'


def tmpfiles_content(sockets):
    """systemd-tmpfiles lines that recreate the runtime socket directories at boot; '' when none is needed."""
    lines = ['d %s %s %s %s -' % (entry['path'], entry['mode'], sockets['server_user'],
                                  entry['group'] or sockets['server_user'])
             for entry in sockets['directories'] if entry['runtime']]
    if not lines:
        return ''
    return '\n'.join(['# Managed by pgsec.hardening (sockets): PostgreSQL socket directories under /run,',
                      '# recreated at boot.'] + lines) + '\n'


def tls_cluster_settings(user, enforcement_tls, clusters):
    """Per cluster id, the TLS settings beside the file paths: protocol, ciphers, groups or curve, profile's."""
    by_id = {}
    for cluster in clusters:
        settings = {'ssl_min_protocol_version': user.get('pgsec_tls_min_protocol_version'),
                    'ssl_ciphers': user.get('pgsec_tls_ciphers'), 'ssl_prefer_server_ciphers': 'on'}
        if int(str(cluster.get('version') or 0).split('.', maxsplit=1)[0] or 0) >= 18:
            settings['ssl_groups'] = user.get('pgsec_tls_groups')
            tls13 = user.get('pgsec_tls13_ciphers') or enforcement_tls.get('tls13_ciphers')
            if tls13:
                settings['ssl_tls13_ciphers'] = tls13
        else:
            settings['ssl_ecdh_curve'] = user.get('pgsec_tls_ecdh_curve')
        settings.update(enforcement_tls.get('settings') or {})
        by_id[cluster['id']] = dict((name, value) for name, value in settings.items() if value is not None)
    return by_id


OWNED_FILES = re.compile(r'/pgsec[.]d/|/pgsec-tls/|pg_hba[.]conf$')


def reload_pending(clusters, facts_by_id):
    """The clusters whose owned files changed after the server last read its configuration, as changes to apply.

    A run stopped between writing a file and reloading leaves it on disk but not loaded; nothing else would
    change, so nothing would reload it.
    """
    pending = []
    for cluster in clusters:
        changed = (facts_by_id.get(cluster['id']) or {}).get('changed_since_load') or []
        if any(OWNED_FILES.search(entry.get('path') or '') for entry in changed):
            pending.append({'cluster': cluster, 'changed': True, 'reload_required': True})
    return pending


def tls_names(user, host_name, listen_addresses):
    """The names the certificate must cover: pgsec_tls_names or the host's name, and, when generated, its addresses."""
    names = list(user.get('pgsec_tls_names') or [host_name])
    if _flag(user, 'pgsec_tls_generate'):
        names += [address for address in listen_addresses if address not in ('localhost', '*')]
    unique = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


def plan_host(user, facts, host_groups=None, host_users=None, passphrase_given=False, host_name=None):
    """The whole plan for a host; raises PolicyError naming the variable and the value.

    passphrase_given: whether pgsec_tls_key_passphrase is set (the cis profile requires it unless
    pgsec_tls_generate makes one); the plan never sees the passphrase itself.
    Under pgsec_profile cis every problem of policy.cis_problems is refused here, before any change.
    """
    user = dict(user or {})
    policy = merge_policy(dict((key, value) for key, value in user.items()
                               if key not in ('pgsec_clusters', 'pgsec_socket_groups', 'pgsec_allow_restart',
                                              'pgsec_listen_allow_wildcard', 'pgsec_lockout_guard',
                                              'pgsec_lockout_cut', 'pgsec_hba_md5_compat')))
    facts = facts or {}
    clusters = select_clusters(facts.get('clusters'), user.get('pgsec_clusters'))
    check_guard_settings(policy, user)
    check_cis(policy, user, [cluster.get('server_user') or 'postgres' for cluster in clusters], passphrase_given)
    listen = plan_listen(policy, user, facts.get('interfaces'), facts.get('routes'))
    sockets = plan_sockets(policy, user, host_groups, host_users)
    _add_server_users(sockets, clusters)
    sockets['server_user'] = next((cluster['server_user'] for cluster in clusters if cluster.get('server_user')),
                                  'postgres')
    sockets['tmpfiles'] = {'path': TMPFILES_PATH, 'content': tmpfiles_content(sockets)}
    listen_settings = {'listen_addresses': listen['addresses']}
    if user.get('pgsec_port') is not None:
        if len(clusters) > 1:
            _fail('pgsec_port', user['pgsec_port'], 'cannot be set for %d clusters at once (%s); name one '
                  'with pgsec_clusters' % (len(clusters), ', '.join(c['id'] for c in clusters)))
        listen_settings['port'] = policy['pgsec_port']
    by_id = dict((entry.get('id'), entry) for entry in facts.get('clusters') or [])
    managers = dict((key, entry.get('manager')) for key, entry in by_id.items())
    for cluster in clusters:
        for problem in _cluster_problems(dict(cluster, manager=managers.get(cluster['id']))):
            raise PolicyError(problem)
    enforcement = cis_enforcement(policy)
    guard = plan_guard(policy, user, facts, clusters, listen['addresses'], enforcement)
    policy['pgsec_clients'] = lockout_guard.apply_compat(policy['pgsec_clients'], guard['compat_clients'])
    pending = reload_pending(clusters, by_id)
    tls = dict(enforcement['tls'], names=tls_names(user, host_name, listen['addresses']))
    tls['cluster_settings'] = tls_cluster_settings(dict(user, **policy), enforcement['tls'], clusters)
    plan = {'policy': policy, 'clusters': clusters, 'listen': dict(listen, settings=listen_settings),
            'ports': ports_after_run([by_id.get(cluster['id']) or {} for cluster in clusters], listen_settings),
            'sockets': sockets, 'hba': enforcement['hba'], 'tls': tls, 'guard': guard, 'reload_pending': pending}
    plan['area_args'] = area_args(user, plan)
    return plan


def area_args(user, plan):
    """The pg_hba, firewall and TLS modules' parameters, decided once: the drift check and the area's own task take
    these, so what the check says is what the task does. A variable that is not set gives None, so the
    module's own default applies. Whether an area is managed at all (pgsec_hba_manage, pgsec_firewall_backend
    none) stays with the roles.
    """
    policy = plan['policy']
    hba = {'clients': policy['pgsec_clients'], 'require_ssl': policy['pgsec_tls_enabled'],
           'clientcert': user.get('pgsec_tls_clientcert'), 'method': user.get('pgsec_tls_hba_method'),
           'keep_loopback': _flag(user, 'pgsec_hba_keep_loopback', True) and plan['hba']['loopback_allowed'],
           'final_reject': plan['hba']['final_reject'], 'reject_superusers': plan['hba']['reject_superusers'],
           'local_peer': plan['hba']['local_peer']}
    firewall = {'backend': policy['pgsec_firewall_backend'], 'ports': plan['ports'], 'sources': client_sources(policy),
                'server_user': plan['sockets']['server_user'], 'zone': user.get('pgsec_firewall_zone') or None,
                'firewalld_remove_open_port': user.get('pgsec_firewall_remove_open_port')}
    for option in ('action', 'log', 'egress', 'allow_none', 'rollback_timeout'):
        firewall[option] = user.get('pgsec_firewall_' + option)
    # The TLS module's options but the material (cert, ca, crl, key), which the controller reads.
    tls = {'directory': user.get('pgsec_tls_directory') or None, 'names': plan['tls']['names'],
           'warn_days': policy['pgsec_tls_cert_warn_days']}
    for option in ('dh_params', 'key_owner', 'passphrase_store', 'renew_hook'):
        tls[option] = user.get('pgsec_tls_' + option)
    return {'hba': hba, 'firewall': firewall, 'tls': tls}


def ports_after_run(clusters, listen_settings):
    """The TCP ports the run leaves the clusters on: pgsec_port when it changes one, else their current port.

    The firewall filters these, so that a port moved by this run is filtered by the end of it.
    """
    ports = set()
    for cluster in clusters:
        current = ((cluster.get('settings') or {}).get('port') or {}).get('value')
        ports.add(int(listen_settings.get('port') or current or 5432))
    return sorted(ports)


def check_guard_settings(policy, user):
    """The guard's own variables; md5 lines are refused under cis before any other cis problem is listed."""
    try:
        _mode, _cut, compat = lockout_guard.guard_settings(user)
    except lockout_guard.GuardInputError as exc:
        raise PolicyError(str(exc))
    if compat and policy.get('pgsec_profile') == 'cis':
        _fail('pgsec_hba_md5_compat', compat, 'writes md5 lines, which pgsec_profile cis does not allow (CIS 5.4: '
                                              'scram-sha-256 only); re-hash the MD5-era passwords instead')


def plan_guard(policy, user, facts, clusters, listen_addresses, enforcement):
    """The lockout guard on this plan; under pgsec_lockout_guard refuse, what it would cut is refused here."""
    selected = set(cluster['id'] for cluster in clusters)
    plan = {'clients': policy['pgsec_clients'], 'listen_addresses': list(listen_addresses),
            'hba_managed': _flag(user, 'pgsec_hba_manage', True),
            'firewall_managed': user.get('pgsec_firewall_backend', 'auto') != 'none',
            'tls_required': bool(policy.get('pgsec_tls_enabled')),
            'keep_loopback': _flag(user, 'pgsec_hba_keep_loopback', True) and enforcement['hba']['loopback_allowed']}
    guard = lockout_guard.evaluate([c for c in facts.get('clusters') or [] if c.get('id') in selected], plan, user)
    if guard['mode'] == 'refuse' and guard['messages']:
        raise PolicyError('The new access would cut off what this server is serving now (pgsec_lockout_guard: refuse); '
                          'nothing was changed.\n- ' + '\n- '.join(guard['messages']))
    return guard


def _add_server_users(sockets, clusters):
    """The server must belong to unix_socket_group, or it cannot hand its sockets to that group and stops."""
    group = sockets['settings']['unix_socket_group']
    if not group:
        return
    entry = next((item for item in sockets['groups'] if item['name'] == group), None)
    if entry is None:
        entry = {'name': group, 'members': []}
        sockets['groups'].append(entry)
    for cluster in clusters:
        server_user = cluster.get('server_user') or 'postgres'
        if server_user not in entry['members']:
            entry['members'].append(server_user)


def _cluster_problems(cluster):
    if not cluster.get('config_file') or not posixpath.isabs(cluster['config_file']):
        yield 'cluster %s: no configuration file found' % cluster.get('id')
    manager = cluster.get('manager')
    if manager:
        yield ('cluster %s is run by %s (process %s, an ancestor of its postmaster): pgsec.hardening does not '
               'edit its configuration or restart it behind %s\'s back (a restart outside it is a failover). '
               'Change its settings through %s (for Patroni: patronictl edit-config), or leave the cluster out '
               'with pgsec_clusters' % (cluster['id'], manager['name'], manager['pid'], manager['name'],
                                        manager['name']))
