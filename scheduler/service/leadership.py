"""Leader election for replicas of ``aicc serve`` on one PostgreSQL database.

An ``Elector`` thread per replica. A follower tries to take the lease every
``retry_s``; the leader renews it every ``renew_s``. The leader trusts its lease
only until ``valid_until``: the monotonic time it asked for the last successful
renewal plus the lease time less a margin, so it stops acting before anyone could
take the lease over, even if its process was paused (SIGSTOP, a long GC) or its
database connection cut. Acting stops there; writing is fenced by the database
itself (``scheduler.store.lease.fence``). A lost lease is final: ``on_lost``
(``aicc serve`` exits, and a fresh start rejoins as a follower, the way
kube-controller-manager does).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from scheduler.store.lease import Deposed, Lease, LeaseState

log = logging.getLogger(__name__)


class Elector:
    def __init__(self, lease: Lease, *, renew_s: float, retry_s: float,
                 on_elected: Callable[[int], None], on_lost: Callable[[str], None],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if renew_s * 2 >= lease.ttl_s:
            raise ValueError(f"renew every {renew_s} s is too slow for a lease of {lease.ttl_s} s")
        self.lease = lease
        self.renew_s = renew_s
        self.retry_s = retry_s
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.monotonic = monotonic
        self.margin_s = max(0.5, lease.ttl_s * 0.1)
        self.epoch: int | None = None
        self.valid_until = 0.0
        self.lost: str | None = None
        #: the lease as last read (followers: who leads, where to forward writes)
        self.seen: LeaseState | None = None
        #: epochs seen change (the first one seen is not a change)
        self.changes = 0
        self._stop = threading.Event()
        self._losing = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="aicc-elector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def leading(self) -> bool:
        """True while this replica holds the lease and its term has not run out."""
        return self.lost is None and self.epoch is not None and self.monotonic() < self.valid_until

    def stop(self, *, resign: bool = True) -> None:
        """Stop; a leader resigns, so that a standby takes over at once (rolling upgrades)."""
        self._stop.set()
        self._thread.join(5)
        if resign and self.epoch is not None and self.lost is None and self.leading():
            self.lost = "resigned"  # from now on this replica neither acts nor counts as leading
            try:
                self.lease.resign(self.epoch)
                log.info("resigned the leader lease (epoch %d)", self.epoch)
            except Exception as exc:
                log.warning("could not resign the leader lease: %s", exc)

    def _observe(self, state: LeaseState) -> None:
        if self.seen is not None and state.epoch != self.seen.epoch:
            self.changes += 1
        self.seen = state

    def _run(self) -> None:
        while not self._stop.is_set() and self.lost is None:
            if self.epoch is None:
                self._try_acquire()
                if self.epoch is None:
                    self._stop.wait(self.retry_s)
            else:
                self._renew()
                if self.lost is None:
                    left = self.valid_until - self.monotonic()
                    self._stop.wait(max(0.0, min(self.renew_s, left)))

    def _try_acquire(self) -> None:
        asked = self.monotonic()
        try:
            epoch = self.lease.acquire()
            self._observe(self.lease.read())
        except Exception as exc:
            log.warning("leader election: the database does not answer: %s", str(exc).splitlines()[0])
            return
        if epoch is None:
            return
        self.valid_until = asked + self.lease.ttl_s - self.margin_s
        self.epoch = epoch
        log.warning("elected leader (epoch %d)", epoch)
        threading.Thread(target=self._elected, args=(epoch,), name="aicc-takeover", daemon=True).start()

    def _elected(self, epoch: int) -> None:
        try:
            self.on_elected(epoch)
        except Exception as exc:
            log.exception("taking over as leader failed")
            self._lose(f"the takeover failed: {type(exc).__name__}: {exc}")

    def _renew(self) -> None:
        assert self.epoch is not None
        asked = self.monotonic()
        try:
            renewed = self.lease.renew(self.epoch)
        except Exception as exc:
            log.warning("could not renew the leader lease: %s", str(exc).splitlines()[0])
            renewed = None
        if renewed:
            if asked < self.valid_until:  # still ours when asked: the new term counts from then
                self.valid_until = asked + self.lease.ttl_s - self.margin_s
                return
            self._lose("the lease term ran out before it was renewed (was this process paused?)")
        elif renewed is False:
            self._lose("another replica holds the lease")
        elif self.monotonic() >= self.valid_until:
            self._lose("the lease could not be renewed within its term")

    def give_up(self, why: str) -> None:
        """Leadership is over for good (the loop found the term over): never renewed again."""
        self._lose(why)

    def _lose(self, why: str) -> None:
        with self._losing:
            if self.lost is not None:
                return
            self.lost = why
        log.critical("lost the leader lease (epoch %s): %s", self.epoch, why)
        self.on_lost(why)


class LeaderOnlyExecutor:
    """The executor, acting (start, stop) only while ``may_act`` says this replica leads.

    Reads (poll, known, logs) pass. Checked right before each act, on the monotonic
    clock: a leader paused past its term refuses when it resumes, before it asks again.
    """

    def __init__(self, executor: Any, may_act: Callable[[], bool]) -> None:
        self._executor = executor
        self._may_act = may_act

    @property
    def inner(self) -> object:
        """What it wraps (``scheduler.engine.ports.unwrapped``: its capabilities)."""
        return self._executor

    def start(self, job: Any, grace_s: float) -> None:
        if not self._may_act():
            log.warning("not the leader (any more): job %s not started", job.id)
            raise Deposed(f"not the leader: job {job.id} not started")
        log.info("executor: start job %s", job.id)
        self._executor.start(job, grace_s)

    def stop(self, job_id: str, grace_s: float) -> None:
        if not self._may_act():
            raise Deposed(f"not the leader: job {job_id} not stopped")
        self._executor.stop(job_id, grace_s)

    def poll(self) -> Any:
        return self._executor.poll()

    def known(self) -> Any:
        return self._executor.known()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._executor, name)
