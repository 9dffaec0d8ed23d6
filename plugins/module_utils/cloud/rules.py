# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cloud firewall rules from the policy: pgsec_clients -> provider-neutral rules -> a plan per provider.

A neutral rule is a dict::

    {"direction": "ingress" | "egress", "family": 4 | 6 | None, "protocol": "tcp" | "udp" | "any",
     "port_min": int | None, "port_max": int | None, "source": CIDR, "sg:<id>" or "pl:<id>",
     "description": str, "id": provider id or None}

``source`` is the remote end (the client for ingress, the destination for egress). ``wanted_rules``
renders the policy (validated by ``merge_policy`` and the host firewall's ``normalize_egress``, so a
bad value is refused with the same words as everywhere else); ``from_aws`` / ``from_openstack`` read
what a provider's ``_info`` module returns into the same shape; ``plan`` compares the two. Rules the
collection wrote carry a description starting with RULE_PREFIX; a group it created carries
GROUP_MARK in its description (and, on AWS, the tag OWNER_TAG). Only owned rules are removed, or
every rule of a group the collection owns. Pure Python: the filter, the plan module and the unit
tests share it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import covers_everything, network_contains, parse_network
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import PolicyError, _as_int, merge_policy
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.ruleset import FirewallPlanError, normalize_egress
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool, as_list, fail

PROVIDERS = ('aws', 'openstack')
RULE_PREFIX = 'pgsec.hardening'
GROUP_MARK = 'managed by pgsec.hardening'
OWNER_TAG = 'pgsec.hardening'
# AWS accepts only these characters in a rule description (and 255 of them).
_AWS_DESCRIPTION_CHARACTERS = re.compile(r'[^a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]')
_DESCRIPTION_LENGTH = 255
_WORLD = {4: '0.0.0.0/0', 6: '::/0'}


class CloudRulesError(ValueError):
    """The cloud firewall inputs are invalid; the message names the variable and the value."""


_fail = functools.partial(fail, CloudRulesError)
_as_list = functools.partial(as_list, CloudRulesError)
_as_bool = functools.partial(as_bool, CloudRulesError)


def _description(text):
    return _AWS_DESCRIPTION_CHARACTERS.sub('_', text)[:_DESCRIPTION_LENGTH]


def _ports(ports, name):
    values = _as_list(name, ports)
    if not values:
        _fail(name, ports, 'is empty: name at least one PostgreSQL port')
    try:
        checked = [_as_int('%s[%d]' % (name, index), value, 1, 65535) for index, value in enumerate(values)]
    except PolicyError as error:
        raise CloudRulesError(str(error))
    return sorted(set(checked))


def _family(source):
    network = parse_network(source)
    return None if network is None else network.version


def wanted_rules(clients, ports=None, egress=None, manage_egress=False, ports_variable='pgsec_cloud_ports'):
    """The rules the policy wants: one ingress rule per client source and port, egress when asked.

    clients: pgsec_clients. ports: the PostgreSQL ports (default [5432]). egress:
    pgsec_firewall_egress, rendered only when manage_egress is true (then it is the whole egress of
    the group: an empty list means no egress at all). A source shared by two clients gives one rule
    whose description names both. Nothing is widened: a rule is open to 0.0.0.0/0 or ::/0 only when a
    client's source says so. Raises CloudRulesError naming the variable and the value.
    """
    try:
        policy = merge_policy({'pgsec_clients': clients})
    except PolicyError as error:
        raise CloudRulesError(str(error))
    ports = _ports([5432] if ports is None else ports, ports_variable)
    names_by_source = {}
    for client in policy['pgsec_clients']:
        for source in client['sources']:
            names = names_by_source.setdefault(source, [])
            if client['name'] not in names:
                names.append(client['name'])
    rules = []
    for source, names in names_by_source.items():
        for port in ports:
            rules.append(_rule('ingress', 'tcp', port, port, source,
                               '%s client %s' % (RULE_PREFIX, ', '.join(names))))
    if _as_bool('pgsec_cloud_manage_egress', manage_egress):
        try:
            allowed = normalize_egress(egress)
        except FirewallPlanError as error:
            raise CloudRulesError(str(error))
        for item in allowed:
            rules.append(_rule('egress', item['protocol'], item['port'], item['port'], item['host'],
                               '%s egress' % RULE_PREFIX))
    return sorted(rules, key=rule_key)


