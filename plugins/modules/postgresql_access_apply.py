#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_apply
short_description: Reload or restart PostgreSQL once for new settings, and roll back if it fails
version_added: 0.1.0
description:
  - Takes the registered results of M(pgsec.hardening.postgresql_access_config) and, per cluster,
    compares the settings they wrote with what the running server uses (C(pg_settings)).
  - Nothing differs, nothing happens. Only settings of context C(sighup) (or lower) differ, the
    server is reloaded and the module waits until C(pg_settings) shows the new values and
    C(pg_file_settings) reports no error. A C(postmaster) setting differs, the server is restarted
    once, through its systemd unit when it runs in one, otherwise C(pg_ctlcluster) or C(pg_ctl).
  - When the server does not come back, or comes back with other values, every file the results
    wrote is restored from its backup (files they created are removed), the server is started
    again with the previous configuration, and the task fails with the server's own error.
  - A stopped server is left stopped; its new settings take effect when it starts.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
options:
  results:
    description:
      - Registered results of M(pgsec.hardening.postgresql_access_config), for one or several clusters.
      - Results of skipped or failed tasks are ignored.
    type: list
    elements: dict
    required: true
  allow_restart:
    description:
      - Whether a restart may be done. When V(false) and a restart is needed, the server is only
        reloaded, the task reports C(pending_restart) and warns.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the server to accept connections after a restart.
    type: int
    default: 60
attributes:
  check_mode:
    description: Reports what would be done (C(action)) and does nothing.
    support: full
  diff_mode:
    description: Changes no file of its own.
    support: none
notes:
  - Connects to the server over its Unix socket as the server's OS user, so it needs root.
seealso:
  - module: pgsec.hardening.postgresql_access_config
'''

EXAMPLES = r'''
- name: Apply what the configuration tasks changed
  pgsec.hardening.postgresql_access_apply:
    results: "{{ [sockets_config, listen_config] }}"
    allow_restart: "{{ pgsec_allow_restart }}"
'''

RETURN = r'''
clusters:
  description:
    - Per cluster, C(id), C(data_directory), C(action) (C(none), C(reload) or C(restart)), C(restarted),
      C(reloaded), C(pending_restart) (settings waiting for a restart), C(restored) (files put back
      after a failure) and C(message).
  returned: always
  type: list
  elements: dict
restarted:
  description: Ids of the clusters that were restarted.
  returned: always
  type: list
  elements: str
reloaded:
  description: Ids of the clusters that were reloaded.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.gather import HostIO
from ansible_collections.pgsec.hardening.plugins.module_utils.config_change import (
    ChangeError,
    FileWriter,
    apply_cluster,
    group_by_cluster,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results=dict(type='list', elements='dict', required=True),
            allow_restart=dict(type='bool', default=True),
            timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['timeout'] < 1:
        module.fail_json(msg='timeout: %r must be at least 1 second' % params['timeout'])

    def run_command(argv, environ_update=None):
        return module.run_command(argv, environ_update=environ_update)

    io = HostIO(run_command)
    writer = FileWriter(module)
    usable = [result for result in params['results']
              if not result.get('failed') and not result.get('skipped') and result.get('cluster')]
    outcomes = []
    failures = []
    for _data_directory, results in group_by_cluster(usable):
        try:
            outcome = apply_cluster(io, results, params['allow_restart'], params['timeout'],
                                    module.check_mode, writer)
        except ChangeError as exc:
            outcome = dict(exc.details, error=str(exc))
            failures.append(str(exc))
        if outcome.get('pending_restart'):
            module.warn('%s: %s (%s)' % (outcome['id'], outcome['message'], ', '.join(outcome['pending_restart'])))
        outcomes.append(outcome)
    result = dict(changed=any(o.get('action', 'none') != 'none' for o in outcomes), clusters=outcomes,
                  restarted=[o['id'] for o in outcomes if o.get('restarted')],
                  reloaded=[o['id'] for o in outcomes if o.get('reloaded')])
    if failures:
        module.fail_json(msg=' / '.join(failures), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
