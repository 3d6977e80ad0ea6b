from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from squall.kafka.interleave import RoundRobinBuffer


def test_records_alternate_between_partitions() -> None:
    buf: RoundRobinBuffer[int, str] = RoundRobinBuffer()
    buf.extend(0, ["a0", "a1", "a2"])
    buf.extend(1, ["b0"])
    buf.extend(2, ["c0", "c1"])
    out = []
    while (item := buf.pop()) is not None:
        out.append(item[1])
    assert out == ["a0", "b0", "c0", "a1", "c1", "a2"]
    assert len(buf) == 0


def test_drop_forgets_one_partition() -> None:
    buf: RoundRobinBuffer[int, int] = RoundRobinBuffer()
    buf.extend(0, [1, 2])
    buf.extend(1, [3])
    assert buf.drop(0) == 2 and buf.drop(7) == 0
    assert len(buf) == 1 and not buf.has(0) and buf.has(1)
    assert buf.pop() == (1, 3) and buf.pop() is None


@given(st.lists(st.tuples(st.integers(0, 4), st.lists(st.integers(), max_size=5)), max_size=20))
def test_per_partition_order_is_kept_and_nothing_is_lost(batches: list[tuple[int, list[int]]]) -> None:
    buf: RoundRobinBuffer[int, int] = RoundRobinBuffer()
    want: dict[int, list[int]] = {}
    for key, records in batches:
        buf.extend(key, records)
        want.setdefault(key, []).extend(records)
    got: dict[int, list[int]] = {}
    while (item := buf.pop()) is not None:
        got.setdefault(item[0], []).append(item[1])
    assert got == {k: v for k, v in want.items() if v}


def test_truncate_keeps_the_head_and_returns_the_first_dropped() -> None:
    buf: RoundRobinBuffer[int, int] = RoundRobinBuffer()
    buf.extend(0, [10, 11, 12, 13])
    buf.extend(1, [20])
    assert buf.truncate(0, 2) == 12
    assert buf.size(0) == 2 and len(buf) == 3
    assert buf.truncate(0, 5) is None and buf.truncate(9, 1) is None
    assert [buf.pop() for _ in range(3)] == [(0, 10), (1, 20), (0, 11)]
