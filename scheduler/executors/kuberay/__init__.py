"""Run each admitted job as a KubeRay RayCluster of its own, in its tenant's namespace, its
pods bound by aicc to exactly the nodes it placed the job on (``aicc serve --executor kuberay``).

``manifests.py``: the objects of a job (pure); ``binder.py``: aicc as the pods' scheduler;
``watch.py``: events from pods and nodes (pure); ``executor.py``: the port.
"""

from scheduler.domain import Center
from scheduler.engine.clock import Clock
from scheduler.executors.kuberay.executor import KubeRayExecutor
from scheduler.executors.kuberay.manifests import KubeRaySettings

__all__ = ["KubeRayExecutor", "KubeRaySettings", "make_kuberay_executor"]


def make_kuberay_executor(clock: Clock, center: Center, kubeconfig: str | None = None) -> KubeRayExecutor:
    """From the environment: the kubeconfig at KUBECONFIG (or the pod's service account),
    the settings from ``AICC_KUBERAY_*``."""
    import os

    from scheduler.kube.client import api_client

    return KubeRayExecutor(clock, api_client(kubeconfig or os.environ.get("KUBECONFIG")), center,
                           KubeRaySettings.from_env(os.environ))
