# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host and port controls (the firewall) and the manual ones: metadata, then the checks."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import covers_everything, is_loopback, network_contains
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import MissingFacts
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.listen import client_sources
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import _outcome
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import Catalogue


CONTROLS = Catalogue()  # this area's controls: @CONTROLS.check above each check


# ---------------------------------------------------------------------------- firewall and host

def _firewall_not_managed(policy, subject, expected):
    if policy['pgsec_firewall_backend'] == 'none':
        return _outcome('manual', subject, expected,
                        'not checked: pgsec_firewall_backend is none; make sure the network filters the '
                        'PostgreSQL port elsewhere', 'info')
    return None


def _backend_matches(wanted, backend):
    if wanted == 'auto':
        return backend not in (None, 'none')
    if wanted == 'iptables':
        return (backend or '').startswith('iptables')
    return backend == wanted


@CONTROLS.check(
    'firewall.active', 'host', 'high', 'A host firewall is active',
    'pgsec.hardening policy: host firewall for the PostgreSQL port (defense in depth)',
    'Enable the firewall backend of pgsec_firewall_backend (the pgsec.hardening firewall role does this).')
def _check_firewall_active(host_facts, policy):
    wanted = policy['pgsec_firewall_backend']
    expected = 'an active host firewall (%s)' % ('any backend' if wanted == 'auto' else wanted)
    skipped = _firewall_not_managed(policy, 'host firewall', expected)
    if skipped:
        return skipped
    firewall = host_facts.get('firewall')
    if not firewall:
        raise MissingFacts('the firewall was not gathered (postgresql_access_facts firewall=false?)')
    backend = firewall.get('backend')
    active = firewall.get('active') or []
    actual = 'backend %s%s' % (backend, ' (active: %s)' % ', '.join(str(item) for item in active) if active else '')
    if backend in (None, 'none'):
        return _outcome('fail', 'host firewall', expected, 'no firewall is active')
    if not _backend_matches(wanted, backend):
        return _outcome('fail', 'host firewall', expected, actual + ', not %s' % wanted, 'medium')
    return _outcome('pass', 'host firewall', expected, actual)


def _clusters_on_port(clusters, port):
    return [cluster for cluster in clusters if _cluster_port(cluster) == port]


def _cluster_port(cluster):
    entry = (cluster.get('settings') or {}).get('port') or {}
    text = str(entry.get('value') or '')
    return int(text) if text.isdigit() else None


def _port_exposed(clusters):
    """True when a running cluster on the port listens on a non-loopback address."""
    for cluster in clusters:
        if not cluster.get('running'):
            continue
        for listener in (cluster.get('listeners') or {}).get('tcp') or []:
            if not is_loopback(listener.get('address') or ''):
                return True
    return False


_FAMILIES = ('ipv4', 'ipv6')


def _managed_port(host_facts, policy, subject, port, expected):
    """(the skip outcome, None) when the policy leaves the firewall alone, else (None, the port's summary)."""
    skipped = _firewall_not_managed(policy, subject, expected)
    if skipped:
        return skipped, None
    firewall = host_facts.get('firewall')
    if not firewall:
        raise MissingFacts('the firewall was not gathered (postgresql_access_facts firewall=false?)')
    summary = (firewall.get('ports') or {}).get(str(port))
    if summary is None:
        raise MissingFacts('the firewall facts do not cover port %s' % port)
    return None, summary


@CONTROLS.check(
    'firewall.port_filtered', 'port', 'high', 'The PostgreSQL port is filtered by default',
    'pgsec.hardening policy: host firewall for the PostgreSQL port (defense in depth)',
    'Drop or reject new connections to the port by default, for IPv4 and IPv6, and allow only the clients.')
