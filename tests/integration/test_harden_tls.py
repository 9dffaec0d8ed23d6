"""The TLS role on real hosts: what clients can and cannot negotiate, reloads instead of restarts, bad material."""
from __future__ import annotations

import datetime

import pytest
import yaml

from labhosts import changed_count, lab, run

ALLOWED = "198.18.1.100/32"
HOSTS = ("pg1", "pg5")  # Debian 12 / PostgreSQL 15 and Debian 13 / PostgreSQL 17

WATCHED = ("sha256sum /etc/postgresql/*/*/postgresql.conf /etc/postgresql/*/*/pg_hba.conf /etc/postgresql/*/*/pgsec.d/* "
           "/etc/postgresql/*/*/pgsec-tls/* /var/lib/postgresql/*/*/postgresql.auto.conf "
           "/var/lib/pgsql/18/data/*.conf /var/lib/pgsql/18/data/pgsec.d/* 2>/dev/null; ss -ltnH | sort; "
           "cat /var/lib/postgresql/*/*/postmaster.pid /var/lib/pgsql/18/data/postmaster.pid 2>/dev/null | head -3; true")


def start_time(host) -> str:
    return host.psql("select pg_postmaster_start_time()")


def policy(tmp, **extra) -> dict:
    base = {"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
            "pgsec_unix_socket_group": "pgsocket", "pgsec_socket_groups": [{"name": "pgsocket"}],
            "pgsec_tls_generate": True, "pgsec_tls_generate_dir": str(tmp / "ca")}
    base.update(extra)
    return base


def write(path, data: dict):
    path.write_text(yaml.safe_dump(data))
    return path


def psql_from(client, host, password, ca, sslmode="verify-full", sql="select 1"):
    conninfo = (f"host={host.app} user=postgres dbname=postgres connect_timeout=5 sslmode={sslmode} "
                f"sslrootcert={ca}")
    return client.psql(conninfo, sql, password)


def handshake(client, host, *options) -> run:
    """openssl s_client speaking PostgreSQL's STARTTLS from a client namespace."""
    return client.run("timeout", "15", "openssl", "s_client", "-starttls", "postgres", "-connect", f"{host.app}:5432",
                      "-brief", *options, check=False)


