"""A throwaway PostgreSQL server from Debian's binaries, for tests and benchmarks.

``PostgresServer().start()`` runs initdb into a temporary directory and starts
the server on 127.0.0.1 at a free port of the range given (as the ``postgres``
user when run as root, since PostgreSQL refuses to run as root). ``url`` is an
SQLAlchemy URL; ``stop()`` stops it and removes the directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine (apt-get install postgresql)."""


def find_bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    raise PostgresUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")


def free_port(lo: int, hi: int) -> int:
    for port in range(lo, hi + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {lo}-{hi}")


class PostgresServer:
    def __init__(self, port_range: tuple[int, int] = (18400, 18499)) -> None:
        self.bindir = find_bindir()
        self.port_range = port_range
        self.dir: Path | None = None
        self.port = 0
        self._as: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://aicc@127.0.0.1:{self.port}/aicc"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        self.dir = Path(tempfile.mkdtemp(prefix="aicc-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "aicc", "-A", "trust",
                  "-E", "UTF8", "--no-sync")
        self.port = free_port(*self.port_range)
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c fsync=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"),
                  "-o", opts, "-w", "-t", "60", "start")
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "aicc", "aicc")
        return self

    def create_database(self, name: str) -> str:
        """A fresh database on this server; returns its URL."""
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "aicc", name)
        return f"postgresql+psycopg://aicc@127.0.0.1:{self.port}/{name}"

    def fresh_database(self, name: str = "tests") -> str:
        """A database emptied of every table (reused: much cheaper than a new one per test).

        Nothing may be connected to it while it is emptied.
        """
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=aicc"
        with psycopg.connect(f"{dsn} dbname=aicc", autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(f"{dsn} dbname={name}", autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        return f"postgresql+psycopg://aicc@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.dir is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                      "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
