# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import os

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import parse as firewall
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import select
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import verdict
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import ruleset as fp
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import FIXTURES, read_fixture

SPECS = json.loads(read_fixture('firewall_plan', 'specs.json'))
PLAN_FIXTURES = sorted(os.listdir(os.path.join(FIXTURES, 'firewall_plan')))


def fixture(name):
    return read_fixture('firewall_plan', name)


def spec(name, **changes):
    return dict(copy.deepcopy(SPECS[name]), **changes)


def nft(name):
    return firewall.parse_nft_json(fixture(name))


def error_of(call, *args, **kwargs):
    with pytest.raises(fp.FirewallPlanError) as error:
        call(*args, **kwargs)
    return str(error.value)


AVAILABLE = {
    'nft': '/usr/sbin/nft',
    'iptables-nft': dict((tool, '/usr/sbin/%s' % name) for tool, name in (
        ('iptables', 'iptables-nft'), ('ip6tables', 'ip6tables-nft'), ('iptables-restore', 'iptables-nft-restore'),
        ('iptables-save', 'iptables-nft-save'), ('ip6tables-restore', 'ip6tables-nft-restore'),
        ('ip6tables-save', 'ip6tables-nft-save'))),
    'iptables-legacy': dict((tool, '/usr/sbin/%s' % name) for tool, name in (
        ('iptables', 'iptables-legacy'), ('ip6tables', 'ip6tables-legacy'),
        ('iptables-restore', 'iptables-legacy-restore'), ('iptables-save', 'iptables-legacy-save'),
        ('ip6tables-restore', 'ip6tables-legacy-restore'), ('ip6tables-save', 'ip6tables-legacy-save'))),
}


# ------------------------------------------------------------------ rendering

BASIC_NFT = '''\
# Managed by pgsec.hardening (postgresql_access_firewall); local changes are overwritten.
# Replaces table inet pgsec in one transaction: the empty definition creates it when it is
# missing, so the delete that follows always succeeds.
# Only tcp port(s) 5432 are filtered here; other traffic is not touched.
table inet pgsec {}
delete table inet pgsec
table inet pgsec {
\tset clients_v4 {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 10.0.0.0/8, 198.18.200.2 }
\t}
\tset clients_v6 {
\t\ttype ipv6_addr
\t\tflags interval
\t\telements = { 2001:db8::/64 }
\t}
\tchain input {
\t\ttype filter hook input priority -10; policy accept;
\t\tiif "lo" tcp dport 5432 accept
\t\tip saddr @clients_v4 tcp dport 5432 accept
\t\tip6 saddr @clients_v6 tcp dport 5432 accept
\t\ttcp dport 5432 counter drop
\t}
}
'''

FULL_NFT_TABLE = '''\
table inet pgsec {
\tset clients_v4 {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 10.0.0.0/8, 198.18.200.2 }
\t}
\tset clients_v6 {
\t\ttype ipv6_addr
\t\tflags interval
\t\telements = { ::ffff:10.0.0.1, 2001:db8::/64 }
\t}
\tchain egress {
\t\tct state established,related accept
\t\toif "lo" accept
\t\tip daddr 192.0.2.0/24 udp dport 53 accept
\t\tip daddr 198.18.200.9 tcp dport 5432 accept
\t\tip6 daddr 2001:db8::5 tcp dport 5432 accept
\t\tlimit rate 5/minute log prefix "pgsec-egress-refused: "
\t\tcounter reject with icmpx admin-prohibited
\t}
\tchain input {
\t\ttype filter hook input priority -10; policy accept;
\t\tiif "lo" tcp dport { 5432, 6432 } accept
\t\tip saddr @clients_v4 tcp dport { 5432, 6432 } accept
\t\tip6 saddr @clients_v6 tcp dport { 5432, 6432 } accept
\t\ttcp dport { 5432, 6432 } limit rate 5/minute log prefix "pgsec-refused: "
\t\ttcp dport { 5432, 6432 } counter reject with tcp reset
\t}
\tchain output {
\t\ttype filter hook output priority -10; policy accept;
\t\tmeta skuid 105 jump egress
\t}
}
'''

