# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_material against the real openssl, on material generated for this test run only."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import pwd
import shutil
import subprocess

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.tls import material as tm
from ansible_collections.pgsec.hardening.plugins.module_utils.tls import validation as tv
from ansible_collections.pgsec.hardening.plugins.module_utils.tls import passphrase as tp
from ansible_collections.pgsec.hardening.plugins.module_utils.tls import renewal as tr

pytestmark = pytest.mark.skipif(shutil.which('openssl') is None, reason='needs the openssl command')

PASSPHRASE = 'correct horse battery staple'
CONFIG = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:pg1.example,IP:198.18.1.11
[wildcard_ext]
subjectAltName = DNS:*.db.example,IP:2001:db8::11
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
default_crl_days = 30
unique_subject = no
[policy_any]
commonName = supplied
"""


class Material(object):
    """A CA with server certificates, keys and CRLs, made with openssl in a directory."""

    def __init__(self, base):
        self.base = base
        with open(self.path('openssl.cnf'), 'w') as handle:
            handle.write(CONFIG)

    def path(self, name):
        return os.path.join(self.base, name)

    def sh(self, *argv, **kwargs):
        subprocess.run(argv, cwd=self.base, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=dict(os.environ, OPENSSL_CONF=self.path('openssl.cnf'), **kwargs.get('env', {})))

    def key(self, name, spec='ec'):
        if spec == 'ec':
            self.sh('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name)
        else:
            self.sh('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:%d' % spec, '-out', name)

    def ca(self, name):
        self.key(name + '.key')
        self.sh('openssl', 'req', '-config', 'openssl.cnf', '-x509', '-new', '-key', name + '.key', '-out', name + '.crt',
                '-days', '3650', '-subj', '/CN=pgsec test %s' % name, '-extensions', 'ca_ext')
        os.mkdir(self.path(name + '.db'))
        open(self.path(name + '.db/index.txt'), 'w').close()
        with open(self.path(name + '.db/serial'), 'w') as handle:
            handle.write('1000\n')

    def ca_argv(self, ca, *argv):
        return ('openssl', 'ca', '-batch', '-config', '../openssl.cnf', '-keyfile', '../%s.key' % ca,
                '-cert', '../%s.crt' % ca) + argv

    def in_ca(self, ca, *argv):
        subprocess.run(self.ca_argv(ca, *argv), cwd=self.path(ca + '.db'), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def cert(self, name, key, ca='ca', cn='pg1.example', extensions='server_ext', dates=('-days', '825')):
        self.sh('openssl', 'req', '-config', 'openssl.cnf', '-new', '-key', key, '-out', name + '.csr', '-subj', '/CN=' + cn)
        self.in_ca(ca, '-notext', '-in', '../%s.csr' % name, '-out', '../%s.crt' % name, '-extensions', extensions,
                   *dates)
        return self.path(name + '.crt')

    def crl(self, ca, name, *argv):
        self.in_ca(ca, '-gencrl', '-out', '../%s' % name, *argv)
        return self.path(name)


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    material = Material(str(tmp_path_factory.mktemp('pki')))
    material.ca('ca')
    material.ca('other')
    material.key('server.key')
    material.key('stranger.key')
    material.key('weak.key', 1024)
    material.cert('server', 'server.key')
    material.cert('soon', 'server.key', dates=('-days', '5'))
    material.cert('expired', 'server.key', dates=('-startdate', '20200101000000Z', '-enddate', '20210101000000Z'))
    material.cert('future', 'server.key', dates=('-startdate', '20990101000000Z', '-enddate', '20991231000000Z'))
    material.cert('weak', 'weak.key')
    material.cert('wildcard', 'server.key', cn='db.example', extensions='wildcard_ext')
    material.cert('foreign', 'server.key', ca='other')
    material.cert('revoked', 'server.key')
    material.crl('ca', 'clean.crl')
    material.in_ca('ca', '-revoke', '../revoked.crt')
    material.crl('ca', 'revoked.crl')
    material.crl('other', 'other.crl')
    material.sh('openssl', 'pkey', '-in', 'server.key', '-aes256', '-passout', 'env:PASS', '-out', 'encrypted.key',
                env={'PASS': PASSPHRASE})
    with open(material.path('garbage.pem'), 'w') as handle:
        handle.write('-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n')
    return material


class Openssl(object):
    """run(argv, env=None) with the real openssl, remembering every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, env=None):
        self.calls.append((list(argv), dict(env or {})))
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              stdin=subprocess.DEVNULL, env=dict(os.environ, **(env or {})), timeout=120, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def validate(pki, cert='server.crt', key='server.key', ca='ca.crt', crl=None, now=None, **expect):
    staged = {'cert': pki.path(cert), 'key': pki.path(key)}
    if ca:
        staged['ca'] = pki.path(ca)
    if crl:
        staged['crl'] = pki.path(crl)
    run = Openssl()
    result = tv.validate_material(run, staged, expect, now=now)
    text = json.dumps(result)
    assert 'PRIVATE KEY' not in text and PASSPHRASE not in text and pki.base not in text
    for argv, _env in run.calls:
        assert PASSPHRASE not in ' '.join(argv)
    result['calls'] = run.calls
    return result


