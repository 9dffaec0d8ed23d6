# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import parse as firewall
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import verdict
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture


def nft(name):
    return firewall.parse_nft_json(read_fixture('firewall', name))


def ipt(name):
    return firewall.parse_iptables_save(read_fixture('firewall', name))


def families(summary):
    return {key: summary[key] for key in ('ipv4', 'ipv6')}


def nft_doc(chains, rules, sets=()):
    """A minimal ``nft -j`` document: chains as (family, table, name, hook, policy), rules as (chain, expr)."""
    items = [{'metainfo': {'version': '1.1.3', 'json_schema_version': 1}}]
    tables = sorted({(chain[0], chain[1]) for chain in chains})
    items.extend({'table': {'family': family, 'name': name, 'handle': 1}} for family, name in tables)
    items.extend({'set': body} for body in sets)
    for family, table, name, hook, policy in chains:
        body = {'family': family, 'table': table, 'name': name, 'handle': 1}
        if hook:
            body.update({'type': 'filter', 'hook': hook, 'prio': 0, 'policy': policy})
        items.append({'chain': body})
    for handle, (chain, expr) in enumerate(rules, 10):
        family, table = chain.split(' ')[:2]
        items.append({'rule': {'family': family, 'table': table, 'chain': chain.split(' ')[2],
                               'handle': handle, 'expr': expr}})
    return firewall.parse_nft_json(json.dumps({'nftables': items}))


def dport(port, protocol='tcp', op='=='):
    return {'match': {'op': op, 'left': {'payload': {'protocol': protocol, 'field': 'dport'}}, 'right': port}}


def saddr(value, protocol='ip', op='=='):
    return {'match': {'op': op, 'left': {'payload': {'protocol': protocol, 'field': 'saddr'}}, 'right': value}}


def meta(key, value, op='=='):
    return {'match': {'op': op, 'left': {'meta': {'key': key}}, 'right': value}}


# ------------------------------------------------------------------ recorded rulesets

def test_nft_native():
    summary = verdict.summarize_port(5432, nft=nft('nft_native.json'))
    assert families(summary) == {
        'ipv4': {'default': 'reject', 'filtered': True, 'denied_sources': [],
                 'allowed_sources': ['192.0.2.0/24', '198.18.1.0/24', '10.0.0.5/32']},
        'ipv6': {'default': 'reject', 'filtered': True, 'denied_sources': [], 'allowed_sources': ['2001:db8::/64']}}
    assert summary['filtered'] is True and summary['default'] == 'reject'
    assert summary['backend']['primary'] == 'nftables'
    assert summary['policies'] == [{'table': 'inet filter', 'chain': 'input', 'backend': 'nftables',
                                    'families': [4, 6], 'policy': 'drop', 'priority': 0}]
    assert [(rule['chain'], rule['verdict'], rule['sources']) for rule in summary['rules']] == [
        ('input', 'accept', ['10.0.0.5/32', '198.18.1.0/24']),
        ('input', 'accept', ['2001:db8::/64']),
        ('input', 'drop', ['203.0.113.0/24']),
        ('input', 'jump', None),
        ('pg_extra', 'accept', ['192.0.2.0/24'])]
    assert summary['conditional'] == []
    assert summary['rules'][0]['text'] == 'ip saddr 10.0.0.5/32,198.18.1.0/24 tcp dport 5432 accept'


def test_nft_native_other_ports():
    ssh = verdict.summarize_port(22, nft=nft('nft_native.json'))
    assert ssh['ipv4']['allowed_sources'] == ['0.0.0.0/0'] and not ssh['filtered']
    pgbouncer = verdict.summarize_port(6432, nft=nft('nft_native.json'))
    assert pgbouncer['ipv6']['allowed_sources'] == ['2001:db8::/64']
    assert pgbouncer['ipv4']['allowed_sources'] == []
    udp = verdict.summarize_port(5432, nft=nft('nft_native.json'), protocol='udp')
    assert udp['default'] == 'accept'


