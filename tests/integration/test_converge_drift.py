"""A converge touches only what drifts (pg1, Debian 12, the insecure profile).

After the first converge, a run with nothing to do stops after the planning play: one module run on
the host (postgresql_access_survey), no area role, no restart. Drift made by hand in one area (a socket directory's mode, an open pg_hba line) is
found by postgresql_access_drift, and only that area's role runs to put it back; --check shows it
and changes nothing."""
from __future__ import annotations

import re

import pytest
import yaml

from labhosts import changed_count, lab, recap

HOST = "pg1"
ALLOWED = "198.18.1.100/32"
HBA = "/etc/postgresql/15/main/pg_hba.conf"
POLICY = {
    "pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
    "pgsec_unix_socket_group": "pgsocket",
    "pgsec_socket_groups": [{"name": "pgsocket", "members": ["appuser"]}],
    "pgsec_socket_directories": [{"path": "/var/run/postgresql"},
                                 {"path": "/run/pgsec-admin", "mode": "0750"}],
    "pgsec_tls_enabled": False,
}
AREA_ROLES = ("sockets", "listen", "tls", "hba", "firewall")
WATCHED = ("sha256sum /etc/postgresql/15/main/pg_hba.conf /etc/postgresql/15/main/pgsec.d/* "
           "/etc/tmpfiles.d/pgsec-*; stat -c '%n %a %U %G' /run/pgsec-admin /var/run/postgresql; "
           "nft list table inet pgsec; "
           "runuser -u postgres -- psql -XAtq -h /var/run/postgresql -c 'select pg_postmaster_start_time()'")


def roles_run(output: str) -> set[str]:
    """The area roles that ran a task: 'TASK [pgsec.hardening.<role> : ...]' lines not all skipped."""
    ran = set()
    for block in re.split(r"\n(?=TASK \[)", output):
        match = re.match(r"TASK \[pgsec\.hardening\.(\w+) : ", block)
        if match and re.search(r"^(ok|changed): \[", block, re.M):
            ran.add(match.group(1))
    return ran & set(AREA_ROLES)


@pytest.fixture(scope="module")
def host(lab_hosts, tmp_path_factory):
    host = lab_hosts.hosts[HOST]
    host.ssh("id appuser >/dev/null 2>&1 || useradd -m appuser")
    policy = tmp_path_factory.mktemp("drift") / "policy.yml"
    policy.write_text(yaml.safe_dump(POLICY))
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{policy}")
    assert changed_count(first.stdout, HOST) > 0
    host.policy = policy
    yield host
    lab("reset", HOST)


def harden(lab_hosts, host, *extra):
    return lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{host.policy}", *extra)


def modules_run_since(host, cursor: str) -> list[str]:
    """The Ansible modules that ran on the host after the journal cursor (each logs its invocation)."""
    out = host.ssh(f"journalctl --sync; journalctl --after-cursor='{cursor}' -o export | sed -n 's/^SYSLOG_IDENTIFIER=ansible-//p'")
    return out.stdout.split()


def journal_cursor(host) -> str:
    return host.ssh("journalctl -n0 --show-cursor | sed -n 's/^-- cursor: //p'").stdout.strip()


def test_nothing_to_do_stops_after_planning(lab_hosts, host):
    before = host.ssh(WATCHED).stdout
    cursor = journal_cursor(host)
    run = harden(lab_hosts, host)
    assert modules_run_since(host, cursor) == ["pgsec.hardening.postgresql_access_survey"], \
        "a host with nothing to do costs more than one module run"
    assert recap(run.stdout, HOST)["changed"] == 0
    assert roles_run(run.stdout) == set(), "an area role ran with nothing to change"
    assert "Harden PostgreSQL access on the primaries" in run.stdout and "skipping: no hosts matched" in run.stdout
    tasks = recap(run.stdout, HOST)["ok"]
    assert tasks <= 3, f"{tasks} tasks ran on a host with nothing to do"  # arguments, survey, group_by
    assert host.ssh(WATCHED).stdout == before


def test_a_socket_directory_changed_by_hand_is_put_back_by_the_sockets_role_alone(lab_hosts, host):
    host.ssh("chmod 0777 /run/pgsec-admin")
    before = host.ssh(WATCHED).stdout
    check = harden(lab_hosts, host, "--check", "--diff")
    assert roles_run(check.stdout) == {"sockets"}, check.stdout[-3000:]
    assert recap(check.stdout, HOST)["changed"] > 0
    assert host.ssh(WATCHED).stdout == before, "--check changed the host"

    run = harden(lab_hosts, host)
    assert roles_run(run.stdout) == {"sockets"}
    assert host.ssh("stat -c %a /run/pgsec-admin").stdout.strip() == "750"
    after = host.ssh(WATCHED).stdout
    assert after.splitlines()[-1] == before.splitlines()[-1], "the server restarted for a directory mode"
    assert roles_run(harden(lab_hosts, host).stdout) == set()


def test_an_open_pg_hba_line_added_by_hand_is_closed_by_the_hba_role_alone(lab_hosts, host):
    host.ssh(f"echo 'host all all 0.0.0.0/0 md5' >> {HBA}")
    run = harden(lab_hosts, host)
    assert roles_run(run.stdout) == {"hba"}, run.stdout[-3000:]
    hba = host.ssh(f"cat {HBA}").stdout
    assert "# superseded by pgsec.hardening (tls): host all all 0.0.0.0/0 md5" in hba, hba
    loaded = host.psql("select count(*) from pg_hba_file_rules where type = 'host' and address = '0.0.0.0' "
                       "and auth_method <> 'reject'")
    assert loaded == "0", "the server still has the open line loaded"
