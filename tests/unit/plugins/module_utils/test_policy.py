# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy evaluation against facts recorded on the lab hosts and variants of them.

pg1 is the "insecure" profile (Debian 12, PostgreSQL 15), pg2 Debian defaults with two
clusters, pg3 a stopped Debian cluster next to a running PostgreSQL 18 built without
OpenSSL. ``secure_facts()`` turns pg2's first cluster into a host that satisfies the cis
profile; most tests break it in exactly one way and look at one control.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import policy
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.gather import passphrase_file_of
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.parse import parse_hba_text
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture

CLUSTER_CONTROLS = (
    'facts.complete', 'listen.not_wildcard', 'listen.within_policy', 'listen.auto_conf_override',
    'socket.permissions', 'socket.files', 'socket.directories', 'tls.enabled', 'tls.min_protocol', 'tls.ciphers',
    'tls.certificate', 'tls.key_file', 'tls.key_passphrase', 'tls.passphrase_store', 'hba.valid', 'hba.ssl_required',
    'hba.no_all_addresses', 'hba.range_size', 'hba.sources_within_policy', 'hba.auth_method',
    'hba.specific_targets', 'hba.no_remote_superuser', 'hba.localhost_tcp', 'hba.reject_unmatched',
    'live.clients_covered', 'auth.md5_secrets', 'config.loaded',
)
PORT_CONTROLS = ('firewall.port_filtered', 'firewall.sources_within_policy')
HOST_CONTROLS = ('firewall.active', 'manual.physical_access', 'manual.provider_attestation',
                 'manual.network_segregation')
FINDING_KEYS = {'id', 'host', 'cluster', 'subject', 'expected', 'actual', 'status', 'severity', 'reference',
                'title', 'remediation'}

CLIENT = {'name': 'app', 'sources': ['198.18.1.0/24'], 'databases': ['appdb'], 'users': ['app']}
SECURE_POLICY = {
    'pgsec_clients': [CLIENT],
    'pgsec_listen_addresses': ['198.18.1.12'],
    'pgsec_unix_socket_permissions': '0770',
    'pgsec_unix_socket_group': 'pgclients',
    'pgsec_firewall_backend': 'nftables',
    'pgsec_tls_ciphers': policy.CIS_DEFAULT_TLS_CIPHERS,
}
# What the cis profile writes: rejects per client network, none for every address (CIS 5.9).
SECURE_HBA = """\
local     all      postgres                    peer
local     all      all                         peer
hostnossl all      all      198.18.1.0/24      reject
hostssl   all      postgres 198.18.1.0/24      reject
hostssl   appdb    app      198.18.1.0/24      scram-sha-256
hostssl   all      all      198.18.1.0/24      reject
"""
# What the baseline profile writes: catch-all rejects at the end.
BASELINE_HBA = """\
local   all      postgres                    peer
local   all      all                         peer
hostssl appdb    app      198.18.1.0/24      scram-sha-256
host    all      all      0.0.0.0/0          reject
host    all      all      ::/0               reject
"""
PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----'


# ---------------------------------------------------------------------------- helpers

def load(name):
    return json.loads(read_fixture('facts', name + '.json'))


def cluster_of(facts, cluster_id='15/main'):
    return next(cluster for cluster in facts['clusters'] if cluster['id'] == cluster_id)


def set_setting(cluster, name, value, **extra):
    entry = cluster['settings'].setdefault(name, {'context': 'sighup', 'source': 'configuration file',
                                                  'pending_restart': False, 'from_auto_conf': False})
    entry['value'] = value
    entry.update(extra)


def set_hba(cluster, text):
    parsed = parse_hba_text(text, cluster['hba']['file'])
    cluster['hba'].update(rules=parsed['rules'], errors=parsed['errors'], valid=parsed['valid'])


def port_summary(port, v4_default='drop', v4_allowed=(), v6_default='drop', v6_allowed=()):
    def family(default, allowed, everything):
        return {'default': default, 'filtered': default != 'accept',
                'allowed_sources': [everything] if default == 'accept' else list(allowed), 'denied_sources': []}
    return {'port': port, 'protocol': 'tcp', 'ipv4': family(v4_default, v4_allowed, '0.0.0.0/0'),
            'ipv6': family(v6_default, v6_allowed, '::/0'), 'conditional': [], 'rules': [], 'policies': []}


def secure_facts(hba=SECURE_HBA):
    """pg2 reduced to 15/main and hardened: what the cis profile with SECURE_POLICY wants (BASELINE_HBA: baseline)."""
    facts = load('pg2')
    facts['clusters'] = [cluster_of(facts)]
    cluster = facts['clusters'][0]
    set_setting(cluster, 'listen_addresses', '198.18.1.12')
    set_setting(cluster, 'unix_socket_permissions', '0770')
    set_setting(cluster, 'unix_socket_group', 'pgclients')
    set_setting(cluster, 'ssl_min_protocol_version', 'TLSv1.3')
    set_setting(cluster, 'ssl_ciphers', policy.CIS_DEFAULT_TLS_CIPHERS)
    set_setting(cluster, 'ssl_passphrase_command', '/bin/cat /run/pgsec-tls/15-main/passphrase')
    cluster['tls']['passphrase_source'] = {'path': '/run/pgsec-tls/15-main/passphrase', 'file': {
        'path': '/run/pgsec-tls/15-main/passphrase', 'exists': True, 'type': 'file', 'owner': 'postgres',
        'group': 'postgres', 'uid': 101, 'gid': 103, 'mode': '0400'}}
    cluster['listeners']['tcp'] = [{'address': '198.18.1.12', 'family': 'inet', 'inode': 1, 'path': None,
                                    'port': 5432, 'uid': 101, 'wildcard': False}]
    cluster['listeners']['unix'][0]['stat'].update(mode='0770', group='pgclients')
    cluster['tls']['files']['ssl_key_file'].update(owner='postgres', group='postgres', mode='0600')
    cluster['tls']['key'].update(readable=False, matches_certificate=None, error='bad decrypt',
                                 error_kind='encrypted')
    set_hba(cluster, hba)
    cluster['live'] = {'sessions': [], 'replication': [], 'slots': [], 'md5_roles': [], 'in_recovery': False,
                       'connections': [], 'seen_in_log': []}
    cluster['changed_since_load'] = []
    facts['firewall'] = {'backend': 'nftables', 'active': ['nftables'], 'details': {},
                         'ports': {'5432': port_summary(5432, v4_allowed=['198.18.1.0/24'])}}
    return facts


def evaluate(facts, user_policy=None, profile=None, **kwargs):
    merged = dict(user_policy if user_policy is not None else SECURE_POLICY)
    if profile:
        merged['pgsec_profile'] = profile
    return policy.evaluate(facts, merged, host='db1', **kwargs)


def find(findings, control_id, cluster='15/main'):
    if control_id in PORT_CONTROLS + HOST_CONTROLS:
        cluster = None
    matches = [item for item in findings if item['id'] == control_id and item['cluster'] == cluster]
    assert len(matches) == 1, (control_id, cluster, matches)
    return matches[0]


def check(facts, control_id, user_policy=None, profile='cis', **kwargs):
    return find(evaluate(facts, user_policy, profile, **kwargs), control_id)


def by_key(findings):
    return dict(((item['id'], item['cluster']), item) for item in findings)


# ---------------------------------------------------------------------------- shape

def test_catalogue_ids_are_stable():
    assert policy.CONTROL_IDS == CLUSTER_CONTROLS + ('firewall.active',) + PORT_CONTROLS + HOST_CONTROLS[1:]
    assert [control['id'] for control in policy.controls()] == list(policy.CONTROL_IDS)
    for control in policy.controls():
        assert control['severity'] in policy.SEVERITIES
        assert control['scope'] in ('cluster', 'port', 'host')
        assert control['title'] and control['reference'] and control['remediation']


