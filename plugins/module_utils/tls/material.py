# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placing a PostgreSQL server's TLS material, once tls.validation has checked it.

Files are reached through a MaterialIO, so placement runs against a temporary directory in
tests; the passphrase store is tls.passphrase's. Messages name the role variable a value came
from and never contain key material or the passphrase.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import grp
import os
import posixpath
import pwd
import shutil
import stat as stat_module
import tempfile

from ansible_collections.pgsec.hardening.plugins.module_utils.files import backup_copy, is_within, write_file
from ansible_collections.pgsec.hardening.plugins.module_utils.tls import passphrase as tls_passphrase
from ansible_collections.pgsec.hardening.plugins.module_utils.tls.validation import (
    _run,
    check_pem,
    crl_info_argv,
    dh_params_argvs,
    dh_params_check_argv,
    encrypt_key_command,
    FILE_NAMES,
    key_is_encrypted,
    key_pubout_command,
    MaterialError,
    normalize_pem,
    parse_crl_info,
    pem_labels,
    ssl_build_problem,
    tls_settings,
    validate_material,
    VARIABLES,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.x509 import (
    parse_x509_summary,
    public_key_body,
    safe_error_text,
    x509_summary_argv,
)


DIRECTORY_NAME = 'pgsec-tls'
# Where older releases kept the passphrase, next to the key: removed, the store holds it now (tls.passphrase).
OLD_PASSPHRASE_FILE = 'passphrase'


# ---------------------------------------------------------------------------- files

def _name_of(lookup, number, field):
    try:
        return getattr(lookup(number), field)
    except KeyError:
        return str(number)


class MaterialIO(object):
    """The local file operations of placing TLS material."""

    def __init__(self, module=None, backup=False, root='/'):
        self._module = module
        self._backup = backup
        self._root = root

    def host_path(self, path):
        """An absolute host path under this IO's root (a temporary directory in tests)."""
        return posixpath.join(self._root, path.lstrip('/'))

    def which(self, name):
        if self._module is not None:
            return self._module.get_bin_path(name)
        return shutil.which(name, path=os.pathsep.join((os.environ.get('PATH', ''), '/usr/sbin', '/usr/bin', '/sbin', '/bin')))

    @staticmethod
    def read(path):
        """Bytes of a regular file, None when missing."""
        try:
            with open(path, 'rb') as handle:
                return handle.read()
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise

    @staticmethod
    def stat(path, follow=False):
        """{type, uid, gid, mode} of a path, None when missing."""
        try:
            st = os.stat(path) if follow else os.lstat(path)
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise
        kind = 'directory' if stat_module.S_ISDIR(st.st_mode) else 'file' if stat_module.S_ISREG(st.st_mode) else 'other'
        return {'type': kind, 'uid': st.st_uid, 'gid': st.st_gid, 'mode': stat_module.S_IMODE(st.st_mode),
                'owner': _name_of(pwd.getpwuid, st.st_uid, 'pw_name'), 'group': _name_of(grp.getgrgid, st.st_gid, 'gr_name')}

    @staticmethod
    def private_dir():
        path = tempfile.mkdtemp(prefix='pgsec-tls-')
        os.chmod(path, 0o700)
        return path

    @staticmethod
    def write_private(path, data):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, 'wb') as out:
            out.write(data)

    @staticmethod
    def remove_tree(path):
        shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def make_dir(path, uid, gid, mode):
        if not os.path.isdir(path):
            parent = os.path.dirname(path.rstrip('/'))
            if parent and not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            os.mkdir(path, 0o700)
        os.chown(path, uid, gid)
        os.chmod(path, mode)

    @staticmethod
    def set_stat(path, uid, gid, mode):
        os.chown(path, uid, gid)
        os.chmod(path, mode)

    def write(self, path, data, uid, gid, mode):
        """Replace path atomically (files.write_file); owner and mode are set before the content lands."""
        write_file(self._module, path, data, mode=mode, uid=uid, gid=gid, keep=False, make_dirs=None)

    @staticmethod
    def remove(path):
        os.unlink(path)

    def backup(self, path):
        return backup_copy(path) if self._backup else None

    @staticmethod
    def user_ids(user):
        """(uid, gid, group name) of an OS user."""
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise MaterialError(['the server user %r does not exist on the host' % user])
        try:
            group = grp.getgrgid(entry.pw_gid).gr_name
        except KeyError:
            group = str(entry.pw_gid)
        return entry.pw_uid, entry.pw_gid, group


