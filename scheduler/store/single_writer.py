"""One writer per SQLite file: ``aicc serve`` takes an exclusive lock next to the database.

SQLite would let two services write the same file, each with its own engine in memory,
and each would undo the other's decisions. The lock (``flock`` on ``<db>.lock``) is
released by the kernel when the process ends, kill -9 included.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url


class SecondWriter(RuntimeError):
    """Another process serves this SQLite database."""


def lock_sqlite(url: str) -> IO[str] | None:
    """Lock the SQLite file of ``url`` for this process; None for other databases (and memory).

    Keep the returned file open for as long as the service runs; closing it releases the lock.
    """
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    db = Path(u.database or "").expanduser()
    db.parent.mkdir(parents=True, exist_ok=True)
    path = db.with_name(db.name + ".lock")
    f = open(path, "a+")  # noqa: SIM115 - held open for the life of the service
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise SecondWriter(f"another aicc serve ({holder}) is writing to {db}: SQLite allows one "
                           "service per database (run replicas on PostgreSQL with --ha)") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}\n")
    f.flush()
    return f
