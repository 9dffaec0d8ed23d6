# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controls of the pg_hba area: metadata, then the checks."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import network_contains
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.parse import rule_covers_all_addresses
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import CIS, CIS_BROAD_DATABASES, CIS_BROAD_USERS, CIS_MAX_PREFIX, _TCP_TYPES
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.listen import client_sources
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import _outcome, _quote, _rule_families
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import _rule_is_loopback, _rule_text, _rules_text, _worst
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import Catalogue


CONTROLS = Catalogue()  # this area's controls: @CONTROLS.check above each check


# ---------------------------------------------------------------------------- pg_hba

@CONTROLS.check(
    'hba.valid', 'cluster', 'high', 'pg_hba.conf is valid',
    'PostgreSQL documentation: pg_hba_file_rules (a pg_hba.conf with errors is not loaded)',
    'Fix the lines reported and reload; PostgreSQL keeps the old rules (or refuses to start) until then.')
def _check_hba_valid(ctx):
    hba = ctx.hba
    subject = hba.get('file') or 'pg_hba.conf'
    expected = 'pg_hba.conf parses without errors and the server reports none'
    stat = hba.get('stat') or {}
    if stat and stat.get('exists') is False:
        return _outcome('fail', subject, expected, '%s does not exist' % subject)
    problems = ['%s:%s: %s' % (posixpath.basename(error.get('file') or subject), error.get('line'),
                               error.get('message')) for error in hba.get('errors') or []]
    problems += ['server: line %s: %s' % (rule.get('line_number') or rule.get('line'), rule.get('error'))
                 for rule in hba.get('server_errors') or []]
    rules = hba.get('rules') or []
    if problems:
        return _outcome('fail', subject, expected, '; '.join(problems[:6]))
    return _outcome('pass', subject, expected, '%d rules, no errors' % len(rules))


@CONTROLS.check(
    'hba.ssl_required', 'cluster', 'high', 'Client connections over TCP must use SSL',
    CIS + ' 6.8 (TCP only over hostssl; loopback lines included under cis, 5.8)',
    "Turn accepting 'host'/'hostnossl' lines into 'hostssl' lines and reject 'hostnossl' connections "
    "from the clients' networks.")
def _check_hba_ssl_required(ctx):
    expected = 'every accepting TCP rule is hostssl (hostnossl only to reject)'
    if not ctx.cis:
        expected += '; loopback-only rules exempt in the baseline profile'
    if not ctx.policy['pgsec_tls_enabled']:
        return _outcome('manual', 'pg_hba.conf', expected, 'not applicable: pgsec_tls_enabled is false', 'info')
    rules = ctx.tcp_rules()
    plain = [rule for rule in rules if rule.get('type') in ('host', 'hostnossl', 'hostnogssenc')]
    exempt = [rule for rule in plain if not ctx.cis and _rule_is_loopback(rule)]
    offending = [rule for rule in plain if rule not in exempt]
    notes = []
    if exempt:
        notes.append('loopback-only rules allowed in baseline: %s' % _rules_text(exempt, 4))
    if any(rule.get('type') == 'hostgssenc' for rule in rules):
        notes.append('hostgssenc rules are encrypted by GSSAPI')
    if offending:
        return _outcome('fail', 'pg_hba.conf', expected,
                        'accept connections without SSL: %s' % '; '.join([_rules_text(offending)] + notes))
    ssl_rules = [rule for rule in rules if rule.get('type') == 'hostssl']
    actual = '%d hostssl rule(s), no plain TCP rule accepts' % len(ssl_rules)
    if ssl_rules and not ctx.ssl_on():
        actual += ' (ssl is off, so hostssl rules never match)'
    return _outcome('pass', 'pg_hba.conf', expected, '; '.join([actual] + notes))


@CONTROLS.check(
    'hba.no_all_addresses', 'cluster', 'high', 'No rule accepts connections from any address',
    CIS + ' 5.9',
    'Replace 0.0.0.0/0, ::/0 and "all" with the networks of pgsec_clients (under cis in reject lines too: '
    'reject per client network instead).')
