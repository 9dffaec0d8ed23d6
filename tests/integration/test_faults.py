"""Bad input and faults on a real host: refused before the first change, nothing lost, nothing leaked.

The bad inputs are the catalogue in bad_inputs.py (docs/bad-input-catalogue.md is rendered from it).
"""
from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from bad_inputs import CATALOGUE, TWO_FIREWALLS
from labhosts import changed_count, failed_count, lab

HOST = "pg2"
ALLOWED = "198.18.1.100/32"
BASE = {"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}], "pgsec_tls_enabled": False,
        "pgsec_firewall_backend": "none", "pgsec_socket_groups": [{"name": "pgsocket"}],
        "pgsec_unix_socket_group": "pgsocket"}

# Everything a refused run must leave as it was: configuration, rulesets, groups, sockets, the postmaster.
WATCHED = ("cd / && sha256sum /etc/postgresql/15/main/*.conf /etc/postgresql/15/main/pgsec.d/* "
           "/etc/postgresql/15/main/pgsec-tls/* /var/lib/postgresql/15/main/postgresql.auto.conf "
           "/etc/tmpfiles.d/pgsec-* /etc/nftables.conf 2>/dev/null; ls -la /etc/postgresql/15/main; "
           "nft list ruleset; iptables -S; ip6tables -S; systemctl is-active firewalld; getent group pgsocket; "
           "stat -c '%n %a %U %G' /var/run/postgresql /var/run/postgresql/.s.PGSQL.5432; ls /run; "
           "runuser -u postgres -- psql -XAtq -h /var/run/postgresql -c 'select pg_postmaster_start_time()'; true")


def start_time(host) -> str:
    return host.psql("select pg_postmaster_start_time()")


# ---------------------------------------------------------------------------- TLS material

def _name(text):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _pem(cert, key):
    from cryptography.hazmat.primitives import serialization
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def _issue(ca_cert, ca_key, key, names, ips, days_from=-1, days_to=30, is_ca=False):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.datetime.now(datetime.timezone.utc)
    subject = _name(names[0])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(ca_cert.subject if ca_cert is not None else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=days_from))
               .not_valid_after(now + datetime.timedelta(days=days_to)))
    if is_ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        sans = [x509.DNSName(name) for name in names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key if ca_key is not None else key, hashes.SHA256())


def material(host) -> dict:
    """PEM text for every placeholder of bad_inputs.MATERIAL, for HOST."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def ec_key():
        return ec.generate_private_key(ec.SECP256R1())

    ca_key, other_ca_key = ec_key(), ec_key()
    ca = _issue(None, None, ca_key, ["pgsec test CA"], [], days_to=60, is_ca=True)
    other_ca = _issue(None, None, other_ca_key, ["another CA"], [], days_to=60, is_ca=True)
    names, ips = [host.name], [host.mgmt, host.app, host.ext]
    good = _pem(_issue(ca, ca_key, key := ec_key(), names, ips), key)
    other = _pem(_issue(ca, ca_key, key := ec_key(), names, ips), key)
    expired = _pem(_issue(ca, ca_key, key := ec_key(), names, ips, days_from=-30, days_to=-1), key)
    weak = _pem(_issue(ca, ca_key, key := rsa.generate_private_key(65537, 1024), names, ips), key)
    elsewhere = _pem(_issue(ca, ca_key, key := ec_key(), ["db.example.org"], []), key)
    return {
        "<certificate>": good[0], "<key>": good[1], "<ca>": _pem(ca, ca_key)[0],
        "<key of another certificate>": other[1],
        "<expired certificate>": expired[0], "<expired certificate's key>": expired[1],
        "<certificate with an RSA 1024 key>": weak[0], "<RSA 1024 key>": weak[1],
        "<another CA>": _pem(other_ca, other_ca_key)[0], "<not PEM>": "this is not a certificate\n",
        "<certificate for other names>": elsewhere[0], "<key for other names>": elsewhere[1],
    }


def resolve(given: dict, pems: dict) -> dict:
    return {name: pems.get(value, value) if isinstance(value, str) else value for name, value in given.items()}


# ---------------------------------------------------------------------------- running a case

def run_json(lab_hosts, *args):
    """ansible-playbook with the JSON callback: (returncode, parsed output)."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    proc = subprocess.run(["ansible-playbook", "-i", str(lab_hosts.inventory), *args], capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    return proc.returncode, json.loads(proc.stdout)


