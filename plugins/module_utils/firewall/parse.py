# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host firewall parsing and "what happens to TCP port N" summaries.

Inputs are the texts of ``nft -j list ruleset``, ``iptables-save``/``ip6tables-save``
(nft or legacy variant) and ``firewall-cmd --list-all-zones``. nftables and iptables
rules are first normalised into one rule shape:

  {"table", "chain", "handle", "text", "families": [4, 6], "protocol", "dports": [[lo, hi]],
   "dports_negated", "sources": [cidr], "sources_negated", "destinations", "destinations_negated",
   "interfaces", "interfaces_negated", "ct_states", "ct_states_negated", "conditions": [str],
   "verdict": accept|drop|reject|jump|goto|return|None, "target", "comment"}

and one evaluator walks the input base chains for every source network the rules
mention (networks nest or are disjoint, so each mentioned network minus the smaller
ones inside it behaves uniformly) plus "any other source". Every input hook must accept
a packet (separate nftables tables, iptables-legacy and firewalld all apply), so the
per-source verdicts of all of them are combined. Rules whose outcome depends on things
that cannot be evaluated here (interfaces other than lo, ipsets, marks, rate limits,
destination addresses) are assumed not to match and are listed under "conditional".
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import shlex

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import (
    normalize_cidr,
    range_to_cidrs,
)

FINAL_VERDICTS = ('accept', 'drop', 'reject')
IPTABLES_BUILTIN_CHAINS = ('INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING')
IPTABLES_TABLES = ('filter', 'nat', 'mangle', 'raw', 'security')
FIREWALLD_TABLE = 'firewalld'
FIREWALLD_SERVICE_PORTS = {'postgresql': [[5432, 'tcp']], 'ssh': [[22, 'tcp']], 'http': [[80, 'tcp']],
                           'https': [[443, 'tcp']]}
_FAMILY_OF_TABLE = {'ip': [4], 'ip6': [6], 'inet': [4, 6]}
_NFPROTO = {'ipv4': 4, 'ipv6': 6}
_IP_PROTOCOLS = {'6': 'tcp', '17': 'udp', '132': 'sctp', '33': 'dccp', '1': 'icmp', '58': 'ipv6-icmp'}
_MAX_JUMP_DEPTH = 32


def _new_rule(table, chain, families):
    return {'table': table, 'chain': chain, 'handle': None, 'text': None, 'families': list(families),
            'protocol': None, 'dports': None, 'dports_negated': False, 'sources': None, 'sources_negated': False,
            'destinations': None, 'destinations_negated': False, 'interfaces': None, 'interfaces_negated': False,
            'ct_states': None, 'ct_states_negated': False, 'conditions': [], 'verdict': None, 'target': None,
            'comment': None}


def _restrict_families(rule, families):
    rule['families'] = [family for family in rule['families'] if family in families]


def _port_ranges(values):
    """[[lo, hi], ...] from ints, 'a-b'/'a:b' strings or [a, b] pairs; None if anything is not numeric."""
    ranges = []
    for value in values:
        if isinstance(value, (list, tuple)) and len(value) == 2:
            low, high = value
        elif isinstance(value, int):
            low = high = value
        else:
            text = str(value).strip()
            parts = re.split(r'[-:]', text, maxsplit=1)
            low, high = parts[0], parts[-1]
            if low == '':
                low = 0
            if high == '':
                high = 65535
        try:
            ranges.append([int(low), int(high)])
        except (TypeError, ValueError):
            return None
    return ranges


def _port_in(ranges, port):
    return any(low <= port <= high for low, high in ranges)


# ---------------------------------------------------------------------------- nftables

