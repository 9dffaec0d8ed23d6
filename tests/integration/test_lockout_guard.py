"""Never cut off what works, on real primary/standby pairs: the guard names what a policy would cut,
before any change; with the standby (and the MD5-era role) in the policy, replication and logins go on.
"""
from __future__ import annotations

import subprocess
import time

import pytest
import yaml

from labhosts import changed_count, lab

ALLOWED = "198.18.1.100/32"
DENIED = "198.18.2.200/32"
PAIRS = {"debian12": ("pg1", "pg6"), "debian13": ("pg5", "pg7")}
LEGACY_PASSWORD = "legacy-md5-secret"
WATCHED = ("sha256sum /etc/postgresql/*/*/postgresql.conf /etc/postgresql/*/*/pg_hba.conf /etc/postgresql/*/*/pgsec.d/* "
           "/var/lib/postgresql/*/*/postgresql.auto.conf 2>/dev/null; nft list ruleset; ss -ltnH | sort; "
           "cat /var/lib/postgresql/*/*/postmaster.pid | head -3; true")


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def streaming(primary, standby) -> bool:
    rows = primary.psql("select client_addr, state from pg_stat_replication").splitlines()
    return f"{standby.app}|streaming" in rows


def replays(primary, standby, marker: str) -> bool:
    primary.psql(f"create table if not exists guard_marks(v text); insert into guard_marks values ('{marker}')")
    try:
        wait_for(lambda: standby.psql(f"select count(*) from guard_marks where v = '{marker}'") == "1",
                 timeout=60, what=f"{marker} on {standby.name}")
    except AssertionError:
        return False
    return True


def standby_client(standby):
    return {"name": "standby", "sources": [f"{standby.app}/32"], "databases": ["replication"],
            "users": ["replicator"]}


def base_policy(tmp_path, **extra):
    policy = {"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
              "pgsec_tls_generate": True, "pgsec_tls_generate_dir": str(tmp_path / "ca")}
    policy.update(extra)
    return policy


@pytest.fixture(scope="module")
def pairs(lab_hosts):
    for primary, standby in PAIRS.values():
        lab("standby", standby, "--of", primary)
    hosts = {dist: (lab_hosts.hosts[p], lab_hosts.hosts[s]) for dist, (p, s) in PAIRS.items()}
    for primary, standby in hosts.values():
        wait_for(lambda: streaming(primary, standby), what=f"{standby.name} streaming from {primary.name}")
    yield hosts
    for names in PAIRS.values():
        for name in names:
            lab("reset", name)


@pytest.fixture(scope="module")
def legacy_role(pairs):
    """A role whose password is stored as an MD5 hash, as on servers upgraded from PostgreSQL 13 or older."""
    primary, _standby = pairs["debian12"]
    primary.psql(f"set password_encryption = 'md5'; create role legacy login password '{LEGACY_PASSWORD}'")
    assert primary.psql("select left(rolpassword, 3) from pg_authid where rolname = 'legacy'") == "md5"
    return "legacy"


