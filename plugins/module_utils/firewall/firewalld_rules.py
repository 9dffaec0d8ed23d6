# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning the PostgreSQL-port firewall with firewalld (pure: no host access).

firewalld owns the host firewall, so pgsec does not load nftables or iptables rules behind its
back: it adds rich rules to one zone (the default zone, or the one named), and nothing else.

* Per client network and port range: ``rule priority="-100" family="ipv4" source
  address="198.18.200.2" port port="5432" protocol="tcp" accept``.
* Per family and port range: ``rule priority="-99" family="ipv4" port port="5432" protocol="tcp"
  drop`` (or ``reject type="tcp-reset"``, with ``log prefix="pgsec-refused: " level="info" limit
  value="5/m"`` when logging).

Rich rules with a negative priority go to the zone's ``_pre`` chain, ordered by priority (firewalld
>= 0.7), before the zone's ``_deny``/``_allow`` chains (services, ports) and before rich rules of
priority 0 or more: the accepts run first, then the refusal, then everything else of the zone.
Loopback traffic never reaches a zone (firewalld accepts ``lo`` first), so local access is kept.

Rich rules have no comments, so what pgsec owns is recorded in a state file
(:data:`STATE_FILE`): per layer (``runtime`` and ``permanent``) and zone, the exact texts pgsec
added. A rule is removed only when it is recorded there *and* still present; a rule identical to
one of ours that existed before us is left in place and never recorded (nor removed later).

Layers: the runtime configuration is changed when the module applies (with the self-rollback),
the permanent one when the change is confirmed, or at once without a rollback. So an
unconfirmed change is lost at a reboot or ``firewall-cmd --reload``, like with the other
backends, and no ``--reload`` is ever run by pgsec: a reload would throw away runtime-only rules
of others (fail2ban bans, for one).

A zone that opens a port zone-wide (a service such as ``postgresql`` or a ``ports`` entry) is
refused unless its removal is asked for: pgsec's refusal runs before it and would be the only
thing keeping the port closed, so removing pgsec's rules (state absent, a rollback) would open
the port to everyone, and ``firewall-cmd --list-all`` would tell the reader the opposite of what
happens.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import difflib
import functools
import ipaddress
import json
import re
import shlex

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import normalize_cidr
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import fail
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.parse import (
    FIREWALLD_SERVICE_PORTS,
    parse_firewalld_zones,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.ruleset import (
    LOG_PREFIX,
    LOG_RATE,
    STATE_DIR,
    FirewallPlanError,
    normalize_spec,
)

STATE_FILE = STATE_DIR + '/firewalld.json'
STATE_VERSION = 1
ACCEPT_PRIORITY = -100
REFUSE_PRIORITY = -99
LAYERS = ('runtime', 'permanent')
LOG_LEVEL = 'info'
_FAMILY_NAMES = {4: 'ipv4', 6: 'ipv6'}
# firewall-cmd prints these as warnings and exits 0 (or with them as the exit code for a single item)
HARMLESS_CODES = ('ALREADY_ENABLED', 'NOT_ENABLED')
_MAX_INCLUDE_DEPTH = 8


_fail = functools.partial(fail, FirewallPlanError)


# ---------------------------------------------------------------------------- spec and wanted rules

def normalize(spec):
    """normalize_spec for the firewalld backend: egress cannot be expressed (no owner match in firewalld)."""
    spec = dict(spec or {})
    spec.pop('backend', None)
    result = normalize_spec(spec)
    if result['egress']:
        _fail('egress', spec.get('egress'), 'is not supported with pgsec_firewall_backend=firewalld: firewalld '
              'cannot match the server user\'s connections (use nftables or iptables, or no egress)')
    result['backend'] = 'firewalld'
    return result


def port_ranges(ports):
    """Contiguous runs of sorted ports as firewalld writes them: [5432, 5433, 6432] -> ['5432-5433', '6432']."""
    runs = []
    for port in sorted(set(ports)):
        if runs and runs[-1][1] == port - 1:
            runs[-1][1] = port
        else:
            runs.append([port, port])
    return ['%d' % low if low == high else '%d-%d' % (low, high) for low, high in runs]


def _address_text(cidr):
    network = ipaddress.ip_network(cidr)
    return str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)