def only_error(result):
    assert len(result['errors']) == 1, result['errors']
    return result['errors'][0]


def test_good_material(pki):
    result = validate(pki, crl='clean.crl', names=['pg1.example', 'PG1.Example.', '198.18.1.11'])
    assert result['errors'] == [] and result['warnings'] == []
    cert = result['certificate']
    assert cert['subject'] == 'CN=pg1.example' and cert['issuer'] == 'CN=pgsec test ca'
    assert cert['sans'] == ['DNS:pg1.example', 'IP:198.18.1.11']
    assert (cert['key_type'], cert['key_bits']) == ('EC', 256)
    assert cert['days_left'] in (823, 824) and len(cert['sha256_fingerprint'].split(':')) == 32
    assert any('-crl_check' in argv for argv, _env in result['calls'])


def test_self_signed_without_ca(pki):
    assert validate(pki, cert='ca.crt', key='ca.key', ca=None, min_ec_bits=256)['errors'] == []


def test_not_a_certificate(pki):
    result = validate(pki, cert='garbage.pem')
    assert only_error(result).startswith('pgsec_tls_cert is not a PEM certificate: ')
    assert result['certificate'] is None


def test_key_does_not_match(pki):
    assert only_error(validate(pki, key='stranger.key')) == 'pgsec_tls_key does not match pgsec_tls_cert (CN=pg1.example)'


def test_key_unreadable(pki):
    message = only_error(validate(pki, key='garbage.pem'))
    assert message.startswith('pgsec_tls_key cannot be read as a private key: ')
    assert 'pgsec_tls_key' in message[len('pgsec_tls_key cannot'):]  # the staged path is shown as the variable


def test_encrypted_key_without_passphrase(pki):
    assert only_error(validate(pki, key='encrypted.key')) == \
        'pgsec_tls_key is encrypted but pgsec_tls_key_passphrase is not set'


def test_encrypted_key_wrong_passphrase(pki):
    result = validate(pki, key='encrypted.key', passphrase='not ' + PASSPHRASE)
    assert only_error(result) == 'pgsec_tls_key_passphrase does not decrypt pgsec_tls_key: wrong passphrase'
    assert 'not ' + PASSPHRASE not in ' '.join(' '.join(argv) for argv, _env in result['calls'])


def test_encrypted_key_with_passphrase(pki):
    result = validate(pki, key='encrypted.key', passphrase=PASSPHRASE)
    assert result['errors'] == []
    key_calls = [(argv, env) for argv, env in result['calls'] if argv[1] == 'pkey']
    assert key_calls == [(['openssl', 'pkey', '-in', pki.path('encrypted.key'), '-pubout', '-passin',
                           'env:' + tv.PASSPHRASE_ENV], {tv.PASSPHRASE_ENV: PASSPHRASE})]


def test_passphrase_never_echoed(pki):
    result = validate(pki, cert='garbage.pem', key='encrypted.key', passphrase=PASSPHRASE)
    assert len(result['errors']) == 1  # the key decrypts; only the certificate is wrong


def test_expired(pki):
    result = validate(pki, cert='expired.crt')
    assert only_error(result) == 'pgsec_tls_cert (CN=pg1.example) expired on 2021-01-01T00:00:00+00:00'


def test_not_yet_valid(pki):
    assert only_error(validate(pki, cert='future.crt')) == \
        'pgsec_tls_cert (CN=pg1.example) is not valid before 2099-01-01T00:00:00+00:00'


def test_expires_soon(pki):
    result = validate(pki, cert='soon.crt')
    assert result['errors'] == []
    assert len(result['warnings']) == 1
    assert result['warnings'][0].startswith('pgsec_tls_cert (CN=pg1.example) expires in 4 days, on ')
    assert validate(pki, cert='soon.crt', warn_days=3)['warnings'] == []


