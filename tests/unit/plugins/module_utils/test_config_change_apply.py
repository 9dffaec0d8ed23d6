# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""apply_cluster: what happens to a running server for a set of configuration results."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.pgsec.hardening.plugins.module_utils.config_change import apply_cluster

from .test_server_control import DEBIAN_CLUSTER, FakeClock, running_io


def settings_handler(shown, calls):
    """psql answers: pg_settings rows from ``shown``, pg_reload_conf, no file errors."""
    def handler(argv, environ):
        sql = argv[-1]
        calls.append(sql)
        if 'pg_settings' in sql:
            return 0, json.dumps(dict((name, {'setting': value, 'pending_restart': False})
                                      for name, value in shown.items())) + '\n', ''
        if 'pg_reload_conf' in sql:
            return 0, 'true\n', ''
        if 'pg_file_settings' in sql:
            return 0, '\n', ''
        return 0, '1\n', ''
    return handler


def apply(results, shown, check_mode=False):
    calls = []
    io = running_io(handler=settings_handler(shown, calls))
    clock = FakeClock()
    outcome = apply_cluster(io, results, check_mode=check_mode, sleep=clock.sleep, clock=clock)
    return outcome, calls


def test_nothing_to_do_when_the_server_already_uses_the_settings():
    results = [{'cluster': DEBIAN_CLUSTER, 'settings': {'ssl': 'on'}, 'changes': [{'name': 'ssl', 'context': 'sighup'}]}]
    outcome, calls = apply(results, {'ssl': 'on'})
    assert outcome['action'] == 'none' and not outcome['reloaded']
    assert not any('pg_reload_conf' in sql for sql in calls)


def test_changed_files_without_changed_settings_reload():
    results = [{'cluster': DEBIAN_CLUSTER, 'settings': {'ssl': 'on'}, 'changes': []},
               {'cluster': DEBIAN_CLUSTER, 'reload_required': True}]
    outcome, calls = apply(results, {'ssl': 'on'})
    assert (outcome['action'], outcome['reloaded'], outcome['restarted']) == ('reload', True, False)
    assert any('pg_reload_conf' in sql for sql in calls)


def test_changed_files_in_check_mode_only_say_so():
    results = [{'cluster': DEBIAN_CLUSTER, 'reload_required': True}]
    outcome, calls = apply(results, {}, check_mode=True)
    assert outcome['action'] == 'reload' and not outcome['reloaded']
    assert outcome['message'] == 'would reload the server for changed files'
    assert not any('pg_reload_conf' in sql for sql in calls)