def parse_nft_json(text):
    """``nft -j list ruleset`` output as {"metainfo", "tables", "chains", "sets", "rules"}.

    tables/chains/rules are the JSON objects' bodies in order; sets maps
    "family table name" to the set body.
    """
    data = json.loads(text) if text and text.strip() else {'nftables': []}
    parsed = {'metainfo': {}, 'tables': [], 'chains': [], 'sets': {}, 'rules': []}
    for item in data.get('nftables', []):
        if not isinstance(item, dict) or len(item) != 1:
            continue
        kind, body = list(item.items())[0]
        if kind == 'metainfo':
            parsed['metainfo'] = body
        elif kind == 'table':
            parsed['tables'].append(body)
        elif kind == 'chain':
            parsed['chains'].append(body)
        elif kind in ('set', 'map'):
            parsed['sets']['%s %s %s' % (body.get('family'), body.get('table'), body.get('name'))] = body
        elif kind == 'rule':
            parsed['rules'].append(body)
    return parsed


def _nft_table_key(family, table):
    return '%s %s' % (family, table)


def is_iptables_nft_table(parsed, family, table):
    """True when an nftables table looks created by iptables-nft (classic table name and uppercase builtin chains, or xt expressions)."""
    if family not in ('ip', 'ip6') or table not in IPTABLES_TABLES:
        return False
    chains = [chain['name'] for chain in parsed['chains'] if chain.get('family') == family and chain.get('table') == table]
    if any(name in IPTABLES_BUILTIN_CHAINS for name in chains):
        return True
    return any('"xt"' in json.dumps(rule.get('expr', [])) for rule in parsed['rules']
               if rule.get('family') == family and rule.get('table') == table)


def _nft_values(right, sets, family, table):
    """Flatten an nft JSON right-hand side into (values, unresolved set name)."""
    if isinstance(right, str) and right.startswith('@'):
        body = sets.get('%s %s %s' % (family, table, right[1:]))
        if body is None:
            return None, right
        return _nft_values({'set': body.get('elem', [])}, sets, family, table)
    if isinstance(right, dict) and 'set' in right:
        values = []
        for element in right['set'] if isinstance(right['set'], list) else [right['set']]:
            if isinstance(element, dict) and 'elem' in element:
                element = element['elem'].get('val')
            inner, missing = _nft_values(element, sets, family, table)
            if inner is None:
                return None, missing
            values.extend(inner)
        return values, None
    if isinstance(right, list):
        return list(right), None
    return [right], None


def _nft_networks(values):
    """CIDR strings for nft address values (plain, prefix, range); None if any is not an address."""
    networks = []
    for value in values:
        if isinstance(value, dict) and 'prefix' in value:
            cidr = normalize_cidr('%s/%s' % (value['prefix'].get('addr'), value['prefix'].get('len')))
            cidrs = [cidr] if cidr else None
        elif isinstance(value, dict) and 'range' in value:
            cidrs = range_to_cidrs(str(value['range'][0]), str(value['range'][1]))
        else:
            cidr = normalize_cidr(str(value))
            cidrs = [cidr] if cidr else None
        if not cidrs:
            return None
        networks.extend(cidrs)
    return networks


def _nft_ports(values):
    ports = []
    for value in values:
        if isinstance(value, dict) and 'range' in value:
            ports.append(list(value['range']))
        else:
            ports.append(value)
    return _port_ranges(ports)


def _describe_left(left):
    if isinstance(left, dict) and len(left) == 1:
        kind, body = list(left.items())[0]
        if isinstance(body, dict):
            return '%s %s' % (kind if kind not in ('payload',) else body.get('protocol'),
                              body.get('key') or body.get('field') or '')
        return str(kind)
    return json.dumps(left, sort_keys=True)


