"""Waiting in the event loop for commits made by the store's writer thread.

``asyncio.wrap_future`` wakes the loop once per future; a group commit
resolves hundreds at once. The bridge queues the finished ones and wakes the
loop once per batch.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any


class CommitBridge:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: list[tuple[asyncio.Future[Any], Future[Any]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def wait(self, future: Future[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        self._loop = loop
        waiter: asyncio.Future[Any] = loop.create_future()
        future.add_done_callback(lambda f: self._done(loop, waiter, f))
        return waiter

    def _done(self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[Any], future: Future[Any]) -> None:
        with self._lock:
            first = not self._ready
            self._ready.append((waiter, future))
        if first:
            loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
        for waiter, future in ready:
            if waiter.done():
                continue
            exc = future.exception()
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(future.result())