def test_nft_policy_accept_with_negated_set():
    summary = verdict.summarize_port(5432, nft=nft('nft_policy_accept.json'))
    assert summary['ipv4'] == {'default': 'drop', 'filtered': True, 'denied_sources': [],
                               'allowed_sources': ['198.18.1.100/32', '198.18.1.101/32']}
    # "reject with icmpv6" only applies to IPv6 packets in an inet table
    assert summary['ipv6']['default'] == 'reject'
    # the prerouting chain (notrack) is not an input filter
    assert [policy['chain'] for policy in summary['policies']] == ['in']


def test_iptables_nft_ipv6_left_open():
    v4, v6 = ipt('iptables_nft.save'), ipt('ip6tables_nft.save')
    assert (v4['variant'], v4['family'], v6['family'], v4['version']) == ('nft', 4, 6, '1.8.9')
    summary = verdict.summarize_port(5432, nft=nft('iptables_nft.nft.json'), iptables=[v4, v6])
    assert families(summary) == {
        'ipv4': {'default': 'reject', 'filtered': True, 'allowed_sources': ['198.18.1.100/32'], 'denied_sources': []},
        'ipv6': {'default': 'accept', 'filtered': False, 'allowed_sources': ['::/0'], 'denied_sources': []}}
    assert summary['filtered'] is False and summary['default'] == 'accept'
    assert summary['backend']['primary'] == 'iptables-nft'
    assert summary['backend']['iptables_nft_tables'] == ['ip filter', 'ip6 filter']
    # evaluated from iptables-save, so the nft view's xt expressions do not show up as conditional
    assert summary['conditional'] == []
    assert [policy['backend'] for policy in summary['policies']] == ['iptables-nft', 'iptables-nft']


def test_iptables_nft_seen_only_through_nft_json():
    summary = verdict.summarize_port(5432, nft=nft('iptables_nft.nft.json'))
    assert summary['ipv4']['default'] == 'drop'  # REJECT is an xt target the nft view cannot evaluate
    assert [item['text'] for item in summary['conditional']] == [
        'meta nfproto ipv4 xt match conntrack accept',
        'ip saddr != 198.51.100.0/24 meta l4proto tcp xt match multiport xt match comment reject']


def test_iptables_user_chain_and_ranges():
    summary = verdict.summarize_port(5433, iptables=[ipt('iptables_nft.save'), ipt('ip6tables_nft.save')])
    assert summary['ipv4']['allowed_sources'] == [
        '10.0.0.0/16', '192.0.2.12/30', '192.0.2.16/30', '192.0.2.10/31', '192.0.2.20/32']
    assert summary['ipv4']['default'] == 'drop'


def test_iptables_legacy():
    v4, v6 = ipt('iptables_legacy.save'), ipt('ip6tables_legacy.save')
    assert (v4['variant'], v6['variant']) == ('legacy', 'legacy')
    summary = verdict.summarize_port(5432, nft=nft('iptables_legacy.nft.json'), iptables=[v4, v6])
    assert summary['backend']['active'] == ['iptables-legacy']
    assert summary['ipv6'] == {'default': 'reject', 'filtered': True, 'allowed_sources': ['2001:db8:1::/48'],
                               'denied_sources': []}
    assert summary['filtered'] is True


def test_iptables_rule_parsing():
    chains = ipt('iptables_legacy.save')['tables']['filter']
    assert chains['INPUT']['policy'] == 'drop' and chains['PGSQL']['policy'] is None
    reject = chains['INPUT']['rules'][4]
    assert reject['comment'] == 'pg: deny "others"'
    assert (reject['sources'], reject['sources_negated'], reject['dports'], reject['verdict']) == (
        ['198.51.100.0/24'], True, [[5432, 5432], [6432, 6440]], 'reject')
    assert reject['conditions'] == []
    assert chains['INPUT']['rules'][0]['ct_states'] == ['related', 'established']
    assert chains['INPUT']['rules'][3]['verdict'] == 'jump' and chains['INPUT']['rules'][3]['target'] == 'PGSQL'


