# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which firewall backend a host gets: detection, the choice rules, and the registry of backends."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.parse import (
    FIREWALLD_TABLE,
    detect_backend,
    is_iptables_nft_table,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.ruleset import (
    IPT_OWNED_CHAINS,
    NFT_FAMILY,
    NFT_TABLE,
    _fail,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.files import read_text
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import firewalld_rules as fwd
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.backend import saves
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.firewalld import FirewalldBackend
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.firewalld_rules import STATE_FILE
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.iptables import IptablesBackend
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.nftables import NftablesBackend
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.tables import TablesBackend

# One line per backend: its name (pgsec_firewall_backend, the module's backend option) and its class.
REGISTRY = {
    NftablesBackend.name: NftablesBackend,
    IptablesBackend.name: IptablesBackend,
    FirewalldBackend.name: FirewalldBackend,
}

# What choose_backend picks between (firewalld is choose's); auto plus every registered backend.
RULESET_BACKENDS = ('auto', 'nftables', 'iptables')
BACKENDS = ('auto',) + tuple(REGISTRY)


# ---------------------------------------------------------------------------- backend choice

def inspect_host(nft=None, iptables=(), firewalld_running=None, available=None):
    """detect_backend's answer plus what choose_backend needs to decide.

    nft: parse_nft_json result; iptables: parse_iptables_save results (nft and legacy variants,
    both families); available: {"nft": path, "iptables-nft": {tool: path}, "iptables-legacy":
    {tool: path}} for the tools found (tool: iptables, ip6tables, iptables-restore, iptables-save,
    ip6tables-restore, ip6tables-save). Adds "available", "owned" (where pgsec rules exist:
    nftables, iptables-nft, iptables-legacy) and "others": who else filters incoming traffic,
    as table keys: "nftables_input" (native tables, not ours nor firewalld's, with an input filter
    chain that has rules or a policy other than accept), "iptables-nft" and "iptables-legacy"
    (filter tables with rules, user chains or a non-accept policy that are not pgsec's).
    """
    info = detect_backend(nft, iptables, firewalld_running=firewalld_running)
    info['available'] = dict(available or {})
    owned = []
    others = {'nftables_input': [], 'iptables-nft': [], 'iptables-legacy': []}
    if nft:
        if any(table.get('family') == NFT_FAMILY and table.get('name') == NFT_TABLE for table in nft['tables']):
            owned.append('nftables')
        with_rules = set((rule.get('family'), rule.get('table'), rule.get('chain')) for rule in nft['rules'])
        for chain in nft['chains']:
            family, table = chain.get('family'), chain.get('table')
            key = '%s %s' % (family, table)
            if (family, table) == (NFT_FAMILY, NFT_TABLE) or table == FIREWALLD_TABLE \
                    or is_iptables_nft_table(nft, family, table) or key in others['nftables_input']:
                continue
            filtering = chain.get('policy', 'accept') != 'accept' or (family, table, chain.get('name')) in with_rules
            if chain.get('hook') == 'input' and chain.get('type', 'filter') == 'filter' and filtering:
                others['nftables_input'].append(key)
    for parsed in iptables or ():
        variant = 'iptables-legacy' if parsed.get('variant') == 'legacy' else 'iptables-nft'
        prefix = 'ip6' if parsed.get('family') == 6 else 'ip'
        for table, chains in parsed['tables'].items():
            if table == 'filter' and any(name in chains for name in IPT_OWNED_CHAINS) and variant not in owned:
                owned.append(variant)
            if table == 'filter' and _foreign_use(chains) and '%s %s' % (prefix, table) not in others[variant]:
                others[variant].append('%s %s' % (prefix, table))
    info['owned'] = owned
    info['others'] = others
    return info


def _foreign_use(chains):
    """A saved filter table is in use by someone else: rules, user chains or a non-accept policy that are not ours."""
    for name, chain in chains.items():
        if name in IPT_OWNED_CHAINS:
            continue
        if name not in ('INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING'):
            return True
        if chain['policy'] not in (None, 'accept'):
            return True
        if any(rule['target'] not in IPT_OWNED_CHAINS for rule in chain['rules']):
            return True
    return False


def _iptables_commands(available, variant):
    tools = available.get(variant) or {}
    needed = ('iptables', 'ip6tables', 'iptables-restore', 'iptables-save', 'ip6tables-restore', 'ip6tables-save')
    if all(tools.get(tool) for tool in needed):
        return dict((tool, tools[tool]) for tool in needed)
    return None


def choose_backend(requested, detected, state='present'):
    """nftables or iptables for this host, or FirewallPlanError naming pgsec_firewall_backend.

    requested: auto, nftables or iptables; detected: inspect_host result. Returns {"backend",
    "variant" (nft|legacy for iptables, else None), "commands" (tool paths), "reason"}.
    iptables-nft and iptables-legacy both give backend iptables, with that variant's tools.
    Refuses when the requested backend's tools are missing, when firewalld runs, when
    iptables-legacy rules are in use next to nftables input chains or iptables-nft rules (both
    sets of rules would filter the port and neither side sees the other), when the choice
    would add a second such system, and when pgsec rules already exist in another backend.
    For state absent the backend holding pgsec's rules is chosen and nothing is refused but a
    missing tool or rules in two backends.
    """
    name = 'pgsec_firewall_backend'
    if requested not in RULESET_BACKENDS:
        _fail(name, requested, 'is not one of %s' % ', '.join(RULESET_BACKENDS))
    available = detected.get('available') or {}
    owned = list(detected.get('owned') or [])
    others = detected.get('others') or {}
    legacy = others.get('iptables-legacy') or []
    nft_side = (others.get('nftables_input') or []) + (others.get('iptables-nft') or [])

    if len(owned) > 1:
        _fail(name, requested, 'cannot be applied: pgsec rules exist in %s; remove them from all but one '
              'by hand (nft delete table inet pgsec, or the PGSEC chains and the jumps to them)' % ' and '.join(owned))
    if state == 'absent':
        if not owned:
            return {'backend': None if requested == 'auto' else requested, 'variant': None, 'commands': {},
                    'reason': 'nothing of pgsec to remove'}
        return _choice(name, requested, owned[0], available, 'pgsec rules are in %s' % owned[0])

    if detected.get('firewalld'):
        _fail(name, requested, 'cannot be used while firewalld is running: firewalld owns the firewall and would '
              'fight rules added behind its back (use pgsec_firewall_backend=firewalld, or stop firewalld)')
    if legacy and nft_side:
        _fail(name, requested, 'cannot be chosen safely: iptables-legacy tables (%s) and nftables rules (%s) are both '
              'in use and both filter incoming traffic; remove one of them first'
              % (', '.join(legacy), ', '.join(nft_side)))
    if requested == 'auto':
        if owned:
            choice = owned[0]
            reason = 'pgsec rules already exist in %s' % choice
        elif legacy:
            choice, reason = 'iptables-legacy', 'iptables-legacy rules are in use (%s)' % ', '.join(legacy)
        elif others.get('iptables-nft') and not others.get('nftables_input'):
            choice, reason = 'iptables-nft', 'iptables(-nft) rules are in use (%s)' % ', '.join(others['iptables-nft'])
        elif available.get('nft'):
            choice, reason = 'nftables', 'nft is available' + (' and in use' if others.get('nftables_input') else '')
        elif _iptables_commands(available, 'iptables-nft'):
            choice, reason = 'iptables-nft', 'nft is not installed'
        elif _iptables_commands(available, 'iptables-legacy'):
            choice, reason = 'iptables-legacy', 'only iptables-legacy is installed'
        else:
            _fail(name, requested, 'found no firewall tools on this host (nft, iptables-restore)')
        return _choice(name, requested, choice, available, reason)
    if requested == 'nftables':
        if owned and owned[0] != 'nftables':
            _fail(name, requested, 'would leave the pgsec rules in %s behind: remove them first with state=absent'
                  % owned[0])
        if legacy:
            _fail(name, requested, 'would add nftables rules next to the iptables-legacy rules in use (%s); use '
                  'iptables' % ', '.join(legacy))
        return _choice(name, requested, 'nftables', available, 'requested')
    # iptables
    if owned and owned[0] == 'nftables':
        _fail(name, requested, 'would leave table inet pgsec behind: remove it first with state=absent')
    if owned:
        variant = owned[0]
    elif legacy:
        variant = 'iptables-legacy'
    elif _iptables_commands(available, 'iptables-nft'):
        variant = 'iptables-nft'
    else:
        variant = 'iptables-legacy'
    if variant == 'iptables-legacy' and nft_side:
        _fail(name, requested, 'would add iptables-legacy rules next to the nftables rules in use (%s); install '
              'iptables-nft or use nftables' % ', '.join(nft_side))
    return _choice(name, requested, variant, available, 'requested')


def _choice(name, requested, choice, available, reason):
    if choice == 'nftables':
        if not available.get('nft'):
            _fail(name, requested, 'is not available on this host: nft is not installed')
        return {'backend': 'nftables', 'variant': None, 'commands': {'nft': available['nft']}, 'reason': reason}
    variant = 'legacy' if choice == 'iptables-legacy' else 'nft'
    commands = _iptables_commands(available, choice)
    if commands is None:
        _fail(name, requested, 'is not available on this host: the %s tools (iptables, ip6tables and their '
              '-save/-restore) are not all installed' % choice)
    return {'backend': 'iptables', 'variant': variant, 'commands': commands, 'reason': reason}


def choose(requested, detected, state='present', firewalld_owned=False):
    """choose_backend with firewalld: {"backend", "variant", "commands", "reason"} or FirewallPlanError.

    detected: inspect_host result whose "available" may hold "firewall-cmd";
    firewalld_owned: the state file records rules of pgsec. firewalld is chosen when asked for,
    and for auto when it runs or holds pgsec's rules; nftables and iptables are refused while
    firewalld runs (choose_backend) or holds pgsec's rules.
    """
    name = 'pgsec_firewall_backend'
    if requested not in BACKENDS:
        _fail(name, requested, 'is not one of %s' % ', '.join(BACKENDS))
    running = bool(detected.get('firewalld'))
    owned = list(detected.get('owned') or [])
    firewall_cmd = (detected.get('available') or {}).get('firewall-cmd')
    if firewalld_owned and owned:
        _fail(name, requested, 'cannot be applied: pgsec rules exist in %s and in firewalld; remove them from one '
              'by hand' % ' and '.join(owned))
    choice = {'backend': 'firewalld', 'variant': None, 'commands': {'firewall-cmd': firewall_cmd}}
    if state == 'absent':
        if not firewalld_owned:
            return choose_backend('auto' if requested == 'firewalld' else requested, detected, state)
        if not running or not firewall_cmd:
            _fail(name, requested, 'cannot remove pgsec\'s rich rules: firewalld is not running (start it, or remove '
                  'the rules listed in %s with firewall-offline-cmd)' % STATE_FILE)
        return dict(choice, reason='pgsec rules are in firewalld')
    if requested in ('nftables', 'iptables') and firewalld_owned:
        _fail(name, requested, 'would leave the pgsec rich rules in firewalld behind: remove them first with '
              'state=absent')
    if requested == 'firewalld' or (requested == 'auto' and (running or firewalld_owned)):
        if owned:
            _fail(name, requested, 'would leave the pgsec rules in %s behind: remove them first with state=absent'
                  % owned[0])
        if not firewall_cmd:
            _fail(name, requested, 'is not available on this host: firewall-cmd is not installed')
        if not running:
            _fail(name, requested, 'cannot be applied: firewalld is not running (firewall-cmd --state)%s'
                  % (' and pgsec\'s rich rules are in its configuration' if firewalld_owned else ''))
        if firewalld_owned:
            reason = 'pgsec rules already exist in firewalld'
        else:
            reason = 'requested' if requested == 'firewalld' else 'firewalld is running'
        return dict(choice, reason=reason)
    return choose_backend(requested, detected, state)


# ---------------------------------------------------------------------------- registry

def backend_for(module, host, choice):
    """The FirewallBackend for a choice (choose's answer, or the one recorded with a rollback)."""
    return REGISTRY.get(choice['backend'], TablesBackend)(module, host, choice)


def select_backend(module, host, params):
    """(backend, state): the FirewallBackend for this host and what Host.read found; FirewallPlanError naming why not."""
    available = host.available()
    state = host.read(available)
    detected = inspect_host(state['nft'], saves(state), state['firewalld'], available)
    state['firewalld_state'] = fwd.load_state(read_text(fwd.STATE_FILE))
    choice = choose(params['backend'], detected, params['state'], fwd.owns_rules(state['firewalld_state']))
    return backend_for(module, host, choice), state