FULL_IPV4 = '''\
# Managed by pgsec.hardening (postgresql_access_firewall): chains PGSEC-INPUT, PGSEC-OUTPUT, for iptables-restore --noflush.
*filter
:PGSEC-INPUT - [0:0]
:PGSEC-OUTPUT - [0:0]
-A PGSEC-INPUT -i lo -j ACCEPT
-A PGSEC-INPUT -s 10.0.0.0/8 -j ACCEPT
-A PGSEC-INPUT -s 198.18.200.2/32 -j ACCEPT
-A PGSEC-INPUT -m limit --limit 5/min -j LOG --log-prefix "pgsec-refused: "
-A PGSEC-INPUT -p tcp -j REJECT --reject-with tcp-reset
-A PGSEC-OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A PGSEC-OUTPUT -o lo -j ACCEPT
-A PGSEC-OUTPUT -d 192.0.2.0/24 -p udp -m udp --dport 53 -j ACCEPT
-A PGSEC-OUTPUT -d 198.18.200.9/32 -p tcp -m tcp --dport 5432 -j ACCEPT
-A PGSEC-OUTPUT -m limit --limit 5/min -j LOG --log-prefix "pgsec-egress-refused: "
-A PGSEC-OUTPUT -j REJECT --reject-with icmp-admin-prohibited
-I INPUT 1 -p tcp -m multiport --dports 5432,6432 -m comment --comment pgsec-hardening -j PGSEC-INPUT
-I OUTPUT 1 -m owner --uid-owner 105 -m comment --comment pgsec-hardening -j PGSEC-OUTPUT
COMMIT
'''


def test_render_nftables_basic():
    assert fp.render_nftables(spec('basic')) == BASIC_NFT


def test_render_nftables_full_with_egress():
    text = fp.render_nftables(spec('full'))
    assert text.endswith(fp.NFT_REPLACE_PREFIX + FULL_NFT_TABLE)
    assert '# Only tcp port(s) 5432, 6432 are filtered here' in text


def test_render_nftables_closed_and_absent():
    closed = fp.render_nftables(spec('closed'))
    # empty sets have no "elements" line (nft refuses "elements = { }"); the port is refused to all but lo
    assert '\t\tflags interval\n\t}\n\tset clients_v6' in closed
    assert closed.endswith('\t\tiif "lo" tcp dport 5432 accept\n\t\tip saddr @clients_v4 tcp dport 5432 accept\n'
                           '\t\tip6 saddr @clients_v6 tcp dport 5432 accept\n\t\ttcp dport 5432 counter drop\n\t}\n}\n')
    absent = fp.render_nftables({'state': 'absent'})
    assert absent.endswith('\ntable inet pgsec {}\ndelete table inet pgsec\n')
    assert 'Only tcp port' not in absent


def test_render_iptables_full():
    assert fp.render_iptables(spec('full'), 4) == FULL_IPV4
    ipv6 = fp.render_iptables(spec('full'), 6)
    assert '-A PGSEC-INPUT -s ::ffff:10.0.0.1/128 -j ACCEPT\n-A PGSEC-INPUT -s 2001:db8::/64 -j ACCEPT\n' in ipv6
    assert '-A PGSEC-OUTPUT -d 2001:db8::5/128 -p tcp -m tcp --dport 5432 -j ACCEPT\n' in ipv6
    assert '-A PGSEC-OUTPUT -j REJECT --reject-with icmp6-adm-prohibited\n' in ipv6
    assert '198.18' not in ipv6 and '192.0.2' not in ipv6


def test_render_iptables_drop_without_egress():
    text = fp.render_iptables(spec('basic'), 4)
    assert text.splitlines()[1:] == [
        '*filter', ':PGSEC-INPUT - [0:0]',
        '-A PGSEC-INPUT -i lo -j ACCEPT',
        '-A PGSEC-INPUT -s 10.0.0.0/8 -j ACCEPT',
        '-A PGSEC-INPUT -s 198.18.200.2/32 -j ACCEPT',
        '-A PGSEC-INPUT -j DROP',
        '-I INPUT 1 -p tcp -m multiport --dports 5432 -m comment --comment pgsec-hardening -j PGSEC-INPUT',
        'COMMIT']


def test_render_iptables_nothing_to_do():
    assert fp.render_iptables({'state': 'absent'}, 4) == ''
    assert fp.render_iptables(spec('full'), 4, current=fixture('full.iptables-nft-1.8.9.save')) == ''
    assert 'family' in error_of(fp.render_iptables, spec('basic'), 5)


@pytest.mark.parametrize('name', sorted(SPECS))
def test_recorded_inputs_are_current(name):
    """The files record.sh loaded are what the planner renders today (else re-record the fixtures)."""
    assert fixture(name + '.nft') == fp.render_nftables(spec(name))
    for family in (4, 6):
        assert fixture('%s.ipv%d.rules' % (name, family)) == fp.render_iptables(spec(name), family)


# ------------------------------------------------------------------ spec validation

