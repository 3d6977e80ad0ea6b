"""config.json handling: precedence, validation and the errors users see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall.config import (
    PIPELINE_CONF_KEY,
    find_root,
    load_project,
    parse_assignments,
    pipeline_settings,
    resolve_options,
    resolve_parallelism,
)
from squall.errors import ConfigError


def write_project(tmp_path: Path, config: dict) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "topologies").mkdir()
    (tmp_path / "topologies" / "wordcount.py").write_text("# wiring\n")
    return tmp_path


BASE = {
    "serializer": "json",
    "topology_specs": "topologies/",
    "pipeline": {"windows": [10, 60], "kafka": {"topic": "iot.events", "retries": 3}},
    "envs": {
        "local": {"parallelism": {"parse": 2}, "options": {"topology.max.spout.pending": 10}},
        "dev": {"pipeline": {"kafka": {"retries": 5}}, "options": {"topology.workers": 2}},
    },
}


def test_parallelism_precedence_topology_then_env_then_cli(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASE))
    par = resolve_parallelism({"spout": 1, "parse": 1, "agg": 3}, project, "local", {"agg": "4"})
    assert par == {"spout": 1, "parse": 2, "agg": 4}


def test_unknown_component_lists_valid_names(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASE))
    with pytest.raises(ConfigError) as err:
        resolve_parallelism({"spout": 1, "parse": 1}, project, "local", {"prase": "2"})
    assert "--par.prase" in str(err.value)
    assert "parse, spout" in str(err.value)


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_parallelism_value_names_key_and_fix(tmp_path: Path, bad: str) -> None:
    project = load_project(write_project(tmp_path, BASE))
    with pytest.raises(ConfigError, match=r"--par\.parse.*integer >= 1"):
        resolve_parallelism({"parse": 1}, project, "local", {"parse": bad})


def test_options_precedence_and_pipeline_settings_travel_in_conf(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASE))
    conf = resolve_options(
        {"topology.max.spout.pending": 1, "topology.debug": False},
        project,
        "local",
        {"topology.message.timeout.secs": "7"},
    )
    assert conf["topology.max.spout.pending"] == 10  # env beats topology
    assert conf["topology.message.timeout.secs"] == 7  # -o parsed as JSON
    assert conf["topology.debug"] is False
    assert conf[PIPELINE_CONF_KEY]["windows"] == [10, 60]


def test_env_pipeline_deep_merges_over_defaults(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASE))
    settings = pipeline_settings(project, "dev")
    assert settings["kafka"] == {"topic": "iot.events", "retries": 5}
    assert project.raw["pipeline"]["kafka"]["retries"] == 3  # the loaded config is not mutated


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("topology.workers", 0),
        ("topology.max.spout.pending", "lots"),
        ("topology.message.timeout.secs", True),
        ("topology.acker.executors", -1),
    ],
)
def test_bad_env_option_stops_before_run(tmp_path: Path, key: str, value: object) -> None:
    config = json.loads(json.dumps(BASE))
    config["envs"]["dev"]["options"][key] = value
    project = load_project(write_project(tmp_path, config))
    with pytest.raises(ConfigError) as err:
        resolve_options({}, project, "dev")
    assert f"envs.dev.options.{key}" in str(err.value)
    assert "fix:" in str(err.value)


def test_unknown_env_lists_envs(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASE))
    with pytest.raises(ConfigError, match="use one of: dev, local"):
        project.env("prod")


def test_bad_serializer_and_bad_json_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"serializer": "xml"}')
    with pytest.raises(ConfigError, match="serializer.*json, msgpack"):
        load_project(tmp_path)
    (tmp_path / "config.json").write_text('{"serializer": ')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_project(tmp_path)


def test_find_root_walks_up(tmp_path: Path) -> None:
    write_project(tmp_path, BASE)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()


def test_topology_name_resolution(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASE))
    assert project.topology_file(None)[0] == "wordcount"
    with pytest.raises(ConfigError, match="use one of: wordcount"):
        project.topology_file("nope")


@given(st.dictionaries(st.from_regex(r"[a-z][a-z.]{0,10}", fullmatch=True), st.text(max_size=8), max_size=5))
def test_parse_assignments_round_trips(pairs: dict[str, str]) -> None:
    flat = [f"{k}={v}" for k, v in pairs.items()]
    assert parse_assignments(flat, "-o") == {k: v.strip() for k, v in pairs.items()}


def test_parse_assignments_rejects_missing_equals() -> None:
    with pytest.raises(ConfigError, match="-o.*KEY=VALUE"):
        parse_assignments(["topology.workers"], "-o")


def test_repo_config_is_valid_for_every_env() -> None:
    project = load_project(Path(__file__).resolve().parents[2])
    for env in project.env_names:
        resolve_options({}, project, env)
