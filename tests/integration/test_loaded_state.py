"""Loaded versus on disk: a pg_hba.conf written but never reloaded (a run killed between the two) is
reported by the audit, and the next run reloads it even though the file already says what it wants."""
from __future__ import annotations

import json

import pytest
import yaml

from labhosts import lab

HOST = "pg2"
HBA = "/etc/postgresql/15/main/pg_hba.conf"
APP = {"name": "app", "sources": ["198.18.1.100/32"]}
NEIGHBOUR = {"name": "neighbour", "sources": ["198.18.1.200/32"]}


def psql_from(lab_hosts, client, host):
    conninfo = f"host={host.app} user=postgres dbname=postgres connect_timeout=5 sslmode=disable"
    return lab_hosts.clients[client].psql(conninfo, "select 1", lab_hosts.postgres_password)


@pytest.fixture(scope="module")
def policies(lab_hosts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loaded")
    paths = {}
    for name, clients in (("app", [APP]), ("both", [APP, NEIGHBOUR])):
        paths[name] = tmp / f"{name}.yml"
        paths[name].write_text(yaml.safe_dump({"pgsec_clients": clients, "pgsec_tls_enabled": False,
                                               "pgsec_firewall_backend": "none"}))
    yield tmp, paths
    lab("reset", HOST)


def test_an_unloaded_pg_hba_is_reported_and_reloaded_by_the_next_run(lab_hosts, policies):
    tmp, paths = policies
    host = lab_hosts.hosts[HOST]
    lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{paths['both']}")
    both = host.ssh(f"cat {HBA}").stdout
    lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{paths['app']}")
    assert psql_from(lab_hosts, "neighbour", host).returncode != 0
    # What a run killed after writing pg_hba.conf and before reloading leaves behind.
    (tmp / "both.hba").write_text(both)
    run_copy = lab_hosts.ansible(HOST, "-m", "ansible.builtin.copy", "-a",
                                 f"src={tmp / 'both.hba'} dest={HBA} owner=postgres group=postgres mode=0640")
    assert run_copy.returncode == 0
    assert psql_from(lab_hosts, "neighbour", host).returncode != 0, "the server still runs the old pg_hba"
    audit_dir = tmp / "audit"
    lab_hosts.playbook("pgsec.hardening.audit", "-e", f"@{paths['both']}", "-e", f"pgsec_target_hosts={HOST}",
                       "-e", f"pgsec_audit_report_dir={audit_dir}")
    report = json.loads((audit_dir / "pgsec-access-report.json").read_text())
    loaded = [f for f in report["hosts"][HOST] if f["id"] == "config.loaded"]
    assert loaded and loaded[0]["status"] == "fail" and HBA in loaded[0]["actual"], loaded
    start = host.psql("select pg_postmaster_start_time()")
    lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{paths['both']}")
    proc = psql_from(lab_hosts, "neighbour", host)
    assert proc.returncode == 0, proc.stderr
    assert host.psql("select pg_postmaster_start_time()") == start, "a reload, not a restart"