def test_expiry_checked_at_now(pki):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=900)
    result = validate(pki, now=later)
    assert only_error(result).startswith('pgsec_tls_cert (CN=pg1.example) expired on ')
    assert any('-attime' in argv for argv, _env in result['calls'])


def test_weak_rsa_key(pki):
    message = only_error(validate(pki, cert='weak.crt', key='weak.key'))
    assert message == 'pgsec_tls_cert (CN=pg1.example): its RSA key has 1024 bits, fewer than the minimum of 2048'
    assert validate(pki, cert='weak.crt', key='weak.key', min_rsa_bits=1024)['errors'] == []


def test_weak_ec_key(pki):
    message = only_error(validate(pki, min_ec_bits=384))
    assert message.endswith('its EC key has 256 bits, fewer than the minimum of 384')


def test_names_not_covered(pki):
    message = only_error(validate(pki, names=['pg1.example', 'pg2.example', '198.18.1.12', 'x.pg1.example']))
    assert message == ('pgsec_tls_cert (CN=pg1.example) does not cover pg2.example, 198.18.1.12, x.pg1.example: '
                       'its subjectAltName is DNS:pg1.example, IP:198.18.1.11')


def test_wildcard_and_ipv6_names(pki):
    result = validate(pki, cert='wildcard.crt', names=['pg1.db.example', '2001:DB8:0::11'])
    assert result['errors'] == []
    message = only_error(validate(pki, cert='wildcard.crt', names=['db.example', 'a.b.db.example', '2001:db8::12']))
    assert message.endswith('does not cover db.example, a.b.db.example, 2001:db8::12: '
                            'its subjectAltName is DNS:*.db.example, IP:2001:db8::11')


def test_chain_does_not_verify(pki):
    message = only_error(validate(pki, cert='foreign.crt'))
    assert message == ('pgsec_tls_cert (CN=pg1.example) does not verify against pgsec_tls_ca: '
                       'unable to get local issuer certificate at depth 0')


def test_ca_not_a_certificate(pki):
    assert only_error(validate(pki, ca='garbage.pem')).startswith('pgsec_tls_ca is not a PEM certificate: ')


def test_revoked(pki):
    result = validate(pki, cert='revoked.crt', crl='revoked.crl')
    message = only_error(result)
    assert message.startswith('pgsec_tls_cert (CN=pg1.example) is revoked by pgsec_tls_crl (serial ')
    assert validate(pki, cert='server.crt', crl='revoked.crl')['errors'] == []
    assert validate(pki, cert='revoked.crt', crl='clean.crl')['errors'] == []


def test_crl_unparsable(pki):
    assert only_error(validate(pki, crl='garbage.pem')).startswith('pgsec_tls_crl is not a PEM CRL: ')


def test_crl_of_another_ca(pki):
    message = only_error(validate(pki, crl='other.crl'))
    assert message.startswith('pgsec_tls_crl (issuer CN=pgsec test other) is not issued by a certificate in pgsec_tls_ca')


def test_crl_without_ca(pki):
    assert only_error(validate(pki, ca=None, crl='clean.crl')) == \
        'pgsec_tls_crl is set but pgsec_tls_ca is not: a CRL is checked against its CA'


def test_crl_past_next_update(pki):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=45)
    result = validate(pki, crl='revoked.crl', now=later)
    assert result['errors'] == []
    assert len(result['warnings']) == 1
    assert result['warnings'][0].startswith('pgsec_tls_crl (issuer CN=pgsec test ca) is past its nextUpdate ')
    assert only_error(validate(pki, cert='revoked.crt', crl='revoked.crl', now=later)).startswith(
        'pgsec_tls_cert (CN=pg1.example) is revoked by pgsec_tls_crl')


def test_all_problems_at_once(pki):
    result = validate(pki, cert='weak.crt', key='stranger.key', ca='other.crt', crl='clean.crl', names=['pg9.example'])
    assert [message.split(' ')[0] for message in result['errors']] == [
        'pgsec_tls_cert', 'pgsec_tls_cert', 'pgsec_tls_key', 'pgsec_tls_crl', 'pgsec_tls_cert']


# ---------------------------------------------------------------------------- pure helpers

