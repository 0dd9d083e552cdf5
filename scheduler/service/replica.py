"""High availability: which replica leads, how a follower keeps its view, and taking over."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from scheduler.service.base import ServiceBase
from scheduler.service.leadership import Elector

log = logging.getLogger(__name__)


class Replication(ServiceBase):
    """Leading or following (high availability, PostgreSQL only)."""

    def leads(self) -> bool:
        """This replica may decide and act now."""
        if self.elector is None:
            return self.role == "leader"
        return self.role == "leader" and self.elector.leading()

    def _may_act(self) -> bool:
        """The executor may be told to start or stop jobs (leading, or taking over)."""
        return (self.role in ("leader", "taking-over") and self.elector is not None
                and self.elector.leading())

    def leader_address(self) -> str | None:
        """Where the leader answers (followers forward writes there); None: nobody leads now."""
        if self.elector is None:
            return None
        seen = self.elector.seen
        return seen.address if seen is not None and seen.held else None

    def leadership(self) -> dict[str, Any]:
        """Who leads, for the API and ``aicc center show``."""
        if self.elector is None:
            return {"mode": "single", "role": self.role, "leader": self.settings.replica_name,
                    "epoch": None, "address": None, "changes": 0}
        seen = self.elector.seen
        return {"mode": "ha", "role": self.role,
                "leader": seen.holder if seen is not None and seen.held else None,
                "epoch": seen.epoch if seen is not None else None,
                "address": seen.address if seen is not None and seen.held else None,
                "changes": self.elector.changes}

    def _start_replica(self) -> None:
        import os
        import socket
        import uuid

        s = self.settings
        name = s.replica_name or socket.gethostname()
        address = s.advertise_url or f"http://{socket.gethostname()}:{s.port}"
        holder = f"{name}/{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.holder = holder
        self.store.refuse_writes("this replica is a follower: the leader writes")
        lease = self.store.lease(holder, address, s.lease_ttl_s)
        self.elector = Elector(lease, renew_s=s.lease_renew_s, retry_s=s.lease_retry_s,
                               on_elected=self._take_over, on_lost=self._deposed)
        self._follower = threading.Thread(target=self._follow, name="aicc-follower", daemon=True)
        self._follower.start()
        self.elector.start()
        self.ready = True

    def _follow(self) -> None:
        """A follower's view: the engine reloaded from the store every ``follower_refresh_s``."""
        while self.role == "follower" and not self._stopping:
            time.sleep(self.settings.follower_refresh_s)
            try:
                engine = self._new_engine()
                tokens = {t.id: t for t in self.store.tokens()}
            except Exception as exc:
                log.warning("follower refresh failed: %s", str(exc).splitlines()[0])
                continue
            with self.lock:
                if self.role != "follower":
                    return
                self.engine = engine
                self._tokens = tokens

    def _take_over(self, epoch: int) -> None:
        """Elected: fence the store by this epoch, rebuild the engine from it, reconcile, lead."""
        with self.lock:
            self.role = "taking-over"
            self.store.fence_to(self.holder, epoch)
            self._inbox.clear()
            self._unrecorded.clear()
            self._idem.clear()
            self._tokens = {t.id: t for t in self.store.tokens()}
            self.engine = self._new_engine()
        repairs = self._lead(role="leader")
        log.warning("leading (epoch %d): reconciled with the executor, %d repairs", epoch, len(repairs))

    def _deposed(self, why: str) -> None:
        """The lease is lost: refuse every write, stop the loop, and tell ``on_deposed``."""
        self.role = "deposed"
        self.ready = False
        self.store.refuse_writes(f"deposed: {why}")
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self.on_deposed is not None:
            self.on_deposed(why)
