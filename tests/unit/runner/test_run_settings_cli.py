"""`squall run` refuses bad settings before anything starts: exit code 2 and a one-line "key, value, fix"."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cli.main import cli

QUICKSTART = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "quickstart"


@pytest.fixture()
def project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the quickstart project as the cwd; sys.path and the `bolts`/`spouts` modules are restored."""
    root = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, root)
    old, path = os.getcwd(), sys.path[:]
    ours = {m: mod for m, mod in sys.modules.items() if m.split(".")[0] in ("bolts", "spouts")}
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(old)
        sys.path[:] = path
        for name in [m for m in sys.modules if m.split(".")[0] in ("bolts", "spouts")]:
            del sys.modules[name]
        sys.modules.update(ours)


def edit_config(root: Path, **top: object) -> None:
    config = json.loads((root / "config.json").read_text())
    config.update(top)
    (root / "config.json").write_text(json.dumps(config))


def run(*args: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(cli, ["run", "--until-idle", "0.1", *args])


def test_par_above_the_default_bound_is_refused(project: Path) -> None:
    r = run("--inline", "--par", "count_bolt=1000000")
    assert r.exit_code == 2, r.output
    assert (
        "error: --par.count_bolt: 1000000 tasks is above the limit of 64 per component (max_parallelism) "
        "(fix: use at most 64, or raise max_parallelism in config.json)"
    ) in r.output
    assert "Summary" not in r.output and "emitted" not in r.output


def test_the_bound_is_configurable_and_checks_the_topology_par(project: Path) -> None:
    edit_config(project, max_parallelism=1)
    r = run("--inline")
    assert r.exit_code == 2, r.output
    assert "error: topology par.count_bolt: 2 tasks is above the limit of 1 per component" in r.output


def test_a_bad_pipeline_setting_stops_the_run_before_any_task(project: Path) -> None:
    edit_config(project, pipeline={"parse": {"max_payload_bytes": -1}})
    r = run()
    assert r.exit_code == 2, r.output
    assert (
        "error: pipeline.parse.max_payload_bytes: -1 is not valid (fix: use a whole number in 1.." in r.output
    )


def test_a_typo_in_the_pipeline_is_answered_with_the_key_meant(project: Path) -> None:
    edit_config(project, pipeline={"windows": {"idle_timeout": 3}})
    r = run()
    assert r.exit_code == 2, r.output
    assert "error: pipeline.windows.idle_timeout: unknown key (fix: did you mean idle_timeout_s?)" in r.output


def test_a_typo_at_the_top_of_config_json_is_answered_too(project: Path) -> None:
    edit_config(project, topology_spec="topologies/")
    r = run()
    assert r.exit_code == 2, r.output
    assert "error: topology_spec: unknown key (fix: did you mean topology_specs?)" in r.output
