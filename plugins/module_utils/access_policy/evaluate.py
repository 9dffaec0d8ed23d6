# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""facts + policy -> findings: the control catalogue (every area's CONTROLS, in order) and evaluate."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy import checks_hba, checks_host, checks_listen, checks_live
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy import checks_sockets, checks_tls, context
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import merge_policy, MissingFacts, SEVERITIES, STATUSES
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.profiles import CIS_MAPPING
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.ciphers import redact
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import _cluster_not_gathered, _Context, _outcome
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.checks_host import _check_firewall_active, _check_firewall_port_filtered
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.checks_host import _check_firewall_sources
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.checks_host import _cluster_port, _clusters_on_port, _manual


# Every area's catalogue, in report order; a new area is one more entry here.
_AREAS = (context.CONTROLS, checks_listen.CONTROLS, checks_sockets.CONTROLS, checks_tls.CONTROLS,
          checks_hba.CONTROLS, checks_live.CONTROLS, checks_host.CONTROLS)
CONTROLS = tuple(row for area in _AREAS for row in area)
_CONTROL_FIELDS = ('id', 'scope', 'severity', 'title', 'reference', 'remediation')
CONTROL_IDS = tuple(control[0] for control in CONTROLS)


# ---------------------------------------------------------------------------- evaluate

# The cluster checks, in catalogue order, as each area registered them (@CONTROLS.check).
_CLUSTER_CHECKS = tuple(item for area in _AREAS for item in area.checks)
_CONTROL_BY_ID = dict((control[0], dict(zip(_CONTROL_FIELDS, control))) for control in CONTROLS)
_SUBJECT_OF = {
    'listen.not_wildcard': 'listen_addresses', 'listen.within_policy': 'listen_addresses',
    'listen.auto_conf_override': 'postgresql.auto.conf', 'socket.permissions': 'unix_socket_permissions',
    'socket.files': 'Unix socket files', 'socket.directories': 'unix_socket_directories', 'tls.enabled': 'ssl',
    'tls.min_protocol': 'ssl_min_protocol_version', 'tls.ciphers': 'ssl_ciphers', 'tls.certificate': 'ssl_cert_file',
    'tls.key_file': 'ssl_key_file', 'tls.key_passphrase': 'ssl_passphrase_command',
    'tls.passphrase_store': 'ssl_passphrase_command', 'facts.complete': 'facts',
    'firewall.active': 'host firewall',
}


def controls():
    """The control catalogue: [{id, scope (cluster|port|host), severity, title, reference, remediation}]."""
    return [dict(zip(_CONTROL_FIELDS, control)) for control in CONTROLS]


def _finding(control_id, host, cluster, outcome):
    control = _CONTROL_BY_ID[control_id]
    return {
        'id': control_id, 'host': host, 'cluster': cluster,
        'subject': redact(outcome['subject']), 'expected': redact(outcome['expected']),
        'actual': redact(outcome['actual']), 'status': outcome['status'],
        'severity': outcome.get('severity') or control['severity'], 'reference': control['reference'],
        'title': control['title'], 'remediation': control['remediation'],
    }


