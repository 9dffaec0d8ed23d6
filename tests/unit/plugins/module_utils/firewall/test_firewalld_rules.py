# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import parse as firewall
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import select
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import ruleset as fp
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import firewalld_rules as fwd
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture

SPECS = json.loads(read_fixture('firewalld', 'specs.json'))

# someone else's rule, in every recorded listing of zone public (record.sh: OTHER)
OTHER = 'rule family="ipv4" source address="198.18.211.2" port port="8080" protocol="tcp" accept'

BASIC_RULES = [
    'rule priority="-100" family="ipv4" source address="10.0.0.0/8" port port="5432" protocol="tcp" accept',
    'rule priority="-100" family="ipv4" source address="198.18.210.2" port port="5432" protocol="tcp" accept',
    'rule priority="-100" family="ipv6" source address="2001:db8::/64" port port="5432" protocol="tcp" accept',
    'rule priority="-99" family="ipv4" port port="5432" protocol="tcp" drop',
    'rule priority="-99" family="ipv6" port port="5432" protocol="tcp" drop',
]
BASIC_ACCEPTS, BASIC_REFUSALS = BASIC_RULES[:3], BASIC_RULES[3:]

FULL_REFUSAL = ('rule priority="-99" family="%s" port port="%s" protocol="tcp" log prefix="pgsec-refused: " level="info" '
                'limit value="5/m" reject type="tcp-reset"')
FULL_RULES = [
    'rule priority="-100" family="ipv4" source address="198.18.210.0/24" port port="5432" protocol="tcp" accept',
    'rule priority="-100" family="ipv4" source address="198.18.210.0/24" port port="6432-6433" protocol="tcp" accept',
    'rule priority="-100" family="ipv6" source address="2001:db8::1" port port="5432" protocol="tcp" accept',
    'rule priority="-100" family="ipv6" source address="2001:db8::1" port port="6432-6433" protocol="tcp" accept',
    FULL_REFUSAL % ('ipv4', '5432'),
    FULL_REFUSAL % ('ipv4', '6432-6433'),
    FULL_REFUSAL % ('ipv6', '5432'),
    FULL_REFUSAL % ('ipv6', '6432-6433'),
]
FULL_ACCEPTS, FULL_REFUSALS = FULL_RULES[:4], FULL_RULES[4:]

AVAILABLE = {'firewall-cmd': '/usr/bin/firewall-cmd', 'nft': '/usr/sbin/nft'}


def fixture(name):
    return read_fixture('firewalld', name)


def spec(name, **changes):
    return dict(copy.deepcopy(SPECS[name]), **changes)


def error_of(call, *args, **kwargs):
    with pytest.raises(fp.FirewallPlanError) as error:
        call(*args, **kwargs)
    return str(error.value)


def texts(listing):
    """Rich rule texts of a parsed zone, in firewalld's order."""
    return [rich['text'] for rich in listing['rich_rules']]


def host(runtime, permanent=None):
    """Zone public as firewalld has it: {zone: {layer: parsed --list-all}}."""
    return {'public': {'runtime': fwd.parse_zone(fixture(runtime)),
                       'permanent': fwd.parse_zone(fixture(permanent or runtime))}}


def current(zones, state=None, **extra):
    result = {'default_zone': 'public', 'zones': zones, 'services': {}, 'state': state}
    result.update(extra)
    return result


def recorded(runtime=(), permanent=(), zone='public'):
    """A state file's content recording rules as pgsec's."""
    state = fwd.load_state(None)
    state = fwd.set_owned(state, 'runtime', {zone: list(runtime)} if runtime else {})
    return fwd.dump_state(fwd.set_owned(state, 'permanent', {zone: list(permanent)} if permanent else {}))


def op(action, value, layer='runtime', kind='rich-rule', zone='public'):
    return {'layer': layer, 'zone': zone, 'action': action, 'kind': kind, 'value': value}


def port_entry(text):
    ports, _slash, proto = text.partition('/')
    low, _dash, high = ports.partition('-')
    return [[int(low), int(high or low)], proto]


def run(zones, ops):
    """What firewalld does with ops; adding what is there or removing what is not fails the test."""
    result = copy.deepcopy(zones)
    for item in ops:
        listing = result[item['zone']][item['layer']]
        if item['kind'] == 'rich-rule':
            keys = [fwd.rule_key(text) for text in texts(listing)]
            there = fwd.rule_key(item['value']) in keys
            value = firewall.parse_rich_rule(item['value'])
            entries = listing['rich_rules']
        else:
            entries = listing['services' if item['kind'] == 'service' else 'ports']
            value = item['value'] if item['kind'] == 'service' else port_entry(item['value'])
            there = value in entries
        assert there == (item['action'] == 'remove'), item
        if item['action'] == 'add':
            entries.append(value)
        elif item['kind'] == 'rich-rule':
            del entries[keys.index(fwd.rule_key(item['value']))]
        else:
            entries.remove(value)
    return result


def applied(planned, zones, state):
    """Run a plan's runtime and permanent ops and record them as the module does: (zones, state text)."""
    zones = run(zones, planned['apply'].get('firewalld', []) + planned['persist'])
    loaded = fwd.load_state(state)
    for layer, result in planned['layers'].items():
        loaded = fwd.set_owned(loaded, layer, result['owned'], result['removed_openings'])
    return zones, fwd.dump_state(loaded)


def assert_unchanged(planned):
    assert planned['changed'] is False, planned['diff']
    assert planned['apply'] == {} and planned['rollback'] == {} and planned['persist'] == []
    assert planned['diff'] == [] and planned['before'] == planned['after']


# ------------------------------------------------------------------ wanted rules

def test_wanted_rules_basic_drop_ipv4_and_ipv6():
    assert fwd.wanted_rules(fwd.normalize(spec('basic'))) == BASIC_RULES


def test_wanted_rules_full_reject_log_port_ranges():
    assert fwd.wanted_rules(fwd.normalize(spec('full'))) == FULL_RULES


@pytest.mark.parametrize('changes, rules', [
    ({'action': 'drop', 'log': True, 'sources': ['192.0.2.7']}, [
        'rule priority="-100" family="ipv4" source address="192.0.2.7" port port="5432" protocol="tcp" accept',
        'rule priority="-99" family="ipv4" port port="5432" protocol="tcp" log prefix="pgsec-refused: " level="info" '
        'limit value="5/m" drop',
        'rule priority="-99" family="ipv6" port port="5432" protocol="tcp" log prefix="pgsec-refused: " level="info" '
        'limit value="5/m" drop']),
    ({'action': 'reject', 'log': False, 'sources': ['2001:db8:1::/48'], 'ports': [6432]}, [
        'rule priority="-100" family="ipv6" source address="2001:db8:1::/48" port port="6432" protocol="tcp" accept',
        'rule priority="-99" family="ipv4" port port="6432" protocol="tcp" reject type="tcp-reset"',
        'rule priority="-99" family="ipv6" port port="6432" protocol="tcp" reject type="tcp-reset"']),
    ({'sources': [], 'allow_none': True, 'ports': [5432, 5434, 5433]}, [
        'rule priority="-99" family="ipv4" port port="5432-5434" protocol="tcp" drop',
        'rule priority="-99" family="ipv6" port port="5432-5434" protocol="tcp" drop']),
    ({'sources': ['10.1.0.0/16', '10.0.0.0/8', '2001:DB8::5/128']}, [
        'rule priority="-100" family="ipv4" source address="10.0.0.0/8" port port="5432" protocol="tcp" accept',
        'rule priority="-100" family="ipv6" source address="2001:db8::5" port port="5432" protocol="tcp" accept',
        BASIC_REFUSALS[0], BASIC_REFUSALS[1]]),
    ({'state': 'absent'}, []),
])
def test_wanted_rules_variants(changes, rules):
    assert fwd.wanted_rules(fwd.normalize(spec('basic', **changes))) == rules