def _nft_match(rule, match, sets, family, table):
    """Fold one nft match expression into rule."""
    op, left, right = match.get('op', '=='), match.get('left'), match.get('right')
    negated = op == '!='
    text = '%s %s %s' % (_describe_left(left), op, json.dumps(right, sort_keys=True))
    payload = left.get('payload') if isinstance(left, dict) else None
    meta = left.get('meta') if isinstance(left, dict) else None
    ct = left.get('ct') if isinstance(left, dict) else None
    if op in ('<', '>', '<=', '>=') and payload and payload.get('field') == 'dport':
        bound = int(right)
        ranges = {'<': [[0, bound - 1]], '<=': [[0, bound]], '>': [[bound + 1, 65535]], '>=': [[bound, 65535]]}[op]
        _set_dports(rule, payload.get('protocol'), ranges, False)
        return
    if op not in ('==', '!=', 'in'):
        rule['conditions'].append(text)
        return
    values, missing = _nft_values(right, sets, family, table)
    if values is None:
        rule['conditions'].append('%s (set %s not found)' % (text, missing))
        return
    if payload and payload.get('protocol') in ('ip', 'ip6') and payload.get('field') in ('saddr', 'daddr'):
        _restrict_families(rule, [4] if payload['protocol'] == 'ip' else [6])
        networks = _nft_networks(values)
        if networks is None:
            rule['conditions'].append(text)
        elif payload['field'] == 'saddr':
            rule['sources'], rule['sources_negated'] = networks, negated
        else:
            rule['destinations'], rule['destinations_negated'] = networks, negated
    elif payload and payload.get('field') == 'dport' and payload.get('protocol') in ('tcp', 'udp', 'sctp', 'dccp', 'th'):
        ranges = _nft_ports(values)
        if ranges is None:
            rule['conditions'].append(text)
        else:
            _set_dports(rule, payload['protocol'], ranges, negated)
    elif payload and (payload.get('protocol'), payload.get('field')) in (('ip', 'protocol'), ('ip6', 'nexthdr')) \
            or (meta and meta.get('key') == 'l4proto'):
        if payload:
            _restrict_families(rule, [4] if payload['protocol'] == 'ip' else [6])
        names = [_IP_PROTOCOLS.get(str(value), str(value)) for value in values]
        if negated or len(names) != 1:
            rule['conditions'].append(text)
        else:
            rule['protocol'] = names[0]
    elif meta and meta.get('key') == 'nfproto':
        families = [_NFPROTO.get(str(value)) for value in values]
        if negated:
            families = [family for family in (4, 6) if family not in families]
        _restrict_families(rule, families)
    elif meta and meta.get('key') in ('iif', 'iifname'):
        rule['interfaces'], rule['interfaces_negated'] = [str(value) for value in values], negated
    elif ct and ct.get('key') == 'state' and not ct.get('dir'):
        states = [str(value) for value in values]
        rule['ct_states'], rule['ct_states_negated'] = states, negated
    elif payload and payload.get('protocol') in ('tcp', 'udp', 'th') and payload.get('field') == 'sport':
        rule['conditions'].append(text)
    else:
        rule['conditions'].append(text)


def _set_dports(rule, protocol, ranges, negated):
    if protocol != 'th':
        rule['protocol'] = protocol
    rule['dports'], rule['dports_negated'] = ranges, negated


def _nft_vmap(rule, vmap, port):
    """Resolve ``ct state vmap`` / ``tcp dport vmap`` for a new connection to port; other keys become conditions."""
    key, data = vmap.get('key'), vmap.get('data', {})
    pairs = data.get('set', []) if isinstance(data, dict) else []
    chosen = None
    if isinstance(key, dict) and key.get('ct', {}).get('key') == 'state':
        for match, verdict in pairs:
            if match == 'new' or (isinstance(match, list) and 'new' in match):
                chosen = verdict
        rule['ct_states'] = ['new'] if chosen else ['(not new)']
    elif isinstance(key, dict) and key.get('payload', {}).get('field') == 'dport':
        protocol = key['payload'].get('protocol')
        if protocol != 'th':
            rule['protocol'] = protocol
        for match, verdict in pairs:
            ranges = _nft_ports([match])
            if ranges and _port_in(ranges, port):
                chosen = verdict
        rule['dports'] = [[port, port]] if chosen else [[-1, -1]]
    else:
        rule['conditions'].append('vmap on %s' % _describe_left(key))
        return
    if chosen:
        _nft_verdict(rule, chosen)


