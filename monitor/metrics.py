"""Every metric aicc exposes: name, type, help text, labels and buckets, in one place.

Conventions (see docs in DESIGN.md): one prefix ``aicc_``; base units
(``_seconds``, ``_flops`` as the raw number of floating point operations per
second with a ``precision`` label, ``_devices`` as a count); ``_total`` only on
counters; bounded labels only: tenant, pool, accelerator, state, reason,
priority, precision, plus the HTTP labels (method, route template, status),
the executor ``operation`` and the reconcile ``action``. Never a job id.

The one exception to "no hardware ids" is ``aicc_device_allocated_info``: one
series per *held device* (node, device index), bounded by the size of the
center, so that recording rules can join the device exporters (DCGM, Ascend)
to tenants. See monitor/rules/aicc-recording.yaml.

Gauges of live state are read at scrape time by ``monitor.collector``;
counters and histograms are bumped by ``monitor.instrumentation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class MetricDef:
    """``name`` is the name as exposed (counters end in ``_total``)."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def family(self) -> str:
        """The family name as prometheus_client knows it (counters without ``_total``)."""
        return self.name.removesuffix("_total") if self.kind is Kind.COUNTER else self.name


PREFIX = "aicc_"

#: Labels a metric may carry. Every one has a bounded set of values.
ALLOWED_LABELS = frozenset({
    "tenant", "pool", "accelerator", "state", "reason", "priority", "precision",
    "method", "route", "status", "operation", "action", "version",
    # only on aicc_device_allocated_info, for the exporter join:
    "node", "device",
})

#: Admission waits run from seconds to days.
WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
                14400.0, 43200.0, 86400.0, 259200.0)
#: One scheduling step: sub-millisecond on a small queue, seconds on 100,000 jobs.
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                5.0, 10.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

G, C, H = Kind.GAUGE, Kind.COUNTER, Kind.HISTOGRAM

# -- state, read at scrape time (collector) ---------------------------------------------

CENTER_CAPACITY_FLOPS = MetricDef(
    "aicc_center_capacity_flops", G,
    "Peak dense compute installed, in FLOPS, by pool, accelerator type and precision.",
    ("pool", "accelerator", "precision"))
CENTER_ALLOCATED_FLOPS = MetricDef(
    "aicc_center_allocated_flops", G,
    "Peak dense compute of the devices held by jobs, in FLOPS, by pool, accelerator type and precision.",
    ("pool", "accelerator", "precision"))
CENTER_DEVICES = MetricDef(
    "aicc_center_devices", G,
    "Devices installed, by pool, accelerator type and the state of their node (ready, cordoned, down).",
    ("pool", "accelerator", "state"))
CENTER_ALLOCATED_DEVICES = MetricDef(
    "aicc_center_allocated_devices", G,
    "Devices held by jobs (admitted, running, or being stopped), by pool and accelerator type.",
    ("pool", "accelerator"))
CENTER_FREE_DEVICES = MetricDef(
    "aicc_center_free_devices", G,
    "Devices on ready nodes that no job holds, by pool and accelerator type.",
    ("pool", "accelerator"))
NODES = MetricDef(
    "aicc_nodes", G, "Nodes by pool, accelerator type and state (ready, cordoned, down).",
    ("pool", "accelerator", "state"))
ACCELERATOR_PEAK_FLOPS = MetricDef(
    "aicc_accelerator_peak_flops", G,
    "Peak dense compute of one device, in FLOPS, by accelerator type and precision.",
    ("accelerator", "precision"))
TENANT_GUARANTEED_FLOPS = MetricDef(
    "aicc_tenant_guaranteed_flops", G,
    "Compute guaranteed to the tenant, in FLOPS (quotas are normalized in fp16 dense).",
    ("tenant", "precision"))
TENANT_LIMIT_FLOPS = MetricDef(
    "aicc_tenant_limit_flops", G,
    "Compute the tenant may hold at most, borrowing included, in FLOPS.",
    ("tenant", "precision"))
TENANT_LENDING_LIMIT_FLOPS = MetricDef(
    "aicc_tenant_lending_limit_flops", G,
    "Part of the tenant's unused guarantee others may borrow, in FLOPS (only tenants that set one).",
    ("tenant", "precision"))
TENANT_USED_FLOPS = MetricDef(
    "aicc_tenant_used_flops", G,
    "Compute held by the tenant's jobs, in FLOPS.",
    ("tenant", "precision"))
TENANT_BORROWED_FLOPS = MetricDef(
    "aicc_tenant_borrowed_flops", G,
    "Compute the tenant holds beyond its guarantee (borrowed from idle capacity), in FLOPS.",
    ("tenant", "precision"))
TENANT_SUBTREE_USED_FLOPS = MetricDef(
    "aicc_tenant_subtree_used_flops", G,
    "Compute held by the jobs of the tenant's whole subtree, in FLOPS (a leaf: its own; a parent, which "
    "holds no jobs itself: its leaves'. Sum aicc_tenant_used_flops, not this, across tenants).",
    ("tenant", "precision"))
