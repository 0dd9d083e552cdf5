"""The Grafana dashboards, written as code and saved as Classic JSON.

``python -m monitor.dashboard_build`` rewrites monitor/dashboards/*.json; a
test checks the files are what this module builds, so the JSON in the repo is
always reviewable and always regenerable. Every panel query names the
``$datasource`` variable; uids are stable (links and provisioning use them).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DASHBOARD_DIR = Path(__file__).parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
SCHEMA_VERSION = 39

Panel = dict[str, Any]
Target = tuple[str, str]  # expr, legend


class Layout:
    """Places panels left to right on a 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.next_id = 1
        self.panels: list[Panel] = []

    def add(self, panel: Panel, w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)


def _targets(targets: Sequence[Target], instant: bool = False) -> list[dict[str, Any]]:
    out = []
    for i, (expr, legend) in enumerate(targets):
        t: dict[str, Any] = {"datasource": DS, "expr": expr, "legendFormat": legend,
                             "refId": chr(ord("A") + i)}
        if instant:
            t["instant"] = True
            t["range"] = False
        out.append(t)
    return out


def timeseries(title: str, description: str, targets: Sequence[Target], unit: str = "short",
               *, stack: bool = False, decimals: int | None = None) -> Panel:
    custom: dict[str, Any] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 20 if stack else 5,
                              "showPoints": "never", "spanNulls": True,
                              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    defaults: dict[str, Any] = {"unit": unit, "custom": custom}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DS,
        "targets": _targets(targets),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def stat(title: str, description: str, expr: str, unit: str = "short",
         thresholds: Sequence[tuple[float | None, str]] = ((None, "green"),)) -> Panel:
    return {
        "type": "stat", "title": title, "description": description, "datasource": DS,
        "targets": _targets([(expr, "")], instant=True),
        "fieldConfig": {"defaults": {
            "unit": unit,
            "thresholds": {"mode": "absolute",
                           "steps": [{"color": c, "value": v} for v, c in thresholds]},
        }, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "area", "textMode": "auto",
                    "orientation": "auto", "justifyMode": "auto"},
    }


def gauge(title: str, description: str, expr: str) -> Panel:
    p = stat(title, description, expr, "percentunit",
             ((None, "green"), (0.9, "orange"), (0.97, "red")))
    p["type"] = "gauge"
    p["fieldConfig"]["defaults"].update({"min": 0, "max": 1})
    p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "showThresholdLabels": False, "showThresholdMarkers": True,
                    "orientation": "auto"}
    return p


def bars(title: str, description: str, expr: str, legend: str, unit: str = "short") -> Panel:
    return {
        "type": "bargauge", "title": title, "description": description, "datasource": DS,
        "targets": _targets([(expr, legend)], instant=True),
        "fieldConfig": {"defaults": {"unit": unit, "min": 0,
                                     "thresholds": {"mode": "absolute",
                                                    "steps": [{"color": "blue", "value": None}]}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "horizontal", "displayMode": "gradient",
                    "showUnfilled": True, "valueMode": "color", "namePlacement": "auto",
                    "sizing": "auto", "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300},
    }


def datasource_var() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "regex": "", "hide": 0, "refresh": 1,
            "includeAll": False, "multi": False, "current": {}, "options": []}


def query_var(name: str, label: str, query: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": f"{name}-var"},
            "refresh": 2, "sort": 1, "hide": 0, "regex": "",
            "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": []}


TENANT_VAR = query_var("tenant", "Tenant", "label_values(aicc_tenant_limit_flops, tenant)")
ACCEL_VAR = query_var("accelerator", "Accelerator", "label_values(aicc_accelerator_peak_flops, accelerator)")


def dashboard(uid: str, title: str, description: str, layout: Layout,
              variables: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description,
        "tags": ["aicc"], "timezone": "browser", "editable": True, "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "aicc", "type": "dashboards", "tags": ["aicc"], "asDropdown": False,
                   "includeVars": True, "keepTime": True, "targetBlank": False, "icon": "external link",
                   "tooltip": "", "url": ""}],
        "templating": {"list": [datasource_var(), *variables]},
        "panels": layout.panels,
    }


