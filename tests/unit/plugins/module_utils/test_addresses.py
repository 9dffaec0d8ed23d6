# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import addresses


@pytest.mark.parametrize('text, expected', [
    ('10.1.2.3', '10.1.2.3'),
    ('10.1', '10.0.0.1'),          # inet_aton shorthand, as getaddrinfo accepts it
    ('127.1', '127.0.0.1'),
    ('::1', '::1'),
    ('fe80::1%eth0', 'fe80::1'),
    ('::ffff:127.0.0.1', '::ffff:127.0.0.1'),
    ('db.example.com', None),
    ('10.0.0.0/8', None),
    ('', None),
    ('1.2.3.4 junk', None),
])
def test_parse_ip(text, expected):
    address = addresses.parse_ip(text)
    assert (addresses.format_ip(address) if address is not None else None) == expected


@pytest.mark.parametrize('mask, prefix', [
    ('255.255.255.255', 32), ('255.0.0.0', 8), ('0.0.0.0', 0), ('255.255.255.128', 25),
    ('255.0.255.0', None), ('ffff:ffff::', 32), ('::', 0), ('not-a-mask', None),
])
def test_netmask_to_prefix(mask, prefix):
    assert addresses.netmask_to_prefix(mask) == prefix


@pytest.mark.parametrize('text, netmask, expected', [
    ('10.1.2.3/8', None, '10.0.0.0/8'),
    ('10.0.0.0', '255.255.0.0', '10.0.0.0/16'),
    ('10.0.0.0/255.255.0.0', None, '10.0.0.0/16'),   # iptables input form
    ('2001:DB8::1/32', None, '2001:db8::/32'),
    ('192.0.2.1', None, '192.0.2.1/32'),
    ('10.0.0.0/33', None, None),
    ('10.0.0.0', '255.0.255.0', None),
    ('host.example', None, None),
])
def test_normalize_cidr(text, netmask, expected):
    assert addresses.normalize_cidr(text, netmask) == expected


@pytest.mark.parametrize('text, netmask, expected', [
    ('0.0.0.0/0', None, True), ('::/0', None, True), ('all', None, True), ('any', None, True),
    ('0.0.0.0', '0.0.0.0', True), ('10.0.0.0/8', None, False), ('::/1', None, False),
    ('samenet', None, False),
])
def test_covers_everything(text, netmask, expected):
    assert addresses.covers_everything(text, netmask) is expected


def test_network_info():
    assert addresses.network_info('10.9.8.7', '255.255.255.0') == {
        'cidr': '10.9.8.0/24', 'family': 4, 'prefix_len': 24}
    assert addresses.network_info('nope') is None


def test_range_to_cidrs():
    assert addresses.range_to_cidrs('192.0.2.10', '192.0.2.20') == [
        '192.0.2.10/31', '192.0.2.12/30', '192.0.2.16/30', '192.0.2.20/32']
    assert addresses.range_to_cidrs('192.0.2.20', '192.0.2.10') is None
    assert addresses.range_to_cidrs('192.0.2.1', '::1') is None


def test_containment_and_loopback():
    assert addresses.network_contains('10.0.0.0/8', '10.1.0.0/16')
    assert not addresses.network_contains('10.1.0.0/16', '10.0.0.0/8')
    assert not addresses.network_contains('::/0', '10.0.0.0/8')
    assert addresses.network_overlap('10.0.0.0/8', '10.1.0.0/16') == '10.1.0.0/16'
    assert addresses.network_overlap('10.0.0.0/8', '11.0.0.0/8') is None
    assert addresses.network_family('2001:db8::/32') == 6
    assert addresses.is_loopback('127.0.0.1/32') and addresses.is_loopback('::1')
    assert addresses.is_loopback('::ffff:127.0.0.1')
    assert not addresses.is_loopback('0.0.0.0/0')
