# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgsec-tls-renew: the hook a certificate renewer (certbot, certmonger, a Vault agent) calls on the host.

    pgsec-tls-renew --cluster 15/main --cert NEW.crt --key NEW.key

It checks the new pair with the same validate_material the TLS module uses (key matches, chain
and CRL against the placed CA, names, key strength, dates), encrypts the key with the cluster's
passphrase when there is one, puts the pair in place, reloads the server and reads back the
certificate it serves. A refused pair, or one the server does not take, leaves the old pair
served, and the reason is printed; the exit status is 1.

postgresql_access_tls installs it as a Python zip application built from these module_utils
(build_hook) with one JSON file per cluster (hook_config); it needs only python3 and openssl.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import io as io_module
import json
import os
import posixpath
import re
import signal
import subprocess
import sys
import time
import zipfile

from ansible_collections.pgsec.hardening.plugins.module_utils.tls import material as tls_material
from ansible_collections.pgsec.hardening.plugins.module_utils.tls import passphrase as tls_passphrase
from ansible_collections.pgsec.hardening.plugins.module_utils.tls import validation as tls_validation
from ansible_collections.pgsec.hardening.plugins.module_utils.files import write_file
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import local_read_file, parse_postmaster_pid

HOOK_PATH = '/usr/local/sbin/pgsec-tls-renew'
CONFIG_DIR = '/etc/pgsec/tls-renew'
PACKAGE = 'ansible_collections.pgsec.hardening.plugins.module_utils'
# The module_utils the hook runs on (this one and what it imports).
HOOK_MODULES = ('addresses', 'files', 'facts', 'facts.pg_files', 'facts.x509', 'tls', 'tls.validation', 'tls.material',
                'tls.passphrase', 'tls.renewal')
PACKAGES = ('facts', 'tls')
_CERT_BLOCK = re.compile(r'-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----', re.S)


def config_path(io, cluster_id):
    return io.host_path(posixpath.join(CONFIG_DIR, tls_passphrase.store_name(cluster_id) + '.json'))


def hook_config(cluster, directory, files, names, warn_days, store, record):
    """The JSON the hook reads for one cluster: paths and checks, never a secret."""
    config = {'cluster': cluster.get('id'), 'record': record, 'data_directory': cluster.get('data_directory'),
              'directory': directory,
              'cert': files['cert'], 'key': files['key'], 'ca': files.get('ca'), 'crl': files.get('crl'),
              'names': list(names or []), 'warn_days': warn_days,
              'passphrase_store': {'kind': store.kind, 'path': store.path} if store else None}
    return (json.dumps(config, indent=2, sort_keys=True) + '\n').encode('utf-8')


def build_hook(read_source):
    """The hook as a Python zip application; read_source(module_name) -> bytes. Deterministic for idempotence."""
    buffer = io_module.BytesIO()
    buffer.write(b'#!/usr/bin/python3\n')
    parts = PACKAGE.split('.')
    members = [('/'.join(parts[:depth]) + '/__init__.py', b'') for depth in range(1, len(parts) + 1)]
    members += [('/'.join(parts + name.split('.')) + ('/__init__.py' if name in PACKAGES else '.py'), read_source(name))
                for name in HOOK_MODULES]
    members.append(('__main__.py', ('import sys\nfrom %s.tls.renewal import main\nsys.exit(main())\n'
                                    % PACKAGE).encode('utf-8')))
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def hook_entries(io, cluster, directory, entries, options, store):
    """pgsec-tls-renew and this cluster's configuration for it, or the configuration's removal (renew_hook off)."""
    cluster_config = config_path(io, cluster.get('id'))
    if not options.get('renew_hook', True):
        return [entry for entry in [tls_material.absent_entry(io, 'renew_config', cluster_config)] if entry]
    files = dict((entry['name'], entry['path']) for entry in entries
                 if entry['state'] == 'present' and entry['name'] in ('cert', 'key', 'ca', 'crl'))
    config = hook_config(cluster, directory, files, options.get('names'), options.get('warn_days'), store,
                         record_path(io, cluster.get('id')))
    hook = io.host_path(HOOK_PATH)
    wanted = (('renew_hook', hook, build_hook(module_source), (0, 0, 0o755, 'root', 'root'),
               (posixpath.dirname(hook), 0, 0, 0o755)),
              ('renew_config', cluster_config, config, (0, 0, 0o600, 'root', 'root'),
               (posixpath.dirname(cluster_config), 0, 0, 0o700)))
    result = []
    for name, path, data, owner, parent in wanted:
        existing = io.stat(path)
        current = io.read(path) if existing else None
        result.append(tls_material.present_entry(name, path, owner, None if current == data else data, existing,
                                                 current, parent=parent))
    return result


