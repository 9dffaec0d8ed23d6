"""The collection as users get it: the execution environment's build context, the built artifact
installed offline, and runs through ansible-runner laid out as AWX lays them out.

Without the lab: test_ee_*, test_built_* and test_installed_*. With the lab (lab_hosts):
test_audit_from_the_installed_collection and test_runner_*.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from labhosts import REPO, collection_from_the_ansible_package, run

BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if (path / "meta" / "argument_specs.yml").exists())
MODULES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
AUDITED = ["pg1", "pg2", "pg3", "pg5"]  # as in test_audit: every distribution and layout
# The policy of test_audit's check run: TLS needs certificates, the firewall has its own tests.
CHECK_POLICY = {"pgsec_tls_enabled": False, "pgsec_firewall_backend": "none"}
CONFIG_FILES = ("sha256sum /etc/postgresql/*/*/postgresql.conf /etc/postgresql/*/*/pg_hba.conf "
                "/etc/postgresql/*/*/pgsec.d/* /var/lib/pgsql/18/data/postgresql*.conf 2>/dev/null; true")


def tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


def only_installed(collections: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with the installed collection and nothing else: no checkout on any path."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("ANSIBLE_") and key != "PYTHONPATH"}
    env.update(ANSIBLE_CONFIG=str(REPO / "tests" / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False", ANSIBLE_NOCOLOR="1", **extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("artifact")
    run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO)], cwd=out)
    tarball = out / TARBALL
    assert tarball.exists(), sorted(out.iterdir())
    return tarball


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    collections = tmp_path_factory.mktemp("collections")
    crypto = collection_from_the_ansible_package("community.crypto", tmp_path_factory.mktemp("dependencies"))
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections), str(built), str(crypto)],
        cwd=collections, env=only_installed(collections))
    assert (collections / "ansible_collections" / "pgsec" / "hardening" / "MANIFEST.json").exists()
    return collections


# ---------------------------------------------------------------------------- execution environment

def test_ee_build_context_has_the_collection_requirements(built, tmp_path):
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    ee = tmp_path / "ee"
    ee.mkdir()
    shutil.copy(REPO / "execution-environment.yml", ee)
    for name in (definition["dependencies"]["python"], definition["dependencies"]["system"],
                 definition["dependencies"]["galaxy"]):
        shutil.copy(REPO / name, ee)
    shutil.copy(built, ee)
    run([tool("ansible-builder"), "create", "--file", str(ee / "execution-environment.yml"),
         "--context", str(ee / "context"), "--output-filename", "Containerfile"], cwd=ee)

    context = ee / "context"
    containerfile = (context / "Containerfile").read_text()
    assert (context / "_build" / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert (context / "_build" / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    assert (context / "_build" / "collections" / TARBALL).read_bytes() == built.read_bytes()
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "COPY _build/bindep.txt bindep.txt" in containerfile
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile

    base = re.search(r'^ARG EE_BASE_IMAGE="([^"]*)"$', containerfile, re.M)
    assert base and base.group(1) == definition["images"]["base_image"]["name"]
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    first = base.group(1).split("/")[0]
    assert "/" not in base.group(1) or not ("." in first or ":" in first), "no registry in the default"

    pins = dict(line.strip().split("==") for line in (REPO / "requirements-dev.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"$', containerfile, re.M).group(1).split()
    assert sorted(refs) == sorted([f"ansible-core=={pins['ansible-core']}", f"ansible-runner=={pins['ansible-runner']}"])
    assert re.search(r"^RUN ansible-galaxy collection install --offline .*pgsec-hardening-\*\.tar\.gz", containerfile, re.M)
    # The collections it runs come from the galaxy requirements, before the artifact's offline install needs them.
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", containerfile), containerfile
    assert (context / "_build" / "requirements.yml").exists()


def test_ee_requirement_files_parse():
    from bindep.depends import Depends
    from packaging.requirements import Requirement

    Depends((REPO / "bindep.txt").read_text())
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            Requirement(line.split("#", 1)[0].strip())


# ---------------------------------------------------------------------------- the built artifact

def test_built_artifact_ships_docs_and_examples_not_the_workshop(built):
    with tarfile.open(built) as archive:
        names = set(archive.getnames())
    for path in ("MANIFEST.json", "FILES.json", "README.md", "docs/awx.md", "docs/variables.md",
                 "execution-environment.yml", "meta/execution-environment.yml", "meta/runtime.yml",
                 "requirements.txt", "bindep.txt", "playbooks/harden.yml", "playbooks/audit.yml",
                 "examples/awx/job_templates.yml", "examples/awx/collections/requirements.yml",
                 "examples/awx/surveys/harden.json", "examples/awx/surveys/audit.json"):
        assert path in names, path
    for role in ROLES:
        assert f"roles/{role}/meta/argument_specs.yml" in names
    for prefix in (".build", ".pytest_cache", "lab/", "molecule/", "context/", "tests/output"):
        assert not [name for name in names if name.startswith(prefix)], prefix


@pytest.mark.parametrize("role", ROLES)
def test_installed_roles_are_documented(installed, role):
    proc = run([tool("ansible-doc"), "-t", "role", "--json", f"pgsec.hardening.{role}"],
               cwd=installed, env=only_installed(installed))
    doc = json.loads(proc.stdout)[f"pgsec.hardening.{role}"]
    assert doc["collection"] == "pgsec.hardening"
    assert "main" in doc["entry_points"] and doc["entry_points"]["main"].get("short_description")
    assert Path(doc["path"]).resolve().is_relative_to(installed.resolve()), doc["path"]


@pytest.mark.parametrize("module", MODULES)
def test_installed_modules_are_documented(installed, module):
    proc = run([tool("ansible-doc"), "--json", f"pgsec.hardening.{module}"], cwd=installed, env=only_installed(installed))
    doc = json.loads(proc.stdout)[f"pgsec.hardening.{module}"]["doc"]
    assert doc["module"] == module and doc["short_description"]
    assert Path(doc["filename"]).resolve().is_relative_to(installed.resolve()), doc["filename"]


@pytest.mark.parametrize("playbook", ["harden", "audit"])
def test_installed_playbooks_load(installed, playbook):
    run([tool("ansible-playbook"), "-i", "localhost,", "--syntax-check", f"pgsec.hardening.{playbook}"],
        cwd=installed, env=only_installed(installed))


# ---------------------------------------------------------------------------- lab: the installed collection

def test_audit_from_the_installed_collection(lab_hosts, installed, tmp_path):
    reports = tmp_path / "reports"
    run([tool("ansible-playbook"), "-i", str(lab_hosts.inventory), "pgsec.hardening.audit",
         "-e", f"pgsec_audit_report_dir={reports}", "-e", "pgsec_target_hosts=" + ",".join(AUDITED)],
        cwd=tmp_path, env=only_installed(installed))
    report = json.loads((reports / "pgsec-access-report.json").read_text())
    assert set(report["summary"]["hosts"]) == set(AUDITED)
    for host in AUDITED:
        assert report["summary"]["hosts"][host]["state"] == "audited", report["summary"]["hosts"][host]
        assert report["hosts"][host], host


# ---------------------------------------------------------------------------- lab: ansible-runner as AWX

@pytest.fixture(scope="module")
def lab_inventory(lab_hosts) -> dict:
    """The lab's inventory as AWX hands it to a job: the JSON of an inventory script."""
    return json.loads(run([tool("ansible-inventory"), "-i", str(lab_hosts.inventory), "--list"]).stdout)


