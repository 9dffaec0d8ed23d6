"""Rolling restarts: standbys before their primary, pgsec_harden_batch hosts at a time, a CHECKPOINT first.
Postmaster start times (postmaster.pid) prove the order."""
from __future__ import annotations

import time

import pytest
import yaml

from labhosts import lab

ALLOWED = "198.18.1.100/32"
FLEET = ["pg1", "pg2", "pg5", "pg6", "pg7", "pg8"]


def start_times(host) -> list[int]:
    out = host.ssh("for f in /var/lib/postgresql/*/*/postmaster.pid /var/lib/pgsql/*/data/postmaster.pid; do "
                   "[ -f \"$f\" ] && sed -n 3p \"$f\"; done; true").stdout
    return sorted(int(line) for line in out.split())


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture()
def cleanup():
    touched = []
    yield touched
    for name in touched:
        lab("reset", name)


def test_the_standby_restarts_before_its_primary_after_a_checkpoint(lab_hosts, tmp_path, cleanup):
    primary, standby = lab_hosts.hosts["pg5"], lab_hosts.hosts["pg7"]
    cleanup += ["pg5", "pg7"]
    lab("standby", "pg7", "--of", "pg5")
    before = {name: start_times(lab_hosts.hosts[name]) for name in ("pg5", "pg7")}
    policy = write(tmp_path / "policy.yml", {
        "pgsec_clients": [{"name": "app", "sources": [ALLOWED]},
                          {"name": "standby", "sources": [f"{standby.app}/32"], "databases": ["replication"],
                           "users": ["replicator"]}],
        "pgsec_tls_enabled": False, "pgsec_firewall_backend": "none"})
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg5,pg7", "-e", f"@{policy}")
    plays = [line for line in proc.stdout.splitlines() if line.startswith("PLAY [")]
    assert [p.split("[")[1].split("]")[0] for p in plays][1:] == [
        "Harden PostgreSQL access on the standbys", "Harden PostgreSQL access on the primaries"], plays
    after = {name: start_times(lab_hosts.hosts[name]) for name in ("pg5", "pg7")}
    assert after["pg7"] != before["pg7"] and after["pg5"] != before["pg5"], "each restarted"
    assert len(after["pg7"]) == len(after["pg5"]) == 1, "once"
    assert after["pg7"][0] <= after["pg5"][0], (after, "the standby first")
    log = primary.ssh("grep -n 'checkpoint starting: immediate force wait\\|received fast shutdown request' "
                      "/var/log/postgresql/postgresql-17-main.log | tail -2").stdout
    assert "checkpoint starting: immediate force wait" in log.splitlines()[0], log
    assert "fast shutdown" in log.splitlines()[-1], log


def test_batches_of_two_on_six_hosts_restart_two_at_a_time(lab_hosts, tmp_path, cleanup):
    cleanup += FLEET
    policy = write(tmp_path / "policy.yml", {"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
                                             "pgsec_tls_enabled": False, "pgsec_firewall_backend": "none"})
    started = time.time()
    lab_hosts.playbook("pgsec.hardening.harden", "-l", ",".join(FLEET), "-e", f"@{policy}",
                       "-e", "pgsec_harden_batch=2")
    starts = {name: start_times(lab_hosts.hosts[name]) for name in FLEET}
    assert all(len(times) == 1 and times[0] >= int(started) for times in starts.values()), starts
    # Two hosts of a batch restart in the same task; the next batch only after the whole role ran for it.
    times = sorted(values[0] for values in starts.values())
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    within, between = gaps[0::2], gaps[1::2]
    assert min(between) > max(within), (starts, gaps)
    # The batches follow the inventory's order, whatever order the planning results came back in.
    by_start = sorted(FLEET, key=lambda name: starts[name][0])
    waves = [set(by_start[i:i + 2]) for i in range(0, len(by_start), 2)]
    assert waves == [set(FLEET[i:i + 2]) for i in range(0, len(FLEET), 2)], starts


def test_a_batch_whose_server_does_not_come_back_stops_the_rollout(lab_hosts, tmp_path, cleanup):
    """pg1 (first batch) cannot start again: its batch fails and the second batch is never touched."""
    first, later = ["pg1", "pg2"], ["pg5", "pg6"]
    cleanup += first + later
    broken = lab_hosts.hosts["pg1"]
    broken.ssh("mkdir -p /etc/systemd/system/postgresql@.service.d && printf '[Service]\\nExecStartPre=/bin/false\\n' "
               "> /etc/systemd/system/postgresql@.service.d/broken.conf && systemctl daemon-reload")
    watched = ("sha256sum /etc/postgresql/*/main/pg_hba.conf /etc/postgresql/*/main/postgresql.conf; "
               "ls /etc/postgresql/*/main/; true")
    before = {name: (start_times(lab_hosts.hosts[name]), lab_hosts.hosts[name].ssh(watched).stdout) for name in later}
    policy = write(tmp_path / "policy.yml", {"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
                                             "pgsec_tls_enabled": False, "pgsec_firewall_backend": "none"})
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", ",".join(first + later), "-e", f"@{policy}",
                              "-e", "pgsec_harden_batch=2", check=False)
    assert proc.returncode != 0
    assert "previous configuration was restored" in proc.stdout, proc.stdout[-3000:]
    assert "Harden PostgreSQL access on the primaries" in proc.stdout
    for name in later:
        host = lab_hosts.hosts[name]
        assert (start_times(host), host.ssh(watched).stdout) == before[name], f"{name} was touched"
