from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.chart import Helm
from tests.k8s.control_plane import ControlPlane, free_port
from tests.k8s.env import require, unavailable


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


@pytest.fixture(scope="session")
def kuberay_operator(kube: ControlPlane, crds: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """The real KubeRay operator (built from its Go module), watching every namespace."""
    binary = kube.bin_dir / "kuberay-operator"
    if not binary.is_file():
        failed = kube.bin_dir.parent / "kuberay-operator.failed"
        why = failed.read_text().strip() if failed.exists() else "not built"
        unavailable(f"the KubeRay operator did not build: {why}")
    log = open(kube.work / "logs" / "kuberay-operator.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(binary), "--metrics-addr", f"127.0.0.1:{free_port()}",
         "--health-probe-bind-address", f"127.0.0.1:{free_port()}", "--enable-leader-election=false"],
        stdout=log, stderr=subprocess.STDOUT, env=kube.env(), start_new_session=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
