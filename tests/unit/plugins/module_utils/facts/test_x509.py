# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.facts import x509
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture

# The fixtures were recorded on 2026-11-25; all dates below are relative to this instant.
NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)


class Replay:
    """A run(argv) that answers from a recorded scenario and fails on unexpected commands."""

    def __init__(self, name):
        self.scenario = json.loads(read_fixture('x509', name + '.json'))
        self.calls = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        for command in self.scenario['commands']:
            if command['argv'] == list(argv):
                return command['rc'], command['stdout'], command['stderr']
        raise AssertionError('unexpected command %r' % (argv,))

    def inspect(self):
        return x509.inspect_tls(self, self.scenario['cert'], self.scenario['key'], self.scenario['ca'], now=NOW)


def recorded(name, argv_word):
    scenario = json.loads(read_fixture('x509', name + '.json'))
    return [command for command in scenario['commands'] if argv_word in command['argv']][0]


def test_rsa_signed_by_ca():
    replay = Replay('rsa_signed')
    result = replay.inspect()
    cert = result['certificate']
    assert cert['readable'] and cert['error'] is None
    assert cert['subject_cn'] == 'db.example.com'
    assert cert['subject_fields'] == [['CN', 'db.example.com'], ['UID', 'db1'], ['OU', u'B\u00fccher'],
                                      ['O', 'Example, Inc.'], ['C', 'DE']]
    assert cert['issuer_fields'] == [['CN', 'pgsec test root CA'], ['O', 'pgsec test']]
    assert cert['self_issued'] is False
    assert cert['san'] == {'dns': ['db.example.com', '*.db.example.com'], 'ip': ['198.18.1.10', '2001:db8::10'],
                           'email': [], 'uri': [], 'other': []}
    assert (cert['key_type'], cert['key_bits'], cert['curve']) == ('RSA', 2048, None)
    assert cert['signature_algorithm'] == 'sha256WithRSAEncryption'
    assert cert['public_key_algorithm'] == 'rsaEncryption'
    assert cert['is_ca'] is False and cert['version'] == 3
    assert cert['key_usage'] == ['Digital Signature', 'Key Encipherment']
    assert cert['extended_key_usage'] == ['TLS Web Server Authentication']
    assert cert['days_left'] == 364 and cert['expired'] is False and cert['not_yet_valid'] is False
    assert len(cert['fingerprint_sha256'].split(':')) == 32
    assert result['key'] == {'path': 'rsa.key', 'readable': True, 'matches_certificate': True, 'error': None,
                             'error_kind': None}
    assert result['chain'] == {'ca_path': 'ca.crt', 'ok': True, 'errors': []}
    assert [call[1] for call in replay.calls] == ['x509', 'pkey', 'verify']  # one x509 run per certificate


def test_result_holds_no_key_material():
    for name in ('rsa_signed', 'chain', 'ec_selfsigned', 'rsa_encrypted_key'):
        text = json.dumps(Replay(name).inspect())
        assert 'BEGIN' not in text and 'PRIVATE' not in text


def test_wrong_key():
    result = Replay('rsa_wrong_key').inspect()
    assert result['key']['readable'] and result['key']['matches_certificate'] is False


def test_encrypted_key():
    key = Replay('rsa_encrypted_key').inspect()['key']
    assert key['readable'] is False and key['matches_certificate'] is None
    assert key['error_kind'] == 'encrypted'
    assert key['error'] == 'Could not read key from rsa-encrypted.key'


def test_other_ca():
    chain = Replay('rsa_other_ca').inspect()['chain']
    assert chain == {'ca_path': 'other-ca.crt', 'ok': False,
                     'errors': [{'code': 20, 'depth': 0, 'message': 'unable to get local issuer certificate'}]}


def test_ec_selfsigned():
    cert = Replay('ec_selfsigned').inspect()['certificate']
    assert (cert['key_type'], cert['key_bits'], cert['curve'], cert['nist_curve']) == ('EC', 256, 'prime256v1', 'P-256')
    assert cert['signature_algorithm'] == 'ecdsa-with-SHA256'
    assert cert['self_issued'] is True and cert['is_ca'] is True
    assert cert['days_left'] == 89


def test_ed25519_without_san():
    result = Replay('ed25519_selfsigned').inspect()
    cert = result['certificate']
    assert (cert['key_type'], cert['key_bits'], cert['curve']) == ('ED25519', 256, 'ed25519')
    assert cert['signature_algorithm'] == 'ED25519' and cert['san'] is None
    assert result['key']['matches_certificate'] is True
    assert result['chain']['ok'] is True  # self-signed checked against itself


