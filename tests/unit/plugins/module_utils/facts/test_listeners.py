# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.facts import listeners
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture


def recorded():
    return listeners.parse_listeners(read_fixture('listeners', 'proc_net_tcp.txt'),
                                     read_fixture('listeners', 'proc_net_tcp6.txt'),
                                     read_fixture('listeners', 'proc_net_unix.txt'))


def test_recorded_listeners():
    """PostgreSQL with listen_addresses='*' on 54399 plus test sockets, recorded in a network namespace."""
    found = [(item['family'], item['address'], item['port'], item['path'], item['inode']) for item in recorded()]
    assert found == [
        ('inet', '198.51.100.7', 5433, None, 40996),
        ('inet', '0.0.0.0', 54399, None, 40963),
        ('inet6', '::ffff:127.0.0.1', 5434, None, 40997),
        ('inet6', '::', 5436, None, 40999),
        ('inet6', '2001:db8::7', 5435, None, 40998),
        ('inet6', '::', 54399, None, 40964),
        ('unix', None, 54399, '/tmp/pgsec-rec-pg/.s.PGSQL.54399', 40965),
        ('unix', None, None, '/tmp/pgsec-rec-pg/path with space', 41001),
        ('unix', None, None, '@pgsec-abstract', 41002),
    ]
    assert [item['uid'] for item in recorded()][:2] == [0, 101]


def test_established_and_datagram_sockets_are_skipped():
    tcp = listeners.parse_proc_net_tcp(read_fixture('listeners', 'proc_net_tcp.txt'), listening_only=False)
    assert len(tcp) == 4 and tcp[3]['address'] == '198.51.100.7'
    unix = listeners.parse_proc_net_unix(read_fixture('listeners', 'proc_net_unix.txt'), listening_only=False)
    assert '/tmp/pgsec-rec-pg/dgram' in [item['path'] for item in unix]


def test_postmaster_sockets_by_inode():
    targets = read_fixture('listeners', 'postmaster_fd_targets.txt').splitlines()
    assert listeners.socket_inodes(targets) == {40963, 40964, 40965}
    owned = listeners.listeners_for_process(recorded(), targets)
    assert [(item['family'], item['address'] or item['path'], item['port']) for item in owned] == [
        ('inet', '0.0.0.0', 54399), ('inet6', '::', 54399), ('unix', '/tmp/pgsec-rec-pg/.s.PGSQL.54399', 54399)]
    assert [listeners.is_wildcard(item) for item in owned] == [True, True, False]


@pytest.mark.parametrize('hex_address, byteorder, expected', [
    ('0100007F', 'little', '127.0.0.1'),
    ('7F000001', 'big', '127.0.0.1'),
    ('00000000000000000000000001000000', 'little', '::1'),
    ('0000000000000000FFFF00000100007F', 'little', '::ffff:127.0.0.1'),
    ('B80D0120000000000000000007000000', 'little', '2001:db8::7'),
])
def test_decode_proc_address(hex_address, byteorder, expected):
    assert listeners.decode_proc_address(hex_address, byteorder) == expected


def test_garbage_lines_are_ignored():
    text = ('  sl  local_address rem_address   st\n'
            '   0: ZZZZZZZZ:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n'
            '   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 77 1\n'
            'truncated line\n')
    assert [(item['address'], item['port'], item['inode']) for item in listeners.parse_proc_net_tcp(text)] == [
        ('127.0.0.1', 5432, 77)]
    unix = ('Num       RefCount Protocol Flags    Type St Inode Path\n'
            '0000000000000000: 00000002 00000000 00010000 0001 01 12\n'
            '0000000000000000: 00000002 00000000 00010000 0005 01 13 /run/seq\n'
            'bad: line\n')
    assert [(item['path'], item['inode']) for item in listeners.parse_proc_net_unix(unix)] == [
        (None, 12), ('/run/seq', 13)]
    assert listeners.socket_inodes(['pipe:[1]', 'socket:[5]', '/dev/null', 'socket:[x]']) == {5}
    assert listeners.postgres_socket_port('/run/postgresql/.s.PGSQL.5433') == 5433
    assert listeners.postgres_socket_port('/run/postgresql/.s.PGSQL.5433.lock') is None
