"""Firewall confirmation on a fleet: each host confirms its own rules right after loading them, over a new
connection, so the wait does not grow with the number of hosts or depend on forks; a host that stops
answering rolls back alone.

With forks 1 and a 6 s rollback timeout, confirming in a later task of the play (after the other hosts
loaded their rules) would come too late for the first hosts: their rules would roll back."""
from __future__ import annotations

import time

import pytest
import yaml

from labhosts import cut_new_ssh_once_firewall_loads, lab, recap

ALLOWED = "198.18.1.100/32"
FLEET = ["pg1", "pg2", "pg5", "pg6", "pg7", "pg8"]
CUT = "pg6"
TIMEOUT = 6
CUT_SECONDS = 30


@pytest.fixture()
def fleet(lab_hosts):
    yield [lab_hosts.hosts[name] for name in FLEET]
    for name in FLEET:
        lab("reset", name)


def test_each_host_confirms_its_own_rules_and_the_unreachable_one_rolls_back_alone(lab_hosts, fleet, tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({
        "pgsec_clients": [{"name": "app", "sources": [ALLOWED]}], "pgsec_tls_enabled": False,
        "pgsec_firewall_backend": "nftables", "pgsec_firewall_rollback_timeout": TIMEOUT}))
    cut = lab_hosts.hosts[CUT]
    cut.ssh(cut_new_ssh_once_firewall_loads(CUT_SECONDS))
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-f", "1", "-l", ",".join(FLEET), "-e", f"@{policy}",
                              "-e", f"pgsec_harden_batch={len(FLEET)}", check=False)
    confirmed = [host for host in fleet if host.name != CUT]
    for host in confirmed:
        result = recap(proc.stdout, host.name)
        assert result["failed"] == 0 and result["unreachable"] == 0 and result["changed"] > 0, (host.name, result)
    assert recap(proc.stdout, CUT)["failed"] == 1, proc.stdout[-3000:]
    assert "did not answer over a new connection" in proc.stdout
    # Past every deadline: the confirmed hosts kept their rules, the cut host restored its own.
    time.sleep(TIMEOUT + 2)
    for host in confirmed:
        assert lab_hosts.clients["neighbour"].connect(host.app, 5432, timeout=2) == "timeout", host.name
        assert lab_hosts.clients["allowed"].connect(host.app, 5432) == "open", host.name
    assert lab_hosts.clients["neighbour"].connect(cut.app, 5432) == "open"
    deadline = time.time() + CUT_SECONDS + 30
    while cut.ssh("true", check=False).returncode != 0:
        assert time.time() < deadline, "the cut host never answered again"
        time.sleep(2)
    assert "table inet pgsec" not in cut.ssh("nft list tables").stdout.splitlines()
    assert proc.returncode != 0
