# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.facts import pg_config
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import (
    local_list_dir,
    local_read_file,
    memory_files,
)

from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import FIXTURES, read_fixture

RECORDED_DATA_DIR = '/tmp/pgsec-rec-pg/data'  # where the fixture cluster lived when pg_settings was recorded


def recorded_cluster_files():
    """The recorded PGDATA fixture served at its original path."""
    files = {}
    root = os.path.join(FIXTURES, 'postgresql', 'pgdata')
    for directory, _dirs, names in os.walk(root):
        for name in names:
            relative = os.path.relpath(os.path.join(directory, name), root)
            files[RECORDED_DATA_DIR + '/' + relative] = read_fixture('postgresql', 'pgdata', relative)
    return files


def value_of(text, name='x'):
    result = pg_config.parse_config('/c/postgresql.conf', *memory_files({'/c/postgresql.conf': text}))
    return result['settings'].get(name, {}).get('value'), result['errors']


# Each case was checked against `postgres -C` of PostgreSQL 15 (see fixtures/README.md).
@pytest.mark.parametrize('line, expected', [
    ("x = 'a,b' # c", 'a,b'),
    ("x 'x''y\\\\z\\n#q'", "x'y\\z\n#q"),
    ("x = 'a\\101b\\tc'", 'aAb\tc'),
    ('x = 64kB', '64kB'),
    ('x = 0x100', '0x100'),
    ('x = +5433', '+5433'),
    ('x = -1', '-1'),
    ('x = 1.5e3', '1.5e3'),
    ('x = foo-bar.baz:1/2', 'foo-bar.baz:1/2'),
    ('x=on', 'on'),
    ("x = '*'", '*'),
    ("x = 'it''s # not a comment'   # but this is", "it's # not a comment"),
    (u"x = '\u00e9t\u00e9'", u'\u00e9t\u00e9'),
    (u'x = caf\u00e9', u'caf\u00e9'),
])
def test_values(line, expected):
    value, errors = value_of(line + '\n')
    assert errors == []
    assert value == expected


@pytest.mark.parametrize('line, near', [
    ('x = 0.0.0.0', 'near token ".0"'),
    ('x = *', 'near token "*"'),
    ('x = 1.5GB', 'near token "GB"'),
    ('x = -bar', 'near token "-"'),
    ("x = 'a' 'b'", 'near token "\'b\'"'),
    ('x = ', 'near end of line'),
    ('x =', 'near end of line'),
    ("x = 'unterminated", "near token \"'\""),
    ('foo.bar.baz = 1', 'near token "foo.bar.baz"'),
    ('x = "quoted"', 'near token """'),
    ('= 5', 'near token "="'),
])
def test_syntax_errors(line, near):
    result = pg_config.parse_config('/c/pg.conf', *memory_files({'/c/pg.conf': 'a = 1\n' + line + '\nb = 2\n'}))
    assert [error['line'] for error in result['errors']] == [2]
    assert near in result['errors'][0]['message']
    assert not result['valid']
    # lines around the bad one are still read, as PostgreSQL's parser resyncs at end of line
    assert sorted(result['settings']) == ['a', 'b']


def test_qualified_names_case_and_last_wins():
    text = 'Work_Mem = 70kB\nwork_mem=80kB\npg_stat_statements.max = 100\n'
    result = pg_config.parse_config('/c/p.conf', *memory_files({'/c/p.conf': text}))
    assert result['settings']['work_mem'] == {'name': 'work_mem', 'value': '80kB', 'file': '/c/p.conf', 'line': 2}
    assert [o['value'] for o in result['occurrences'] if o['name'] == 'work_mem'] == ['70kB', '80kB']
    assert result['settings']['pg_stat_statements.max']['value'] == '100'


def test_crlf_and_missing_trailing_newline():
    text = "port = 5433\r\n# comment\r\nlisten_addresses = 'a, b'\r\nssl = on"
    result = pg_config.parse_config('/c/p.conf', *memory_files({'/c/p.conf': text}))
    assert result['errors'] == []
    assert result['settings']['port']['value'] == '5433'
    assert result['settings']['listen_addresses']['value'] == 'a, b'
    assert result['settings']['ssl'] == {'name': 'ssl', 'value': 'on', 'file': '/c/p.conf', 'line': 4}


