# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate and key inspection through the openssl command line only.

Hosts have no Python crypto library, so everything here parses what ``openssl x509``,
``openssl pkey`` and ``openssl verify`` print. Private keys are only ever read by
openssl itself; nothing here returns or logs key material (pkey's stdout, the public
key, is compared and dropped).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import format_ip, parse_ip

_MONTHS = {name: number for number, name in enumerate(
    ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'), 1)}
_OPENSSL_DATE = re.compile(r'^([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?\s+(\d{4})\s*(GMT|UTC)?$')
_ISO_DATE = re.compile(r'^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})Z?$')
_VERIFY_ERROR = re.compile(r'^error (\d+) at (\d+) depth lookup: ?(.*)$')
_PEM_BLOCK = re.compile(r'-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----', re.S)
_EDWARDS_BITS = {'ED25519': 256, 'ED448': 456, 'X25519': 256, 'X448': 448}
_SAN_KINDS = {'DNS': 'dns', 'IP Address': 'ip', 'email': 'email', 'URI': 'uri'}
SUMMARY_OPTIONS = ['-noout', '-subject', '-issuer', '-startdate', '-enddate', '-serial',
                   '-fingerprint', '-sha256', '-ext', 'subjectAltName', '-nameopt', 'RFC2253']


def x509_summary_argv(cert_path, openssl='openssl'):
    """argv printing subject, issuer, dates, serial, SHA-256 fingerprint and SANs of a certificate."""
    return [openssl, 'x509', '-in', cert_path] + SUMMARY_OPTIONS


def x509_inspect_argv(cert_path, openssl='openssl'):
    """argv printing, in one openssl run, the summary, the public key (PEM) and the text of a certificate.

    openssl prints them in the order asked for: split_inspect_output takes them apart.
    """
    return x509_summary_argv(cert_path, openssl) + ['-pubkey', '-text']


def split_inspect_output(text):
    """(summary, public key PEM, text) of x509_inspect_argv output; ('', None, '') parts that are missing."""
    begin, end = '-----BEGIN PUBLIC KEY-----', '-----END PUBLIC KEY-----'
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return text, None, ''
    stop += len(end)
    return text[:start], text[start:stop] + '\n', text[stop:].lstrip('\n')


def x509_pubkey_argv(cert_path, openssl='openssl'):
    """argv printing the certificate's public key as PEM."""
    return [openssl, 'x509', '-in', cert_path, '-noout', '-pubkey']


def key_pubout_argv(key_path, openssl='openssl'):
    """argv deriving the public key from a private key; an empty passphrase keeps it from prompting."""
    return [openssl, 'pkey', '-in', key_path, '-pubout', '-passin', 'pass:']


def verify_argv(cert_path, ca_path, openssl='openssl'):
    """argv verifying cert_path against ca_path, intermediates taken from the cert file itself."""
    return [openssl, 'verify', '-CAfile', ca_path, '-untrusted', cert_path, cert_path]


def parse_openssl_date(text):
    """Aware UTC datetime of 'Nov  5 01:47:28 2026 GMT' or ISO 8601 output; None if unparsable."""
    text = text.strip()
    match = _OPENSSL_DATE.match(text)
    if match and match.group(1) in _MONTHS:
        month, day, hour, minute, second, year = (_MONTHS[match.group(1)], int(match.group(2)),
                                                  int(match.group(3)), int(match.group(4)),
                                                  int(match.group(5)), int(match.group(6)))
    else:
        match = _ISO_DATE.match(text)
        if not match:
            return None
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def parse_rfc2253(text):
    """[[attribute, value], ...] of an RFC 2253 DN as printed by -nameopt RFC2253 (multi-valued RDNs flattened).

    Escapes (\\, \\+ ... and \\XX hex bytes, UTF-8) are decoded.
    """
    pairs = []
    current = bytearray()
    pos = 0
    raw = text.strip()
    while pos <= len(raw):
        char = raw[pos] if pos < len(raw) else None
        if char is None or char in ',+':
            item = current.decode('utf-8', 'replace')
            if item:
                name, _equals, value = item.partition('=')
                pairs.append([name.strip(), value])
            current = bytearray()
            pos += 1
            continue
        if char == '\\' and pos + 1 < len(raw):
            pair = raw[pos + 1:pos + 3]
            if re.match(r'^[0-9A-Fa-f]{2}$', pair):
                current.append(int(pair, 16))
                pos += 3
                continue
            current.extend(raw[pos + 1].encode('utf-8'))
            pos += 2
            continue
        current.extend(char.encode('utf-8'))
        pos += 1
    return pairs


def _first_value(pairs, attribute):
    for name, value in pairs:
        if name.upper() == attribute:
            return value
    return None


def parse_san_line(text):
    """{"dns", "ip", "email", "uri", "other"} lists from an openssl subjectAltName value line."""
    san = {'dns': [], 'ip': [], 'email': [], 'uri': [], 'other': []}
    for item in text.split(', '):
        item = item.strip()
        if not item:
            continue
        kind, colon, value = item.partition(':')
        key = _SAN_KINDS.get(kind) if colon else None
        if key is None:
            san['other'].append(item)
        elif key == 'ip':
            address = parse_ip(value.strip())
            san['ip'].append(format_ip(address) if address is not None else value.strip())
        else:
            san[key].append(value.strip())
    return san


CERT_DATES = {'notBefore': 'not_before', 'notAfter': 'not_after'}
CRL_DATES = {'lastUpdate': 'last_update', 'nextUpdate': 'next_update'}


def read_openssl_field(info, key, value, dates):
    """Store one ``key=value`` line of openssl's -subject/-issuer/date output in info; False for other keys.

    subject/issuer give "subject"/"issuer" and their parsed "_fields"; dates maps openssl's date
    keys to info keys (ISO 8601 UTC strings, None when unreadable).
    """
    if key in ('subject', 'issuer'):
        info[key] = value.strip()
        info[key + '_fields'] = parse_rfc2253(value)
        return True
    if key in dates:
        date = parse_openssl_date(value)
        info[dates[key]] = date.isoformat() if date else None
        return True
    return False


def parse_x509_summary(text):
    """Fields of x509_summary_argv output.

    Returns {"subject", "subject_fields", "subject_cn", "issuer", "issuer_fields",
    "self_issued", "not_before", "not_after" (ISO 8601 UTC strings), "serial",
    "fingerprint_sha256", "san" (see parse_san_line, or None when absent)}.
    """
    info = {'subject': None, 'subject_fields': [], 'subject_cn': None, 'issuer': None, 'issuer_fields': [],
            'self_issued': None, 'not_before': None, 'not_after': None, 'serial': None,
            'fingerprint_sha256': None, 'san': None}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        key, equals, value = line.partition('=')
        if line.startswith('X509v3 Subject Alternative Name'):
            following = lines[index + 1].strip() if index + 1 < len(lines) else ''
            info['san'] = parse_san_line(following)
        elif not equals:
            continue
        elif read_openssl_field(info, key, value, CERT_DATES):
            if key == 'subject':
                info['subject_cn'] = _first_value(info['subject_fields'], 'CN')
        elif key == 'serial':
            info['serial'] = value.strip().upper()
        elif key.lower().endswith('fingerprint') and key.lower().startswith('sha256'):
            info['fingerprint_sha256'] = value.strip().upper()
    if info['subject'] is not None and info['issuer'] is not None:
        info['self_issued'] = info['subject_fields'] == info['issuer_fields']
    return info


def _extension_value(lines, header):
    """(critical, following indented value line) for an extension header in -text output."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(header + ':'):
            critical = stripped[len(header) + 1:].strip() == 'critical'
            value = lines[index + 1].strip() if index + 1 < len(lines) else ''
            return critical, value
    return None, None


def parse_x509_text(text):
    """Algorithms and extensions from ``openssl x509 -noout -text``.

    Returns {"version", "signature_algorithm", "public_key_algorithm", "key_type"
    ("RSA"|"EC"|"ED25519"|...), "key_bits", "curve", "is_ca", "key_usage",
    "extended_key_usage"}.
    """
    info = {'version': None, 'signature_algorithm': None, 'public_key_algorithm': None, 'key_type': None,
            'key_bits': None, 'curve': None, 'nist_curve': None, 'is_ca': None, 'key_usage': [], 'extended_key_usage': []}
    lines = text.splitlines()
    for line in lines:
        stripped = line.strip()
        key, colon, value = stripped.partition(':')
        value = value.strip()
        if not colon:
            continue
        if key == 'Version' and info['version'] is None:
            info['version'] = int(value.split()[0]) if value.split() and value.split()[0].isdigit() else None
        elif key == 'Signature Algorithm' and info['signature_algorithm'] is None:
            info['signature_algorithm'] = value
        elif key == 'Public Key Algorithm' and info['public_key_algorithm'] is None:
            info['public_key_algorithm'] = value
        elif key.endswith('Public-Key') and info['key_bits'] is None:
            match = re.search(r'\((\d+) bit', value)
            if match:
                info['key_bits'] = int(match.group(1))
        elif key == 'ASN1 OID' and info['curve'] is None:
            info['curve'] = value
        elif key == 'NIST CURVE':
            info['nist_curve'] = value
    algorithm = info['public_key_algorithm'] or ''
    if algorithm in ('rsaEncryption', 'rsassaPss', 'RSASSA-PSS'):
        info['key_type'] = 'RSA'
    elif algorithm == 'id-ecPublicKey':
        info['key_type'] = 'EC'
    elif algorithm in ('dsaEncryption', 'DSA'):
        info['key_type'] = 'DSA'
    elif algorithm.upper() in _EDWARDS_BITS:
        info['key_type'] = algorithm.upper()
        info['curve'] = algorithm.lower()
        info['key_bits'] = info['key_bits'] or _EDWARDS_BITS[algorithm.upper()]
    elif algorithm:
        info['key_type'] = algorithm
    _critical, basic = _extension_value(lines, 'X509v3 Basic Constraints')
    if basic is not None:
        info['is_ca'] = 'CA:TRUE' in basic
    _critical, usage = _extension_value(lines, 'X509v3 Key Usage')
    if usage:
        info['key_usage'] = [item.strip() for item in usage.split(',') if item.strip()]
    _critical, extended = _extension_value(lines, 'X509v3 Extended Key Usage')
    if extended:
        info['extended_key_usage'] = [item.strip() for item in extended.split(',') if item.strip()]
    return info


def public_key_body(text):
    """Whitespace-free base64 body of the first PUBLIC KEY PEM block in text, or None."""
    for match in _PEM_BLOCK.finditer(text or ''):
        if match.group(1) == 'PUBLIC KEY':
            return ''.join(match.group(2).split())
    return None


def public_keys_match(cert_pubkey_text, key_pubout_text):
    """True/False comparing ``x509 -pubkey`` with ``pkey -pubout`` output; None if either has no key."""
    cert_key, private_key = public_key_body(cert_pubkey_text), public_key_body(key_pubout_text)
    if cert_key is None or private_key is None:
        return None
    return cert_key == private_key


def parse_verify_output(rc, stdout, stderr):
    """Result of ``openssl verify``: {"ok": bool, "errors": [{"code", "depth", "message"}]}."""
    errors = []
    for line in (stdout + '\n' + stderr).splitlines():
        match = _VERIFY_ERROR.match(line.strip())
        if match:
            errors.append({'code': int(match.group(1)), 'depth': int(match.group(2)),
                           'message': match.group(3).strip()})
    ok = rc == 0 and not errors and any(line.rstrip().endswith(': OK') for line in stdout.splitlines())
    if not ok and not errors:
        errors.append({'code': None, 'depth': None, 'message': safe_error_text(stderr or stdout)})
    return {'ok': ok, 'errors': errors}


def safe_error_text(text, limit=300):
    """First meaningful line of openssl's stderr, with anything PEM-looking removed."""
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('-----') or re.match(r'^[A-Za-z0-9+/=]{40,}$', line):
            continue
        return line[:limit]
    return None


def classify_key_error(stderr):
    """'encrypted', 'not_found', 'permission_denied', 'unsupported' or 'unreadable' for a failed pkey run."""
    lowered = (stderr or '').lower()
    if 'bad decrypt' in lowered or 'empty password' in lowered or 'bad password' in lowered:
        return 'encrypted'
    if 'no such file' in lowered:
        return 'not_found'
    if 'permission denied' in lowered:
        return 'permission_denied'
    if 'unsupported' in lowered:
        return 'unsupported'
    return 'unreadable'


def validity(not_before, not_after, now=None):
    """{"days_left", "expired", "not_yet_valid"} for ISO dates (from parse_x509_summary) at now (aware UTC, default: current time)."""
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    result = {'days_left': None, 'expired': None, 'not_yet_valid': None}
    if not_after:
        end = _from_iso(not_after)
        result['days_left'] = int((end - now).total_seconds() // 86400)
        result['expired'] = now > end
    if not_before:
        result['not_yet_valid'] = now < _from_iso(not_before)
    return result


def _from_iso(text):
    date = datetime.datetime.strptime(text[:19], '%Y-%m-%dT%H:%M:%S')
    return date.replace(tzinfo=datetime.timezone.utc)


def inspect_tls(run, cert_path, key_path=None, ca_path=None, now=None, openssl='openssl'):
    """Inspect a certificate (and optionally its key and CA) with ``run(argv) -> (rc, stdout, stderr)``.

    Returns {"certificate": {path, readable, error, ...parse_x509_summary,
    ...parse_x509_text, ...validity} , "key": {path, readable, matches_certificate,
    error, error_kind} or None, "chain": {ca_path, ok, errors} or None}. Key contents
    are never included.
    """
    certificate = {'path': cert_path, 'readable': False, 'error': None}
    result = {'certificate': certificate, 'key': None, 'chain': None}
    # One openssl run per certificate: each run costs a process start on every host, every run.
    rc, stdout, stderr = run(x509_inspect_argv(cert_path, openssl))
    summary, cert_pubkey, text = split_inspect_output(stdout) if rc == 0 else ('', None, '')
    if 'notAfter=' in summary:
        certificate['readable'] = True
        certificate.update(parse_x509_summary(summary))
        certificate.update(validity(certificate['not_before'], certificate['not_after'], now))
        certificate.update(parse_x509_text(text))
    else:
        certificate['error'] = safe_error_text(stderr) or 'openssl x509 failed with rc %s' % rc

    if key_path:
        key = {'path': key_path, 'readable': False, 'matches_certificate': None, 'error': None, 'error_kind': None}
        rc, stdout, stderr = run(key_pubout_argv(key_path, openssl))
        if rc == 0 and public_key_body(stdout):
            key['readable'] = True
            if cert_pubkey is not None:
                key['matches_certificate'] = public_keys_match(cert_pubkey, stdout)
        else:
            key['error'] = safe_error_text(stderr) or 'openssl pkey failed with rc %s' % rc
            key['error_kind'] = classify_key_error(stderr)
        result['key'] = key

    if ca_path and certificate['readable']:
        rc, stdout, stderr = run(verify_argv(cert_path, ca_path, openssl))
        chain = {'ca_path': ca_path}
        chain.update(parse_verify_output(rc, stdout, stderr))
        result['chain'] = chain
    return result
