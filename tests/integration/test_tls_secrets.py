"""TLS secrets on a real host (pg2, Debian 12): the key's passphrase out of every copied directory, a reboot and a
rotation that ask nobody, and pgsec-tls-renew, the hook an outside renewer calls."""
from __future__ import annotations

import subprocess

import pytest

from labhosts import changed_count, lab
from test_harden_tls import policy, psql_from, served_fingerprint, start_time, write

HOST = "pg2"
PASSPHRASE = "correct horse battery staple 42"
RUNTIME = "/run/pgsec-tls/15-main/passphrase"
COPIED = "/etc/postgresql/15/main /var/lib/postgresql/15/main"  # the TLS directory lies in the first


@pytest.fixture(scope="module")
def secrets(lab_hosts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secrets")
    path = write(tmp / "policy.yml", policy(tmp, pgsec_tls_key_passphrase=PASSPHRASE))
    try:
        first = lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}", "-vvv")
        yield {"tmp": tmp, "policy": path, "first": first.stdout + first.stderr, "ca": tmp / "ca" / "ca.crt"}
    finally:
        lab("reset", HOST)


def harden(lab_hosts, secrets):
    return lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{secrets['policy']}")


def connects(lab_hosts, secrets) -> bool:
    host, client = lab_hosts.hosts[HOST], lab_hosts.clients["allowed"]
    proc = psql_from(client, host, lab_hosts.postgres_password, secrets["ca"],
                     sql="select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    return proc.returncode == 0 and proc.stdout.strip() == "t"


def test_the_key_is_encrypted_and_the_passphrase_never_shown(lab_hosts, secrets):
    host = lab_hosts.hosts[HOST]
    assert PASSPHRASE not in secrets["first"] and "PRIVATE KEY-----" not in secrets["first"]
    assert host.ssh("head -1 /etc/postgresql/15/main/pgsec-tls/server.key").stdout.strip() == \
        "-----BEGIN ENCRYPTED PRIVATE KEY-----"
    assert host.psql("show ssl_passphrase_command") == f"/bin/cat {RUNTIME}"
    assert host.psql("show ssl_passphrase_command_supports_reload") == "on"
    assert connects(lab_hosts, secrets)


def test_no_copy_of_the_configuration_data_or_tls_directory_holds_the_passphrase(lab_hosts, secrets):
    host = lab_hosts.hosts[HOST]
    # A copy taken as root, as a backup would take it.
    copy = host.ssh(f"tar -cf - {COPIED} 2>/dev/null | grep -caF '{PASSPHRASE}'", check=False)
    assert copy.stdout.strip() == "0", copy.stdout
    assert host.ssh("test ! -e /etc/postgresql/15/main/pgsec-tls/passphrase", check=False).returncode == 0
    # At rest it exists only encrypted by systemd-creds, root-only; in clear only in memory, for the server user.
    credential = "/etc/credstore.encrypted/pgsec-tls-15-main.cred"
    assert host.ssh(f"stat -c '%a %U' {credential}").stdout.strip() == "400 root"
    assert host.ssh(f"grep -caF '{PASSPHRASE}' {credential}", check=False).stdout.strip() == "0"
    decrypted = host.ssh(f"systemd-creds decrypt --name=pgsec-tls-passphrase {credential} -").stdout
    assert decrypted.strip() == PASSPHRASE
    assert host.ssh(f"stat -f -c %T {RUNTIME}; stat -c '%a %U' {RUNTIME}").stdout.split() == ["tmpfs", "400", "postgres"]
    dropin = host.ssh("systemctl show -p DropInPaths postgresql@15-main.service").stdout
    assert "/etc/systemd/system/postgresql@15-main.service.d/pgsec-tls-passphrase.conf" in dropin
    # The facts see where the command reads from (the audit's tls.passphrase_store).
    cluster = next(c for c in lab_hosts.access_facts(HOST)["clusters"] if c["id"] == "15/main")
    source = cluster["tls"]["passphrase_source"]
    assert source["path"] == RUNTIME and (source["file"]["owner"], source["file"]["mode"]) == ("postgres", "0400")


def test_a_second_converge_changes_nothing(lab_hosts, secrets):
    host = lab_hosts.hosts[HOST]
    before = start_time(host)
    second = harden(lab_hosts, secrets)
    assert changed_count(second.stdout, HOST) == 0 and start_time(host) == before


def test_the_server_starts_after_a_reboot_without_anyone(lab_hosts, secrets):
    host = lab_hosts.hosts[HOST]
    before = start_time(host)
    lab("restart", HOST)
    host.ssh("for i in $(seq 60); do runuser -u postgres -- pg_isready -q && exit 0; sleep 0.5; done; exit 1")
    assert start_time(host) != before
    assert host.psql("show ssl") == "on" and connects(lab_hosts, secrets)


def test_a_rotation_reloads_and_unlocks_the_key_again(lab_hosts, secrets):
    host, client = lab_hosts.hosts[HOST], lab_hosts.clients["allowed"]
    before, served = start_time(host), served_fingerprint(client, host)
    (secrets["tmp"] / "ca" / f"{HOST}.crt").unlink()  # the next run issues a new certificate
    harden(lab_hosts, secrets)
    assert start_time(host) == before and served_fingerprint(client, host) not in ("", served)
    assert connects(lab_hosts, secrets)


def sign_on_the_controller(secrets, csr_pem: str, days: int) -> str:
    """The CA (kept on the controller by pgsec_tls_generate) signs what the outside tool asked for."""
    ca = secrets["tmp"] / "ca"
    work = secrets["tmp"] / f"renew-{days}"
    work.mkdir()
    (work / "req.csr").write_text(csr_pem)
    (work / "ext").write_text(f"subjectAltName=DNS:{HOST},IP:198.18.1.12\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(work / "req.csr"), "-CA", str(ca / "ca.crt"),
                    "-CAkey", str(ca / "ca.key"), "-CAcreateserial", "-days", str(days), "-extfile",
                    str(work / "ext"), "-out", str(work / "new.crt")], check=True, capture_output=True)
    return (work / "new.crt").read_text()


