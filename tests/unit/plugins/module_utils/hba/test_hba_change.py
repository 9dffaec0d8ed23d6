# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.hba.change import (
    BEGIN_LINE,
    END_LINE,
    HbaPlanError,
    plan_hba,
    plan_included,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.parse import parse_hba_text

# /etc/postgresql/15/main/pg_hba.conf as Debian 12's postgresql-15 (15.18-0+deb12u1) creates it.
DEBIAN_HEADER = '''\
# PostgreSQL Client Authentication Configuration File
# ===================================================
#
# Refer to the "Client Authentication" section in the PostgreSQL
# documentation for a complete description of this file.  A short
# synopsis follows.
#
# This file controls: which hosts are allowed to connect, how clients
# are authenticated, which PostgreSQL user names they can use, which
# databases they can access.  Records take one of these forms:
#
# local         DATABASE  USER  METHOD  [OPTIONS]
# host          DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostssl       DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostnossl     DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostgssenc    DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostnogssenc  DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
#
# (The uppercase items must be replaced by actual values.)
#
# The first field is the connection type:
# - "local" is a Unix-domain socket
# - "host" is a TCP/IP socket (encrypted or not)
# - "hostssl" is a TCP/IP socket that is SSL-encrypted
# - "hostnossl" is a TCP/IP socket that is not SSL-encrypted
# - "hostgssenc" is a TCP/IP socket that is GSSAPI-encrypted
# - "hostnogssenc" is a TCP/IP socket that is not GSSAPI-encrypted
#
# DATABASE can be "all", "sameuser", "samerole", "replication", a
# database name, or a comma-separated list thereof. The "all"
# keyword does not match "replication". Access to replication
# must be enabled in a separate record (see example below).
#
# USER can be "all", a user name, a group name prefixed with "+", or a
# comma-separated list thereof.  In both the DATABASE and USER fields
# you can also write a file name prefixed with "@" to include names
# from a separate file.
#
# ADDRESS specifies the set of hosts the record matches.  It can be a
# host name, or it is made up of an IP address and a CIDR mask that is
# an integer (between 0 and 32 (IPv4) or 128 (IPv6) inclusive) that
# specifies the number of significant bits in the mask.  A host name
# that starts with a dot (.) matches a suffix of the actual host name.
# Alternatively, you can write an IP address and netmask in separate
# columns to specify the set of hosts.  Instead of a CIDR-address, you
# can write "samehost" to match any of the server's own IP addresses,
# or "samenet" to match any address in any subnet that the server is
# directly connected to.
#
# METHOD can be "trust", "reject", "md5", "password", "scram-sha-256",
# "gss", "sspi", "ident", "peer", "pam", "ldap", "radius" or "cert".
# Note that "password" sends passwords in clear text; "md5" or
# "scram-sha-256" are preferred since they send encrypted passwords.
#
# OPTIONS are a set of options for the authentication in the format
# NAME=VALUE.  The available options depend on the different
# authentication methods -- refer to the "Client Authentication"
# section in the documentation for a list of which options are
# available for which authentication methods.
#
# Database and user names containing spaces, commas, quotes and other
# special characters must be quoted.  Quoting one of the keywords
# "all", "sameuser", "samerole" or "replication" makes the name lose
# its special character, and just match a database or username with
# that name.
#
# This file is read on server startup and when the server receives a
# SIGHUP signal.  If you edit the file on a running system, you have to
# SIGHUP the server for the changes to take effect, run "pg_ctl reload",
# or execute "SELECT pg_reload_conf()".
#
# Put your actual configuration here
# ----------------------------------
#
# If you want to allow non-local connections, you need to add more
# "host" records.  In that case you will also need to make PostgreSQL
# listen on a non-local interface via the listen_addresses
# configuration parameter, or via the -i or -h command line switches.




'''
DEBIAN_BODY = '''\
# DO NOT DISABLE!
# If you change this first entry you will need to make sure that the
# database superuser can access the database using some other method.
# Noninteractive access to all databases is required during automatic
# maintenance (custom daily cronjobs, replication, and similar tasks).
#
# Database administrative login by Unix domain socket
local   all             postgres                                peer

# TYPE  DATABASE        USER            ADDRESS                 METHOD

# "local" is for Unix domain socket connections only
local   all             all                                     peer
# IPv4 local connections:
host    all             all             127.0.0.1/32            scram-sha-256
# IPv6 local connections:
host    all             all             ::1/128                 scram-sha-256
# Allow replication connections from localhost, by a user with the
# replication privilege.
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
'''
DEBIAN_15 = DEBIAN_HEADER + DEBIAN_BODY