def record_path(io, cluster_id):
    """Where the hook notes the fingerprint of the certificate it put in place."""
    return io.host_path(posixpath.join(CONFIG_DIR, tls_passphrase.store_name(cluster_id) + '.renewed'))


def renewed_fingerprint(io, cluster):
    data = io.read(record_path(io, cluster.get('id')))
    if not data:
        return None
    return data.decode('utf-8', 'replace').strip() or None


class _Hook(object):
    """What postgresql_access_tls asks of the hook (tls_material.place_material's ``hook``)."""

    entries = staticmethod(hook_entries)
    renewed_fingerprint = staticmethod(renewed_fingerprint)


HOOK = _Hook()


def module_source(name):
    """The source of one of these module_utils, from the module's payload or the installed collection."""
    import importlib
    module = importlib.import_module('%s.%s' % (PACKAGE, name))
    path = getattr(module, '__file__', None) or ''
    loader = getattr(module, '__loader__', None)
    if os.path.isfile(path):
        with open(path, 'rb') as handle:
            return handle.read()
    if loader is not None and hasattr(loader, 'get_data'):
        return loader.get_data(path)  # a zip payload (AnsiballZ)
    raise IOError('the source of %s.%s cannot be read' % (PACKAGE, name))


def _run(argv, env=None, data=None):
    """(rc, stdout, stderr) of a command: the hook runs outside Ansible, so there is no run_command to call."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                            stderr=subprocess.PIPE, env=full_env)
    out, err = proc.communicate(data if data is not None else b'')
    return proc.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def _first_certificate(text):
    match = _CERT_BLOCK.search(text or '')
    return ''.join(match.group(1).split()) if match else None


def _probe_address(postmaster):
    """Where the server listens (first listen_addresses entry from postmaster.pid), for reading what it serves."""
    listen = (postmaster.get('listen') or '').split(',')[0].strip()
    if listen in ('', '*', '0.0.0.0', 'localhost'):
        return '127.0.0.1'
    if listen == '::':
        return '::1'
    return listen


def served_certificate(run, postmaster, openssl='openssl'):
    """Base64 body of the certificate the server presents, or None with the reason."""
    address = _probe_address(postmaster)
    target = '[%s]:%s' % (address, postmaster['port']) if ':' in address else '%s:%s' % (address, postmaster['port'])
    rc, out, err = run(['timeout', '10', openssl, 's_client', '-starttls', 'postgres', '-connect', target])
    body = _first_certificate(out)
    if not body:
        return None, 'no certificate read from %s: %s' % (target, tls_validation.safe_error_text(err) or 'rc %s' % rc)
    return body, None


def _postmaster(data_directory):
    return parse_postmaster_pid(local_read_file(posixpath.join(data_directory, 'postmaster.pid')))


class RenewalError(Exception):
    pass


# validate_material names the role variables; here the values come from the command line and the host.
_HOOK_WORDS = (('pgsec_tls_key_passphrase', 'the stored passphrase'), ('pgsec_tls_cert', 'the new certificate (--cert)'),
               ('pgsec_tls_key', 'the new key (--key)'), ('pgsec_tls_ca', 'the placed CA'), ('pgsec_tls_crl', 'the placed CRL'))


def _in_hook_words(text):
    for variable, words in _HOOK_WORDS:
        text = text.replace(variable, words)
    return text


def renew(config, cert_path, key_path, run=_run, reload_wait=10.0, openssl='openssl'):
    """Validate, place, reload, verify; returns a message; raises RenewalError with the old pair still served."""
    material_io = tls_material.MaterialIO()
    cluster = config['cluster']
    cert = tls_validation.normalize_pem(material_io.read(cert_path).decode('utf-8', 'replace'))
    key = tls_validation.normalize_pem(material_io.read(key_path).decode('utf-8', 'replace'))
    errors = tls_validation.check_pem({'cert': cert, 'key': key, 'ca': None, 'crl': None})
    if errors:
        raise RenewalError('%s: the new pair was refused, the old one stays served: %s'
                           % (cluster, _in_hook_words('; '.join(errors))))
    store = config.get('passphrase_store') or None
    stage = material_io.private_dir()
    try:
        passphrase = tls_passphrase.read_passphrase(material_io, run, store['kind'], store['path'], stage) \
            if store else None
        if store and passphrase is None:
            raise RenewalError('%s: the key passphrase in %s cannot be read; nothing was changed' % (cluster, store['path']))
        staged = {'cert': posixpath.join(stage, 'cert.pem'), 'key': posixpath.join(stage, 'key.pem')}
        material_io.write_private(staged['cert'], cert.encode('utf-8'))
        material_io.write_private(staged['key'], key.encode('utf-8'))
        for name in ('ca', 'crl'):
            if config.get(name) and os.path.exists(config[name]):
                staged[name] = config[name]
        expect = {'names': config.get('names') or [], 'warn_days': config.get('warn_days'), 'passphrase': passphrase}
        validation = tls_validation.validate_material(run, staged, expect, openssl=openssl)
        if validation['errors']:
            raise RenewalError('%s: the new pair was refused, the old one stays served: %s'
                               % (cluster, _in_hook_words('; '.join(validation['errors']))))
        key_data = key.encode('utf-8')
        if passphrase and not tls_validation.key_is_encrypted(key):
            encrypted = posixpath.join(stage, 'key.enc')
            argv, env = tls_validation.encrypt_key_command(staged['key'], encrypted, passphrase, openssl)
            rc, _out, err = run(argv, env)
            if rc != 0:
                raise RenewalError('%s: the new key could not be encrypted: %s' % (cluster, tls_validation.safe_error_text(err)))
            key_data = material_io.read(encrypted)
        message = _swap(config, cert.encode('utf-8'), key_data, run, reload_wait, openssl, validation['warnings'])
        write_file(None, config['record'],
                   (validation['certificate'] or {}).get('sha256_fingerprint', '') + '\n', mode=0o600, uid=0, gid=0)
        return message
    finally:
        material_io.remove_tree(stage)


def _swap(config, cert_data, key_data, run, reload_wait, openssl, warnings):
    cluster = config['cluster']
    old = dict((name, tls_material.MaterialIO.read(config[name])) for name in ('cert', 'key'))
    postmaster = _postmaster(config['data_directory'])

    def place(cert, key):
        write_file(None, config['key'], key)  # keep=True: each file keeps its owner and mode
        write_file(None, config['cert'], cert)
        if postmaster:
            os.kill(postmaster['pid'], signal.SIGHUP)

    place(cert_data, key_data)
    if not postmaster:
        return '%s: the new pair is in place; the server is not running and reads it when it starts' % cluster
    wanted = _first_certificate(cert_data.decode('utf-8'))
    deadline = time.time() + reload_wait
    served, problem = None, None
    while True:
        served, problem = served_certificate(run, postmaster, openssl)
        if served == wanted or time.time() >= deadline:
            break
        time.sleep(0.3)
    if served is None:
        return ('%s: the new pair is in place and the server was reloaded; what it serves could not be read: %s'
                % (cluster, problem))
    if served != wanted:
        place(old['cert'], old['key'])
        reason = 'it still serves the old certificate (its log says why: "SSL configuration was not reloaded")'
        raise RenewalError('%s: the server did not take the new pair, the old one is back and served: %s' % (cluster, reason))
    notes = ''.join('; warning: %s' % warning for warning in warnings)
    return '%s: the new certificate is served after a reload (no restart)%s' % (cluster, notes)


def main(argv=None):
    """The command line; returns the exit status (0 served, 1 refused or not taken, 2 unknown cluster)."""
    parser = argparse.ArgumentParser(prog='pgsec-tls-renew', description='Put a renewed certificate and key in place '
                                     'for a cluster hardened by pgsec.hardening, after the checks the collection makes.')
    parser.add_argument('--cluster', required=True, help='the cluster id, e.g. 15/main')
    parser.add_argument('--cert', required=True, help='the new certificate (PEM, chain after it)')
    parser.add_argument('--key', required=True, help='its private key (PEM, plain or encrypted)')
    args = parser.parse_args(argv)
    path = posixpath.join(CONFIG_DIR, tls_passphrase.store_name(args.cluster) + '.json')
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        known = sorted(name[:-5] for name in os.listdir(CONFIG_DIR)) if os.path.isdir(CONFIG_DIR) else []
        sys.stderr.write('pgsec-tls-renew: no configuration for cluster %s (%s); known: %s\n'
                         % (args.cluster, exc, ', '.join(known) or 'none'))
        return 2
    try:
        message = renew(config, args.cert, args.key)
    except (RenewalError, IOError, OSError) as exc:
        sys.stderr.write('pgsec-tls-renew: %s\n' % exc)
        return 1
    sys.stdout.write('pgsec-tls-renew: %s\n' % message)
    return 0
