# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which areas of a host drift from the plan, in one module run.

Each area is checked by the code its own module runs (config_change.run, tls.apply.run, hba.apply.run,
firewall.run.run), in check mode, through AreaCheck: a stand-in for the module that takes the area's
parameters and turns exit_json/fail_json into a result. What the drift check says so is what the
area's task would do; the roles then run only the areas that drift.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import os
import pwd
import stat

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.pgsec.hardening.plugins.module_utils import config_change

# Imported where their area is checked: a module runs from a zip and compiles what it imports on every run.
# pylint: disable=import-outside-toplevel

AREAS = ('sockets', 'listen', 'tls', 'hba', 'firewall')


class DriftError(Exception):
    """An area refused its parameters (bad input, material, a firewall it cannot change); nothing was changed."""


class _AreaExit(Exception):
    def __init__(self, result):
        super(_AreaExit, self).__init__(result.get('msg'))
        self.result = result


class AreaCheck(object):
    """The module as one area's run() sees it: that area's parameters, check mode, exits as results."""

    def __init__(self, module, argument_spec, params):
        validated = ArgumentSpecValidator(argument_spec).validate(params)
        if validated.error_messages:
            raise DriftError('; '.join(validated.error_messages))
        self.params = validated.validated_parameters
        self.check_mode = True
        self._diff = False
        self._module = module
        self.warnings = []

    def __getattr__(self, name):
        return getattr(self._module, name)

    def warn(self, warning):
        self.warnings.append(warning)

    def exit_json(self, **result):
        raise _AreaExit(result)

    def fail_json(self, msg, **result):
        raise _AreaExit(dict(result, msg=msg, failed=True))


def check_area(module, run, argument_spec, params):
    """run(AreaCheck) in check mode: its result; raises DriftError with the area's own message on failure."""
    check = AreaCheck(module, argument_spec, params)
    result = None
    try:
        run(check)
    except _AreaExit as done:
        result = done.result
    if result is None:
        raise DriftError('the check returned without a result')
    for warning in check.warnings:
        module.warn(warning)
    if result.get('failed'):
        raise DriftError(result.get('msg') or 'failed')
    return result


def _config(module, cluster, owner, settings):
    # Without the server binary's validation: it only guards a write, and the area's own task, which runs
    # whenever the files would change, validates before writing.
    return check_area(module, config_change.run, config_change.ARGUMENT_SPEC,
                      dict(cluster=cluster, owner=owner, settings=settings, validate=False))


def _uid(name):
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _gid(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def socket_changes(sockets):
    """What the sockets role's group, user, file and copy tasks would change, one line each."""
    changes = []
    for group in sockets.get('groups') or []:
        try:
            members = grp.getgrnam(group['name']).gr_mem
        except KeyError:
            changes.append('group %s: create' % group['name'])
            continue
        changes += ['group %s: add %s' % (group['name'], member)
                    for member in group.get('members') or [] if member not in members]
    server_user = sockets.get('server_user') or 'postgres'
    for directory in sockets.get('directories') or []:
        path, group = directory['path'], directory.get('group') or server_user
        try:
            info = os.stat(path)
        except OSError:
            changes.append('%s: create' % path)
            continue
        if not stat.S_ISDIR(info.st_mode):
            changes.append('%s: not a directory' % path)
        elif (info.st_uid, info.st_gid) != (_uid(server_user), _gid(group)):
            changes.append('%s: owner %s:%s' % (path, server_user, group))
        elif stat.S_IMODE(info.st_mode) != int(str(directory['mode']), 8):
            changes.append('%s: mode %s' % (path, directory['mode']))
    tmpfiles = sockets.get('tmpfiles') or {}
    if tmpfiles.get('path'):
        changes += _file_changes(tmpfiles['path'], tmpfiles.get('content'))
    return changes


def _file_changes(path, content):
    """A root-owned 0644 file with CONTENT, or no file when CONTENT is empty."""
    try:
        info = os.stat(path)
    except OSError:
        return ['%s: create' % path] if content else []
    if not content:
        return ['%s: remove' % path]
    with open(path, 'rb') as handle:
        if handle.read() != content.encode('utf-8'):
            return ['%s: content' % path]
    if (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) != (0, 0, 0o644):
        return ['%s: owner root:root, mode 0644' % path]
    return []


def _changed_config(module, clusters, owner, settings):
    return ['%s: %s settings' % (cluster.get('id'), owner) for cluster in clusters
            if _config(module, cluster, owner, settings)['changed']]


def check_host(module, params):
    """{areas: {area: bool}, changes: {area: [what]}}; raises DriftError before anything is changed."""
    clusters = params['clusters']
    changes = dict((area, []) for area in AREAS)
    sockets = params.get('sockets')
    if sockets is not None:
        changes['sockets'] = socket_changes(sockets) + _changed_config(module, clusters, 'sockets',
                                                                       sockets.get('settings') or {})
    if params.get('listen') is not None:
        changes['listen'] = _changed_config(module, clusters, 'listen', params['listen'].get('settings') or {})
    tls = params.get('tls')
    if tls is not None:
        changes['tls'] = _tls_changes(module, clusters, tls, params.get('tls_key'), params.get('tls_key_passphrase'))
    hba = params.get('hba')
    if hba is not None:
        from ansible_collections.pgsec.hardening.plugins.module_utils.hba import apply as hba_apply
        for cluster in clusters:
            result = check_area(module, hba_apply.run, hba_apply.ARGUMENT_SPEC, dict(hba, cluster=cluster))
            if result['changed']:
                changes['hba'].append('%s: %s' % (cluster.get('id'), result['hba_file']))
    firewall = params.get('firewall')
    if firewall is not None:
        from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import run as firewall_run
        result = check_area(module, firewall_run.run, firewall_run.ARGUMENT_SPEC, firewall)
        if result.get('changed'):
            changes['firewall'].append('%s rules' % (result.get('backend') or 'firewall'))
    return {'areas': dict((area, bool(changes[area])) for area in AREAS), 'changes': changes}


def _tls_changes(module, clusters, tls, key, key_passphrase):
    """The material of each cluster, then its TLS settings (file paths from the material's check)."""
    ciphers = tls.get('ciphers')
    if ciphers:
        rc, _out, err = module.run_command(['openssl', 'ciphers', ciphers])
        if rc != 0:
            first = (err or '').strip().splitlines()
            raise DriftError("pgsec_tls_ciphers: '%s' is rejected by OpenSSL on this host: %s"
                             % (ciphers, first[0] if first else 'no cipher matches'))
    from ansible_collections.pgsec.hardening.plugins.module_utils.tls import apply as tls_apply
    material = dict((key, value) for key, value in (tls.get('material') or {}).items() if value not in (None, ''))
    material['key'] = key
    if key_passphrase:
        material['key_passphrase'] = key_passphrase
    settings_by_cluster = tls.get('settings') or {}
    changes = []
    for cluster in clusters:
        placed = check_area(module, tls_apply.run, tls_apply.ARGUMENT_SPEC, dict(material, cluster=cluster))
        if placed.get('changed'):
            changes.append('%s: TLS files' % cluster.get('id'))
        settings = dict(placed.get('settings') or {}, **(settings_by_cluster.get(cluster.get('id')) or {}))
        changes += _changed_config(module, [cluster], 'tls', settings)
    return changes