def test_legacy_warning_and_mixed():
    warned = ipt('iptables_nft_legacy_present.save')
    assert warned['legacy_tables_present'] is True and warned['tables'] == {}
    mixed_nft, mixed_ipt = nft('mixed_nft_iptables_nft.json'), ipt('mixed_iptables_nft.save')
    backend = firewall.detect_backend(mixed_nft, [mixed_ipt])
    assert backend['active'] == ['nftables', 'iptables-nft']
    assert backend['nftables_tables'] == ['inet filter']
    assert backend['iptables_nft_tables'] == ['ip filter', 'ip nat']
    summary = verdict.summarize_port(5432, nft=mixed_nft, iptables=[mixed_ipt])
    # iptables-nft accepts 5432, the native table still rejects: every input hook must accept
    assert summary['ipv4']['allowed_sources'] == ['192.0.2.0/24', '198.18.1.0/24', '10.0.0.5/32']
    assert summary['ipv4']['default'] == 'reject'


def test_detect_backend_empty_and_firewalld():
    assert firewall.detect_backend()['primary'] == 'none'
    assert firewall.detect_backend(firewall.parse_nft_json(''))['active'] == []
    doc = nft_doc([('inet', 'firewalld', 'filter_INPUT', 'input', 'accept')], [])
    assert firewall.detect_backend(doc)['primary'] == 'firewalld'
    assert firewall.detect_backend(doc, firewalld_running=False)['active'] == []
    plain = ipt('ip6tables_nft.save')
    plain['tables']['filter']['INPUT']['rules'] = []
    assert firewall.detect_backend(None, [plain])['active'] == []  # untouched default tables


# ------------------------------------------------------------------ firewalld (hand-written fixture)

def test_firewalld_zones_parse():
    zones = firewall.parse_firewalld_zones(read_fixture('firewall', 'firewalld_list_all_zones.txt'))
    assert zones['default_zone'] == 'public' and zones['active_zones'] == ['internal', 'public']
    public = zones['zones']['public']
    assert public['interfaces'] == ['eth0', 'eth1'] and public['ports'] == [[[6432, 6440], 'tcp'], [[5432, 5432], 'udp']]
    assert zones['zones']['block']['target'] == '%%REJECT%%'
    assert [rule['action'] for rule in public['rich_rules']] == ['accept', 'drop', 'accept']
    assert public['rich_rules'][1]['priority'] == -10
    assert public['rich_rules'][2]['source_invert'] is True and public['rich_rules'][2]['conditions'] == []


def test_firewalld_summary():
    zones = firewall.parse_firewalld_zones(read_fixture('firewall', 'firewalld_list_all_zones.txt'))
    summary = verdict.summarize_port(5432, firewalld=zones)
    assert families(summary) == {
        'ipv4': {'default': 'reject', 'filtered': True, 'allowed_sources': ['198.18.1.0/24', '203.0.113.0/24'],
                 'denied_sources': ['198.18.1.200/32', '203.0.113.66/32']},
        'ipv6': {'default': 'accept', 'filtered': False, 'allowed_sources': ['::/0'],
                 'denied_sources': ['2001:db8:2::/48']}}
    assert summary['backend']['primary'] == 'firewalld'
    other = verdict.summarize_port(6435, firewalld=zones)
    assert other['ipv4']['default'] == 'accept'
    assert other['ipv4']['denied_sources'] == ['198.18.1.0/24', '198.18.1.200/32', '203.0.113.66/32']


def test_firewalld_interface_zones_are_conditional():
    text = ('public (default, active)\n  target: DROP\n  interfaces: eth0\n  sources: \n  services: ssh\n'
            '  ports: \n  rich rules: \n\ninternal (active)\n  target: default\n  interfaces: eth1\n'
            '  services: postgresql\n  ports: \n  rich rules: \n')
    summary = verdict.summarize_port(5432, firewalld=firewall.parse_firewalld_zones(text))
    assert summary['ipv4']['default'] == 'drop'
    assert summary['conditional'] == [{'table': 'firewalld', 'chain': 'internal', 'text': 'interfaces eth1: accept'}]


