"""OffsetManager: the commit offset only moves over a contiguous done prefix, whatever the ack order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from squall.kafka.offsets import OffsetManager


def test_commit_waits_for_the_lowest_pending_offset() -> None:
    m = OffsetManager(10)
    for o in range(10, 15):
        m.emitted(o)
    assert m.next_commit() is None
    m.done(11)
    m.done(12)
    assert m.next_commit() is None  # 10 still pending
    m.done(10)
    assert m.next_commit() == 13
    m.committed_to(13)
    assert m.committed == 13
    assert m.num_uncommitted == 2  # 13, 14 pending
    m.done(14)
    assert m.next_commit() is None  # 13 still pending
    m.done(13)
    assert m.next_commit() == 15


def test_gaps_in_the_log_do_not_hold_the_commit_back() -> None:
    m = OffsetManager(0)
    for o in (3, 4, 7):  # 0-2 and 5-6 never returned by the broker (retention, transaction markers)
        m.emitted(o)
    for o in (3, 4, 7):
        m.done(o)
    assert m.next_commit() == 8


def test_duplicate_and_stale_acks_are_ignored() -> None:
    m = OffsetManager(5)
    m.emitted(5)
    assert m.done(5) is True
    assert m.done(5) is False
    assert m.done(99) is False
    m.committed_to(6)
    m.emitted(5)  # a stale re-fetch below the commit is not pending again
    assert m.num_pending == 0
    assert m.next_commit() is None


def test_negative_start_is_rejected() -> None:
    try:
        OffsetManager(-1)
    except ValueError as exc:
        assert "-1" in str(exc)
    else:
        raise AssertionError("OffsetManager(-1) must raise")


@given(
    start=st.integers(min_value=0, max_value=1000),
    n=st.integers(min_value=1, max_value=60),
    data=st.data(),
)
def test_commit_never_passes_an_unacked_offset(start: int, n: int, data: st.DataObject) -> None:
    gaps = data.draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=n // 3))
    offsets = [start + i for i in range(n) if i not in gaps]
    m = OffsetManager(start)
    for o in offsets:
        m.emitted(o)
    order = data.draw(st.permutations(offsets))
    commit_every = data.draw(st.integers(min_value=1, max_value=5))
    acked: set[int] = set()
    for i, o in enumerate(order):
        m.done(o)
        acked.add(o)
        nxt = m.next_commit()
        if nxt is not None:
            # every emitted offset below the commit position is acked
            assert all(e in acked for e in offsets if e < nxt)
            # and the position is at most one past the highest acked offset
            assert nxt <= max(acked) + 1
            if i % commit_every == 0:
                m.committed_to(nxt)
        assert m.committed <= (min(set(offsets) - acked) if set(offsets) - acked else max(offsets) + 1)
        assert m.num_uncommitted == sum(1 for e in offsets if e >= m.committed)
    final = m.next_commit()
    if final is not None:
        m.committed_to(final)
    assert m.committed == max(offsets) + 1
    assert m.num_uncommitted == 0
