# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import posixpath

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.server_control import (
    Cluster,
    ControlError,
    parse_postmaster_pid,
    server_error_lines,
    unit_from_cgroup,
    verify_settings,
)

DATA = '/var/lib/postgresql/15/main'
BINDIR = '/usr/lib/postgresql/15/bin'
PID_PATH = DATA + '/postmaster.pid'
RUNUSER = '/usr/sbin/runuser'
PSQL = BINDIR + '/psql'
UNIT = 'postgresql@15-main.service'

# postmaster.pid of PostgreSQL 15 (src/include/utils/pidfile.h): pid, data directory, start time,
# port, first socket directory, first listen address, shared memory key, status.
PID_READY = ("12345\n"
             "/var/lib/postgresql/15/main\n"
             "1700000000\n"
             "5432\n"
             "/var/run/postgresql\n"
             "*\n"
             "  5432001    131072\n"
             "ready   \n")
PID_NO_SOCKET = ("4242\n"
                 "/var/lib/pgsql/16/data\n"
                 "1700000100\n"
                 "5433\n"
                 "\n"
                 "198.18.1.10\n"
                 "  5433001     65536\n"
                 "ready   \n")
PID_STARTING = ("12346\n/var/lib/postgresql/15/main\n1700000500\n5432\n/var/run/postgresql\n*\n"
                "  5432001    131072\nstarting\n")

CGROUP_DEBIAN = "0::/system.slice/system-postgresql.slice/postgresql@15-main.service\n"
CGROUP_PGDG = "0::/system.slice/postgresql-18.service\n"
CGROUP_SESSION = "0::/user.slice/user-1000.slice/session-3.scope\n"

DEBIAN_CLUSTER = {'id': '15/main', 'layout': 'debian', 'version': '15', 'name': 'main', 'data_directory': DATA,
                  'config_file': '/etc/postgresql/15/main/postgresql.conf', 'bindir': BINDIR,
                  'server_user': 'postgres'}
PGDATA_CLUSTER = {'id': '/var/lib/pgsql/16/data', 'layout': 'pgdata', 'version': '16', 'name': None,
                  'data_directory': '/var/lib/pgsql/16/data', 'config_file': '/var/lib/pgsql/16/data/postgresql.conf',
                  'bindir': '/usr/pgsql-16/bin', 'server_user': 'postgres'}


class FakeIO(object):
    """A HostIO double: files (text or a callable giving it), existing paths, programs and a command handler."""

    def __init__(self, files=None, paths=(), programs=None, handler=None):
        self.files = dict(files or {})
        self.paths = set(paths)
        self.programs = dict(programs or {})
        self.handler = handler or (lambda argv, environ: (0, '', ''))
        self.calls = []
        self.which_calls = []

    def run(self, argv, environ_update=None):
        self.calls.append((list(argv), environ_update))
        return self.handler(list(argv), environ_update)

    def read_file(self, path):
        value = self.files.get(path)
        return value() if callable(value) else value

    def exists(self, path):
        return path in self.paths or path in self.files

    def which(self, name, extra_dirs=()):
        self.which_calls.append((name, tuple(extra_dirs)))
        for directory in extra_dirs:
            candidate = posixpath.join(directory, name)
            if candidate in self.paths:
                return candidate
        return self.programs.get(name)


class FakeClock(object):
    def __init__(self, now=1700001000.0):
        self.now = now
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def running_io(pid_text=PID_READY, handler=None, programs=None, paths=(), extra_files=None):
    files = {PID_PATH: pid_text, '/proc/12345/cgroup': CGROUP_DEBIAN}
    files.update(extra_files or {})
    return FakeIO(files=files, paths={'/proc/12345', '/proc/12346', PSQL} | set(paths),
                  programs=dict({'runuser': RUNUSER, 'systemctl': '/usr/bin/systemctl',
                                 'journalctl': '/usr/bin/journalctl', 'pg_ctlcluster': '/usr/bin/pg_ctlcluster'},
                                **(programs or {})),
                  handler=handler)


