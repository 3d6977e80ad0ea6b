"""AggregateBolt: event-time windows per (tenant, device_id, metric) -> window records for persist.

Input: shard batches (BATCH_FIELDS) of routed events. Output: `records` tuples of window rows (at most
ROWS_PER_TUPLE each) anchored to every input batch that fed those windows; late events one by one on `late`; an
event whose handling raises is dead-lettered alone on `invalid` (processing_error:aggregate:<type>)."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

from streamparse import Stream

from squall.pipeline.collector import tune_collector
from squall.pipeline.dead_letters import invalid_values
from squall.pipeline.model import DAY_MS, DEVICE_ID, EVENT_ID, METRICS, TENANT, TS, Store, StoredWindow
from squall.pipeline.settings import PipelineSettings
from squall.pipeline.stores import make_store
from squall.pipeline.tuples import (
    INVALID_FIELDS,
    LATE_FIELDS,
    WINDOW_RECORD_FIELDS,
    Letters,
    late_values,
    shard_of,
    shards_for,
    unpack_batch,
)
from squall.windowing.bolt import STORM_DEFAULT_MESSAGE_TIMEOUT_S, Extracted, WindowedBolt
from squall.windowing.definitions import WindowDefinition
from squall.windowing.drafts import decode_draft, decode_source, encode_draft, encode_source
from squall.windowing.manager import NO_WATERMARK, ClosedWindow, Draft, Key, Position
from squall.windowing.stats import Summary

ROWS_PER_TUPLE = 500
LATE_BUCKET = 1_000_000  # source offsets per dead_letters read (the Cassandra table's bucket)
STORED_DAYS_CACHED = 100_000  # recovery reads kept, (device, metric, length, day) each; cleared when full
# recovery reads of late offsets kept, (source partition, offset bucket) each; cleared when full
LATE_BUCKETS_CACHED = 1_024
DAYS_OF_CACHED = 4_096  # days_to_read by time grain, for recovery reads; cleared when full
# Both caches are emptied when the recovery horizon ends: nothing reads them after it.


class AggregateBolt(WindowedBolt):
    outputs = [
        Stream(WINDOW_RECORD_FIELDS, "default"),
        Stream(LATE_FIELDS, "late"),
        Stream(INVALID_FIELDS, "invalid"),
    ]
    store: Store | None = None

    def setup(
        self, settings: PipelineSettings, storm_conf: Mapping[str, Any], context: Mapping[str, Any]
    ) -> None:
        # After a restart, replays arrive within the replay horizon (a failed tree replays after the message timeout,
        # perhaps twice while a lost worker is replaced; a restarted spout resumes at its committed offset): within
        # it, windows the store already holds are not rebuilt.
        timeout = float(storm_conf.get("topology.message.timeout.secs", STORM_DEFAULT_MESSAGE_TIMEOUT_S))
        self.pipeline_settings = settings
        self.shards = shards_for(settings, context)
        self.letters = Letters(self)
        self.lates = Letters(self, "late")
        self.longest_ms = max(d.length_ms for d in self.window_settings.definitions)
        self.windows.recover_from(
            self.stored, self.window_settings.replay_horizon(timeout), self.clear, self.bound
        )
        tune_collector()

    def _open_store(self) -> Store:
        """The env's store, opened on first use (only a recovering instance reads it), with empty caches."""
        self.store = make_store(self.pipeline_settings)
        # window start -> the row's draft and source mark, per (tenant, device, metric, length, day)
        self.stored_days: dict[tuple[str, str, str, int, int], dict[int, StoredWindow]] = {}
        # ((tenant, device), stream) -> the source marks of the rows read: (position, newest time) pairs, and
        # (positions sorted, newest time up to each) for `bound`, rebuilt when a read adds marks
        self.marks: dict[tuple[Key, Any], set[tuple[int, int]]] = {}
        self.mark_steps: dict[tuple[Key, Any], tuple[list[int], list[int]]] = {}
        self.late_buckets: dict[tuple[str, int, int], set[int]] = {}
        # what the reads in stored_days cover, for `clear`: (tenant, device, day) -> metrics read for every window
        # length; (tenant, device) -> the end of the latest stored window read (any metric, length or day)
        self.read_metrics: dict[tuple[str, str, int], set[str]] = {}
        self.stored_until: dict[tuple[str, str], int] = {}
        # an event's days to read (`days_to_read`) by its time // day_grain: the same for every time in a grain
        self.days_of: dict[int, tuple[int, ...]] = {}
        self.day_grain = day_grain(self.window_settings.definitions)
        return self.store

    def stored(self, key: Key, definition: WindowDefinition, window_start: int, metric: str) -> bool | Draft:
        """Recovery oracle: one store read per (device, metric, window length, UTC day), cached. Rows stored
        after the read were stored by this instance, which knows its own windows (it never asks about them).
        False: no row; True: a complete row; a provisional row's draft (squall.windowing.drafts) otherwise."""
        store = self.store or self._open_store()
        day = window_start // DAY_MS
        cache_key = (key[0], key[1], metric, definition.length_s, day)
        starts = self.stored_days.get(cache_key)
        if starts is None:
            if len(self.stored_days) >= STORED_DAYS_CACHED:
                self.stored_days.clear()
            starts = self.stored_days[cache_key] = store.window_starts_on_day(
                key[0], key[1], metric, definition.length_s, day
            )
            self._learn_marks(key, starts)
        if window_start not in starts:
            return False
        draft = starts[window_start].draft
        return decode_draft(draft) if draft else True

    def _learn_marks(self, key: Key, starts: Mapping[int, StoredWindow]) -> None:
        """Keep the source marks of rows a recovery read returned (for `bound`)."""
        for row in starts.values():
            if row.source:
                stream, offset, ts = decode_source(row.source)
                points = self.marks.get((key, stream))
                if points is None:
                    points = self.marks[(key, stream)] = set()
                if (offset, ts) not in points:
                    points.add((offset, ts))
                    self.mark_steps.pop((key, stream), None)

    def bound(self, key: Key, position: Position) -> int:
        """Recovery: the newest event time the stored rows' marks show for the device's events before `position`
        in its stream (NO_WATERMARK if none): a replay older than it by more than the allowed lateness is late."""
        if self.store is None:  # nothing read yet
            return NO_WATERMARK
        stream, at = position
        steps = self.mark_steps.get((key, stream))
        if steps is None:
            points = self.marks.get((key, stream))
            if not points:
                return NO_WATERMARK
            offsets, tops, top = [], [], NO_WATERMARK
            for offset, ts in sorted(points):
                top = max(top, ts)
                offsets.append(offset)
                tops.append(top)
            steps = self.mark_steps[(key, stream)] = (offsets, tops)
        i = bisect_left(steps[0], at)
        return steps[1][i - 1] if i else NO_WATERMARK

    def clear(self, key: Key, ts: int, values: Mapping[str, float]) -> bool:
        """Recovery: the reads so far show no stored row of these metrics for a window holding `ts` (every
        window holding it starts on its UTC day, or near midnight the day before, and those days were read for
        these metrics; `ts` is past the end of every stored window read for the device)."""
        if self.store is None:
            return False
        tenant, device_id = key
        day = ts // DAY_MS
        read = self.read_metrics.get((tenant, device_id, day))
        if read is None or not read.issuperset(values):
            return False
        if (ts - self.longest_ms + 1) // DAY_MS != day:
            before = self.read_metrics.get((tenant, device_id, day - 1))
            if before is None or not before.issuperset(values):
                return False
        return ts >= self.stored_until.get(key, -1)

    def previously_late(self, item: Any) -> bool:
        """Recovery: the event's source offset is among the `late` dead letters a previous instance stored
        (one store read per source partition and offset bucket, cached)."""
        topic, partition, offset = item[1]
        store = self.store or self._open_store()
        bucket = (str(topic), int(partition), int(offset) // LATE_BUCKET)
        late = self.late_buckets.get(bucket)
        if late is None:
            if len(self.late_buckets) >= LATE_BUCKETS_CACHED:
                self.late_buckets.clear()
            first = bucket[2] * LATE_BUCKET
            late = self.late_buckets[bucket] = store.late_offsets(
                bucket[0], bucket[1], first, first + LATE_BUCKET
            )
        return int(offset) in late

    def prefetch_stored(self, entries: list[Any]) -> None:
        """Recovery: read the stored window starts this batch will ask about, one request per device and day
        (every metric of its events x every window length), all at once, instead of a blocking read per
        (device, metric, length, day) as each event asks (`stored`). An event's days are those its windows start
        on and the day after, whose rows' source marks may show that it is late (`bound`)."""
        store = self.store or self._open_store()
        definitions = self.window_settings.definitions
        lengths = tuple(sorted({d.length_s for d in definitions}))
        cached = self.stored_days
        read_metrics = self.read_metrics
        days_of, grain = self.days_of, self.day_grain
        metrics_by_day: dict[tuple[str, str, int], set[str]] = {}
        for entry in entries:
            try:
                event = entry[0]
                tenant, device_id, ts = event[TENANT], event[DEVICE_ID], int(event[TS])
                metrics = event[METRICS]
            except Exception:  # noqa: BLE001 - extract dead-letters it
                continue
            # the days its windows start on, and the day after it: the source marks that show whether it is
            # late (the device's newer events before it in its stream) may sit in rows past midnight
            span = ts // grain
            days = days_of.get(span)
            if days is None:
                if len(days_of) >= DAYS_OF_CACHED:
                    days_of.clear()
                days = days_of[span] = days_to_read(ts, definitions)
            for d in days:
                read = read_metrics.get((tenant, device_id, d))
                if read is None or not read.issuperset(metrics):
                    break
            else:
                continue  # read already, for every length
            for d in days:
                key = (tenant, device_id, d)
                known = metrics_by_day.get(key)
                if known is None:
                    metrics_by_day[key] = set(metrics)
                else:
                    known.update(metrics)
        wanted: dict[tuple[str, str, int], set[str]] = {}
        for (tenant, device_id, day), metrics in metrics_by_day.items():
            missing = {m for m in metrics for n in lengths if (tenant, device_id, m, n, day) not in cached}
            if missing:
                wanted[(tenant, device_id, day)] = missing
        if not wanted:
            return
        requests = [(t, d, day, tuple(sorted(ms)), lengths) for (t, d, day), ms in wanted.items()]
        if len(cached) + sum(len(r[3]) for r in requests) * len(lengths) >= STORED_DAYS_CACHED:
            cached.clear()
            read_metrics.clear()
        stored_until = self.stored_until
        for (tenant, device_id, day, metrics, _), found in zip(
            requests, store.window_starts_of_days(requests), strict=True
        ):
            for (metric, length), starts in found.items():
                cached[(tenant, device_id, metric, length, day)] = starts
                self._learn_marks((tenant, device_id), starts)
                if starts:
                    end = max(starts) + length * 1000
                    if end > stored_until.get((tenant, device_id), -1):
                        stored_until[(tenant, device_id)] = end
            read = read_metrics.get((tenant, device_id, day))
            if read is None:
                read_metrics[(tenant, device_id, day)] = set(metrics)
            else:
                read.update(metrics)

    def extract(self, tup: Any) -> Iterator[Extracted]:
        entries = unpack_batch(tup.values[1])
        if self.windows.recovering():
            self.prefetch_stored(entries)
        elif self.store is not None and (self.stored_days or self.late_buckets):
            self.stored_days, self.late_buckets = {}, {}  # recovery is over: free what it read
            self.read_metrics, self.stored_until, self.days_of = {}, {}, {}
            self.marks, self.mark_steps = {}, {}
        for entry in entries:
            try:
                event = entry[0]  # the event's fields, EVENT_KEYS order
                source = entry[1]  # [topic, partition, offset]: a replay is judged in its partition's order
                yield (
                    (event[TENANT], event[DEVICE_ID]),
                    event[EVENT_ID],
                    int(event[TS]),
                    event[METRICS],
                    entry,
                    ((source[0], source[1]), int(source[2])),
                )
            except Exception as exc:  # noqa: BLE001 - one event never stops the stream
                self.event_failed(tup, entry, exc)

    def event_failed(self, tup: Any, item: Any, exc: Exception) -> None:
        self.letters.add(invalid_values("aggregate", exc, item))

    def emit_late(self, tup: Any, item: Any, watermark: int) -> None:
        self.lates.add(late_values(item, watermark))

    def end_of_tuple(self, tup: Any) -> None:
        self.letters.flush(tup.id)
        self.lates.flush(tup.id)

    def emit_windows(self, windows: list[ClosedWindow], anchors: list[Hashable]) -> None:
        by_shard: dict[int, list[dict[str, Any]]] = {}
        shards = self.shards
        for window in windows:
            tenant, device_id = window.key
            rows = by_shard.get(shard := shard_of(tenant, device_id, shards))
            if rows is None:
                rows = by_shard[shard] = []
            window_s, start, end = window.definition.length_s, window.start, window.end
            drafts = window.draft
            source = None if window.source is None else encode_source(window.source)
            clears = window.clears_draft
            for metric, s in window.results.items():
                row = window_row(tenant, device_id, metric, window_s, start, end, s)
                if drafts is not None:  # a provisional close: each row carries its draft
                    row["draft"] = encode_draft(window.event_ids, drafts[metric])
                elif clears:  # the final emit of a window stored with a draft before
                    row["draft"] = ""
                if source is not None:
                    row["source"] = source
                rows.append(row)
        for shard, rows in by_shard.items():
            for i in range(0, len(rows), ROWS_PER_TUPLE):
                self.emit(["window", rows[i : i + ROWS_PER_TUPLE], shard], anchors=anchors)


def days_to_read(ts: int, definitions: Sequence[WindowDefinition]) -> tuple[int, ...]:
    """The UTC days whose stored rows a recovering instance reads for an event at `ts`: the days its windows
    start on (near midnight, the day before too) and its own day and the next."""
    day = ts // DAY_MS
    return tuple(sorted({_earliest_start(ts, d) // DAY_MS for d in definitions} | {day, day + 1}))


def day_grain(definitions: Sequence[WindowDefinition]) -> int:
    """A span of time within which `days_to_read` gives the same days whatever the time (aligned at its
    multiples): the starts of the windows holding ts change only where ts crosses a multiple of a slide or a
    multiple of the slide shifted by the length, and its day at multiples of a day."""
    return math.gcd(DAY_MS, *(d.slide_ms for d in definitions), *(d.length_ms for d in definitions))


def _earliest_start(ts: int, definition: WindowDefinition) -> int:
    """The start of the oldest window of `definition` holding `ts` (starts are multiples of the slide in
    (ts - length, ts])."""
    slide, length = definition.slide_ms, definition.length_ms
    last = ts - ts % slide
    return last - ((last - ts + length - 1) // slide) * slide


def window_row(
    tenant: str, device_id: str, metric: str, window_s: int, start: int, end: int, s: Summary
) -> dict[str, Any]:
    """One window record as `record_values("window", [WindowResult(...)])` carries it (WindowResult.to_dict(): the
    same keys in WINDOW_COLUMNS order, the same values), without the dataclass and `dataclasses.asdict`."""
    return {
        "tenant": tenant,
        "device_id": device_id,
        "metric": metric,
        "window_s": window_s,
        "window_start": start,
        "window_end": end,
        "count": s.count,
        "sum": s.sum,
        "min": s.min,
        "max": s.max,
        "mean": s.mean,
        "p50": s.p50,
        "p95": s.p95,
    }
