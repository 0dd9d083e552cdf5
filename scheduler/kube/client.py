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


def call(api: Any, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
         content_type: str = "application/json") -> Any:
    """One request by path, JSON in and out, through ``api`` (an ApiClient: its server, TLS and
    credentials): for the calls the typed client makes awkward (custom resources, bindings,
    label-selected lists across namespaces). A status that is not 2xx raises ApiException."""
    import json

    from kubernetes.client.exceptions import ApiException

    method_, url, headers, data, post = api.param_serialize(
        method, path, query_params=list((query or {}).items()),
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body, auth_settings=["BearerToken"])
    response = api.call_api(method_, url, headers, data, post)
    raw = response.read()
    if not 200 <= response.status < 300:
        raise ApiException(status=response.status, reason=response.reason, body=raw)
    return json.loads(raw) if raw else None
