"""The listen and sockets roles on real hosts: what clients can reach afterwards, restarts, rollback, bad input."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from labhosts import changed_count, lab

ALLOWED = "198.18.1.100/32"

# Two socket directories: the packaged one for the applications, a private one for DBAs.
POLICY = {
    "pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
    "pgsec_unix_socket_group": "pgsocket",
    "pgsec_unix_socket_permissions": "0770",
    "pgsec_socket_groups": [{"name": "pgsocket", "members": ["appuser", "dba"]},
                            {"name": "pgadmin", "members": ["dba"]}],
    "pgsec_socket_directories": [{"path": "/var/run/postgresql"},
                                 {"path": "/run/pgsec-admin", "group": "pgadmin", "mode": "0750"}],
    "pgsec_tls_enabled": False,  # TLS and the firewall have their own tests
    "pgsec_firewall_backend": "none",
}
USERS = ("appuser", "dba", "outsider")

# What must not move when a run is refused or only checks.
WATCHED = ("sha256sum /etc/postgresql/*/*/postgresql.conf /etc/postgresql/*/*/pgsec.d/* "
           "/var/lib/postgresql/*/*/postgresql.auto.conf /etc/tmpfiles.d/pgsec-* 2>/dev/null; "
           "getent group pgsocket pgadmin; stat -c '%n %a %U %G' /run/pgsec-admin /var/run/postgresql "
           "/var/run/postgresql/.s.PGSQL.* 2>/dev/null; ss -ltnH | sort; "
           "runuser -u postgres -- psql -XAtq -h /var/run/postgresql -c 'select pg_postmaster_start_time()'; true")

CONNECT_UNIX = ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX)\n"
                "try:\n s.connect(sys.argv[1]); print('open')\n"
                "except PermissionError:\n print('denied')\n"
                "except OSError as e:\n print('error', e.errno)\n")


def start_time(host, port=5432) -> str:
    return host.psql("select pg_postmaster_start_time()", port=port)


def unix_connect(host, user: str, directory: str, port: int = 5432) -> str:
    quoted = CONNECT_UNIX.replace("'", "'\\''")
    return host.ssh(f"cd / && runuser -u {user} -- python3 -c '{quoted}' {directory}/.s.PGSQL.{port}").stdout.strip()


def listeners(host) -> list[str]:
    out = host.ssh("ss -ltnH 'sport = :5432 or sport = :5433'").stdout
    return sorted(line.split()[3] for line in out.splitlines())


def ready_count(host) -> int:
    """How often the cluster came up since the host booted (one line per start in its log)."""
    return int(host.ssh("grep -c 'database system is ready to accept connections' "
                        "/var/log/postgresql/postgresql-15-main.log || true").stdout.strip() or 0)


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "policy.yml"
    path.write_text(yaml.safe_dump(POLICY))
    return path


@pytest.fixture(scope="module")
def pg1(lab_hosts):
    """pg1 as the insecure profile made it, with three local users; fresh again for later modules."""
    host = lab_hosts.hosts["pg1"]
    for user in USERS:
        host.ssh(f"id {user} >/dev/null 2>&1 || useradd --no-create-home {user}")
    yield host
    lab("reset", "pg1")


@pytest.fixture(scope="module")
def converged(lab_hosts, pg1, policy_file):
    starts_before = ready_count(pg1)
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{policy_file}")
    after_first = start_time(pg1)
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{policy_file}")
    return {"first": first.stdout, "second": second.stdout, "starts_before": starts_before,
            "starts_after": ready_count(pg1), "start_time": after_first,
            "start_time_second": start_time(pg1)}


def test_listens_only_on_the_address_the_clients_come_from(lab_hosts, pg1, converged):
    assert listeners(pg1) == [f"{pg1.app}:5432"]
    allowed, denied = lab_hosts.clients["allowed"], lab_hosts.clients["denied"]
    assert allowed.connect(pg1.app, 5432) == "open"
    assert denied.connect(pg1.ext, 5432) == "refused"
    proc = allowed.psql(f"host={pg1.app} user=postgres dbname=postgres connect_timeout=5", "select 1",
                        lab_hosts.postgres_password)
    assert proc.returncode == 0 and proc.stdout.strip() == "1", proc.stderr


def test_socket_directories_and_sockets_have_their_owner_group_and_mode(pg1, converged):
    stat = pg1.ssh("stat -c '%n %a %U %G' /var/run/postgresql /run/pgsec-admin "
                   "/var/run/postgresql/.s.PGSQL.5432 /run/pgsec-admin/.s.PGSQL.5432").stdout.split("\n")
    assert stat[:4] == ["/var/run/postgresql 2775 postgres postgres",
                        "/run/pgsec-admin 750 postgres pgadmin",
                        "/var/run/postgresql/.s.PGSQL.5432 770 postgres pgsocket",
                        "/run/pgsec-admin/.s.PGSQL.5432 770 postgres pgsocket"]
    assert "pgsocket" in pg1.ssh("id -nG postgres").stdout.split()
    tmpfiles = pg1.ssh("cat /etc/tmpfiles.d/pgsec-postgresql-sockets.conf").stdout
    assert re.search(r"^d /run/pgsec-admin 0750 postgres pgadmin", tmpfiles, re.M), tmpfiles


def test_socket_access_follows_the_groups(pg1, converged):
    assert unix_connect(pg1, "appuser", "/var/run/postgresql") == "open"
    assert unix_connect(pg1, "appuser", "/run/pgsec-admin") == "denied"
    assert unix_connect(pg1, "dba", "/var/run/postgresql") == "open"
    assert unix_connect(pg1, "dba", "/run/pgsec-admin") == "open"
    assert unix_connect(pg1, "outsider", "/var/run/postgresql") == "denied"
    assert unix_connect(pg1, "outsider", "/run/pgsec-admin") == "denied"
    # A member reaches PostgreSQL itself through the socket (peer authentication).
    pg1.psql("DO $$BEGIN CREATE ROLE dba LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    proc = pg1.ssh("cd / && runuser -u dba -- psql -XAtq -h /run/pgsec-admin -d postgres -c 'select current_user'")
    assert proc.stdout.strip() == "dba"


def test_the_audit_finds_no_listen_or_socket_drift_after_hardening(lab_hosts, pg1, converged, policy_file, tmp_path):
    lab_hosts.playbook("pgsec.hardening.audit", "-e", f"@{policy_file}", "-e", "pgsec_target_hosts=pg1",
                       "-e", f"pgsec_audit_report_dir={tmp_path}")
    report = json.loads((tmp_path / "pgsec-access-report.json").read_text())
    status = {f["id"]: f["status"] for f in report["hosts"]["pg1"] if f["id"].startswith(("listen.", "socket."))}
    assert status == {control: "pass" for control in ("listen.not_wildcard", "listen.within_policy",
                                                      "listen.auto_conf_override", "socket.permissions",
                                                      "socket.directories", "socket.files")}


def test_first_converge_restarts_once_and_the_second_changes_nothing(converged):
    assert converged["starts_after"] - converged["starts_before"] == 1
    assert changed_count(converged["first"], "pg1") > 0
    assert changed_count(converged["second"], "pg1") == 0
    assert converged["start_time_second"] == converged["start_time"]


def test_runtime_socket_directory_comes_back_after_a_reboot(lab_hosts, pg1, converged, policy_file):
    lab("restart", "pg1")
    assert unix_connect(pg1, "dba", "/run/pgsec-admin") == "open"
    assert listeners(pg1) == [f"{pg1.app}:5432"]
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{policy_file}")
    assert changed_count(proc.stdout, "pg1") == 0


def test_alter_system_override_is_found_shown_in_check_mode_and_removed(lab_hosts, pg1, converged, policy_file):
    running_since = start_time(pg1)
    pg1.psql("ALTER SYSTEM SET listen_addresses = '*'")
    before = pg1.ssh(WATCHED).stdout
    check = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{policy_file}", "--check", "--diff")
    assert "postgresql.auto.conf" in check.stdout and "listen_addresses = '*'" in check.stdout
    assert changed_count(check.stdout, "pg1") > 0
    assert pg1.ssh(WATCHED).stdout == before, "--check changed the host"
    lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{policy_file}")
    auto = pg1.ssh("cat /var/lib/postgresql/15/main/postgresql.auto.conf").stdout
    assert not re.search(r"^\s*listen_addresses", auto, re.M), auto
    assert pg1.psql("select setting, sourcefile from pg_settings where name = 'listen_addresses'") == \
        f"{pg1.app}|/etc/postgresql/15/main/pgsec.d/listen.conf"
    # The override never took effect (it waited for a restart): nothing to restart for.
    assert start_time(pg1) == running_since
    assert listeners(pg1) == [f"{pg1.app}:5432"]


@pytest.mark.parametrize("variable, value, words", [
    ("pgsec_listen_addresses", "198.18.9.9", "198.18.9.9"),
    ("pgsec_listen_addresses", "*", "'*'"),
    ("pgsec_unix_socket_permissions", "0999", "0999"),
    ("pgsec_unix_socket_group", "no-such-group", "no-such-group"),
    ("pgsec_port", 70000, "70000"),
    ("pgsec_clients", [{"name": "app", "sources": ["198.18.1.0/33"]}], "198.18.1.0/33"),
    ("pgsec_socket_directories", [{"path": "relative/dir"}], "relative/dir"),
])
def test_bad_input_fails_before_any_change_naming_the_variable(lab_hosts, pg1, converged, policy_file, tmp_path,
                                                               variable, value, words):
    bad = dict(POLICY, **{variable: value})
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(bad))
    before = pg1.ssh(WATCHED).stdout
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{path}", check=False)
    assert proc.returncode != 0
    assert variable in proc.stdout and words in proc.stdout, proc.stdout[-3000:]
    assert pg1.ssh(WATCHED).stdout == before


FAULT_PLAY = """
- hosts: pg1
  gather_facts: false
  tasks:
    - pgsec.hardening.postgresql_access_facts:
    - pgsec.hardening.postgresql_access_config:
        cluster: "{{ pgsec.clusters[0] }}"
        owner: listen
        settings: {listen_addresses: [%s]}
      register: config
    - pgsec.hardening.postgresql_access_apply:
        results: ["{{ config }}"]
        timeout: 20
