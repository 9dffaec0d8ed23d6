"""Benchmark of pgsec.hardening on a fleet of lab hosts: make bench, make bench-smoke.

Boots BENCH_HOSTS lab hosts (default 50; names b01, b02, ...; profile insecure; Debian 12) and measures,
in one run, with two ansible.cfg's side by side,

  suite  the test suite's tests/ansible.cfg (ANSIBLE_CONFIG): pipelining, its own ssh_args, forks 25
  plain  one the benchmark writes next to its JSON: forks and host_key_checking only, Ansible's
         defaults for the rest (what the lab hosts need, user, key, interpreter, is in the inventory)

the median wall time of

  floor           ansible all -m ping
  audit           ansible-playbook pgsec.hardening.audit
  baseline        bench/baseline_audit.yml: the same checks "the usual way", one task per check
  first converge  ansible-playbook pgsec.hardening.harden on the insecure hosts (once, suite cfg only:
                  it changes them; the playbook's default batch, none is passed)
  no-op converge  the same playbook again, nothing left to change
  check converge  the same playbook with --check --diff on the converged fleet

at a few fleet sizes through --limit (default 5, 20 and 50 hosts): BENCH_REPS repetitions at the target
size (--target-size, default 20), where the ratios and targets are taken, and BENCH_SCALE_REPS at the
others, for the growth curve (the baseline, the slowest, only at the target size unless
--scale-baseline). Within a repetition each figure is timed with one cfg right after the other (which
goes first alternates between repetitions), so that noise hits both alike. forks = the number of hosts,
so that every host runs in parallel; each cfg keeps its own SSH control sockets, and a host whose
connection may have timed out (ControlPersist) gets an untimed ping first, so every timed run starts warm.

Next to each time it keeps, from each run's PLAY RECAP, the tasks each host ran, skipped and changed,
and for each converge the PostgreSQL restarts on every host, from pg_postmaster_start_time() (and the
server log's "ready to accept connections" lines, which also show a second restart) read before and after.
It prints a table, writes JSON (BENCH_OUT) and brings the lab down at the end, also on failure.

Targets, for each cfg at the target size, each figure over the same cfg's floor (a miss is reported with
its figure): audit <= 1.5x floor; baseline >= 4x audit; no-op converge <= 3x floor and check converge
<= 3x floor, neither restarting any server in any of its runs; first converge (suite cfg) <= 8x floor,
restarting each server at most once; growth: the no-op converge's cost per extra host (smallest to
largest size) within 1.5x the floor's.
Exit status: 1 when a step fails to run; with --smoke also 3 when a converge restarts a server more than
once or the no-op or check converge restarts any (correctness, not timing).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_PY = REPO / "lab" / "lab.py"
BASELINE = REPO / "bench" / "baseline_audit.yml"
HARDEN_PLAYBOOK = REPO / "playbooks" / "harden.yml"
SUITE_CFG = REPO / "tests" / "ansible.cfg"
STATE_DIR = Path(os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab"))
INVENTORY = STATE_DIR / "inventory.yml"
BUILD = REPO / ".build" / "bench"
# The lab numbers hosts .10+N on 198.18.1.0/24, where .100 is the 'allowed' client: at most 89.
MAX_HOSTS = 89
DEFAULT_HOSTS = 50
DEFAULT_TARGET_SIZE = 20
SMALLEST_SIZE = 5
# The policy under test: clients on the lab's app network, no TLS (it needs certificates), the
# default firewall (auto: nftables on these hosts). The audits read the same variables.
POLICY = {
    "pgsec_clients": [{"name": "app", "sources": ["198.18.1.100/32"]}],
    "pgsec_tls_enabled": False,
}
CONFIGS = ("suite", "plain")
# The first converge changes the hosts, so it runs once, with the cfg the rest of the suite uses.
FIRST_CONVERGE_CONFIG = "suite"
# Environment the plain cfg keeps: where the collection is installed, not how Ansible behaves.
PLAIN_ENV_KEEP = ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS", "ANSIBLE_HOME")
# Both cfgs keep idle SSH masters 60 s (ControlPersist, also in Ansible's default ssh_args); a host
# idle for longer than this gets an untimed ping before a timed run.
KEEP_WARM_S = 45
READ_ONLY = ("floor", "audit", "baseline")  # on the insecure fleet, before the first converge
CONVERGED = ("noop_converge", "check_converge")  # on the converged fleet, repeated
FIGURES = ("floor", "audit", "baseline", "first_converge", "noop_converge", "check_converge")
# The hosts the first converge leaves when the target size is smaller than the fleet: converged in a
# second run, which counts for restarts but is no figure.
FIRST_CONVERGE_REST = "first_converge_rest"
HARDEN_EXTRA_ARGS = {"first_converge": [], FIRST_CONVERGE_REST: [], "noop_converge": [],
                     "check_converge": ["--check", "--diff"]}
LABELS = {
    "floor": "floor: ansible all -m ping",
    "audit": "audit: pgsec.hardening.audit",
    "baseline": "baseline audit (one task per check)",
    "first_converge": "first converge: harden (once)",
    "noop_converge": "no-op converge: harden again",
    "check_converge": "check converge: harden --check --diff",
}
# Targets at the target size: each figure over the same cfg's floor (the baseline over the audit).
AUDIT_OVER_FLOOR_MAX = 1.5
BASELINE_OVER_AUDIT_MIN = 4
NOOP_OVER_FLOOR_MAX = 3
CHECK_OVER_FLOOR_MAX = 3
FIRST_OVER_FLOOR_MAX = 8
FIRST_RESTARTS_PER_SERVER_MAX = 1
GROWTH_RATIO_MAX = 1.5
RECAP_HEADER = re.compile(r"^PLAY RECAP\b.*$", re.M)
RECAP_LINE = re.compile(r"^(\S+)[ \t]*:[ \t]*((?:[a-z_]+=-?\d+[ \t]*)+)$", re.M)
RECAP_COUNTER = re.compile(r"([a-z_]+)=(-?\d+)")
ADHOC_SUCCESS = re.compile(r"^(\S+) \| SUCCESS\b", re.M)
HARDEN_BATCH_DEFAULT = re.compile(r"pgsec_harden_batch\s*\|\s*default\(\s*([^)\s]+)\s*\)")
PROBE = ("cd / && printf 'start=%s\\n' \"$(runuser -u postgres -- psql -XAtq -h /var/run/postgresql "
         "-c 'select extract(epoch from pg_postmaster_start_time())')\" && "
         "printf 'ready=%s\\n' \"$(cat /var/log/postgresql/postgresql-*.log 2>/dev/null "
         "| grep -c 'database system is ready to accept connections')\"")


class BenchError(Exception):
    """A step of the benchmark could not run; the message says which and why."""


# ---------------------------------------------------------------------- parsing the runs' output

def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """Every host's counters (ok, changed, unreachable, failed, skipped, rescued, ignored) in the last PLAY RECAP."""
    headers = list(RECAP_HEADER.finditer(output))
    if not headers:
        return {}
    recap = output[headers[-1].end():]
    return {match.group(1): {key: int(value) for key, value in RECAP_COUNTER.findall(match.group(2))}
            for match in RECAP_LINE.finditer(recap)}