@pytest.mark.parametrize('text, expected', [
    ('rule family="ipv4" source address="10.0.0.0/8" service name="postgresql" accept',
     {'family': 4, 'source': '10.0.0.0/8', 'service': 'postgresql', 'action': 'accept', 'conditions': []}),
    ('rule family="ipv6" source not address="::1" port port="5432-5440" protocol="tcp" reject type="icmp6-port-unreachable"',
     {'family': 6, 'source_invert': True, 'port': [[5432, 5440], 'tcp'], 'action': 'reject'}),
    ('rule port port="5432" protocol="tcp" accept limit value="2/m"', {'conditions': ['limit']}),
    ('rule source ipset="clients" port port="5432" protocol="tcp" accept',
     {'conditions': ['source ipset=clients'], 'source': None}),
])
def test_rich_rules(text, expected):
    rule = firewall.parse_rich_rule(text)
    for key, value in expected.items():
        assert rule[key] == value, key


def test_firewalld_rich_rule_with_condition_is_conditional():
    text = ('public (default, active)\n  target: default\n  interfaces: eth0\n  services: \n  ports: \n'
            '  rich rules: \n\trule source ipset="clients" port port="5432" protocol="tcp" accept\n')
    summary = verdict.summarize_port(5432, firewalld=firewall.parse_firewalld_zones(text))
    assert summary['default'] == 'reject'
    assert summary['conditional'][0]['text'].startswith('rule source ipset="clients"')


# ------------------------------------------------------------------ synthetic nft edge cases

def test_vmap_th_dport_and_interfaces():
    doc = nft_doc(
        [('inet', 'f', 'input', 'input', 'drop')],
        [('inet f input', [{'vmap': {'key': {'ct': {'key': 'state'}},
                                     'data': {'set': [['established', {'accept': None}], ['invalid', {'drop': None}]]}}}]),
         ('inet f input', [meta('iifname', 'lo'), {'accept': None}]),
         ('inet f input', [meta('iifname', 'eth1'), dport(5432), {'accept': None}]),
         ('inet f input', [meta('iifname', 'lo', '!='), saddr({'prefix': {'addr': '10.0.0.0', 'len': 8}}),
                           dport({'set': [{'range': [5000, 6000]}]}, 'th'), {'counter': None}, {'accept': None}]),
         ('inet f input', [{'vmap': {'key': {'payload': {'protocol': 'tcp', 'field': 'dport'}},
                                     'data': {'set': [[22, {'accept': None}], [5432, {'jump': {'target': 'pg'}}]]}}}])],
    )
    doc['chains'].append({'family': 'inet', 'table': 'f', 'name': 'pg', 'handle': 2})
    doc['rules'].append({'family': 'inet', 'table': 'f', 'chain': 'pg', 'handle': 99,
                         'expr': [saddr('2001:db8::/32', 'ip6'), {'accept': None}]})
    summary = verdict.summarize_port(5432, nft=doc)
    assert summary['ipv4']['allowed_sources'] == ['10.0.0.0/8']
    assert summary['ipv6']['allowed_sources'] == ['2001:db8::/32']
    assert [item['text'] for item in summary['conditional']] == ['iifname eth1 tcp dport 5432 accept']


def test_jump_loops_and_goto():
    doc = nft_doc(
        [('ip', 't', 'input', 'input', 'accept'), ('ip', 't', 'a', None, None), ('ip', 't', 'b', None, None)],
        [('ip t input', [dport(5432), {'goto': {'target': 'a'}}]),
         ('ip t input', [{'drop': None}]),        # never reached for 5432: goto does not come back
         ('ip t a', [{'jump': {'target': 'b'}}]),
         ('ip t b', [{'jump': {'target': 'a'}}]),  # a <-> b loop must terminate
         ('ip t a', [saddr('192.0.2.0/24'), {'reject': None}])])
    summary = verdict.summarize_port(5432, nft=doc)
    assert summary['ipv4']['default'] == 'accept'
    assert summary['ipv4']['denied_sources'] == ['192.0.2.0/24']
    assert verdict.summarize_port(22, nft=doc)['ipv4']['default'] == 'drop'