@pytest.mark.parametrize('ports, ranges', [
    ([5432, 5433, 6432], ['5432-5433', '6432']),
    ([6433, 5432, 6432, 5432], ['5432', '6432-6433']),
    ([5432], ['5432']),
    ([1, 2, 3, 65534, 65535], ['1-3', '65534-65535']),
    ([], []),
])
def test_port_ranges(ports, ranges):
    assert fwd.port_ranges(ports) == ranges


@pytest.mark.parametrize('name, listings', [
    ('basic', ['public.basic.list-all.txt', 'public.basic.permanent.list-all.txt', 'public.basic.list-rich-rules.txt']),
    ('full', ['public.full.list-all.txt', 'public.full.list-rich-rules.txt', 'public.full.open.list-all.txt']),
])
def test_recorded_listings_hold_the_wanted_rules(name, listings):
    """firewalld 1.3.3 prints the rules exactly as added (else re-record the fixtures with record.sh)."""
    wanted = fwd.wanted_rules(fwd.normalize(spec(name)))
    for listing in listings:
        text = fixture(listing)
        found = fwd.parse_rich_rules(text) if listing.endswith('rich-rules.txt') else texts(fwd.parse_zone(text))
        assert sorted(found) == sorted(wanted + [OTHER]), listing


def test_normalize_sets_backend_and_is_idempotent():
    normal = fwd.normalize(spec('full', backend='nftables'))
    assert normal == {'state': 'present', 'backend': 'firewalld', 'ports': [5432, 6432, 6433],
                      'sources_v4': ['198.18.210.0/24'], 'sources_v6': ['2001:db8::1/128'], 'action': 'reject',
                      'log': True, 'egress': [], 'server_uid': None, 'allow_none': False}
    assert fwd.normalize(normal) == normal


def test_normalize_refuses_egress():
    egress = [{'host': '198.18.200.9', 'port': 5432}]
    message = error_of(fwd.normalize, spec('basic', egress=egress, server_uid=105))
    assert message == ("egress: [{'host': '198.18.200.9', 'port': 5432}] is not supported with "
                       "pgsec_firewall_backend=firewalld: firewalld cannot match the server user's connections "
                       "(use nftables or iptables, or no egress)")
    assert error_of(fwd.plan, spec('basic', egress=egress, server_uid=105), current(host('public.fresh.list-all.txt'))) \
        == message
    # nothing to match when removing
    assert fwd.normalize({'state': 'absent', 'egress': egress})['egress'] == []


@pytest.mark.parametrize('changes, field, value', [
    ({'sources': ['198.18.210.2', '10.0.0.0/33']}, 'sources[1]', "'10.0.0.0/33'"),
    ({'sources': ['db.example.com']}, 'sources[0]', "'db.example.com'"),
    ({'sources': []}, 'sources', '[]'),
    ({'ports': [0]}, 'ports[0]', '0'),
    ({'ports': [5432, 65536]}, 'ports[1]', '65536'),
    ({'action': 'accept'}, 'action', "'accept'"),
    ({'log': 'maybe'}, 'log', "'maybe'"),
    ({'state': 'gone'}, 'state', "'gone'"),
    ({'colour': 'red'}, 'spec', 'colour'),
])
def test_plan_validation_names_field_and_value(changes, field, value):
    message = error_of(fwd.plan, spec('basic', **changes), current(host('public.fresh.list-all.txt')))
    assert message.startswith(field + ': ')
    assert value in message


# ------------------------------------------------------------------ reading rules

@pytest.mark.parametrize('left, right', [
    ('rule family="ipv4" priority="-100" source address="198.18.210.2" port port="5432" protocol="tcp" accept',
     BASIC_RULES[1]),
    ("rule   priority=-100 family=ipv4 source address='198.18.210.2/32' port port=5432 protocol=tcp accept  ",
     BASIC_RULES[1]),
    ('rule priority="-100" family="ipv6" source address="2001:DB8:0::/64" port port="5432" protocol="tcp" accept',
     BASIC_RULES[2]),
    (FULL_REFUSAL.replace('5/m', '5/minute') % ('ipv4', '5432'), FULL_RULES[4]),
    ('rule priority="0" family="ipv4" source address="198.18.211.2" port port="8080" protocol="tcp" accept', OTHER),
    ('rule priority="+0" family="ipv4" source address="198.18.211.2" port port="8080" protocol="tcp" accept', OTHER),
])
def test_rule_key_same_rule(left, right):
    assert fwd.rule_key(left) == fwd.rule_key(right)


@pytest.mark.parametrize('left, right', [
    (BASIC_RULES[0], BASIC_RULES[1]),
    (BASIC_REFUSALS[0], BASIC_REFUSALS[1]),
    (BASIC_REFUSALS[0], BASIC_REFUSALS[0].replace('-99', '-100')),
    (BASIC_REFUSALS[0], BASIC_REFUSALS[0].replace('drop', 'reject type="tcp-reset"')),
    (BASIC_REFUSALS[0], BASIC_REFUSALS[0].replace('5432', '5433')),
    (FULL_RULES[4], FULL_RULES[4].replace('5/m', '6/m')),
    (BASIC_RULES[0], BASIC_RULES[0].replace('10.0.0.0/8', '10.0.0.0/9')),
    (OTHER, OTHER.replace('source address', 'source NOT address')),
])
def test_rule_key_different_rules(left, right):
    assert fwd.rule_key(left) != fwd.rule_key(right)


def test_rule_key_of_text_that_is_not_a_rule():
    assert fwd.rule_key('rule family="ipv4 accept') == ('unparsed', 'rule family="ipv4 accept')
    assert fwd.rule_key('  service name="ssh" ') == ('unparsed', 'service name="ssh"')
    assert fwd.rule_key('') == ('unparsed', '')
    assert fwd.rule_key('rule priority="high" family="ipv4" accept') == ('rule', 'priority=high', 'family=ipv4', 'accept')


@pytest.mark.parametrize('text, ours', [(rule, True) for rule in BASIC_RULES + FULL_RULES] + [
    (OTHER, False),
    ('rule priority="-100" family="ipv4" source address="192.0.2.7" port port="5432" protocol="tcp" accept', True),
    ('rule priority="-100" family="ipv4" source address="192.0.2.7" port port="5432" protocol="udp" accept', False),
    ('rule priority="-100" family="ipv4" source address="192.0.2.7" port port="5432" protocol="tcp" drop', False),
    ('rule priority="-100" family="ipv4" port port="5432" protocol="tcp" accept', False),
    ('rule priority="-100" source address="192.0.2.7" port port="5432" protocol="tcp" accept', False),
    ('rule priority="-99" family="ipv4" port port="5433" protocol="tcp" drop', True),
    ('rule priority="-99" family="ipv4" port port="5433" protocol="tcp" reject', False),
    ('rule priority="-99" family="ipv4" port port="5433" protocol="tcp" accept', False),
    ('rule priority="-98" family="ipv4" port port="5433" protocol="tcp" drop', False),
    ('rule priority="-99" family="ipv4" service name="postgresql" drop', False),
    ('not a rule', False),
])
def test_pgsec_shaped_rules(text, ours):
    assert fwd._ours_shape(text) is ours


