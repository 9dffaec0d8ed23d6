"""Verify on the scenario's hosts: the collection's view of each host equals the host itself."""
import json
import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")


def access_facts(host):
    result = host.ansible("pgsec.hardening.postgresql_access_facts", check=True)
    return result["ansible_facts"]["pgsec"]


def running_clusters(host):
    return [c for c in access_facts(host)["clusters"] if c["running"]]


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
    if listen["sourcefile"]:
        line = host.file(listen["sourcefile"]).content_string.splitlines()[listen["sourceline"] - 1]
        assert line.split("=", 1)[0].strip() == "listen_addresses"
    assert "BEGIN" not in json.dumps(cluster)
