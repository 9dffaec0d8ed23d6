"""Benchmark of pgsec.hardening on a fleet of lab hosts (GitHub issue 9): make bench, make bench-smoke.

Boots BENCH_HOSTS lab hosts (names b01, b02, ...; profile insecure; Debian 12) and measures, in one
run, the median of BENCH_REPS repetitions of

  floor           ansible all -m ping
  audit           ansible-playbook pgsec.hardening.audit
  baseline        bench/baseline_audit.yml: the same checks "the usual way", one task per check
  first converge  ansible-playbook pgsec.hardening.harden on the insecure hosts (once: it changes them)
  no-op converge  the same playbook again, nothing left to change (repeated)

on the whole fleet, and once (BENCH_SCALE_REPS) on a quarter and a half of it (through --limit)
for the growth curve (the baseline, the slowest, only with --scale-baseline), with forks = the number of hosts so that every host runs in parallel. It
counts the PostgreSQL restarts each converge made from pg_postmaster_start_time() (and the server
log's "ready to accept connections" lines, which also show a second restart) read before and after
on every host.
It prints a table, writes JSON (BENCH_OUT) and brings the lab down at the end, also on failure.

Targets (a miss is reported with its figure): audit <= 2x floor; baseline >= 4x audit; no-op
converge <= 4x floor with zero restarts; the first converge restarts each server at most once.
Exit status: 1 when a step fails to run; with --smoke also 3 when a converge restarts a server
more than once or the no-op converge restarts any (correctness, not timing).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_PY = REPO / "lab" / "lab.py"
BASELINE = REPO / "bench" / "baseline_audit.yml"
STATE_DIR = Path(os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab"))
INVENTORY = STATE_DIR / "inventory.yml"
BUILD = REPO / ".build" / "bench"
# The lab numbers hosts .10+N on 198.18.1.0/24, where .100 is the 'allowed' client: at most 89.
MAX_HOSTS = 89
# The policy under test: clients on the lab's app network, no TLS (it needs certificates), the
# default firewall (auto: nftables on these hosts). The audits read the same variables.
POLICY = {
    "pgsec_clients": [{"name": "app", "sources": ["198.18.1.100/32"]}],
    "pgsec_tls_enabled": False,
}
COMMANDS = ("floor", "audit", "baseline", "noop_converge")
LABELS = {
    "floor": "floor: ansible all -m ping",
    "audit": "audit: pgsec.hardening.audit",
    "baseline": "baseline audit (one task per check)",
    "first_converge": "first converge: harden (once)",
    "noop_converge": "no-op converge: harden again",
}
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PROBE = ("cd / && printf 'start=%s\\n' \"$(runuser -u postgres -- psql -XAtq -h /var/run/postgresql "
         "-c 'select extract(epoch from pg_postmaster_start_time())')\" && "
         "printf 'ready=%s\\n' \"$(cat /var/log/postgresql/postgresql-*.log 2>/dev/null "
         "| grep -c 'database system is ready to accept connections')\"")


class BenchError(Exception):
    """A step of the benchmark could not run; the message says which and why."""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.hosts = [f"b{i:02d}" for i in range(1, args.hosts + 1)]
        self.logs = Path(args.out).parent / (Path(args.out).stem + "-logs")
        self.logs.mkdir(parents=True, exist_ok=True)
        self.policy_file = Path(args.out).parent / (Path(args.out).stem + "-policy.json")
        self.report_dir = Path(args.out).parent / (Path(args.out).stem + "-report")
        self.raw: dict[str, dict[str, list[float]]] = {name: {} for name in COMMANDS + ("first_converge",)}
        self.changed: dict[str, list[dict]] = {"first_converge": [], "noop_converge": []}
        self.restarts: dict[str, list[dict]] = {"first_converge": [], "noop_converge": []}
        self.failures: list[str] = []
        self.lab_up_s: float | None = None
        self.lab_down_s: float | None = None
        self.addresses: dict[str, str] = {}
        self.env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        self.env.setdefault("ANSIBLE_CONFIG", str(REPO / "tests" / "ansible.cfg"))
        self.runs = 0
        self.started = ""

    # ------------------------------------------------------------------ running things

    def run(self, name: str, cmd: list[str], timeout: float = 900) -> tuple[float, str]:
        """Run CMD, return (wall seconds, output); its output goes to the log directory."""
        self.runs += 1
        log = self.logs / f"{self.runs:03d}-{name}.log"
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=self.env, cwd=REPO, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{name}: timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
        elapsed = time.monotonic() - started
        log.write_text(f"$ {' '.join(cmd)}\n# {elapsed:.3f}s, exit {proc.returncode}\n{proc.stdout}")
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-25:])
            raise BenchError(f"{name}: exit {proc.returncode} after {elapsed:.1f}s ({log}):\n{tail}")
        return elapsed, proc.stdout

    def ansible_args(self, size: int) -> list[str]:
        return ["-i", str(INVENTORY), "--limit", ",".join(self.hosts[:size]), "-f", str(size)]

    def floor(self, size: int) -> float:
        return self.run(f"floor-{size}", ["ansible", "all", "-m", "ansible.builtin.ping"] + self.ansible_args(size))[0]

    def audit(self, size: int) -> float:
        return self.run(f"audit-{size}", ["ansible-playbook", "pgsec.hardening.audit", "-e", f"@{self.policy_file}",
                                          "-e", f"pgsec_audit_report_dir={self.report_dir}"]
                        + self.ansible_args(size))[0]

    def baseline(self, size: int) -> float:
        return self.run(f"baseline-{size}", ["ansible-playbook", str(BASELINE), "-e", f"@{self.policy_file}"]
                        + self.ansible_args(size))[0]

    def converge(self, kind: str, size: int, before: dict | None = None) -> dict[str, dict]:
        """Time one harden run on SIZE hosts and count its restarts; returns the probe taken after it.

        BEFORE is a probe taken since the last change (the previous converge's), or None to take one.
        """
        hosts = self.hosts[:size]
        if before is None or not set(hosts) <= set(before):
            before = self.probe(hosts)
        elapsed, output = self.run(f"{kind}-{size}", ["ansible-playbook", "pgsec.hardening.harden",
                                                      "-e", f"@{self.policy_file}"] + self.ansible_args(size))
        after = self.probe(hosts)
        per_host = {}
        for host in hosts:
            started_again = after[host]["start"] != before[host]["start"]
            per_host[host] = max(after[host]["ready"] - before[host]["ready"], 1 if started_again else 0)
        recap = {match.group(1): int(match.group(3)) for match in RECAP.finditer(output)}
        missing = sorted(set(hosts) - set(recap))
        if missing:
            raise BenchError(f"{kind}-{size}: no play recap for {', '.join(missing)}")
        self.restarts[kind].append({"size": size, "per_host": per_host, "total": sum(per_host.values()),
                                    "max": max(per_host.values())})
        self.changed[kind].append({"size": size, "per_host": recap, "total": sum(recap.values())})
        self.raw[kind].setdefault(str(size), []).append(elapsed)
        return after

    def probe(self, hosts: list[str]) -> dict[str, dict]:
        """Every host's postmaster start time and count of server starts in its log, over SSH in parallel."""
        def one(host: str) -> dict:
            proc = subprocess.run(["ssh", "-i", str(STATE_DIR / "id_ed25519"), "-o", "StrictHostKeyChecking=no",
                                   "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
                                   "-o", "ConnectTimeout=10", f"root@{self.addresses[host]}", PROBE],
                                  text=True, capture_output=True, timeout=60, check=False)
            values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
            if proc.returncode != 0 or not values.get("start") or not values.get("ready", "").isdigit():
                raise BenchError(f"probe {host}: exit {proc.returncode}: {proc.stdout.strip()} {proc.stderr.strip()}")
            return {"start": values["start"], "ready": int(values["ready"])}
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            return dict(zip(hosts, pool.map(one, hosts)))

    # ------------------------------------------------------------------ the lab

    def lab_up(self) -> None:
        specs = [arg for host in self.hosts for arg in ("--host", f"{host}:insecure:{self.args.dist}")]
        print(f"bench: booting {len(self.hosts)} lab hosts ({self.hosts[0]}..{self.hosts[-1]}, insecure, "
              f"{self.args.dist})", flush=True)
        self.lab_up_s = self.run("lab-up", [sys.executable, str(LAB_PY), "up"] + specs, timeout=1200)[0]
        state = json.loads((STATE_DIR / "state.json").read_text())
        self.addresses = {host: state["hosts"][host]["addresses"]["mgmt"] for host in self.hosts}

    def lab_down(self) -> None:
        if self.args.keep_lab:
            print("bench: --keep-lab: the lab stays up (python3 lab/lab.py down)", flush=True)
            return
        try:
            self.lab_down_s = self.run("lab-down", [sys.executable, str(LAB_PY), "down"], timeout=600)[0]
        except BenchError as exc:
            self.failures.append(str(exc))

    # ------------------------------------------------------------------ the benchmark

    def measure(self) -> None:
        self.policy_file.write_text(json.dumps(POLICY, indent=2) + "\n")
        self.lab_up()
        # One untimed ping opens the SSH connections (ControlPersist), so every timed run starts warm.
        self.floor(len(self.hosts))
        sizes, full = self.args.sizes, len(self.hosts)
        for size in sizes:  # read-only: the insecure fleet as it was booted
            reps = self.reps_for(size)
            # The baseline is the slowest run: on the whole fleet only, unless --scale-baseline.
            names = ("floor", "audit", "baseline") if size == full or self.args.scale_baseline else ("floor", "audit")
            for rep in range(reps):
                print(f"bench: {size} hosts, repetition {rep + 1}/{reps}: {', '.join(names)}", flush=True)
                for name in names:
                    self.raw[name].setdefault(str(size), []).append(getattr(self, name)(size))
        print(f"bench: first converge on {full} hosts", flush=True)
        probed = self.converge("first_converge", full)
        for size in sizes:
            reps = self.reps_for(size)
            for rep in range(reps):
                print(f"bench: {size} hosts, repetition {rep + 1}/{reps}: no-op converge", flush=True)
                # Hosts outside --limit kept their state, so their last probe stays valid.
                probed = {**probed, **self.converge("noop_converge", size, before=probed)}

    def reps_for(self, size: int) -> int:
        """BENCH_REPS on the whole fleet (the ratios and targets); BENCH_SCALE_REPS on the smaller sizes."""
        return self.args.reps if size == len(self.hosts) else self.args.scale_reps

    # ------------------------------------------------------------------ results

    def medians(self) -> dict[str, dict[str, float]]:
        return {name: {size: statistics.median(values) for size, values in by_size.items() if values}
                for name, by_size in self.raw.items()}

    def summary(self) -> dict:
        medians = self.medians()
        full = str(len(self.hosts))

        def at_full(name: str) -> float | None:
            return medians.get(name, {}).get(full)

        def ratio(top: float | None, bottom: float | None) -> float | None:
            return round(top / bottom, 2) if top is not None and bottom else None

        first = self.restarts["first_converge"]
        noop = self.restarts["noop_converge"]
        first_max = max((entry["max"] for entry in first), default=None)
        noop_total = sum(entry["total"] for entry in noop) if noop else None
        ratios = {
            "audit_over_floor": ratio(at_full("audit"), at_full("floor")),
            "baseline_over_audit": ratio(at_full("baseline"), at_full("audit")),
            "noop_converge_over_floor": ratio(at_full("noop_converge"), at_full("floor")),
            "first_converge_over_floor": ratio(at_full("first_converge"), at_full("floor")),
            "restarts_per_converge": {
                "first_converge": {"total": first[0]["total"] if first else None, "max_per_server": first_max,
                                   "servers": len(self.hosts)},
                "noop_converge": [entry["total"] for entry in noop],
            },
        }
        targets = [
            self.target("audit <= 2x floor", ratios["audit_over_floor"], lambda v: v <= 2, "{:.2f}x"),
            self.target("baseline >= 4x audit", ratios["baseline_over_audit"], lambda v: v >= 4, "{:.2f}x"),
            self.target("no-op converge <= 4x floor, 0 restarts",
                        None if ratios["noop_converge_over_floor"] is None or noop_total is None
                        else (ratios["noop_converge_over_floor"], noop_total),
                        lambda v: v[0] <= 4 and v[1] == 0, "{0[0]:.2f}x, {0[1]} restarts"),
            self.target("first converge: <= 1 restart per server", first_max, lambda v: v <= 1, "max {} per server"),
        ]
        scaling = {}
        for name, by_size in medians.items():
            points = sorted((int(size), value) for size, value in by_size.items())
            if len(points) >= 2:
                (n0, t0), (n1, t1) = points[0], points[-1]
                scaling[name] = {"points": {str(n): round(t, 3) for n, t in points},
                                 "growth": round(t1 / t0, 2) if t0 else None,
                                 "seconds_per_extra_host": round((t1 - t0) / (n1 - n0), 3)}
        return {
            "config": {
                "hosts": self.hosts, "profile": "insecure", "dist": self.args.dist, "reps": self.args.reps,
                "scale_reps": self.args.scale_reps, "scale_baseline": self.args.scale_baseline,
                "sizes": self.args.sizes, "forks": "fleet size (-f N for N hosts)", "smoke": self.args.smoke,
                "policy": POLICY, "ansible_config": self.env.get("ANSIBLE_CONFIG"),
                "ansible": ansible_version(self.env), "cpus": os.cpu_count(), "machine": platform.machine(),
                "python": platform.python_version(),
                "started": self.started, "baseline_playbook": str(BASELINE.relative_to(REPO)),
            },
            "lab_up_s": round(self.lab_up_s, 2) if self.lab_up_s is not None else None,
            "lab_down_s": round(self.lab_down_s, 2) if self.lab_down_s is not None else None,
            "raw": {name: {size: [round(v, 3) for v in values] for size, values in by_size.items()}
                    for name, by_size in self.raw.items()},
            "medians": {name: {size: round(v, 3) for size, v in by_size.items()} for name, by_size in medians.items()},
            "ratios": ratios,
            "restarts": self.restarts,
            "changed": self.changed,
            "scaling": scaling,
            "targets": targets,
            "correctness": self.correctness(),
            "failures": self.failures,
        }

    @staticmethod
    def target(name: str, figure, check, fmt: str) -> dict:
        if figure is None:
            return {"target": name, "figure": None, "shown": "not measured", "result": "miss"}
        return {"target": name, "figure": figure, "shown": fmt.format(figure), "result": "pass" if check(figure) else "miss"}

    def correctness(self) -> list[str]:
        problems = []
        for entry in self.restarts["first_converge"]:
            for host, count in sorted(entry["per_host"].items()):
                if count > 1:
                    problems.append(f"first converge restarted {host} {count} times")
        for entry in self.restarts["noop_converge"]:
            for host, count in sorted(entry["per_host"].items()):
                if count:
                    problems.append(f"no-op converge ({entry['size']} hosts) restarted {host} {count} times")
        return problems

    def table(self, data: dict) -> str:
        sizes = [str(size) for size in self.args.sizes]
        full = str(len(self.hosts))
        cols = sorted(set(sizes) | {full}, key=int)
        width = 38
        lines = [f"pgsec.hardening benchmark: {len(self.hosts)} hosts (insecure, {self.args.dist}), "
                 f"{self.args.reps} repetition(s) ({self.args.scale_reps} below {full}), forks = hosts, "
                 f"{os.cpu_count()} CPUs, "
                 f"ansible-core {data['config']['ansible']}",
                 f"lab up {fmt_s(data['lab_up_s'])}; median wall time per run:", ""]
        lines.append("".ljust(width) + "".join(f"{c + ' hosts':>11}" for c in cols))
        for name in ("floor", "audit", "baseline", "noop_converge", "first_converge"):
            row = LABELS[name].ljust(width)
            for col in cols:
                row += f"{fmt_s(data['medians'].get(name, {}).get(col)):>11}"
            lines.append(row)
        lines.append("")
        first = data["ratios"]["restarts_per_converge"]["first_converge"]
        noop = data["ratios"]["restarts_per_converge"]["noop_converge"]
        if first["total"] is not None:
            lines.append(f"restarts: first converge {first['total']} on {first['servers']} servers "
                         f"(max {first['max_per_server']} per server); no-op converges {noop} (per run)")
            changed = [entry["total"] for entry in self.changed["noop_converge"]]
            lines.append(f"changed tasks: first converge {self.changed['first_converge'][0]['total']}; "
                         f"no-op converges {changed} (per run)")
        growth = ", ".join(f"{name} x{info['growth']} (+{info['seconds_per_extra_host']:.2f}s/host)"
                           for name, info in data["scaling"].items() if name in COMMANDS)
        if growth:
            lines.append(f"growth {cols[0]} -> {cols[-1]} hosts: {growth}")
        lines.append("")
        lines.append(f"{'target':<{width + 6}}{'figure':>18}  result")
        for target in data["targets"]:
            lines.append(f"{target['target']:<{width + 6}}{target['shown']:>18}  {target['result']}")
        for problem in data["correctness"]:
            lines.append(f"correctness: {problem}")
        for failure in data["failures"]:
            lines.append(f"FAILED: {failure.splitlines()[0]}")
        return "\n".join(lines)


def fmt_s(value) -> str:
    return "-" if value is None else f"{value:.1f}s"


def ansible_version(env: dict) -> str:
    try:
        out = subprocess.run(["ansible", "--version"], text=True, capture_output=True, env=env, check=False).stdout
    except OSError:
        return "?"
    match = re.search(r"core ([0-9.]+)", out)
    return match.group(1) if match else "?"


def default_sizes(hosts: int) -> list[int]:
    return sorted({max(1, hosts // 4), max(1, hosts // 2), hosts})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2 hosts, 1 repetition, sizes 1,2; fail on restart errors")
    parser.add_argument("--hosts", type=int, default=int(os.environ.get("BENCH_HOSTS") or 20))
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS") or 3))
    parser.add_argument("--scale-reps", type=int, default=int(os.environ.get("BENCH_SCALE_REPS") or 1),
                        help="repetitions at the fleet sizes below --hosts (the growth curve; default 1)")
    parser.add_argument("--scale-baseline", action="store_true", default=bool(os.environ.get("BENCH_SCALE_BASELINE")),
                        help="time the baseline audit at the smaller sizes too (slow; default: whole fleet only)")
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES") or "",
                        help="comma-separated fleet sizes (default: a quarter, half and all of --hosts)")
    parser.add_argument("--out", default=os.environ.get("BENCH_OUT") or "")
    parser.add_argument("--dist", default="debian12")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end (debugging)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.hosts, args.reps, args.scale_reps, args.sizes = 2, 1, 1, "1,2"
    if not 1 <= args.hosts <= MAX_HOSTS:
        parser.error(f"--hosts must be between 1 and {MAX_HOSTS} (lab addresses .10+N, client at .100)")
    if args.reps < 1 or args.scale_reps < 1:
        parser.error("--reps and --scale-reps must be at least 1")
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()}) or default_sizes(args.hosts)
    except ValueError:
        parser.error(f"--sizes: {args.sizes!r} is not a list of numbers")
    if sizes[0] < 1 or sizes[-1] > args.hosts:
        parser.error(f"--sizes must be between 1 and --hosts ({args.hosts})")
    if sizes[-1] != args.hosts:
        sizes.append(args.hosts)  # the ratios and targets are taken on the whole fleet
    args.sizes = sizes
    if not args.out:
        args.out = str(BUILD / ("bench-smoke.json" if args.smoke else "bench.json"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench: must run as root (the lab needs namespaces, mounts, nspawn)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    bench = Bench(args)
    bench.started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    wall = time.monotonic()
    interrupted = False
    try:
        bench.measure()
    except BenchError as exc:
        bench.failures.append(str(exc))
        print(f"bench: FAILED: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt as exc:
        interrupted = True
        bench.failures.append(f"interrupted ({exc or 'SIGINT'})")
    finally:
        print("bench: lab down", flush=True)
        bench.lab_down()
    data = bench.summary()
    data["wall_s"] = round(time.monotonic() - wall, 1)
    Path(args.out).write_text(json.dumps(data, indent=2) + "\n")
    print()
    print(bench.table(data))
    print(f"\nbench: {data['wall_s']:.0f}s in all; JSON {args.out}; logs {bench.logs}")
    if interrupted:
        return 130
    if data["failures"]:
        return 1
    if args.smoke and data["correctness"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