@pytest.mark.parametrize('changes, field, value', [
    ({'sources': ['198.18.200.2', '10.0.0.0/33']}, 'sources[1]', "'10.0.0.0/33'"),
    ({'sources': ['db.example.com']}, 'sources[0]', "'db.example.com'"),
    ({'sources': [42]}, 'sources[0]', '42'),
    ({'sources': '10.0.0.0/8'}, 'sources', "'10.0.0.0/8'"),
    ({'ports': [0]}, 'ports[0]', '0'),
    ({'ports': [5432, 65536]}, 'ports[1]', '65536'),
    ({'ports': ['pg']}, 'ports[0]', "'pg'"),
    ({'ports': [True]}, 'ports[0]', 'True'),
    ({'ports': []}, 'ports', '[]'),
    ({'action': 'accept'}, 'action', "'accept'"),
    ({'log': 'maybe'}, 'log', "'maybe'"),
    ({'state': 'gone'}, 'state', "'gone'"),
    ({'backend': 'firewalld'}, 'backend', "'firewalld'"),
    ({'egress': [{'port': 5432}]}, 'pgsec_firewall_egress[0].host', 'None'),
    ({'egress': [{'host': 'standby', 'port': 5432}]}, 'pgsec_firewall_egress[0].host', "'standby'"),
    ({'egress': [{'host': '198.18.200.9'}]}, 'pgsec_firewall_egress[0].port', 'None'),
    ({'egress': [{'host': '198.18.200.9', 'port': 70000}]}, 'pgsec_firewall_egress[0].port', '70000'),
    ({'egress': [{'host': '198.18.200.9', 'port': 'pg'}]}, 'pgsec_firewall_egress[0].port', "'pg'"),
    ({'egress': [{'host': '198.18.200.9', 'port': 22, 'protocol': 'icmp'}]}, 'pgsec_firewall_egress[0].protocol', "'icmp'"),
    ({'egress': [{'host': '198.18.200.9', 'port': 22, 'via': 'eth0'}]}, 'pgsec_firewall_egress[0]', 'via'),
    ({'egress': ['198.18.200.9:22']}, 'pgsec_firewall_egress[0]', "'198.18.200.9:22'"),
    ({'egress': [{'host': '198.18.200.9', 'port': 22}], 'server_uid': None}, 'server_uid', 'None'),
    ({'egress': [{'host': '198.18.200.9', 'port': 22}], 'server_uid': -1}, 'server_uid', '-1'),
    ({'colour': 'red'}, 'spec', 'colour'),
])
def test_validation_names_field_and_value(changes, field, value):
    message = error_of(fp.normalize_spec, spec('basic', **changes))
    assert message.startswith(field + ': ')
    assert value in message


def test_no_sources_needs_allow_none():
    message = error_of(fp.normalize_spec, spec('basic', sources=[]))
    assert message.startswith('sources: [] ')
    assert 'no client sources: the port would be closed to everyone' in message
    closed = fp.normalize_spec(spec('basic', sources=[], allow_none=True))
    assert (closed['sources_v4'], closed['sources_v6'], closed['allow_none']) == ([], [], True)


def test_iptables_multiport_limit():
    ports = list(range(5432, 5448))
    assert error_of(fp.render_iptables, spec('basic', ports=ports), 4).startswith('ports: [5432, ')
    assert 'tcp dport { 5432, 5433,' in fp.render_nftables(spec('basic', ports=ports))
    assert fp.render_iptables(spec('basic', ports=ports[:15]), 4)


def test_normalize_collapses_sorts_and_is_idempotent():
    normal = fp.normalize_spec({
        'ports': ['6432', 5432, 5432],
        'sources': ['10.1.0.0/16', '10.0.0.0/8', '192.0.2.128/25', '192.0.2.0/25', '2001:db8::1', '2001:DB8::/64',
                    '198.18.200.2/255.255.255.255'],
        'egress': [{'host': '198.18.200.9', 'port': '5432'}, {'host': '192.0.2.1/24', 'port': 53, 'protocol': 'UDP'},
                   {'host': '198.18.200.9', 'port': 5432, 'protocol': 'tcp'}],
        'server_uid': 105, 'log': 'yes', 'action': 'REJECT'})
    assert normal == {
        'state': 'present', 'backend': None, 'ports': [5432, 6432],
        'sources_v4': ['10.0.0.0/8', '192.0.2.0/24', '198.18.200.2/32'], 'sources_v6': ['2001:db8::/64'],
        'action': 'reject', 'log': True, 'allow_none': False, 'server_uid': 105,
        'egress': [{'family': 4, 'host': '192.0.2.0/24', 'protocol': 'udp', 'port': 53},
                   {'family': 4, 'host': '198.18.200.9/32', 'protocol': 'tcp', 'port': 5432}]}
    assert fp.normalize_spec(normal) == normal
    assert fp.normalize_spec({'state': 'absent', 'sources': 'ignored'})['ports'] == []


