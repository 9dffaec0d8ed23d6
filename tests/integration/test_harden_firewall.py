"""The firewall role on real hosts: who reaches the port, what else survives, reboots, self-rollback."""
from __future__ import annotations

import re
import time

import pytest
import yaml

from labhosts import changed_count, lab

ALLOWED = "198.18.1.100/32"
# Something the host had before and the role must leave alone.
FOREIGN_NFT = "nft add table inet site; nft add chain inet site keep; nft add rule inet site keep tcp dport 8080 counter"


def policy(tmp, **extra) -> dict:
    data = {"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}], "pgsec_tls_enabled": False,
            "pgsec_listen_addresses": ["0.0.0.0"], "pgsec_listen_allow_wildcard": True}
    data.update(extra)
    path = tmp / "policy.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def nft_host(lab_hosts, tmp_path_factory):
    """pg1 with nftables; it listens everywhere, so only the firewall stands between clients and the port."""
    host = lab_hosts.hosts["pg1"]
    host.ssh(FOREIGN_NFT)
    path = policy(tmp_path_factory.mktemp("nft"))
    ruleset = host.ssh("nft list ruleset").stdout
    check = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{path}", "--check", "--diff")
    assert host.ssh("nft list ruleset").stdout == ruleset, "--check changed the ruleset"
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{path}")
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{path}")
    yield {"host": host, "policy": path, "check": check.stdout, "first": first.stdout, "second": second.stdout}
    lab("reset", "pg1")


def nmap_state(client, address: str, port: int) -> str:
    """The port's state as nmap sees it from the client: open, closed or filtered."""
    out = client.run("nmap", "-Pn", "-n", "--max-retries", "1", "--host-timeout", "20s", "-p", str(port), address,
                     check=True).stdout
    match = re.search(rf"^{port}/tcp\s+(\S+)", out, re.M)
    assert match, out
    return match.group(1)


def test_only_the_allowed_client_reaches_the_port(lab_hosts, nft_host):
    host = nft_host["host"]
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432, timeout=2) == "timeout"  # dropped
    assert lab_hosts.clients["denied"].connect(host.ext, 5432, timeout=2) == "timeout"
    assert nmap_state(lab_hosts.clients["denied"], host.ext, 5432) == "filtered"
    assert nmap_state(lab_hosts.clients["allowed"], host.app, 5432) == "open"
    assert host.ssh("true").returncode == 0  # SSH still works, on a fresh connection


def test_rules_are_ours_alone_and_other_rules_survive(nft_host):
    host = nft_host["host"]
    assert "tcp dport 8080 counter" in host.ssh("nft list table inet site").stdout
    table = host.ssh("nft list table inet pgsec").stdout
    assert "198.18.1.100" in table and "drop" in table


def test_check_mode_shows_the_rules_it_would_load(nft_host):
    assert "table inet pgsec" in nft_host["check"] and "198.18.1.100" in nft_host["check"]


def test_second_run_changes_nothing(nft_host):
    assert changed_count(nft_host["first"], "pg1") > 0
    assert changed_count(nft_host["second"], "pg1") == 0


def test_rules_come_back_after_a_reboot(lab_hosts, nft_host):
    host = nft_host["host"]
    lab("restart", "pg1")
    assert "198.18.1.100" in host.ssh("nft list table inet pgsec").stdout
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432, timeout=2) == "timeout"
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"


def test_the_audit_finds_no_firewall_drift(lab_hosts, nft_host, tmp_path):
    import json
    lab_hosts.playbook("pgsec.hardening.audit", "-e", f"@{nft_host['policy']}", "-e", "pgsec_target_hosts=pg1",
                       "-e", f"pgsec_audit_report_dir={tmp_path}")
    report = json.loads((tmp_path / "pgsec-access-report.json").read_text())
    status = {f["id"]: f["status"] for f in report["hosts"]["pg1"] if f["id"].startswith("firewall.")}
    assert status and set(status.values()) == {"pass"}, status


