"""Usage now (a tenant's own; the admin's: any or all) and the ledger of what was consumed."""

from __future__ import annotations

from scheduler.api.models import LedgerOut, UsageList, UsageOut
from scheduler.client.http_client import HttpClient


class UsageCalls(HttpClient):
    def usage(self, tenant: str | None = None) -> UsageOut:
        """The caller's usage now; the admin names the tenant."""
        return self._get("/v1/usage", UsageOut, tenant=tenant)

    def usage_all(self) -> list[UsageOut]:
        """Admin: every tenant's usage now."""
        return self._get("/v1/admin/usage", UsageList).items

    def ledger(self, *, start: str | float | None = None, end: str | float | None = None,
               tenant: str | None = None) -> LedgerOut:
        """PFLOPS-hours and device-hours by tenant, accelerator and kind (RFC 3339 or epoch s)."""
        return self._get("/v1/usage/ledger", LedgerOut, start=start, end=end, tenant=tenant)