T, A = 'tenant=~"$tenant"', 'accelerator=~"$accelerator"'


def center_overview() -> dict[str, Any]:
    lay = Layout()
    cap = f'sum(aicc_center_capacity_flops{{precision="fp16", {A}}})'
    alloc = f'sum(aicc_center_allocated_flops{{precision="fp16", {A}}})'
    lay.add(stat("Capacity (fp16 dense)", "Peak dense fp16 compute installed in the selected "
                 "accelerator types.", cap, "flops"), 4, 4)
    lay.add(stat("Allocated", "Compute held by jobs (admitted, running or being stopped).",
                 alloc, "flops"), 4, 4)
    lay.add(gauge("Allocated share", "Allocated compute over installed compute.",
                  f"{alloc} / ({cap} > 0)"), 4, 4)
    lay.add(stat("Free devices", "Devices on ready nodes that no job holds.",
                 f"sum(aicc_center_free_devices{{{A}}})"), 4, 4)
    lay.add(stat("Queue depth", "Pending jobs of the selected tenants.",
                 f'sum(aicc_tenant_jobs{{state="pending", {T}}})'), 4, 4)
    lay.add(stat("Nodes not ready", "Nodes cordoned or down.",
                 f'sum(aicc_nodes{{state!="ready", {A}}})', "short",
                 ((None, "green"), (1, "orange"))), 4, 4)
    lay.add(timeseries("Capacity vs allocated", "Installed and allocated fp16 dense compute.",
                       [(cap, "capacity"), (alloc, "allocated")], "flops"), 12, 8)
    lay.add(timeseries("Allocated by tenant", "Compute held by each tenant's jobs, stacked.",
                       [(f"sum by (tenant) (aicc_tenant_used_flops{{{T}}})", "{{tenant}}")],
                       "flops", stack=True), 12, 8)
    lay.add(timeseries("Allocated by accelerator type", "Allocated and installed compute per type.",
                       [(f'sum by (accelerator) (aicc_center_allocated_flops{{precision="fp16", {A}}})',
                         "{{accelerator}} allocated"),
                        (f'sum by (accelerator) (aicc_center_capacity_flops{{precision="fp16", {A}}})',
                         "{{accelerator}} capacity")], "flops"), 12, 8)
    lay.add(timeseries("Free devices by accelerator type", "Devices on ready nodes that no job holds.",
                       [(f"sum by (accelerator) (aicc_center_free_devices{{{A}}})", "{{accelerator}}")],
                       decimals=0), 12, 8)
    lay.add(timeseries("Queue depth by tenant", "Pending jobs per tenant, stacked.",
                       [(f'sum by (tenant) (aicc_tenant_jobs{{state="pending", {T}}})', "{{tenant}}")],
                       stack=True, decimals=0), 12, 8)
    lay.add(timeseries("Preemptions by reason", "Jobs preempted per second: Reclaim (a tenant "
                       "takes its lent guarantee back), Priority (within a tenant), Drain.",
                       [(f"sum by (reason) (rate(aicc_jobs_preempted_total{{{T}}}[{RATE}]))",
                         "{{reason}}")], "ops"), 12, 8)
    lay.add(timeseries("Run time of requeued attempts by tenant", "What the attempts that were "
                       "stopped or lost had run, in devices' worth (device-seconds per second): "
                       "work done again unless the jobs checkpoint.",
                       [(f"sum by (tenant) (rate(aicc_requeued_run_device_seconds_total{{{T}}}[{RATE}]))",
                         "{{tenant}}")], stack=True), 12, 8)
    lay.add(timeseries("Borrowed compute by tenant", "Compute held beyond each tenant's guarantee.",
                       [(f"sum by (tenant) (aicc_tenant_borrowed_flops{{{T}}})", "{{tenant}}")],
                       "flops", stack=True), 12, 8)
    lay.add(timeseries("Admissions and completions", "Jobs admitted and finished per second.",
                       [(f"sum(rate(aicc_jobs_admitted_total{{{T}, {A}}}[{RATE}]))", "admitted"),
                        (f"sum by (state) (rate(aicc_jobs_completed_total{{{T}}}[{RATE}]))",
                         "{{state}}")], "ops"), 12, 8)
    lay.add(bars("Nodes by state", "Nodes ready, cordoned and down, per pool.",
                 f"sum by (pool, state) (aicc_nodes{{{A}}})", "{{pool}} {{state}}"), 12, 8)
    lay.add(bars("Use of guarantee by tenant", "Compute held over compute guaranteed "
                 "(above 100%: borrowing).",
                 f"tenant:aicc_tenant_used_flops:ratio_guaranteed{{{T}}}", "{{tenant}}",
                 "percentunit"), 12, 8)
    return dashboard("aicc-center-overview", "aicc / Center overview",
                     "Capacity vs allocation of the center, by tenant and accelerator type; "
                     "free devices, queue depth, preemptions.", lay, [TENANT_VAR, ACCEL_VAR])


