# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of access_plan: policy + facts -> what the roles set, or a clear refusal."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleActionFail

from ansible_collections.pgsec.hardening.plugins.module_utils.access_plan import plan_host
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError
from ansible_collections.pgsec.hardening.plugins.plugin_utils.controller_action import (
    ControllerAction,
    passphrase_given,
    plan_warnings,
)
from ansible_collections.pgsec.hardening.plugins.plugin_utils.tls_generated import generated_state


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = dict(
        policy=dict(type='dict', required=True),
        facts=dict(type='dict', required=True),
        host_groups=dict(type='list', elements='str'),
        host_users=dict(type='list', elements='str'),
        tls_generate_dir=dict(type='str'),
    )

    def act(self, args, task_vars, result):
        try:
            plan = plan_host(args['policy'], args['facts'], args['host_groups'], args['host_users'],
                             passphrase_given=passphrase_given(self._templar, task_vars),
                             host_name=task_vars.get('inventory_hostname'))
        except PolicyError as exc:
            raise AnsibleActionFail(str(exc))
        if args['tls_generate_dir'] and plan['policy'].get('pgsec_tls_enabled'):
            # Whether the generate tasks would change anything (they are skipped when not).
            plan['tls']['generated'] = generated_state(
                args['tls_generate_dir'], task_vars.get('inventory_hostname'), plan['tls']['names'],
                plan['policy']['pgsec_tls_cert_warn_days'],
                plan['tls'].get('passphrase_required') and not passphrase_given(self._templar, task_vars))
        result.update(plan)
        warnings = plan_warnings(plan)
        if warnings:
            result['warnings'] = warnings
        result['changed'] = False
        return result
