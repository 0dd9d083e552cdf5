from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.chart import Helm
from tests.k8s.control_plane import ControlPlane
from tests.k8s.env import require


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kwok for the whole session (about 10 s to start)."""
    pytest.importorskip("kubernetes", reason="SKIPPED: the 'kube' extra (kubernetes client) is not installed")
    bin_dir = require()
    start = time.monotonic()
    cp = ControlPlane(bin_dir, Path(tmp_path_factory.mktemp("k8s")))
    try:
        cp.start()
    except Exception:
        cp.stop()
        raise
    print(f"\ncontrol plane up in {time.monotonic() - start:.1f} s at {cp.url}")
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def crds(kube: ControlPlane) -> list[str]:
    """ServiceMonitor, PrometheusRule, RayCluster, RayJob: generated from the projects' Go
    types by controller-gen (`make k8s-tools`), installed and Established."""
    from tests.k8s import tools
    from tests.k8s.objects import install_crds

    return install_crds(kube, tools.crd_dir())


@pytest.fixture(scope="session")
def helm_k8s(kube: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm talking to the test control plane as admin."""
    return Helm(kube.bin_dir / "helm", Path(tmp_path_factory.mktemp("helm-k8s")),
                {"KUBECONFIG": str(kube.kubeconfig)})


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm for rendering only (no cluster)."""
    return Helm(require("helm") / "helm", Path(tmp_path_factory.mktemp("helm-home")))