def test_parse_rich_rules():
    assert fwd.parse_rich_rules(fixture('public.basic.list-rich-rules.txt')) == [
        BASIC_REFUSALS[1], OTHER, BASIC_ACCEPTS[2], BASIC_ACCEPTS[1], BASIC_ACCEPTS[0], BASIC_REFUSALS[0]]
    assert fwd.parse_rich_rules('\n  %s  \n\nWarning: something\n' % OTHER) == [OTHER]
    assert fwd.parse_rich_rules('') == [] and fwd.parse_rich_rules(None) == []


def test_parse_zone():
    fresh = fwd.parse_zone(fixture('public.fresh.list-all.txt'))
    assert (fresh['name'], fresh['target'], fresh['services'], fresh['ports'], fresh['rich_rules']) == (
        'public', 'default', ['dhcpv6-client', 'ssh'], [], [])
    opened = fwd.parse_zone(fixture('public.full.open.list-all.txt'))
    assert opened['services'] == ['dhcpv6-client', 'postgresql', 'ssh']
    assert opened['ports'] == [[[5400, 5500], 'tcp']]
    assert texts(opened) == [FULL_ACCEPTS[1], FULL_ACCEPTS[0], FULL_ACCEPTS[2], FULL_ACCEPTS[3], FULL_REFUSALS[0],
                             FULL_REFUSALS[2], FULL_REFUSALS[3], FULL_REFUSALS[1], OTHER]
    assert fwd.parse_zone(fixture('nosuch.list-all.stderr')) is None
    assert fwd.parse_zone('') is None and fwd.parse_zone(None) is None
    assert fwd.parse_zone(fresh) is fresh


def test_parse_service_info():
    assert fwd.parse_service_info(fixture('info-service.postgresql.txt')) == {
        'name': 'postgresql', 'ports': [[[5432, 5432], 'tcp']], 'includes': []}
    assert fwd.parse_service_info(fixture('info-service.ssh.txt')) == {
        'name': 'ssh', 'ports': [[[22, 22], 'tcp']], 'includes': []}
    pooled = fwd.parse_service_info('pg-pool\n  ports: 6432-6433/tcp 5432/udp\n  protocols: \n  includes: postgresql ssh\n')
    assert pooled == {'name': 'pg-pool', 'ports': [[[6432, 6433], 'tcp'], [[5432, 5432], 'udp']],
                      'includes': ['postgresql', 'ssh']}
    assert fwd.parse_service_info('') is None
    assert fwd.parse_service_info(fixture('nosuch.list-all.stderr')) is None


def test_service_ports():
    services = {'postgresql': fwd.parse_service_info(fixture('info-service.postgresql.txt')),
                'pg-all': {'name': 'pg-all', 'ports': [[[6432, 6432], 'tcp'], ['bad', 'tcp']], 'includes': ['postgresql']},
                'loop-a': {'name': 'loop-a', 'ports': [[[1, 1], 'tcp']], 'includes': ['loop-b']},
                'loop-b': {'name': 'loop-b', 'ports': [], 'includes': ['loop-a']}}
    assert fwd.service_ports(services, 'postgresql') == [[[5432, 5432], 'tcp']]
    assert fwd.service_ports(services, 'pg-all') == [[[6432, 6432], 'tcp'], [[5432, 5432], 'tcp']]
    # not read from firewalld: the well-known ports, or nothing
    assert fwd.service_ports({}, 'postgresql') == [[[5432, 5432], 'tcp']]
    assert fwd.service_ports({'https': None}, 'https') == [[[443, 443], 'tcp']]
    assert fwd.service_ports({}, 'samba-client') == []
    # includes that loop end
    assert fwd.service_ports(services, 'loop-a') == [[[1, 1], 'tcp']] * 5


def test_openings():
    opened = fwd.parse_zone(fixture('public.full.open.list-all.txt'))
    services = {'postgresql': fwd.parse_service_info(fixture('info-service.postgresql.txt'))}
    assert fwd.openings(opened, [5432, 6432, 6433], services) == [
        {'kind': 'service', 'value': 'postgresql', 'opens': [5432], 'others': False},
        {'kind': 'port', 'value': '5400-5500/tcp', 'opens': [5432], 'others': True}]
    assert fwd.openings(opened, [6432], services) == []
    assert fwd.openings(None, [5432], services) == []
    exact = dict(opened, services=['ssh'], ports=[[[5432, 5432], 'tcp'], [[6432, 6432], 'udp'], ['x', 'tcp'],
                                                  [[6433, 6433], 'tcp']])
    assert fwd.openings(exact, [5432, 6432, 6433], services) == [
        {'kind': 'port', 'value': '5432/tcp', 'opens': [5432], 'others': False},
        {'kind': 'port', 'value': '6433/tcp', 'opens': [6433], 'others': False}]
    wide = {'postgresql': {'name': 'postgresql', 'ports': [[[5432, 5432], 'tcp'], [[5432, 5432], 'udp']], 'includes': []}}
    assert fwd.openings(fwd.parse_zone(fixture('public.full.open.list-all.txt')), [5432], wide)[0] == {
        'kind': 'service', 'value': 'postgresql', 'opens': [5432], 'others': True}


# ------------------------------------------------------------------ state file

def test_load_state_of_nothing():
    empty = {'version': 1, 'zones': {}, 'removed_openings': []}
    assert fwd.load_state(None) == empty and fwd.load_state('') == empty
    assert fwd.owns_rules(fwd.load_state(None)) is False


@pytest.mark.parametrize('text, why', [
    ('{"zones": ', 'is not valid JSON: fix or remove it'),
    ('[]', 'has an unknown format: fix or remove it'),
    ('{"zones": []}', 'has an unknown format: fix or remove it'),
    ('{"version": 1}', 'has an unknown format: fix or remove it'),
])
def test_load_state_refuses_damage(text, why):
    assert error_of(fwd.load_state, text).startswith('/var/lib/pgsec-hardening/firewalld.json ' + why)
    assert fwd.STATE_FILE == '/var/lib/pgsec-hardening/firewalld.json'


def test_load_state_keeps_only_rule_lists():
    loaded = fwd.load_state(json.dumps({'version': 1, 'zones': {
        'public': {'runtime': [BASIC_RULES[0]], 'later': ['x'], 'permanent': None}, 'odd': 'text'},
        'removed_openings': [{'layer': 'runtime', 'zone': 'public', 'kind': 'service', 'value': 'postgresql'}]}))
    assert loaded == {'version': 1, 'zones': {'public': {'runtime': [BASIC_RULES[0]], 'permanent': []},
                                              'odd': {'runtime': [], 'permanent': []}},
                      'removed_openings': [{'layer': 'runtime', 'zone': 'public', 'kind': 'service',
                                            'value': 'postgresql'}]}
    assert fwd.owns_rules(loaded) is True
    assert fwd.owns_rules(fwd.load_state('{"zones": {"public": {"runtime": []}}}')) is False


