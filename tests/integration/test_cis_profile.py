"""The cis profile on a real PostgreSQL 17 host (pg5: Debian 13, the insecure profile).

One converge with pgsec_profile cis and a policy for one client: the collection's own audit reports
every CIS control as pass; the allowed client gets TLS 1.3 and scram-sha-256; no TLS, TLS 1.2, the
neighbour, a superuser and other databases are refused by PostgreSQL itself; a second converge changes
nothing and does not restart. Then the same host under baseline: a TLS 1.2-only client works again,
and the audit under cis names exactly the CIS controls baseline leaves open.
"""
from __future__ import annotations

import json
import secrets

import pytest
import yaml

from ansible_collections.pgsec.hardening.plugins.module_utils import policy as pgsec_policy
from labhosts import changed_count, lab

HOST = "pg5"
ALLOWED = "198.18.1.100/32"
APP_PASSWORD = "cis-" + secrets.token_hex(12)
# What a host converged with baseline (same clients) leaves open under cis: 6.9, 6.10, 6.8 and 5.9
# (the catch-all 0.0.0.0/0 and ::/0 reject lines).
BASELINE_OPEN = {"tls.min_protocol", "tls.ciphers", "tls.key_passphrase", "hba.no_all_addresses", "hba.range_size"}
WATCHED = ("sha256sum /etc/postgresql/17/main/postgresql.conf /etc/postgresql/17/main/pg_hba.conf "
           "/etc/postgresql/17/main/pgsec.d/* /etc/postgresql/17/main/pgsec-tls/* 2>/dev/null; true")


def start_time(host) -> str:
    return host.psql("select pg_postmaster_start_time()")


def cis_policy(tmp, **extra) -> dict:
    data = {"pgsec_profile": "cis",
            "pgsec_clients": [{"name": "app", "sources": [ALLOWED], "databases": ["appdb"], "users": ["app"]}],
            "pgsec_unix_socket_group": "pgsocket", "pgsec_socket_groups": [{"name": "pgsocket"}],
            "pgsec_tls_generate": True, "pgsec_tls_generate_dir": str(tmp / "ca"),
            # the firewall has its own tests; without it the refusals below are PostgreSQL's own
            "pgsec_firewall_backend": "none"}
    data.update(extra)
    return data


def write(path, data: dict):
    path.write_text(yaml.safe_dump(data))
    return path


def psql_from(client, host, ca, user="app", dbname="appdb", password=APP_PASSWORD, sql="select 1", **params):
    options = dict({"sslmode": "verify-full", "sslrootcert": str(ca)}, **params)
    conninfo = " ".join([f"host={host.app}", f"user={user}", f"dbname={dbname}", "connect_timeout=5"]
                        + [f"{key}={value}" for key, value in options.items()])
    return client.psql(conninfo, sql, password)


def handshake(client, host, *options):
    """openssl s_client speaking PostgreSQL's STARTTLS from a client namespace."""
    return client.run("timeout", "15", "openssl", "s_client", "-starttls", "postgres", "-connect", f"{host.app}:5432",
                      "-brief", *options, check=False)


def audit(lab_hosts, policy_path, report_dir, **extra) -> dict:
    args = ["pgsec.hardening.audit", "-e", f"@{policy_path}", "-e", f"pgsec_target_hosts={HOST}",
            "-e", f"pgsec_audit_report_dir={report_dir}"]
    if extra:
        args += ["-e", json.dumps(extra)]
    lab_hosts.playbook(*args)
    report = json.loads((report_dir / "pgsec-access-report.json").read_text())
    return {finding["id"]: finding for finding in report["hosts"][HOST] if finding["cluster"] in ("17/main", None)}


