# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cis profile: what the plan refuses, what the hba block looks like, what the audit checks.

Inputs are recorded: the facts of the lab hosts (fixtures/facts: pg1 is the insecure profile on
Debian 12 / PostgreSQL 15; pg5-cis and pg5-baseline are pg5, Debian 13 / PostgreSQL 17, after a
converge with pgsec_profile cis, then with baseline, as tests/integration/test_cis_profile.py does),
and the pg_hba.conf the insecure profile leaves (the text of pg1's recorded rules).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import policy
from ansible_collections.pgsec.hardening.plugins.module_utils.access_plan import plan_host
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.change import HbaPlanError, hba_name, plan_hba
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.parse import parse_hba_text
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture

APP = {'name': 'app', 'sources': ['198.18.1.100/32'], 'databases': ['appdb'], 'users': ['app']}
# The policy of tests/integration/test_cis_profile.py (and of the recorded pg5 facts).
CIS = {'pgsec_profile': 'cis', 'pgsec_clients': [APP], 'pgsec_unix_socket_group': 'pgsocket',
       'pgsec_tls_generate': True, 'pgsec_firewall_backend': 'none'}
CIS_HBA_OPTIONS = {'final_reject': 'sources', 'reject_users': ['postgres'], 'local_peer': True,
                   'keep_loopback': False}
INTERFACES = [
    {'name': 'lo', 'address': '127.0.0.1', 'prefixlen': 8, 'family': 'ipv4', 'scope': 'host'},
    {'name': 'host0', 'address': '198.18.0.15', 'prefixlen': 24, 'family': 'ipv4', 'scope': 'global'},
    {'name': 'app0', 'address': '198.18.1.15', 'prefixlen': 24, 'family': 'ipv4', 'scope': 'global'},
]
ROUTES = [{'dst': 'default', 'dev': 'host0', 'gateway': '198.18.0.1', 'prefsrc': None, 'family': 'ipv4',
           'metric': None}]


# ---------------------------------------------------------------------------- helpers

def load(name):
    return json.loads(read_fixture('facts', name + '.json'))


def recorded_insecure_hba():
    """pg_hba.conf of the insecure profile, from pg1's recorded rules (Debian's lines + 0.0.0.0/0 and ::/0 md5)."""
    return ''.join(rule['text'] + '\n' for rule in load('pg1')['clusters'][0]['hba']['rules'])


def plan_facts(server_user='postgres'):
    return {'clusters': [{'id': '17/main', 'layout': 'debian', 'version': '17', 'name': 'main',
                          'data_directory': '/var/lib/postgresql/17/main',
                          'config_file': '/etc/postgresql/17/main/postgresql.conf',
                          'bindir': '/usr/lib/postgresql/17/bin', 'server_user': server_user, 'running': True}],
            'interfaces': INTERFACES, 'routes': ROUTES}


def problems(user, server_users=('postgres',), passphrase_given=False):
    return policy.cis_problems(policy.merge_policy(user), user, server_users, passphrase_given)


def refusal(user, passphrase_given=False, facts=None):
    with pytest.raises(policy.PolicyError) as info:
        plan_host(user, facts or plan_facts(), passphrase_given=passphrase_given)
    return str(info.value)


def cis(**changes):
    user = copy.deepcopy(CIS)
    user.update(changes)
    return user


def client(**changes):
    entry = dict(APP)
    entry.update(changes)
    return [entry]


def with_hba(facts, text):
    """The recorded facts with pg_hba.conf replaced by text (parsed as the facts module does)."""
    facts = copy.deepcopy(facts)
    cluster = facts['clusters'][0]
    parsed = parse_hba_text(text, cluster['hba']['file'])
    cluster['hba'].update(rules=parsed['rules'], errors=parsed['errors'], valid=parsed['valid'], server_errors=[])
    return facts


def finding(facts, control_id, user=None):
    findings = policy.evaluate(facts, user or CIS, host='db1')
    cluster = facts['clusters'][0]['id']
    return next(item for item in findings if item['id'] == control_id and item['cluster'] == cluster)


# ---------------------------------------------------------------------------- merge_policy

def test_cis_defaults_the_cipher_list_and_keeps_a_given_one():
    assert policy.merge_policy(CIS)['pgsec_tls_ciphers'] == policy.CIS_DEFAULT_TLS_CIPHERS
    assert policy.merge_policy({})['pgsec_tls_ciphers'] == policy.DEFAULT_TLS_CIPHERS
    given = cis(pgsec_tls_ciphers='ECDHE-RSA-AES256-GCM-SHA384')
    assert policy.merge_policy(given)['pgsec_tls_ciphers'] == 'ECDHE-RSA-AES256-GCM-SHA384'
    merged = policy.merge_policy(CIS)
    assert policy.merge_policy(merged) == merged


def test_the_cis_list_is_strong_and_tls13_ciphers_are_apart():
    assert policy.weak_cipher_classes(policy.CIS_DEFAULT_TLS_CIPHERS) == {'weak': {}, 'unknown': []}
    assert all(name.startswith(('ECDHE-', 'DHE-')) and ('GCM' in name or 'CHACHA20' in name)
               for name in policy.CIS_TLS_CIPHERS)
    assert all(name.startswith('TLS_') for name in policy.CIS_TLS13_CIPHERS)


# ---------------------------------------------------------------------------- what the plan refuses

def test_a_complete_cis_policy_has_no_problem():
    assert problems(CIS) == []
    assert problems(cis(pgsec_tls_generate=False), passphrase_given=True) == []
    assert problems(cis(pgsec_unix_socket_group='', pgsec_unix_socket_permissions=None)) == []  # 0700


def test_baseline_is_never_refused_here():
    user = dict(CIS, pgsec_profile='baseline', pgsec_clients=[{'name': 'app', 'sources': ['0.0.0.0/0']}],
                pgsec_listen_addresses=['*'], pgsec_unix_socket_permissions='0777')
    assert problems(user) == []


@pytest.mark.parametrize('wildcard', ['*', '0.0.0.0', '::'])
def test_a_wildcard_is_refused_even_when_allowed(wildcard):
    user = cis(pgsec_listen_addresses=['198.18.1.15', wildcard], pgsec_listen_allow_wildcard=True)
    text = refusal(user)
    assert 'pgsec_listen_addresses[1]: %r' % wildcard in text
    assert 'pgsec_listen_allow_wildcard' in text and 'CIS 5.2' in text
    # baseline with the flag still allows it
    baseline = dict(user, pgsec_profile='baseline')
    assert plan_host(baseline, plan_facts())['listen']['addresses'] == ['198.18.1.15', wildcard]


@pytest.mark.parametrize('mode, words', [
    ('0777', "pgsec_unix_socket_permissions: '0777' is not allowed by pgsec_profile cis (pgdsat 2.6)"),
    ('0750', "pgsec_unix_socket_permissions: '0750' is not allowed"),
    (0o777, "pgsec_unix_socket_permissions: '0777'"),
])
def test_socket_modes_other_than_0700_and_0770_are_refused(mode, words):
    assert words in refusal(cis(pgsec_unix_socket_permissions=mode))


def test_0770_needs_a_group():
    text = refusal(cis(pgsec_unix_socket_group='', pgsec_unix_socket_permissions='0770'))
    assert "pgsec_unix_socket_permissions: '0770' needs pgsec_unix_socket_group" in text


@pytest.mark.parametrize('changes, words', [
    ({'databases': None}, "pgsec_clients[0].databases: not given, which means 'all'"),
    ({'users': []}, "pgsec_clients[0].users: not given, which means 'all'"),
    ({'databases': ['appdb', 'all']}, "pgsec_clients[0].databases: 'all' does not name specific databases (CIS 5.10)"),
    ({'databases': ['sameuser']}, "pgsec_clients[0].databases: 'sameuser' does not name specific databases"),
    ({'databases': ['samerole']}, "pgsec_clients[0].databases: 'samerole'"),
    ({'users': ['all']}, "pgsec_clients[0].users: 'all' does not name specific users"),
    ({'users': ['/^app']}, "pgsec_clients[0].users: '/^app' is a regular expression"),
    ({'databases': ['@dbs']}, "pgsec_clients[0].databases: '@dbs' includes names from a file"),
    ({'users': ['app', 'postgres']}, "pgsec_clients[0].users: 'postgres' is a superuser; pgsec_profile cis lets no "
                                     "superuser log in over TCP (CIS 5.11)"),
    ({'sources': ['10.0.0.0/8']}, "pgsec_clients[0].sources[0]: '10.0.0.0/8' is wider than /16, the widest IPv4 "
                                  "network pgsec_profile cis admits (CIS 5.9"),
    ({'sources': ['198.18.1.100', '2001:db8::/32']}, "pgsec_clients[0].sources[1]: '2001:db8::/32' is wider than /48"),
    ({'sources': ['0.0.0.0/0']}, "pgsec_clients[0].sources[0]: '0.0.0.0/0' admits every address"),
    ({'sources': ['::/0']}, "pgsec_clients[0].sources[0]: '::/0' admits every address"),
    ({'sources': ['127.0.0.1']}, "pgsec_clients[0].sources[0]: '127.0.0.1/32' is loopback"),
    ({'sources': ['::1']}, "pgsec_clients[0].sources[0]: '::1/128' is loopback"),
])
def test_clients_must_be_specific_and_narrow(changes, words):
    entry = dict(APP)
    entry.update(changes)
    entry = dict((key, value) for key, value in entry.items() if value is not None)
    assert words in refusal(cis(pgsec_clients=[entry]))


def test_the_server_user_counts_as_a_superuser():
    text = refusal(cis(pgsec_clients=client(users=['pgsql'])), facts=plan_facts(server_user='pgsql'))
    assert "pgsec_clients[0].users: 'pgsql' is a superuser" in text


def test_limits_may_narrow_but_not_widen():
    assert "pgsec_clients[0].sources[0]: '10.1.0.0/16' is wider than /24" in refusal(
        cis(pgsec_clients=client(sources=['10.1.0.0/16']), pgsec_hba_max_prefix_v4=24))
    assert 'pgsec_hba_max_prefix_v4: 8 admits networks wider than /16' in refusal(cis(pgsec_hba_max_prefix_v4=8))
    assert 'pgsec_hba_max_prefix_v6: 32 admits networks wider than /48' in refusal(cis(pgsec_hba_max_prefix_v6=32))


@pytest.mark.parametrize('changes, words', [
    ({'pgsec_hba_manage': False}, 'pgsec_hba_manage: false leaves pg_hba.conf alone'),
    ({'pgsec_hba_manage': 'no'}, 'pgsec_hba_manage: false'),
    ({'pgsec_tls_hba_method': 'md5'}, "pgsec_tls_hba_method: 'md5' is not allowed by pgsec_profile cis"),
    ({'pgsec_tls_hba_method': 'password'}, "pgsec_tls_hba_method: 'password'"),
    ({'pgsec_tls_enabled': False}, 'pgsec_tls_enabled: false, but pgsec_profile cis requires TLS (CIS 6.8)'),
    ({'pgsec_tls_min_protocol_version': 'TLSv1.2'}, "pgsec_tls_min_protocol_version: 'TLSv1.2' is not TLSv1.3"),
    ({'pgsec_tls_ciphers': policy.DEFAULT_TLS_CIPHERS}, 'pgsec_tls_ciphers: %r is not a subset of the CIS 6.10 TLS 1.2 '
                                                        'suites' % policy.DEFAULT_TLS_CIPHERS),
    ({'pgsec_tls_ciphers': 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-SHA384'},
     'not in the list: ECDHE-RSA-AES256-SHA384'),
    ({'pgsec_tls_ciphers': 'ECDHE-RSA-AES256-GCM-SHA384:!aNULL'}, 'not in the list: !aNULL'),
    ({'pgsec_tls13_ciphers': 'TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_8_SHA256'},
     "pgsec_tls13_ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_8_SHA256' is not a subset of the CIS 6.10 TLS 1.3"),
    ({'pgsec_tls_generate': False}, "pgsec_tls_key_passphrase: '' (not set), but pgsec_profile cis requires a "
                                    'passphrase-protected server key unlocked by ssl_passphrase_command (CIS 6.8)'),
])
def test_methods_tls_and_pg_hba_management(changes, words):
    assert words in refusal(cis(**changes))


def test_allowed_values_pass():
    for changes in ({'pgsec_hba_manage': True}, {'pgsec_tls_hba_method': 'cert'}, {'pgsec_tls_enabled': 'yes'},
                    {'pgsec_tls_min_protocol_version': 'tlsv1.3'}, {'pgsec_tls13_ciphers': 'TLS_AES_256_GCM_SHA384'},
                    {'pgsec_tls_ciphers': 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305'},
                    {'pgsec_clients': client(sources=['10.20.0.0/16', '2001:db8:20::/48'], users=['+app_users'])}):
        assert problems(cis(**changes)) == [], changes


def test_every_problem_in_one_message():
    user = cis(pgsec_clients=[{'name': 'app', 'sources': ['10.0.0.0/8']}], pgsec_unix_socket_permissions='0777',
               pgsec_tls_generate=False)
    text = refusal(user)
    assert text.startswith('pgsec_profile cis: 5 problems: (1) ')
    for words in ('pgsec_unix_socket_permissions', 'pgsec_clients[0].databases', 'pgsec_clients[0].users',
                  'pgsec_clients[0].sources[0]', 'pgsec_tls_key_passphrase'):
        assert words in text
    assert ' | (5) ' in text


def test_the_plan_tells_whether_a_passphrase_is_given_never_what_it_is():
    user = cis(pgsec_tls_generate=False)
    assert 'pgsec_tls_key_passphrase' in refusal(user)
    plan = plan_host(user, plan_facts(), passphrase_given=True)
    assert plan['tls']['passphrase_required'] is True


def test_the_cis_plan_tells_the_roles_what_to_enforce():
    plan = plan_host(CIS, plan_facts())
    assert plan['hba'] == {'local_peer': True, 'final_reject': 'sources', 'reject_superusers': True,
                           'loopback_allowed': False}
    tls = dict(plan['tls'])
    cluster_settings, names = tls.pop('cluster_settings'), tls.pop('names')
    assert tls == {'settings': {'password_encryption': 'scram-sha-256'},
                   'tls13_ciphers': ':'.join(policy.CIS_TLS13_CIPHERS), 'passphrase_required': True}
    assert names == [None, '198.18.1.15']  # no host name given; the generated certificate covers the address
    assert [settings['password_encryption'] for settings in cluster_settings.values()] == ['scram-sha-256']
    assert plan['listen']['addresses'] == ['198.18.1.15']
    assert plan['sockets']['settings'] == {'unix_socket_permissions': '0770', 'unix_socket_group': 'pgsocket'}
    assert plan['policy']['pgsec_tls_min_protocol_version'] == 'TLSv1.3'


def test_cis_without_clients_is_socket_only():
    plan = plan_host(cis(pgsec_clients=[], pgsec_unix_socket_group=''), plan_facts())
    assert plan['listen']['addresses'] == [] and plan['sockets']['settings']['unix_socket_permissions'] == '0700'


# ---------------------------------------------------------------------------- the managed pg_hba block

def test_the_cis_block_on_the_recorded_insecure_file():
    planned = plan_hba(recorded_insecure_hba(), [APP], CIS_HBA_OPTIONS)
    assert planned['managed'] == [
        'hostnossl all             all             198.18.1.100/32         reject',
        'hostssl   all             postgres        198.18.1.100/32         reject',
        'hostssl   appdb           app             198.18.1.100/32         scram-sha-256',
        'hostssl   all             all             198.18.1.100/32         reject',
    ]
    rules = parse_hba_text(planned['text'])['rules']
    assert not [rule for rule in rules if rule['error']]
    tcp = [rule for rule in rules if rule['type'] != 'local']
    assert all(rule['cidr'] == '198.18.1.100/32' for rule in tcp)  # loopback, 0.0.0.0/0 and ::/0 lines are gone
    assert [rule['method'] for rule in rules if rule['type'] == 'local'] == ['peer', 'peer', 'peer']
    assert plan_hba(planned['text'], [APP], CIS_HBA_OPTIONS)['changed'] is False


def test_non_peer_local_lines_are_replaced_in_place():
    text = ('local   all   postgres   peer\n'
            'local   all   all        md5\n'
            'local   "my db",x   +admins,"bob smith"   ident map=omap\n'
            'local   replication all  trust\n'
            'local   all   nobody     reject\n'
            'local   all   all        scram-sha-256\n')
    planned = plan_hba(text, [APP], CIS_HBA_OPTIONS)
    lines = planned['text'].split('\n')
    start = lines.index('local   all   postgres   peer')
    assert lines[start:start + 10] == [
        'local   all   postgres   peer',
        '# superseded by pgsec.hardening (tls): local   all   all        md5',
        'local     all             all                                     peer',
        '# superseded by pgsec.hardening (tls): local   "my db",x   +admins,"bob smith"   ident map=omap',
        'local     "my db",x       +admins,"bob smith"                         peer map=omap',
        '# superseded by pgsec.hardening (tls): local   replication all  trust',
        'local     replication     all                                     peer',
        'local   all   nobody     reject',
        '# superseded by pgsec.hardening (tls): local   all   all        scram-sha-256',
        'local     all             all                                     peer',
    ]
    replaced = [item for item in planned['superseded'] if 'replaced_by' in item]
    assert [item['line'] for item in replaced] == [2, 3, 4, 6]
    local = [rule for rule in parse_hba_text(planned['text'])['rules'] if rule['type'] == 'local']
    assert [(rule['database'], rule['user'], rule['method'], rule['options']) for rule in local] == [
        (['all'], ['postgres'], 'peer', {}), (['all'], ['all'], 'peer', {}),
        (['my db', 'x'], ['+admins', 'bob smith'], 'peer', {'map': 'omap'}),
        (['replication'], ['all'], 'peer', {}), (['all'], ['nobody'], 'reject', {}), (['all'], ['all'], 'peer', {})]
    assert plan_hba(planned['text'], [APP], CIS_HBA_OPTIONS)['changed'] is False


@pytest.mark.parametrize('written', ['"all"', '"+admins"', '"my db"', '"a""b"', '"""x"', 'app', 'all,"sameuser"'])
def test_a_replaced_local_line_keeps_what_its_names_mean(written):
    text = 'local %s all md5\n' % written
    planned = plan_hba(text, [], CIS_HBA_OPTIONS)
    before = parse_hba_text(text)['rules'][0]
    after = [rule for rule in parse_hba_text(planned['text'])['rules'] if rule['type'] == 'local'][0]
    assert (after['database'], after['method']) == (before['database'], 'peer')


def test_a_replaced_local_line_keeps_an_at_file():
    planned = plan_hba('local @names all md5\n', [], CIS_HBA_OPTIONS)
    assert 'local     @names          all                                     peer' in planned['text'].split('\n')


def test_local_lines_are_left_alone_without_local_peer():
    text = 'local all all md5\n'
    planned = plan_hba(text, [APP])
    assert 'local all all md5\n' in planned['text'] and not planned['superseded']


def test_superusers_are_rejected_before_the_clients_and_a_client_naming_one_is_refused():
    options = dict(CIS_HBA_OPTIONS, reject_users=['postgres', 'root admin', 'all'])
    managed = plan_hba('', [APP], options)['managed']
    assert managed[1] == 'hostssl   all             "all",postgres,"root admin" 198.18.1.100/32         reject'
    users = parse_hba_text(managed[1] + '\n')['rules'][0]['user']
    assert users == ['"all"', 'postgres', 'root admin']  # a role named all, not the keyword
    with pytest.raises(HbaPlanError) as info:
        plan_hba('', client(users=['app', 'postgres']), options)
    assert "clients[0].users: 'postgres' is a superuser" in str(info.value)


@pytest.mark.parametrize('name, token', [('postgres', 'postgres'), ('all', '"all"'), ('a b', '"a b"'),
                                         ('x"y', '"x""y"'), ('"x', '"""x"'), ('app_1.x$', 'app_1.x$'),
                                         ('Ünï', '"Ünï"')])
def test_hba_names(name, token):
    assert hba_name(name) == token


def test_rejects_per_source_for_several_clients():
    clients = [dict(APP, sources=['198.18.1.0/24', '2001:db8:1::/64']),
               {'name': 'report', 'sources': ['198.18.1.0/24'], 'databases': ['appdb'], 'users': ['report']}]
    managed = plan_hba('', clients, CIS_HBA_OPTIONS)['managed']
    assert [line.split()[0] + ' ' + line.split()[3] for line in managed if line.endswith('reject')] == [
        'hostnossl 198.18.1.0/24', 'hostnossl 2001:db8:1::/64', 'hostssl 198.18.1.0/24', 'hostssl 2001:db8:1::/64',
        'hostssl 198.18.1.0/24', 'hostssl 2001:db8:1::/64']
    assert plan_hba('', [], CIS_HBA_OPTIONS)['managed'] == []  # no client: no TCP line at all


@pytest.mark.parametrize('options, words', [
    ({'final_reject': 'none'}, "final_reject: 'none' is not one of all, sources"),
    ({'final_reject': 'sources', 'keep_other_tcp': True}, 'keep_other_tcp would leave other lines open'),
    ({'reject_users': 'postgres'}, "reject_users: 'postgres' is not a list"),
    ({'reject_users': ['']}, "reject_users: '' is not a user name"),
    ({'local_peer': 'yes'}, "local_peer: 'yes' is not a boolean"),
])
def test_block_options_are_checked(options, words):
    with pytest.raises(HbaPlanError) as info:
        plan_hba('', [APP], options)
    assert words in str(info.value)


def test_the_written_block_passes_the_cis_audit():
    """The block on the recorded insecure file, evaluated with pg1's recorded facts: every pg_hba control passes."""
    planned = plan_hba(recorded_insecure_hba(), [APP], CIS_HBA_OPTIONS)
    facts = with_hba(load('pg1'), planned['text'])
    for control_id in ('hba.valid', 'hba.ssl_required', 'hba.no_all_addresses', 'hba.range_size',
                       'hba.sources_within_policy', 'hba.auth_method', 'hba.specific_targets',
                       'hba.no_remote_superuser', 'hba.localhost_tcp', 'hba.reject_unmatched'):
        item = finding(facts, control_id)
        assert item['status'] == 'pass', (control_id, item['actual'])
    baseline = plan_hba(recorded_insecure_hba(), [APP], {'keep_loopback': True})
    facts = with_hba(load('pg1'), baseline['text'])
    failed = set(control_id for control_id in ('hba.ssl_required', 'hba.no_all_addresses', 'hba.range_size',
                                               'hba.localhost_tcp', 'hba.reject_unmatched')
                 if finding(facts, control_id)['status'] == 'fail')
    # the kept loopback host lines accept TCP without TLS, and nothing after them rejects that
    assert failed == {'hba.ssl_required', 'hba.no_all_addresses', 'hba.range_size', 'hba.localhost_tcp',
                      'hba.reject_unmatched'}


# ---------------------------------------------------------------------------- the audit under cis

def test_catch_all_rejects_fail_5_9_under_cis_only():
    text = ('local all all peer\nhostssl appdb app 198.18.1.100/32 scram-sha-256\n'
            'host all all 0.0.0.0/0 reject\nhost all all ::/0 reject\n')
    facts = with_hba(load('pg1'), text)
    item = finding(facts, 'hba.no_all_addresses')
    assert (item['status'], item['severity']) == ('fail', 'low') and 'reject rules for every address' in item['actual']
    assert finding(facts, 'hba.range_size')['status'] == 'fail'
    baseline = dict(CIS, pgsec_profile='baseline')
    assert finding(facts, 'hba.no_all_addresses', baseline)['status'] == 'pass'
    assert finding(facts, 'hba.range_size', baseline)['status'] == 'pass'
    assert finding(facts, 'hba.reject_unmatched')['status'] == 'pass'  # a catch-all also closes the network


@pytest.mark.parametrize('text, status', [
    ('hostssl appdb app 198.18.1.100/32 scram-sha-256\n', 'fail'),
    ('hostnossl all all 198.18.1.100/32 reject\nhostssl appdb app 198.18.1.100/32 scram-sha-256\n', 'fail'),
    ('hostssl appdb app 198.18.1.100/32 scram-sha-256\nhostssl all all 198.18.1.100/32 reject\n', 'fail'),
    ('hostnossl all all 198.18.1.100/32 reject\nhostssl appdb app 198.18.1.100/32 scram-sha-256\n'
     'hostssl all all 198.18.1.100/32 reject\n', 'pass'),
    ('hostssl appdb app 198.18.1.100/32 scram-sha-256\nhost all all 198.18.1.0/24 reject\n', 'pass'),
    ('host all all 198.18.1.0/24 reject\nhostssl appdb app 198.18.1.100/32 scram-sha-256\n', 'fail'),
    ('hostnossl all all 198.18.1.100/32 reject\nhostssl appdb app 198.18.1.100/32 scram-sha-256\n'
     'hostssl all all 198.18.2.0/24 reject\n', 'fail'),
    ('hostnossl all all 198.18.1.100/32 reject\nhostssl appdb app 198.18.1.100/32 scram-sha-256\n'
     'hostssl appdb all 198.18.1.100/32 reject\n', 'fail'),
    ('local all all peer\n', 'pass'),
])
def test_reject_unmatched_under_cis(text, status):
    item = finding(with_hba(load('pg1'), text), 'hba.reject_unmatched')
    assert item['status'] == status, item['actual']
    assert 'PostgreSQL refuses them' in item['expected']


@pytest.mark.parametrize('line', ['hostssl sameuser app 198.18.1.100/32 scram-sha-256',
                                  'hostssl samerole app 198.18.1.100/32 scram-sha-256',
                                  'hostssl appdb /^a 198.18.1.100/32 scram-sha-256'])
def test_specific_targets_under_cis(line):
    facts = with_hba(load('pg1'), line + '\n')
    assert finding(facts, 'hba.specific_targets')['status'] == 'fail'
    assert finding(facts, 'hba.specific_targets', dict(CIS, pgsec_profile='baseline'))['status'] == 'pass'


def test_ciphers_outside_the_cis_list_fail_under_cis():
    facts = copy.deepcopy(load('pg5-cis'))
    assert finding(facts, 'tls.ciphers')['status'] == 'pass'
    settings = facts['clusters'][0]['settings']
    settings['ssl_ciphers']['value'] = policy.CIS_DEFAULT_TLS_CIPHERS + ':ECDHE-RSA-AES256-SHA384'
    item = finding(facts, 'tls.ciphers', dict(CIS, pgsec_tls_ciphers=settings['ssl_ciphers']['value']))
    assert (item['status'], item['severity']) == ('fail', 'low')  # TLS 1.3 only: not negotiable
    assert 'not a subset of the CIS 6.10 suites: ECDHE-RSA-AES256-SHA384' in item['actual']
    settings['ssl_min_protocol_version']['value'] = 'TLSv1.2'
    item = finding(facts, 'tls.ciphers', dict(CIS, pgsec_tls_ciphers=settings['ssl_ciphers']['value']))
    assert (item['status'], item['severity']) == ('fail', 'medium')


# ---------------------------------------------------------------------------- recorded pg5 (PostgreSQL 17)

def test_recorded_cis_host_passes_every_cis_control():
    findings = policy.evaluate(load('pg5-cis'), CIS, host='pg5')
    by_id = dict((item['id'], item) for item in findings if item['cluster'] in ('17/main', None))
    for control_id in policy.cis_finding_ids():
        assert by_id[control_id]['status'] == 'pass', (control_id, by_id[control_id]['actual'])
    assert [item['id'] for item in findings if item['status'] in ('fail', 'error')] == []


def test_recorded_baseline_host_leaves_these_cis_controls_open():
    findings = policy.evaluate(load('pg5-baseline'), CIS, host='pg5')
    failing = set(item['id'] for item in findings if item['status'] == 'fail' and item['id'] in policy.cis_finding_ids())
    assert failing == {'tls.min_protocol', 'tls.ciphers', 'tls.key_passphrase', 'hba.no_all_addresses',
                       'hba.range_size'}
    baseline = policy.evaluate(load('pg5-baseline'), dict(CIS, pgsec_profile='baseline'), host='pg5')
    assert [item['id'] for item in baseline if item['status'] in ('fail', 'error')] == []
