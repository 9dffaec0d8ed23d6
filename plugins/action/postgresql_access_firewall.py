# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of postgresql_access_firewall: load the rules, then confirm them in the same task.

The rollback deadline starts when a host's rules are loaded. Confirming in a later task of the play
(linear strategy) waits for every other host of the batch to load its rules first, in rounds of
``forks``: past a few dozen hosts the first host's timer fires before its confirmation runs. Here
the confirmation follows the load on the same host, over a new connection, whatever the fleet size.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

MODULE = 'pgsec.hardening.postgresql_access_firewall'
# Seconds kept between the last confirmation attempt and the rollback, so that an attempt that
# starts cannot race the rollback on the host.
DEADLINE_MARGIN = 2
RETRY_PAUSE = 1


class ActionModule(ActionBase):

    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        confirm_here = boolean(args.pop('confirm_over_new_connection', True), strict=False)
        loaded = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        result.update(loaded)
        token = loaded.get('rollback_token')
        if not confirm_here or loaded.get('failed') or not token or self._task.check_mode or args.get('confirm'):
            return result
        timeout = int(args.get('rollback_timeout', 30))
        confirmed, attempts, error = self._confirm(token, timeout, task_vars)
        result['confirm_attempts'] = attempts
        if confirmed is None:
            result.update(failed=True, msg=(
                'the host did not answer over a new connection after its firewall rules were loaded (%s); '
                'nobody confirmed rollback %s, so the host restores its previous rules %s s after loading them'
                % (error, token, timeout)))
            return result
        if confirmed.get('failed'):
            result.update(failed=True, msg='confirming rollback %s failed: %s' % (token, confirmed.get('msg')))
            return result
        result['confirmed'] = confirmed.get('confirmed', token)
        result['persisted'] = confirmed.get('persisted', result.get('persisted'))
        result['rollback_token'] = None
        return result

    def _confirm(self, token, timeout, task_vars):
        """(module result or None, attempts, last connection error) of confirming over a new connection."""
        give_up = time.time() + max(timeout - DEADLINE_MARGIN, 1)
        attempts, error = 0, None
        while attempts == 0 or time.time() < give_up:
            attempts += 1
            try:
                self._connection.reset()
            except AttributeError:
                pass
            try:
                confirmed = self._execute_module(module_name=MODULE, module_args={'confirm': token},
                                                 task_vars=task_vars)
            except (AnsibleConnectionFailure, AnsibleError) as exc:
                lines = to_text(exc).strip().splitlines()
                error = lines[-1] if lines else type(exc).__name__
                time.sleep(RETRY_PAUSE)
                continue
            if confirmed.get('unreachable'):
                error = confirmed.get('msg')
                time.sleep(RETRY_PAUSE)
                continue
            self._remove_tmp_path(self._connection._shell.tmpdir)
            return confirmed, attempts, None
        return None, attempts, error