def test_check_pem():
    cert = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n'
    key = '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n'
    crl = '-----BEGIN X509 CRL-----\nAA==\n-----END X509 CRL-----\n'
    assert tv.check_pem({'cert': cert, 'key': key, 'ca': cert + cert, 'crl': crl}) == []
    errors = tv.check_pem({'cert': cert + key, 'key': cert, 'ca': 'hello', 'crl': cert})
    assert errors == ['pgsec_tls_cert contains a private key; only pgsec_tls_key may hold one',
                      'pgsec_tls_ca is not PEM: it has no "-----BEGIN CERTIFICATE-----" line',
                      'pgsec_tls_crl must hold only X509 CRL blocks, not CERTIFICATE',
                      'pgsec_tls_key is not a PEM private key (it holds CERTIFICATE)']
    assert tv.check_pem({'cert': cert, 'key': key + key}) == ['pgsec_tls_key holds 2 private keys; give exactly one']
    ec_key = '-----BEGIN EC PARAMETERS-----\nAA==\n-----END EC PARAMETERS-----\n' + key.replace(' PRIVATE', ' EC PRIVATE')
    assert tv.check_pem({'cert': cert, 'key': ec_key}) == []


def test_key_is_encrypted():
    assert tv.key_is_encrypted('-----BEGIN ENCRYPTED PRIVATE KEY-----\n')
    assert tv.key_is_encrypted('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n')
    assert not tv.key_is_encrypted('-----BEGIN PRIVATE KEY-----\n')


@pytest.mark.parametrize('pattern, name, expected', [
    ('pg1.example', 'PG1.example.', True),
    ('*.db.example', 'a.db.example', True),
    ('*.db.example', 'db.example', False),
    ('*.db.example', 'a.b.db.example', False),
    ('pg*.db.example', 'pg1.db.example', False),
    ('*.*.example', 'a.b.example', False),
    ('*.db.example', '*.db.example', False),
])
def test_dns_name_matches(pattern, name, expected):
    assert tv.dns_name_matches(pattern, name) is expected


def test_uncovered_names_compares_addresses():
    san = {'dns': ['198.18.1.11'], 'ip': ['2001:db8::1']}
    assert tv.uncovered_names(san, ['2001:0db8:0:0::1', '198.18.1.11', '', '198.18.1.11']) == ['198.18.1.11']
    assert tv.uncovered_names(None, ['pg1.example']) == ['pg1.example']


def test_parse_crl_info():
    info = tv.parse_crl_info('issuer=CN=pgsec test ca,O=x\\, y\nlastUpdate=Nov 25 11:11:06 2026 GMT\nnextUpdate=NONE\n')
    assert info == {'issuer': 'CN=pgsec test ca,O=x\\, y', 'issuer_fields': [['CN', 'pgsec test ca'], ['O', 'x, y']],
                    'last_update': '2026-11-25T11:11:06+00:00', 'next_update': None}


def test_tls_settings_and_passphrase_command():
    command = tp.passphrase_command('/run/pgsec-tls/15-main/passphrase')
    settings = tv.tls_settings('/etc/postgresql/15/main/pgsec-tls', ['cert', 'key', 'crl', 'dh_params'], command)
    assert settings == {
        'ssl': 'on', 'ssl_cert_file': '/etc/postgresql/15/main/pgsec-tls/server.crt',
        'ssl_key_file': '/etc/postgresql/15/main/pgsec-tls/server.key',
        'ssl_crl_file': '/etc/postgresql/15/main/pgsec-tls/crl.pem',
        'ssl_dh_params_file': '/etc/postgresql/15/main/pgsec-tls/dhparams.pem',
        'ssl_passphrase_command': '/bin/cat /run/pgsec-tls/15-main/passphrase',
        'ssl_passphrase_command_supports_reload': 'on'}
    assert tp.passphrase_command("/srv/my tls/50%/passphrase") == "/bin/cat '/srv/my tls/50%%/passphrase'"


def test_ssl_build_problem():
    assert tv.ssl_build_problem({'id': '18/main', 'settings': {'ssl_library': {'value': ''}}}) == \
        '18/main: PostgreSQL was built without SSL support; TLS cannot be enabled on this server'
    assert tv.ssl_build_problem({'id': 'x', 'settings': {'ssl_library': {'value': 'OpenSSL'}}}) is None
    assert tv.ssl_build_problem({'id': 'x', 'settings': {}, 'tls': {'library': ''}}) is not None
    assert tv.ssl_build_problem({'id': 'x', 'settings': {}}) is None  # PostgreSQL < 12 does not say


