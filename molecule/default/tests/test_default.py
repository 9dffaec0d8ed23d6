"""Verify on the scenario's hosts: what the collection reports is the host itself, and the host
is reachable exactly as the policy says, over TCP from the lab's clients and over its sockets."""
import json
import os
import subprocess

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")

LAB_STATE = os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab")

CONNECT_UNIX = ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX)\n"
                "try:\n s.connect(sys.argv[1]); print('open')\n"
                "except PermissionError:\n print('denied')\n")


def lab_state():
    with open(os.path.join(LAB_STATE, "state.json")) as handle:
        return json.load(handle)


def addresses(host):
    return lab_state()["hosts"][host.backend.get_hostname()]["addresses"]


def access_facts(host):
    result = host.ansible("pgsec.hardening.postgresql_access_facts", check=True)
    return result["ansible_facts"]["pgsec"]


def running_clusters(host):
    return [c for c in access_facts(host)["clusters"] if c["running"]]


def from_client(client, address, port):
    """'open', 'refused' or 'timeout' for a TCP connection from one of the lab's client namespaces."""
    netns = lab_state()["clients"][client]["netns"]
    probe = ("import socket,sys\n"
             "try:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), 3); print('open')\n"
             "except ConnectionRefusedError:\n print('refused')\n"
             "except OSError:\n print('timeout')\n")
    return subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", probe, address, str(port)],
                          capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def test_postgresql_runs_and_answers(host):
    clusters = running_clusters(host)
    assert len(clusters) == 1
    cluster = clusters[0]
    socket_dir = os.path.dirname(cluster["listeners"]["unix"][0]["path"])
    with host.sudo("postgres"):
        out = host.check_output(f"psql -XAt -h {socket_dir} -c 'show server_version_num'")
    assert int(out) == cluster["server_version_num"]


def test_reported_listeners_are_the_real_ones(host):
    cluster = running_clusters(host)[0]
    for listener in cluster["listeners"]["tcp"]:
        # testinfra splits the port off at the last colon, so IPv6 goes without brackets
        assert host.socket("tcp://%s:%d" % (listener["address"], listener["port"])).is_listening
    for listener in cluster["listeners"]["unix"]:
        assert host.socket("unix://" + listener["path"]).is_listening
        assert oct(host.file(listener["path"]).mode) == oct(int(listener["stat"]["mode"], 8))


def test_reported_configuration_is_the_real_one(host):
    cluster = running_clusters(host)[0]
    conf = host.file(cluster["config_file"])
    assert conf.exists and conf.user == "postgres"
    listen = cluster["settings"]["listen_addresses"]
    line = host.file(listen["sourcefile"]).content_string.splitlines()[listen["sourceline"] - 1]
    assert line.split("=", 1)[0].strip() == "listen_addresses"
    assert "BEGIN" not in json.dumps(cluster)


def test_listens_only_where_the_allowed_client_comes_from(host):
    cluster = running_clusters(host)[0]
    app = addresses(host)["app"]
    assert [(item["address"], item["port"]) for item in cluster["listeners"]["tcp"]] == [(app, 5432)]
    assert host.socket("tcp://0.0.0.0:5432").is_listening is False
    assert from_client("allowed", app, 5432) == "open"
    assert from_client("denied", addresses(host)["ext"], 5432) == "refused"


def test_sockets_belong_to_the_socket_group(host):
    cluster = running_clusters(host)[0]
    for listener in cluster["listeners"]["unix"]:
        socket_file = host.file(listener["path"])
        assert (socket_file.user, socket_file.group, socket_file.mode) == ("postgres", "pgsocket", 0o770)
    assert "pgsocket" in host.user("postgres").groups


def test_a_group_member_connects_over_the_socket_and_an_outsider_does_not(host):
    path = running_clusters(host)[0]["listeners"]["unix"][0]["path"]
    quoted = CONNECT_UNIX.replace("'", "'\\''")
    assert host.check_output(f"cd / && runuser -u appuser -- python3 -c '{quoted}' {path}") == "open"
    assert host.check_output(f"cd / && runuser -u outsider -- python3 -c '{quoted}' {path}") == "denied"


def test_tls_with_verify_full_from_the_allowed_client(host):
    if host.ansible.get_variables().get("pgsec_tls_enabled") is False:
        return  # a server built without SSL support
    state = lab_state()
    ca = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "pgsec-tls", "ca.crt")
    with open(os.path.join(LAB_STATE, "postgres-password")) as handle:
        password = handle.read().strip()
    conninfo = (f"host={addresses(host)['app']} user=postgres dbname=postgres sslmode=verify-full "
                f"sslrootcert={ca} connect_timeout=5")
    netns = state["clients"]["allowed"]["netns"]
    proc = subprocess.run(["ip", "netns", "exec", netns, "env", f"PGPASSWORD={password}", "psql", "-XAtq", conninfo,
                           "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"],
                          capture_output=True, text=True, check=False, timeout=30)
    assert proc.stdout.strip() == "t", proc.stderr
    plain = subprocess.run(["ip", "netns", "exec", netns, "env", f"PGPASSWORD={password}", "psql", "-XAtq",
                            conninfo.replace("sslmode=verify-full", "sslmode=disable"), "-c", "select 1"],
                           capture_output=True, text=True, check=False, timeout=30)
    assert plain.returncode != 0 and "rejects connection" in plain.stderr