def wanted_rules(spec):
    """Rich rule texts of a normalised spec, exactly as firewalld prints them; [] for state absent.

    Accept rules first (family, source, ports), then the refusal per family: the order pgsec adds
    them in, so that an allowed client is never refused while the rules change.
    """
    if spec['state'] == 'absent':
        return []
    ranges = port_ranges(spec['ports'])
    accepts, refusals = [], []
    if spec['action'] == 'drop':
        action = 'drop'
    else:
        action = 'reject type="tcp-reset"'
    log = ' log prefix="%s" level="%s" limit value="%d/m"' % (LOG_PREFIX, LOG_LEVEL, LOG_RATE) if spec['log'] else ''
    for family in (4, 6):
        for cidr in spec['sources_v4' if family == 4 else 'sources_v6']:
            for ports in ranges:
                accepts.append('rule priority="%d" family="%s" source address="%s" port port="%s" protocol="tcp" accept'
                               % (ACCEPT_PRIORITY, _FAMILY_NAMES[family], _address_text(cidr), ports))
        for ports in ranges:
            refusals.append('rule priority="%d" family="%s" port port="%s" protocol="tcp"%s %s'
                            % (REFUSE_PRIORITY, _FAMILY_NAMES[family], ports, log, action))
    return accepts + refusals


# ---------------------------------------------------------------------------- reading rules

def rule_key(text):
    """A rich rule in a form that compares equal for rules firewalld treats as the same.

    Quoting and spacing do not matter, ``priority`` and ``family`` may come in any order
    (``priority="0"`` is the default), addresses are compared as networks (``198.18.200.2/32`` is
    ``198.18.200.2``) and limits as firewalld stores them (``5/minute`` is ``5/m``). Anything that
    cannot be tokenised is its own key.
    """
    try:
        words = shlex.split(text.strip())
    except ValueError:
        return ('unparsed', text.strip())
    if not words or words[0] != 'rule':
        return ('unparsed', text.strip())
    head, rest = {}, []
    index = 1
    while index < len(words) and words[index].split('=', 1)[0] in ('priority', 'family') and '=' in words[index]:
        name, value = words[index].split('=', 1)
        head[name] = value
        index += 1
    for word in words[index:]:
        name, equals, value = word.partition('=')
        if equals and name == 'address':
            value = normalize_cidr(value) or value
        elif equals and name == 'value' and re.match(r'^\d+/[smhd]', value):
            value = value[:value.index('/') + 2]
        rest.append('%s=%s' % (name, value) if equals else word)
    priority = head.get('priority', '0')
    try:
        priority = str(int(priority))
    except ValueError:
        pass
    return tuple(['rule', 'priority=' + priority, 'family=' + head.get('family', '')] + rest)


def _rule_sort_key(text):
    key = rule_key(text)
    try:
        priority = int(key[1].split('=', 1)[1])
    except (IndexError, ValueError):
        priority = 0
    return (priority, key)


def _ours_shape(text):
    """A rule shaped like pgsec's (accept from a source, or the refusal, on a tcp port at our priorities)."""
    key = rule_key(text)
    if key[0] != 'rule' or key[2] not in ('family=ipv4', 'family=ipv6'):
        return False
    body = list(key[3:])
    if key[1] == 'priority=%d' % ACCEPT_PRIORITY:
        return len(body) == 6 and body[0] == 'source' and body[1].startswith('address=') and body[2] == 'port' \
            and body[3].startswith('port=') and body[4] == 'protocol=tcp' and body[5] == 'accept'
    if key[1] == 'priority=%d' % REFUSE_PRIORITY:
        return len(body) >= 4 and body[:1] == ['port'] and body[2] == 'protocol=tcp' \
            and (body[-1] == 'drop' or body[-2:] == ['reject', 'type=tcp-reset'])
    return False