def tenant() -> dict[str, Any]:
    """One tenant (or several, summed): its quota and use, what it holds, its jobs."""
    lay = Layout()
    _tenant_quota(lay)
    _tenant_holdings(lay)
    _tenant_jobs(lay)
    return dashboard("aicc-tenant", "aicc / Tenant",
                     "One tenant's quota and use over time, its jobs, waits and pending reasons.",
                     lay, [TENANT_VAR, ACCEL_VAR])


def _tenant_quota(lay: Layout) -> None:
    """Its quota against what it holds, and the headline figures."""
    used = f"sum(aicc_tenant_used_flops{{{T}}})"
    lay.add(timeseries("Compute: guaranteed, limit, in use, borrowed",
                       "The quota of the selected tenants (summed) and what they hold.",
                       [(f"sum(aicc_tenant_guaranteed_flops{{{T}}})", "guaranteed"),
                        (f"sum(aicc_tenant_limit_flops{{{T}}})", "limit"),
                        (used, "in use"),
                        (f"sum(aicc_tenant_borrowed_flops{{{T}}})", "borrowed")], "flops"), 16, 8)
    lay.add(stat("Use of guarantee", "Compute in use over compute guaranteed.",
                 f"{used} / (sum(aicc_tenant_guaranteed_flops{{{T}}}) > 0)", "percentunit"), 4, 4)
    lay.add(stat("Use of limit", "Compute in use over the limit; at 100% new jobs wait "
                 "(QuotaExhausted).",
                 f"{used} / (sum(aicc_tenant_limit_flops{{{T}}}) > 0)", "percentunit",
                 ((None, "green"), (0.9, "orange"), (1, "red"))), 4, 4)
    lay.add(stat("Pending jobs", "Jobs waiting for admission.",
                 f'sum(aicc_tenant_jobs{{state="pending", {T}}})'), 4, 4)
    lay.add(stat("Oldest pending", "How long the oldest pending job has waited.",
                 f"max(aicc_tenant_oldest_pending_age_seconds{{{T}}})", "s"), 4, 4)


def _tenant_holdings(lay: Layout) -> None:
    """Devices by type, its subtree's holdings, its budget this period."""
    lay.add(timeseries("Devices in use by accelerator type",
                       "Devices held, and of them the devices of jobs admitted as borrowers.",
                       [(f"sum by (accelerator) (aicc_tenant_used_devices{{{T}, {A}}})",
                         "{{accelerator}} in use"),
                        (f"sum by (accelerator) (aicc_tenant_borrowed_devices{{{T}, {A}}})",
                         "{{accelerator}} borrowed")], decimals=0), 12, 8)
    lay.add(timeseries("Subtrees: in use and borrowed, by tenant",
                       "What each tenant's whole subtree holds (a parent holds no jobs of its own: its "
                       "leaves' jobs), and how much of it is beyond the tenant's guarantee.",
                       [(f"sum by (tenant) (aicc_tenant_subtree_used_flops{{{T}}})", "{{tenant}} in use"),
                        (f"sum by (tenant) (aicc_tenant_subtree_borrowed_flops{{{T}}})", "{{tenant}} borrowed")],
                       "flops"), 12, 8)
    lay.add(timeseries("Budget: spent and left this period",
                       "Of each selected tenant's budget (a parent's covers its subtree), what its running "
                       "jobs have spent this period and what is left, in PFLOPS-hours.",
                       [(f"sum by (tenant) (aicc_tenant_budget_spent_flop{{{T}}}) / 3.6e18", "{{tenant}} spent"),
                        (f"sum by (tenant) (aicc_tenant_budget_remaining_flop{{{T}}}) / 3.6e18",
                         "{{tenant}} left")], decimals=1), 12, 8)


