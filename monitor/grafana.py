"""Provisioning Grafana through its HTTP API (monitor/grafana_api.py, on httpx): the Prometheus data
source, a folder, and the aicc dashboards by uid, idempotently.

Each object is read first and written only when it differs from what aicc ships,
so a second run changes nothing and never duplicates anything. Dashboards are
saved with the version read (``overwrite: false``): if someone saves in between,
Grafana answers 412 and the dashboard is read and compared again. One owner per
object: a data source or dashboard provisioned from files (``readOnly`` /
``meta.provisioned``; Grafana answers 400 or 403 on a write) is reported as a
conflict and left alone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from monitor.dashboard_build import DASHBOARD_DIR
from monitor.grafana_api import GrafanaApi, GrafanaError

DATASOURCE_UID = "aicc-prometheus"
DATASOURCE_NAME = "aicc Prometheus"
FOLDER_UID = "aicc"
FOLDER_TITLE = "aicc"
#: Fields of a dashboard that Grafana owns, not the file.
_SERVER_FIELDS = ("id", "version")
_RETRIES = 3


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Change:
    kind: str  # datasource, folder or dashboard
    uid: str
    name: str
    action: Action
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


class ProvisionError(RuntimeError):
    """Grafana could not be reached or refused a request; the message says which and why."""


def load_dashboards(directory: Path = DASHBOARD_DIR) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


class Provisioner:
    """``Provisioner(GrafanaApi(url, token=token), prometheus_url=...).run()``."""

    def __init__(
        self,
        api: GrafanaApi,
        *,
        prometheus_url: str,
        datasource_uid: str = DATASOURCE_UID,
        datasource_name: str = DATASOURCE_NAME,
        folder_uid: str = FOLDER_UID,
        folder_title: str = FOLDER_TITLE,
        dashboards: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self.api = api
        self.prometheus_url = prometheus_url
        self.ds_uid, self.ds_name = datasource_uid, datasource_name
        self.folder_uid, self.folder_title = folder_uid, folder_title
        self.dashboards = list(dashboards) if dashboards is not None else load_dashboards()

    # -- what aicc ships -------------------------------------------------------------

    def desired_datasource(self) -> dict[str, Any]:
        return {"uid": self.ds_uid, "name": self.ds_name, "type": "prometheus", "access": "proxy",
                "url": self.prometheus_url,
                "jsonData": {"httpMethod": "POST", "timeInterval": "15s"}}

    def desired_dashboard(self, board: dict[str, Any]) -> dict[str, Any]:
        """The file's dashboard, its ``datasource`` variable preselecting our data source."""
        out = copy.deepcopy(board)
        for key in _SERVER_FIELDS:
            out.pop(key, None)
        for var in out.get("templating", {}).get("list", []):
            if var.get("type") == "datasource" and var.get("name") == "datasource":
                var["current"] = {"selected": True, "text": self.ds_name, "value": self.ds_uid}
        return out

    # -- the run ---------------------------------------------------------------------

    def run(self, dry_run: bool = False) -> list[Change]:
        try:
            self.api.health()
        except GrafanaError as exc:
            if exc.status == 0:  # connection refused, DNS, TLS, timeout
                raise ProvisionError(f"cannot reach Grafana: {exc.message}") from None
            raise ProvisionError(f"Grafana refused a request ({exc.status}): {exc.message}") from None
        try:
            changes = [self._datasource(dry_run), self._folder(dry_run)]
            changes += [self._dashboard(b, dry_run) for b in self.dashboards]
        except GrafanaError as exc:
            raise ProvisionError(f"Grafana refused a request ({exc.status or 'no answer'}): "
                                 f"{exc.message}") from None
        return changes

    def _datasource(self, dry_run: bool) -> Change:
        want = self.desired_datasource()
        for _ in range(_RETRIES):
            have = self.api.get_datasource(self.ds_uid)
            if have is None:
                if not dry_run:
                    try:
                        self.api.create_datasource(want)
                    except GrafanaError as exc:
                        if exc.status == 409:
                            return Change("datasource", self.ds_uid, self.ds_name, Action.CONFLICT,
                                          f"{exc.message} (another uid has this name)")
                        raise
                return Change("datasource", self.ds_uid, self.ds_name, Action.CREATE, want["url"])
            differs = [k for k in ("name", "type", "access", "url") if have.get(k) != want[k]]
            differs += [f"jsonData.{k}" for k, v in want["jsonData"].items()
                        if (have.get("jsonData") or {}).get(k) != v]
            if not differs:
                return Change("datasource", self.ds_uid, self.ds_name, Action.UNCHANGED)
            if have.get("readOnly"):
                return Change("datasource", self.ds_uid, self.ds_name, Action.CONFLICT,
                              "provisioned from a file (read-only); change it there")
            if dry_run:
                return Change("datasource", self.ds_uid, self.ds_name, Action.UPDATE, ", ".join(differs))
            body = {**have, **want, "jsonData": {**(have.get("jsonData") or {}), **want["jsonData"]}}
            try:
                self.api.update_datasource(self.ds_uid, body)
            except GrafanaError as exc:
                if exc.status == 409:  # updated by someone else meanwhile: read again
                    continue
                if exc.status == 403:
                    return Change("datasource", self.ds_uid, self.ds_name, Action.CONFLICT, exc.message)
                raise
            return Change("datasource", self.ds_uid, self.ds_name, Action.UPDATE, ", ".join(differs))
        return Change("datasource", self.ds_uid, self.ds_name, Action.CONFLICT,
                      "kept changing while being updated")

    def _folder(self, dry_run: bool) -> Change:
        for _ in range(_RETRIES):
            have = self.api.get_folder(self.folder_uid)
            if have is None:
                if not dry_run:
                    try:
                        self.api.create_folder(self.folder_title, self.folder_uid)
                    except GrafanaError as exc:
                        if exc.status in (409, 412):
                            return Change("folder", self.folder_uid, self.folder_title, Action.CONFLICT,
                                          exc.message)
                        raise
                return Change("folder", self.folder_uid, self.folder_title, Action.CREATE)
            if have.get("title") == self.folder_title:
                return Change("folder", self.folder_uid, self.folder_title, Action.UNCHANGED)
            detail = f"title {have.get('title')!r} -> {self.folder_title!r}"
            if not dry_run:
                try:
                    self.api.update_folder(self.folder_uid, self.folder_title, have.get("version"))
                except GrafanaError as exc:
                    if exc.status == 412:
                        continue
                    raise
            return Change("folder", self.folder_uid, self.folder_title, Action.UPDATE, detail)
        return Change("folder", self.folder_uid, self.folder_title, Action.CONFLICT,
                      "kept changing while being updated (412)")

    def _dashboard(self, board: dict[str, Any], dry_run: bool) -> Change:
        uid, title = board["uid"], board["title"]
        want = self.desired_dashboard(board)
        for _ in range(_RETRIES):
            found = self.api.get_dashboard(uid)
            version: int | None = None
            if found is not None:
                have = dict(found.get("dashboard") or {})
                meta = found.get("meta") or {}
                version = have.get("version")
                for key in _SERVER_FIELDS:
                    have.pop(key, None)
                # Only what aicc ships is compared: fields a Grafana adds on save do not count.
                same = all(have.get(k) == v for k, v in want.items())
                if same and meta.get("folderUid", "") == self.folder_uid:
                    return Change("dashboard", uid, title, Action.UNCHANGED)
                if meta.get("provisioned"):
                    return Change("dashboard", uid, title, Action.CONFLICT,
                                  "provisioned from files (one owner per dashboard): "
                                  "remove it from the file provider or leave it to it")
            action = Action.CREATE if found is None else Action.UPDATE
            if dry_run:
                return Change("dashboard", uid, title, action)
            dashboard = {**want, "id": None} if version is None else {**want, "id": None, "version": version}
            body = {"dashboard": dashboard,
                    "folderUid": self.folder_uid, "overwrite": False,
                    "message": "aicc grafana provision"}
            try:
                self.api.save_dashboard(body)
            except GrafanaError as exc:
                if exc.status == 412 and exc.reason == "version-mismatch":
                    continue  # saved by someone else since we read it: read and compare again
                if exc.status in (400, 412):  # 400: provisioned from files; 412: name-exists
                    return Change("dashboard", uid, title, Action.CONFLICT, exc.message)
                raise
            return Change("dashboard", uid, title, action)
        return Change("dashboard", uid, title, Action.CONFLICT,
                      "kept changing while being saved (412 version-mismatch)")