def _check_hba_no_all_addresses(ctx):
    if ctx.cis:
        # as auditors read 5.9: no line for every address at all, reject lines included
        expected = 'no TCP rule for all, 0.0.0.0/0 or ::/0, reject rules included (cis)'
        rules = [rule for rule in ctx.tcp_rules(accepting=False) if rule_covers_all_addresses(rule)]
        accepting = [rule for rule in rules if rule.get('method') != 'reject']
        if accepting:
            severity = 'critical' if any(rule.get('method') == 'trust' for rule in accepting) else 'high'
            return _outcome('fail', 'pg_hba.conf', expected, 'open to every address: %s' % _rules_text(accepting),
                            severity)
        if rules:
            return _outcome('fail', 'pg_hba.conf', expected, 'reject rules for every address (reject per client '
                            'network instead): %s' % _rules_text(rules), 'low')
        return _outcome('pass', 'pg_hba.conf', expected, 'no TCP rule covers every address')
    expected = 'no accepting rule for all, 0.0.0.0/0 or ::/0'
    offending = [rule for rule in ctx.tcp_rules() if rule_covers_all_addresses(rule)]
    if offending:
        severity = 'critical' if any(rule.get('method') == 'trust' for rule in offending) else 'high'
        return _outcome('fail', 'pg_hba.conf', expected, 'open to every address: %s' % _rules_text(offending),
                        severity)
    return _outcome('pass', 'pg_hba.conf', expected, 'no accepting rule covers every address')


@CONTROLS.check(
    'hba.range_size', 'cluster', 'medium', 'Authorized address ranges are narrow',
    CIS + ' 5.9 (at most /16 for IPv4, /48 for IPv6; pgsec_hba_max_prefix_v4 / pgsec_hba_max_prefix_v6)',
    'Narrow the address ranges to the clients\' networks.')
def _check_hba_range_size(ctx):
    max4, max6 = ctx.policy['pgsec_hba_max_prefix_v4'], ctx.policy['pgsec_hba_max_prefix_v6']
    expected = 'IPv4 ranges /%d or narrower, IPv6 /%d or narrower' % (max4, max6)
    if ctx.cis:
        max4, max6 = max(max4, CIS_MAX_PREFIX[4]), max(max6, CIS_MAX_PREFIX[6])
        expected = 'IPv4 ranges /%d or narrower, IPv6 /%d or narrower, reject rules included (cis)' % (max4, max6)
    offending = []
    notes = []
    for rule in ctx.tcp_rules(accepting=not ctx.cis):
        kind = rule.get('address_kind')
        if kind == 'all':
            offending.append(rule)
        elif kind == 'cidr' and rule.get('prefix_len') is not None:
            limit = max4 if rule.get('family') == 4 else max6
            if rule['prefix_len'] < limit:
                offending.append(rule)
        elif kind == 'samenet':
            notes.append('%s: samenet admits every network the host is on' % _rule_text(rule))
    if offending:
        return _outcome('fail', 'pg_hba.conf', expected,
                        'ranges too large: %s' % '; '.join([_rules_text(offending)] + notes))
    return _outcome('pass', 'pg_hba.conf', expected,
                    '; '.join(['every accepting range is within the limits'] + notes))


@CONTROLS.check(
    'hba.sources_within_policy', 'cluster', 'medium', 'pg_hba.conf admits exactly the clients of the policy',
    'pgsec.hardening policy: pg_hba sources derived from pgsec_clients',
    'Let the hardening roles write pg_hba.conf from pgsec_clients, or add the missing clients to the policy.')
def _check_hba_sources_within_policy(ctx):
    sources = client_sources(ctx.policy)
    expected = ('accepting non-loopback TCP rules only for %s' % ', '.join(sources) if sources
                else 'no accepting non-loopback TCP rule (no pgsec_clients)')
    rules = [rule for rule in ctx.tcp_rules() if not _rule_is_loopback(rule)]
    outside = []
    for rule in rules:
        cidr = rule.get('cidr') if rule.get('address_kind') == 'cidr' else None
        if cidr is None or not any(network_contains(source, cidr) for source in sources):
            outside.append(rule)
    required_types = ('hostssl',) if ctx.policy['pgsec_tls_enabled'] else ('hostssl', 'host', 'hostnossl')
    missing = []
    for source in sources:
        covered = any(rule.get('type') in required_types and (
            rule_covers_all_addresses(rule) or (rule.get('cidr') and network_contains(rule['cidr'], source)))
            for rule in rules)
        if not covered:
            missing.append(source)
    actual = []
    severity = None
    if outside:
        actual.append('admits sources outside the policy: %s' % _rules_text(outside))
        severity = 'high' if any(rule_covers_all_addresses(rule) for rule in outside) else 'medium'
    if missing:
        actual.append('no %s rule admits %s' % ('/'.join(required_types), ', '.join(missing)))
        severity = severity or 'low'
    if severity:
        return _outcome('fail', 'pg_hba.conf', expected, '; '.join(actual), severity)
    return _outcome('pass', 'pg_hba.conf', expected,
                    '%d non-loopback accepting rule(s), all within the clients\' sources' % len(rules))


_TCP_METHOD_SEVERITY = {'trust': 'critical', 'password': 'high', 'ident': 'high', 'md5': 'medium'}


