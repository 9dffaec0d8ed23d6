"""Both ends of the ansible-core range as controllers: harden and audit lab hosts with each.

core217 is the oldest ansible-core meta/runtime.yml claims (a venv on this machine's Python 3.11),
core221 the newest release (Python >= 3.12: a chroot of the Debian 13 lab image, Python 3.13);
tests/tools/controller.py runs a command with either (make controllers builds them). Each one
audits pg1 (Debian 12 / PostgreSQL 15) and pg5 (Debian 13 / PostgreSQL 17) as the insecure profile
made them, hardens them twice, then audits them again; the hosts are reset after each controller.
"""
from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from labhosts import REPO, changed_count, failed_count, lab, run

CONTROLLER = REPO / "tests" / "tools" / "controller.py"
CONTROLLERS = ("core217", "core221")
HOSTS = ("pg1", "pg5")
ALLOWED = "198.18.1.100/32"
# Listen, sockets and pg_hba: what every controller must drive; TLS and the firewall have their own tests.
POLICY = {
    "pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
    "pgsec_unix_socket_group": "pgsocket",
    "pgsec_socket_groups": [{"name": "pgsocket"}],
    "pgsec_tls_enabled": False,
    "pgsec_firewall_backend": "none",
}
LISTEN_CONTROLS = ("listen.not_wildcard", "listen.within_policy", "listen.auto_conf_override")

# The controller-side community.crypto steps of roles/tls/tasks/generate.yml, on localhost only:
# the matching `ansible` package's collection must resolve and work with that controller's Python.
CRYPTO_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - community.crypto.openssl_privatekey:
        path: "%(dir)s/ca.key"
        type: ECC
        curve: secp384r1
        mode: "0600"
    - community.crypto.openssl_csr_pipe:
        privatekey_path: "%(dir)s/ca.key"
        common_name: pgsec.hardening matrix CA
        basic_constraints: ["CA:TRUE"]
        basic_constraints_critical: true
        key_usage: [keyCertSign, cRLSign]
      register: csr
    - community.crypto.x509_certificate:
        path: "%(dir)s/ca.crt"
        privatekey_path: "%(dir)s/ca.key"
        csr_content: "{{ csr.csr }}"
        provider: selfsigned
        mode: "0644"
"""


# The controller-side planning of roles/internal/tasks/main.yml from fixed facts (a Debian 12 host with
# a management, an application and an external network): the postgresql_access_plan action plugin, templating
# and the policy variables must come out the same on every ansible-core the collection supports.
PLAN_FACTS = {
    "version": 1, "firewall": None,
    "clusters": [{"id": "15/main", "layout": "debian", "version": "15", "name": "main",
                  "data_directory": "/var/lib/postgresql/15/main", "config_file": "/etc/postgresql/15/main/postgresql.conf",
                  "bindir": "/usr/lib/postgresql/15/bin", "server_user": "postgres", "running": True, "pid": 812,
                  "auto_conf_file": None, "settings": {}, "listeners": {"tcp": [], "unix": []}}],
    "interfaces": [{"name": "lo", "address": "127.0.0.1", "prefixlen": 8, "family": "ipv4", "scope": "host"}] + [
        {"name": f"eth{i}", "address": f"198.18.{i}.11", "prefixlen": 24, "family": "ipv4", "scope": "global"}
        for i in range(3)],
    "routes": [{"dst": "default", "dev": "eth0", "gateway": "198.18.0.1", "prefsrc": None, "family": "ipv4", "metric": None}] + [
        {"dst": f"198.18.{i}.0/24", "dev": f"eth{i}", "gateway": None, "prefsrc": f"198.18.{i}.11", "family": "ipv4",
         "metric": None} for i in range(3)],
    "local_networks": ["127.0.0.1/8", "198.18.0.11/24", "198.18.1.11/24", "198.18.2.11/24"],
}
PLAN_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    __pgsec_policy_names: "{{ query('ansible.builtin.varnames', '^pgsec_')
                              | reject('match', '^pgsec_(lab|audit|target)_')
                              | reject('match', '^pgsec_tls_(cert|key|ca|crl|key_passphrase)$') | list }}"
  tasks:
    - pgsec.hardening.postgresql_access_plan:
        policy: "{{ dict(__pgsec_policy_names | zip(query('ansible.builtin.vars', *__pgsec_policy_names))) }}"
        facts: "{{ lookup('ansible.builtin.file', '%(dir)s/facts.json') | from_json }}"
        host_groups: [root, postgres, pgsocket]
        host_users: [root, postgres]
      register: plan
    - ansible.builtin.copy:
        content: "{{ plan | dict2items | rejectattr('key', 'in', ['changed', 'failed']) | items2dict
                     | to_nice_json(sort_keys=true) }}"
        dest: "%(dir)s/plan.json"
        mode: "0644"
"""


def pinned_core(name: str) -> str:
    text = (REPO / "tests" / "controllers" / f"{name}.txt").read_text()
    match = re.search(r"^ansible-core==(\S+)", text, re.M)
    assert match, f"tests/controllers/{name}.txt pins no ansible-core"
    return match.group(1)


def with_controller(name: str, *cmd: str, check: bool = True):
    return run([sys.executable, str(CONTROLLER), "run", name, "--", *cmd], check=check, timeout=900)


def listeners(host) -> list[str]:
    out = host.ssh("ss -ltnH 'sport = :5432'").stdout
    return sorted(line.split()[3] for line in out.splitlines())


