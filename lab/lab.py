"""The pgsec.hardening lab: real Debian hosts running PostgreSQL, booted with systemd-nspawn.

  lab.py build [--dist debian12]          build (or reuse) the cached image
  lab.py up [--host NAME:PROFILES[:DIST]]  boot hosts and client namespaces, write an inventory
  lab.py down                              stop everything the lab made
  lab.py restart NAME                      reboot one host (its disk survives)
  lab.py status                            what is running
  lab.py standby NAME --of PRIMARY         make NAME a streaming standby of PRIMARY

Network (all inside 198.18.0.0/15, on veths this lab creates):
  pgsec-mgmt  198.18.0.0/24  controller .1, hosts .10+  (SSH, Ansible)
  pgsec-app   198.18.1.0/24  hosts .10+, client 'allowed' .100, client 'neighbour' .200
  pgsec-ext   198.18.2.0/24  hosts .10+, client 'denied' .200
Hosts keep their disk in an overlay over the cached image, so a restart is a real reboot.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import image  # noqa: E402
import profiles  # noqa: E402

STATE_DIR = Path(os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab"))
STATE_FILE = STATE_DIR / "state.json"
INVENTORY = STATE_DIR / "inventory.yml"
SSH_KEY = STATE_DIR / "id_ed25519"

NETWORKS = {  # bridge -> (prefix, controller address or None, interface name inside hosts)
    "mgmt": ("198.18.0", "198.18.0.1", "mgmt0"),
    "app": ("198.18.1", None, "app0"),
    "ext": ("198.18.2", None, "ext0"),
}
CLIENTS = {"allowed": ("app", 100), "neighbour": ("app", 200), "denied": ("ext", 200)}
DEFAULT_HOSTS = ["pg1:insecure", "pg2:debian-default", "pg3:pg18-datadir"]
# Structural profiles first (they create clusters), then the ones that shape their config.
PROFILE_ORDER = ["tmpfs-root", "pg18-datadir", "two-clusters", "debian-default", "insecure"]
BOOT_TIMEOUT = 90


def sh(*cmd: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=check, text=True,
                          stdout=subprocess.PIPE if quiet else None,
                          stderr=subprocess.PIPE if quiet else None)


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def delete_link(name: str) -> None:
    """Delete a link; its veth peer may vanish on its own as a namespace goes, so allow that."""
    if link_exists(name):
        proc = sh("ip", "link", "del", name, check=False, quiet=True)
        if proc.returncode != 0 and link_exists(name):
            sys.exit(f"lab: could not delete link {name}: {proc.stderr.strip()}")


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def load_state() -> dict:
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return {"hosts": {}, "clients": {}}


def save_state(state: dict) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = STATE_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(STATE_FILE)


# ---------------------------------------------------------------- network

def bridge_up(net: str) -> None:
    bridge = f"pgsec-{net}"
    controller = NETWORKS[net][1]
    if not link_exists(bridge):
        sh("ip", "link", "add", bridge, "type", "bridge")
    if controller:
        sh("ip", "addr", "replace", f"{controller}/24", "dev", bridge)
    sh("ip", "link", "set", bridge, "up")


def attach(netns: str, net: str, outer: str, inner: str, address: str) -> None:
    """A veth from bridge NET into namespace NETNS, named INNER there, with ADDRESS/24."""
    if not link_exists(outer):
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", netns)
    sh("ip", "link", "set", outer, "master", f"pgsec-{net}", "up")
    # A MAC made from the address: a host booted again answers with the MAC its neighbours cached.
    mac = "02:00:" + ":".join(f"{int(octet):02x}" for octet in address.split("."))
    sh("ip", "-n", netns, "link", "set", inner, "address", mac)
    sh("ip", "-n", netns, "addr", "replace", f"{address}/24", "dev", inner)
    sh("ip", "-n", netns, "link", "set", inner, "up")


def netns_up(netns: str) -> None:
    if not netns_exists(netns):
        sh("ip", "netns", "add", netns)
    sh("ip", "-n", netns, "link", "set", "lo", "up")


def client_up(name: str) -> dict:
    net, octet = CLIENTS[name]
    netns = f"pgsec-c-{name}"
    netns_up(netns)
    address = f"{NETWORKS[net][0]}.{octet}"
    attach(netns, net, f"pgc-{name[:8]}", "eth0", address)
    return {"netns": netns, "address": address, "network": net}


# ---------------------------------------------------------------- hosts

def parse_spec(spec: str) -> tuple[str, list[str], str]:
    parts = spec.split(":")
    if not 2 <= len(parts) <= 3 or not parts[0].isalnum() or len(parts[0]) > 10:
        sys.exit(f"lab: bad host spec {spec!r}: want NAME:PROFILE[+PROFILE][:DIST], NAME alnum <= 10")
    names = parts[1].split("+")
    for name in names:
        if name not in profiles.PROFILES:
            sys.exit(f"lab: unknown profile {name!r} in {spec!r}; known: {', '.join(profiles.PROFILES)}")
    dist = parts[2] if len(parts) == 3 else "debian12"
    if dist not in image.DISTRIBUTIONS:
        sys.exit(f"lab: unknown distribution {dist!r}; known: {', '.join(image.DISTRIBUTIONS)}")
    return parts[0], sorted(names, key=PROFILE_ORDER.index), dist


def host_dirs(name: str) -> dict[str, Path]:
    base = STATE_DIR / "hosts" / name
    return {"base": base, "upper": base / "upper", "work": base / "work", "root": base / "root",
            "tmpfs": base / "tmpfs"}


def is_mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mountinfo") as info:
        return any(line.split()[4] == target for line in info)


def mount_root(name: str, dist: str, tmpfs: bool = False) -> Path:
    d = host_dirs(name)
    upper, work = d["upper"], d["work"]
    if tmpfs:  # the host's writes in tmpfs: a root without file attributes, as in containers
        layer = d["tmpfs"]
        layer.mkdir(parents=True, exist_ok=True)
        if not is_mounted(layer):
            sh("mount", "-t", "tmpfs", "-o", "size=2g,mode=0755", f"pgsec-lab-tmpfs-{name}", str(layer))
        upper, work = layer / "upper", layer / "work"
    for path in (upper, work, d["root"]):
        path.mkdir(parents=True, exist_ok=True)
    if not is_mounted(d["root"]):
        sh("mount", "-t", "overlay", f"pgsec-lab-{name}", "-o",
           f"lowerdir={image.image_root(dist)},upperdir={upper},workdir={work}",
           str(d["root"]))
    return d["root"]


def chroot_runner(root: Path):
    def run(script: str) -> None:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
        subprocess.run(["chroot", str(root), "/bin/sh", "-ec", script], check=True, env=env)
    return run


def prepare_root(name: str, index: int, host_profiles: list[str], dist: str) -> Path:
    root = mount_root(name, dist, tmpfs="tmpfs-root" in host_profiles)
    (root / "etc/hostname").write_text(name + "\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(SSH_KEY.with_suffix(".pub").read_text())
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    marker = root / "etc/pgsec-lab-profiles"
    if not marker.exists():  # a profile shapes a host once; a reboot keeps what it became
        version = image.DISTRIBUTIONS[dist][1]
        run = chroot_runner(root)
        for profile in host_profiles:
            profiles.PROFILES[profile](root, version, run)
        marker.write_text(" ".join(host_profiles) + "\n")
    return root


def boot(name: str) -> int:
    d = host_dirs(name)
    log = open(d["base"] / "console.log", "ab")
    cmd = ["systemd-nspawn", "-D", str(d["root"]), "-M", name, "-b",
           f"--network-namespace-path=/run/netns/pgsec-h-{name}", "--register=no",
           "--keep-unit", "--console=passive", "--resolv-conf=off", "--timezone=off",
           "--link-journal=no", "--capability=CAP_NET_ADMIN,CAP_NET_RAW,CAP_SYS_MODULE"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    return proc.pid


def host_up(name: str, index: int, host_profiles: list[str], dist: str, state: dict) -> dict:
    netns = f"pgsec-h-{name}"
    netns_up(netns)
    addresses = {}
    for net, (prefix, _controller, inner) in NETWORKS.items():
        addresses[net] = f"{prefix}.{10 + index}"
        attach(netns, net, f"pg{net[0]}-{name}", inner, addresses[net])
    prepare_root(name, index, host_profiles, dist)
    entry = state["hosts"].get(name, {})
    if not (entry.get("pid") and pid_alive(entry["pid"])):
        entry["pid"] = boot(name)
    entry.update({"index": index, "profiles": host_profiles, "dist": dist,
                  "addresses": addresses, "netns": netns})
    return entry


def pid_alive(pid: int) -> bool:
    """True while the host's nspawn runs (not a zombie, not a reused PID)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return False
    # Right after the fork the command line can still be the launcher's.
    return not cmdline or b"systemd-nspawn" in cmdline or b"python" in cmdline


