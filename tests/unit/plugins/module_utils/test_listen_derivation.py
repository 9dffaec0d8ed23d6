# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""listen_addresses derived from interfaces and routes, against ``ip -j`` output recorded
by fixtures/network/record.sh:

  lo    127.0.0.1/8, ::1/128
  eth0  192.0.2.10/24, 192.0.2.20/24, 2001:db8:1::10/64, fe80::5054:ff:fe12:3400/64
  eth1  198.18.5.11/24, 2001:db8:5::11/64, fe80::5054:ff:fe12:3401/64
  eth2  10.20.0.5/24, 10.20.0.6/24, fe80::5054:ff:fe12:3402/64
  default via 192.0.2.1 dev eth0 (src 192.0.2.20 in ip_route_default_src.json)
  198.51.100.0/24 via 198.18.5.1 dev eth1; 10.30.0.0/16 via 10.20.0.1 dev eth2 src 10.20.0.6
  blackhole 203.0.113.0/24
  2001:db8:77::/48 via 2001:db8:5::1 dev eth1; default via fe80::1 dev eth0
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.facts import gather as access_facts
from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import parse_ip_addresses, parse_ip_routes
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import (
    derive_listen_addresses,
    listen_addresses_for_clients,
)
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.test_policy import (
    SECURE_POLICY,
    check,
    cluster_of,
    secure_facts,
    set_setting,
)

IP = '/usr/sbin/ip'
ADDRESS_ARGV = [IP, '-j', 'address', 'show']
ROUTE_ARGV = [IP, '-j', 'route', 'show', 'table', 'main']
ROUTE6_ARGV = [IP, '-j', '-6', 'route', 'show', 'table', 'main']


def recorded(name):
    return read_fixture('network', name + '.json')


def interfaces():
    return parse_ip_addresses(recorded('ip_address'))


def routes(v4='ip_route', v6='ip_route6'):
    return parse_ip_routes(recorded(v4), 'ipv4') + parse_ip_routes(recorded(v6), 'ipv6')


def derive(*sources, **kwargs):
    return derive_listen_addresses([{'sources': list(sources)}], interfaces(), routes(**kwargs))


def addresses_for(*sources, **kwargs):
    return derive(*sources, **kwargs)['addresses']


# ---------------------------------------------------------------------------- parsing

def test_parse_ip_addresses():
    parsed = interfaces()
    assert [(item['name'], item['address'], item['prefixlen'], item['family'], item['scope']) for item in parsed] == [
        ('lo', '127.0.0.1', 8, 'ipv4', 'host'),
        ('lo', '::1', 128, 'ipv6', 'host'),
        ('eth0', '192.0.2.10', 24, 'ipv4', 'global'),
        ('eth0', '192.0.2.20', 24, 'ipv4', 'global'),
        ('eth0', '2001:db8:1::10', 64, 'ipv6', 'global'),
        ('eth0', 'fe80::5054:ff:fe12:3400', 64, 'ipv6', 'link'),
        ('eth1', '198.18.5.11', 24, 'ipv4', 'global'),
        ('eth1', '2001:db8:5::11', 64, 'ipv6', 'global'),
        ('eth1', 'fe80::5054:ff:fe12:3401', 64, 'ipv6', 'link'),
        ('eth2', '10.20.0.5', 24, 'ipv4', 'global'),
        ('eth2', '10.20.0.6', 24, 'ipv4', 'global'),
        ('eth2', 'fe80::5054:ff:fe12:3402', 64, 'ipv6', 'link'),
    ]
    assert set(parsed[0]) == {'name', 'address', 'prefixlen', 'family', 'scope'}


def test_parse_ip_routes_v4():
    parsed = parse_ip_routes(recorded('ip_route'), 'ipv4')
    assert [(item['dst'], item['dev'], item['gateway'], item['prefsrc']) for item in parsed] == [
        ('default', 'eth0', '192.0.2.1', None),
        ('10.20.0.0/24', 'eth2', None, '10.20.0.5'),
        ('10.30.0.0/16', 'eth2', '10.20.0.1', '10.20.0.6'),
        ('192.0.2.0/24', 'eth0', None, '192.0.2.10'),
        ('198.18.5.0/24', 'eth1', None, '198.18.5.11'),
        ('198.51.100.0/24', 'eth1', '198.18.5.1', None),
        ('203.0.113.0/24', None, None, None),  # blackhole
    ]
    assert all(item['family'] == 'ipv4' and item['metric'] is None for item in parsed)
    assert parse_ip_routes(recorded('ip_route_default_src'), 'ipv4')[0]['prefsrc'] == '192.0.2.20'


