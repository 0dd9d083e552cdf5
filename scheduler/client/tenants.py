"""Admin: tenants and their quotas, the quota history, and the quota what-if."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scheduler.api.models import (
    QuotaHistoryList,
    QuotaHistoryOut,
    QuotaIn,
    TenantCreate,
    TenantDeleted,
    TenantList,
    TenantOut,
    TenantUpdate,
    WhatIfChange,
    WhatIfIn,
    WhatIfOut,
)
from scheduler.client.bodies import build, segment, wire
from scheduler.client.http_client import HttpClient


class TenantCalls(HttpClient):
    def tenants(self) -> list[TenantOut]:
        return self._get("/v1/admin/tenants", TenantList).items

    def tenant(self, name: str) -> TenantOut:
        return self._get(f"/v1/admin/tenants/{segment(name)}", TenantOut)

    def create_tenant(self, spec: TenantCreate | Mapping[str, Any] | None = None,
                      **fields: Any) -> TenantOut:
        """``create_tenant(name="vr", guaranteed="40P", limit="80P", weight=1)``."""
        body = build(TenantCreate, spec, **fields)
        return self._send("POST", "/v1/admin/tenants", TenantOut, wire(body))

    def update_tenant(self, name: str, *, weight: float | None = None, grace_period_s: float | None = None,
                      default_grace: bool = False, parent: str | None = None, top_level: bool = False,
                      isolation: str | None = None) -> TenantOut:
        """Change what is given; ``default_grace`` puts the grace period back to the center's;
        ``parent`` moves the tenant under another, ``top_level`` to the top."""
        fields: dict[str, Any] = {"weight": weight, "grace_period_s": grace_period_s, "parent": parent,
                                  "isolation": isolation}
        body = build(TenantUpdate, {k: v for k, v in fields.items() if v is not None},
                     **({"grace_period_s": None} if default_grace else {}),
                     **({"parent": None} if top_level else {}))
        return self._send("PATCH", f"/v1/admin/tenants/{segment(name)}", TenantOut, wire(body),
                          safe_to_repeat=True)

    def delete_tenant(self, name: str, *, force: bool = False) -> TenantDeleted:
        """Refused while it has live jobs unless ``force`` (which cancels them)."""
        return self._send("DELETE", f"/v1/admin/tenants/{segment(name)}", TenantDeleted,
                          force=str(force).lower())

    def set_quota(self, name: str, quota: QuotaIn | Mapping[str, Any] | None = None,
                  **fields: Any) -> TenantOut:
        """Set what is given, keep the rest: ``set_quota("vr", guaranteed="120P", limit="200P")``.

        ``lending_limit=None`` given explicitly clears the lending limit.
        """
        body = build(QuotaIn, quota, **fields)
        return self._send("PUT", f"/v1/admin/tenants/{segment(name)}/quota", TenantOut, wire(body),
                          safe_to_repeat=True)

    def quota(self, name: str) -> TenantOut:
        return self._get(f"/v1/admin/tenants/{segment(name)}/quota", TenantOut)

    def quota_history(self, name: str) -> list[QuotaHistoryOut]:
        """Newest first."""
        return self._get(f"/v1/admin/tenants/{segment(name)}/quota/history", QuotaHistoryList).items

    def whatif(self, changes: Sequence[WhatIfChange | Mapping[str, Any]]) -> WhatIfOut:
        """What the next step would preempt and start were these quotas set now (nothing changes)."""
        built = [build(WhatIfChange, c) for c in changes]
        body = build(WhatIfIn, {"changes": [wire(c) for c in built]})
        payload = {"changes": [wire(c) for c in body.changes]}
        return self._send("POST", "/v1/admin/whatif", WhatIfOut, payload, safe_to_repeat=True)