"""

RELOAD_PLAY = """
- hosts: pg1
  gather_facts: false
  tasks:
    - pgsec.hardening.postgresql_access_facts:
    - pgsec.hardening.postgresql_access_config:
        cluster: "{{ pgsec.clusters[0] }}"
        owner: tls
        settings: {ssl_min_protocol_version: TLSv1.3}
      register: config
    - pgsec.hardening.postgresql_access_apply:
        results: ["{{ config }}"]
      register: applied
    - ansible.builtin.assert:
        that: applied.reloaded == ['15/main'] and applied.restarted == []
"""


def test_a_sighup_setting_is_reloaded_without_a_restart(lab_hosts, pg1, converged, tmp_path):
    before = start_time(pg1)
    play = tmp_path / "reload.yml"
    play.write_text(RELOAD_PLAY)
    lab_hosts.playbook(str(play))
    assert pg1.psql("show ssl_min_protocol_version") == "TLSv1.3"
    assert start_time(pg1) == before
    pg1.ssh("rm /etc/postgresql/15/main/pgsec.d/tls.conf && "
            "runuser -u postgres -- psql -XAtq -h /var/run/postgresql -c 'select pg_reload_conf()'")


def test_a_server_that_will_not_start_gets_its_previous_config_back(lab_hosts, pg1, converged, tmp_path):
    """An address postgres -C accepts but the host does not have: the restart fails, the rollback works."""
    listen_conf = "/etc/postgresql/15/main/pgsec.d/listen.conf"
    before = pg1.ssh(f"sha256sum {listen_conf}").stdout
    play = tmp_path / "fault.yml"
    play.write_text(FAULT_PLAY % "'198.18.9.9'")
    proc = lab_hosts.playbook(str(play), check=False)
    assert proc.returncode != 0
    assert "198.18.9.9" in proc.stdout and "previous configuration was restored" in proc.stdout, proc.stdout[-3000:]
    assert "could not create any TCP/IP sockets" in proc.stdout or "Cannot assign requested address" in proc.stdout
    assert pg1.ssh(f"sha256sum {listen_conf}").stdout == before
    assert listeners(pg1) == [f"{pg1.app}:5432"]
    assert pg1.psql("select 1") == "1"
    assert pg1.ssh("systemctl is-active postgresql@15-main").stdout.strip() == "active"


# ---------------------------------------------------------------------------- other layouts

@pytest.fixture(scope="module")
def other_layouts(lab_hosts, tmp_path_factory):
    path = tmp_path_factory.mktemp("layouts") / "policy.yml"
    path.write_text(yaml.safe_dump({"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
                                    "pgsec_unix_socket_group": "pgsocket", "pgsec_socket_groups": [{"name": "pgsocket"}],
                                    "pgsec_tls_enabled": False, "pgsec_firewall_backend": "none"}))
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg3,pg4", "-e", f"@{path}")
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg3,pg4", "-e", f"@{path}")
    yield {"first": first.stdout, "second": second.stdout}
    lab("reset", "pg3")
    lab("reset", "pg4")


def test_pg18_with_config_in_pgdata_is_hardened_through_its_unit(lab_hosts, other_layouts):
    pg3 = lab_hosts.hosts["pg3"]
    assert listeners(pg3) == [f"{pg3.app}:5432"]
    conf = pg3.ssh("cat /var/lib/pgsql/18/data/pgsec.d/listen.conf").stdout
    assert f"listen_addresses = '{pg3.app}'" in conf
    assert pg3.ssh("stat -c '%a %G' /tmp/.s.PGSQL.5432").stdout.strip() == "770 pgsocket"
    assert pg3.ssh("systemctl is-active postgresql-18").stdout.strip() == "active"
    assert changed_count(other_layouts["second"], "pg3") == 0


def test_two_clusters_keep_their_ports_and_both_are_hardened(lab_hosts, other_layouts):
    pg4 = lab_hosts.hosts["pg4"]
    assert listeners(pg4) == sorted([f"{pg4.app}:5432", f"{pg4.app}:5433"])
    allowed = lab_hosts.clients["allowed"]
    assert allowed.connect(pg4.app, 5433) == "open"
    assert lab_hosts.clients["denied"].connect(pg4.ext, 5433) == "refused"
    assert changed_count(other_layouts["second"], "pg4") == 0


def test_a_port_for_two_clusters_is_refused_naming_both(lab_hosts, other_layouts, tmp_path):
    path = tmp_path / "port.yml"
    path.write_text(yaml.safe_dump({"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}], "pgsec_port": 5440,
                                    "pgsec_tls_enabled": False, "pgsec_firewall_backend": "none"}))
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg4", "-e", f"@{path}", check=False)
    assert proc.returncode != 0
    assert "pgsec_port" in proc.stdout and "15/main" in proc.stdout and "15/second" in proc.stdout