def _run(control_id, host, cluster_id, check, *args):
    try:
        outcome = check(*args)
    except MissingFacts as exc:
        outcome = _outcome('error', _SUBJECT_OF.get(control_id, 'facts'), 'facts to evaluate this control',
                           'cannot evaluate: %s' % exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # malformed facts must not stop the audit
        outcome = _outcome('error', _SUBJECT_OF.get(control_id, 'facts'), 'facts to evaluate this control',
                           'cannot evaluate: unexpected facts (%s: %s)' % (type(exc).__name__, exc))
    return _finding(control_id, host, cluster_id, outcome)


def _local_networks(facts, local_networks):
    if local_networks is not None:
        return list(local_networks)
    for key in ('local_networks', 'addresses'):
        value = facts.get(key)
        if isinstance(value, list):
            return [item if isinstance(item, str) else '%s/%s' % (item.get('address'), item.get('prefix_len'))
                    for item in value if item]
    return None


def _interfaces_and_routes(facts, local_networks):
    """facts["interfaces"] and facts["routes"], or (None, None) when local_networks is given or there are none."""
    interfaces = facts.get('interfaces')
    if local_networks is not None or not isinstance(interfaces, list) or not interfaces:
        return None, None
    routes = facts.get('routes')
    return interfaces, routes if isinstance(routes, list) else []


def evaluate(facts, policy=None, host=None, local_networks=None):
    """Findings for one host's facts (``ansible_facts.pgsec``) against the policy.

    policy: pgsec_* variables (merged with merge_policy, so raw user input is fine).
    host: the inventory name put into every finding (None leaves it for the caller).
    local_networks: the host's interface addresses with prefix ("198.18.1.11/24"), used to
    derive the expected listen_addresses from pgsec_clients. When not given, facts["interfaces"]
    and facts["routes"] are used (derive_listen_addresses), or else facts["local_networks"].
    Returns findings in a stable order: per cluster, then per port, then host-wide.
    """
    policy = merge_policy(policy)
    facts = facts or {}
    if 'pgsec' in facts and 'clusters' not in facts:
        facts = facts['pgsec']
    networks = _local_networks(facts, local_networks)
    interfaces, routes = _interfaces_and_routes(facts, local_networks)
    findings = []
    clusters = facts.get('clusters')
    if not clusters:
        findings.append(_finding('facts.complete', host, None, _outcome(
            'error', 'facts', 'at least one PostgreSQL cluster',
            'no PostgreSQL cluster was found on this host' if clusters is not None
            else 'the facts have no cluster list (was postgresql_access_facts run?)')))
        clusters = []
    for cluster in clusters:
        ctx = _Context(facts, cluster, policy, networks, interfaces, routes)
        cluster_id = cluster.get('id')
        for control_id, check in _CLUSTER_CHECKS:
            if control_id != 'facts.complete' and cluster.get('settings') is None:
                check = _cluster_not_gathered
            findings.append(_run(control_id, host, cluster_id, check, ctx))
    ports = sorted(set([port for port in (_cluster_port(cluster) for cluster in clusters) if port is not None]
                       + [int(port) for port in ((facts.get('firewall') or {}).get('ports') or {})
                          if str(port).isdigit()]))
    for port in ports:
        on_port = _clusters_on_port(clusters, port)
        findings.append(_run('firewall.port_filtered', host, None, _check_firewall_port_filtered,
                             facts, policy, port, on_port))
        findings.append(_run('firewall.sources_within_policy', host, None, _check_firewall_sources,
                             facts, policy, port))
    findings.append(_run('firewall.active', host, None, _check_firewall_active, facts, policy))
    for control_id in ('manual.physical_access', 'manual.provider_attestation', 'manual.network_segregation'):
        findings.append(_run(control_id, host, None, _manual, control_id))
    return findings


def count_by_status(findings):
    """{status: number} with every status present."""
    counts = dict((status, 0) for status in STATUSES)
    for finding in findings:
        counts[finding.get('status')] = counts.get(finding.get('status'), 0) + 1
    return counts


def severity_rank(severity):
    """0 for critical ... 4 for info; len(SEVERITIES) for anything else."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def cis_finding_ids():
    """The finding ids the cis profile's controls are audited by (CIS_MAPPING), in catalogue order."""
    wanted = set(finding for row in CIS_MAPPING for finding in row[4])
    return [control_id for control_id in CONTROL_IDS if control_id in wanted]


def cis_table():
    """docs/cis.md's mapping table, as Markdown lines, from CIS_MAPPING and the control catalogue."""
    def code(names):
        return ', '.join('`%s`' % name for name in names) or '(none: the profile decides)'

    lines = ['| Control | Requirement | Variables | Enforced by the roles | Audit finding (check) |',
             '|---|---|---|---|---|']
    for control, requirement, variables, enforced, findings in CIS_MAPPING:
        label = control if control.startswith('pgdsat') else 'CIS %s' % control
        checks = '<br>'.join('`%s`: %s' % (finding, _CONTROL_BY_ID[finding]['title']) for finding in findings)
        lines.append('| %s | %s | %s | %s | %s |' % (label, requirement.replace('|', '\\|'), code(variables),
                                                     enforced.replace('|', '\\|'), checks))
    return lines