# ---------------------------------------------------------------------------- placement

def read(path):
    with open(path) as handle:
        return handle.read()


@pytest.fixture
def place(pki, tmp_path):
    """place_material into tmp_path/conf/pgsec-tls, owned by the user running the tests."""
    (tmp_path / 'conf').mkdir()
    user = pwd.getpwuid(os.getuid()).pw_name
    cluster = {'id': '15/main', 'config_file': str(tmp_path / 'conf' / 'postgresql.conf'), 'server_user': user,
               'settings': {'ssl_library': {'value': 'OpenSSL'}}}

    def do(check_mode=False, diff=False, **options):
        material = {'cert': read(pki.path('server.crt')), 'key': read(pki.path('server.key')),
                    'ca': read(pki.path('ca.crt')), 'names': ['pg1.example'], 'dh_params': True}
        material.update(options)
        run = Openssl()
        result = tm.place_material(run, tm.MaterialIO(root=str(tmp_path / 'host')), cluster, material,
                                   check_mode=check_mode, diff=diff)
        text = json.dumps(result)
        assert 'PRIVATE KEY' not in text and PASSPHRASE not in text
        for argv, _env in run.calls:
            assert PASSPHRASE not in ' '.join(argv)
        return result

    do.directory = str(tmp_path / 'conf' / 'pgsec-tls')
    do.host = tmp_path / 'host'
    do.cluster = cluster
    return do


def mode_of(path):
    return '%04o' % (os.stat(path).st_mode & 0o7777)


def test_place_and_idempotence(place, pki):
    checked = place(check_mode=True, diff=True)
    assert checked['changed'] and not os.path.exists(place.directory)
    assert [entry['before_header'] for entry in checked['diff']] == [place.directory] + [
        os.path.join(place.directory, name) for name in ('ca.crt', 'dhparams.pem', 'server.key', 'server.crt')]
    result = place()
    assert result['changed'] and result['directory'] == place.directory
    assert sorted(result['files']) == ['ca', 'cert', 'dh_params', 'key']
    assert all(entry['changed'] for entry in result['files'].values())
    assert mode_of(place.directory) == '0750'
    assert mode_of(result['files']['key']['path']) == '0600' and result['files']['key']['mode'] == '0600'
    assert mode_of(result['files']['cert']['path']) == '0644'
    assert read(result['files']['key']['path']) == read(pki.path('server.key'))
    assert read(result['files']['dh_params']['path']).startswith('-----BEGIN DH PARAMETERS-----')
    assert result['settings'] == {
        'ssl': 'on', 'ssl_cert_file': place.directory + '/server.crt', 'ssl_key_file': place.directory + '/server.key',
        'ssl_ca_file': place.directory + '/ca.crt', 'ssl_dh_params_file': place.directory + '/dhparams.pem'}
    assert result['certificate']['subject'] == 'CN=pg1.example'
    again = place(diff=True)
    assert not again['changed'] and again['diff'] == []
    os.chmod(result['files']['cert']['path'], 0o600)
    fixed = place()
    assert fixed['changed'] and [name for name, entry in fixed['files'].items() if entry['changed']] == ['cert']
    assert mode_of(result['files']['cert']['path']) == '0644'


def test_certificate_diff(place, pki):
    place()
    result = place(diff=True, cert=read(pki.path('soon.crt')))
    assert result['changed'] and len(result['warnings']) == 1
    (diff,) = result['diff']
    assert diff['before_header'] == place.directory + '/server.crt'
    assert 'subject=CN=pg1.example' in diff['before'] and 'not_after=' in diff['after']
    assert diff['before'].split('sha256_fingerprint=')[1] != diff['after'].split('sha256_fingerprint=')[1]