def _check_firewall_port_filtered(host_facts, policy, port, clusters):
    subject = 'tcp/%s' % port
    expected = 'new connections dropped or rejected by default for IPv4 and IPv6'
    skipped, summary = _managed_port(host_facts, policy, subject, port, expected)
    if skipped:
        return skipped
    parts = ['%s default %s' % (family.replace('ipv', 'IPv'), (summary.get(family) or {}).get('default'))
             for family in _FAMILIES]
    conditional = summary.get('conditional') or []
    if conditional:
        parts.append('%d rule(s) depend on conditions not evaluated (interfaces, sets, limits)' % len(conditional))
    used_by = ', '.join(str(cluster.get('id')) for cluster in clusters) or 'no cluster'
    parts.append('used by %s' % used_by)
    if all((summary.get(family) or {}).get('filtered') for family in _FAMILIES):
        return _outcome('pass', subject, expected, '; '.join(parts))
    severity = 'high' if _port_exposed(clusters) else 'low'
    if severity == 'low':
        parts.append('nothing listens on it beyond loopback now')
    return _outcome('fail', subject, expected, '; '.join(parts), severity)


@CONTROLS.check(
    'firewall.sources_within_policy', 'port', 'medium', 'The firewall admits only the clients of the policy',
    'pgsec.hardening policy: firewall sources derived from pgsec_clients',
    'Allow the port only from the sources of pgsec_clients.')
def _check_firewall_sources(host_facts, policy, port):
    subject = 'tcp/%s' % port
    sources = client_sources(policy)
    expected = ('allowed only from %s' % ', '.join(sources) if sources
                else 'allowed from no remote source (no pgsec_clients)')
    skipped, summary = _managed_port(host_facts, policy, subject, port, expected)
    if skipped:
        return skipped
    allowed = [cidr for family in _FAMILIES for cidr in (summary.get(family) or {}).get('allowed_sources') or []]
    remote = [cidr for cidr in allowed if not is_loopback(cidr)]
    outside = [cidr for cidr in remote if not any(network_contains(source, cidr) for source in sources)]
    missing = [source for source in sources if not any(network_contains(cidr, source) for cidr in allowed)]
    actual = ['allowed from %s' % (', '.join(allowed) or 'nowhere')]
    severity = None
    if outside:
        actual.append('outside the policy: %s' % ', '.join(outside))
        severity = 'high' if any(covers_everything(cidr) for cidr in outside) else 'medium'
    if missing:
        actual.append('clients not allowed: %s' % ', '.join(missing))
        severity = severity or 'low'
    if severity:
        return _outcome('fail', subject, expected, '; '.join(actual), severity)
    return _outcome('pass', subject, expected, '; '.join(actual))


_MANUAL_EXPECTED = {
    'manual.physical_access': 'only authorised staff can physically reach the host, its consoles and its backups',
    'manual.provider_attestation': "a current SOC 2 Type II (or SOC 3) report covers the provider's service and "
                                   'region hosting this server',
    'manual.network_segregation': 'the host sits in a database network segment (VLAN / VPC / security group) '
                                  'reachable only from application networks and administrators',
}


def _manual(control_id):
    return _outcome('manual', 'host', _MANUAL_EXPECTED[control_id],
                    'not automatable: verify it and keep the evidence (see remediation)', 'info')


# Controls a person judges (no check function: evaluate reports them as manual).
CONTROLS.add(
    'manual.physical_access', 'host', 'info', 'Physical access to the host is restricted',
    'Organisational control: physical security of database hosts (not automatable)',
    'Confirm that only authorised staff can reach the hardware, consoles and backups of this host '
    '(data centre access lists, locked racks, console/IPMI credentials), and record the evidence.')
CONTROLS.add(
    'manual.provider_attestation', 'host', 'info', "The hosting provider's controls are attested",
    'Organisational control: SOC 2 Type II / SOC 3 report of the hosting provider (not automatable)',
    "Obtain and review the provider's current SOC 2 Type II (or SOC 3) report, check that it covers the "
    'region/service hosting this server and note the complementary user-entity controls you must run.')
CONTROLS.add(
    'manual.network_segregation', 'host', 'info', 'Database hosts are on a segregated network',
    'Organisational control: network segregation (VLAN / VPC / security groups) (not automatable)',
    'Confirm that this host sits in a database network segment (VLAN, VPC subnet, security group) '
    'reachable only from application networks and administrators, independently of the host firewall.')