def test_an_unconfirmed_change_rolls_back_by_itself(lab_hosts, tmp_path):
    """What happens when the host stops answering after the change: nobody confirms, the old rules return."""
    host = lab_hosts.hosts["pg2"]
    play = tmp_path / "unconfirmed.yml"
    play.write_text("""
- hosts: pg2
  gather_facts: false
  tasks:
    - pgsec.hardening.postgresql_access_firewall:
        sources: [198.18.1.100/32]
        rollback_timeout: 5
        confirm_over_new_connection: false
      register: applied
    - ansible.builtin.assert:
        that: applied.rollback_token is not none
""")
    try:
        before = host.ssh("nft list ruleset").stdout
        lab_hosts.playbook(str(play))
        assert "table inet pgsec" in host.ssh("nft list ruleset").stdout
        time.sleep(9)
        assert host.ssh("nft list ruleset").stdout == before
    finally:
        lab("reset", "pg2")


@pytest.fixture(scope="module")
def iptables_host(lab_hosts, tmp_path_factory):
    host = lab_hosts.hosts["pg5"]  # Debian 13
    host.ssh("iptables -A INPUT -p tcp --dport 8080 -j ACCEPT")
    path = policy(tmp_path_factory.mktemp("ipt"), pgsec_firewall_backend="iptables", pgsec_firewall_action="reject")
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg5", "-e", f"@{path}")
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg5", "-e", f"@{path}")
    yield {"host": host, "first": first.stdout, "second": second.stdout}
    lab("reset", "pg5")


def test_iptables_rejects_others_and_survives_a_reboot(lab_hosts, iptables_host):
    host = iptables_host["host"]
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432) == "refused"  # rejected
    assert nmap_state(lab_hosts.clients["neighbour"], host.app, 5432) == "closed"  # a TCP reset, as asked
    assert "--dport 8080 -j ACCEPT" in host.ssh("iptables-save -t filter").stdout
    assert changed_count(iptables_host["second"], "pg5") == 0
    assert "PGSEC-INPUT" in host.ssh("iptables-save").stdout
    lab("restart", "pg5")
    assert "PGSEC-INPUT" in host.ssh("iptables-save").stdout
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432) == "refused"
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"


LISTENER = ("import socket,sys\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)\n"
            "while True:\n c,_=s.accept(); c.close()\n")

PROBE = ("import socket,sys\n"
         "try:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), 3); print('open')\n"
         "except OSError as e:\n print('refused', e.errno)\n")


def test_egress_allowlist_lets_the_server_user_reach_only_listed_hosts(lab_hosts, tmp_path):
    """A foreign data wrapper's view: as the server's OS user, the listed host answers, an unlisted one does not."""
    import subprocess
    host = lab_hosts.hosts["pg2"]
    listed, unlisted = lab_hosts.clients["allowed"], lab_hosts.clients["neighbour"]
    listeners = [subprocess.Popen(["ip", "netns", "exec", client.netns, "python3", "-c", LISTENER, client.address, "6543"])
                 for client in (listed, unlisted)]
    path = policy(tmp_path, pgsec_firewall_egress=[{"host": listed.address, "port": 6543}])
    quoted = PROBE.replace("'", "'\\''")

    def probe(user, target):
        return host.ssh(f"cd / && runuser -u {user} -- python3 -c '{quoted}' {target} 6543").stdout.strip()

    try:
        time.sleep(0.5)
        assert probe("postgres", unlisted.address) == "open"  # before: nothing stops it
        lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg2", "-e", f"@{path}")
        assert probe("postgres", listed.address) == "open"
        assert probe("postgres", unlisted.address).startswith("refused")
        assert probe("root", unlisted.address) == "open"  # other users are not restricted
        assert host.psql("select 1") == "1"
    finally:
        for listener in listeners:
            listener.kill()
            listener.wait()
        lab("reset", "pg2")


def sorted_lines(host, command: str) -> list[str]:
    """firewall-cmd lists rich rules in no fixed order: compare listings line by line, sorted."""
    return sorted(host.ssh(command).stdout.splitlines())


