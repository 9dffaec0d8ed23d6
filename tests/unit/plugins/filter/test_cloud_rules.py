# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cloud_rules filter and the plan and audit behind it, on recorded provider output."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pgsec.hardening.plugins.filter.cloud_rules import cloud_rules
from ansible_collections.pgsec.hardening.plugins.module_utils.cloud.audit import audit
from ansible_collections.pgsec.hardening.plugins.module_utils.cloud.rules import (
    CloudRulesError,
    check_inputs,
    from_aws,
    from_openstack,
    group_is_owned,
    plan,
    rule_text,
    to_aws,
    to_openstack,
)

CLIENTS = [
    {'name': 'app', 'sources': ['198.51.100.7', '2001:db8:1::/64']},
    {'name': 'reports', 'sources': ['203.0.113.0/24', '198.51.100.7/32']},
]

# What amazon.aws.ec2_security_group_info returned from moto for a group the role made, with a rule
# added by hand and the default egress.
AWS_GROUP = {
    'group_id': 'sg-0123', 'group_name': 'pg-main', 'vpc_id': 'vpc-1',
    'description': 'PostgreSQL clients of pg-main, managed by pgsec.hardening', 'tags': {'pgsec.hardening': 'owned'},
    'ip_permissions': [
        {'ip_protocol': 'tcp', 'from_port': 5432, 'to_port': 5432, 'ip_ranges': [
            {'cidr_ip': '198.51.100.7/32', 'description': 'pgsec.hardening client app, reports'},
            {'cidr_ip': '0.0.0.0/0', 'description': 'quick fix'}],
         'ipv6_ranges': [], 'prefix_list_ids': [], 'user_id_group_pairs': []},
    ],
    'ip_permissions_egress': [
        {'ip_protocol': '-1', 'ip_ranges': [{'cidr_ip': '0.0.0.0/0'}], 'ipv6_ranges': [], 'prefix_list_ids': [],
         'user_id_group_pairs': []},
    ],
}

# What openstack.cloud.security_group_info returned from Neutron: the default egress, one of ours.
OPENSTACK_GROUP = {
    'id': 'f00', 'name': 'pg-main', 'description': 'PostgreSQL clients of pg-main, managed by pgsec.hardening',
    'security_group_rules': [
        {'id': 'r1', 'direction': 'egress', 'ethertype': 'IPv4', 'protocol': None, 'port_range_min': None,
         'port_range_max': None, 'remote_ip_prefix': None, 'remote_group_id': None, 'description': ''},
        {'id': 'r2', 'direction': 'egress', 'ethertype': 'IPv6', 'protocol': None, 'port_range_min': None,
         'port_range_max': None, 'remote_ip_prefix': None, 'remote_group_id': None, 'description': ''},
        {'id': 'r3', 'direction': 'ingress', 'ethertype': 'IPv6', 'protocol': 'tcp', 'port_range_min': 5432,
         'port_range_max': 5432, 'remote_ip_prefix': '2001:db8:1::/64', 'remote_group_id': None,
         'description': 'pgsec.hardening client app'},
    ],
}


def test_one_ingress_rule_per_source_and_port_with_the_clients_names():
    rules = cloud_rules(CLIENTS, ports=[5432, 5433])
    assert sorted((rule['source'], rule['port_min'], rule['family'], rule['description']) for rule in rules) == [
        ('198.51.100.7/32', 5432, 4, 'pgsec.hardening client app, reports'),
        ('198.51.100.7/32', 5433, 4, 'pgsec.hardening client app, reports'),
        ('2001:db8:1::/64', 5432, 6, 'pgsec.hardening client app'),
        ('2001:db8:1::/64', 5433, 6, 'pgsec.hardening client app'),
        ('203.0.113.0/24', 5432, 4, 'pgsec.hardening client reports'),
        ('203.0.113.0/24', 5433, 4, 'pgsec.hardening client reports'),
    ]
    assert all(rule['direction'] == 'ingress' and rule['protocol'] == 'tcp' for rule in rules)


def test_nothing_is_widened_unless_the_policy_says_so():
    assert cloud_rules([]) == []
    sources = [rule['source'] for rule in cloud_rules(CLIENTS)]
    assert '0.0.0.0/0' not in sources and '::/0' not in sources
    open_policy = cloud_rules([{'name': 'everyone', 'sources': ['0.0.0.0/0', '::/0']}])
    assert [rule['source'] for rule in open_policy] == ['0.0.0.0/0', '::/0']