INSECURE = '''\
local   all             postgres                                peer
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
host    all             all             0.0.0.0/0               md5
host    all             all             ::/0                    md5
'''

# PostgreSQL 16+: include directives, and rules in the included files.
WITH_INCLUDES = '''\
# Site rules
include_if_exists /etc/postgresql/site/hba-early.conf
local   all             all                                     peer
include         hba-admins.conf
host    all             all             10.0.0.0/8              scram-sha-256
include_dir     hba.d
hostssl all             all             127.0.0.1/32            cert
'''

# PostgreSQL 16+: a trailing backslash continues a line.
CONTINUED = '''\
local   all             all \\
                peer
host    all             all \\
        0.0.0.0/0       md5
host    all,\\
        replication     all     ::1/128     scram-sha-256
hostnogssenc all all samehost md5
'''

APP = {'name': 'app', 'sources': ['198.18.1.0/24', '2001:db8:1::/64'], 'databases': ['appdb'], 'users': ['app']}
BACKUP = {'name': 'backup', 'sources': ['198.18.2.7'], 'databases': ['replication'], 'users': ['barman'],
          'method': 'cert'}
CLIENTS = [APP, BACKUP]

BLOCK_HEAD = '''\
# BEGIN pgsec.hardening managed block (role tls): TCP access. Changes made here are overwritten.
hostnossl all             all             0.0.0.0/0               reject
hostnossl all             all             ::/0                    reject
# client app
hostssl   appdb           app             198.18.1.0/24           scram-sha-256 clientcert=verify-full
hostssl   appdb           app             2001:db8:1::/64         scram-sha-256 clientcert=verify-full
# client backup
hostssl   replication     barman          198.18.2.7/32           cert
'''
LOOPBACK_LINES = '''\
# loopback lines kept from this file
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
'''
BLOCK_TAIL = '''\
hostssl   all             all             0.0.0.0/0               reject
hostssl   all             all             ::/0                    reject
# END pgsec.hardening managed block
'''
SUPERSEDED = '# superseded by pgsec.hardening (tls): '


def plan(text, clients=None, **options):
    options.setdefault('clientcert', 'verify-full')
    return plan_hba(text, CLIENTS if clients is None else clients, options)


def rules(text):
    parsed = parse_hba_text(text)
    return [(rule['type'], rule['database'], rule['user'], rule['cidr'] or rule['address'], rule['method'])
            for rule in parsed['rules']]


def test_insecure_file_exact_output():
    result = plan(INSECURE)
    assert result['text'] == BLOCK_HEAD + LOOPBACK_LINES + BLOCK_TAIL + '\n' + '''\
local   all             postgres                                peer
local   all             all                                     peer
# superseded by pgsec.hardening (tls): host    all             all             127.0.0.1/32            scram-sha-256
# superseded by pgsec.hardening (tls): host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     peer
# superseded by pgsec.hardening (tls): host    replication     all             127.0.0.1/32            scram-sha-256
# superseded by pgsec.hardening (tls): host    replication     all             ::1/128                 scram-sha-256
# superseded by pgsec.hardening (tls): host    all             all             0.0.0.0/0               md5
# superseded by pgsec.hardening (tls): host    all             all             ::/0                    md5
'''
    assert result['changed'] is True
    assert [(item['line'], item['moved']) for item in result['superseded']] == [
        (3, True), (4, True), (6, True), (7, True), (8, False), (9, False)]
    assert result['superseded'][4]['text'] == 'host    all             all             0.0.0.0/0               md5'
    assert result['managed'] == [line for line in (BLOCK_HEAD + LOOPBACK_LINES + BLOCK_TAIL).splitlines()
                                 if not line.startswith('#')]