@pytest.mark.parametrize("name", CONTROLLERS)
def test_the_controller_runs_the_pinned_ansible_core(name):
    proc = with_controller(name, "ansible", "--version")
    assert f"[core {pinned_core(name)}]" in proc.stdout, proc.stdout
    listed = with_controller(name, "ansible-galaxy", "collection", "list").stdout
    for collection in ("pgsec.hardening", "community.crypto", "ansible.posix", "community.general"):
        assert re.search(rf"^{re.escape(collection)}\s", listed, re.M), (collection, listed)


@pytest.mark.parametrize("name", CONTROLLERS)
def test_the_controller_generates_tls_material_with_its_community_crypto(name, tmp_path):
    play = tmp_path / "crypto.yml"
    play.write_text(CRYPTO_PLAY % {"dir": tmp_path})
    with_controller(name, "ansible-playbook", "-i", "localhost,", str(play))
    assert "BEGIN CERTIFICATE" in (tmp_path / "ca.crt").read_text()


def test_every_controller_plans_the_same_from_the_same_facts(tmp_path):
    plans = {}
    for name in CONTROLLERS + ("default",):  # default: the ansible-core of requirements-dev.txt
        work = tmp_path / name
        work.mkdir()
        (work / "facts.json").write_text(json.dumps(PLAN_FACTS))
        (work / "policy.yml").write_text(yaml.safe_dump(POLICY))
        (work / "plan.yml").write_text(PLAN_PLAY % {"dir": work})
        cmd = ("ansible-playbook", "-i", "localhost,", "-e", f"@{work / 'policy.yml'}", str(work / "plan.yml"))
        if name == "default":
            run(list(cmd))
        else:
            with_controller(name, *cmd)
        plans[name] = json.loads((work / "plan.json").read_text())
    assert plans["core217"]["listen"]["addresses"] == ["198.18.1.11"], plans["core217"]["listen"]
    assert plans["core217"]["sockets"]["settings"]["unix_socket_group"] == "pgsocket"
    assert plans["core217"] == plans["default"] == plans["core221"]


@pytest.fixture(scope="module", params=CONTROLLERS)
def converged(request, lab_hosts, tmp_path_factory):
    """Harden twice and audit once with one controller; the hosts go back to their profile after."""
    name = request.param
    tmp = tmp_path_factory.mktemp(name)  # under /tmp, which the chroot controller shares
    policy = tmp / "policy.yml"
    policy.write_text(yaml.safe_dump(POLICY))
    limit = ",".join(HOSTS)
    try:
        before = {host: listeners(lab_hosts.hosts[host]) for host in HOSTS}
        playbook = ("ansible-playbook", "-i", str(lab_hosts.inventory))

        def audit(report_dir):
            proc = with_controller(name, *playbook, "pgsec.hardening.audit", "-e", f"@{policy}",
                                   "-e", f"pgsec_target_hosts={limit}", "-e", f"pgsec_audit_report_dir={report_dir}")
            return proc, json.loads((report_dir / "pgsec-access-report.json").read_text())

        _proc, report_before = audit(tmp / "report-before")
        first = with_controller(name, *playbook, "pgsec.hardening.harden", "-l", limit, "-e", f"@{policy}")
        second = with_controller(name, *playbook, "pgsec.hardening.harden", "-l", limit, "-e", f"@{policy}")
        proc, report = audit(tmp / "report")
        yield {"name": name, "before": before, "first": first.stdout, "second": second.stdout,
               "audit": proc.stdout, "report": report, "report_before": report_before,
               "after": {host: listeners(lab_hosts.hosts[host]) for host in HOSTS}}
    finally:
        for host in HOSTS:
            lab("reset", host)


def test_the_hosts_started_open_to_every_address(converged):
    for host in HOSTS:
        assert "0.0.0.0:5432" in converged["before"][host] or "*:5432" in converged["before"][host], \
            (host, converged["before"][host], "not the insecure profile: an earlier test left it hardened")


def test_harden_listens_only_where_the_clients_come_from(lab_hosts, converged):
    allowed, denied = lab_hosts.clients["allowed"], lab_hosts.clients["denied"]
    for name in HOSTS:
        host = lab_hosts.hosts[name]
        assert converged["after"][name] == [f"{host.app}:5432"], (converged["name"], name)
        assert allowed.connect(host.app, 5432) == "open", (converged["name"], name)
        assert denied.connect(host.ext, 5432) == "refused", (converged["name"], name)


def test_the_first_harden_changes_the_hosts_and_the_second_changes_nothing(converged):
    for host in HOSTS:
        assert failed_count(converged["first"], host) == 0
        assert changed_count(converged["first"], host) > 0, (converged["name"], host)
        assert failed_count(converged["second"], host) == 0
        assert changed_count(converged["second"], host) == 0, (converged["name"], host, converged["second"][-3000:])


def statuses(report: dict, host: str) -> dict[str, str]:
    return {f["id"]: f["status"] for f in report["hosts"][host]}


def test_the_audit_before_hardening_finds_what_the_insecure_profile_planted(converged):
    for host in HOSTS:
        status = statuses(converged["report_before"], host)
        for control in ("listen.not_wildcard", "socket.permissions"):
            assert status.get(control) == "fail", (converged["name"], host, control, status.get(control))


def test_the_audit_finds_no_listen_or_socket_drift_after_hardening(converged):
    assert set(HOSTS) <= set(converged["report"]["hosts"]), converged["report"]["hosts"].keys()
    for host in HOSTS:
        status = statuses(converged["report"], host)
        for control in LISTEN_CONTROLS + ("socket.permissions",):
            assert status.get(control) == "pass", (converged["name"], host, control, status.get(control))


def test_the_audit_run_reports_its_hosts(converged):
    for host in HOSTS:
        assert failed_count(converged["audit"], host) == 0, converged["audit"][-3000:]
    assert set(HOSTS) <= set(converged["report"]["summary"]["hosts"]), converged["report"]["summary"]
