"""Access to the lab from tests: bring it up, reach hosts by SSH and clients by netns."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LAB = [os.environ.get("PGSEC_LAB_PYTHON", "python3"), str(REPO / "lab" / "lab.py")]
STATE_DIR = Path(os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab"))


def run(cmd: list[str], check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, text=True, capture_output=True, timeout=timeout, check=False, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}")
    return proc


def cut_new_ssh_once_firewall_loads(seconds: int) -> str:
    """A command for a lab host: once pgsec arms a firewall rollback (its rules are being loaded), refuse
    new SSH connections for SECONDS; the connection the rules were loaded over keeps working.

    It waits for the rollback's 'armed' marker, written before the rules load, with a cheap test every
    20 ms, and adds the cut in one nft transaction: the module's confirmation over a new connection
    comes a few hundred milliseconds later, so the cut is in place first (polling the timer unit with
    systemctl was slow enough to lose that race now and then)."""
    rollback_dir = "/var/lib/pgsec-hardening/firewall-rollback"
    cut = ("table inet pgsec_test_cut { chain input { type filter hook input priority 0; policy accept; "
           "tcp dport 22 ct state new drop; }; }")
    script = ("touch /run/pgsec-test-cut.start; "
              "for i in $(seq 1 30000); do "
              f"[ -n \"$(find {rollback_dir} -name armed -newer /run/pgsec-test-cut.start 2>/dev/null)\" ] && break; "
              "sleep 0.02; done; "
              f"echo {shlex.quote(cut)} | nft -f - && "
              f"sleep {seconds}; nft delete table inet pgsec_test_cut; rm -f /run/pgsec-test-cut.start")
    return f"systemd-run --unit pgsec-test-cut --collect /bin/sh -c {shlex.quote(script)}"


def recap(output: str, host: str) -> dict:
    """ok, changed, unreachable and failed of HOST in an ansible-playbook recap."""
    match = re.search(rf"^{host}\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    assert match, output[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


def changed_count(output: str, host: str) -> int:
    """The changed= count of HOST in an ansible-playbook recap."""
    return recap(output, host)["changed"]


def failed_count(output: str, host: str) -> int:
    """unreachable= plus failed= of HOST in an ansible-playbook recap."""
    counts = recap(output, host)
    return counts["unreachable"] + counts["failed"]


def lab(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(LAB + list(args), check=check, timeout=900)


@dataclass
class Host:
    name: str
    mgmt: str
    app: str
    ext: str
    profiles: list[str]
    dist: str

    def ssh(self, command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return run(["ssh", "-i", str(STATE_DIR / "id_ed25519"), "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                    "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"root@{self.mgmt}", command],
                   check=check, timeout=timeout)

    def psql(self, sql: str, port: int = 5432, socket_dir: str = "/var/run/postgresql") -> str:
        """SQL as the postgres superuser over the host's Unix socket; returns unaligned rows."""
        quoted = sql.replace("'", "'\\''")
        return self.ssh(f"cd / && runuser -u postgres -- psql -XAtq -h {socket_dir} -p {port} "
                        f"-c '{quoted}'").stdout.strip()


@dataclass
class Client:
    name: str
    netns: str
    address: str

    def run(self, *cmd: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", self.netns, *cmd], check=check, timeout=timeout)

    def connect(self, address: str, port: int, timeout: float = 3) -> str:
        """Open a TCP connection from this client: 'open', 'refused' or 'timeout'."""
        probe = ("import socket,sys\n"
                 "try:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3]))\n"
                 " print('open')\n"
                 "except ConnectionRefusedError:\n print('refused')\n"
                 "except OSError:\n print('timeout')\n")
        return self.run("python3", "-c", probe, address, str(port), str(timeout)).stdout.strip()

    def psql(self, conninfo: str, sql: str, password: str, psql: tuple[str, ...] = ("psql",)) -> subprocess.CompletedProcess:
        """Run SQL over libpq from this client, unaligned and tuples only; the password in PGPASSWORD."""
        return self.run("env", f"PGPASSWORD={password}", *psql, "-XAtq", conninfo, "-c", sql)

    def can_connect(self, address: str, port: int, timeout: float = 3) -> bool:
        return self.connect(address, port, timeout) == "open"


@dataclass
class Lab:
    inventory: Path
    hosts: dict[str, Host] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    postgres_password: str = ""

    @classmethod
    def load(cls) -> "Lab":
        state = json.loads((STATE_DIR / "state.json").read_text())
        hosts = {name: Host(name, e["addresses"]["mgmt"], e["addresses"]["app"],
                            e["addresses"]["ext"], e["profiles"], e["dist"])
                 for name, e in state["hosts"].items()}
        clients = {name: Client(name, c["netns"], c["address"]) for name, c in state["clients"].items()}
        return cls(STATE_DIR / "inventory.yml", hosts, clients,
                   (STATE_DIR / "postgres-password").read_text().strip())

    def ansible(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["ansible", "-i", str(self.inventory), *args], check=check)

    def module(self, host: str, module: str, args: str = "", check_mode: bool = False) -> dict:
        """Run one module on one host and return its result (JSON callback)."""
        env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
                   ANSIBLE_DEPRECATION_WARNINGS="0")
        cmd = ["ansible", "-i", str(self.inventory), host, "-m", module]
        if args:
            cmd += ["-a", args]
        if check_mode:
            cmd.append("--check")
        proc = run(cmd, check=False, env=env)
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"][host]
        assert not result.get("failed"), result.get("msg")
        return result

    def access_facts(self, host: str, check_mode: bool = False) -> dict:
        result = self.module(host, "pgsec.hardening.postgresql_access_facts", check_mode=check_mode)
        return result["ansible_facts"]["pgsec"]

    def playbook(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["ansible-playbook", "-i", str(self.inventory), *args], check=check)


def collection_from_the_ansible_package(name: str, out: Path) -> Path:
    """A collection artifact rebuilt from the copy the pinned `ansible` package carries.

    What `ansible-galaxy collection download` would give on a machine that reaches Galaxy; the package's
    copy lacks some files its FILES.json lists, so it is rebuilt from its MANIFEST.json rather than tarred.
    """
    namespace, collection = name.split(".")
    source = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections" / namespace / collection
    info = json.loads((source / "MANIFEST.json").read_text())["collection_info"]
    tree = out / "tree" / collection
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns("MANIFEST.json", "FILES.json"))
    galaxy = {key: info[key] for key in ("namespace", "name", "version", "authors", "readme", "description",
                                         "license", "tags", "dependencies", "repository") if info.get(key)}
    (tree / "galaxy.yml").write_text(yaml.safe_dump(galaxy))
    run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(tree)], cwd=out)
    return out / f"{namespace}-{collection}-{info['version']}.tar.gz"