def _ownership(io, server_user, key_owner):
    """{name: (uid, gid, mode, owner, group)} for every file, and the directory under "directory"."""
    uid, gid, group = io.user_ids(server_user)
    public = (uid, gid, 0o644, server_user, group)
    owners = {'directory': (uid, gid, 0o750, server_user, group), 'cert': public, 'ca': public, 'crl': public,
              'dh_params': public, 'passphrase': (uid, gid, 0o400, server_user, group)}
    owners['key'] = (0, gid, 0o640, 'root', group) if key_owner == 'root' else (uid, gid, 0o600, server_user, group)
    return owners


def _describe_certificates(run, path, count, openssl):
    rc, out, _err = run(x509_summary_argv(path, openssl))
    if rc != 0:
        return 'not a readable certificate\n'
    info = parse_x509_summary(out)
    lines = ['subject=%s' % info['subject'], 'issuer=%s' % info['issuer'], 'not_after=%s' % info['not_after'],
             'sha256_fingerprint=%s' % info['fingerprint_sha256']]
    if count > 1:
        lines.append('certificates in file: %d (first shown)' % count)
    return '\n'.join(lines) + '\n'


def _describe(run, name, path, data, openssl, replaced=False):
    """Non-secret description of a file's content for the diff."""
    text = data.decode('utf-8', 'replace')
    if name in ('cert', 'ca'):
        return _describe_certificates(run, path, len(pem_labels(text)), openssl)
    if name == 'crl':
        rc, out, _err = run(crl_info_argv(path, openssl))
        if rc != 0:
            return 'not a readable CRL\n'
        info = parse_crl_info(out)
        return 'issuer=%s\nlast_update=%s\nnext_update=%s\n' % (info['issuer'], info['last_update'], info['next_update'])
    note = ', replaced' if replaced else ''
    if name == 'key':
        return 'private key (not shown%s%s)\n' % (', encrypted' if key_is_encrypted(text) else '', note)
    if name in ('passphrase', 'passphrase_file'):
        return 'passphrase (not shown%s)\n' % note
    if name == 'credential':
        return 'passphrase encrypted by systemd-creds (not shown%s)\n' % note
    if name in ('dropin', 'renew_config'):
        return text
    if name == 'renew_hook':
        return 'pgsec-tls-renew (Python zip application, %d bytes)\n' % len(data)
    return 'DH parameters%s%s\n' % ('' if data else ' (to be generated)', note)


def _stat_line(mode, owner, group):
    return 'mode=%04o owner=%s group=%s\n' % (mode, owner, group)


