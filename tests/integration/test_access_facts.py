"""postgresql_access_facts reports what the host really has: checked against psql, ss, stat, openssl."""
from __future__ import annotations

import json

import pytest


def cluster(facts: dict, cluster_id: str) -> dict:
    found = [c for c in facts["clusters"] if c["id"] == cluster_id]
    assert found, [c["id"] for c in facts["clusters"]]
    return found[0]


def ss_listeners(host, port: int) -> set[tuple[str, int]]:
    """(address, port) of TCP listeners on PORT as ss sees them."""
    out = host.ssh(f"ss -Htln 'sport = :{port}'").stdout
    found = set()
    for line in out.splitlines():
        local = line.split()[3]
        address, lport = local.rsplit(":", 1)
        found.add((address.strip("[]").replace("*", "0.0.0.0"), int(lport)))
    return found


def stat_of(host, path: str) -> dict:
    owner, group, mode = host.ssh(f"stat -c '%U %G %a' {path}").stdout.split()
    return {"owner": owner, "group": group, "mode": mode.zfill(4)}


@pytest.fixture(scope="module")
def facts(lab_hosts):
    return {name: lab_hosts.access_facts(name) for name in ("pg1", "pg2", "pg3", "pg4", "pg5")}


def test_insecure_host_settings_listeners_sockets_and_hba_match_the_host(lab_hosts, facts):
    host = lab_hosts.hosts["pg1"]
    main = cluster(facts["pg1"], "15/main")
    assert main["running"] and main["layout"] == "debian" and main["settings_from"] == "pg_settings"
    pid = int(host.ssh("head -1 /var/lib/postgresql/15/main/postmaster.pid").stdout)
    assert main["pid"] == pid
    listen = main["settings"]["listen_addresses"]
    assert listen["value"] == host.psql("show listen_addresses") == "*"
    assert listen["context"] == "postmaster"
    line = int(host.ssh("grep -n \"^listen_addresses = '\\*'\" /etc/postgresql/15/main/postgresql.conf"
                        " | cut -d: -f1").stdout)
    assert (listen["sourcefile"], listen["sourceline"]) == ("/etc/postgresql/15/main/postgresql.conf", line)
    assert {(l["address"], l["port"]) for l in main["listeners"]["tcp"]} == ss_listeners(host, 5432)
    assert all(l["wildcard"] for l in main["listeners"]["tcp"])
    sock = main["listeners"]["unix"][0]
    assert sock["path"] == "/var/run/postgresql/.s.PGSQL.5432"
    assert {k: sock["stat"][k] for k in ("owner", "group", "mode")} == stat_of(host, sock["path"])
    assert sock["stat"]["mode"] == "0777"
    directory = main["socket_directories"][0]
    assert {k: directory[k] for k in ("owner", "group", "mode")} == stat_of(host, "/var/run/postgresql")
    everywhere = [r for r in main["hba"]["rules"] if r.get("cidr") in ("0.0.0.0/0", "::/0")]
    assert [(r["type"], r["method"]) for r in everywhere] == [("host", "md5"), ("host", "md5")]
    hba_line = int(host.ssh("grep -n '0.0.0.0/0' /etc/postgresql/15/main/pg_hba.conf | cut -d: -f1").stdout)
    assert everywhere[0]["line"] == hba_line
    assert main["tls"]["enabled"] is False
    assert main["errors"] == []
    assert facts["pg1"]["firewall"]["backend"] == "none"
    assert facts["pg1"]["firewall"]["ports"]["5432"]["filtered"] is False


def test_tls_material_matches_openssl(lab_hosts, facts):
    host = lab_hosts.hosts["pg2"]
    tls = cluster(facts["pg2"], "15/main")["tls"]
    assert tls["enabled"] and tls["library"] == "OpenSSL"
    cert_path = host.psql("show ssl_cert_file")
    key_path = host.psql("show ssl_key_file")
    assert tls["certificate"]["path"] == cert_path
    end = host.ssh(f"openssl x509 -in {cert_path} -noout -enddate -dateopt iso_8601").stdout
    assert tls["certificate"]["not_after"].startswith(end.split("=", 1)[1].strip()[:19].replace(" ", "T"))
    fingerprint = host.ssh(f"openssl x509 -in {cert_path} -noout -fingerprint -sha256").stdout
    assert tls["certificate"]["fingerprint_sha256"].replace(":", "").lower() in \
        fingerprint.split("=", 1)[1].replace(":", "").lower()
    bits = host.ssh(f"openssl x509 -in {cert_path} -noout -text | grep -o 'Public-Key: ([0-9]*'").stdout
    assert str(tls["certificate"]["key_bits"]) in bits
    assert tls["key"]["matches_certificate"] is True
    key_stat = tls["files"]["ssl_key_file"]
    assert {k: key_stat[k] for k in ("owner", "group", "mode")} == stat_of(host, key_path)
    assert "BEGIN" not in json.dumps(tls), "no key or certificate material in the facts"


