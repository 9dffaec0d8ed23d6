#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: postgresql_access_cloud_plan
short_description: Decide the cloud security group rules of the policy, and audit the group
version_added: 0.1.0
description:
  - Checks the inputs of the M(pgsec.hardening.cloud_firewall) role (provider, group, VPC, O(clients), O(ports),
    O(egress)) and renders the rules the policy wants with the same code as the P(pgsec.hardening.cloud_rules#filter)
    filter. Refuses bad input naming the variable and the value; run it before any API call.
  - Given O(current) (the group as C(amazon.aws.ec2_security_group_info) or C(openstack.cloud.security_group_info)
    returns it, or C(null) when there is none), compares it with the wanted rules and returns what to add and
    remove, a readable diff and the audit findings of the group.
  - Only rules the collection wrote (their description starts with C(pgsec.hardening)) are removed, or every rule
    of a group it owns (one it made, with C(managed by pgsec.hardening) in its description).
  - Pure computation on the controller; it reaches no API. C(changed) says whether the group would change.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
attributes:
  check_mode:
    description: Computes the same in check mode; it never writes anything.
    support: full
  diff_mode:
    description: Shows the group's rules now and as the policy wants them, one rule per line.
    support: full
options:
  provider:
    description: C(pgsec_cloud_provider).
    type: str
    required: true
  security_group:
    description: C(pgsec_cloud_security_group), the name of the dedicated group.
    type: str
  network:
    description: C(pgsec_cloud_vpc_id) (AWS).
    type: str
  clients:
    description: C(pgsec_clients).
    type: list
    elements: dict
    default: []
  ports:
    description: The PostgreSQL ports.
    type: list
    elements: raw
    default: [5432]
  egress:
    description: C(pgsec_firewall_egress).
    type: list
    elements: raw
    default: []
  manage_egress:
    description: C(pgsec_cloud_manage_egress).
    type: bool
    default: false
  gathered:
    description: Whether O(current) was read from the provider; false only checks the inputs.
    type: bool
    default: false
  current:
    description: The group as the provider's C(_info) module returns one, or C(null) when it does not exist.
    type: dict
  host:
    description: The database host, for the findings.
    type: str
    default: ''
  instance:
    description: C(pgsec_cloud_instance_id), the database host's instance; with O(attached_groups) the audit checks
      that the group is attached to it (C(cloud.group_attached)).
    type: str
  attached_groups:
    description: The ids of the security groups the provider says the instance has.
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: Check the inputs before any API call
  pgsec.hardening.postgresql_access_cloud_plan:
    provider: aws
    security_group: pg-main
    network: vpc-0123456789abcdef0
    clients: "{{ pgsec_clients }}"
  delegate_to: localhost
'''

RETURN = r'''
wanted:
  description: The rules the policy wants (see the P(pgsec.hardening.cloud_rules#filter) filter).
  returned: always
  type: list
  elements: dict
owned:
  description: Whether the group is the collection's (or does not exist yet).
  returned: when gathered
  type: bool
add:
  description: Rules to add.
  returned: when gathered
  type: list
  elements: dict
remove:
  description: Rules to remove (with their provider id on OpenStack).
  returned: when gathered
  type: list
  elements: dict
lines:
  description: The change as lines, C(- RULE) removed and C(+ RULE) added.
  returned: when gathered
  type: list
  elements: str
aws_rules:
  description: The group's ingress rules afterwards, as C(amazon.aws.ec2_security_group) C(rules) entries.
  returned: when gathered and provider is aws
  type: list
  elements: dict
aws_rules_egress:
  description: The group's egress rules afterwards, as C(amazon.aws.ec2_security_group) rules_egress entries.
  returned: when gathered and provider is aws
  type: list
  elements: dict
openstack_rules:
  description: The group's rules afterwards, as C(openstack.cloud.security_group) C(security_group_rules) entries.
  returned: when gathered and provider is openstack
  type: list
  elements: dict
report:
  description: One line per finding that did not pass (status, severity, id, actual, reference and remediation).
  returned: when gathered
  type: list
  elements: str
findings:
  description: The audit of the group as it is now (ids C(cloud.*)), shaped like the host audit's findings.
  returned: when gathered
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.cloud.audit import audit
from ansible_collections.pgsec.hardening.plugins.module_utils.cloud.rules import (
    CloudRulesError,
    READERS,
    check_inputs,
    group_is_owned,
    plan,
    rule_text,
    to_aws,
    to_openstack,
)


def _subject(provider, name, current):
    ident = (current or {}).get('group_id') or (current or {}).get('id')
    return '%s security group %s%s' % (provider, name, ' (%s)' % ident if ident else ' (not created yet)')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            provider=dict(type='str', required=True),
            security_group=dict(type='str'),
            network=dict(type='str'),
            clients=dict(type='list', elements='dict', default=[]),
            ports=dict(type='list', elements='raw', default=[5432]),
            egress=dict(type='list', elements='raw', default=[]),
            manage_egress=dict(type='bool', default=False),
            gathered=dict(type='bool', default=False),
            current=dict(type='dict'),
            host=dict(type='str', default=''),
            instance=dict(type='str'),
            attached_groups=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    provider = params['provider']
    try:
        wanted = check_inputs(provider, params['security_group'], params['network'], params['clients'],
                              params['ports'], params['egress'], params['manage_egress'])
    except CloudRulesError as error:
        module.fail_json(msg=str(error))
    if not params['gathered']:
        module.exit_json(changed=False, wanted=wanted)

    current_group = params['current']
    current = READERS[provider](current_group)
    owned = group_is_owned(provider, current_group)
    result = plan(wanted, current, owned, params['manage_egress'])
    sources = []
    for rule in wanted:
        if rule['direction'] == 'ingress' and rule['source'] not in sources:
            sources.append(rule['source'])
    ports = sorted(set(rule['port_min'] for rule in wanted if rule['direction'] == 'ingress')) or [5432]
    group_id = (current_group or {}).get('group_id') or (current_group or {}).get('id')
    findings = audit(params['host'], _subject(provider, params['security_group'], current_group), current, wanted,
                     sources, ports, owned, params['manage_egress'], params['instance'], params['attached_groups'],
                     group_id)
    report = ['%s %s %s: %s (reference: %s; remediation: %s)' % (
        finding['status'].upper(), finding['severity'], finding['id'], finding['actual'], finding['reference'],
        finding['remediation']) for finding in findings if finding['status'] != 'pass']
    output = dict(changed=result['changed'], wanted=wanted, owned=owned, add=result['add'],
                  remove=result['remove'], lines=result['lines'], findings=findings,
                  report=report or ['every cloud.* control passes'])
    if provider == 'aws':
        output['aws_rules'] = to_aws([rule for rule in result['desired'] if rule['direction'] == 'ingress'])
        output['aws_rules_egress'] = to_aws([rule for rule in result['desired'] if rule['direction'] == 'egress'])
    else:
        output['openstack_rules'] = [to_openstack(rule) for rule in result['desired']]
    if module._diff:
        output['diff'] = {
            'before_header': output_header(params['security_group'], 'now'),
            'after_header': output_header(params['security_group'], 'wanted'),
            'before': ''.join(rule_text(rule) + '\n' for rule in current),
            'after': ''.join(rule_text(rule) + '\n' for rule in result['desired']),
        }
    module.exit_json(**output)


def output_header(name, when):
    return 'security group %s (%s)' % (name, when)


if __name__ == '__main__':
    main()
