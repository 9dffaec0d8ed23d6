#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_hba
short_description: Own the TCP lines of pg_hba.conf in one managed block
version_added: 0.1.0
description:
  - Keeps one managed block before the first rule of the cluster's C(pg_hba.conf), between the lines
    C(# BEGIN pgsec.hardening managed block) and C(# END pgsec.hardening managed block). The block
    rejects TCP connections without TLS (O(require_ssl)), admits each source of each client with a
    C(hostssl) line, keeps the loopback lines of the file (O(keep_loopback)) and ends with lines that
    reject every other TCP connection, including those allowed by included files or lines added later.
  - Every other TCP line (C(host), C(hostssl), C(hostnossl), C(hostgssenc), C(hostnogssenc)) is commented out
    with the note C(# superseded by pgsec.hardening (tls):); loopback lines are copied into the block first.
    C(local) lines are left alone unless O(local_peer). A block edited by hand is rewritten.
  - Files included with C(include), C(include_if_exists) or C(include_dir) (PostgreSQL 16 and later, nested ones too)
    are handled like the main file. Their TCP lines are commented out (loopback ones copied into the block) and,
    with O(local_peer), their C(local) lines made C(peer); the include directives stay. Files named with C(@file)
    hold names, not lines, and are not changed.
  - For the C(cis) profile, O(final_reject=sources) rejects per client network instead of for C(0.0.0.0/0) and C(::/0)
    (connections from elsewhere match no line and PostgreSQL refuses them), O(reject_superusers) rejects the
    superusers over TCP before the client lines, and O(local_peer) makes every C(local) line C(peer).
  - When the server runs, the new file is checked with C(pg_hba_file_rules) and the server reloaded; when
    PostgreSQL reports an error the previous file is put back and the task fails with PostgreSQL's words.
  - The file is written atomically and keeps its owner, group and mode.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
options:
  cluster:
    description:
      - The cluster, as an entry of C(ansible_facts.pgsec.clusters) from M(pgsec.hardening.postgresql_access_facts).
      - Needs C(data_directory) and the hba file (C(hba.file) of the facts, or C(hba_file));
        C(id), C(bindir), C(server_user) and C(version) are used when present.
    type: dict
    required: true
  clients:
    description:
      - The TCP clients. Each source of each client gets one line, in order, after a C(# client NAME) comment.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name shown in the comment above the client's lines; C(clientN) when not given.
        type: str
      sources:
        description: Networks or addresses in CIDR notation; a single address becomes C(/32) or C(/128). Empty for a client without TCP.
        type: list
        elements: str
        default: []
      databases:
        description: Database names or pg_hba keywords; no whitespace, quotes, commas, C(#) or backslashes.
        type: list
        elements: str
        default: [all]
      users:
        description: User names, C(+group) or pg_hba keywords; no whitespace, quotes, commas, C(#) or backslashes.
        type: list
        elements: str
        default: [all]
      method:
        description: Authentication method of this client's lines; O(method) when not given.
        type: str
        choices: [scram-sha-256, md5, password, cert, reject]
        aliases: [auth_method]
      clientcert:
        description:
          - C(clientcert) for this client; the stricter of this and O(clientcert) applies.
        type: str
        choices: [none, verify-ca, verify-full]
  require_ssl:
    description:
      - Reject every TCP connection without TLS (C(hostnossl ... reject) first) and write C(hostssl) lines.
      - When false, client lines and the final rejects are C(host) lines.
    type: bool
    default: true
  clientcert:
    description:
      - C(clientcert) option of the client lines. Not written on C(cert) lines (which always verify the
        full certificate) and C(reject) lines. Needs O(require_ssl).
    type: str
    choices: [none, verify-ca, verify-full]
    default: none
  method:
    description:
      - Authentication method of the client lines unless a client names its own. C(trust) is refused;
        C(cert) needs O(require_ssl).
    type: str
    choices: [scram-sha-256, md5, password, cert, reject]
    default: scram-sha-256
  keep_loopback:
    description:
      - Keep the TCP lines of the file whose address lies in 127.0.0.0/8 or is ::1, moved into the
        block before its final rejects (in their order); where they were they are commented out.
      - When false they are commented out like the other TCP lines, and loopback lines kept in the block
        by an earlier run are dropped.
    type: bool
    default: true
  keep_other_tcp:
    description:
      - Leave the other TCP lines of the file active and write no final rejects; the block then only comes first.
    type: bool
    default: false
  final_reject:
    description:
      - V(all) ends the block with rejects for C(0.0.0.0/0) and C(::/0) (and starts it with C(hostnossl) rejects for them).
      - V(sources) writes those rejects for each client source instead, so that no line covers every address
        (CIS PostgreSQL 5.9 as auditors read it); a connection from any other address matches no line, and
        PostgreSQL refuses it. Lines added below the block later are then not shadowed by it.
    type: str
    choices: [all, sources]
    default: all
  reject_superusers:
    description:
      - Before the client lines, reject over TCP, from every client source, the superusers C(postgres), the server's
        OS user and, when the server runs, every role with C(rolsuper) (CIS PostgreSQL 5.11).
      - A client whose C(users) (in O(clients)) names one of them fails the task before anything is written.
    type: bool
    default: false
  local_peer:
    description:
      - Make every accepting C(local) line C(peer) (CIS PostgreSQL 5.3) where it is, so the order of the lines stays as
        it was. The line is commented out with the note and followed by the same line with C(peer) (an C(ident) map
        is kept). C(peer) and C(reject) lines, and lines in included files, are left alone.
      - Local clients then log in as the OS user of the same name; a password over the socket no longer works.
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of the file before changing it.
    type: bool
    default: false
attributes:
  check_mode:
    description: Plans and reports what would change; writes nothing and does not reload.
    support: full
  diff_mode:
    description: Shows the file before and after.
    support: full
notes:
  - Runs as root (or the owner of the file); the check and the reload run C(psql) over the server's Unix socket
    as the server's OS user.
  - A hostname, C(samehost) or C(samenet) address is not loopback; such lines are commented out.
  - Needs SSL enabled on the server with O(require_ssl); otherwise PostgreSQL refuses C(hostssl) lines,
    and the file is restored.
seealso:
  - module: pgsec.hardening.postgresql_access_facts
  - module: pgsec.hardening.postgresql_access_config
'''

EXAMPLES = r'''
- name: Gather the clusters
  pgsec.hardening.postgresql_access_facts:

- name: Let the application in over TLS only, reject every other TCP connection
  pgsec.hardening.postgresql_access_hba:
    cluster: "{{ ansible_facts.pgsec.clusters[0] }}"
    clients:
      - name: app
        sources: [198.18.1.0/24, 2001:db8:1::/64]
        databases: [appdb]
        users: [app]
      - name: backup
        sources: [198.18.2.7]
        databases: [replication]
        users: [barman]
        method: cert
    clientcert: verify-full
'''

RETURN = r'''
hba_file:
  description: The pg_hba.conf planned and written.
  returned: always
  type: str
  sample: /etc/postgresql/15/main/pg_hba.conf
managed:
  description: The rule lines of the managed block, in order.
  returned: always
  type: list
  elements: str
  sample:
    - "hostnossl all             all             0.0.0.0/0               reject"
    - "hostssl   appdb           app             198.18.1.0/24           scram-sha-256 clientcert=verify-full"
    - "hostssl   all             all             0.0.0.0/0               reject"
superseded:
  description:
    - Lines commented out, with C(line) (in the file before the change), C(text) and C(moved)
      (a loopback line copied into the block); a C(local) line replaced with O(local_peer) has C(replaced_by).
  returned: always
  type: list
  elements: dict
  sample:
    - line: 8
      text: "host    all             all             0.0.0.0/0               md5"
      moved: false
included_files:
  description: Each file the hba file includes, with C(file), whether it C(changed) and its C(superseded) lines.
  returned: always
  type: list
  elements: dict
reloaded:
  description: The server was running, accepted the new files and was reloaded.
  returned: always
  type: bool
backup_file:
  description: Path of the backup, null without O(backup) or without a change.
  returned: always
  type: str
hba_errors:
  description: What C(pg_hba_file_rules) reported for the new file (C(file_name), C(line_number), C(error), ...).
  returned: failure
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.access_facts import HostIO
from ansible_collections.pgsec.hardening.plugins.module_utils.files import backup_copy, write_file
from ansible_collections.pgsec.hardening.plugins.module_utils.hba_change import HbaPlanError, plan_hba, plan_included
from ansible_collections.pgsec.hardening.plugins.module_utils.pg_files import INCLUDE_DIRECTIVES
from ansible_collections.pgsec.hardening.plugins.module_utils.pg_hba import parse_hba
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


def main():
    module = AnsibleModule(
        argument_spec=dict(
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
        ),
        supports_check_mode=True,
    )
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


if __name__ == '__main__':
    main()