def test_debian_default_exact_output():
    """The block goes after the file's comment header, before the comment that belongs to the first rule."""
    result = plan(DEBIAN_15)
    assert result['text'] == DEBIAN_HEADER + BLOCK_HEAD + LOOPBACK_LINES + BLOCK_TAIL + '\n' + '''\
# DO NOT DISABLE!
# If you change this first entry you will need to make sure that the
# database superuser can access the database using some other method.
# Noninteractive access to all databases is required during automatic
# maintenance (custom daily cronjobs, replication, and similar tasks).
#
# Database administrative login by Unix domain socket
local   all             postgres                                peer

# TYPE  DATABASE        USER            ADDRESS                 METHOD

# "local" is for Unix domain socket connections only
local   all             all                                     peer
# IPv4 local connections:
# superseded by pgsec.hardening (tls): host    all             all             127.0.0.1/32            scram-sha-256
# IPv6 local connections:
# superseded by pgsec.hardening (tls): host    all             all             ::1/128                 scram-sha-256
# Allow replication connections from localhost, by a user with the
# replication privilege.
local   replication     all                                     peer
# superseded by pgsec.hardening (tls): host    replication     all             127.0.0.1/32            scram-sha-256
# superseded by pgsec.hardening (tls): host    replication     all             ::1/128                 scram-sha-256
'''
    assert [item['line'] for item in result['superseded']] == [97, 99, 103, 104]
    assert all(item['moved'] for item in result['superseded'])


def test_include_directives_are_left_alone():
    result = plan(WITH_INCLUDES, [APP], clientcert='none')
    assert result['text'] == '''\
# BEGIN pgsec.hardening managed block (role tls): TCP access. Changes made here are overwritten.
hostnossl all             all             0.0.0.0/0               reject
hostnossl all             all             ::/0                    reject
# client app
hostssl   appdb           app             198.18.1.0/24           scram-sha-256
hostssl   appdb           app             2001:db8:1::/64         scram-sha-256
# loopback lines kept from this file
hostssl all             all             127.0.0.1/32            cert
hostssl   all             all             0.0.0.0/0               reject
hostssl   all             all             ::/0                    reject
# END pgsec.hardening managed block

# Site rules
include_if_exists /etc/postgresql/site/hba-early.conf
local   all             all                                     peer
include         hba-admins.conf
# superseded by pgsec.hardening (tls): host    all             all             10.0.0.0/8              scram-sha-256
include_dir     hba.d
# superseded by pgsec.hardening (tls): hostssl all             all             127.0.0.1/32            cert
'''
    assert [item['line'] for item in result['superseded']] == [5, 7]


def test_continuation_lines_are_one_line():
    result = plan(CONTINUED, [], keep_loopback=True)
    assert result['text'] == '''\
# BEGIN pgsec.hardening managed block (role tls): TCP access. Changes made here are overwritten.
hostnossl all             all             0.0.0.0/0               reject
hostnossl all             all             ::/0                    reject
# loopback lines kept from this file
host    all,        replication     all     ::1/128     scram-sha-256
hostssl   all             all             0.0.0.0/0               reject
hostssl   all             all             ::/0                    reject
# END pgsec.hardening managed block

local   all             all \\
                peer
# superseded by pgsec.hardening (tls): host    all             all         0.0.0.0/0       md5
# superseded by pgsec.hardening (tls): host    all,        replication     all     ::1/128     scram-sha-256
# superseded by pgsec.hardening (tls): hostnogssenc all all samehost md5
'''
    assert [(item['line'], item['moved']) for item in result['superseded']] == [(3, False), (5, True), (7, False)]
    assert rules(result['text'])[2] == ('host', ['all', 'replication'], ['all'], '::1/128', 'scram-sha-256')


def test_continuation_at_end_of_file_does_not_swallow_the_next_line():
    result = plan('host all all 0.0.0.0/0 md5 \\', [])
    assert result['text'].endswith(SUPERSEDED + 'host all all 0.0.0.0/0 md5\n')
    assert plan_hba(result['text'], [], {})['changed'] is False


