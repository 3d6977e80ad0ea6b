"""Which partitions a spout task reads: Storm's RoundRobinManualPartitioner over a sorted partition list.

Partitions are sorted by (topic, partition) and task i takes every num_tasks-th one starting at i. Kafka only
ever adds partitions, so with one topic a growing partition count appends to the list and no partition moves
from one task to another.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka.structs import TopicPartition


def assign_round_robin(
    partitions: Iterable[TopicPartition], task_index: int, num_tasks: int
) -> list[TopicPartition]:
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    if not 0 <= task_index < num_tasks:
        raise ValueError(f"task_index must be in [0, {num_tasks}), got {task_index}")
    ordered = sorted(set(partitions), key=lambda tp: (tp.topic, tp.partition))
    return ordered[task_index::num_tasks]
