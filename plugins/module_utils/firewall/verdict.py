# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What happens to a new TCP connection to port N: the evaluator over parse's normalised rules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import (
    ANY_IPV4,
    ANY_IPV6,
    format_network,
    is_loopback,
    parse_network,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.parse import (
    _MAX_JUMP_DEPTH,
    FINAL_VERDICTS,
    FIREWALLD_SERVICE_PORTS,
    FIREWALLD_TABLE,
    _nft_table_key,
    _port_in,
    _port_ranges,
    detect_backend,
    iptables_chains,
    is_iptables_nft_table,
    nft_chains,
)

# ---------------------------------------------------------------------------- evaluation


def _match(rule, family, port, protocol, atom):
    """'yes', 'no' or 'maybe' (depends on unevaluable conditions) for a new connection from atom."""
    if family not in rule['families']:
        return 'no'
    if rule['protocol'] is not None and rule['protocol'] != protocol:
        return 'no'
    if rule['dports'] is not None and _port_in(rule['dports'], port) == rule['dports_negated']:
        return 'no'
    if rule['ct_states'] is not None and ('new' in rule['ct_states']) == rule['ct_states_negated']:
        return 'no'
    if rule['sources'] is not None:
        inside = atom is not None and any(_atom_in(atom, cidr) for cidr in rule['sources'])
        if inside == rule['sources_negated']:
            return 'no'
    maybe = bool(rule['conditions'])
    for key in ('interfaces', 'destinations'):
        if rule[key] is None:
            continue
        loopback = all(item == 'lo' for item in rule[key]) if key == 'interfaces' \
            else all(is_loopback(item) for item in rule[key])
        if loopback and not rule[key + '_negated']:
            return 'no'  # only local traffic
        if not (loopback and rule[key + '_negated']):
            maybe = True
    return 'maybe' if maybe else 'yes'


def _atom_in(atom, cidr):
    network = parse_network(cidr)
    return network is not None and network.version == atom.version and atom.subnet_of(network)


def _walk(chains, key, family, port, protocol, atom, conditional, depth):
    """Verdict of one chain: accept/drop/reject, 'return', or None when it falls off the end."""
    chain = chains.get(key)
    if chain is None or depth > _MAX_JUMP_DEPTH:
        return None
    for rule in chain['rules']:
        verdict = rule['verdict']
        if verdict is None:
            continue
        outcome = _match(rule, family, port, protocol, atom)
        if outcome == 'no':
            continue
        if outcome == 'maybe' or verdict not in FINAL_VERDICTS + ('return', 'jump', 'goto'):
            if rule not in conditional:
                conditional.append(rule)
            continue
        if verdict in FINAL_VERDICTS or verdict == 'return':
            return verdict
        result = _walk(chains, '%s %s' % (chain['table'], rule['target']), family, port, protocol, atom,
                       conditional, depth + 1)
        if result in FINAL_VERDICTS:
            return result
        if verdict == 'goto':
            return 'return'
    return None


def _base_chains(chains):
    return sorted((key for key, chain in chains.items()
                   if chain['hook'] == 'input' and chain.get('type') in (None, 'filter')),
                  key=lambda key: (chains[key]['priority'] or 0, key))


def _chains_verdict(chains, family, port, protocol, atom, conditional):
    """Combined verdict of every input base chain (all must accept)."""
    for key in _base_chains(chains):
        chain = chains[key]
        if family not in chain['families']:
            continue
        result = _walk(chains, key, family, port, protocol, atom, conditional, 0)
        if result not in FINAL_VERDICTS:
            result = chain['policy'] or 'accept'
        if result != 'accept':
            return result, key
    return 'accept', None


def _firewalld_action(zone, family, port, protocol, atom, service_ports, conditional):
    """Verdict of one firewalld zone for a new connection.

    Order as in firewalld's zone chains: rich rules with negative priority, then priority 0
    (deny before allow) together with ports/services, then positive priorities, then the target.
    """
    ordered = sorted(zone['rich_rules'], key=lambda rich: (rich['priority'],
                                                           0 if rich['action'] in ('drop', 'reject') else 1))
    early = [rich for rich in ordered if rich['priority'] <= 0]
    late = [rich for rich in ordered if rich['priority'] > 0]
    verdict = _rich_verdict(zone, early, family, port, protocol, atom, service_ports, conditional)
    if verdict:
        return verdict
    if any(isinstance(entry[0], list) and _port_in([entry[0]], port) and entry[1] == protocol
           for entry in zone['ports']):
        return 'accept'
    if any(_service_has(service_ports, service, port, protocol) for service in zone['services']):
        return 'accept'
    verdict = _rich_verdict(zone, late, family, port, protocol, atom, service_ports, conditional)
    if verdict:
        return verdict
    return {'ACCEPT': 'accept', 'DROP': 'drop'}.get(zone['target'].upper(), 'reject')