def test_parse_ip_routes_v6():
    parsed = parse_ip_routes(recorded('ip_route6'), 'ipv6')
    assert [(item['dst'], item['dev'], item['gateway'], item['metric']) for item in parsed] == [
        ('2001:db8:1::/64', 'eth0', None, 256),
        ('2001:db8:5::/64', 'eth1', None, 256),
        ('2001:db8:77::/48', 'eth1', '2001:db8:5::1', 1024),
        ('fe80::/64', 'eth0', None, 256),
        ('fe80::/64', 'eth1', None, 256),
        ('fe80::/64', 'eth2', None, 256),
        ('default', 'eth0', 'fe80::1', 1024),
    ]
    assert all(item['family'] == 'ipv6' and item['prefsrc'] is None for item in parsed)


def test_parse_ip_routes_host_multipath_and_via():
    # shapes iproute2 prints for "10.9.9.9 dev wg0", "nexthop ... nexthop ..." and "via inet ..."
    text = ('[{"dst":"10.9.9.9","dev":"wg0","scope":"link","flags":[]},'
            '{"dst":"10.40.0.0/16","protocol":"static","flags":[],"nexthops":['
            '{"gateway":"10.20.0.1","dev":"eth2","weight":1,"flags":[]},'
            '{"gateway":"192.0.2.1","dev":"eth0","weight":1,"flags":[]}]},'
            '{"dst":"2001:db8:99::/48","via":{"family":"inet","host":"192.0.2.1"},"dev":"eth0","flags":[]}]')
    assert [(item['dst'], item['dev'], item['gateway']) for item in parse_ip_routes(text, 'ipv4')] == [
        ('10.9.9.9/32', 'wg0', None), ('10.40.0.0/16', 'eth2', '10.20.0.1'),
        ('2001:db8:99::/48', 'eth0', '192.0.2.1')]


@pytest.mark.parametrize('text', [None, '', 'not json', '{"dst": "default"}', '[1, "x", null]',
                                  '[{"ifname": "eth0", "addr_info": "oops"}]', '[{"dst": 7}]', '[{'])
def test_malformed_ip_output(text):
    assert parse_ip_addresses(text) == []
    assert parse_ip_routes(text, 'ipv4') == []
    assert access_facts.parse_local_networks(text) in (None, [])


# ---------------------------------------------------------------------------- derivation

def test_connected_network():
    assert derive('198.18.5.0/24') == {'addresses': ['198.18.5.11'], 'unreachable': [],
                                       'by_source': {'198.18.5.0/24': ['198.18.5.11']}}
    assert addresses_for('198.18.5.77/32') == ['198.18.5.11']
    # both addresses on the network, the secondary one too
    assert addresses_for('192.0.2.0/24') == ['192.0.2.10', '192.0.2.20']
    # a source wider than the interface's network still reaches it
    assert addresses_for('198.18.0.0/15') == ['198.18.5.11']


def test_routed_via_specific_route():
    assert addresses_for('198.51.100.0/24') == ['198.18.5.11']
    assert addresses_for('198.51.100.7') == ['198.18.5.11']


def test_routed_via_default():
    assert addresses_for('100.64.0.0/10') == ['192.0.2.10']
    # only the default covers a source wider than every specific route
    assert addresses_for('172.16.0.0/12') == ['192.0.2.10']
    # but a source overlapping a connected network takes that network's addresses only
    assert addresses_for('10.0.0.0/8') == ['10.20.0.5', '10.20.0.6']


def test_prefsrc_preferred():
    assert addresses_for('10.30.4.0/24') == ['10.20.0.6']  # not eth2's first address 10.20.0.5
    assert addresses_for('100.64.0.0/10', v4='ip_route_default_src') == ['192.0.2.20']


def test_v6():
    assert addresses_for('2001:db8:5::/64') == ['2001:db8:5::11']
    assert addresses_for('2001:db8:77:1::/64') == ['2001:db8:5::11']
    # default via a link-local gateway: eth0's global address, not its link-local one
    assert addresses_for('2001:db8:99::/48') == ['2001:db8:1::10']
    assert addresses_for('::ffff:198.18.5.0/120') == ['198.18.5.11']


def test_link_local_only_when_nothing_else():
    assert addresses_for('::/0') == ['2001:db8:1::10', '2001:db8:5::11']
    assert addresses_for('fe80::/64') == ['fe80::5054:ff:fe12:3400%eth0', 'fe80::5054:ff:fe12:3401%eth1',
                                          'fe80::5054:ff:fe12:3402%eth2']


