"""The center: its capacity, pools, accelerators and leader; its nodes (cordon, drain); health."""

from __future__ import annotations

from typing import Literal

from scheduler.api.models.common import Request, Response


class NodeOut(Response):
    name: str
    pool: str
    rack: str
    accelerator: str
    state: str
    devices: int
    allocated: int
    free: int
    cpus: int
    memory: str


class NodeList(Response):
    items: list[NodeOut]


class DrainIn(Request):
    #: true: preempt what runs there now (requeued); false: let it finish, take nothing new.
    preempt: bool = False


class DrainOut(Response):
    node: str
    state: str
    preempted: list[str]
    still_running: list[str]


class CapacityOut(Response):
    devices: int
    pflops: float
    allocated_devices: int
    allocated_pflops: float
    free_devices: int
    free_pflops: float
    unschedulable_devices: int


class PoolOut(CapacityOut):
    name: str
    accelerator: str
    nodes: int
    racks: int


class AcceleratorOut(CapacityOut):
    name: str
    tflops_fp16: float
    memory: str


class LeaderOut(Response):
    """Who schedules: ``single`` (one replica) or ``ha`` (replicas electing a leader)."""

    mode: str
    #: this replica's part: leader, follower, taking-over or deposed
    role: str
    #: the replica holding the lease (None: nobody leads right now)
    leader: str | None = None
    epoch: int | None = None
    address: str | None = None
    changes: int = 0


class CenterOut(Response):
    name: str
    total: CapacityOut
    pools: list[PoolOut]
    accelerators: list[AcceleratorOut]
    guaranteed_pflops: float
    priority_classes: dict[str, int]
    #: the scheduler's leader, as the replica that answered sees it (older servers: None)
    leadership: LeaderOut | None = None



class Health(Response):
    status: Literal["ok", "starting", "unavailable"]
    detail: str | None = None
