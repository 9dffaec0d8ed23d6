"""The README's install path, exactly as written: a fresh virtualenv with only ansible-core, the built
artifact installed with its dependencies (taken offline from the pinned `ansible` package, as a
downloaded artifact would be), then a lab host hardened with pgsec_tls_generate from there.
Without the dependency the run fails before any change, naming the missing collection.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from labhosts import REPO, collection_from_the_ansible_package, lab, run

BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
PINNED_CORE = next(line.split("==")[1].strip() for line in (REPO / "requirements-dev.txt").read_text().splitlines()
                   if line.startswith("ansible-core=="))
HOST = "pg1"
ALLOWED = "198.18.1.100/32"
WATCHED = ("sha256sum /etc/postgresql/*/*/postgresql.conf /etc/postgresql/*/*/pg_hba.conf /etc/postgresql/*/*/pgsec.d/* "
           "/etc/postgresql/*/*/pgsec-tls/* /etc/tmpfiles.d/pgsec* 2>/dev/null; nft list ruleset; ss -ltnH | sort; "
           "cat /var/lib/postgresql/*/*/postmaster.pid | head -3; true")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> dict:
    """A user's controller: a new virtualenv with `pip install ansible-core` and nothing else."""
    base = tmp_path_factory.mktemp("fresh")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", f"ansible-core=={PINNED_CORE}"],
        timeout=900)
    artifacts = base / "artifacts"
    artifacts.mkdir()
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(artifacts), str(REPO)], cwd=artifacts)
    crypto = collection_from_the_ansible_package("community.crypto", artifacts)
    return {"base": base, "bin": venv / "bin", "pgsec": artifacts / TARBALL, "crypto": crypto}


def user_env(fresh: dict, collections: Path) -> dict:
    """Nothing of the checkout or the test venv: the fresh venv first on PATH, its own collections path."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV"))}
    home = fresh["base"] / "home"
    home.mkdir(exist_ok=True)
    env.update(PATH=f"{fresh['bin']}:/usr/sbin:/usr/bin:/sbin:/bin", HOME=str(home), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_CONFIG=str(REPO / "tests" / "ansible.cfg"))
    return env


def install(fresh: dict, name: str, *artifacts: Path, no_deps: bool = False) -> Path:
    collections = fresh["base"] / name
    cmd = [str(fresh["bin"] / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections)]
    run(cmd + (["--no-deps"] if no_deps else []) + [str(path) for path in artifacts],
        cwd=fresh["base"], env=user_env(fresh, collections))
    return collections


def harden(lab_hosts, fresh: dict, collections: Path, tmp_path: Path, check: bool = True):
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({"pgsec_clients": [{"name": "app", "sources": [ALLOWED]}],
                                      "pgsec_tls_generate": True, "pgsec_tls_generate_dir": str(tmp_path / "ca")}))
    return run([str(fresh["bin"] / "ansible-playbook"), "-i", str(lab_hosts.inventory), "-l", HOST,
                "pgsec.hardening.harden", "-e", f"@{policy}"],
               check=check, cwd=tmp_path, env=user_env(fresh, collections))


def test_without_community_crypto_the_run_stops_before_any_change_naming_it(lab_hosts, fresh, tmp_path):
    collections = install(fresh, "without-deps", fresh["pgsec"], no_deps=True)
    assert not (collections / "ansible_collections" / "community").exists()
    host = lab_hosts.hosts[HOST]
    before = host.ssh(WATCHED).stdout
    proc = harden(lab_hosts, fresh, collections, tmp_path, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "pgsec_tls_generate: true needs the collection community.crypto (>=2.22.0,<4.0.0)" in output, output[-3000:]
    assert "Traceback" not in output
    assert re.search(rf"^{HOST}\s*:.*changed=0\s", proc.stdout, re.M), proc.stdout[-2000:]
    assert host.ssh(WATCHED).stdout == before


def test_installed_with_its_dependency_it_hardens_with_generated_tls(lab_hosts, fresh, tmp_path):
    collections = install(fresh, "with-deps", fresh["pgsec"], fresh["crypto"])
    installed = collections / "ansible_collections"
    assert (installed / "pgsec" / "hardening" / "MANIFEST.json").exists()
    assert (installed / "community" / "crypto" / "MANIFEST.json").exists()
    try:
        harden(lab_hosts, fresh, collections, tmp_path)
        host, client = lab_hosts.hosts[HOST], lab_hosts.clients["allowed"]
        conninfo = (f"host={host.app} user=postgres dbname=postgres connect_timeout=5 sslmode=verify-full "
                    f"sslrootcert={tmp_path / 'ca' / 'ca.crt'}")
        proc = client.psql(conninfo, "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
                           lab_hosts.postgres_password)
        assert (proc.returncode, proc.stdout.strip()) == (0, "t"), proc.stderr
        again = harden(lab_hosts, fresh, collections, tmp_path)
        assert re.search(rf"^{HOST}\s*:.*changed=0\s", again.stdout, re.M), again.stdout[-3000:]
    finally:
        lab("reset", HOST)