class _Planner(object):
    """Works out, per file, what the target directory should hold; writes only in the staging directory."""

    def __init__(self, run, io, stage, staged, passphrase, owners, openssl):
        self.run = run
        self.io = io
        self.stage = stage
        self.staged = staged
        self.passphrase = passphrase
        self.owners = owners
        self.openssl = openssl

    def entry(self, name, path, data, check_mode):
        """{name, path, state, data (bytes to write, None: keep the content), existing, ...ownership}."""
        existing = self.io.stat(path)
        current = self.io.read(path) if existing and existing['type'] == 'file' else None
        if name == 'key' and self.passphrase and not key_is_encrypted(data.decode('utf-8', 'replace')):
            data = None if self._same_key(path, current) else self._encrypt_key()
        elif name == 'dh_params':
            data = None if current is not None and self._dh_params_parse(path) else self._dh_params(check_mode)
        else:
            data = None if current == data else data
        return present_entry(name, path, self.owners[name], data, existing, current)

    def _same_key(self, path, current):
        """Whether the encrypted key on disk decrypts with the passphrase to the given key."""
        if current is None or not key_is_encrypted(current.decode('utf-8', 'replace')):
            return False
        bodies = []
        for key_path in (path, self.staged['key']):
            argv, env = key_pubout_command(key_path, self.passphrase, self.openssl)
            rc, out, _err = _run(self.run, argv, env)
            bodies.append(public_key_body(out) if rc == 0 else None)
        return bodies[0] is not None and bodies[0] == bodies[1]

    def _encrypt_key(self):
        out_path = posixpath.join(self.stage, 'server.key.enc')
        argv, env = encrypt_key_command(self.staged['key'], out_path, self.passphrase, self.openssl)
        rc, _out, err = _run(self.run, argv, env)
        data = self.io.read(out_path) if rc == 0 else None
        if not data:
            raise MaterialError(['%s could not be encrypted with %s: %s'
                                 % (VARIABLES['key'], VARIABLES['passphrase'], safe_error_text(err) or 'rc %s' % rc)])
        return data

    def _dh_params_parse(self, path):
        return self.run(dh_params_check_argv(path, self.openssl))[0] == 0

    def _dh_params(self, check_mode):
        if check_mode:
            return b''  # generated only when writing
        out_path = posixpath.join(self.stage, 'dhparams.pem')
        problems = []
        for argv in dh_params_argvs(out_path, self.openssl):
            rc, _out, err = self.run(argv)
            data = self.io.read(out_path) if rc == 0 else None
            if data:
                return data
            problems.append('%s: %s' % (' '.join(argv[1:3]), safe_error_text(err) or 'rc %s' % rc))
        raise MaterialError(['DH parameters could not be generated: %s' % '; '.join(problems)])


def present_entry(name, path, owner, data, existing, current, parent=None):
    """A file that should exist with owner (uid, gid, mode, owner, group); data None: its content is right.

    parent: (path, uid, gid, mode) of a directory created when missing."""
    uid, gid, mode, owner_name, group = owner
    entry = {'name': name, 'path': path, 'state': 'present', 'uid': uid, 'gid': gid, 'mode': mode,
             'owner': owner_name, 'group': group, 'existing': existing, 'current': current, 'data': data,
             'backup': None, 'parent': parent, 'content_changed': data is not None}
    entry['stat_changed'] = existing is not None and not entry['content_changed'] and (
        (existing['uid'], existing['gid'], existing['mode']) != (uid, gid, mode))
    entry['changed'] = entry['content_changed'] or entry['stat_changed']
    return entry


def absent_entry(io, name, path):
    """A file that should not exist, or None when it does not."""
    existing = io.stat(path)
    if existing is None:
        return None
    return {'name': name, 'path': path, 'state': 'absent', 'existing': existing, 'current': None,
            'data': None, 'changed': True, 'content_changed': True, 'stat_changed': False, 'backup': None,
            'mode': None, 'owner': None, 'group': None, 'parent': None}


def plan_directory(io, directory, owners):
    uid, gid, mode, owner, group = owners['directory']
    existing = io.stat(directory, follow=True)
    if existing is not None and existing['type'] != 'directory':
        raise MaterialError(['%s exists and is not a directory' % directory])
    changed = existing is None or (existing['uid'], existing['gid'], existing['mode']) != (uid, gid, mode)
    return {'path': directory, 'uid': uid, 'gid': gid, 'mode': mode, 'owner': owner, 'group': group,
            'existing': existing, 'changed': changed}


def diff_entries(run, io, entries, staged, openssl='openssl'):
    """Ansible diff dicts for the changed files: paths, certificate summaries, ownership; never secrets."""
    diffs = []
    for entry in entries:
        if not entry['changed']:
            continue
        name, path, existing = entry['name'], entry['path'], entry['existing']
        before = after = ''
        if existing is not None:
            current = entry['current'] if entry['current'] is not None else b''
            before = _describe(run, name, path, current, openssl)
            before += _stat_line(existing['mode'], existing['owner'], existing['group'])
        if entry['state'] == 'present':
            if not entry['content_changed']:
                after = _describe(run, name, path, entry['current'], openssl)
            elif name in staged:
                data = entry['data'] if name == 'key' else io.read(staged[name])
                after = _describe(run, name, staged[name], data, openssl, replaced=name == 'key' and existing is not None)
            else:
                after = _describe(run, name, path, entry['data'], openssl, replaced=existing is not None)
            after += _stat_line(entry['mode'], entry['owner'], entry['group'])
        diffs.append({'before_header': path, 'after_header': path, 'before': before, 'after': after})
    return diffs