@pytest.mark.parametrize('control_id, reference', [
    ('listen.not_wildcard', 'CIS PostgreSQL 17 v1.0.0 5.2'),
    ('socket.permissions', 'pgdsat 2.6'),
    ('tls.min_protocol', 'CIS PostgreSQL 17 v1.0.0 6.9'),
    ('tls.ciphers', 'CIS PostgreSQL 17 v1.0.0 6.10'),
    ('tls.key_passphrase', 'CIS PostgreSQL 17 v1.0.0 6.8'),
    ('hba.no_all_addresses', 'CIS PostgreSQL 17 v1.0.0 5.9'),
    ('hba.specific_targets', 'CIS PostgreSQL 17 v1.0.0 5.10'),
    ('hba.no_remote_superuser', 'CIS PostgreSQL 17 v1.0.0 5.11'),
    ('hba.localhost_tcp', 'CIS PostgreSQL 17 v1.0.0 5.8'),
])
def test_references(control_id, reference):
    control = next(item for item in policy.controls() if item['id'] == control_id)
    assert control['reference'] == reference


def test_auth_method_reference_names_all_three_cis_controls():
    control = next(item for item in policy.controls() if item['id'] == 'hba.auth_method')
    assert control['reference'].startswith('CIS PostgreSQL 17 v1.0.0 5.4, 5.12') and '5.3' in control['reference']


@pytest.mark.parametrize('name', ['pg1', 'pg2', 'pg3'])
@pytest.mark.parametrize('profile', ['baseline', 'cis'])
def test_one_finding_per_control_per_cluster(name, profile):
    facts = load(name)
    findings = policy.evaluate(facts, {'pgsec_profile': profile}, host=name)
    json.dumps(findings)  # JSON-able
    ports = sorted(set(int(port) for port in facts['firewall']['ports']))
    expected = [(control, cluster['id']) for cluster in facts['clusters'] for control in CLUSTER_CONTROLS]
    expected += [(control, None) for port in ports for control in PORT_CONTROLS]
    expected += [(control, None) for control in HOST_CONTROLS]
    assert [(item['id'], item['cluster']) for item in findings] == expected
    for item in findings:
        assert set(item) == FINDING_KEYS
        assert item['host'] == name
        assert item['status'] in policy.STATUSES
        assert item['severity'] in policy.SEVERITIES
        for field in ('subject', 'expected', 'actual', 'title', 'reference', 'remediation'):
            assert isinstance(item[field], str) and item[field], (item['id'], field)


def test_firewall_findings_once_per_port():
    findings = policy.evaluate(load('pg2'), {}, host='pg2')
    ports = [item['subject'] for item in findings if item['id'] == 'firewall.port_filtered']
    assert ports == ['tcp/5432', 'tcp/5433']
    assert [item['subject'] for item in findings if item['id'] == 'firewall.active'] == ['host firewall']


def test_host_is_left_for_the_caller_by_default():
    assert {item['host'] for item in policy.evaluate(load('pg1'), {})} == {None}


def test_facts_may_be_wrapped_in_pgsec():
    facts = load('pg1')
    assert policy.evaluate({'pgsec': facts}, {}) == policy.evaluate(facts, {})


# ---------------------------------------------------------------------------- recorded hosts

def test_insecure_host_fails_what_it_should():
    findings = policy.evaluate(load('pg1'), {}, host='pg1')
    failed = {item['id'] for item in findings if item['status'] == 'fail'}
    for control_id in ('listen.not_wildcard', 'socket.permissions', 'socket.files', 'tls.enabled',
                       'hba.no_all_addresses', 'hba.ssl_required', 'hba.auth_method', 'hba.range_size',
                       'firewall.active', 'firewall.port_filtered', 'firewall.sources_within_policy'):
        assert control_id in failed, control_id
    wildcard = find(findings, 'listen.not_wildcard')
    assert "'*'" in wildcard['actual'] and '0.0.0.0:5432' in wildcard['actual'] and '[::]:5432' in wildcard['actual']
    assert wildcard['severity'] == 'high'
    assert '0777' in find(findings, 'socket.permissions')['actual']
    assert find(findings, 'tls.enabled')['actual'].startswith('ssl = off')
    no_all = find(findings, 'hba.no_all_addresses')
    assert '0.0.0.0/0 md5' in no_all['actual'] and '::/0 md5' in no_all['actual']
    assert find(findings, 'firewall.active')['actual'] == 'no firewall is active'
    assert find(findings, 'firewall.port_filtered')['severity'] == 'high'  # it listens on every address


def test_debian_defaults():
    findings = by_key(policy.evaluate(load('pg2'), {}, host='pg2'))
    for cluster in ('15/main', '15/second'):
        assert findings[('listen.not_wildcard', cluster)]['status'] == 'pass'
        assert findings[('tls.enabled', cluster)]['status'] == 'pass'
        assert findings[('socket.permissions', cluster)]['status'] == 'fail'  # Debian keeps 0777
        # no clients: Unix sockets only, so 'localhost' is (mild) drift
        within = findings[('listen.within_policy', cluster)]
        assert (within['status'], within['severity']) == ('fail', 'low')
        assert findings[('tls.key_file', cluster)]['severity'] == 'low'  # root:ssl-cert 0640
    # the port is open in the firewall but only loopback listens
    assert all(item['severity'] == 'low' for key, item in findings.items() if key[0] == 'firewall.port_filtered')


def test_stopped_cluster_uses_settings_and_says_so():
    findings = by_key(policy.evaluate(load('pg3'), {}, host='pg3'))
    wildcard = findings[('listen.not_wildcard', '15/main')]
    assert wildcard['status'] == 'pass' and 'server not running' in wildcard['actual']
    files = findings[('socket.files', '15/main')]
    assert files['status'] == 'error' and 'server not running' in files['actual']
    # postgres --describe-config printed 0 for the default: the compiled default 0777 is assumed
    permissions = findings[('socket.permissions', '15/main')]
    assert permissions['status'] == 'fail' and "compiled default" in permissions['actual']
    assert findings[('tls.enabled', '15/main')]['status'] == 'pass'
    assert 'ssl_library unknown' in findings[('tls.enabled', '15/main')]['actual']


def test_server_without_openssl():
    findings = by_key(policy.evaluate(load('pg3'), {}, host='pg3'))
    cluster = '/var/lib/pgsql/18/data'
    enabled = findings[('tls.enabled', cluster)]
    assert enabled['status'] == 'fail'
    assert 'built without SSL support (ssl_library is empty)' in enabled['actual']
    for control_id in ('tls.min_protocol', 'tls.ciphers', 'tls.certificate', 'tls.key_file', 'tls.key_passphrase'):
        item = findings[(control_id, cluster)]
        assert (item['status'], item['severity']) == ('manual', 'info'), control_id
        assert 'without SSL support' in item['actual']
    directories = findings[('socket.directories', cluster)]
    assert directories['status'] == 'fail' and '/tmp' in directories['actual']


def test_baseline_and_cis_differ_exactly_where_intended():
    changed = {}
    for name in ('pg1', 'pg2', 'pg3'):
        baseline = by_key(policy.evaluate(load(name), {'pgsec_profile': 'baseline'}))
        cis = by_key(policy.evaluate(load(name), {'pgsec_profile': 'cis'}))
        assert set(baseline) == set(cis)
        for key in baseline:
            before = (baseline[key]['status'], baseline[key]['severity'])
            after = (cis[key]['status'], cis[key]['severity'])
            if before != after:
                changed.setdefault(key[0], set()).add((before, after))
    assert changed == {
        'tls.min_protocol': {(('pass', 'medium'), ('fail', 'medium'))},
        'tls.key_passphrase': {(('manual', 'info'), ('fail', 'medium'))},
        'hba.specific_targets': {(('pass', 'info'), ('fail', 'medium'))},
        'hba.no_remote_superuser': {(('manual', 'medium'), ('fail', 'high'))},
        'hba.localhost_tcp': {(('pass', 'info'), ('fail', 'low'))},
        'hba.ssl_required': {(('pass', 'high'), ('fail', 'high'))},  # loopback host lines: exempt in baseline only
    }