def test_set_owned_and_dump_round_trip():
    start = fwd.load_state(None)
    runtime = fwd.set_owned(start, 'runtime', {'public': FULL_RULES})
    assert start == fwd.load_state(None)  # a copy, not changed in place
    both = fwd.set_owned(runtime, 'permanent', {'public': BASIC_RULES})
    assert both['zones'] == {'public': {'runtime': FULL_RULES, 'permanent': BASIC_RULES}}
    opening = {'layer': 'runtime', 'zone': 'public', 'kind': 'service', 'value': 'postgresql'}
    moved = fwd.set_owned(both, 'runtime', {'work': FULL_RULES}, [opening])
    assert moved['zones'] == {'public': {'runtime': [], 'permanent': BASIC_RULES},
                              'work': {'runtime': FULL_RULES, 'permanent': []}}
    assert fwd.set_owned(moved, 'runtime', {}, [opening])['removed_openings'] == [opening]
    gone = fwd.set_owned(fwd.set_owned(moved, 'runtime', {}), 'permanent', {})
    assert gone['zones'] == {} and fwd.owns_rules(gone) is False and gone['removed_openings'] == [opening]
    text = fwd.dump_state(moved)
    assert text.endswith('}\n') and text.startswith('{\n "removed_openings": [\n')
    assert fwd.load_state(text) == moved
    assert json.loads(text)['version'] == fwd.STATE_VERSION == 1


# ------------------------------------------------------------------ plan

def test_plan_from_a_fresh_zone():
    zones = host('public.fresh.list-all.txt')
    given = current(zones)
    before = copy.deepcopy(given)
    planned = fwd.plan(spec('basic'), given)
    assert given == before  # pure
    assert (planned['backend'], planned['zone'], planned['default_zone'], planned['families']) == (
        'firewalld', 'public', 'public', [4, 6])
    assert planned['changed'] is True
    assert planned['apply'] == {'firewalld': [op('add', rule) for rule in BASIC_RULES]}
    assert planned['rollback'] == {'firewalld': [op('remove', rule) for rule in reversed(BASIC_RULES)]}
    assert planned['persist'] == [op('add', rule, 'permanent') for rule in BASIC_RULES]
    assert planned['layers']['runtime']['owned'] == {'public': BASIC_RULES}
    assert planned['layers']['runtime']['added'] == BASIC_RULES
    assert planned['layers']['runtime']['removed'] == []
    assert planned['before'] == ('# firewalld zone public, runtime configuration\n'
                                 '# firewalld zone public, permanent configuration\n')
    assert planned['after'] == ('# firewalld zone public, runtime configuration\n' + '\n'.join(BASIC_RULES) + '\n'
                                '# firewalld zone public, permanent configuration\n' + '\n'.join(BASIC_RULES) + '\n')
    assert planned['diff'][:4] == ['--- before', '+++ after', '@@ -1,2 +1,12 @@',
                                   ' # firewalld zone public, runtime configuration']
    assert planned['diff'][4:9] == ['+' + rule for rule in BASIC_RULES]
    assert (planned['foreign'], planned['lookalikes'], planned['openings']) == ([], [], [])


@pytest.mark.parametrize('runtime, permanent', [
    ('public.basic.list-all.txt', 'public.basic.permanent.list-all.txt'),
    ('public.basic.list-rich-rules.txt', 'public.basic.permanent.list-all.txt'),
])
def test_plan_over_recorded_rules_is_unchanged(runtime, permanent):
    zones = {'public': {'runtime': fixture(runtime), 'permanent': fixture(permanent)}}
    planned = fwd.plan(spec('basic'), current(zones, recorded(BASIC_RULES, BASIC_RULES)))
    assert_unchanged(planned)
    assert planned['after'] == ''.join('# firewalld zone public, %s configuration\n' % layer + '\n'.join(BASIC_RULES)
                                       + '\n' for layer in ('runtime', 'permanent'))
    assert (planned['foreign'], planned['lookalikes'], planned['openings']) == ([], [], [])
    assert planned['layers']['permanent']['owned'] == {'public': BASIC_RULES}


def test_plan_full_over_recorded_full_is_unchanged():
    zones = {'public': {'runtime': fixture('public.full.list-rich-rules.txt'), 'permanent': fixture(
        'public.full.list-all.txt')}}
    planned = fwd.plan(spec('full'), current(zones, recorded(FULL_RULES, FULL_RULES)))
    assert_unchanged(planned)
    assert planned['layers']['runtime']['owned'] == {'public': FULL_RULES}


def test_plan_change_in_the_recorded_order():
    """record.sh: basic in both layers, then full in the runtime one only."""
    zones = host('public.full.list-all.txt', 'public.basic.permanent.list-all.txt')
    state = recorded(FULL_RULES, BASIC_RULES)
    planned = fwd.plan(spec('full'), current(zones, state))
    assert planned['changed'] is False and planned['apply'] == {} and planned['rollback'] == {}
    # accepts added first, then refusals; old refusals removed before old accepts
    assert planned['persist'] == (
        [op('add', rule, 'permanent') for rule in FULL_RULES]
        + [op('remove', rule, 'permanent') for rule in BASIC_REFUSALS + BASIC_ACCEPTS])
    back = fwd.plan(spec('basic'), current(zones, state))
    assert back['changed'] is True and back['persist'] == []
    assert back['apply']['firewalld'] == (
        [op('add', rule) for rule in BASIC_RULES]
        + [op('remove', rule) for rule in (FULL_REFUSALS[0], FULL_REFUSALS[2], FULL_REFUSALS[3], FULL_REFUSALS[1])]
        + [op('remove', rule) for rule in (FULL_ACCEPTS[1], FULL_ACCEPTS[0], FULL_ACCEPTS[2], FULL_ACCEPTS[3])])
    assert back['rollback']['firewalld'] == fwd.invert(back['apply']['firewalld'])
    assert OTHER not in [item['value'] for item in back['apply']['firewalld'] + back['rollback']['firewalld']]
    assert '-' + FULL_REFUSALS[0] in back['diff'] and '+' + BASIC_REFUSALS[0] in back['diff']


def test_plan_change_gives_what_firewalld_recorded():
    zones = host('public.basic.list-all.txt')
    planned = fwd.plan(spec('full'), current(zones, recorded(BASIC_RULES, BASIC_RULES)))
    changed, state = applied(planned, zones, recorded(BASIC_RULES, BASIC_RULES))
    recorded_full = fwd.parse_zone(fixture('public.full.list-all.txt'))
    assert sorted(texts(changed['public']['runtime'])) == sorted(texts(recorded_full))
    assert sorted(texts(changed['public']['permanent'])) == sorted(texts(recorded_full))
    assert json.loads(state)['zones'] == {'public': {'runtime': FULL_RULES, 'permanent': FULL_RULES}}
    assert_unchanged(fwd.plan(spec('full'), current(changed, state)))
    # the rollback brings the runtime layer back as it was
    undone = run(changed, planned['rollback']['firewalld'])
    assert sorted(texts(undone['public']['runtime'])) == sorted(texts(zones['public']['runtime']))