TENANT_SUBTREE_BORROWED_FLOPS = MetricDef(
    "aicc_tenant_subtree_borrowed_flops", G,
    "Compute the tenant's whole subtree holds beyond the tenant's guarantee, in FLOPS.",
    ("tenant", "precision"))
TENANT_BUDGET_AVAILABLE_FLOP = MetricDef(
    "aicc_tenant_budget_available_flop", G,
    "Floating-point operations the tenant's budget allows this period, carryover included (a budget on a "
    "parent covers its subtree; 1 PFLOPS-hour = 3.6e18).",
    ("tenant", "precision"))
TENANT_BUDGET_SPENT_FLOP = MetricDef(
    "aicc_tenant_budget_spent_flop", G,
    "Floating-point operations the tenant's subtree has spent of its budget this period (the ledger's "
    "PFLOPS-hours of its running jobs, accrued as they run).",
    ("tenant", "precision"))
TENANT_BUDGET_REMAINING_FLOP = MetricDef(
    "aicc_tenant_budget_remaining_flop", G,
    "Floating-point operations left of the tenant's budget this period (negative once overspent: running "
    "jobs are never stopped for it).",
    ("tenant", "precision"))
TENANT_BUDGET_SPENT_RATIO = MetricDef(
    "aicc_tenant_budget_spent_ratio", G,
    "Share of the tenant's budget spent this period (1: spent; its new jobs hold or run best-effort).",
    ("tenant",))
TENANT_USED_DEVICES = MetricDef(
    "aicc_tenant_used_devices", G,
    "Devices held by the tenant's jobs, by accelerator type.",
    ("tenant", "accelerator"))
TENANT_BORROWED_DEVICES = MetricDef(
    "aicc_tenant_borrowed_devices", G,
    "Devices held by the tenant's jobs that were admitted as borrowers, by accelerator type.",
    ("tenant", "accelerator"))
TENANT_CAP_DEVICES = MetricDef(
    "aicc_tenant_cap_devices", G,
    "The tenant's cap in devices of one accelerator type (only types with a cap).",
    ("tenant", "accelerator"))
TENANT_WEIGHT = MetricDef(
    "aicc_tenant_weight", G, "The tenant's weight in the fair share of idle capacity.", ("tenant",))
TENANT_JOBS = MetricDef(
    "aicc_tenant_jobs", G,
    "Live jobs by tenant and state (pending, admitted, running, preempted); finished jobs are "
    "counted by aicc_jobs_completed_total.",
    ("tenant", "state"))
TENANT_PENDING_JOBS = MetricDef(
    "aicc_tenant_pending_jobs", G,
    "Pending jobs by tenant and the reason they wait, from the last scheduling step "
    "(Queued: submitted or requeued since).",
    ("tenant", "reason"))
TENANT_OLDEST_PENDING_AGE = MetricDef(
    "aicc_tenant_oldest_pending_age_seconds", G,
    "Age of the tenant's oldest pending job, from its submission (0 when none waits).",
    ("tenant",))
SCHEDULER_LAST_STEP = MetricDef(
    "aicc_scheduler_last_step_timestamp_seconds", G,
    "Unix time of the last successful scheduling step (0: none yet).")
DEVICE_ALLOCATED_INFO = MetricDef(
    "aicc_device_allocated_info", G,
    "1 for each device held by a job: node, device index, its pool, type and tenant. "
    "Joins device exporters (DCGM, Ascend) to tenants.",
    ("node", "device", "pool", "accelerator", "tenant"))
BUILD_INFO = MetricDef("aicc_build_info", G, "1, with the aicc version.", ("version",))
STEP_ERRORS = MetricDef(
    "aicc_scheduler_step_errors_total", C,
    "Scheduling loop iterations that raised (the service's count, read at scrape time).")

# -- events, by direct instrumentation ----------------------------------------------

JOBS_SUBMITTED = MetricDef(
    "aicc_jobs_submitted_total", C, "Jobs submitted, by tenant and priority class.",
    ("tenant", "priority"))
JOBS_ADMITTED = MetricDef(
    "aicc_jobs_admitted_total", C,
    "Admissions (requeued jobs count again), by tenant, priority class and accelerator type.",
    ("tenant", "priority", "accelerator"))
JOBS_PREEMPTED = MetricDef(
    "aicc_jobs_preempted_total", C,
    "Preemptions by tenant of the victim and reason (Reclaim, Priority, Drain).",
    ("tenant", "reason"))
JOBS_REQUEUED = MetricDef(
    "aicc_jobs_requeued_total", C,
    "Jobs put back in the queue after they were stopped or lost, by tenant and reason.",
    ("tenant", "reason"))
REQUEUED_RUN = MetricDef(
    "aicc_requeued_run_device_seconds_total", C,
    "Device-seconds the attempts that ended in a requeue (stopped or lost) had run: work lost "
    "unless the job checkpoints. By tenant and reason.",
    ("tenant", "reason"))
