"""CassandraStore: the pipeline's Store on a real Cassandra.

Prepared statements only; writes go out with execute_async and at most `max_in_flight` requests are outstanding
(a write waits for a free slot, bounded by the request timeout). A write that fails for a transient reason
(Cassandra down, overloaded or slow) is sent again with a short backoff for up to `write_retry_s`, holding its
slot, so an outage shows as backpressure rather than as failed tuples. `write_many` groups rows into UNLOGGED batches
of up to `batch_rows` by partition or by replica set (`batch_grouping`, as the Spark Cassandra connector does). Every write is an idempotent upsert
(squall.cassandra.statements), so a replay overwrites the same rows.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

from cassandra import AuthenticationFailed, ConsistencyLevel, OperationTimedOut, Unavailable, WriteTimeout
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType

from squall.cassandra.binding import RowBinder
from squall.cassandra.client import cluster_security
from squall.cassandra.settings import CassandraSettings
from squall.cassandra.statements import (
    DEAD_LETTER_BUCKET,
    PARTITION_KEY_SIZE,
    bind_values,
    check_kind,
    datetime_to_ms,
    dead_letter_reasons_cql,
    timestamped_insert_cql,
    utc_day,
    window_exists_cql,
    window_key_values,
    window_starts_cql,
    window_starts_in_cql,
)
from squall.errors import InfraError
from squall.pipeline.model import DAY_MS, RECORD_KINDS, Alert, DeadLetter, StoredWindow, WindowResult

log = logging.getLogger(__name__)

# Errors that say nothing about the write itself: no node reachable, the request or the replicas timed out, too
# few replicas alive. Sending the same (idempotent) write again later may succeed.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    NoHostAvailable,
    OperationTimedOut,
    Unavailable,
    WriteTimeout,
    ConnectionException,
)
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 2.0
RETRY_LOG_EVERY_S = 10.0  # at most one warning about resent writes per store this often


def retry_delay(error: BaseException, attempt: int, now: float, deadline: float) -> float | None:
    """Seconds to wait before sending a write again after failure number `attempt` (1, 2, ...): doubling from
    RETRY_FIRST_S up to RETRY_MAX_S, never past `deadline`; None when the error is not transient or no time
    is left."""
    if not isinstance(error, TRANSIENT_ERRORS) or now >= deadline:
        return None
    return min(RETRY_FIRST_S * 2.0 ** (attempt - 1), RETRY_MAX_S, deadline - now)


def connect(settings: CassandraSettings, keyspace: str | None = None) -> tuple[Cluster, Session]:
    """A Cluster and Session for `settings` (no keyspace unless given); InfraError when unreachable."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.local_dc or None)),
        consistency_level=ConsistencyLevel.name_to_value[settings.consistency],
        request_timeout=settings.request_timeout_s,
    )
    cluster = Cluster(
        contact_points=list(settings.contact_points),
        port=settings.port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=settings.connect_timeout_s,
        control_connection_timeout=settings.connect_timeout_s,
        reconnection_policy=ExponentialReconnectionPolicy(
            base_delay=min(0.5, settings.reconnect_max_s), max_delay=settings.reconnect_max_s
        ),
        **({"protocol_version": settings.protocol_version} if settings.protocol_version else {}),
        **cluster_security(settings),
    )
    try:
        session = cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        hosts = ",".join(settings.contact_points)
        if any(isinstance(e, AuthenticationFailed) for e in exc.errors.values()):
            raise InfraError(
                f"Cassandra at {hosts}:{settings.port} refused the credentials of role {settings.username!r} "
                "(pipeline.cassandra.username/password_env/password_file): "
                f"{_reasons(exc)} (fix: give the role's password, or create the role)"
            ) from exc
        raise InfraError(
            f"cannot reach Cassandra at {hosts}:{settings.port} (pipeline.cassandra.contact_points/port): {exc}"
            " (fix: start it with `squall infra up`, or correct the setting)"
        ) from exc
    if keyspace:
        if keyspace not in cluster.metadata.keyspaces:
            cluster.shutdown()
            raise InfraError(
                f"keyspace {keyspace!r} does not exist (pipeline.cassandra.keyspace) (fix: run `squall db init`)"
            )
        session.set_keyspace(keyspace)
    return cluster, session


def _reasons(exc: NoHostAvailable) -> str:
    return "; ".join(f"{host}: {err}" for host, err in exc.errors.items())