def test_pg18_datadir_layout_and_postgresql_18_settings(lab_hosts, facts):
    host = lab_hosts.hosts["pg3"]
    pg18 = cluster(facts["pg3"], "/var/lib/pgsql/18/data")
    assert pg18["layout"] == "pgdata" and pg18["version"] == "18" and pg18["running"]
    assert pg18["config_file"] == host.psql("show config_file", socket_dir="/tmp")
    assert pg18["bindir"] == "/usr/pgsql-18/bin"
    assert pg18["server_version_num"] == int(host.psql("show server_version_num", socket_dir="/tmp"))
    for name in ("ssl_groups", "ssl_tls13_ciphers"):  # names that appeared in PostgreSQL 18
        assert name in pg18["settings"]
    assert "ssl_ecdh_curve" not in pg18["settings"] or pg18["settings"]["ssl_ecdh_curve"]
    assert pg18["tls"]["library"] == "", "this build has no OpenSSL and the facts must say so"
    assert {(l["address"], l["port"]) for l in pg18["listeners"]["tcp"]} == ss_listeners(host, 5432)
    assert pg18["listeners"]["unix"][0]["path"] == "/tmp/.s.PGSQL.5432"


def test_stopped_cluster_is_read_from_its_files(lab_hosts, facts):
    host = lab_hosts.hosts["pg3"]
    stopped = cluster(facts["pg3"], "15/main")
    assert not stopped["running"] and stopped["settings_from"] == "configuration files"
    for name in ("port", "listen_addresses", "unix_socket_permissions", "ssl", "max_connections"):
        expected = host.ssh(f"cd / && runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres "
                            f"-D /etc/postgresql/15/main -C {name}").stdout.strip()
        got = stopped["settings"][name]["value"]
        if name == "unix_socket_permissions":
            expected = "%04o" % int(expected)
        assert (name, got) == (name, expected)
    assert stopped["settings"]["port"]["context"] == "postmaster"
    assert stopped["errors"] == []


def test_two_clusters_each_with_its_own_listeners(lab_hosts, facts):
    host = lab_hosts.hosts["pg4"]
    ports = {c["id"]: int(c["settings"]["port"]["value"]) for c in facts["pg4"]["clusters"]}
    assert ports == {"15/main": 5432, "15/second": 5433}
    for cluster_id, port in ports.items():
        found = cluster(facts["pg4"], cluster_id)
        assert {(l["address"], l["port"]) for l in found["listeners"]["tcp"]} == ss_listeners(host, port)
        assert found["listeners"]["unix"][0]["path"].endswith(f".s.PGSQL.{port}")
    assert set(facts["pg4"]["firewall"]["ports"]) == {"5432", "5433"}


def test_alter_system_override_is_visible_as_such(lab_hosts):
    host = lab_hosts.hosts["pg2"]
    host.psql("ALTER SYSTEM SET log_connections = on")
    host.psql("SELECT pg_reload_conf()")
    try:
        setting = cluster(lab_hosts.access_facts("pg2"), "15/main")["settings"]["log_connections"]
        assert setting["value"] == "on"
        assert setting["sourcefile"] == "/var/lib/postgresql/15/main/postgresql.auto.conf"
        assert setting["from_auto_conf"] is True
    finally:
        host.psql("ALTER SYSTEM RESET log_connections")
        host.psql("SELECT pg_reload_conf()")


