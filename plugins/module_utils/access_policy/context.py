# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every check uses: the evaluation context of one cluster, outcome and text helpers; facts.complete."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import format_ip, is_loopback, parse_ip
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import MissingFacts, _ON_VALUES, SEVERITIES, _TCP_TYPES
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.ciphers import redact


# ---------------------------------------------------------------------------- small helpers

def _is_on(value):
    return str(value).strip().lower() in _ON_VALUES


def _quote(value):
    return "'%s'" % value


def _mode_int(text):
    try:
        return int(str(text), 8)
    except (TypeError, ValueError):
        return None


def _same_path(first, second):
    """Paths equal after normalisation, with /var/run and /run taken as the same directory."""
    def norm(path):
        path = posixpath.normpath(path or '')
        if path == '/var/run' or path.startswith('/var/run/'):
            path = path[len('/var'):]
        return path
    return norm(first) == norm(second)


def _listener_text(listener):
    address = listener.get('address') or '?'
    if ':' in address:
        address = '[%s]' % address
    return '%s:%s' % (address, listener.get('port'))


def _rule_text(rule):
    """Where a pg_hba rule is and what it says, without options (which may hold secrets)."""
    where = '%s:%s' % (posixpath.basename(rule.get('file') or 'pg_hba.conf'), rule.get('line'))
    parts = [rule.get('type') or '?', ','.join(rule.get('database') or []), ','.join(rule.get('user') or [])]
    if rule.get('type') != 'local':
        address = rule.get('address') or ''
        if rule.get('netmask'):
            address += ' ' + rule['netmask']
        parts.append(address)
    parts.append(rule.get('method') or '?')
    clientcert = (rule.get('options') or {}).get('clientcert')
    if clientcert:
        parts.append('clientcert=%s' % clientcert)
    return '%s %s' % (where, ' '.join(parts))


def _rules_text(rules, limit=8):
    texts = [_rule_text(rule) for rule in rules[:limit]]
    if len(rules) > limit:
        texts.append('... and %d more' % (len(rules) - limit))
    return '; '.join(texts)


def _worst(severities):
    ranked = [severity for severity in SEVERITIES if severity in severities]
    return ranked[0] if ranked else None


def _outcome(status, subject, expected, actual, severity=None):
    return {'status': status, 'subject': subject, 'expected': expected, 'actual': actual, 'severity': severity}


def _expand_listen(elements):
    """Addresses a listen_addresses list means: '*' -> 0.0.0.0 and ::, localhost -> 127.0.0.1 and ::1."""
    addresses = set()
    for element in elements:
        if element == '*':
            addresses.update(('0.0.0.0', '::'))
        elif element.lower() == 'localhost':
            addresses.update(('127.0.0.1', '::1'))
        else:
            address = parse_ip(element)
            addresses.add(format_ip(address) if address is not None else element)
    return addresses


def _address_is_loopback(address):
    return address in ('localhost',) or is_loopback(address)


# ---------------------------------------------------------------------------- evaluation context