@pytest.fixture(scope="module")
def cis(lab_hosts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cis")
    host = lab_hosts.hosts[HOST]
    try:
        host.psql(f"CREATE ROLE app LOGIN PASSWORD '{APP_PASSWORD}'")
        host.psql("CREATE DATABASE appdb OWNER app")
        path = write(tmp / "cis.yml", cis_policy(tmp))
        first = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
        start = start_time(host)
        second = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
        findings = audit(lab_hosts, path, tmp_path_factory.mktemp("cis-report"))
        yield {"tmp": tmp, "policy": path, "first": first.stdout + first.stderr, "second": second.stdout,
               "start": start, "start_after_second": start_time(host), "findings": findings,
               "ca": tmp / "ca" / "ca.crt"}
    finally:
        lab("reset", HOST)


def test_the_audit_reports_every_cis_control_as_pass(cis):
    findings = cis["findings"]
    for control_id in pgsec_policy.cis_finding_ids():
        finding = findings[control_id]
        assert finding["status"] == "pass", (control_id, finding["actual"])
    assert "CIS PostgreSQL 17 v1.0.0 5.2" == findings["listen.not_wildcard"]["reference"]
    assert "6.10" in findings["tls.ciphers"]["reference"] and "5.11" in findings["hba.no_remote_superuser"]["reference"]
    drift = {key: item["actual"] for key, item in findings.items() if item["status"] in ("fail", "error")}
    assert drift == {}


def test_the_allowed_client_gets_tls13_and_scram(lab_hosts, cis):
    host, client = lab_hosts.hosts[HOST], lab_hosts.clients["allowed"]
    proc = psql_from(client, host, cis["ca"], sql="select version, cipher, system_user from pg_stat_ssl "
                                                  "where pid = pg_backend_pid()")
    assert proc.returncode == 0, proc.stderr
    version, cipher, identity = proc.stdout.strip().split("|")
    assert version == "TLSv1.3" and cipher in pgsec_policy.CIS_TLS13_CIPHERS
    assert identity == "scram-sha-256:app"
    wrong = psql_from(client, host, cis["ca"], password="not-the-password")
    assert wrong.returncode != 0 and 'password authentication failed for user "app"' in wrong.stderr


def test_without_tls_the_server_refuses(lab_hosts, cis):
    host, client = lab_hosts.hosts[HOST], lab_hosts.clients["allowed"]
    proc = psql_from(client, host, cis["ca"], sslmode="disable")
    assert proc.returncode != 0
    assert "pg_hba.conf rejects connection" in proc.stderr and "no encryption" in proc.stderr, proc.stderr


def test_tls12_only_clients_are_refused(lab_hosts, cis):
    host, client = lab_hosts.hosts[HOST], lab_hosts.clients["allowed"]
    assert handshake(client, host, "-tls1_2").returncode != 0
    good = handshake(client, host, "-tls1_3")
    assert good.returncode == 0 and "TLSv1.3" in good.stdout + good.stderr
    proc = psql_from(client, host, cis["ca"], ssl_max_protocol_version="TLSv1.2")
    assert proc.returncode != 0


def test_postgresql_refuses_the_neighbour_superusers_and_other_databases(lab_hosts, cis):
    host = lab_hosts.hosts[HOST]
    neighbour, allowed = lab_hosts.clients["neighbour"], lab_hosts.clients["allowed"]
    proc = psql_from(neighbour, host, cis["ca"])
    assert proc.returncode != 0 and 'no pg_hba.conf entry for host "198.18.1.200"' in proc.stderr, proc.stderr
    for user, dbname in (("postgres", "postgres"), ("postgres", "appdb"), ("app", "postgres")):
        proc = psql_from(allowed, host, cis["ca"], user=user, dbname=dbname, password=lab_hosts.postgres_password)
        assert proc.returncode != 0
        assert f'pg_hba.conf rejects connection for host "198.18.1.100", user "{user}"' in proc.stderr, proc.stderr


def test_pg_hba_has_no_line_for_every_address_and_local_lines_are_peer(lab_hosts, cis):
    rows = lab_hosts.hosts[HOST].psql("select type, coalesce(address, ''), coalesce(netmask, ''), auth_method "
                                      "from pg_hba_file_rules where error is null").splitlines()
    rules = [row.split("|") for row in rows]
    assert rules and all(kind in ("local", "hostssl", "hostnossl") for kind, _address, _mask, _method in rules)
    assert all(method == "peer" for kind, _address, _mask, method in rules if kind == "local")
    assert all(method == "reject" for kind, _address, _mask, method in rules if kind == "hostnossl")
    assert not [rule for rule in rules if rule[1] in ("0.0.0.0", "::", "all") or rule[1].startswith("127.")
                or rule[1] == "::1"]
    assert lab_hosts.hosts[HOST].psql("show password_encryption") == "scram-sha-256"


def test_the_key_is_encrypted_and_the_passphrase_never_shown(lab_hosts, cis):
    host = lab_hosts.hosts[HOST]
    assert host.ssh("head -1 /etc/postgresql/17/main/pgsec-tls/server.key").stdout.strip() == \
        "-----BEGIN ENCRYPTED PRIVATE KEY-----"
    # systemd hands the passphrase to the service; no directory a backup copies holds it (issue: CIS 6.8 in earnest).
    assert host.psql("show ssl_passphrase_command") == "/bin/cat /run/pgsec-tls/17-main/passphrase"
    passphrase = (cis["tmp"] / "ca" / f"{HOST}.passphrase").read_text().strip()
    assert len(passphrase) >= 32 and (cis["tmp"] / "ca" / f"{HOST}.passphrase").stat().st_mode & 0o077 == 0
    assert passphrase not in cis["first"] + cis["second"]
    found = host.ssh(f"grep -rlF -- '{passphrase}' /etc/postgresql /var/lib/postgresql /etc/credstore.encrypted /etc/pgsec",
                     check=False)
    assert found.returncode == 1 and found.stdout == "", found.stdout


def test_a_second_converge_changes_nothing_and_does_not_restart(cis):
    assert changed_count(cis["second"], HOST) == 0
    assert cis["start_after_second"] == cis["start"]


def test_what_the_profile_cannot_decide_is_asked_for(lab_hosts, cis):
    """No databases and users, and a wildcard even with pgsec_listen_allow_wildcard: refused before any change."""
    host = lab_hosts.hosts[HOST]
    data = cis_policy(cis["tmp"], pgsec_clients=[{"name": "app", "sources": ["10.0.0.0/8"]}],
                      pgsec_listen_addresses=["*"], pgsec_listen_allow_wildcard=True)
    path = write(cis["tmp"] / "bad.yml", data)
    before = host.ssh(WATCHED).stdout
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}", check=False)
    assert proc.returncode != 0
    for words in ("pgsec_clients[0].databases", "pgsec_clients[0].users", "pgsec_clients[0].sources[0]: '10.0.0.0/8'",
                  "pgsec_listen_addresses[0]: '*'", "pgsec_listen_allow_wildcard"):
        assert words in proc.stdout, (words, proc.stdout[-3000:])
    assert host.ssh(WATCHED).stdout == before