def test_firewall_rules_for_the_port_are_reported_as_clients_experience_them(lab_hosts):
    host = lab_hosts.hosts["pg1"]
    allowed, neighbour = lab_hosts.clients["allowed"], lab_hosts.clients["neighbour"]
    host.ssh("nft -f - <<'EOF'\n"
             "table inet pgsec_facts_test {\n"
             " chain input { type filter hook input priority 0; policy accept;\n"
             f"  tcp dport 5432 ip saddr {allowed.address} accept\n"
             "  tcp dport 5432 drop\n }\n}\nEOF")
    try:
        summary = lab_hosts.access_facts("pg1")["firewall"]
        assert summary["backend"] == "nftables"
        port = summary["ports"]["5432"]
        assert port["ipv4"]["filtered"] is True
        assert port["ipv4"]["allowed_sources"] == [f"{allowed.address}/32"]
        assert allowed.connect(host.app, 5432) == "open"
        assert neighbour.connect(host.app, 5432, timeout=2) == "timeout"
    finally:
        host.ssh("nft delete table inet pgsec_facts_test")


def test_one_broken_cluster_does_not_hide_the_other(lab_hosts):
    host = lab_hosts.hosts["pg4"]
    conf = "/etc/postgresql/15/second/postgresql.conf"
    host.ssh(f"cp -p {conf} {conf}.orig && echo \"include 'does-not-exist.conf'\" >> {conf}")
    try:
        facts = lab_hosts.access_facts("pg4")
        second = cluster(facts, "15/second")
        assert any("does-not-exist.conf" in e["message"] for e in second["errors"])
        assert cluster(facts, "15/main")["errors"] == []
        assert second["settings"]["port"]["value"] == "5433"
    finally:
        host.ssh(f"mv {conf}.orig {conf}")


def test_check_mode_reports_the_same_and_changes_nothing(lab_hosts, facts):
    files = "/etc/postgresql/15/main/postgresql.conf /etc/postgresql/15/main/pg_hba.conf " \
            "/var/lib/postgresql/15/main/postgresql.auto.conf"
    host = lab_hosts.hosts["pg1"]
    before = host.ssh(f"sha256sum {files}; nft list ruleset | sha256sum").stdout
    checked = lab_hosts.access_facts("pg1", check_mode=True)
    assert host.ssh(f"sha256sum {files}; nft list ruleset | sha256sum").stdout == before
    assert cluster(checked, "15/main")["settings"]["listen_addresses"] == \
        cluster(facts["pg1"], "15/main")["settings"]["listen_addresses"]


def test_debian13_postgresql_17_is_seen_the_same_way(lab_hosts, facts):
    host = lab_hosts.hosts["pg5"]
    main = cluster(facts["pg5"], "17/main")
    assert main["version"] == "17" and main["running"]
    assert main["server_version_num"] == int(host.psql("show server_version_num"))
    assert main["settings"]["listen_addresses"]["value"] == "*"
    assert {(l["address"], l["port"]) for l in main["listeners"]["tcp"]} == ss_listeners(host, 5432)
    assert main["tls"]["library"] == "OpenSSL"
    version = host.ssh("openssl version").stdout.split()[1]
    assert version.startswith("3."), version
    cert = host.psql("show ssl_cert_file")
    subject = host.ssh(f"openssl x509 -in {cert} -noout -subject -nameopt RFC2253").stdout
    assert main["tls"]["certificate"]["subject"] == subject.split("=", 1)[1].strip()


def test_firewalld_is_detected_and_its_zone_decides_the_port(lab_hosts):
    host = lab_hosts.hosts["pg4"]
    client = lab_hosts.clients["allowed"]
    host.ssh("systemctl start firewalld && firewall-cmd --state")
    try:
        summary = lab_hosts.access_facts("pg4")["firewall"]
        assert summary["backend"] == "firewalld"
        assert summary["ports"]["5432"]["filtered"] is True
        # what the facts say is what a client meets: the default zone lets SSH in, not PostgreSQL
        host.ssh("sed -i \"s/^#\\?listen_addresses.*/listen_addresses = '*'/\" "
                 "/etc/postgresql/15/main/postgresql.conf && systemctl restart postgresql@15-main")
        assert client.connect(host.app, 22) == "open"
        assert client.connect(host.app, 5432, timeout=2) != "open"
    finally:
        host.ssh("systemctl stop firewalld; sed -i \"s/^listen_addresses = '\\*'/#listen_addresses = 'localhost'/\" "
                 "/etc/postgresql/15/main/postgresql.conf && systemctl restart postgresql@15-main")
    assert lab_hosts.access_facts("pg4")["firewall"]["backend"] == "none"
