# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lockout guard on recorded live facts: what a new policy would cut, and the messages naming it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import lockout_guard
from ansible_collections.pgsec.hardening.plugins.module_utils.access_plan import plan_host
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.live import parse_established, parse_live
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError, merge_policy

# /proc/net/tcp of a primary on 198.18.1.11:5432: a standby (198.18.1.16), an app session (198.18.1.100),
# a session from another network (198.18.2.200) and a connection not logged in yet (198.18.1.150).
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 1001 1 0
   1: 0B0112C6:1538 100112C6:C350 01 00000000:00000000 00:00000000 00000000   105        0 1002 1 0
   2: 0B0112C6:1538 640112C6:C351 01 00000000:00000000 00:00000000 00000000   105        0 1003 1 0
   3: 0B0212C6:1538 C80212C6:C352 01 00000000:00000000 00:00000000 00000000   105        0 1004 1 0
   4: 0B0112C6:1538 960112C6:C353 01 00000000:00000000 00:00000000 00000000   105        0 1005 1 0
   5: 0B0012C6:0016 010012C6:C354 01 00000000:00000000 00:00000000 00000000     0        0 1006 1 0
"""
LIVE_ANSWER = json.dumps({
    'sessions': [
        {'pid': 10, 'address': '198.18.1.16', 'port': 50000, 'user': 'replicator', 'database': None,
         'application': '15/main', 'backend_type': 'walsender', 'ssl': False},
        {'pid': 11, 'address': '198.18.1.100', 'port': 50001, 'user': 'app', 'database': 'appdb',
         'application': 'psql', 'backend_type': 'client backend', 'ssl': True},
        {'pid': 12, 'address': '198.18.2.200', 'port': 50002, 'user': 'report', 'database': 'appdb',
         'application': 'psql', 'backend_type': 'client backend', 'ssl': False},
    ],
    'replication': [{'pid': 10, 'address': '198.18.1.16', 'port': 50000, 'user': 'replicator',
                     'application': '15/main', 'state': 'streaming', 'sync_state': 'async'}],
    'slots': [{'name': 'standby1', 'type': 'physical', 'database': None, 'active': True, 'active_pid': 10},
              {'name': 'old_standby', 'type': 'physical', 'database': None, 'active': False, 'active_pid': None}],
    'md5_roles': ['legacy'],
    'in_recovery': False,
})


def live():
    return parse_live(LIVE_ANSWER, parse_established(PROC_NET_TCP, 'inet', [5432]))


def cluster():
    return {'id': '15/main', 'running': True, 'live': live()}


def guard_plan(clients, listen=('198.18.1.11',), hba=True, firewall=True, keep_loopback=True):
    return {'clients': merge_policy({'pgsec_clients': clients})['pgsec_clients'], 'listen_addresses': list(listen),
            'hba_managed': hba, 'firewall_managed': firewall, 'keep_loopback': keep_loopback}


APP = {'name': 'app', 'sources': ['198.18.1.100/32'], 'databases': ['appdb'], 'users': ['app']}
STANDBY = {'name': 'standby', 'sources': ['198.18.1.16/32'], 'databases': ['replication'], 'users': ['replicator']}
REPORT = {'name': 'report', 'sources': ['198.18.2.200/32'], 'databases': ['appdb'], 'users': ['report']}
PENDING = {'name': 'pending', 'sources': ['198.18.1.150/32']}


def test_established_connections_to_the_port_only_and_matched_to_sessions():
    facts = live()
    assert [s['local_address'] for s in facts['sessions']] == ['198.18.1.11', '198.18.1.11', '198.18.2.11']
    assert facts['connections'] == [{'family': 'inet', 'local_address': '198.18.1.11', 'local_port': 5432,
                                     'address': '198.18.1.150', 'port': 50003}]
    assert facts['md5_roles'] == ['legacy'] and facts['in_recovery'] is False


def test_a_policy_with_only_the_app_names_the_standby_the_other_network_and_the_pending_connection():
    result = lockout_guard.evaluate([cluster()], guard_plan([APP]), {})
    cuts = dict((cut['address'], cut) for cut in result['cuts'])
    assert sorted(cuts) == ['198.18.1.150', '198.18.1.16', '198.18.2.200']
    assert cuts['198.18.1.16']['kind'] == 'standby'
    assert cuts['198.18.1.16']['refused_by'] == ['pg_hba', 'the firewall']
    assert cuts['198.18.1.16']['keep_with'] == {'name': 'standby', 'sources': ['198.18.1.16/32'],
                                                'databases': ['replication'], 'users': ['replicator']}
    # Its local address (the ext network) is not listened on any more either.
    assert cuts['198.18.2.200']['refused_by'] == ['listen_addresses', 'pg_hba', 'the firewall']
    standby = next(m for m in result['messages'] if '198.18.1.16' in m)
    assert standby == ("15/main: standby 198.18.1.16 (user replicator, replication, application '15/main', "
                       "streaming) would be refused by pg_hba and the firewall; keep it with {name: standby, "
                       "sources: [198.18.1.16/32], databases: [replication], users: [replicator]} in "
                       "pgsec_clients, or cut it on purpose with pgsec_lockout_cut: [198.18.1.16/32]")
    assert [slot['name'] for slot in result['slots']] == ['old_standby']


def test_the_standby_needs_the_replication_database_not_all():
    every_database = dict(STANDBY, databases=['all'])
    result = lockout_guard.evaluate([cluster()], guard_plan([APP, every_database, REPORT, PENDING],
                                                            listen=('198.18.1.11', '198.18.2.11')), {})
    [cut] = result['cuts']
    assert cut['address'] == '198.18.1.16'
    assert cut['refused_by'] == ['pg_hba (no pgsec_clients entry for this replication connection and user)']


def test_everything_covered_and_the_md5_role_named_with_how_to_rehash_it():
    clients = [APP, STANDBY, REPORT, PENDING, {'name': 'admins', 'sources': ['198.18.1.0/24']}]
    result = lockout_guard.evaluate([cluster()], guard_plan(clients, listen=('198.18.1.11', '198.18.2.11')), {})
    assert result['cuts'] == []
    [lockout] = result['md5_lockouts']
    assert lockout == {'cluster': '15/main', 'role': 'legacy', 'clients': ['pending', 'admins']}
    [message] = result['messages']
    assert "role legacy has its password stored as MD5" in message and "pgsec_clients 'pending', 'admins'" in message
    assert "never changes a password" in message and "pgsec_hba_md5_compat: true" in message


def test_md5_compat_writes_md5_for_the_clients_that_admit_md5_roles():
    clients = [APP, {'name': 'admins', 'sources': ['198.18.1.0/24']}]
    result = lockout_guard.evaluate([cluster()], guard_plan(clients), {'pgsec_hba_md5_compat': True,
                                                                       'pgsec_lockout_guard': 'warn'})
    assert result['md5_lockouts'] == [] and result['compat_clients'] == ['admins']
    merged = merge_policy({'pgsec_clients': clients})['pgsec_clients']
    methods = dict((c['name'], c['auth_method']) for c in lockout_guard.apply_compat(merged, result['compat_clients']))
    assert methods == {'app': 'scram-sha-256', 'admins': 'md5'}


def test_intended_cuts_and_unmanaged_enforcement_points():
    user = {'pgsec_lockout_cut': ['198.18.2.0/24', '198.18.1.150', '198.18.1.16/32']}
    result = lockout_guard.evaluate([cluster()], guard_plan([APP], listen=('198.18.1.11', '198.18.2.11')), user)
    assert result['cuts'] == []
    result = lockout_guard.evaluate([cluster()], guard_plan([APP, STANDBY, PENDING], hba=False, firewall=False), {})
    assert [cut['refused_by'] for cut in result['cuts']] == [['listen_addresses']]
    assert result['md5_lockouts'] == []


def test_off_does_not_look():
    result = lockout_guard.evaluate([cluster()], guard_plan([APP]), {'pgsec_lockout_guard': 'off'})
    assert result['cuts'] == [] and result['messages'] == []


def test_a_cluster_whose_live_state_is_unknown_is_said():
    result = lockout_guard.evaluate([{'id': '15/main', 'running': True, 'live': None}], guard_plan([APP]), {})
    assert result['notes'] == ['15/main: what the server is serving could not be read, so the lockout guard '
                               'could not check it']


def test_loopback_sessions_need_a_loopback_listen_address():
    facts = {'sessions': [{'pid': 1, 'address': '127.0.0.1', 'port': 4000, 'user': 'app', 'database': 'appdb',
                           'backend_type': 'client backend'}]}
    loopback = {'id': '15/main', 'running': True, 'live': parse_live(json.dumps(facts))}
    result = lockout_guard.evaluate([loopback], guard_plan([APP]), {})
    assert [cut['refused_by'] for cut in result['cuts']] == [['listen_addresses']]
    assert lockout_guard.evaluate([loopback], guard_plan([APP], listen=('198.18.1.11', 'localhost')), {})['cuts'] == []
    result = lockout_guard.evaluate([loopback], guard_plan([APP], listen=('localhost',), keep_loopback=False), {})
    assert [cut['refused_by'] for cut in result['cuts']] == [['pg_hba (loopback lines dropped)']]


@pytest.mark.parametrize('user, message', [
    ({'pgsec_lockout_guard': 'ask'}, "pgsec_lockout_guard: 'ask' is not one of refuse, warn, off"),
    ({'pgsec_lockout_cut': '198.18.2.0/24'}, "pgsec_lockout_cut: '198.18.2.0/24' is not a list"),
    ({'pgsec_lockout_cut': ['198.18.2.0/33']}, "pgsec_lockout_cut[0]: '198.18.2.0/33' is not an IP network"),
    ({'pgsec_hba_md5_compat': 'maybe'}, "pgsec_hba_md5_compat: 'maybe' is not a boolean"),
])
def test_bad_guard_variables_name_the_variable_and_the_value(user, message):
    with pytest.raises(lockout_guard.GuardInputError) as error:
        lockout_guard.guard_settings(user)
    assert str(error.value).startswith(message)


def host_facts():
    return {'clusters': [{'id': '15/main', 'layout': 'debian', 'version': '15', 'name': 'main',
                          'data_directory': '/var/lib/postgresql/15/main',
                          'config_file': '/etc/postgresql/15/main/postgresql.conf', 'bindir': '/usr/lib/postgresql/15/bin',
                          'server_user': 'postgres', 'running': True, 'live': live()}],
            'interfaces': [dict(name=name, address=address, prefixlen=24, family='ipv4', scope='global')
                           for name, address in (('app0', '198.18.1.11'), ('ext0', '198.18.2.11'))],
            'routes': [dict(dst=dst, dev=dev, gateway=None, prefsrc=src, family='ipv4', metric=None)
                       for dst, dev, src in (('198.18.1.0/24', 'app0', '198.18.1.11'),
                                             ('198.18.2.0/24', 'ext0', '198.18.2.11'))]}


def test_the_plan_refuses_before_any_change_with_one_message_for_the_host():
    with pytest.raises(PolicyError) as error:
        plan_host({'pgsec_clients': [APP]}, host_facts())
    text = str(error.value)
    assert text.startswith('The new access would cut off what this server is serving now')
    assert text.count('\n- ') == 3 and 'standby 198.18.1.16' in text and 'session 198.18.2.200' in text


def test_the_plan_passes_with_every_live_client_in_the_policy_and_md5_compat():
    plan = plan_host({'pgsec_clients': [APP, STANDBY, REPORT, PENDING], 'pgsec_hba_md5_compat': True,
                      'pgsec_listen_addresses': ['198.18.1.11', '198.18.2.11']}, host_facts())
    assert plan['guard']['cuts'] == [] and plan['guard']['compat_clients'] == ['pending']
    plan = plan_host({'pgsec_clients': [APP, STANDBY, REPORT, PENDING, {'name': 'all', 'sources': ['198.18.1.0/24']}],
                      'pgsec_hba_md5_compat': True, 'pgsec_listen_addresses': ['198.18.1.11', '198.18.2.11']},
                     host_facts())
    assert dict((c['name'], c['auth_method']) for c in plan['policy']['pgsec_clients'])['all'] == 'md5'


def test_md5_compat_is_refused_under_cis():
    with pytest.raises(PolicyError) as error:
        plan_host({'pgsec_profile': 'cis', 'pgsec_hba_md5_compat': True, 'pgsec_tls_generate': True,
                   'pgsec_clients': [APP]}, host_facts())
    assert str(error.value).startswith('pgsec_hba_md5_compat: True writes md5 lines')


def test_a_client_without_tls_is_cut_when_the_server_offers_tls_already_and_noted_when_not():
    clients = [APP, STANDBY, REPORT, PENDING]
    plan = dict(guard_plan(clients, listen=('198.18.1.11', '198.18.2.11')), tls_required=True)
    offered = dict(cluster(), settings={'ssl': {'value': 'on'}})
    cuts = lockout_guard.evaluate([offered], plan, {})['cuts']
    assert sorted(cut['address'] for cut in cuts) == ['198.18.1.16', '198.18.2.200']
    assert cuts[0]['refused_by'] == ['pg_hba (TLS only, and this client connects without TLS although the server '
                                     'offers it)']
    result = lockout_guard.evaluate([cluster()], plan, {})
    assert result['cuts'] == []
    assert [note for note in result['notes'] if 'without TLS today' in note][0].startswith(
        "15/main: standby 198.18.1.16 (user replicator, replication, application '15/main', streaming) connects "
        "without TLS today and will need it")


SERVER_LOG = """\
2026-12-02 19:24:00.761 UTC [317] [unknown]@[unknown] LOG:  connection received: host=198.18.1.16 port=50000
2026-12-02 19:24:00.763 UTC [317] replicator@[unknown] LOG:  replication connection authorized: user=replicator application_name=15/main
2026-12-02 19:25:01.100 UTC [400] [unknown]@[unknown] LOG:  connection received: host=198.18.1.120 port=40000
2026-12-02 19:25:01.102 UTC [400] batch@appdb LOG:  connection authorized: user=batch database=appdb application_name=cron
2026-12-02 19:26:01.100 UTC [401] [unknown]@[unknown] LOG:  connection received: host=198.18.1.120 port=40001
2026-12-02 19:26:01.102 UTC [401] batch@appdb LOG:  connection authorized: user=batch database=appdb SSL enabled (protocol=TLSv1.3)
2026-12-02 19:27:00.000 UTC [402] [unknown]@[unknown] LOG:  connection received: host=[local]
2026-12-02 19:27:00.001 UTC [402] postgres@postgres LOG:  connection authorized: user=postgres database=postgres
"""


def test_the_server_log_adds_clients_that_logged_in_recently():
    from ansible_collections.pgsec.hardening.plugins.module_utils.facts.live import parse_connection_log
    assert parse_connection_log(SERVER_LOG) == [
        {'address': '198.18.1.120', 'user': 'batch', 'database': 'appdb', 'replication': False, 'count': 2},
        {'address': '198.18.1.16', 'user': 'replicator', 'database': None, 'replication': True, 'count': 1}]
    facts = parse_live(LIVE_ANSWER, parse_established(PROC_NET_TCP, 'inet', [5432]), SERVER_LOG)
    result = lockout_guard.evaluate([{'id': '15/main', 'running': True, 'live': facts}],
                                    guard_plan([APP, STANDBY, REPORT, PENDING], listen=('198.18.1.11', '198.18.2.11')),
                                    {'pgsec_lockout_cut': []})
    [cut] = result['cuts']
    assert (cut['address'], cut['user'], cut['state']) == ('198.18.1.120', 'batch', 'seen in the server log')


def test_discover_proposes_entries_that_pass_the_guard():
    import yaml
    from ansible_collections.pgsec.hardening.plugins.module_utils.discover import proposal_yaml
    facts = parse_live(LIVE_ANSWER, parse_established(PROC_NET_TCP, 'inet', [5432]), SERVER_LOG)
    host = {'clusters': [{'id': '15/main', 'running': True, 'live': facts}],
            'local_networks': ['127.0.0.1/8', '198.18.1.11/24', '198.18.2.11/24']}
    text = proposal_yaml(host, 'pg1', '2026-12-02T19:30:00Z')
    assert '# seen: 15/main 198.18.1.16 on 198.18.1.11/24: standby streaming' in text
    assert '# seen: 15/main 198.18.1.120 on 198.18.1.11/24: logged in (server log)' in text
    clients = yaml.safe_load(text)['pgsec_clients']
    assert {c['name']: (c['sources'], c.get('databases'), c.get('users')) for c in clients} == {
        'seen-connections': (['198.18.1.150/32'], None, None),
        'seen-app-appdb': (['198.18.1.100/32'], ['appdb'], ['app']),
        'seen-batch-appdb': (['198.18.1.120/32'], ['appdb'], ['batch']),
        'seen-replicator-replication': (['198.18.1.16/32'], ['replication'], ['replicator']),
        'seen-report-appdb': (['198.18.2.200/32'], ['appdb'], ['report']),
    }
    result = lockout_guard.evaluate([host['clusters'][0]],
                                    guard_plan(clients, listen=('198.18.1.11', '198.18.2.11')), {})
    assert result['cuts'] == []
