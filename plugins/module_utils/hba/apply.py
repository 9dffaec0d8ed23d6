# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgresql_access_hba: the managed block of pg_hba.conf (also run in check mode by postgresql_access_drift)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.gather import HostIO
from ansible_collections.pgsec.hardening.plugins.module_utils.files import backup_copy, write_file
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.change import HbaPlanError, plan_hba, plan_included
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import INCLUDE_DIRECTIVES
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.parse import parse_hba
from ansible_collections.pgsec.hardening.plugins.module_utils.server_control import Cluster, ControlError

METHODS = ['scram-sha-256', 'md5', 'password', 'cert', 'reject']
CLIENTCERT_MODES = ['none', 'verify-ca', 'verify-full']
HBA_ERRORS_SQL = ('SELECT json_agg(row_to_json(h)) FROM pg_catalog.pg_hba_file_rules h'
                  ' WHERE h.error IS NOT NULL')
SUPERUSERS_SQL = 'SELECT json_agg(rolname ORDER BY rolname) FROM pg_catalog.pg_roles WHERE rolsuper'
FINAL_REJECTS = ['all', 'sources']


def hba_file_of(cluster):
    """The cluster's pg_hba.conf: facts' hba.file, else hba_file, else the hba_file setting."""
    hba = cluster.get('hba') if isinstance(cluster.get('hba'), dict) else {}
    setting = ((cluster.get('settings') or {}).get('hba_file') or {}).get('value')
    return hba.get('file') or cluster.get('hba_file') or setting


def included_files(hba_file, io):
    """Files the hba file includes (include, include_if_exists, include_dir, nested), in reading order."""
    parsed = parse_hba(hba_file, io.read_file, io.list_dir)
    paths = []
    for include in parsed['includes']:
        if include['directive'] in INCLUDE_DIRECTIVES:
            paths += [path for path in include['paths'] if path not in paths and path != hba_file]
    return paths


def read_bytes(path):
    with open(path, 'rb') as handle:
        return handle.read()


# The options of postgresql_access_hba, also checked by postgresql_access_drift.
ARGUMENT_SPEC = dict(
    cluster=dict(type='dict', required=True),
    clients=dict(type='list', elements='dict', default=[], options=dict(
        name=dict(type='str'),
        sources=dict(type='list', elements='str', default=[]),
        databases=dict(type='list', elements='str', default=['all']),
        users=dict(type='list', elements='str', default=['all']),
        method=dict(type='str', choices=METHODS, aliases=['auth_method']),
        clientcert=dict(type='str', choices=CLIENTCERT_MODES),
    )),
    require_ssl=dict(type='bool', default=True),
    clientcert=dict(type='str', choices=CLIENTCERT_MODES, default='none'),
    method=dict(type='str', choices=METHODS, default='scram-sha-256'),
    keep_loopback=dict(type='bool', default=True),
    keep_other_tcp=dict(type='bool', default=False),
    final_reject=dict(type='str', choices=FINAL_REJECTS, default='all'),
    reject_superusers=dict(type='bool', default=False),
    local_peer=dict(type='bool', default=False),
    backup=dict(type='bool', default=False),
)


