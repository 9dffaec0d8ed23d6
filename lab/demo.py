"""make demo: the collection's story on the lab, in one command.

Boots three insecure servers (Debian 12 / PostgreSQL 15, Debian 13 / PostgreSQL 17, PostgreSQL 18 with
its configuration in PGDATA), audits them, hardens them with lab/demo/policy.yml, audits again, and proves
from the client namespaces who can connect. Exits non-zero when a step fails or a proof does not hold;
with --expect-unchanged also when the hardening changed or restarted anything (a second run).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab"))
INVENTORY = STATE_DIR / "inventory.yml"
POLICY = REPO / "lab" / "demo" / "policy.yml"
REPORTS = STATE_DIR / "demo-reports"
HOSTS = ["pg1:insecure", "pg2:insecure:debian13", "pg3:pg18-datadir+insecure"]
PLAYBOOK = os.environ.get("PGSEC_DEMO_PLAYBOOK", "ansible-playbook")


def say(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def stream(cmd: list[str], env: dict | None = None) -> tuple[int, str]:
    """Run a command, show its output as it comes, and return (exit code, output)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    lines = []
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
    sys.stdout.flush()
    return proc.wait(), "".join(lines)


def ssh(address: str, command: str) -> str:
    return subprocess.run(["ssh", "-i", str(STATE_DIR / "id_ed25519"), "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
                           f"root@{address}", command], text=True, capture_output=True, check=True,
                          timeout=60).stdout


def postmaster_starts(address: str) -> dict[str, str]:
    """Data directory -> start time (line 3 of postmaster.pid) of every running cluster."""
    out = ssh(address, "for f in /var/lib/postgresql/*/*/postmaster.pid /var/lib/pgsql/*/data/postmaster.pid; do "
                       "[ -f \"$f\" ] && echo \"${f%/postmaster.pid} $(sed -n 3p \"$f\")\"; done; true")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def connect(netns: str, address: str, password: str, sslmode: str, ca: Path) -> str:
    """What a psql client in a namespace gets: 'TLSv1.3', 'plain', or why it was refused."""
    conninfo = (f"host={address} port=5432 user=postgres dbname=postgres connect_timeout=4 "
                f"sslmode={sslmode} sslrootcert={ca}")
    proc = subprocess.run(["ip", "netns", "exec", netns, "env", f"PGPASSWORD={password}", "psql", "-XAtq", conninfo,
                           "-c", "select coalesce((select version from pg_stat_ssl where pid = pg_backend_pid()"
                                 " and ssl), 'plain')"],
                          text=True, capture_output=True, timeout=30, check=False)
    if proc.returncode == 0:
        return proc.stdout.strip()
    error = proc.stderr
    for pattern, reason in (("timeout expired", "refused: timeout (firewall)"),
                            ("Connection refused", "refused: nothing listens"),
                            ("no pg_hba.conf entry", "refused: pg_hba"),
                            ("rejects connection", "refused: pg_hba"),
                            ("No route to host", "refused: no route")):
        if pattern in error:
            return reason
    return "refused: " + (error.strip().splitlines() or ["error"])[-1][:60]


def recap(output: str) -> dict[str, dict[str, int]]:
    counts = {}
    for match in re.finditer(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M):
        counts[match.group(1)] = {"changed": int(match.group(3)), "unreachable": int(match.group(4)),
                                  "failed": int(match.group(5))}
    return counts