@pytest.mark.parametrize('profile, hba', [('baseline', BASELINE_HBA), ('cis', SECURE_HBA)])
def test_secure_host_has_no_drift(profile, hba):
    findings = evaluate(secure_facts(hba), profile=profile)
    problems = [(item['id'], item['actual']) for item in findings if item['status'] in ('fail', 'error')]
    assert problems == []
    manual = {item['id'] for item in findings if item['status'] == 'manual'}
    expected = {'manual.physical_access', 'manual.provider_attestation', 'manual.network_segregation'}
    if profile == 'baseline':
        expected.add('tls.key_passphrase')
    assert manual == expected


# ---------------------------------------------------------------------------- listen

def test_listen_wildcard_setting():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'listen_addresses', '0.0.0.0')
    item = check(facts, 'listen.not_wildcard')
    assert item['status'] == 'fail' and "listen_addresses = '0.0.0.0'" in item['actual']


def test_listen_wildcard_live_only():
    facts = secure_facts()
    cluster_of(facts)['listeners']['tcp'][0].update(address='::', family='inet6', wildcard=True)
    item = check(facts, 'listen.not_wildcard')
    assert item['status'] == 'fail' and 'live wildcard listeners: [::]:5432' in item['actual']


def test_listen_wildcard_pending_restart():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'listen_addresses', '198.18.1.12', file_value='*', file='/etc/x.conf', line=3)
    item = check(facts, 'listen.not_wildcard')
    assert item['status'] == 'fail' and "configuration files (after restart) = '*'" in item['actual']


def test_listen_specific_passes():
    item = check(secure_facts(), 'listen.not_wildcard')
    assert item['status'] == 'pass' and '198.18.1.12:5432' in item['actual']


def test_listen_within_policy_explicit():
    assert check(secure_facts(), 'listen.within_policy')['status'] == 'pass'
    facts = secure_facts()
    set_setting(cluster_of(facts), 'listen_addresses', '198.18.1.12,198.18.2.12')
    item = check(facts, 'listen.within_policy')
    assert (item['status'], item['severity']) == ('fail', 'medium') and 'not wanted: 198.18.2.12' in item['actual']


def test_listen_within_policy_missing_live_address():
    facts = secure_facts()
    cluster_of(facts)['listeners']['tcp'] = []
    item = check(facts, 'listen.within_policy')
    assert (item['status'], item['severity']) == ('fail', 'low') and 'missing: 198.18.1.12' in item['actual']


def test_listen_sockets_only_without_clients():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'listen_addresses', '')
    cluster_of(facts)['listeners']['tcp'] = []
    item = check(facts, 'listen.within_policy', {}, profile='baseline')
    assert item['status'] == 'pass' and 'Unix sockets only' in item['expected']
    set_setting(cluster_of(facts), 'listen_addresses', 'localhost')
    item = check(facts, 'listen.within_policy', {}, profile='baseline')
    assert (item['status'], item['severity']) == ('fail', 'low')


def test_listen_derived_from_local_networks():
    user = dict(SECURE_POLICY, pgsec_listen_addresses=None)
    networks = ['127.0.0.1/8', '198.18.0.12/24', '198.18.1.12/24', '198.18.2.12/24']
    assert check(secure_facts(), 'listen.within_policy', user, local_networks=networks)['status'] == 'pass'
    facts = secure_facts()
    facts['local_networks'] = ['198.18.1.13/24']
    item = check(facts, 'listen.within_policy', user)
    assert item['status'] == 'fail' and "'198.18.1.13'" in item['expected']


def test_listen_clients_without_interface_facts():
    user = dict(SECURE_POLICY, pgsec_listen_addresses=None)
    item = check(secure_facts(), 'listen.within_policy', user)
    assert item['status'] == 'error' and 'interface addresses' in item['actual']
    facts = secure_facts()
    set_setting(cluster_of(facts), 'listen_addresses', 'localhost')
    cluster_of(facts)['listeners']['tcp'][0].update(address='127.0.0.1')
    item = check(facts, 'listen.within_policy', user)
    assert (item['status'], item['severity']) == ('fail', 'low') and 'cannot connect' in item['actual']


def test_listen_addresses_for_clients():
    clients = [{'sources': ['198.18.1.100/32', '2001:db8:5::/64']}]
    networks = ['127.0.0.1/8', '198.18.0.11/24', '198.18.1.11/24', '2001:db8:5::11/64', '::1/128']
    assert policy.listen_addresses_for_clients(clients, networks) == ['198.18.1.11', '2001:db8:5::11']
    assert policy.listen_addresses_for_clients([], networks) == []
    assert policy.listen_addresses_for_clients([{'sources': ['10.0.0.0/8']}], networks) is None
    # a client network wider than the interface's still reaches it
    assert policy.listen_addresses_for_clients([{'sources': ['198.18.0.0/15']}], networks[:3]) == [
        '198.18.0.11', '198.18.1.11']


def test_auto_conf_override():
    facts = secure_facts()
    cluster = cluster_of(facts)
    set_setting(cluster, 'ssl', 'off', from_auto_conf=True)
    set_setting(cluster, 'ssl_passphrase_command', 'echo hunter2', from_auto_conf=True)
    set_setting(cluster, 'password_encryption', 'md5', from_auto_conf=True)
    item = check(facts, 'listen.auto_conf_override')
    assert (item['status'], item['severity']) == ('fail', 'medium')
    assert "ssl = 'off'" in item['actual'] and 'ssl_passphrase_command = (set, value hidden)' in item['actual']
    assert "password_encryption = 'md5'" in item['actual']
    assert 'hunter2' not in json.dumps(evaluate(facts))
    assert check(secure_facts(), 'listen.auto_conf_override')['status'] == 'pass'


def test_auto_conf_override_by_sourcefile():
    facts = load('pg3')
    cluster = cluster_of(facts, '/var/lib/pgsql/18/data')
    set_setting(cluster, 'listen_addresses', '*', sourcefile=cluster['auto_conf_file'])
    item = find(policy.evaluate(facts, {}), 'listen.auto_conf_override', '/var/lib/pgsql/18/data')
    assert item['status'] == 'fail' and "listen_addresses = '*'" in item['actual']


# ---------------------------------------------------------------------------- sockets

def test_socket_permissions_world_accessible():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'unix_socket_permissions', '0777')
    item = check(facts, 'socket.permissions', profile='baseline')
    assert (item['status'], item['severity']) == ('fail', 'high') and 'every local user' in item['actual']


def test_socket_permissions_cis_needs_group_for_0770():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'unix_socket_group', '')
    user = dict(SECURE_POLICY, pgsec_unix_socket_group='')
    assert check(facts, 'socket.permissions', user, profile='baseline')['status'] == 'pass'
    item = check(facts, 'socket.permissions', user, profile='cis')
    assert (item['status'], item['severity']) == ('fail', 'medium') and 'unix_socket_group' in item['actual']


def test_socket_permissions_cis_default_is_0700():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'unix_socket_permissions', '0700')
    set_setting(cluster_of(facts), 'unix_socket_group', '')
    user = dict(SECURE_POLICY)
    del user['pgsec_unix_socket_permissions']
    del user['pgsec_unix_socket_group']
    assert check(facts, 'socket.permissions', user, profile='cis')['status'] == 'pass'
    item = check(facts, 'socket.permissions', user, profile='baseline')  # baseline wants 0770
    assert (item['status'], item['severity']) == ('fail', 'low')


def test_socket_permissions_cis_rejects_0750():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'unix_socket_permissions', '0750')
    user = dict(SECURE_POLICY, pgsec_unix_socket_permissions='0750')
    assert check(facts, 'socket.permissions', user, profile='baseline')['status'] == 'pass'
    assert check(facts, 'socket.permissions', user, profile='cis')['severity'] == 'medium'


def test_socket_files():
    facts = secure_facts()
    cluster_of(facts)['listeners']['unix'][0]['stat'].update(mode='0777', group='postgres')
    item = check(facts, 'socket.files')
    assert (item['status'], item['severity']) == ('fail', 'high')
    assert 'world-accessible' in item['actual'] and 'group is not pgclients' in item['actual']
    assert check(secure_facts(), 'socket.files')['status'] == 'pass'


