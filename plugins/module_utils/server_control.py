# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reloading and restarting a PostgreSQL cluster safely, and rolling its configuration back.

The running server is described by its own ``postmaster.pid`` (PID, start time, port, first
socket directory, status), so the code never relies on facts gathered before a change. The
service manager is found from the postmaster's cgroup (systemd unit); without one, Debian's
pg_ctlcluster or pg_ctl is used. Everything goes through a HostIO (see access_facts).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import posixpath
import re
import time

from ansible_collections.pgsec.hardening.plugins.module_utils.managed_config import same_value
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import parse_postmaster_pid, unit_from_cgroup
from ansible_collections.pgsec.hardening.plugins.module_utils.psql import as_user, run_psql

PID_FILE = 'postmaster.pid'
SERVER_ERROR = re.compile(r'FATAL|PANIC|ERROR|could not|invalid|failed', re.I)
# cgroup v2 ("0::/system.slice/x.service") or v1's systemd hierarchy ("1:name=systemd:/system.slice/x.service"),
# the hierarchy systemd itself files services under on RHEL 8 and other v1 hosts.


class ControlError(Exception):
    """Starting, stopping or querying the server failed; the message carries the server's words."""


def server_error_lines(text, limit=12):
    """The lines of a server log or journal excerpt that say why it failed."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    picked = [line for line in lines if SERVER_ERROR.search(line)]
    return (picked or lines)[-limit:]


class Cluster(object):
    """One cluster's service: status, reload, restart, start, as the server user where needed."""

    def __init__(self, io, cluster, sleep=time.sleep, clock=time.time):
        self.io = io
        self.id = cluster['id']
        self.layout = cluster.get('layout')
        self.version = cluster.get('version')
        self.name = cluster.get('name')
        self.data_directory = cluster['data_directory']
        self.config_file = cluster.get('config_file')
        self.bindir = cluster.get('bindir')
        self.server_user = cluster.get('server_user') or 'postgres'
        self.sleep = sleep
        self.clock = clock
        self.unit = None

    # ------------------------------------------------------------------ state
    def status(self):
        """The running postmaster from postmaster.pid, or None when it does not run."""
        info = parse_postmaster_pid(self.io.read_file(posixpath.join(self.data_directory, PID_FILE)))
        if info is None or not self.io.exists('/proc/%d' % info['pid']):
            return None
        return info

    def find_unit(self, status):
        if status:
            self.unit = unit_from_cgroup(self.io.read_file('/proc/%d/cgroup' % status['pid'])) or self.unit
        return self.unit

    def query(self, sql, status=None):
        """Rows of a query returning one JSON value, run over the server's Unix socket."""
        status = status or self.status()
        if not status or not status['socket_directory']:
            raise ControlError('%s: the server is not running or has no Unix socket to connect to' % self.id)
        psql = self.io.which('psql', [self.bindir] if self.bindir else [])
        if not psql:
            raise ControlError('%s: psql not found' % self.id)
        rc, out, err = run_psql(self.io, psql, sql, status['socket_directory'], status['port'], self.server_user)
        if rc != 0:
            raise ControlError('%s: %s' % (self.id, (err or out).strip()[:800]))
        out = out.strip()
        return json.loads(out) if out else None

    def settings(self, names, status=None):
        """{name: {setting, pending_restart}} from pg_settings."""
        if not names:
            return {}
        sql = ("SELECT json_object_agg(name, json_build_object('setting', setting, 'pending_restart', pending_restart))"
               " FROM pg_catalog.pg_settings WHERE name = ANY(ARRAY[%s])"
               % ', '.join("'%s'" % name.replace("'", "''") for name in names))
        return self.query(sql, status) or {}

    def file_setting_errors(self, status=None):
        sql = ("SELECT json_agg(json_build_object('file', sourcefile, 'line', sourceline, 'name', name, "
               "'error', error)) FROM pg_catalog.pg_file_settings WHERE error IS NOT NULL")
        return self.query(sql, status) or []

    def wait_ready(self, timeout, newer_than=None):
        """Wait until the server accepts connections (started after ``newer_than``) and its unit, if any,
        is active; its status, or None."""
        deadline = self.clock() + timeout
        given_up = 0
        while True:
            status = self.status()
            unit = self.unit_state()
            if status and (newer_than is None or (status['start_time'] or 0) >= newer_than) \
                    and status['status'] in ('ready', None, '') \
                    and (unit is None or unit.get('ActiveState') in (None, 'active')):
                try:
                    if self.query('SELECT to_json(1)', status) == 1:
                        return status
                except (ControlError, ValueError):
                    pass
            given_up = given_up + 1 if self.unit_gave_up(unit) else 0
            if self.clock() >= deadline or given_up >= 2:
                return None
            self.sleep(0.5)

    def unit_state(self):
        """{ActiveState, ControlPID, MainPID} of the unit, or None without a unit."""
        if not self.unit:
            return None
        rc, out, _err = self.io.run([self.io.which('systemctl') or 'systemctl', 'show', self.unit,
                                     '-p', 'ActiveState', '-p', 'ControlPID', '-p', 'MainPID'])
        if rc != 0:
            return None
        return dict(line.split('=', 1) for line in out.splitlines() if '=' in line)

    def unit_gave_up(self, state=None):
        """Whether the unit's start has ended without a server (``state``: a unit_state() already read).

        Debian's postgresql@ unit ignores a failing ExecStart and waits for a PID file without a time
        limit, so a failed start shows as 'activating' with neither a control nor a main process.
        """
        state = state if state is not None else self.unit_state()
        if not state:
            return False
        if state.get('ActiveState') == 'failed':
            return True
        return (state.get('ActiveState') == 'activating' and state.get('ControlPID') == '0'
                and state.get('MainPID') == '0')

    # ------------------------------------------------------------------ service
    def _service_argv(self, verb):
        if self.unit:
            # --no-block: the wait is ours, bounded by the caller's timeout (see unit_gave_up).
            return [self.io.which('systemctl') or 'systemctl', '--no-block', verb, self.unit]
        pg_ctlcluster = self.io.which('pg_ctlcluster')
        if self.layout == 'debian' and pg_ctlcluster:
            return [pg_ctlcluster, str(self.version), self.name, verb]
        pg_ctl = self.io.which('pg_ctl', [self.bindir] if self.bindir else [])
        argv = [pg_ctl or 'pg_ctl', '-D', self.data_directory, '-w', '-t', '60']
        if self.config_file and posixpath.dirname(self.config_file) != self.data_directory:
            argv += ['-o', '-c config_file=%s' % self.config_file]
        if verb == 'restart':
            argv += ['-m', 'fast']
        return as_user(self.io, self.server_user, argv + [verb])

    def service(self, verb):
        """(rc, output) of start/restart through the service manager."""
        rc, out, err = self.io.run(self._service_argv(verb), environ_update={'LC_ALL': 'C'})
        return rc, (out + '\n' + err).strip()

    def server_error(self, since, output=''):
        """Why the server failed, in its own words: journal of its unit, else the service command output."""
        text = ''
        journalctl = self.io.which('journalctl')
        if self.unit and journalctl:
            rc, out, _err = self.io.run([journalctl, '-u', self.unit, '--since', '@%d' % int(since), '-o', 'cat',
                                         '--no-pager', '-n', '60'])
            if rc == 0:
                text = out
        lines = server_error_lines(text) or server_error_lines(output)
        return ' | '.join(lines) if lines else 'no error message found'


def verify_settings(cluster, desired, status=None):
    """Names whose value in pg_settings differs from ``desired`` ({name: value}), with what the server shows."""
    shown = cluster.settings(sorted(desired), status)
    wrong = []
    for name, value in sorted(desired.items()):
        entry = shown.get(name)
        if entry is None or not same_value(name, entry['setting'], value):
            wrong.append({'name': name, 'expected': value, 'actual': entry['setting'] if entry else None,
                          'pending_restart': bool(entry and entry['pending_restart'])})
    return wrong