def test_includes_resolve_relative_to_including_file():
    files = {
        '/etc/pg/postgresql.conf': "port = 1\ninclude 'sub/a.conf'\ninclude_if_exists = 'missing.conf'\n"
                                   "include_dir 'conf.d'\nport = 5\n",
        '/etc/pg/sub/a.conf': "port = 2\ninclude 'b.conf'\n",
        '/etc/pg/sub/b.conf': 'port = 3\n',
        '/etc/pg/conf.d/20-b.conf': 'ssl = on\n',
        '/etc/pg/conf.d/10-a.conf': "ssl = off\nport = 4\n",
        '/etc/pg/conf.d/.hidden.conf': 'ssl = bad\n',
        '/etc/pg/conf.d/notes.txt': 'garbage garbage\n',
        '/etc/pg/conf.d/Z-upper.conf': 'cluster_name = z\n',
    }
    result = pg_config.parse_config('/etc/pg/postgresql.conf', *memory_files(files))
    assert result['valid'], result['errors']
    assert [(o['value'], o['file'], o['line']) for o in result['occurrences'] if o['name'] == 'port'] == [
        ('1', '/etc/pg/postgresql.conf', 1), ('2', '/etc/pg/sub/a.conf', 1), ('3', '/etc/pg/sub/b.conf', 1),
        ('4', '/etc/pg/conf.d/10-a.conf', 2), ('5', '/etc/pg/postgresql.conf', 5)]
    assert result['settings']['ssl']['value'] == 'on'
    assert result['files'] == ['/etc/pg/postgresql.conf', '/etc/pg/sub/a.conf', '/etc/pg/sub/b.conf',
                               '/etc/pg/conf.d/10-a.conf', '/etc/pg/conf.d/20-b.conf', '/etc/pg/conf.d/Z-upper.conf']
    missing = [inc for inc in result['includes'] if inc['directive'] == 'include_if_exists'][0]
    assert missing == {'directive': 'include_if_exists', 'target': 'missing.conf', 'file': '/etc/pg/postgresql.conf',
                       'line': 3, 'paths': [], 'found': False, 'error': None}


@pytest.mark.parametrize('text, message', [
    ("include 'nonexist.conf'\n", 'could not open configuration file "/c/nonexist.conf": No such file or directory'),
    ("include_dir 'nonexist'\n", 'could not open configuration directory "/c/nonexist": No such file or directory'),
    ("include ''\n", 'empty configuration file name: ""'),
])
def test_include_errors(text, message):
    result = pg_config.parse_config('/c/p.conf', *memory_files({'/c/p.conf': text, '/c/other': ''}))
    assert result['errors'] == [{'file': '/c/p.conf', 'line': 1, 'message': message}]
    assert not result['valid']


def test_include_cycle_is_detected():
    files = {'/c/a.conf': "x = 1\ninclude 'b.conf'\n", '/c/b.conf': "y = 2\ninclude '/c/a.conf'\n"}
    result = pg_config.parse_config('/c/a.conf', *memory_files(files))
    assert result['settings']['y']['value'] == '2'
    assert len(result['errors']) == 1
    assert result['errors'][0]['file'] == '/c/b.conf' and 'include cycle' in result['errors'][0]['message']


def test_include_depth_limit():
    files = {'/c/%d.conf' % n: "include '%d.conf'\n" % (n + 1) for n in range(15)}
    result = pg_config.parse_config('/c/0.conf', *memory_files(files))
    assert 'maximum nesting depth exceeded' in result['errors'][0]['message']
    assert len(result['files']) == 11


def test_unreadable_include_is_an_error():
    def read_file(path):
        if path.endswith('secret.conf'):
            raise PermissionError(13, 'Permission denied')
        return "include 'secret.conf'\n"
    result = pg_config.parse_config('/c/p.conf', read_file)
    assert result['errors'][0]['message'] == 'could not read "/c/secret.conf": Permission denied'


def test_recorded_cluster_matches_pg_settings():
    """File and line of every setting PostgreSQL took from a file match what the parser finds."""
    parsed = pg_config.parse_server_config(RECORDED_DATA_DIR + '/postgresql.conf', *memory_files(recorded_cluster_files()))
    live = pg_config.parse_pg_settings(read_fixture('postgresql', 'pg15_pg_settings.txt'))
    assert parsed['valid'], parsed['errors']
    assert parsed['auto_conf'] == RECORDED_DATA_DIR + '/postgresql.auto.conf'
    from_files = {name: row for name, row in live.items() if row['source'] == 'configuration file'}
    assert len(from_files) >= 15
    for name, row in from_files.items():
        setting = parsed['settings'][name]
        assert (setting['file'], setting['line']) == (row['sourcefile'], row['sourceline']), name
    assert parsed['settings']['shared_preload_libraries']['file'].endswith('postgresql.auto.conf')
    assert parsed['settings']['listen_addresses']['value'] == ''
    assert parsed['settings']['work_mem']['value'] == '8MB'


def test_auto_conf_wins_and_follows_data_directory():
    files = {
        '/etc/postgresql/16/main/postgresql.conf': "data_directory = '/var/lib/postgresql/16/main'\nport = 5432\n",
        '/var/lib/postgresql/16/main/postgresql.auto.conf': "# Do not edit\nport = '5433'\n",
        '/etc/postgresql/16/main/postgresql.auto.conf': 'port = 9999\n',
    }
    result = pg_config.parse_server_config('/etc/postgresql/16/main/postgresql.conf', *memory_files(files))
    assert result['settings']['port'] == {'name': 'port', 'value': '5433', 'line': 2,
                                          'file': '/var/lib/postgresql/16/main/postgresql.auto.conf'}
    assert [o['value'] for o in result['occurrences'] if o['name'] == 'port'] == ['5432', '5433']
    no_auto = pg_config.parse_server_config('/d/postgresql.conf', *memory_files({'/d/postgresql.conf': 'port = 1\n'}),
                                            data_directory='/pgdata')
    assert no_auto['valid'] and no_auto['auto_conf'] == '/pgdata/postgresql.auto.conf'
    missing = pg_config.parse_server_config('/none/postgresql.conf', *memory_files({}))
    assert not missing['valid'] and 'could not open' in missing['errors'][0]['message']


