"""`squall storm info`: pure formatting, and the refusal without a Nimbus."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cli.main import cli
from squall.cli.storm import format_info

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