def parse_rich_rules(text):
    """``firewall-cmd --list-rich-rules`` output: one rule a line."""
    return [line.strip() for line in (text or '').splitlines() if line.strip().startswith('rule')]


def parse_zone(text):
    """``firewall-cmd [--permanent] --zone Z --list-all`` output as one parse_firewalld_zones zone, or None."""
    if isinstance(text, dict):
        return text
    zones = parse_firewalld_zones(text or '')['zones']
    return list(zones.values())[0] if zones else None


def parse_service_info(text):
    """``firewall-cmd --info-service NAME`` output: {"name", "ports": [[[lo, hi], proto]], "includes": [names]}."""
    zone = parse_zone(text)
    if zone is None:
        return None
    includes = zone.get('includes') or ''
    return {'name': zone['name'], 'ports': zone['ports'],
            'includes': includes.split() if isinstance(includes, str) else list(includes)}


def service_ports(services, name, depth=0):
    """[[[lo, hi], proto]] of a service with its includes; services: {name: parse_service_info result}."""
    info = services.get(name)
    if info is None:
        return [[[int(port), int(port)], proto] for port, proto in FIREWALLD_SERVICE_PORTS.get(name, [])]
    ports = [entry for entry in info['ports'] if isinstance(entry[0], list)]
    if depth < _MAX_INCLUDE_DEPTH:
        for included in info['includes']:
            ports.extend(service_ports(services, included, depth + 1))
    return ports


def openings(zone, ports, services):
    """What opens any of ``ports``/tcp to every source in a parsed zone.

    Returns [{"kind": "service"|"port", "value", "opens": [ports among ours], "others": bool
    (it opens other ports too, so removing it would close them)}].
    """
    found = []
    if zone is None:
        return found
    for name in zone['services']:
        entries = [entry for entry in service_ports(services, name) if entry[1] == 'tcp']
        opens = [port for port in ports if any(low <= port <= high for (low, high), _proto in entries)]
        if opens:
            others = any(proto != 'tcp' or any(port not in ports for port in range(low, high + 1))
                         for (low, high), proto in service_ports(services, name))
            found.append({'kind': 'service', 'value': name, 'opens': opens, 'others': others})
    for entry in zone['ports']:
        if not isinstance(entry[0], list) or entry[1] != 'tcp':
            continue
        low, high = entry[0]
        opens = [port for port in ports if low <= port <= high]
        if opens:
            value = '%d/tcp' % low if low == high else '%d-%d/tcp' % (low, high)
            found.append({'kind': 'port', 'value': value, 'opens': opens,
                          'others': any(port not in ports for port in range(low, high + 1))})
    return found


def _opening_text(item):
    return '%s %s' % (item['kind'], item['value'])


# ---------------------------------------------------------------------------- state file

def load_state(text):
    """The state file's content (text, or None when it does not exist) as {"zones": {zone: {layer: [rules]}}, ...}."""
    empty = {'version': STATE_VERSION, 'zones': {}, 'removed_openings': []}
    if not text:
        return empty
    try:
        data = json.loads(text)
    except ValueError:
        raise FirewallPlanError('%s is not valid JSON: fix or remove it (it lists the firewalld rich rules pgsec '
                                'added)' % STATE_FILE)
    if not isinstance(data, dict) or not isinstance(data.get('zones'), dict):
        raise FirewallPlanError('%s has an unknown format: fix or remove it' % STATE_FILE)
    result = dict(empty)
    for zone, layers in data['zones'].items():
        layers = layers if isinstance(layers, dict) else {}
        result['zones'][zone] = dict((layer, [str(rule) for rule in layers.get(layer) or []]) for layer in LAYERS)
    result['removed_openings'] = list(data.get('removed_openings') or [])
    return result


def dump_state(state):
    return json.dumps(state, indent=1, sort_keys=True) + '\n'