def test_loopback_source():
    assert addresses_for('127.0.0.0/8', '127.0.0.1/32', '::1/128') == ['127.0.0.1', '::1']
    assert derive_listen_addresses([{'sources': ['127.0.0.1/32']}], [], [])['addresses'] == ['127.0.0.1']


def test_unreachable_without_default_route():
    kwargs = {'v4': 'ip_route_no_default', 'v6': 'ip_route6_no_default'}
    result = derive('100.64.0.0/10', '198.18.5.0/24', '2001:db8:99::/48', '2001:db8:77::/48', **kwargs)
    assert result == {'addresses': ['198.18.5.11', '2001:db8:5::11'],
                      'unreachable': ['100.64.0.0/10', '2001:db8:99::/48'],
                      'by_source': {'100.64.0.0/10': [], '198.18.5.0/24': ['198.18.5.11'],
                                    '2001:db8:99::/48': [], '2001:db8:77::/48': ['2001:db8:5::11']}}


def test_blackhole_and_unparsable_sources_are_unreachable():
    result = derive('203.0.113.0/24', 'db.example.com')
    assert result['addresses'] == [] and result['unreachable'] == ['203.0.113.0/24', 'db.example.com']


def test_several_clients_and_sources_dedup():
    clients = [{'name': 'app', 'sources': ['198.18.5.0/24', '198.51.100.0/24', '127.0.0.1/32']},
               {'name': 'etl', 'sources': ['198.18.5.0/24', '10.30.0.0/16', '2001:db8:5::/64', '198.51.100.9/32']},
               {'name': 'bi', 'sources': ['100.64.0.0/10', '2001:db8:77::/48']}]
    result = derive_listen_addresses(clients, interfaces(), routes())
    assert result['addresses'] == ['198.18.5.11', '127.0.0.1', '10.20.0.6', '2001:db8:5::11', '192.0.2.10']
    assert result['unreachable'] == []
    assert list(result['by_source']) == ['198.18.5.0/24', '198.51.100.0/24', '127.0.0.1/32', '10.30.0.0/16',
                                         '2001:db8:5::/64', '198.51.100.9/32', '100.64.0.0/10', '2001:db8:77::/48']


@pytest.mark.parametrize('clients', [None, [], [{'sources': []}], [{'name': 'nobody'}]])
def test_empty_clients(clients):
    assert derive_listen_addresses(clients, interfaces(), routes()) == {
        'addresses': [], 'unreachable': [], 'by_source': {}}


def test_no_interface_facts():
    result = derive_listen_addresses([{'sources': ['198.18.5.0/24']}], parse_ip_addresses('not json'),
                                     parse_ip_routes('', 'ipv4'))
    assert result == {'addresses': [], 'unreachable': ['198.18.5.0/24'], 'by_source': {'198.18.5.0/24': []}}


def test_lowest_metric_wins_between_equal_routes():
    table = [{'dst': 'default', 'dev': 'eth1', 'gateway': '198.18.5.1', 'prefsrc': None, 'family': 'ipv4',
              'metric': 200},
             {'dst': 'default', 'dev': 'eth2', 'gateway': '10.20.0.1', 'prefsrc': None, 'family': 'ipv4',
              'metric': 100}]
    assert derive_listen_addresses([{'sources': ['100.64.0.0/10']}], interfaces(), table)['addresses'] == [
        '10.20.0.5']


def test_old_helper_unchanged():
    networks = access_facts.parse_local_networks(recorded('ip_address'))
    assert networks[:3] == ['127.0.0.1/8', '::1/128', '192.0.2.10/24']
    assert listen_addresses_for_clients([{'sources': ['198.18.5.0/24']}], networks) == ['198.18.5.11']
    assert listen_addresses_for_clients([{'sources': ['198.51.100.0/24']}], networks) is None


# ---------------------------------------------------------------------------- gathering

class FakeIO(object):
    """Just enough of HostIO for access_facts.gather on a host without PostgreSQL."""

    def __init__(self, outputs=None, has_ip=True):
        self.outputs = outputs or {}
        self.has_ip = has_ip
        self.calls = []

    def run(self, argv, environ_update=None):
        self.calls.append(list(argv))
        return self.outputs.get(tuple(argv), (1, '', 'unexpected command'))

    def which(self, name, extra_dirs=()):
        return IP if name == 'ip' and self.has_ip else None

    def read_file(self, path):
        return None

    def list_names(self, path):
        return []

    def glob(self, pattern):
        return []

    def exists(self, path):
        return False


def recorded_io():
    return FakeIO({tuple(ADDRESS_ARGV): (0, recorded('ip_address'), ''),
                   tuple(ROUTE_ARGV): (0, recorded('ip_route'), ''),
                   tuple(ROUTE6_ARGV): (0, recorded('ip_route6'), '')})


