"""The center's capacity, and (admin) its nodes: list, read, cordon, uncordon, drain."""

from __future__ import annotations

from scheduler.api.models import CenterOut, DrainIn, DrainOut, NodeList, NodeOut
from scheduler.client.bodies import build, segment, wire
from scheduler.client.http_client import HttpClient


class CenterCalls(HttpClient):
    def center(self) -> CenterOut:
        return self._get("/v1/center", CenterOut)

    def nodes(self, *, state: str | None = None, pool: str | None = None) -> list[NodeOut]:
        return self._get("/v1/admin/nodes", NodeList, state=state, pool=pool).items

    def node(self, name: str) -> NodeOut:
        return self._get(f"/v1/admin/nodes/{segment(name)}", NodeOut)

    def cordon(self, name: str) -> NodeOut:
        return self._send("POST", f"/v1/admin/nodes/{segment(name)}/cordon", NodeOut, safe_to_repeat=True)

    def uncordon(self, name: str) -> NodeOut:
        return self._send("POST", f"/v1/admin/nodes/{segment(name)}/uncordon", NodeOut, safe_to_repeat=True)

    def drain(self, name: str, *, preempt: bool = False) -> DrainOut:
        """Cordon; with ``preempt`` also stop (requeue) what runs there now."""
        body = build(DrainIn, preempt=preempt)
        return self._send("POST", f"/v1/admin/nodes/{segment(name)}/drain", DrainOut, wire(body),
                          safe_to_repeat=True)
