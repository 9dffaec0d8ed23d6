"""pgsec.hardening.discover on an insecure server with clients: its proposal, applied, passes the lockout
guard and keeps every client it saw; the second run changes nothing."""
from __future__ import annotations

import subprocess
import time

import pytest
import yaml

from labhosts import changed_count, lab

HOST = "pg1"


def psql_from(lab_hosts, client, address, sslmode="prefer", sql="select 1", **popen):
    cmd = ["ip", "netns", "exec", lab_hosts.clients[client].netns, "env", f"PGPASSWORD={lab_hosts.postgres_password}",
           "psql", "-XAtq", f"host={address} user=postgres dbname=postgres connect_timeout=5 sslmode={sslmode} "
                            f"application_name=discover-{client}", "-c", sql]
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, text=True, capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def discovered(lab_hosts, tmp_path_factory):
    host = lab_hosts.hosts[HOST]
    tmp = tmp_path_factory.mktemp("discover")
    host.psql("alter system set log_connections = on")
    host.psql("select pg_reload_conf()")
    time.sleep(1)
    # The allowed client came and went (only the log has it); the neighbour is connected now.
    assert psql_from(lab_hosts, "allowed", host.app).returncode == 0
    session = psql_from(lab_hosts, "neighbour", host.app, sql="select pg_sleep(600)", popen=True)
    deadline = time.monotonic() + 30
    while host.psql("select count(*) from pg_stat_activity where application_name = 'discover-neighbour'") != "1":
        assert time.monotonic() < deadline, "the neighbour's session did not start"
        time.sleep(0.5)
    try:
        lab_hosts.playbook("pgsec.hardening.discover", "-l", HOST, "-e", f"pgsec_discover_dir={tmp / 'host_vars'}")
    finally:
        session.kill()
        session.wait()
        host.psql("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'discover-neighbour'")
    yield {"tmp": tmp, "proposal": tmp / "host_vars" / f"{HOST}.yml"}
    lab("reset", HOST)


def test_the_proposal_names_every_client_it_saw(lab_hosts, discovered):
    text = discovered["proposal"].read_text()
    clients = yaml.safe_load(text)["pgsec_clients"]
    sources = sorted(source for client in clients for source in client["sources"])
    assert sources == ["198.18.1.100/32", "198.18.1.200/32"], text
    assert all(client.get("users") == ["postgres"] and client.get("databases") == ["postgres"] for client in clients)
    assert "logged in (server log)" in text and "live session ('discover-neighbour')" in text


def test_hardening_with_it_keeps_every_seen_client_and_refuses_the_rest(lab_hosts, discovered):
    host = lab_hosts.hosts[HOST]
    tmp = discovered["tmp"]
    extra = tmp / "tls.yml"
    extra.write_text(yaml.safe_dump({"pgsec_tls_generate": True, "pgsec_tls_generate_dir": str(tmp / "ca")}))
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{discovered['proposal']}", "-e", f"@{extra}")
    assert "would cut off" not in first.stdout + first.stderr
    assert changed_count(first.stdout, HOST) > 0
    for client in ("allowed", "neighbour"):
        proc = psql_from(lab_hosts, client, host.app, sql="select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        assert (proc.returncode, proc.stdout.strip()) == (0, "t"), (client, proc.stderr)
    assert psql_from(lab_hosts, "denied", host.ext).returncode != 0
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{discovered['proposal']}", "-e", f"@{extra}")
    assert changed_count(second.stdout, HOST) == 0