@pytest.fixture(scope="module")
def firewalld_host(lab_hosts, tmp_path_factory):
    """pg2 with firewalld running, its zone opening PostgreSQL to everyone, as hosts often have it."""
    host = lab_hosts.hosts["pg2"]
    try:
        host.ssh("systemctl enable --now firewalld && firewall-cmd --state && "
                 "for p in '' --permanent; do firewall-cmd $p --add-service=postgresql && "
                 "firewall-cmd $p --add-rich-rule='rule family=ipv4 port port=8080 protocol=tcp accept'; done")
        before = lab_hosts.clients["neighbour"].connect(host.app, 5432)
        path = policy(tmp_path_factory.mktemp("fwd"), pgsec_firewall_remove_open_port=True)
        listing = "firewall-cmd --list-all-zones; firewall-cmd --permanent --list-all-zones"
        zones = sorted_lines(host, listing)
        check = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg2", "-e", f"@{path}", "--check", "--diff")
        assert sorted_lines(host, listing) == zones, "--check changed firewalld"
        first = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg2", "-e", f"@{path}")
        second = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg2", "-e", f"@{path}")
        yield {"host": host, "before": before, "check": check.stdout, "first": first.stdout, "second": second.stdout}
    finally:
        lab("reset", "pg2")


def test_firewalld_lets_only_the_allowed_client_in(lab_hosts, firewalld_host):
    host = firewalld_host["host"]
    assert firewalld_host["before"] != "timeout"  # the zone's postgresql service let everyone through
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432, timeout=2) == "timeout"
    assert nmap_state(lab_hosts.clients["denied"], host.ext, 5432) == "filtered"
    assert host.ssh("true").returncode == 0


def test_firewalld_keeps_what_it_does_not_own(firewalld_host):
    host = firewalld_host["host"]
    for layer in ("", "--permanent"):
        rules = host.ssh(f"firewall-cmd {layer} --list-rich-rules").stdout
        assert 'port port="8080" protocol="tcp" accept' in rules, rules
        assert 'source address="198.18.1.100"' in rules and "drop" in rules, rules
        assert "postgresql" not in host.ssh(f"firewall-cmd {layer} --list-services").stdout
        assert "ssh" in host.ssh(f"firewall-cmd {layer} --list-services").stdout


def test_firewalld_check_mode_shows_the_rich_rules(firewalld_host):
    assert 'source address="198.18.1.100' in firewalld_host["check"], firewalld_host["check"][-3000:]


def test_firewalld_second_run_changes_nothing(firewalld_host):
    assert changed_count(firewalld_host["first"], "pg2") > 0
    assert changed_count(firewalld_host["second"], "pg2") == 0


def test_firewalld_rules_come_back_after_a_reboot(lab_hosts, firewalld_host):
    host = firewalld_host["host"]
    lab("restart", "pg2")
    deadline = time.monotonic() + 30
    while host.ssh("firewall-cmd --state", check=False).returncode != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert 'source address="198.18.1.100"' in host.ssh("firewall-cmd --list-rich-rules").stdout
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432, timeout=2) == "timeout"
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"


def test_firewalld_unconfirmed_change_rolls_back_by_itself(lab_hosts, firewalld_host, tmp_path):
    host = firewalld_host["host"]
    play = tmp_path / "unconfirmed.yml"
    play.write_text("""
- hosts: pg2
  gather_facts: false
  tasks:
    - pgsec.hardening.postgresql_access_firewall:
        sources: [198.18.1.200/32]
        rollback_timeout: 5
        confirm_over_new_connection: false
      register: applied
    - ansible.builtin.assert:
        that: applied.rollback_token is not none and applied.backend == 'firewalld'
""")
    before = sorted_lines(host, "firewall-cmd --list-all")
    lab_hosts.playbook(str(play))
    assert 'source address="198.18.1.200"' in host.ssh("firewall-cmd --list-rich-rules").stdout
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432) == "open"
    time.sleep(9)
    assert sorted_lines(host, "firewall-cmd --list-all") == before
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432, timeout=2) == "timeout"


def test_a_port_moved_by_the_run_is_filtered_by_the_end_of_that_run(lab_hosts, tmp_path):
    """The listen role moves the server to 5433 and the firewall of the same run filters 5433, not 5432."""
    host = lab_hosts.hosts["pg6"]
    path = policy(tmp_path, pgsec_port=5433)
    try:
        proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg6", "-e", f"@{path}")
        assert changed_count(proc.stdout, "pg6") > 0
        assert nmap_state(lab_hosts.clients["denied"], host.ext, 5433) == "filtered"
        assert lab_hosts.clients["neighbour"].connect(host.app, 5433, timeout=2) == "timeout"
        assert lab_hosts.clients["allowed"].connect(host.app, 5433) == "open"
        assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "refused"  # nothing listens there now
    finally:
        lab("reset", "pg6")