def test_round_trip_fresh_basic_full_absent():
    fresh = host('public.fresh.list-all.txt')
    zones = run(fresh, [op('add', OTHER), op('add', OTHER, 'permanent')])
    state = None
    for name in ('basic', 'full', 'basic'):
        planned = fwd.plan(spec(name), current(zones, state))
        assert planned['changed'] is True
        zones, state = applied(planned, zones, state)
        assert_unchanged(fwd.plan(spec(name), current(zones, state)))
        for layer in fwd.LAYERS:
            assert sorted(texts(zones['public'][layer])) == sorted(fwd.wanted_rules(fwd.normalize(spec(name))) + [OTHER])
    planned = fwd.plan({'state': 'absent'}, current(zones, state))
    zones, state = applied(planned, zones, state)
    assert json.loads(state)['zones'] == {}
    for layer in fwd.LAYERS:
        assert texts(zones['public'][layer]) == [OTHER]
    assert_unchanged(fwd.plan({'state': 'absent'}, current(zones, state)))


def test_absent_removes_only_recorded_rules():
    zones = host('public.basic.list-all.txt', 'public.basic.permanent.list-all.txt')
    planned = fwd.plan({'state': 'absent'}, current(zones, recorded(BASIC_RULES, BASIC_RULES)))
    # firewalld's listing order, refusals first
    assert planned['apply']['firewalld'] == [op('remove', BASIC_REFUSALS[1]), op('remove', BASIC_REFUSALS[0]),
                                             op('remove', BASIC_ACCEPTS[2]), op('remove', BASIC_ACCEPTS[1]),
                                             op('remove', BASIC_ACCEPTS[0])]
    assert planned['persist'] == [op('remove', rule, 'permanent') for rule in BASIC_REFUSALS + BASIC_ACCEPTS]
    assert planned['after'] == ('# firewalld zone public, runtime configuration\n'
                                '# firewalld zone public, permanent configuration\n')
    assert planned['layers']['runtime']['owned'] == {} and planned['layers']['permanent']['owned'] == {}
    assert planned['lookalikes'] == [] and planned['foreign'] == []
    assert planned['rollback']['firewalld'] == [op('add', rule) for rule in BASIC_RULES]


def test_unrecorded_pgsec_shaped_rules_are_never_removed():
    zones = host('public.basic.list-all.txt', 'public.basic.permanent.list-all.txt')
    # nothing recorded, or only rules that are gone
    for state in (None, recorded(FULL_RULES, FULL_RULES)):
        planned = fwd.plan({'state': 'absent'}, current(zones, state))
        assert_unchanged(planned)
        assert planned['before'] == planned['after'] == ''
        assert sorted(planned['lookalikes']) == sorted(BASIC_RULES)
        assert OTHER not in planned['lookalikes']
    # only the refusals are pgsec's: the accepts were there before and are kept
    partly = fwd.plan({'state': 'absent'}, current(zones, recorded(BASIC_REFUSALS, BASIC_REFUSALS)))
    assert [item['value'] for item in partly['apply']['firewalld']] == [BASIC_REFUSALS[1], BASIC_REFUSALS[0]]
    assert [item['value'] for item in partly['persist']] == BASIC_REFUSALS
    assert sorted(partly['lookalikes']) == sorted(BASIC_ACCEPTS)


def test_identical_rules_of_others_are_left_alone():
    zones = host('public.basic.list-all.txt', 'public.basic.permanent.list-all.txt')
    state = recorded(BASIC_REFUSALS, BASIC_REFUSALS)
    planned = fwd.plan(spec('basic'), current(zones, state))
    assert_unchanged(planned)
    assert planned['foreign'] == [BASIC_ACCEPTS[2], BASIC_ACCEPTS[1], BASIC_ACCEPTS[0]]
    assert planned['layers']['runtime']['owned'] == {'public': BASIC_REFUSALS}
    notes = ['# already there, not pgsec\'s (left alone): ' + rule for rule in BASIC_ACCEPTS]
    assert planned['before'].splitlines() == (['# firewalld zone public, runtime configuration'] + BASIC_REFUSALS + notes
                                              + ['# firewalld zone public, permanent configuration'] + BASIC_REFUSALS
                                              + notes)
    # nothing recorded: every wanted rule is someone else's and none is added twice
    none = fwd.plan(spec('basic'), current(zones))
    assert_unchanged(none)
    assert sorted(none['foreign']) == sorted(BASIC_RULES) and none['layers']['runtime']['owned'] == {}
    assert none['lookalikes'] == []


def test_narrowing_removes_ours_and_keeps_lookalikes():
    lookalike = 'rule priority="-100" family="ipv4" source address="192.0.2.7" port port="5432" protocol="tcp" accept'
    zones = run(host('public.basic.list-all.txt'), [op('add', lookalike)])
    state = recorded(BASIC_RULES, BASIC_RULES)
    planned = fwd.plan(spec('basic', sources=['10.0.0.0/8']), current(zones, state))
    # the refusals of both families stay
    assert planned['apply']['firewalld'] == [op('remove', BASIC_ACCEPTS[2]), op('remove', BASIC_ACCEPTS[1])]
    assert planned['lookalikes'] == [lookalike]
    assert planned['layers']['runtime']['owned'] == {'public': [BASIC_ACCEPTS[0]] + BASIC_REFUSALS}
    assert [item['value'] for item in planned['persist']] == [BASIC_ACCEPTS[2], BASIC_ACCEPTS[1]]
    assert lookalike not in [item['value'] for item in planned['apply']['firewalld'] + planned['persist']]


@pytest.mark.parametrize('changes, added, removed', [
    ({'action': 'reject'}, [rule.replace('drop', 'reject type="tcp-reset"') for rule in BASIC_REFUSALS],
     [BASIC_REFUSALS[1], BASIC_REFUSALS[0]]),
    ({'log': True}, [rule.replace(' drop', ' log prefix="pgsec-refused: " level="info" limit value="5/m" drop')
                     for rule in BASIC_REFUSALS], [BASIC_REFUSALS[1], BASIC_REFUSALS[0]]),
    ({'ports': [5432, 5433]}, [rule.replace('5432', '5432-5433') for rule in BASIC_RULES],
     [BASIC_REFUSALS[1], BASIC_REFUSALS[0], BASIC_ACCEPTS[2], BASIC_ACCEPTS[1], BASIC_ACCEPTS[0]]),
    ({'sources': ['10.0.0.0/8', '198.18.210.2', '2001:db8::/64', '2001:db8:5::7']},
     ['rule priority="-100" family="ipv6" source address="2001:db8:5::7" port port="5432" protocol="tcp" accept'], []),
])
def test_runtime_changes(changes, added, removed):
    zones = host('public.basic.list-all.txt')
    planned = fwd.plan(spec('basic', **changes), current(zones, recorded(BASIC_RULES, BASIC_RULES)))
    assert planned['apply']['firewalld'] == [op('add', rule) for rule in added] + [op('remove', rule) for rule in removed]
    assert planned['layers']['runtime']['added'] == added and planned['layers']['runtime']['removed'] == removed
    assert [item['value'] for item in planned['persist'] if item['action'] == 'add'] == added


def test_plan_layer_adds_accepts_before_refusals():
    normal = fwd.normalize(spec('basic'))
    state = fwd.load_state(None)
    layer = fwd.plan_layer(normal, 'permanent', 'public', current(host('public.fresh.list-all.txt')), state,
                           wanted=list(reversed(BASIC_RULES)))
    assert layer['ops'] == [op('add', rule, 'permanent') for rule in reversed(BASIC_ACCEPTS)] + [
        op('add', rule, 'permanent') for rule in reversed(BASIC_REFUSALS)]
    assert layer['owned'] == {'public': BASIC_RULES}  # sorted by priority, then text