def owns_rules(state):
    """Whether the state records any rule (in any zone and layer)."""
    return any(rules for layers in state['zones'].values() for rules in layers.values())


def set_owned(state, layer, owned, removed_openings=()):
    """A copy of state with ``layer``'s owned rules replaced by owned ({zone: [rules]}) and openings added."""
    result = json.loads(json.dumps(state))
    for zone in list(result['zones']):
        result['zones'][zone][layer] = []
    for zone, rules in owned.items():
        result['zones'].setdefault(zone, dict((name, []) for name in LAYERS))[layer] = list(rules)
    result['zones'] = dict((zone, layers) for zone, layers in result['zones'].items() if any(layers.values()))
    for item in removed_openings:
        if item not in result['removed_openings']:
            result['removed_openings'].append(item)
    return result


# ---------------------------------------------------------------------------- plan

def plan_layer(spec, layer, zone, current, state, wanted=None, remove_open_port=False):
    """The changes of one layer ("runtime" or "permanent") of firewalld.

    current: {"zones": {zone: {layer: ``--list-all`` text or parsed zone, or ``--list-rich-rules``
    text}}, "services": {name: parse_service_info result}}; every zone named in the state and the
    target zone must be there (a zone missing from current counts as gone, with its rules).
    wanted: rule texts (default: wanted_rules(spec)). Returns {"ops": [...], "owned": {zone:
    [rules]}, "before", "after", "added", "removed", "foreign" (wanted rules that exist but are
    someone else's), "lookalikes" (pgsec-shaped rules that are not recorded as ours),
    "openings", "removed_openings"}. ops: [{"layer", "zone", "action": add|remove, "kind":
    rich-rule|service|port, "value"}] in the order to run them: accepts added, refusals added,
    refusals removed, accepts removed, zone-wide openings removed.
    """
    wanted = wanted_rules(spec) if wanted is None else wanted
    wanted_keys = set(rule_key(rule) for rule in wanted)
    zones = [zone] + sorted(name for name in state['zones'] if name != zone)
    result = {'ops': [], 'owned': {}, 'added': [], 'removed': [], 'foreign': [], 'lookalikes': [],
              'openings': [], 'removed_openings': []}
    before, after = [], []
    adds, removes = [], []
    for name in zones:
        listed = ((current.get('zones') or {}).get(name) or {}).get(layer)
        if isinstance(listed, dict):
            live = [rich['text'] for rich in listed['rich_rules']]
        elif listed and re.match(r'^\s*rule\b', listed):
            live = parse_rich_rules(listed)
        else:
            parsed = parse_zone(listed) if listed else None
            live = [rich['text'] for rich in parsed['rich_rules']] if parsed else []
        recorded = set(rule_key(rule) for rule in (state['zones'].get(name) or {}).get(layer) or [])
        owned = [rule for rule in live if rule_key(rule) in recorded]
        live_keys = set(rule_key(rule) for rule in live)
        keep = [rule for rule in owned if name == zone and rule_key(rule) in wanted_keys]
        gone = [rule for rule in owned if rule not in keep]
        new = [rule for rule in wanted if name == zone and rule_key(rule) not in live_keys]
        if name == zone:
            owned_keys = set(rule_key(rule) for rule in owned)
            result['foreign'] = [rule for rule in live if rule_key(rule) in wanted_keys and rule_key(rule) not in owned_keys]
            result['lookalikes'] = [rule for rule in live if _ours_shape(rule) and rule_key(rule) not in owned_keys
                                    and rule_key(rule) not in wanted_keys]
        adds.extend((name, rule) for rule in new)
        removes.extend((name, rule) for rule in gone)
        if keep or new:
            result['owned'][name] = sorted(keep + new, key=_rule_sort_key)
        if owned or keep or new:
            header = '# firewalld zone %s, %s configuration' % (name, layer)
            before.append(header)
            before.extend(sorted(owned, key=_rule_sort_key))
            after.append(header)
            after.extend(sorted(keep + new, key=_rule_sort_key))
    if result['foreign']:
        note = ['# already there, not pgsec\'s (left alone): ' + rule for rule in sorted(result['foreign'], key=_rule_sort_key)]
        before.extend(note)
        after.extend(note)

    def accepting(item):
        return rule_key(item[1])[-1] == 'accept'

    for item in [item for item in adds if accepting(item)] + [item for item in adds if not accepting(item)]:
        result['ops'].append({'layer': layer, 'zone': item[0], 'action': 'add', 'kind': 'rich-rule', 'value': item[1]})
        result['added'].append(item[1])
    for item in [item for item in removes if not accepting(item)] + [item for item in removes if accepting(item)]:
        result['ops'].append({'layer': layer, 'zone': item[0], 'action': 'remove', 'kind': 'rich-rule',
                              'value': item[1]})
        result['removed'].append(item[1])

    if spec['state'] == 'present' and wanted:
        listed = ((current.get('zones') or {}).get(zone) or {}).get(layer)
        parsed = parse_zone(listed) if listed and not (isinstance(listed, str) and re.match(r'^\s*rule\b', listed)) \
            else None
        result['openings'] = openings(parsed, spec['ports'], current.get('services') or {})
        if result['openings'] and not remove_open_port:
            raise FirewallPlanError(
                'pgsec_firewall_backend: firewalld zone %r opens %s to every source (%s, %s configuration): pgsec\'s '
                'rules would be all that keeps the port closed, and removing them would open it to everyone; '
                'remove that from the zone, or set firewalld_remove_open_port to let pgsec remove it'
                % (zone, ', '.join('%d/tcp' % port for port in sorted(set(
                    port for item in result['openings'] for port in item['opens']))),
                   ', '.join(_opening_text(item) for item in result['openings']), layer))
        wider = [item for item in result['openings'] if item['others']]
        if wider:
            raise FirewallPlanError(
                'firewalld_remove_open_port: firewalld zone %r has %s, which also open(s) other ports: pgsec will not '
                'close those; narrow it by hand (keep the other ports) and run again'
                % (zone, ', '.join(_opening_text(item) for item in wider)))
        for item in result['openings']:
            result['ops'].append({'layer': layer, 'zone': zone, 'action': 'remove', 'kind': item['kind'],
                                  'value': item['value']})
            record = {'layer': layer, 'zone': zone, 'kind': item['kind'], 'value': item['value']}
            result['removed_openings'].append(record)
            before.append('# firewalld zone %s, %s configuration: %s opens the port to everyone'
                          % (zone, layer, _opening_text(item)))
    result['before'] = '\n'.join(before) + '\n' if before else ''
    result['after'] = '\n'.join(after) + '\n' if after else ''
    return result


