# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changing a cluster's settings: plan, validate with the server binary, write, apply, roll back.

``prepare`` plans the managed drop-in and validates the planned files in a staging copy with
``postgres -C`` before anything on the host changes. ``write`` writes the files atomically with
backups. ``apply`` reloads or restarts once per cluster and, when the server does not come back
with the new settings, restores every file the play changed and starts the server again.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

import os
import posixpath
import shutil
import stat
import tempfile
import time

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.gather import HostIO, parse_describe_config
from ansible_collections.pgsec.hardening.plugins.module_utils.files import write_file
from ansible_collections.pgsec.hardening.plugins.module_utils.managed_config import (
    ConfigPlanError,
    classify,
    drop_in_directory,
    normalize_setting_value,
    plan,
    same_value,
    staging_files,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.psql import as_user
from ansible_collections.pgsec.hardening.plugins.module_utils.server_control import (
    Cluster,
    ControlError,
    verify_settings,
)

CLUSTER_KEYS = ('id', 'layout', 'version', 'name', 'data_directory', 'config_file', 'bindir', 'server_user')


class ChangeError(Exception):
    """A change was refused or failed; ``details`` says what was done about it."""

    def __init__(self, message, details=None):
        super(ChangeError, self).__init__(message)
        self.details = details or {}


def cluster_identity(cluster):
    """The keys of a facts cluster entry that the config and apply steps need."""
    missing = [key for key in ('id', 'data_directory', 'config_file') if not cluster.get(key)]
    if missing:
        raise ChangeError('cluster: missing %s (pass an entry of ansible_facts.pgsec.clusters)' % ', '.join(missing))
    return dict((key, cluster.get(key)) for key in CLUSTER_KEYS)


def _postgres_binary(io, cluster):
    if cluster.get('bindir'):
        candidate = posixpath.join(cluster['bindir'], 'postgres')
        if io.exists(candidate):
            return candidate
    return io.which('postgres')


def describe_contexts(io, cluster):
    binary = _postgres_binary(io, cluster)
    if not binary:
        return {}
    rc, out, _err = io.run([binary, '--describe-config'], environ_update={'LC_ALL': 'C'})
    if rc != 0:
        return {}
    return dict((name, info['context']) for name, info in parse_describe_config(out).items())


def validate_staged(io, cluster, config_plan, settings, server_user):
    """Let the server binary read the planned files; returns [] or the problems found.

    The staging copy holds the planned configuration directory and a data directory with only
    postgresql.auto.conf; ``postgres -C NAME`` must accept the files and print each managed
    value, which proves that nothing else overrides the drop-in.
    """
    binary = _postgres_binary(io, cluster)
    if not binary:
        return ['no postgres binary found to validate the configuration with']
    stage = tempfile.mkdtemp(prefix='pgsec-stage-')
    problems = []
    try:
        files = staging_files(config_plan, cluster['config_file'], stage, io.read_file)
        for path, text in files.items():
            directory = posixpath.dirname(path)
            if not os.path.isdir(directory):
                os.makedirs(directory)
            with open(path, 'w') as handle:
                handle.write(text)
        uid, gid = _user_ids(server_user)
        for root, dirs, names in os.walk(stage):
            for name in dirs + names:
                os.chown(os.path.join(root, name), uid, gid)
        os.chown(stage, uid, gid)
        os.chmod(stage, 0o700)
        staged_conf = posixpath.join(stage, 'config', posixpath.basename(cluster['config_file']))
        prefix = as_user(io, server_user, [])
        for name in sorted(settings):
            # -D: where pg_hba.conf is looked for when hba_file is not set (config in PGDATA).
            argv = prefix + [binary, '-D', posixpath.dirname(staged_conf), '-c', 'config_file=%s' % staged_conf,
                             '-c', 'data_directory=%s' % posixpath.join(stage, 'data'), '-C', name]
            rc, out, err = io.run(argv, environ_update={'LC_ALL': 'C'})
            if rc != 0:
                message = (err or out).strip().replace(stage + '/config', posixpath.dirname(cluster['config_file']))
                problems.append('the server rejects the new configuration: %s' % message[:800])
                break
            shown = out.strip()
            if not same_value(name, shown, settings[name]):
                problems.append('%s would be %r, not %r: something else sets it' % (name, shown, settings[name]))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return problems


def _user_ids(user):
    import pwd
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ChangeError('the server user %r does not exist on the host' % user)
    return entry.pw_uid, entry.pw_gid


def prepare(io, cluster, owner, settings, conflicts='supersede', validate=True):
    """Plan and validate; returns the plan with how each setting takes effect. Changes nothing."""
    identity = cluster_identity(cluster)
    server_user = identity['server_user'] or 'postgres'
    try:
        config_plan = plan(identity['config_file'], identity['data_directory'], owner, settings,
                           io.read_file, io.list_dir, conflicts)
    except ConfigPlanError as exc:
        raise ChangeError('%s: %s' % (identity['id'], exc))
    control = Cluster(io, identity)
    status = control.status()
    if status:
        try:
            shown = control.query(
                "SELECT json_object_agg(name, json_build_object('setting', setting, 'context', context))"
                " FROM pg_catalog.pg_settings WHERE name = ANY(ARRAY[%s])"
                % ', '.join("'%s'" % name for name in sorted(settings)), status) or {}
        except (ControlError, ValueError) as exc:
            raise ChangeError('%s: cannot read pg_settings of the running server: %s' % (identity['id'], exc))
        unknown = sorted(name for name in settings if name not in shown)
        if unknown:
            raise ChangeError('%s: settings: %s unknown to PostgreSQL %s'
                              % (identity['id'], ', '.join(unknown), identity['version']))
        running = dict((name, entry['setting']) for name, entry in shown.items())
        contexts = dict((name, entry['context']) for name, entry in shown.items())
    else:
        contexts = describe_contexts(io, identity)
        parsed_settings = config_plan['parsed']['settings']
        running = dict((name, parsed_settings[name]['value']) for name in settings if name in parsed_settings)
    try:
        applied = classify(settings, running, contexts, status is not None)
    except ConfigPlanError as exc:
        raise ChangeError('%s: %s' % (identity['id'], exc))
    if not status and not config_plan['files']:
        applied = {'changes': [], 'restart': False, 'reload': False}
    problems = validate_staged(io, identity, config_plan, settings, server_user) if validate else []
    if problems:
        raise ChangeError('%s: %s' % (identity['id'], '; '.join(problems)))
    return {'cluster': identity, 'plan': config_plan, 'running': status is not None,
            'changes': applied['changes'], 'restart_required': applied['restart'],
            'reload_required': applied['reload'],
            'start_time': status['start_time'] if status else None}


def diff_entries(config_plan):
    entries = []
    for path in sorted(config_plan['files']):
        change = config_plan['files'][path]
        entries.append({'before_header': path if change['before'] is not None else '%s (absent)' % path,
                        'after_header': path, 'before': change['before'] or '', 'after': change['after']})
    return entries


class FileWriter(object):
    """Atomic writes (files.write_file) that keep a file's owner, group and mode; new files take them from a model file."""

    def __init__(self, module=None, backup=False):
        self.module = module
        self.backup = backup

    def write(self, path, text, model_path, new_mode=0o640):
        """Write ``text`` to ``path`` atomically; returns the backup path (None for a new file)."""
        model = os.stat(path) if os.path.exists(path) else os.stat(model_path)
        return write_file(self.module, path, text, mode=new_mode & stat.S_IMODE(model.st_mode) | 0o600,
                          uid=model.st_uid, gid=model.st_gid, backup=self.backup, make_dirs=None)

    def make_dir(self, path, model_dir, model_file):
        """Create ``path`` like ``model_dir`` (mode) owned like ``model_file``; True when created."""
        if os.path.isdir(path):
            return False
        os.mkdir(path)
        dir_mode = stat.S_IMODE(os.stat(model_dir).st_mode)
        owner = os.stat(model_file)
        os.chown(path, owner.st_uid, owner.st_gid)
        os.chmod(path, dir_mode)
        return True

    def restore(self, path, backup):
        """Put a backup's content back in place, keeping the current owner and mode."""
        with open(backup) as handle:
            text = handle.read()
        self.write_plain(path, text)

    def write_plain(self, path, text):
        write_file(self.module, path, text, make_dirs=None)


def write(prepared, writer):
    """Write the planned files; returns [{path, backup, created}] in write order (drop-in first)."""
    identity = prepared['cluster']
    config_plan = prepared['plan']
    written = []
    drop_dir = drop_in_directory(identity['config_file'])
    if config_plan['drop_in'] in config_plan['files']:
        created = writer.make_dir(drop_dir, posixpath.dirname(identity['config_file']), identity['config_file'])
        if created:
            written.append({'path': drop_dir, 'backup': None, 'created': True, 'directory': True})
    order = sorted(config_plan['files'], key=lambda path: (path != config_plan['drop_in'], path))
    try:
        for path in order:
            existed = os.path.exists(path)
            backup = writer.write(path, config_plan['files'][path]['after'], identity['config_file'])
            written.append({'path': path, 'backup': backup, 'created': not existed, 'directory': False})
    except (IOError, OSError):
        restore_files([{'files': written}], writer)
        raise
    return written


# ---------------------------------------------------------------------------- apply

def group_by_cluster(results):
    """Config results grouped per data directory, in order: {data_directory: [result, ...]}."""
    groups = {}
    order = []
    for result in results or []:
        if not isinstance(result, dict) or not result.get('cluster'):
            continue
        key = result['cluster']['data_directory']
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(result)
    return [(key, groups[key]) for key in order]


def restore_files(results, writer):
    """Undo every write of these results, earliest backup of each file wins; returns restored paths."""
    first = {}
    for result in results:
        files = result.get('files')
        for entry in files if isinstance(files, list) else []:  # the TLS module's files are a dict, not backups
            first.setdefault(entry['path'], entry)
    restored = []
    for path, entry in sorted(first.items(), key=lambda item: item[1].get('directory', False)):
        if entry.get('directory'):
            continue
        if entry.get('created'):
            if os.path.exists(path):
                os.unlink(path)
            restored.append(path)
        elif entry.get('backup'):
            writer.restore(path, entry['backup'])
            restored.append(path)
    for path, entry in first.items():
        if entry.get('directory') and os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)
    return restored