def json_handler(value, rc=0, err=''):
    def handler(argv, environ):
        return rc, (json.dumps(value) + '\n') if value is not None else '\n', err
    return handler


def cluster(io, spec=None, clock=None):
    clock = clock or FakeClock()
    return Cluster(io, dict(spec or DEBIAN_CLUSTER), sleep=clock.sleep, clock=clock)


# ---------------------------------------------------------------------------- postmaster.pid

def test_parse_postmaster_pid_ready():
    assert parse_postmaster_pid(PID_READY) == {
        'pid': 12345, 'data_directory': DATA, 'start_time': 1700000000, 'port': 5432,
        'socket_directory': '/var/run/postgresql', 'listen': '*', 'status': 'ready'}


def test_parse_postmaster_pid_without_socket_directory():
    assert parse_postmaster_pid(PID_NO_SOCKET) == {
        'pid': 4242, 'data_directory': '/var/lib/pgsql/16/data', 'start_time': 1700000100, 'port': 5433,
        'socket_directory': None, 'listen': '198.18.1.10', 'status': 'ready'}


def test_parse_postmaster_pid_starting_and_standby():
    assert parse_postmaster_pid(PID_STARTING)['status'] == 'starting'
    assert parse_postmaster_pid(PID_READY.replace('ready   ', 'standby '))['status'] == 'standby'


def test_parse_postmaster_pid_while_starting_up_early():
    # the postmaster writes the first lines before it knows sockets and status
    assert parse_postmaster_pid("777\n/srv/pg\n1700000000\n5432\n") == {
        'pid': 777, 'data_directory': '/srv/pg', 'start_time': 1700000000, 'port': 5432,
        'socket_directory': None, 'listen': None, 'status': None}
    assert parse_postmaster_pid("777\n") == {
        'pid': 777, 'data_directory': '', 'start_time': None, 'port': None, 'socket_directory': None,
        'listen': None, 'status': None}


def test_parse_postmaster_pid_tolerates_crlf_and_no_final_newline():
    assert parse_postmaster_pid(PID_READY.rstrip('\n').replace('\n', '\r\n')) == parse_postmaster_pid(PID_READY)


@pytest.mark.parametrize('text', [None, '', 'garbage\n', 'not a pid\n/data\n', '\n\n\n', '12a45\n/data\n'])
def test_parse_postmaster_pid_garbage(text):
    assert parse_postmaster_pid(text) is None


def test_parse_postmaster_pid_garbage_numbers_are_none():
    info = parse_postmaster_pid("12345\n/data\nyesterday\nport\n/tmp\n*\n\nready\n")
    assert info['pid'] == 12345
    assert info['start_time'] is None
    assert info['port'] is None


# ---------------------------------------------------------------------------- cgroup, error lines

@pytest.mark.parametrize('text, unit', [
    (CGROUP_DEBIAN, 'postgresql@15-main.service'),
    (CGROUP_PGDG, 'postgresql-18.service'),
    ("0::/system.slice/postgresql.service", 'postgresql.service'),
    # cgroup v1 lines around the v2 one (hybrid hierarchy)
    ("12:pids:/system.slice/postgresql-16.service\n1:name=systemd:/system.slice/postgresql-16.service\n"
     "0::/system.slice/postgresql-16.service\n", 'postgresql-16.service'),
    # cgroup v1 only (RHEL 8): systemd's own hierarchy names the unit; other controllers do not count
    ("11:memory:/system.slice/postgresql-13.service\n1:name=systemd:/system.slice/postgresql-13.service\n",
     'postgresql-13.service'),
    ("11:memory:/system.slice/postgresql-13.service\n1:name=systemd:/user.slice/user-0.slice/session-4.scope\n", None),
    (CGROUP_SESSION, None),
    ("0::/\n", None),
    ("0::/init.scope\n", None),
    ("", None),
    (None, None),
])
def test_unit_from_cgroup(text, unit):
    assert unit_from_cgroup(text) == unit


