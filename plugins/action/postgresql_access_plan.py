# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of access_plan: policy + facts -> what the roles set, or a clear refusal."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.pgsec.hardening.plugins.module_utils.access_plan import plan_host
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError
from ansible_collections.pgsec.hardening.plugins.plugin_utils.controller_action import ControllerAction
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
                             passphrase_given=self._passphrase_given(task_vars),
                             host_name=task_vars.get('inventory_hostname'))
        except PolicyError as exc:
            raise AnsibleActionFail(str(exc))
        if args['tls_generate_dir'] and plan['policy'].get('pgsec_tls_enabled'):
            # Whether the generate tasks would change anything (they are skipped when not).
            plan['tls']['generated'] = generated_state(
                args['tls_generate_dir'], task_vars.get('inventory_hostname'), plan['tls']['names'],
                plan['policy']['pgsec_tls_cert_warn_days'],
                plan['tls'].get('passphrase_required') and not self._passphrase_given(task_vars))
        result.update(plan)
        guard = plan.get('guard') or {}
        if guard.get('mode') == 'warn' and guard.get('messages'):
            result['warnings'] = ['pgsec_lockout_guard: warn: this run cuts off: %s' % message
                                  for message in guard['messages']]
        if guard.get('notes'):
            result.setdefault('warnings', []).extend(guard['notes'])
        result['changed'] = False
        return result

    def _passphrase_given(self, task_vars):
        """Whether pgsec_tls_key_passphrase is set; only that, so the secret never enters the policy or the result."""
        value = task_vars.get('pgsec_tls_key_passphrase')
        if value is None:
            return False
        try:
            value = self._templar.template(value)
        except AnsibleError:  # an undefined vault variable and the like: the TLS preflight names it
            return True
        return bool(str(value or '').strip())
