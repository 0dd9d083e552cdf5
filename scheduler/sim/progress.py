"""The replay's progress: a tqdm bar on stderr, or a callable told the jobs replayed."""

from __future__ import annotations

from collections.abc import Callable


def replay_progress(total: int, enabled: bool | Callable[[int], None] | None):  # type: ignore[no-untyped-def]
    """A tqdm bar on stderr for long runs (``None``: only when there are many jobs); a
    callable is told the jobs replayed instead (another process draws the bar)."""
    if callable(enabled):
        return _Reported(enabled)
    return progress_bar(total) if show_progress(total, enabled) else None


def progress_bar(total: int):  # type: ignore[no-untyped-def]
    """A tqdm bar of jobs replayed, on stderr; None without tqdm (the sim extra)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="job", desc="replay", leave=False, mininterval=0.5)


def show_progress(jobs: int, enabled: bool | None) -> bool:
    return bool(enabled) or (enabled is None and jobs >= 20_000)


class _Reported:
    """A bar's ``update`` and ``close`` that report the jobs replayed to a callable."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self.update = report

    def close(self) -> None:
        pass