JOURNAL = """\
Starting PostgreSQL Cluster 15-main...
2026-01-01 10:00:00.000 UTC [999] LOG:  starting PostgreSQL 15.5 on x86_64-pc-linux-gnu
2026-01-01 10:00:00.001 UTC [999] LOG:  could not bind IPv4 address "198.18.1.99": Cannot assign requested address
2026-01-01 10:00:00.002 UTC [999] WARNING:  could not create listen socket for "198.18.1.99"
2026-01-01 10:00:00.003 UTC [999] FATAL:  could not create any TCP/IP sockets
2026-01-01 10:00:00.004 UTC [999] LOG:  database system is shut down
postgresql@15-main.service: Failed with result 'protocol'.
Failed to start PostgreSQL Cluster 15-main.
"""


def test_server_error_lines_picks_the_errors():
    assert server_error_lines(JOURNAL) == [
        '2026-01-01 10:00:00.001 UTC [999] LOG:  could not bind IPv4 address "198.18.1.99": '
        'Cannot assign requested address',
        '2026-01-01 10:00:00.002 UTC [999] WARNING:  could not create listen socket for "198.18.1.99"',
        '2026-01-01 10:00:00.003 UTC [999] FATAL:  could not create any TCP/IP sockets',
        "postgresql@15-main.service: Failed with result 'protocol'.",
        'Failed to start PostgreSQL Cluster 15-main.',
    ]


def test_server_error_lines_limit_keeps_the_last():
    text = '\n'.join('ERROR: number %d' % number for number in range(20))
    assert server_error_lines(text, limit=3) == ['ERROR: number 17', 'ERROR: number 18', 'ERROR: number 19']
    assert len(server_error_lines(text)) == 12


def test_server_error_lines_without_errors_returns_the_last_lines():
    text = '\n\n  line one  \nline two\n\n'
    assert server_error_lines(text) == ['line one', 'line two']
    assert server_error_lines('pg_ctl: server is running\n', limit=1) == ['pg_ctl: server is running']


@pytest.mark.parametrize('text', [None, '', '\n \n'])
def test_server_error_lines_empty(text):
    assert server_error_lines(text) == []


# ---------------------------------------------------------------------------- status, unit

def test_status_running():
    io = running_io()
    assert cluster(io).status() == parse_postmaster_pid(PID_READY)


def test_status_stale_pid_file():
    io = running_io()
    io.paths.discard('/proc/12345')
    assert cluster(io).status() is None


def test_status_without_pid_file():
    assert cluster(FakeIO()).status() is None


def test_status_garbage_pid_file():
    assert cluster(running_io(pid_text='garbage')).status() is None


def test_find_unit():
    io = running_io(extra_files={'/proc/4242/cgroup': CGROUP_PGDG})
    control = cluster(io)
    assert control.unit is None
    assert control.find_unit(control.status()) == UNIT
    assert control.unit == UNIT
    assert control.find_unit({'pid': 4242}) == 'postgresql-18.service'


def test_find_unit_keeps_a_known_unit():
    io = running_io(extra_files={'/proc/12345/cgroup': CGROUP_SESSION})
    control = cluster(io)
    control.unit = UNIT
    assert control.find_unit(control.status()) == UNIT  # not in a service now: keep what was found before
    assert control.find_unit(None) == UNIT


def test_find_unit_without_status_or_cgroup():
    control = cluster(FakeIO())
    assert control.find_unit(None) is None
    assert control.find_unit({'pid': 1}) is None


def test_cluster_defaults():
    control = Cluster(FakeIO(), {'id': 'x', 'data_directory': '/d'})
    assert control.server_user == 'postgres'
    assert control.layout is None and control.config_file is None and control.bindir is None


# ---------------------------------------------------------------------------- query

