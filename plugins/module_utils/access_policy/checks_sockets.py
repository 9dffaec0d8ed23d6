# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controls of the Unix socket area: metadata, then the checks."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import MissingFacts
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import _mode_int, _outcome, _quote, _same_path, _worst
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import Catalogue


CONTROLS = Catalogue()  # this area's controls: @CONTROLS.check above each check


# ---------------------------------------------------------------------------- sockets

def _socket_mode(ctx):
    """(mode int, text) of unix_socket_permissions; a stopped server's unread compiled default is 0777."""
    entry = ctx.setting('unix_socket_permissions')
    mode = _mode_int(entry.get('value'))
    if mode is None:
        raise MissingFacts('unix_socket_permissions has an unreadable value %r' % entry.get('value'))
    if mode == 0 and entry.get('source') == 'default' and ctx.cluster.get('settings_from') != 'pg_settings':
        return 0o777, "0777 (PostgreSQL's compiled default; the facts could not read it from the stopped server)"
    text = '%04o' % mode
    pending = ctx.pending('unix_socket_permissions')
    if pending is not None and _mode_int(pending) is not None and _mode_int(pending) != mode:
        text += ' (configuration files say %04o after restart)' % _mode_int(pending)
    return mode, text


@CONTROLS.check(
    'socket.permissions', 'cluster', 'high', 'unix_socket_permissions is not world-accessible',
    'pgdsat 2.6',
    'Set unix_socket_permissions to pgsec_unix_socket_permissions (0770 with unix_socket_group, or 0700) and restart.')
def _check_socket_permissions(ctx):
    mode, text = _socket_mode(ctx)
    group = ctx.value('unix_socket_group', '') or ''
    wanted = ctx.policy['pgsec_unix_socket_permissions']
    wanted_group = ctx.policy['pgsec_unix_socket_group']
    with_group = ' with unix_socket_group %s' % wanted_group if wanted_group else ''
    expected = '%s%s, never world-accessible' % (wanted, with_group)
    if ctx.cis:
        expected += '; cis: 0770 with a unix_socket_group, or 0700'
    actual = 'unix_socket_permissions = %s, unix_socket_group = %s' % (text, _quote(group))
    problems = []
    if mode & 0o007:
        problems.append(('high', 'every local user can connect'))
    if ctx.cis:
        if mode not in (0o700, 0o770):
            problems.append(('medium', 'cis allows only 0770 or 0700'))
        elif mode == 0o770 and not group:
            problems.append(('medium', 'cis: group access needs an explicit unix_socket_group'))
    if mode != int(wanted, 8):
        problems.append(('low', 'differs from pgsec_unix_socket_permissions %s' % wanted))
    if wanted_group and group != wanted_group:
        problems.append(('low', 'unix_socket_group differs from pgsec_unix_socket_group %s' % wanted_group))
    if not problems:
        return _outcome('pass', 'unix_socket_permissions', expected, actual)
    return _outcome('fail', 'unix_socket_permissions', expected,
                    '%s: %s' % (actual, '; '.join(problem for _severity, problem in problems)),
                    _worst([severity for severity, _problem in problems]))


@CONTROLS.check(
    'socket.files', 'cluster', 'high', 'Live Unix socket files have the intended mode and group',
    'pgdsat 2.6 (applied to the live socket files)',
    'Set unix_socket_permissions / unix_socket_group as the policy says and restart; the server sets them '
    'on the socket file when it starts.')
