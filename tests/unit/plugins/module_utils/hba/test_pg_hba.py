# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.hba import parse as pg_hba
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import memory_files
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture


def parse(text, extra=None):
    files = {'/etc/pg/pg_hba.conf': text}
    files.update(extra or {})
    return pg_hba.parse_hba('/etc/pg/pg_hba.conf', *memory_files(files))


def single(line):
    result = parse(line + '\n')
    assert len(result['rules']) == 1, result
    return result['rules'][0]


@pytest.mark.parametrize('name', ['pg15_pg_hba', 'pg15_pg_hba_edge'])
def test_matches_pg_hba_file_rules(name):
    """The parser agrees line by line with what PostgreSQL 15 reported for the same file."""
    parsed = pg_hba.parse_hba_text(read_fixture('postgresql', name + '.conf'))
    live = pg_hba.parse_hba_file_rules(read_fixture('postgresql', name + '_file_rules.txt'))
    assert [rule['line'] for rule in parsed['rules']] == [row['line'] for row in live]
    for rule, row in zip(parsed['rules'], live):
        if row['error'] and 'SSL is disabled' not in row['error']:  # a runtime check of the server, not syntax
            assert rule['error'] == row['error'], rule['line']
            continue
        assert rule['error'] is None, rule
        unquoted = [name.strip('"') for name in rule['database']]
        assert (rule['type'], unquoted, rule['cidr'], rule['method']) == (
            row['type'], row['database'], row['cidr'], row['method']), rule['line']
        assert [name.strip('"') for name in rule['user']] == row['user']
        for option, value in rule['options'].items():
            assert row['options'][option] == value
    assert not parsed['valid']


def test_rule_shape():
    rule = single('host    "all",db2       +admins,"bob"   10.0.0.0 255.0.0.0      md5')
    assert rule == {
        'file': '/etc/pg/pg_hba.conf', 'line': 1, 'type': 'host', 'database': ['"all"', 'db2'],
        'user': ['+admins', 'bob'], 'address': '10.0.0.0', 'netmask': '255.0.0.0', 'address_kind': 'cidr',
        'cidr': '10.0.0.0/8', 'family': 4, 'prefix_len': 8, 'method': 'md5', 'options': {}, 'error': None,
        'text': 'host    "all",db2       +admins,"bob"   10.0.0.0 255.0.0.0      md5'}
    json.dumps(rule)


@pytest.mark.parametrize('line, database, user', [
    ('local all all peer', ['all'], ['all']),
    ('local "all" "sameuser" peer', ['"all"'], ['sameuser']),
    ('local "+x","@y" "+grp" peer', ['"+x"', '"@y"'], ['"+grp"']),
    ('local samerole,samegroup,replication +grp peer', ['samerole', 'samegroup', 'replication'], ['+grp']),
    ('local "db""q",  db3 u peer', ['db"q', 'db3'], ['u']),
    ('local "a b" "x y" peer', ['a b'], ['x y']),
    ('local "/^db\\d{2,4}$" /^u peer', ['/^db\\d{2,4}$'], ['/^u']),
    ('local db#comment', ['db'], []),
])
def test_tokens(line, database, user):
    rule = parse(line + '\n')['rules'][0]
    assert rule['database'] == database
    assert rule['user'] == user


def test_comma_after_whitespace_starts_a_new_field():
    # PostgreSQL's tokenizer: "a ,b" is two fields, so the address becomes "all" and the method "0.0.0.0/0"
    rule = single('host "all" "+grp" ,all 0.0.0.0/0 scram-sha-256')
    assert rule['error'] == 'invalid authentication method "0.0.0.0/0"'


@pytest.mark.parametrize('address, kind, cidr, family, prefix', [
    ('127.0.0.1/32', 'cidr', '127.0.0.1/32', 4, 32),
    ('10.1.2.3/8', 'cidr', '10.0.0.0/8', 4, 8),
    ('::1/128', 'cidr', '::1/128', 6, 128),
    ('::/0', 'cidr', '::/0', 6, 0),
    ('fe80::1%lo/64', 'cidr', 'fe80::/64', 6, 64),
    ('all', 'all', None, None, None),
    ('"all"', 'hostname', None, None, None),
    ('samehost', 'samehost', None, None, None),
    ('samenet', 'samenet', None, None, None),
    ('db.example.com', 'hostname', None, None, None),
    ('.example.org', 'hostname', None, None, None),
])
def test_addresses(address, kind, cidr, family, prefix):
    rule = single('host all all %s md5' % address)
    assert rule['error'] is None
    assert (rule['address_kind'], rule['cidr'], rule['family'], rule['prefix_len']) == (kind, cidr, family, prefix)