def ssh_args(address: str) -> list[str]:
    return ["ssh", "-i", str(SSH_KEY), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=3", "-o", "BatchMode=yes", f"root@{address}"]


def wait_ready(name: str, entry: dict, deadline: float) -> None:
    address = entry["addresses"]["mgmt"]
    while time.monotonic() < deadline:
        if not pid_alive(entry["pid"]):
            sys.exit(f"lab: host {name} stopped while booting; see {host_dirs(name)['base']}/console.log")
        try:
            with socket.create_connection((address, 22), timeout=1):
                pass
        except OSError:
            time.sleep(0.3)
            continue
        # SSH answers; wait for systemd to finish starting units (PostgreSQL among them).
        probe = subprocess.run(ssh_args(address) + ["timeout 30 systemctl is-system-running --wait"],
                               text=True, capture_output=True, check=False)
        state = probe.stdout.strip()
        if state in ("running", "degraded"):
            if state == "degraded":
                failed = subprocess.run(ssh_args(address) + ["systemctl --failed --no-legend"],
                                        text=True, capture_output=True, check=False).stdout
                print(f"lab: {name} is degraded:\n{failed}", file=sys.stderr)
            return
        time.sleep(0.5)
    sys.exit(f"lab: host {name} did not come up within {BOOT_TIMEOUT}s")


def finish_host(entry: dict) -> None:
    """After boot (every unit started): give the postgres role the lab password on every running cluster."""
    password = (STATE_DIR / "postgres-password").read_text().strip()
    script = (
        "set -e; cd /; systemctl is-system-running --wait >/dev/null || true; for sock in /var/run/postgresql/.s.PGSQL.* /tmp/.s.PGSQL.*; do "
        "[ -S \"$sock\" ] || continue; port=${sock##*.}; dir=${sock%/*}; "
        f"runuser -u postgres -- psql -qAt -h \"$dir\" -p \"$port\" -c \"ALTER ROLE postgres PASSWORD '{password}'\" >/dev/null; done")
    subprocess.run(ssh_args(entry["addresses"]["mgmt"]) + [script], check=True)


def write_inventory(state: dict) -> None:
    password = (STATE_DIR / "postgres-password").read_text().strip()
    groups: dict[str, list[str]] = {}
    lines = ["# Written by lab/lab.py; the lab's hosts, rebuilt on every 'lab up'.",
             "all:", "  vars:",
             "    ansible_user: root",
             f"    ansible_ssh_private_key_file: {SSH_KEY}",
             "    ansible_ssh_common_args: >-",
             "      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
             "    ansible_python_interpreter: /usr/bin/python3",
             f"    pgsec_lab_postgres_password: {password}",
             "    pgsec_lab_clients:"]
    for cname, client in sorted(state["clients"].items()):
        lines.append(f"      {cname}: {{netns: {client['netns']}, address: {client['address']}, "
                     f"network: {client['network']}}}")
    lines.append("  hosts:")
    for name, entry in sorted(state["hosts"].items(), key=lambda kv: kv[1]["index"]):
        a = entry["addresses"]
        lines += [f"    {name}:", f"      ansible_host: {a['mgmt']}",
                  f"      pgsec_lab_addresses: {{mgmt: {a['mgmt']}, app: {a['app']}, ext: {a['ext']}}}",
                  f"      pgsec_lab_profiles: [{', '.join(entry['profiles'])}]",
                  f"      pgsec_lab_dist: {entry['dist']}"]
        for group in entry["profiles"] + [entry["dist"]]:
            groups.setdefault(group.replace("-", "_"), []).append(name)
    lines.append("  children:")
    for group, members in sorted(groups.items()):
        lines.append(f"    {group}:")
        lines.append("      hosts:")
        lines += [f"        {member}:" for member in members]
    INVENTORY.write_text("\n".join(lines) + "\n")


# Each booted host's systemd, journald, logind and dbus hold inotify instances; past about twenty
# hosts the kernel's default of 128 per user runs out and hosts boot degraded or not at all.
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_PER_HOST = 32


def raise_inotify_limit(hosts: int, state: dict) -> None:
    """Enough inotify instances for the hosts; the machine's own value is kept in the state for down."""
    current = int(INOTIFY_INSTANCES.read_text())
    needed = 128 + INOTIFY_PER_HOST * hosts
    if current < needed:
        state.setdefault("inotify_max_user_instances", current)
        INOTIFY_INSTANCES.write_text(f"{needed}\n")


def up(specs: list[str]) -> None:
    started = time.monotonic()
    parsed = [parse_spec(s) for s in specs]
    if len({p[0] for p in parsed}) != len(parsed):
        sys.exit("lab: host names must be unique")
    for dist in sorted({p[2] for p in parsed}):
        image.build(dist)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    if not SSH_KEY.exists():
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pgsec-lab", "-f", str(SSH_KEY))
    password_file = STATE_DIR / "postgres-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(18) + "\n")
        password_file.chmod(0o600)
    state = load_state()
    raise_inotify_limit(len(parsed), state)
    save_state(state)
    stale = set(state["hosts"]) - {p[0] for p in parsed}
    for name in stale:  # hosts from an earlier 'up' with another spec
        host_down(name, state["hosts"].pop(name))
    for net in NETWORKS:
        bridge_up(net)
    for cname in CLIENTS:
        state["clients"][cname] = client_up(cname)
    for index, (name, host_profiles, dist) in enumerate(parsed, start=1):
        previous = state["hosts"].get(name)
        if previous and (previous["profiles"] != host_profiles or previous["dist"] != dist):
            host_down(name, state["hosts"].pop(name), wipe=True)
        state["hosts"][name] = host_up(name, index, host_profiles, dist, state)
        save_state(state)
    deadline = time.monotonic() + BOOT_TIMEOUT
    for name, entry in state["hosts"].items():
        wait_ready(name, entry, deadline)
        finish_host(entry)
    write_inventory(state)
    print(f"lab: {len(parsed)} hosts up in {time.monotonic() - started:.1f}s; inventory {INVENTORY}")


def stop_pid(pid: int, timeout: float = 20) -> None:
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)  # nspawn asks the host's systemd to power off
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.1)
    # Not our child once 'up' has exited: wait for init to reap it, so nothing is left behind.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)