EXPECTED_QUERY_ARGV = [RUNUSER, '-u', 'postgres', '--', PSQL, '-X', '-A', '-t', '-q', '-h', '/var/run/postgresql',
                       '-p', '5432', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c']


def test_query_argv_and_json():
    io = running_io(handler=json_handler({'a': [1, 2]}))
    assert cluster(io).query('SELECT 1') == {'a': [1, 2]}
    assert io.calls == [(EXPECTED_QUERY_ARGV + ['SELECT 1'], {'PGCONNECT_TIMEOUT': '5', 'LC_ALL': 'C'})]
    assert ('psql', (BINDIR,)) in io.which_calls


def test_query_with_given_status_does_not_read_the_pid_file():
    io = FakeIO(paths={PSQL}, programs={'runuser': RUNUSER}, handler=json_handler(1))
    status = parse_postmaster_pid(PID_NO_SOCKET)
    status['socket_directory'] = '/tmp'
    assert cluster(io).query('SELECT to_json(1)', status) == 1
    argv = io.calls[0][0]
    assert argv[argv.index('-h') + 1] == '/tmp'
    assert argv[argv.index('-p') + 1] == '5433'


def test_query_empty_output_is_none():
    io = running_io(handler=json_handler(None))
    assert cluster(io).query('SELECT NULL') is None


def test_query_without_runuser_runs_directly():
    io = running_io(handler=json_handler(True))
    del io.programs['runuser']
    assert cluster(io).query('SELECT to_json(true)') is True
    assert io.calls[0][0][0] == PSQL


def test_query_as_root_server_user_runs_directly():
    io = running_io(handler=json_handler(1))
    assert cluster(io, dict(DEBIAN_CLUSTER, server_user='root')).query('SELECT 1') == 1
    assert io.calls[0][0][0] == PSQL


def test_query_other_server_user():
    io = running_io(handler=json_handler(1))
    cluster(io, dict(DEBIAN_CLUSTER, server_user='pgsql')).query('SELECT 1')
    assert io.calls[0][0][:4] == [RUNUSER, '-u', 'pgsql', '--']


def test_query_psql_from_path_without_bindir():
    io = running_io(handler=json_handler(1), programs={'psql': '/usr/bin/psql'})
    cluster(io, dict(DEBIAN_CLUSTER, bindir=None)).query('SELECT 1')
    assert io.calls[0][0][4] == '/usr/bin/psql'
    assert ('psql', ()) in io.which_calls


def test_query_error_raises_control_error_with_server_words():
    io = running_io(handler=json_handler(None, rc=1, err='psql: error: FATAL:  role "postgres" does not exist\n'))
    with pytest.raises(ControlError) as info:
        cluster(io).query('SELECT 1')
    assert str(info.value) == '15/main: psql: error: FATAL:  role "postgres" does not exist'


def test_query_error_uses_stdout_when_stderr_is_empty_and_truncates():
    io = running_io(handler=lambda argv, environ: (3, 'x' * 2000, ''))
    with pytest.raises(ControlError) as info:
        cluster(io).query('SELECT 1')
    assert str(info.value) == '15/main: ' + 'x' * 800


def test_query_not_running():
    io = FakeIO(paths={PSQL}, programs={'runuser': RUNUSER})
    with pytest.raises(ControlError, match='not running'):
        cluster(io).query('SELECT 1')
    assert io.calls == []


def test_query_without_socket_directory():
    io = FakeIO(files={PGDATA_CLUSTER['data_directory'] + '/postmaster.pid': PID_NO_SOCKET}, paths={'/proc/4242'},
                programs={'psql': '/usr/bin/psql'})
    with pytest.raises(ControlError, match='no Unix socket'):
        cluster(io, PGDATA_CLUSTER).query('SELECT 1')
    assert io.calls == []


def test_query_without_psql():
    io = running_io()
    io.paths.discard(PSQL)
    with pytest.raises(ControlError, match='psql not found'):
        cluster(io).query('SELECT 1')


def test_query_invalid_json_raises_value_error():
    io = running_io(handler=lambda argv, environ: (0, 'not json\n', ''))
    with pytest.raises(ValueError):
        cluster(io).query('SELECT 1')


def test_settings_query():
    shown = {'listen_addresses': {'setting': '*', 'pending_restart': False}}
    io = running_io(handler=json_handler(shown))
    assert cluster(io).settings(['listen_addresses', "o'dd"]) == shown
    sql = io.calls[0][0][-1]
    assert 'FROM pg_catalog.pg_settings' in sql
    assert "name = ANY(ARRAY['listen_addresses', 'o''dd'])" in sql


def test_settings_empty_names_runs_nothing():
    io = running_io()
    assert cluster(io).settings([]) == {}
    assert io.calls == []


def test_settings_no_rows_is_empty():
    assert cluster(running_io(handler=json_handler(None))).settings(['nope']) == {}


def test_file_setting_errors():
    errors = [{'file': '/etc/postgresql/15/main/pgsec.d/listen.conf', 'line': 3, 'name': 'listen_addresses',
               'error': 'setting could not be applied'}]
    io = running_io(handler=json_handler(errors))
    assert cluster(io).file_setting_errors() == errors
    assert 'pg_file_settings WHERE error IS NOT NULL' in io.calls[0][0][-1]
    assert cluster(running_io(handler=json_handler(None))).file_setting_errors() == []


# ---------------------------------------------------------------------------- wait_ready

def test_wait_ready_immediately():
    clock = FakeClock()
    io = running_io(handler=json_handler(1))
    assert cluster(io, clock=clock).wait_ready(10) == parse_postmaster_pid(PID_READY)
    assert clock.sleeps == []
    assert io.calls[0][0][-1] == 'SELECT to_json(1)'


def test_wait_ready_times_out():
    clock = FakeClock(1000.0)
    io = FakeIO()
    assert cluster(io, clock=clock).wait_ready(2) is None
    assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]
    assert clock.now == 1002.0
    assert io.calls == []


