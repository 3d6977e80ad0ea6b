"""Retry schedule: Storm's exponential backoff, driven by a ManualClock (no sleeping)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall.clock import ManualClock
from squall.kafka.retry import BackoffPolicy, RetrySchedule


def test_delays_follow_storm_formula_and_cap() -> None:
    p = BackoffPolicy(initial_s=0.1, period_s=0.5, max_delay_s=3.0, max_retries=10)
    assert [p.delay(n) for n in range(1, 6)] == [0.1, 1.0, 2.0, 3.0, 3.0]


def test_not_scheduled_after_max_retries() -> None:
    clock = ManualClock()
    s: RetrySchedule[str] = RetrySchedule(BackoffPolicy(0, 1, 10, max_retries=2), clock)
    assert s.schedule("m", 1)
    assert s.schedule("m", 2)
    assert not s.schedule("m", 3)
    assert not s.is_scheduled("m")


def test_by_default_a_failed_message_is_always_scheduled_again_with_capped_delays() -> None:
    """storm-kafka-client's default (DEFAULT_MAX_RETRIES = Integer.MAX_VALUE): a failure that reaches the spout
    is not the payload's (every bolt dead-letters its per-event errors), so it is retried, never dropped."""
    clock = ManualClock()
    policy = BackoffPolicy()
    assert policy.max_retries is None
    s: RetrySchedule[str] = RetrySchedule(policy, clock)
    assert all(s.schedule("m", n) for n in (1, 2, 3, 4, 50, 10_000))
    assert s.is_scheduled("m") and policy.delay(10_000) == policy.max_delay_s


def test_ready_only_when_due_and_in_due_order() -> None:
    clock = ManualClock()
    s: RetrySchedule[str] = RetrySchedule(BackoffPolicy(initial_s=1.0, period_s=1.0, max_delay_s=60), clock)
    s.schedule("late", 2)  # due at 2.0
    s.schedule("early", 1)  # due at 1.0
    assert s.ready() == []
    clock.advance(1.0)
    assert s.ready() == ["early"]
    assert s.next_due() == 2.0
    clock.advance(1.0)
    assert s.ready() == ["late"]
    assert len(s) == 0 and s.next_due() is None


def test_rescheduling_and_removal_drop_the_old_entry() -> None:
    clock = ManualClock()
    s: RetrySchedule[str] = RetrySchedule(BackoffPolicy(initial_s=1.0, period_s=5.0, max_delay_s=60), clock)
    s.schedule("m", 1)
    s.schedule("m", 2)  # now due at 10, not 1
    clock.advance(1.0)
    assert s.ready() == []
    s.remove("m")
    clock.advance(100)
    assert s.ready() == []


def test_bad_policy_values_raise() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        BackoffPolicy().delay(0)


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 4), st.floats(0, 30)), max_size=40))
def test_ready_never_returns_an_id_before_its_time(ops: list[tuple[int, int, float]]) -> None:
    clock = ManualClock()
    policy = BackoffPolicy(initial_s=0.5, period_s=0.5, max_delay_s=8.0, max_retries=3)
    s: RetrySchedule[int] = RetrySchedule(policy, clock)
    due: dict[int, float] = {}
    for msg, fails, step in ops:
        if s.schedule(msg, fails):
            due[msg] = clock.now() + policy.delay(fails)
        else:
            due.pop(msg, None)
        clock.advance(step)
        for got in s.ready():
            assert due.pop(got) <= clock.now()
    assert all(t > clock.now() for t in due.values())