def test_recorded_texts_match_as_firewalld_prints_them():
    state = recorded([rule.replace('priority="-100" family="ipv4"', 'family="ipv4" priority="-100"')
                      .replace('2001:db8::1', '2001:DB8::1/128')
                      .replace('5/m', '5/minute') for rule in FULL_RULES])
    planned = fwd.plan(spec('full'), current(host('public.full.list-all.txt'), state), layers=('runtime',))
    assert planned['changed'] is False and planned['foreign'] == []
    assert planned['layers']['runtime']['owned'] == {'public': FULL_RULES}  # the live texts


def test_drift_is_repaired():
    zones = run(host('public.basic.list-all.txt'), [op('remove', BASIC_ACCEPTS[1]), op('remove', BASIC_REFUSALS[1])])
    planned = fwd.plan(spec('basic'), current(zones, recorded(BASIC_RULES, BASIC_RULES)))
    assert planned['apply']['firewalld'] == [op('add', BASIC_ACCEPTS[1]), op('add', BASIC_REFUSALS[1])]
    assert planned['persist'] == []
    assert '-' + BASIC_ACCEPTS[1] not in planned['diff'] and '+' + BASIC_ACCEPTS[1] in planned['diff']
    # a recorded rule gone by other hands is not removed again, and forgotten
    gone = fwd.plan({'state': 'absent'}, current(zones, recorded(BASIC_RULES)), layers=('runtime',))
    assert [item['value'] for item in gone['apply']['firewalld']] == [BASIC_REFUSALS[0], BASIC_ACCEPTS[2], BASIC_ACCEPTS[0]]


def test_zone_change_moves_the_rules():
    zones = host('public.basic.list-all.txt')
    work = firewall.parse_firewalld_zones(fixture('list-all-zones.txt'))['zones']['work']
    zones['work'] = {'runtime': work, 'permanent': work}
    planned = fwd.plan(spec('basic'), current(zones, recorded(BASIC_RULES, BASIC_RULES)), zone='work')
    assert planned['zone'] == 'work' and planned['default_zone'] == 'public'
    assert planned['apply']['firewalld'] == (
        [op('add', rule, zone='work') for rule in BASIC_RULES]
        + [op('remove', rule) for rule in (BASIC_REFUSALS[1], BASIC_REFUSALS[0], BASIC_ACCEPTS[2], BASIC_ACCEPTS[1],
                                           BASIC_ACCEPTS[0])])
    assert planned['layers']['runtime']['owned'] == {'work': BASIC_RULES}
    assert planned['before'].splitlines()[:2] == ['# firewalld zone work, runtime configuration',
                                                  '# firewalld zone public, runtime configuration']
    assert planned['lookalikes'] == []  # public's unrecorded rules are not looked at
    commands = fwd.commands('firewall-cmd', planned['apply']['firewalld'])
    assert [argv[:4] for argv in commands] == [['firewall-cmd', '--zone', 'work', '--add-rich-rule'],
                                               ['firewall-cmd', '--zone', 'public', '--remove-rich-rule']]


def test_zone_gone_with_its_rules():
    zones = host('public.fresh.list-all.txt')
    state = recorded(BASIC_RULES, zone='vanished')
    planned = fwd.plan(spec('basic'), current(zones, state), layers=('runtime',))
    assert planned['apply']['firewalld'] == [op('add', rule) for rule in BASIC_RULES]
    assert planned['layers']['runtime']['owned'] == {'public': BASIC_RULES}
    assert 'vanished' not in planned['before']


def test_plan_zone_errors():
    zones = host('public.fresh.list-all.txt')
    assert error_of(fwd.plan, spec('basic'), current(zones), zone='nosuch') == (
        "zone: 'nosuch' is not a firewalld zone on this host")
    assert error_of(fwd.plan, spec('basic'), current(zones, default_zone=None)) == (
        'zone: None is not set and firewalld has no default zone')
    assert error_of(fwd.plan, spec('basic'), current(zones, state='{oops')).startswith(
        '/var/lib/pgsec-hardening/firewalld.json is not valid JSON')
    # the loaded state is accepted as it is
    loaded = fwd.load_state(recorded(BASIC_RULES, BASIC_RULES))
    assert_unchanged(fwd.plan(spec('basic'), current(host('public.basic.list-all.txt'), loaded)))


def test_without_persist_the_permanent_layer_loses_our_rules():
    zones = host('public.basic.list-all.txt', 'public.basic.permanent.list-all.txt')
    planned = fwd.plan(spec('basic'), current(zones, recorded(BASIC_RULES, BASIC_RULES)), persist=False)
    assert planned['changed'] is False and planned['apply'] == {}
    assert planned['persist'] == [op('remove', rule, 'permanent') for rule in
                                  (BASIC_REFUSALS[0], BASIC_REFUSALS[1], BASIC_ACCEPTS[0], BASIC_ACCEPTS[1],
                                   BASIC_ACCEPTS[2])]
    assert planned['layers']['permanent']['owned'] == {}
    fresh = fwd.plan(spec('basic'), current(host('public.fresh.list-all.txt')), persist=False)
    assert fresh['persist'] == [] and fresh['layers']['permanent']['before'] == ''
    assert fresh['apply']['firewalld'] == [op('add', rule) for rule in BASIC_RULES]


def test_permanent_layer_alone():
    zones = {'public': {'permanent': fixture('public.basic.permanent.list-all.txt')}}
    planned = fwd.plan(spec('full'), current(zones, recorded(FULL_RULES, BASIC_RULES)), layers=('permanent',))
    assert sorted(planned['layers']) == ['permanent']
    assert planned['changed'] is False and planned['apply'] == {} and planned['rollback'] == {}
    assert [item['action'] for item in planned['persist']] == ['add'] * 8 + ['remove'] * 5
    assert planned['before'].startswith('# firewalld zone public, permanent configuration\n')


# ------------------------------------------------------------------ zone-wide openings

OPEN_MESSAGE = (
    "pgsec_firewall_backend: firewalld zone 'public' opens 5432/tcp to every source (service postgresql, port "
    "5400-5500/tcp, runtime configuration): pgsec's rules would be all that keeps the port closed, and removing them "
    "would open it to everyone; remove that from the zone, or set firewalld_remove_open_port to let pgsec remove it")


def opened_zones(ports=None):
    zones = host('public.full.open.list-all.txt', 'public.full.list-all.txt')
    if ports is not None:
        zones['public']['runtime']['ports'] = ports
    return zones


def test_zone_wide_opening_is_refused():
    services = {'postgresql': fwd.parse_service_info(fixture('info-service.postgresql.txt'))}
    state = recorded(FULL_RULES, FULL_RULES)
    assert error_of(fwd.plan, spec('full'), current(opened_zones(), state, services=services)) == OPEN_MESSAGE
    # not read from firewalld: the well-known service ports count
    assert error_of(fwd.plan, spec('full'), current(opened_zones(), state)) == OPEN_MESSAGE
    assert error_of(fwd.plan, spec('full'), current(opened_zones(), state), remove_open_port=True) == (
        "firewalld_remove_open_port: firewalld zone 'public' has port 5400-5500/tcp, which also open(s) other ports: "
        "pgsec will not close those; narrow it by hand (keep the other ports) and run again")
    only_service = error_of(fwd.plan, spec('full'), current(opened_zones([]), state))
    assert only_service.startswith("pgsec_firewall_backend: firewalld zone 'public' opens 5432/tcp to every source "
                                   "(service postgresql, runtime configuration)")


