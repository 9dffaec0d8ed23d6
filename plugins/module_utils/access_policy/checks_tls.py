# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controls of the TLS area (ssl, protocol, ciphers, certificate, key): metadata, then the checks."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath

from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import CIS, CIS_TLS13_CIPHERS, CIS_TLS_CIPHERS, MissingFacts
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.ciphers import _cipher_elements, _SEVERE_CIPHER_CLASSES
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.ciphers import _tls_rank, WEAK_CIPHER_CLASSES, weak_cipher_classes
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import _is_on, _mode_int, _outcome, _quote, _worst
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import Catalogue
from ansible_collections.pgsec.hardening.plugins.module_utils.files import is_within


CONTROLS = Catalogue()  # this area's controls: @CONTROLS.check above each check


# ---------------------------------------------------------------------------- TLS

@CONTROLS.check(
    'tls.enabled', 'cluster', 'high', 'TLS is enabled',
    CIS + ' 6.8',
    'Install a certificate and key, set ssl = on and reload; a server built without OpenSSL must be '
    'replaced by a build with SSL support first.')
def _check_tls_enabled(ctx):
    ctx.setting('ssl')
    ssl_value = ctx.value('ssl', 'off')
    library = ctx.ssl_library()
    required = ctx.policy['pgsec_tls_enabled']
    expected = 'ssl = on with an SSL library' if required else 'TLS optional (pgsec_tls_enabled is false)'
    actual = ['ssl = %s' % ssl_value]
    pending = ctx.pending('ssl')
    if pending is not None:
        actual.append('configuration files say %s (reload pending)' % pending)
    if library == '':
        actual.append('this server is built without SSL support (ssl_library is empty): it cannot serve TLS '
                      'whatever ssl says')
    elif library is None:
        actual.append('ssl_library unknown' if ctx.running else 'ssl_library unknown (%s)' % ctx.not_running_note())
    else:
        actual.append('ssl_library = %s' % library)
    if not required:
        return _outcome('pass', 'ssl', expected, '; '.join(actual), 'info')
    if library == '' or not _is_on(ssl_value):
        return _outcome('fail', 'ssl', expected, '; '.join(actual))
    return _outcome('pass', 'ssl', expected, '; '.join(actual))


def _tls_na(ctx, subject, expected):
    why = ctx.tls_not_applicable()
    if why:
        return _outcome('manual', subject, expected, why, 'info')
    return None


@CONTROLS.check(
    'tls.min_protocol', 'cluster', 'medium', 'Old TLS protocol versions are disabled',
    CIS + ' 6.9',
    'Set ssl_min_protocol_version to the required version and reload.')
def _check_tls_min_protocol(ctx):
    wanted = ctx.policy['pgsec_tls_min_protocol_version']
    expected = '%s or newer%s' % (wanted, ' (cis profile)' if ctx.cis else '')
    skipped = _tls_na(ctx, 'ssl_min_protocol_version', expected)
    if skipped:
        return skipped
    ctx.setting('ssl_min_protocol_version')
    value = ctx.value('ssl_min_protocol_version', '') or ''
    actual = ['ssl_min_protocol_version = %s' % _quote(value)]
    rank = _tls_rank(value)
    problems = []
    if rank < _tls_rank(wanted):
        problems.append('high' if rank <= _tls_rank('TLSv1.1') else 'medium')
        actual.append('allows protocols older than %s' % wanted)
    maximum = ctx.value('ssl_max_protocol_version', '') or ''
    if maximum:
        actual.append('ssl_max_protocol_version = %s' % _quote(maximum))
        if 0 <= _tls_rank(maximum) < _tls_rank(wanted):
            problems.append('medium')
            actual.append('the maximum is below the required minimum')
    if problems:
        return _outcome('fail', 'ssl_min_protocol_version', expected, '; '.join(actual), _worst(problems))
    return _outcome('pass', 'ssl_min_protocol_version', expected, '; '.join(actual))


@CONTROLS.check(
    'tls.ciphers', 'cluster', 'medium', 'No weak TLS cipher suites',
    CIS + ' 6.10',
    'Set ssl_ciphers to pgsec_tls_ciphers and reload.')