def test_a_renewal_by_an_outside_tool_is_served_after_the_hook(lab_hosts, secrets):
    host, client = lab_hosts.hosts[HOST], lab_hosts.clients["allowed"]
    # The outside tool: openssl makes a new key and request on the host; the CA signs; the tool calls the hook.
    csr = host.ssh("mkdir -p /root/renew && cd /root/renew && openssl req -new -newkey ec -pkeyopt "
                   "ec_paramgen_curve:prime256v1 -nodes -keyout new.key -subj /CN=pg2 2>/dev/null").stdout
    cert = sign_on_the_controller(secrets, csr, 1000)  # outlives the controller's certificate (397 days)
    host.ssh(f"cat > /root/renew/new.crt <<'EOF'\n{cert}EOF\n")
    wanted = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=cert, text=True,
                            capture_output=True, check=True).stdout.strip()
    before = start_time(host)
    good = host.ssh("pgsec-tls-renew --cluster 15/main --cert /root/renew/new.crt --key /root/renew/new.key",
                    check=False)
    assert good.returncode == 0, good.stderr
    assert "the new certificate is served after a reload (no restart)" in good.stdout
    assert served_fingerprint(client, host).split("=")[1] == wanted.split("=")[1]
    assert start_time(host) == before and connects(lab_hosts, secrets)
    # The key the hook placed is encrypted with the stored passphrase, like the one the role placed.
    assert host.ssh("head -1 /etc/postgresql/15/main/pgsec-tls/server.key").stdout.strip() == \
        "-----BEGIN ENCRYPTED PRIVATE KEY-----"

    # A bad renewal: a key that does not belong to the certificate. The old (good) pair stays served.
    host.ssh("cd /root/renew && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out other.key")
    bad = host.ssh("pgsec-tls-renew --cluster 15/main --cert /root/renew/new.crt --key /root/renew/other.key",
                   check=False)
    assert bad.returncode == 1
    assert "the new pair was refused, the old one stays served" in bad.stderr
    assert "does not match the new certificate" in bad.stderr, bad.stderr
    assert served_fingerprint(client, host).split("=")[1] == wanted.split("=")[1]
    assert start_time(host) == before and connects(lab_hosts, secrets)

    # The next converge keeps the renewed pair (it outlives the controller's) and changes nothing.
    again = harden(lab_hosts, secrets)
    assert changed_count(again.stdout, HOST) == 0
    assert "renewed on the host" in again.stdout + again.stderr
    assert served_fingerprint(client, host).split("=")[1] == wanted.split("=")[1]


def test_without_a_passphrase_the_store_goes_and_the_server_still_starts(lab_hosts, secrets):
    host = lab_hosts.hosts[HOST]
    (secrets["tmp"] / "ca" / f"{HOST}.crt").unlink()  # a plain key needs a certificate of its own
    path = write(secrets["tmp"] / "plain.yml", policy(secrets["tmp"]))
    lab_hosts.playbook("pgsec.hardening.harden", "-l", HOST, "-e", f"@{path}")
    assert host.psql("show ssl_passphrase_command") == ""
    gone = host.ssh("ls /etc/systemd/system/postgresql@15-main.service.d/ /etc/credstore.encrypted/ 2>/dev/null; true")
    assert "pgsec-tls" not in gone.stdout
    lab("restart", HOST)  # a drop-in left without its credential would keep the unit from starting
    host.ssh("for i in $(seq 60); do runuser -u postgres -- pg_isready -q && exit 0; sleep 0.5; done; exit 1")
    assert connects(lab_hosts, secrets)