@pytest.fixture(scope="module")
def baseline(lab_hosts, cis, tmp_path_factory):
    path = write(cis["tmp"] / "baseline.yml", cis_policy(cis["tmp"], pgsec_profile="baseline"))
    lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
    return {"findings": audit(lab_hosts, path, tmp_path_factory.mktemp("baseline-report"), pgsec_profile="cis")}


def test_under_baseline_a_tls12_only_client_works(lab_hosts, cis, baseline):
    host, client = lab_hosts.hosts[HOST], lab_hosts.clients["allowed"]
    good = handshake(client, host, "-tls1_2")
    assert good.returncode == 0 and "TLSv1.2" in good.stdout + good.stderr
    proc = psql_from(client, host, cis["ca"], ssl_max_protocol_version="TLSv1.2",
                     sql="select version from pg_stat_ssl where pid = pg_backend_pid()")
    assert proc.returncode == 0 and proc.stdout.strip() == "TLSv1.2", proc.stderr


def test_the_audit_names_the_cis_controls_baseline_leaves_open(baseline):
    findings = baseline["findings"]
    failing = {control_id for control_id in pgsec_policy.cis_finding_ids() if findings[control_id]["status"] != "pass"}
    assert failing == BASELINE_OPEN, {control_id: findings[control_id]["actual"] for control_id in failing}
    numbers = {findings[control_id]["reference"] for control_id in failing}
    assert numbers == {"CIS PostgreSQL 17 v1.0.0 6.9", "CIS PostgreSQL 17 v1.0.0 6.10", "CIS PostgreSQL 17 v1.0.0 6.8",
                       "CIS PostgreSQL 17 v1.0.0 5.9",
                       findings["hba.range_size"]["reference"]}
