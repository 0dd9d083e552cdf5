"""Executors by name: ``make_executor("sleep", clock)``. The Ray executor adds itself here."""

from __future__ import annotations

from typing import Any

from scheduler.engine.clock import Clock
from scheduler.engine.ports import Executor

#: The names ``aicc serve --executor`` accepts (all of them, available or not).
EXECUTOR_NAMES = ("sleep", "ray", "kuberay")


class ExecutorUnavailable(RuntimeError):
    """The executor asked for cannot be used here; the message says why, in one line."""


def make_executor(name: str, clock: Clock, **options: Any) -> Executor:
    """Build the executor called ``name``; ``options`` go to its constructor."""
    if name == "sleep":
        from scheduler.executors.sleep import SleepExecutor

        return SleepExecutor(clock, **options)
    if name == "ray":
        _needs("ray", "the ray executor needs Ray: pip install 'aicc[ray]' (or make install)")
        from scheduler.executors.ray import make_ray_executor

        # center: the center file's (embedded head); with RAY_ADDRESS, its catalog (attached).
        center = _center(options)
        try:
            return make_ray_executor(clock, center=center, **options)
        except (ValueError, RuntimeError, ConnectionError) as exc:  # bad address, head that cannot start
            raise ExecutorUnavailable(f"ray: {str(exc).splitlines()[0]}") from exc
    if name == "kuberay":
        return _kuberay(clock, **options)
    raise ExecutorUnavailable(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTOR_NAMES)}")


def _kuberay(clock: Clock, **options: Any) -> Executor:
    """Each job a RayCluster of its own on Kubernetes (KubeRay); the center file's nodes are
    the Kubernetes nodes' names."""
    _needs("kubernetes", "the kuberay executor needs the kubernetes client: pip install 'aicc[kube]'")
    from scheduler.executors.kuberay import make_kuberay_executor

    center = _center(options)
    try:
        return make_kuberay_executor(clock, center)
    except Exception as exc:  # no kubeconfig, no service account
        raise ExecutorUnavailable(f"kuberay: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


def _needs(module: str, why: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ExecutorUnavailable(why)


def _center(options: dict[str, Any]) -> Any:
    """The center passed in ``options`` (taken out of them), else the center file's."""
    center = options.pop("center", None)
    if center is None:
        from scheduler.centerfile import load_center

        center = load_center().center
    return center