def test_egress_only_when_managed():
    egress = [{'host': '192.0.2.10', 'port': 5432}, {'host': '2001:db8:9::1', 'port': 53, 'protocol': 'udp'}]
    assert cloud_rules(CLIENTS, egress=egress) == cloud_rules(CLIENTS)
    rules = [rule for rule in cloud_rules(CLIENTS, egress=egress, manage_egress=True) if rule['direction'] == 'egress']
    assert [(rule['source'], rule['protocol'], rule['port_min']) for rule in rules] == [
        ('192.0.2.10/32', 'tcp', 5432), ('2001:db8:9::1/128', 'udp', 53)]


def test_descriptions_keep_to_what_aws_accepts():
    rules = cloud_rules([{'name': u'caf\u00e9 <ops>', 'sources': ['192.0.2.0/24']}])
    assert rules[0]['description'] == 'pgsec.hardening client caf_ _ops_'


@pytest.mark.parametrize('clients, ports, egress, words', [
    ([{'name': 'app', 'sources': ['198.51.100.300/32']}], None, None, "pgsec_clients[0].sources[0]: '198.51.100.300/32'"),
    ([{'name': 'app', 'sources': []}], None, None, 'pgsec_clients[0].sources: []'),
    ([{'name': 'app', 'sources': ['192.0.2.1'], 'port': 5432}], None, None, 'pgsec_clients[0]'),
    ('198.51.100.0/24', None, None, "pgsec_clients: '198.51.100.0/24' is not a list"),
    (CLIENTS, [70000], None, 'pgsec_cloud_ports[0]: 70000'),
    (CLIENTS, [], None, 'pgsec_cloud_ports: []'),
    (CLIENTS, None, [{'host': 'db.example', 'port': 5432}], "pgsec_firewall_egress[0].host: 'db.example'"),
])
def test_bad_input_is_refused_naming_the_variable_and_the_value(clients, ports, egress, words):
    with pytest.raises(AnsibleFilterError) as error:
        cloud_rules(clients, ports=ports, egress=egress, manage_egress=True)
    assert words in str(error.value)


@pytest.mark.parametrize('provider, group, network, words', [
    ('gcp', 'pg-main', 'vpc-1', "pgsec_cloud_provider: 'gcp' is not one of aws, openstack"),
    ('aws', '', 'vpc-1', "pgsec_cloud_security_group: ''"),
    ('aws', 'pg-main', '', "pgsec_cloud_vpc_id: ''"),
    ('aws', 'pg-main', 'subnet-1', "pgsec_cloud_vpc_id: 'subnet-1'"),
])
def test_the_inputs_of_the_role_are_checked(provider, group, network, words):
    with pytest.raises(CloudRulesError) as error:
        check_inputs(provider, group, network, CLIENTS, [5432], [], False)
    assert words in str(error.value)
    assert check_inputs('openstack', 'pg-main', None, CLIENTS, [5432], [], False)


def test_aws_group_read_and_written_back():
    current = from_aws(AWS_GROUP)
    assert [rule_text(rule) for rule in current] == [
        'egress any protocol to 0.0.0.0/0',
        'ingress tcp/5432 from 0.0.0.0/0 "quick fix"',
        'ingress tcp/5432 from 198.51.100.7/32 "pgsec.hardening client app, reports"',
    ]
    assert to_aws(current[1:]) == [
        {'proto': 'tcp', 'from_port': 5432, 'to_port': 5432, 'cidr_ip': '0.0.0.0/0', 'rule_desc': 'quick fix'},
        {'proto': 'tcp', 'from_port': 5432, 'to_port': 5432, 'cidr_ip': '198.51.100.7/32',
         'rule_desc': 'pgsec.hardening client app, reports'},
    ]
    assert to_aws(current[:1]) == [{'proto': 'all', 'cidr_ip': '0.0.0.0/0'}]


def test_plan_in_an_owned_group_removes_hand_added_rules_and_leaves_egress_alone():
    wanted = cloud_rules(CLIENTS)
    result = plan(wanted, from_aws(AWS_GROUP), group_is_owned('aws', AWS_GROUP), manage_egress=False)
    assert result['changed']
    assert result['lines'] == [
        '- ingress tcp/5432 from 0.0.0.0/0 "quick fix"',
        '+ ingress tcp/5432 from 2001:db8:1::/64 "pgsec.hardening client app"',
        '+ ingress tcp/5432 from 203.0.113.0/24 "pgsec.hardening client reports"',
    ]
    assert [rule['direction'] for rule in result['desired']].count('egress') == 1
    again = plan(wanted, result['desired'], True, manage_egress=False)
    assert not again['changed'] and again['lines'] == []


