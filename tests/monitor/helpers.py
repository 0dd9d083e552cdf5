"""Shared bits of the monitor tests: binaries that CI must have, free ports in 19000-19999,
a small center, and talking to a real Prometheus over HTTP."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler.centerfile import CenterConfig, build_center

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "monitor" / "rules"
DASHBOARDS = REPO / "monitor" / "dashboards"

#: 2 a800 nodes x 8 + 1 ascend node x 8; vr is guaranteed 8 devices' worth, limit 16.
SMALL: dict[str, Any] = {
    "name": "small",
    "accelerators": [
        {"name": "a800", "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU",
         "memory": "80Gi", "tflops": {"fp16": 312, "fp32": 19.5}},
        {"name": "ascend910b", "vendor_resource": "huawei.com/Ascend910", "ray_resource": "NPU",
         "memory": "64Gi", "tflops": {"fp16": 320}}],
    "pools": [
        {"name": "a800", "accelerator": "a800", "racks": 1, "nodes_per_rack": 2,
         "devices_per_node": 8, "cpus_per_node": 128, "memory_per_node": "1Ti"},
        {"name": "ascend", "accelerator": "ascend910b", "racks": 1, "nodes_per_rack": 1,
         "devices_per_node": 8, "cpus_per_node": 128, "memory_per_node": "1Ti"}],
    "tenants": [
        {"name": "vr", "guaranteed": "2.496P", "limit": "4.992P", "caps": {"a800": 12}},
        {"name": "finance", "guaranteed": "2.496P", "limit": "7.5P", "lending_limit": "1P"}],
}


def small_center() -> CenterConfig:
    return build_center(SMALL)


def need_binary(name: str) -> str:
    """The binary's path; a loud skip without it, a failure under CI (which installs it)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(f"SKIPPED: {message}")
    return path


_given: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 in 19000-19999 (the range these tests may use),
    never the same twice in one process."""
    ports = list(range(19000, 20000))
    random.SystemRandom().shuffle(ports)
    for port in ports:
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _given.add(port)
            return port
    raise RuntimeError("no free port in 19000-19999")


def get_json(url: str, params: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def finite_values(result: list[dict[str, Any]]) -> Iterator[float]:
    for series in result:
        for _, value in series.get("values", []) or [series.get("value", [0, "NaN"])]:
            v = float(value)
            if math.isfinite(v):
                yield v


def samples(body: bytes | str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """An exposition as {(sample name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    text = body.decode() if isinstance(body, bytes) else body
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, frozenset(s.labels.items())] = s.value
    return out


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The one sample of that name with exactly these labels (KeyError if absent)."""
    return found[name, frozenset(labels.items())]
