"""The simulator's events: one heap, in (time, kind, sequence) order.

Events at one time are taken kind by kind in the order of ``Kind``: node
failures and repairs first (a node lost stops jobs now), then arrivals, then
what the executor reports, then wake-ups, then a tick's step. The executor keeps
its own queue (only it knows when a job ends); the heap holds one entry at its
next event time, brought up to date before each batch.
"""

from __future__ import annotations

import heapq
from enum import IntEnum
from typing import NamedTuple


class Kind(IntEnum):
    NODE = 0  # a node fails or is repaired
    ARRIVAL = 1  # the next jobs of the trace are submitted
    EXECUTOR = 2  # the executor has events (starts, finishes, stops, losses)
    WAKE = 3  # something changes with time alone: a reserved start passes, a job ages
    TICK = 4  # with a tick: a step is due
    RESTEP = 5  # without a tick: step once more, now


class Event(NamedTuple):
    at: float
    kind: Kind
    seq: int  # ties among events of one kind and time (node events)
    node: str = ""
    up: bool = False  # NODE: repaired (True) or failed; EXECUTOR: a poll forced by a node event


class EventHeap:
    def __init__(self) -> None:
        self._heap: list[Event] = []
        self._executor_at: set[float] = set()  # times of EXECUTOR entries in the heap
        self._wakes: set[float] = set()  # times of WAKE entries in the heap

    def push(self, event: Event) -> None:
        heapq.heappush(self._heap, event)

    def executor_at(self, at: float | None) -> None:
        """The executor's next event is ``at`` (None: it has none); drop entries that are
        not (the executor dropped its stale events) from the head."""
        heap = self._heap
        if at is not None and at not in self._executor_at:
            self._executor_at.add(at)
            heapq.heappush(heap, Event(at, Kind.EXECUTOR, 0))
        while heap and heap[0].kind is Kind.EXECUTOR and not heap[0].up and heap[0].at != at:
            self._executor_at.discard(heapq.heappop(heap).at)

    def wake(self, at: float) -> None:
        """Wake up at ``at`` (once, however often asked)."""
        if at not in self._wakes:
            self._wakes.add(at)
            heapq.heappush(self._heap, Event(at, Kind.WAKE, 0))

    def next_at(self) -> float | None:
        return self._heap[0].at if self._heap else None

    def pop_until(self, t: float) -> Event | None:
        """The next event at ``t`` or before, or None."""
        heap = self._heap
        if not heap or heap[0].at > t:
            return None
        event = heapq.heappop(heap)
        if event.kind is Kind.EXECUTOR and not event.up:
            self._executor_at.discard(event.at)
        elif event.kind is Kind.WAKE:
            self._wakes.discard(event.at)
        return event
