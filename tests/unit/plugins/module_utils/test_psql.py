# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import psql


def test_unaligned_with_record_separator():
    text = 'a\x1fb|c\x1e\x1fline1\nline2\n'
    assert psql.parse_unaligned(text, ('x', 'y')) == [
        {'x': 'a', 'y': 'b|c'}, {'x': '', 'y': 'line1\nline2'}]


def test_unaligned_empty_and_newline_records():
    assert psql.parse_unaligned('', ('x',)) == []
    assert psql.parse_unaligned('\n', ('x',)) == []
    assert psql.parse_unaligned('1|2\n3|4\n', ('a', 'b'), field_sep='|', record_sep='\n') == [
        {'a': '1', 'b': '2'}, {'a': '3', 'b': '4'}]


def test_unaligned_wrong_field_count():
    with pytest.raises(ValueError):
        psql.parse_unaligned('a\x1fb\n', ('x',))


@pytest.mark.parametrize('text, expected', [
    ('{all}', ['all']),
    ('{"a b","c\\"d",NULL,"{x}",""}', ['a b', 'c"d', None, '{x}', '']),
    ('{"ldapbasedn=dc=example, dc=com",ldapscope=2}', ['ldapbasedn=dc=example, dc=com', 'ldapscope=2']),
    ('{}', []),
    ('{{1,2},{3}}', [['1', '2'], ['3']]),
    ('[0:1]={a,b}', ['a', 'b']),
    ('', None),
])
def test_parse_pg_array(text, expected):
    assert psql.parse_pg_array(text) == expected


@pytest.mark.parametrize('text', ['{a', 'abc', '{"a}', '{a}x'])
def test_parse_pg_array_malformed(text):
    with pytest.raises(ValueError):
        psql.parse_pg_array(text)


@pytest.mark.parametrize('text, expected', [
    ('t', True), ('f', False), ('on', True), ('off', False), ('OF', False), ('o', None), ('yes', True),
    ('n', False), ('1', True), ('0', False), ('tru', True), ('maybe', None), ('', None), (None, None),
])
def test_parse_bool(text, expected):
    assert psql.parse_bool(text) is expected