def _nft_verdict(rule, statement):
    kind, body = list(statement.items())[0]
    if kind in ('accept', 'drop', 'return'):
        rule['verdict'] = kind
    elif kind == 'reject':
        rule['verdict'] = 'reject'
        reject_type = (body or {}).get('type') if isinstance(body, dict) else None
        if reject_type == 'icmp':
            _restrict_families(rule, [4])
        elif reject_type == 'icmpv6':
            _restrict_families(rule, [6])
    elif kind in ('jump', 'goto'):
        rule['verdict'], rule['target'] = kind, body.get('target')
    elif kind == 'queue':
        rule['verdict'] = 'queue'
    return kind


def _nft_rule(body, sets, port):
    family, table = body.get('family'), body.get('table')
    rule = _new_rule(_nft_table_key(family, table), body.get('chain'), _FAMILY_OF_TABLE.get(family, []))
    rule['handle'] = body.get('handle')
    rule['comment'] = body.get('comment')
    for expression in body.get('expr', []):
        if not isinstance(expression, dict) or len(expression) != 1:
            continue
        kind, value = list(expression.items())[0]
        if kind == 'match':
            _nft_match(rule, value, sets, family, table)
        elif kind in ('accept', 'drop', 'reject', 'jump', 'goto', 'return', 'queue'):
            _nft_verdict(rule, expression)
        elif kind == 'vmap':
            _nft_vmap(rule, value, port)
        elif kind == 'xt':
            name = (value or {}).get('name', '?')
            if (value or {}).get('type') == 'target':
                if name == 'REJECT':
                    rule['verdict'] = 'reject'
                elif name not in ('LOG', 'NFLOG', 'MARK', 'CONNMARK', 'CT'):
                    rule['conditions'].append('xt target %s' % name)
            else:
                rule['conditions'].append('xt match %s' % name)
        elif kind in ('limit', 'quota', 'ct count', 'synproxy', 'fib', 'exthdr', 'tcp option'):
            rule['conditions'].append('%s %s' % (kind, json.dumps(value, sort_keys=True)))
    rule['text'] = describe_rule(rule)
    return rule


def nft_chains(parsed, port=5432, skip_tables=()):
    """Normalised chains of an nft ruleset for ip/ip6/inet tables: {key: chain}; keys are "family table chain".

    ``port`` resolves verdict maps keyed by dport. Tables whose "family name" is in
    skip_tables are left out.
    """
    chains = {}
    for chain in parsed['chains']:
        family, table = chain.get('family'), chain.get('table')
        table_key = _nft_table_key(family, table)
        if family not in _FAMILY_OF_TABLE or table_key in skip_tables:
            continue
        chains['%s %s' % (table_key, chain['name'])] = {
            'table': table_key, 'name': chain['name'], 'families': _FAMILY_OF_TABLE[family],
            'hook': chain.get('hook'), 'type': chain.get('type'), 'priority': chain.get('prio'),
            'policy': chain.get('policy', 'accept') if chain.get('hook') else None, 'rules': [],
            'backend': 'nftables'}
    for body in parsed['rules']:
        key = '%s %s' % (_nft_table_key(body.get('family'), body.get('table')), body.get('chain'))
        if key in chains:
            chains[key]['rules'].append(_nft_rule(body, parsed['sets'], port))
    return chains


# ---------------------------------------------------------------------------- iptables

_IPT_HEADER = re.compile(r'^# Generated by (ip6?tables)(?:-(nft|legacy))?-save v([\d.]+)(?: \((\w+)\))?')