# ------------------------------------------------------------------ idempotence on recorded rulesets

@pytest.mark.parametrize('name', [name for name in PLAN_FIXTURES if '.nft-' in name and name.endswith('.json')])
def test_nft_plan_over_recorded_state_is_unchanged(name):
    """Each ruleset was produced by loading the rendered file (twice) with nft 1.0.6 or 1.1.3."""
    wanted = 'basic' if name.startswith('rollback_') else name.split('.')[0]
    result = fp.plan(spec(wanted, backend='nftables'), {'nft': fixture(name)})
    assert result['changed'] is False, result['diff']
    assert result['apply'] == {} and result['rollback'] == {} and result['diff'] == []
    assert result['before'] == result['after'] == fp.nft_model_text(fp.nft_model(fp.normalize_spec(spec(wanted))))
    # someone else's table came through untouched
    parsed = nft(name)
    assert [rule['expr'][-1] for rule in parsed['rules'] if rule['table'] == 'filter'] == [
        {'accept': None}, {'accept': None}, {'drop': None}]


@pytest.mark.parametrize('name', [name for name in PLAN_FIXTURES if name.endswith('.save')
                                  and not name.startswith('basic.drift') and not name.startswith('basic.undone')])
def test_iptables_plan_over_recorded_state_is_unchanged(name):
    """Saved by iptables 1.8.9/1.8.11, nft and legacy, after iptables-restore --noflush of the rendered files."""
    family = 'ipv6' if '.ip6tables-' in name else 'ipv4'
    result = fp.plan(spec(name.split('.')[0], backend='iptables'), {family: fixture(name)})
    assert result['changed'] is False, result['diff']
    assert result['families'] == [6 if family == 'ipv6' else 4]
    saved = firewall.parse_iptables_save(fixture(name))
    assert saved['tables']['filter']['F2B-SSH']['rules'][0]['text'] == '-A F2B-SSH -j RETURN'


def test_nft_plan_from_nothing():
    result = fp.plan(spec('basic', backend='nftables'), {'nft': None, 'table_text': ''})
    assert result['changed'] is True
    assert result['before'] == '' and result['after'].startswith('table inet pgsec {\n')
    assert result['apply'] == {'nftables': BASIC_NFT}
    assert result['rollback'] == {'nftables': 'table inet pgsec {}\ndelete table inet pgsec\n'}
    assert result['diff'][:3] == ['--- before', '+++ after', '@@ -0,0 +1,19 @@']


def test_nft_plan_change_and_rollback_from_listing():
    listed = fixture('basic.nft-1.0.6.txt')
    result = fp.plan(spec('full', backend='nftables'), {'nft': fixture('basic.nft-1.0.6.json'), 'table_text': listed})
    assert result['changed'] is True
    assert result['apply']['nftables'].endswith(FULL_NFT_TABLE)
    assert result['rollback']['nftables'] == fp.NFT_REPLACE_PREFIX + listed
    assert '-\t\ttcp dport 5432 counter drop' in result['diff']
    assert '+\t\ttcp dport { 5432, 6432 } counter reject with tcp reset' in result['diff']
    assert '+\t\tmeta skuid 105 jump egress' in result['diff']
    # without the listing, the canonical text of what exists is the rollback
    fallback = fp.plan(spec('full', backend='nftables'), {'nft': fixture('basic.nft-1.0.6.json')})
    assert fallback['rollback']['nftables'] == fp.NFT_REPLACE_PREFIX + fallback['before']


def test_nft_rollback_recorded():
    """record.sh loaded basic, then full, then nft_rollback_text(listing of basic): basic is back, nothing else moved."""
    assert fp.nft_live_model(nft('rollback_full_to_basic.nft-1.0.6.json')) == fp.nft_live_model(
        nft('basic.nft-1.0.6.json'))


def _edited(name, edit):
    data = json.loads(fixture(name))
    edit(data['nftables'])
    return json.dumps(data)