@pytest.mark.parametrize('text', [INSECURE, DEBIAN_15, WITH_INCLUDES, CONTINUED, '', '# only a comment\n',
                                  '# header\n\nhost all all 0.0.0.0/0 md5\n\nlocal all all peer\n',
                                  'local all all peer\r\nhost all all 10.0.0.0/8 md5\r\n'])
@pytest.mark.parametrize('options', [
    {'clientcert': 'verify-full'},
    {'require_ssl': False},
    {'keep_loopback': False},
    {'keep_other_tcp': True},
    {'clientcert': 'verify-ca', 'method': 'md5', 'keep_loopback': False, 'keep_other_tcp': True},
])
def test_idempotent_and_valid(text, options):
    clients = CLIENTS if options.get('require_ssl', True) else [APP]
    first = plan_hba(text, clients, options)
    second = plan_hba(first['text'], clients, options)
    assert second['changed'] is False
    assert second['text'] == first['text']
    assert second['superseded'] == []
    assert second['managed'] == first['managed']
    assert first['text'].count(BEGIN_LINE) == 1 and first['text'].count(END_LINE + '\n') == 1
    include_errors = ('could not open', 'include_dir is not supported')
    parsed = parse_hba_text(first['text'])
    assert [e for e in parsed['errors'] if not e['message'].startswith(include_errors)] == []


def test_block_edited_by_hand_is_rewritten():
    planned = plan(INSECURE)['text']
    edited = planned.replace('hostssl   all             all             ::/0                    reject\n',
                             'host all all 0.0.0.0/0 trust\n')
    edited = edited.replace('# client backup\n', '# client backup\nhostssl all all 203.0.113.0/24 md5\n')
    edited = edited.replace(LOOPBACK_LINES, LOOPBACK_LINES + 'host all all 192.0.2.0/24 md5\n')
    result = plan(edited)
    assert result['changed'] is True
    assert result['text'] == planned
    assert result['superseded'] == []


def test_block_kept_loopback_lines_survive_edits_and_are_not_duplicated():
    planned = plan(INSECURE)['text']
    # the package (or a person) adds the loopback line again below the block
    again = planned + 'host    all             all             127.0.0.1/32            scram-sha-256\n'
    result = plan(again)
    assert result['text'] == planned + SUPERSEDED + 'host    all             all             127.0.0.1/32            scram-sha-256\n'
    assert result['superseded'] == [{'line': 27, 'moved': True,
                                     'text': 'host    all             all             127.0.0.1/32            scram-sha-256'}]
    assert result['text'].count('\nhost    all             all             127.0.0.1/32') == 1


def test_block_in_the_middle_moves_to_the_top():
    planned = plan('local all all peer\n')['text']
    block, rest = planned.split('\n\n', 1)
    moved = rest + block + '\n'
    result = plan(moved)
    assert result['text'] == planned


def test_without_keep_loopback_everything_is_superseded():
    planned = plan(INSECURE)['text']
    result = plan(planned, keep_loopback=False)
    assert 'loopback' not in result['text']
    assert result['text'] == BLOCK_HEAD + BLOCK_TAIL + '\n' + planned.split(END_LINE + '\n\n', 1)[1]
    fresh = plan(INSECURE, keep_loopback=False)
    assert fresh['text'] == result['text']
    assert not any(item['moved'] for item in fresh['superseded'])


def test_keep_other_tcp_touches_nothing_outside():
    result = plan(INSECURE, [APP], keep_other_tcp=True, clientcert='none')
    assert result['superseded'] == []
    assert result['text'] == '''\
# BEGIN pgsec.hardening managed block (role tls): TCP access. Changes made here are overwritten.
hostnossl all             all             0.0.0.0/0               reject
hostnossl all             all             ::/0                    reject
# client app
hostssl   appdb           app             198.18.1.0/24           scram-sha-256
hostssl   appdb           app             2001:db8:1::/64         scram-sha-256
# END pgsec.hardening managed block

''' + INSECURE


