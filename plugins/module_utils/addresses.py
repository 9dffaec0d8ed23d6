# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IP address and network helpers shared by the pg_hba, listener and firewall parsers.

Networks are passed around as canonical CIDR strings ("10.0.0.0/8", "2001:db8::/32")
so that every result stays JSON-serialisable.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import re
import socket

ANY_IPV4 = '0.0.0.0/0'
ANY_IPV6 = '::/0'

# ``ip`` JSON family names -> the names used in the facts.
_IP_FAMILIES = {'inet': 'ipv4', 'inet6': 'ipv6'}
# Route types that deliver nothing: a match means "no path" whatever dev they show.
_DROPPING_ROUTE_TYPES = frozenset(['blackhole', 'unreachable', 'prohibit', 'throw'])

# Words that firewall and pg_hba outputs use for "every address".
_EVERYTHING_WORDS = frozenset(['all', 'any', 'anywhere', '0/0'])
_IPV4_SHORTHAND = re.compile(r'^(?:0[xX][0-9a-fA-F]+|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]+|[0-9]+)){0,3}$')


def parse_ip(text):
    """Parse a numeric host address the way getaddrinfo(AI_NUMERICHOST) does.

    Accepts IPv4 in inet_aton forms ("10.1" is 10.0.0.1) and IPv6 with an optional
    %zone. Returns an ipaddress.IPv4Address/IPv6Address, or None.
    """
    if not isinstance(text, str) or not text:
        return None
    if ':' in text:
        try:
            return ipaddress.IPv6Address(text.split('%', 1)[0])
        except ValueError:
            return None
    if not _IPV4_SHORTHAND.match(text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def format_ip(address):
    """Text form of an address; IPv4-mapped IPv6 is always written ::ffff:a.b.c.d."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return '::ffff:%s' % address.ipv4_mapped
    return str(address)


def netmask_to_prefix(netmask):
    """Prefix length of a dotted/colon netmask ("255.255.0.0" -> 16).

    Returns None when the text is not an address or the mask is not contiguous.
    """
    mask = parse_ip(netmask) if isinstance(netmask, str) else netmask
    if mask is None:
        return None
    bits = mask.max_prefixlen
    value = int(mask)
    inverted = value ^ ((1 << bits) - 1)
    if inverted & (inverted + 1):
        return None
    return bits - inverted.bit_length()


def parse_network(text, netmask=None):
    """Parse "addr", "addr/len" or "addr" + netmask into an ip_network (host bits dropped).

    Returns None when the text is not numeric or the mask is invalid/non-contiguous.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text.lower() in _EVERYTHING_WORDS:
        return None
    prefix = None
    if '/' in text:
        if netmask is not None:
            return None
        text, length = text.split('/', 1)
        if length.isdigit():
            prefix = int(length)
        else:
            prefix = netmask_to_prefix(length)
            if prefix is None:
                return None
    elif netmask is not None:
        prefix = netmask_to_prefix(netmask)
        if prefix is None:
            return None
    address = parse_ip(text)
    if address is None:
        return None
    if prefix is None:
        prefix = address.max_prefixlen
    if prefix > address.max_prefixlen:
        return None
    return ipaddress.ip_network('%s/%d' % (address, prefix), strict=False)


def network_info(text, netmask=None):
    """Describe an address/network: {"cidr", "family" (4|6), "prefix_len"} or None."""
    network = parse_network(text, netmask)
    if network is None:
        return None
    return {'cidr': format_network(network), 'family': network.version, 'prefix_len': network.prefixlen}


def format_network(network):
    """Canonical CIDR text of an ip_network."""
    return '%s/%d' % (format_ip(network.network_address), network.prefixlen)


def normalize_cidr(text, netmask=None):
    """Canonical CIDR text for an address or network, or None if it is not numeric."""
    network = parse_network(text, netmask)
    return None if network is None else format_network(network)


def covers_everything(text, netmask=None):
    """True for "all"/"any", 0.0.0.0/0, ::/0 and any prefix-0 network."""
    if isinstance(text, str) and text.strip().lower() in _EVERYTHING_WORDS:
        return True
    network = parse_network(text, netmask)
    return network is not None and network.prefixlen == 0


def range_to_cidrs(first, last):
    """Smallest list of CIDR strings covering first..last inclusive, or None if invalid."""
    start, end = parse_ip(first), parse_ip(last)
    if start is None or end is None or start.version != end.version or start > end:
        return None
    return [format_network(net) for net in ipaddress.summarize_address_range(start, end)]


def network_contains(outer, inner):
    """True when CIDR text outer contains CIDR text inner (same family only)."""
    outer_net, inner_net = parse_network(outer), parse_network(inner)
    if outer_net is None or inner_net is None or outer_net.version != inner_net.version:
        return False
    return (inner_net.network_address in outer_net
            and inner_net.prefixlen >= outer_net.prefixlen)


def network_overlap(first, second):
    """The narrower of two overlapping CIDR strings, or None when they are disjoint."""
    if network_contains(first, second):
        return normalize_cidr(second)
    if network_contains(second, first):
        return normalize_cidr(first)
    return None


def network_family(text):
    """4 or 6 for a CIDR/address string, None if not numeric."""
    network = parse_network(text)
    return None if network is None else network.version


def is_loopback(text):
    """True when the address/network lies inside 127.0.0.0/8 or is ::1."""
    network = parse_network(text)
    if network is None:
        return False
    if network.version == 6 and network.network_address.ipv4_mapped is not None:
        return network.network_address.ipv4_mapped.is_loopback and network.prefixlen >= 104
    return network.network_address.is_loopback and network.broadcast_address.is_loopback


def is_link_local(text):
    """True when the address/network lies inside fe80::/10."""
    network = parse_network(text)
    return network is not None and network.version == 6 and network.network_address.is_link_local


# ---------------------------------------------------------------------------- ip -j output

def _json_list(json_text):
    """The list a JSON text holds, [] when it is empty, malformed or not a list."""
    if not json_text or not isinstance(json_text, str):
        return []
    try:
        value = json.loads(json_text)
    except ValueError:
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def parse_ip_addresses(json_text):
    """Addresses from ``ip -j address show``: [{name, address, prefixlen, family, scope}].

    family is 'ipv4' or 'ipv6', scope as ip prints it ('global', 'host', 'link', ...).
    Malformed output gives [].
    """
    addresses = []
    for interface in _json_list(json_text):
        for info in interface.get('addr_info') or []:
            if not isinstance(info, dict):
                continue
            family = _IP_FAMILIES.get(info.get('family'))
            address = parse_ip(info.get('local'))
            prefixlen = info.get('prefixlen')
            if family is None or address is None or not isinstance(prefixlen, int):
                continue
            addresses.append({'name': interface.get('ifname'), 'address': format_ip(address),
                              'prefixlen': prefixlen, 'family': family, 'scope': info.get('scope')})
    return addresses


def parse_ip_routes(json_text, family):
    """Routes from ``ip -j [-6] route show table main``: [{dst, dev, gateway, prefsrc, family, metric}].

    dst is 'default' or a canonical CIDR (a bare host address becomes /32 or /128); family
    ('ipv4'/'ipv6') is the one the command was run for. Multipath routes take their first
    next hop; blackhole/unreachable/prohibit/throw routes have dev None. Malformed output gives [].
    """
    routes = []
    for route in _json_list(json_text):
        dst = route.get('dst')
        if dst != 'default':
            dst = normalize_cidr(dst) if isinstance(dst, str) else None
            if dst is None:
                continue
        hop = route
        nexthops = [item for item in route.get('nexthops') or [] if isinstance(item, dict)]
        if not route.get('dev') and nexthops:
            hop = nexthops[0]
        via = hop.get('via')
        gateway = hop.get('gateway') or (via.get('host') if isinstance(via, dict) else None)
        metric = route.get('metric')
        entry = {'dst': dst, 'dev': hop.get('dev'), 'gateway': gateway, 'prefsrc': route.get('prefsrc'),
                 'family': family, 'metric': metric if isinstance(metric, int) else None}
        if route.get('type') in _DROPPING_ROUTE_TYPES:
            entry.update(dev=None, gateway=None, prefsrc=None)
        routes.append(entry)
    return routes
