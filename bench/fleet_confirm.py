"""Firewall confirmation at fleet scale: harden N lab hosts at once with few forks and the default rollback
timeout, then change the firewall again while one host stops answering.

Round 1: every host changed, none failed, and past every deadline every host still has its rules (no
rollback fired). Round 2 (a second client source, so every firewall reloads): the cut host fails and
rolls back to round 1's rules alone; every other host has the new source. The lab is brought down at the
end, also on failure. Writes a JSON summary (--out).

    make bench-fleet            # 40 hosts, forks 2
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from labhosts import LAB, Lab, cut_new_ssh_once_firewall_loads, recap, run  # noqa: E402  (path set above)

# Not adjacent: nft merges adjacent addresses of a set into one range.
FIRST_ADDRESS, SECOND_ADDRESS = "198.18.1.100", "198.18.1.150"
SOURCES = [FIRST_ADDRESS + "/32"]
SECOND_SOURCE = SECOND_ADDRESS + "/32"
CUT_SECONDS = 60


def policy(path: Path, sources: list[str]) -> Path:
    path.write_text(json.dumps({"pgsec_clients": [{"name": "app", "sources": sources}], "pgsec_tls_enabled": False,
                                "pgsec_firewall_backend": "nftables"}))
    return path


def harden(lab: Lab, hosts: list[str], forks: int, policy_file: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    proc = lab.playbook("pgsec.hardening.harden", "-f", str(forks), "-l", ",".join(hosts), "-e", f"@{policy_file}",
                        "-e", f"pgsec_harden_batch={len(hosts)}", check=False)
    return time.monotonic() - started, proc


def sources_of(lab: Lab, host: str) -> str:
    return lab.hosts[host].ssh("nft list table inet pgsec 2>/dev/null; true").stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--forks", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / ".build" / "bench" / "fleet.json")
    args = parser.parse_args(argv)
    names = [f"f{index:02d}" for index in range(1, args.hosts + 1)]
    cut = names[len(names) // 2]
    work = args.out.parent
    work.mkdir(parents=True, exist_ok=True)
    summary: dict = {"hosts": args.hosts, "forks": args.forks, "rollback_timeout": 30, "cut_host": cut}
    problems: list[str] = []
    run(LAB + ["down"])
    try:
        started = time.monotonic()
        run(LAB + ["up"] + [arg for name in names for arg in ("--host", f"{name}:insecure")], timeout=1800)
        summary["lab_up_s"] = round(time.monotonic() - started, 1)
        lab = Lab.load()
        seconds, proc = harden(lab, names, args.forks, policy(work / "fleet-policy-1.yml", SOURCES))
        recaps = {name: recap(proc.stdout, name) for name in names}
        summary["round1"] = {"wall_s": round(seconds, 1), "rc": proc.returncode,
                             "changed": sum(1 for r in recaps.values() if r["changed"] > 0),
                             "failed": sorted(n for n, r in recaps.items() if r["failed"] or r["unreachable"])}
        time.sleep(35)  # past every host's deadline
        kept = [name for name in names if FIRST_ADDRESS in sources_of(lab, name)]
        summary["round1"]["rules_kept_past_deadline"] = len(kept)
        if len(kept) != len(names) or summary["round1"]["failed"] or summary["round1"]["changed"] != len(names):
            problems.append("round 1: not every host changed and kept its rules: %s" % summary["round1"])

        lab.hosts[cut].ssh(cut_new_ssh_once_firewall_loads(CUT_SECONDS))
        seconds, proc = harden(lab, names, args.forks, policy(work / "fleet-policy-2.yml", SOURCES + [SECOND_SOURCE]))
        recaps = {name: recap(proc.stdout, name) for name in names}
        failed = sorted(n for n, r in recaps.items() if r["failed"] or r["unreachable"])
        summary["round2"] = {"wall_s": round(seconds, 1), "rc": proc.returncode, "failed": failed}
        deadline = time.monotonic() + CUT_SECONDS + 60
        while lab.hosts[cut].ssh("true", check=False).returncode != 0 and time.monotonic() < deadline:
            time.sleep(2)
        new = [name for name in names if SECOND_ADDRESS in sources_of(lab, name)]
        summary["round2"]["with_new_rules"] = len(new)
        summary["round2"]["cut_host_rolled_back"] = cut not in new and FIRST_ADDRESS in sources_of(lab, cut)
        if failed != [cut] or len(new) != len(names) - 1 or not summary["round2"]["cut_host_rolled_back"]:
            problems.append("round 2: expected only %s to fail and roll back: %s" % (cut, summary["round2"]))
    finally:
        run(LAB + ["down"], check=False)
    summary["problems"] = problems
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
