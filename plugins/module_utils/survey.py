# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather, plan and check every area of a host in one module run (stages 1, 3 and 4 on the host).

The same code as the three tasks of the access roles (postgresql_access_facts, postgresql_access_plan,
postgresql_access_drift), in one process: a host where nothing drifts costs one module run. The TLS
material comes from the controller (action plugin postgresql_access_survey), read before the run.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils import drift
from ansible_collections.pgsec.hardening.plugins.module_utils.access_plan import plan_host
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.gather import HostIO, gather, gather_accounts
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError


def tls_args(plan, material):
    """The drift check's tls parameter, as the access roles build it; None when TLS is off or there is no cert."""
    if not plan['policy'].get('pgsec_tls_enabled') or not (material or {}).get('cert'):
        return None
    args = dict(plan['area_args']['tls'], cert=material['cert'], ca=material.get('ca') or None,
                crl=material.get('crl') or None)
    return {'material': args, 'settings': plan['tls']['cluster_settings'],
            'ciphers': plan['policy'].get('pgsec_tls_ciphers')}


def drift_params(policy, plan, facts, material):
    """postgresql_access_drift's parameters for this plan (roles/access/tasks/plan.yml)."""
    wanted = set(cluster['id'] for cluster in plan['clusters'])
    params = {'clusters': [cluster for cluster in facts['clusters'] if cluster.get('id') in wanted],
              'sockets': plan['sockets'], 'listen': plan['listen'], 'tls': tls_args(plan, material)}
    if params['tls'] is not None:
        params['tls_key'] = material.get('key')
        params['tls_key_passphrase'] = material.get('passphrase') or None
    if as_bool(PolicyError, 'pgsec_hba_manage', policy.get('pgsec_hba_manage', True)):
        params['hba'] = plan['area_args']['hba']
    if plan['area_args']['firewall']['backend'] != 'none':
        params['firewall'] = plan['area_args']['firewall']
    return params


def survey_host(module, policy, material=None, passphrase_given=False, host_name=None):
    """{facts, plan, drift}; raises PolicyError or drift.DriftError before anything is changed."""

    def run_command(argv, environ_update=None):
        return module.run_command(argv, environ_update=environ_update)

    facts = gather(HostIO(run_command), firewall=False)
    facts['accounts'] = gather_accounts()
    plan = plan_host(policy, facts, facts['accounts']['groups'], facts['accounts']['users'],
                     passphrase_given=passphrase_given, host_name=host_name)
    checked = drift.check_host(module, drift_params(policy, plan, facts, material or {}))
    return {'facts': facts, 'plan': plan, 'drift': checked}