def run(module):
    """Plan the managed block and the included files, write, check with pg_hba_file_rules, reload; exits."""
    params = module.params
    cluster = params['cluster']
    hba_file = hba_file_of(cluster)
    if not hba_file or not cluster.get('data_directory'):
        module.fail_json(msg='cluster: needs data_directory and hba.file (pass an entry of ansible_facts.pgsec.clusters)')
    cluster = dict(cluster, id=cluster.get('id') or cluster['data_directory'])

    try:
        before_data = read_bytes(hba_file)
    except (IOError, OSError) as exc:
        module.fail_json(msg='%s: cannot read %s: %s' % (cluster['id'], hba_file, exc))
    before = before_data.decode('utf-8', 'surrogateescape')
    options = dict((key, params[key]) for key in ('require_ssl', 'clientcert', 'method', 'keep_loopback', 'keep_other_tcp',
                                                  'final_reject', 'local_peer'))

    def run_command(argv, environ_update=None):
        return module.run_command(argv, environ_update=environ_update)

    io = HostIO(run_command)
    control = Cluster(io, cluster)
    status = control.status()
    if params['reject_superusers']:
        superusers = set(['postgres', cluster.get('server_user') or 'postgres'])
        if status:
            try:
                superusers.update(control.query(SUPERUSERS_SQL, status) or [])
            except (ControlError, ValueError) as exc:
                module.fail_json(msg='%s: cannot list the superusers to reject over TCP: %s' % (cluster['id'], exc))
        options['reject_users'] = sorted(superusers)
    # Included files first: their open TCP lines are commented out and their loopback lines join the block.
    included, extra_kept = [], []
    for path in included_files(hba_file, io):
        try:
            data = read_bytes(path)
        except (IOError, OSError) as exc:
            module.fail_json(msg='%s: cannot read %s, which %s includes: %s' % (cluster['id'], path, hba_file, exc))
        text = data.decode('utf-8', 'surrogateescape')
        try:
            plan = plan_included(text, options)
        except HbaPlanError as exc:
            module.fail_json(msg='%s: %s' % (path, exc))
        extra_kept += plan['kept']
        included.append(dict(plan, file=path, before=text, before_data=data))
    try:
        planned = plan_hba(before, params['clients'], options, extra_kept=extra_kept)
    except HbaPlanError as exc:
        module.fail_json(msg='%s: %s' % (hba_file, exc))

    changed_included = [entry for entry in included if entry['changed']]
    result = dict(changed=planned['changed'] or bool(changed_included), hba_file=hba_file,
                  managed=planned['managed'], superseded=planned['superseded'], reloaded=False, backup_file=None,
                  included_files=[dict(file=entry['file'], changed=entry['changed'], superseded=entry['superseded'])
                                  for entry in included])
    if module._diff:
        result['diff'] = [dict(before=before, after=planned['text'], before_header=hba_file, after_header=hba_file)]
        result['diff'] += [dict(before=entry['before'], after=entry['text'], before_header=entry['file'],
                                after_header=entry['file']) for entry in changed_included]
    if not result['changed'] or module.check_mode:
        module.exit_json(**result)

    if params['backup']:
        result['backup_file'] = backup_copy(hba_file)
    originals = [(entry['file'], entry['before_data']) for entry in changed_included]
    if planned['changed']:
        originals.append((hba_file, before_data))
    written = []
    try:
        for entry in changed_included:
            write_file(module, entry['file'], entry['text'].encode('utf-8', 'surrogateescape'), make_dirs=None)
            written.append((entry['file'], entry['before_data']))
        if planned['changed']:
            write_file(module, hba_file, planned['text'].encode('utf-8', 'surrogateescape'), make_dirs=None)
    except (IOError, OSError) as exc:
        for path, data in written:
            write_file(module, path, data, make_dirs=None)
        module.fail_json(msg='%s: writing the pg_hba files failed: %s; the previous files were restored'
                         % (cluster['id'], exc), **result)

    if not status:
        module.exit_json(**result)

    def restore_and_fail(reason, **details):
        try:
            for path, data in originals:
                write_file(module, path, data, make_dirs=None)
        except (IOError, OSError) as exc:
            module.fail_json(msg='%s; restoring the previous %s failed too: %s' % (reason, path, exc),
                             **dict(result, **details))
        module.fail_json(msg='%s; the previous %s was restored' % (reason, ', '.join(path for path, _data in originals)),
                         **dict(result, **details))

    try:
        errors = control.query(HBA_ERRORS_SQL, status) or []
    except (ControlError, ValueError) as exc:
        restore_and_fail('%s: cannot check the new file in pg_hba_file_rules: %s' % (cluster['id'], exc))
    if errors:
        first = errors[0]
        restore_and_fail('%s: PostgreSQL rejects the new pg_hba.conf: %s:%s: %s' % (
            cluster['id'], first.get('file_name') or hba_file, first.get('line_number'), first.get('error')),
            hba_errors=errors)
    try:
        control.query('SELECT to_json(pg_catalog.pg_reload_conf())', status)
    except (ControlError, ValueError) as exc:
        module.fail_json(msg='%s: the new %s is valid but the reload failed: %s' % (cluster['id'], hba_file, exc),
                         **result)
    result['reloaded'] = True
    module.exit_json(**result)


def main():
    """The module's entry point: its file holds the documentation, this the work."""
    run(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))