def test_nft_drift_is_seen_and_counters_are_not():
    def bump_counters(items):
        for item in items:
            for expr in item.get('rule', {}).get('expr', []):
                if 'counter' in expr:
                    expr['counter'] = {'packets': 99, 'bytes': 5940}

    def extra_rule(items):
        items.append({'rule': {'family': 'inet', 'table': 'pgsec', 'chain': 'input', 'handle': 99, 'expr': [
            {'match': {'op': '==', 'left': {'payload': {'protocol': 'tcp', 'field': 'dport'}}, 'right': 5432}},
            {'accept': None}]}})

    def extra_element(items):
        for item in items:
            if item.get('set', {}).get('name') == 'clients_v4':
                item['set']['elem'].append({'range': ['203.0.113.1', '203.0.113.2']})

    def priority(items):
        for item in items:
            if 'chain' in item and item['chain']['table'] == 'pgsec':
                item['chain']['prio'] = 0

    wanted = spec('basic', backend='nftables')
    assert not fp.plan(wanted, {'nft': _edited('basic.nft-1.0.6.json', bump_counters)})['changed']
    drift = fp.plan(wanted, {'nft': _edited('basic.nft-1.0.6.json', extra_rule)})
    assert drift['changed'] and '-\t\ttcp dport 5432 accept' in drift['diff']
    drift = fp.plan(wanted, {'nft': _edited('basic.nft-1.1.3.json', extra_element)})
    assert '-\t\telements = { 10.0.0.0/8, 198.18.200.2, 203.0.113.1, 203.0.113.2 }' in drift['diff']
    drift = fp.plan(wanted, {'nft': _edited('basic.nft-1.0.6.json', priority)})
    assert '-\t\ttype filter hook input priority 0; policy accept;' in drift['diff']


def test_nft_foreign_tables_are_not_ours():
    only_foreign = _edited('basic.nft-1.0.6.json', lambda items: items.__setitem__(slice(None), [
        item for item in items if list(item.values())[0].get('table', list(item.values())[0].get('name')) != 'pgsec']))
    assert fp.nft_live_model(only_foreign) is None
    result = fp.plan(spec('basic', backend='nftables'), {'nft': only_foreign, 'table_text': ''})
    assert result['changed'] and result['before'] == ''


def test_nft_unknown_expressions_never_match():
    assert fp._nft_statement({'queue': {'num': 1}}) == '{"queue": {"num": 1}}'
    assert fp._nft_statement({'limit': {'rate': 5, 'per': 'minute', 'burst': 10}}).startswith('{"limit"')
    assert fp._nft_statement({'match': {'op': '!=', 'left': {'meta': {'key': 'iifname'}}, 'right': 'eth0'}}) \
        == 'iifname != "eth0"'
    assert fp._nft_statement({'match': {'op': '==', 'left': {'payload': {'protocol': 'tcp', 'field': 'dport'}},
                                        'right': {'range': [5432, 5440]}}}) == 'tcp dport 5432-5440'


def test_iptables_jump_drift_is_repaired_in_one_restore():
    """A rule was inserted above our jump and a duplicate jump appended (recorded with iptables-nft 1.8.9)."""
    drift = fixture('basic.drift.iptables-nft-1.8.9.save')
    result = fp.plan(spec('basic', backend='iptables'), {'ipv4': drift, 'ipv6': None})
    jump = '-p tcp -m multiport --dports 5432 -m comment --comment pgsec-hardening -j PGSEC-INPUT'
    assert result['changed'] and result['families'] == [4]
    assert result['apply'] == {'ipv4': '*filter\n-D INPUT %s\n-D INPUT %s\n-I INPUT 1 %s\nCOMMIT\n' % (jump, jump, jump)}
    assert result['rollback'] == {'ipv4': '*filter\n-D INPUT %s\n-I INPUT 2 %s\n-I INPUT 6 %s\nCOMMIT\n'
                                  % (jump, jump, jump)}
    assert '-I INPUT 2 ' + jump in result['before'] and '-I INPUT 6 ' + jump in result['before']
    # what record.sh got by loading apply, then rollback, on a real kernel
    repaired = fixture('basic.repaired.iptables-nft-1.8.9.save')
    assert not fp.plan(spec('basic', backend='iptables'), {'ipv4': repaired})['changed']
    assert [line for line in repaired.splitlines() if line.startswith('-A INPUT')][:2] == [
        '-A INPUT ' + jump, '-A INPUT -s 203.0.113.9/32 -j DROP']
    assert fp.iptables_live_model(fixture('basic.undone.iptables-nft-1.8.9.save')) == fp.iptables_live_model(drift)


