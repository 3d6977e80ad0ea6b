"""KafkaSource: the pipeline's EventSource on a real Kafka, with storm-kafka-client's KafkaSpout semantics.

- Manual assignment: the events topic's partitions, round-robin by task index (squall.kafka.assignment),
  re-read every `partition_refresh_s` so added partitions are picked up. No group rebalancing.
- At-least-once: auto-commit is off; per partition only the contiguous done prefix is committed
  (squall.kafka.offsets), every `commit_interval_s` and on deactivate/close.
- Failed tuples are re-emitted from an in-memory copy after an exponential backoff (squall.kafka.retry); after
  `max_retries` re-emits the next failure publishes a DeadLetter (reason `max_retries`, original bytes) to the
  dead-letter topic, and once the broker acknowledged it the offset counts as done.
- A partition with `max_uncommitted` emitted-but-uncommitted offsets is paused until a commit frees room.
  Pausing is done here, not with KafkaConsumer.pause: kafka-python 3.0.12 can keep a resumed partition's parked
  records forever (its KAFKA-7548 restore only runs when no other partition's records are in line), after which
  the partition is never fetched again. So records of a paused partition are dropped and the consumer is seeked
  back to the first dropped offset; when every assigned partition is paused the consumer is not polled at all.
- Offsets this task skipped would be committed over (offsets.py treats never-emitted offsets as gaps). So a
  paused partition's buffer is dropped whole, never in part, and a record past the next expected offset makes
  the source re-read from that offset once; only a gap that is there again (transaction markers, compaction,
  retention) is taken.
- Fetched records are emitted round-robin across partitions (a KafkaConsumer poll returns them in
  per-partition runs), at most 2 x max_poll_records buffered per partition (the rest is dropped and re-read).
- Runs: `poll_batch` hands out a partition's buffered records as runs of consecutive offsets (offset of the
  first, payloads), acked or failed as a whole by their handle (`ack_run`, `fail_run`). A clean run costs a few
  C-level set and list operations, not an object per record; a run that is not clean (emitted before, a gap, a
  paused partition) goes record by record through the same checks as `poll`, as runs of one. A failed run's
  messages are retried one by one (backoff, max retries, dead letters per message); retries that are due
  together go out as runs again.
- Retries keep source order. A partition with a failed message waiting for its retry emits nothing newer until
  the retry went out, and a partition's retries go out in the order they failed (a later failure is not due
  before an earlier one). Event-time bolts judge lateness by a device's order in its partition: a replay
  overtaken by newer events of its device would be taken for late. (storm-kafka-client emits past waiting
  retries; this source does not.)
- Start position on a task's first assignment: committed (else earliest) | earliest | latest. Partitions
  that appear later start at their committed offset, else the earliest, so nothing produced to them is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from squall.clock import Clock, SystemClock
from squall.errors import InfraError
from squall.kafka.assignment import assign_round_robin
from squall.kafka.client import client_config, unreachable
from squall.kafka.dead_letters import dead_letter_key, encode_dead_letter
from squall.kafka.interleave import RoundRobinBuffer
from squall.kafka.offsets import OffsetManager
from squall.kafka.retry import RetrySchedule
from squall.kafka.settings import KafkaSettings
from squall.pipeline.model import DeadLetter

log = logging.getLogger(__name__)

FETCH_EVERY = 16  # emits between non-blocking fetches while a partition has nothing buffered
# How long a poll with nothing to emit waits while every partition is paused. Only acks (and the commit they
# allow) can resume one, and they come between polls; the runner asks again 1 ms after an empty poll, so without
# a wait a paused spout spins at ~1,000 empty polls a second (most of its CPU in a backlog replay).
PAUSED_WAIT_S = 0.01
LAG_TIMEOUT_S = 5.0  # longest wait for the end offsets of the kafka_lag metric
Polled = tuple[str, bytes, str, int, int]  # (msg_id, payload, topic, partition, offset)
MsgKey = tuple[TopicPartition, int]
RunHandle = tuple[TopicPartition, int, int]  # (partition, first offset, count)
Run = tuple[RunHandle, list[bytes]]  # its handle and its payloads, offsets first .. first + count - 1


def format_msg_id(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def parse_msg_id(msg_id: str) -> MsgKey:
    topic, partition, offset = str(msg_id).rsplit(":", 2)
    return TopicPartition(topic, int(partition)), int(offset)


@dataclass
class _InFlight:
    payload: bytes
    fails: int = 0


class KafkaSource:
    """EventSource over the events topic for spout task `task_index` of `num_tasks`."""

    def __init__(
        self,
        settings: Any,
        task_index: int = 0,
        num_tasks: int = 1,
        *,
        clock: Clock | None = None,
        publisher: Any = None,
        consumer_factory: Callable[..., Any] = KafkaConsumer,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = KafkaSettings.from_pipeline(settings)
        assign_round_robin([], task_index, num_tasks)  # validates the indexes
        self.task_index = task_index
        self.num_tasks = num_tasks
        self._clock: Clock = clock or SystemClock()
        self._publisher = publisher
        self._owns_publisher = publisher is None
        self._consumer_factory = consumer_factory
        self._sleep = sleep
        self._consumer: Any = None
        self._offsets: dict[TopicPartition, OffsetManager] = {}
        self._inflight: dict[MsgKey, _InFlight] = {}
        self._runs: dict[MsgKey, list[bytes]] = {}  # (partition, first offset) -> payloads of a run in flight
        self._retries: RetrySchedule[MsgKey] = RetrySchedule(self.settings.backoff, self._clock)
        self._retrying: dict[
            TopicPartition, int
        ] = {}  # scheduled retries per partition (it emits nothing new)
        self._retry_due: dict[TopicPartition, float] = {}  # the latest retry time given in the partition
        self._buffer: RoundRobinBuffer[TopicPartition, Any] = RoundRobinBuffer()
        self._dead_lettering: dict[MsgKey, Future[None]] = {}
        self._paused: set[TopicPartition] = set()
        self._gaps: dict[
            TopicPartition, tuple[int, int]
        ] = {}  # a gap being re-read: (max emitted, next seen)
        self._active = False
        self._ever_assigned = False
        self._last_commit = self._clock.now()
        self._last_refresh = self._clock.now()
        self._commit_wanted = False
        self._emits_since_fetch = 0
        self.stats = {
            "emitted": 0,
            "re_emitted": 0,
            "acked": 0,
            "failed": 0,
            "dead_lettered": 0,
            "commits": 0,
            "gaps_reread": 0,
        }

    # --- EventSource -------------------------------------------------------------------------------
    def activate(self) -> None:
        if self._consumer is None:
            self._consumer = self._connect()
            self._refresh_assignment(force=True)
        self._active = True

    def deactivate(self) -> None:
        self.commit()
        self._active = False  # poll() emits what was fetched already, but fetches nothing new

    def poll(self) -> Polled | None:
        self._housekeeping()
        for key in self._retries.ready(limit=1):
            self._retry_out(key)
            entry = self._inflight.get(key)
            if entry is None:
                continue
            self.stats["re_emitted"] += 1
            tp, offset = key
            return (
                format_msg_id(tp.topic, tp.partition, offset),
                entry.payload,
                tp.topic,
                tp.partition,
                offset,
            )
        if self._active and self._wants_fetch():
            self._fetch(block=not self._buffer)
        rewind: dict[TopicPartition, int] = {}
        try:
            while (item := self._buffer.pop()) is not None:
                tp, record = item
                if not self._accept(tp, record, rewind):
                    continue
                payload = record.value if record.value is not None else b""
                self._inflight[(tp, record.offset)] = _InFlight(payload)
                return (
                    format_msg_id(tp.topic, tp.partition, record.offset),
                    payload,
                    tp.topic,
                    tp.partition,
                    record.offset,
                )
        finally:
            for tp, offset in rewind.items():
                self._consumer.seek(tp, offset)
        return None

    def poll_batch(self, limit: int) -> list[Run]:
        """Up to `limit` messages as runs of consecutive offsets, at most one fresh run per partition, shared
        round-robin between the partitions that have records buffered; retries due first, as runs of one."""
        self._housekeeping()
        runs: list[Run] = []
        taken = 0
        if self._retries:
            run_tp: Any = None
            run_first = run_next = 0
            payloads: list[bytes] = []
            for key in self._retries.ready(limit=limit):
                self._retry_out(key)
                entry = self._inflight.get(key)
                if entry is None:
                    continue
                self.stats["re_emitted"] += 1
                taken += 1
                tp, offset = key
                if tp == run_tp and offset == run_next:  # consecutive offsets due together: one run
                    payloads.append(entry.payload)
                    run_next += 1
                    continue
                if payloads:
                    runs.append(((run_tp, run_first, len(payloads)), payloads))
                run_tp, run_first, run_next, payloads = tp, offset, offset + 1, [entry.payload]
            if payloads:
                runs.append(((run_tp, run_first, len(payloads)), payloads))
        if taken < limit and self._active and self._wants_fetch():
            self._fetch(block=not self._buffer and not runs)
        rewind: dict[TopicPartition, int] = {}
        try:
            share = -(-(limit - taken) // max(1, self._buffer.keys_with_records()))
            while taken < limit:
                item = self._buffer.pop_run(min(share, limit - taken))
                if item is None:
                    break
                tp, records = item
                taken += self._take_run(tp, records, rewind, runs)
        finally:
            for tp, offset in rewind.items():
                self._consumer.seek(tp, offset)
        return runs

    def ack_run(self, handle: RunHandle) -> None:
        tp, first, count = handle
        payloads = self._runs.pop((tp, first), None)
        if payloads is None:  # a run of one re-emitted after a failure, or a stale handle
            for offset in range(first, first + count):
                self.ack((tp, offset))
            return
        manager = self._offsets.get(tp)
        if manager is not None:
            self.stats["acked"] += manager.done_run(first, len(payloads))
            if tp in self._paused:
                self._commit_wanted = True

    def fail_run(self, handle: RunHandle) -> None:
        tp, first, count = handle
        payloads = self._runs.pop((tp, first), None)
        if payloads is not None:  # from now on each message is retried on its own
            for offset, payload in enumerate(payloads, first):
                self._inflight[(tp, offset)] = _InFlight(payload)
        for offset in range(first, first + count):
            self.fail((tp, offset))

    def ack(self, msg_id: Any) -> None:
        key = msg_id if isinstance(msg_id, tuple) else parse_msg_id(msg_id)
        if self._inflight.pop(key, None) is None:
            return
        if self._retries.remove(key):
            self._retry_out(key)
        manager = self._offsets.get(key[0])
        if manager is not None and manager.done(key[1]):
            self.stats["acked"] += 1
            if key[0] in self._paused:
                self._commit_wanted = True  # commit at the next poll, so the paused partition can resume

    def fail(self, msg_id: Any) -> None:
        key = msg_id if isinstance(msg_id, tuple) else parse_msg_id(msg_id)
        entry = self._inflight.get(key)
        if entry is None or key in self._dead_lettering:
            return
        self.stats["failed"] += 1
        entry.fails += 1
        tp = key[0]
        retries = self._retries
        was_scheduled = retries.is_scheduled(key)
        if not retries.schedule(key, entry.fails, not_before=self._retry_due.get(tp)):
            if was_scheduled:
                self._retry_out(key)
            self._dead_letter(key, entry)
            return
        if not was_scheduled:
            self._retrying[tp] = self._retrying.get(tp, 0) + 1
        self._retry_due[tp] = retries.due(key) or 0.0

    def _retry_out(self, key: MsgKey) -> None:
        """`key` left the retry schedule (re-emitted, or acked): its partition may emit new records again."""
        left = self._retrying.get(key[0], 0) - 1
        if left > 0:
            self._retrying[key[0]] = left
        else:
            self._retrying.pop(key[0], None)

    def close(self) -> None:
        if self._consumer is None:
            return
        try:
            self._settle_dead_letters(wait_s=self.settings.request_timeout_s)
            self.commit()
        finally:
            self._consumer.close(autocommit=False)
            self._consumer = None
            if self._owns_publisher and self._publisher is not None:
                self._publisher.close()
                self._publisher = None

    # --- what tests and the CLI look at -------------------------------------------------------------
    @property
    def assignment(self) -> list[TopicPartition]:
        return sorted(self._offsets, key=lambda tp: (tp.topic, tp.partition))

    def committed_offsets(self) -> dict[TopicPartition, int]:
        return {tp: m.committed for tp, m in self._offsets.items()}

    def lag(self) -> dict[str, int]:
        """`{"<topic>/<partition>": lag}` of this task's partitions: the log end minus the offset this source
        committed (what `squall lag` shows for them). One end-offsets request, waited for at most
        LAG_TIMEOUT_S (a metric is not worth stalling the spout for); {} before the first assignment or when the
        broker does not answer in time (logged)."""
        if self._consumer is None:
            return {}
        from squall.kafka.lag import spout_lag

        timeout_s = min(LAG_TIMEOUT_S, self.settings.request_timeout_s)
        try:
            return spout_lag(self._consumer, self.committed_offsets(), int(timeout_s * 1000))
        except KafkaError as exc:
            log.warning("could not read the end offsets for the kafka_lag metric: %s", exc)
            return {}

    @property
    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    @property
    def pending(self) -> int:
        return len(self._inflight) + sum(len(payloads) for payloads in self._runs.values())

    # --- commits -----------------------------------------------------------------------------------
    def commit(self) -> dict[TopicPartition, int]:
        """Commit every partition's contiguous done prefix; resume partitions that are below the cap again."""
        self._last_commit = self._clock.now()
        self._commit_wanted = False
        if self._consumer is None:
            return {}
        offsets = {}
        for tp, manager in self._offsets.items():
            nxt = manager.next_commit()
            if nxt is not None:
                offsets[tp] = nxt
        if not offsets:
            return {}
        try:
            self._consumer.commit(
                offsets={tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()},
                timeout_ms=int(self.settings.request_timeout_s * 1000),
            )
        except KafkaError as exc:
            log.warning("offset commit failed, will retry at the next interval: %s", exc)
            return {}
        self.stats["commits"] += 1
        for tp, off in offsets.items():
            manager = self._offsets[tp]
            manager.committed_to(off)
            if tp in self._paused and manager.num_uncommitted < self.settings.max_uncommitted:
                self._paused.discard(tp)
        return offsets

    # --- internals ---------------------------------------------------------------------------------
    def _connect(self) -> Any:
        s = self.settings
        try:
            return self._consumer_factory(
                **client_config(
                    s,
                    group_id=s.group_id,
                    client_id=f"squall-spout-{s.group_id}-{self.task_index}",
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    max_poll_records=s.max_poll_records,
                    max_partition_fetch_bytes=s.fetch_partition_bytes,
                    metadata_max_age_ms=max(1000, int(s.partition_refresh_s * 1000))
                    if s.partition_refresh_s
                    else 300_000,
                    fetch_min_bytes=s.fetch_min,
                    fetch_max_wait_ms=s.fetch_max_wait_ms,
                )
            )
        except KafkaError as exc:
            raise unreachable(s, exc) from exc

    def _housekeeping(self) -> None:
        """What every poll does first: connect, settle dead letters, commit when due, refresh the assignment."""
        if self._consumer is None:
            self.activate()
        now = self._clock.now()
        self._settle_dead_letters()
        if self._commit_wanted or now - self._last_commit >= self.settings.commit_interval_s:
            self.commit()
        if (
            self.settings.partition_refresh_s
            and now - self._last_refresh >= self.settings.partition_refresh_s
        ):
            self._refresh_assignment()

    def _accept(self, tp: TopicPartition, record: Any, rewind: dict[TopicPartition, int]) -> bool:
        """Whether to emit `record` now (then it counts as emitted): not revoked, not emitted before, its partition
        not paused, and no unconfirmed gap before it. Offsets to re-read from go into `rewind`."""
        manager = self._offsets.get(tp)
        if manager is None or record.offset <= manager.max_emitted:
            return False  # revoked partition, or emitted before
        if tp in self._paused or tp in self._retrying:
            # Read it again after the pause, and everything buffered behind it: a partly dropped buffer
            # would emit its rest first after a resume, and the re-read records below it would then
            # count as emitted before, i.e. be lost while the commit moved past them.
            self._buffer.drop(tp)
            rewind[tp] = manager.max_emitted + 1
            return False
        if record.offset > manager.max_emitted + 1 and not self._gap_confirmed(tp, manager, record):
            rewind[tp] = manager.max_emitted + 1
            return False
        manager.emitted(record.offset)
        self.stats["emitted"] += 1
        self._emits_since_fetch += 1
        self._pause_if_full(tp, manager)
        return True

    def _take_run(
        self, tp: TopicPartition, records: list[Any], rewind: dict[TopicPartition, int], runs: list[Run]
    ) -> int:
        """Emit `records` of `tp` (appended to `runs`); returns how many were emitted. A clean run (the next
        offsets in order, partition not paused) is taken at once, up to the room below max_uncommitted; anything
        else record by record, as `poll` does, each a run of one."""
        manager = self._offsets.get(tp)
        first = records[0].offset
        count = len(records)
        if tp in self._retrying and manager is not None:
            # a retry of this partition is waiting: nothing newer goes out before it (read these again later)
            self._buffer.drop(tp)
            rewind.setdefault(tp, manager.max_emitted + 1)
            return 0
        if (
            manager is not None
            and first == manager.max_emitted + 1
            and records[-1].offset == first + count - 1
            and tp not in self._paused
        ):
            room = self.settings.max_uncommitted - manager.num_uncommitted
            if count > room:
                count = max(room, 0)
                records = records[:count]
            if count:
                manager.emitted_run(first, count)
                payloads = [r.value if r.value is not None else b"" for r in records]
                self._runs[(tp, first)] = payloads
                runs.append(((tp, first, count), payloads))
                self.stats["emitted"] += count
                self._emits_since_fetch += count
            self._pause_if_full(tp, manager)
            return count
        taken = 0
        for record in records:
            if tp in self._paused or self._offsets.get(tp) is None:
                break  # the rest was dropped with the buffer (or revoked): read again after the pause
            if not self._accept(tp, record, rewind):
                if tp in rewind:
                    break  # re-read from there: the rest of this run comes again
                continue
            payload = record.value if record.value is not None else b""
            self._runs[(tp, record.offset)] = [payload]
            runs.append(((tp, record.offset, 1), [payload]))
            taken += 1
        else:
            return taken
        self._buffer.drop(tp)
        if tp not in rewind and (manager := self._offsets.get(tp)) is not None:
            rewind[tp] = manager.max_emitted + 1
        return taken

    def _gap_confirmed(self, tp: TopicPartition, manager: OffsetManager, record: Any) -> bool:
        """A record past the next expected offset. Offsets can be missing for real (transaction markers,
        compaction), or this consumer can have skipped records it must not: the commit moves over offsets it
        never emitted (offsets.py). So a gap is re-read once from its start; if the same record comes first
        again, the missing offsets do not exist. Until then the partition's buffer is dropped (returns False)."""
        gap = (manager.max_emitted, record.offset)
        if self._gaps.get(tp) == gap:
            del self._gaps[tp]
            return True
        self._gaps[tp] = gap
        self.stats["gaps_reread"] += 1
        log.warning(
            "%s[%d]: offset %d came after %d; re-reading from %d to check the gap",
            tp.topic,
            tp.partition,
            record.offset,
            manager.max_emitted,
            manager.max_emitted + 1,
        )
        self._buffer.drop(tp)
        return False

    def _wants_fetch(self) -> bool:
        """Fetch when nothing is buffered, or (every few emits) when an unpaused partition has nothing buffered."""
        if not self._buffer:
            return True
        if self._emits_since_fetch < FETCH_EVERY:
            return False
        return any(not self._buffer.has(tp) for tp in self._offsets if tp not in self._paused)

    def _fetch(self, block: bool) -> None:
        self._emits_since_fetch = 0
        if self._offsets and (
            len(self._paused) >= len(self._offsets)
            or (self._retrying and all(tp in self._paused or tp in self._retrying for tp in self._offsets))
        ):
            if block:  # every partition is at max_uncommitted: wait for acks and a commit
                self._sleep(min(PAUSED_WAIT_S, self.settings.poll_timeout_ms / 1000))
            return
        batches = self._consumer.poll(
            timeout_ms=self.settings.poll_timeout_ms if block else 0,
            max_records=self.settings.max_poll_records,
        )
        cap = 2 * self.settings.max_poll_records
        for tp, records in batches.items():
            self._buffer.extend(tp, records)
            dropped = self._buffer.truncate(tp, cap)
            if dropped is not None:  # bound the buffer per partition; read the rest again later
                self._consumer.seek(tp, dropped.offset)

    def _pause_if_full(self, tp: TopicPartition, manager: OffsetManager) -> None:
        if tp not in self._paused and manager.num_uncommitted >= self.settings.max_uncommitted:
            self._paused.add(tp)
            self._buffer.drop(tp)
            self._consumer.seek(tp, manager.max_emitted + 1)

    def _refresh_assignment(self, force: bool = False) -> None:
        self._last_refresh = self._clock.now()
        topic = self.settings.events_topic
        self._consumer.topics()  # forces a metadata fetch, so a grown partition count is seen now
        partitions = self._consumer.partitions_for_topic(topic) or set()
        wanted = assign_round_robin(
            [TopicPartition(topic, p) for p in partitions], self.task_index, self.num_tasks
        )
        if not force and set(wanted) == set(self._offsets):
            return
        revoked = set(self._offsets) - set(wanted)
        if revoked:
            self.commit()
            for tp in revoked:
                self._offsets.pop(tp, None)
                self._paused.discard(tp)
            self._inflight = {k: v for k, v in self._inflight.items() if k[0] not in revoked}
            self._runs = {k: v for k, v in self._runs.items() if k[0] not in revoked}
            for tp in revoked:
                self._buffer.drop(tp)
        added = [tp for tp in wanted if tp not in self._offsets]
        self._consumer.assign(wanted)
        first = not self._ever_assigned
        if first and self.settings.start == "earliest" and added:
            self._consumer.seek_to_beginning(*added)
        elif first and self.settings.start == "latest" and added:
            self._consumer.seek_to_end(*added)
        timeout_ms = int(self.settings.request_timeout_s * 1000)
        for tp in added:
            position = self._consumer.position(tp, timeout_ms=timeout_ms)
            if position is None:
                raise InfraError(
                    f"no position for {tp.topic}[{tp.partition}] within {self.settings.request_timeout_s}s "
                    "(fix: check that Kafka is up with `squall infra status`)"
                )
            self._offsets[tp] = OffsetManager(position)
        if added or wanted:
            self._ever_assigned = True
        if added:
            log.info("task %d/%d reads %s", self.task_index, self.num_tasks, [tp.partition for tp in wanted])

    def _dead_letter(self, key: MsgKey, entry: _InFlight) -> None:
        if self._publisher is None:
            from squall.kafka.publisher import KafkaPublisher

            self._publisher = KafkaPublisher(self.settings)
        tp, offset = key
        dl = DeadLetter(
            reason="max_retries",
            detail=f"failed {entry.fails} times (pipeline.kafka.max_retries={self.settings.max_retries})",
            payload=entry.payload,
            source_topic=tp.topic,
            source_partition=tp.partition,
            source_offset=offset,
            ts=self._clock.wall_ms(),
        )
        self._dead_lettering[key] = self._publisher.publish(
            self.settings.dlq_topic, dead_letter_key(dl), encode_dead_letter(dl)
        )

    def _settle_dead_letters(self, wait_s: float = 0.0) -> None:
        for key, future in list(self._dead_lettering.items()):
            if not future.done():
                if wait_s <= 0:
                    continue
                try:
                    future.exception(timeout=wait_s)
                except TimeoutError:
                    continue
            del self._dead_lettering[key]
            if future.exception() is not None:
                log.warning("dead-letter publish of %s failed, retrying: %s", key, future.exception())
                entry = self._inflight.get(key)
                if entry is not None:
                    self._dead_letter(key, entry)
                continue
            self._inflight.pop(key, None)
            manager = self._offsets.get(key[0])
            if manager is not None and manager.done(key[1]):
                self.stats["dead_lettered"] += 1
                self._commit_wanted = self._commit_wanted or key[0] in self._paused
