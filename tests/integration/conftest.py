"""One lab for the whole integration session: booted once, stopped at the end."""
from __future__ import annotations

import os

import pytest

from labhosts import Lab, lab

# Every profile the suite relies on, each on its own host.
SESSION_HOSTS = [
    "pg1:insecure",
    "pg2:debian-default",
    "pg3:pg18-datadir",
    "pg4:debian-default+two-clusters",
    "pg5:insecure:debian13",
    # Standbys for the lockout guard's primary/standby pairs (pg1 -> pg6, pg5 -> pg7).
    "pg6:debian-default",
    "pg7:debian-default:debian13",
]


@pytest.fixture(scope="session")
def lab_hosts():
    lab("up", *[arg for spec in SESSION_HOSTS for arg in ("--host", spec)])
    try:
        yield Lab.load()
    finally:
        if not os.environ.get("PGSEC_KEEP_LAB"):
            lab("down")