def desired_settings(results):
    desired = {}
    for result in results:
        desired.update(result.get('settings') or {})
    return desired


def apply_cluster(io, results, allow_restart=True, timeout=60, check_mode=False, writer=None,
                  sleep=time.sleep, clock=time.time):
    """Make the running server use its new settings: one restart, or a reload, or nothing."""
    identity = results[0]['cluster']
    control = Cluster(io, identity, sleep=sleep, clock=clock)
    status = control.status()
    desired = desired_settings(results)
    outcome = {'id': identity['id'], 'data_directory': identity['data_directory'], 'action': 'none',
               'restarted': False, 'reloaded': False, 'pending_restart': [], 'restored': [], 'message': ''}
    if not status:
        outcome['message'] = 'the server is not running; the new settings take effect when it starts'
        return outcome
    control.find_unit(status)
    try:
        wrong = verify_settings(control, desired, status)
    except (ControlError, ValueError) as exc:
        raise ChangeError('%s: cannot read pg_settings: %s' % (identity['id'], exc), outcome)
    # The unit hands the TLS key passphrase over only at start (postgresql_access_tls: a new credential).
    service_restart = any(result.get('service_restart_required') for result in results)
    if not wrong and not service_restart:
        if any(result.get('reload_required') for result in results):
            # Files the settings name changed (a rotated certificate): only a reload reads them.
            outcome['action'] = 'reload'
            if check_mode:
                outcome['message'] = 'would reload the server for changed files'
                return outcome
            _reload(control, status, identity, results, writer, timeout, outcome, verify=False)
            outcome['message'] = 'reloaded for changed files'
            return outcome
        outcome['message'] = 'the server already uses the new settings'
        return outcome
    contexts = {}
    for result in results:
        for change in result.get('changes') or []:
            contexts[change['name']] = change.get('context')
    needs_restart = service_restart or any(contexts.get(item['name']) == 'postmaster' or item['pending_restart']
                                           for item in wrong)
    if needs_restart and not allow_restart:
        outcome['action'] = 'reload'
        outcome['pending_restart'] = [item['name'] for item in wrong] + (['ssl_passphrase_command'] if service_restart else [])
        outcome['message'] = 'a restart is needed and not allowed; settings wait for the next restart'
        if not check_mode:
            _reload(control, status, identity, results, writer, timeout, outcome, verify=False)
        return outcome
    outcome['action'] = 'restart' if needs_restart else 'reload'
    if check_mode:
        outcome['message'] = 'would %s the server' % outcome['action']
        return outcome
    if needs_restart:
        _restart(control, status, identity, results, writer, timeout, outcome, desired)
    else:
        _reload(control, status, identity, results, writer, timeout, outcome, verify=True, desired=desired)
    return outcome