def _check_tls_ciphers(ctx):
    wanted = ctx.policy['pgsec_tls_ciphers']
    expected = '%s (pgsec_tls_ciphers): no NULL, EXPORT, RC4, DES, 3DES, MD5 or anonymous suites' % _quote(wanted)
    if ctx.cis:
        expected += '; cis: only suites of the CIS 6.10 list (%s)' % ':'.join(CIS_TLS_CIPHERS)
    skipped = _tls_na(ctx, 'ssl_ciphers', expected)
    if skipped:
        return skipped
    ctx.setting('ssl_ciphers')
    value = ctx.value('ssl_ciphers', '') or ''
    analysis = weak_cipher_classes(value)
    actual = ['ssl_ciphers = %s' % _quote(value)]
    tls13 = ctx.value('ssl_tls13_ciphers')
    if tls13:
        actual.append('ssl_tls13_ciphers = %s' % _quote(tls13))
    severity = None
    if analysis['weak']:
        actual.append('may enable %s' % ', '.join(
            '%s (via %s)' % (name, ', '.join(analysis['weak'][name])) for name in WEAK_CIPHER_CLASSES
            if name in analysis['weak']))
        severity = 'high' if any(name in analysis['weak'] for name in _SEVERE_CIPHER_CLASSES) else 'medium'
        if _tls_rank(ctx.value('ssl_min_protocol_version', '')) >= _tls_rank('TLSv1.3'):
            severity = 'low'
            actual.append('(not negotiable while ssl_min_protocol_version is TLSv1.3)')
    if analysis['unknown']:
        actual.append('unrecognised elements: %s' % ', '.join(analysis['unknown']))
    if _cipher_elements(value) != _cipher_elements(wanted):
        actual.append('differs from pgsec_tls_ciphers')
        severity = severity or 'low'
    if ctx.cis:
        outside = [element for element in _cipher_elements(value) if element not in CIS_TLS_CIPHERS]
        if outside or not value:
            actual.append('not a subset of the CIS 6.10 suites: %s' % (', '.join(outside) or 'empty'))
            tls13_only = _tls_rank(ctx.value('ssl_min_protocol_version', '')) >= _tls_rank('TLSv1.3')
            if severity is None or (severity == 'low' and not tls13_only):
                severity = 'low' if tls13_only else 'medium'
        if tls13:
            outside = [element for element in _cipher_elements(tls13) if element not in CIS_TLS13_CIPHERS]
            if outside:
                actual.append('ssl_tls13_ciphers not a subset of the CIS 6.10 TLS 1.3 suites: %s' % ', '.join(outside))
                severity = severity or 'medium'
    if severity:
        return _outcome('fail', 'ssl_ciphers', expected, '; '.join(actual), severity)
    return _outcome('pass', 'ssl_ciphers', expected, '; '.join(actual))


def _file_entry(ctx, setting_name):
    """(configured path or None, stat dict or None)."""
    path = ctx.value(setting_name, '') or ''
    stat = (ctx.tls.get('files') or {}).get(setting_name)
    return path, stat


def _certificate_summary(certificate, key, chain):
    parts = []
    subject = certificate.get('subject') or '?'
    issuer = certificate.get('issuer') or '?'
    parts.append('subject %s, issuer %s%s' % (subject, issuer, ' (self-signed)' if certificate.get('self_issued') else ''))
    if certificate.get('key_type'):
        parts.append('%s %s bits' % (certificate['key_type'], certificate.get('key_bits') or '?'))
    if certificate.get('signature_algorithm'):
        parts.append(certificate['signature_algorithm'])
    if certificate.get('not_after'):
        parts.append('valid until %s (%s days left)' % (certificate['not_after'][:10], certificate.get('days_left')))
    if key is not None:
        if key.get('matches_certificate') is True:
            parts.append('key matches')
        elif key.get('matches_certificate') is False:
            parts.append('KEY DOES NOT MATCH')
        elif key.get('error_kind') == 'encrypted':
            parts.append('key is passphrase-protected (match not checked)')
        elif key.get('error'):
            parts.append('key not readable (%s)' % (key.get('error_kind') or 'unreadable'))
    if chain is not None:
        parts.append('chain to %s %s' % (chain.get('ca_path'), 'verifies' if chain.get('ok') else 'does NOT verify'))
    return ', '.join(parts)


@CONTROLS.check(
    'tls.certificate', 'cluster', 'high', 'The server certificate is valid and matches its key',
    'PostgreSQL documentation: SSL server files (ssl_cert_file, ssl_key_file, ssl_ca_file)',
    'Install a current certificate (RSA >= 2048 or EC >= 256 bits, SHA-2 signature) that matches the key '
    'and chains to ssl_ca_file, then reload.')