def invert(ops):
    """The operations that undo ``ops``, in the order to run them."""
    return [dict(op, action='remove' if op['action'] == 'add' else 'add') for op in reversed(ops)]


def plan(spec, current, zone=None, remove_open_port=False, persist=True, layers=LAYERS):
    """Compare the wanted rich rules with what pgsec owns in firewalld's runtime and permanent configuration.

    spec: as for normalize. current: {"default_zone", "zones", "services", "state" (state file
    text or loaded state)}, see plan_layer. zone: the zone to use (default: the default zone).
    persist false: the permanent configuration gets none of pgsec's rules (and loses those it had).
    Returns {backend, zone, changed (runtime), before, after, diff, apply: {"firewalld": ops},
    rollback: {"firewalld": ops}, persist: ops of the permanent layer, layers: {layer:
    plan_layer result}, families, foreign, lookalikes, openings}.
    """
    spec = normalize(spec)
    zone = zone or current.get('default_zone')
    if not zone:
        _fail('zone', zone, 'is not set and firewalld has no default zone')
    if zone not in (current.get('zones') or {}):
        _fail('zone', zone, 'is not a firewalld zone on this host')
    state = current.get('state')
    if not isinstance(state, dict):
        state = load_state(state)
    wanted = wanted_rules(spec)
    result = {'backend': 'firewalld', 'zone': zone, 'default_zone': current.get('default_zone'), 'families': [4, 6],
              'layers': {}, 'apply': {}, 'rollback': {}, 'persist': []}
    for layer in layers:
        layer_wanted = wanted if layer == 'runtime' or persist else []
        result['layers'][layer] = plan_layer(spec, layer, zone, current, state, layer_wanted,
                                             remove_open_port)
    runtime = result['layers'].get('runtime')
    permanent = result['layers'].get('permanent')
    if runtime and runtime['ops']:
        result['apply']['firewalld'] = runtime['ops']
        result['rollback']['firewalld'] = invert(runtime['ops'])
    if permanent:
        result['persist'] = permanent['ops']
    before = ''.join(result['layers'][layer]['before'] for layer in layers)
    after = ''.join(result['layers'][layer]['after'] for layer in layers)
    first = result['layers'][layers[0]]
    result.update(before=before, after=after, changed=bool(result['apply']), foreign=first['foreign'],
                  lookalikes=first['lookalikes'], openings=first['openings'])
    result['diff'] = list(difflib.unified_diff(before.splitlines(), after.splitlines(), 'before', 'after', lineterm=''))
    return result


