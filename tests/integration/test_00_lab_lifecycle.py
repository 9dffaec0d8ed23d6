"""`lab up` then `lab down` leaves the machine as it found it (runs before the session lab)."""
from __future__ import annotations

import os

from labhosts import lab, run


def machine_snapshot() -> dict[str, list[str]]:
    processes = sorted(
        line.split(None, 1)[1] for line in run(["ps", "-eo", "pid=,args="]).stdout.splitlines()
        if "systemd-nspawn" in line or "pgsec-lab" in line)
    return {
        "netns": sorted(run(["ip", "netns", "list"]).stdout.split("\n")),
        "links": sorted(line.split(":")[1].split("@")[0].strip()
                        for line in run(["ip", "-o", "link"]).stdout.splitlines()),
        "mounts": sorted(line.split()[4] for line in open("/proc/self/mountinfo")),
        "processes": processes,
    }


def test_up_then_down_leaves_nothing_behind():
    lab("down")  # start from no lab at all, whatever an earlier run left
    before = machine_snapshot()
    lab("up", "--host", "lc1:debian-default")
    during = machine_snapshot()
    assert any("pgsec-h-lc1" in n for n in during["netns"]), "the host's namespace should exist while up"
    assert any("systemd-nspawn" in p for p in during["processes"])
    lab("down")
    lab("down")  # idempotent: a second down finds nothing and succeeds
    assert machine_snapshot() == before


def test_up_is_idempotent_and_keeps_the_running_host():
    lab("up", "--host", "lc1:debian-default")
    try:
        pid_before = open(os.path.join(os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab"),
                                       "state.json")).read()
        lab("up", "--host", "lc1:debian-default")
        pid_after = open(os.path.join(os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab"),
                                      "state.json")).read()
        assert pid_before == pid_after, "a second 'up' must not reboot a running host"
    finally:
        lab("down")