def test_wait_ready_zero_timeout_tries_once():
    clock = FakeClock()
    assert cluster(FakeIO(), clock=clock).wait_ready(0) is None
    assert clock.sleeps == []


def test_wait_ready_after_start():
    clock = FakeClock(1000.0)
    sequence = [None, None, PID_STARTING, PID_STARTING.replace('starting', 'ready   ')]

    def pid_file():
        return sequence.pop(0) if len(sequence) > 1 else sequence[0]

    io = running_io(pid_text=pid_file, handler=json_handler(1))
    status = cluster(io, clock=clock).wait_ready(60)
    assert status['pid'] == 12346
    assert status['status'] == 'ready'
    assert clock.sleeps == [0.5, 0.5, 0.5]
    assert len(io.calls) == 1  # never queried while starting


def test_wait_ready_ignores_the_old_server():
    clock = FakeClock(1000.0)
    sequence = [PID_READY, PID_READY, PID_STARTING.replace('starting', 'ready   ')]

    def pid_file():
        return sequence.pop(0) if len(sequence) > 1 else sequence[0]

    io = running_io(pid_text=pid_file, handler=json_handler(1))
    status = cluster(io, clock=clock).wait_ready(60, newer_than=1700000000 + 1)
    assert status['start_time'] == 1700000500
    assert len(clock.sleeps) == 2
    assert len(io.calls) == 1


def test_wait_ready_old_server_only_times_out():
    clock = FakeClock(1000.0)
    io = running_io(handler=json_handler(1))
    assert cluster(io, clock=clock).wait_ready(1, newer_than=1700000001) is None
    assert io.calls == []


def test_wait_ready_retries_failing_queries():
    clock = FakeClock(1000.0)
    answers = [(2, '', 'psql: error: FATAL:  the database system is starting up'), (0, 'garbage', ''), (0, '1\n', '')]
    io = running_io(handler=lambda argv, environ: answers.pop(0))
    status = cluster(io, clock=clock).wait_ready(30)
    assert status['pid'] == 12345
    assert len(io.calls) == 3
    assert clock.sleeps == [0.5, 0.5]


def test_wait_ready_query_never_answers():
    clock = FakeClock(1000.0)
    io = running_io(handler=json_handler(None, rc=2, err='could not connect'))
    assert cluster(io, clock=clock).wait_ready(1.5) is None
    assert len(io.calls) == 4  # at 1000, 1000.5, 1001, 1001.5


