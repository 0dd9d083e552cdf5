"""``Client``: the HTTP SDK for tenants and admins, over the API's own models.

Requests are built and checked with the API's request models (unknown
fields, bad units and bad names are refused here, before anything is sent;
``bodies``) and answers are read into its response models. Errors become the
typed exceptions of ``scheduler.client.errors``. The wire and its retries are
``http_client.HttpClient``; the calls are grouped by resource, one module each.
"""

from __future__ import annotations

from scheduler.client.access import AccessCalls
from scheduler.client.budgets import BudgetCalls
from scheduler.client.center import CenterCalls
from scheduler.client.jobs import JobCalls
from scheduler.client.tenants import TenantCalls
from scheduler.client.usage import UsageCalls


class Client(JobCalls, UsageCalls, TenantCalls, BudgetCalls, CenterCalls, AccessCalls):
    """A connection to one aicc server with one token (a tenant's or the admin's).

    >>> with Client("http://127.0.0.1:8080", token) as c:   # doctest: +SKIP
    ...     job = c.submit({"name": "bert", "resources": {"accelerators": 8}})
    ...     for j in c.jobs(state=["pending"]):
    ...         print(j.id, j.reason)
    """
