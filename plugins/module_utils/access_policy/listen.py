# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""listen_addresses from the policy: the local addresses on the networks the clients come from."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import format_ip, format_network, is_link_local, is_loopback
from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import network_contains, network_overlap, parse_ip, parse_network


def client_sources(policy):
    """Every source network of pgsec_clients, canonical CIDR, in order, without duplicates."""
    sources = []
    for client in policy.get('pgsec_clients') or []:
        for source in client['sources']:
            if source not in sources:
                sources.append(source)
    return sources


def listen_addresses_for_clients(clients, local_networks):
    """Local addresses on the networks the clients come from, or None when none of them is.

    ``local_networks`` are the host's interface addresses with their prefix ("198.18.1.11/24").
    No clients means Unix sockets only: []. Clients that are not on a local network (routed)
    give None: the address they reach cannot be derived from the interfaces alone.
    """
    sources = []
    for client in clients or []:
        sources.extend(client['sources'])
    if not sources:
        return []
    addresses = []
    for text in local_networks or []:
        try:
            interface = ipaddress.ip_interface(str(text))
        except ValueError:
            continue
        if interface.ip.is_loopback:
            continue
        network = '%s/%d' % (interface.network.network_address, interface.network.prefixlen)
        if any(network_overlap(network, source) for source in sources):
            address = format_ip(interface.ip)
            if address not in addresses:
                addresses.append(address)
    return addresses or None


def _source_network(text):
    """The source as an ip_network; IPv4-mapped IPv6 (::ffff:a.b.c.d/96+) as the IPv4 network."""
    network = parse_network(text) if isinstance(text, str) else None
    if network is not None and network.version == 6 and network.prefixlen >= 96 \
            and network.network_address.ipv4_mapped is not None:
        network = ipaddress.ip_network('%s/%d' % (network.network_address.ipv4_mapped, network.prefixlen - 96))
    return network


def _is_loopback_entry(entry):
    return entry.get('scope') == 'host' or is_loopback(entry.get('address'))


def _listen_text(entry):
    """An interface address as listen_addresses needs it: link-local with its %zone."""
    address = format_ip(parse_ip(entry['address']))
    if is_link_local(address) and entry.get('name'):
        return '%s%%%s' % (address, entry['name'])
    return address


def _prefer_routable(entries):
    """Drop link-local addresses unless nothing else is left."""
    routable = [entry for entry in entries if not is_link_local(entry['address'])]
    return routable or entries


def _best_route(cidr, family, routes):
    """The most specific route of the family covering cidr (lowest metric, then first, on ties)."""
    best, best_key = None, None
    for index, route in enumerate(routes):
        if route.get('family') != family:
            continue
        if route.get('dst') == 'default':
            prefixlen = 0
        elif network_contains(route.get('dst'), cidr):
            prefixlen = parse_network(route['dst']).prefixlen
        else:
            continue
        key = (-prefixlen, route.get('metric') or 0, index)
        if best_key is None or key < best_key:
            best, best_key = route, key
    return best


def _addresses_for_source(source, interfaces, routes):
    """Local addresses the host uses to reach one source network, [] when there is none."""
    network = _source_network(source)
    if network is None:
        return []
    cidr = format_network(network)
    if is_loopback(cidr):
        return ['127.0.0.1' if network.version == 4 else '::1']
    family = 'ipv4' if network.version == 4 else 'ipv6'
    usable = [entry for entry in interfaces
              if entry.get('family') == family and parse_ip(entry.get('address')) is not None
              and isinstance(entry.get('prefixlen'), int) and not _is_loopback_entry(entry)]
    connected = [entry for entry in usable
                 if network_overlap('%s/%d' % (entry['address'], entry['prefixlen']), cidr)]
    if connected:
        return [_listen_text(entry) for entry in _prefer_routable(connected)]
    route = _best_route(cidr, family, routes)
    if route is None:
        return []
    prefsrc = parse_ip(route.get('prefsrc'))
    if prefsrc is not None:
        return [format_ip(prefsrc)]
    on_dev = [entry for entry in usable if route.get('dev') and entry.get('name') == route['dev']]
    chosen = ([entry for entry in on_dev if entry.get('scope') == 'global']
              or _prefer_routable(on_dev))[:1]
    return [_listen_text(entry) for entry in chosen]


def derive_listen_addresses(clients, interfaces, routes):
    """The local addresses pgsec_clients reach this host on, from its interfaces and routes.

    clients: [{sources: [CIDR, ...]}]; interfaces and routes as ``postgresql_access_facts``
    returns them. A source on a connected network gives the interface addresses on it;
    otherwise the most specific covering route gives its prefsrc or the first global address
    of its device; loopback sources give 127.0.0.1/::1. Returns {"addresses": [...] (first
    appearance, no duplicates), "unreachable": [sources without any], "by_source": {source: [...]}}.
    """
    addresses, unreachable, by_source = [], [], {}
    for client in clients or []:
        for source in client.get('sources') or []:
            if source in by_source:
                continue
            found = _addresses_for_source(source, interfaces or [], routes or [])
            by_source[source] = found
            if not found:
                unreachable.append(source)
            for address in found:
                if address not in addresses:
                    addresses.append(address)
    return {'addresses': addresses, 'unreachable': unreachable, 'by_source': by_source}