def unit_show(active, control_pid='0', main_pid='0', rc=0):
    def handler(argv, environ):
        if argv[1] == 'show':
            return rc, 'ActiveState=%s\nControlPID=%s\nMainPID=%s\n' % (active, control_pid, main_pid), ''
        return 2, '', 'could not connect'
    return handler


def test_wait_ready_stops_when_the_unit_start_failed():
    clock = FakeClock(1000.0)
    io = FakeIO(programs={'systemctl': '/usr/bin/systemctl'}, handler=unit_show('failed'))
    control = cluster(io, clock=clock)
    control.unit = UNIT
    assert control.wait_ready(60) is None
    assert clock.sleeps == [0.5]  # seen twice in a row, then given up


def test_wait_ready_stops_when_a_debian_unit_waits_for_a_pid_file_forever():
    clock = FakeClock(1000.0)
    io = FakeIO(programs={'systemctl': '/usr/bin/systemctl'}, handler=unit_show('activating'))
    control = cluster(io, clock=clock)
    control.unit = UNIT
    assert control.wait_ready(60) is None
    assert clock.now == 1000.5
    assert io.calls[0][0] == ['/usr/bin/systemctl', 'show', UNIT, '-p', 'ActiveState', '-p', 'ControlPID',
                              '-p', 'MainPID']


def test_wait_ready_keeps_waiting_while_the_start_command_runs():
    clock = FakeClock(1000.0)
    io = FakeIO(programs={'systemctl': '/usr/bin/systemctl'}, handler=unit_show('activating', control_pid='77'))
    control = cluster(io, clock=clock)
    control.unit = UNIT
    assert control.wait_ready(3) is None
    assert clock.now == 1003.0


def test_wait_ready_waits_for_the_unit_to_become_active():
    """pg_ctlcluster returns, and the unit turns active, a moment after the server answers."""
    clock = FakeClock(1000.0)
    states = ['activating', 'activating', 'active']

    def handler(argv, environ):
        if argv[1] == 'show':
            active = states.pop(0) if len(states) > 1 else states[0]
            return 0, 'ActiveState=%s\nControlPID=%s\nMainPID=0\n' % (active, '77' if active != 'active' else '0'), ''
        return 0, '1\n', ''

    io = running_io(handler=handler)
    control = cluster(io, clock=clock)
    control.unit = UNIT
    assert control.wait_ready(60)['pid'] == 12345
    assert clock.sleeps == [0.5, 0.5]
    assert [call[0][1] for call in io.calls].count('show') == 3


@pytest.mark.parametrize('state, gave_up', [
    (('failed',), True),
    (('activating', '0', '0'), True),
    (('activating', '120', '0'), False),
    (('activating', '0', '130'), False),
    (('active', '0', '130'), False),
    (('deactivating', '0', '0'), False),
    (('inactive',), False),
])
def test_unit_gave_up(state, gave_up):
    io = FakeIO(programs={'systemctl': '/usr/bin/systemctl'}, handler=unit_show(*state))
    control = cluster(io)
    control.unit = UNIT
    assert control.unit_gave_up() is gave_up


def test_unit_gave_up_without_unit_or_when_systemctl_fails():
    io = FakeIO(handler=unit_show('failed', rc=1))
    control = cluster(io)
    assert control.unit_gave_up() is False
    assert io.calls == []
    control.unit = UNIT
    assert control.unit_gave_up() is False


# ---------------------------------------------------------------------------- service commands

def test_service_argv_systemd_unit():
    control = cluster(running_io())
    control.unit = UNIT
    assert control._service_argv('restart') == ['/usr/bin/systemctl', '--no-block', 'restart', UNIT]
    assert control._service_argv('start') == ['/usr/bin/systemctl', '--no-block', 'start', UNIT]


def test_service_argv_systemd_unit_without_systemctl_on_path():
    io = running_io()
    del io.programs['systemctl']
    control = cluster(io)
    control.unit = 'postgresql-18.service'
    assert control._service_argv('restart') == ['systemctl', '--no-block', 'restart', 'postgresql-18.service']