def test_passphrase_encrypts_the_key_once_and_never_lies_next_to_it(place, pki):
    old = os.path.join(place.directory, 'passphrase')
    place()
    with open(old, 'w') as handle:  # where older releases kept it
        handle.write(PASSPHRASE + '\n')
    result = place(key_passphrase=PASSPHRASE, diff=True)
    key_path = result['files']['key']['path']
    assert read(key_path).startswith('-----BEGIN ENCRYPTED PRIVATE KEY-----')
    assert not os.path.exists(old) and result['files']['passphrase']['state'] == 'absent'
    # No systemd in the test root: the root-owned file, and the reason said.
    store = result['passphrase_store']
    assert store['kind'] == 'file' and store['reason'] == 'systemd is not the service manager of this host'
    assert store['path'] == str(place.host / 'etc/pgsec/passphrase/15-main')
    assert read(store['path']) == PASSPHRASE + '\n' and mode_of(store['path']) == '0440'
    assert os.stat(store['path']).st_uid == 0 and mode_of(os.path.dirname(store['path'])) == '0750'
    assert any('not in systemd credentials' in warning for warning in result['warnings'])
    assert result['settings']['ssl_passphrase_command'] == '/bin/cat ' + store['path']
    assert result['settings']['ssl_passphrase_command_supports_reload'] == 'on'
    assert not result['service_restart_required']
    for name in os.listdir(place.directory):
        with open(os.path.join(place.directory, name), 'rb') as handle:
            assert PASSPHRASE.encode() not in handle.read()
    encrypted = read(key_path)
    again = place(key_passphrase=PASSPHRASE)
    assert not again['changed'] and read(key_path) == encrypted and not again['warnings']
    plain = place()
    assert plain['changed'] and plain['files']['passphrase_file']['state'] == 'absent'
    assert not os.path.exists(store['path']) and read(key_path) == read(pki.path('server.key'))
    assert 'ssl_passphrase_command' not in plain['settings'] and plain['passphrase_store'] is None


def test_the_passphrase_store_can_be_required(place):
    with pytest.raises(tv.MaterialError) as caught:
        place(key_passphrase=PASSPHRASE, passphrase_store='systemd-creds')
    assert caught.value.errors == ['pgsec_tls_passphrase_store: systemd-creds cannot be used for 15/main: '
                                   'systemd is not the service manager of this host']
    assert not os.path.exists(place.directory)


def test_a_tls_directory_inside_the_data_directory_is_refused(place, tmp_path):
    place.cluster['data_directory'] = str(tmp_path / 'conf')
    with pytest.raises(tv.MaterialError) as caught:
        place(directory=str(tmp_path / 'conf' / 'tls'))
    assert caught.value.errors[0].startswith("pgsec_tls_directory: '%s' is inside the data directory" % (tmp_path / 'conf' / 'tls'))
    assert not os.path.exists(str(tmp_path / 'conf' / 'tls'))


def test_the_default_directory_stays_out_of_the_data_directory():
    debian = {'id': '15/main', 'config_file': '/etc/postgresql/15/main/postgresql.conf',
              'data_directory': '/var/lib/postgresql/15/main'}
    rhel = {'id': '/var/lib/pgsql/18/data', 'config_file': '/var/lib/pgsql/18/data/postgresql.conf',
            'data_directory': '/var/lib/pgsql/18/data'}
    assert tm.default_directory(debian) == '/etc/postgresql/15/main/pgsec-tls'
    assert tm.default_directory(rhel) == '/etc/pgsec/tls/var-lib-pgsql-18-data'


class FakeHost(object):
    """What tls_passphrase asks of a host: paths that exist, programs found, files read."""

    def __init__(self, paths=(), programs=(), files=None):
        self.paths, self.programs, self.files = set(paths), set(programs), files or {}

    @staticmethod
    def host_path(path):
        return path

    def stat(self, path, follow=False):
        return {'type': 'directory'} if path in self.paths or path in self.files else None

    def which(self, name):
        return '/usr/bin/' + name if name in self.programs else None

    def read(self, path):
        return self.files.get(path)


DEBIAN = {'id': '15/main', 'layout': 'debian', 'version': '15', 'name': 'main',
          'data_directory': '/var/lib/postgresql/15/main'}
CGROUP = b'0::/system.slice/system-postgresql.slice/postgresql@15-main.service\n'


def test_systemd_credentials_are_chosen_where_systemd_runs_a_postgresql_unit():
    running = {'/var/lib/postgresql/15/main/postmaster.pid': b'4242\n/var/lib/postgresql/15/main\n',
               '/proc/4242/cgroup': CGROUP}
    host = FakeHost(paths=['/run/systemd/system'], programs=['systemd-creds'], files=running)
    store = tp.select_store(host, DEBIAN, 'auto')
    assert store.kind == 'systemd-creds' and store.unit == 'postgresql@15-main.service'
    assert store.path == '/etc/credstore.encrypted/pgsec-tls-15-main.cred'
    assert store.dropin_path == '/etc/systemd/system/postgresql@15-main.service.d/pgsec-tls-passphrase.conf'
    assert store.command == '/bin/cat /run/pgsec-tls/15-main/passphrase'
    stopped = FakeHost(paths=['/run/systemd/system', '/lib/systemd/system/postgresql@.service'],
                       programs=['systemd-creds'])
    assert tp.select_store(stopped, DEBIAN, 'auto').unit == 'postgresql@15-main.service'
    assert tp.select_store(host, DEBIAN, 'file').kind == 'file'


