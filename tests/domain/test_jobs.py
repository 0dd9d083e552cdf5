import pytest

from scheduler.domain import JobState, Quota, QuotaError, TransitionError, check_transition
from scheduler.domain.job import TERMINAL_STATES, TRANSITIONS


def test_terminal_states_stay_terminal() -> None:
    for state in TERMINAL_STATES:
        assert TRANSITIONS[state] == frozenset()
        for other in JobState:
            with pytest.raises(TransitionError):
                check_transition(state, other)


def test_a_preempted_job_is_requeued_and_a_pending_job_cannot_run_without_admission() -> None:
    check_transition(JobState.RUNNING, JobState.PREEMPTED)
    check_transition(JobState.PREEMPTED, JobState.PENDING)
    with pytest.raises(TransitionError, match="a pending job cannot become running"):
        check_transition(JobState.PENDING, JobState.RUNNING)


def test_every_state_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(JobState)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"guaranteed": 5, "limit": 4}, "guaranteed must not exceed limit"),
    ({"guaranteed": -1, "limit": 4}, "guaranteed must not be negative"),
    ({"guaranteed": 4, "limit": 4, "lending_limit": 5}, "lending_limit"),
    ({"guaranteed": 4, "limit": 4, "caps": {"a800": -1}}, "caps.a800"),
])
def test_inconsistent_quotas_name_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(QuotaError, match=message):
        Quota(**kwargs)
