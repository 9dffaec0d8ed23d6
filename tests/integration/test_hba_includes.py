"""pg_hba include files (PostgreSQL 16+) on PostgreSQL 17 (pg7: Debian 13, Debian's default cluster).

An include_dir file holds an open `host all all 0.0.0.0/0 md5` line that admits the neighbour to password
authentication: the facts show it with its file and line, the audit fails on it naming that file, and
harden comments it out there (its loopback line moves into the managed block), after which PostgreSQL
itself refuses the neighbour and loopback TCP still works; a second run changes nothing."""
from __future__ import annotations

import json

import pytest
import yaml

from labhosts import changed_count, lab

HOST = "pg7"
CONF = "/etc/postgresql/17/main"
INCLUDED = f"{CONF}/hba.d/site.conf"
SITE = "host all all 0.0.0.0/0 md5\nhost all all 127.0.0.1/32 scram-sha-256\n"
ALLOWED = "198.18.1.100/32"


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def psql_error(client, host) -> str:
    """What the server answers a TCP login from the client (stderr of psql)."""
    conninfo = f"host={host.app} user=postgres dbname=postgres sslmode=disable connect_timeout=5"
    return client.run("env", "PGPASSWORD=wrong", "psql", "-XAtq", conninfo, "-c", "select 1").stderr


def audit(lab_hosts, policy, out) -> dict:
    lab_hosts.playbook("pgsec.hardening.audit", "-e", f"@{policy}", "-e", f"pgsec_target_hosts={HOST}",
                       "-e", f"pgsec_audit_report_dir={out}")
    report = json.loads((out / "pgsec-access-report.json").read_text())
    return {finding["id"]: finding for finding in report["hosts"][HOST]}


@pytest.fixture(scope="module")
def host(lab_hosts):
    host = lab_hosts.hosts[HOST]
    host.ssh(f"mkdir -p {CONF}/hba.d && printf '{SITE}' > {INCLUDED} && chown -R postgres:postgres {CONF}/hba.d "
             f"&& echo 'include_dir hba.d' >> {CONF}/pg_hba.conf "
             f"&& echo \"listen_addresses = '*'\" >> {CONF}/postgresql.conf && systemctl restart postgresql@17-main")
    yield host
    lab("reset", HOST)


def test_an_open_line_in_an_included_file_is_found_and_closed(lab_hosts, host, tmp_path):
    assert "password authentication failed" in psql_error(lab_hosts.clients["neighbour"], host), \
        "the included line admits the neighbour to authentication before the change"
    policy = write(tmp_path / "policy.yml", {
        "pgsec_clients": [{"name": "app", "sources": [ALLOWED]}], "pgsec_tls_enabled": False,
        "pgsec_listen_addresses": ["0.0.0.0"], "pgsec_listen_allow_wildcard": True, "pgsec_firewall_backend": "none"})
    (tmp_path / "before").mkdir()
    before = audit(lab_hosts, policy, tmp_path / "before")["hba.no_all_addresses"]
    assert before["status"] == "fail" and "site.conf:1" in before["actual"], before

    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{policy}")
    assert changed_count(first.stdout, HOST) > 0
    site = host.ssh(f"cat {INCLUDED}").stdout
    assert "# superseded by pgsec.hardening (tls): host all all 0.0.0.0/0 md5" in site, site
    assert not [line for line in site.splitlines() if line.startswith("host")], site
    loaded = host.psql("select count(*) from pg_hba_file_rules where file_name like '%site.conf' and type = 'host'")
    assert loaded == "0", "the server still has a TCP line from the included file"
    assert "127.0.0.1/32" in host.ssh(f"sed -n '/loopback lines kept/,/END pgsec/p' {CONF}/pg_hba.conf").stdout
    error = psql_error(lab_hosts.clients["neighbour"], host)
    assert "password authentication failed" not in error and "pg_hba.conf" in error, error
    assert "password authentication failed" in host.ssh(
        "PGPASSWORD=wrong psql -XAtq 'host=127.0.0.1 user=postgres dbname=postgres sslmode=disable' -c 'select 1' "
        "2>&1; true").stdout, "loopback TCP reaches authentication through the line kept in the block"
    (tmp_path / "after").mkdir()
    assert audit(lab_hosts, policy, tmp_path / "after")["hba.no_all_addresses"]["status"] == "pass"

    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{policy}")
    assert changed_count(second.stdout, HOST) == 0
