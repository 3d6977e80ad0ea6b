"""The UI server's Prometheus `/metrics` against the real Nimbus, with a topology this test submits and kills:
the names `squall run --metrics-port` serves, per executor, parsed with prometheus_client's parser; and
`squall tune --from-cluster`'s reading of the same UI. The test
starts its own UI instance (this tree's code) on a free loopback port, never the shared one."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from squall.observe.tune import figures_from_cluster, propose
from squall.storm.harness import SparseProject, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(900)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """sample name -> [(labels, value)] of a /metrics page."""
    with urllib.request.urlopen(url, timeout=60) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


@pytest.fixture
def ui_metrics(own_ui: str) -> Iterator[str]:
    """This test's own UI server (the `own_ui` fixture) on a free port, against the running Nimbus."""
    yield f"{own_ui}/metrics"


def _of(samples: list[tuple[dict[str, str], float]], topology: str) -> dict[tuple[str, str], float]:
    return {(lb["component"], lb["task"]): v for lb, v in samples if lb["topology"] == topology}


def test_ui_metrics_serve_nimbus_figures_per_executor(
    tmp_path: Path, ui_metrics: str, storm_fixture_config: Callable[..., Path]
) -> None:
    config_path = storm_fixture_config(
        parallelism={"echo": 2, "sink": 1}, options={"topology.workers": 1, "topology.acker.executors": 1}
    )
    options = {"squall.test.out": str(tmp_path / "sink"), "squall.test.count": 200}
    name = "squall_it_ui_metrics"
    with SparseProject(FIXTURE).submitted(
        "passthrough", env="dev", name=name, options=options, config=config_path
    ) as topo:
        # Storm's executors publish their stats to Nimbus every few seconds once they run
        topo.wait_until(
            lambda: sum(_of(_scrape(ui_metrics).get("squall_tuples_acked_total", []), name).values()) > 0,
            timeout=300,
            what="/metrics shows acked tuples of the topology",
        )
        m = _scrape(ui_metrics)
        emitted = _of(m["squall_tuples_emitted_total"], name)
        assert {comp for comp, _ in emitted} >= {"numbers", "echo", "sink"}
        assert {task for comp, task in emitted if comp == "echo"} and len(
            [1 for comp, _ in emitted if comp == "echo"]
        ) == 2  # one series per executor
        assert _of(m["squall_tuples_failed_total"], name)
        capacity = _of(m["squall_capacity"], name)
        assert {comp for comp, _ in capacity} == {"echo", "sink"}  # bolts only
        assert all(0.0 <= v for v in capacity.values())
        counts = _of(m["squall_execute_latency_seconds_count"], name)
        assert sum(counts.values()) > 0
        complete = _of(m["squall_complete_latency_seconds_count"], name)
        assert set(complete) == {("numbers", task) for comp, task in emitted if comp == "numbers"}
        assert "squall_events_total" in m
        # squall tune --from-cluster reads the same UI: every component, Storm's execute latencies
        figures = {f.name: f for f in figures_from_cluster(ui_metrics.removesuffix("/metrics"), name)}
        assert set(figures) == {"numbers", "echo", "sink"}
        assert figures["echo"].tasks == 2 and figures["echo"].executed > 0
        assert figures["echo"].execute_ms is not None and figures["numbers"].events > 0
        plan = propose(name, list(figures.values()), target_rate=100, cores=64)
        assert set(plan.parallelism()) == {"numbers", "echo", "sink"}
    # Killed: its series are gone from the page
    wait_until(
        lambda: not _of(_scrape(ui_metrics).get("squall_tuples_emitted_total", []), name),
        timeout=120,
        what="the killed topology leaves /metrics",
        poll_secs=2,
    )
