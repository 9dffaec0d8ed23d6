# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checking a PostgreSQL server's TLS material before it is placed: certificate, key, CA, CRL, DH parameters.

openssl is reached only through ``run(argv, env=None) -> (rc, stdout, stderr)``; the key
passphrase goes to openssl through the environment (``-passin env:NAME``), never through argv.
Messages name the role variable a value came from and never contain key material or the
passphrase. Placing the checked files is tls.material's work.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import posixpath
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import format_ip, parse_ip
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.x509 import (
    CRL_DATES,
    classify_key_error,
    inspect_tls,
    key_pubout_argv,
    parse_verify_output,
    parse_x509_summary,
    public_key_body,
    public_keys_match,
    read_openssl_field,
    safe_error_text,
    x509_pubkey_argv,
    x509_summary_argv,
    validity,
)

# The role variable each piece of material comes from, as messages name it.
VARIABLES = {'cert': 'pgsec_tls_cert', 'key': 'pgsec_tls_key', 'ca': 'pgsec_tls_ca', 'crl': 'pgsec_tls_crl',
             'passphrase': 'pgsec_tls_key_passphrase'}
# Files in the TLS directory, in the order they are written (the certificate last).
FILE_NAMES = (('ca', 'ca.crt'), ('crl', 'crl.pem'), ('dh_params', 'dhparams.pem'), ('key', 'server.key'),
              ('cert', 'server.crt'))
PASSPHRASE_ENV = 'PGSEC_TLS_KEY_PASSPHRASE'
DH_GROUP = 'ffdhe3072'
DH_FALLBACK_BITS = 2048
DEFAULT_EXPECT = {'names': [], 'warn_days': 30, 'min_rsa_bits': 2048, 'min_ec_bits': 256, 'passphrase': None}