def test_the_file_store_is_chosen_with_its_reason():
    patroni = {'/var/lib/postgresql/15/main/postmaster.pid': b'4242\n',
               '/proc/4242/cgroup': b'0::/system.slice/patroni.service\n'}
    cases = [
        (FakeHost(), 'systemd is not the service manager of this host'),
        (FakeHost(paths=['/run/systemd/system']), 'systemd-creds is not installed (it comes with systemd 250 and later)'),
        (FakeHost(paths=['/run/systemd/system'], programs=['systemd-creds']), 'the server runs under no systemd unit'),
        (FakeHost(paths=['/run/systemd/system'], programs=['systemd-creds'], files=patroni),
         'the server runs under patroni.service, whose restarts pgsec.hardening leaves to its owner'),
    ]
    for host, reason in cases:
        store = tp.select_store(host, dict(DEBIAN, layout='pgdata'), 'auto')
        assert (store.kind, store.reason, store.path) == ('file', reason, '/etc/pgsec/passphrase/15-main')
    with pytest.raises(tp.StoreError) as caught:
        tp.select_store(FakeHost(), DEBIAN, 'vault')
    assert str(caught.value) == "pgsec_tls_passphrase_store: 'vault' is not one of auto, systemd-creds, file"


def test_the_drop_in_hands_the_passphrase_to_the_server_user_only():
    text = tp.dropin_text('postgresql@15-main.service', '/etc/credstore.encrypted/pgsec-tls-15-main.cred',
                          '/run/pgsec-tls/15-main/passphrase', 'postgres', 'postgres')
    assert 'LoadCredentialEncrypted=pgsec-tls-passphrase:/etc/credstore.encrypted/pgsec-tls-15-main.cred\n' in text
    assert ('ExecStartPre=+/usr/bin/install -o postgres -g postgres -m 0400 %d/pgsec-tls-passphrase '
            '/run/pgsec-tls/15-main/passphrase\n') in text
    assert 'ExecStopPost=+/bin/rm -f /run/pgsec-tls/15-main/passphrase\n' in text
    assert tp.store_name('/var/lib/pgsql/18/data') == 'var-lib-pgsql-18-data' and tp.store_name('15/main') == '15-main'


def test_given_encrypted_key_is_kept(place, pki):
    result = place(key=read(pki.path('encrypted.key')), key_passphrase=PASSPHRASE)
    assert read(result['files']['key']['path']) == read(pki.path('encrypted.key'))


def test_invalid_material_touches_nothing(place, pki):
    with pytest.raises(tv.MaterialError) as caught:
        place(key=read(pki.path('stranger.key')), names=['pg2.example'])
    assert caught.value.errors == [
        'pgsec_tls_cert (CN=pg1.example) does not cover pg2.example: its subjectAltName is DNS:pg1.example, IP:198.18.1.11',
        'pgsec_tls_key does not match pgsec_tls_cert (CN=pg1.example)']
    assert not os.path.exists(place.directory)
    with pytest.raises(tv.MaterialError) as caught:
        place(cert=read(pki.path('server.crt')) + read(pki.path('server.key')))
    assert caught.value.errors == ['pgsec_tls_cert contains a private key; only pgsec_tls_key may hold one']
    with pytest.raises(tv.MaterialError) as caught:
        place(key_passphrase=PASSPHRASE + '\nsecond line')
    assert caught.value.errors == ['pgsec_tls_key_passphrase must be a single line']
    assert not os.path.exists(place.directory)


def test_server_without_ssl(place):
    place.cluster['settings']['ssl_library']['value'] = ''
    with pytest.raises(tv.MaterialError) as caught:
        place()
    assert caught.value.errors == ['15/main: PostgreSQL was built without SSL support; TLS cannot be enabled on this server']


@pytest.mark.skipif(os.geteuid() != 0, reason='chown to root needs root')
def test_key_owned_by_root(place):
    result = place(key_owner='root')
    assert result['files']['key']['owner'] == 'root' and mode_of(result['files']['key']['path']) == '0640'


