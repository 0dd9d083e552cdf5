"""A loopback stand-in for the Grafana HTTP API endpoints ``aicc grafana provision`` calls,
with the status codes and bodies Grafana answers (no Grafana server can be installed here):

- GET  /api/health
- GET  /api/datasources/uid/{uid}         404 "Data source not found"
- POST /api/datasources                   409 "data source with the same name already exists"
- PUT  /api/datasources/uid/{uid}         403 on a read-only (file provisioned) data source,
                                          409 when the version sent is not the current one
- GET  /api/folders/{uid}                 404 "folder not found"
- POST /api/folders                       409 "a folder with the same name already exists"
- PUT  /api/folders/{uid}                 412 when the version sent is not the current one
- GET  /api/dashboards/uid/{uid}          404 "Dashboard not found"; meta.provisioned, folderUid
- POST /api/dashboards/db                 400 "Cannot save provisioned dashboard",
                                          412 status=version-mismatch / name-exists
Every request needs ``Authorization: Bearer <token>`` (401 otherwise). Writes are logged.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class GrafanaState:
    token: str
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: uid -> {"dashboard": ..., "folderUid": ..., "provisioned": bool}
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1
    #: Answer like a Grafana that does not tell meta.provisioned (the save still answers 400).
    hide_provisioned_meta: bool = False
    #: Called before a dashboard save is applied (a test's "someone saved meanwhile").
    before_save: Callable[[GrafanaState, dict[str, Any]], None] | None = None

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def edit_dashboard(self, uid: str, title: str) -> None:
        """Someone saves the dashboard in the UI: new content, version + 1."""
        d = self.dashboards[uid]["dashboard"]
        d["title"] = title
        d["version"] += 1


class FakeGrafana:
    def __init__(self, port: int, token: str) -> None:
        self.state = GrafanaState(token)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("Authorization") != f"Bearer {fake.state.token}":
                    self._reply(401, {"message": "Unauthorized"})
                    return
                body = json.loads(raw) if raw else {}
                path = self.path.split("?")[0]
                with fake.lock:
                    if method != "GET":
                        fake.state.writes.append((method, path))
                    status, out = route(fake.state, method, path, body)
                self._reply(status, out)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_PUT(self) -> None:
                self._dispatch("PUT")

        return Handler


def route(s: GrafanaState, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    if method == "GET" and path == "/api/health":
        return 200, {"commit": "fake", "database": "ok", "version": "11.3.0"}
    if m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path):
        uid = m[1]
        ds = s.datasources.get(uid)
        if method == "GET":
            return (200, copy.deepcopy(ds)) if ds else (404, {"message": "Data source not found"})
        if method == "PUT":
            if ds is None:
                return 404, {"message": "Data source not found"}
            if ds.get("readOnly"):
                return 403, {"message": "Cannot update read-only data source"}
            if "version" in body and body["version"] != ds["version"]:
                return 409, {"message": "Datasource has already been updated by someone else. "
                                        "Please reload and try again"}
            new = {**ds, **body, "id": ds["id"], "uid": uid, "version": ds["version"] + 1}
            s.datasources[uid] = new
            return 200, {"datasource": new, "id": new["id"], "message": "Datasource updated",
                         "name": new["name"]}
    if method == "POST" and path == "/api/datasources":
        if any(d["name"] == body.get("name") for d in s.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        uid = body.get("uid") or f"ds{s.next_id}"
        ds = {"access": "proxy", "jsonData": {}, "readOnly": False, "isDefault": False, **body,
              "id": s.new_id(), "uid": uid, "orgId": 1, "version": 1}
        s.datasources[uid] = ds
        return 200, {"datasource": ds, "id": ds["id"], "message": "Datasource added", "name": ds["name"]}
    if m := re.fullmatch(r"/api/folders/([^/]+)", path):
        uid = m[1]
        folder = s.folders.get(uid)
        if method == "GET":
            return (200, copy.deepcopy(folder)) if folder else (404, {"message": "folder not found"})
        if method == "PUT":
            if folder is None:
                return 404, {"message": "folder not found"}
            if not body.get("overwrite") and body.get("version") != folder["version"]:
                return 412, {"message": "the folder has been changed by someone else"}
            folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
            return 200, copy.deepcopy(folder)
    if method == "POST" and path == "/api/folders":
        uid = body.get("uid") or f"f{s.next_id}"
        if uid in s.folders or any(f["title"] == body["title"] for f in s.folders.values()):
            return 409, {"message": "a folder with the same name already exists"}
        folder = {"id": s.new_id(), "uid": uid, "title": body["title"], "version": 1,
                  "url": f"/dashboards/f/{uid}/"}
        s.folders[uid] = folder
        return 200, copy.deepcopy(folder)
    if m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path):
        entry = s.dashboards.get(m[1])
        if entry is None:
            return 404, {"message": "Dashboard not found"}
        d = entry["dashboard"]
        return 200, {"dashboard": copy.deepcopy(d),
                     "meta": {"folderUid": entry["folderUid"],
                              "provisioned": entry["provisioned"] and not s.hide_provisioned_meta,
                              "version": d["version"], "slug": d["title"].lower(),
                              "url": f"/d/{d['uid']}/"}}
    if method == "POST" and path == "/api/dashboards/db":
        return save_dashboard(s, body)
    return 404, {"message": "Not found"}


def save_dashboard(s: GrafanaState, body: dict[str, Any]) -> tuple[int, Any]:
    if s.before_save is not None:
        s.before_save(s, body)
    d = copy.deepcopy(body["dashboard"])
    uid, folder_uid = d["uid"], body.get("folderUid", "")
    if folder_uid and folder_uid not in s.folders:
        return 400, {"message": "folder not found"}
    entry = s.dashboards.get(uid)
    for other_uid, other in s.dashboards.items():
        if (other_uid != uid and other["folderUid"] == folder_uid
                and other["dashboard"]["title"] == d["title"]):
            return 412, {"status": "name-exists",
                         "message": "A dashboard with the same name in the folder already exists"}
    if entry is not None:
        if entry["provisioned"]:
            return 400, {"message": "Cannot save provisioned dashboard"}
        if not body.get("overwrite") and d.get("version") != entry["dashboard"]["version"]:
            return 412, {"status": "version-mismatch",
                         "message": "The dashboard has been changed by someone else"}
        d["id"] = entry["dashboard"]["id"]
        d["version"] = entry["dashboard"]["version"] + 1
    else:
        d["id"] = s.new_id()
        d["version"] = 1
    s.dashboards[uid] = {"dashboard": d, "folderUid": folder_uid, "provisioned": False}
    return 200, {"id": d["id"], "uid": uid, "url": f"/d/{uid}/", "status": "success",
                 "version": d["version"], "slug": d["title"].lower()}
