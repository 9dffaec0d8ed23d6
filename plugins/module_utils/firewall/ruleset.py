# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning the PostgreSQL-port host firewall for nftables and iptables (pure: no host access).

What pgsec owns, and nothing else:

* nftables: the table ``inet pgsec``. It is replaced in one transaction by a file that starts
  with ``table inet pgsec {}`` (creates it when missing) and ``delete table inet pgsec``, then
  defines it in full, so ``nft -f`` gives the same result whether or not the table exists.
* iptables (nft or legacy variant, IPv4 and IPv6): the chains ``PGSEC-INPUT`` and
  ``PGSEC-OUTPUT`` of table filter, and the rules of INPUT/OUTPUT that jump to them.

Semantics that matter:

* Only packets to the PostgreSQL ports (and, for egress, packets of the server's user) are
  looked at; everything else passes our chains untouched (no ``policy drop``).
* Loopback traffic to the ports is always accepted: local access is pg_hba's business and a
  firewall that cut the host off from its own server would break local tools.
* nftables evaluates every base chain on a hook: an ``accept`` in ``inet pgsec`` ends only our
  table's verdict, and a ``drop`` in another table (``inet filter`` with ``policy drop``,
  iptables-nft, firewalld) still drops the packet. Our table can narrow access, never widen
  it; ``refused_sources`` reports clients that other tables still refuse.
* iptables: ACCEPT in PGSEC-INPUT is final for table filter (rules later in INPUT are not
  consulted for the port), but other tables and nftables tables still apply.