JOBS_COMPLETED = MetricDef(
    "aicc_jobs_completed_total", C,
    "Jobs that reached a final state (succeeded, failed, cancelled), by tenant.",
    ("tenant", "state"))
ADMISSION_WAIT = MetricDef(
    "aicc_job_admission_wait_seconds", H,
    "Time from submission to first admission, by tenant and priority class.",
    ("tenant", "priority"), WAIT_BUCKETS)
STEP_DURATION = MetricDef(
    "aicc_scheduler_step_duration_seconds", H,
    "Wall time of one scheduling step (decide, record, act).", (), STEP_BUCKETS)
EXECUTOR_ERRORS = MetricDef(
    "aicc_executor_errors_total", C,
    "Executor calls that raised, by operation (start, stop, poll, known).", ("operation",))
RECONCILE_REPAIRS = MetricDef(
    "aicc_reconcile_repairs_total", C,
    "Repairs made by reconcile (store and executor disagreed), by action.", ("action",))
RECONCILE_ERRORS = MetricDef(
    "aicc_reconcile_errors_total", C, "Reconcile runs that raised.")
HTTP_REQUESTS = MetricDef(
    "aicc_http_requests_total", C,
    "HTTP requests served, by method, route template and status code.",
    ("method", "route", "status"))
HTTP_DURATION = MetricDef(
    "aicc_http_request_duration_seconds", H,
    "HTTP request latency, by method and route template.", ("method", "route"), HTTP_BUCKETS)

STATE_METRICS: tuple[MetricDef, ...] = (
    CENTER_CAPACITY_FLOPS, CENTER_ALLOCATED_FLOPS, CENTER_DEVICES, CENTER_ALLOCATED_DEVICES,
    CENTER_FREE_DEVICES, NODES, ACCELERATOR_PEAK_FLOPS, TENANT_GUARANTEED_FLOPS,
    TENANT_LIMIT_FLOPS, TENANT_LENDING_LIMIT_FLOPS, TENANT_USED_FLOPS, TENANT_BORROWED_FLOPS,
    TENANT_SUBTREE_USED_FLOPS, TENANT_SUBTREE_BORROWED_FLOPS, TENANT_BUDGET_AVAILABLE_FLOP,
    TENANT_BUDGET_SPENT_FLOP, TENANT_BUDGET_REMAINING_FLOP, TENANT_BUDGET_SPENT_RATIO, TENANT_USED_DEVICES, TENANT_BORROWED_DEVICES, TENANT_CAP_DEVICES, TENANT_WEIGHT,
    TENANT_JOBS, TENANT_PENDING_JOBS, TENANT_OLDEST_PENDING_AGE, SCHEDULER_LAST_STEP,
    DEVICE_ALLOCATED_INFO, BUILD_INFO, STEP_ERRORS,
)
EVENT_METRICS: tuple[MetricDef, ...] = (
    JOBS_SUBMITTED, JOBS_ADMITTED, JOBS_PREEMPTED, JOBS_REQUEUED, REQUEUED_RUN, JOBS_COMPLETED, ADMISSION_WAIT,
    STEP_DURATION, EXECUTOR_ERRORS, RECONCILE_REPAIRS, RECONCILE_ERRORS,
)
HTTP_METRICS: tuple[MetricDef, ...] = (HTTP_REQUESTS, HTTP_DURATION)

# -- leader election (every replica exports them; see monitor.leadership) -------------

LEADER = MetricDef("aicc_leader", G, "1 on the replica that leads (schedules and acts), else 0.")
LEADER_EPOCH = MetricDef(
    "aicc_leader_epoch", G, "The leader lease's epoch as this replica last read it (+1 at each takeover).")
LEADER_CHANGES = MetricDef(
    "aicc_leader_changes_total", C, "Changes of leader this replica saw since it started.")
LEADERSHIP_METRICS: tuple[MetricDef, ...] = (LEADER, LEADER_EPOCH, LEADER_CHANGES)
ALL_METRICS: tuple[MetricDef, ...] = STATE_METRICS + EVENT_METRICS + HTTP_METRICS + LEADERSHIP_METRICS

# -- bounded label values -----------------------------------------------------------

#: Live job states in aicc_tenant_jobs (always all four, zeros included).
LIVE_STATES = ("pending", "admitted", "running", "preempted")
FINAL_STATES = ("succeeded", "failed", "cancelled")
PREEMPT_REASONS = ("Reclaim", "Priority", "Drain")
REQUEUE_REASONS = (*PREEMPT_REASONS, "NodeLost")
#: Waiting jobs the last step has not seen yet (submitted or requeued since).
QUEUED_REASON = "Queued"
EXECUTOR_OPERATIONS = ("start", "stop", "poll", "known")
RECONCILE_ACTIONS = ("start", "requeue", "succeeded", "failed", "stopped", "lost", "stop_orphan")
OTHER = "Other"
