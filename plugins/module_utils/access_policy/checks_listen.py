# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controls of the listen area (listen_addresses, postgresql.auto.conf): metadata, then the checks."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import format_ip, parse_ip
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_config import split_setting
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import CIS, _SECRET_SETTING, _WILDCARD_LISTEN
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.listen import derive_listen_addresses, listen_addresses_for_clients
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import (
    _address_is_loopback,
    _expand_listen,
    _listener_text,
    _outcome,
    _quote,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import Catalogue


CONTROLS = Catalogue()  # this area's controls: @CONTROLS.check above each check


# ---------------------------------------------------------------------------- listen

@CONTROLS.check(
    'listen.not_wildcard', 'cluster', 'high', 'listen_addresses is not a wildcard',
    CIS + ' 5.2',
    "Set listen_addresses to the specific addresses clients use ('' for Unix sockets only) and restart; "
    "the pgsec.hardening listen role derives them from pgsec_clients.")
def _check_listen_not_wildcard(ctx):
    entry = ctx.setting('listen_addresses')
    values = [('listen_addresses', entry.get('value') or '')]
    pending = ctx.pending('listen_addresses')
    if pending is not None:
        values.append(('configuration files (after restart)', pending))
    actual = []
    wildcard = False
    for label, value in values:
        elements = split_setting('listen_addresses', value)
        if elements is None:
            elements = [value]
        if any(element in _WILDCARD_LISTEN for element in elements):
            wildcard = True
        actual.append('%s = %s' % (label, _quote(value)))
    live = ctx.listeners('tcp')
    if live is None:
        actual.append(ctx.not_running_note())
    else:
        wild = [listener for listener in live if listener.get('wildcard')]
        if wild:
            wildcard = True
            actual.append('live wildcard listeners: %s' % ', '.join(_listener_text(item) for item in wild))
        else:
            actual.append('live TCP listeners: %s' % (', '.join(_listener_text(item) for item in live) or 'none'))
    return _outcome('fail' if wildcard else 'pass', 'listen_addresses',
                    "specific addresses, never '*', 0.0.0.0 or ::", '; '.join(actual))


def _expected_listen(ctx):
    """(expected address list or None, why)."""
    policy = ctx.policy
    if policy['pgsec_listen_addresses'] is not None:
        return policy['pgsec_listen_addresses'], 'pgsec_listen_addresses'
    if not policy['pgsec_clients']:
        return [], 'no pgsec_clients: Unix sockets only'
    if ctx.interfaces:
        derived = derive_listen_addresses(policy['pgsec_clients'], ctx.interfaces, ctx.routes)
        if not derived['addresses']:
            return None, 'this host has no route to the networks of pgsec_clients (%s)' % (
                ', '.join(derived['unreachable']))
        why = 'addresses this host reaches pgsec_clients from (interfaces and routes)'
        if derived['unreachable']:
            why += '; no route to %s' % ', '.join(derived['unreachable'])
        return derived['addresses'], why
    networks = ctx.local_networks
    if not networks:
        return None, 'the facts have no interface addresses to derive them from pgsec_clients'
    expected = listen_addresses_for_clients(policy['pgsec_clients'], networks)
    if expected is None:
        return None, 'no local interface is on the networks of pgsec_clients (routed clients)'
    return expected, 'addresses on the networks of pgsec_clients'


@CONTROLS.check(
    'listen.within_policy', 'cluster', 'medium', 'The server listens only where clients need it',
    'pgsec.hardening policy: listen_addresses derived from pgsec_clients (Unix sockets only without clients)',
    'Set listen_addresses to the expected addresses (or adjust pgsec_clients / pgsec_listen_addresses) and restart.')
def _check_listen_within_policy(ctx):
    entry = ctx.setting('listen_addresses')
    value = entry.get('value') or ''
    elements = split_setting('listen_addresses', value) or ([value] if value else [])
    setting = _expand_listen(elements)
    live = ctx.listeners('tcp')
    live_addresses = set(listener.get('address') for listener in live) if live is not None else None
    actual = ['listen_addresses = %s' % _quote(value)]
    if live is None:
        actual.append(ctx.not_running_note())
    else:
        actual.append('live: %s' % (', '.join(_listener_text(item) for item in live) or 'no TCP listener'))
    expected, why = _expected_listen(ctx)
    current = setting | (live_addresses or set())
    if expected is None:
        expected_text = 'the local addresses on the networks of pgsec_clients'
        if current & set(('0.0.0.0', '::')):
            return _outcome('fail', 'listen_addresses', expected_text,
                            '; '.join(actual + ['listens on every address']), 'medium')
        if all(_address_is_loopback(address) for address in current):
            return _outcome('fail', 'listen_addresses', expected_text,
                            '; '.join(actual + ['pgsec_clients cannot connect: loopback/Unix sockets only']), 'low')
        return _outcome('error', 'listen_addresses', expected_text,
                        '; '.join(actual + ['cannot tell whether these are the right addresses: %s '
                                            '(set pgsec_listen_addresses to check exactly)' % why]))
    wanted = _expand_listen(expected)
    explicit = set(format_ip(parse_ip(item)) for item in expected if parse_ip(item) is not None)
    extra = (setting - wanted) | ((live_addresses or set()) - wanted)
    missing = (wanted - setting) | ((explicit - live_addresses) if live_addresses is not None else set())
    expected_text = '%s (%s)' % (_quote(', '.join(expected)), why)
    if not extra and not missing:
        return _outcome('pass', 'listen_addresses', expected_text, '; '.join(actual))
    severity = 'low'
    if extra:
        actual.append('not wanted: %s' % ', '.join(sorted(extra)))
        if not all(_address_is_loopback(address) for address in extra):
            severity = 'medium'
    if missing:
        actual.append('missing: %s' % ', '.join(sorted(missing)))
    return _outcome('fail', 'listen_addresses', expected_text, '; '.join(actual), severity)


def _shown_value(name, value):
    if _SECRET_SETTING.search(name) and value:
        return '(set, value hidden)'
    return _quote(value)


@CONTROLS.check(
    'listen.auto_conf_override', 'cluster', 'medium', 'No access setting is overridden by ALTER SYSTEM',
    'PostgreSQL documentation: ALTER SYSTEM (postgresql.auto.conf is read last and wins)',
    'Remove the override with ALTER SYSTEM RESET <name> (then reload or restart) and keep the setting '
    'in postgresql.conf, where the hardening roles manage it.')
def _check_auto_conf_override(ctx):
    auto_conf = ctx.cluster.get('auto_conf_file')
    overrides = []
    for name, entry in sorted(ctx.settings.items()):
        if entry.get('from_auto_conf') or (auto_conf and entry.get('sourcefile') == auto_conf):
            overrides.append('%s = %s' % (name, _shown_value(name, entry.get('value'))))
    subject = auto_conf or 'postgresql.auto.conf'
    expected = 'no access setting set by ALTER SYSTEM'
    if overrides:
        return _outcome('fail', subject, expected, 'overridden by ALTER SYSTEM: %s' % ', '.join(overrides))
    return _outcome('pass', subject, expected, 'no access setting comes from postgresql.auto.conf')