def test_socket_file_removed():
    facts = secure_facts()
    socket = cluster_of(facts)['listeners']['unix'][0]
    socket['stat'] = {'path': socket['path'], 'exists': False}
    item = check(facts, 'socket.files')
    assert (item['status'], item['severity']) == ('fail', 'medium') and 'is gone' in item['actual']


def test_socket_files_stopped_server_is_an_error():
    facts = secure_facts()
    cluster_of(facts)['running'] = False
    item = check(facts, 'socket.files')
    assert item['status'] == 'error' and 'not running' in item['actual']


def test_socket_directory_world_writable():
    facts = secure_facts()
    cluster_of(facts)['socket_directories'][0]['mode'] = '0777'
    item = check(facts, 'socket.directories')
    assert (item['status'], item['severity']) == ('fail', 'high') and 'without the sticky bit' in item['actual']
    cluster_of(facts)['socket_directories'][0]['mode'] = '1777'
    item = check(facts, 'socket.directories')
    assert (item['status'], item['severity']) == ('fail', 'low') and 'impersonate' in item['actual']


def test_socket_directories_as_policy():
    user = dict(SECURE_POLICY, pgsec_socket_directories=[{'path': '/run/postgresql', 'group': 'postgres',
                                                          'mode': '2775'}])
    assert check(secure_facts(), 'socket.directories', user)['status'] == 'pass'  # /var/run is /run
    user['pgsec_socket_directories'] = [{'path': '/run/postgresql', 'group': 'pgclients', 'mode': '2750'},
                                        {'path': '/run/postgresql-app'}]
    item = check(secure_facts(), 'socket.directories', user)
    assert (item['status'], item['severity']) == ('fail', 'low')
    assert 'mode 2775, policy 2750' in item['actual'] and 'group postgres, policy pgclients' in item['actual']
    assert '/run/postgresql-app (pgsec_socket_directories) is not in unix_socket_directories' in item['actual']


def test_socket_directory_missing():
    facts = secure_facts()
    cluster_of(facts)['socket_directories'] = [{'path': '/run/pg', 'exists': False}]
    item = check(facts, 'socket.directories')
    assert item['status'] == 'fail' and '/run/pg does not exist' in item['actual']


# ---------------------------------------------------------------------------- TLS

def test_tls_disabled():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl', 'off')
    item = check(facts, 'tls.enabled')
    assert (item['status'], item['severity']) == ('fail', 'high') and item['actual'].startswith('ssl = off')
    # the other TLS controls still judge what ssl = on would use
    assert check(facts, 'tls.certificate')['status'] == 'pass'


def test_tls_not_required_by_policy():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl', 'off')
    user = dict(SECURE_POLICY, pgsec_tls_enabled=False)
    findings = by_key(evaluate(facts, user, profile='baseline'))
    assert findings[('tls.enabled', '15/main')]['status'] == 'pass'
    for control_id in ('tls.min_protocol', 'tls.ciphers', 'tls.certificate', 'tls.key_file', 'hba.ssl_required'):
        assert findings[(control_id, '15/main')]['status'] == 'manual', control_id


def test_tls_without_ssl_library():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl_library', '')
    item = check(facts, 'tls.enabled')
    assert item['status'] == 'fail' and 'cannot serve TLS' in item['actual']
    assert check(facts, 'tls.ciphers')['status'] == 'manual'


@pytest.mark.parametrize('value, profile, status, severity', [
    ('TLSv1.3', 'cis', 'pass', 'medium'),
    ('TLSv1.2', 'cis', 'fail', 'medium'),
    ('TLSv1.2', 'baseline', 'pass', 'medium'),
    ('TLSv1.3', 'baseline', 'pass', 'medium'),
    ('TLSv1.1', 'baseline', 'fail', 'high'),
    ('TLSv1', 'baseline', 'fail', 'high'),
    ('', 'baseline', 'fail', 'high'),
])
def test_tls_min_protocol(value, profile, status, severity):
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl_min_protocol_version', value)
    item = check(facts, 'tls.min_protocol', profile=profile)
    assert (item['status'], item['severity']) == (status, severity)


def test_tls_max_protocol_below_minimum():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl_min_protocol_version', 'TLSv1.2')
    set_setting(cluster_of(facts), 'ssl_max_protocol_version', 'TLSv1.2')
    item = check(facts, 'tls.min_protocol', profile='cis')
    assert item['status'] == 'fail' and 'maximum is below' in item['actual']


def test_tls_ciphers_debian_default():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl_min_protocol_version', 'TLSv1.2')
    set_setting(cluster_of(facts), 'ssl_ciphers', 'HIGH:MEDIUM:+3DES:!aNULL')
    item = check(facts, 'tls.ciphers', profile='baseline')
    assert (item['status'], item['severity']) == ('fail', 'medium')
    assert '3DES (via MEDIUM)' in item['actual'] and 'RC4 (via MEDIUM)' in item['actual']
    assert 'aNULL' not in item['actual'].split('may enable')[1]


def test_tls_ciphers_null_is_high():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl_min_protocol_version', 'TLSv1.2')
    set_setting(cluster_of(facts), 'ssl_ciphers', 'ALL:eNULL')
    item = check(facts, 'tls.ciphers', profile='baseline')
    assert (item['status'], item['severity']) == ('fail', 'high') and 'eNULL' in item['actual']


def test_tls_ciphers_moot_under_tls13_only():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl_ciphers', 'HIGH:MEDIUM:+3DES:!aNULL')
    item = check(facts, 'tls.ciphers', profile='cis')
    assert (item['status'], item['severity']) == ('fail', 'low') and 'not negotiable' in item['actual']


def test_tls_ciphers_strong_but_not_policy():
    facts = secure_facts()
    set_setting(cluster_of(facts), 'ssl_ciphers', 'ECDHE+AESGCM:!aNULL')
    item = check(facts, 'tls.ciphers')
    assert (item['status'], item['severity']) == ('fail', 'low') and 'differs from pgsec_tls_ciphers' in item['actual']
    assert check(secure_facts(), 'tls.ciphers')['status'] == 'pass'


@pytest.mark.parametrize('cipher_string, weak', [
    (policy.DEFAULT_TLS_CIPHERS, []),
    ('HIGH:!aNULL:!MD5:!3DES:!RC4:!SHA1', []),
    ('HIGH', ['aNULL']),
    ('HIGH:-aNULL', []),
    ('HIGH:-aNULL:ADH-AES256-GCM-SHA384', ['aNULL']),   # '-' can be undone, '!' cannot
    ('HIGH:!aNULL:ADH-AES256-GCM-SHA384', []),
    ('HIGH:MEDIUM:+3DES:!aNULL', ['3DES', 'MD5', 'RC4']),
    ('ECDHE-RSA-AES128-GCM-SHA256:DES-CBC3-SHA', ['3DES']),
    ('ECDHE-RSA-AES128-GCM-SHA256:EXP-RC4-MD5', ['EXPORT', 'MD5', 'RC4']),
    ('ECDHE+AESGCM', []),
    ('RSA+AES', []),
    ('kRSA', ['3DES', 'DES', 'EXPORT', 'MD5', 'RC4', 'eNULL']),
    ('DEFAULT', ['3DES', 'DES', 'EXPORT', 'MD5', 'RC4']),
    ('TLS_AES_256_GCM_SHA384', []),
    ('@SECLEVEL=2:HIGH:!aNULL', []),
])
def test_weak_cipher_classes(cipher_string, weak):
    assert sorted(policy.weak_cipher_classes(cipher_string)['weak']) == weak


def test_weak_cipher_classes_reports_unknown_aliases():
    assert policy.weak_cipher_classes('HIGH:!aNULL:BOGUS')['unknown'] == ['BOGUS']


def test_certificate_passes_and_describes():
    item = check(secure_facts(), 'tls.certificate')
    assert item['status'] == 'pass'
    assert 'CN=vm' in item['actual'] and 'self-signed' in item['actual'] and '3649 days left' in item['actual']