def _tenant_jobs(lay: Layout) -> None:
    """Its jobs: states, waits, why they wait, admissions, preemptions; device utilization."""
    lay.add(timeseries("Jobs by state", "Live jobs: pending, admitted, running, being preempted.",
                       [(f"sum by (state) (aicc_tenant_jobs{{{T}}})", "{{state}}")],
                       stack=True, decimals=0), 12, 8)
    q = f"sum by (le) (rate(aicc_job_admission_wait_seconds_bucket{{{T}}}[{RATE}]))"
    lay.add(timeseries("Wait time to admission", "Percentiles of the time from submission to "
                       "first admission, of the jobs admitted in each interval.",
                       [(f"histogram_quantile(0.5, {q})", "p50"),
                        (f"histogram_quantile(0.9, {q})", "p90"),
                        (f"histogram_quantile(0.99, {q})", "p99")], "s"), 12, 8)
    lay.add(bars("Pending jobs by reason", "Why jobs wait, from the last scheduling step "
                 "(Queued: not seen by a step yet).",
                 f"sum by (reason) (aicc_tenant_pending_jobs{{{T}}})", "{{reason}}"), 12, 8)
    lay.add(timeseries("Finished jobs by state", "Jobs that succeeded, failed or were cancelled, "
                       "per second.",
                       [(f"sum by (state) (rate(aicc_jobs_completed_total{{{T}}}[{RATE}]))",
                         "{{state}}")], "ops"), 12, 8)
    lay.add(timeseries("Admissions by priority class", "Jobs admitted per second.",
                       [(f"sum by (priority) (rate(aicc_jobs_admitted_total{{{T}, {A}}}[{RATE}]))",
                         "{{priority}}")], "ops"), 12, 8)
    lay.add(timeseries("Preemptions and requeues", "The tenant's jobs preempted (by reason) and "
                       "put back in the queue, per second.",
                       [(f"sum by (reason) (rate(aicc_jobs_preempted_total{{{T}}}[{RATE}]))",
                         "preempted {{reason}}"),
                        (f"sum(rate(aicc_jobs_requeued_total{{{T}}}[{RATE}])) or vector(0)",
                         "requeued")], "ops"), 12, 8)
    lay.add(timeseries("Device utilization (DCGM / Ascend exporter)",
                       "Average utilization of the devices the tenant holds, from the device "
                       "exporters joined to aicc's allocations (see monitor/rules). Empty "
                       "without the exporters.",
                       [(f"tenant_accelerator:aicc_accelerator_utilization:ratio_avg{{{T}, {A}}}",
                         "{{tenant}} {{accelerator}}")], "percentunit"), 12, 8)


