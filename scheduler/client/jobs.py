"""Jobs: a tenant's own (the admin's: every tenant's): submit, list, read, cancel, events, logs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from scheduler.api.models import JobEventList, JobList, JobOut, JobSubmit, LogsOut
from scheduler.client.bodies import build, comma_list, segment, wire
from scheduler.client.http_client import HttpClient


class JobCalls(HttpClient):
    def submit(self, spec: JobSubmit | Mapping[str, Any], *, idempotency_key: str | None = None,
               **fields: Any) -> JobOut:
        """Submit a job with a tenant token; every retry carries the same Idempotency-Key."""
        body = build(JobSubmit, spec, **fields)
        key = idempotency_key or str(uuid.uuid4())
        data = self.request("POST", "/v1/jobs", body=wire(body), headers={"Idempotency-Key": key},
                            safe_to_repeat=True)
        return self._read(JobOut, data)

    def jobs_page(self, *, state: Sequence[str] | None = None, kind: Sequence[str] | None = None,
                  tenant: str | None = None, limit: int = 100,
                  continue_: str | None = None) -> JobList:
        """One page; ``tenant`` (admin) lists one tenant's jobs through the admin route."""
        path = "/v1/admin/jobs" if tenant else "/v1/jobs"
        return self._get(path, JobList, tenant=tenant, state=comma_list(state), kind=comma_list(kind),
                         limit=limit, **{"continue": continue_})

    def jobs(self, *, state: Sequence[str] | None = None, kind: Sequence[str] | None = None,
             tenant: str | None = None, page_size: int = 500) -> Iterator[JobOut]:
        """Every matching job in submission order, following continue tokens lazily."""
        path = "/v1/admin/jobs" if tenant else "/v1/jobs"
        yield from self._pages(path, JobList, page_size,
                               {"tenant": tenant, "state": comma_list(state), "kind": comma_list(kind)})

    def job(self, job_id: str) -> JobOut:
        return self._get(f"/v1/jobs/{segment(job_id)}", JobOut)

    def cancel(self, job_id: str) -> JobOut:
        """Cancel a job (the caller's own; the admin: any). A no-op on a finished job."""
        return self._send("POST", f"/v1/jobs/{segment(job_id)}/cancel", JobOut, safe_to_repeat=True)

    def cancel_any(self, job_id: str) -> JobOut:
        """Admin: cancel any tenant's job (recorded in the audit log)."""
        return self._send("POST", f"/v1/admin/jobs/{segment(job_id)}/cancel", JobOut, safe_to_repeat=True)

    def logs(self, job_id: str) -> LogsOut:
        return self._get(f"/v1/jobs/{segment(job_id)}/logs", LogsOut)

    def job_events(self, job_id: str) -> JobEventList:
        """Every recorded state change of the job, oldest first."""
        return self._get(f"/v1/jobs/{segment(job_id)}/events", JobEventList)
