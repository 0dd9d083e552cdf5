"""What-ifs for ``aicc simulate``: how a change's effect is shown.

Each policy is replayed as is and with the change (``scheduler.sim.whatif``); a
tenant's guarantee and queueing, before and after, is what an operator weighs a
quota or policy change by.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.cli.output import table


def whatif_table(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Per tenant: guaranteed devices, average and p95 queueing, as is and with the change."""
    rows = []
    for tenant in before["avg_queue_s_by_tenant"]:
        pairs = [(before[k][tenant], after[k][tenant]) for k in
                 ("guaranteed_devices_by_tenant", "avg_queue_s_by_tenant", "p95_queue_s_by_tenant")]
        rows.append([tenant, *(f"{a:.0f} -> {b:.0f}" for a, b in pairs)])
    return table(["TENANT", "GUARANTEED DEV", "AVG QUEUE S", "P95 QUEUE S"], rows)
