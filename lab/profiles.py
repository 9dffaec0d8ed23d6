"""Host profiles: what a lab host's PostgreSQL looks like before the collection touches it.

Each profile edits the host's root (before boot) and may run commands on the host
once it answers over SSH.
"""
from __future__ import annotations

import re
from pathlib import Path

PG18_DATA = "var/lib/pgsql/18/data"

PG18_UNIT = """\
[Unit]
Description=PostgreSQL 18 database server (data directory layout)
# This build has no systemd support (no sd_notify), so the unit is Type=simple.
After=network.target

[Service]
Type=simple
User=postgres
Group=postgres
Environment=PGDATA=/var/lib/pgsql/18/data
ExecStart=/usr/pgsql-18/bin/postgres -D ${PGDATA}
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
KillSignal=SIGINT
TimeoutSec=120

[Install]
WantedBy=multi-user.target
"""


def set_conf(path: Path, name: str, value: str) -> None:
    """Set NAME = VALUE in a postgresql.conf, replacing an active or commented line."""
    text = path.read_text()
    line = f"{name} = {value}"
    pattern = re.compile(rf"^[ \t]*#?[ \t]*{re.escape(name)}[ \t]*=.*$", re.M)
    if pattern.search(text):
        text = pattern.sub(line, text, count=1)
    else:
        text += line + "\n"
    path.write_text(text)


def config_dirs(root: Path) -> list[Path]:
    """Every cluster's configuration directory on the host: Debian's and PGDATA ones."""
    dirs = sorted(p.parent for p in root.glob("etc/postgresql/*/*/postgresql.conf"))
    pgdata = root / PG18_DATA
    if (pgdata / "postgresql.conf").exists():
        dirs.append(pgdata)
    return dirs


def insecure(root: Path, version: int, chroot) -> list[str]:
    """What servers in the wild often look like: open everywhere, no TLS, world sockets."""
    for conf in config_dirs(root):
        set_conf(conf / "postgresql.conf", "listen_addresses", "'*'")
        set_conf(conf / "postgresql.conf", "unix_socket_permissions", "0777")
        set_conf(conf / "postgresql.conf", "ssl", "off")
        with open(conf / "pg_hba.conf", "a") as hba:
            hba.write("host    all             all             0.0.0.0/0               md5\n"
                      "host    all             all             ::/0                    md5\n")
    return []


def debian_default(root: Path, version: int, chroot) -> list[str]:
    return []


def two_clusters(root: Path, version: int, chroot) -> list[str]:
    """A second Debian cluster on port 5433."""
    if not (root / f"etc/postgresql/{version}/second").exists():
        chroot(f"pg_createcluster {version} second -p 5433 >/dev/null")
    return []


def pg18_datadir(root: Path, version: int, chroot) -> list[str]:
    """PostgreSQL 18 with its configuration inside PGDATA, as RHEL and source builds keep it.

    The Debian cluster stays installed but disabled, so the only running server is 18.
    """
    (root / f"etc/postgresql/{version}/main/start.conf").write_text("disabled\n")
    (root / "etc/systemd/system/postgresql-18.service").write_text(PG18_UNIT)
    wants = root / "etc/systemd/system/multi-user.target.wants/postgresql-18.service"
    wants.parent.mkdir(parents=True, exist_ok=True)
    if not wants.is_symlink():
        wants.symlink_to("/etc/systemd/system/postgresql-18.service")
    if not (root / PG18_DATA / "PG_VERSION").exists():
        chroot("install -d -o postgres -g postgres -m 0700 /var/lib/pgsql/18/data && "
               "runuser -u postgres -- /usr/pgsql-18/bin/initdb -D /var/lib/pgsql/18/data "
               "--auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null")
    return []


def tmpfs_root(root: Path, version: int, chroot) -> list[str]:
    """The host's writes live in tmpfs over the image, as on LXC, podman and nspawn roots: chattr fails
    ("Operation not supported") on the image's files. lab.py puts the overlay's upper layer on a tmpfs
    of the controller, so a reboot of the host keeps what it wrote, as a container's would."""
    return []


PROFILES = {
    "insecure": insecure,
    "debian-default": debian_default,
    "two-clusters": two_clusters,
    "pg18-datadir": pg18_datadir,
    "tmpfs-root": tmpfs_root,
}