def test_zone_wide_opening_removed_on_request():
    zones = opened_zones([[[6432, 6433], 'tcp']])
    state = recorded(FULL_RULES, FULL_RULES)
    assert 'opens 5432/tcp, 6432/tcp, 6433/tcp to every source (service postgresql, port 6432-6433/tcp' in error_of(
        fwd.plan, spec('full'), current(zones, state))
    planned = fwd.plan(spec('full'), current(zones, state), remove_open_port=True)
    assert planned['apply']['firewalld'] == [op('remove', 'postgresql', kind='service'),
                                             op('remove', '6432-6433/tcp', kind='port')]
    assert planned['rollback']['firewalld'] == [op('add', '6432-6433/tcp', kind='port'),
                                                op('add', 'postgresql', kind='service')]
    assert planned['persist'] == [] and planned['changed'] is True
    assert planned['layers']['runtime']['removed_openings'] == [
        {'layer': 'runtime', 'zone': 'public', 'kind': 'service', 'value': 'postgresql'},
        {'layer': 'runtime', 'zone': 'public', 'kind': 'port', 'value': '6432-6433/tcp'}]
    assert planned['layers']['runtime']['before'].splitlines()[-2:] == [
        '# firewalld zone public, runtime configuration: service postgresql opens the port to everyone',
        '# firewalld zone public, runtime configuration: port 6432-6433/tcp opens the port to everyone']
    changed, text = applied(planned, zones, state)
    assert changed['public']['runtime']['services'] == ['dhcpv6-client', 'ssh'] and changed['public']['runtime'][
        'ports'] == []
    assert len(json.loads(text)['removed_openings']) == 2
    assert_unchanged(fwd.plan(spec('full'), current(changed, text)))
    assert fwd.commands('/usr/bin/firewall-cmd', planned['rollback']['firewalld']) == [
        ['/usr/bin/firewall-cmd', '--zone', 'public', '--add-port', '6432-6433/tcp'],
        ['/usr/bin/firewall-cmd', '--zone', 'public', '--add-service', 'postgresql']]


def test_service_opening_other_ports_is_not_removed():
    services = {'postgresql': {'name': 'postgresql', 'ports': [[[5432, 5432], 'tcp'], [[5433, 5433], 'tcp']],
                               'includes': []}}
    given = current(opened_zones([]), recorded(FULL_RULES, FULL_RULES), services=services)
    message = error_of(fwd.plan, spec('full'), given, remove_open_port=True)
    assert message.startswith("firewalld_remove_open_port: firewalld zone 'public' has service postgresql, which also")


def test_openings_that_do_not_matter():
    state = recorded(FULL_RULES, FULL_RULES)
    # other ports and protocols
    other = opened_zones([[[8080, 8080], 'tcp'], [[5432, 5432], 'udp']])
    other['public']['runtime']['services'] = ['ssh', 'dhcpv6-client']
    assert_unchanged(fwd.plan(spec('full'), current(other, state)))
    # removing pgsec's rules, or keeping none in the permanent layer, needs no check
    removal = fwd.plan({'state': 'absent'}, current(opened_zones(), state))
    assert len(removal['apply']['firewalld']) == 8 and removal['openings'] == []
    assert all(item['kind'] == 'rich-rule' for item in removal['apply']['firewalld'] + removal['persist'])
    opened_permanent = host('public.full.list-all.txt', 'public.full.open.list-all.txt')
    planned = fwd.plan(spec('full'), current(opened_permanent, state), persist=False)
    assert [item['action'] for item in planned['persist']] == ['remove'] * 8
    assert 'permanent configuration' in error_of(fwd.plan, spec('full'), current(opened_permanent, state))
    # a --list-rich-rules listing has no services to check
    listed = {'public': {'runtime': fixture('public.full.list-rich-rules.txt'),
                         'permanent': fixture('public.full.list-rich-rules.txt')}}
    assert_unchanged(fwd.plan(spec('full'), current(listed, state)))


# ------------------------------------------------------------------ invert, describe, commands

def test_invert_undoes_ops():
    ops = [op('add', BASIC_RULES[0]), op('add', BASIC_RULES[3]), op('remove', FULL_RULES[4]),
           op('remove', 'postgresql', kind='service'), op('add', BASIC_RULES[0], 'permanent')]
    assert fwd.invert(ops) == [op('remove', BASIC_RULES[0], 'permanent'), op('add', 'postgresql', kind='service'),
                               op('add', FULL_RULES[4]), op('remove', BASIC_RULES[3]), op('remove', BASIC_RULES[0])]
    assert fwd.invert(fwd.invert(ops)) == ops
    assert fwd.invert([]) == []
    zones = host('public.full.open.list-all.txt', 'public.fresh.list-all.txt')
    changed = run(zones, ops)
    assert sorted(run(changed, fwd.invert(ops))['public']['runtime']['services']) == zones['public']['runtime']['services']
    assert sorted(texts(run(changed, fwd.invert(ops))['public']['runtime'])) == sorted(texts(zones['public']['runtime']))
    assert ops[0]['action'] == 'add'  # not changed in place


def test_describe():
    assert fwd.describe([op('add', BASIC_RULES[3]), op('remove', 'postgresql', 'permanent', 'service'),
                         op('remove', '5400-5500/tcp', kind='port', zone='internal')]) == [
        'runtime zone public: add rich-rule ' + BASIC_RULES[3],
        'permanent zone public: remove service postgresql',
        'runtime zone internal: remove port 5400-5500/tcp']
    assert fwd.describe([]) == []


def test_commands_group_consecutive_ops():
    ops = [op('add', BASIC_RULES[0]), op('add', BASIC_RULES[3]), op('remove', FULL_RULES[4]),
           op('remove', 'postgresql', kind='service'), op('remove', '5400-5500/tcp', kind='port'),
           op('add', BASIC_RULES[0], 'permanent'), op('add', BASIC_RULES[3], 'permanent'),
           op('add', BASIC_RULES[4], zone='work'), op('add', BASIC_RULES[1])]
    assert fwd.commands('/usr/bin/firewall-cmd', ops) == [
        ['/usr/bin/firewall-cmd', '--zone', 'public', '--add-rich-rule', BASIC_RULES[0], '--add-rich-rule',
         BASIC_RULES[3]],
        ['/usr/bin/firewall-cmd', '--zone', 'public', '--remove-rich-rule', FULL_RULES[4]],
        ['/usr/bin/firewall-cmd', '--zone', 'public', '--remove-service', 'postgresql'],
        ['/usr/bin/firewall-cmd', '--zone', 'public', '--remove-port', '5400-5500/tcp'],
        ['/usr/bin/firewall-cmd', '--permanent', '--zone', 'public', '--add-rich-rule', BASIC_RULES[0],
         '--add-rich-rule', BASIC_RULES[3]],
        ['/usr/bin/firewall-cmd', '--zone', 'work', '--add-rich-rule', BASIC_RULES[4]],
        ['/usr/bin/firewall-cmd', '--zone', 'public', '--add-rich-rule', BASIC_RULES[1]]]
    assert fwd.commands('firewall-cmd', []) == []


def recorded_call(name):
    """A recorded stderr whose last line record.sh wrote as "rc N"."""
    lines = fixture(name).splitlines(True)
    return int(lines[-1].split()[1]), ''.join(lines[:-1])


