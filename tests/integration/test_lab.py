"""The lab's hosts are real: Ansible reaches them over SSH, PostgreSQL answers, clients route."""
from __future__ import annotations

import os

from labhosts import run


def test_ansible_ping_answers_from_every_host(lab_hosts):
    out = lab_hosts.ansible("all", "-m", "ansible.builtin.ping", "-o").stdout
    for name in lab_hosts.hosts:
        assert f"{name} | SUCCESS" in out, out


def test_insecure_host_accepts_psql_over_tcp_from_the_controller(lab_hosts):
    host = lab_hosts.hosts["pg1"]
    env = dict(os.environ, PGPASSWORD=lab_hosts.postgres_password, PGCONNECT_TIMEOUT="5")
    out = run(["psql", "-XAt", f"host={host.mgmt} port=5432 user=postgres dbname=postgres sslmode=disable",
               "-c", "select current_setting('listen_addresses'), current_setting('ssl')"], env=env)
    assert out.stdout.strip() == "*|off"


def test_every_cluster_accepts_psql_from_the_controller_over_ssh(lab_hosts):
    versions = {
        "pg1": [("/var/run/postgresql", 5432, "15")],
        "pg2": [("/var/run/postgresql", 5432, "15")],
        "pg3": [("/tmp", 5432, "18")],
        "pg4": [("/var/run/postgresql", 5432, "15"), ("/var/run/postgresql", 5433, "15")],
        "pg5": [("/var/run/postgresql", 5432, "17")],
    }
    for name, clusters in versions.items():
        for socket_dir, port, major in clusters:
            got = lab_hosts.hosts[name].psql("show server_version", port=port, socket_dir=socket_dir)
            assert got.split(".")[0] == major, (name, port, got)


def test_debian_default_listens_on_localhost_only(lab_hosts):
    host = lab_hosts.hosts["pg2"]
    assert host.psql("show listen_addresses") == "localhost"
    assert not lab_hosts.clients["allowed"].can_connect(host.app, 5432)


def test_pg18_keeps_its_configuration_in_pgdata(lab_hosts):
    host = lab_hosts.hosts["pg3"]
    assert host.psql("show config_file", socket_dir="/tmp") == "/var/lib/pgsql/18/data/postgresql.conf"
    assert host.psql("show ssl_library", socket_dir="/tmp") == ""
    assert host.ssh("systemctl is-active postgresql@15-main", check=False).stdout.strip() != "active"


def test_clients_reach_hosts_only_on_their_own_network(lab_hosts):
    host = lab_hosts.hosts["pg1"]  # listens on '*'
    assert lab_hosts.clients["allowed"].can_connect(host.app, 5432)
    assert lab_hosts.clients["neighbour"].can_connect(host.app, 5432)
    assert lab_hosts.clients["denied"].can_connect(host.ext, 5432)
    assert not lab_hosts.clients["allowed"].can_connect(host.mgmt, 5432, timeout=1)


def test_restart_is_a_reboot_that_keeps_the_disk(lab_hosts):
    from labhosts import lab
    host = lab_hosts.hosts["pg2"]
    host.ssh("touch /var/lib/pgsec-lab-marker")
    start_before = host.psql("select pg_postmaster_start_time()")
    lab("restart", "pg2")
    assert host.ssh("test -e /var/lib/pgsec-lab-marker", check=False).returncode == 0
    assert host.ssh("systemctl is-active postgresql@15-main").stdout.strip() == "active"
    assert host.psql("select pg_postmaster_start_time()") != start_before