_PEM_LABEL = re.compile(r'^-----BEGIN ([A-Z0-9 ]+)-----[ \t\r]*$', re.M)
_KEY_LABELS = ('PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'DSA PRIVATE KEY', 'ENCRYPTED PRIVATE KEY')
_VERIFY_CRL_VALIDITY = (11, 12)  # CRL not yet valid / expired: reported from its dates instead
_VERIFY_CERT_VALIDITY = (9, 10)  # certificate not yet valid / expired: reported from its dates instead
_VERIFY_REVOKED = 23


class MaterialError(Exception):
    """Validation or placement refused; ``errors`` lists every problem found, ``headline`` replaces the summary."""

    def __init__(self, errors, certificate=None, headline=None):
        super(MaterialError, self).__init__(headline or '; '.join(errors))
        self.errors = list(errors)
        self.certificate = certificate
        self.headline = headline


# ---------------------------------------------------------------------------- pure helpers

def pem_labels(text):
    """Labels of the PEM blocks in text ("CERTIFICATE", "X509 CRL", ...), in order."""
    return _PEM_LABEL.findall(text or '')


def key_is_encrypted(text):
    """Whether a PEM private key is passphrase-protected (PKCS#8 or traditional)."""
    return 'ENCRYPTED PRIVATE KEY' in pem_labels(text) or bool(re.search(r'^Proc-Type:\s*4,\s*ENCRYPTED', text or '', re.M))


def normalize_pem(text):
    """PEM text as written to disk: Unix newlines and a final newline."""
    if text is None:
        return None
    text = text.replace('\r\n', '\n')
    return text if text.endswith('\n') else text + '\n'


def check_pem(material):
    """Problems with the PEM shape of {cert, key, ca, crl} texts (None: not given), before openssl sees them."""
    errors = []
    for name, label in (('cert', 'CERTIFICATE'), ('ca', 'CERTIFICATE'), ('crl', 'X509 CRL')):
        text = material.get(name)
        if text is None:
            continue
        labels = pem_labels(text)
        variable = VARIABLES[name]
        if any(found.endswith('PRIVATE KEY') for found in labels):
            errors.append('%s contains a private key; only %s may hold one' % (variable, VARIABLES['key']))
        elif not labels:
            errors.append('%s is not PEM: it has no "-----BEGIN %s-----" line' % (variable, label))
        elif any(found != label for found in labels):
            errors.append('%s must hold only %s blocks, not %s'
                          % (variable, label, ', '.join(sorted(set(found for found in labels if found != label)))))
    labels = pem_labels(material.get('key'))
    keys = [found for found in labels if found in _KEY_LABELS]
    others = sorted(set(found for found in labels if found not in _KEY_LABELS and found != 'EC PARAMETERS'))
    if not keys:
        errors.append('%s is not a PEM private key%s'
                      % (VARIABLES['key'], ' (it holds %s)' % ', '.join(others) if others else ''))
    elif len(keys) > 1:
        errors.append('%s holds %d private keys; give exactly one' % (VARIABLES['key'], len(keys)))
    elif others:
        errors.append('%s must hold only the private key, not %s' % (VARIABLES['key'], ', '.join(others)))
    return errors


def parse_crl_info(text):
    """{"issuer", "issuer_fields", "last_update", "next_update"} (ISO UTC or None) from crl_info_argv output."""
    info = {'issuer': None, 'issuer_fields': [], 'last_update': None, 'next_update': None}
    for line in (text or '').splitlines():
        key, equals, value = line.partition('=')
        if equals and key != 'subject':
            read_openssl_field(info, key, value, CRL_DATES)
    return info


def dns_name_matches(pattern, name):
    """RFC 6125 matching of a DNS SAN against a host name; only a whole left-most "*" label is a wildcard."""
    pattern = pattern.strip().rstrip('.').lower()
    name = name.strip().rstrip('.').lower()
    if not pattern or not name or '*' in name:
        return False
    if pattern == name:
        return True
    if not pattern.startswith('*.') or '*' in pattern[2:]:
        return False
    head, dot, rest = name.partition('.')
    return bool(head and dot) and rest == pattern[2:]


def uncovered_names(san, names):
    """The names (DNS names or IP addresses) that the certificate's subjectAltName does not cover."""
    san = san or {}
    dns = san.get('dns') or []
    addresses = set()
    for text in san.get('ip') or []:
        address = parse_ip(text)
        addresses.add(format_ip(address) if address is not None else text)
    missing = []
    for name in names or []:
        name = str(name).strip()
        if not name or name in missing:
            continue
        address = parse_ip(name)
        if address is not None:
            covered = format_ip(address) in addresses
        else:
            covered = any(dns_name_matches(pattern, name) for pattern in dns)
        if not covered:
            missing.append(name)
    return missing


def san_list(san):
    """subjectAltName as ["DNS:...", "IP:..."]."""
    san = san or {}
    return ['DNS:%s' % name for name in san.get('dns') or []] + ['IP:%s' % address for address in san.get('ip') or []]


def key_strength_problem(key_type, key_bits, min_rsa_bits, min_ec_bits):
    """Why a public key is too weak, or None."""
    if key_type == 'RSA' and key_bits is not None and key_bits < min_rsa_bits:
        return 'its RSA key has %d bits, fewer than the minimum of %d' % (key_bits, min_rsa_bits)
    if key_type == 'EC' and key_bits is not None and key_bits < min_ec_bits:
        return 'its EC key has %d bits, fewer than the minimum of %d' % (key_bits, min_ec_bits)
    if key_type == 'DSA':
        return 'it has a DSA key, which TLS 1.3 cannot use'
    return None


def tls_settings(directory, present, passphrase_command=None):
    """ssl_* settings for the files in ``present`` (names from FILE_NAMES) inside directory."""
    paths = dict((name, posixpath.join(directory, file_name)) for name, file_name in FILE_NAMES)
    settings = {'ssl': 'on', 'ssl_cert_file': paths['cert'], 'ssl_key_file': paths['key']}
    for name, setting in (('ca', 'ssl_ca_file'), ('crl', 'ssl_crl_file'), ('dh_params', 'ssl_dh_params_file')):
        if name in present:
            settings[setting] = paths[name]
    if passphrase_command:
        settings['ssl_passphrase_command'] = passphrase_command
        settings['ssl_passphrase_command_supports_reload'] = 'on'
    return settings


def ssl_build_problem(cluster):
    """Message when the cluster facts show a server built without SSL (empty ssl_library), else None."""
    entry = (cluster.get('settings') or {}).get('ssl_library')
    library = entry.get('value') if isinstance(entry, dict) else entry
    if library is None:
        library = (cluster.get('tls') or {}).get('library')
    if library is not None and not str(library).strip():
        return '%s: PostgreSQL was built without SSL support; TLS cannot be enabled on this server' % cluster.get('id')
    return None


# ---------------------------------------------------------------------------- openssl commands

def key_pubout_command(key_path, passphrase, openssl='openssl'):
    """(argv, env) deriving the public key; the passphrase travels in the environment only."""
    if not passphrase:
        return key_pubout_argv(key_path, openssl), None
    return ([openssl, 'pkey', '-in', key_path, '-pubout', '-passin', 'env:' + PASSPHRASE_ENV],
            {PASSPHRASE_ENV: passphrase})


def encrypt_key_command(key_path, out_path, passphrase, openssl='openssl'):
    """(argv, env) writing key_path encrypted with AES-256 under passphrase to out_path."""
    return ([openssl, 'pkey', '-in', key_path, '-passin', 'env:' + PASSPHRASE_ENV, '-aes256',
             '-passout', 'env:' + PASSPHRASE_ENV, '-out', out_path], {PASSPHRASE_ENV: passphrase})


def crl_info_argv(crl_path, openssl='openssl'):
    return [openssl, 'crl', '-in', crl_path, '-noout', '-issuer', '-lastupdate', '-nextupdate', '-nameopt', 'RFC2253']


def crl_signature_argv(crl_path, ca_path, openssl='openssl'):
    """argv checking that a certificate of ca_path signed the CRL ("verify OK" on success)."""
    return [openssl, 'crl', '-in', crl_path, '-noout', '-CAfile', ca_path]


def chain_argv(cert_path, ca_path, crl_path=None, attime=None, openssl='openssl'):
    """``openssl verify`` of the server certificate, revocation checked when crl_path is given."""
    argv = [openssl, 'verify', '-CAfile', ca_path]
    if crl_path:
        argv += ['-CRLfile', crl_path, '-crl_check']
    if attime is not None:
        argv += ['-attime', str(attime)]
    return argv + ['-untrusted', cert_path, cert_path]


def dh_params_check_argv(path, openssl='openssl'):
    return [openssl, 'dhparam', '-in', path, '-noout']


def dh_params_argvs(out_path, openssl='openssl'):
    """The RFC 7919 group (instant), then classic generation for OpenSSL without -pkeyopt group (slow)."""
    return [[openssl, 'genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:' + DH_GROUP, '-out', out_path],
            [openssl, 'dhparam', '-out', out_path, str(DH_FALLBACK_BITS)]]


def _run(run, argv, env=None):
    return run(argv, env) if env else run(argv)


# ---------------------------------------------------------------------------- validation

class _Report(object):
    """Errors and warnings, with staging paths shown as variable names and the passphrase masked."""

    def __init__(self, staged, passphrase):
        self.errors = []
        self.warnings = []
        self._replacements = sorted(((path, VARIABLES[name]) for name, path in staged.items() if path and name in VARIABLES),
                                    key=lambda item: -len(item[0]))
        self._passphrase = passphrase

    def clean(self, text):
        text = text or ''
        for path, variable in self._replacements:
            text = text.replace(path, variable)
        if self._passphrase:
            text = text.replace(self._passphrase, '********')
        return text

    def error(self, message):
        self.errors.append(self.clean(message))

    def warn(self, message):
        self.warnings.append(self.clean(message))


def _check_certificate(run, cert_path, expect, now, report, openssl):
    cert = inspect_tls(run, cert_path, now=now, openssl=openssl)['certificate']
    if not cert['readable']:
        report.error('%s is not a PEM certificate: %s' % (VARIABLES['cert'], cert['error']))
        return None
    label = '%s (%s)' % (VARIABLES['cert'], cert['subject'] or 'empty subject')
    cert['label'] = label
    if cert['expired']:
        report.error('%s expired on %s' % (label, cert['not_after']))
    elif cert['not_yet_valid']:
        report.error('%s is not valid before %s' % (label, cert['not_before']))
    elif cert['days_left'] is not None and cert['days_left'] < expect['warn_days']:
        report.warn('%s expires in %d days, on %s' % (label, cert['days_left'], cert['not_after']))
    weakness = key_strength_problem(cert.get('key_type'), cert.get('key_bits'), expect['min_rsa_bits'],
                                    expect['min_ec_bits'])
    if weakness:
        report.error('%s: %s' % (label, weakness))
    missing = uncovered_names(cert['san'], expect['names'])
    if missing:
        sans = san_list(cert['san'])
        report.error('%s does not cover %s: its subjectAltName is %s'
                     % (label, ', '.join(missing), ', '.join(sans) if sans else 'missing'))
    return cert


def _check_key(run, key_path, cert_path, cert, passphrase, report, openssl):
    argv, env = key_pubout_command(key_path, passphrase, openssl)
    rc, out, err = _run(run, argv, env)
    if rc == 0 and public_key_body(out):
        if cert is not None:
            rc, cert_pubkey, _err = run(x509_pubkey_argv(cert_path, openssl))
            if rc == 0 and public_keys_match(cert_pubkey, out) is False:
                report.error('%s does not match %s' % (VARIABLES['key'], cert['label']))
        return
    kind = classify_key_error(err)
    if kind == 'encrypted' and passphrase:
        report.error('%s does not decrypt %s: wrong passphrase' % (VARIABLES['passphrase'], VARIABLES['key']))
    elif kind == 'encrypted':
        report.error('%s is encrypted but %s is not set' % (VARIABLES['key'], VARIABLES['passphrase']))
    else:
        report.error('%s cannot be read as a private key: %s'
                     % (VARIABLES['key'], safe_error_text(err) or 'openssl pkey failed with rc %s' % rc))


def _check_ca(run, ca_path, report, openssl):
    rc, out, err = run(x509_summary_argv(ca_path, openssl))
    if rc == 0 and 'notAfter=' in out:
        return parse_x509_summary(out)
    report.error('%s is not a PEM certificate: %s' % (VARIABLES['ca'], safe_error_text(err) or 'openssl x509 failed'))
    return None


def _check_crl(run, crl_path, ca_path, now, report, openssl):
    """The CRL's info when it parses and a certificate of the CA signed it, else None."""
    rc, out, err = run(crl_info_argv(crl_path, openssl))
    if rc != 0 or 'issuer=' not in out:
        report.error('%s is not a PEM CRL: %s' % (VARIABLES['crl'], safe_error_text(err) or 'openssl crl failed'))
        return None
    info = parse_crl_info(out)
    label = '%s (issuer %s)' % (VARIABLES['crl'], info['issuer'])
    rc, out, err = run(crl_signature_argv(crl_path, ca_path, openssl))
    if rc != 0 or 'verify OK' not in out + err:
        report.error('%s is not issued by a certificate in %s: %s'
                     % (label, VARIABLES['ca'], safe_error_text(err) or 'signature not verified'))
        return None
    dates = validity(info['last_update'], info['next_update'], now)
    if dates['expired']:
        report.warn('%s is past its nextUpdate %s: client certificates checked against it are rejected until it is '
                    'refreshed' % (label, info['next_update']))
    if dates['not_yet_valid']:
        report.warn('%s is not valid before its lastUpdate %s' % (label, info['last_update']))
    return info


def _check_chain(run, staged, cert, crl, now, report, openssl):
    # The CRL only decides revocation of the server certificate when its issuer issued that certificate.
    use_crl = crl is not None and crl['issuer_fields'] == cert['issuer_fields']
    attime = None
    if now is not None:
        attime = int((now if now.tzinfo else now.replace(tzinfo=datetime.timezone.utc)).timestamp())
    rc, out, err = run(chain_argv(staged['cert'], staged['ca'], staged['crl'] if use_crl else None, attime, openssl))
    verified = parse_verify_output(rc, out, err)
    for problem in verified['errors']:
        code = problem['code']
        if code in _VERIFY_CRL_VALIDITY or (code in _VERIFY_CERT_VALIDITY and problem['depth'] == 0):
            continue
        if code == _VERIFY_REVOKED and problem['depth'] == 0:
            report.error('%s is revoked by %s (serial %s)' % (cert['label'], VARIABLES['crl'], cert['serial']))
        else:
            where = ' at depth %s' % problem['depth'] if problem['depth'] is not None else ''
            report.error('%s does not verify against %s: %s%s'
                         % (cert['label'], VARIABLES['ca'], problem['message'], where))


def certificate_summary(cert):
    """The certificate fields returned to the play."""
    if cert is None:
        return None
    return {'subject': cert['subject'], 'sans': san_list(cert['san']), 'issuer': cert['issuer'],
            'not_after': cert['not_after'], 'days_left': cert['days_left'], 'key_type': cert.get('key_type'),
            'key_bits': cert.get('key_bits'), 'sha256_fingerprint': cert['fingerprint_sha256']}


def validate_material(run, staged, expect, now=None, openssl='openssl'):
    """Check staged {cert, key, ca?, crl?} files against ``expect`` (see DEFAULT_EXPECT) with openssl.

    Returns {"errors", "warnings", "certificate" (certificate_summary, None when unreadable)}.
    """
    settings = dict(DEFAULT_EXPECT)
    settings.update((name, value) for name, value in (expect or {}).items() if value is not None)
    passphrase = settings['passphrase'] or None
    report = _Report(staged, passphrase)
    cert = _check_certificate(run, staged['cert'], settings, now, report, openssl)
    _check_key(run, staged['key'], staged['cert'], cert, passphrase, report, openssl)
    ca = _check_ca(run, staged['ca'], report, openssl) if staged.get('ca') else None
    crl = None
    if staged.get('crl') and not staged.get('ca'):
        report.error('%s is set but %s is not: a CRL is checked against its CA' % (VARIABLES['crl'], VARIABLES['ca']))
    elif staged.get('crl') and ca is not None:
        crl = _check_crl(run, staged['crl'], staged['ca'], now, report, openssl)
    if cert is not None and ca is not None:
        _check_chain(run, staged, cert, crl, now, report, openssl)
    return {'errors': report.errors, 'warnings': report.warnings, 'certificate': certificate_summary(cert)}