def describe(ops):
    """One line per operation, for the module's result and the diff."""
    return ['%s zone %s: %s %s %s' % (op['layer'], op['zone'], op['action'], op['kind'], op['value']) for op in ops]


# ---------------------------------------------------------------------------- commands

def commands(firewall_cmd, ops):
    """firewall-cmd argument lists for ops: consecutive ops of one layer, zone, action and kind share a call."""
    calls = []
    last = None
    for op in ops:
        group = (op['layer'], op['zone'], op['action'], op['kind'])
        if group != last:
            argv = [firewall_cmd] + (['--permanent'] if op['layer'] == 'permanent' else []) + ['--zone', op['zone']]
            calls.append(argv)
            last = group
        calls[-1].extend(['--%s-%s' % (op['action'], op['kind']), op['value']])
    return calls


def command_errors(rc, stdout, stderr):
    """What went wrong in one firewall-cmd call: [] when it worked.

    With several items firewall-cmd reports each failure as a warning and may still exit 0;
    ALREADY_ENABLED and NOT_ENABLED are harmless (the rule was there, or already gone).
    """
    problems = []
    for line in (stderr or '').splitlines():
        line = line.strip()
        if line.startswith(('Warning:', 'Error:')) and not any(code in line for code in HARMLESS_CODES):
            if line not in problems:
                problems.append(line)
    if rc != 0 and not problems:
        problems.append('rc %d: %s' % (rc, ((stderr or '') + (stdout or '')).strip()))
    return problems


def other_zone_openings(zones, zone, ports, services):
    """Active zones other than ``zone`` that open the ports (services, ports, or rich rules accepting them).

    zones: parse_firewalld_zones result of ``--list-all-zones``. Connections those zones handle
    (by source address or interface) never reach pgsec's rules. Returns [{"zone", "bound",
    "opens"}].
    """
    found = []
    for name, data in sorted(zones['zones'].items()):
        if name == zone or not (data['interfaces'] or data['sources']):
            continue
        what = [_opening_text(item) for item in openings(data, ports, services)]
        for rich in data['rich_rules']:
            port = rich['port']
            if rich['action'] == 'accept' and port and isinstance(port[0], list) and port[1] in (None, 'tcp') \
                    and any(port[0][0] <= item <= port[0][1] for item in ports):
                what.append('rich rule %s' % rich['text'])
        if data['target'].upper() == 'ACCEPT':
            what.append('target ACCEPT')
        if what:
            bound = ['interfaces %s' % ' '.join(data['interfaces'])] if data['interfaces'] else []
            bound += ['sources %s' % ' '.join(data['sources'])] if data['sources'] else []
            found.append({'zone': name, 'bound': ', '.join(bound), 'opens': what})
    return found