def test_plan_in_a_group_of_others_removes_only_its_own_rules():
    group = dict(AWS_GROUP, description='made by the network team', tags={})
    assert not group_is_owned('aws', group)
    result = plan([], from_aws(group), False, manage_egress=True)
    assert result['lines'] == ['- ingress tcp/5432 from 198.51.100.7/32 "pgsec.hardening client app, reports"']


def test_managed_egress_replaces_the_default_egress():
    wanted = cloud_rules(CLIENTS, egress=[{'host': '192.0.2.10', 'port': 5432}], manage_egress=True)
    result = plan(wanted, from_openstack(OPENSTACK_GROUP), True, manage_egress=True)
    assert '- egress any protocol to 0.0.0.0/0' in result['lines']
    assert '- egress any protocol to ::/0' in result['lines']
    assert '+ egress tcp/5432 to 192.0.2.10/32 "pgsec.hardening egress"' in result['lines']


def test_openstack_rules_kept_exactly_as_neutron_holds_them():
    current = from_openstack(OPENSTACK_GROUP)
    result = plan(cloud_rules(CLIENTS), current, True, manage_egress=False)
    entries = [to_openstack(rule) for rule in result['desired']]
    assert {'direction': 'egress', 'ether_type': 'IPv4', 'protocol': None, 'description': '',
            'port_range_min': None, 'port_range_max': None, 'remote_ip_prefix': None,
            'remote_group': None} in entries
    assert {'direction': 'ingress', 'ether_type': 'IPv4', 'protocol': 'tcp',
            'description': 'pgsec.hardening client reports', 'port_range_min': 5432, 'port_range_max': 5432,
            'remote_ip_prefix': '203.0.113.0/24', 'remote_group': None} in entries
    assert len(entries) == 5


def findings_of(group, clients):
    wanted = cloud_rules(clients)
    sources = sorted(set(rule['source'] for rule in wanted))
    return dict((finding['id'], finding) for finding in audit(
        'db1', 'aws security group pg-main', from_aws(group), wanted, sources, [5432],
        group_is_owned('aws', group), False))


def test_audit_reports_the_port_open_to_the_world_with_reference_and_remediation():
    findings = findings_of(AWS_GROUP, CLIENTS)
    world = findings['cloud.port_world_open']
    assert world['status'] == 'fail' and world['severity'] == 'high'
    assert '0.0.0.0/0' in world['actual'] and 'CIS' in world['reference'] and world['remediation']
    assert findings['cloud.sources_within_policy']['status'] == 'fail'
    assert 'quick fix' in findings['cloud.rules_owned']['actual']
    assert 'removed by the next run' in findings['cloud.rules_owned']['actual']
    missing = findings['cloud.clients_allowed']
    assert missing['status'] == 'fail' and '203.0.113.0/24' in missing['actual']
    assert set(finding['host'] for finding in findings.values()) == {'db1'}


def test_audit_of_a_group_that_matches_the_policy_passes():
    group = dict(AWS_GROUP, ip_permissions=[{'ip_protocol': 'tcp', 'from_port': 5432, 'to_port': 5432, 'ip_ranges': [
        {'cidr_ip': '198.51.100.7/32', 'description': 'pgsec.hardening client app'}]}])
    findings = findings_of(group, [{'name': 'app', 'sources': ['198.51.100.7']}])
    assert [finding['status'] for finding in findings.values()] == ['pass'] * 4


def test_a_world_open_policy_is_left_to_a_person():
    group = dict(AWS_GROUP, ip_permissions=[{'ip_protocol': 'tcp', 'from_port': 5432, 'to_port': 5432, 'ip_ranges': [
        {'cidr_ip': '0.0.0.0/0', 'description': 'pgsec.hardening client everyone'}]}])
    findings = findings_of(group, [{'name': 'everyone', 'sources': ['0.0.0.0/0']}])
    assert findings['cloud.port_world_open']['status'] == 'manual'


def test_attachment_is_checked_only_when_the_instance_is_known():
    wanted = cloud_rules(CLIENTS)
    args = ('db1', 'aws security group pg-main', from_aws(AWS_GROUP), wanted, ['198.51.100.7/32'], [5432], True, False)
    assert 'cloud.group_attached' not in [finding['id'] for finding in audit(*args)]
    attached = dict((f['id'], f) for f in audit(
        *args, instance='i-1', attached_groups=['sg-9', 'sg-0123'], group_id='sg-0123'))
    assert attached['cloud.group_attached']['status'] == 'pass'
    detached = dict((f['id'], f) for f in audit(*args, instance='i-1', attached_groups=['sg-9'], group_id='sg-0123'))
    assert detached['cloud.group_attached']['status'] == 'fail'
    assert detached['cloud.group_attached']['actual'] == 'not attached: the instance has sg-9'