def test_command_errors():
    rc, stderr = recorded_call('batch-add.stderr')
    assert rc == 0 and 'ALREADY_ENABLED' in stderr
    assert fwd.command_errors(rc, '', stderr) == ['Warning: INVALID_ADDR: 300.1.1.1']
    assert fwd.command_errors(112, '', fixture('nosuch.list-all.stderr')) == ['Error: INVALID_ZONE: nosuch']
    rc, stdout = recorded_call('state.not-running.txt')
    assert fwd.command_errors(rc, stdout, '') == ['rc 252: not running']
    assert fwd.command_errors(0, 'success\n', '') == []
    assert fwd.command_errors(0, '', "Warning: NOT_ENABLED: 'rule ...' not in 'public'\nWarning: ALREADY_ENABLED: x\n") == []
    assert fwd.command_errors(0, '', 'Warning: INVALID_RULE: a\nWarning: INVALID_RULE: a\nError: COMMAND_FAILED\n') == [
        'Warning: INVALID_RULE: a', 'Error: COMMAND_FAILED']
    assert fwd.command_errors(13, '', '') == ['rc 13: ']


# ------------------------------------------------------------------ other zones

def test_other_zone_openings_recorded():
    zones = firewall.parse_firewalld_zones(fixture('list-all-zones.txt'))
    services = {'postgresql': fwd.parse_service_info(fixture('info-service.postgresql.txt'))}
    assert fwd.other_zone_openings(zones, 'public', [5432], services) == [
        {'zone': 'internal', 'bound': 'sources 198.18.1.0/24', 'opens': ['service postgresql']}]
    assert fwd.other_zone_openings(zones, 'public', [6432], services) == []
    # the target zone itself, and zones nothing is bound to, do not count
    assert fwd.other_zone_openings(zones, 'internal', [5432], services) == []


def test_other_zone_openings_rich_rules_and_targets():
    zones = firewall.parse_firewalld_zones(fixture('list-all-zones.txt'))
    work, trusted, dmz = zones['zones']['work'], zones['zones']['trusted'], zones['zones']['dmz']
    work['interfaces'] = ['eth1']
    work['rich_rules'] = [firewall.parse_rich_rule(text) for text in (
        'rule family="ipv4" source address="192.0.2.0/24" port port="5430-5439" protocol="tcp" accept',
        'rule family="ipv4" port port="5432" protocol="udp" accept',
        'rule family="ipv4" port port="5432" protocol="tcp" drop',
        OTHER)]
    trusted['interfaces'] = ['eth2']
    trusted['sources'] = ['203.0.113.0/24', '2001:db8:9::/48']
    dmz['sources'] = ['198.18.9.0/24']  # ssh only
    assert fwd.other_zone_openings(zones, 'public', [5432], {}) == [
        {'zone': 'internal', 'bound': 'sources 198.18.1.0/24', 'opens': ['service postgresql']},
        {'zone': 'trusted', 'bound': 'interfaces eth2, sources 203.0.113.0/24 2001:db8:9::/48',
         'opens': ['target ACCEPT']},
        {'zone': 'work', 'bound': 'interfaces eth1',
         'opens': ['rich rule rule family="ipv4" source address="192.0.2.0/24" port port="5430-5439" protocol="tcp" '
                   'accept']}]


# ------------------------------------------------------------------ backend choice

def inspected(running, nft_name=None, available=None):
    parsed = firewall.parse_nft_json(read_fixture('firewall_plan', nft_name)) if nft_name else None
    return select.inspect_host(parsed, (), running, AVAILABLE if available is None else available)


def test_choose_firewalld_when_it_runs():
    expected = {'backend': 'firewalld', 'variant': None, 'commands': {'firewall-cmd': '/usr/bin/firewall-cmd'}}
    assert select.choose('auto', inspected(True)) == dict(expected, reason='firewalld is running')
    assert select.choose('firewalld', inspected(True)) == dict(expected, reason='requested')
    assert select.choose('auto', inspected(True), firewalld_owned=True) == dict(
        expected, reason='pgsec rules already exist in firewalld')
    assert select.choose('auto', inspected(False)) == {'backend': 'nftables', 'variant': None,
                                                       'commands': {'nft': '/usr/sbin/nft'}, 'reason': 'nft is available'}
    assert select.choose('nftables', inspected(None))['backend'] == 'nftables'


@pytest.mark.parametrize('requested', ['nftables', 'iptables'])
def test_choose_refuses_other_backends_next_to_firewalld(requested):
    assert error_of(select.choose, requested, inspected(True)).startswith(
        "pgsec_firewall_backend: '%s' cannot be used while firewalld is running: firewalld owns the firewall" % requested)
    for running in (True, False):
        assert error_of(select.choose, requested, inspected(running), firewalld_owned=True) == (
            "pgsec_firewall_backend: '%s' would leave the pgsec rich rules in firewalld behind: remove them first with "
            "state=absent" % requested)


def test_choose_refuses_rules_in_two_places():
    with_nft = inspected(True, 'basic.nft-1.0.6.json')
    assert with_nft['owned'] == ['nftables']
    for requested in ('auto', 'firewalld'):
        assert error_of(select.choose, requested, with_nft) == (
            "pgsec_firewall_backend: '%s' would leave the pgsec rules in nftables behind: remove them first with "
            "state=absent" % requested)
        assert error_of(select.choose, requested, with_nft, 'absent', True) == (
            "pgsec_firewall_backend: '%s' cannot be applied: pgsec rules exist in nftables and in firewalld; remove "
            "them from one by hand" % requested)
    # removing the nftables rules works while firewalld runs
    assert select.choose('auto', with_nft, 'absent')['backend'] == 'nftables'
    assert select.choose('firewalld', with_nft, 'absent')['reason'] == 'pgsec rules are in nftables'


def test_choose_firewalld_not_usable():
    assert error_of(select.choose, 'firewalld', inspected(False)) == (
        "pgsec_firewall_backend: 'firewalld' cannot be applied: firewalld is not running (firewall-cmd --state)")
    assert error_of(select.choose, 'auto', inspected(None), firewalld_owned=True) == (
        "pgsec_firewall_backend: 'auto' cannot be applied: firewalld is not running (firewall-cmd --state) and "
        "pgsec's rich rules are in its configuration")
    assert error_of(select.choose, 'firewalld', inspected(True, available={'nft': '/usr/sbin/nft'})) == (
        "pgsec_firewall_backend: 'firewalld' is not available on this host: firewall-cmd is not installed")
    assert error_of(select.choose, 'ufw', inspected(True)) == (
        "pgsec_firewall_backend: 'ufw' is not one of auto, nftables, iptables, firewalld")


def test_choose_for_removal():
    expected = {'backend': 'firewalld', 'variant': None, 'commands': {'firewall-cmd': '/usr/bin/firewall-cmd'},
                'reason': 'pgsec rules are in firewalld'}
    for requested in ('auto', 'firewalld', 'nftables', 'iptables'):
        assert select.choose(requested, inspected(True), 'absent', True) == expected
        assert "cannot remove pgsec's rich rules: firewalld is not running" in error_of(
            select.choose, requested, inspected(False), 'absent', True)
    assert select.choose('firewalld', inspected(True), 'absent') == {
        'backend': None, 'variant': None, 'commands': {}, 'reason': 'nothing of pgsec to remove'}
    assert select.choose('auto', inspected(False), 'absent')['backend'] is None
