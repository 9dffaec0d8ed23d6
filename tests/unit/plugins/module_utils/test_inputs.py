# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.access_plan import _flag
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.ruleset import FirewallPlanError, normalize_spec
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool, as_list, fail
from ansible_collections.pgsec.hardening.plugins.module_utils.policy import PolicyError


@pytest.mark.parametrize('value,expected', [
    (True, True), ('yes', True), ('On', True), (' true ', True), ('1', True), (1, True), ('y', True), ('t', True),
    (False, False), ('no', False), ('OFF', False), ('false', False), ('0', False), (0, False), ('n', False),
])
def test_as_bool_reads_what_ansible_reads(value, expected):
    assert as_bool(PolicyError, 'pgsec_tls_enabled', value) is expected


@pytest.mark.parametrize('value', ['maybe', '', 2, None, [], {}])
def test_as_bool_refuses_naming_the_variable(value):
    with pytest.raises(PolicyError) as caught:
        as_bool(PolicyError, 'pgsec_tls_enabled', value)
    assert str(caught.value) == 'pgsec_tls_enabled: %r is not a boolean' % (value,)


def test_every_planner_reads_booleans_the_same_way():
    assert normalize_spec({'sources': ['198.18.1.0/24'], 'log': 'yes'})['log'] is True
    assert _flag({'pgsec_listen_allow_wildcard': 'yes'}, 'pgsec_listen_allow_wildcard') is True
    assert _flag({'pgsec_listen_allow_wildcard': ''}, 'pgsec_listen_allow_wildcard') is False
    with pytest.raises(FirewallPlanError, match="log: 'perhaps' is not a boolean"):
        normalize_spec({'sources': ['198.18.1.0/24'], 'log': 'perhaps'})
    with pytest.raises(PolicyError, match="pgsec_listen_allow_wildcard: 'perhaps' is not a boolean"):
        _flag({'pgsec_listen_allow_wildcard': 'perhaps'}, 'pgsec_listen_allow_wildcard')


def test_as_list_and_fail():
    assert as_list(PolicyError, 'pgsec_clients', None) == []
    assert as_list(PolicyError, 'pgsec_clients', ('a',)) == ['a']
    for value in ('a', {'a': 1}, 3):
        with pytest.raises(PolicyError, match='pgsec_clients: .* is not a list'):
            as_list(PolicyError, 'pgsec_clients', value)
    with pytest.raises(FirewallPlanError) as caught:
        fail(FirewallPlanError, 'ports', 0, 'is not a port number')
    assert str(caught.value) == "ports: 0 is not a port number"