@pytest.fixture(scope="module")
def tls(lab_hosts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    path = write(tmp / "policy.yml", policy(tmp))
    limit = ",".join(HOSTS)
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", limit, "-e", f"@{path}")
    starts = {name: start_time(lab_hosts.hosts[name]) for name in HOSTS}
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", limit, "-e", f"@{path}")
    yield {"tmp": tmp, "policy": path, "first": first.stdout, "second": second.stdout, "starts": starts,
           "ca": tmp / "ca" / "ca.crt"}
    for name in HOSTS:
        lab("reset", name)


@pytest.mark.parametrize("name", HOSTS)
def test_verify_full_from_the_allowed_client_with_the_ca(lab_hosts, tls, name):
    host, client = lab_hosts.hosts[name], lab_hosts.clients["allowed"]
    proc = psql_from(client, host, lab_hosts.postgres_password, tls["ca"],
                     sql="select ssl, version from pg_stat_ssl where pid = pg_backend_pid()")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("t|TLSv1.3", "t|TLSv1.2")


@pytest.mark.parametrize("name", HOSTS)
def test_without_tls_the_server_refuses(lab_hosts, tls, name):
    host, client = lab_hosts.hosts[name], lab_hosts.clients["allowed"]
    proc = psql_from(client, host, lab_hosts.postgres_password, tls["ca"], sslmode="disable")
    assert proc.returncode != 0
    assert "pg_hba.conf rejects connection" in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", HOSTS)
def test_old_protocols_and_weak_ciphers_are_refused(lab_hosts, tls, name):
    host, client = lab_hosts.hosts[name], lab_hosts.clients["allowed"]
    # SECLEVEL=0 so that the client really offers what is being tested.
    assert handshake(client, host, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0").returncode != 0
    assert handshake(client, host, "-tls1_2", "-cipher", "AES128-SHA@SECLEVEL=0").returncode != 0
    good = handshake(client, host, "-tls1_2")
    assert good.returncode == 0 and "TLSv1.2" in good.stdout + good.stderr


@pytest.mark.parametrize("name", HOSTS)
def test_key_and_files_have_their_owner_and_mode(lab_hosts, tls, name):
    host = lab_hosts.hosts[name]
    key = host.ssh("stat -c '%a %U' /etc/postgresql/*/main/pgsec-tls/server.key").stdout.strip()
    assert key == "600 postgres"
    settings = host.psql("select name || '=' || setting from pg_settings where name in "
                         "('ssl', 'ssl_min_protocol_version', 'ssl_dh_params_file') order by name").splitlines()
    assert settings[0] == "ssl=on" and settings[1].endswith("dhparams.pem") and settings[2] == "ssl_min_protocol_version=TLSv1.2"


def test_converge_enables_tls_without_restart_and_is_idempotent(lab_hosts, tls):
    for name in HOSTS:
        assert changed_count(tls["second"], name) == 0
        assert start_time(lab_hosts.hosts[name]) == tls["starts"][name]


def test_requiring_tls13_reloads_and_refuses_tls12(lab_hosts, tls):
    host, client = lab_hosts.hosts["pg1"], lab_hosts.clients["allowed"]
    before = start_time(host)
    path = write(tls["tmp"] / "tls13.yml", policy(tls["tmp"], pgsec_tls_min_protocol_version="TLSv1.3"))
    lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{path}")
    assert host.psql("show ssl_min_protocol_version") == "TLSv1.3"
    assert handshake(client, host, "-tls1_2").returncode != 0
    assert handshake(client, host, "-tls1_3").returncode == 0
    assert start_time(host) == before


def served_fingerprint(client, host) -> str:
    proc = client.run("sh", "-c", f"timeout 15 openssl s_client -starttls postgres -connect {host.app}:5432 "
                      "</dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256")
    return proc.stdout.strip()


def test_a_rotated_certificate_is_served_after_a_reload_not_a_restart(lab_hosts, tls):
    host, client = lab_hosts.hosts["pg5"], lab_hosts.clients["allowed"]
    before, served = start_time(host), served_fingerprint(client, host)
    assert served.startswith("sha256 Fingerprint=") or served.startswith("SHA256 Fingerprint=")
    (tls["tmp"] / "ca" / "pg5.crt").unlink()  # the next run issues a new certificate
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg5", "-e", f"@{tls['policy']}")
    assert changed_count(proc.stdout, "pg5") > 0
    assert served_fingerprint(client, host) not in ("", served)
    assert start_time(host) == before
    assert psql_from(client, host, lab_hosts.postgres_password, tls["ca"]).returncode == 0


# ---------------------------------------------------------------------------- bad material

def expired_certificate(ca_dir, name="pg1"):
    """A certificate for NAME, signed by the generated CA, that expired yesterday (PEM cert, PEM key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def bad_inputs(ca_dir):
    own_cert = (ca_dir / "pg1.crt").read_text()
    other_key = (ca_dir / "pg5.key").read_text()
    own_key = (ca_dir / "pg1.key").read_text()
    expired_cert, expired_key = expired_certificate(ca_dir)
    ca = (ca_dir / "ca.crt").read_text()
    foreign_ca = (ca_dir / "foreign-ca.crt").read_text()
    return {
        "mismatched key": ({"pgsec_tls_cert": own_cert, "pgsec_tls_key": other_key, "pgsec_tls_ca": ca}, "pgsec_tls_key"),
        "expired certificate": ({"pgsec_tls_cert": expired_cert, "pgsec_tls_key": expired_key, "pgsec_tls_ca": ca},
                                "pgsec_tls_cert"),
        "certificate not from the CA": ({"pgsec_tls_cert": own_cert, "pgsec_tls_key": own_key,
                                         "pgsec_tls_ca": foreign_ca}, "pgsec_tls_ca"),
        "no certificate at all": ({"pgsec_tls_cert": "", "pgsec_tls_key": ""}, "pgsec_tls_cert"),
        "unknown protocol version": ({"pgsec_tls_min_protocol_version": "TLSv1.4"}, "pgsec_tls_min_protocol_version"),
        "cipher string OpenSSL rejects": ({"pgsec_tls_ciphers": "NO-SUCH-CIPHER:ALSO-NOT"}, "pgsec_tls_ciphers"),
    }


@pytest.mark.parametrize("case", ["mismatched key", "expired certificate", "certificate not from the CA",
                                  "no certificate at all", "unknown protocol version",
                                  "cipher string OpenSSL rejects"])
def test_bad_material_fails_before_any_change(lab_hosts, tls, case):
    ca_dir = tls["tmp"] / "ca"
    if not (ca_dir / "foreign-ca.crt").exists():
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(ca_dir / "foreign-ca.key"), "-out", str(ca_dir / "foreign-ca.crt"),
             "-subj", "/CN=another CA", "-days", "30"])
    values, variable = bad_inputs(ca_dir)[case]
    data = policy(tls["tmp"], **values)
    if "pgsec_tls_cert" in values:
        data["pgsec_tls_generate"] = False
    path = write(tls["tmp"] / "bad.yml", data)
    host = lab_hosts.hosts["pg1"]
    before = host.ssh(WATCHED).stdout
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{path}", check=False)
    assert proc.returncode != 0
    assert variable in proc.stdout, proc.stdout[-3000:]
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    assert host.ssh(WATCHED).stdout == before
    assert host.psql("select 1") == "1"


def test_a_server_built_without_ssl_is_refused_clearly_and_left_alone(lab_hosts, tmp_path):
    host = lab_hosts.hosts["pg3"]
    path = write(tmp_path / "pg18.yml", dict(policy(tmp_path), pgsec_clusters=["/var/lib/pgsql/18/data"]))
    before = host.ssh(WATCHED).stdout
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg3", "-e", f"@{path}", check=False)
    assert proc.returncode != 0
    assert "without SSL" in proc.stdout, proc.stdout[-3000:]
    assert host.ssh(WATCHED).stdout == before


def test_postgresql_18_names_are_accepted_by_the_server(lab_hosts, tmp_path):
    """ssl_groups and ssl_tls13_ciphers exist from PostgreSQL 18: the staged check with postgres -C accepts them."""
    play = tmp_path / "pg18-names.yml"
    play.write_text("""
- hosts: pg3
  gather_facts: false
  tasks:
    - pgsec.hardening.postgresql_access_facts:
    - pgsec.hardening.postgresql_access_config:
        cluster: "{{ pgsec.clusters | selectattr('id', 'equalto', '/var/lib/pgsql/18/data') | first }}"
        owner: tls
        settings: {ssl_groups: "X25519:prime256v1", ssl_tls13_ciphers: TLS_AES_256_GCM_SHA384}
      check_mode: true
      register: staged
    - ansible.builtin.assert:
        that: staged is changed and staged.changes | map(attribute='context') | unique == ['sighup']
""")
    lab_hosts.playbook(str(play))


def test_a_fully_hardened_host_shows_none_of_the_planted_items(lab_hosts, tls, tmp_path):
    """The insecure profile's items (listen '*', socket 0777, ssl off, 0.0.0.0/0 in pg_hba, no firewall) all pass."""
    import json
    lab_hosts.playbook("pgsec.hardening.audit", "-e", f"@{tls['policy']}", "-e", "pgsec_target_hosts=" + ",".join(HOSTS),
                       "-e", f"pgsec_audit_report_dir={tmp_path}")
    report = json.loads((tmp_path / "pgsec-access-report.json").read_text())
    for name in HOSTS:
        status = {f["id"]: f["status"] for f in report["hosts"][name]}
        for control in ("listen.not_wildcard", "socket.permissions", "tls.enabled", "hba.no_all_addresses",
                        "hba.ssl_required", "firewall.active"):
            assert status.get(control) == "pass", (name, control, status.get(control))