def task_counts(counters: dict[str, int]) -> dict[str, int]:
    """The tasks a host ran, skipped and changed, from its recap counters.

    Ansible's ok already counts the changed and the ignored results; a failed task counts as failed,
    or as rescued when a rescue block caught it, and an unreachable one as unreachable.
    """
    ran = sum(counters.get(key, 0) for key in ("ok", "failed", "unreachable", "rescued"))
    return {"tasks": ran, "skipped": counters.get("skipped", 0), "changed": counters.get("changed", 0)}


def playbook_task_counts(name: str, output: str, hosts: list[str]) -> dict[str, dict[str, int]]:
    recap = parse_recap(output)
    missing = [host for host in hosts if host not in recap]
    if missing:
        raise BenchError(f"{name}: no play recap for {', '.join(missing)}")
    return {host: task_counts(recap[host]) for host in hosts}


def ping_task_counts(name: str, output: str, hosts: list[str]) -> dict[str, dict[str, int]]:
    """An ad-hoc ping has no recap: one task per host, which must have answered."""
    answered = set(ADHOC_SUCCESS.findall(output))
    missing = [host for host in hosts if host not in answered]
    if missing:
        raise BenchError(f"{name}: no ping answer from {', '.join(missing)}")
    return {host: {"tasks": 1, "skipped": 0, "changed": 0} for host in hosts}


def harden_batch_default() -> str | None:
    """The pgsec_harden_batch default harden.yml falls back on, as written there (None when not found)."""
    try:
        match = HARDEN_BATCH_DEFAULT.search(HARDEN_PLAYBOOK.read_text())
    except OSError:
        return None
    return match.group(1).strip("'\"") if match else None


# ---------------------------------------------------------------------- results from the runs

def ratio(top: float | None, bottom: float | None) -> float | None:
    return round(top / bottom, 2) if top is not None and bottom else None