def _check_tls_certificate(ctx):
    warn_days = ctx.policy['pgsec_tls_cert_warn_days']
    expected = ('a readable certificate, valid for more than %d days, matching its key, chaining to ssl_ca_file '
                'when set; RSA >= 2048 or EC >= 256 bits, SHA-2 signature' % warn_days)
    skipped = _tls_na(ctx, 'ssl_cert_file', expected)
    if skipped:
        return skipped
    tls = ctx.tls
    path, stat = _file_entry(ctx, 'ssl_cert_file')
    subject = path or 'ssl_cert_file'
    if not path:
        return _outcome('fail', subject, expected, 'ssl_cert_file is empty: no certificate configured')
    if stat is not None and not stat.get('exists'):
        return _outcome('fail', subject, expected, '%s does not exist; ssl = on cannot work' % stat.get('path'))
    certificate = tls.get('certificate')
    if not certificate:
        raise MissingFacts('the certificate %s was not inspected' % path)
    if not certificate.get('readable'):
        raise MissingFacts('the certificate %s could not be read: %s' % (path, certificate.get('error')))
    key, chain = tls.get('key'), tls.get('chain')
    problems = []
    if certificate.get('expired'):
        problems.append(('critical', 'expired'))
    elif certificate.get('not_yet_valid'):
        problems.append(('high', 'not valid yet'))
    elif certificate.get('days_left') is not None and certificate['days_left'] <= warn_days:
        problems.append(('medium', 'expires in %s days (warning window %d)' % (certificate['days_left'], warn_days)))
    if key is not None and key.get('matches_certificate') is False:
        problems.append(('high', 'the key does not belong to the certificate'))
    ca_path, ca_stat = _file_entry(ctx, 'ssl_ca_file')
    if ca_path:
        if ca_stat is not None and not ca_stat.get('exists'):
            problems.append(('medium', 'ssl_ca_file %s does not exist' % ca_path))
        elif chain is not None and not chain.get('ok'):
            messages = ', '.join(error.get('message') or '?' for error in chain.get('errors') or [])
            problems.append(('medium', 'does not chain to ssl_ca_file: %s' % messages))
    key_type, bits = certificate.get('key_type'), certificate.get('key_bits') or 0
    if key_type in ('RSA', 'DSA') and bits < 2048 or key_type == 'EC' and bits < 256:
        problems.append(('medium', 'weak %s key of %d bits' % (key_type, bits)))
    algorithm = (certificate.get('signature_algorithm') or '').lower()
    if 'sha1' in algorithm or 'md5' in algorithm:
        problems.append(('medium', 'weak signature algorithm %s' % certificate.get('signature_algorithm')))
    summary = _certificate_summary(certificate, key, chain)
    if not problems:
        return _outcome('pass', subject, expected, summary)
    return _outcome('fail', subject, expected,
                    '%s: %s' % ('; '.join(problem for _severity, problem in problems), summary),
                    _worst([severity for severity, _problem in problems]))


@CONTROLS.check(
    'tls.key_file', 'cluster', 'high', 'The private key file is readable only by the server',
    'PostgreSQL documentation: SSL server files (private key permissions)',
    'chown the key to the server user with mode 0600, or to root with the server group and mode 0640.')
def _check_tls_key_file(ctx):
    server_user = ctx.server_user
    expected = '0600 owned by %s, or 0640 owned by root with group %s; never world-readable' % (server_user, server_user)
    skipped = _tls_na(ctx, 'ssl_key_file', expected)
    if skipped:
        return skipped
    path, stat = _file_entry(ctx, 'ssl_key_file')
    subject = path or 'ssl_key_file'
    if not path:
        return _outcome('fail', subject, expected, 'ssl_key_file is empty: no key configured')
    if stat is None:
        raise MissingFacts('the key file %s was not inspected' % path)
    if not stat.get('exists'):
        return _outcome('fail', subject, expected, '%s does not exist; ssl = on cannot work' % stat.get('path'))
    if stat.get('type') == 'link':
        raise MissingFacts('%s is a symbolic link: the facts describe the link, not the key file' % stat.get('path'))
    mode = _mode_int(stat.get('mode')) or 0
    owner, group = stat.get('owner'), stat.get('group')
    actual = '%s %s:%s %04o' % (stat.get('path'), owner, group, mode)
    if mode & 0o007:
        return _outcome('fail', subject, expected, actual + ': every local user can read the private key', 'critical')
    if owner == server_user:
        if mode & 0o077:
            return _outcome('fail', subject, expected,
                            actual + ': group access to a key owned by the server user (PostgreSQL refuses it)',
                            'high')
        return _outcome('pass', subject, expected, actual)
    if owner == 'root':
        if mode & 0o037:
            return _outcome('fail', subject, expected,
                            actual + ': a root-owned key may be at most 0640 (PostgreSQL refuses it)', 'high')
        if mode & 0o040 and group != server_user:
            return _outcome('fail', subject, expected,
                            actual + ': every member of group %s can read the key, not only the server' % group,
                            'low')
        return _outcome('pass', subject, expected, actual)
    return _outcome('fail', subject, expected,
                    actual + ': owned by %s; PostgreSQL accepts only %s or root' % (owner, server_user), 'high')


