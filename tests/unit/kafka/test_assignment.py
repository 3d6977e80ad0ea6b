from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.structs import TopicPartition

from squall.kafka.assignment import assign_round_robin


def tps(n: int, topic: str = "t") -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in range(n)]


def test_round_robin_by_task_index() -> None:
    assert assign_round_robin(tps(5), 0, 2) == [TopicPartition("t", p) for p in (0, 2, 4)]
    assert assign_round_robin(tps(5), 1, 2) == [TopicPartition("t", p) for p in (1, 3)]
    assert assign_round_robin(tps(1), 1, 2) == []


def test_adding_partitions_never_moves_existing_ones() -> None:
    for tasks in (1, 2, 3):
        for idx in range(tasks):
            before = set(assign_round_robin(tps(4), idx, tasks))
            after = set(assign_round_robin(tps(7), idx, tasks))
            assert before <= after


@given(st.integers(0, 64), st.integers(1, 8))
def test_every_partition_goes_to_exactly_one_task(n: int, tasks: int) -> None:
    seen = [tp for i in range(tasks) for tp in assign_round_robin(reversed(tps(n)), i, tasks)]
    assert sorted(seen) == sorted(tps(n))
    sizes = [len(assign_round_robin(tps(n), i, tasks)) for i in range(tasks)]
    assert max(sizes) - min(sizes) <= 1


def test_bad_indexes_raise() -> None:
    with pytest.raises(ValueError, match="task_index"):
        assign_round_robin(tps(2), 2, 2)
    with pytest.raises(ValueError, match="num_tasks"):
        assign_round_robin(tps(2), 0, 0)
