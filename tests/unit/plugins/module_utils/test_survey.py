# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""survey: the drift check's parameters, built from the plan the way the access roles build them
(roles/access/tasks/plan.yml, roles/internal/vars/main.yml), so that the harden playbook's one-run survey
and the batches' tasks check the same thing."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.access_plan import plan_host
from ansible_collections.pgsec.hardening.plugins.module_utils.survey import drift_params, tls_args

from .test_access_plan import APP, HOST_GROUPS, HOST_USERS, cluster, facts

CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'
MATERIAL = {'cert': CERT, 'key': 'KEY', 'ca': CERT, 'crl': '', 'passphrase': 'secret words'}


def _plan(user, facts_=None):
    return plan_host(user, facts_ or facts(), HOST_GROUPS, HOST_USERS, host_name='pg1')


def test_tls_off_or_without_a_certificate_leaves_the_area_out():
    user = {'pgsec_clients': [APP], 'pgsec_tls_enabled': False}
    assert tls_args(_plan(user), MATERIAL) is None
    user = {'pgsec_clients': [APP], 'pgsec_tls_enabled': True}
    assert tls_args(_plan(user), {}) is None
    params = drift_params(user, _plan(user), facts(), {})
    assert params['tls'] is None and 'tls_key' not in params


def test_tls_parameters_are_the_roles_tls_args():
    user = {'pgsec_clients': [APP], 'pgsec_tls_enabled': True, 'pgsec_tls_directory': '',
            'pgsec_tls_dh_params': True, 'pgsec_tls_key_owner': 'server', 'pgsec_tls_passphrase_store': 'auto',
            'pgsec_tls_renew_hook': True, 'pgsec_tls_ciphers': 'HIGH:!aNULL'}
    plan = _plan(user)
    params = drift_params(user, plan, facts(), MATERIAL)
    assert params['tls'] == {
        'material': {'directory': None, 'cert': CERT, 'ca': CERT, 'crl': None, 'names': ['pg1'],
                     'warn_days': plan['policy']['pgsec_tls_cert_warn_days'], 'dh_params': True,
                     'key_owner': 'server', 'passphrase_store': 'auto', 'renew_hook': True},
        'settings': plan['tls']['cluster_settings'], 'ciphers': 'HIGH:!aNULL'}
    assert params['tls_key'] == 'KEY' and params['tls_key_passphrase'] == 'secret words'


def test_unmanaged_areas_are_left_out_and_only_planned_clusters_are_checked():
    user = {'pgsec_clients': [APP], 'pgsec_tls_enabled': False, 'pgsec_hba_manage': 'no',
            'pgsec_firewall_backend': 'none', 'pgsec_clusters': ['15/main']}
    facts_ = facts([cluster(), cluster('second', pid=813)])
    plan = _plan(user, facts_)
    params = drift_params(user, plan, facts_, {})
    assert 'hba' not in params and 'firewall' not in params
    assert [entry['id'] for entry in params['clusters']] == ['15/main']
    assert params['sockets'] is plan['sockets'] and params['listen'] is plan['listen']


def test_managed_areas_take_the_plans_area_args():
    user = {'pgsec_clients': [APP], 'pgsec_tls_enabled': False, 'pgsec_firewall_backend': 'nftables'}
    plan = _plan(user)
    params = drift_params(user, plan, facts(), {})
    assert params['hba'] == plan['area_args']['hba']
    assert params['firewall'] == plan['area_args']['firewall']