def audit(label: str) -> dict:
    say(f"Audit ({label}): pgsec.hardening.audit")
    rc = stream([PLAYBOOK, "-i", str(INVENTORY), "pgsec.hardening.audit", "-e", f"@{POLICY}",
                 "-e", f"pgsec_audit_report_dir={REPORTS / label}"])[0]
    if rc != 0:
        sys.exit(f"demo: the audit ({label}) failed")
    return json.loads((REPORTS / label / "pgsec-access-report.json").read_text())["summary"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect-unchanged", action="store_true",
                        help="fail unless the hardening changes nothing and restarts nothing")
    args = parser.parse_args()
    started = time.monotonic()

    say("Lab: three servers as they are often found (listen '*', world sockets, no TLS, md5 from anywhere)")
    subprocess.run([sys.executable, str(REPO / "lab" / "lab.py"), "up"]
                   + [arg for spec in HOSTS for arg in ("--host", spec)], check=True)
    inventory = yaml.safe_load(INVENTORY.read_text())["all"]
    clients = inventory["vars"]["pgsec_lab_clients"]
    password = inventory["vars"]["pgsec_lab_postgres_password"]
    hosts = {name: host for name, host in inventory["hosts"].items() if name in {spec.split(":", maxsplit=1)[0] for spec in HOSTS}}
    tls_hosts = [name for name, host in hosts.items() if "pg18-datadir" not in host["pgsec_lab_profiles"]]
    ca = STATE_DIR / "pgsec-tls" / "ca.crt"

    def probes() -> dict[str, dict[str, str]]:
        """Every client against every host at once: a refused probe waits for its connect timeout."""
        jobs = {}
        with ThreadPoolExecutor(max_workers=16) as pool:
            for name, host in hosts.items():
                app, ext = host["pgsec_lab_addresses"]["app"], host["pgsec_lab_addresses"]["ext"]
                tls = "verify-full" if name in tls_hosts and ca.exists() else "prefer"
                for who, netns, address, sslmode in (("allowed", "allowed", app, tls),
                                                     ("allowed, sslmode=disable", "allowed", app, "disable"),
                                                     ("neighbour", "neighbour", app, "prefer"),
                                                     ("denied", "denied", ext, "prefer")):
                    jobs[name, who] = pool.submit(connect, clients[netns]["netns"], address, password, sslmode, ca)
        result = {name: {} for name in hosts}
        for (name, who), job in jobs.items():
            result[name][who] = job.result()
        return result

    say("Who can connect before (psql from the client namespaces)")
    before_probes = probes()
    for name, probe in before_probes.items():
        print(f"{name}: " + ", ".join(f"{who} -> {what}" for who, what in probe.items()))
    before = audit("before")

    starts = {name: postmaster_starts(host["ansible_host"]) for name, host in hosts.items()}
    say("Harden: pgsec.hardening.harden with lab/demo/policy.yml (changed tasks shown)")
    rc, output = stream([PLAYBOOK, "-i", str(INVENTORY), "pgsec.hardening.harden", "-e", f"@{POLICY}"],
                        env={"ANSIBLE_DISPLAY_OK_HOSTS": "false", "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false"})
    counts = recap(output)
    if rc != 0:
        sys.exit("demo: the hardening failed (see above)")
    restarts = {}
    for name, host in hosts.items():
        now = postmaster_starts(host["ansible_host"])
        restarts[name] = sum(1 for datadir, start in now.items() if starts[name].get(datadir) != start)

    after = audit("after")
    say("Who can connect after")
    after_probes = probes()

    problems = []
    for name in hosts:
        probe = after_probes[name]
        if name in tls_hosts:
            if not probe["allowed"].startswith("TLSv1."):
                problems.append(f"{name}: the allowed client did not connect with sslmode=verify-full: {probe['allowed']}")
            if not probe["allowed, sslmode=disable"].startswith("refused"):
                problems.append(f"{name}: the allowed client connected without TLS")
        elif probe["allowed"] != "plain":
            problems.append(f"{name}: the allowed client did not connect: {probe['allowed']}")
        for who in ("neighbour", "denied"):
            if not probe[who].startswith("refused"):
                problems.append(f"{name}: the {who} client connected ({probe[who]})")
        if restarts[name] > 1:
            problems.append(f"{name}: restarted {restarts[name]} times")
        if args.expect_unchanged and (counts.get(name, {}).get("changed") or restarts[name]):
            problems.append(f"{name}: a second run changed {counts.get(name, {}).get('changed')} tasks and "
                            f"restarted {restarts[name]} times; expected changed=0 and no restart")

    say("Before and after")
    rows = [("host", "server", "failed before", "failed after", "changed", "restarts",
             "allowed", "sslmode=disable", "neighbour", "denied")]
    for name, host in hosts.items():
        probe = after_probes[name]
        rows.append((name, "PG18 PGDATA (no SSL)" if name not in tls_hosts else host["pgsec_lab_dist"],
                     str(before["hosts"][name]["by_status"]["fail"]), str(after["hosts"][name]["by_status"]["fail"]),
                     str(counts.get(name, {}).get("changed", "?")), str(restarts[name]),
                     probe["allowed"], probe["allowed, sslmode=disable"], probe["neighbour"], probe["denied"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if all(counts.get(name, {}).get("changed") == 0 for name in hosts) and not any(restarts.values()):
        print("\nEvery host: changed=0 and no restart; nothing was left to change.")
    print("\nBefore, from the same clients: " + "; ".join(
        f"{name}: neighbour {p['neighbour']}, denied {p['denied']}" for name, p in before_probes.items()))
    print(f"Reports: {REPORTS / 'before'} and {REPORTS / 'after'} (pgsec-access-report.json, .md, .html)")
    print(f"\nLook around:\n  make lab-status\n"
          f"  ip netns exec {clients['allowed']['netns']} psql \"host={hosts['pg1']['pgsec_lab_addresses']['app']} "
          f"user=postgres dbname=postgres sslmode=verify-full sslrootcert={ca}\"   "
          f"(password: {STATE_DIR / 'postgres-password'})\n"
          f"  ansible-playbook -i {INVENTORY} pgsec.hardening.harden -e @lab/demo/policy.yml --check --diff\n"
          f"  make demo again: nothing left to change\n  make lab-down   # stop the lab")
    print(f"\ndemo: {time.monotonic() - started:.0f}s")
    if problems:
        print("\ndemo: FAILED\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