def test_iptables_change_and_removal():
    saved = fixture('full.iptables-legacy-1.8.9.save')
    narrower = fp.plan(spec('full', backend='iptables', egress=[], sources=['198.18.200.2'], ports=[5432]),
                       {'ipv4': saved})
    assert narrower['apply']['ipv4'].splitlines() == [
        '*filter', ':PGSEC-INPUT - [0:0]',
        '-D INPUT -p tcp -m multiport --dports 5432,6432 -m comment --comment pgsec-hardening -j PGSEC-INPUT',
        '-D OUTPUT -m owner --uid-owner 105 -m comment --comment pgsec-hardening -j PGSEC-OUTPUT',
        '-F PGSEC-OUTPUT', '-X PGSEC-OUTPUT',
        '-A PGSEC-INPUT -i lo -j ACCEPT',
        '-A PGSEC-INPUT -s 198.18.200.2/32 -j ACCEPT',
        '-A PGSEC-INPUT -m limit --limit 5/min -j LOG --log-prefix "pgsec-refused: "',
        '-A PGSEC-INPUT -p tcp -j REJECT --reject-with tcp-reset',
        '-I INPUT 1 -p tcp -m multiport --dports 5432 -m comment --comment pgsec-hardening -j PGSEC-INPUT',
        'COMMIT']
    rollback = narrower['rollback']['ipv4'].splitlines()
    assert rollback[:3] == ['*filter', ':PGSEC-INPUT - [0:0]', ':PGSEC-OUTPUT - [0:0]']
    assert rollback[-3:] == [
        '-I INPUT 1 -p tcp -m multiport --dports 5432,6432 -m comment --comment pgsec-hardening -j PGSEC-INPUT',
        '-I OUTPUT 1 -m owner --uid-owner 105 -m comment --comment pgsec-hardening -j PGSEC-OUTPUT', 'COMMIT']
    same_jumps = fp.plan(spec('full', backend='iptables', sources=['198.18.200.2']), {'ipv4': saved})
    assert '-D INPUT' not in same_jumps['apply']['ipv4'] and '-I INPUT' not in same_jumps['apply']['ipv4']
    removal = fp.plan({'state': 'absent', 'backend': 'iptables'}, {'ipv4': saved, 'ipv6': fixture(
        'full.ip6tables-legacy-1.8.9.save')})
    assert removal['after'] == '' and removal['before'].startswith('# ipv4 (iptables), table filter\n')
    assert removal['apply']['ipv6'].splitlines()[1:] == [
        '-D INPUT -p tcp -m multiport --dports 5432,6432 -m comment --comment pgsec-hardening -j PGSEC-INPUT',
        '-D OUTPUT -m owner --uid-owner 105 -m comment --comment pgsec-hardening -j PGSEC-OUTPUT',
        '-F PGSEC-INPUT', '-X PGSEC-INPUT', '-F PGSEC-OUTPUT', '-X PGSEC-OUTPUT', 'COMMIT']
    assert fp.iptables_transform({'chains': {}, 'jumps': []}, {'chains': {}, 'jumps': []}) is None


def test_plan_needs_a_backend():
    assert error_of(fp.plan, spec('basic'), {}).startswith('backend: None')


# ------------------------------------------------------------------ backend choice

def detected(nft_name=None, saves=(), firewalld=None, available=None, directory='firewall_plan'):
    parsed = firewall.parse_nft_json(read_fixture(directory, nft_name)) if nft_name else None
    iptables = [firewall.parse_iptables_save(read_fixture(folder, name)) for folder, name in saves]
    return select.inspect_host(parsed, iptables, firewalld, AVAILABLE if available is None else available)


def test_choose_nftables_next_to_foreign_table():
    host = detected('basic.nft-1.0.6.json')
    assert host['owned'] == ['nftables'] and host['others']['nftables_input'] == ['inet filter']
    choice = select.choose_backend('auto', host)
    assert choice == {'backend': 'nftables', 'variant': None, 'commands': {'nft': '/usr/sbin/nft'},
                      'reason': 'pgsec rules already exist in nftables'}
    assert select.choose_backend('nftables', host)['backend'] == 'nftables'
    assert 'remove it first with state=absent' in error_of(select.choose_backend, 'iptables', host)
    assert select.choose_backend('auto', select.inspect_host(None, (), None, AVAILABLE))['reason'] == 'nft is available'