@pytest.mark.parametrize('change, severity, text', [
    ({'expired': True, 'days_left': -3}, 'critical', 'expired'),
    ({'not_yet_valid': True}, 'high', 'not valid yet'),
    ({'days_left': 12}, 'medium', 'expires in 12 days'),
    ({'key_bits': 1024}, 'medium', 'weak RSA key of 1024 bits'),
    ({'signature_algorithm': 'sha1WithRSAEncryption'}, 'medium', 'weak signature algorithm'),
])
def test_certificate_problems(change, severity, text):
    facts = secure_facts()
    cluster_of(facts)['tls']['certificate'].update(change)
    item = check(facts, 'tls.certificate')
    assert (item['status'], item['severity']) == ('fail', severity) and text in item['actual']


def test_certificate_warn_window_is_policy():
    facts = secure_facts()
    cluster_of(facts)['tls']['certificate']['days_left'] = 40
    assert check(facts, 'tls.certificate')['status'] == 'pass'
    user = dict(SECURE_POLICY, pgsec_tls_cert_warn_days=60)
    assert check(facts, 'tls.certificate', user)['status'] == 'fail'


def test_certificate_key_mismatch():
    facts = secure_facts()
    cluster_of(facts)['tls']['key'].update(readable=True, matches_certificate=False, error=None, error_kind=None)
    item = check(facts, 'tls.certificate')
    assert (item['status'], item['severity']) == ('fail', 'high') and 'KEY DOES NOT MATCH' in item['actual']


def test_certificate_chain():
    facts = secure_facts()
    cluster = cluster_of(facts)
    set_setting(cluster, 'ssl_ca_file', '/etc/ssl/ca.pem')
    cluster['tls']['files']['ssl_ca_file'] = {'path': '/etc/ssl/ca.pem', 'exists': True, 'mode': '0644'}
    cluster['tls']['chain'] = {'ca_path': '/etc/ssl/ca.pem', 'ok': False,
                               'errors': [{'code': 20, 'depth': 0, 'message': 'unable to get local issuer certificate'}]}
    item = check(facts, 'tls.certificate')
    assert (item['status'], item['severity']) == ('fail', 'medium') and 'unable to get local issuer' in item['actual']
    cluster['tls']['chain'] = {'ca_path': '/etc/ssl/ca.pem', 'ok': True, 'errors': []}
    assert check(facts, 'tls.certificate')['status'] == 'pass'


def test_certificate_missing_or_unreadable():
    facts = secure_facts()
    cluster = cluster_of(facts)
    cluster['tls']['files']['ssl_cert_file'] = {'path': '/etc/ssl/certs/ssl-cert-snakeoil.pem', 'exists': False}
    cluster['tls']['certificate'] = None
    item = check(facts, 'tls.certificate')
    assert item['status'] == 'fail' and 'does not exist' in item['actual']
    facts = secure_facts()
    cluster_of(facts)['tls']['certificate'] = {'path': 'x', 'readable': False, 'error': 'Could not read certificate'}
    item = check(facts, 'tls.certificate')
    assert item['status'] == 'error' and 'Could not read certificate' in item['actual']


@pytest.mark.parametrize('owner, group, mode, status, severity', [
    ('postgres', 'postgres', '0600', 'pass', 'high'),
    ('postgres', 'postgres', '0400', 'pass', 'high'),
    ('root', 'postgres', '0640', 'pass', 'high'),
    ('root', 'ssl-cert', '0640', 'fail', 'low'),
    ('root', 'root', '0600', 'pass', 'high'),
    ('postgres', 'postgres', '0640', 'fail', 'high'),
    ('root', 'postgres', '0660', 'fail', 'high'),
    ('postgres', 'postgres', '0644', 'fail', 'critical'),
    ('www-data', 'www-data', '0600', 'fail', 'high'),
])
def test_key_file_permissions(owner, group, mode, status, severity):
    facts = secure_facts()
    cluster_of(facts)['tls']['files']['ssl_key_file'].update(owner=owner, group=group, mode=mode)
    item = check(facts, 'tls.key_file')
    assert (item['status'], item['severity']) == (status, severity)


def test_key_file_symlink_and_missing():
    facts = secure_facts()
    cluster_of(facts)['tls']['files']['ssl_key_file'].update(type='link', mode='0777')
    assert check(facts, 'tls.key_file')['status'] == 'error'
    facts = secure_facts()
    cluster_of(facts)['tls']['files']['ssl_key_file'] = {'path': '/x.key', 'exists': False}
    item = check(facts, 'tls.key_file')
    assert item['status'] == 'fail' and 'does not exist' in item['actual']


def test_key_passphrase():
    facts = secure_facts()
    assert check(facts, 'tls.key_passphrase', profile='cis')['status'] == 'pass'
    item = check(facts, 'tls.key_passphrase', profile='baseline')
    assert (item['status'], item['severity']) == ('manual', 'info')
    assert '/run/pgsec-tls' not in item['actual'] and 'value hidden' in item['actual']
    set_setting(cluster_of(facts), 'ssl_passphrase_command', '')
    for profile in ('baseline', 'cis'):  # an encrypted key without a command cannot be loaded unattended
        item = check(facts, 'tls.key_passphrase', profile=profile)
        assert (item['status'], item['severity']) == ('fail', 'medium')


def test_passphrase_store():
    facts = secure_facts()
    item = check(facts, 'tls.passphrase_store')
    assert item['status'] == 'pass' and 'in memory' in item['actual']
    source = cluster_of(facts)['tls']['passphrase_source']

    def stored(path, owner='root', mode='0440', exists=True):
        set_setting(cluster_of(facts), 'ssl_passphrase_command', '/bin/cat ' + path)
        source.update(path=path, file={'path': path, 'exists': exists, 'type': 'file', 'owner': owner,
                                       'group': 'postgres', 'mode': mode})
        return check(facts, 'tls.passphrase_store')

    # Where older releases kept it: beside the key, inside the configuration directory.
    item = stored('/etc/postgresql/15/main/pgsec-tls/passphrase', owner='postgres', mode='0400')
    assert (item['status'], item['severity']) == ('fail', 'high')
    assert 'lies in the configuration directory /etc/postgresql/15/main: a copy of it carries' in item['actual']
    assert 'data directory' in stored('/var/lib/postgresql/15/main/pass')['actual']
    assert stored('/etc/pgsec/passphrase/15-main')['status'] == 'pass'
    item = stored('/etc/pgsec/passphrase/15-main', owner='postgres', mode='0400')
    assert (item['status'], item['severity']) == ('fail', 'low')
    assert (stored('/srv/pass', mode='0444')['severity']) == 'high'
    item = stored('/srv/gone', exists=False)
    assert item['status'] == 'fail' and 'cannot unlock its key at the next start' in item['actual']
    set_setting(cluster_of(facts), 'ssl_passphrase_command', '/usr/local/sbin/vault-passphrase')
    source.update(path=None, file=None)
    assert (check(facts, 'tls.passphrase_store')['status'], check(facts, 'tls.passphrase_store')['severity']) == \
        ('manual', 'info')
    set_setting(cluster_of(facts), 'ssl_passphrase_command', '')
    assert check(facts, 'tls.passphrase_store')['status'] == 'pass'


def test_the_file_a_passphrase_command_prints():
    assert passphrase_file_of('/bin/cat /run/pgsec-tls/15-main/passphrase') == '/run/pgsec-tls/15-main/passphrase'
    assert passphrase_file_of("cat '/srv/my tls/50%%/p'") == '/srv/my tls/50%/p'
    for command in ('/usr/local/sbin/get-pass', 'cat relative/path', 'echo hunter2', 'cat "unbalanced',
                    'sh -c "cat /x"'):
        assert passphrase_file_of(command) is None, command


def test_key_passphrase_cis_unencrypted_key():
    facts = load('pg2')
    item = find(policy.evaluate(facts, {'pgsec_profile': 'cis'}), 'tls.key_passphrase')
    assert item['status'] == 'fail' and 'ssl_passphrase_command is empty' in item['actual']
    set_setting(cluster_of(facts), 'ssl_passphrase_command', 'cat /x')
    item = find(policy.evaluate(facts, {'pgsec_profile': 'cis'}), 'tls.key_passphrase')
    assert (item['status'], item['severity']) == ('fail', 'low') and 'never used' in item['actual']


