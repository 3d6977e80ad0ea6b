"""Consumer lag: how far a consumer group's committed offsets are behind the log end, per topic and partition.

`group_lag` answers `squall lag` (what `kafka-consumer-groups.sh --describe` shows): the committed offsets come
from the group coordinator (KafkaAdminClient.list_group_offsets), the end offsets from a ListOffsets
request. The reference pipeline's Kafka spout assigns its partitions by hand and commits to
`pipeline.kafka.group_id`, so its group has no members; it exists as committed offsets only.

A partition of a topic the group committed to, but that has no commit of its own yet (a partition added later),
is listed with `committed` None; its lag counts from the log start, since that is where the spout starts it.

`spout_lag` is the figure the spout reports as its `kafka_lag` metric under `squall run`: the same lag, from the
offsets the spout committed itself and one end-offsets request. `Every` paces that request. `metrics_interval`
says how often, and whether at all (not on a Storm worker: see there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from squall.clock import Clock, SystemClock
from squall.errors import ConfigError, InfraError, SquallError
from squall.kafka.settings import KafkaSettings

METRIC_NAME = "kafka_lag"
INTERVAL_OPTION = "topology.builtin.metrics.bucket.size.secs"
DEFAULT_INTERVAL_S = 60
STORM_ID = "storm.id"


class GroupNotFound(SquallError):
    """The consumer group has no committed offsets (it does not exist, or never committed)."""


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: nothing committed for this partition
    end: int
    lag: int


def partition_lag(tp: TopicPartition, committed: int | None, end: int, start: int = 0) -> PartitionLag:
    """The lag of one partition: end - committed, or end - log start when nothing was committed. Never below 0
    (a commit can be ahead of a truncated log)."""
    base = committed if committed is not None else start
    return PartitionLag(tp.topic, tp.partition, committed, end, max(0, end - base))


def describe(
    committed: Mapping[TopicPartition, int | None],
    ends: Mapping[TopicPartition, int],
    starts: Mapping[TopicPartition, int] | None = None,
) -> list[PartitionLag]:
    """Rows sorted by topic and partition, one per partition that has an end offset."""
    starts = starts or {}
    rows = [
        partition_lag(tp, committed.get(tp), end, starts.get(tp, 0))
        for tp, end in ends.items()
        if tp in committed
    ]
    return sorted(rows, key=lambda r: (r.topic, r.partition))


def lag_document(group: str, rows: Iterable[PartitionLag]) -> dict[str, Any]:
    """The `squall lag --json` document: {"group", "partitions": [{topic, partition, committed, end, lag}],
    "total_lag"}."""
    parts = [asdict(r) for r in rows]
    return {"group": group, "partitions": parts, "total_lag": sum(p["lag"] for p in parts)}


def group_lag(
    settings: KafkaSettings, group: str | None = None, key: str = "pipeline.kafka.group_id"
) -> list[PartitionLag]:
    """Committed offset, end offset and lag of every partition of every topic `group` (default: the settings'
    group) committed to. Raises GroupNotFound (naming `key`, where the group came from) when the group has
    committed nothing, InfraError when Kafka cannot be reached."""
    from squall.kafka.admin import admin_client, partitions_of, plain_consumer

    group = group or settings.group_id
    timeout_ms = int(settings.request_timeout_s * 1000)
    with admin_client(settings) as admin:
        try:
            raw = admin.list_group_offsets(group).get(group) or {}
        except KafkaError as exc:
            raise InfraError(
                f"cannot read the committed offsets of consumer group {group!r} at {settings.bootstrap_servers}: "
                f"{exc} (fix: check that Kafka is up with `squall infra status`)"
            ) from exc
    committed: dict[TopicPartition, int | None] = {
        tp: int(meta.offset) for tp, meta in raw.items() if meta is not None and meta.offset >= 0
    }
    if not committed:
        raise GroupNotFound(
            f"{key}: {group!r} is no consumer group with committed offsets on {settings.bootstrap_servers} "
            "(fix: run the pipeline until its spout commits, or name another group "
            "with --group; pipeline.kafka.group_id is the one the spout commits to)"
        )
    with plain_consumer(settings) as consumer:
        tps: list[TopicPartition] = []
        for topic in sorted({tp.topic for tp in committed}):
            tps.extend(partitions_of(consumer, topic))
        for tp in tps:
            committed.setdefault(tp, None)
        try:
            ends = consumer.end_offsets(tps, timeout_ms=timeout_ms) if tps else {}
            uncommitted = [tp for tp in tps if committed[tp] is None]
            starts = consumer.beginning_offsets(uncommitted, timeout_ms=timeout_ms) if uncommitted else {}
        except KafkaError as exc:
            raise InfraError(
                f"cannot read the end offsets of {sorted({tp.topic for tp in tps})} at {settings.bootstrap_servers}: "
                f"{exc} (fix: check that Kafka is up with `squall infra status`)"
            ) from exc
    return describe(committed, {tp: int(o) for tp, o in ends.items()}, starts)


def spout_lag(consumer: Any, committed: Mapping[TopicPartition, int], timeout_ms: int) -> dict[str, int]:
    """`{"<topic>/<partition>": lag}` of the partitions in `committed` (the spout's own committed offsets), with
    one end-offsets request on the spout's consumer."""
    if not committed:
        return {}
    ends = consumer.end_offsets(list(committed), timeout_ms=timeout_ms)
    return {
        f"{tp.topic}/{tp.partition}": max(0, int(ends[tp]) - offset)
        for tp, offset in sorted(committed.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
        if tp in ends
    }


def metrics_interval(conf: Mapping[str, Any]) -> float | None:
    """Seconds between two `kafka_lag` reports: Storm's `topology.builtin.metrics.bucket.size.secs` (default 60).
    None on a Storm worker (Nimbus puts `storm.id` in every worker's topology conf): Storm's ShellSpout stops the
    worker when a component sends a metric that no Java code registered under that name, and streamparse's shell
    spouts register none, so there the spout does not report (`squall lag` reads the same figures)."""
    value = conf.get(INTERVAL_OPTION, DEFAULT_INTERVAL_S)
    if value is None:
        value = DEFAULT_INTERVAL_S
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(
            INTERVAL_OPTION,
            f"{value!r} is not a positive number of seconds",
            f"set it to a whole number of seconds such as {DEFAULT_INTERVAL_S}, or leave it out",
        )
    if conf.get(STORM_ID):
        return None
    return float(value)


class Every:
    """True from `due()` once every `interval_s` of `clock` time (the first time one interval after creation)."""

    def __init__(self, interval_s: float, clock: Clock | None = None) -> None:
        self.interval_s = interval_s
        self._clock: Clock = clock or SystemClock()
        self._next = self._clock.now() + interval_s

    def due(self) -> bool:
        now = self._clock.now()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return True
