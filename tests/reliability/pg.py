"""A real PostgreSQL on ports 23900-23999 that a test can stop and start again under a service."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

from tests.pg_testing import PostgresServer, PostgresUnavailable

PG_PORTS = (23900, 23999)


class RestartablePostgres(PostgresServer):
    """``pause()`` stops the server (as a crash would: immediate), ``resume()`` starts it again."""

    def _options(self) -> str:
        return (f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c fsync=off "
                "-c full_page_writes=off")

    def pause(self) -> None:
        assert self.dir is not None
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                  "-w", "stop")

    def resume(self) -> None:
        assert self.dir is not None
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-l",
                  str(self.dir / "log"), "-o", self._options(), "-w", "-t", "60", "start")


def start_postgres() -> RestartablePostgres:
    try:
        server = RestartablePostgres(PG_PORTS)
        server.start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        warnings.warn(f"SKIPPING PostgreSQL tests: {exc}", stacklevel=1)
        pytest.skip(f"PostgreSQL not installed: {exc}")
    return server


@pytest.fixture(scope="session")
def postgres_23k() -> Iterator[RestartablePostgres]:
    """One PostgreSQL for the reliability and security tests (ports 23900-23999)."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
