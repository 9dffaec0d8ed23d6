"""TLS from the client's side on PostgreSQL 17 (pg5, Debian 13): client certificates checked against a CA
and its CRL, a revocation served after a reload (no restart), and PostgreSQL 17's direct TLS negotiation
(sslnegotiation=direct, ALPN) with psql 17."""
from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labhosts import changed_count, lab

HOST = "pg5"
ALLOWED = "198.18.1.100/32"
NOW = datetime.datetime.now(datetime.timezone.utc)
DEBIAN13_ROOT = Path(os.environ.get("PGSEC_LAB_CACHE", "/var/cache/pgsec-lab")) / "images" / "debian13" / "rootfs"
PSQL17 = "/usr/lib/postgresql/17/bin/psql"


class CertificateAuthority:
    """A CA made here, issuing the server's and the clients' certificates and its CRLs."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pgsec test client CA")])
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                  key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                  key_cert_sign=True, crl_sign=True, encipher_only=False,
                                                  decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, common_name: str, server_names: tuple[str, ...] = ()) -> tuple[x509.Certificate, str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(self.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=20)))
        if server_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(common_name)] + [x509.IPAddress(ipaddress.ip_address(name)) for name in server_names]),
                critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return (cert, cert.public_bytes(serialization.Encoding.PEM).decode(),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode())

    def crl(self, revoked: list[x509.Certificate]) -> str:
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.name)
                   .last_update(NOW - datetime.timedelta(minutes=5)).next_update(NOW + datetime.timedelta(days=7)))
        for cert in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                .revocation_date(NOW - datetime.timedelta(minutes=1)).build())
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()

    def client_files(self, name: str) -> tuple[x509.Certificate, Path, Path]:
        cert, cert_pem, key_pem = self.issue("postgres")
        cert_path, key_path = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        cert_path.write_text(cert_pem)
        key_path.write_text(key_pem)
        key_path.chmod(0o600)  # libpq refuses a key others can read
        return cert, cert_path, key_path


@pytest.fixture(scope="module")
def setup(lab_hosts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls-clients")
    host = lab_hosts.hosts[HOST]
    ca = CertificateAuthority(tmp)
    (tmp / "ca.crt").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    _server, server_cert, server_key = ca.issue(HOST, (host.app,))
    good, good_cert, good_key = ca.client_files("good")
    revoked, revoked_cert, revoked_key = ca.client_files("revoked")
    base = {"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
            "pgsec_tls_cert": server_cert, "pgsec_tls_key": server_key,
            "pgsec_tls_ca": (tmp / "ca.crt").read_text(), "pgsec_tls_clientcert": "verify-full"}

    crls = {}  # an ECDSA signature differs each time: the same revocations give the same CRL text

    def harden(revoked_certs):
        serials = tuple(cert.serial_number for cert in revoked_certs)
        crl = crls.setdefault(serials, ca.crl(revoked_certs))
        path = tmp / "policy.yml"
        path.write_text(yaml.safe_dump(dict(base, pgsec_tls_crl=crl)))
        return lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")

    first = harden([])
    assert changed_count(first.stdout, HOST) > 0
    yield {"host": host, "harden": harden, "revoked": revoked, "ca": tmp / "ca.crt",
           "certs": {"good": (good_cert, good_key), "revoked": (revoked_cert, revoked_key)}}
    lab("reset", HOST)


def connect(lab_hosts, setup, which: str):
    cert, key = setup["certs"][which]
    conninfo = (f"host={setup['host'].app} user=postgres dbname=postgres connect_timeout=5 sslmode=verify-full "
                f"sslrootcert={setup['ca']} sslcert={cert} sslkey={key}")
    return lab_hosts.clients["allowed"].psql(conninfo, "select 1", lab_hosts.postgres_password)


def test_a_revoked_client_certificate_is_refused_after_the_crl_update_without_a_restart(lab_hosts, setup):
    host = setup["host"]
    assert connect(lab_hosts, setup, "good").returncode == 0
    assert connect(lab_hosts, setup, "revoked").returncode == 0, "not revoked yet: it connects"
    started = host.psql("select pg_postmaster_start_time()")

    update = setup["harden"]([setup["revoked"]])
    assert changed_count(update.stdout, HOST) > 0
    refused = connect(lab_hosts, setup, "revoked")
    log = host.ssh("tail -n 20 /var/log/postgresql/postgresql-17-main.log").stdout
    assert refused.returncode != 0 and "revoked" in (refused.stderr + log).lower(), refused.stderr + log
    assert connect(lab_hosts, setup, "good").returncode == 0, "a valid certificate still connects"
    assert host.psql("select pg_postmaster_start_time()") == started, "the CRL update restarted the server"
    assert changed_count(setup["harden"]([setup["revoked"]]).stdout, HOST) == 0


def test_postgresql_17_negotiates_tls_directly(lab_hosts, setup):
    """psql 17 from the Debian 13 image (its own loader and libraries, nothing written there), from the allowed
    client's namespace, with sslnegotiation=direct: TLS from the first byte, ALPN "postgresql"."""
    cert, key = setup["certs"]["good"]
    libraries = ":".join(str(DEBIAN13_ROOT / path) for path in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"))
    psql17 = [str(DEBIAN13_ROOT / "lib64/ld-linux-x86-64.so.2"), "--library-path", libraries, str(DEBIAN13_ROOT / PSQL17.lstrip("/"))]
    conninfo = (f"host={setup['host'].app} user=postgres dbname=postgres connect_timeout=5 sslmode=require "
                f"sslnegotiation=direct sslcert={cert} sslkey={key}")
    proc = lab_hosts.clients["allowed"].psql(conninfo, "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()",
                                             lab_hosts.postgres_password, psql=tuple(psql17))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("t|TLSv1."), proc.stdout
