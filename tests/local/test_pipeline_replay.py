"""At-least-once with exact results: persist fails a share of its writes, the failed trees replay from the
source, and the stored windows still equal the truth (window de-duplication by event id, re-emission of closed
windows on replay, idempotent upserts)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from streamparse import Grouping, Topology

from bolts.aggregate import AggregateBolt
from bolts.alerts import AlertsBolt
from bolts.dlq import DeadLetterBolt
from bolts.parse import ParseBolt
from bolts.persist import PersistBolt
from bolts.route import RouteBolt
from spouts.events import EventSpout
from squall.config import load_project, pipeline_settings
from squall.pipeline.report import summarize, window_rows
from squall.pipeline.simulator import SimulatorSettings, generate
from squall.pipeline.sqlite_store import SqliteStore
from squall.pipeline.truth import compare_rows, truth_for_settings
from squall.testing import run_topology
from tests.local.test_pipeline_local import make_project, stop_when_stored


class FlakyStore(SqliteStore):
    """SQLite, but a share `rate` of the record writes fails (seeded), as a Cassandra timeout would."""

    rate = 0.02

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self._rng = random.Random(11)
        self.failed = 0

    def write(self, kind: str, record: Any) -> Future[None]:
        if self._rng.random() < self.rate:
            self.failed += 1
            done: Future[None] = Future()
            done.set_exception(TimeoutError("injected write timeout"))
            return done
        return super().write(kind, record)


class FlakyPersist(PersistBolt):
    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        super().initialize(conf, ctx)
        self.store = FlakyStore(conf["squall.pipeline"])


BY_DEVICE = Grouping.fields("shard")  # device shards, as iot_pipeline
BY_PARTITION = Grouping.fields("partition")
TICKS = {"topology.tick.tuple.freq.secs": 1}


class FlakyPipeline(Topology):
    events = EventSpout.spec(par=1)
    parse = ParseBolt.spec(inputs={events: BY_PARTITION}, par=2)  # as iot_pipeline
    route = RouteBolt.spec(inputs={parse: BY_DEVICE}, par=1)
    aggregate = AggregateBolt.spec(inputs={route["telemetry"]: BY_DEVICE}, par=2, config=TICKS)
    alerts = AlertsBolt.spec(
        inputs={route["telemetry"]: BY_DEVICE, route["alarms"]: BY_DEVICE}, par=1, config=TICKS
    )
    dlq = DeadLetterBolt.spec(inputs=[parse["invalid"], aggregate["late"]], par=1, config=TICKS)
    persist = FlakyPersist.spec(
        inputs={
            aggregate: BY_DEVICE,
            alerts: Grouping.SHUFFLE,
            dlq: Grouping.SHUFFLE,
            route["archive"]: Grouping.SHUFFLE,
        },
        par=2,
        config=TICKS,
    )


@pytest.mark.timeout(240)
def test_failed_writes_replay_and_results_stay_exact(tmp_path: Path) -> None:
    project = make_project(tmp_path, devices=4, rate=60, duration_s=30)
    # small spout batches: a batch replays whole when any write under it fails, so at 2% failed writes a tree
    # of ~10 events (plus their windows) still completes most of the time
    config_path = project / "config.json"
    config = json.loads(config_path.read_text())
    config["pipeline"]["spout"] = {"batch_size": 10}
    config_path.write_text(json.dumps(config))
    settings = pipeline_settings(load_project(project), "local")
    truth = truth_for_settings(generate(SimulatorSettings.from_settings(settings)), settings)
    db_path = Path(settings["sqlite"]["path"])
    result = run_topology(
        FlakyPipeline,
        project=project,
        env="local",
        inline=True,
        until_idle=3.0,
        duration=150,
        conf={"topology.max.spout.pending": 30000},
        stop_when=stop_when_stored(db_path, truth),
        seed=3,
    )
    assert not result.errors, result.errors
    assert result.reason in ("condition", "idle")
    assert result.stats("persist").failed > 0 and result.stats("events").failed > 0  # replays happened
    assert compare_rows(window_rows(db_path), truth.rows) == []
    reasons = summarize(db_path)["dead_letters_by_reason"]
    assert reasons.pop("late") == truth.late and sum(reasons.values()) == truth.dead_lettered