def _check_socket_files(ctx):
    wanted = ctx.policy['pgsec_unix_socket_permissions']
    wanted_group = ctx.policy['pgsec_unix_socket_group']
    expected = 'socket files with mode %s%s' % (wanted, ' and group %s' % wanted_group if wanted_group else '')
    sockets = ctx.listeners('unix')
    if sockets is None:
        raise MissingFacts('%s: no socket files to inspect (socket.permissions checks the setting)'
                           % ctx.not_running_note())
    if not sockets:
        if not (ctx.value('unix_socket_directories', '') or '').strip():
            return _outcome('pass', 'Unix socket files', expected, 'no Unix sockets (unix_socket_directories is empty)')
        raise MissingFacts('the running server has no Unix socket in the facts although unix_socket_directories '
                           'is %s' % _quote(ctx.value('unix_socket_directories')))
    problems = []
    actual = []
    for socket in sockets:
        stat = socket.get('stat') or {}
        path = socket.get('path') or stat.get('path')
        if not stat.get('exists'):
            problems.append('medium')
            actual.append('%s is gone (removed by a tmp cleaner?): local clients cannot connect' % path)
            continue
        mode = _mode_int(stat.get('mode')) or 0
        issues = []
        if mode & 0o007:
            problems.append('high')
            issues.append('world-accessible')
        if mode != int(wanted, 8):
            problems.append('low')
            issues.append('mode is not %s' % wanted)
        if wanted_group and stat.get('group') != wanted_group:
            problems.append('low')
            issues.append('group is not %s' % wanted_group)
        actual.append('%s %s:%s %04o%s' % (path, stat.get('owner'), stat.get('group'), mode,
                                           ' (%s)' % ', '.join(issues) if issues else ''))
    text = '; '.join(actual)
    if not problems:
        return _outcome('pass', 'Unix socket files', expected, text)
    return _outcome('fail', 'Unix socket files', expected, text, _worst(problems))


@CONTROLS.check(
    'socket.directories', 'cluster', 'medium', 'Socket directories cannot be used to spoof the server',
    'PostgreSQL documentation: Preventing Server Spoofing (unix_socket_directories)',
    'Put the sockets in a directory only the server user (and the allowed group) can write, such as '
    '/run/postgresql with mode 2775 or stricter, as listed in pgsec_socket_directories.')
def _check_socket_directories(ctx):
    directories = ctx.require('socket_directories')
    wanted = ctx.policy['pgsec_socket_directories']
    expected = 'no world-writable socket directory'
    if wanted:
        expected += '; exactly %s' % ', '.join(
            '%s%s%s' % (entry['path'], ' group %s' % entry['group'] if entry['group'] else '',
                        ' mode %s' % entry['mode'] if entry['mode'] else '') for entry in wanted)
    problems = []
    actual = []
    for directory in directories:
        path = directory.get('path')
        if not directory.get('exists'):
            problems.append(('low', '%s does not exist' % path))
            actual.append('%s missing' % path)
            continue
        mode = _mode_int(directory.get('mode')) or 0
        actual.append('%s %s:%s %04o' % (path, directory.get('owner'), directory.get('group'), mode))
        if mode & 0o002 and not mode & 0o1000:
            problems.append(('high', '%s is world-writable without the sticky bit: any local user can replace '
                                     'the socket' % path))
        elif mode & 0o002:
            problems.append(('low', '%s is world-writable (sticky): another local user can create the socket '
                                    'name while the server is down and impersonate it' % path))
        spec = next((entry for entry in wanted if _same_path(entry['path'], path)), None)
        if wanted and spec is None:
            problems.append(('low', '%s is not in pgsec_socket_directories' % path))
        if spec is not None:
            if spec['mode'] and mode != int(spec['mode'], 8):
                problems.append(('low', '%s mode %04o, policy %s' % (path, mode, spec['mode'])))
            if spec['group'] and directory.get('group') != spec['group']:
                problems.append(('low', '%s group %s, policy %s' % (path, directory.get('group'), spec['group'])))
    for entry in wanted:
        if not any(_same_path(entry['path'], directory.get('path')) for directory in directories):
            problems.append(('low', '%s (pgsec_socket_directories) is not in unix_socket_directories' % entry['path']))
    text = ', '.join(actual) or 'no socket directories (unix_socket_directories is empty)'
    if not problems:
        return _outcome('pass', 'unix_socket_directories', expected, text)
    return _outcome('fail', 'unix_socket_directories', expected,
                    '%s: %s' % (text, '; '.join(problem for _severity, problem in problems)),
                    _worst([severity for severity, _problem in problems]))