def host_down(name: str, entry: dict, wipe: bool = True) -> None:
    if entry.get("pid"):
        stop_pid(entry["pid"])
    d = host_dirs(name)
    if is_mounted(d["root"]):
        sh("umount", str(d["root"]))
    if is_mounted(d["tmpfs"]):
        sh("umount", str(d["tmpfs"]))
    for net in NETWORKS:
        delete_link(f"pg{net[0]}-{name}")
    if netns_exists(f"pgsec-h-{name}"):
        sh("ip", "netns", "del", f"pgsec-h-{name}")
    if wipe and d["base"].exists():
        shutil.rmtree(d["base"])


def restart(name: str) -> None:
    state = load_state()
    if name not in state["hosts"]:
        sys.exit(f"lab: no host {name}")
    entry = state["hosts"][name]
    stop_pid(entry["pid"])
    entry["pid"] = boot(name)
    save_state(state)
    wait_ready(name, entry, time.monotonic() + BOOT_TIMEOUT)


def reset(name: str) -> None:
    """Boot a host again from a fresh copy of its image and profiles, as 'up' first made it."""
    started = time.monotonic()
    state = load_state()
    if name not in state["hosts"]:
        sys.exit(f"lab: no host {name}")
    entry = state["hosts"].pop(name)
    host_down(name, entry, wipe=True)
    state["hosts"][name] = host_up(name, entry["index"], entry["profiles"], entry["dist"], state)
    save_state(state)
    wait_ready(name, state["hosts"][name], time.monotonic() + BOOT_TIMEOUT)
    finish_host(state["hosts"][name])
    write_inventory(state)
    print(f"lab: {name} reset in {time.monotonic() - started:.1f}s")