@CONTROLS.check(
    'tls.key_passphrase', 'cluster', 'low', 'The private key is protected by a passphrase',
    CIS + ' 6.8',
    'Encrypt the key and set ssl_passphrase_command (and ssl_passphrase_command_supports_reload) '
    'to a command that obtains the passphrase from a secret store.')
def _check_tls_key_passphrase(ctx):
    expected = ('key encrypted, ssl_passphrase_command set' if ctx.cis
                else 'site decision (cis requires ssl_passphrase_command)')
    skipped = _tls_na(ctx, 'ssl_passphrase_command', expected)
    if skipped:
        return skipped
    ctx.setting('ssl_passphrase_command')
    command_set = bool((ctx.value('ssl_passphrase_command', '') or '').strip())
    key = ctx.tls.get('key') or {}
    encrypted = key.get('error_kind') == 'encrypted'
    if command_set:
        actual = 'ssl_passphrase_command is set (value hidden)'
    else:
        actual = 'ssl_passphrase_command is empty'
    if key.get('readable'):
        actual += '; the key is not passphrase-protected'
    elif encrypted:
        actual += '; the key is passphrase-protected'
    if encrypted and not command_set:
        return _outcome('fail', 'ssl_passphrase_command', expected,
                        actual + ': the server cannot load the key without a terminal prompt', 'medium')
    if ctx.cis:
        if not command_set:
            return _outcome('fail', 'ssl_passphrase_command', expected, actual, 'medium')
        if key.get('readable'):
            return _outcome('fail', 'ssl_passphrase_command', expected,
                            actual + ': the command is never used', 'low')
        return _outcome('pass', 'ssl_passphrase_command', expected, actual)
    return _outcome('manual', 'ssl_passphrase_command', expected,
                    actual + ' (not required by the baseline profile)', 'info')


@CONTROLS.check(
    'tls.passphrase_store', 'cluster', 'high', 'The key passphrase is not stored next to the key',
    CIS + ' 6.8',
    'Keep the passphrase where no copy of the key, configuration or data directory reaches it: systemd encrypted '
    'credentials (pgsec_tls_passphrase_store: systemd-creds) or a root-owned file outside those directories, '
    'printed by ssl_passphrase_command.')
def _check_tls_passphrase_store(ctx):
    expected = 'outside the key, configuration and data directories (systemd credentials, or a root-owned file)'
    skipped = _tls_na(ctx, 'ssl_passphrase_command', expected)
    if skipped:
        return skipped
    ctx.setting('ssl_passphrase_command')
    if not (ctx.value('ssl_passphrase_command', '') or '').strip():
        return _outcome('pass', 'ssl_passphrase_command', expected, 'no ssl_passphrase_command: no passphrase is stored')
    source = ctx.tls.get('passphrase_source') or {}
    path, stat = source.get('path'), source.get('file') or {}
    if not path:
        return _outcome('manual', 'ssl_passphrase_command', expected,
                        'ssl_passphrase_command runs a program, not "cat FILE": where it keeps the passphrase '
                        'is not visible from here', 'info')
    if not stat.get('exists'):
        return _outcome('fail', path, expected,
                        '%s does not exist: the server cannot unlock its key at the next start' % path, 'high')
    directories = (('key', posixpath.dirname(ctx.value('ssl_key_file', '') or '')),
                   ('configuration', posixpath.dirname(ctx.cluster.get('config_file') or '')),
                   ('data', ctx.cluster.get('data_directory')))
    for label, directory in directories:
        if is_within(path, directory):
            return _outcome('fail', path, expected,
                            '%s lies in the %s directory %s: a copy of it carries the key and its passphrase '
                            'together' % (path, label, directory), 'high')
    mode = _mode_int(stat.get('mode')) or 0
    actual = '%s %s:%s %04o' % (path, stat.get('owner'), stat.get('group'), mode)
    if mode & 0o007:
        return _outcome('fail', path, expected, actual + ': every local user can read the passphrase', 'high')
    if path.startswith('/run/'):
        return _outcome('pass', path, expected, actual + ': in memory, handed over when the service starts')
    if stat.get('owner') != 'root':
        return _outcome('fail', path, expected,
                        actual + ': not root-owned, so the server user (or whoever acts as it) can rewrite it', 'low')
    return _outcome('pass', path, expected, actual + ': root-owned, outside the key, configuration and data directories')
