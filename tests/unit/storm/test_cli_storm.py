"""`squall storm info` and `rebalance`: pure formatting and checks, and the refusal without a Nimbus."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cli.main import cli
from squall.cli.storm import format_info, parse_executors
from squall.errors import ConfigError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "storm_project"


def test_format_info_lists_executors_and_options() -> None:
    text = format_info("t", "t-1-2", 2, {"sink": 3, "__acker": 2}, {"topology.workers": 2})
    assert text.splitlines()[0] == "t (t-1-2): 2 worker(s)"
    assert "  __acker: 2" in text and "  sink: 3" in text
    assert "  topology.workers: 2" in text
    assert "  topology.max.spout.pending: None" in text


def test_info_without_nimbus_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURE)
    res = CliRunner().invoke(cli, ["storm", "info", "passthrough", "-e", "local"])
    assert res.exit_code == 2
    assert "envs.local.nimbus" in res.output


def test_rebalance_executors_are_checked_against_the_components_and_their_tasks() -> None:
    tasks = {"parse": 2, "aggregate": 2, "__acker": 1}
    assert parse_executors(("aggregate=1", " parse = 2"), tasks) == {"aggregate": 1, "parse": 2}
    with pytest.raises(ConfigError, match=r"-x aggregate=3.*at most 2 executor"):
        parse_executors(("aggregate=3",), tasks)
    with pytest.raises(ConfigError, match=r"no component 'sink'.*aggregate, parse"):
        parse_executors(("sink=1",), tasks)
    for bad in ("aggregate", "aggregate=0", "aggregate=x"):
        with pytest.raises(ConfigError, match="COMPONENT=N"):
            parse_executors((bad,), tasks)


def test_rebalance_without_nimbus_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURE)
    res = CliRunner().invoke(cli, ["storm", "rebalance", "passthrough", "-e", "local", "-n", "2"])
    assert res.exit_code == 2
    assert "envs.local.nimbus" in res.output
