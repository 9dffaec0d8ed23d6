# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of postgresql_access_survey: the TLS material before the host's one module run, then
whether the generated material would be made again."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.pgsec.hardening.plugins.module_utils.drift import AREAS
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError, cis_enforcement
from ansible_collections.pgsec.hardening.plugins.plugin_utils.controller_action import (
    passphrase_given,
    plan_warnings,
    templated_var,
)
from ansible_collections.pgsec.hardening.plugins.plugin_utils.tls_generated import generated_state

NO_CERTIFICATE = ('pgsec_tls_enabled is true but there is no certificate: give pgsec_tls_cert and pgsec_tls_key '
                  '(PEM text; vault the key), or set pgsec_tls_generate: true for a generated CA, or set '
                  'pgsec_tls_enabled: false.')


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().rstrip()  # as the file lookup of the tls role reads it
    except (IOError, OSError):
        return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    ARGUMENT_SPEC = dict(policy=dict(type='dict', required=True))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        policy = args['policy']
        host = task_vars.get('inventory_hostname')
        given = passphrase_given(self._templar, task_vars)
        try:
            generate = as_bool(PolicyError, 'pgsec_tls_generate', policy.get('pgsec_tls_generate', False))
            passphrase_needed = cis_enforcement(policy)['tls']['passphrase_required'] and not given
        except PolicyError as exc:
            raise AnsibleActionFail(str(exc))
        if generate:
            material = self._generated_material(policy.get('pgsec_tls_generate_dir'), host, passphrase_needed)
        else:
            material = dict((name, self._given(task_vars, 'pgsec_tls_' + name)) for name in ('cert', 'key', 'ca', 'crl'))
        if given:
            material['passphrase'] = self._given(task_vars, 'pgsec_tls_key_passphrase')
        module_args = dict(policy=policy, passphrase_given=given, host_name=host,
                           tls_material=dict((name, material.get(name) or None) for name in ('cert', 'ca', 'crl')),
                           tls_key=material.get('key') or None, tls_key_passphrase=material.get('passphrase') or None)
        survey = self._execute_module(module_name='pgsec.hardening.postgresql_access_survey', module_args=module_args,
                                      task_vars=task_vars)
        result.update(survey)
        if survey.get('failed'):
            return result
        plan = survey['plan']
        if plan['policy'].get('pgsec_tls_enabled'):
            if generate:
                state = generated_state(policy['pgsec_tls_generate_dir'], host, plan['tls']['names'],
                                        plan['policy']['pgsec_tls_cert_warn_days'], passphrase_needed)
                plan['tls']['generated'] = state
                if not state['current']:
                    self._drifts(result, 'tls', 'generated material: %s' % (state['reason'] or 'to be made'))
            elif not material.get('cert') or not material.get('key'):
                raise AnsibleActionFail(NO_CERTIFICATE)
        warnings = plan_warnings(plan)
        if warnings:
            result.setdefault('warnings', []).extend(warnings)
        result['changed'] = False
        return result

    def _given(self, task_vars, name):
        try:
            return templated_var(self._templar, task_vars, name)
        except AnsibleError as exc:
            raise AnsibleActionFail('%s: cannot be read: %s' % (name, exc))

    @staticmethod
    def _drifts(result, area, change):
        drift = result['drift']
        drift['areas'][area] = True
        drift['changes'][area].append(change)
        drift['drifting'] = [name for name in AREAS if drift['areas'].get(name)]
        result['work'] = True

    @staticmethod
    def _generated_material(directory, host, passphrase_needed):
        """What an earlier run generated for the host, as far as it exists (the survey checks it on the host)."""
        if not directory or not os.path.isfile(os.path.join(directory, host + '.crt')):
            return {}
        material = {'cert': _read(os.path.join(directory, host + '.crt')),
                    'key': _read(os.path.join(directory, host + '.key')),
                    'ca': _read(os.path.join(directory, 'ca.crt'))}
        if passphrase_needed:
            material['passphrase'] = _read(os.path.join(directory, host + '.passphrase'))
        return material
