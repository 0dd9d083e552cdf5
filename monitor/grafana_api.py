"""The few Grafana HTTP API calls provisioning needs, on httpx (the HTTP library aicc already uses).

A client of our own rather than grafana-client: that one's HTTP stack (niquests) installs
urllib3-future, which replaces the ``urllib3`` package in the environment and breaks other
tools beside aicc (requests-based tools, the kubernetes client, schemathesis).

Every call answers the decoded JSON body; a 404 on a read answers None; any other non-2xx
answer raises :class:`GrafanaError` with Grafana's status, ``message`` and body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class GrafanaError(Exception):
    """Grafana answered a non-2xx status (``status``), or did not answer at all (``status`` 0)."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body

    @property
    def reason(self) -> str:
        """Grafana's machine-readable ``status`` field (e.g. ``version-mismatch``), or ''."""
        return str(self.body.get("status") or "") if isinstance(self.body, dict) else ""


class GrafanaApi:
    """``GrafanaApi("http://grafana:3000", token="glsa_...")``; ``user:password@`` in the URL is
    basic authentication instead of a token. A path in the URL (Grafana behind a sub-path) is kept."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        base = httpx.URL(url)
        auth: httpx.Auth | None = None
        headers = {"Accept": "application/json"}
        if base.username or base.password:
            auth = httpx.BasicAuth(base.username, base.password)
            base = base.copy_with(username=None, password=None)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=base, auth=auth, headers=headers, timeout=timeout,
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GrafanaApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        try:
            r = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:  # refused, DNS, TLS, timeout
            raise GrafanaError(0, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        try:
            data: Any = r.json() if r.content else None
        except ValueError:
            data = None
        if missing_ok and r.status_code == 404:
            return None
        if r.is_success:
            return data
        message = data.get("message") if isinstance(data, dict) else None
        raise GrafanaError(r.status_code, str(message or r.reason_phrase or r.text[:200]), data)

    # -- health ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/health")
        return result

    # -- data sources ---------------------------------------------------------------------

    def get_datasource(self, uid: str) -> dict[str, Any] | None:
        return self._call("GET", f"/api/datasources/uid/{_seg(uid)}", missing_ok=True)  # type: ignore[no-any-return]

    def create_datasource(self, body: dict[str, Any]) -> Any:
        return self._call("POST", "/api/datasources", body)

    def update_datasource(self, uid: str, body: dict[str, Any]) -> Any:
        return self._call("PUT", f"/api/datasources/uid/{_seg(uid)}", body)

    # -- folders --------------------------------------------------------------------------

    def get_folder(self, uid: str) -> dict[str, Any] | None:
        return self._call("GET", f"/api/folders/{_seg(uid)}", missing_ok=True)  # type: ignore[no-any-return]

    def create_folder(self, title: str, uid: str) -> Any:
        return self._call("POST", "/api/folders", {"title": title, "uid": uid})

    def update_folder(self, uid: str, title: str, version: int | None) -> Any:
        body: dict[str, Any] = {"title": title}
        if version is None:
            body["overwrite"] = True
        else:
            body["version"] = version
        return self._call("PUT", f"/api/folders/{_seg(uid)}", body)

    # -- dashboards -----------------------------------------------------------------------

    def get_dashboard(self, uid: str) -> dict[str, Any] | None:
        """``{"dashboard": ..., "meta": ...}``, or None."""
        return self._call("GET", f"/api/dashboards/uid/{_seg(uid)}", missing_ok=True)  # type: ignore[no-any-return]

    def save_dashboard(self, body: dict[str, Any]) -> Any:
        return self._call("POST", "/api/dashboards/db", body)


def _seg(value: str) -> str:
    """One path segment, escaped (uids come from files and flags)."""
    return quote(value, safe="")
