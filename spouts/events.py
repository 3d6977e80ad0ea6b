"""EventSpout: emits device messages from the configured EventSource (simulator or Kafka), reliably.

Each `next_tuple` takes up to `pipeline.spout.batch_size` messages the source has now and emits them as one
tuple per source partition (SPOUT_FIELDS: topic, partition, messages), each with its own msg id. Acking that id
acks every message in it at the source (whose offsets then commit); failing it fails every message, which the
source retries one by one with its backoff (and dead-letters after its max retries), so nothing is lost and
replays regroup into new batches. See squall.pipeline.tuples for why tuples carry micro-batches.

A source with `poll_batch` (KafkaSource) hands out runs of consecutive offsets of one partition: the spout packs
a run at once (no per-message msg id, and no object per message beyond its [offset, payload] pair) and acks or
fails it by its handle. Other sources are polled message by message.

A source with `lag` (KafkaSource) is asked for its lag once every `topology.builtin.metrics.bucket.size.secs`
(default 60), and the spout sends it as the multilang metric `kafka_lag`: {"<topic>/<partition>": lag, ...}. Not
on a Storm worker, whose ShellSpout refuses metrics no Java code registered (squall.kafka.lag.metrics_interval).

A message longer than `pipeline.parse.max_payload_bytes` travels as [offset, prefix, size, sha256] instead of
[offset, payload] (parse dead-letters it as `too_large` with exactly that), so a 10 MB message costs the topology
no more than a normal one.
"""

from __future__ import annotations

import secrets
from typing import Any

from streamparse import Spout

from squall.pipeline.collector import tune_collector
from squall.pipeline.dead_letters import digest
from squall.pipeline.settings import from_conf
from squall.pipeline.sources import check_source_settings, make_source
from squall.pipeline.tuples import SPOUT_FIELDS, pack_batch, packs_binary


class EventSpout(Spout):  # type: ignore[misc]
    outputs = SPOUT_FIELDS

    def initialize(self, stormconf: dict[str, Any], context: dict[str, Any]) -> None:
        component = context.get("componentid", "events")
        task_ids = sorted(int(t) for t, c in (context.get("task->component") or {}).items() if c == component)
        task_id = int(context.get("taskid", 0))
        index = task_ids.index(task_id) if task_id in task_ids else 0
        settings = from_conf(stormconf)
        tune_collector()
        check_source_settings(settings, stormconf, max(1, len(task_ids)))
        self.batch_size = settings.spout.batch_size
        self.max_payload = settings.parse.max_payload_bytes
        self.prefix_bytes = settings.parse.dead_letter_prefix_bytes
        self.source = make_source(settings, index, max(1, len(task_ids)))
        self.in_flight: dict[str, list[Any]] = {}  # batch msg id -> the source msg ids (or run handles) in it
        # Unique per incarnation: an ack for a tree of a previous (crashed) instance must not ack a new batch.
        self._prefix = f"{task_id}-{secrets.token_hex(4)}-"
        self._next_id = 0
        self.binary = packs_binary(self)
        self.by_runs = hasattr(self.source, "poll_batch")
        self.lag_every: Any = None
        if hasattr(self.source, "lag"):  # KafkaSource: reports its lag as the kafka_lag metric
            from squall.kafka.lag import Every, metrics_interval

            interval = metrics_interval(stormconf)  # None on a Storm worker
            self.lag_every = Every(interval) if interval is not None else None

    def next_tuple(self) -> None:
        if self.lag_every is not None and self.lag_every.due() and (lag := self.source.lag()):
            self.report_metric("kafka_lag", lag)
        if self.by_runs:
            self._next_runs()
            return
        poll = self.source.poll
        batches: dict[tuple[str, int], tuple[list[Any], list[list[Any]]]] = {}
        for _ in range(self.batch_size):
            polled = poll()
            if polled is None:
                break
            msg_id, payload, topic, partition, offset = polled
            batch = batches.get((topic, partition))
            if batch is None:
                batch = batches[(topic, partition)] = ([], [])
            batch[0].append(msg_id)
            batch[1].append(self._message(offset, payload))
        for (topic, partition), (msg_ids, messages) in batches.items():
            self._next_id += 1
            tup_id = f"{self._prefix}{self._next_id}"
            self.in_flight[tup_id] = msg_ids
            self.emit([topic, partition, pack_batch(messages, self.binary)], tup_id=tup_id)

    def _next_runs(self) -> None:
        batches: dict[Any, tuple[list[Any], list[list[Any]]]] = {}
        for handle, payloads in self.source.poll_batch(self.batch_size):
            tp, first, count = handle
            batch = batches.get(tp)
            if batch is None:
                batch = batches[tp] = ([], [])
            batch[0].append(handle)
            if max(map(len, payloads)) <= self.max_payload:
                batch[1].extend(map(list, zip(range(first, first + count), payloads, strict=True)))
            else:
                batch[1].extend(self._message(offset, p) for offset, p in enumerate(payloads, first))
        for tp, (handles, messages) in batches.items():
            self._next_id += 1
            tup_id = f"{self._prefix}{self._next_id}"
            self.in_flight[tup_id] = handles
            self.emit([tp.topic, tp.partition, pack_batch(messages, self.binary)], tup_id=tup_id)

    def _message(self, offset: int, payload: bytes) -> list[Any]:
        if len(payload) > self.max_payload:
            # parse will dead-letter it as too_large: carry its prefix, size and digest, not megabytes
            return [offset, payload[: self.prefix_bytes], len(payload), digest(payload)]
        return [offset, payload]

    def ack(self, tup_id: Any) -> None:
        ack = self.source.ack_run if self.by_runs else self.source.ack
        for handle in self.in_flight.pop(str(tup_id), ()):
            ack(handle)

    def fail(self, tup_id: Any) -> None:
        fail = self.source.fail_run if self.by_runs else self.source.fail
        for handle in self.in_flight.pop(str(tup_id), ()):
            fail(handle)

    def activate(self) -> None:
        self.source.activate()

    def deactivate(self) -> None:
        self.source.deactivate()