def test_expired():
    result = Replay('expired').inspect()
    cert = result['certificate']
    assert cert['not_before'] == '2020-01-01T00:00:00+00:00' and cert['not_after'] == '2021-01-01T00:00:00+00:00'
    assert cert['expired'] is True and cert['days_left'] == -2155  # floor of -2154.5 days
    assert result['chain']['errors'] == [{'code': 10, 'depth': 0, 'message': 'certificate has expired'}]
    assert cert['san'] == {'dns': ['old.example.com'], 'ip': [], 'email': [], 'uri': [], 'other': []}


def test_chain_file_with_intermediate():
    result = Replay('chain').inspect()
    cert = result['certificate']
    assert cert['subject_cn'] == 'chain.example.com'
    assert cert['issuer_fields'] == [['CN', 'pgsec test intermediate']]  # openssl ca policy keeps only CN
    assert (cert['key_type'], cert['key_bits'], cert['curve']) == ('EC', 384, 'secp384r1')
    assert result['chain']['ok'] is True and result['key']['matches_certificate'] is True


def test_missing_files():
    replay = Replay('missing_files')
    result = replay.inspect()
    assert result['certificate']['readable'] is False
    assert result['certificate']['error'].startswith('Could not open file or uri for loading certificate')
    assert result['key']['error_kind'] == 'not_found'
    assert result['chain'] is None
    assert [call[1] for call in replay.calls] == ['x509', 'pkey']


@pytest.mark.parametrize('text, expected', [
    ('Nov 25 01:47:28 2026 GMT', datetime.datetime(2026, 11, 25, 1, 47, 28, tzinfo=datetime.timezone.utc)),
    ('Jan  5 00:00:00 2050 GMT', datetime.datetime(2050, 1, 5, tzinfo=datetime.timezone.utc)),
    ('2026-11-25 01:47:28Z', datetime.datetime(2026, 11, 25, 1, 47, 28, tzinfo=datetime.timezone.utc)),
    ('Foo 25 01:47:28 2026 GMT', None),
    ('Feb 30 00:00:00 2026 GMT', None),
])
def test_parse_openssl_date(text, expected):
    assert x509.parse_openssl_date(text) == expected


def test_validity_boundaries():
    assert x509.validity('2026-01-01T00:00:00+00:00', '2026-11-26T11:59:59+00:00', NOW) == {
        'days_left': 0, 'expired': False, 'not_yet_valid': False}
    assert x509.validity('2026-12-01T00:00:00+00:00', '2027-01-01T00:00:00+00:00', NOW.replace(tzinfo=None))[
        'not_yet_valid'] is True
    assert x509.validity(None, None, NOW) == {'days_left': None, 'expired': None, 'not_yet_valid': None}


def test_rfc2253_escapes():
    assert x509.parse_rfc2253('CN=a\\,b\\+c,O=\\"q\\"\\;,OU=x+UID=y,C=\\C3\\A9') == [
        ['CN', 'a,b+c'], ['O', '"q";'], ['OU', 'x'], ['UID', 'y'], ['C', u'\u00e9']]


def test_public_key_comparison():
    pub = recorded('rsa_signed', '-pubkey')['stdout']
    assert x509.public_keys_match(pub, pub.replace('\n', '\r\n'))
    assert x509.public_keys_match(pub, recorded('ec_selfsigned', '-pubout')['stdout']) is False
    assert x509.public_keys_match(pub, '') is None


def test_verify_output_without_recognisable_errors():
    assert x509.parse_verify_output(1, '', 'Could not open file or uri for loading CA certificates\nmore') == {
        'ok': False, 'errors': [{'code': None, 'depth': None,
                                 'message': 'Could not open file or uri for loading CA certificates'}]}
    assert x509.safe_error_text('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ\nok') == 'ok'


@pytest.mark.skipif(shutil.which('openssl') is None, reason='needs the openssl command')
def test_live_openssl(tmp_path):
    """inspect_tls with the real openssl on a key generated for this test only."""
    def sh(*argv):
        subprocess.run(argv, cwd=str(tmp_path), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    sh('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
       '-keyout', 'server.key', '-out', 'server.crt', '-days', '10', '-subj', '/CN=live.example',
       '-addext', 'subjectAltName=IP:::1')
    os.chmod(str(tmp_path / 'server.key'), 0o600)

    def run(argv):
        proc = subprocess.run(argv, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    result = x509.inspect_tls(run, str(tmp_path / 'server.crt'), str(tmp_path / 'server.key'),
                              str(tmp_path / 'server.crt'))
    assert result['certificate']['subject_cn'] == 'live.example'
    assert result['certificate']['san']['ip'] == ['::1']
    assert result['certificate']['days_left'] in (9, 10)
    assert result['key']['matches_certificate'] is True and result['chain']['ok'] is True
    key_text = (tmp_path / 'server.key').read_text()
    body = ''.join(key_text.splitlines()[1:-1])
    assert body[:40] not in json.dumps(result)