def _directory_diff(target):
    if not target['changed']:
        return []
    existing = target['existing']
    before = 'directory\n' + _stat_line(existing['mode'], existing['owner'], existing['group']) if existing else ''
    return [{'before_header': target['path'], 'after_header': target['path'], 'before': before,
             'after': 'directory\n' + _stat_line(target['mode'], target['owner'], target['group'])}]


def _stage(io, stage, material):
    staged = {}
    for name in ('cert', 'key', 'ca', 'crl'):
        if material.get(name) is not None:
            staged[name] = posixpath.join(stage, name + '.pem')
            io.write_private(staged[name], material[name].encode('utf-8'))
    return staged


def default_directory(cluster):
    """The TLS directory chosen by default: beside the configuration, unless that lies in the data directory
    (RHEL and source layouts), whose every base backup would then carry the key."""
    if not cluster.get('config_file'):
        raise MaterialError(['cluster: missing config_file (pass an entry of ansible_facts.pgsec.clusters) '
                             'or set directory'])
    config_dir = posixpath.dirname(cluster['config_file'])
    if is_within(config_dir, cluster.get('data_directory')):
        return posixpath.join(tls_passphrase.TLS_DIR, tls_passphrase.store_name(cluster.get('id')))
    return posixpath.join(config_dir, DIRECTORY_NAME)


def place_material(run, io, cluster, options, check_mode=False, diff=False, now=None, openssl='openssl',
                   hook=None):
    """Validate the material in a private staging directory, then place it (unless check_mode).

    options: {directory, cert, key, ca, crl, key_passphrase, passphrase_store, names, warn_days, dh_params,
    key_owner}. Returns {changed, directory, files, settings, certificate, passphrase_store,
    service_restart_required, warnings, diff?}; raises MaterialError before anything on the host changed.
    hook: the renewal hook (tls.renewal.HOOK): .entries(io, cluster, directory, entries, options, store), its
    files to place with these; .renewed_fingerprint(io, cluster), the certificate it last put in place.
    """
    problem = ssl_build_problem(cluster)
    if problem:
        raise MaterialError([problem], headline=problem)
    directory = options.get('directory') or default_directory(cluster)
    passphrase = options.get('key_passphrase') or None
    material = dict((name, normalize_pem(options.get(name))) for name in ('cert', 'key', 'ca', 'crl'))
    errors = check_pem(material)
    if is_within(directory, cluster.get('data_directory')):
        errors.append('pgsec_tls_directory: %r is inside the data directory %s: every base backup would carry '
                      'the key; choose a directory outside it' % (directory, cluster['data_directory']))
    if passphrase and ('\n' in passphrase or '\r' in passphrase):
        errors.append('%s must be a single line' % VARIABLES['passphrase'])
    store = None
    if passphrase:
        try:
            store = tls_passphrase.select_store(io, cluster, options.get('passphrase_store'))
        except tls_passphrase.StoreError as exc:
            errors.append(str(exc))
    if errors:
        raise MaterialError(errors)
    owners = _ownership(io, cluster.get('server_user') or 'postgres', options.get('key_owner') or 'server')
    stage = io.private_dir()
    try:
        staged = _stage(io, stage, material)
        expect = {'names': options.get('names') or [], 'warn_days': options.get('warn_days'), 'passphrase': passphrase}
        validation = validate_material(run, staged, expect, now, openssl)
        if validation['errors']:
            raise MaterialError(validation['errors'], validation['certificate'])
        recorded = hook.renewed_fingerprint(io, cluster) if hook is not None else None
        renewed = recorded and _renewed_on_host(run, io, directory, stage, staged, expect, validation, recorded, now,
                                                openssl)
        if renewed:
            material['cert'], material['key'] = renewed['cert'], renewed['key']
            staged, validation = renewed['staged'], renewed['validation']
            validation['warnings'].append(renewed['warning'])
        planner = _Planner(run, io, stage, staged, passphrase, owners, openssl)
        wanted = dict(material)
        if options.get('dh_params', True):
            wanted['dh_params'] = b''
        entries = []
        for name, file_name in FILE_NAMES:
            if wanted.get(name) is not None:
                data = wanted[name] if isinstance(wanted[name], bytes) else wanted[name].encode('utf-8')
                entries.append(planner.entry(name, posixpath.join(directory, file_name), data, check_mode))
        # The passphrase never stays next to the key (older releases kept it there).
        entries.append(absent_entry(io, 'passphrase', posixpath.join(directory, OLD_PASSPHRASE_FILE)))
        store_entries = _store_entries(run, io, cluster, store, passphrase, owners, stage)
        entries = [entry for entry in entries + store_entries if entry is not None]
        if hook is not None:
            entries += hook.entries(io, cluster, directory, entries, options, store)
        target = plan_directory(io, directory, owners)
        unit_changed = any(entry['changed'] for entry in entries if entry['name'] in ('credential', 'dropin'))
        result = {'changed': target['changed'] or any(entry['changed'] for entry in entries), 'directory': directory,
                  'files': dict((entry['name'], _file_result(entry)) for entry in entries),
                  'settings': tls_settings(directory, [entry['name'] for entry in entries if entry['state'] == 'present'],
                                           store.command if store else None),
                  'certificate': validation['certificate'], 'warnings': validation['warnings'],
                  'passphrase_store': store.describe() if store else None,
                  # The unit hands the passphrase over at start only: a new credential needs a restart.
                  'service_restart_required': unit_changed}
        if store is not None and store.kind == 'file' and result['files']['passphrase_file']['changed']:
            result['warnings'].append('%s: the key passphrase is kept in %s (root-owned, outside the configuration '
                                      'and data directories), not in systemd credentials: %s'
                                      % (cluster.get('id'), store.path, store.reason))
        if diff:
            result['diff'] = _directory_diff(target) + diff_entries(run, io, entries, staged, openssl)
        if not check_mode and result['changed']:
            _write(io, target, entries)
            result['files'] = dict((entry['name'], _file_result(entry)) for entry in entries)
            if any(entry['changed'] for entry in entries if entry['name'] == 'dropin'):
                _daemon_reload(run, io)
        return result
    finally:
        io.remove_tree(stage)