def first_failure(output: dict, host: str):
    """(message of the first failed task, names of the tasks that changed something before it)."""
    changed = []
    for play in output["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(host)
            if not result:
                continue
            if result.get("failed") or result.get("unreachable"):
                items = [str(item.get("msg", "")) for item in result.get("results") or [] if item.get("failed")]
                return " | ".join([str(result.get("msg", ""))] + items), changed
            if result.get("changed"):
                changed.append(task["task"]["name"])
    return None, changed


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def policy_for(case, pems, tmp):
    data = dict(BASE, **resolve(case.given, pems))
    if case.tls:
        data["pgsec_tls_enabled"] = True
    if case.role == "firewall":
        data.setdefault("pgsec_firewall_backend", "auto")
        if data["pgsec_firewall_backend"] == "none":
            data["pgsec_firewall_backend"] = "auto"
    return write(tmp / f"{case.id}.yml", data)


@pytest.fixture(scope="module")
def host(lab_hosts):
    yield lab_hosts.hosts[HOST]
    lab("reset", HOST)


@pytest.fixture(scope="module")
def pems(host):
    return material(host)


def test_valid_material_and_base_policy_pass_the_checks(lab_hosts, host, pems, tmp_path):
    """The control: without the one bad value, each kind of case would pass (so a case fails for its own reason)."""
    before = host.ssh(WATCHED).stdout
    tls = write(tmp_path / "tls.yml", dict(BASE, pgsec_tls_enabled=True, **resolve(
        {"pgsec_tls_cert": "<certificate>", "pgsec_tls_key": "<key>", "pgsec_tls_ca": "<ca>"}, pems)))
    firewall = write(tmp_path / "fw.yml", dict(BASE, pgsec_firewall_backend="auto"))
    for path in (tls, firewall):
        rc, output = run_json(lab_hosts, "pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}", "--check")
        message, _changed = first_failure(output, HOST)
        assert rc == 0 and message is None, message
    assert host.ssh(WATCHED).stdout == before


def test_catalogue_is_large_enough():
    assert len(CATALOGUE) + 1 >= 30
    assert len({case.id for case in CATALOGUE}) == len(CATALOGUE)


def test_every_bad_input_fails_before_any_change_naming_variable_and_value(lab_hosts, host, pems, tmp_path):
    before = host.ssh(WATCHED).stdout

    def attempt(case):
        path = policy_for(case, pems, tmp_path)
        rc, output = run_json(lab_hosts, "pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
        message, changed = first_failure(output, HOST)
        return case, rc, message, changed

    problems = []
    with ThreadPoolExecutor(max_workers=3) as pool:
        for case, rc, message, changed in pool.map(attempt, CATALOGUE):
            if rc == 0 or message is None:
                problems.append(f"{case.id}: the run did not fail")
            elif case.variable not in message or case.words not in message:
                problems.append(f"{case.id}: the error names not {case.variable} / {case.words!r}: {message[:400]}")
            elif changed:
                problems.append(f"{case.id}: changed {changed} before failing")
            if message and "PRIVATE KEY" in message:
                problems.append(f"{case.id}: key material in the error")
    assert not problems, "\n".join(problems)
    assert host.ssh(WATCHED).stdout == before, "a refused run changed the host"
    assert host.psql("select 1") == "1"


def test_two_firewalls_are_refused_before_any_change(lab_hosts, host, tmp_path):
    host.ssh("systemctl start firewalld && firewall-cmd --state")
    try:
        before = host.ssh(WATCHED).stdout
        path = write(tmp_path / "two.yml", dict(BASE, **TWO_FIREWALLS.given))
        rc, output = run_json(lab_hosts, "pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
        message, changed = first_failure(output, HOST)
        assert rc != 0 and message, output
        assert TWO_FIREWALLS.variable in message and TWO_FIREWALLS.words in message, message
        assert not changed
        assert host.ssh(WATCHED).stdout == before
    finally:
        host.ssh("systemctl stop firewalld")


# ---------------------------------------------------------------------------- faults

def test_disk_full_while_writing_leaves_no_truncated_file(lab_hosts, host, tmp_path):
    """The configuration directory on a tiny file system that is full: the run fails, every file is whole."""
    conf = "/etc/postgresql/15/main"
    host.ssh(f"cp -a {conf} /root/conf-copy && mount -t tmpfs -o size=256k pgsec-full {conf} && "
             f"cp -a /root/conf-copy/. {conf}/ && (dd if=/dev/zero of={conf}/filler bs=4k 2>/dev/null; true)")
    try:
        listing = f"cd {conf} && ls -la --time-style=+ . && sha256sum $(find . -type f ! -name filler | sort)"
        before, running_since = host.ssh(listing).stdout, start_time(host)
        path = write(tmp_path / "policy.yml", BASE)
        proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}", check=False)
        assert proc.returncode != 0
        assert "No space left on device" in proc.stdout or "ENOSPC" in proc.stdout, proc.stdout[-3000:]
        assert host.ssh(listing).stdout == before, "a file was changed, truncated or left behind"
        assert start_time(host) == running_since
    finally:
        host.ssh(f"umount {conf}; rm -rf /root/conf-copy", check=False)
    assert host.psql("select 1") == "1"


def test_a_run_killed_midway_is_finished_by_the_next(lab_hosts, host, tmp_path):
    """SIGKILL to ansible-playbook while it hardens; the next run converges and the one after changes nothing."""
    path = write(tmp_path / "policy.yml", BASE)
    cmd = ["ansible-playbook", "-i", str(lab_hosts.inventory), "pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("TASK [pgsec.hardening.listen"):  # the sockets role has changed things by now
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert any(line.startswith("TASK [pgsec.hardening.listen") for line in seen), "".join(seen)[-3000:]
    assert any("changed:" in line for line in seen), "the run was killed before it changed anything"
    again = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
    since = start_time(host)
    third = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
    assert changed_count(again.stdout, HOST) > 0
    assert changed_count(third.stdout, HOST) == 0
    assert start_time(host) == since
    listening = host.ssh("ss -ltnH 'sport = :5432'").stdout.split()
    assert f"{host.app}:5432" in listening and "127.0.0.1:5432" not in listening


def test_a_cluster_that_is_down_is_configured_and_left_down(lab_hosts, host, tmp_path):
    host.ssh("systemctl stop postgresql@15-main")
    try:
        path = write(tmp_path / "policy.yml", dict(BASE, pgsec_unix_socket_permissions="0750"))
        proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
        assert changed_count(proc.stdout, HOST) > 0
        assert host.ssh("systemctl is-active postgresql@15-main", check=False).stdout.strip() != "active"
        host.ssh("systemctl start postgresql@15-main")
        assert host.psql("show unix_socket_permissions") == "0750"
        again = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
        assert changed_count(again.stdout, HOST) == 0
    finally:
        host.ssh("systemctl start postgresql@15-main", check=False)


def test_one_failing_host_does_not_stop_the_others(lab_hosts, host, tmp_path):
    """pg4 gets an address it does not have; pg2 is hardened all the same, and the audit names who failed."""
    other = "pg4"
    overlay = write(tmp_path / "overlay.yml", {"all": {"hosts": {
        other: {"pgsec_listen_addresses": ["198.18.9.9"]},
        "ghost": {"ansible_host": "198.18.0.250", "ansible_user": "root"}}}})
    path = write(tmp_path / "policy.yml", BASE)
    proc = lab_hosts.playbook("-i", str(overlay), "pgsec.hardening.harden", "-l", f"{HOST},{other}",
                              "-e", f"@{path}", check=False)
    assert proc.returncode != 0
    assert failed_count(proc.stdout, other) == 1 and failed_count(proc.stdout, HOST) == 0
    assert "198.18.9.9" in proc.stdout
    reports = tmp_path / "reports"
    audit = lab_hosts.playbook("-i", str(overlay), "pgsec.hardening.audit", "-e", f"@{path}",
                               "-e", f"pgsec_target_hosts={HOST},ghost", "-e", f"pgsec_audit_report_dir={reports}",
                               check=False)
    assert audit.returncode != 0  # the ghost could not be audited
    report = json.loads((reports / "pgsec-access-report.json").read_text())
    summary = report["summary"]["hosts"]
    assert summary[HOST]["state"] == "audited", summary
    assert summary["ghost"]["state"] != "audited", summary


def test_secrets_never_show_with_vvv_in_diffs_or_reports(lab_hosts, host, pems, tmp_path):
    path = write(tmp_path / "tls.yml", dict(BASE, pgsec_tls_enabled=True, **resolve(
        {"pgsec_tls_cert": "<certificate>", "pgsec_tls_key": "<key>", "pgsec_tls_ca": "<ca>"}, pems)))
    proc = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}", "--diff", "-vvv")
    reports = tmp_path / "reports"
    audit = lab_hosts.playbook("pgsec.hardening.audit", "-e", f"@{path}", "-e", f"pgsec_target_hosts={HOST}",
                               "-e", f"pgsec_audit_report_dir={reports}", "-vvv", check=False)
    key_body = [line for line in pems["<key>"].splitlines() if line and not line.startswith("-----")]
    texts = {"output": proc.stdout + proc.stderr, "audit output": audit.stdout + audit.stderr}
    texts.update((p.name, p.read_text()) for p in reports.iterdir())
    for name, text in texts.items():
        assert "PRIVATE KEY" not in text, name
        assert not any(line in text for line in key_body), f"key material in {name}"
    modes = host.ssh("stat -c '%n %a %U %G' /etc/postgresql/15/main/pgsec-tls/*").stdout
    for line in modes.splitlines():
        name, mode, owner, group = line.split()
        if name.endswith(".key"):
            assert (mode, owner) == ("600", "postgres") or (mode, owner) == ("640", "root"), line
        else:
            assert mode in ("644", "640") and owner in ("root", "postgres"), line
    assert ".key" in modes
