"""Prometheus export of a topology's figures, read at scrape time (a custom Collector: nothing is touched per
tuple), from a local run (`squall run --metrics-port`) or from Nimbus (the UI server's `/metrics`).

Names (labels topology, component, task):

    squall_tuples_emitted_total, squall_tuples_acked_total, squall_tuples_failed_total   counters
    squall_events_total            counter: events of the tuples a bolt acked/failed or a spout emitted
    squall_capacity                gauge: a bolt task's capacity over the runner's window
    squall_kafka_lag               gauge, + labels topic and partition: a component's `kafka_lag` metrics
                                   message, params {"<topic>/<partition>": lag, ...}
    squall_execute_latency_seconds   histogram: bolts' time per tuple in `process`
    squall_complete_latency_seconds  histogram: spouts' emit -> tuple tree acked
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from squall.errors import ConfigError
from squall.runner.metrics import KAFKA_LAG_METRIC, LATENCY_BUCKETS_S, TaskMetrics

LABELS = ["topology", "component", "task"]
LAG_LABELS = [*LABELS, "topic", "partition"]


class Families:
    """The metric families of one scrape, filled row by row."""

    def __init__(self) -> None:
        self.emitted = CounterMetricFamily(
            "squall_tuples_emitted", "Tuples emitted (emit calls).", labels=LABELS
        )
        self.acked = CounterMetricFamily(
            "squall_tuples_acked", "Tuples acked (spouts: tuple trees completed).", labels=LABELS
        )
        self.failed = CounterMetricFamily(
            "squall_tuples_failed", "Tuples failed (spouts: tuple trees failed or timed out).", labels=LABELS
        )
        self.events = CounterMetricFamily(
            "squall_events",
            "Events: bolts, in the tuples they acked or failed; spouts, in the tuples they emitted "
            "(a micro-batch tuple counts its events).",
            labels=LABELS,
        )
        self.capacity = GaugeMetricFamily(
            "squall_capacity",
            "Bolt capacity: executed x execute latency / window length (1.0 = always busy).",
            labels=LABELS,
        )
        self.lag = GaugeMetricFamily(
            "squall_kafka_lag",
            "Kafka consumer lag per topic and partition, as the spout reports it.",
            labels=LAG_LABELS,
        )
        self.execute = HistogramMetricFamily(
            "squall_execute_latency_seconds", "Bolts: time in process per tuple.", labels=LABELS
        )
        self.complete = HistogramMetricFamily(
            "squall_complete_latency_seconds",
            "Spouts: emit to the tuple tree fully acked.",
            labels=LABELS,
        )

    def all(self) -> list[Metric]:
        return [
            self.emitted,
            self.acked,
            self.failed,
            self.events,
            self.capacity,
            self.lag,
            self.execute,
            self.complete,
        ]

    def lags(self, labels: list[str], params: Any) -> None:
        if not isinstance(params, dict):
            return
        for key, value in params.items():
            topic, sep, partition = str(key).rpartition("/")
            if not sep or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self.lag.add_metric([*labels, topic, partition], float(value))


def buckets_of(counts: list[int]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs from counts per bucket of LATENCY_BUCKETS_S then +Inf."""
    out = []
    total = 0
    for bound, n in zip([*map(str, LATENCY_BUCKETS_S), "+Inf"], counts, strict=True):
        total += n
        out.append((bound, float(total)))
    return out