@pytest.fixture()
def denied_session(lab_hosts, pairs, request):
    """A live session from a network the policy denies, open while the run decides."""
    primary, _standby = pairs["debian12"]
    client = lab_hosts.clients["denied"]
    name = "guard-" + request.node.name[:40]
    conninfo = f"host={primary.ext} user=postgres dbname=postgres sslmode=disable application_name={name}"
    proc = subprocess.Popen(["ip", "netns", "exec", client.netns, "env", f"PGPASSWORD={lab_hosts.postgres_password}",
                             "psql", "-XAtq", conninfo, "-c", "select pg_sleep(600)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    count = f"select count(*) from pg_stat_activity where application_name = '{name}'"
    wait_for(lambda: primary.psql(count) == "1", what="the denied client's session")
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    # A backend asleep in pg_sleep does not notice that its client went away.
    primary.ssh("cd / && runuser -u postgres -- psql -XAtq -h /var/run/postgresql -c "
                f"\"select pg_terminate_backend(pid) from pg_stat_activity where application_name = '{name}'\"",
                check=False)


def test_a_policy_without_the_standby_fails_before_any_change_naming_what_it_would_cut(
        lab_hosts, pairs, legacy_role, denied_session, tmp_path):
    primary, standby = pairs["debian12"]
    before = primary.ssh(WATCHED).stdout
    path = write(tmp_path / "policy.yml", base_policy(tmp_path))
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", primary.name, "-e", f"@{path}", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "would cut off what this server is serving now" in output, output[-4000:]
    assert f"standby {standby.app} (user replicator, replication" in output
    assert f"pgsec_lockout_cut: [{standby.app}/32]" in output
    assert "session 198.18.2.200 (user postgres, database postgres, application 'guard-" in output
    assert "role legacy has its password stored as MD5" in output
    assert changed_count(proc.stdout, primary.name) == 0
    assert primary.ssh(WATCHED).stdout == before
    assert denied_session.poll() is None, "the live session was not cut"
    assert streaming(primary, standby) and replays(primary, standby, "after-refusal")


def test_warn_names_the_cuts_and_goes_on_only_in_check_mode_here(lab_hosts, pairs, legacy_role, tmp_path):
    primary, _standby = pairs["debian12"]
    before = primary.ssh(WATCHED).stdout
    path = write(tmp_path / "policy.yml", base_policy(tmp_path, pgsec_lockout_guard="warn"))
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", primary.name, "-e", f"@{path}", "--check")
    assert "pgsec_lockout_guard: warn: this run cuts off" in proc.stdout + proc.stderr
    assert primary.ssh(WATCHED).stdout == before


def test_with_the_standby_the_md5_role_is_still_named_until_asked_for(lab_hosts, pairs, legacy_role, tmp_path):
    primary, standby = pairs["debian12"]
    before = primary.ssh(WATCHED).stdout
    clients = [{"name": "app", "sources": [ALLOWED]}, standby_client(standby)]
    path = write(tmp_path / "policy.yml", base_policy(tmp_path, pgsec_clients=clients))
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", primary.name, "-e", f"@{path}", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "role legacy has its password stored as MD5" in output and "standby " not in output
    assert primary.ssh(WATCHED).stdout == before


def psql_as(client, host, user, password, ca, sql="select ssl from pg_stat_ssl where pid = pg_backend_pid()"):
    conninfo = (f"host={host.app} user={user} dbname=postgres connect_timeout=5 sslmode=verify-full sslrootcert={ca}")
    return client.psql(conninfo, sql, password)


def test_with_everything_in_the_policy_replication_and_the_md5_login_keep_working(
        lab_hosts, pairs, legacy_role, denied_session, tmp_path):
    primary, standby = pairs["debian12"]
    clients = [{"name": "app", "sources": [ALLOWED]}, standby_client(standby)]
    path = write(tmp_path / "policy.yml", base_policy(tmp_path, pgsec_clients=clients, pgsec_hba_md5_compat=True,
                                                      pgsec_lockout_cut=[DENIED]))
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", primary.name, "-e", f"@{path}")
    assert changed_count(first.stdout, primary.name) > 0
    assert f"standby {standby.app} (user replicator, replication" in first.stderr + first.stdout
    assert "connects without TLS today and will need it" in first.stderr + first.stdout
    # The session the policy denies was cut on purpose: the restart ended it and it cannot come back.
    denied_session.wait(timeout=60)
    wait_for(lambda: streaming(primary, standby), what="the standby streaming again")
    assert replays(primary, standby, "after-harden")
    proc = psql_as(lab_hosts.clients["allowed"], primary, "legacy", LEGACY_PASSWORD, tmp_path / "ca" / "ca.crt")
    assert (proc.returncode, proc.stdout.strip()) == (0, "t"), proc.stderr
    assert primary.psql("select left(rolpassword, 3) from pg_authid where rolname = 'legacy'") == "md5", \
        "no password is changed"
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", primary.name, "-e", f"@{path}")
    assert changed_count(second.stdout, primary.name) == 0


def test_postgresql_17_pair_hardened_primary_then_standby_keeps_replaying(lab_hosts, pairs, tmp_path):
    primary, standby = pairs["debian13"]
    clients = [{"name": "app", "sources": [ALLOWED]}, standby_client(standby)]
    path = write(tmp_path / "policy.yml", base_policy(tmp_path, pgsec_clients=clients))
    lab_hosts.playbook("pgsec.hardening.harden", "-l", primary.name, "-e", f"@{path}")
    wait_for(lambda: streaming(primary, standby), what="the standby streaming again")
    assert replays(primary, standby, "primary-hardened")
    # The standby's own server is hardened too (its clients are the app); it reconnects to the primary.
    lab_hosts.playbook("pgsec.hardening.harden", "-l", standby.name, "-e", f"@{path}")
    assert standby.psql("select pg_is_in_recovery()") == "t"
    wait_for(lambda: streaming(primary, standby), what="the hardened standby streaming again")
    assert replays(primary, standby, "standby-hardened")