def test_service_argv_debian_pg_ctlcluster():
    assert cluster(running_io())._service_argv('restart') == ['/usr/bin/pg_ctlcluster', '15', 'main', 'restart']
    assert cluster(running_io())._service_argv('start') == ['/usr/bin/pg_ctlcluster', '15', 'main', 'start']


def test_service_argv_debian_without_pg_ctlcluster_uses_pg_ctl():
    io = running_io(paths={BINDIR + '/pg_ctl'})
    del io.programs['pg_ctlcluster']
    assert cluster(io)._service_argv('restart') == [
        RUNUSER, '-u', 'postgres', '--', BINDIR + '/pg_ctl', '-D', DATA, '-w', '-t', '60',
        '-o', '-c config_file=/etc/postgresql/15/main/postgresql.conf', '-m', 'fast', 'restart']


def test_service_argv_pg_ctl_with_a_separate_config_file():
    spec = dict(PGDATA_CLUSTER, layout='custom', config_file='/etc/pgsql/16/postgresql.conf')
    io = FakeIO(paths={'/usr/pgsql-16/bin/pg_ctl'}, programs={'runuser': RUNUSER, 'pg_ctlcluster': '/usr/bin/x'})
    control = cluster(io, spec)
    assert control._service_argv('restart') == [
        RUNUSER, '-u', 'postgres', '--', '/usr/pgsql-16/bin/pg_ctl', '-D', '/var/lib/pgsql/16/data', '-w', '-t', '60',
        '-o', '-c config_file=/etc/pgsql/16/postgresql.conf', '-m', 'fast', 'restart']
    assert control._service_argv('start') == [
        RUNUSER, '-u', 'postgres', '--', '/usr/pgsql-16/bin/pg_ctl', '-D', '/var/lib/pgsql/16/data', '-w', '-t', '60',
        '-o', '-c config_file=/etc/pgsql/16/postgresql.conf', 'start']


def test_service_argv_pg_ctl_with_config_in_data_directory():
    io = FakeIO(paths={'/usr/pgsql-16/bin/pg_ctl'}, programs={'runuser': RUNUSER})
    assert cluster(io, PGDATA_CLUSTER)._service_argv('start') == [
        RUNUSER, '-u', 'postgres', '--', '/usr/pgsql-16/bin/pg_ctl', '-D', '/var/lib/pgsql/16/data',
        '-w', '-t', '60', 'start']


def test_service_argv_pg_ctl_not_found_and_no_runuser():
    io = FakeIO()
    assert cluster(io, dict(PGDATA_CLUSTER, bindir=None))._service_argv('restart') == [
        'pg_ctl', '-D', '/var/lib/pgsql/16/data', '-w', '-t', '60', '-m', 'fast', 'restart']


def test_service_runs_with_c_locale_and_joins_output():
    io = running_io(handler=lambda argv, environ: (1, 'out\n', 'Job failed.\n'))
    control = cluster(io)
    control.unit = UNIT
    assert control.service('restart') == (1, 'out\n\nJob failed.')
    assert io.calls == [(['/usr/bin/systemctl', '--no-block', 'restart', UNIT], {'LC_ALL': 'C'})]


def test_service_empty_output():
    io = running_io(handler=lambda argv, environ: (0, '', ''))
    assert cluster(io).service('start') == (0, '')


# ---------------------------------------------------------------------------- server_error

def test_server_error_from_the_journal():
    io = running_io(handler=lambda argv, environ: (0, JOURNAL, ''))
    control = cluster(io)
    control.unit = UNIT
    message = control.server_error(1700001234.9, output='Job for postgresql@15-main.service failed.')
    assert io.calls[0][0] == ['/usr/bin/journalctl', '-u', UNIT, '--since', '@1700001234', '-o', 'cat',
                              '--no-pager', '-n', '60']
    assert message.split(' | ') == server_error_lines(JOURNAL)
    assert 'FATAL:  could not create any TCP/IP sockets' in message