Idempotence: the live state is read back from ``nft -j list ruleset`` (via firewall.parse_nft_json)
and ``iptables-save`` (via firewall.parse_iptables_save) and turned into a canonical text that is
compared with the canonical text of the wanted state. nftables' own text output is not compared:
it differs between versions (1.0.6 prints ``limit rate 5/minute``, 1.1.3 adds ``burst 5 packets``,
the order of sets and chains changes), while the JSON expressions of the rules we write are the
same in both (recorded fixtures of both are in the unit tests). iptables rules are written in the
exact form ``iptables-save`` prints them (same for 1.8.9/1.8.11, nft and legacy), so saved lines
compare as text.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import difflib
import functools
import ipaddress
import json
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import (
    format_ip,
    format_network,
    normalize_cidr,
    parse_network,
    range_to_cidrs,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import as_bool, as_list, fail
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.parse import (
    parse_iptables_save,
    parse_nft_json,
)

ACTIONS = ('drop', 'reject')
EGRESS_PROTOCOLS = ('tcp', 'udp')
STATES = ('present', 'absent')

NFT_FAMILY = 'inet'
NFT_TABLE = 'pgsec'
NFT_INPUT_CHAIN = 'input'
NFT_OUTPUT_CHAIN = 'output'
NFT_EGRESS_CHAIN = 'egress'
NFT_SET_V4 = 'clients_v4'
NFT_SET_V6 = 'clients_v6'
# Priority of our base chains (filter - 10). The usual input chains (Debian's ``inet filter``,
# iptables-nft and iptables-legacy filter INPUT) run at priority 0 (filter), firewalld at
# filter + 10, so ours runs first: refused clients are logged and dropped here whatever the other
# tables would do, before they spend work on the packet. It stays after conntrack (-200),
# mangle (-150) and raw (-300), so ``ct state`` is known. The order does not let anyone bypass
# anything: every base chain on the hook must accept a packet.
NFT_PRIORITY = -10
NFT_REPLACE_PREFIX = 'table %s %s {}\ndelete table %s %s\n' % (NFT_FAMILY, NFT_TABLE, NFT_FAMILY, NFT_TABLE)

IPT_INPUT_CHAIN = 'PGSEC-INPUT'
IPT_OUTPUT_CHAIN = 'PGSEC-OUTPUT'
IPT_OWNED_CHAINS = (IPT_INPUT_CHAIN, IPT_OUTPUT_CHAIN)
IPT_JUMP_COMMENT = 'pgsec-hardening'
IPT_MAX_MULTIPORT = 15

LOG_PREFIX = 'pgsec-refused: '
EGRESS_LOG_PREFIX = 'pgsec-egress-refused: '
LOG_RATE = 5  # per minute

STATE_DIR = '/var/lib/pgsec-hardening'
CONFIG_DIR = '/etc/pgsec-hardening'
NFT_PERSIST_FILE = '/etc/nftables.d/pgsec.nft'
NFTABLES_CONF = '/etc/nftables.conf'
# "[n]" turns the path into a glob pattern: nft skips a pattern that matches nothing, so a
# missing pgsec.nft can never stop /etc/nftables.conf (and the rest of the firewall) from loading.
NFT_INCLUDE_LINE = 'include "/etc/nftables.d/pgsec.[n]ft"'
NFT_INCLUDE_COMMENT = '# pgsec.hardening: PostgreSQL port firewall (table inet pgsec); "[n]" makes a missing file harmless'
IPT_RULES_FILES = {4: CONFIG_DIR + '/iptables.rules', 6: CONFIG_DIR + '/ip6tables.rules'}
IPT_LOADER = CONFIG_DIR + '/firewall-load.sh'
IPT_UNIT_NAME = 'pgsec-firewall.service'
IPT_UNIT_FILE = '/etc/systemd/system/' + IPT_UNIT_NAME

_FAMILY_NAMES = {4: 'ipv4', 6: 'ipv6'}
_IPT_TOOLS = {4: 'iptables', 6: 'ip6tables'}


class FirewallPlanError(Exception):
    """The firewall spec or the host situation does not allow a plan; the message names the field and value."""


_fail = functools.partial(fail, FirewallPlanError)


# ---------------------------------------------------------------------------- spec

def _port(field, value):
    if isinstance(value, bool):
        _fail(field, value, 'is not a port number')
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or not 1 <= number <= 65535:
        _fail(field, value, 'is not a port number between 1 and 65535')
    return number


def _collapse(cidrs):
    """Canonical CIDRs of one family with contained and adjacent networks merged, sorted."""
    networks = [ipaddress.ip_network(cidr) for cidr in cidrs]
    return [format_network(network) for network in sorted(ipaddress.collapse_addresses(networks))]


_as_list = functools.partial(as_list, FirewallPlanError)
_bool = functools.partial(as_bool, FirewallPlanError)


def normalize_egress(value):
    """pgsec_firewall_egress validated: [{family, host, protocol, port}], sorted, without duplicates.

    The host firewall and the cloud firewall (cloud/rules.py) read the allowlist the same way.
    """
    egress = []
    for index, entry in enumerate(_as_list('egress', value)):
        where = 'pgsec_firewall_egress[%d]' % index
        if not isinstance(entry, dict):
            _fail(where, entry, 'is not a dict with host and port')
        extra = sorted(set(entry) - {'host', 'port', 'protocol', 'family'})
        if extra:
            _fail(where, entry, 'has unknown keys: %s' % ', '.join(extra))
        if entry.get('host') in (None, ''):
            _fail(where + '.host', entry.get('host'), 'is missing: name the address or network the server may reach')
        network = parse_network(entry['host']) if isinstance(entry['host'], str) else None
        if network is None:
            _fail(where + '.host', entry['host'], 'is not an IP address or network in CIDR notation')
        if entry.get('port') in (None, ''):
            _fail(where + '.port', entry.get('port'), 'is missing: name the port the server may reach')
        protocol = str(entry.get('protocol') or 'tcp').strip().lower()
        if protocol not in EGRESS_PROTOCOLS:
            _fail(where + '.protocol', entry.get('protocol'), 'is not one of %s' % ', '.join(EGRESS_PROTOCOLS))
        item = {'family': network.version, 'host': format_network(network), 'protocol': protocol,
                'port': _port(where + '.port', entry['port'])}
        if item not in egress:
            egress.append(item)
    return sorted(egress, key=lambda item: (item['family'], ipaddress.ip_network(item['host']),
                                            item['protocol'], item['port']))


def normalize_spec(spec):
    """The validated, canonical form of a firewall spec; raises FirewallPlanError naming the field.

    spec keys: ports (ints), sources (CIDR strings of both families), action (drop|reject),
    log (bool), egress ([{host, port, protocol (tcp|udp, default tcp)}]), server_uid (int, needed
    with egress), allow_none (bool), state (present|absent), backend (nftables|iptables, optional).
    Returns {state, backend, ports, sources_v4, sources_v6, action, log, egress: [{family, host,
    protocol, port}], server_uid, allow_none}. Sources are collapsed (nft interval sets refuse
    overlapping elements) and sorted; egress entries are sorted and de-duplicated. The result is
    accepted as input too (sources_v4/sources_v6 count as sources), so normalising is idempotent.
    """
    spec = dict(spec or {})
    unknown = sorted(set(spec) - {'ports', 'sources', 'sources_v4', 'sources_v6', 'action', 'log', 'egress',
                                  'server_uid', 'allow_none', 'state', 'backend'})
    if unknown:
        _fail('spec', unknown, 'has unknown keys')
    state = spec.get('state') or 'present'
    if state not in STATES:
        _fail('state', state, 'is not one of %s' % ', '.join(STATES))
    backend = spec.get('backend')
    if backend is not None and backend not in ('nftables', 'iptables'):
        _fail('backend', backend, 'is not one of nftables, iptables')
    result = {'state': state, 'backend': backend, 'ports': [], 'sources_v4': [], 'sources_v6': [],
              'action': 'drop', 'log': False, 'egress': [], 'server_uid': None, 'allow_none': False}
    if state == 'absent':
        return result

    ports = _as_list('ports', spec.get('ports', [5432]))
    if not ports:
        _fail('ports', ports, 'is empty: name at least one PostgreSQL port')
    result['ports'] = sorted(set(_port('ports[%d]' % index, value) for index, value in enumerate(ports)))

    sources = {4: [], 6: []}
    for field in ('sources', 'sources_v4', 'sources_v6'):
        for index, source in enumerate(_as_list(field, spec.get(field))):
            network = parse_network(source) if isinstance(source, str) else None
            if network is None:
                _fail('%s[%d]' % (field, index), source, 'is not an IP address or network in CIDR notation')
            sources[network.version].append(format_network(network))
    result['sources_v4'], result['sources_v6'] = _collapse(sources[4]), _collapse(sources[6])
    result['allow_none'] = _bool('allow_none', spec.get('allow_none', False))
    if not sources[4] and not sources[6] and not result['allow_none']:
        _fail('sources', spec.get('sources'), 'lists no client sources: the port would be closed to everyone '
              '(set allow_none to close it on purpose)')

    action = str(spec.get('action') or 'drop').strip().lower()
    if action not in ACTIONS:
        _fail('action', spec.get('action'), 'is not one of %s' % ', '.join(ACTIONS))
    result['action'] = action
    result['log'] = _bool('log', spec.get('log', False))

    egress = result['egress'] = normalize_egress(spec.get('egress'))
    if egress:
        uid = spec.get('server_uid')
        if isinstance(uid, bool) or not isinstance(uid, int) or uid < 0:
            _fail('server_uid', uid, 'is not a user id (needed to restrict the server user\'s egress)')
        result['server_uid'] = uid
    return result


def _host_text(cidr):
    """An address without /32 or /128, a network as CIDR (the way nft prints them)."""
    network = ipaddress.ip_network(cidr)
    return format_ip(network.network_address) if network.prefixlen == network.max_prefixlen else cidr


# ---------------------------------------------------------------------------- nftables: wanted state

def _nft_ports(ports):
    return str(ports[0]) if len(ports) == 1 else '{ %s }' % ', '.join(str(port) for port in ports)


def nft_model(spec):
    """The canonical model of table inet pgsec for a normalised spec; None when state is absent.

    {"sets": [{name, type, flags, elements}], "chains": [{name, type, hook, priority, policy, rules}]},
    rules as nft statements (the same text nft_live_model produces from ``nft -j`` output).
    """
    if spec['state'] == 'absent':
        return None
    ports = _nft_ports(spec['ports'])
    refuse = 'counter drop' if spec['action'] == 'drop' else 'counter reject with tcp reset'
    rules = ['iif "lo" tcp dport %s accept' % ports,
             'ip saddr @%s tcp dport %s accept' % (NFT_SET_V4, ports),
             'ip6 saddr @%s tcp dport %s accept' % (NFT_SET_V6, ports)]
    if spec['log']:
        rules.append('tcp dport %s limit rate %d/minute log prefix "%s"' % (ports, LOG_RATE, LOG_PREFIX))
    rules.append('tcp dport %s %s' % (ports, refuse))
    model = {'sets': [{'name': NFT_SET_V4, 'type': 'ipv4_addr', 'flags': ['interval'],
                       'elements': [_host_text(cidr) for cidr in spec['sources_v4']]},
                      {'name': NFT_SET_V6, 'type': 'ipv6_addr', 'flags': ['interval'],
                       'elements': [_host_text(cidr) for cidr in spec['sources_v6']]}],
             'chains': [_nft_base_chain(NFT_INPUT_CHAIN, 'input', rules)]}
    if spec['egress']:
        egress = ['ct state established,related accept', 'oif "lo" accept']
        for item in spec['egress']:
            egress.append('%s daddr %s %s dport %d accept' % ('ip' if item['family'] == 4 else 'ip6',
                                                              _host_text(item['host']), item['protocol'],
                                                              item['port']))
        egress.append('limit rate %d/minute log prefix "%s"' % (LOG_RATE, EGRESS_LOG_PREFIX))
        egress.append('counter reject with icmpx admin-prohibited')
        model['chains'].append(_nft_base_chain(NFT_OUTPUT_CHAIN, 'output',
                                               ['meta skuid %d jump %s' % (spec['server_uid'], NFT_EGRESS_CHAIN)]))
        model['chains'].append({'name': NFT_EGRESS_CHAIN, 'type': None, 'hook': None, 'priority': None,
                                'policy': None, 'rules': egress})
    model['chains'].sort(key=lambda chain: chain['name'])
    return model


def _nft_base_chain(name, hook, rules):
    return {'name': name, 'type': 'filter', 'hook': hook, 'priority': NFT_PRIORITY, 'policy': 'accept',
            'rules': rules}


def nft_model_text(model):
    """nft syntax of a model ('' for None); also the canonical text that plans compare."""
    if model is None:
        return ''
    lines = ['table %s %s {' % (NFT_FAMILY, NFT_TABLE)]
    for item in model['sets']:
        lines.append('\tset %s {' % item['name'])
        lines.append('\t\ttype %s' % item['type'])
        if item['flags']:
            lines.append('\t\tflags %s' % ', '.join(item['flags']))
        if item['elements']:
            lines.append('\t\telements = { %s }' % ', '.join(item['elements']))
        lines.append('\t}')
    for chain in model['chains']:
        lines.append('\tchain %s {' % chain['name'])
        if chain['hook']:
            lines.append('\t\ttype %s hook %s priority %s; policy %s;'
                         % (chain['type'], chain['hook'], chain['priority'], chain['policy']))
        lines.extend('\t\t' + rule for rule in chain['rules'])
        lines.append('\t}')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def render_nftables(spec):
    """Text for ``nft -f``: replaces table inet pgsec atomically (or removes it for state absent)."""
    spec = normalize_spec(spec)
    header = ['# Managed by pgsec.hardening (postgresql_access_firewall); local changes are overwritten.',
              '# Replaces table %s %s in one transaction: the empty definition creates it when it is'
              % (NFT_FAMILY, NFT_TABLE),
              '# missing, so the delete that follows always succeeds.']
    if spec['state'] == 'present':
        header.append('# Only tcp port(s) %s are filtered here; other traffic is not touched.'
                      % ', '.join(str(port) for port in spec['ports']))
    return '\n'.join(header) + '\n' + NFT_REPLACE_PREFIX + nft_model_text(nft_model(spec))


def nft_rollback_text(listed_table):
    """nft -f text that puts table inet pgsec back as ``nft list table inet pgsec`` printed it ('' = absent)."""
    return NFT_REPLACE_PREFIX + (listed_table or '')


# ---------------------------------------------------------------------------- nftables: live state

_IFACE_KEYS = ('iif', 'oif', 'iifname', 'oifname')


def _nft_left(left):
    if isinstance(left, dict) and len(left) == 1:
        kind, body = list(left.items())[0]
        if kind == 'payload' and isinstance(body, dict) and 'field' in body:
            return '%s %s' % (body.get('protocol'), body['field'])
        if kind == 'meta' and isinstance(body, dict):
            return body.get('key') if body.get('key') in _IFACE_KEYS else 'meta %s' % body.get('key')
        if kind == 'ct' and isinstance(body, dict) and set(body) == {'key'}:
            return 'ct %s' % body['key']
    return json.dumps(left, sort_keys=True)


def _nft_right(right, quote=False):
    if isinstance(right, bool) or right is None:
        return json.dumps(right)
    if isinstance(right, int):
        return str(right)
    if isinstance(right, str):
        return '"%s"' % right if quote else right
    if isinstance(right, list):
        return ','.join(_nft_right(item, quote) for item in right)
    if isinstance(right, dict) and len(right) == 1:
        kind, body = list(right.items())[0]
        if kind == 'set':
            items = body if isinstance(body, list) else [body]
            return '{ %s }' % ', '.join(_nft_right(item, quote) for item in items)
        if kind == 'prefix' and isinstance(body, dict):
            return '%s/%s' % (body.get('addr'), body.get('len'))
        if kind == 'range' and isinstance(body, list) and len(body) == 2:
            return '%s-%s' % (_nft_right(body[0]), _nft_right(body[1]))
    return json.dumps(right, sort_keys=True)


def _nft_statement(expression):
    """nft text of one rule expression (as we write them); anything else as sorted JSON, so it never matches."""
    if not isinstance(expression, dict) or len(expression) != 1:
        return json.dumps(expression, sort_keys=True)
    kind, body = list(expression.items())[0]
    if kind == 'match' and isinstance(body, dict):
        left = body.get('left')
        quote = isinstance(left, dict) and (left.get('meta') or {}).get('key') in _IFACE_KEYS
        op = body.get('op', '==')
        op_text = '' if op in ('==', 'in') else op + ' '
        return '%s %s%s' % (_nft_left(left), op_text, _nft_right(body.get('right'), quote))
    if kind in ('accept', 'drop', 'return', 'continue') and body is None:
        return kind
    if kind in ('jump', 'goto') and isinstance(body, dict) and set(body) == {'target'}:
        return '%s %s' % (kind, body['target'])
    if kind == 'counter':
        return 'counter'  # packet and byte counts change all the time
    if kind == 'limit' and isinstance(body, dict) and not body.get('inv') and body.get('burst', 5) == 5 \
            and set(body) <= {'rate', 'per', 'burst'}:
        return 'limit rate %s/%s' % (body.get('rate'), body.get('per'))
    if kind == 'log' and isinstance(body, dict) and set(body) == {'prefix'}:
        return 'log prefix "%s"' % body['prefix']
    if kind == 'reject':
        if body is None:
            return 'reject'
        if isinstance(body, dict) and body.get('type') == 'tcp reset' and set(body) == {'type'}:
            return 'reject with tcp reset'
        if isinstance(body, dict) and set(body) == {'type', 'expr'}:
            return 'reject with %s %s' % (body['type'], body['expr'])
    return json.dumps(expression, sort_keys=True)


def _nft_elements(elements):
    """Canonical element texts of an address set (merged like the wanted side); None if not addresses."""
    cidrs = {4: [], 6: []}
    for element in elements if isinstance(elements, list) else [elements]:
        if isinstance(element, dict) and 'elem' in element:
            element = element['elem'].get('val')
        if isinstance(element, dict) and 'prefix' in element:
            found = [normalize_cidr('%s/%s' % (element['prefix'].get('addr'), element['prefix'].get('len')))]
        elif isinstance(element, dict) and 'range' in element:
            found = range_to_cidrs(str(element['range'][0]), str(element['range'][1])) or [None]
        else:
            found = [normalize_cidr(str(element))]
        if None in found:
            return None
        for cidr in found:
            cidrs[ipaddress.ip_network(cidr).version].append(cidr)
    return [_host_text(cidr) for family in (4, 6) for cidr in _collapse(cidrs[family])]


def nft_live_model(parsed):
    """The model of table inet pgsec as the host has it, from a parse_nft_json result; None if it does not exist."""
    if isinstance(parsed, str):
        parsed = parse_nft_json(parsed)
    if not parsed or not any(table.get('family') == NFT_FAMILY and table.get('name') == NFT_TABLE
                             for table in parsed['tables']):
        return None

    def ours(body):
        return body.get('family') == NFT_FAMILY and body.get('table') == NFT_TABLE

    sets = []
    for body in parsed['sets'].values():
        if not ours(body):
            continue
        kind = body.get('type')
        elements = _nft_elements(body.get('elem', []))
        sets.append({'name': body.get('name'), 'type': ' . '.join(kind) if isinstance(kind, list) else kind,
                     'flags': sorted(body.get('flags') or []),
                     'elements': elements if elements is not None else [json.dumps(body.get('elem'), sort_keys=True)]})
    chains = []
    for body in parsed['chains']:
        if ours(body):
            chains.append({'name': body.get('name'), 'type': body.get('type'), 'hook': body.get('hook'),
                           'priority': body.get('prio'), 'policy': body.get('policy') if body.get('hook') else None,
                           'rules': []})
    by_name = {chain['name']: chain for chain in chains}
    for body in parsed['rules']:
        if ours(body) and body.get('chain') in by_name:
            by_name[body['chain']]['rules'].append(' '.join(_nft_statement(item) for item in body.get('expr', [])))
    return {'sets': sorted(sets, key=lambda item: item['name']), 'chains': sorted(chains, key=lambda item: item['name'])}


# ---------------------------------------------------------------------------- iptables

def _ipt_ports(spec):
    if len(spec['ports']) > IPT_MAX_MULTIPORT:
        _fail('ports', spec['ports'], 'has more than %d ports, the most iptables multiport can match' % IPT_MAX_MULTIPORT)
    return ','.join(str(port) for port in spec['ports'])


def iptables_model(spec, family):
    """Wanted state of one family: {"chains": {name: [saved rule lines]}, "jumps": [(chain, index, spec)]}.

    Lines are written exactly as ``iptables-save`` prints them (checked with iptables 1.8.9 and
    1.8.11, nft and legacy), so the saved text of the live rules compares equal.
    """
    model = {'chains': {}, 'jumps': []}
    if spec['state'] == 'absent':
        return model
    sources = spec['sources_v4'] if family == 4 else spec['sources_v6']
    rules = ['-A %s -i lo -j ACCEPT' % IPT_INPUT_CHAIN]
    rules.extend('-A %s -s %s -j ACCEPT' % (IPT_INPUT_CHAIN, cidr) for cidr in sources)
    if spec['log']:
        rules.append('-A %s -m limit --limit %d/min -j LOG --log-prefix "%s"' % (IPT_INPUT_CHAIN, LOG_RATE, LOG_PREFIX))
    if spec['action'] == 'drop':
        rules.append('-A %s -j DROP' % IPT_INPUT_CHAIN)
    else:
        rules.append('-A %s -p tcp -j REJECT --reject-with tcp-reset' % IPT_INPUT_CHAIN)
    model['chains'][IPT_INPUT_CHAIN] = rules
    model['jumps'].append(('INPUT', 1, '-p tcp -m multiport --dports %s -m comment --comment %s -j %s'
                           % (_ipt_ports(spec), IPT_JUMP_COMMENT, IPT_INPUT_CHAIN)))
    if spec['egress']:
        rules = ['-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT' % IPT_OUTPUT_CHAIN,
                 '-A %s -o lo -j ACCEPT' % IPT_OUTPUT_CHAIN]
        for item in spec['egress']:
            if item['family'] == family:
                rules.append('-A %s -d %s -p %s -m %s --dport %d -j ACCEPT' % (
                    IPT_OUTPUT_CHAIN, item['host'], item['protocol'], item['protocol'], item['port']))
        rules.append('-A %s -m limit --limit %d/min -j LOG --log-prefix "%s"'
                     % (IPT_OUTPUT_CHAIN, LOG_RATE, EGRESS_LOG_PREFIX))
        rules.append('-A %s -j REJECT --reject-with %s' % (
            IPT_OUTPUT_CHAIN, 'icmp-admin-prohibited' if family == 4 else 'icmp6-adm-prohibited'))
        model['chains'][IPT_OUTPUT_CHAIN] = rules
        model['jumps'].append(('OUTPUT', 1, '-m owner --uid-owner %d -m comment --comment %s -j %s'
                               % (spec['server_uid'], IPT_JUMP_COMMENT, IPT_OUTPUT_CHAIN)))
    return model


def iptables_live_model(parsed):
    """What pgsec owns in one ``iptables-save`` output (text or parse_iptables_save result).

    Our chains with their saved rule lines, and every rule of a built-in chain that jumps to
    one of them, with its 1-based position and its saved text after the chain name.
    """
    if isinstance(parsed, str):
        parsed = parse_iptables_save(parsed)
    model = {'chains': {}, 'jumps': []}
    chains = ((parsed or {}).get('tables') or {}).get('filter') or {}
    for name in IPT_OWNED_CHAINS:
        if name in chains:
            model['chains'][name] = [rule['text'] for rule in chains[name]['rules']]
    for name in ('INPUT', 'OUTPUT', 'FORWARD'):
        for index, rule in enumerate((chains.get(name) or {}).get('rules', []), 1):
            if rule['verdict'] in ('jump', 'goto') and rule['target'] in IPT_OWNED_CHAINS:
                prefix = '-A %s ' % name
                text = rule['text'][len(prefix):] if rule['text'].startswith(prefix) else rule['text']
                model['jumps'].append((name, index, text))
    return model


def iptables_transform(before, after):
    """iptables-restore --noflush text (table filter) that turns owned state ``before`` into ``after``.

    None when they are equal. Verified with iptables 1.8.9 and 1.8.11, nft and legacy: with
    --noflush, a ``:CHAIN - [0:0]`` line for an existing user chain flushes it (the restore then
    refills it), and a restore in which any line fails changes nothing. Jumps are kept idempotent
    here rather than with ``iptables -C`` before an insert: every existing jump to our chains is
    deleted by its exact saved text and the wanted ones are inserted, in the same restore as the
    chain contents, so the table changes in one commit, duplicates and stale port lists are
    cleaned up, and a jump that someone removed in the meantime fails the whole restore instead
    of deleting another rule (deleting by rule number could).
    """
    if before == after:
        return None
    lines = ['*filter']
    refill = [name for name in sorted(after['chains']) if before['chains'].get(name) != after['chains'][name]]
    removed = [name for name in sorted(before['chains']) if name not in after['chains']]
    lines.extend(':%s - [0:0]' % name for name in refill)
    jumps_change = before['jumps'] != after['jumps']
    if jumps_change:
        lines.extend('-D %s %s' % (chain, text) for chain, _index, text in before['jumps'])
    for name in removed:
        lines.extend(['-F %s' % name, '-X %s' % name])
    for name in refill:
        lines.extend(after['chains'][name])
    if jumps_change:
        lines.extend('-I %s %d %s' % (chain, index, text)
                     for chain, index, text in sorted(after['jumps'], key=lambda jump: (jump[0], jump[1])))
    lines.append('COMMIT')
    return '\n'.join(lines) + '\n'


def iptables_model_text(model, family):
    """Readable canonical text of one family's owned state ('' when nothing is owned)."""
    if not model['chains'] and not model['jumps']:
        return ''
    lines = ['# %s (%s), table filter' % (_FAMILY_NAMES[family], _IPT_TOOLS[family])]
    lines.extend(':%s - [0:0]' % name for name in sorted(model['chains']))
    lines.extend('-I %s %d %s' % jump for jump in model['jumps'])
    for name in sorted(model['chains']):
        lines.extend(model['chains'][name])
    return '\n'.join(lines) + '\n'


def render_iptables(spec, family, current=None):
    """Text for ``iptables-restore --noflush`` (family 4) or ``ip6tables-restore --noflush`` (6).

    current: this family's ``iptables-save`` output (text or parsed) to plan from; without it
    the text assumes nothing of ours exists (the boot-time file). Returns '' when nothing changes.
    """
    spec = normalize_spec(spec)
    if family not in (4, 6):
        _fail('family', family, 'is not 4 or 6')
    before = iptables_live_model(current) if current is not None else {'chains': {}, 'jumps': []}
    text = iptables_transform(before, iptables_model(spec, family))
    if not text:
        return ''
    header = '# Managed by pgsec.hardening (postgresql_access_firewall): chains %s, for %s-restore --noflush.\n' % (
        ', '.join(IPT_OWNED_CHAINS), _IPT_TOOLS[family])
    return header + text


# ---------------------------------------------------------------------------- plan

def plan(spec, current):
    """Compare the wanted firewall with what pgsec owns now.

    spec: as for normalize_spec, with backend nftables or iptables. current: for nftables
    {"nft": ``nft -j list ruleset`` (text or parse_nft_json result), "table_text": ``nft list
    table inet pgsec`` output, '' when missing (used for the rollback)}; for iptables
    {"ipv4": ``iptables-save`` output, "ipv6": ``ip6tables-save`` output} (text or
    parse_iptables_save result, None for a family the host cannot filter).
    Returns {backend, changed, before, after, diff (unified diff lines), apply, rollback,
    families}: apply and rollback map "nftables" or "ipv4"/"ipv6" to the text to load (only the
    parts that change); rollback undoes apply, touching only what pgsec owns.
    """
    spec = normalize_spec(spec)
    backend = spec['backend']
    current = current or {}
    result = {'backend': backend, 'apply': {}, 'rollback': {}, 'families': []}
    if backend == 'nftables':
        live = nft_live_model(current.get('nft'))
        before, after = nft_model_text(live), nft_model_text(nft_model(spec))
        if before != after:
            result['apply']['nftables'] = render_nftables(spec)
            listed = current.get('table_text')
            result['rollback']['nftables'] = nft_rollback_text(before if listed is None else listed)
        result['families'] = [4, 6]
    elif backend == 'iptables':
        before_parts, after_parts = [], []
        for family in (4, 6):
            saved = current.get(_FAMILY_NAMES[family])
            if saved is None:
                continue
            result['families'].append(family)
            live = iptables_live_model(saved)
            wanted = iptables_model(spec, family)
            before_parts.append(iptables_model_text(live, family))
            after_parts.append(iptables_model_text(wanted, family))
            forward = iptables_transform(live, wanted)
            if forward:
                result['apply'][_FAMILY_NAMES[family]] = forward
                result['rollback'][_FAMILY_NAMES[family]] = iptables_transform(wanted, live)
        before, after = ''.join(before_parts), ''.join(after_parts)
    else:
        raise FirewallPlanError('backend: %r is not one of nftables, iptables (run choose_backend first)' % (backend,))
    result['before'], result['after'] = before, after
    result['changed'] = bool(result['apply'])
    result['diff'] = list(difflib.unified_diff(before.splitlines(), after.splitlines(), 'before', 'after',
                                               lineterm=''))
    return result


# ---------------------------------------------------------------------------- effect and persistence

def refused_sources(spec, summaries):
    """Client networks of the spec that the whole firewall still refuses, from firewall.summarize_port results.

    summaries: {port: summary} read after applying. Our table can only narrow access, so a
    client refused here is refused by someone else's rules. Returns [{port, source, default}].
    """
    spec = normalize_spec(spec)
    refused = []
    for port in spec['ports']:
        summary = summaries.get(port) or summaries.get(str(port))
        if not summary:
            continue
        for family, sources in ((4, spec['sources_v4']), (6, spec['sources_v6'])):
            entry = summary.get('ipv%d' % family) or {}
            allowed = [parse_network(cidr) for cidr in entry.get('allowed_sources') or []]
            for source in sources:
                network = ipaddress.ip_network(source)
                if not any(other is not None and other.version == network.version and network.subnet_of(other)
                           for other in allowed):
                    refused.append({'port': port, 'source': source, 'default': entry.get('default')})
    return refused


def nftables_conf(text, present=True):
    """/etc/nftables.conf with pgsec's include line added at the end (present) or removed; None if unchanged.

    Debian's file starts with ``flush ruleset`` and includes no directory, so the include must
    come after the last ``flush ruleset`` or our table would be flushed at boot.
    """
    lines = (text or '').splitlines()
    ours = [index for index, line in enumerate(lines) if line.strip() == NFT_INCLUDE_LINE]
    if present:
        flushes = [index for index, line in enumerate(lines) if re.match(r'^\s*flush\s+ruleset\b', line)]
        if ours and (not flushes or ours[-1] > flushes[-1]) and len(ours) == 1:
            return None
    elif not ours:
        return None
    kept = [line for line in lines if line.strip() not in (NFT_INCLUDE_LINE, NFT_INCLUDE_COMMENT)]
    while kept and not kept[-1].strip():
        kept.pop()
    if present:
        if not kept:
            kept = ['#!/usr/sbin/nft -f']
        kept.extend(['', NFT_INCLUDE_COMMENT, NFT_INCLUDE_LINE])
    return '\n'.join(kept) + '\n'


def iptables_unit():
    """The oneshot unit that loads pgsec's iptables rules at boot (no netfilter-persistent needed)."""
    return '\n'.join([
        '# Managed by pgsec.hardening (postgresql_access_firewall).',
        '[Unit]',
        'Description=pgsec.hardening PostgreSQL port firewall (iptables chains %s)' % ', '.join(IPT_OWNED_CHAINS),
        'DefaultDependencies=no',
        'Wants=network-pre.target',
        'Before=network-pre.target shutdown.target',
        '# After the services that restore a whole ruleset (they would flush our chains again).',
        'After=local-fs.target nftables.service netfilter-persistent.service iptables.service ip6tables.service',
        'Conflicts=shutdown.target',
        '',
        '[Service]',
        'Type=oneshot',
        'RemainAfterExit=yes',
        'ExecStart=/bin/sh %s' % IPT_LOADER,
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
    ])


def iptables_loader(commands, families=(4, 6)):
    """Shell script run by the unit: removes stale jumps to our chains (a saved full ruleset may hold them), then loads."""
    lines = ['#!/bin/sh',
             '# Managed by pgsec.hardening (postgresql_access_firewall): loads chains %s at boot.' % (
                 ', '.join(IPT_OWNED_CHAINS)),
             'set -e']
    for family in families:
        tool = commands['iptables' if family == 4 else 'ip6tables']
        for chain in ('INPUT', 'OUTPUT'):
            lines.append("%s -w -S %s | awk '$1 == \"-A\" && ($NF == \"%s\" || $NF == \"%s\") {$1 = \"-D\"; print}' |"
                         % (tool, chain, IPT_INPUT_CHAIN, IPT_OUTPUT_CHAIN))
            lines.append('    while read -r rule; do %s -w $rule; done' % tool)
        restore = commands['iptables-restore' if family == 4 else 'ip6tables-restore']
        lines.append('%s -w 10 --noflush %s' % (restore, IPT_RULES_FILES[family]))
    return '\n'.join(lines) + '\n'


def persist_files(spec, choice, families=(4, 6)):
    """Files that keep the firewall across reboots: {path: content, or None to remove}.

    nftables: our table in NFT_PERSIST_FILE (included from /etc/nftables.conf, see nftables_conf).
    iptables: the restore files of the managed families, the loader script and pgsec-firewall.service.
    """
    spec = normalize_spec(spec)
    present = spec['state'] == 'present'
    if choice['backend'] == 'nftables':
        return {NFT_PERSIST_FILE: render_nftables(spec) if present else None}
    files = {IPT_UNIT_FILE: None, IPT_LOADER: None, IPT_RULES_FILES[4]: None, IPT_RULES_FILES[6]: None}
    if present:
        files[IPT_UNIT_FILE] = iptables_unit()
        files[IPT_LOADER] = iptables_loader(choice['commands'], families)
        for family in families:
            files[IPT_RULES_FILES[family]] = render_iptables(spec, family)
    return files