class RunCollector(Collector):
    """A local run's figures (a squall.runner.cluster.Cluster, set when it exists), read when Prometheus
    scrapes."""

    def __init__(self, cluster: Any = None) -> None:
        self.cluster = cluster

    def collect(self) -> Iterator[Metric]:
        cluster = self.cluster
        if cluster is None:
            return
        name = cluster.graph.name
        f = Families()
        secs, deltas = cluster.window.span(cluster.task_metrics())
        for task, ex in sorted(cluster.executors.items()):
            m: TaskMetrics = ex.metrics
            labels = [name, ex.name, str(task)]
            f.emitted.add_metric(labels, m.emitted)
            f.acked.add_metric(labels, m.acked)
            f.failed.add_metric(labels, m.failed)
            f.events.add_metric(labels, m.events)
            counts = list(m.buckets)
            if ex.kind == "bolt":
                if m.exec_measured:
                    f.execute.add_metric(labels, buckets_of(counts), m.exec_ns / 1e9)
                    if secs:
                        f.capacity.add_metric(labels, deltas.get(task, (0, 0, 0))[0] / 1e9 / secs)
            else:
                f.complete.add_metric(labels, buckets_of(counts), m.latency_sum)
            for metric, (params, _) in list(m.custom.items()):
                if metric == KAFKA_LAG_METRIC:
                    f.lags(labels, params)
        yield from f.all()


class Exporter:
    """An HTTP server answering `/metrics` from `collector`, in a daemon thread, until `close`."""

    def __init__(self, collector: Collector, host: str = "127.0.0.1", port: int = 0) -> None:
        from prometheus_client import start_http_server

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        try:
            self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            raise ConfigError(
                "--metrics-port", f"{host}:{port} {why}", "choose a free port, or 0 for any free one"
            ) from exc
        self.host = host
        self.port = int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _as_float(value: Any) -> float:
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def storm_families(client: Any, window: str = ":all-time") -> Families:
    """The same names from Nimbus (a Thrift client): per executor of every active topology's components
    (task label `first-last` when an executor runs several tasks). Storm keeps only average latencies, so
    each latency histogram has the +Inf bucket alone (count, and sum = average x count). Storm does not
    pass components' metrics messages to Nimbus: no squall_kafka_lag here."""
    f = Families()
    info = client.getClusterInfo()
    for topo in sorted(info.topologies or [], key=lambda t: t.name):
        page = client.getTopologyPageInfo(topo.id, window, False)
        comps = [(c, "spout") for c in sorted(page.id_to_spout_agg_stats or {})]
        comps += [(c, "bolt") for c in sorted(page.id_to_bolt_agg_stats or {})]
        for comp, kind in comps:
            cpage = client.getComponentPageInfo(topo.id, comp, window, False)
            for item in cpage.exec_stats or []:
                ex = item.exec_summary.executor_info
                task = (
                    str(ex.task_start) if ex.task_start == ex.task_end else f"{ex.task_start}-{ex.task_end}"
                )
                labels = [topo.name, comp, task]
                common = item.stats.common_stats
                f.emitted.add_metric(labels, _as_float(common.emitted))
                f.acked.add_metric(labels, _as_float(common.acked))
                f.failed.add_metric(labels, _as_float(common.failed))
                if kind == "bolt":
                    bolt = item.stats.specific_stats.bolt
                    executed = _as_float(bolt.executed)
                    f.events.add_metric(labels, executed)
                    f.capacity.add_metric(labels, _as_float(bolt.capacity))
                    f.execute.add_metric(
                        labels,
                        [("+Inf", executed)],
                        executed * _as_float(bolt.execute_latency_ms) / 1000.0,
                    )
                else:
                    spout = item.stats.specific_stats.spout
                    acked = _as_float(common.acked)
                    f.events.add_metric(labels, _as_float(common.emitted))
                    f.complete.add_metric(
                        labels,
                        [("+Inf", acked)],
                        acked * _as_float(spout.complete_latency_ms) / 1000.0,
                    )
    return f


def storm_metrics_text(client: Any) -> bytes:
    """The UI server's `/metrics` body (Prometheus text format) from a Nimbus client."""
    from prometheus_client import generate_latest

    families = storm_families(client).all()

    class Snapshot(Collector):
        def collect(self) -> Iterator[Metric]:
            yield from families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())
    return generate_latest(registry)


__all__ = ["RunCollector", "Exporter", "storm_families", "storm_metrics_text", "buckets_of"]