def _rollback_and_fail(control, identity, results, writer, timeout, outcome, reason, restart):
    outcome['restored'] = restore_files(results, writer)
    since = time.time()
    if restart:
        status = control.status()
        # A unit stuck starting only runs its start command again on restart.
        rc, output = control.service('restart' if status or control.unit else 'start')
        back = control.wait_ready(timeout)
        if not back:
            raise ChangeError('%s: %s. The previous configuration was restored but the server did not start '
                              'again either: %s' % (identity['id'], reason, control.server_error(since, output)),
                              outcome)
    else:
        status = control.status()
        if status:
            control.query('SELECT to_json(pg_catalog.pg_reload_conf())', status)
    raise ChangeError('%s: %s. The previous configuration was restored and the server runs with it.'
                      % (identity['id'], reason), outcome)


def _restart(control, status, identity, results, writer, timeout, outcome, desired):
    # A checkpoint first leaves the shutdown checkpoint little to write, so the server stops well within
    # the timeout; best effort: a standby cannot run one (it restarts from its restartpoint) and says so.
    try:
        control.query('CHECKPOINT', status)
        outcome['checkpoint'] = True
    except ControlError:
        outcome['checkpoint'] = False
    since = time.time()
    rc, output = control.service('restart')
    back = control.wait_ready(timeout, newer_than=status['start_time'] + 1 if status['start_time'] else None)
    if rc != 0 or not back:
        error = control.server_error(since, output)
        _rollback_and_fail(control, identity, results, writer, timeout, outcome,
                           'the server did not restart with the new configuration: %s' % error, restart=True)
    outcome['restarted'] = True
    wrong = verify_settings(control, desired, back)
    if wrong:
        _rollback_and_fail(control, identity, results, writer, timeout, outcome,
                           'after the restart the server shows %s' % _describe_wrong(wrong), restart=True)
    outcome['message'] = 'restarted once'