def test_server_error_journal_failing_falls_back_to_output():
    io = running_io(handler=lambda argv, environ: (1, JOURNAL, 'No journal files were found.'))
    control = cluster(io)
    control.unit = UNIT
    output = 'pg_ctl: could not start server\nExamine the log output.'
    assert control.server_error(0, output) == 'pg_ctl: could not start server'


def test_server_error_empty_journal_falls_back_to_output():
    io = running_io(handler=lambda argv, environ: (0, '', ''))
    control = cluster(io)
    control.unit = UNIT
    assert control.server_error(0, 'Error: could not exec start command') == 'Error: could not exec start command'


def test_server_error_without_unit_uses_output_only():
    io = running_io()
    output = ('waiting for server to start....2026-01-01 LOG:  starting\n'
              '2026-01-01 FATAL:  invalid value for parameter "listen_addresses": "a b c"\n'
              ' stopped waiting\npg_ctl: could not start server')
    assert cluster(io).server_error(0, output) == (
        '2026-01-01 FATAL:  invalid value for parameter "listen_addresses": "a b c" | pg_ctl: could not start server')
    assert io.calls == []


def test_server_error_without_journalctl():
    io = running_io()
    del io.programs['journalctl']
    control = cluster(io)
    control.unit = UNIT
    assert control.server_error(0, 'FATAL: x') == 'FATAL: x'
    assert io.calls == []


def test_server_error_nothing_found():
    assert cluster(running_io()).server_error(0, '') == 'no error message found'


# ---------------------------------------------------------------------------- verify_settings

def shown_handler(shown):
    return json_handler(shown)


def test_verify_settings_all_good():
    shown = {
        'listen_addresses': {'setting': '127.0.0.1,198.18.1.10', 'pending_restart': False},
        'unix_socket_permissions': {'setting': '0770', 'pending_restart': False},
        'ssl': {'setting': 'on', 'pending_restart': False},
        'port': {'setting': '5432', 'pending_restart': False},
    }
    io = running_io(handler=shown_handler(shown))
    desired = {'listen_addresses': ['127.0.0.1', '198.18.1.10'], 'unix_socket_permissions': 504, 'ssl': True,
               'port': 5432}
    assert verify_settings(cluster(io), desired) == []
    sql = io.calls[0][0][-1]
    assert "ARRAY['listen_addresses', 'port', 'ssl', 'unix_socket_permissions']" in sql


def test_verify_settings_reports_differences():
    shown = {
        'listen_addresses': {'setting': '*', 'pending_restart': True},
        'unix_socket_permissions': {'setting': '0777', 'pending_restart': False},
        'ssl': {'setting': 'on', 'pending_restart': False},
    }
    io = running_io(handler=shown_handler(shown))
    desired = {'listen_addresses': '127.0.0.1', 'unix_socket_permissions': '0770', 'ssl': 'on',
               'no_such_setting': 'x'}
    assert verify_settings(cluster(io), desired) == [
        {'name': 'listen_addresses', 'expected': '127.0.0.1', 'actual': '*', 'pending_restart': True},
        {'name': 'no_such_setting', 'expected': 'x', 'actual': None, 'pending_restart': False},
        {'name': 'unix_socket_permissions', 'expected': '0770', 'actual': '0777', 'pending_restart': False},
    ]


def test_verify_settings_uses_the_given_status():
    io = FakeIO(paths={PSQL}, programs={'runuser': RUNUSER},
                handler=shown_handler({'port': {'setting': '5433', 'pending_restart': False}}))
    status = parse_postmaster_pid(PID_READY)
    status['port'] = 5433
    assert verify_settings(cluster(io), {'port': 5433}, status) == []
    argv = io.calls[0][0]
    assert argv[argv.index('-p') + 1] == '5433'


def test_verify_settings_server_gone_raises():
    with pytest.raises(ControlError):
        verify_settings(cluster(FakeIO(paths={PSQL})), {'port': 5432})