def _renewed_on_host(run, io, directory, stage, staged, expect, validation, recorded, now, openssl):
    """The pair on the host when pgsec-tls-renew placed it (its certificate has the ``recorded`` fingerprint),
    it passes every check and it outlives the given certificate, so that a converge never puts an older
    certificate back. None otherwise."""
    paths = {'cert': posixpath.join(directory, 'server.crt'), 'key': posixpath.join(directory, 'server.key')}
    texts = {}
    for name, path in paths.items():
        data = io.read(path) if io.stat(path) else None
        if data is None:
            return None
        texts[name] = normalize_pem(data.decode('utf-8', 'replace'))
    given = validation['certificate'] or {}
    if texts['cert'] == normalize_pem(io.read(staged['cert']).decode('utf-8', 'replace')):
        return None
    host_staged = dict(staged)
    for name in ('cert', 'key'):
        host_staged[name] = posixpath.join(stage, 'host-%s.pem' % name)
        io.write_private(host_staged[name], texts[name].encode('utf-8'))
    checked = validate_material(run, host_staged, expect, now, openssl)
    host = checked['certificate'] or {}
    if checked['errors'] or host.get('sha256_fingerprint') != recorded or not host.get('not_after') \
            or not given.get('not_after') or host['not_after'] <= given['not_after']:
        return None
    return {'cert': texts['cert'], 'key': texts['key'], 'staged': host_staged, 'validation': checked,
            'warning': '%s holds a certificate renewed on the host (%s, until %s) that passes every check and '
                       'outlives %s (until %s): it is kept' % (paths['cert'], host.get('subject'), host['not_after'],
                                                               VARIABLES['cert'], given['not_after'])}