def _rule(direction, protocol, port_min, port_max, source, description, rule_id=None):
    return {'direction': direction, 'family': _family(source), 'protocol': protocol,
            'port_min': port_min, 'port_max': port_max, 'source': source,
            'description': _description(description or ''), 'id': rule_id}


def rule_key(rule):
    """What makes two rules the same rule (the provider's id aside)."""
    return (rule['direction'], rule['protocol'], rule['port_min'] or 0, rule['port_max'] or 0,
            rule['source'], rule['description'])


def is_owned(rule):
    return (rule.get('description') or '').startswith(RULE_PREFIX)


def rule_text(rule):
    """One line a person reads: 'ingress tcp/5432 from 198.51.100.0/24 "pgsec.hardening client app"'."""
    if rule['protocol'] == 'any':
        what = 'any protocol'
    elif rule['port_min'] in (None, 1) and rule['port_max'] in (None, 65535):
        what = '%s/any port' % rule['protocol']
    elif rule['port_min'] == rule['port_max']:
        what = '%s/%s' % (rule['protocol'], rule['port_min'])
    else:
        what = '%s/%s-%s' % (rule['protocol'], rule['port_min'], rule['port_max'])
    way = 'from' if rule['direction'] == 'ingress' else 'to'
    text = '%s %s %s %s' % (rule['direction'], what, way, rule['source'])
    return text + (' "%s"' % rule['description'] if rule['description'] else '')


# ---------------------------------------------------------------------------- providers: reading

def _protocol(value):
    text = str(value if value is not None else 'any').lower()
    return {'-1': 'any', 'all': 'any', '6': 'tcp', '17': 'udp', 'none': 'any', '0': 'any'}.get(text, text)


def _port(value):
    return None if value in (None, -1) else int(value)


def from_aws(group):
    """Neutral rules of one group of amazon.aws.ec2_security_group_info (its ip_permissions*)."""
    rules = []
    for direction, field in (('ingress', 'ip_permissions'), ('egress', 'ip_permissions_egress')):
        for permission in (group or {}).get(field) or []:
            protocol = _protocol(permission.get('ip_protocol'))
            low, high = _port(permission.get('from_port')), _port(permission.get('to_port'))
            if protocol == 'any':
                low = high = None
            for entries, key, prefix in (('ip_ranges', 'cidr_ip', ''), ('ipv6_ranges', 'cidr_ipv6', ''),
                                         ('user_id_group_pairs', 'group_id', 'sg:'),
                                         ('prefix_list_ids', 'prefix_list_id', 'pl:')):
                for entry in permission.get(entries) or []:
                    rules.append(_rule(direction, protocol, low, high, prefix + str(entry.get(key)),
                                       entry.get('description')))
    return sorted(rules, key=rule_key)


def from_openstack(group):
    """Neutral rules of one group of openstack.cloud.security_group_info (its security_group_rules)."""
    rules = []
    for entry in (group or {}).get('security_group_rules') or []:
        source = entry.get('remote_ip_prefix')
        if entry.get('remote_group_id'):
            source = 'sg:%s' % entry['remote_group_id']
        elif not source:
            source = _WORLD[6 if entry.get('ethertype') == 'IPv6' else 4]
        protocol = _protocol(entry.get('protocol'))
        low, high = _port(entry.get('port_range_min')), _port(entry.get('port_range_max'))
        rule = _rule(entry.get('direction') or 'ingress', protocol, low, high, source,
                     entry.get('description'), entry.get('id'))
        # The rule as Neutron holds it, to name it exactly when it is kept (the module matches a rule on
        # the options given, so a missing remote_ip_prefix or description would match several).
        rule['native'] = {'direction': rule['direction'], 'ether_type': entry.get('ethertype') or 'IPv4',
                          'protocol': entry.get('protocol'), 'description': entry.get('description') or '',
                          'port_range_min': entry.get('port_range_min'),
                          'port_range_max': entry.get('port_range_max'),
                          'remote_ip_prefix': entry.get('remote_ip_prefix'),
                          'remote_group': entry.get('remote_group_id')}
        rules.append(rule)
    return sorted(rules, key=rule_key)


READERS = {'aws': from_aws, 'openstack': from_openstack}


def group_is_owned(provider, group):
    """True when the collection made the group (or there is none yet: it will make it)."""
    if not group:
        return True
    if GROUP_MARK in (group.get('description') or ''):
        return True
    return provider == 'aws' and OWNER_TAG in ((group.get('tags') or {}))


