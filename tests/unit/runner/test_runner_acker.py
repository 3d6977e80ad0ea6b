"""The acker's XOR ledger and rotating timeouts (pure logic, no tasks)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from squall.runner.acker import Acker


def edges(rng: random.Random, n: int) -> list[int]:
    return [rng.getrandbits(64) or 1 for _ in range(n)]


@settings(max_examples=200)
@given(seed=st.integers(0, 10_000), fanout=st.lists(st.integers(0, 4), min_size=1, max_size=6))
def test_tree_completes_exactly_when_every_edge_is_acked(seed: int, fanout: list[int]) -> None:
    """Spout emits to len(fanout) tasks; each receiving bolt emits fanout[i] children anchored to its tuple and
    acks; each child is acked by its bolt. The tree completes on the last ack, never before."""
    rng = random.Random(seed)
    acker = Acker(timeout_secs=30)
    root = 99
    first = edges(rng, len(fanout))
    val = 0
    for e in first:
        val ^= e
    assert acker.init(root, val, spout_task=1, now=0.0) is None
    acks: list[int] = []
    for e, k in zip(first, fanout, strict=True):
        children = edges(rng, k)
        ack_val = 0
        for c in children:
            ack_val ^= c
        acks.append(e ^ ack_val)  # the bolt acks its input: its edge XOR the edges it emitted anchored to it
        acks.extend(children)  # every child is acked with its own edge id
    rng.shuffle(acks)
    for i, a in enumerate(acks):
        outcome = acker.ack(root, a)
        if i < len(acks) - 1:
            assert outcome is None
        else:
            assert outcome is not None and outcome.ok and outcome.spout_task == 1
    assert len(acker) == 0


def test_fail_anywhere_fails_the_tree_once() -> None:
    acker = Acker(timeout_secs=30)
    acker.init(7, 0b1010, spout_task=3, now=0)
    out = acker.fail(7)
    assert out is not None and not out.ok and out.spout_task == 3
    assert 7 not in acker
    assert acker.fail(7) is None  # a second fail changes nothing


def test_init_with_zero_val_acks_immediately() -> None:
    out = Acker(30).init(1, 0, spout_task=2, now=0)
    assert out is not None and out.ok


def test_trees_time_out_between_one_and_two_timeouts() -> None:
    acker = Acker(timeout_secs=10, now=0.0)
    acker.init(1, 5, spout_task=1, now=0.0)
    assert acker.tick(9.9) == []
    assert acker.tick(10.0) == []  # first rotation moves it to the older bucket
    acker.init(2, 5, spout_task=1, now=12.0)
    expired = acker.tick(20.0)
    assert [(o.root, o.ok, o.timed_out) for o in expired] == [(1, False, True)]
    assert [o.root for o in acker.tick(30.0)] == [2]


def test_completed_trees_do_not_time_out() -> None:
    acker = Acker(timeout_secs=1, now=0.0)
    acker.init(1, 5, spout_task=1, now=0.0)
    assert acker.ack(1, 5).ok  # type: ignore[union-attr]
    assert acker.tick(5.0) == []


def test_ack_before_init_is_kept() -> None:
    acker = Acker(30)
    assert acker.ack(4, 9) is None
    out = acker.init(4, 9, spout_task=1, now=0)
    assert out is not None and out.ok


def test_open_trees_leave_out_acks_that_arrive_after_the_tree_finished() -> None:
    """A tree failed by one branch: a later ack from another branch leaves an entry (as in Storm, until it
    rotates out), but no spout waits on it, so it is not an open tree."""
    acker = Acker(timeout_secs=10, now=0.0)
    acker.init(1, 0b1100, spout_task=7, now=0.0)
    acker.init(2, 0b0011, spout_task=7, now=0.0)
    assert acker.open_trees() == 2 and acker.is_open(1)
    outcome = acker.fail(1)
    assert outcome is not None and not outcome.ok
    assert acker.ack(1, 0b0100) is None  # the other branch, too late
    assert len(acker) == 2 and acker.open_trees() == 1 and not acker.is_open(1)
    timed_out = acker.tick(20.0)  # both rotate out: the open tree times out, the late ack is dropped
    assert [o.root for o in timed_out] == [2] and timed_out[0].timed_out
    assert len(acker) == 0 and acker.open_trees() == 0


def test_forgotten_trees_are_no_longer_open() -> None:
    acker = Acker(timeout_secs=10)
    acker.init(5, 3, spout_task=1, now=0.0)
    acker.forget({5, 6})
    assert acker.open_trees() == 0 and len(acker) == 0