def _reload(control, status, identity, results, writer, timeout, outcome, verify, desired=None):
    control.query('SELECT to_json(pg_catalog.pg_reload_conf())', status)
    outcome['reloaded'] = True
    if not verify:
        return
    deadline = time.time() + min(timeout, 30)
    wrong = []
    while True:
        errors = control.file_setting_errors(status)
        if errors:
            first = errors[0]
            _rollback_and_fail(control, identity, results, writer, timeout, outcome,
                               'the server rejected the reloaded configuration: %s:%s: %s (%s)'
                               % (first['file'], first['line'], first['error'], first['name']), restart=False)
        wrong = verify_settings(control, desired, status)
        if not wrong or time.time() >= deadline:
            break
        control.sleep(0.2)
    if wrong:
        _rollback_and_fail(control, identity, results, writer, timeout, outcome,
                           'after the reload the server shows %s' % _describe_wrong(wrong), restart=False)
    outcome['message'] = 'reloaded'


def _describe_wrong(wrong):
    return ', '.join('%s = %r (expected %r)' % (item['name'], item['actual'], normalize_setting_value(
        item['name'], item['expected'])) for item in wrong)


# The options of postgresql_access_config, also checked by postgresql_access_drift.
ARGUMENT_SPEC = dict(
    cluster=dict(type='dict', required=True),
    owner=dict(type='str', required=True),
    settings=dict(type='dict', required=True),
    conflicts=dict(type='str', choices=['supersede', 'fail'], default='supersede'),
    backup=dict(type='bool', default=True),
    validate=dict(type='bool', default=True),
)


def run(module):
    """postgresql_access_config: bring the cluster's owned drop-in (and overrides) to the settings; exits."""
    params = module.params

    def run_command(argv, environ_update=None):
        return module.run_command(argv, environ_update=environ_update)

    io = HostIO(run_command)
    try:
        prepared = prepare(io, params['cluster'], params['owner'], params['settings'],
                           params['conflicts'], params['validate'])
    except ChangeError as exc:
        module.fail_json(msg=str(exc), **exc.details)

    config_plan = prepared['plan']
    result = dict(
        changed=bool(config_plan['files'] or prepared['changes']),
        cluster=prepared['cluster'], settings=params['settings'], drop_in=config_plan['drop_in'],
        files=[], superseded=config_plan['superseded'], changes=prepared['changes'],
        restart_required=prepared['restart_required'], reload_required=prepared['reload_required'],
        running=prepared['running'], start_time=prepared['start_time'],
    )
    if module._diff:
        result['diff'] = diff_entries(config_plan)
    if config_plan['files'] and not module.check_mode:
        writer = FileWriter(module, backup=params['backup'])
        try:
            result['files'] = write(prepared, writer)
        except (IOError, OSError) as exc:
            module.fail_json(msg='%s: writing the configuration failed: %s' % (prepared['cluster']['id'], exc),
                             **result)
    module.exit_json(**result)


def main():
    """The module's entry point: its file holds the documentation, this the work."""
    run(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))
