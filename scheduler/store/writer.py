"""One writer thread with group commit.

Every write is a small function of a connection, queued; the writer takes
everything queued so far and runs it in ONE transaction, then resolves each
caller's future. Many concurrent submissions then cost one commit, and all
writes are serialized in the order they were queued (SQLite's one-writer rule,
and "record before act": a job's insert is always committed no later than the
decision that admits it). If a batch fails, its writes are retried one by one
so that one bad write fails alone.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

Write = Callable[[Connection], Any]


class RawInsert:
    """An INSERT run on the driver's cursor with rows as tuples: no per-row work in SQLAlchemy.

    For the hot path (job submissions); JSON values must already be strings.
    """

    def __init__(self, table: str, columns: tuple[str, ...]) -> None:
        self.table = table
        self.columns = columns
        self._sql: dict[str, str] = {}

    def sql(self, paramstyle: str) -> str:
        text = self._sql.get(paramstyle)
        if text is None:
            mark = "?" if paramstyle == "qmark" else "%s"
            text = (f"INSERT INTO {self.table} ({', '.join(self.columns)}) "
                    f"VALUES ({', '.join([mark] * len(self.columns))})")
            self._sql[paramstyle] = text
        return text

    def executemany(self, conn: Connection, rows: list[Any]) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            cursor.executemany(self.sql(conn.dialect.paramstyle), rows)
        finally:
            cursor.close()


class Inserts:
    """A write that is only inserts: consecutive ones are merged into one executemany each.

    ``parts`` is a list of (statement, rows); merged writes keep the order of statements.
    """

    __slots__ = ("parts",)

    def __init__(self, parts: list[tuple[Any, list[Any]]]) -> None:
        self.parts = parts

    def __call__(self, conn: Connection) -> None:
        for stmt, rows in self.parts:
            if rows:
                conn.execute(stmt, rows)


#: Most writes per transaction; a bigger burst is split.
MAX_BATCH = 2000


class WriterClosed(RuntimeError):
    """The store was closed; nothing more is written."""


class Writer:
    def __init__(self, engine: Engine, name: str = "aicc-store-writer") -> None:
        self.engine = engine
        self._queue: deque[tuple[Write, Future[Any]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.batches = 0
        self.writes = 0
        #: run first in every transaction (the leader lease's fence); raising rolls it back
        self.fence: Callable[[Connection], None] | None = None
        #: exceptions of the fence: the whole batch fails with it, no write is retried alone
        self.fence_errors: tuple[type[BaseException], ...] = ()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, write: Write) -> Future[Any]:
        future: Future[Any] = Future()
        with self._cond:
            if self._closed:
                raise WriterClosed("the store is closed")
            self._queue.append((write, future))
            if len(self._queue) == 1:
                self._cond.notify()
        return future

    def run(self, write: Write, timeout: float | None = 60.0) -> Any:
        """Queue a write and wait until it is committed."""
        if threading.current_thread() is self._thread:  # a write inside a write: run inline
            raise RuntimeError("nested write")
        return self.submit(write).result(timeout)

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def _take(self) -> list[tuple[Write, Future[Any]]] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            n = min(len(self._queue), MAX_BATCH)
            return [self._queue.popleft() for _ in range(n)]

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            self._commit(batch)

    def _commit(self, batch: list[tuple[Write, Future[Any]]]) -> None:
        batch = [(w, f) for w, f in batch if f.set_running_or_notify_cancel()]
        try:
            with self.engine.begin() as conn:
                if self.fence is not None:
                    self.fence(conn)
                results = _run_merged(conn, [w for w, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, self.fence_errors):
                log.warning("store write%s failed: %s", "s" if len(batch) > 1 else "", exc)
                for _, future in batch:
                    future.set_exception(exc)
                return
            for item in batch:  # find the bad one: each alone
                self._commit_one(item)
            return
        self.batches += 1
        self.writes += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def _commit_one(self, item: tuple[Write, Future[Any]]) -> None:
        write, future = item
        try:
            with self.engine.begin() as conn:
                if self.fence is not None:
                    self.fence(conn)
                result = write(conn)
        except Exception as exc:
            future.set_exception(exc)
            return
        self.batches += 1
        self.writes += 1
        future.set_result(result)


def _run_merged(conn: Connection, writes: list[Write]) -> list[Any]:
    """Run the writes in order; a run of ``Inserts`` with the same statements is one executemany."""
    results: list[Any] = []
    i = 0
    while i < len(writes):
        w = writes[i]
        if not isinstance(w, Inserts):
            results.append(w(conn))
            i += 1
            continue
        stmts = [stmt for stmt, _ in w.parts]
        rows = [list(r) for _, r in w.parts]
        j = i + 1
        while j < len(writes):
            nxt = writes[j]
            if not isinstance(nxt, Inserts) or len(nxt.parts) != len(stmts) or any(
                    a is not b for a, (b, _) in zip(stmts, nxt.parts, strict=True)):
                break
            for k, (_, more) in enumerate(nxt.parts):
                rows[k].extend(more)
            j += 1
        for stmt, r in zip(stmts, rows, strict=True):
            if not r:
                continue
            if isinstance(stmt, RawInsert):
                stmt.executemany(conn, r)
            else:
                conn.execute(stmt, r)
        results.extend([None] * (j - i))
        i = j
    return results
