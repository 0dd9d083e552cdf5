"""Leader election metrics of one replica: ``aicc_leader``, its epoch, the changes it saw.

Read at scrape time from the service (``Service.leadership()``): every replica exports
them, the state gauges come from the leader alone. Without a service (a lone engine,
one replica) the process is its own leader.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from monitor import metrics as m


class LeadershipCollector(Collector):
    def __init__(self) -> None:
        self.service: Any = None

    def collect(self) -> Iterable[Metric]:
        service = self.service
        info = service.leadership() if service is not None else {}
        leads = service.leads() if service is not None else True
        leader = GaugeMetricFamily(m.LEADER.name, m.LEADER.help)
        leader.add_metric([], 1.0 if leads else 0.0)
        yield leader
        epoch = GaugeMetricFamily(m.LEADER_EPOCH.name, m.LEADER_EPOCH.help)
        epoch.add_metric([], float(info.get("epoch") or 0))
        yield epoch
        changes = CounterMetricFamily(m.LEADER_CHANGES.family, m.LEADER_CHANGES.help)
        changes.add_metric([], float(info.get("changes") or 0))
        yield changes