def _store_entries(run, io, cluster, store, passphrase, owners, stage):
    """The files of the passphrase store, and the removal of the other store's files."""
    name = tls_passphrase.store_name(cluster.get('id'))
    unit = store.unit if store is not None and store.unit else tls_passphrase.cluster_unit(io, cluster)
    credential = tls_passphrase.CredentialStore(io, name, unit)
    plain = tls_passphrase.FileStore(io, name, None)
    root_group = (0, owners['directory'][1], 0o440, 'root', owners['directory'][4])
    entries = []
    if store is not None and store.kind == 'file':
        existing = io.stat(store.path)
        current = io.read(store.path) if existing else None
        wanted = (passphrase + '\n').encode('utf-8')
        entries.append(present_entry('passphrase_file', store.path, root_group, None if current == wanted else wanted,
                                     existing, current, parent=(posixpath.dirname(store.path),) + root_group[:2] + (0o750,)))
    else:
        entries.append(absent_entry(io, 'passphrase_file', plain.path))
    if store is not None and store.kind == 'systemd-creds':
        existing = io.stat(store.path)
        same = existing is not None and tls_passphrase.read_passphrase(io, run, store.kind, store.path, stage) == passphrase
        entries.append(present_entry('credential', store.path, (0, 0, 0o400, 'root', 'root'),
                                     None if same else _encrypt_credential(run, io, store, passphrase, stage),
                                     existing, None, parent=(posixpath.dirname(store.path), 0, 0, 0o700)))
        server_group = owners['directory'][4]
        text = tls_passphrase.dropin_text(store.unit, store.path, store.runtime_path,
                                          cluster.get('server_user') or 'postgres', server_group).encode('utf-8')
        existing = io.stat(store.dropin_path)
        current = io.read(store.dropin_path) if existing else None
        entries.append(present_entry('dropin', store.dropin_path, (0, 0, 0o644, 'root', 'root'),
                                     None if current == text else text, existing, current,
                                     parent=(posixpath.dirname(store.dropin_path), 0, 0, 0o755)))
    elif credential.unit:  # a drop-in without its credential would keep the service from starting
        entries.append(absent_entry(io, 'dropin', credential.dropin_path))
    if store is None or store.kind != 'systemd-creds':
        entries.append(absent_entry(io, 'credential', credential.path))
    return entries


def _encrypt_credential(run, io, store, passphrase, stage):
    """The passphrase encrypted by systemd-creds (host key, and TPM2 where present)."""
    plain_path = posixpath.join(stage, 'passphrase')
    out_path = posixpath.join(stage, 'passphrase.cred')
    io.write_private(plain_path, (passphrase + '\n').encode('utf-8'))
    try:
        rc, _out, err = run(tls_passphrase.CredentialStore.encrypt_argv(io.which('systemd-creds'), plain_path, out_path))
    finally:
        os.unlink(plain_path)
    data = io.read(out_path) if rc == 0 else None
    if not data:
        raise MaterialError(['%s: systemd-creds could not encrypt the key passphrase: %s'
                             % (tls_passphrase.VARIABLE, safe_error_text(err) or 'rc %s' % rc)])
    return data


def _daemon_reload(run, io):
    systemctl = io.which('systemctl')
    if systemctl and io.stat(io.host_path('/run/systemd/system'), follow=True):
        rc, _out, err = run([systemctl, 'daemon-reload'])
        if rc != 0:
            raise MaterialError(['systemctl daemon-reload failed after writing the unit drop-in: %s'
                                 % (safe_error_text(err) or 'rc %s' % rc)])


def _file_result(entry):
    return {'path': entry['path'], 'state': entry['state'],
            'mode': '%04o' % entry['mode'] if entry['mode'] is not None else None,
            'owner': entry['owner'], 'group': entry['group'], 'changed': entry['changed'], 'backup': entry['backup']}


def _write(io, target, entries):
    if target['changed']:
        io.make_dir(target['path'], target['uid'], target['gid'], target['mode'])
    for entry in entries:
        if not entry['changed']:
            continue
        if entry.get('parent') and not io.stat(entry['parent'][0], follow=True):
            io.make_dir(*entry['parent'])
        if entry['state'] == 'present' and entry['content_changed'] and entry['existing'] is not None \
                and entry['existing']['type'] == 'file':
            entry['backup'] = io.backup(entry['path'])
        if entry['state'] == 'absent':
            io.remove(entry['path'])
        elif entry['content_changed']:
            io.write(entry['path'], entry['data'], entry['uid'], entry['gid'], entry['mode'])
        else:
            io.set_stat(entry['path'], entry['uid'], entry['gid'], entry['mode'])
