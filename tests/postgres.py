"""A throwaway PostgreSQL cluster for the workspace tests (Debian's ``postgresql`` package), and
``db_url``: a fresh workspace database on SQLite and on that PostgreSQL, for tests parametrized over both.

``initdb`` into a temporary folder, ``pg_ctl start`` on a free local port with its socket in
that folder, ``pg_ctl stop`` and the folder removed at the end of the session. PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` user (``runuser``).
Missing binaries skip the PostgreSQL half of the tests with a message, except under
``CI=true``, where they fail: there the tests must run (``make test`` installs the package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

INITDB_GLOB = "/usr/lib/postgresql/*/bin/initdb"


def find_bin_dir() -> Path | None:
    found = sorted(glob.glob(INITDB_GLOB), key=lambda path: int(Path(path).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        # mkdtemp makes the folder 0700; the postgres user must be able to reach its data in it.
        self.base = Path(tempfile.mkdtemp(prefix="email-ad-pg-"))
        os.chmod(self.base, 0o755)
        self.data = self.base / "data"
        self.socket_dir = self.base / "socket"
        self.port = _free_port()
        self.log = self.base / "server.log"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=timeout, cwd=self.base, check=False
        )

    def start(self) -> None:
        self.socket_dir.mkdir()
        if self.as_root:
            user = pwd.getpwnam("postgres")
            for path in (self.base, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        initdb = str(self.bin_dir / "initdb")
        init = self._run(initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )
        if started.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log[-2000:]}")

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh empty database; its URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_cluster():
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = (
            f"PostgreSQL server binaries not found ({INITDB_GLOB}): install Debian's postgresql package "
            "(make test does) to run the workspace tests against PostgreSQL"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; under CI=true these tests must run", pytrace=False)
        pytest.skip(message)
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty workspace database URL on each backend (PostgreSQL: a new database per test)."""
    from core.workspace import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'workspace.db'}"
    else:
        url = request.getfixturevalue("postgres_cluster").create_database(f"ws_{uuid.uuid4().hex[:12]}")
    yield url
    db.dispose_engines()
