"""The decision: pure, deterministic, no I/O. See ``schedule``."""

from scheduler.core.fairshare import decay_usage, dominant_share
from scheduler.core.model import (
    Admit,
    Allocation,
    Blocking,
    Decision,
    KeepPending,
    PendingJob,
    Policy,
    Preempt,
    PreemptReason,
    Reason,
    Reservation,
    Snapshot,
)
from scheduler.core.schedule import schedule

__all__ = [
    "Admit",
    "Allocation",
    "Blocking",
    "Decision",
    "KeepPending",
    "PendingJob",
    "Policy",
    "Preempt",
    "PreemptReason",
    "Reason",
    "Reservation",
    "Snapshot",
    "decay_usage",
    "dominant_share",
    "schedule",
]
