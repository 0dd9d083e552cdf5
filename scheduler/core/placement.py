"""Where a gang goes: free devices per node, and all-or-nothing placement.

Placement prefers one node, then one rack, then the fewest racks; within
those it best-fits, so partly used nodes fill up first and whole nodes stay
free for big gangs. A job that asks for CPUs or memory goes first to a node
it leaves with no devices stranded, i.e. without their share of the node's
CPUs or memory (a two-dimensional best fit in the spirit of FGD, ATC'23):
devices on a node whose CPUs are gone cannot be given to anyone. Free devices
are bitmasks per node; a placement is a list of (node index, worker count)
that the caller turns into device indices.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Mapping, Sequence
from copy import copy as shallow_copy
from dataclasses import dataclass

from scheduler.domain import Center, Placement, WorkerPlacement

NodeTake = tuple[int, int]  # (node index, workers on it)


@dataclass(slots=True)
class Fit:
    """A candidate placement and how good it is (lower is better)."""

    takes: list[NodeTake]
    #: (0 for one node, else racks used), whole nodes broken, nodes used
    score: tuple[int, int, int]


class Layout:
    """What stays the same between decisions on one center: node indices, types, racks.

    Built once per center and reused (the engine keeps it in the snapshot's memo).
    """

    def __init__(self, center: Center) -> None:
        self.center = center
        self.type_names: list[str] = list(center.accelerators)
        type_index = {t: i for i, t in enumerate(self.type_names)}
        rack_index = {r: i for i, r in enumerate(center.racks)}
        nodes = center.nodes
        self.index: dict[str, int] = {n.name: i for i, n in enumerate(nodes)}
        self.names: list[str] = [n.name for n in nodes]
        self.node_type: list[int] = [type_index[n.accelerator] for n in nodes]
        self.rack: list[int] = [rack_index[n.rack] for n in nodes]
        self.size: list[int] = [n.devices for n in nodes]
        self.ready: list[bool] = [n.schedulable for n in nodes]
        self.full: list[int] = [(1 << n.devices) - 1 for n in nodes]
        self.cpus: list[int] = [n.cpus for n in nodes]
        self.memory: list[int] = [n.memory_bytes for n in nodes]
        ntypes = len(self.type_names)
        # Ready nodes of each type grouped by rack, in center order.
        racks: list[dict[int, list[int]]] = [{} for _ in range(ntypes)]
        cordoned: list[dict[int, list[int]]] = [{} for _ in range(ntypes)]
        for i in range(len(nodes)):
            target = racks if self.ready[i] else cordoned
            target[self.node_type[i]].setdefault(self.rack[i], []).append(i)
        self.racks_of_type: list[list[list[int]]] = [list(r.values()) for r in racks]
        #: a ready node's place in its type's ``racks_of_type``, read as one list
        self.scan_pos: list[int] = [0] * len(nodes)
        for by_rack in self.racks_of_type:
            for pos, i in enumerate(i for rack_nodes in by_rack for i in rack_nodes):
                self.scan_pos[i] = pos
        self.unready_racks_of_type: list[list[list[int]]] = [list(r.values()) for r in cordoned]
        self.total_by_type: list[int] = [0] * ntypes
        for i, n in enumerate(nodes):
            self.total_by_type[self.node_type[i]] += n.devices
        self.largest = max((n.devices for n in nodes), default=0)
        #: device mask -> its device indices, rising (filled as masks are met)
        self.bits_of: dict[int, tuple[int, ...]] = {}


class Capacity:
    """Mutable free-device state of the center's nodes for one decision."""

    def __init__(self, layout: Layout, held: Iterable[tuple[int, int, int, int]] = ()) -> None:
        """``held``: (node, device mask, cpus, memory) taken by running jobs."""
        self.center = layout.center
        self.type_names = layout.type_names
        self.index = layout.index
        self.names = layout.names
        self.node_type = layout.node_type
        self.rack = layout.rack
        self.size = layout.size
        self.ready = layout.ready
        self.racks_of_type = layout.racks_of_type
        self.unready_racks_of_type = layout.unready_racks_of_type
        self.total_by_type = layout.total_by_type
        self.scan_pos = layout.scan_pos
        self.cpu_total = layout.cpus
        self.mem_total = layout.memory
        self.bits_of = layout.bits_of
        free = list(layout.full)
        cpu = list(layout.cpus)
        mem = list(layout.memory)
        for node, mask, cpus, memory in held:
            free[node] &= ~mask
            cpu[node] -= cpus
            mem[node] -= memory
        self.free: list[int] = free
        self.cpu: list[int] = cpu
        self.mem: list[int] = mem
        ntypes = len(self.type_names)
        self.free_by_type: list[int] = [0] * ntypes
        #: ready nodes of a type by free device count, each list in center order:
        #: the best-fitting single node is the first of the first big-enough bucket
        self.buckets: list[list[list[int]]] = [[[] for _ in range(layout.largest + 1)] for _ in range(ntypes)]
        node_type, ready = self.node_type, self.ready
        for i, bits in enumerate(free):
            if ready[i]:
                count = bits.bit_count()
                self.free_by_type[node_type[i]] += count
                self.buckets[node_type[i]][count].append(i)

    def copy(self) -> Capacity:
        """A copy a decision may change: the free state is copied, the layout shared."""
        new = shallow_copy(self)
        new.free, new.cpu, new.mem = list(self.free), list(self.cpu), list(self.mem)
        new.free_by_type = list(self.free_by_type)
        new.buckets = [[list(nodes) for nodes in by_count] for by_count in self.buckets]
        return new

    # -- bookkeeping ---------------------------------------------------------------

    def take(self, node: int, mask: int, cpus: int, mem: int) -> None:
        self._set_free(node, self.free[node] & ~mask)
        self.cpu[node] -= cpus
        self.mem[node] -= mem

    def give_back(self, node: int, mask: int, cpus: int, mem: int) -> None:
        self._set_free(node, self.free[node] | mask)
        self.cpu[node] += cpus
        self.mem[node] += mem

    def _set_free(self, node: int, free: int) -> None:
        before = self.free[node].bit_count()
        self.free[node] = free
        after = free.bit_count()
        if self.ready[node] and after != before:
            t = self.node_type[node]
            self.free_by_type[t] += after - before
            buckets = self.buckets[t]
            buckets[before].remove(node)
            insort(buckets[after], node)

    def set_nodes(self, states: Mapping[int, Sequence[int]]) -> dict[int, tuple[int, int, int]]:
        """Set nodes' (free device mask, cpus, memory); returns what they were, to set back."""
        before = {}
        for node, (bits, cpus, mem) in states.items():
            before[node] = (self.free[node], self.cpu[node], self.mem[node])
            self._set_free(node, bits)
            self.cpu[node] = cpus
            self.mem[node] = mem
        return before

    def lowest_free(self, node: int, count: int, blocked: int = 0) -> tuple[int, ...]:
        """The ``count`` lowest-numbered free devices of a node (fewer if it has fewer)."""
        avail = self.free[node] & ~blocked
        bits = self.bits_of.get(avail)
        if bits is None:
            bits = self.bits_of[avail] = tuple(b for b in range(avail.bit_length()) if avail >> b & 1)
        return bits[:count]

    def to_placement(
        self, type_idx: int, takes: list[NodeTake], per_worker: int,
        blocked: Mapping[int, int] | None = None,
    ) -> tuple[Placement, list[tuple[int, int]]]:
        """Device indices for each worker; also (node, mask) pairs to ``take``."""
        workers: list[WorkerPlacement] = []
        masks: list[tuple[int, int]] = []
        for node, count in takes:
            bits = self.lowest_free(node, count * per_worker, blocked.get(node, 0) if blocked else 0)
            mask = 0
            for b in bits:
                mask |= 1 << b
            masks.append((node, mask))
            name = self.names[node]
            if count == 1:
                workers.append(WorkerPlacement(name, bits))
                continue
            for w in range(count):
                workers.append(WorkerPlacement(name, bits[w * per_worker:(w + 1) * per_worker]))
        return Placement(self.type_names[type_idx], tuple(workers)), masks

    # -- placement -------------------------------------------------------------------

    def fit(
        self, type_idx: int, workers: int, per_worker: int, cpus: int, mem: int,
        blocked: Mapping[int, int] | None = None, *, unready: bool = False,
    ) -> Fit | None:
        """Best all-or-nothing placement of a gang on nodes of one type, or None.

        ``blocked`` masks devices out (reserved for a backfill reservation);
        ``unready`` adds cordoned and down nodes, to tell "cordoned" from "full".
        """
        need = workers * per_worker
        if not unready:
            if self.free_by_type[type_idx] < need:
                return None
            fit = self._single_node(type_idx, workers, need, workers * cpus, workers * mem, blocked)
            if fit is not None:
                return fit
        if unready:
            racks = self.racks_of_type[type_idx] + self.unready_racks_of_type[type_idx]
        else:
            racks = self._racks_with(type_idx, per_worker)
        rack_caps, node = self._rack_caps(racks, workers, per_worker, cpus, mem, blocked)
        if node is not None:
            return self._on_node(node, workers)
        if sum(t for t, _ in rack_caps) < workers:
            return None
        return self._spread(rack_caps, workers)

    def _rack_caps(self, racks: list[list[int]], workers: int, per_worker: int, cpus: int, mem: int,
                   blocked: Mapping[int, int] | None
                   ) -> tuple[list[tuple[int, list[tuple[int, int, int]]]], int | None]:
        """Per rack with room: (workers it holds, [(node, workers it holds, devices free)]);
        and the best single node for the whole gang, if one holds it."""
        free, cpu_free, mem_free = self.free, self.cpu, self.mem
        need = workers * per_worker
        rack_caps: list[tuple[int, list[tuple[int, int, int]]]] = []
        best_single: tuple[float, int, int] | None = None  # (stranded, free devices, node)
        for rack_nodes in racks:
            caps: list[tuple[int, int, int]] = []
            total = 0
            for i in rack_nodes:
                bits = free[i] & ~blocked.get(i, 0) if blocked else free[i]
                nfree = bits.bit_count()
                if nfree < per_worker:
                    continue
                k = nfree // per_worker
                if cpus:
                    k = min(k, cpu_free[i] // cpus)
                if mem:
                    k = min(k, mem_free[i] // mem)
                if k <= 0:
                    continue
                caps.append((i, k, nfree))
                total += k
                if k >= workers:
                    key = (self._stranded(i, nfree, need, workers * cpus, workers * mem), nfree, i)
                    if best_single is None or key < best_single:
                        best_single = key
            if total:
                rack_caps.append((total, caps))
        return rack_caps, None if best_single is None else best_single[2]

    def _spread(self, rack_caps: list[tuple[int, list[tuple[int, int, int]]]], workers: int) -> Fit:
        """A gang no single node holds, over racks that hold it together: the one rack that
        fits most tightly, else the fewest racks (biggest first, the last one best-fitting
        the remainder)."""
        size, free = self.size, self.free
        one_rack = [(t, r) for r, (t, _) in enumerate(rack_caps) if t >= workers]
        if one_rack:
            _, r = min(one_rack)
            takes = _fill(rack_caps[r][1], workers, size)
            return Fit(takes, (1, _broken(takes, size, free), len(takes)))
        order = sorted(range(len(rack_caps)), key=lambda r: (-rack_caps[r][0], r))
        chosen: list[int] = []
        remaining = workers
        for pos, r in enumerate(order):
            if rack_caps[r][0] >= remaining:
                tail = min(
                    (rack_caps[q][0], q) for q in order[pos:] if rack_caps[q][0] >= remaining
                )[1]
                chosen.append(tail)
                break
            chosen.append(r)
            remaining -= rack_caps[r][0]
        takes = []
        remaining = workers
        for r in chosen:
            part = _fill(rack_caps[r][1], min(remaining, rack_caps[r][0]), size)
            takes.extend(part)
            remaining -= sum(k for _, k in part)
        return Fit(takes, (len(chosen), _broken(takes, size, free), len(takes)))

    def nodes_with(self, type_idx: int, at_least: int) -> list[int]:
        """Ready nodes of a type with ``at_least`` free devices, in no particular order."""
        buckets = self.buckets[type_idx]
        return [i for count in range(at_least, len(buckets)) for i in buckets[count]]

    def _racks_with(self, type_idx: int, at_least: int) -> list[list[int]]:
        """Ready nodes of a type with ``at_least`` free devices, grouped as ``racks_of_type``
        (the others cannot hold a worker): on a busy center, a few of its nodes."""
        nodes = self.nodes_with(type_idx, at_least)
        nodes.sort(key=self.scan_pos.__getitem__)
        racks: list[list[int]] = []
        rack = -1
        for i in nodes:
            if self.rack[i] != rack:
                rack = self.rack[i]
                racks.append([])
            racks[-1].append(i)
        return racks

    def _single_node(self, type_idx: int, workers: int, need: int, cpus: int, mem: int,
                     blocked: Mapping[int, int] | None) -> Fit | None:
        """The single node that strands fewest devices, then the tightest, then the first.

        The buckets give nodes tightest first: the first node that strands none is
        the answer (the only one looked at when the job asks for no CPUs or memory).
        A node with ``blocked`` devices holds fewer than its bucket says: those few
        nodes are weighed first, apart.
        """
        buckets = self.buckets[type_idx]
        cpu, memory = self.cpu, self.mem
        best: tuple[float, int, int] | None = None
        if blocked:
            best = self._best_blocked(type_idx, need, cpus, mem, blocked)
        for count in range(need, len(buckets)):
            for i in buckets[count]:
                if cpu[i] < cpus or memory[i] < mem or (blocked and i in blocked):
                    continue
                stranded = self._stranded(i, count, need, cpus, mem)
                if not stranded:
                    if best is not None and best < (0.0, count, i):
                        return self._on_node(best[2], workers)
                    return Fit([(i, workers)], (0, int(count == self.size[i]), 1))
                if best is None or (stranded, count, i) < best:
                    best = (stranded, count, i)
        return None if best is None else self._on_node(best[2], workers)

    def _best_blocked(self, type_idx: int, need: int, cpus: int, mem: int,
                      blocked: Mapping[int, int]) -> tuple[float, int, int] | None:
        """Among ready nodes of the type with blocked devices: (stranded, free, node) of the
        best that holds the gang on its devices not blocked."""
        free, cpu, memory, node_type, ready = self.free, self.cpu, self.mem, self.node_type, self.ready
        best: tuple[float, int, int] | None = None
        for i, held in blocked.items():
            if node_type[i] != type_idx or not ready[i]:
                continue
            count = (free[i] & ~held).bit_count()
            if count < need or cpu[i] < cpus or memory[i] < mem:
                continue
            key = (self._stranded(i, count, need, cpus, mem), count, i)
            if best is None or key < best:
                best = key
        return best

    def _on_node(self, i: int, workers: int) -> Fit:
        return Fit([(i, workers)], (0, int(self.free[i].bit_count() == self.size[i]), 1))

    def _stranded(self, i: int, nfree: int, need: int, cpus: int, mem: int) -> float:
        """The share of node ``i``'s devices that taking ``need`` of its ``nfree`` devices,
        ``cpus`` and ``mem`` would leave free without their share of its CPUs or memory."""
        left = (nfree - need) / self.size[i]
        out = 0.0
        if cpus and self.cpu_total[i]:
            out = left - (self.cpu[i] - cpus) / self.cpu_total[i]
        if mem and self.mem_total[i]:
            out = max(out, left - (self.mem[i] - mem) / self.mem_total[i])
        return out if out > 0.0 else 0.0


def _fill(caps: list[tuple[int, int, int]], workers: int, size: list[int]) -> list[NodeTake]:
    """Spread ``workers`` over one rack's nodes, breaking as few whole nodes as possible."""
    partial = [c for c in caps if c[2] < size[c[0]]]
    whole = [c for c in caps if c[2] >= size[c[0]]]
    partial_total = sum(k for _, k, _ in partial)
    takes: list[NodeTake] = []
    remaining = workers
    if partial_total < remaining and whole:
        # Whole nodes for what the partly used nodes cannot hold.
        for i, k, _ in whole:
            if remaining <= partial_total:
                break
            n = min(k, remaining)
            takes.append((i, n))
            remaining -= n
    pool = sorted(partial, key=lambda c: (-c[1], c[0]))
    while remaining > 0 and pool:
        fitting = [c for c in pool if c[1] >= remaining]
        if fitting:
            i = min(fitting, key=lambda c: (c[2], c[0]))[0]
            takes.append((i, remaining))
            remaining = 0
            break
        i, k, _ = pool.pop(0)
        takes.append((i, k))
        remaining -= k
    return takes


def _broken(takes: list[NodeTake], size: list[int], free: list[int]) -> int:
    return sum(1 for i, _ in takes if free[i].bit_count() == size[i])