# ---------------------------------------------------------------------------- providers: writing

def to_aws(rules):
    """Neutral rules as amazon.aws.ec2_security_group rules / rules_egress entries."""
    result = []
    for rule in rules:
        entry = {'proto': 'all' if rule['protocol'] == 'any' else rule['protocol']}
        if rule['protocol'] != 'any':
            entry['from_port'] = rule['port_min'] if rule['port_min'] is not None else 0
            entry['to_port'] = rule['port_max'] if rule['port_max'] is not None else 65535
        source = rule['source']
        if source.startswith('sg:'):
            entry['group_id'] = source[3:]
        elif source.startswith('pl:'):
            entry['ip_prefix'] = source[3:]
        elif rule['family'] == 6:
            entry['cidr_ipv6'] = source
        else:
            entry['cidr_ip'] = source
        if rule['description']:
            entry['rule_desc'] = rule['description']
        result.append(entry)
    return result


def to_openstack(rule):
    """One neutral rule as an entry of openstack.cloud.security_group's security_group_rules."""
    if rule.get('native'):
        return dict(rule['native'])
    entry = {'direction': rule['direction'], 'ether_type': 'IPv6' if rule['family'] == 6 else 'IPv4',
             'protocol': rule['protocol'], 'description': rule['description'] or None,
             'port_range_min': rule['port_min'] if rule['protocol'] != 'any' else None,
             'port_range_max': rule['port_max'] if rule['protocol'] != 'any' else None,
             'remote_ip_prefix': None, 'remote_group': None}
    if rule['source'].startswith('sg:'):
        entry['remote_group'] = rule['source'][3:]
    else:
        entry['remote_ip_prefix'] = rule['source']
    return entry


# ---------------------------------------------------------------------------- the plan

def plan(wanted, current, group_owned, manage_egress):
    """What to add and remove so that the group holds the wanted rules.

    A current rule that is not wanted is removed when the collection owns it (its description) or
    the group (then hand-added rules go too); egress is left alone unless manage_egress. Returns
    {"add", "remove", "keep", "desired", "changed", "lines"}: desired is the group's full rule set
    afterwards (for providers that take the whole list), lines the readable diff ("+ ..." / "- ...").
    """
    wanted_keys = set(rule_key(rule) for rule in wanted)
    current_keys = set(rule_key(rule) for rule in current)
    add = [rule for rule in wanted if rule_key(rule) not in current_keys]
    remove, keep = [], []
    for rule in current:
        if rule_key(rule) in wanted_keys:
            keep.append(rule)
        elif rule['direction'] == 'egress' and not manage_egress:
            keep.append(rule)
        elif group_owned or is_owned(rule):
            remove.append(rule)
        else:
            keep.append(rule)
    lines = ['- %s' % rule_text(rule) for rule in remove] + ['+ %s' % rule_text(rule) for rule in add]
    return {'add': add, 'remove': remove, 'keep': keep, 'desired': sorted(keep + add, key=rule_key),
            'changed': bool(add or remove), 'lines': lines}


def world_open_sources(rules, ports):
    """Ingress rules that admit everyone (0.0.0.0/0, ::/0) to one of the ports."""
    return [rule for rule in rules if rule['direction'] == 'ingress' and covers_everything(rule['source'])
            and any(_covers_port(rule, port) for port in ports)]


def _covers_port(rule, port):
    if rule['protocol'] not in ('tcp', 'any'):
        return False
    low = rule['port_min'] if rule['port_min'] is not None else 1
    high = rule['port_max'] if rule['port_max'] is not None else 65535
    return low <= port <= high


def inside_policy(rule, sources):
    return any(network_contains(source, rule['source']) for source in sources)


def check_inputs(provider, group_name, network, clients, ports, egress, manage_egress):
    """Everything the role needs before its first API call, or CloudRulesError naming the variable.

    Returns the wanted rules.
    """
    if provider not in PROVIDERS:
        _fail('pgsec_cloud_provider', provider, 'is not one of %s' % ', '.join(PROVIDERS))
    if not isinstance(group_name, str) or not group_name.strip():
        _fail('pgsec_cloud_security_group', group_name, 'is missing: name the dedicated group this collection owns')
    if provider == 'aws' and (not isinstance(network, str) or not network.startswith('vpc-')):
        _fail('pgsec_cloud_vpc_id', network, 'is not a VPC id (vpc-...): the group is made in that VPC')
    return wanted_rules(clients, ports, egress, manage_egress)
