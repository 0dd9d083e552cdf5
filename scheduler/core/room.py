"""Counting room for a gang as running jobs release devices, without placing it.

Preemption counts the room its victims leave, backfill the room the jobs that
end first leave; both stop at the first count that lets the gang fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scheduler.core.placement import Capacity


class Room:
    """How many workers of a gang the ready nodes of one type hold, counted as jobs
    release devices, without changing the capacity.

    ``Capacity.fit`` finds a placement exactly when that count (``total``) reaches the
    gang's workers, and a release only adds room: so the fewest releases that let a
    gang fit are found by counting, without trying placements.
    """

    def __init__(self, cap: Capacity, type_idx: int, per_worker: int, cpus: int, mem: int,
                 blocked: Mapping[int, int] | None = None) -> None:
        self.cap, self.type_idx, self.per, self.cpus, self.mem = cap, type_idx, per_worker, cpus, mem
        self.blocked = blocked
        #: node -> [free bits, cpus, memory] with the released jobs gone
        self.nodes: dict[int, list[int]] = {}
        # Nodes with fewer than ``per_worker`` free devices hold no worker, now.
        self.total = sum(self._room(i, cap.free[i], cap.cpu[i], cap.mem[i])
                         for i in cap.nodes_with(type_idx, per_worker))

    def _room(self, i: int, bits: int, cpu: int, memory: int) -> int:
        blocked = self.blocked
        k = (bits & ~blocked.get(i, 0) if blocked else bits).bit_count() // self.per
        if self.cpus:
            k = min(k, cpu // self.cpus)
        if self.mem:
            k = min(k, memory // self.mem)
        return max(k, 0)

    def release(self, takes: Iterable[tuple[int, int, int, int]]) -> None:
        """Count (node, device mask, cpus, memory) as given back."""
        self._change(takes, 1)

    def take(self, takes: Iterable[tuple[int, int, int, int]]) -> None:
        """Count released (node, device mask, cpus, memory) as taken again."""
        self._change(takes, -1)

    def _change(self, takes: Iterable[tuple[int, int, int, int]], sign: int) -> None:
        cap, nodes, room, per = self.cap, self.nodes, self._room, self.per
        ready, node_type, t = cap.ready, cap.node_type, self.type_idx
        devices_only = not (self.cpus or self.mem or self.blocked)  # room is free devices // per
        total = self.total
        for node, mask, cpus, mem in takes:
            if not ready[node] or node_type[node] != t:
                continue
            state = nodes.get(node)
            if state is None:
                state = nodes[node] = [cap.free[node], cap.cpu[node], cap.mem[node]]
            bits, cpu, memory = state
            after = bits | mask if sign > 0 else bits & ~mask
            state[0], state[1], state[2] = after, cpu + sign * cpus, memory + sign * mem
            if devices_only:
                total += after.bit_count() // per - bits.bit_count() // per
            else:
                total += room(node, *state) - room(node, bits, cpu, memory)
        self.total = total