def parse_iptables_save(text, family=None):
    """``iptables-save``/``ip6tables-save`` output.

    Returns {"family": 4|6, "variant": "nft"|"legacy"|None, "version", "legacy_tables_present",
    "tables": {table: {chain: {"policy", "rules": [normalised rules]}}}, "errors": [{line, message}]}.
    """
    result = {'family': family, 'variant': None, 'version': None, 'legacy_tables_present': False,
              'tables': {}, 'errors': []}
    table = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith('#'):
            header = _IPT_HEADER.match(line)
            if header:
                result['family'] = result['family'] or (6 if header.group(1) == 'ip6tables' else 4)
                tag = header.group(4) or header.group(2)
                result['version'] = header.group(3)
                result['variant'] = 'nft' if tag in ('nf_tables', 'nft') else 'legacy'
            elif 'iptables-legacy tables present' in line:
                result['legacy_tables_present'] = True
            continue
        if line.startswith('*'):
            table = line[1:].strip()
            result['tables'].setdefault(table, {})
        elif line == 'COMMIT':
            table = None
        elif line.startswith(':') and table is not None:
            parts = line[1:].split()
            policy = parts[1].lower() if len(parts) > 1 and parts[1] != '-' else None
            result['tables'][table][parts[0]] = {'policy': policy, 'rules': []}
        elif line.startswith('-A ') and table is not None:
            try:
                argv = shlex.split(line)
            except ValueError as exc:
                result['errors'].append({'line': number, 'message': 'cannot split rule: %s' % exc})
                continue
            chain = argv[1]
            chains = result['tables'][table]
            chains.setdefault(chain, {'policy': None, 'rules': []})
            rule = _iptables_rule(argv[2:], table, chain, result['family'] or 4)
            rule['text'] = line
            rule['handle'] = len(chains[chain]['rules']) + 1
            chains[chain]['rules'].append(rule)
        else:
            result['errors'].append({'line': number, 'message': 'unrecognised line: %s' % line[:200]})
    result['family'] = result['family'] or 4
    return result


_IPT_KNOWN_MODULES = ('tcp', 'udp', 'multiport', 'conntrack', 'state', 'comment', 'iprange', 'addrtype', 'icmp',
                      'icmp6', 'icmpv6')


def _iptables_rule(args, table, chain, family):
    """Normalise the arguments of one ``-A CHAIN ...`` line."""
    rule = _new_rule('ip%s %s' % ('6' if family == 6 else '', table), chain, [family])
    negate = False
    module = None
    module_text = []
    index = 0

    def value():
        return args[index + 1] if index + 1 < len(args) else ''

    def flush_module():
        if module is not None and module not in _IPT_KNOWN_MODULES:
            rule['conditions'].append(' '.join(['-m', module] + module_text))

    while index < len(args):
        arg = args[index]
        consumed = 2
        if arg == '!':
            negate = True
            index += 1
            continue
        if arg in ('-s', '--source', '-d', '--destination'):
            cidrs = [normalize_cidr(item) for item in value().split(',')]
            key = 'sources' if arg in ('-s', '--source') else 'destinations'
            if None in cidrs:
                rule['conditions'].append('%s%s %s' % ('! ' if negate else '', arg, value()))
            else:
                rule[key], rule[key + '_negated'] = cidrs, negate
        elif arg in ('-p', '--protocol'):
            name = value().lower()
            if negate:
                rule['conditions'].append('! -p %s' % name)
            elif name != 'all':
                rule['protocol'] = _IP_PROTOCOLS.get(name, name)
        elif arg in ('-i', '--in-interface'):
            rule['interfaces'], rule['interfaces_negated'] = [value()], negate
        elif arg in ('-o', '--out-interface'):
            rule['conditions'].append('-o %s' % value())
        elif arg in ('-m', '--match'):
            flush_module()
            module, module_text = value(), []
        elif arg in ('-j', '--jump', '-g', '--goto'):
            flush_module()
            module = None
            _iptables_target(rule, value(), arg in ('-g', '--goto'))
            consumed = len(args) - index  # target options follow
        elif arg in ('--dport', '--destination-port', '--dports', '--destination-ports', '--ports'):
            ranges = _port_ranges(value().split(','))
            if ranges is None:
                rule['conditions'].append('%s %s' % (arg, value()))
            else:
                rule['dports'], rule['dports_negated'] = ranges, negate
        elif arg in ('--ctstate', '--state'):
            rule['ct_states'] = [state.lower() for state in value().split(',')]
            rule['ct_states_negated'] = negate
        elif arg == '--comment':
            rule['comment'] = value()
        elif arg in ('--src-range', '--dst-range'):
            first, _dash, last = value().partition('-')
            cidrs = range_to_cidrs(first, last)
            key = 'sources' if arg == '--src-range' else 'destinations'
            if cidrs is None:
                rule['conditions'].append('%s %s' % (arg, value()))
            else:
                rule[key], rule[key + '_negated'] = cidrs, negate
        elif arg == '--dst-type' and module == 'addrtype' and value() == 'LOCAL' and not negate:
            pass
        elif arg.startswith('-'):
            # an option of a module: keep it (with its values) in the module's text
            values = []
            while index + len(values) + 1 < len(args) and not args[index + len(values) + 1].startswith('-') \
                    and args[index + len(values) + 1] != '!':
                values.append(args[index + len(values) + 1])
            consumed = 1 + len(values)
            text = ' '.join((['!'] if negate else []) + [arg] + values)
            if module is None or module in _IPT_KNOWN_MODULES:
                if arg not in ('--syn', '--tcp-flags', '--reject-with', '--icmp-type', '--icmpv6-type'):
                    rule['conditions'].append(text)
            else:
                module_text.append(text)
        else:
            consumed = 1
        negate = False
        index += consumed
    flush_module()
    if rule['dports'] is not None and rule['protocol'] is None:
        rule['conditions'].append('--dport without -p')
    return rule