class _Context(object):
    """One cluster's facts with the policy, and the helpers every control uses."""

    def __init__(self, host_facts, cluster, policy, local_networks, interfaces=None, routes=None):
        self.host_facts = host_facts
        self.cluster = cluster
        self.policy = policy
        self.cis = policy['pgsec_profile'] == 'cis'
        self.local_networks = local_networks
        self.interfaces = interfaces
        self.routes = routes
        self.running = bool(cluster.get('running'))

    def cluster_problem(self):
        errors = self.cluster.get('errors') or []
        if errors:
            return '; '.join('%s: %s' % (error.get('step'), error.get('message')) for error in errors[:3])
        return 'not in the facts'

    def require(self, key):
        value = self.cluster.get(key)
        if value is None:
            raise MissingFacts('%s of this cluster could not be gathered (%s)' % (key, self.cluster_problem()))
        return value

    @property
    def settings(self):
        return self.require('settings')

    def setting(self, name, required=True):
        entry = self.settings.get(name)
        if entry is None and required:
            raise MissingFacts('setting %s is not in the facts (%s)' % (name, self.cluster_problem()))
        return entry

    def value(self, name, default=None):
        entry = self.settings.get(name)
        if entry is None or entry.get('value') is None:
            return default
        return entry['value']

    def pending(self, name):
        """What the configuration files say for a running server when it differs from the live value."""
        entry = self.settings.get(name) or {}
        if self.running and 'file_value' in entry and entry['file_value'] != entry.get('value'):
            return entry['file_value']
        return None

    @property
    def server_user(self):
        return self.cluster.get('server_user') or 'postgres'

    @property
    def port(self):
        text = str(self.value('port', '') or '')
        return int(text) if text.isdigit() else None

    def listeners(self, kind):
        """Live listeners ('tcp' or 'unix'), None when the server does not run."""
        if not self.running:
            return None
        listeners = self.cluster.get('listeners')
        if listeners is None:
            raise MissingFacts('live listeners were not gathered (%s)' % self.cluster_problem())
        return listeners.get(kind) or []

    def not_running_note(self):
        return 'server not running: live state not checked, settings from %s' % (
            self.cluster.get('settings_from') or 'configuration files')

    @property
    def hba(self):
        return self.require('hba')

    def hba_rules(self):
        return [rule for rule in self.hba.get('rules') or [] if not rule.get('error')]

    def tcp_rules(self, accepting=True):
        rules = [rule for rule in self.hba_rules() if rule.get('type') in _TCP_TYPES]
        if accepting:
            rules = [rule for rule in rules if rule.get('method') != 'reject']
        return rules

    @property
    def tls(self):
        return self.require('tls')

    def ssl_library(self):
        """ssl_library: '' for a build without SSL support, None when unknown (stopped server)."""
        entry = self.settings.get('ssl_library')
        if entry is not None and entry.get('value') is not None:
            return entry['value']
        return (self.cluster.get('tls') or {}).get('library')

    def ssl_on(self):
        return _is_on(self.value('ssl', 'off'))

    def tls_not_applicable(self):
        """Why the TLS detail controls do not apply, or None."""
        if self.ssl_library() == '':
            return ('not applicable: this server is built without SSL support (ssl_library is empty), '
                    'so it cannot use TLS at all; see tls.enabled')
        if not self.policy['pgsec_tls_enabled'] and not self.ssl_on():
            return 'not applicable: ssl is off and pgsec_tls_enabled is false'
        return None


def _rule_is_loopback(rule):
    kind = rule.get('address_kind')
    if kind == 'cidr':
        return bool(rule.get('cidr')) and is_loopback(rule['cidr'])
    if kind == 'hostname':
        return (rule.get('address') or '').lower() == 'localhost'
    return kind == 'samehost'


def _rule_families(rule):
    if rule.get('address_kind') == 'cidr' and rule.get('family') in (4, 6):
        return (rule['family'],)
    return (4, 6)


class Catalogue(list):
    """One area's controls: rows (id, scope, severity, title, reference, remediation), in order.

    ``@CONTROLS.check(...)`` registers a control's metadata right above the function that checks it
    (cluster scope: evaluate runs it for every cluster); ``CONTROLS.add(...)`` one without a check.
    """

    def __init__(self):
        super(Catalogue, self).__init__()
        self.checks = []

    def add(self, control_id, scope, severity, title, reference, remediation):
        self.append((control_id, scope, severity, title, reference, remediation))

    def check(self, control_id, scope, severity, title, reference, remediation):
        self.add(control_id, scope, severity, title, reference, remediation)

        def register(function):
            if scope == 'cluster':
                self.checks.append((control_id, function))
            return function
        return register


CONTROLS = Catalogue()  # this area's controls: @CONTROLS.check above each check


def _cluster_not_gathered(ctx):
    raise MissingFacts('the facts of this cluster could not be gathered (%s)' % ctx.cluster_problem())


@CONTROLS.check(
    'facts.complete', 'cluster', 'info', 'Facts were gathered completely',
    'pgsec.hardening: postgresql_access_facts',
    'Fix what the facts module could not read (see actual) and audit again.')
def _check_facts_complete(ctx):
    errors = ctx.cluster.get('errors') or []
    expected = 'every part of the cluster inspected'
    if errors:
        return _outcome('error', 'facts', expected, '; '.join(
            '%s: %s' % (error.get('step'), redact(error.get('message'))) for error in errors[:5]))
    note = 'complete (settings from %s)' % (ctx.cluster.get('settings_from') or '?')
    if not ctx.running:
        note += '; server not running, so live listeners and socket files are unknown'
    return _outcome('pass', 'facts', expected, note)
