"""A throw-away PostgreSQL cluster on a free loopback port, for the checkpoint tests.

Debian's `postgresql` package (`.ci/run` installs it when missing). PostgreSQL refuses to run as
root, so as root the cluster belongs to the `postgres` user; its folder is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from comp_llm_graph.evaluation.fleet import free_ports


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL cluster (trust authentication, 127.0.0.1 only)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does)")
    bin_dir = os.path.dirname(found[-1])
    folder = tempfile.mkdtemp(prefix="comp-llm-pg-")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = free_ports(1)[0]
    data = os.path.join(folder, "data")
    subprocess.run(_as_postgres([f"{bin_dir}/initdb", "-D", data, "-A", "trust", "-U",
                                 "postgres"]), check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    subprocess.run(_as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-o", options, "-l",
                                 os.path.join(folder, "log"), "-w", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate",
                                     "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
