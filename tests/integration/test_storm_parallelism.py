"""Parallelism and options from config.json reach the real cluster exactly (asked of Nimbus over Thrift)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from squall.storm import nimbus
from squall.storm.harness import SparseProject

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(900)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"


def test_env_parallelism_and_options_are_what_storm_runs(
    tmp_path: Path, storm_fixture_config: Callable[..., Path]
) -> None:
    config_path = storm_fixture_config(
        parallelism={"echo": 2, "sink": 3},
        options={
            "topology.workers": 2,
            "topology.acker.executors": 2,
            "topology.max.spout.pending": 77,
            "topology.message.timeout.secs": 45,
        },
        pipeline={"shards": 7},
    )

    project = SparseProject(FIXTURE)
    options = {"squall.test.out": str(tmp_path / "sink"), "squall.test.count": 10}
    with project.submitted(
        "passthrough", env="dev", name="squall_it_par", options=options, config=config_path
    ) as topo:
        # Executors appear once the scheduler has assigned the topology to the Supervisor's slots.
        topo.wait_until(
            lambda: (
                {"numbers", "echo", "sink", "__acker"}
                <= set(nimbus.executor_counts(topo.nimbus, topo.topo_id))
            ),
            timeout=120,
            what="Nimbus reports the topology's executors",
        )
        counts = nimbus.executor_counts(topo.nimbus, topo.topo_id)
        assert counts["numbers"] == 1
        assert counts["echo"] == 2
        assert counts["sink"] == 3
        assert counts["__acker"] == 2

        conf = nimbus.topology_conf(topo.nimbus, topo.topo_id)
        assert conf["topology.workers"] == 2
        assert conf["topology.acker.executors"] == 2
        assert conf["topology.max.spout.pending"] == 77
        assert conf["topology.message.timeout.secs"] == 45
        assert conf["squall.pipeline"]["shards"] == 7

        topo.wait_until(
            lambda: nimbus.worker_count(topo.nimbus, topo.topo_id) == 2, timeout=120, what="2 workers run"
        )


def test_cli_option_beats_env_option(tmp_path: Path) -> None:
    project = SparseProject(FIXTURE)
    options = {
        "squall.test.out": str(tmp_path / "sink"),
        "squall.test.count": 5,
        "topology.max.spout.pending": 33,
    }
    with project.submitted("passthrough", env="dev", name="squall_it_cli", options=options) as topo:
        conf = nimbus.topology_conf(topo.nimbus, topo.topo_id)
        assert conf["topology.max.spout.pending"] == 33
        assert conf["topology.message.timeout.secs"] == 60  # from the fixture's envs.dev.options


def test_bad_config_never_reaches_nimbus(storm_fixture_config: Callable[..., Path]) -> None:
    config_path = storm_fixture_config(parallelism={"sink": -1})
    project = SparseProject(FIXTURE)
    res = project.sparse(
        *project.submit_args("passthrough", "dev", "squall_it_bad", {}, config_path), check=False
    )
    assert res.returncode == 2
    assert "envs.dev.parallelism.sink" in res.stderr
    assert nimbus.topology_id(nimbus.client(project.nimbus_address), "squall_it_bad") is None