def raw_timings(runs: list[dict]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """cfg -> figure -> size -> seconds of each run, in the order they ran."""
    raw: dict = {}
    for run in runs:
        raw.setdefault(run["config"], {}).setdefault(run["figure"], {}).setdefault(str(run["size"]), []).append(
            run["seconds"])
    return raw


def medians_of(raw: dict) -> dict[str, dict[str, dict[str, float]]]:
    return {cfg: {name: {size: round(statistics.median(values), 3) for size, values in by_size.items() if values}
                  for name, by_size in by_name.items()}
            for cfg, by_name in raw.items()}


def task_summary(runs: list[dict]) -> dict:
    """cfg -> figure -> size -> the per-host range (min, max) of tasks, skipped and changed over every run,
    and the changed tasks of each run (all hosts)."""
    summary: dict = {}
    for run in runs:
        entry = summary.setdefault(run["config"], {}).setdefault(run["figure"], {}).setdefault(
            str(run["size"]), {"tasks_per_host": None, "skipped_per_host": None, "changed_per_host": None,
                               "changed_per_run": []})
        for key in ("tasks", "skipped", "changed"):
            values = [counts[key] for counts in run["per_host"].values()]
            seen = entry[f"{key}_per_host"]
            low, high = min(values), max(values)
            entry[f"{key}_per_host"] = [low, high] if seen is None else [min(seen[0], low), max(seen[1], high)]
        entry["changed_per_run"].append(sum(counts["changed"] for counts in run["per_host"].values()))
    return summary


def restart_summary(restarts: dict[str, list[dict]], configs: list[str]) -> dict:
    """cfg -> converge -> the restarts of each run, their total and the most on one server.

    The first converge counts its run on the target size and the one on the rest of the fleet together.
    """
    summary: dict = {}
    for cfg in configs:
        by_kind = {}
        for kind in ("first_converge", "noop_converge", "check_converge"):
            kinds = (kind, FIRST_CONVERGE_REST) if kind == "first_converge" else (kind,)
            entries = [entry for name in kinds for entry in restarts.get(name, []) if entry["config"] == cfg]
            if kind == "first_converge" and not entries:
                continue
            by_kind[kind] = {
                "per_run": [entry["total"] for entry in entries],
                "total": sum(entry["total"] for entry in entries) if entries else None,
                "max_per_server": max((entry["max"] for entry in entries), default=None),
                "servers": len({host for entry in entries for host in entry["per_host"]}),
            }
        summary[cfg] = by_kind
    return summary


def growth_of(medians: dict[str, dict[str, float]]) -> dict:
    """One cfg's growth from its smallest to its largest size: seconds per extra host of each figure timed
    at both, the no-op converge's per extra host over the floor's, and no-op over floor at each size."""
    per_extra_host, growth = {}, {}
    for name, by_size in medians.items():
        points = sorted((int(size), value) for size, value in by_size.items())
        if len(points) >= 2:
            (n0, t0), (n1, t1) = points[0], points[-1]
            per_extra_host[name] = round((t1 - t0) / (n1 - n0), 3)
            growth[name] = round(t1 / t0, 2) if t0 else None
    floor, noop = medians.get("floor", {}), medians.get("noop_converge", {})
    common = sorted(set(floor) & set(noop), key=int)
    per_host_growth_ratio = None
    if len(common) >= 2:
        first, last = common[0], common[-1]
        extra_hosts = int(last) - int(first)
        floor_per_host = (floor[last] - floor[first]) / extra_hosts
        noop_per_host = (noop[last] - noop[first]) / extra_hosts
        # A floor that does not grow (noise at small sizes) leaves nothing to compare with.
        if floor_per_host > 0:
            per_host_growth_ratio = round(noop_per_host / floor_per_host, 2)
    return {
        "sizes": [int(common[0]), int(common[-1])] if len(common) >= 2 else None,
        "seconds_per_extra_host": per_extra_host,
        "growth": growth,
        "per_host_growth_ratio": per_host_growth_ratio,
        "noop_over_floor_by_size": {size: ratio(noop[size], floor[size]) for size in common},
    }


def ratios_at(medians: dict[str, dict[str, float]], size: int) -> dict[str, float | None]:
    """One cfg's ratios at SIZE hosts."""
    def at(name: str) -> float | None:
        return medians.get(name, {}).get(str(size))
    return {
        "audit_over_floor": ratio(at("audit"), at("floor")),
        "baseline_over_audit": ratio(at("baseline"), at("audit")),
        "noop_converge_over_floor": ratio(at("noop_converge"), at("floor")),
        "check_converge_over_floor": ratio(at("check_converge"), at("floor")),
        "first_converge_over_floor": ratio(at("first_converge"), at("floor")),
    }


def target(name: str, cfg: str, figure, check, fmt: str) -> dict:
    if figure is None or (isinstance(figure, tuple) and None in figure):
        return {"target": name, "config": cfg, "figure": None, "shown": "not measured", "result": "miss"}
    return {"target": name, "config": cfg, "figure": figure, "shown": fmt.format(figure),
            "result": "pass" if check(figure) else "miss"}


def evaluate_targets(ratios: dict, restarts: dict, growth: dict, configs: list[str]) -> list[dict]:
    """The targets of each cfg, from its ratios at the target size, its restarts and its growth."""
    targets = []
    for cfg in configs:
        cfg_ratios, cfg_restarts = ratios[cfg], restarts.get(cfg, {})

        def restarted(kind: str) -> int | None:
            return cfg_restarts.get(kind, {}).get("total")
        targets += [
            target(f"audit <= {AUDIT_OVER_FLOOR_MAX}x floor", cfg, cfg_ratios["audit_over_floor"],
                   lambda v: v <= AUDIT_OVER_FLOOR_MAX, "{:.2f}x"),
            target(f"baseline >= {BASELINE_OVER_AUDIT_MIN}x audit", cfg, cfg_ratios["baseline_over_audit"],
                   lambda v: v >= BASELINE_OVER_AUDIT_MIN, "{:.2f}x"),
            target(f"no-op converge <= {NOOP_OVER_FLOOR_MAX}x floor, 0 restarts", cfg,
                   (cfg_ratios["noop_converge_over_floor"], restarted("noop_converge")),
                   lambda v: v[0] <= NOOP_OVER_FLOOR_MAX and v[1] == 0, "{0[0]:.2f}x, {0[1]} restarts"),
            target(f"check converge <= {CHECK_OVER_FLOOR_MAX}x floor, 0 restarts", cfg,
                   (cfg_ratios["check_converge_over_floor"], restarted("check_converge")),
                   lambda v: v[0] <= CHECK_OVER_FLOOR_MAX and v[1] == 0, "{0[0]:.2f}x, {0[1]} restarts"),
        ]
        if cfg == FIRST_CONVERGE_CONFIG:
            targets.append(target(
                f"first converge <= {FIRST_OVER_FLOOR_MAX}x floor, <= {FIRST_RESTARTS_PER_SERVER_MAX} restart"
                " per server", cfg,
                (cfg_ratios["first_converge_over_floor"], cfg_restarts.get("first_converge", {}).get("max_per_server")),
                lambda v: v[0] <= FIRST_OVER_FLOOR_MAX and v[1] <= FIRST_RESTARTS_PER_SERVER_MAX,
                "{0[0]:.2f}x, max {0[1]}/server"))
        targets.append(target(f"growth: no-op per extra host <= {GROWTH_RATIO_MAX}x floor's", cfg,
                              growth[cfg]["per_host_growth_ratio"], lambda v: v <= GROWTH_RATIO_MAX, "{:.2f}x"))
    return targets


def correctness(restarts: dict[str, list[dict]]) -> list[str]:
    problems = []
    for kind in ("first_converge", FIRST_CONVERGE_REST):
        for entry in restarts.get(kind, []):
            for host, count in sorted(entry["per_host"].items()):
                if count > FIRST_RESTARTS_PER_SERVER_MAX:
                    problems.append(f"first converge restarted {host} {count} times")
    for kind, label in (("noop_converge", "no-op converge"), ("check_converge", "check converge")):
        for entry in restarts.get(kind, []):
            for host, count in sorted(entry["per_host"].items()):
                if count:
                    problems.append(f"{label} ({entry['config']} cfg, {entry['size']} hosts) restarted {host} "
                                    f"{count} times")
    return problems


def summarize(runs: list[dict], restarts: dict[str, list[dict]], configs: list[str], target_size: int) -> dict:
    """Everything the table and the JSON show, from the runs and the restarts alone."""
    raw = raw_timings(runs)
    medians = medians_of(raw)
    for cfg in configs:
        medians.setdefault(cfg, {})
    figures_only = {cfg: {name: by_size for name, by_size in by_name.items() if name in FIGURES}
                    for cfg, by_name in medians.items()}
    ratios = {cfg: ratios_at(figures_only[cfg], target_size) for cfg in configs}
    restart_counts = restart_summary(restarts, configs)
    growth = {cfg: growth_of({name: by_size for name, by_size in figures_only[cfg].items()
                              if name != "first_converge"}) for cfg in configs}
    return {
        "raw": raw,
        "medians": medians,
        "tasks": task_summary(runs),
        "ratios": ratios,
        "restarts_per_converge": restart_counts,
        "growth": growth,
        "targets": evaluate_targets(ratios, restart_counts, growth, configs),
        "correctness": correctness(restarts),
    }


# ---------------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.hosts = [f"b{i:02d}" for i in range(1, args.hosts + 1)]
        out = Path(args.out)
        self.logs = out.parent / (out.stem + "-logs")
        self.logs.mkdir(parents=True, exist_ok=True)
        self.policy_file = out.parent / (out.stem + "-policy.json")
        self.report_dir = out.parent / (out.stem + "-report")
        self.plain_cfg = out.parent / (out.stem + "-plain-ansible.cfg")
        self.runs: list[dict] = []
        self.restarts: dict[str, list[dict]] = {kind: [] for kind in HARDEN_EXTRA_ARGS}
        self.failures: list[str] = []
        self.lab_up_s: float | None = None
        self.lab_down_s: float | None = None
        self.addresses: dict[str, str] = {}
        self.commands = 0
        self.started = ""
        base = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        self.suite_cfg = base.get("ANSIBLE_CONFIG") or str(SUITE_CFG)
        # ANSIBLE_* settings from the caller would override the plain cfg: it keeps only where the collection is.
        self.plain_env_dropped = sorted(key for key in base if key.startswith("ANSIBLE_")
                                        and key not in PLAIN_ENV_KEEP + ("ANSIBLE_CONFIG", "ANSIBLE_NOCOLOR",
                                                                         "ANSIBLE_FORCE_COLOR"))
        plain_base = {key: value for key, value in base.items() if key not in self.plain_env_dropped}
        # Each cfg its own SSH control sockets: neither rides on a master the other opened.
        self.control_dir = Path(tempfile.mkdtemp(prefix="pgsec-bench-cp-"))
        self.lab_env = base
        self.envs = {
            "suite": dict(base, ANSIBLE_CONFIG=self.suite_cfg,
                          ANSIBLE_SSH_CONTROL_PATH_DIR=str(self.control_dir / "suite")),
            "plain": dict(plain_base, ANSIBLE_CONFIG=str(self.plain_cfg),
                          ANSIBLE_SSH_CONTROL_PATH_DIR=str(self.control_dir / "plain")),
        }
        # cfg -> host -> when a run of that cfg last used the host's SSH connection (monotonic).
        self.last_used: dict[str, dict[str, float]] = {cfg: {} for cfg in CONFIGS}

    def plain_cfg_text(self) -> str:
        return f"[defaults]\nforks = {self.args.hosts}\nhost_key_checking = False\n"

    # ------------------------------------------------------------------ running things

    def run(self, name: str, cmd: list[str], env: dict, timeout: float = 900) -> tuple[float, str]:
        """Run CMD, return (wall seconds, output); its output goes to the log directory."""
        self.commands += 1
        log = self.logs / f"{self.commands:03d}-{name}.log"
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=env, cwd=REPO, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{name}: timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
        elapsed = time.monotonic() - started
        log.write_text(f"$ ANSIBLE_CONFIG={env.get('ANSIBLE_CONFIG')} {' '.join(cmd)}\n"
                       f"# {elapsed:.3f}s, exit {proc.returncode}\n{proc.stdout}")
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-25:])
            raise BenchError(f"{name}: exit {proc.returncode} after {elapsed:.1f}s ({log}):\n{tail}")
        return elapsed, proc.stdout

    @staticmethod
    def ansible_args(hosts: list[str]) -> list[str]:
        return ["-i", str(INVENTORY), "--limit", ",".join(hosts), "-f", str(len(hosts))]

    def ansible(self, name: str, cfg: str, hosts: list[str], cmd: list[str]) -> tuple[float, str]:
        """Run an ansible command with CFG on HOSTS and note that their connections are warm."""
        elapsed, output = self.run(name, cmd + self.ansible_args(hosts), self.envs[cfg])
        now = time.monotonic()
        self.last_used[cfg].update(dict.fromkeys(hosts, now))
        return elapsed, output

    def keep_warm(self, cfg: str, hosts: list[str]) -> None:
        """An untimed ping of the HOSTS whose SSH master for CFG may have gone (never opened, or idle too long)."""
        now = time.monotonic()
        last_used = self.last_used[cfg]
        cold = [host for host in hosts if host not in last_used or now - last_used[host] > KEEP_WARM_S]
        if cold:
            self.ansible(f"warm-{cfg}-{len(cold)}", cfg, cold, ["ansible", "all", "-m", "ansible.builtin.ping"])

    def timed(self, figure: str, cfg: str, size: int, rep: int, cmd: list[str], hosts: list[str] | None = None
              ) -> tuple[dict, str]:
        """Time CMD with CFG on SIZE hosts (or HOSTS), started warm; record the run and its task counts."""
        hosts = hosts if hosts is not None else self.hosts[:size]
        self.keep_warm(cfg, hosts)
        name = f"{figure}-{cfg}-{len(hosts)}"
        # The controller's CPU (ansible and its ssh clients), apart from the wall time: here the hosts share
        # the machine's CPUs with the controller, on a real fleet they do not.
        used_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        elapsed, output = self.ansible(name, cfg, hosts, cmd)
        used_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        controller_cpu = (used_after.ru_utime - used_before.ru_utime) + (used_after.ru_stime - used_before.ru_stime)
        counts = (ping_task_counts if figure == "floor" else playbook_task_counts)(name, output, hosts)
        record = {"figure": figure, "config": cfg, "size": len(hosts), "rep": rep + 1, "seconds": round(elapsed, 3),
                  "controller_cpu_s": round(controller_cpu, 3),
                  "hosts": [hosts[0], hosts[-1]], "log": f"{self.commands:03d}-{name}.log", "per_host": counts}
        self.runs.append(record)
        return record, output

    def floor(self, cfg: str, size: int, rep: int) -> None:
        self.timed("floor", cfg, size, rep, ["ansible", "all", "-m", "ansible.builtin.ping"])

    def audit(self, cfg: str, size: int, rep: int) -> None:
        self.timed("audit", cfg, size, rep, ["ansible-playbook", "pgsec.hardening.audit", "-e", f"@{self.policy_file}",
                                             "-e", f"pgsec_audit_report_dir={self.report_dir / cfg}"])

    def baseline(self, cfg: str, size: int, rep: int) -> None:
        self.timed("baseline", cfg, size, rep, ["ansible-playbook", str(BASELINE), "-e", f"@{self.policy_file}"])

    def converge(self, kind: str, cfg: str, hosts: list[str], rep: int, before: dict | None = None) -> dict[str, dict]:
        """Time one harden run with CFG on HOSTS and count its restarts; returns the probe taken after it.

        BEFORE is a probe taken since the last change (the previous converge's), or None to take one.
        """
        if before is None or not set(hosts) <= set(before):
            before = self.probe(hosts)
        # The first converge takes --first-batch (all at once by default, like the floor); the others change
        # nothing, so the batch size does not matter to them and the playbook's default is kept.
        batch = ["-e", f"pgsec_harden_batch={self.args.first_batch}"] if kind in ("first_converge", FIRST_CONVERGE_REST) \
            and self.args.first_batch else []
        record = self.timed(kind, cfg, len(hosts), rep, ["ansible-playbook", "pgsec.hardening.harden",
                                                         "-e", f"@{self.policy_file}"] + batch
                            + HARDEN_EXTRA_ARGS[kind], hosts=hosts)[0]
        after = self.probe(hosts)
        per_host = {}
        for host in hosts:
            started_again = after[host]["start"] != before[host]["start"]
            per_host[host] = max(after[host]["ready"] - before[host]["ready"], 1 if started_again else 0)
        restarts = {"config": cfg, "size": len(hosts), "rep": rep + 1, "per_host": per_host,
                    "total": sum(per_host.values()), "max": max(per_host.values())}
        record["restarts"] = {"total": restarts["total"], "max_per_server": restarts["max"]}
        self.restarts[kind].append(restarts)
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
        self.lab_up_s = self.run("lab-up", [sys.executable, str(LAB_PY), "up"] + specs, self.lab_env, timeout=1200)[0]
        state = json.loads((STATE_DIR / "state.json").read_text())
        self.addresses = {host: state["hosts"][host]["addresses"]["mgmt"] for host in self.hosts}

    def lab_down(self) -> None:
        shutil.rmtree(self.control_dir, ignore_errors=True)  # the masters end with their hosts
        if self.args.keep_lab:
            print("bench: --keep-lab: the lab stays up (python3 lab/lab.py down)", flush=True)
            return
        try:
            self.lab_down_s = self.run("lab-down", [sys.executable, str(LAB_PY), "down"], self.lab_env, timeout=600)[0]
        except BenchError as exc:
            self.failures.append(str(exc))

    # ------------------------------------------------------------------ the benchmark

    def configs_in_order(self, rep: int) -> list[str]:
        """The cfgs, the first one alternating between repetitions, so neither always runs on a fresher machine."""
        configs = list(self.args.configs)
        return configs if rep % 2 == 0 else configs[::-1]

    def measure(self) -> None:
        self.policy_file.write_text(json.dumps(POLICY, indent=2) + "\n")
        self.plain_cfg.write_text(self.plain_cfg_text())
        self.lab_up()
        sizes, target_size = self.args.sizes, self.args.target_size
        for size in sizes:  # read-only: the insecure fleet as it was booted
            reps = self.reps_for(size)
            # The baseline is the slowest run: at the target size only, unless --scale-baseline.
            names = READ_ONLY if size == target_size or self.args.scale_baseline else ("floor", "audit")
            for rep in range(reps):
                print(f"bench: {size} hosts, repetition {rep + 1}/{reps}: {', '.join(names)} "
                      f"({', '.join(self.configs_in_order(rep))})", flush=True)
                for name in names:
                    for cfg in self.configs_in_order(rep):
                        getattr(self, name)(cfg, size, rep)
        probed = self.first_converge()
        for size in sizes:
            reps = self.reps_for(size)
            for rep in range(reps):
                print(f"bench: {size} hosts, repetition {rep + 1}/{reps}: no-op converge, check converge "
                      f"({', '.join(self.configs_in_order(rep))})", flush=True)
                for kind in CONVERGED:
                    for cfg in self.configs_in_order(rep):
                        # Hosts outside --limit kept their state, so their last probe stays valid.
                        probed = {**probed, **self.converge(kind, cfg, self.hosts[:size], rep, before=probed)}

    def first_converge(self) -> dict[str, dict]:
        """Harden the insecure fleet once: timed on the target size, then the rest of the fleet (not a figure)."""
        target_size = self.args.target_size
        print(f"bench: first converge on {target_size} hosts ({FIRST_CONVERGE_CONFIG} cfg)", flush=True)
        probed = self.converge("first_converge", FIRST_CONVERGE_CONFIG, self.hosts[:target_size], 0)
        rest = self.hosts[target_size:]
        if rest:
            print(f"bench: first converge on the other {len(rest)} hosts (not timed as a figure)", flush=True)
            probed.update(self.converge(FIRST_CONVERGE_REST, FIRST_CONVERGE_CONFIG, rest, 0))
        return probed

    def reps_for(self, size: int) -> int:
        """BENCH_REPS at the target size (the ratios and targets); BENCH_SCALE_REPS at the other sizes."""
        return self.args.reps if size == self.args.target_size else self.args.scale_reps

    # ------------------------------------------------------------------ results

    def summary(self) -> dict:
        results = summarize(self.runs, self.restarts, list(self.args.configs), self.args.target_size)
        batch_default = harden_batch_default()
        ansible_configs = {
            "suite": {"path": self.suite_cfg,
                      "from": "ANSIBLE_CONFIG" if os.environ.get("ANSIBLE_CONFIG") else "tests/ansible.cfg"},
            "plain": {"path": str(self.plain_cfg), "contents": self.plain_cfg_text(),
                      "environment_dropped": self.plain_env_dropped,
                      "environment_kept": [key for key in PLAIN_ENV_KEEP if key in self.envs["plain"]]},
        }
        return {
            "config": {
                "hosts": self.hosts, "profile": "insecure", "dist": self.args.dist, "smoke": self.args.smoke,
                "sizes": self.args.sizes, "target_size": self.args.target_size, "reps": self.args.reps,
                "scale_reps": self.args.scale_reps, "scale_baseline": self.args.scale_baseline,
                "configs": list(self.args.configs), "ansible_configs": ansible_configs,
                "forks": "fleet size (-f N for N hosts), with either cfg",
                "ssh_control_sockets": "one directory per cfg (ANSIBLE_SSH_CONTROL_PATH_DIR); a host idle "
                                       f"over {KEEP_WARM_S}s gets an untimed ping before a timed run",
                "first_converge": {
                    "config": FIRST_CONVERGE_CONFIG, "repetitions": 1,
                    "why": "it changes the hosts: timed once, on the target size, with the suite cfg",
                    "timed_hosts": self.args.target_size, "rest_of_fleet": len(self.hosts) - self.args.target_size,
                    "pgsec_harden_batch": self.args.first_batch or None,
                    "batch": (f"-e pgsec_harden_batch={self.args.first_batch}" if self.args.first_batch
                              else f"not given: the playbook's default ({batch_default or '?'})"),
                    "playbook_default_batch": batch_default,
                },
                "check_converge": "ansible-playbook pgsec.hardening.harden --check --diff, on the converged fleet",
                "tasks_counted": "from PLAY RECAP per host: tasks = ok + failed + unreachable + rescued (ok already "
                                 "counts changed and ignored); the ping floor is 1 task",
                "policy": POLICY, "ansible": ansible_version(self.envs["suite"]), "cpus": os.cpu_count(),
                "machine": platform.machine(), "python": platform.python_version(),
                "started": self.started, "baseline_playbook": str(BASELINE.relative_to(REPO)),
            },
            "lab_up_s": round(self.lab_up_s, 2) if self.lab_up_s is not None else None,
            "lab_down_s": round(self.lab_down_s, 2) if self.lab_down_s is not None else None,
            **results,
            "restarts": self.restarts,
            "runs": self.runs,
            "failures": self.failures,
        }

    def table(self, data: dict) -> str:
        configs = list(self.args.configs)
        target_size = str(self.args.target_size)
        cols = [str(size) for size in self.args.sizes]
        width = 40
        lines = [f"pgsec.hardening benchmark: {len(self.hosts)} hosts (insecure, {self.args.dist}), "
                 f"{self.args.reps} repetition(s) at {target_size} hosts ({self.args.scale_reps} at the other sizes), "
                 f"forks = hosts, {os.cpu_count()} CPUs, ansible-core {data['config']['ansible']}",
                 f"cfgs: suite = {self.suite_cfg}; plain = {self.plain_cfg} (forks, host_key_checking)",
                 f"lab up {fmt_s(data['lab_up_s'])}; median wall time per run; tasks per host at {target_size} "
                 "hosts (ran, skipped, changed):", ""]
        lines.append("".ljust(width) + f"{'cfg':<6}" + "".join(f"{c + ' hosts':>10}" for c in cols)
                     + f"{'tasks':>8}{'skipped':>8}{'changed':>8}")
        for name in FIGURES:
            for index, cfg in enumerate(configs):
                if name == "first_converge" and cfg != FIRST_CONVERGE_CONFIG:
                    continue
                label = LABELS[name] if index == 0 or name == "first_converge" else ""
                row = label.ljust(width) + f"{cfg:<6}"
                for col in cols:
                    row += f"{fmt_s(data['medians'].get(cfg, {}).get(name, {}).get(col)):>10}"
                counts = data["tasks"].get(cfg, {}).get(name, {}).get(target_size, {})
                for key in ("tasks", "skipped", "changed"):
                    row += f"{fmt_range(counts.get(f'{key}_per_host')):>8}"
                lines.append(row)
        lines.append("")
        rest = data["medians"].get(FIRST_CONVERGE_CONFIG, {}).get(FIRST_CONVERGE_REST, {})
        for size, seconds in rest.items():
            lines.append(f"first converge of the other {size} hosts (not a figure): {fmt_s(seconds)}")
        first = data["config"]["first_converge"]
        lines.append(f"first converge batch: {first['batch']}")
        for cfg in configs:
            counts = data["restarts_per_converge"].get(cfg, {})
            parts = []
            if "first_converge" in counts:
                entry = counts["first_converge"]
                parts.append(f"first converge {entry['total']} on {entry['servers']} servers "
                             f"(max {entry['max_per_server']} per server)")
            for kind, label in (("noop_converge", "no-op"), ("check_converge", "check")):
                parts.append(f"{label} converges {counts.get(kind, {}).get('per_run', [])}")
            lines.append(f"restarts ({cfg}): " + "; ".join(parts) + " (per run)")
            changed = [f"{label} {data['tasks'].get(cfg, {}).get(kind, {}).get(size, {}).get('changed_per_run', [])}"
                       f" at {size}" for kind, label in (("noop_converge", "no-op"), ("check_converge", "check"))
                       for size in cols if data["tasks"].get(cfg, {}).get(kind, {}).get(size)]
            if changed:
                lines.append(f"changed tasks ({cfg}, per run): " + "; ".join(changed))
        for cfg in configs:
            growth = data["growth"][cfg]
            if not growth["sizes"]:
                continue
            per_host = growth["seconds_per_extra_host"]
            figures = ", ".join(f"{name.replace('_converge', '')} {per_host[name]:+.2f}s"
                                for name in FIGURES if name in per_host)
            by_size = ", ".join(f"{size}: {fmt_x(value)}" for size, value in growth["noop_over_floor_by_size"].items())
            lines.append(f"growth ({cfg}) {growth['sizes'][0]} -> {growth['sizes'][1]} hosts, per extra host: "
                         f"{figures}; no-op/floor per extra host {fmt_x(growth['per_host_growth_ratio'])}; "
                         f"no-op/floor by size {by_size}")
        lines.append("")
        target_width = width + 14
        lines.append(f"{'target (at ' + target_size + ' hosts)':<{target_width}}{'cfg':<6}{'figure':>22}  result")
        for entry in data["targets"]:
            lines.append(f"{entry['target']:<{target_width}}{entry['config']:<6}{entry['shown']:>22}  "
                         f"{entry['result']}")
        for problem in data["correctness"]:
            lines.append(f"correctness: {problem}")
        for failure in data["failures"]:
            lines.append(f"FAILED: {failure.splitlines()[0]}")
        return "\n".join(lines)


