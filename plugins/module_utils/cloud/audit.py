# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cloud firewall audit: the rules a provider holds for the group against the rules the policy wants.

Findings have the shape of the host audit's (module_utils.policy.evaluate): id, host, cluster,
subject, expected, actual, status, severity, reference, title, remediation. The controls' metadata
(CONTROLS) sits beside their checks, as in access_policy.checks_*.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import Catalogue, _outcome
from ansible_collections.pgsec.hardening.plugins.module_utils.cloud.rules import (
    inside_policy,
    is_owned,
    rule_key,
    rule_text,
    world_open_sources,
)


class _GroupCatalogue(Catalogue):
    """Controls whose check runs once per security group (the host catalogue runs cluster checks)."""

    def check(self, control_id, scope, severity, title, reference, remediation):
        self.add(control_id, scope, severity, title, reference, remediation)

        def register(function):
            self.checks.append((control_id, function))
            return function
        return register


CONTROLS = _GroupCatalogue()
_LIMIT = 8


def _texts(rules):
    texts = [rule_text(rule) for rule in rules[:_LIMIT]]
    if len(rules) > _LIMIT:
        texts.append('... and %d more' % (len(rules) - _LIMIT))
    return '; '.join(texts)


def _ports_text(ports):
    return ', '.join('tcp/%d' % port for port in ports)


@CONTROLS.check(
    'cloud.port_world_open', 'group', 'high', 'The provider firewall does not open the PostgreSQL port to the world',
    'CIS AWS Foundations Benchmark v3.0.0 5.2/5.3 (no ingress from 0.0.0.0/0 or ::/0), applied to the PostgreSQL '
    'port; pgsec.hardening policy: provider firewall from pgsec_clients',
    'Remove the rules that admit 0.0.0.0/0 or ::/0 to the port and allow only the sources of pgsec_clients '
    '(run the pgsec.hardening.cloud_firewall playbook; on a group it does not own, delete them by hand).')
def _check_world_open(group):
    expected = '%s open to no one beyond the clients of pgsec_clients' % _ports_text(group['ports'])
    world = world_open_sources(group['current'], group['ports'])
    if not world:
        return _outcome('pass', group['subject'], expected, 'no rule admits 0.0.0.0/0 or ::/0 to the port')
    wanted = set(rule_key(rule) for rule in group['wanted'])
    if all(rule_key(rule) in wanted for rule in world):
        return _outcome('manual', group['subject'], expected,
                        'the policy itself opens the port to everyone: %s' % _texts(world), 'info')
    return _outcome('fail', group['subject'], expected, 'open to the world: %s' % _texts(world))


@CONTROLS.check(
    'cloud.sources_within_policy', 'group', 'medium', 'The provider firewall admits only the clients of the policy',
    'pgsec.hardening policy: provider firewall sources derived from pgsec_clients (CIS PostgreSQL 17 v1.0.0 '
    'network segregation, manual.network_segregation)',
    'Allow the port only from the sources of pgsec_clients; the cloud_firewall role removes the others from a '
    'group it owns.')
def _check_sources(group):
    sources = group['sources']
    expected = 'allowed only from %s' % (', '.join(sources) or 'no remote source (no pgsec_clients)')
    rules = [rule for rule in group['current'] if rule['direction'] == 'ingress'
             and any(_on_port(rule, port) for port in group['ports'])]
    outside = [rule for rule in rules if not inside_policy(rule, sources)]
    if outside:
        return _outcome('fail', group['subject'], expected, 'outside the policy: %s' % _texts(outside))
    return _outcome('pass', group['subject'], expected, '%d rule(s), all inside the policy' % len(rules))


def _on_port(rule, port):
    low = rule['port_min'] if rule['port_min'] is not None else 1
    high = rule['port_max'] if rule['port_max'] is not None else 65535
    return rule['protocol'] in ('tcp', 'any') and low <= port <= high


@CONTROLS.check(
    'cloud.clients_allowed', 'group', 'low', 'Every client of the policy is allowed by the provider firewall',
    'pgsec.hardening policy: provider firewall sources derived from pgsec_clients',
    'Run the pgsec.hardening.cloud_firewall playbook so that each client source has its rule.')
def _check_clients(group):
    expected = 'one rule per client source and port (%d)' % len(
        [rule for rule in group['wanted'] if rule['direction'] == 'ingress'])
    current = set(rule_key(rule) for rule in group['current'])
    missing = [rule for rule in group['wanted'] if rule['direction'] == 'ingress' and rule_key(rule) not in current]
    if missing:
        return _outcome('fail', group['subject'], expected, 'missing: %s' % _texts(missing))
    return _outcome('pass', group['subject'], expected, 'every client source has its rule')


@CONTROLS.check(
    'cloud.rules_owned', 'group', 'medium', 'The group holds only the rules the collection wrote',
    'pgsec.hardening policy: a dedicated security group per cluster, owned by the collection',
    'Rules added by hand to the dedicated group are removed by the next run of the cloud_firewall role when the '
    'group is its own; in a group it does not own, review them and delete them by hand.')
def _check_owned(group):
    expected = 'no rule added by hand (ingress%s)' % (' and egress' if group['manage_egress'] else '')
    foreign = [rule for rule in group['current'] if not is_owned(rule)
               and (rule['direction'] == 'ingress' or group['manage_egress'])]
    if not foreign:
        return _outcome('pass', group['subject'], expected, 'every rule carries the collection\'s description')
    fate = ('removed by the next run: the group is the collection\'s' if group['owned']
            else 'kept: the group is not the collection\'s, remove them by hand')
    return _outcome('fail', group['subject'], expected, 'added by hand (%s): %s' % (fate, _texts(foreign)))


@CONTROLS.check(
    'cloud.group_attached', 'group', 'medium', "The group is attached to the database host's instance",
    'pgsec.hardening policy: the provider firewall from pgsec_clients applies to the database host',
    "Attach the group to the instance (for AWS, add it to the instance's security groups, e.g. with "
    'amazon.aws.ec2_instance security_groups); the role does not change the instance.')
def _check_attached(group):
    expected = 'the group is one of the security groups of instance %s' % group['instance']
    attached = group['attached_groups']
    if group['group_id'] in attached:
        return _outcome('pass', group['subject'], expected, 'attached (%s)' % ', '.join(attached))
    return _outcome('fail', group['subject'], expected, 'not attached: the instance has %s' % (
        ', '.join(attached) or 'no security group'))


def audit(host, subject, current, wanted, sources, ports, owned, manage_egress, instance=None,
          attached_groups=None, group_id=None):
    """Findings for one group: ``current`` and ``wanted`` are neutral rules (module_utils/cloud/rules.py).

    cloud.group_attached is checked only when the instance and its groups are known (instance,
    attached_groups: the ids of its security groups, group_id: this group's id).
    """
    group = {'subject': subject, 'current': current, 'wanted': wanted, 'sources': sources, 'ports': ports,
             'owned': owned, 'manage_egress': manage_egress, 'instance': instance,
             'attached_groups': attached_groups or [], 'group_id': group_id}
    metadata = dict((row[0], row) for row in CONTROLS)
    findings = []
    for control_id, check in CONTROLS.checks:
        if control_id == 'cloud.group_attached' and (not instance or attached_groups is None):
            continue
        _id, _scope, severity, title, reference, remediation = metadata[control_id]
        outcome = check(group)
        finding = {'id': control_id, 'host': host, 'cluster': None, 'title': title, 'reference': reference,
                   'remediation': remediation}
        finding.update(outcome)
        if finding['severity'] is None:
            finding['severity'] = severity
        findings.append(finding)
    return findings