REPLICATOR = "replicator"


def make_standby(name: str, primary: str) -> None:
    """Make NAME a streaming standby of PRIMARY (same PostgreSQL version, Debian layout, cluster main).

    The primary gets a replication role and a `host replication` line for the standby, as DBAs set
    them up; the standby's data directory is replaced by a pg_basebackup of the primary.
    """
    state = load_state()
    for host in (name, primary):
        if host not in state["hosts"]:
            sys.exit(f"lab: no host {host}")
    standby_entry, primary_entry = state["hosts"][name], state["hosts"][primary]
    version = image.DISTRIBUTIONS[standby_entry["dist"]][1]
    if version != image.DISTRIBUTIONS[primary_entry["dist"]][1]:
        sys.exit(f"lab: {name} and {primary} run different PostgreSQL versions")
    password = (STATE_DIR / "postgres-password").read_text().strip()
    standby_app = standby_entry["addresses"]["app"]
    conf = f"/etc/postgresql/{version}/main"
    data = f"/var/lib/postgresql/{version}/main"
    psql = "runuser -u postgres -- psql -XAtq -h /var/run/postgresql"
    subprocess.run(ssh_args(primary_entry["addresses"]["mgmt"]) + [
        f"set -e; cd /; {psql} -c \"DO \\$\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{REPLICATOR}') "
        f"THEN CREATE ROLE {REPLICATOR} LOGIN REPLICATION; END IF; END\\$\\$\"; "
        f"{psql} -c \"ALTER ROLE {REPLICATOR} PASSWORD '{password}'\"; "
        f"grep -q '^host replication {REPLICATOR} {standby_app}/32' {conf}/pg_hba.conf || "
        f"echo 'host replication {REPLICATOR} {standby_app}/32 scram-sha-256' >> {conf}/pg_hba.conf; "
        f"{psql} -c 'SELECT pg_reload_conf()' >/dev/null"], check=True)
    primary_app = primary_entry["addresses"]["app"]
    subprocess.run(ssh_args(standby_entry["addresses"]["mgmt"]) + [
        f"set -e; cd /; systemctl stop postgresql@{version}-main; rm -rf {data}; "
        f"echo '{primary_app}:5432:replication:{REPLICATOR}:{password}' > /var/lib/postgresql/.pgpass; "
        f"chown postgres: /var/lib/postgresql/.pgpass; chmod 0600 /var/lib/postgresql/.pgpass; "
        f"runuser -u postgres -- pg_basebackup -h {primary_app} -U {REPLICATOR} -D {data} -R -X stream "
        f"-C -S {name}; "
        # pg_basebackup -R writes sslmode=disable when the primary has no TLS; leave libpq's default, as
        # most standbys have it, so that the standby uses TLS once the primary offers it.
        f"sed -i 's/ sslmode=disable / sslmode=prefer /' {data}/postgresql.auto.conf; "
        f"systemctl start postgresql@{version}-main"], check=True)
    print(f"lab: {name} streams from {primary}")


