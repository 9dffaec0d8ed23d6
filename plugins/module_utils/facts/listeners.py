# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Listening sockets from /proc/net/{tcp,tcp6,unix} and their owning process.

Listeners are dicts {"family": "inet"|"inet6"|"unix", "address", "port", "path",
"inode", "uid"}; TCP ones have path None, unix ones have address None and port set
only for PostgreSQL sockets named .s.PGSQL.<port>. uid is None for unix sockets.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import format_ip

TCP_LISTEN = '0A'
UNIX_ACCEPTCON = 0x10000
UNIX_STREAM = 1
UNIX_SEQPACKET = 5
_SOCKET_LINK = re.compile(r'^socket:\[(\d+)\]$')
_PG_SOCKET = re.compile(r'(?:^|/)\.s\.PGSQL\.(\d+)$')


def decode_proc_address(hex_address, byteorder='little'):
    """Text address of a /proc/net/tcp* hex address (32-bit words in host byte order)."""
    if len(hex_address) not in (8, 32):
        raise ValueError('unexpected address length: %r' % hex_address)
    raw = b''.join(int(hex_address[i:i + 8], 16).to_bytes(4, byteorder)
                   for i in range(0, len(hex_address), 8))
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    return format_ip(ipaddress.IPv6Address(raw))


def parse_proc_net_tcp(text, family='inet', byteorder='little', listening_only=True):
    """Listeners from /proc/net/tcp (family 'inet') or /proc/net/tcp6 ('inet6'); malformed lines are skipped."""
    listeners = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or not fields[0].endswith(':') or ':' not in fields[1]:
            continue
        if listening_only and fields[3].upper() != TCP_LISTEN:
            continue
        address_hex, port_hex = fields[1].rsplit(':', 1)
        try:
            address = decode_proc_address(address_hex, byteorder)
            port = int(port_hex, 16)
            uid = int(fields[7])
            inode = int(fields[9])
        except ValueError:
            continue
        listeners.append({'family': family, 'address': address, 'port': port, 'path': None,
                          'inode': inode, 'uid': uid})
    return listeners


def postgres_socket_port(path):
    """Port number encoded in a PostgreSQL socket name (/run/postgresql/.s.PGSQL.5432 -> 5432), else None."""
    match = _PG_SOCKET.search(path or '')
    return int(match.group(1)) if match else None


def parse_proc_net_unix(text, listening_only=True):
    """Listening stream/seqpacket unix sockets from /proc/net/unix.

    path keeps spaces; abstract sockets start with '@'; unbound sockets have path None.
    """
    listeners = []
    for line in text.splitlines():
        fields = line.split(None, 7)
        if len(fields) < 7 or not fields[0].endswith(':'):
            continue
        try:
            flags = int(fields[3], 16)
            sock_type = int(fields[4], 16)
            inode = int(fields[6])
        except ValueError:
            continue
        if listening_only and (not flags & UNIX_ACCEPTCON or sock_type not in (UNIX_STREAM, UNIX_SEQPACKET)):
            continue
        path = fields[7] if len(fields) > 7 else None
        listeners.append({'family': 'unix', 'address': None, 'port': postgres_socket_port(path),
                          'path': path, 'inode': inode, 'uid': None})
    return listeners


def parse_listeners(tcp=None, tcp6=None, unix=None, byteorder='little'):
    """All listeners from the texts of /proc/net/tcp, tcp6 and unix (any may be None)."""
    listeners = []
    if tcp:
        listeners.extend(parse_proc_net_tcp(tcp, 'inet', byteorder))
    if tcp6:
        listeners.extend(parse_proc_net_tcp(tcp6, 'inet6', byteorder))
    if unix:
        listeners.extend(parse_proc_net_unix(unix))
    return listeners


def socket_inodes(fd_targets):
    """Set of socket inodes from /proc/PID/fd symlink targets such as 'socket:[12345]'."""
    inodes = set()
    for target in fd_targets:
        match = _SOCKET_LINK.match(target.strip())
        if match:
            inodes.add(int(match.group(1)))
    return inodes


def listeners_for_process(listeners, fd_targets):
    """The listeners whose inode is among a process's open sockets (fd_targets as for socket_inodes)."""
    inodes = socket_inodes(fd_targets)
    return [listener for listener in listeners if listener['inode'] in inodes]


def is_wildcard(listener):
    """True for TCP listeners bound to 0.0.0.0 or :: (every local address)."""
    return listener.get('family') in ('inet', 'inet6') and listener.get('address') in ('0.0.0.0', '::')