def test_choose_iptables_nft_in_use():
    host = detected('iptables_nft.nft.json', [('firewall', 'iptables_nft.save'), ('firewall', 'ip6tables_nft.save')],
                    directory='firewall')
    assert host['others'] == {'nftables_input': [], 'iptables-nft': ['ip filter', 'ip6 filter'], 'iptables-legacy': []}
    choice = select.choose_backend('auto', host)
    assert (choice['backend'], choice['variant']) == ('iptables', 'nft')
    assert choice['commands']['iptables-restore'] == '/usr/sbin/iptables-nft-restore'
    assert select.choose_backend('nftables', host)['backend'] == 'nftables'  # same kernel subsystem, no fight


def test_choose_iptables_where_pgsec_rules_are():
    host = detected(None, [('firewall_plan', 'full.iptables-legacy-1.8.9.save'),
                           ('firewall_plan', 'full.ip6tables-legacy-1.8.9.save')])
    assert host['owned'] == ['iptables-legacy'] and host['others']['iptables-legacy'] == ['ip filter', 'ip6 filter']
    choice = select.choose_backend('auto', host)
    assert (choice['backend'], choice['variant']) == ('iptables', 'legacy')
    assert choice['commands']['ip6tables-save'] == '/usr/sbin/ip6tables-legacy-save'
    assert select.choose_backend('iptables', host)['variant'] == 'legacy'
    message = error_of(select.choose_backend, 'nftables', host)
    assert message.startswith("pgsec_firewall_backend: 'nftables' would leave the pgsec rules in iptables-legacy")


def test_own_rules_alone_do_not_count_as_someone_else():
    only_ours = firewall.parse_iptables_save('# Generated by iptables-save v1.8.9\n'
                                             '*filter\n:INPUT ACCEPT [0:0]\n:PGSEC-INPUT - [0:0]\n'
                                             '-A INPUT -p tcp -m multiport --dports 5432 -j PGSEC-INPUT\n'
                                             '-A PGSEC-INPUT -j DROP\nCOMMIT\n', 4)
    host = select.inspect_host(None, [only_ours], None, AVAILABLE)
    assert host['owned'] == ['iptables-legacy'] and host['others']['iptables-legacy'] == []


def test_choose_refuses_two_fighting_backends():
    host = detected('nft_native.json', [('firewall', 'iptables_legacy.save')], directory='firewall')
    message = error_of(select.choose_backend, 'auto', host)
    assert message.startswith("pgsec_firewall_backend: 'auto' cannot be chosen safely: iptables-legacy tables "
                              "(ip filter) and nftables rules (inet filter) are both in use")
    assert "'iptables'" in error_of(select.choose_backend, 'iptables', host)


def test_choose_refuses_adding_a_second_system():
    legacy_only = detected('iptables_legacy.nft.json', [('firewall', 'iptables_legacy.save')], directory='firewall')
    choice = select.choose_backend('auto', legacy_only)
    assert (choice['backend'], choice['variant'], choice['reason']) == (
        'iptables', 'legacy', 'iptables-legacy rules are in use (ip filter)')
    assert 'next to the iptables-legacy rules in use (ip filter)' in error_of(select.choose_backend, 'nftables',
                                                                              legacy_only)
    nft_only = dict(AVAILABLE, **{'iptables-nft': {}})
    native = detected('nft_native.json', directory='firewall', available=nft_only)
    assert 'would add iptables-legacy rules next to the nftables rules in use (inet filter)' in error_of(
        select.choose_backend, 'iptables', native)


def test_choose_refuses_firewalld_and_missing_tools():
    message = error_of(select.choose_backend, 'auto', select.inspect_host(None, (), True, AVAILABLE))
    assert message.startswith("pgsec_firewall_backend: 'auto' cannot be used while firewalld is running")
    no_nft = dict(AVAILABLE, nft=None)
    assert error_of(select.choose_backend, 'nftables', select.inspect_host(None, (), None, no_nft)) == (
        "pgsec_firewall_backend: 'nftables' is not available on this host: nft is not installed")
    assert select.choose_backend('auto', select.inspect_host(None, (), None, no_nft))['variant'] == 'nft'
    partial = {'iptables-nft': {'iptables': '/usr/sbin/iptables-nft'}}
    assert 'found no firewall tools' in error_of(select.choose_backend, 'auto', select.inspect_host(None, (), None, partial))
    # incomplete iptables-nft tools: the legacy variant is the fallback, and it is missing too
    assert 'the iptables-legacy tools (iptables, ip6tables and their -save/-restore) are not all installed' in error_of(
        select.choose_backend, 'iptables', select.inspect_host(None, (), None, partial))
    assert error_of(select.choose_backend, 'ufw', {}) == (
        "pgsec_firewall_backend: 'ufw' is not one of auto, nftables, iptables")


