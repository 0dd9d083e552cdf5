"""The sleep executor: timed runs, new attempts after a stop, and a bounded memory."""

from __future__ import annotations

import pytest

import scheduler.executors.sleep as sleep
from scheduler.domain import JobKind, JobRecord, JobSpec, JobState, Resources
from scheduler.engine.clock import ManualClock
from scheduler.engine.ports import EventKind
from scheduler.executors.sleep import SleepExecutor


def job(i: int, sleep_s: float = 10.0) -> JobRecord:
    spec = JobSpec("acme", f"j{i}", JobKind.BATCH, 1, Resources(1), runtime_env={"sleep_s": sleep_s})
    return JobRecord(f"j{i}", i, spec, JobState.ADMITTED, 0.0)


def events(ex: SleepExecutor) -> list[tuple[str, str, float]]:
    return [(e.job_id, e.kind.value, e.at) for e in ex.poll()]


def test_a_stopped_job_started_again_runs_anew_and_its_first_attempt_never_ends_it() -> None:
    clock = ManualClock(0.0)
    ex = SleepExecutor(clock)
    ex.start(job(1, 10.0))
    ex.start(job(1, 10.0))  # a retried start does not start it twice
    clock.advance_to(4.0)
    ex.stop("j1", 0.0)
    clock.advance_to(5.0)
    assert events(ex) == [("j1", "started", 0.0), ("j1", "stopped", 4.0)]
    ex.start(job(1, 10.0))
    clock.advance_to(12.0)  # the first attempt would have succeeded at 10
    assert events(ex) == [("j1", "started", 5.0)]
    clock.advance_to(15.0)
    assert events(ex) == [("j1", "succeeded", 15.0)]
    assert ex.known() == {"j1": EventKind.SUCCEEDED}
    assert ex.next_event_at() is None


def test_only_the_most_recently_ended_jobs_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sleep, "KEEP_ENDED", 3)
    clock = ManualClock(0.0)
    ex = SleepExecutor(clock)
    for i in range(6):
        ex.start(job(i, 1.0 + i))
    ex.start(job(9, 100.0))
    ex.stop("j5", 0.0)  # stopped before its end: that end is stale, forgotten or not
    clock.advance_to(10.0)
    assert [(j, k) for j, k, _ in events(ex)][-6:] == [
        ("j5", "stopped"), ("j0", "succeeded"), ("j1", "succeeded"), ("j2", "succeeded"),
        ("j3", "succeeded"), ("j4", "succeeded")]
    assert ex.known() == {"j2": EventKind.SUCCEEDED, "j3": EventKind.SUCCEEDED, "j4": EventKind.SUCCEEDED,
                          "j9": EventKind.STARTED}  # a running job is never forgotten
    ex.start(job(5, 1.0))  # requeued after it was forgotten: a new attempt
    clock.advance_to(11.0)
    assert events(ex) == [("j5", "started", 10.0), ("j5", "succeeded", 11.0)]


def test_a_job_being_stopped_is_not_forgotten_for_an_earlier_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sleep, "KEEP_ENDED", 1)
    clock = ManualClock(0.0)
    ex = SleepExecutor(clock, stop_delay_s=30.0)
    ex.start(job(1, 100.0))
    ex.stop("j1", 0.0)
    clock.advance_to(30.0)
    assert [k for _, k, _ in events(ex)] == ["started", "stopped"]
    ex.start(job(1, 100.0))  # requeued: its first end is still remembered
    clock.advance_to(40.0)
    ex.stop("j1", 0.0)  # being stopped again, until 70
    ex.start(job(2, 1.0))
    clock.advance_to(45.0)
    assert [(j, k) for j, k, _ in events(ex)] == [("j1", "started"), ("j2", "started"), ("j2", "succeeded")]
    clock.advance_to(70.0)  # j2's end pushed j1's first one out; j1's stop is still due
    assert events(ex) == [("j1", "stopped", 70.0)]


def test_a_new_leader_adopts_the_running_jobs_until_they_would_have_ended() -> None:
    """With ``outlives_service`` (high availability), the jobs "run" on a cluster that
    outlives the leader: a new leader's executor knows the ones its store says run."""
    from dataclasses import replace

    clock = ManualClock(100.0)
    running = replace(job(1, 30.0), state=JobState.RUNNING, started_at=80.0)
    admitted = job(2, 30.0)  # never seen running: reconcile starts it
    plain = SleepExecutor(clock)
    plain.adopt([running, admitted])
    assert plain.known() == {}  # without it, a restart finds nothing (as before)
    ex = SleepExecutor(clock, outlives_service=True)
    ex.adopt([running, admitted])
    assert ex.known() == {"j1": EventKind.STARTED}
    ex.start(running)  # a retried start of an adopted job does not start it again
    assert ex.next_event_at() == 110.0
    clock.advance_to(111.0)
    assert events(ex) == [("j1", "succeeded", 110.0)]