def test_without_require_ssl_lines_are_host():
    result = plan('', [APP], require_ssl=False, clientcert='none', method='md5')
    assert result['text'] == '''\
# BEGIN pgsec.hardening managed block (role tls): TCP access. Changes made here are overwritten.
# client app
host      appdb           app             198.18.1.0/24           md5
host      appdb           app             2001:db8:1::/64         md5
host      all             all             0.0.0.0/0               reject
host      all             all             ::/0                    reject
# END pgsec.hardening managed block
'''


def test_client_lines():
    clients = [
        {'name': 'reporting team', 'sources': ['10.1.2.3', '10.1.2.3/32', '10.2.0.7/16', '::ffff:10.0.0.1'],
         'databases': 'sales', 'users': ['+readers', 'bob'], 'auth_method': 'md5', 'clientcert': 'verify-full'},
        {'sources': ['fe80::1'], 'databases': [], 'users': None, 'clientcert': 'none'},
        {'name': 'no-tcp', 'sources': []},
        {'name': 'blocked', 'sources': ['192.0.2.0/24'], 'method': 'reject'},
    ]
    result = plan_hba('', clients, {'clientcert': 'verify-ca', 'keep_other_tcp': True})
    assert result['managed'][2:] == [
        'hostssl   sales           +readers,bob    10.1.2.3/32             md5 clientcert=verify-full',
        'hostssl   sales           +readers,bob    10.2.0.0/16             md5 clientcert=verify-full',
        'hostssl   sales           +readers,bob    ::ffff:10.0.0.1/128     md5 clientcert=verify-full',
        'hostssl   all             all             fe80::1/128             scram-sha-256 clientcert=verify-ca',
        'hostssl   all             all             192.0.2.0/24            reject',
    ]
    assert '# client reporting team\n' in result['text'] and '# client client2\n' in result['text']
    assert '# client no-tcp' not in result['text']


def test_lines_not_loopback_are_superseded():
    text = '''\
host all all localhost md5
host all all samehost md5
host all all 127.0.0.1 255.0.0.0 md5
host all all 127.0.0.0/7 md5
host all all ::ffff:127.0.0.1/128 md5
host all all 127.0.0.1/32 bogus
hostssl "db"  @admins  ::1/128  scram-sha-256 # admins
bogus all all peer
local all all peer
'''
    result = plan(text, [])
    assert [(item['line'], item['moved']) for item in result['superseded']] == [
        (1, False), (2, False), (3, True), (4, False), (5, True), (6, False), (7, True)]
    assert result['text'].endswith('bogus all all peer\nlocal all all peer\n')
    assert '\nhostssl "db"  @admins  ::1/128  scram-sha-256 # admins\n' in result['text']


@pytest.mark.parametrize('clients, options, message', [
    ([{'sources': ['10.0.0.300/32']}], {}, "clients[0].sources[0]: '10.0.0.300/32' is not an IP address"),
    ([{'sources': ['db.example.com']}], {}, "clients[0].sources[0]: 'db.example.com' is not an IP address"),
    ([APP, {'sources': ['all']}], {}, "clients[1].sources[0]: 'all' is not an IP address"),
    ([{'sources': [], 'method': 'trust'}], {}, "clients[0].method: 'trust' is refused"),
    ([{'sources': [], 'auth_method': 'ldap'}], {}, "clients[0].auth_method: 'ldap' is not offered"),
    ([], {'method': 'trust'}, "method: 'trust' is refused"),
    ([], {'method': 'gss'}, "method: 'gss' is not offered"),
    ([], {'method': 'scram'}, "method: 'scram' is not an authentication method"),
    ([], {'clientcert': 'yes'}, "clientcert: 'yes' is not one of none, verify-ca, verify-full"),
    ([{'sources': [], 'clientcert': '1'}], {}, "clients[0].clientcert: '1' is not one of"),
    ([], {'require_ssl': False, 'clientcert': 'verify-ca'}, "clientcert: 'verify-ca' needs require_ssl"),
    ([{'sources': [], 'method': 'cert'}], {'require_ssl': False}, "clients[0].method: 'cert' needs require_ssl"),
    ([{'sources': [], 'databases': ['my db']}], {}, "clients[0].databases: 'my db' is not a usable database name"),
    ([{'sources': [], 'users': ['"bob"']}], {}, "clients[0].users: '\"bob\"' is not a usable user name"),
    ([{'sources': [], 'users': ["o'brien"]}], {}, "clients[0].users: \"o'brien\" is not a usable user name"),
    ([{'sources': [], 'databases': ['a,b']}], {}, "clients[0].databases: 'a,b' is not a usable database name"),
    ([{'name': 'x\ny', 'sources': []}], {}, "clients[0].name: 'x\\ny' is not a usable name"),
    ([{'source': ['10.0.0.0/8']}], {}, "clients[0]: ['source'] are unknown keys"),
    (['10.0.0.0/8'], {}, "clients[0]: '10.0.0.0/8' is not a dict"),
    ([], {'require_tls': True}, "options: ['require_tls'] are unknown"),
    ([], {'keep_loopback': 'yes'}, "keep_loopback: 'yes' is not a boolean"),
])
def test_invalid_input_names_field_and_value(clients, options, message):
    with pytest.raises(HbaPlanError) as raised:
        plan_hba(INSECURE, clients, options)
    assert str(raised.value).startswith(message)


