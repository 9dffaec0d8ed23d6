# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the key's passphrase lives on the host, so that no copy of the configuration, data or TLS
directory holds it next to the key.

``systemd-creds``: the passphrase encrypted with the host key (and a TPM2 where present) under
/etc/credstore.encrypted; a drop-in for the cluster's unit loads it (``LoadCredentialEncrypted=``)
and copies it, as root, into a runtime file only the server user reads, which
ssl_passphrase_command prints. It exists in memory while the service runs, so a reload asks
nobody and a reboot asks nobody either.

``file``: where systemd cannot do that (not the service manager, no systemd-creds, a server run
by something other than a PostgreSQL unit), a root-owned file outside the configuration and data
directories, readable by the server's group; the reason is reported.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import posixpath
import re
import shlex

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import parse_postmaster_pid, unit_from_cgroup

CREDENTIAL_NAME = 'pgsec-tls-passphrase'
CREDENTIAL_DIR = '/etc/credstore.encrypted'
RUNTIME_DIR = '/run/pgsec-tls'
PASSPHRASE_DIR = '/etc/pgsec/passphrase'
# The TLS directory of clusters whose configuration lives in the data directory.
TLS_DIR = '/etc/pgsec/tls'
UNIT_DIR = '/etc/systemd/system'
DROPIN_NAME = 'pgsec-tls-passphrase.conf'
STORES = ('auto', 'systemd-creds', 'file')
VARIABLE = 'pgsec_tls_passphrase_store'


class StoreError(Exception):
    """The requested store cannot be used on this host; names the variable."""


def store_name(cluster_id):
    """A file name for a cluster: '15/main' -> '15-main', '/var/lib/pgsql/18/data' -> 'var-lib-pgsql-18-data'."""
    return re.sub(r'[^A-Za-z0-9_.]+', '-', str(cluster_id)).strip('-.') or 'cluster'


def cluster_unit(io, cluster):
    """The systemd unit the cluster runs under: the postmaster's cgroup, else Debian's instance unit."""
    data_directory = cluster.get('data_directory') or ''
    pid_text = io.read(io.host_path(posixpath.join(data_directory, 'postmaster.pid'))) if data_directory else None
    postmaster = parse_postmaster_pid((pid_text or b'').decode('utf-8', 'replace'))
    if postmaster:
        cgroup = io.read(io.host_path('/proc/%d/cgroup' % postmaster['pid']))
        unit = unit_from_cgroup((cgroup or b'').decode('utf-8', 'replace'))
        if unit:
            return unit
    if cluster.get('layout') == 'debian' and cluster.get('version') and cluster.get('name') \
            and io.stat(io.host_path('/lib/systemd/system/postgresql@.service'), follow=True):
        return 'postgresql@%s-%s.service' % (cluster['version'], cluster['name'])
    return None


def why_not_systemd(io, cluster):
    """(unit, None) when systemd credentials can hold the passphrase, else (None, reason)."""
    if not io.stat(io.host_path('/run/systemd/system'), follow=True):
        return None, 'systemd is not the service manager of this host'
    if not io.which('systemd-creds'):
        return None, 'systemd-creds is not installed (it comes with systemd 250 and later)'
    unit = cluster_unit(io, cluster)
    if not unit:
        return None, 'the server runs under no systemd unit'
    if not unit.startswith('postgresql'):
        return None, 'the server runs under %s, whose restarts pgsec.hardening leaves to its owner' % unit
    return unit, None


def dropin_text(unit, credential_path, runtime_path, server_user, group):
    """The unit drop-in: systemd decrypts the credential at start and hands a copy to the server user only."""
    runtime_dir = posixpath.dirname(runtime_path)
    return ('# pgsec.hardening: the TLS key passphrase, decrypted by systemd for %s only.\n'
            '[Service]\n'
            'LoadCredentialEncrypted=%s:%s\n'
            'ExecStartPre=+/usr/bin/install -d -o %s -g %s -m 0700 %s\n'
            'ExecStartPre=+/usr/bin/install -o %s -g %s -m 0400 %%d/%s %s\n'
            'ExecStopPost=+/bin/rm -f %s\n'
            % (unit, CREDENTIAL_NAME, credential_path, server_user, group, runtime_dir,
               server_user, group, CREDENTIAL_NAME, runtime_path, runtime_path))


def passphrase_command(path):
    """ssl_passphrase_command printing a file; "%" doubled as PostgreSQL expands %p."""
    return ('/bin/cat %s' % shlex.quote(path)).replace('%', '%%')


class Store(object):
    """Where one cluster's passphrase is kept: the files to write, the command that reads it."""

    kind = None

    def __init__(self, io, name, reason=None):
        self.name = name
        self.reason = reason
        self.unit = None

    def describe(self):
        return {'kind': self.kind, 'path': self.path, 'unit': self.unit, 'reason': self.reason}


class CredentialStore(Store):
    kind = 'systemd-creds'

    def __init__(self, io, name, unit):
        super(CredentialStore, self).__init__(io, name)
        self.unit = unit
        self.path = io.host_path(posixpath.join(CREDENTIAL_DIR, 'pgsec-tls-%s.cred' % name))
        self.runtime_path = io.host_path(posixpath.join(RUNTIME_DIR, name, 'passphrase'))
        self.dropin_path = io.host_path(posixpath.join(UNIT_DIR, (unit or 'none') + '.d', DROPIN_NAME))

    @property
    def command(self):
        return passphrase_command(self.runtime_path)

    @staticmethod
    def encrypt_argv(systemd_creds, plain_path, out_path):
        return [systemd_creds, 'encrypt', '--name=' + CREDENTIAL_NAME, '--with-key=auto', plain_path, out_path]

    @staticmethod
    def decrypt_argv(systemd_creds, path, out_path):
        return [systemd_creds, 'decrypt', '--name=' + CREDENTIAL_NAME, path, out_path]


class FileStore(Store):
    kind = 'file'

    def __init__(self, io, name, reason):
        super(FileStore, self).__init__(io, name, reason)
        self.path = io.host_path(posixpath.join(PASSPHRASE_DIR, name))

    @property
    def command(self):
        return passphrase_command(self.path)


def select_store(io, cluster, requested):
    """The Store for a cluster; raises StoreError when ``requested`` cannot be met here."""
    requested = requested or 'auto'
    if requested not in STORES:
        raise StoreError('%s: %r is not one of %s' % (VARIABLE, requested, ', '.join(STORES)))
    name = store_name(cluster.get('id'))
    if requested == 'file':
        return FileStore(io, name, 'chosen by %s' % VARIABLE)
    unit, reason = why_not_systemd(io, cluster)
    if unit:
        return CredentialStore(io, name, unit)
    if requested == 'systemd-creds':
        raise StoreError('%s: systemd-creds cannot be used for %s: %s' % (VARIABLE, cluster.get('id'), reason))
    return FileStore(io, name, reason)


def read_passphrase(io, run, store_kind, path, scratch):
    """The stored passphrase (str without the newline) or None; scratch: a private directory for the clear text."""
    if store_kind == 'file':
        data = io.read(path)
    else:
        systemd_creds = io.which('systemd-creds')
        if not systemd_creds or not io.stat(path):
            return None
        out_path = posixpath.join(scratch, 'passphrase.current')
        rc, _out, _err = run(CredentialStore.decrypt_argv(systemd_creds, path, out_path))
        data = io.read(out_path) if rc == 0 else None
        if data is not None:
            os.unlink(out_path)
    if data is None:
        return None
    return data.decode('utf-8', 'replace').rstrip('\n')