def _rich_verdict(zone, rich_rules, family, port, protocol, atom, service_ports, conditional):
    """First final action among rich rules matching the connection, or None."""
    for rich in rich_rules:
        if rich['action'] not in FINAL_VERDICTS or (rich['family'] and rich['family'] != family):
            continue
        if rich['port'] is not None:
            ranges = _port_ranges([rich['port'][0]]) or []
            if not _port_in(ranges, port) or (rich['port'][1] or protocol) != protocol:
                continue
        elif rich['service'] is not None and not _service_has(service_ports, rich['service'], port, protocol):
            continue
        if rich['source']:
            network = parse_network(rich['source'])
            if network is None or network.version != family:
                continue
            inside = atom is not None and _atom_in(atom, format_network(network))
            if inside == rich['source_invert']:
                continue
        if rich['conditions'] or rich['destination']:
            entry = {'zone': zone['name'], 'text': rich['text']}
            if entry not in conditional:
                conditional.append(entry)
            continue
        return rich['action']
    return None


def _service_has(service_ports, service, port, protocol):
    return any(int(entry[0]) == port and entry[1] == protocol for entry in service_ports.get(service, []))


def _firewalld_verdict(firewalld, family, port, protocol, atom, service_ports, conditional):
    zones = firewalld['zones']
    for zone in zones.values():
        for source in zone['sources']:
            network = parse_network(source)
            if network is not None and atom is not None and _atom_in(atom, format_network(network)):
                return _firewalld_action(zone, family, port, protocol, atom, service_ports, conditional), zone['name']
    default = zones.get(firewalld['default_zone'] or '') or zones.get('public')
    for zone in zones.values():
        if zone['interfaces'] and zone is not default:
            verdict = _firewalld_action(zone, family, port, protocol, atom, service_ports, [])
            entry = {'zone': zone['name'], 'text': 'interfaces %s: %s' % (' '.join(zone['interfaces']), verdict)}
            if entry not in conditional:
                conditional.append(entry)
    if default is None:
        return 'accept', None
    return _firewalld_action(default, family, port, protocol, atom, service_ports, conditional), default['name']


def _mentioned_networks(chains, firewalld, family):
    networks = set()
    for chain in chains.values():
        if chain['hook'] not in (None, 'input'):
            continue
        for rule in chain['rules']:
            for cidr in rule['sources'] or []:
                networks.add(cidr)
    if firewalld:
        for zone in firewalld['zones'].values():
            networks.update(zone['sources'])
            networks.update(rich['source'] for rich in zone['rich_rules'] if rich['source'])
    parsed = (parse_network(cidr) for cidr in networks)
    return sorted((network for network in parsed if network is not None and network.version == family),
                  key=lambda network: (network.prefixlen, network.network_address))


def _conditional_entry(item):
    if 'zone' in item:
        return {'table': 'firewalld', 'chain': item['zone'], 'text': item['text']}
    return {'table': item['table'], 'chain': item['chain'], 'text': item['text'], 'verdict': item['verdict']}