def test_multiple_hooks_must_all_accept_and_missing_sets():
    doc = nft_doc(
        [('inet', 'one', 'in', 'input', 'accept'), ('ip', 'two', 'in', 'input', 'accept')],
        [('inet one in', [saddr('@nosuchset'), dport(5432), {'accept': None}]),
         ('inet one in', [dport(5432), meta('l4proto', 'tcp'), saddr('198.18.0.0/15', op='!='), {'drop': None}]),
         ('ip two in', [saddr({'range': ['198.18.1.0', '198.18.1.127']}), dport(5432), {'drop': None}])])
    summary = verdict.summarize_port(5432, nft=doc)
    assert summary['ipv4'] == {'default': 'drop', 'filtered': True, 'allowed_sources': ['198.18.0.0/15'],
                               'denied_sources': ['198.18.1.0/25']}
    assert summary['ipv6']['default'] == 'accept'  # the inet drop rule only matches IPv4 sources
    assert 'set @nosuchset not found' in summary['conditional'][0]['text']


def test_no_firewall_at_all():
    summary = verdict.summarize_port(5432)
    assert summary['filtered'] is False and summary['default'] == 'accept'
    assert summary['allowed_sources'] == ['0.0.0.0/0', '::/0'] and summary['policies'] == []


def test_iptables_edge_lines():
    text = ('# Generated by ip6tables-save v1.8.10 (nf_tables) on Mon Jan  1 00:00:00 2026\n'
            '*filter\n:INPUT DROP [10:20]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n'
            '-A INPUT ! -i lo -m set --match-set pgclients src -p tcp --dport 5432 -j ACCEPT\n'
            '-A INPUT -i eth0 -p tcp -m tcp --dport 5432 -m limit --limit 5/min -j LOG --log-prefix "pg "\n'
            '-A INPUT -s 2001:db8::/32 -p tcp -m tcp ! --dport 22 -m conntrack --ctstate NEW -j ACCEPT\n'
            '-A INPUT -p udp -m udp --dport 5432 -j ACCEPT\n'
            '-A INPUT -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 5432 -s ::/0 -j NFQUEUE --queue-num 1\n'
            '-A INPUT -p tcp -m tcp --dport 5432 -m comment --comment "unterminated\n'
            'garbage\nCOMMIT\n')
    parsed = firewall.parse_iptables_save(text)
    assert parsed['family'] == 6 and parsed['variant'] == 'nft' and parsed['version'] == '1.8.10'
    assert [error['line'] for error in parsed['errors']] == [11, 12]
    rules = parsed['tables']['filter']['INPUT']['rules']
    assert rules[0]['conditions'] == ['-m set --match-set pgclients src']
    assert rules[0]['interfaces'] == ['lo'] and rules[0]['interfaces_negated'] is True
    assert rules[1]['verdict'] is None and rules[1]['conditions'] == ['-m limit --limit 5/min']
    assert rules[2]['dports_negated'] is True and rules[2]['ct_states'] == ['new']
    assert rules[4]['verdict'] == 'queue' and rules[4]['conditions'] == []
    summary = verdict.summarize_port(5432, iptables=[parsed])
    assert summary['ipv6'] == {'default': 'drop', 'filtered': True, 'allowed_sources': ['2001:db8::/32'],
                               'denied_sources': []}
    assert [item['verdict'] for item in summary['conditional']] == ['accept', 'queue']
    assert summary['ipv4']['default'] == 'accept'


def test_results_are_json_serialisable():
    zones = firewall.parse_firewalld_zones(read_fixture('firewall', 'firewalld_list_all_zones.txt'))
    summary = verdict.summarize_port(5432, nft=nft('mixed_nft_iptables_nft.json'),
                                     iptables=[ipt('mixed_iptables_nft.save')], firewalld=zones)
    assert json.loads(json.dumps(summary)) == summary
