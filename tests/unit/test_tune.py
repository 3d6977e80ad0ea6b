"""`squall tune`'s proposal and its edit of config.json (pure logic; the real flow is in
tests/local/test_tune_run.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from squall.errors import ConfigError
from squall.observe.tune import (
    Figures,
    figures_from_run,
    figures_from_ui,
    propose,
    read_run,
    set_parallelism,
)


def _figures() -> list[Figures]:
    return [
        Figures("source", "spout", 1, 1000, 10000, None, None, 1000.0),
        Figures("fast", "bolt", 1, 1000, 10000, 0.05, 0.005, 1000.0),  # 5 us per event
        Figures("slow", "bolt", 2, 1000, 10000, 4.0, 0.2, 1000.0),  # 400 us per event
        Figures("alerts", "bolt", 1, 10, 100, 1.0, 0.001, 10.0),  # gets 1% of the events
    ]


def test_the_costly_bolt_gets_the_tasks() -> None:
    plan = propose("t", _figures(), target_rate=5000, headroom=0.7, cores=64)
    par = plan.parallelism()
    # slow: 5000 ev/s x 400 us = 2.0 cores busy -> ceil(2.0 / 0.7) = 3 tasks, 0.667 capacity each
    assert par["slow"] == 3 and par["fast"] == 1 and par["alerts"] == 1
    slow = next(p for p in plan.components if p.name == "slow")
    assert slow.cost_us_per_event == 400.0 and slow.busy_at_target == 2.0 and slow.capacity_at_target <= 0.7
    alerts = next(p for p in plan.components if p.name == "alerts")
    assert alerts.share == 0.01 and alerts.busy_at_target == pytest.approx(
        0.005, rel=1e-6
    )  # 50 ev/s x 100 us
    # the spout took 1000 ev/s per task in the run: 5000 / (1000 x 0.7) -> 8 tasks, 8 partitions
    assert par["source"] == 8 and plan.kafka_partitions == 8
    assert not plan.problems


def test_what_the_machine_or_the_partitions_cannot_serve_is_said() -> None:
    plan = propose("t", _figures(), target_rate=5000, headroom=0.7, cores=2, partitions=4)
    assert any("cores of work" in p and "this machine has 2" in p for p in plan.problems)
    assert any("4 partitions" in p and "at least 8" in p for p in plan.problems)


def test_bad_inputs_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="--target-rate"):
        propose("t", _figures(), target_rate=0)
    with pytest.raises(ConfigError, match="--headroom"):
        propose("t", _figures(), target_rate=10, headroom=1.5)
    with pytest.raises(ConfigError, match="emitted nothing"):
        propose("t", [Figures("s", "spout", 1, 0, 0, None, None, 0.0)], target_rate=10)


def test_a_bolt_without_execute_latency_keeps_its_tasks() -> None:
    figures = [*_figures()[:1], Figures("js", "bolt", 3, 100, 100, None, None, 10.0)]
    plan = propose("t", figures, target_rate=100, cores=64)
    assert plan.parallelism()["js"] == 3 and any("js: no execute latency" in n for n in plan.notes)


def test_run_json_and_ui_pages_become_figures(tmp_path: Path) -> None:
    run = {
        "components": [
            {
                "name": "s",
                "kind": "spout",
                "tasks": 1,
                "emitted": 10,
                "executed": 10,
                "events": 100,
                "execute_ms": None,
                "capacity": None,
                "events_per_s": 50.0,
            },
            {
                "name": "b",
                "kind": "bolt",
                "tasks": 2,
                "emitted": 0,
                "executed": 10,
                "events": 100,
                "execute_ms": 2.0,
                "capacity": 0.1,
                "events_per_s": 50.0,
            },
        ]
    }
    path = tmp_path / "run.json"
    path.write_text("measuring...\n" + json.dumps(run, indent=2))
    figures = figures_from_run(read_run(path))
    assert [(f.name, f.executed, f.events, f.execute_ms) for f in figures] == [
        ("s", 10, 100, None),
        ("b", 10, 100, 2.0),
    ]
    (tmp_path / "bad.json").write_text('{"components": [{"name": "x"}]}')
    with pytest.raises(ConfigError, match="--from-run"):
        figures_from_run(read_run(tmp_path / "bad.json"))
    page = {
        "uptimeSeconds": 100,
        "spouts": [{"spoutId": "numbers", "tasks": 1, "emitted": 5000}],
        "bolts": [
            {"boltId": "echo", "tasks": 2, "executed": 5000, "executeLatency": "0.250", "capacity": "0.013"}
        ],
    }
    ui = figures_from_ui(page)
    assert ui[0].events_per_s == 50.0 and (ui[1].execute_ms, ui[1].capacity, ui[1].events) == (
        0.25,
        0.013,
        5000,
    )


CONFIG = """{
  "serializer": "msgpack",
  "envs": {
    "local": {
      "parallelism": {"source": 1, "fast": 1},
      "options": {"topology.max.spout.pending": 100}
    },
    "dev": {
      "nimbus": "127.0.0.1:6627",
      "parallelism": {
        "source": 2
      }
    },
    "bare": {"options": {}}
  }
}
"""


def test_write_changes_only_the_env_parallelism() -> None:
    new = set_parallelism(CONFIG, "local", {"source": 2, "fast": 1, "slow": 3})
    assert '"parallelism": {"source": 2, "fast": 1, "slow": 3},' in new
    assert new.replace('{"source": 2, "fast": 1, "slow": 3}', '{"source": 1, "fast": 1}') == CONFIG
    multi = set_parallelism(CONFIG, "dev", {"source": 4, "slow": 2})
    assert '"parallelism": {\n        "source": 4,\n        "slow": 2\n      }' in multi
    assert json.loads(multi)["envs"]["local"] == json.loads(CONFIG)["envs"]["local"]
    bare = set_parallelism(CONFIG, "bare", {"slow": 2})
    assert json.loads(bare)["envs"]["bare"] == {"parallelism": {"slow": 2}, "options": {}}
    with pytest.raises(ConfigError, match="envs.mars"):
        set_parallelism(CONFIG, "mars", {"a": 1})