# ---------------------------------------------------------------------------- pg_hba

def test_hba_valid():
    facts = secure_facts()
    set_hba(cluster_of(facts), SECURE_HBA + 'host all all 10.0.0.0/8 md4\n')
    item = check(facts, 'hba.valid')
    assert item['status'] == 'fail' and 'invalid authentication method "md4"' in item['actual']
    facts = secure_facts()
    cluster_of(facts)['hba']['server_errors'] = [{'line_number': 7, 'error': 'hostssl record cannot match'}]
    item = check(facts, 'hba.valid')
    assert item['status'] == 'fail' and 'server: line 7' in item['actual']
    assert check(secure_facts(), 'hba.valid')['actual'] == '6 rules, no errors'


def test_hba_valid_missing_file():
    facts = secure_facts()
    cluster_of(facts)['hba']['stat'] = {'path': '/etc/pg_hba.conf', 'exists': False}
    assert check(facts, 'hba.valid')['status'] == 'fail'


def test_hba_ssl_required():
    facts = secure_facts()
    set_hba(cluster_of(facts), SECURE_HBA.replace('hostssl', 'host   '))
    item = check(facts, 'hba.ssl_required')
    assert (item['status'], item['severity']) == ('fail', 'high') and '198.18.1.0/24' in item['actual']
    facts = secure_facts()
    set_hba(cluster_of(facts), 'hostnossl all all 0.0.0.0/0 reject\n' + SECURE_HBA)
    assert check(facts, 'hba.ssl_required')['status'] == 'pass'


def test_hba_ssl_required_loopback_exempt_in_baseline_only():
    facts = secure_facts()
    set_hba(cluster_of(facts), 'host all app 127.0.0.1/32 scram-sha-256\n' + SECURE_HBA)
    item = check(facts, 'hba.ssl_required', profile='baseline')
    assert item['status'] == 'pass' and 'loopback-only rules allowed in baseline' in item['actual']
    assert check(facts, 'hba.ssl_required', profile='cis')['status'] == 'fail'


@pytest.mark.parametrize('line, severity', [
    ('host all all 0.0.0.0/0 md5', 'high'),
    ('hostssl all all ::/0 scram-sha-256', 'high'),
    ('hostssl appdb app all scram-sha-256', 'high'),
    ('host all all 0.0.0.0 0.0.0.0 trust', 'critical'),
])
def test_hba_no_all_addresses(line, severity):
    facts = secure_facts()
    set_hba(cluster_of(facts), line + '\n' + SECURE_HBA)
    item = check(facts, 'hba.no_all_addresses')
    assert (item['status'], item['severity']) == ('fail', severity)
    assert check(secure_facts(), 'hba.no_all_addresses')['status'] == 'pass'
    # baseline: catch-all rejects do not count (under cis they do: test_cis_profile.py)
    assert check(secure_facts(BASELINE_HBA), 'hba.no_all_addresses', profile='baseline')['status'] == 'pass'


@pytest.mark.parametrize('line, status', [
    ('hostssl appdb app 10.0.0.0/8 scram-sha-256', 'fail'),
    ('hostssl appdb app 10.1.0.0/16 scram-sha-256', 'pass'),
    ('hostssl appdb app 2001:db8::/32 scram-sha-256', 'fail'),
    ('hostssl appdb app 2001:db8::/48 scram-sha-256', 'pass'),
    ('hostssl appdb app 10.0.0.0/8 reject', 'pass'),
])
def test_hba_range_size(line, status):
    facts = secure_facts(BASELINE_HBA)
    set_hba(cluster_of(facts), line + '\n' + BASELINE_HBA)
    assert check(facts, 'hba.range_size', profile='baseline')['status'] == status
    if not line.endswith('reject'):  # under cis reject lines count too (test_cis_profile.py)
        facts = secure_facts()
        set_hba(cluster_of(facts), line + '\n' + SECURE_HBA)
        assert check(facts, 'hba.range_size')['status'] == status


def test_hba_range_size_limits_are_policy():
    facts = secure_facts()
    set_hba(cluster_of(facts), 'hostssl appdb app 10.1.0.0/16 scram-sha-256\n' + SECURE_HBA)
    user = dict(SECURE_POLICY, pgsec_hba_max_prefix_v4=24)
    item = check(facts, 'hba.range_size', user)
    assert item['status'] == 'fail' and 'IPv4 ranges /24' in item['expected']


def test_hba_sources_within_policy():
    facts = secure_facts()
    set_hba(cluster_of(facts), 'hostssl appdb app 198.18.2.0/24 scram-sha-256\n' + SECURE_HBA)
    item = check(facts, 'hba.sources_within_policy')
    assert (item['status'], item['severity']) == ('fail', 'medium') and '198.18.2.0/24' in item['actual']
    facts = secure_facts()
    set_hba(cluster_of(facts), SECURE_HBA.replace('198.18.1.0/24', '198.18.1.100/32'))
    item = check(facts, 'hba.sources_within_policy')
    assert (item['status'], item['severity']) == ('fail', 'low') and 'no hostssl rule admits 198.18.1.0/24' in item['actual']
    assert check(secure_facts(), 'hba.sources_within_policy')['status'] == 'pass'


@pytest.mark.parametrize('line, severity', [
    ('hostssl appdb app 198.18.1.0/24 md5', 'medium'),
    ('hostssl appdb app 198.18.1.0/24 password', 'high'),
    ('hostssl appdb app 198.18.1.0/24 ident', 'high'),
    ('hostssl appdb app 198.18.1.0/24 trust', 'critical'),
    ('local   all   all   trust', 'high'),
])
def test_hba_auth_method(line, severity):
    facts = secure_facts()
    set_hba(cluster_of(facts), line + '\n' + SECURE_HBA)
    item = check(facts, 'hba.auth_method', profile='baseline')
    assert (item['status'], item['severity']) == ('fail', severity)


def test_hba_auth_method_local_peer_in_cis():
    facts = secure_facts()
    set_hba(cluster_of(facts), 'local appdb app scram-sha-256\n' + SECURE_HBA)
    assert check(facts, 'hba.auth_method', profile='baseline')['status'] == 'pass'
    item = check(facts, 'hba.auth_method', profile='cis')
    assert (item['status'], item['severity']) == ('fail', 'medium')


def test_hba_auth_method_cert_and_password_encryption():
    facts = secure_facts()
    set_hba(cluster_of(facts), 'hostssl appdb app 198.18.1.0/24 cert\n' + SECURE_HBA)
    assert check(facts, 'hba.auth_method')['status'] == 'pass'
    set_setting(cluster_of(facts), 'password_encryption', 'md5')
    item = check(facts, 'hba.auth_method')
    assert item['status'] == 'fail' and "password_encryption = 'md5'" in item['actual']


def test_hba_specific_targets():
    facts = secure_facts()
    set_hba(cluster_of(facts), 'hostssl all app 198.18.1.0/24 scram-sha-256\n' + SECURE_HBA)
    assert check(facts, 'hba.specific_targets', profile='cis')['status'] == 'fail'
    item = check(facts, 'hba.specific_targets', profile='baseline')
    assert (item['status'], item['severity']) == ('pass', 'info') and 'not required by the baseline' in item['actual']
    assert check(secure_facts(), 'hba.specific_targets', profile='cis')['status'] == 'pass'


@pytest.mark.parametrize('user', ['postgres', 'all'])
def test_hba_no_remote_superuser(user):
    facts = secure_facts()
    set_hba(cluster_of(facts), 'hostssl appdb %s 198.18.1.0/24 scram-sha-256\n%s' % (user, SECURE_HBA))
    assert check(facts, 'hba.no_remote_superuser', profile='cis')['status'] == 'fail'
    item = check(facts, 'hba.no_remote_superuser', profile='baseline')
    assert (item['status'], item['severity']) == ('manual', 'medium') and 'rolsuper' in item['actual']