def fmt_s(value) -> str:
    return "-" if value is None else f"{value:.1f}s"


def fmt_x(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def fmt_range(values) -> str:
    if not values:
        return "-"
    low, high = values
    return str(low) if low == high else f"{low}-{high}"


def ansible_version(env: dict) -> str:
    try:
        out = subprocess.run(["ansible", "--version"], text=True, capture_output=True, env=env, check=False).stdout
    except OSError:
        return "?"
    match = re.search(r"core ([0-9.]+)", out)
    return match.group(1) if match else "?"


def default_sizes(hosts: int, target_size: int) -> list[int]:
    """A small fleet, the target size and the whole fleet: 5, 20 and 50 by default."""
    return sorted({min(SMALLEST_SIZE, hosts), target_size, hosts})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="2 hosts, 1 repetition, one size, both cfgs; fail on restart errors")
    parser.add_argument("--hosts", type=int, default=int(os.environ.get("BENCH_HOSTS") or DEFAULT_HOSTS),
                        help=f"fleet size, the largest size of the growth curve (BENCH_HOSTS; default {DEFAULT_HOSTS})")
    parser.add_argument("--target-size", type=int,
                        default=int(os.environ["BENCH_TARGET_SIZE"]) if os.environ.get("BENCH_TARGET_SIZE") else None,
                        help="the size the ratios and targets are taken at, one of --sizes (BENCH_TARGET_SIZE; "
                             f"default {DEFAULT_TARGET_SIZE}, or --hosts when smaller)")
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS") or 3),
                        help="repetitions at the target size (BENCH_REPS; default 3)")
    parser.add_argument("--scale-reps", type=int, default=int(os.environ.get("BENCH_SCALE_REPS") or 1),
                        help="repetitions at the other sizes, for the growth curve (BENCH_SCALE_REPS; default 1)")
    parser.add_argument("--scale-baseline", action="store_true", default=bool(os.environ.get("BENCH_SCALE_BASELINE")),
                        help="time the baseline audit at the other sizes too (slow; default: the target size only)")
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES") or "",
                        help=f"comma-separated fleet sizes (BENCH_SIZES; default {SMALLEST_SIZE}, the target size "
                             "and --hosts); --hosts is always one")
    parser.add_argument("--configs", default=os.environ.get("BENCH_CONFIGS") or ",".join(CONFIGS),
                        help="the ansible.cfg's to time, comma-separated: suite (tests/ansible.cfg), plain "
                             "(written by the benchmark) (BENCH_CONFIGS; default both); the first converge "
                             "always uses suite")
    parser.add_argument("--out", default=os.environ.get("BENCH_OUT") or "",
                        help="the JSON (BENCH_OUT); its logs, policy and plain cfg go next to it")
    parser.add_argument("--first-batch", default=os.environ.get("BENCH_FIRST_BATCH", "100%"),
                        help="pgsec_harden_batch of the first converge (BENCH_FIRST_BATCH; default 100%%, every host "
                             "at once like the floor; empty for the playbook's default)")
    parser.add_argument("--dist", default="debian12")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end (debugging)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.hosts, args.reps, args.scale_reps, args.sizes, args.target_size = 2, 1, 1, "2", 2
    if not 1 <= args.hosts <= MAX_HOSTS:
        parser.error(f"--hosts must be between 1 and {MAX_HOSTS} (lab addresses .10+N, client at .100)")
    if args.reps < 1 or args.scale_reps < 1:
        parser.error("--reps and --scale-reps must be at least 1")
    if args.target_size is None:
        args.target_size = min(DEFAULT_TARGET_SIZE, args.hosts)
    if not 1 <= args.target_size <= args.hosts:
        parser.error(f"--target-size must be between 1 and --hosts ({args.hosts})")
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()})
    except ValueError:
        parser.error(f"--sizes: {args.sizes!r} is not a list of numbers")
    if not sizes:
        sizes = default_sizes(args.hosts, args.target_size)
    if sizes[0] < 1 or sizes[-1] > args.hosts:
        parser.error(f"--sizes must be between 1 and --hosts ({args.hosts})")
    if args.target_size not in sizes:
        parser.error(f"--target-size {args.target_size} must be one of --sizes {','.join(map(str, sizes))}")
    if sizes[-1] != args.hosts:
        sizes.append(args.hosts)  # the whole fleet, converged anyway, is the top of the growth curve
    args.sizes = sizes
    configs = [cfg.strip() for cfg in args.configs.split(",") if cfg.strip()]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown or not configs:
        parser.error(f"--configs: {args.configs!r}: choose from {', '.join(CONFIGS)}")
    args.configs = [cfg for cfg in CONFIGS if cfg in configs]
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