@CONTROLS.check(
    'hba.auth_method', 'cluster', 'high', 'Strong authentication methods',
    CIS + ' 5.4, 5.12 (local lines: 5.3)',
    'Use scram-sha-256 (or cert/gss) for TCP, peer for local lines, set password_encryption = scram-sha-256 '
    'and reset passwords still stored as MD5.')
def _check_hba_auth_method(ctx):
    expected = 'TCP: scram-sha-256, cert or gss (never trust, password, md5, ident); local: %s; ' \
               'password_encryption = scram-sha-256' % ('peer' if ctx.cis else 'not trust')
    problems = []
    for rule in ctx.tcp_rules():
        severity = _TCP_METHOD_SEVERITY.get(rule.get('method'))
        if severity:
            problems.append((severity, _rule_text(rule)))
    for rule in ctx.hba_rules():
        if rule.get('type') != 'local' or rule.get('method') == 'reject':
            continue
        if rule.get('method') == 'trust':
            problems.append(('high', _rule_text(rule)))
        elif ctx.cis and rule.get('method') != 'peer':
            problems.append(('medium', _rule_text(rule)))
    encryption = ctx.value('password_encryption')
    notes = []
    if encryption is not None and encryption.lower() not in ('scram-sha-256',):
        problems.append(('medium', 'password_encryption = %s' % _quote(encryption)))
    elif encryption is not None:
        notes.append('password_encryption = scram-sha-256')
    if problems:
        return _outcome('fail', 'pg_hba.conf', expected,
                        'weak methods: %s' % '; '.join(text for _severity, text in problems[:8]),
                        _worst([severity for severity, _text in problems]))
    return _outcome('pass', 'pg_hba.conf', expected, '; '.join(['no weak authentication method'] + notes))


def _broad_targets(rule, cis):
    databases, users = rule.get('database') or [], rule.get('user') or []
    if not cis:
        return 'all' in databases or 'all' in users
    return (any(name in CIS_BROAD_DATABASES or name[:1] in ('/', '@') for name in databases)
            or any(name in CIS_BROAD_USERS or name[:1] in ('/', '@') for name in users))


@CONTROLS.check(
    'hba.specific_targets', 'cluster', 'medium', 'TCP rules name specific databases and users',
    CIS + ' 5.10',
    "Replace 'all' in the database and user columns of TCP lines with the databases and users of each client.")
def _check_hba_specific_targets(ctx):
    expected = "TCP rules name databases and users, not 'all'"
    if ctx.cis:
        expected = ("accepting TCP rules name databases and users: not all, sameuser, samerole, "
                    "a regular expression or an @file")
    offending = [rule for rule in ctx.tcp_rules() if _broad_targets(rule, ctx.cis)]
    if not offending:
        return _outcome('pass', 'pg_hba.conf', expected, "no accepting TCP rule uses 'all'")
    text = "'all' in: %s" % _rules_text(offending)
    if ctx.cis:
        text = 'not specific: %s' % _rules_text(offending)
    if ctx.cis:
        return _outcome('fail', 'pg_hba.conf', expected, text)
    return _outcome('pass', 'pg_hba.conf', expected + ' (cis only)', 'not required by the baseline profile; ' + text,
                    'info')


@CONTROLS.check(
    'hba.no_remote_superuser', 'cluster', 'high', 'Superusers cannot log in remotely',
    CIS + ' 5.11',
    'Do not list postgres (or other superusers) or "all" users in non-loopback TCP lines; administer '
    'through the Unix socket.')
def _check_hba_no_remote_superuser(ctx):
    expected = 'no non-loopback TCP rule for postgres, the server user or all users'
    names = {'all', 'postgres', ctx.server_user}
    offending = [rule for rule in ctx.tcp_rules() if not _rule_is_loopback(rule)
                 and names & set(rule.get('user') or [])]
    if not offending:
        return _outcome('pass', 'pg_hba.conf', expected, 'no remote rule can match a superuser by name')
    text = 'may admit superusers remotely: %s' % _rules_text(offending)
    if ctx.cis:
        return _outcome('fail', 'pg_hba.conf', expected, text)
    return _outcome('manual', 'pg_hba.conf', expected,
                    text + " (baseline: check that no superuser can log in through these rules, e.g. "
                           "'SELECT rolname FROM pg_roles WHERE rolsuper')", 'medium')


@CONTROLS.check(
    'hba.localhost_tcp', 'cluster', 'low', 'No TCP rules for the loopback interface',
    CIS + ' 5.8',
    'Remove host lines for 127.0.0.1/::1 and connect locally through the Unix socket.')
def _check_hba_localhost_tcp(ctx):
    expected = 'no TCP rules for 127.0.0.1 / ::1 (use the Unix socket)'
    offending = [rule for rule in ctx.tcp_rules() if _rule_is_loopback(rule)]
    if not offending:
        return _outcome('pass', 'pg_hba.conf', expected, 'no loopback TCP rule')
    text = 'loopback TCP rules: %s' % _rules_text(offending)
    if ctx.cis:
        return _outcome('fail', 'pg_hba.conf', expected, text)
    return _outcome('pass', 'pg_hba.conf', expected + ' (cis only)', 'not required by the baseline profile; ' + text,
                    'info')