def _iptables_target(rule, target, goto):
    upper = target.upper()
    if goto:
        rule['verdict'], rule['target'] = 'goto', target
    elif upper in ('ACCEPT', 'DROP', 'REJECT', 'RETURN'):
        rule['verdict'] = upper.lower()
    elif upper in ('LOG', 'NFLOG', 'MARK', 'CONNMARK', 'CT', 'TRACE', 'AUDIT', 'TCPMSS', 'NOTRACK'):
        rule['verdict'] = None
    elif upper in ('NFQUEUE', 'QUEUE'):
        rule['verdict'] = 'queue'
    else:
        # a user chain; an unknown extension target is a jump to a missing chain, i.e. no verdict
        rule['verdict'], rule['target'] = 'jump', target


def iptables_chains(parsed, backend=None):
    """Normalised chains of a parse_iptables_save result (filter table; INPUT is the input hook)."""
    family = parsed['family']
    table_key = 'ip%s filter' % ('6' if family == 6 else '')
    chains = {}
    for name, chain in parsed['tables'].get('filter', {}).items():
        chains['%s %s' % (table_key, name)] = {
            'table': table_key, 'name': name, 'families': [family],
            'hook': name.lower() if name in IPTABLES_BUILTIN_CHAINS else None, 'type': 'filter', 'priority': 0,
            'policy': chain['policy'] if name in IPTABLES_BUILTIN_CHAINS else None,
            'rules': chain['rules'],
            'backend': backend or ('iptables-%s' % (parsed['variant'] or 'legacy'))}
    return chains


# ---------------------------------------------------------------------------- firewalld

_ZONE_HEADER = re.compile(r'^(\S+)(?:\s+\(([^)]*)\))?\s*$')