def test_choose_for_removal():
    host = detected('basic.nft-1.0.6.json', firewalld=True)
    assert select.choose_backend('auto', host, 'absent')['backend'] == 'nftables'  # firewalld does not block removal
    nothing = select.choose_backend('auto', select.inspect_host(None, (), None, AVAILABLE), 'absent')
    assert nothing['backend'] is None
    both = dict(host, owned=['nftables', 'iptables-nft'])
    assert 'pgsec rules exist in nftables and iptables-nft' in error_of(select.choose_backend, 'auto', both, 'absent')


# ------------------------------------------------------------------ effect and persistence

def test_refused_sources_other_tables_still_drop():
    """shadowed: our table allows 203.0.113.0/24 but foreign.nft's inet filter drops it."""
    summary = verdict.summarize_port(5432, nft('shadowed.nft-1.0.6.json'))
    assert summary['ipv4']['allowed_sources'] == ['198.18.200.0/24']
    assert fp.refused_sources(spec('shadowed'), {5432: summary}) == [
        {'port': 5432, 'source': '203.0.113.0/24', 'default': 'drop'}]
    assert fp.refused_sources(spec('basic'), {5432: verdict.summarize_port(5432, nft('basic.nft-1.0.6.json'))}) == []


DEBIAN_NFTABLES_CONF = '''#!/usr/sbin/nft -f

flush ruleset

table inet filter {
\tchain input {
\t\ttype filter hook input priority filter;
\t}
}
'''


def test_nftables_conf_include():
    added = fp.nftables_conf(DEBIAN_NFTABLES_CONF)
    assert added == DEBIAN_NFTABLES_CONF + '\n' + fp.NFT_INCLUDE_COMMENT + '\n' + fp.NFT_INCLUDE_LINE + '\n'
    assert fp.nftables_conf(added) is None
    flushed_after = added + 'flush ruleset\n'
    moved = fp.nftables_conf(flushed_after)
    assert moved.endswith('flush ruleset\n\n' + fp.NFT_INCLUDE_COMMENT + '\n' + fp.NFT_INCLUDE_LINE + '\n')
    assert moved.count(fp.NFT_INCLUDE_LINE) == 1
    assert fp.nftables_conf(added, present=False) == DEBIAN_NFTABLES_CONF
    assert fp.nftables_conf(DEBIAN_NFTABLES_CONF, present=False) is None
    assert fp.nftables_conf(None) == '#!/usr/sbin/nft -f\n\n%s\n%s\n' % (fp.NFT_INCLUDE_COMMENT, fp.NFT_INCLUDE_LINE)


def test_persist_files():
    nftables = fp.persist_files(spec('basic'), {'backend': 'nftables'})
    assert nftables == {'/etc/nftables.d/pgsec.nft': BASIC_NFT}
    assert fp.persist_files({'state': 'absent'}, {'backend': 'nftables'}) == {'/etc/nftables.d/pgsec.nft': None}
    choice = select.choose_backend('iptables', select.inspect_host(None, (), None, AVAILABLE))
    files = fp.persist_files(spec('full'), choice)
    assert sorted(files) == ['/etc/pgsec-hardening/firewall-load.sh', '/etc/pgsec-hardening/ip6tables.rules',
                             '/etc/pgsec-hardening/iptables.rules', '/etc/systemd/system/pgsec-firewall.service']
    assert files['/etc/pgsec-hardening/iptables.rules'] == FULL_IPV4
    unit = files['/etc/systemd/system/pgsec-firewall.service']
    assert 'ExecStart=/bin/sh /etc/pgsec-hardening/firewall-load.sh\n' in unit
    assert 'After=local-fs.target nftables.service netfilter-persistent.service' in unit
    loader = files['/etc/pgsec-hardening/firewall-load.sh'].splitlines()
    assert loader[-1] == '/usr/sbin/ip6tables-nft-restore -w 10 --noflush /etc/pgsec-hardening/ip6tables.rules'
    assert loader[3] == ('/usr/sbin/iptables-nft -w -S INPUT | awk \'$1 == "-A" && ($NF == "PGSEC-INPUT" || '
                         '$NF == "PGSEC-OUTPUT") {$1 = "-D"; print}\' |')
    only_v4 = fp.persist_files(spec('full'), choice, families=[4])
    assert only_v4['/etc/pgsec-hardening/ip6tables.rules'] is None  # a stale copy would be loaded at boot
    assert 'ip6tables' not in only_v4['/etc/pgsec-hardening/firewall-load.sh']
    assert set(fp.persist_files({'state': 'absent'}, choice).values()) == {None}
