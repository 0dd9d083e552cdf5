"""The center: nodes (cordon, drain), usage now, the ledger, the audit log."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from scheduler.domain import Center, JobState, Node, NodeState, Tenant, ancestors, parents_of
from scheduler.domain.errors import NotFound
from scheduler.service.base import ServiceBase
from scheduler.service.ledger import LedgerLine, ledger

log = logging.getLogger(__name__)


class Operations(ServiceBase):
    """Nodes, usage now, the ledger and the audit log."""

    def center(self) -> Center:
        """The center as the engine sees it now (node states included)."""
        return self.engine.center

    def node(self, name: str) -> Node:
        center = self.engine.center
        if not center.has_node(name):
            raise NotFound("node-not-found", f"node {name!r} not found")
        return center.node(name)

    def node_allocations(self) -> dict[str, int]:
        """Devices held per node."""
        with self._locked():
            out: dict[str, int] = {}
            for a in self.engine.holding.values():
                for w in a.placement.workers:
                    out[w.node] = out.get(w.node, 0) + len(w.devices)
            return out

    def node_jobs(self, name: str) -> list[str]:
        with self._locked():
            return [j.id for j in self.engine.jobs_on_node(name)]

    def set_node_state(self, actor: str, name: str, state: NodeState) -> None:
        with self._locked():
            self.engine.set_node_state(name, state)
            self.store.audit(actor, f"node.{'cordon' if state is NodeState.CORDONED else 'uncordon'}",
                             name, {"state": state.value})
        self.kick()

    def drain(self, actor: str, name: str, *, preempt: bool) -> tuple[list[str], list[str]]:
        """Cordon and, with ``preempt``, stop what runs there. Returns (stopped, still running)."""
        with self._locked():
            if preempt:
                stopped = self.engine.drain(name)
            else:
                self.engine.set_node_state(name, NodeState.CORDONED)
                stopped = []
            left = [j.id for j in self.engine.jobs_on_node(name) if j.id not in stopped]
            self.store.audit(actor, "node.drain", name, {"preempt": preempt, "stopped": stopped})
        self.kick()
        return stopped, left

    def usage(self) -> dict[str, dict[str, Any]]:
        """Per tenant: devices and GFLOPS in use, GFLOPS borrowed, by type; live job counts."""
        with self._locked():
            e = self.engine
            gflops = {n: a.gflops for n, a in e.center.accelerators.items()}
            out: dict[str, dict[str, Any]] = {
                t: {"devices": {}, "in_use": 0, "borrowed": 0, "pending": 0, "running": 0}
                for t in sorted(e.tenants)}
            for a in e.holding.values():
                u = out.setdefault(a.spec.tenant, {"devices": {}, "in_use": 0, "borrowed": 0,
                                                   "pending": 0, "running": 0})
                g = gflops[a.placement.accelerator] * a.placement.devices
                u["devices"][a.placement.accelerator] = u["devices"].get(a.placement.accelerator, 0) + a.placement.devices
                u["in_use"] += g
                if e.jobs[a.id].borrowing:
                    u["borrowed"] += g
            for j in e.jobs.values():
                t = out.get(j.spec.tenant)
                if t is None:
                    continue
                if j.state is JobState.PENDING:
                    t["pending"] += 1
                elif j.state in (JobState.ADMITTED, JobState.RUNNING):
                    t["running"] += 1
            return subtree_usage(e.tenants, out)

    def ledger(self, start: float, end: float, tenant: str | None) -> list[LedgerLine]:
        """What was consumed in the window; a parent's ledger is its subtree's (by leaf)."""
        gflops = {n: a.gflops for n, a in self.config.center.accelerators.items()}
        tenants = self.engine.tenants
        if tenant is not None and tenant in parents_of(tenants):
            runs = [r for r in self.store.runs(start, end, None)
                    if r.tenant == tenant or tenant in ancestors(tenants, r.tenant)]
        else:
            runs = self.store.runs(start, end, tenant)
        return ledger(runs, start, end, self.clock.now(), gflops)

    def subtree_totals(self, lines: Sequence[LedgerLine]) -> dict[str, tuple[float, float]]:
        """Per parent with consumption in ``lines``: its subtree's device-hours and PFLOPS-hours."""
        tenants = self.engine.tenants
        out: dict[str, tuple[float, float]] = {}
        for x in lines:
            for a in ancestors(tenants, x.tenant):
                dev, pf = out.get(a, (0.0, 0.0))
                out[a] = (dev + x.device_hours, pf + x.pflops_hours)
        return dict(sorted(out.items()))

    def audit(self, actor: str, action: str, target: str, detail: Mapping[str, Any]) -> None:
        self.store.audit(actor, action, target, detail)

    def audit_log(self, *, after_id: int | None, limit: int, actor: str | None,
                  target: str | None) -> list[dict[str, Any]]:
        return self.store.audit_log(after_id=after_id, limit=limit, actor=actor, target=target)


def subtree_usage(tenants: Mapping[str, Tenant], per_tenant: dict[str, dict[str, Any]]
                  ) -> dict[str, dict[str, Any]]:
    """A parent's usage is its subtree's: each leaf's numbers are added to its ancestors'."""
    inner = parents_of(tenants)
    for leaf in [n for n in sorted(per_tenant) if n in tenants and n not in inner and tenants[n].parent]:
        u = per_tenant[leaf]
        for a in ancestors(tenants, leaf):
            total = per_tenant[a]
            for key in ("in_use", "borrowed", "pending", "running"):
                total[key] += u[key]
            for accel, n in u["devices"].items():
                total["devices"][accel] = total["devices"].get(accel, 0) + n
    return per_tenant