def sliced(inventory: dict, hosts: list[str]) -> dict:
    """The inventory of one slice of a sliced job: the same groups with only the slice's hosts."""
    data = json.loads(json.dumps(inventory))
    for name, group in data.items():
        if name != "_meta" and "hosts" in group:
            group["hosts"] = [host for host in group["hosts"] if host in hosts]
    data["_meta"]["hostvars"] = {host: hostvars for host, hostvars in data["_meta"]["hostvars"].items()
                                 if host in hosts}
    return data


def private_data_dir(base: Path, inventory: dict, extravars: dict, collections: Path) -> Path:
    """A private data directory as AWX writes it for a job."""
    shutil.copytree(REPO / "examples" / "awx", base / "project")
    (base / "inventory").mkdir()
    script = base / "inventory" / "hosts"
    script.write_text("#!/usr/bin/env python3\nimport json, sys\n"
                      f"DATA = json.loads({json.dumps(json.dumps(inventory))})\n"
                      "print(json.dumps({} if '--host' in sys.argv else DATA))\n")
    script.chmod(stat.S_IRWXU)
    (base / "env").mkdir()
    (base / "env" / "extravars").write_text(json.dumps(extravars))
    (base / "env" / "settings").write_text(json.dumps({"idle_timeout": 0, "job_timeout": 1800,
                                                       "pexpect_timeout": 10, "suppress_ansible_output": True}))
    (base / "env" / "envvars").write_text(json.dumps({
        "ANSIBLE_CONFIG": str(REPO / "tests" / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
    }))
    return base


def stats_artifact(runner) -> dict:
    """What set_stats published: the artifact_data of the playbook_on_stats event (AWX's job artifacts)."""
    events = [event for event in runner.events if event.get("event") == "playbook_on_stats"]
    assert len(events) == 1
    return events[0]["event_data"].get("artifact_data") or {}


def per_host(artifact: dict) -> dict[str, dict]:
    return {value["host"]: value for key, value in artifact.items() if key.startswith("pgsec_audit_host_")}


def assert_successful(runner, private: Path, ident: str, hosts: list[str]) -> None:
    stdout = (private / "artifacts" / ident / "stdout").read_text()[-6000:]
    assert runner.status == "successful" and runner.rc == 0, stdout
    assert (private / "artifacts" / ident / "rc").read_text().strip() == "0"
    stats = runner.stats
    assert set(stats["processed"]) == set(hosts), stats
    assert not stats["failures"] and not stats["dark"], stats


def test_runner_harden_in_check_mode(lab_hosts, lab_inventory, installed, tmp_path):
    import ansible_runner

    private = private_data_dir(tmp_path / "private", lab_inventory, CHECK_POLICY, installed)
    before = {name: lab_hosts.hosts[name].ssh(CONFIG_FILES).stdout for name in AUDITED}
    runner = ansible_runner.run(private_data_dir=str(private), playbook="playbooks/harden.yml", ident="harden-check",
                                cmdline="--check --diff", limit=",".join(AUDITED), quiet=True)
    assert_successful(runner, private, "harden-check", AUDITED)
    assert set(runner.stats["ok"]) == set(AUDITED)
    assert {name: lab_hosts.hosts[name].ssh(CONFIG_FILES).stdout for name in AUDITED} == before


def test_runner_audit_with_a_limit_reports_the_limited_hosts(lab_hosts, lab_inventory, installed, tmp_path):
    import ansible_runner

    private = private_data_dir(tmp_path / "private", lab_inventory, {}, installed)
    runner = ansible_runner.run(private_data_dir=str(private), playbook="playbooks/audit.yml", ident="audit-limit",
                                limit="pg2", quiet=True)
    assert_successful(runner, private, "audit-limit", ["pg2"])
    assert not runner.stats["changed"], "the audit changes no host"
    artifact = stats_artifact(runner)
    assert artifact["pgsec_audit"]["hosts"] == 1 and artifact["pgsec_audit"]["audited"] == 1
    assert set(per_host(artifact)) == {"pg2"}
    # The default report directory is the project directory, where AWX and ansible-runner start the playbook.
    report = json.loads((private / "project" / "pgsec-reports" / "pgsec-access-report.json").read_text())
    assert set(report["summary"]["hosts"]) == {"pg2"}


def test_runner_audit_artifacts_of_a_sliced_job_hold_every_host(lab_hosts, lab_inventory, installed, tmp_path):
    import ansible_runner

    slices = [AUDITED[0::2], AUDITED[1::2]]  # AWX deals the hosts out to the slices in turn
    merged: dict = {}
    for number, hosts in enumerate(slices, 1):
        private = private_data_dir(tmp_path / f"slice{number}", sliced(lab_inventory, hosts),
                                   {"pgsec_audit_fail_on": "none"}, installed)
        ident = f"audit-slice{number}"
        runner = ansible_runner.run(private_data_dir=str(private), playbook="playbooks/audit.yml", ident=ident,
                                    quiet=True)
        assert_successful(runner, private, ident, hosts)
        assert not runner.stats["changed"]
        artifact = stats_artifact(runner)
        assert artifact["pgsec_audit"]["hosts"] == len(hosts)
        assert set(per_host(artifact)) == set(hosts)
        assert all(entry["state"] == "audited" and entry["clusters"] for entry in per_host(artifact).values())
        merged.update(artifact)  # how AWX combines the artifacts of the slices (a shallow update)
    assert set(per_host(merged)) == set(AUDITED)
    assert merged["pgsec_audit"]["hosts"] == len(slices[-1]), "the summary is the last slice's"