# ---------------------------------------------------------------------------- renewal hook

def test_the_renewal_hook_is_one_reproducible_zip_application_that_runs(tmp_path):
    first = tr.build_hook(tr.module_source)
    assert first == tr.build_hook(tr.module_source) and first.startswith(b'#!/usr/bin/python3\n')
    hook = tmp_path / 'pgsec-tls-renew'
    hook.write_bytes(first)
    proc = subprocess.run(['python3', str(hook), '--help'], capture_output=True, text=True, check=False,
                          env={'PATH': os.environ['PATH']})  # no ansible, no collection on the path
    assert proc.returncode == 0 and proc.stdout.startswith('usage: pgsec-tls-renew'), proc.stderr


@pytest.fixture
def renewal(pki, tmp_path):
    """A placed pair, and the hook's configuration for it (no server runs: no postmaster.pid)."""
    tls = tmp_path / 'tls'
    tls.mkdir()
    for name, source in (('server.crt', 'server.crt'), ('server.key', 'server.key'), ('ca.crt', 'ca.crt')):
        shutil.copy(pki.path(source), str(tls / name))
    (tmp_path / 'data').mkdir()
    return {'cluster': '15/main', 'record': str(tmp_path / '15-main.renewed'), 'data_directory': str(tmp_path / 'data'),
            'directory': str(tls), 'cert': str(tls / 'server.crt'), 'key': str(tls / 'server.key'),
            'ca': str(tls / 'ca.crt'), 'crl': None, 'names': ['pg1.example'], 'warn_days': 30, 'passphrase_store': None}


def test_the_hook_refuses_a_key_that_does_not_match_and_keeps_the_old_pair(pki, renewal):
    before = read(renewal['cert']), read(renewal['key'])
    with pytest.raises(tr.RenewalError) as caught:
        tr.renew(renewal, pki.path('soon.crt'), pki.path('stranger.key'))
    assert str(caught.value) == ('15/main: the new pair was refused, the old one stays served: the new key (--key) '
                                 'does not match the new certificate (--cert) (CN=pg1.example)')
    assert (read(renewal['cert']), read(renewal['key'])) == before and not os.path.exists(renewal['record'])
    with pytest.raises(tr.RenewalError) as caught:
        tr.renew(renewal, pki.path('foreign.crt'), pki.path('server.key'))
    assert 'the placed CA' in str(caught.value) and read(renewal['cert']) == before[0]


def test_the_hook_places_a_good_pair_with_the_old_ownership_and_records_it(pki, renewal):
    os.chmod(renewal['key'], 0o600)
    message = tr.renew(renewal, pki.path('soon.crt'), pki.path('server.key'))
    assert message == '15/main: the new pair is in place; the server is not running and reads it when it starts'
    assert read(renewal['cert']) == read(pki.path('soon.crt')) and mode_of(renewal['key']) == '0600'
    fingerprint = read(renewal['record']).strip()
    assert len(fingerprint.split(':')) == 32 and mode_of(renewal['record']) == '0600'


def test_a_converge_keeps_only_the_pair_the_hook_placed_when_it_outlives_the_given_one(place, pki):
    place(cert=read(pki.path('soon.crt')))

    class Recorded(object):
        fingerprint = None

        def entries(self, *_args):
            return []

        def renewed_fingerprint(self, _io, _cluster):
            return self.fingerprint

    hook = Recorded()
    run = Openssl()
    material = {'cert': read(pki.path('server.crt')), 'key': read(pki.path('server.key')),
                'ca': read(pki.path('ca.crt')), 'names': ['pg1.example']}
    io = tm.MaterialIO(root=str(place.host))
    cert_path = os.path.join(place.directory, 'server.crt')
    # Not recorded by the hook: the given certificate wins, even though it ends later.
    replaced = tm.place_material(run, io, place.cluster, material, hook=hook)
    assert replaced['files']['cert']['changed'] and read(cert_path) == read(pki.path('server.crt'))
    # Recorded and outliving the given one (soon.crt given, server.crt on the host): kept, with a warning.
    hook.fingerprint = replaced['certificate']['sha256_fingerprint']
    kept = tm.place_material(run, io, place.cluster, dict(material, cert=read(pki.path('soon.crt'))), hook=hook)
    assert not kept['changed'] and read(cert_path) == read(pki.path('server.crt'))
    assert any('renewed on the host' in warning for warning in kept['warnings'])
