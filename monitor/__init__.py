"""Monitoring: Prometheus metrics, rules and Grafana dashboards for aicc.

``from monitor import Monitor, mount`` (see monitor/service.py). Imported
lazily, so that ``aicc grafana`` does not need prometheus_client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.service import Monitor, mount

__all__ = ["Monitor", "mount"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from monitor import service

        return getattr(service, name)
    raise AttributeError(f"module 'monitor' has no attribute {name!r}")