def summarize_port(port, nft=None, iptables=(), firewalld=None, protocol='tcp', service_ports=None):
    """What happens to a new ``protocol`` connection to ``port`` arriving from another host.

    nft: parse_nft_json result; iptables: parse_iptables_save results; firewalld:
    parse_firewalld_zones result. When iptables-save output of the nft variant is given
    for a family, that family's iptables-nft tables are evaluated from it instead of
    from the nft JSON (which hides REJECT and most matches behind "xt" expressions);
    when firewalld zones are given, firewalld's own nft tables are skipped and the zones
    are evaluated instead. Returns {"port", "protocol", "backend" (detect_backend),
    "filtered", "default", "allowed_sources", "denied_sources", "ipv4": {...}, "ipv6": {...},
    "policies": [input chains], "rules": [rules matching the port], "conditional": [...]},
    where each family entry has default, filtered, allowed_sources, denied_sources.
    "default" is the verdict for a source no rule names; "filtered" is true when that
    verdict is not accept (overall: in both families). "allowed_sources" are the networks
    that can connect (0.0.0.0/0 or ::/0 when the default is accept), "denied_sources" the
    networks refused although they lie inside an allowed one. "conditional" lists rules
    that could change the outcome but depend on things not evaluated here.
    """
    service_ports = dict(FIREWALLD_SERVICE_PORTS, **(service_ports or {}))
    backend = detect_backend(nft, iptables, firewalld=firewalld)
    chains = {}
    if nft:
        skip = set()
        saved = ['ip6' if parsed['family'] == 6 else 'ip' for parsed in iptables or () if parsed['variant'] == 'nft']
        skip.update(key for key in _nft_table_keys(nft)
                    if key.split(' ', 1)[0] in saved and is_iptables_nft_table(nft, *key.split(' ', 1)))
        if firewalld is not None:
            skip.update(key for key in _nft_table_keys(nft) if key.endswith(' ' + FIREWALLD_TABLE))
        chains.update(nft_chains(nft, port, skip))
    for parsed in iptables or ():
        for key, chain in iptables_chains(parsed).items():
            chains['%s %s' % (chain['backend'], key)] = dict(chain, table='%s %s' % (chain['backend'], chain['table']))
    summary = {'port': port, 'protocol': protocol, 'backend': backend, 'policies': [], 'rules': [],
               'conditional': []}
    for key in _base_chains(chains):
        chain = chains[key]
        summary['policies'].append({'table': chain['table'], 'chain': chain['name'], 'backend': chain['backend'],
                                    'families': chain['families'], 'policy': chain['policy'],
                                    'priority': chain['priority']})
    for chain in chains.values():
        for rule in chain['rules']:
            if rule['dports'] is not None and _port_in(rule['dports'], port) != rule['dports_negated'] \
                    and rule['protocol'] in (None, protocol):
                summary['rules'].append({'table': chain['table'], 'chain': chain['name'], 'handle': rule['handle'],
                                         'text': rule['text'], 'families': rule['families'],
                                         'sources': rule['sources'], 'sources_negated': rule['sources_negated'],
                                         'verdict': rule['verdict'], 'target': rule['target'],
                                         'conditions': rule['conditions'], 'comment': rule['comment']})
    conditional = []
    for family, any_network in ((4, ANY_IPV4), (6, ANY_IPV6)):
        atoms = _mentioned_networks(chains, firewalld, family)
        results = []
        for atom in atoms + [None]:
            verdict, _where = _chains_verdict(chains, family, port, protocol, atom, conditional)
            if firewalld is not None and verdict == 'accept':
                verdict, _zone = _firewalld_verdict(firewalld, family, port, protocol, atom, service_ports,
                                                    conditional)
            results.append((atom, verdict))
        default = results[-1][1]
        accepted = [atom for atom, verdict in results[:-1] if verdict == 'accept']
        allowed = [any_network] if default == 'accept' else [format_network(atom) for atom in accepted]
        # exceptions: refused networks lying inside something that is allowed
        denied = [format_network(atom) for atom, verdict in results[:-1]
                  if verdict != 'accept' and (default == 'accept' or any(atom.subnet_of(other) for other in accepted))]
        summary['ipv%d' % family] = {'default': default, 'filtered': default != 'accept',
                                     'allowed_sources': _collapse(allowed), 'denied_sources': denied}
    for item in conditional:
        entry = _conditional_entry(item)
        if entry not in summary['conditional']:
            summary['conditional'].append(entry)
    families = (summary['ipv4'], summary['ipv6'])
    summary['filtered'] = all(entry['filtered'] for entry in families)
    open_family = [entry for entry in families if entry['default'] == 'accept']
    summary['default'] = 'accept' if open_family else summary['ipv4']['default']
    summary['allowed_sources'] = summary['ipv4']['allowed_sources'] + summary['ipv6']['allowed_sources']
    summary['denied_sources'] = summary['ipv4']['denied_sources'] + summary['ipv6']['denied_sources']
    return summary


def _nft_table_keys(nft):
    return [_nft_table_key(table.get('family'), table.get('name')) for table in nft['tables']]


def _collapse(cidrs):
    """Drop networks contained in another listed network."""
    networks = [parse_network(cidr) for cidr in cidrs]
    kept = []
    for network in networks:
        if not any(other != network and other.version == network.version and network.subnet_of(other)
                   for other in networks):
            kept.append(format_network(network))
    return kept
