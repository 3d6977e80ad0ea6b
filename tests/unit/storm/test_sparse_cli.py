"""The project's `sparse` command: compat patches installed, bad config refused before any jar or submit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "storm_project"


def _sparse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "squall.storm", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _config_with(tmp_path: Path, **dev: object) -> Path:
    config = json.loads((FIXTURE / "config.json").read_text())
    config["envs"]["dev"].update(dev)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(
    ("dev", "key"),
    [
        ({"parallelism": {"nope": 2}}, "envs.dev.parallelism.nope"),
        ({"parallelism": {"sink": 0}}, "envs.dev.parallelism.sink"),
        ({"options": {"topology.workers": 0}}, "envs.dev.options.topology.workers"),
        ({"parallelism": {"sink": 1000}}, "envs.dev.parallelism.sink: 1000 tasks is above the limit of 64"),
        ({"parallelsim": {}}, "envs.dev.parallelsim: unknown key (fix: did you mean parallelism?)"),
        (
            {"pipeline": {"parse": {"max_payload_bytes": -1}}},
            "error: envs.dev.pipeline.parse.max_payload_bytes: -1 is not valid",
        ),
        (
            {"pipeline": {"windows": {"idle_timeout": 3}}},
            "error: envs.dev.pipeline.windows.idle_timeout: unknown key (fix: did you mean idle_timeout_s?)",
        ),
    ],
)
def test_bad_config_is_refused_before_building_or_submitting(tmp_path: Path, dev: dict, key: str) -> None:
    config = _config_with(tmp_path, **dev)
    res = _sparse("submit", "-e", "dev", "-n", "passthrough", "--config", str(config), cwd=FIXTURE)
    assert res.returncode == 2, res.stdout + res.stderr
    assert key in res.stderr
    assert "fix:" in res.stderr
    assert "Creating topology" not in res.stdout
    assert "Submitting" not in res.stdout


def test_bad_cli_option_is_refused(tmp_path: Path) -> None:
    res = _sparse(
        "submit", "-e", "dev", "-n", "passthrough", "-o", "topology.max.spout.pending=0", cwd=FIXTURE
    )
    assert res.returncode == 2
    assert "-o.topology.max.spout.pending" in res.stderr


def test_env_without_nimbus_is_a_clear_error() -> None:
    res = _sparse("list", "-e", "local", cwd=FIXTURE)
    assert res.returncode == 2
    assert "envs.local.nimbus" in res.stderr


def test_sparse_run_refuses_a_bad_pipeline_setting_before_starting_storm(tmp_path: Path) -> None:
    config = json.loads((FIXTURE / "config.json").read_text())
    config["envs"]["local"]["pipeline"] = {"spout": {"batch_size": 0}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    res = _sparse("run", "-e", "local", "-n", "passthrough", "--config", str(path), cwd=FIXTURE)
    assert res.returncode == 2, res.stdout + res.stderr
    assert (
        "error: envs.local.pipeline.spout.batch_size: 0 is not valid (fix: use a whole number in 1..10000)"
        in (res.stderr)
    )
    assert "Running" not in res.stdout