def test_netmask_forms():
    assert single('host all all 10.1 255.255.0.0 md5')['cidr'] == '10.0.0.0/16'
    assert single('host all all ::1 ffff:ffff:ffff:ffff:: md5')['cidr'] == '::/64'
    odd = single('host all all 10.0.0.0 255.0.255.0 md5')
    assert odd['error'] is None and odd['cidr'] is None and odd['netmask'] == '255.0.255.0'


@pytest.mark.parametrize('line, error', [
    ('host all all 10.0.0.0/33 md5', 'invalid CIDR mask in address "10.0.0.0/33"'),
    ('host all all 10.0.0.1 md5', 'invalid IP mask "md5": Name or service not known'),
    ('host all all 10.0.0.1', 'end-of-line before netmask specification'),
    ('host all all ::1 255.0.0.0 md5', 'IP address and mask do not match'),
    ('host all all host.example/24 md5', 'invalid IP address "host.example": Name or service not known'),
    ('host all all 10.0.0.0/8,10.1.0.0/16 md5', 'multiple values specified for host address'),
    ('host all all', 'end-of-line before IP address specification'),
    ('host all', 'end-of-line before role specification'),
    ('host', 'end-of-line before database specification'),
    ('local all all', 'end-of-line before authentication method'),
    ('local,host all all peer', 'multiple values specified for connection type'),
    ('bogus all all peer', 'invalid connection type "bogus"'),
    ('local all all peer,md5', 'multiple values specified for authentication type'),
    ('local all all crypt', 'invalid authentication method "crypt"'),
    ('local all all sspi', 'invalid authentication method "sspi": not supported by this build'),
    ('local all all gss', 'gssapi authentication is not supported on local sockets'),
    ('host all all ::/0 peer', 'peer authentication is only supported on local sockets'),
    ('host all all ::/0 cert', 'cert authentication is only supported on hostssl connections'),
    ('hostssl all all ::/0 cert clientcert=verify-ca',
     'clientcert can only be set to "verify-full" when using "cert" authentication'),
    ('host all all ::/0 md5 clientcert=verify-full', 'clientcert can only be configured for "hostssl" rows'),
    ('hostssl all all ::/0 md5 clientcert=1', 'invalid value for clientcert: "1"'),
    ('hostssl all all ::/0 md5 clientname=XX', 'invalid value for clientname: "XX"'),
    ('local all all peer mapx', 'authentication option not in name=value format: mapx'),
    ('local all all peer nosuch=1', 'unrecognized authentication option name: "nosuch"'),
    ('local all all md5 map=x', 'authentication option "map" is only valid for authentication methods '
                                'ident, peer, gss, sspi, cert, oauth'),
    ('host all all ::/0 radius', 'authentication method "radius" requires argument "radiusservers" to be set'),
    ('host all all ::/0 ldap', 'authentication method "ldap" requires argument "ldapserver" to be set'),
])
def test_line_errors(line, error):
    assert single(line)['error'] == error


def test_valid_options_and_secret_redaction():
    rule = single('hostssl all all 10.0.0.0/8 ldap ldapserver=ldap.example.com ldapbindpasswd="s3 cret" '
                  'ldapbasedn="dc=example, dc=com" clientcert=verify-full')
    assert rule['error'] is None
    assert rule['options'] == {'ldapserver': 'ldap.example.com', 'ldapbindpasswd': '********',
                               'ldapbasedn': 'dc=example, dc=com', 'clientcert': 'verify-full'}
    assert 's3 cret' not in json.dumps({k: v for k, v in rule.items() if k != 'text'})
    assert single('local all all ident map=omap')['error'] is None  # ident on local is peer


def test_continuation_crlf_and_comments():
    text = ('# header \\\r\n'
            'host db6 u4 10.0.0.0/8 md5\r\n'      # swallowed by the comment continuation, as PostgreSQL does
            'host db5 u3 \\\r\n'
            '   10.0.0.0/8 \\\r\n'
            '   md5\r\n'
            '\r\n'
            'local all all peer')                  # no trailing newline
    rules = parse(text)['rules']
    assert [(rule['line'], rule['database'], rule['method']) for rule in rules] == [
        (3, ['db5'], 'md5'), (7, ['all'], 'peer')]