def test_hba_no_remote_superuser_ignores_loopback():
    facts = secure_facts()
    set_hba(cluster_of(facts), 'hostssl all postgres ::1/128 scram-sha-256\n' + SECURE_HBA)
    assert check(facts, 'hba.no_remote_superuser', profile='cis')['status'] == 'pass'


@pytest.mark.parametrize('address', ['127.0.0.1/32', '::1/128', 'localhost', 'samehost'])
def test_hba_localhost_tcp(address):
    facts = secure_facts()
    set_hba(cluster_of(facts), 'hostssl appdb app %s scram-sha-256\n%s' % (address, SECURE_HBA))
    item = check(facts, 'hba.localhost_tcp', profile='cis')
    assert (item['status'], item['severity']) == ('fail', 'low')
    assert check(facts, 'hba.localhost_tcp', profile='baseline')['status'] == 'pass'


@pytest.mark.parametrize('text, status', [
    (BASELINE_HBA, 'pass'),
    (BASELINE_HBA.replace('host    all      all      ::/0               reject\n', ''), 'fail'),
    ('hostssl appdb app 198.18.1.0/24 scram-sha-256\nhost all all all reject\n', 'pass'),
    ('hostssl appdb app 198.18.1.0/24 scram-sha-256\nhostssl all all all reject\nhostnossl all all all reject\n',
     'pass'),
    ('hostssl appdb app 198.18.1.0/24 scram-sha-256\nhostnossl all all all reject\n', 'fail'),
    ('host all all all reject\nhostssl appdb app 198.18.1.0/24 scram-sha-256\n', 'fail'),
    ('local all all peer\n', 'pass'),
])
def test_hba_reject_unmatched(text, status):
    facts = secure_facts()
    set_hba(cluster_of(facts), text)
    assert check(facts, 'hba.reject_unmatched', profile='baseline')['status'] == status  # cis: test_cis_profile.py


def test_hba_reject_unmatched_reports_dead_rules():
    facts = secure_facts()
    set_hba(cluster_of(facts), 'host all all all reject\nhostssl appdb app 198.18.1.0/24 scram-sha-256\n')
    assert 'never used' in check(facts, 'hba.reject_unmatched', profile='baseline')['actual']


# ---------------------------------------------------------------------------- firewall

def test_firewall_active():
    assert check(secure_facts(), 'firewall.active')['status'] == 'pass'
    facts = secure_facts()
    facts['firewall'].update(backend='none', active=[])
    item = check(facts, 'firewall.active')
    assert (item['status'], item['severity']) == ('fail', 'high')
    facts = secure_facts()
    facts['firewall'].update(backend='iptables-nft', active=['iptables-nft'])
    item = check(facts, 'firewall.active')  # policy says nftables
    assert (item['status'], item['severity']) == ('fail', 'medium')
    assert check(facts, 'firewall.active', dict(SECURE_POLICY, pgsec_firewall_backend='iptables'))['status'] == 'pass'
    assert check(facts, 'firewall.active', dict(SECURE_POLICY, pgsec_firewall_backend='auto'))['status'] == 'pass'


def test_firewall_not_managed():
    facts = load('pg1')
    findings = policy.evaluate(facts, {'pgsec_firewall_backend': 'none'})
    for control_id in ('firewall.active', 'firewall.port_filtered', 'firewall.sources_within_policy'):
        item = find(findings, control_id)
        assert (item['status'], item['severity']) == ('manual', 'info'), control_id


def test_firewall_not_gathered():
    facts = secure_facts()
    facts['firewall'] = None
    findings = evaluate(facts)
    assert find(findings, 'firewall.active')['status'] == 'error'
    assert find(findings, 'firewall.port_filtered')['status'] == 'error'  # the cluster's port is still checked


def test_firewall_port_filtered():
    assert check(secure_facts(), 'firewall.port_filtered')['status'] == 'pass'
    facts = secure_facts()
    facts['firewall']['ports']['5432'] = port_summary(5432, v4_allowed=['198.18.1.0/24'], v6_default='accept')
    item = check(facts, 'firewall.port_filtered')
    assert (item['status'], item['severity']) == ('fail', 'high') and 'IPv6 default accept' in item['actual']


def test_firewall_sources_within_policy():
    assert check(secure_facts(), 'firewall.sources_within_policy')['status'] == 'pass'
    facts = secure_facts()
    facts['firewall']['ports']['5432'] = port_summary(5432, v4_allowed=['198.18.0.0/16'])
    item = check(facts, 'firewall.sources_within_policy')
    assert (item['status'], item['severity']) == ('fail', 'medium') and 'outside the policy: 198.18.0.0/16' in item['actual']
    facts['firewall']['ports']['5432'] = port_summary(5432, v4_allowed=['127.0.0.0/8'])
    item = check(facts, 'firewall.sources_within_policy')
    assert (item['status'], item['severity']) == ('fail', 'low') and 'clients not allowed: 198.18.1.0/24' in item['actual']


# ---------------------------------------------------------------------------- host-wide and broken facts

def test_manual_controls_once_per_host():
    findings = policy.evaluate(load('pg2'), {}, host='pg2')
    manual = [item for item in findings if item['id'].startswith('manual.')]
    assert [item['id'] for item in manual] == ['manual.physical_access', 'manual.provider_attestation',
                                               'manual.network_segregation']
    for item in manual:
        assert (item['status'], item['severity'], item['cluster']) == ('manual', 'info', None)
        assert len(item['remediation']) > 60


def test_facts_errors_are_reported():
    facts = secure_facts()
    cluster_of(facts)['errors'] = [{'step': 'pg_settings', 'message': 'psql: connection refused'}]
    item = check(facts, 'facts.complete')
    assert item['status'] == 'error' and 'pg_settings: psql: connection refused' in item['actual']


def test_cluster_that_could_not_be_gathered():
    facts = load('pg1')
    facts['clusters'].append({'id': '16/broken', 'layout': 'debian', 'version': '16', 'running': False,
                              'errors': [{'step': 'gather', 'message': 'PermissionError: /etc/postgresql/16'}]})
    findings = [item for item in policy.evaluate(facts, {}) if item['cluster'] == '16/broken']
    assert [item['id'] for item in findings] == list(CLUSTER_CONTROLS)
    assert {item['status'] for item in findings} == {'error'}
    assert all('PermissionError' in item['actual'] for item in findings)


def test_malformed_facts_do_not_stop_the_audit():
    facts = secure_facts()
    cluster_of(facts)['tls']['files']['ssl_key_file']['mode'] = None
    cluster_of(facts)['hba']['rules'] = 'not a list'
    findings = evaluate(facts)
    assert find(findings, 'hba.localhost_tcp')['status'] == 'error'
    assert 'unexpected facts' in find(findings, 'hba.localhost_tcp')['actual']
    assert find(findings, 'tls.enabled')['status'] == 'pass'


def test_no_cluster_found():
    findings = policy.evaluate({'version': 1, 'clusters': [], 'firewall': None}, {}, host='web1')
    assert findings[0]['id'] == 'facts.complete' and findings[0]['status'] == 'error'
    assert 'no PostgreSQL cluster' in findings[0]['actual']


def test_findings_never_carry_key_material():
    facts = secure_facts()
    cluster_of(facts)['errors'] = [{'step': 'tls', 'message': 'openssl said ' + PEM_KEY}]
    cluster_of(facts)['tls']['certificate']['subject'] = 'CN=' + PEM_KEY
    text = json.dumps(evaluate(facts))
    assert 'BEGIN PRIVATE KEY' not in text and 'MIIEvQ' not in text
    assert '[PEM data removed]' in text


def test_redact():
    assert policy.redact('a ' + PEM_KEY + ' b') == 'a [PEM data removed] b'
    assert policy.redact('-----BEGIN RSA PRIVATE KEY-----\nMIIB') == '[PEM data removed]'
    assert policy.redact(None) is None


def test_count_by_status_and_rank():
    counts = policy.count_by_status(policy.evaluate(load('pg1'), {}))
    assert set(counts) == set(policy.STATUSES) and sum(counts.values()) == len(CLUSTER_CONTROLS) + 2 + 4
    assert policy.severity_rank('critical') < policy.severity_rank('info') < policy.severity_rank('bogus')