def parse_firewalld_zones(text):
    """``firewall-cmd --list-all-zones`` (or ``--list-all``) output.

    Returns {"zones": {name: {"active", "default", "target", "interfaces", "sources",
    "services", "ports": [[port or [lo, hi], proto]], "rich_rules": [parsed], ...}},
    "default_zone", "active_zones"}.
    """
    zones = {}
    zone = None
    key = None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        header = _ZONE_HEADER.match(raw) if not raw[0].isspace() else None
        if header:
            flags = [flag.strip() for flag in (header.group(2) or '').split(',') if flag.strip()]
            zone = {'name': header.group(1), 'active': 'active' in flags, 'default': 'default' in flags,
                    'target': 'default', 'interfaces': [], 'sources': [], 'services': [], 'ports': [],
                    'protocols': [], 'rich_rules': [], 'masquerade': False, 'forward': False}
            zones[zone['name']] = zone
            key = None
            continue
        if zone is None:
            continue
        stripped = raw.strip()
        name, colon, value = stripped.partition(':')
        if colon and raw.startswith('  ') and not raw.startswith('\t') and re.match(r'^[a-z -]+$', name):
            key = name.strip()
            value = value.strip()
            if key in ('interfaces', 'sources', 'services', 'protocols', 'forward-ports', 'source-ports',
                       'icmp-blocks'):
                zone[key.replace('-', '_')] = value.split()
            elif key == 'ports':
                zone['ports'] = [_firewalld_port(item) for item in value.split()]
            elif key in ('masquerade', 'forward', 'icmp-block-inversion'):
                zone[key.replace('-', '_')] = value == 'yes'
            elif key == 'target':
                zone['target'] = value
            elif key == 'rich rules':
                if value:
                    zone['rich_rules'].append(parse_rich_rule(value))
            else:
                zone[key.replace('-', '_')] = value
        elif key == 'rich rules':
            zone['rich_rules'].append(parse_rich_rule(stripped))
    defaults = [name for name, data in zones.items() if data['default']]
    return {'zones': zones, 'default_zone': defaults[0] if defaults else None,
            'active_zones': [name for name, data in zones.items() if data['active']]}


def _firewalld_port(item):
    port, _slash, protocol = item.partition('/')
    ranges = _port_ranges([port])
    return [ranges[0] if ranges else port, protocol or 'tcp']


def parse_rich_rule(text):
    """A firewalld rich rule as {"family", "source", "source_invert", "destination", "service",
    "port": [[lo, hi], proto] or None, "action": accept|reject|drop|mark|None, "priority", "text"}.
    """
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    rule = {'family': None, 'source': None, 'source_invert': False, 'destination': None, 'service': None,
            'port': None, 'action': None, 'priority': 0, 'text': text, 'conditions': []}
    element = None
    for word in words:
        name, equals, value = word.partition('=')
        if not equals:
            if word in ('NOT', 'not'):
                rule['source_invert'] = rule['source_invert'] or element == 'source'
                continue
            if word == 'limit' and rule['action'] and element in ('accept', 'reject', 'drop', 'mark'):
                rule['conditions'].append('limit')
            element = word
            if word in ('accept', 'reject', 'drop', 'mark'):
                rule['action'] = word
            elif word not in ('rule', 'source', 'destination', 'service', 'port', 'protocol', 'log', 'audit',
                              'limit', 'masquerade', 'forward-port', 'source-port', 'icmp-block', 'icmp-type'):
                rule['conditions'].append(word)
            if word in ('masquerade', 'forward-port', 'icmp-block', 'icmp-type', 'source-port', 'protocol'):
                rule['conditions'].append(word)
            continue
        if element == 'rule' and name == 'family':
            rule['family'] = {'ipv4': 4, 'ipv6': 6}.get(value)
        elif element == 'rule' and name == 'priority':
            rule['priority'] = int(value) if re.match(r'^-?\d+$', value) else 0
        elif element == 'source' and name == 'address':
            rule['source'] = value
        elif element == 'source' and name == 'invert':
            rule['source_invert'] = value in ('true', 'yes')
        elif element == 'source' and name in ('mac', 'ipset'):
            rule['conditions'].append('source %s=%s' % (name, value))
        elif element == 'destination' and name == 'address':
            rule['destination'] = value
        elif element == 'service' and name == 'name':
            rule['service'] = value
        elif element == 'port' and name == 'port':
            ranges = _port_ranges([value])
            rule['port'] = [ranges[0] if ranges else value, None]
        elif element == 'port' and name == 'protocol':
            rule['port'] = [rule['port'][0] if rule['port'] else None, value]
    return rule


# ---------------------------------------------------------------------------- detection