def test_empty_sources_is_fine():
    assert plan_hba('', [{'name': 'later', 'sources': []}], {})['managed'] == [
        'hostnossl all             all             0.0.0.0/0               reject',
        'hostnossl all             all             ::/0                    reject',
        'hostssl   all             all             0.0.0.0/0               reject',
        'hostssl   all             all             ::/0                    reject',
    ]


@pytest.mark.parametrize('text, message', [
    (BEGIN_LINE + '\nlocal all all peer\n', 'line 1: the managed block never ends'),
    ('local all all peer\n' + END_LINE + '\n', 'line 2: "# END pgsec.hardening managed block" without its BEGIN line'),
    (BEGIN_LINE + '\n' + BEGIN_LINE + '\n' + END_LINE + '\n', 'line 2: a managed block begins inside the one begun at line 1'),
])
def test_unbalanced_markers_are_refused(text, message):
    with pytest.raises(HbaPlanError) as raised:
        plan_hba(text, [], {})
    assert str(raised.value).startswith(message)


# ---------------------------------------------------------------------------- included files (PostgreSQL 16+)

INCLUDED = """\
# site rules, included from pg_hba.conf
host    all     all     0.0.0.0/0       md5
host    all     all     127.0.0.1/32    scram-sha-256
local   all     all                     md5
"""


def test_an_included_file_loses_its_tcp_lines_and_gives_its_loopback_ones_to_the_block():
    included = plan_included(INCLUDED, {'local_peer': True})
    assert included['text'] == """\
# site rules, included from pg_hba.conf
# superseded by pgsec.hardening (tls): host    all     all     0.0.0.0/0       md5
# superseded by pgsec.hardening (tls): host    all     all     127.0.0.1/32    scram-sha-256
# superseded by pgsec.hardening (tls): local   all     all                     md5
local     all             all                                     peer
"""
    assert included['kept'] == ['host    all     all     127.0.0.1/32    scram-sha-256']
    assert [(item['line'], item['moved']) for item in included['superseded']] == [(2, False), (3, True), (4, False)]
    main = plan_hba('include site.conf\n', [APP], {'clientcert': 'none'}, extra_kept=included['kept'])
    block = main['text'].split('# loopback lines kept from this file\n')[1]
    assert 'all     all     127.0.0.1/32    scram-sha-256' in block.splitlines()[0], block
    # Once done, nothing changes: the included file has no TCP line left, the block keeps its loopback line.
    again = plan_included(included['text'], {'local_peer': True})
    assert again['changed'] is False and again['kept'] == []
    assert plan_hba(main['text'], [APP], {'clientcert': 'none'}, extra_kept=again['kept'])['changed'] is False


def test_an_included_file_without_tcp_lines_is_not_changed():
    assert plan_included('local all all peer\n')['changed'] is False
    assert plan_included('')['changed'] is False
    assert plan_included(INCLUDED, {'keep_other_tcp': True})['changed'] is False
