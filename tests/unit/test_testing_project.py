"""squall.testing.isolated_pipeline_project: a throw-away project with this run's own names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from squall.config import load_project, pipeline_settings
from squall.testing import isolated_pipeline_project

ROOT = Path(__file__).resolve().parents[2]


def test_env_project_gets_its_own_topics_group_keyspace_and_sqlite(tmp_path: Path) -> None:
    made = isolated_pipeline_project(
        tmp_path / "p",
        "r1",
        prefix="it.x",
        source=ROOT,
        pipeline={"windows": {"idle_timeout_s": 1}, "kafka": {"max_uncommitted": 5}},
        options={"topology.max.spout.pending": 7},
        parallelism={"parse": 1},
    )
    assert made.config_path == tmp_path / "p" / "config.json"
    assert (made.kafka.events_topic, made.kafka.dlq_topic, made.kafka.alerts_topic) == (
        "it.x.events.r1",
        "it.x.dlq.r1",
        "it.x.alerts.r1",
    )
    assert (made.kafka.group_id, made.cassandra.keyspace) == ("it.x.r1", "it_x_r1")
    assert made.kafka.max_uncommitted == 5
    assert made.sqlite_path == tmp_path / "p" / "state" / "pipeline.db"
    # What a run from the folder reads is what the helper reports; untouched settings stay the source's.
    loaded = load_project(made.root)
    assert pipeline_settings(loaded, "dev") == made.pipeline
    assert made.pipeline["windows"]["idle_timeout_s"] == 1
    source = json.loads((ROOT / "config.json").read_text())
    assert made.pipeline["windows"]["definitions"] == source["pipeline"]["windows"]["definitions"]
    dev = loaded.raw["envs"]["dev"]
    assert dev["options"]["topology.max.spout.pending"] == 7
    assert (
        dev["options"]["topology.message.timeout.secs"]
        == source["envs"]["dev"]["options"]["topology.message.timeout.secs"]
    )
    assert dev["parallelism"] == {"parse": 1}
    for folder in ("topologies", "spouts", "bolts"):
        assert (made.root / folder).resolve() == ROOT / folder
    assert json.loads((ROOT / "config.json").read_text()) == source  # the source is never written


def test_top_level_project_and_config_only(tmp_path: Path) -> None:
    made = isolated_pipeline_project(
        tmp_path / "p", "r2", prefix="local", source=ROOT, env=None, pipeline={"simulator": {"devices": 3}}
    )
    top = made.config["pipeline"]
    assert top["simulator"]["devices"] == 3 and top["sqlite"]["path"] == str(made.sqlite_path)
    assert pipeline_settings(load_project(made.root), "local")["simulator"]["devices"] == 3
    bare = isolated_pipeline_project(tmp_path / "q", "r3", prefix="b", source=ROOT, link_code=False)
    assert sorted(p.name for p in bare.root.iterdir()) == ["config.json"]
    with pytest.raises(ValueError, match="env"):
        isolated_pipeline_project(tmp_path / "z", "r4", prefix="b", source=ROOT, env=None, options={"a": 1})


def test_private_services_context_has_its_own_ports_and_state(tmp_path: Path) -> None:
    from squall.infra.endpoints import DEFAULT_PORTS
    from squall.testing import PRIVATE_PORTS, private_services_context

    ctx = private_services_context(tmp_path / "services", ROOT)
    assert ctx.layout.state == tmp_path / "services" and ctx.layout.infra == ROOT / "infra"
    assert ctx.layout.pid_file("kafka") == tmp_path / "services" / "kafka" / "kafka.pid"
    own = [ctx.endpoints.port(name) for name in PRIVATE_PORTS]
    assert len(set(own)) == len(own)
    assert not set(own) & set(DEFAULT_PORTS.values())
    assert ctx.endpoints.address("kafka") == f"127.0.0.1:{ctx.endpoints.port('kafka')}"


def test_restore_default_sigint_lets_a_child_started_with_sigint_ignored_stop_on_it() -> None:
    import signal
    import subprocess
    import sys

    from squall.testing import restore_default_sigint

    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job of a script
    try:
        inherited = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
        restored = subprocess.run(
            probe, capture_output=True, text=True, check=True, preexec_fn=restore_default_sigint
        ).stdout.strip()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (inherited, restored) == ("True", "False")