def detect_backend(nft=None, iptables=(), firewalld_running=None, firewalld=None):
    """Which firewall front-ends are active.

    nft: parse_nft_json result; iptables: parse_iptables_save results (any of
    iptables/ip6tables, nft or legacy); firewalld_running: from ``firewall-cmd --state``
    (rc 0) when known. Returns {"primary": "firewalld"|"nftables"|"iptables-nft"|
    "iptables-legacy"|"none", "active": [...], "nftables_tables": [...],
    "iptables_nft_tables": [...], "iptables_legacy_tables": [...], "firewalld": bool}.
    """
    info = {'nftables_tables': [], 'iptables_nft_tables': [], 'iptables_legacy_tables': [], 'firewalld': False}
    if nft:
        for table in nft['tables']:
            key = _nft_table_key(table.get('family'), table.get('name'))
            if table.get('name') == FIREWALLD_TABLE:
                info['firewalld'] = True
            if is_iptables_nft_table(nft, table.get('family'), table.get('name')):
                info['iptables_nft_tables'].append(key)
            else:
                info['nftables_tables'].append(key)
    for parsed in iptables or ():
        prefix = 'ip6' if parsed['family'] == 6 else 'ip'
        target = 'iptables_legacy_tables' if parsed['variant'] == 'legacy' else 'iptables_nft_tables'
        for table, chains in parsed['tables'].items():
            if _iptables_table_in_use(chains):
                key = '%s %s' % (prefix, table)
                if key not in info[target]:
                    info[target].append(key)
    if firewalld_running is not None:
        info['firewalld'] = bool(firewalld_running)
    elif firewalld is not None and firewalld.get('active_zones'):
        info['firewalld'] = True
    active = []
    if info['firewalld']:
        active.append('firewalld')
    if any(not key.endswith(' ' + FIREWALLD_TABLE) for key in info['nftables_tables']):
        active.append('nftables')
    if info['iptables_nft_tables']:
        active.append('iptables-nft')
    if info['iptables_legacy_tables']:
        active.append('iptables-legacy')
    info['active'] = active
    info['primary'] = active[0] if active else 'none'
    return info


def _iptables_table_in_use(chains):
    """A saved table counts as in use when it has rules, user chains or a non-accept policy."""
    return any(chain['rules'] or name not in IPTABLES_BUILTIN_CHAINS or chain['policy'] not in (None, 'accept')
               for name, chain in chains.items())


def describe_rule(rule):
    """Short nft-like text of a normalised rule."""
    parts = []
    if rule['families'] == [4] and not rule['sources'] and not rule['destinations']:
        parts.append('meta nfproto ipv4')
    elif rule['families'] == [6] and not rule['sources'] and not rule['destinations']:
        parts.append('meta nfproto ipv6')
    if rule['interfaces']:
        parts.append('iifname %s%s' % ('!= ' if rule['interfaces_negated'] else '', ','.join(rule['interfaces'])))
    if rule['ct_states']:
        parts.append('ct state %s%s' % ('!= ' if rule['ct_states_negated'] else '', ','.join(rule['ct_states'])))
    for key, word in (('sources', 'saddr'), ('destinations', 'daddr')):
        if rule[key]:
            protocol = 'ip6' if ':' in rule[key][0] else 'ip'
            parts.append('%s %s %s%s' % (protocol, word, '!= ' if rule[key + '_negated'] else '', ','.join(rule[key])))
    if rule['dports']:
        ports = ','.join(str(low) if low == high else '%d-%d' % (low, high) for low, high in rule['dports'])
        parts.append('%s dport %s%s' % (rule['protocol'] or 'th', '!= ' if rule['dports_negated'] else '', ports))
    elif rule['protocol']:
        parts.append('meta l4proto %s' % rule['protocol'])
    parts.extend(rule['conditions'])
    if rule['verdict']:
        parts.append(rule['verdict'] + (' ' + rule['target'] if rule['target'] else ''))
    return ' '.join(parts)