def test_gather_network_one_address_call():
    io = recorded_io()
    network = access_facts.gather_network(io)
    assert io.calls == [ADDRESS_ARGV, ROUTE_ARGV, ROUTE6_ARGV]
    assert network['interfaces'] == interfaces() and network['routes'] == routes()
    assert network['local_networks'][2:4] == ['192.0.2.10/24', '192.0.2.20/24']


def test_gather_returns_interfaces_and_routes():
    facts = access_facts.gather(recorded_io(), firewall=False)
    assert set(facts) == {'version', 'clusters', 'firewall', 'local_networks', 'interfaces', 'routes'}
    assert facts['clusters'] == [] and len(facts['interfaces']) == 12 and len(facts['routes']) == 14


def test_gather_network_without_ip():
    io = FakeIO(has_ip=False)
    assert access_facts.gather_network(io) == {'local_networks': None, 'interfaces': [], 'routes': []}
    assert io.calls == []


def test_gather_network_ip_without_json():
    io = FakeIO({tuple(ADDRESS_ARGV): (255, '', 'Option "-j" is unknown, try "ip -help".')})
    assert access_facts.gather_network(io) == {'local_networks': None, 'interfaces': [], 'routes': []}
    assert io.calls == [ADDRESS_ARGV]
    io = FakeIO({tuple(ADDRESS_ARGV): (0, 'garbage', ''), tuple(ROUTE_ARGV): (0, 'garbage', '')})
    assert access_facts.gather_network(io) == {'local_networks': None, 'interfaces': [], 'routes': []}


# ---------------------------------------------------------------------------- audit

HOST_INTERFACES = [
    {'name': 'lo', 'address': '127.0.0.1', 'prefixlen': 8, 'family': 'ipv4', 'scope': 'host'},
    {'name': 'eth0', 'address': '198.18.1.12', 'prefixlen': 24, 'family': 'ipv4', 'scope': 'global'},
]
HOST_ROUTES = [
    {'dst': 'default', 'dev': 'eth0', 'gateway': '198.18.1.1', 'prefsrc': None, 'family': 'ipv4', 'metric': None},
    {'dst': '198.18.1.0/24', 'dev': 'eth0', 'gateway': None, 'prefsrc': '198.18.1.12', 'family': 'ipv4',
     'metric': None},
]


def network_facts(interfaces_=None, routes_=None):
    facts = secure_facts()
    facts.update(interfaces=HOST_INTERFACES if interfaces_ is None else interfaces_,
                 routes=HOST_ROUTES if routes_ is None else routes_,
                 local_networks=['127.0.0.1/8', '198.18.1.12/24'])
    return facts


def test_audit_uses_interfaces_and_routes():
    user = dict(SECURE_POLICY, pgsec_listen_addresses=None)
    item = check(network_facts(), 'listen.within_policy', user)
    assert item['status'] == 'pass' and 'interfaces and routes' in item['expected']
    # a routed client: the old derivation could not tell, routes can
    routed = dict(user, pgsec_clients=[dict(SECURE_POLICY['pgsec_clients'][0], sources=['10.9.0.0/16'])])
    assert check(network_facts(), 'listen.within_policy', routed)['status'] == 'pass'
    assert check(network_facts(), 'listen.within_policy', routed,
                 local_networks=['198.18.1.12/24'])['status'] == 'error'


def test_audit_no_route_to_clients():
    user = dict(SECURE_POLICY, pgsec_listen_addresses=None,
                pgsec_clients=[dict(SECURE_POLICY['pgsec_clients'][0], sources=['10.9.0.0/16'])])
    item = check(network_facts(routes_=HOST_ROUTES[1:]), 'listen.within_policy', user)
    assert item['status'] == 'error' and 'no route' in item['actual'] and '10.9.0.0/16' in item['actual']


def test_audit_wrong_address_with_derivation():
    user = dict(SECURE_POLICY, pgsec_listen_addresses=None)
    facts = network_facts()
    set_setting(cluster_of(facts), 'listen_addresses', '198.18.1.12,10.0.0.1')
    item = check(facts, 'listen.within_policy', user)
    assert (item['status'], item['severity']) == ('fail', 'medium') and 'not wanted: 10.0.0.1' in item['actual']


def test_audit_falls_back_to_local_networks():
    user = dict(SECURE_POLICY, pgsec_listen_addresses=None)
    item = check(network_facts(interfaces_=[], routes_=[]), 'listen.within_policy', user)
    assert item['status'] == 'pass' and 'on the networks of pgsec_clients' in item['expected']