_TYPE_COVERS = {'host': ('ssl', 'nossl'), 'hostnogssenc': ('ssl', 'nossl'), 'hostssl': ('ssl',),
                'hostnossl': ('nossl',), 'hostgssenc': ()}


def _reject_covers(reject, rule):
    """Whether a reject rule's addresses include every address of rule."""
    if reject.get('address_kind') == 'all':
        return True
    if reject.get('address_kind') != 'cidr' or not reject.get('cidr'):
        return False
    if rule.get('address_kind') == 'cidr' and rule.get('cidr'):
        return network_contains(reject['cidr'], rule['cidr'])
    return False


def _unclosed(rules, accepting):
    """Accepting rules whose addresses are not closed by 'all all' rejects for TLS and non-TLS connections.

    A reject after the rule closes what it covers; one before it closes only the connection kinds the
    rule cannot match itself (a hostnossl reject above a hostssl line).
    """
    open_rules = []
    for rule in accepting:
        index = rules.index(rule)
        own = set(_TYPE_COVERS.get(rule.get('type'), ()))
        covered = set()
        for other_index, other in enumerate(rules):
            if (other.get('method') != 'reject' or 'all' not in (other.get('database') or [])
                    or 'all' not in (other.get('user') or []) or not _reject_covers(other, rule)):
                continue
            kinds = set(_TYPE_COVERS.get(other.get('type'), ()))
            covered |= kinds if other_index > index else kinds - own
        if not covered >= {'ssl', 'nossl'}:
            open_rules.append(rule)
    return open_rules


@CONTROLS.check(
    'hba.reject_unmatched', 'cluster', 'low', 'pg_hba.conf ends TCP rules with an explicit reject',
    'pgsec.hardening policy: PostgreSQL itself refuses unmatched TCP connections (explicit final rejects; '
    'under cis per client network, as CIS 5.9 allows no 0.0.0.0/0)',
    "Add 'host all all 0.0.0.0/0 reject' and 'host all all ::/0 reject' (or 'host all all all reject') "
    "after the last accepting TCP line; under cis 'hostssl all all NETWORK reject' after the client lines "
    "and 'hostnossl all all NETWORK reject' for each client network.")
def _check_hba_reject_unmatched(ctx):
    expected = "a final 'host all all 0.0.0.0/0 reject' and '::/0 reject' (or 'all') after the last accepting TCP rule"
    rules = [rule for rule in ctx.hba_rules() if rule.get('type') in _TCP_TYPES]
    accepting = [rule for rule in rules if rule.get('method') != 'reject']
    if ctx.cis:
        expected = ("each accepting TCP rule's network closed by 'all all NETWORK reject' rules for TLS and "
                    'non-TLS connections; other addresses match no rule, so PostgreSQL refuses them (cis: no '
                    '0.0.0.0/0, CIS 5.9)')
    if not accepting:
        return _outcome('pass', 'pg_hba.conf', expected, 'no TCP rule accepts anything')
    if ctx.cis:
        open_rules = _unclosed(rules, accepting)
        if open_rules:
            return _outcome('fail', 'pg_hba.conf', expected,
                            'no explicit reject after: %s' % _rules_text(open_rules))
        return _outcome('pass', 'pg_hba.conf', expected,
                        'every accepting TCP rule is followed by rejects for its network; PostgreSQL refuses '
                        'connections no rule matches')
    problems = []
    for family in (4, 6):
        covered = set()
        closed_at = None
        for index, rule in enumerate(rules):
            if (rule.get('method') == 'reject' and 'all' in (rule.get('database') or [])
                    and 'all' in (rule.get('user') or []) and rule_covers_all_addresses(rule)
                    and family in _rule_families(rule)):
                covered.update(_TYPE_COVERS.get(rule.get('type'), ()))
                if covered >= {'ssl', 'nossl'}:
                    closed_at = index
                    break
        if closed_at is None:
            problems.append('no catch-all reject for IPv%d' % family)
            continue
        dead = [rule for rule in rules[closed_at + 1:] if rule.get('method') != 'reject'
                and family in _rule_families(rule)]
        if dead:
            problems.append('IPv%d rules after the catch-all reject are never used: %s' % (family, _rules_text(dead, 3)))
    if problems:
        return _outcome('fail', 'pg_hba.conf', expected, '; '.join(problems))
    return _outcome('pass', 'pg_hba.conf', expected, 'TCP rules end with a catch-all reject for IPv4 and IPv6')
