# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the CA and certificate the tls role generates on the controller are still what it would make.

The role's generate tasks (community.crypto) are idempotent but cost about ten controller module runs
per host; when this says the material is current they are skipped, so a run that changes nothing
costs none of them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import ipaddress
import os
import stat

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # the prerequisites check names the missing package
    x509 = None

FILE_MODES = {'ca.key': 0o600, 'ca.crt': 0o644}


def _public_bytes(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _expected_names(names):
    expected = set()
    for name in names:
        try:
            expected.add(('ip', ipaddress.ip_address(name)))
        except ValueError:
            expected.add(('dns', name))
    return expected


def generated_state(directory, host, names, warn_days, passphrase_needed):
    """{exists, current, reason}: exists, the host's certificate was generated before; current, nothing to redo."""
    paths = {'ca.key': 'ca.key', 'ca.crt': 'ca.crt', 'key': host + '.key', 'crt': host + '.crt'}
    paths = dict((name, os.path.join(directory, leaf)) for name, leaf in paths.items())
    state = {'exists': os.path.exists(paths['crt']), 'current': False, 'reason': ''}
    if x509 is None:
        state['reason'] = 'the cryptography package is missing'
        return state
    modes = dict(FILE_MODES, key=0o600, crt=0o644)
    if passphrase_needed:
        paths['passphrase'] = os.path.join(directory, host + '.passphrase')
        modes['passphrase'] = 0o600
    for name, path in paths.items():
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            state['reason'] = '%s is missing' % path
            return state
        if mode != modes[name]:
            state['reason'] = '%s has mode %04o' % (path, mode)
            return state
    try:
        with open(paths['ca.crt'], 'rb') as handle:
            ca = x509.load_pem_x509_certificate(handle.read())
        with open(paths['crt'], 'rb') as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
        with open(paths['key'], 'rb') as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
        with open(paths['ca.key'], 'rb') as handle:
            ca_key = serialization.load_pem_private_key(handle.read(), password=None)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, OSError, Exception) as exc:  # any unreadable or unsigned file: regenerate
        state['reason'] = 'the generated material does not verify: %s' % exc
        return state
    now = datetime.datetime.now(datetime.timezone.utc)
    checks = [
        (_public_bytes(ca_key.public_key()) == _public_bytes(ca.public_key()), 'ca.key does not match ca.crt'),
        (_public_bytes(key.public_key()) == _public_bytes(cert.public_key()), 'the key does not match the certificate'),
        (ca.not_valid_after_utc > now, 'the CA expired'),
        (cert.not_valid_after_utc > now + datetime.timedelta(days=int(warn_days)),
         'the certificate expires within %s days' % warn_days),
        ([attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [host],
         'the common name is not %s' % host),
    ]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as exc:
        state['reason'] = 'the certificate has no %s' % exc.oid
        return state
    present = set(('ip', value) for value in san.get_values_for_type(x509.IPAddress))
    present |= set(('dns', value) for value in san.get_values_for_type(x509.DNSName))
    checks.append((present == _expected_names(names), 'the certificate does not cover exactly %s' % ', '.join(names)))
    checks.append((list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH], 'the certificate is not for serverAuth only'))
    for passed, reason in checks:
        if not passed:
            state['reason'] = reason
            return state
    state['current'] = True
    return state