def test_local_reader(tmp_path):
    (tmp_path / 'conf.d').mkdir()
    (tmp_path / 'conf.d' / 'a.conf').write_text('ssl = on\n')
    (tmp_path / 'conf.d' / 'sub.conf').mkdir()
    (tmp_path / 'postgresql.conf').write_bytes(b"include_dir 'conf.d'\ncluster_name = '\xff'\n")
    result = pg_config.parse_config(str(tmp_path / 'postgresql.conf'), local_read_file, local_list_dir)
    assert result['valid'], result['errors']
    assert result['settings']['ssl']['value'] == 'on'
    assert result['settings']['cluster_name']['value'] == u'\ufffd'
    json.dumps(result)


@pytest.mark.parametrize('name, value, expected', [
    ('listen_addresses', '', []),
    ('listen_addresses', '*', ['*']),
    ('listen_addresses', 'localhost, 10.0.0.1 ,::1', ['localhost', '10.0.0.1', '::1']),
    ('listen_addresses', '"my,host", "a""b"', ['my,host', 'a"b']),
    ('listen_addresses', 'a b', None),
    ('listen_addresses', 'a,,b', None),
    ('listen_addresses', 'a,', None),
    ('listen_addresses', '"open', None),
    ('unix_socket_directories', '/var/run/postgresql, /tmp', ['/var/run/postgresql', '/tmp']),
    ('unix_socket_directories', '/path with space/ , "/q,uoted//"', ['/path with space', '/q,uoted']),
    ('unix_socket_directories', '@abstract', ['@abstract']),
    ('shared_preload_libraries', 'pg_stat_statements,"$libdir/auto_explain"',
     ['pg_stat_statements', '$libdir/auto_explain']),
    ('search_path', '"$user", Public', ['$user', 'public']),
    ('port', '5432', ['5432']),
])
def test_split_setting(name, value, expected):
    assert pg_config.split_setting(name, value) == expected


def test_quote_round_trip():
    for value in ("plain", "it's", "back\\slash", "new\nline", "#hash, comma"):
        literal = pg_config.quote_config_value(value)
        assert value_of('x = %s\n' % literal)[0] == value


def test_postgres_c_output():
    assert pg_config.parse_postgres_c_output(read_fixture('postgresql', 'pg15_postgres_C_listen_addresses.txt')) == ''
    assert pg_config.parse_postgres_c_output(read_fixture('postgresql', 'pg15_postgres_C_port.txt')) == '54399'
    assert pg_config.parse_postgres_c_output(read_fixture('postgresql', 'pg15_postgres_C_work_mem.txt')) == '8192'
    assert pg_config.parse_postgres_c_output(
        read_fixture('postgresql', 'pg15_postgres_C_unix_socket_directories.txt')) == '/tmp/pgsec-rec-pg'


def test_pg_settings_rows():
    settings = pg_config.parse_pg_settings(read_fixture('postgresql', 'pg15_pg_settings.txt'))
    assert len(settings) > 300
    assert settings['work_mem'] == {
        'name': 'work_mem', 'setting': '8192', 'unit': 'kB', 'context': 'user', 'source': 'configuration file',
        'sourcefile': RECORDED_DATA_DIR + '/conf.d/20-mem.conf', 'sourceline': 1, 'pending_restart': False,
        'vartype': 'integer', 'boot_val': '4096', 'reset_val': '8192'}
    assert settings['ssl_ca_file']['setting'] == '' and settings['ssl_ca_file']['sourcefile'] is None
    assert settings['datestyle']['name'] == 'DateStyle'
    pending = pg_config.parse_pg_settings(read_fixture('postgresql', 'pg15_pg_settings_pending_restart.txt'))
    assert [name for name, row in pending.items() if row['pending_restart']] == ['port']
    assert pg_config.PG_SETTINGS_QUERY.startswith('SELECT name, setting, unit, context, source, sourcefile')


def test_letters_are_ascii_letters_underscore_and_every_non_ascii_character():
    """guc-file.l's LETTER: [A-Za-z_] and every byte from 0x80; names and unquoted values follow it."""
    text = u'\u00fcber_1 = stra\u00dfe-1.2:/x\nx.\U0001f600 = on\n_a = b\n'
    parsed = pg_config.parse_config_text(text)
    assert parsed['errors'] == []
    assert [(entry['name'], entry['value']) for entry in parsed['entries']] == [
        (u'\u00fcber_1', u'stra\u00dfe-1.2:/x'), (u'x.\U0001f600', 'on'), ('_a', 'b')]
    for bad in (u'1abc = on\n', u'a@b = on\n', u'a = b@c\n', u'[x] = on\n'):
        assert pg_config.parse_config_text(bad)['errors'], bad
