# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""generated_state: the generate tasks are skipped only when they would change nothing."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.pgsec.hardening.plugins.plugin_utils.tls_generated import generated_state

NOW = datetime.datetime.now(datetime.timezone.utc)


def _write(path, data, mode):
    with open(path, 'wb') as handle:
        handle.write(data)
    os.chmod(path, mode)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_material(directory, host='pg1', names=('pg1', '198.18.0.10'), days=397, usage=ExtendedKeyUsageOID.SERVER_AUTH):
    ca_key, key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'pgsec.hardening generated CA')])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    sans = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(os.path.join(directory, 'ca.key'), _key_pem(ca_key), 0o600)
    _write(os.path.join(directory, 'ca.crt'), ca.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(os.path.join(directory, host + '.key'), _key_pem(key), 0o600)
    _write(os.path.join(directory, host + '.crt'), cert.public_bytes(serialization.Encoding.PEM), 0o644)


def test_current_material_is_not_generated_again(tmp_path):
    make_material(str(tmp_path))
    state = generated_state(str(tmp_path), 'pg1', ['pg1', '198.18.0.10'], 30, False)
    assert state == {'exists': True, 'current': True, 'reason': ''}


def test_nothing_generated_yet(tmp_path):
    state = generated_state(str(tmp_path), 'pg1', ['pg1'], 30, False)
    assert not state['exists'] and not state['current'] and 'is missing' in state['reason']


def test_a_new_listen_address_needs_a_new_certificate(tmp_path):
    make_material(str(tmp_path))
    state = generated_state(str(tmp_path), 'pg1', ['pg1', '198.18.0.10', '198.18.0.11'], 30, False)
    assert not state['current'] and 'does not cover exactly' in state['reason']


def test_a_certificate_expiring_within_the_warning_days_is_renewed(tmp_path):
    make_material(str(tmp_path), days=10)
    state = generated_state(str(tmp_path), 'pg1', ['pg1', '198.18.0.10'], 30, False)
    assert not state['current'] and 'expires within 30 days' in state['reason']


def test_a_missing_passphrase_or_a_loose_key_mode_is_redone(tmp_path):
    make_material(str(tmp_path))
    assert 'pg1.passphrase is missing' in generated_state(str(tmp_path), 'pg1', ['pg1', '198.18.0.10'], 30, True)['reason']
    os.chmod(str(tmp_path / 'pg1.key'), 0o644)
    assert 'has mode 0644' in generated_state(str(tmp_path), 'pg1', ['pg1', '198.18.0.10'], 30, False)['reason']


def test_a_certificate_from_another_ca_is_redone(tmp_path):
    make_material(str(tmp_path))
    other = tmp_path / 'other'
    other.mkdir()
    make_material(str(other))
    os.replace(str(other / 'ca.crt'), str(tmp_path / 'ca.crt'))
    state = generated_state(str(tmp_path), 'pg1', ['pg1', '198.18.0.10'], 30, False)
    assert not state['current']