def test_includes_pg16():
    files = {
        '/etc/pg/hba.d/10-app.conf': 'host app app 198.18.1.0/24 scram-sha-256\n',
        '/etc/pg/hba.d/20-repl.conf': 'host replication repl 198.18.1.11/32 scram-sha-256\n',
        '/etc/pg/hba.d/skip.txt': 'garbage\n',
        '/etc/pg/extra.conf': 'hostssl all all ::/0 scram-sha-256\n',
    }
    result = parse('local all postgres peer\ninclude_dir hba.d\ninclude "extra.conf"\n'
                   'include_if_exists missing.conf\nhost all all 0.0.0.0/0 reject\n', files)
    assert result['valid'], result['errors']
    assert [(rule['file'], rule['line'], rule['type']) for rule in result['rules']] == [
        ('/etc/pg/pg_hba.conf', 1, 'local'), ('/etc/pg/hba.d/10-app.conf', 1, 'host'),
        ('/etc/pg/hba.d/20-repl.conf', 1, 'host'), ('/etc/pg/extra.conf', 1, 'hostssl'),
        ('/etc/pg/pg_hba.conf', 5, 'host')]
    assert [inc['found'] for inc in result['includes']] == [True, True, False]


def test_include_errors_and_cycles():
    result = parse('include nothere.conf\ninclude_dir nodir\ninclude self.conf\n',
                   {'/etc/pg/self.conf': 'include pg_hba.conf\nlocal all all peer\n'})
    messages = [error['message'] for error in result['errors']]
    assert messages[0] == 'could not open configuration file "/etc/pg/nothere.conf": No such file or directory'
    assert messages[1] == 'could not open configuration directory "/etc/pg/nodir": No such file or directory'
    assert 'include cycle' in messages[2]
    assert [rule['type'] for rule in result['rules']] == ['local']
    assert not result['valid']


def test_at_files():
    files = {
        '/etc/pg/admins': 'alice, bob  # admins\n"carol dee"\n@nested\n',
        '/etc/pg/nested': 'dave\n',
        '/etc/pg/empty': '# nobody\n',
    }
    result = parse('host all @admins 10.0.0.0/8 md5\nhost all "@admins" 10.0.0.0/8 md5\n'
                   'host all @missing 10.0.0.0/8 md5\nhost all @empty 10.0.0.0/8 md5\n', files)
    rules = result['rules']
    assert rules[0]['user'] == ['alice', 'bob', 'carol dee', 'dave'] and rules[0]['error'] is None
    assert rules[1]['user'] == ['"@admins"']
    assert rules[2]['error'] == 'could not open configuration file "/etc/pg/missing": No such file or directory'
    # an @file without names leaves no user field at all, as in PostgreSQL: the fields shift left
    assert rules[3]['error'] == 'end-of-line before authentication method'
    assert rules[3]['user'] == ['10.0.0.0/8'] and rules[3]['address'] == 'md5'
    assert '/etc/pg/admins' in result['files'] and '/etc/pg/nested' in result['files']


def test_covers_all_addresses():
    rules = parse('host all all 0.0.0.0/0 md5\nhost all all ::/0 md5\nhost all all all md5\n'
                  'host all all 0.0.0.0 0.0.0.0 md5\nhost all all 10.0.0.0/8 md5\nhost all all samenet md5\n'
                  'local all all trust\nhost all all "all" md5\n')['rules']
    assert [pg_hba.rule_covers_all_addresses(rule) for rule in rules] == [
        True, True, True, True, False, False, False, False]
    assert pg_hba.address_covers_everything('0.0.0.0', '0.0.0.0')
    assert pg_hba.address_covers_everything('all')
    assert not pg_hba.address_covers_everything('samehost')
    assert pg_hba.describe_address('10.0.0.7', '255.255.255.0') == {
        'address_kind': 'cidr', 'cidr': '10.0.0.0/24', 'family': 4, 'prefix_len': 24, 'error': None}


def test_file_rules_query_and_pg16_columns():
    query, columns = pg_hba.hba_file_rules_query(150004)
    assert columns == pg_hba.HBA_FILE_RULES_COLUMNS and 'ORDER BY line_number' in query
    query, columns = pg_hba.hba_file_rules_query(160002)
    assert columns[:2] == ('rule_number', 'file_name') and 'ORDER BY rule_number' in query
    text = '\x1f'.join(['1', '/etc/pg/hba.d/a.conf', '3', 'host', '{all}', '{"+adm","a,b"}', '::', '::',
                        'radius', '{radiusservers=r1,radiussecrets=hidden}', '']) + '\x1e' + \
        '\x1f'.join(['', '/etc/pg/pg_hba.conf', '9', '', '', '', '', '', '', '', 'invalid connection type "x"']) + '\n'
    rows = pg_hba.parse_hba_file_rules(text, columns)
    assert rows[0]['file'] == '/etc/pg/hba.d/a.conf' and rows[0]['rule_number'] == 1
    assert rows[0]['user'] == ['+adm', 'a,b'] and rows[0]['cidr'] == '::/0'
    assert rows[0]['options'] == {'radiusservers': 'r1', 'radiussecrets': '********'}
    assert rows[1]['rule_number'] is None and rows[1]['error'] == 'invalid connection type "x"'
    assert pg_hba.rule_covers_all_addresses(rows[0])