def scheduler_health() -> dict[str, Any]:
    lay = Layout()
    lay.add(stat("Scheduler up", "1 when Prometheus can scrape the aicc service.",
                 'min(up{job="aicc"})', "short", ((None, "red"), (1, "green"))), 4, 4)
    lay.add(stat("Since last step", "Time since the last successful scheduling step.",
                 "time() - max(aicc_scheduler_last_step_timestamp_seconds)", "s",
                 ((None, "green"), (60, "orange"), (300, "red"))), 4, 4)
    lay.add(stat("Steps per second", "Scheduling steps completed per second.",
                 f"sum(rate(aicc_scheduler_step_duration_seconds_count[{RATE}]))", "ops"), 4, 4)
    lay.add(stat("Pending jobs", "Jobs waiting for admission.",
                 f'sum(aicc_tenant_jobs{{state="pending", {T}}})'), 4, 4)
    lay.add(stat("API requests per second", "Requests to the API (without /metrics).",
                 f'sum(rate(aicc_http_requests_total{{route!="/metrics"}}[{RATE}]))', "reqps"), 4, 4)
    lay.add(stat("API server errors", "Share of API requests answered with 5xx.",
                 f'(sum(rate(aicc_http_requests_total{{status=~"5.."}}[{RATE}])) or vector(0)) / '
                 f"(sum(rate(aicc_http_requests_total[{RATE}])) > 0)", "percentunit",
                 ((None, "green"), (0.01, "orange"), (0.05, "red"))), 4, 4)
    q = f"sum by (le) (rate(aicc_scheduler_step_duration_seconds_bucket[{RATE}]))"
    lay.add(timeseries("Step duration", "Wall time of one scheduling step (decide, record, act).",
                       [(f"histogram_quantile(0.5, {q})", "p50"),
                        (f"histogram_quantile(0.99, {q})", "p99")], "s"), 12, 8)
    lay.add(timeseries("Submissions, admissions, completions", "Jobs per second.",
                       [(f"sum(rate(aicc_jobs_submitted_total{{{T}}}[{RATE}]))", "submitted"),
                        (f"sum(rate(aicc_jobs_admitted_total{{{T}}}[{RATE}]))", "admitted"),
                        (f"sum(rate(aicc_jobs_completed_total{{{T}}}[{RATE}]))", "finished"),
                        (f"sum(rate(aicc_jobs_preempted_total{{{T}}}[{RATE}]))", "preempted")],
                       "ops"), 12, 8)
    lay.add(timeseries("API requests by route", "Requests per second, by route template.",
                       [(f"sum by (method, route) (rate(aicc_http_requests_total[{RATE}]))",
                         "{{method}} {{route}}")], "reqps"), 12, 8)
    lay.add(timeseries("API latency p99 by route", "99th percentile of request latency.",
                       [("histogram_quantile(0.99, sum by (route, le) "
                         f"(rate(aicc_http_request_duration_seconds_bucket[{RATE}])))", "{{route}}")],
                       "s"), 12, 8)
    lay.add(timeseries("API responses by status", "Responses per second by status code.",
                       [(f"sum by (status) (rate(aicc_http_requests_total[{RATE}]))", "{{status}}")],
                       "reqps"), 12, 8)
    lay.add(timeseries("API server error ratio", "Share of requests answered with 5xx.",
                       [(f'(sum(rate(aicc_http_requests_total{{status=~"5.."}}[{RATE}])) or vector(0))'
                         f" / (sum(rate(aicc_http_requests_total[{RATE}])) > 0)", "5xx")],
                       "percentunit"), 12, 8)
    lay.add(timeseries("Reconcile repairs", "What reconcile repaired after a restart (store and "
                       "executor disagreed), by action.",
                       [(f"sum by (action) (increase(aicc_reconcile_repairs_total[{RATE}]))",
                         "{{action}}")], decimals=0), 12, 8)
    lay.add(timeseries("Errors: steps, reconcile, executor", "Scheduling loop iterations, reconcile "
                       "runs and executor calls that raised.",
                       [(f"sum(increase(aicc_scheduler_step_errors_total[{RATE}]))", "scheduling step"),
                        (f"sum(increase(aicc_reconcile_errors_total[{RATE}]))", "reconcile"),
                        (f"sum by (operation) (increase(aicc_executor_errors_total[{RATE}]))",
                         "executor {{operation}}")], decimals=0), 12, 8)
    lay.add(timeseries("Pending jobs by reason", "Why jobs wait, from the last scheduling step.",
                       [(f"sum by (reason) (aicc_tenant_pending_jobs{{{T}}})", "{{reason}}")],
                       stack=True, decimals=0), 24, 8)
    return dashboard("aicc-scheduler-health", "aicc / Scheduler health",
                     "Step duration, admissions, API rate, latency and errors, reconcile repairs.",
                     lay, [TENANT_VAR])


DASHBOARDS = {"center-overview": center_overview, "tenant": tenant,
              "scheduler-health": scheduler_health}


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, sort_keys=False) + "\n"


def write(directory: Path = DASHBOARD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in DASHBOARDS.items():
        path = directory / f"aicc-{name}.json"
        path.write_text(render(build()))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else DASHBOARD_DIR):
        print(p)
