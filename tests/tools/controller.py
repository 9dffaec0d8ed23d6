"""The two ends of the ansible-core range the collection supports, as ready controllers.

    python3 tests/tools/controller.py build core217|core221   build (or reuse) the cached controller
    python3 tests/tools/controller.py run NAME [--bind DIR] -- CMD [ARG...]
    python3 tests/tools/controller.py path NAME                where it is cached

core217  ansible-core 2.17 (the oldest meta/runtime.yml claims) in a venv on this machine's python3.
core221  ansible-core 2.21 needs Python >= 3.12: a copy of the lab's cached Debian 13 image
         (Python 3.13) with a venv in it, entered with chroot. It shares this machine's network,
         so it reaches the lab hosts by SSH like the other controllers do.

Each controller is pinned by tests/controllers/NAME.txt (pip) and, for the chroot, NAME.apt
(Debian packages); its cache path carries a hash of those files, so a new pin builds a new one.
The `ansible` package of the matching major release brings community.crypto, ansible.posix and
community.general; `run` points ANSIBLE_COLLECTIONS_PATH at this checkout's collection and at
those, and ANSIBLE_CONFIG at tests/ansible.cfg unless the caller set one.

In the chroot the checkout, the lab's state directory, /tmp, /proc, /sys, /dev and this machine's
resolv.conf and CA bundle (it shares this machine's network) are mounted in a private mount
namespace and unmounted when the command ends, also when it fails; the namespace takes any mount
that is left with it. ansible-test downloads get-pip.py to seed its venvs; `run` puts
tests/tools/get_pip_offline.py where it looks first.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PINS = REPO / "tests" / "controllers"
CACHE = Path(os.environ.get("PGSEC_LAB_CACHE", "/var/cache/pgsec-lab"))
LAB_STATE = Path(os.environ.get("PGSEC_LAB_STATE", "/var/tmp/pgsec-lab"))
COLLECTIONS = REPO / ".build" / "collections"
GET_PIP_SHIM = REPO / "tests" / "tools" / "get_pip_offline.py"
CONTROLLERS = ("core217", "core221")
IMAGE = "debian13"           # the lab image the chroot controller is copied from
CHROOT_VENV = "/opt/pgsec-controller"
RESOLV_CONF = Path("/etc/resolv.conf")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Passed from the caller into the chroot; everything else starts clean there.
PASS_PREFIXES = ("ANSIBLE_", "PGSEC_")
PASS_NAMES = ("TERM", "NO_COLOR", "PY_COLORS", "PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT", "TZ")


def _hash(name: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(PINS.glob(name + ".*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def location(name: str) -> Path:
    if name == "core217":
        return CACHE / f"venv-{name}-{_hash(name)}"
    return CACHE / "controllers" / f"{name}-{_hash(name)}"


def _log(msg: str) -> None:
    print(f"controller: {msg}", flush=True)


def _lock(name: str):
    CACHE.mkdir(parents=True, exist_ok=True)
    handle = open(CACHE / f".controller-{name}.lock", "w")  # pylint: disable=consider-using-with
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _pip_install(python: str, requirements: Path) -> None:
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(requirements)], check=True)


def build_core217() -> Path:
    venv = location("core217")
    if (venv / "bin" / "ansible-playbook").exists():
        return venv
    started = time.monotonic()
    work = venv.with_name(venv.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["python3", "-m", "venv", str(work)], check=True)
    _pip_install(str(work / "bin" / "python"), PINS / "core217.txt")
    # A venv's scripts name their interpreter by path; re-point them after the move.
    for script in (work / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            text = script.read_bytes()
            if text.startswith(b"#!" + str(work).encode() + b"/"):
                script.write_bytes(text.replace(str(work).encode(), str(venv).encode(), 1))
    work.rename(venv)
    _log(f"built core217 in {time.monotonic() - started:.0f}s: {venv}")
    return venv


def _image_stamp() -> str:
    root = CACHE / "images" / IMAGE / "rootfs"
    stamp = root.parent / "stamp"
    if not (root.is_dir() and stamp.exists()):
        sys.exit(f"controller: no {IMAGE} lab image in {root.parent}; "
                 f"build it first: python3 lab/lab.py build --dist {IMAGE}")
    return stamp.read_text().strip()


def build_core221() -> Path:
    """A copy of the Debian 13 lab image (never the image itself) with a venv holding the pins."""
    dest = location("core221")
    root, stamp = dest / "rootfs", dest / "stamp"
    want = f"{IMAGE} {_image_stamp()}"
    if root.is_dir() and stamp.exists() and stamp.read_text().strip() == want:
        return root
    started = time.monotonic()
    work = dest / "rootfs.new"
    if work.exists():
        shutil.rmtree(work)
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(CACHE / "images" / IMAGE / "rootfs"), str(work)], check=True)
    packages = [line.split("#")[0].strip() for line in (PINS / "core221.apt").read_text().splitlines()]
    shutil.copy(PINS / "core221.txt", work / "opt" / "pgsec-controller.txt")
    script = f"""
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends {' '.join(p for p in packages if p)} >/dev/null
        apt-get clean
        rm -rf /var/lib/apt/lists/*
        python3 -m venv {CHROOT_VENV}
        {CHROOT_VENV}/bin/python -m pip install --quiet --disable-pip-version-check -r /opt/pgsec-controller.txt
    """
    rc = enter(work, ["/bin/sh", "-ec", script], _chroot_env({}), cwd="/", binds=[])
    if rc != 0:
        sys.exit(f"controller: building core221 failed (exit {rc}); the half-built copy is {work}")
    if root.exists():
        shutil.rmtree(root)
    work.rename(root)
    stamp.write_text(want + "\n")
    _log(f"built core221 in {time.monotonic() - started:.0f}s: {root}")
    return root


def build(name: str) -> Path:
    with _lock(name):
        return build_core217() if name == "core217" else build_core221()


# ---------------------------------------------------------------------------- the chroot

def _inside(root: Path, path: Path) -> Path:
    """PATH under ROOT, refusing any symlink on the way: a mount must never land outside ROOT."""
    target = root / str(path).lstrip("/")
    real = os.path.realpath(target)
    if real != str(target) and not real.startswith(os.path.realpath(root) + "/"):
        sys.exit(f"controller: {target} resolves outside the chroot ({real})")
    return target


def _mount_all(root: Path, binds: list[Path], mounted: list[Path]) -> None:
    def mount(args: list[str], target: Path) -> None:
        subprocess.run(["mount", *args, str(target)], check=True)
        mounted.append(target)

    mount(["-t", "proc", "proc"], _inside(root, Path("/proc")))
    mount(["--rbind", "/sys"], _inside(root, Path("/sys")))
    mount(["--rbind", "/dev"], _inside(root, Path("/dev")))
    # The chroot uses this machine's network, so it resolves names and trusts certificates (pip's
    # index, through whatever proxy this machine's trust store accepts) as this machine does.
    for shared in (RESOLV_CONF, CA_BUNDLE):
        target = _inside(root, shared)
        if shared.is_file() and target.is_file() and not target.is_symlink():
            mount(["--bind", "-o", "ro", os.path.realpath(shared)], target)
    for source in binds:
        target = _inside(root, source)
        target.mkdir(parents=True, exist_ok=True)
        mount(["--bind", str(source)], target)


def _unmount_all(mounted: list[Path]) -> None:
    for target in reversed(mounted):
        if subprocess.run(["umount", "-R", str(target)], check=False).returncode != 0:
            subprocess.run(["umount", "-R", "-l", str(target)], check=False)


def _run_chrooted(root: Path, argv: list[str], env: dict, cwd: str, binds: list[Path]) -> int:
    """Runs in a private mount namespace (see enter): mount, run, always unmount."""
    mounted: list[Path] = []
    child = None

    def forward(signum, _frame):
        if child is not None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        _mount_all(root, binds, mounted)

        def into_root():
            os.chroot(str(root))
            os.chdir(cwd if os.path.isdir(cwd) else "/")

        try:
            child = subprocess.Popen(argv, env=env, preexec_fn=into_root)  # pylint: disable=subprocess-popen-preexec-fn
        except OSError as exc:
            print(f"controller: cannot run {argv[0]} in {root}: {exc.strerror}", file=sys.stderr)
            return 127
        return child.wait()
    finally:
        _unmount_all(mounted)


def _enter_argv(root: Path, argv: list[str], cwd: str, binds: list[Path]) -> list[str]:
    """ARGV chrooted into ROOT in a private mount namespace of its own (unshare execs, no fork)."""
    return ["unshare", "--mount", "--propagation", "private", "--",
            sys.executable, str(Path(__file__).resolve()), "_chrooted", str(root), cwd,
            *[arg for path in binds for arg in ("--bind", str(path))], "--", *argv]


def enter(root: Path, argv: list[str], env: dict, cwd: str, binds: list[Path]) -> int:
    # The environment crosses as-is: the inner step hands exactly ENV to the command.
    return subprocess.run(_enter_argv(root, argv, cwd, binds), env=env, check=False).returncode


def _chroot_env(overrides: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k.startswith(PASS_PREFIXES) or k in PASS_NAMES}
    env.update({"PATH": f"{CHROOT_VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                "DEBIAN_FRONTEND": "noninteractive", "USER": "root", "LOGNAME": "root",
                "PIP_CERT": str(CA_BUNDLE)})
    env.update(overrides)
    return env


# ---------------------------------------------------------------------------- running a command

def _site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    if not found:
        sys.exit(f"controller: no site-packages under {prefix}")
    return found[-1]


def _seed_get_pip(site_packages: Path, home: Path) -> None:
    """ansible-test looks for get-pip.py in its cache before downloading it; put the shim there."""
    source = site_packages / "ansible_test" / "_internal" / "python_requirements.py"
    if not source.exists():
        return
    match = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", source.read_text())
    if match:
        cache = home / ".ansible" / "test" / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(GET_PIP_SHIM, cache / f"get_pip_{match.group(1).replace('.', '_')}.py")


def _collection_link() -> None:
    """The collection as Ansible finds it: ansible_collections/pgsec/hardening -> this checkout."""
    link = COLLECTIONS / "ansible_collections" / "pgsec" / "hardening"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and os.readlink(link) == str(REPO)):
        if link.is_symlink():
            link.unlink()
        link.symlink_to(REPO)


def run(name: str, argv: list[str], binds: list[Path]) -> None:
    _collection_link()
    config = os.environ.get("ANSIBLE_CONFIG", str(REPO / "tests" / "ansible.cfg"))
    if name == "core217":
        venv = build(name)
        site = _site_packages(venv)
        _seed_get_pip(site, Path.home())
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update({"PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                    "VIRTUAL_ENV": str(venv), "ANSIBLE_CONFIG": config,
                    "ANSIBLE_COLLECTIONS_PATH": f"{COLLECTIONS}:{site}"})
        # exec: the caller's signals and timeouts reach the command itself.
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as exc:
            sys.exit(f"controller: cannot run {argv[0]}: {exc.strerror}")
    root = build(name)
    site = _site_packages(root / CHROOT_VENV.lstrip("/"))
    _seed_get_pip(site, root / "root")
    chroot_site = "/" + str(site.relative_to(root))
    env = _chroot_env({"VIRTUAL_ENV": CHROOT_VENV, "ANSIBLE_CONFIG": config,
                       "ANSIBLE_COLLECTIONS_PATH": f"{COLLECTIONS}:{chroot_site}"})
    mounts = [REPO, Path("/tmp")] + ([LAB_STATE] if LAB_STATE.is_dir() else [])
    mounts += [path.resolve() for path in binds]
    # exec: a signal to this process reaches the step that forwards it and then unmounts.
    os.execvpe("unshare", _enter_argv(root, argv, os.getcwd(), mounts), env)


def main() -> int:
    # Everything after the first "--" is the command, passed on untouched.
    args_in = sys.argv[1:]
    split = args_in.index("--") if "--" in args_in else len(args_in)
    argv = args_in[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for verb in ("build", "path"):
        sub.add_parser(verb).add_argument("name", choices=CONTROLLERS)
    run_parser = sub.add_parser("run", usage="controller.py run NAME [--bind DIR] -- CMD [ARG...]")
    run_parser.add_argument("name", choices=CONTROLLERS)
    run_parser.add_argument("--bind", action="append", type=Path, default=[],
                            help="another directory the command needs (core221: mounted at the same path)")
    inner = sub.add_parser("_chrooted")
    inner.add_argument("root", type=Path)
    inner.add_argument("cwd")
    inner.add_argument("--bind", action="append", type=Path, default=[])
    args = parser.parse_args(args_in[:split])
    if args.command == "build":
        print(build(args.name))
    elif args.command == "path":
        print(location(args.name))
    elif args.command == "run":
        if not argv:
            parser.error("run: no command given after --")
        run(args.name, argv, args.bind)
    elif args.command == "_chrooted":
        return _run_chrooted(args.root, argv, dict(os.environ), args.cwd, args.bind)
    return 0


if __name__ == "__main__":
    sys.exit(main())
