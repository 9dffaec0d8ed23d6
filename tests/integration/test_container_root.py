"""A host whose writes live in tmpfs over the image, as container roots do (chattr fails on the image's
files): every write works there, the second run changes nothing, a reboot keeps the rules and TLS."""
from __future__ import annotations


import pytest
import yaml

from labhosts import STATE_DIR, changed_count, lab, run

HOST = "pg8"
ALLOWED = "198.18.1.100/32"


@pytest.fixture(scope="module")
def hardened(lab_hosts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("container")
    policy = tmp / "policy.yml"
    policy.write_text(yaml.safe_dump({"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
                                      "pgsec_tls_generate": True, "pgsec_tls_generate_dir": str(tmp / "ca"),
                                      "pgsec_unix_socket_group": "pgsocket",
                                      "pgsec_socket_groups": [{"name": "pgsocket"}]}))
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{policy}", check=False)
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{policy}", check=False)
    yield {"first": first, "second": second, "ca": tmp / "ca" / "ca.crt", "host": lab_hosts.hosts[HOST]}
    lab("reset", HOST)


def test_the_root_is_a_container_root(lab_hosts):
    """Its writes go to a tmpfs; files of the image it has not written have no settable attributes."""
    layer = STATE_DIR / "hosts" / HOST / "tmpfs"
    assert run(["stat", "-f", "-c", "%T", str(layer)]).stdout.strip() == "tmpfs"
    proc = lab_hosts.hosts[HOST].ssh("chattr +A /etc/nftables.conf; echo rc=$?", check=False)
    assert "Operation not supported" in proc.stdout + proc.stderr and "rc=1" in proc.stdout


def test_harden_succeeds_and_the_second_run_changes_nothing(hardened):
    first, second = hardened["first"], hardened["second"]
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "chattr" not in first.stdout + first.stderr
    assert changed_count(first.stdout, HOST) > 0
    assert second.returncode == 0 and changed_count(second.stdout, HOST) == 0


def verify_full(lab_hosts, host, ca):
    conninfo = (f"host={host.app} user=postgres dbname=postgres connect_timeout=5 sslmode=verify-full "
                f"sslrootcert={ca}")
    return lab_hosts.clients["allowed"].psql(conninfo, "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
                                             lab_hosts.postgres_password)


def test_a_reboot_keeps_the_rules_and_tls(lab_hosts, hardened):
    host = hardened["host"]
    lab("restart", HOST)
    assert "198.18.1.100" in host.ssh("nft list table inet pgsec").stdout
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432, timeout=2) == "timeout"
    proc = verify_full(lab_hosts, host, hardened["ca"])
    assert (proc.returncode, proc.stdout.strip()) == (0, "t"), proc.stderr
