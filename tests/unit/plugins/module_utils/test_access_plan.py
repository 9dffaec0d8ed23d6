# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""access_plan: policy + facts -> what the access roles set on one host, or a PolicyError
that names the variable and the value.

The facts are small hand-made dicts shaped like postgresql_access_facts returns them
(interfaces as parse_ip_addresses, routes as parse_ip_routes), on a lab-like host:

  lo    127.0.0.1/8, ::1/128
  eth0  198.18.0.11/24 (mgmt)  default via 198.18.0.1
  eth1  198.18.1.11/24 (app)   10.50.0.0/16 via 198.18.1.1 (a router on the app network)
  eth2  198.18.2.11/24 (ext)
  clusters 15/main and 15/second (Debian, server user postgres); no IPv6 routes
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import policy
from ansible_collections.pgsec.hardening.plugins.module_utils.access_plan import (
    plan_host,
    plan_listen,
    plan_sockets,
    reload_pending,
    select_clusters,
    tls_cluster_settings,
    tls_names,
    tmpfiles_content,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError, merge_policy

HOST_GROUPS = ['root', 'adm', 'postgres', 'ssl-cert']
HOST_USERS = ['root', 'postgres', 'app', 'alice', 'pg18']
APP = {'name': 'app', 'sources': ['198.18.1.0/24'], 'databases': ['appdb'], 'users': ['app']}


# ---------------------------------------------------------------------------- helpers

def iface(name, address, prefixlen, family='ipv4', scope='global'):
    return {'name': name, 'address': address, 'prefixlen': prefixlen, 'family': family, 'scope': scope}


def route(dst, dev, gateway=None, prefsrc=None, family='ipv4', metric=None):
    return {'dst': dst, 'dev': dev, 'gateway': gateway, 'prefsrc': prefsrc, 'family': family, 'metric': metric}


INTERFACES = [
    iface('lo', '127.0.0.1', 8, scope='host'),
    iface('lo', '::1', 128, family='ipv6', scope='host'),
    iface('eth0', '198.18.0.11', 24),
    iface('eth1', '198.18.1.11', 24),
    iface('eth2', '198.18.2.11', 24),
]
DEFAULT_ROUTE = route('default', 'eth0', gateway='198.18.0.1')
NO_DEFAULT = [
    route('10.50.0.0/16', 'eth1', gateway='198.18.1.1'),
    route('198.18.0.0/24', 'eth0', prefsrc='198.18.0.11'),
    route('198.18.1.0/24', 'eth1', prefsrc='198.18.1.11'),
    route('198.18.2.0/24', 'eth2', prefsrc='198.18.2.11'),
]
ROUTES = [DEFAULT_ROUTE] + NO_DEFAULT


def cluster(name='main', version='15', server_user='postgres', **changes):
    """A Debian cluster as the facts describe it, with some keys the plan does not keep."""
    entry = {'id': '%s/%s' % (version, name), 'layout': 'debian', 'version': version, 'name': name,
             'data_directory': '/var/lib/postgresql/%s/%s' % (version, name),
             'config_file': '/etc/postgresql/%s/%s/postgresql.conf' % (version, name),
             'bindir': '/usr/lib/postgresql/%s/bin' % version, 'server_user': server_user, 'running': True,
             'pid': 812, 'auto_conf_file': None, 'settings': {}, 'listeners': {'tcp': [], 'unix': []}}
    entry.update(changes)
    return entry


def pgdata_cluster(server_user='pg18'):
    return {'id': '/srv/pg18/data', 'layout': 'pgdata', 'version': '18', 'name': None,
            'data_directory': '/srv/pg18/data', 'config_file': '/srv/pg18/data/postgresql.conf',
            'bindir': '/usr/local/pgsql/bin', 'server_user': server_user, 'running': False, 'pid': None}


def facts(clusters=None, interfaces=None, routes=None):
    return {'version': 1, 'clusters': [cluster()] if clusters is None else clusters,
            'interfaces': INTERFACES if interfaces is None else interfaces,
            'routes': ROUTES if routes is None else routes, 'firewall': None,
            'local_networks': ['127.0.0.1/8', '::1/128', '198.18.0.11/24', '198.18.1.11/24', '198.18.2.11/24']}


def plan(user=None, facts_=None, host_groups=None, host_users=None):
    return plan_host(user or {}, facts() if facts_ is None else facts_, host_groups, host_users)


def refused(user=None, facts_=None, host_groups=None, host_users=None):
    with pytest.raises(PolicyError) as info:
        plan(user, facts_, host_groups, host_users)
    return str(info.value)


def listen_of(user, facts_=None):
    return plan(user, facts_)['listen']


def groups_of(user, clusters=None, host_groups=None):
    return plan(user, facts(clusters), host_groups=host_groups)['sockets']['groups']


# ---------------------------------------------------------------------------- the whole plan

def test_whole_plan_for_a_hardened_host():
    user = {'pgsec_clients': [APP], 'pgsec_unix_socket_group': 'pgclients',
            'pgsec_socket_groups': [{'name': 'pgclients', 'members': ['app']}],
            'pgsec_socket_directories': [{'path': '/run/postgresql', 'group': 'pgclients'}],
            'pgsec_allow_restart': True, 'pgsec_port': 5433}
    result = plan(user, host_groups=HOST_GROUPS, host_users=HOST_USERS)
    assert set(result) == {'policy', 'clusters', 'listen', 'ports', 'sockets', 'hba', 'tls', 'guard', 'reload_pending',
                           'area_args'}
    assert result['reload_pending'] == []
    # baseline: nothing beyond the policy's settings (the cis profile's additions: test_cis_profile.py)
    assert result['hba'] == {'local_peer': False, 'final_reject': 'all', 'reject_superusers': False,
                             'loopback_allowed': True}
    assert result['tls'] == {'settings': {}, 'tls13_ciphers': '', 'passphrase_required': False, 'names': [None],
                             'cluster_settings': {'15/main': {'ssl_min_protocol_version': 'TLSv1.2',
                                                              'ssl_ciphers': policy.DEFAULT_TLS_CIPHERS,
                                                              'ssl_prefer_server_ciphers': 'on'}}}
    assert result['clusters'] == [{'id': '15/main', 'layout': 'debian', 'version': '15', 'name': 'main',
                                   'data_directory': '/var/lib/postgresql/15/main',
                                   'config_file': '/etc/postgresql/15/main/postgresql.conf',
                                   'bindir': '/usr/lib/postgresql/15/bin', 'server_user': 'postgres',
                                   'running': True}]
    assert result['listen'] == {'addresses': ['198.18.1.11'], 'derived': True, 'unreachable': [],
                                'by_source': {'198.18.1.0/24': ['198.18.1.11']},
                                'settings': {'listen_addresses': ['198.18.1.11'], 'port': 5433}}
    assert result['sockets'] == {
        'groups': [{'name': 'pgclients', 'members': ['app', 'postgres']}],
        'directories': [{'path': '/run/postgresql', 'group': 'pgclients', 'mode': '2775', 'runtime': True}],
        'settings': {'unix_socket_permissions': '0770', 'unix_socket_group': 'pgclients',
                     'unix_socket_directories': ['/run/postgresql']},
        'server_user': 'postgres',
        'tmpfiles': {'path': '/etc/tmpfiles.d/pgsec-postgresql-sockets.conf',
                     'content': tmpfiles_content(result['sockets'])}}
    assert result['sockets']['tmpfiles']['content'].endswith('\nd /run/postgresql 2775 postgres pgclients -\n')
    # the plan-only variables do not reach merge_policy
    assert result['policy']['pgsec_port'] == 5433
    assert 'pgsec_socket_groups' not in result['policy'] and 'pgsec_allow_restart' not in result['policy']


def test_user_variables_are_not_modified():
    user = {'pgsec_clients': [APP], 'pgsec_unix_socket_group': 'pgclients',
            'pgsec_socket_groups': [{'name': 'pgclients', 'members': ['app']}],
            'pgsec_socket_directories': ['/run/postgresql/']}
    given, host = copy.deepcopy(user), facts()
    plan(user, host)
    plan(user, host)
    assert user == given and host == facts()


# ---------------------------------------------------------------------------- listen: derived

def test_listen_one_client_network():
    assert listen_of({'pgsec_clients': [APP]}) == {
        'addresses': ['198.18.1.11'], 'derived': True, 'unreachable': [],
        'by_source': {'198.18.1.0/24': ['198.18.1.11']}, 'settings': {'listen_addresses': ['198.18.1.11']}}


def test_listen_clients_on_two_networks():
    clients = [APP, {'name': 'ops', 'sources': ['198.18.0.0/24', '198.18.1.100/32']}]
    listen = listen_of({'pgsec_clients': clients})
    # first appearance order, no duplicates; eth2 (ext) is left out
    assert listen['addresses'] == ['198.18.1.11', '198.18.0.11']
    assert listen['by_source'] == {'198.18.1.0/24': ['198.18.1.11'], '198.18.0.0/24': ['198.18.0.11'],
                                   '198.18.1.100/32': ['198.18.1.11']}
    assert listen['settings'] == {'listen_addresses': ['198.18.1.11', '198.18.0.11']}


@pytest.mark.parametrize('user', [{}, {'pgsec_clients': []}, {'pgsec_clients': None}])
def test_listen_without_tcp_clients_is_socket_only(user):
    # [] is what the listen role writes as listen_addresses = '' (Unix sockets only)
    assert listen_of(user) == {'addresses': [], 'derived': True, 'unreachable': [], 'by_source': {},
                               'settings': {'listen_addresses': []}}


@pytest.mark.parametrize('source, address', [
    ('10.50.0.0/16', '198.18.1.11'),     # via the router on the app network, not the default route
    ('10.50.7.9/32', '198.18.1.11'),
    ('203.0.113.0/24', '198.18.0.11'),   # only the default route covers it
    ('127.0.0.1/32', '127.0.0.1'),       # loopback clients: the loopback address
])
def test_listen_for_routed_client(source, address):
    listen = listen_of({'pgsec_clients': [{'name': 'far', 'sources': [source]}]})
    assert listen['addresses'] == [address] and listen['by_source'] == {source: [address]}


@pytest.mark.parametrize('sources, routes, unreachable', [
    (['203.0.113.0/24'], NO_DEFAULT, ['203.0.113.0/24']),
    (['198.18.1.0/24', '203.0.113.0/24', '192.0.2.0/24'], NO_DEFAULT, ['203.0.113.0/24', '192.0.2.0/24']),
    (['2001:db8:9::/48'], ROUTES, ['2001:db8:9::/48']),  # no IPv6 route at all
])
def test_unreachable_client_is_refused(sources, routes, unreachable):
    message = refused({'pgsec_clients': [{'name': 'far', 'sources': sources}]}, facts(routes=routes))
    assert message.startswith('pgsec_clients: %r ' % unreachable)
    assert 'no route' in message


# ---------------------------------------------------------------------------- listen: override

@pytest.mark.parametrize('override, addresses', [
    ('198.18.1.11', ['198.18.1.11']),
    (['198.18.1.11', '198.18.0.11'], ['198.18.1.11', '198.18.0.11']),
    ('198.18.1.11, localhost', ['198.18.1.11', 'localhost']),
    (['127.0.0.1', '::1'], ['127.0.0.1', '::1']),
])
def test_listen_override_with_local_addresses(override, addresses):
    listen = listen_of({'pgsec_clients': [APP], 'pgsec_listen_addresses': override})
    assert listen == {'addresses': addresses, 'derived': False, 'unreachable': [], 'by_source': {},
                      'settings': {'listen_addresses': addresses}}


@pytest.mark.parametrize('override, where, value', [
    ('10.9.9.9', 'pgsec_listen_addresses[0]', '10.9.9.9'),
    (['198.18.1.11', '198.18.1.12'], 'pgsec_listen_addresses[1]', '198.18.1.12'),
])
def test_listen_override_address_not_on_host(override, where, value):
    message = refused({'pgsec_listen_addresses': override})
    assert message.startswith('%s: %r is not an address of this host' % (where, value))
    assert '198.18.1.11' in message  # the addresses it has


def test_listen_override_host_name_is_refused():
    message = refused({'pgsec_listen_addresses': ['db.example.com']})
    assert message.startswith("pgsec_listen_addresses[0]: 'db.example.com' is not an IP address")


def test_listen_override_not_checked_without_interface_facts():
    # no `ip` on the host: nothing to check the address against
    assert listen_of({'pgsec_listen_addresses': '10.9.9.9'}, facts(interfaces=[]))['addresses'] == ['10.9.9.9']


@pytest.mark.parametrize('wildcard', ['*', '0.0.0.0', '::'])
def test_listen_wildcard_needs_allow(wildcard):
    for allow in ({}, {'pgsec_listen_allow_wildcard': False}):
        message = refused(dict(allow, pgsec_listen_addresses=[wildcard]))
        assert message.startswith('pgsec_listen_addresses[0]: %r listens on every address' % wildcard)
        assert 'pgsec_listen_allow_wildcard' in message
    listen = listen_of({'pgsec_listen_addresses': [wildcard], 'pgsec_listen_allow_wildcard': True})
    assert listen['addresses'] == [wildcard] and listen['derived'] is False


@pytest.mark.parametrize('allow', ['false', 'no'])
def test_listen_wildcard_allow_given_as_false_string(allow):
    message = refused({'pgsec_listen_addresses': '*', 'pgsec_listen_allow_wildcard': allow})
    assert message.startswith("pgsec_listen_addresses[0]: '*' listens on every address")


@pytest.mark.parametrize('wildcard', ['::0', '0:0:0:0:0:0:0:0'])
def test_listen_wildcard_in_another_spelling(wildcard):
    message = refused({'pgsec_listen_addresses': [wildcard]}, facts(interfaces=[]))
    assert 'pgsec_listen_allow_wildcard' in message


@pytest.mark.parametrize('override', ['', []])
def test_listen_empty_override_conflicts_with_tcp_clients(override):
    message = refused({'pgsec_clients': [APP], 'pgsec_listen_addresses': override})
    assert message.startswith("pgsec_listen_addresses: '' means Unix sockets only")
    assert 'pgsec_clients' in message
    # without clients it is the socket-only host it says
    assert listen_of({'pgsec_listen_addresses': override}) == {
        'addresses': [], 'derived': False, 'unreachable': [], 'by_source': {}, 'settings': {'listen_addresses': []}}


def test_plan_listen_directly():
    policy = merge_policy({'pgsec_clients': [APP]})
    assert plan_listen(policy, {}, INTERFACES, ROUTES)['addresses'] == ['198.18.1.11']
    policy = merge_policy({'pgsec_listen_addresses': '*'})
    assert plan_listen(policy, {'pgsec_listen_allow_wildcard': True}, INTERFACES, ROUTES)['addresses'] == ['*']


# ---------------------------------------------------------------------------- sockets: directories

def test_socket_directories():
    user = {'pgsec_socket_directories': [
        '/run/postgresql',
        {'path': '/var/run/pg-app/', 'group': 'postgres', 'mode': '0750'},
        {'path': '/srv/pgsock', 'mode': 0o2770},  # YAML 1.1 reads unquoted 02770 as an integer
    ]}
    sockets = plan(user, host_groups=HOST_GROUPS)['sockets']
    assert sockets['directories'] == [
        {'path': '/run/postgresql', 'group': None, 'mode': '2775', 'runtime': True},
        {'path': '/var/run/pg-app', 'group': 'postgres', 'mode': '0750', 'runtime': True},
        {'path': '/srv/pgsock', 'group': None, 'mode': '2770', 'runtime': False},
    ]
    assert sockets['settings'] == {'unix_socket_permissions': '0770', 'unix_socket_group': '',
                                   'unix_socket_directories': ['/run/postgresql', '/var/run/pg-app', '/srv/pgsock']}
    assert sockets['groups'] == []


def test_no_socket_directories_no_setting():
    assert plan()['sockets'] == {'groups': [], 'directories': [], 'server_user': 'postgres',
                                 'tmpfiles': {'path': '/etc/tmpfiles.d/pgsec-postgresql-sockets.conf', 'content': ''},
                                 'settings': {'unix_socket_permissions': '0770', 'unix_socket_group': ''}}


@pytest.mark.parametrize('path, runtime', [
    ('/run/postgresql', True),
    ('/var/run/postgresql', True),
    ('/run/pg/app', True),
    ('/srv/pgsock', False),
    ('/var/lib/postgresql/sock', False),
    ('/runner/pg', False),  # /run only as a whole path element
])
def test_runtime_directory(path, runtime):
    directories = plan({'pgsec_socket_directories': [path]})['sockets']['directories']
    assert directories == [{'path': path, 'group': None, 'mode': '2775', 'runtime': runtime}]


@pytest.mark.parametrize('paths, where, path', [
    (['/run/postgresql', '/run/postgresql'], 'pgsec_socket_directories[1].path', '/run/postgresql'),
    (['/srv/pgsock', '/run/postgresql', '/srv//pgsock/'], 'pgsec_socket_directories[2].path', '/srv/pgsock'),
])
def test_socket_directory_listed_twice(paths, where, path):
    message = refused({'pgsec_socket_directories': paths})
    assert message == '%s: %r is listed twice' % (where, path)


@pytest.mark.parametrize('path, normalized', [
    ('/tmp', '/tmp'), ('/tmp/', '/tmp'), ('/run', '/run'), ('/run/', '/run'), ('/var/run', '/var/run'),
    ('/', '/'), ('/etc', '/etc'), ('/var', '/var'),
])
def test_socket_directory_system_directory(path, normalized):
    message = refused({'pgsec_socket_directories': ['/run/postgresql', {'path': path}]})
    assert message.startswith('pgsec_socket_directories[1].path: %r is a system directory' % normalized)


@pytest.mark.parametrize('path', ['/var/tmp', '/dev/shm'])
def test_socket_directory_shared_temporary_directory(path):
    message = refused({'pgsec_socket_directories': [path]})
    assert message.startswith('pgsec_socket_directories[0].path: %r is a system directory' % path)


# ---------------------------------------------------------------------------- sockets: groups

@pytest.mark.parametrize('user, where', [
    ({'pgsec_unix_socket_group': 'pgclients'}, 'pgsec_unix_socket_group'),
    ({'pgsec_socket_directories': [{'path': '/run/postgresql', 'group': 'pgclients'}]},
     'pgsec_socket_directories[0].group'),
])
def test_unknown_group_is_refused(user, where):
    message = refused(user, host_groups=HOST_GROUPS)
    assert message == "%s: 'pgclients' is not a group on this host; create it with pgsec_socket_groups" % where
    # created by the plan: accepted
    for groups in (['pgclients'], [{'name': 'pgclients'}], [{'name': 'pgclients', 'members': ['app']}]):
        plan(dict(user, pgsec_socket_groups=groups), host_groups=HOST_GROUPS, host_users=HOST_USERS)
    # already on the host, or the host's groups unknown: accepted
    plan(user, host_groups=HOST_GROUPS + ['pgclients'])
    plan(user)


def test_socket_groups_as_plain_strings():
    user = {'pgsec_socket_groups': ['pgclients', {'name': 'pgadmins', 'members': ['alice', 'app']}, 'pgro']}
    assert groups_of(user) == [{'name': 'pgclients', 'members': []},
                               {'name': 'pgadmins', 'members': ['alice', 'app']},
                               {'name': 'pgro', 'members': []}]


def test_socket_group_members_must_be_users_on_host():
    user = {'pgsec_socket_groups': ['pgclients', {'name': 'pgadmins', 'members': ['app', 'bob', 'carol']}]}
    message = refused(user, host_users=HOST_USERS)
    assert message == "pgsec_socket_groups[1].members: ['bob', 'carol'] are not users on this host"
    # the host's users unknown: not checked
    assert groups_of(user)[1] == {'name': 'pgadmins', 'members': ['app', 'bob', 'carol']}


@pytest.mark.parametrize('user, expected', [
    ({'pgsec_unix_socket_group': 'PG Clients'}, "pgsec_unix_socket_group: 'PG Clients' is not a valid group name"),
    ({'pgsec_socket_directories': [{'path': '/run/pg', 'group': 'pg:clients'}]},
     "pgsec_socket_directories[0].group: 'pg:clients' is not a valid group name"),
    ({'pgsec_socket_groups': ['9lives']}, "pgsec_socket_groups[0].name: '9lives' is not a valid group name"),
    ({'pgsec_socket_groups': ['ok', {'name': 'a' * 33}]},
     "pgsec_socket_groups[1].name: '%s' is not a valid group name" % ('a' * 33)),
    ({'pgsec_socket_groups': [{'members': ['app']}]}, "pgsec_socket_groups[0].name: '' is not a valid group name"),
    ({'pgsec_socket_groups': [42]}, 'pgsec_socket_groups[0]: 42 is not a dict with name and members'),
    ({'pgsec_socket_groups': [{'name': 'pgclients', 'members': 'app'}]},
     "pgsec_socket_groups[0].members: 'app' is not a list of user names"),
    ({'pgsec_socket_groups': [{'name': 'pgclients', 'members': ['app', 'Bob Smith']}]},
     "pgsec_socket_groups[0].members: 'Bob Smith' is not a valid user name"),
])
def test_bad_group_and_user_names(user, expected):
    assert refused(user) == expected


@pytest.mark.parametrize('value', ['pgclients', {'name': 'pgclients', 'members': ['app']}])
def test_socket_groups_not_a_list(value):
    assert refused({'pgsec_socket_groups': value}).startswith('pgsec_socket_groups: %r ' % (value,))


# ---------------------------------------------------------------------------- sockets: server users

def test_server_user_joins_unix_socket_group():
    # entry created when pgsec_socket_groups does not have it
    assert groups_of({'pgsec_unix_socket_group': 'pgclients'}) == [{'name': 'pgclients', 'members': ['postgres']}]
    assert groups_of({'pgsec_unix_socket_group': 'pgclients', 'pgsec_socket_groups': ['pgadmins']}) == [
        {'name': 'pgadmins', 'members': []}, {'name': 'pgclients', 'members': ['postgres']}]
    # a group already on the host gets the entry too, so that the server joins it
    assert groups_of({'pgsec_unix_socket_group': 'ssl-cert'}, host_groups=HOST_GROUPS) == [
        {'name': 'ssl-cert', 'members': ['postgres']}]


@pytest.mark.parametrize('members, expected', [
    (['app'], ['app', 'postgres']),
    (['postgres', 'app'], ['postgres', 'app']),  # no duplicate
    ([], ['postgres']),
])
def test_server_user_added_to_existing_entry(members, expected):
    user = {'pgsec_unix_socket_group': 'pgclients',
            'pgsec_socket_groups': ['pgadmins', {'name': 'pgclients', 'members': members}]}
    assert groups_of(user) == [{'name': 'pgadmins', 'members': []}, {'name': 'pgclients', 'members': expected}]


def test_server_users_of_several_clusters():
    clusters = [cluster('main'), pgdata_cluster('pg18'), cluster('second'), cluster('third', server_user=None)]
    user = {'pgsec_unix_socket_group': 'pgclients', 'pgsec_socket_groups': [{'name': 'pgclients', 'members': ['app']}]}
    # a cluster whose server user is not known runs as postgres
    assert groups_of(user, clusters) == [{'name': 'pgclients', 'members': ['app', 'postgres', 'pg18']}]


def test_only_selected_clusters_server_users():
    clusters = [cluster('main'), pgdata_cluster('pg18')]
    user = {'pgsec_unix_socket_group': 'pgclients', 'pgsec_clusters': ['/srv/pg18/data']}
    assert groups_of(user, clusters) == [{'name': 'pgclients', 'members': ['pg18']}]


@pytest.mark.parametrize('group', ['', None, '  '])
def test_no_unix_socket_group_no_members_added(group):
    user = {'pgsec_unix_socket_group': group, 'pgsec_socket_groups': [{'name': 'pgclients', 'members': ['app']}]}
    sockets = plan(user, facts([cluster('main'), pgdata_cluster()]))['sockets']
    assert sockets['groups'] == [{'name': 'pgclients', 'members': ['app']}]
    assert sockets['settings']['unix_socket_group'] == ''
    assert groups_of({'pgsec_unix_socket_group': group}) == []


def test_plan_sockets_directly():
    policy = merge_policy({'pgsec_unix_socket_group': 'pgclients', 'pgsec_socket_directories': ['/run/pg']})
    sockets = plan_sockets(policy, {'pgsec_socket_groups': ['pgclients']}, HOST_GROUPS, HOST_USERS)
    # the server users are added by plan_host only
    assert sockets['groups'] == [{'name': 'pgclients', 'members': []}]
    assert sockets['settings']['unix_socket_directories'] == ['/run/pg']


# ---------------------------------------------------------------------------- port

@pytest.mark.parametrize('port', [5433, '5433'])
def test_port_for_one_cluster(port):
    assert listen_of({'pgsec_clients': [APP], 'pgsec_port': port})['settings'] == {
        'listen_addresses': ['198.18.1.11'], 'port': 5433}


def test_port_for_two_clusters_is_refused():
    two = facts([cluster('main'), cluster('second')])
    message = refused({'pgsec_port': 5433}, two)
    assert message.startswith('pgsec_port: 5433 cannot be set for 2 clusters at once (15/main, 15/second)')
    assert 'pgsec_clusters' in message
    # one of them named: fine
    assert plan({'pgsec_port': 5433, 'pgsec_clusters': ['15/second']}, two)['listen']['settings'] == {
        'listen_addresses': [], 'port': 5433}


@pytest.mark.parametrize('user', [{}, {'pgsec_port': None}])
def test_port_not_given(user):
    result = plan(user, facts([cluster('main'), cluster('second')]))
    assert result['listen']['settings'] == {'listen_addresses': []}
    assert result['policy']['pgsec_port'] == 5432  # the default, for the firewall and the audit


def test_the_firewall_ports_are_those_the_run_leaves_the_clusters_on():
    on_5433 = cluster('second', settings={'port': {'value': '5433'}})
    assert plan({}, facts([cluster('main'), on_5433]))['ports'] == [5432, 5433]
    # a port moved by this run: the new one, not the one the facts saw
    assert plan({'pgsec_port': 6543, 'pgsec_clusters': ['15/second']}, facts([cluster('main'), on_5433]))['ports'] == [6543]
    assert plan({'pgsec_port': 5432}, facts([on_5433]))['ports'] == [5432]


# ---------------------------------------------------------------------------- clusters

TWO_CLUSTERS = [cluster('main'), cluster('second', server_user='pgsecond')]


def ids(result):
    return [entry['id'] for entry in result['clusters']]


@pytest.mark.parametrize('wanted, expected', [
    (None, ['15/main', '15/second']),
    ([], ['15/main', '15/second']),
    (['15/second'], ['15/second']),
    (['15/second', '15/main'], ['15/second', '15/main']),  # in the order asked
])
def test_select_clusters_by_id(wanted, expected):
    assert ids(plan({'pgsec_clusters': wanted}, facts(TWO_CLUSTERS))) == expected


def test_selected_clusters_are_identities_only():
    selected = select_clusters(TWO_CLUSTERS, ['15/second'])
    assert selected == [{'id': '15/second', 'layout': 'debian', 'version': '15', 'name': 'second',
                         'data_directory': '/var/lib/postgresql/15/second',
                         'config_file': '/etc/postgresql/15/second/postgresql.conf',
                         'bindir': '/usr/lib/postgresql/15/bin', 'server_user': 'pgsecond', 'running': True}]
    # a cluster whose gathering failed lacks some keys: None
    broken = {'id': '16/main', 'layout': 'debian', 'version': '16', 'data_directory': '/var/lib/postgresql/16/main',
              'config_file': '/etc/postgresql/16/main/postgresql.conf', 'running': False,
              'errors': [{'step': 'gather', 'message': 'OSError: boom'}]}
    assert select_clusters([broken], None)[0]['server_user'] is None
    assert select_clusters(None, None) == [] and select_clusters([], []) == []


@pytest.mark.parametrize('clusters, wanted, expected', [
    (TWO_CLUSTERS, ['16/main'], "pgsec_clusters: ['16/main'] names no cluster on this host (found: 15/main, 15/second)"),
    (TWO_CLUSTERS, ['15/main', '15/other', '/srv/pg18/data'],
     "pgsec_clusters: ['15/other', '/srv/pg18/data'] names no cluster on this host (found: 15/main, 15/second)"),
    ([], ['15/main'], "pgsec_clusters: ['15/main'] names no cluster on this host (found: none)"),
])
def test_unknown_cluster_id(clusters, wanted, expected):
    assert refused({'pgsec_clusters': wanted}, facts(clusters)) == expected


@pytest.mark.parametrize('wanted', ['15/main', {'id': '15/main'}, 5])
def test_clusters_not_a_list(wanted):
    assert refused({'pgsec_clusters': wanted}, facts(TWO_CLUSTERS)) == \
        'pgsec_clusters: %r is not a list of cluster ids' % (wanted,)


def test_clusters_item_not_an_id():
    message = refused({'pgsec_clusters': [{'id': '15/main'}]}, facts(TWO_CLUSTERS))
    assert message.startswith('pgsec_clusters')


def test_cluster_named_twice():
    try:
        result = plan({'pgsec_clusters': ['15/main', '15/main']}, facts(TWO_CLUSTERS))
    except PolicyError as exc:
        assert str(exc).startswith('pgsec_clusters')
    else:
        assert ids(result) == ['15/main']


@pytest.mark.parametrize('changes', [{'config_file': None}, {'config_file': ''}, {'config_file': 'postgresql.conf'}])
def test_cluster_without_config_file(changes):
    clusters = [cluster('main'), cluster('second', **changes)]
    assert refused({}, facts(clusters)) == 'cluster 15/second: no configuration file found'
    # not selected: not a problem
    assert ids(plan({'pgsec_clusters': ['15/main']}, facts(clusters))) == ['15/main']


def test_cluster_without_config_file_key():
    entry = cluster('main')
    del entry['config_file']
    assert refused({}, facts([entry])) == 'cluster 15/main: no configuration file found'


# ---------------------------------------------------------------------------- merge_policy refusals

@pytest.mark.parametrize('user, expected', [
    ({'pgsec_clients': [dict(APP, sources=['198.18.1.0/33'])]},
     "pgsec_clients[0].sources[0]: '198.18.1.0/33' is not an IP address or network in CIDR notation"),
    ({'pgsec_clients': [APP, {'name': 'etl', 'sources': ['198.18.0.0/24', 'etl.example.com']}]},
     "pgsec_clients[1].sources[1]: 'etl.example.com' is not an IP address or network in CIDR notation"),
    ({'pgsec_clients': [dict(APP, sources=[])]}, 'pgsec_clients[0].sources: [] must list at least one network'),
    ({'pgsec_socket_directories': [{'path': '/run/pg', 'mode': 'rwx'}]},
     "pgsec_socket_directories[0].mode: 'rwx' is not an octal file mode such as '0770'"),
    ({'pgsec_socket_directories': ['run/pg']}, "pgsec_socket_directories[0]: {'path': 'run/pg'} needs an absolute path"),
    ({'pgsec_unix_socket_permissions': '0778'},
     "pgsec_unix_socket_permissions: '0778' is not an octal file mode such as '0770'"),
    ({'pgsec_unix_socket_permissions': '2770'},
     "pgsec_unix_socket_permissions: '2770' may not have setuid/setgid/sticky bits"),
    ({'pgsec_port': 70000}, 'pgsec_port: 70000 is not between 1 and 65535'),
    ({'pgsec_port': 0}, 'pgsec_port: 0 is not between 1 and 65535'),
    ({'pgsec_port': 'postgres'}, "pgsec_port: 'postgres' is not an integer"),
    ({'pgsec_port': True}, 'pgsec_port: True is not an integer'),
    ({'pgsec_listen_addresses': 42}, 'pgsec_listen_addresses: 42 is not a list'),
])
def test_merge_policy_refusals(user, expected):
    assert refused(user) == expected


def test_a_cluster_run_by_patroni_is_neither_edited_nor_restarted():
    managed = cluster(manager={'name': 'Patroni', 'pid': 700})
    message = refused({'pgsec_clients': [APP]}, facts(clusters=[managed]))
    assert message.startswith('cluster 15/main is run by Patroni (process 700, an ancestor of its postmaster)')
    assert 'patronictl edit-config' in message and 'pgsec_clusters' in message


class ProcessesIO(object):
    """/proc of a host where Patroni (a Python program) runs the postmaster, and a plain one."""

    CMDLINES = {700: '/usr/bin/python3\0/usr/local/bin/patroni\0/etc/patroni.yml\0',
                701: '/usr/lib/postgresql/15/bin/postgres\0-D\0/var/lib/postgresql/15/main\0',
                800: '/usr/lib/systemd/systemd\0', 801: '/usr/lib/postgresql/15/bin/postgres\0-D\0/srv/b\0'}

    def read_file(self, path):
        return self.CMDLINES.get(int(path.split('/')[2]))


def test_the_facts_find_the_manager_among_the_postmasters_ancestors():
    from ansible_collections.pgsec.hardening.plugins.module_utils.facts.gather import find_manager
    processes = {700: {'comm': 'patroni', 'ppid': 1}, 701: {'comm': 'postgres', 'ppid': 700},
                 800: {'comm': 'systemd', 'ppid': 1}, 801: {'comm': 'postgres', 'ppid': 800}}
    assert find_manager(ProcessesIO(), processes, 700) == {'name': 'Patroni', 'pid': 700}
    assert find_manager(ProcessesIO(), processes, 800) is None


# ---------------------------------------------------------------------------- what the drift check and the roles share

def test_runtime_directories_are_declared_for_boot_with_their_owner():
    sockets = {'server_user': 'postgres', 'directories': [
        {'path': '/run/pgsec-admin', 'mode': '0750', 'group': 'pgadmin', 'runtime': True},
        {'path': '/srv/pgsock', 'mode': '2775', 'group': '', 'runtime': False},
        {'path': '/run/postgresql', 'mode': '2775', 'group': '', 'runtime': True}]}
    lines = tmpfiles_content(sockets).splitlines()
    assert lines[-2:] == ['d /run/pgsec-admin 0750 postgres pgadmin -', 'd /run/postgresql 2775 postgres postgres -']
    assert all(line.startswith('#') for line in lines[:-2])
    assert tmpfiles_content(dict(sockets, directories=sockets['directories'][1:2])) == ''


def test_tls_settings_follow_each_cluster_version():
    user = {'pgsec_tls_min_protocol_version': 'TLSv1.3', 'pgsec_tls_ciphers': 'HIGH', 'pgsec_tls_groups': 'X25519',
            'pgsec_tls_ecdh_curve': 'prime256v1', 'pgsec_tls13_ciphers': ''}
    clusters = [{'id': '15/main', 'version': '15'}, {'id': '18/main', 'version': '18'}]
    by_id = tls_cluster_settings(user, {'settings': {'password_encryption': 'scram-sha-256'},
                                        'tls13_ciphers': 'TLS_AES_256_GCM_SHA384'}, clusters)
    assert by_id['15/main'] == {'ssl_min_protocol_version': 'TLSv1.3', 'ssl_ciphers': 'HIGH',
                                'ssl_prefer_server_ciphers': 'on', 'ssl_ecdh_curve': 'prime256v1',
                                'password_encryption': 'scram-sha-256'}
    assert by_id['18/main']['ssl_groups'] == 'X25519' and 'ssl_ecdh_curve' not in by_id['18/main']
    assert by_id['18/main']['ssl_tls13_ciphers'] == 'TLS_AES_256_GCM_SHA384'


def test_generated_certificates_cover_the_listen_addresses():
    assert tls_names({}, 'pg1', ['198.18.0.10']) == ['pg1']
    assert tls_names({'pgsec_tls_generate': True}, 'pg1', ['198.18.0.10', 'localhost', 'pg1']) == ['pg1', '198.18.0.10']
    assert tls_names({'pgsec_tls_names': ['db.example']}, 'pg1', []) == ['db.example']


def test_clusters_with_owned_files_not_loaded_yet_are_reloaded():
    clusters = [{'id': '15/main'}, {'id': '16/main'}]
    facts_by_id = {'15/main': {'changed_since_load': [{'path': '/etc/postgresql/15/main/pgsec.d/listen.conf'}]},
                   '16/main': {'changed_since_load': [{'path': '/etc/postgresql/16/main/environment'}]}}
    assert reload_pending(clusters, facts_by_id) == [{'cluster': {'id': '15/main'}, 'changed': True,
                                                      'reload_required': True}]


def test_area_args_are_the_hba_and_firewall_parameters_from_the_policy_and_the_plan():
    other = {'name': 'reports', 'sources': ['198.18.1.0/24', '198.18.2.7/32'], 'databases': ['appdb'], 'users': ['app']}
    user = {'pgsec_clients': [APP, other], 'pgsec_tls_hba_method': 'cert', 'pgsec_hba_keep_loopback': 'no',
            'pgsec_firewall_action': 'reject', 'pgsec_firewall_zone': '', 'pgsec_port': 5433}
    result = plan(user, host_groups=HOST_GROUPS, host_users=HOST_USERS)
    assert result['area_args']['hba'] == {
        'clients': result['policy']['pgsec_clients'], 'require_ssl': result['policy']['pgsec_tls_enabled'],
        'clientcert': None, 'method': 'cert', 'keep_loopback': False, 'final_reject': 'all',
        'reject_superusers': False, 'local_peer': False}
    assert result['area_args']['firewall'] == {
        'backend': 'auto', 'ports': [5433], 'sources': ['198.18.1.0/24', '198.18.2.7/32'], 'server_user': 'postgres',
        'zone': None, 'firewalld_remove_open_port': None, 'action': 'reject', 'log': None, 'egress': None,
        'allow_none': None, 'rollback_timeout': None}


def test_area_args_for_tls_are_the_options_beside_the_material():
    user = {'pgsec_clients': [APP], 'pgsec_tls_directory': '', 'pgsec_tls_names': ['db.example.test'],
            'pgsec_tls_key_owner': 'root', 'pgsec_tls_dh_params': False}
    result = plan(user)
    assert result['area_args']['tls'] == {
        'directory': None, 'names': ['db.example.test'], 'warn_days': result['policy']['pgsec_tls_cert_warn_days'],
        'dh_params': False, 'key_owner': 'root', 'passphrase_store': None, 'renew_hook': None}
