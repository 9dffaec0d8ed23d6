"""The firewall role on real hosts: who reaches the port, what else survives, reboots, self-rollback."""
from __future__ import annotations

import re
import time

import pytest
import yaml

from labhosts import lab

ALLOWED = "198.18.1.100/32"
# Something the host had before and the role must leave alone.
FOREIGN_NFT = "nft add table inet site; nft add chain inet site keep; nft add rule inet site keep tcp dport 8080 counter"


def changed_count(output: str, host: str) -> int:
    match = re.search(rf"^{host}\s*:\s*ok=\d+\s+changed=(\d+)", output, re.M)
    assert match, output[-3000:]
    return int(match.group(1))


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
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{path}")
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg1", "-e", f"@{path}")
    yield {"host": host, "policy": path, "first": first.stdout, "second": second.stdout}
    lab("reset", "pg1")


def test_only_the_allowed_client_reaches_the_port(lab_hosts, nft_host):
    host = nft_host["host"]
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432, timeout=2) == "timeout"  # dropped
    assert lab_hosts.clients["denied"].connect(host.ext, 5432, timeout=2) == "timeout"
    assert host.ssh("true").returncode == 0  # SSH still works, on a fresh connection


def test_rules_are_ours_alone_and_other_rules_survive(nft_host):
    host = nft_host["host"]
    assert "tcp dport 8080 counter" in host.ssh("nft list table inet site").stdout
    table = host.ssh("nft list table inet pgsec").stdout
    assert "198.18.1.100" in table and "drop" in table


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
    path = policy(tmp_path_factory.mktemp("ipt"), pgsec_firewall_backend="iptables", pgsec_firewall_action="reject")
    first = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg5", "-e", f"@{path}")
    second = lab_hosts.playbook("pgsec.hardening.harden", "-l", "pg5", "-e", f"@{path}")
    yield {"host": host, "first": first.stdout, "second": second.stdout}
    lab("reset", "pg5")


def test_iptables_rejects_others_and_survives_a_reboot(lab_hosts, iptables_host):
    host = iptables_host["host"]
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432) == "refused"  # rejected
    assert changed_count(iptables_host["second"], "pg5") == 0
    assert "PGSEC-INPUT" in host.ssh("iptables-save").stdout
    lab("restart", "pg5")
    assert "PGSEC-INPUT" in host.ssh("iptables-save").stdout
    assert lab_hosts.clients["neighbour"].connect(host.app, 5432) == "refused"
    assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open"