def down() -> None:
    state = load_state()
    for name, entry in list(state["hosts"].items()):
        host_down(name, entry)
    # Whatever an interrupted run left behind, found by name rather than by state.
    for leftover in (STATE_DIR / "hosts").glob("*") if (STATE_DIR / "hosts").exists() else []:
        host_down(leftover.name, {})
    for netns in sorted(os.listdir("/run/netns")) if Path("/run/netns").exists() else []:
        if netns.startswith("pgsec-"):
            sh("ip", "netns", "del", netns)
    for link in sorted(os.listdir("/sys/class/net")):
        if link.startswith(("pgsec-", "pgc-", "pgm-", "pga-", "pge-")):
            delete_link(link)
    # `ip netns add` mounts /run/netns on first use and never takes it back; once no namespace
    # is left (none of ours, none of anyone's), undo that too, so down leaves what up found.
    # (A bind mount of the same file system: os.path.ismount cannot tell, mountinfo can.)
    netns_dir = Path("/run/netns")
    mounted = any(line.split()[4] == str(netns_dir) for line in Path("/proc/self/mountinfo").read_text().splitlines())
    if mounted and not any(netns_dir.iterdir()):
        sh("umount", str(netns_dir))
    if "inotify_max_user_instances" in state:
        INOTIFY_INSTANCES.write_text(f"{state['inotify_max_user_instances']}\n")
    STATE_FILE.unlink(missing_ok=True)
    INVENTORY.unlink(missing_ok=True)
    print("lab: down")


