"""`squall run` option errors, via click's CliRunner: nothing runs, exit code 2, a message naming the fix."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cli.main import cli

QUICKSTART = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "quickstart"


@pytest.fixture()
def in_quickstart():
    """In the quickstart project; afterwards sys.path and the `bolts`/`spouts` modules are as before (running
    it imports the quickstart's own `bolts`, which would shadow the repo's for later tests in this process)."""
    old = os.getcwd()
    path = sys.path[:]
    ours = {m: mod for m, mod in sys.modules.items() if m.split(".")[0] in ("bolts", "spouts")}
    os.chdir(QUICKSTART)
    try:
        yield
    finally:
        os.chdir(old)
        sys.path[:] = path
        for name in [m for m in sys.modules if m.split(".")[0] in ("bolts", "spouts")]:
            del sys.modules[name]
        sys.modules.update(ours)


def invoke(*args: str):
    return CliRunner().invoke(cli, ["run", *args])


def test_unknown_component_lists_valid_names(in_quickstart) -> None:
    r = invoke("--par", "nope=2")
    assert r.exit_code == 2
    assert "--par.nope: no such component" in r.output and "count_bolt, sink, word_spout" in r.output


def test_bad_parallelism_value(in_quickstart) -> None:
    r = invoke("--par", "sink=0")
    assert r.exit_code == 2 and "is not a parallelism" in r.output


def test_par_without_equals(in_quickstart) -> None:
    r = invoke("--par", "sink")
    assert r.exit_code == 2 and "is not KEY=VALUE" in r.output


def test_bad_storm_option(in_quickstart) -> None:
    r = invoke("-o", "topology.max.spout.pending=0")
    assert r.exit_code == 2 and "-o.topology.max.spout.pending" in r.output and "integer >= 1" in r.output


def test_unknown_topology_and_env(in_quickstart) -> None:
    r = invoke("nope")
    assert r.exit_code == 2 and "use one of: wordcount" in r.output
    r = invoke("-e", "mars")
    assert r.exit_code == 2 and "envs.mars" in r.output


def test_runs_and_prints_json(in_quickstart) -> None:
    r = invoke(
        "--inline",
        "--until-idle",
        "0.3",
        "--json",
        "-o",
        "words.count=12",
        "--par",
        "count_bolt=3",
        "--seed",
        "1",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{") :])
    stats = {c["name"]: c for c in doc["components"]}
    assert stats["count_bolt"]["tasks"] == 3 and stats["word_spout"]["acked"] == 12
    assert doc["stopped_because"] == "idle"
