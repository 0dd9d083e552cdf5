"""Leader election metrics of one replica: ``aicc_leader``, its epoch, the changes it saw.

Read at scrape time from the service (``Service.leadership()``): every replica exports
them, the state gauges come from the leader alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class LeadershipCollector(Collector):
    def __init__(self, service: Any) -> None:
        self.service = service

    def collect(self) -> Iterable[Metric]:
        info = self.service.leadership()
        leader = GaugeMetricFamily("aicc_leader", "1 on the replica that leads (schedules and acts), else 0")
        leader.add_metric([], 1.0 if self.service.leads() else 0.0)
        yield leader
        epoch = GaugeMetricFamily("aicc_leader_epoch",
                                  "The leader lease's epoch as this replica last read it (+1 at each takeover)")
        epoch.add_metric([], float(info.get("epoch") or 0))
        yield epoch
        changes = CounterMetricFamily("aicc_leader_changes",
                                      "Changes of leader this replica saw since it started")
        changes.add_metric([], float(info.get("changes") or 0))
        yield changes