class CassandraStore:
    def __init__(self, settings: Any) -> None:
        self.settings = CassandraSettings.from_pipeline(settings)
        self.max_in_flight = self.settings.max_in_flight
        self._cluster, self._session = connect(self.settings, self.settings.keyspace)
        self._prepared = {
            kind: self._session.prepare(timestamped_insert_cql(self.settings.keyspace, kind))
            for kind in RECORD_KINDS
        }
        self._binders = {kind: RowBinder(prepared) for kind, prepared in self._prepared.items()}
        self._window_exists = self._session.prepare(window_exists_cql(self.settings.keyspace))
        self._window_starts = self._session.prepare(window_starts_cql(self.settings.keyspace))
        self._window_starts_in = self._session.prepare(window_starts_in_cql(self.settings.keyspace))
        self._dead_letter_reasons = self._session.prepare(dead_letter_reasons_cql(self.settings.keyspace))
        self._slots = threading.BoundedSemaphore(self.max_in_flight)
        self._replicas: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self._in_flight = 0
        self.written = 0
        self.failed = 0
        self.retries = 0  # writes sent again after a transient failure
        self._closed = False
        self._last_write_time = 0
        self._retry_logged = -RETRY_LOG_EVERY_S

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def write(self, kind: str, record: Any) -> Future[None]:
        check_kind(kind)
        return self._execute(self._binders[kind].bind((*bind_values(kind, record), self._write_time())))

    def write_many(self, kind: str, records: list[Any]) -> list[Future[None]]:
        """Upsert `records` as UNLOGGED batches of up to `batch_rows` rows that share a partition
        (`batch_grouping` "partition": one mutation, atomic and isolated within it) or a replica set
        ("replica_set", the default: the token-aware coordinator is a replica of every row, so the batch costs
        one request and no extra hop). Returns one Future per record, shared by the records of a batch."""
        check_kind(kind)
        binder, size, limit = self._binders[kind], PARTITION_KEY_SIZE[kind], self.settings.batch_rows
        max_bytes = self.settings.batch_max_kib * 1024
        by_replicas = self.settings.batch_grouping == "replica_set"
        groups: dict[Any, list[int]] = {}
        bound: list[Any] = []
        weights: list[int] = []
        write_time = (
            self._write_time()
        )  # one per call: its rows of one key are equal (persisting keeps a window's last emit)
        for i, record in enumerate(records):
            values = bind_values(kind, record)
            statement = binder.bind((*values, write_time))
            bound.append(statement)
            weights.append(_weight(values))
            key: Any = values[:size]
            if by_replicas:
                key = self._replica_key(key, statement)
            groups.setdefault(key, []).append(i)
        futures: list[Future[None] | None] = [None] * len(records)
        for indexes in groups.values():
            for chunk in _chunks(indexes, weights, limit, max_bytes):
                if len(chunk) == 1:
                    statement = bound[chunk[0]]
                else:
                    statement = BatchStatement(batch_type=BatchType.UNLOGGED)
                    for i in chunk:
                        statement.add(bound[i])
                future = self._execute(statement, rows=len(chunk))
                for i in chunk:
                    futures[i] = future
        return [f for f in futures if f is not None]

    def _write_time(self) -> int:
        """Microseconds since the epoch, strictly increasing per store: a later write of a row always wins."""
        with self._lock:
            self._last_write_time = max(time.time_ns() // 1000, self._last_write_time + 1)
            return self._last_write_time

    def _replica_key(self, partition: tuple[Any, ...], statement: Any) -> Any:
        """The replica set of a partition (cached per partition key; the token map changes rarely, and a stale
        answer only costs a coordinator hop)."""
        cached = self._replicas.get(partition)
        if cached is None:
            hosts = self._cluster.metadata.get_replicas(self.settings.keyspace, statement.routing_key)
            cached = tuple(sorted(str(h.host_id) for h in hosts)) or partition
            if len(self._replicas) >= 100_000:
                self._replicas.clear()
            self._replicas[partition] = cached
        return cached

    def _execute(self, statement: Any, rows: int = 1) -> Future[None]:
        done: Future[None] = Future()
        wait_s = self.settings.request_timeout_s * 2
        if not self._slots.acquire(timeout=wait_s):
            done.set_exception(
                InfraError(
                    f"no write slot freed within {wait_s}s with {self.max_in_flight} writes in flight "
                    "(pipeline.cassandra.max_in_flight); Cassandra is not keeping up"
                )
            )
            return done
        with self._lock:
            self._in_flight += 1
        deadline = time.monotonic() + self.settings.write_retry_s
        attempts = 0

        def send() -> None:
            if self._closed:
                on_err(InfraError("the Cassandra store was closed before the write was confirmed"))
                return
            try:
                response = self._session.execute_async(statement)
            except Exception as exc:  # noqa: BLE001 - e.g. NoHostAvailable raised at once; handled as a failure
                on_err(exc)
                return
            response.add_callbacks(on_ok, on_err)

        def on_ok(_rows: Any) -> None:
            self._release(ok=True, rows=rows)
            done.set_result(None)

        def on_err(exc: BaseException) -> None:
            nonlocal attempts
            attempts += 1
            delay = None if self._closed else retry_delay(exc, attempts, time.monotonic(), deadline)
            if delay is not None:
                with self._lock:
                    self.retries += 1
                    now = time.monotonic()
                    say = now - self._retry_logged >= RETRY_LOG_EVERY_S
                    if say:
                        self._retry_logged = now
                if say:
                    log.warning(
                        "write failed, sending it again for up to %.0fs (pipeline.cassandra.write_retry_s; "
                        "%d resends so far): %s",
                        self.settings.write_retry_s,
                        self.retries,
                        exc,
                    )
                timer = threading.Timer(delay, send)
                timer.daemon = True
                timer.start()
                return
            self._release(ok=False, rows=rows)
            done.set_exception(exc)

        send()
        return done

    def has_window(self, tenant: str, device_id: str, metric: str, window_s: int, window_start: int) -> bool:
        """A synchronous point read of one metric_windows row."""
        values = window_key_values(tenant, device_id, metric, window_s, window_start)
        return self._read(self._window_exists, values).one() is not None

    def window_starts_on_day(
        self, tenant: str, device_id: str, metric: str, window_s: int, day: int
    ) -> dict[int, StoredWindow]:
        """One partition read (the writer's day bucket): the stored window starts of that UTC day, with drafts and
        source marks."""
        values = (tenant, device_id, metric, window_s, utc_day(day * DAY_MS))
        return {
            datetime_to_ms(r.window_start): StoredWindow(r.draft, r.source)
            for r in self._read(self._window_starts, values)
        }

    def window_starts_of_days(
        self, requests: list[tuple[str, str, int, tuple[str, ...], tuple[int, ...]]]
    ) -> list[dict[tuple[str, int], dict[int, StoredWindow]]]:
        """One multi-partition read (metrics x lengths) per request, all in flight at once."""
        pending = [
            self._session.execute_async(
                self._window_starts_in.bind(
                    (tenant, device_id, list(metrics), list(lengths), utc_day(day * DAY_MS))
                ),
                timeout=self.settings.request_timeout_s,
            )
            for tenant, device_id, day, metrics, lengths in requests
        ]
        out: list[dict[tuple[str, int], dict[int, StoredWindow]]] = []
        for (tenant, device_id, day, metrics, lengths), future in zip(requests, pending, strict=True):
            found: dict[tuple[str, int], dict[int, StoredWindow]] = {
                (m, w): {} for m in metrics for w in lengths
            }
            try:
                rows = future.result()
            except Exception as exc:
                raise InfraError(
                    f"cannot read the stored windows of {tenant}/{device_id} on day {day} from Cassandra within "
                    f"{self.settings.request_timeout_s}s (pipeline.cassandra.request_timeout_s): {exc}"
                ) from exc
            for r in rows:
                found.setdefault((r.metric, r.window_s), {})[datetime_to_ms(r.window_start)] = StoredWindow(
                    r.draft, r.source
                )
            out.append(found)
        return out

    def late_offsets(self, source_topic: str, source_partition: int, first: int, end: int) -> set[int]:
        """Reads the dead_letters partitions (offset buckets) covering [first, end)."""
        late: set[int] = set()
        for bucket in range(first // DEAD_LETTER_BUCKET, (end - 1) // DEAD_LETTER_BUCKET + 1):
            rows = self._read(self._dead_letter_reasons, (source_topic, source_partition, bucket))
            late.update(
                r.source_offset for r in rows if r.reason == "late" and first <= r.source_offset < end
            )
        return late

    # -- reads for the dashboard (squall.web.pipeline_page): bounded scans, newest first -------------------
    def _scan(self, cql: str, values: tuple[Any, ...] = ()) -> Any:
        try:
            return self._session.execute(cql, values, timeout=self.settings.request_timeout_s)
        except Exception as exc:
            raise InfraError(
                f"cannot read from Cassandra within {self.settings.request_timeout_s}s "
                f"(pipeline.cassandra.request_timeout_s): {cql}: {exc}"
            ) from exc

    def window_series(self, limit: int = 500) -> list[tuple[str, str, str, int]]:
        """(tenant, device_id, metric, window_s) of the stored windows (a scan of up to 20 x `limit` partition
        keys, one per series and UTC day)."""
        ks = self.settings.keyspace
        rows = self._scan(
            f"SELECT DISTINCT tenant, device_id, metric, window_s, day FROM {ks}.metric_windows LIMIT %s",
            (limit * 20,),
        )
        return sorted({(r.tenant, r.device_id, r.metric, r.window_s) for r in rows})[:limit]

    def recent_windows(
        self, tenant: str, device_id: str, metric: str, window_s: int, limit: int = 120
    ) -> list[WindowResult]:
        """The newest windows of one series: its latest UTC days' partitions, newest day first."""
        ks = self.settings.keyspace
        days = sorted(
            {
                r.day
                for r in self._scan(
                    f"SELECT DISTINCT tenant, device_id, metric, window_s, day FROM {ks}.metric_windows"
                )
                if (r.tenant, r.device_id, r.metric, r.window_s) == (tenant, device_id, metric, window_s)
            },
            key=lambda d: d.days_from_epoch if hasattr(d, "days_from_epoch") else d,
            reverse=True,
        )
        out: list[WindowResult] = []
        for day in days:
            rows = self._scan(
                f"SELECT * FROM {ks}.metric_windows WHERE tenant = %s AND device_id = %s AND metric = %s"
                " AND window_s = %s AND day = %s LIMIT %s",
                (tenant, device_id, metric, window_s, day, limit - len(out)),
            )
            out.extend(_window(r) for r in rows)
            if len(out) >= limit:
                break
        return out

    def recent_alerts(self, limit: int = 50) -> list[Alert]:
        """The newest alerts among the first 20 x `limit` rows of a scan."""
        rows = self._scan(f"SELECT * FROM {self.settings.keyspace}.alerts LIMIT %s", (limit * 20,))
        alerts = [
            Alert(
                r.tenant, r.device_id, r.alert_id, datetime_to_ms(r.ts), r.metric, r.kind, r.value, r.message
            )
            for r in rows
        ]
        return sorted(alerts, key=lambda a: a.ts, reverse=True)[:limit]

    def recent_dead_letters(self, limit: int = 500) -> list[DeadLetter]:
        """The newest dead letters among the first 4 x `limit` rows of a scan."""
        rows = self._scan(f"SELECT * FROM {self.settings.keyspace}.dead_letters LIMIT %s", (limit * 4,))
        letters = [
            DeadLetter(
                r.reason,
                r.detail,
                bytes(r.payload or b""),
                r.source_topic,
                r.source_partition,
                r.source_offset,
                datetime_to_ms(r.ts),
            )
            for r in rows
        ]
        return sorted(letters, key=lambda d: d.ts, reverse=True)[:limit]

    def _read(self, prepared: Any, values: tuple[Any, ...]) -> Any:
        try:
            return self._session.execute(prepared.bind(values), timeout=self.settings.request_timeout_s)
        except Exception as exc:
            raise InfraError(
                f"cannot read {values} from Cassandra within "
                f"{self.settings.request_timeout_s}s (pipeline.cassandra.request_timeout_s): {exc}"
            ) from exc

    def _release(self, ok: bool, rows: int = 1) -> None:
        with self._lock:
            self._in_flight -= 1
            if ok:
                self.written += rows
            else:
                self.failed += rows
        self._slots.release()

    def close(self) -> None:
        self._closed = True
        self._cluster.shutdown()


WindowKey = tuple[str, str, str, int, int]


def _weight(values: tuple[Any, ...]) -> int:
    """About how many bytes a row's values take in a batch: text and blobs by length, anything else 16."""
    return sum(len(v) if isinstance(v, str | bytes) else 16 for v in values)


def _chunks(indexes: list[int], weights: list[int], rows: int, max_bytes: int) -> list[list[int]]:
    """`indexes` in order, cut into batches of at most `rows` rows and `max_bytes` of values (a heavier row alone)."""
    out: list[list[int]] = []
    chunk: list[int] = []
    held = 0
    for i in indexes:
        weight = weights[i]
        if chunk and (len(chunk) == rows or held + weight > max_bytes):
            out.append(chunk)
            chunk, held = [], 0
        chunk.append(i)
        held += weight
    if chunk:
        out.append(chunk)
    return out


def _window(r: Any) -> WindowResult:
    return WindowResult(
        r.tenant,
        r.device_id,
        r.metric,
        r.window_s,
        datetime_to_ms(r.window_start),
        datetime_to_ms(r.window_end),
        r.count,
        r.sum,
        r.min,
        r.max,
        r.mean,
        r.p50,
        r.p95,
    )


def read_window_rows(settings: CassandraSettings) -> dict[WindowKey, dict[str, Any]]:
    """Every `metric_windows` row of the keyspace, keyed (tenant, device_id, metric, window_s, window_start),
    times as ms since the epoch: the shape `squall.pipeline.truth` rows are compared in. For checks and tools,
    not the hot path (a full scan)."""
    cluster, session = connect(settings, settings.keyspace)
    try:
        rows: dict[WindowKey, dict[str, Any]] = {}
        for r in session.execute("SELECT * FROM metric_windows"):
            row = r._asdict()
            row["window_start"], row["window_end"] = (
                datetime_to_ms(r.window_start),
                datetime_to_ms(r.window_end),
            )
            rows[(r.tenant, r.device_id, r.metric, r.window_s, row["window_start"])] = row
        return rows
    finally:
        cluster.shutdown()