def status() -> None:
    state = load_state()
    for name, entry in sorted(state["hosts"].items()):
        alive = "running" if entry.get("pid") and pid_alive(entry["pid"]) else "stopped"
        print(f"{name:10} {alive:8} {entry['addresses']['mgmt']:14} {entry['dist']:9} "
              f"{'+'.join(entry['profiles'])}")
    for name, client in sorted(state["clients"].items()):
        print(f"client {name:10} {client['address']:14} {client['netns']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--dist", action="append", choices=sorted(image.DISTRIBUTIONS))
    b.add_argument("--force", action="store_true")
    u = sub.add_parser("up")
    u.add_argument("--host", action="append", metavar="NAME:PROFILES[:DIST]")
    u.add_argument("--hosts", type=int, metavar="N", help="N hosts of profile insecure")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("inventory")
    r = sub.add_parser("restart")
    r.add_argument("name")
    sub.add_parser("reset").add_argument("name")
    s = sub.add_parser("standby", help="make a host a streaming standby of another")
    s.add_argument("name")
    s.add_argument("--of", required=True, metavar="PRIMARY")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("lab: must run as root (namespaces, mounts, nspawn)")
    if args.command == "build":
        for dist in args.dist or ["debian12"]:
            image.build(dist, force=args.force)
    elif args.command == "up":
        specs = args.host or ([f"pg{i}:insecure" for i in range(1, args.hosts + 1)]
                              if args.hosts else DEFAULT_HOSTS)
        up(specs)
    elif args.command == "down":
        down()
    elif args.command == "status":
        status()
    elif args.command == "inventory":
        print(INVENTORY)
    elif args.command == "restart":
        restart(args.name)
    elif args.command == "reset":
        reset(args.name)
    elif args.command == "standby":
        make_standby(args.name, args.of)


if __name__ == "__main__":
    main()
