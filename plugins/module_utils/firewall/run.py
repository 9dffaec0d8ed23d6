# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgresql_access_firewall's steps, the same for every backend: choose, plan, arm, apply, verify, persist.

``run(module)`` is the whole module; ``confirm`` keeps a change whose rollback is armed. What differs
between nftables, iptables and firewalld is behind FirewallBackend (backend.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import pwd
import re
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.files import read_text
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.backend import (
    ROLLBACK_DIR,
    ChangeFailed,
    Host,
    arm_rollback,
    disarm,
    pending,
    rename,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.ruleset import FirewallPlanError, normalize_spec
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.select import BACKENDS, backend_for, select_backend

TOKEN = re.compile(r'^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$')


# The options of postgresql_access_firewall, also checked by postgresql_access_drift.
ARGUMENT_SPEC = dict(
    backend=dict(type='str', choices=list(BACKENDS), default='auto'),
    ports=dict(type='list', elements='int', default=[5432]),
    sources=dict(type='list', elements='str', default=[]),
    allow_none=dict(type='bool', default=False),
    action=dict(type='str', choices=['drop', 'reject'], default='drop'),
    log=dict(type='bool', default=False),
    zone=dict(type='str'),
    firewalld_remove_open_port=dict(type='bool', default=False),
    egress=dict(type='list', elements='dict', default=[], options=dict(
        host=dict(type='str', required=True),
        port=dict(type='int', required=True),
        protocol=dict(type='str', choices=['tcp', 'udp'], default='tcp'),
    )),
    server_user=dict(type='str', default='postgres'),
    rollback_timeout=dict(type='int', default=30),
    persist=dict(type='bool', default=True),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    confirm=dict(type='str'),
    # Handled by the action plugin; accepted here so that the module alone takes the same arguments.
    confirm_over_new_connection=dict(type='bool', default=True),
)


def run(module):
    """The module: confirm a change, or bring pgsec's rules to the parameters; exits."""
    params = module.params
    host = Host(module)
    if params['confirm']:
        confirm(module, host, params['confirm'])
    if not 0 <= params['rollback_timeout'] <= 3600:
        module.fail_json(msg='rollback_timeout: %r is not between 0 and 3600 seconds' % params['rollback_timeout'])
    try:
        uid = None
        if params['egress'] and params['state'] == 'present':
            try:
                uid = pwd.getpwnam(params['server_user']).pw_uid
            except KeyError:
                module.fail_json(msg='server_user: %r does not exist on this host' % params['server_user'])
        spec = normalize_spec(dict(ports=params['ports'], sources=params['sources'], allow_none=params['allow_none'],
                                   action=params['action'], log=params['log'], egress=params['egress'],
                                   server_uid=uid, state=params['state']))
        backend, state = select_backend(module, host, params)
    except FirewallPlanError as exc:
        module.fail_json(msg=str(exc))
    converge(module, backend, spec, params, state)


def converge(module, backend, spec, params, state):
    """Plan, report (check mode and diff stop here), change with a rollback, persist; exits."""
    result = backend.result()
    spec, planned, persistence = backend.plan(spec, params, state, result)
    result.update(before=planned['before'], after=planned['after'], changed=planned['changed'] or bool(persistence))
    if module._diff:
        result['diff'] = backend.diff(planned, persistence)
    if module.check_mode:
        module.exit_json(**result)
    armed = pending(module)
    if armed and not planned['changed']:
        # An earlier change left the rules as wanted but was not confirmed (the play stopped in
        # between): hand out its token, or its rollback would undo them behind this run's back.
        result.update(rollback_token=armed[-1], rollback_pending=True, persist_pending=bool(persistence))
        module.exit_json(**result)
    if not result['changed']:
        module.exit_json(**result)
    token = None
    if planned['changed']:
        token = change(module, backend, spec, planned, params, result, armed)
    if persistence:
        if token:
            result['persist_pending'] = True
        else:
            result['persisted'] = backend.persist(persistence, result)
    module.exit_json(**result)


def change(module, backend, spec, planned, params, result, armed):
    """Arm the rollback, apply and verify; returns the rollback token (None without rollback)."""
    if armed:
        module.fail_json(msg='firewall change %s is still waiting for its confirmation or its rollback; confirm it '
                         'or wait for the rollback, then run again' % armed[0], **result)
    backend.before_change()
    token, directory, meta = arm_rollback(
        module, params, result, lambda directory: backend.prepare_rollback(spec, planned, params, directory))
    try:
        backend.apply(spec, planned, params, directory, meta)
    except ChangeFailed as exc:
        result['rollback_token'] = None
        module.fail_json(msg=str(exc), **result)
    backend.verify(spec, planned, params, result)
    for item in result.get('refused_sources') or []:
        module.warn('port %d: %s is allowed by pgsec but still refused by other firewall rules (default %s); '
                    'open the port there too' % (item['port'], item['source'], item['default']))
    result['changed'] = True
    return token


def confirm(module, host, token):
    """Cancel the rollback of change token and write its persistence; exits."""
    if not TOKEN.match(token or ''):
        module.fail_json(msg='confirm: %r is not a rollback token of this module' % (token,))
    directory = os.path.join(ROLLBACK_DIR, token)
    meta = json.loads(read_text(os.path.join(directory, 'meta.json')) or 'null')
    if meta is None:
        module.fail_json(msg='confirm: no firewall change %s is waiting on this host (%s missing)' % (token, directory))
    if not os.path.exists(os.path.join(directory, 'armed')):
        log = (read_text(os.path.join(directory, 'rollback.log')) or '').strip().replace('\n', ' / ')
        why = {'fired': 'was already rolled back (%s)' % log, 'expired': 'expired: its rollback job never ran',
               'failed': 'failed to apply and was undone'}
        state = [marker for marker in why if os.path.exists(os.path.join(directory, marker))]
        reason = why[state[0]] if state else 'is no longer waiting'
        module.fail_json(msg='confirm: too late, firewall change %s %s' % (token, reason), confirmed=None)
    result = dict(changed=True, confirmed=token, backend=meta['choice']['backend'], persisted=[],
                  persist_pending=False)
    backend = backend_for(module, host, meta['choice'])
    planned = backend.confirm_plan(meta, result)
    if module.check_mode:
        module.exit_json(**result)
    if not rename(directory, 'armed', 'confirmed'):
        module.fail_json(msg='confirm: too late, firewall change %s was rolled back just now' % token)
    disarm(host, meta)
    result['persisted'] = backend.confirm_persist(meta, planned, result)
    shutil.rmtree(directory)
    module.exit_json(**result)


def main():
    """The module's entry point: its file holds the documentation, this the work."""
    run(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))