# ---------------------------------------------------------------------------- merge_policy

def test_default_policy_is_a_copy():
    first = policy.default_policy()
    first['pgsec_clients'].append('x')
    assert policy.default_policy()['pgsec_clients'] == []
    assert policy.merge_policy() == policy.merge_policy({})
    assert policy.merge_policy()['pgsec_tls_ciphers'] == policy.DEFAULT_TLS_CIPHERS


def test_merge_policy_normalises():
    merged = policy.merge_policy({
        'pgsec_port': '5433', 'pgsec_unix_socket_permissions': 0o770, 'pgsec_tls_enabled': 'yes',
        'pgsec_tls_min_protocol_version': 'tlsv1.3', 'pgsec_listen_addresses': 'localhost, 198.18.1.12',
        'pgsec_clients': [{'name': 'app', 'sources': ['198.18.1.7/24', '2001:DB8::/64']}],
        'pgsec_socket_directories': ['/run/postgresql/', {'path': '/run/pg-app', 'mode': 0o2750, 'group': 'app'}],
        'pgsec_something_else': 1,
    })
    assert merged['pgsec_port'] == 5433
    assert merged['pgsec_unix_socket_permissions'] == '0770'
    assert merged['pgsec_tls_enabled'] is True
    assert merged['pgsec_tls_min_protocol_version'] == 'TLSv1.3'
    assert merged['pgsec_listen_addresses'] == ['localhost', '198.18.1.12']
    assert merged['pgsec_clients'] == [{'name': 'app', 'sources': ['198.18.1.0/24', '2001:db8::/64'],
                                        'databases': ['all'], 'users': ['all'], 'auth_method': 'scram-sha-256',
                                        'clientcert': 'none'}]
    assert merged['pgsec_socket_directories'] == [{'path': '/run/postgresql', 'group': None, 'mode': None},
                                                  {'path': '/run/pg-app', 'group': 'app', 'mode': '2750'}]
    assert merged['pgsec_something_else'] == 1
    assert policy.merge_policy(merged) == merged  # idempotent


def test_merge_policy_cis_forces():
    merged = policy.merge_policy({'pgsec_profile': 'CIS', 'pgsec_tls_enabled': False,
                                  'pgsec_tls_min_protocol_version': 'TLSv1.2'})
    assert merged['pgsec_profile'] == 'cis'
    assert merged['pgsec_tls_enabled'] is True
    assert merged['pgsec_tls_min_protocol_version'] == 'TLSv1.3'
    assert merged['pgsec_unix_socket_permissions'] == '0700'
    assert policy.merge_policy(merged) == merged
    assert policy.merge_policy({'pgsec_profile': 'cis', 'pgsec_unix_socket_group': 'pgapp'})[
        'pgsec_unix_socket_permissions'] == '0770'


@pytest.mark.parametrize('user, names', [
    ({'pgsec_profile': 'strict'}, "pgsec_profile: 'strict'"),
    ({'pgsec_port': 70000}, 'pgsec_port: 70000'),
    ({'pgsec_port': 'x'}, "pgsec_port: 'x' is not an integer"),
    ({'pgsec_unix_socket_permissions': 770}, 'pgsec_unix_socket_permissions: 770'),
    ({'pgsec_unix_socket_permissions': 'rw'}, "pgsec_unix_socket_permissions: 'rw'"),
    ({'pgsec_unix_socket_permissions': '2770'}, 'setgid'),
    ({'pgsec_clients': [{'name': 'a', 'sources': ['db.example.com']}]}, "pgsec_clients[0].sources[0]: 'db.example.com'"),
    ({'pgsec_clients': [{'name': 'a', 'sources': []}]}, 'pgsec_clients[0].sources'),
    ({'pgsec_clients': [{'name': 'a', 'sources': ['10.0.0.0/8'], 'auth_method': 'md5'}]},
     "pgsec_clients[0].auth_method: 'md5'"),
    ({'pgsec_clients': [{'name': 'a', 'sources': ['10.0.0.0/8'], 'clientcert': 'yes'}]}, 'clientcert'),
    ({'pgsec_clients': [{'name': 'a', 'sources': ['10.0.0.0/8'], 'hosts': []}]}, 'unknown keys: hosts'),
    ({'pgsec_clients': [{'name': 'a', 'sources': ['10.0.0.0/8']}, {'name': 'a', 'sources': ['10.0.0.0/8']}]},
     'used twice'),
    ({'pgsec_clients': 'app'}, "pgsec_clients: 'app' is not a list"),
    ({'pgsec_tls_min_protocol_version': 'TLSv1.1'}, 'below TLSv1.2'),
    ({'pgsec_tls_min_protocol_version': 'SSLv3'}, "pgsec_tls_min_protocol_version: 'SSLv3'"),
    ({'pgsec_tls_ciphers': 'HIGH:MEDIUM'}, 'allows weak ciphers'),
    ({'pgsec_tls_enabled': 'maybe'}, "pgsec_tls_enabled: 'maybe'"),
    ({'pgsec_firewall_backend': 'ufw'}, "pgsec_firewall_backend: 'ufw'"),
    ({'pgsec_hba_max_prefix_v6': 129}, 'pgsec_hba_max_prefix_v6: 129'),
    ({'pgsec_socket_directories': [{'path': 'run/pg'}]}, 'pgsec_socket_directories[0]'),
    ({'pgsec_listen_addresses': 'a,,b'}, 'pgsec_listen_addresses'),
    ('cis', 'is not a dict'),
])
def test_merge_policy_rejects_bad_input(user, names):
    with pytest.raises(policy.PolicyError) as error:
        policy.merge_policy(user)
    assert names in str(error.value)


def test_evaluate_validates_the_policy():
    with pytest.raises(policy.PolicyError):
        policy.evaluate(load('pg1'), {'pgsec_port': 0})


def test_evaluate_does_not_modify_its_input():
    facts = load('pg1')
    original = copy.deepcopy(facts)
    user = {'pgsec_clients': [CLIENT]}
    policy.evaluate(facts, user)
    assert facts == original and user == {'pgsec_clients': [CLIENT]}


# ---------------------------------------------------------------------------- live

def test_live_clients_and_md5_secrets_are_audited():
    facts = secure_facts()
    cluster_of(facts)['live'].update(
        sessions=[{'pid': 9, 'address': '198.18.1.50', 'port': 4000, 'user': 'app', 'database': 'appdb',
                   'backend_type': 'client backend', 'ssl': True},
                  {'pid': 10, 'address': '198.18.2.9', 'port': 4001, 'user': 'report', 'database': 'appdb',
                   'backend_type': 'client backend', 'ssl': True}],
        md5_roles=['legacy'])
    findings = evaluate(facts)
    covered = find(findings, 'live.clients_covered')
    assert covered['status'] == 'fail' and covered['severity'] == 'high'
    assert covered['actual'].startswith("1 of 2 not covered: session 198.18.2.9 (user report, database appdb)")
    assert 'sources: [198.18.2.9/32]' in covered['actual']
    md5 = find(findings, 'auth.md5_secrets')
    assert (md5['status'], md5['actual']) == ('fail', 'stored as MD5: legacy')
    facts = secure_facts()
    assert find(evaluate(facts), 'live.clients_covered')['status'] == 'pass'
    cluster_of(facts).update(live=None, running=False)
    assert find(evaluate(facts), 'auth.md5_secrets')['status'] == 'pass'


def test_files_changed_after_the_last_reload_are_drift():
    facts = secure_facts()
    assert find(evaluate(facts), 'config.loaded')['status'] == 'pass'
    cluster_of(facts)['changed_since_load'] = [{'path': '/etc/postgresql/15/main/pg_hba.conf', 'mtime': 2.0}]
    item = find(evaluate(facts), 'config.loaded')
    assert item['status'] == 'fail' and item['actual'].endswith('not in effect: /etc/postgresql/15/main/pg_hba.conf')
