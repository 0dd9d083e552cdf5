"""An ApiClient from a kubeconfig, or from the pod's service account in a cluster.

Nothing global: each call makes its own Configuration, so tests and several
clusters do not step on each other.
"""

from __future__ import annotations

import os
from typing import Any


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    from kubernetes import client
    from kubernetes import config as kube_config

    config: Any = kube_config  # its loaders are untyped

    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        cfg = client.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        return client.ApiClient(cfg)
    return config.new_client_from_config(config_file=kubeconfig, context=context)
