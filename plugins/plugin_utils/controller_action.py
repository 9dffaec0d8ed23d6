# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pgsec's action plugins share: they run on the controller only and validate their arguments first."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase


class ControllerAction(ActionBase):
    """Subclasses set ARGUMENT_SPEC and implement act(args, task_vars, result)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = {}

    def run(self, tmp=None, task_vars=None):
        result = super(ControllerAction, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        return self.act(args, task_vars or {}, result)

    def act(self, args, task_vars, result):
        raise NotImplementedError


def templated_var(templar, task_vars, name):
    """The variable NAME templated (a vaulted value decrypted), '' when unset."""
    value = task_vars.get(name)
    if value is None:
        return ''
    return templar.template(value)


def passphrase_given(templar, task_vars):
    """Whether pgsec_tls_key_passphrase is set; only that, so the secret never enters the policy or the result."""
    try:
        value = templated_var(templar, task_vars, 'pgsec_tls_key_passphrase')
    except AnsibleError:  # an undefined vault variable and the like: the TLS preflight names it
        return True
    return bool(str(value or '').strip())


def plan_warnings(plan):
    """The lockout guard's messages in warn mode, and its notes, as task warnings."""
    guard = plan.get('guard') or {}
    warnings = []
    if guard.get('mode') == 'warn' and guard.get('messages'):
        warnings = ['pgsec_lockout_guard: warn: this run cuts off: %s' % message for message in guard['messages']]
    return warnings + list(guard.get('notes') or [])
