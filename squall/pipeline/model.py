"""The records that flow between the pipeline's bolts and the stores, and the store/publisher contracts.

Times are integers in milliseconds since the epoch (event time), as in the event contract (docs/events.md).
Every store write is an idempotent upsert keyed as documented on each record, so a replay overwrites.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple, Protocol

DAY_MS = 86_400_000  # one UTC day: the day buckets of window reads (Store.window_starts_on_day)


@dataclass(frozen=True)
class Event:
    """A validated, normalised device event. Key: (tenant, event_id)."""

    tenant: str
    device_id: str
    event_id: str
    ts: int
    type: str
    metrics: dict[str, float]
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def event_dict(event: Event) -> dict[str, Any]:
    """`event.to_dict()` built field by field, without dataclasses.asdict's recursive deep copy (the metrics and
    attrs dicts are shared: for a freshly parsed event that nothing else holds)."""
    return {
        "tenant": event.tenant,
        "device_id": event.device_id,
        "event_id": event.event_id,
        "ts": event.ts,
        "type": event.type,
        "metrics": event.metrics,
        "attrs": event.attrs,
    }


# An event's fields in the order batch entries carry them (squall.pipeline.tuples: [event fields, source]), with
# their indices: a list unpacks in about half the time of the same dict (no key strings to rebuild per event).
EVENT_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Event))
TENANT, DEVICE_ID, EVENT_ID, TS, TYPE, METRICS, ATTRS = range(len(EVENT_KEYS))


def event_fields(data: Any) -> list[Any]:
    """An event's dict form (`Event.to_dict()`) as the positional list a batch entry carries."""
    return [
        data["tenant"],
        data["device_id"],
        data["event_id"],
        data["ts"],
        data["type"],
        data["metrics"],
        data["attrs"],
    ]


def event_of(values: Any) -> Any:
    """The dict form of a batch entry's event fields (`event_fields` reversed); a value that is not such a list (a
    dict form already, or a broken entry being dead-lettered) is returned as it is."""
    if isinstance(values, (list, tuple)) and len(values) == len(EVENT_KEYS):
        return dict(zip(EVENT_KEYS, values, strict=True))
    return values


@dataclass(frozen=True)
class WindowResult:
    """One closed window. Key: (tenant, device_id, metric, window_s, window_start)."""

    tenant: str
    device_id: str
    metric: str
    window_s: int
    window_start: int  # ms since epoch, inclusive
    window_end: int  # ms since epoch, exclusive
    count: int
    sum: float
    min: float
    max: float
    mean: float
    p50: float
    p95: float
    # A provisional row (its window closed before its end was final) carries the draft a fresh instance goes on
    # from (squall.windowing.drafts); "" clears a draft written before; None leaves the stored draft as it is.
    # Not a result: not compared, not among WINDOW_COLUMNS.
    draft: str | None = field(default=None, compare=False, repr=False)
    # Where the device's events stood when the window closed (squall.windowing.drafts.encode_source): a restarted
    # aggregate judges replays by it. Not a result either.
    source: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The row's columns (WINDOW_COLUMNS), and its draft and source only when it has them to write."""
        row = _scalar_dict(self, WINDOW_COLUMNS)
        if self.draft is not None:
            row["draft"] = self.draft
        if self.source is not None:
            row["source"] = self.source
        return row


# metric_windows' result columns, in WindowResult's order: every store and reader selects these (a store may add
# its own bucket columns, as Cassandra's `day`). The draft column is written and read only by recovery.
WINDOW_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(WindowResult) if f.name not in ("draft", "source")
)
WINDOW_FIELDS = WINDOW_COLUMNS


@dataclass(frozen=True)
class Alert:
    """Key: (tenant, device_id, alert_id); alert_id is deterministic from its cause, so replays upsert."""

    tenant: str
    device_id: str
    alert_id: str
    ts: int
    metric: str
    kind: str  # "threshold" | "consecutive" | "anomaly"
    value: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return _scalar_dict(self, ALERT_FIELDS)


@dataclass(frozen=True)
class DeadLetter:
    """A rejected input, with its original bytes. Key: (source_topic, source_partition, source_offset)."""

    reason: str  # machine-readable, e.g. "invalid_json", "missing_field:tenant", "max_retries"
    detail: str
    payload: bytes
    source_topic: str
    source_partition: int
    source_offset: int
    ts: int  # when it was dead-lettered, ms

    def to_dict(self) -> dict[str, Any]:
        return _scalar_dict(self, DEAD_LETTER_FIELDS)


def _scalar_dict(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """`dataclasses.asdict(record)` for a record whose fields are all immutable scalars (str, bytes, int, float):
    the same dict, without asdict's recursive deep copy (tens of microseconds a record)."""
    return {name: getattr(record, name) for name in names}


ALERT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Alert))
DEAD_LETTER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(DeadLetter))


# Kinds a Store accepts; each maps to one table (Cassandra) or one SQLite table.
RECORD_KINDS = ("event", "window", "alert", "dead_letter")


class StoredWindow(NamedTuple):
    """What recovery reads of a stored metric_windows row besides its key."""

    draft: str | None  # a provisional row's draft; None or "": a complete row
    source: str | None  # the device's source-order mark when the row was written (None: unknown)


class Store(Protocol):
    """Where persist writes. SQLite (embedded default) and Cassandra implement it.

    `write` returns a Future that completes when the upsert is durable, or fails with the driver's error;
    persist acks the tuple only after it completed, and fails it otherwise. At most `max_in_flight`
    writes are outstanding; a synchronous store returns completed futures.
    """

    max_in_flight: int

    def write(self, kind: str, record: Event | WindowResult | Alert | DeadLetter) -> Future[None]: ...

    def has_window(self, tenant: str, device_id: str, metric: str, window_s: int, window_start: int) -> bool:
        """Whether the WindowResult row with this key is stored (a read)."""
        ...

    def window_starts_on_day(
        self, tenant: str, device_id: str, metric: str, window_s: int, day: int
    ) -> dict[int, StoredWindow]:
        """The window_start of every stored WindowResult row of (tenant, device_id, metric, window_s) starting
        on UTC day `day` (= window_start // DAY_MS), with the row's draft and source mark (StoredWindow): one
        partition read in Cassandra. Aggregate asks after a restart, once per day bucket, instead of once per
        window."""
        ...

    def window_starts_of_days(
        self, requests: list[tuple[str, str, int, tuple[str, ...], tuple[int, ...]]]
    ) -> list[dict[tuple[str, int], dict[int, StoredWindow]]]:
        """`window_starts_on_day` for many (tenant, device_id, day, metrics, window lengths) at once: per request,
        (metric, window_s) -> stored window starts of that day and their drafts, for every metric x length asked. Cassandra sends
        one multi-partition read per request, all requests concurrently (a restarted aggregate prefetches a
        batch's devices instead of blocking on one read per device, metric and length)."""
        ...

    def late_offsets(self, source_topic: str, source_partition: int, first: int, end: int) -> set[int]:
        """Source offsets in [first, end) of one partition whose event was dead-lettered as `late` (aggregate
        asks after a restart, so a replayed event keeps the late decision a previous instance made)."""
        ...

    def close(self) -> None: ...


class Publisher(Protocol):
    """Where alerts and dead letters are published as messages (Kafka topics, or the embedded store)."""

    def publish(self, topic: str, key: bytes | None, value: bytes) -> Future[None]: ...

    # Optional: `publish_many(topic, [(key, value), ...]) -> Future[None]`, one Future for a batch of records
    # (squall.pipeline.publishing.publish_many falls back to `publish` per record without it).

    def close(self) -> None: ...
