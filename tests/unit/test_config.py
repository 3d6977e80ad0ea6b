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
    tmp_path.mkdir(parents=True, exist_ok=True)
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


# --- unknown keys and types outside `pipeline` (checked when config.json is loaded) --------------------------
STREAMPARSE_ENV = {
    "user": "storm",
    "ssh_password": "",
    "ssh_port": 22,
    "nimbus": "nimbus.example:6627",
    "workers": ["w1", "w2"],
    "log": {"path": "/var/log/storm", "file": "x.log", "max_bytes": 1000, "backup_count": 3, "level": "info"},
    "log_path": "",
    "use_ssh_for_nimbus": True,
    "use_virtualenv": True,
    "install_virtualenv": False,
    "virtualenv_root": "/data/venvs",
    "virtualenv_name": "iot",
    "virtualenv_flags": "-p python3.11",
    "serializer": "msgpack",
    "options": {},
    "parallelism": {},
    "ui.port": 8080,
    "pipeline": {},
    "services": {"kafka": "127.0.0.1:9092", "supervisor_slots": [6700]},
    "max_parallelism": 8,
}


def test_streamparse_keys_are_known(tmp_path: Path) -> None:
    config = {**BASE, "virtualenv_specs": "virtualenvs/", "library": "", "max_parallelism": 16}
    config["envs"] = {"prod": STREAMPARSE_ENV}
    project = load_project(write_project(tmp_path, config))
    assert project.env("prod")[1]["user"] == "storm"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topology_spec": "t/"}, "topology_spec: unknown key (fix: did you mean topology_specs?)"),
        ({"env": {}}, "env: unknown key (fix: did you mean envs?)"),
        ({"max_paralelism": 3}, "max_paralelism: unknown key (fix: did you mean max_parallelism?)"),
        ({"max_parallelism": 0}, "max_parallelism: 0 is not valid (fix: use a whole number >= 1)"),
        (
            {"envs": {"dev": {"parallelsim": {}}}},
            "envs.dev.parallelsim: unknown key (fix: did you mean parallelism?)",
        ),
        (
            {"envs": {"dev": {"log": {"max_byte": 5}}}},
            "envs.dev.log.max_byte: unknown key (fix: did you mean max_bytes?)",
        ),
        (
            {"envs": {"dev": {"services": {"kafak": "127.0.0.1:9092"}}}},
            "envs.dev.services.kafak: unknown key (fix: did you mean kafka?)",
        ),
        ({"envs": {"dev": {"use_virtualenv": "yes"}}}, "envs.dev.use_virtualenv: 'yes' is not valid"),
        ({"envs": {"dev": {"workers": "w1"}}}, "envs.dev.workers: 'w1' is not valid"),
        ({"envs": {"dev": {"serializer": "xml"}}}, "envs.dev.serializer: 'xml' is not valid"),
        ({"envs": {"dev": {"options": []}}}, "envs.dev.options: must be an object"),
    ],
)
def test_bad_keys_outside_the_pipeline_stop_the_load(tmp_path: Path, change: dict, message: str) -> None:
    config = {**BASE, **change}
    with pytest.raises(ConfigError) as err:
        load_project(write_project(tmp_path, config))
    assert str(err.value).startswith(message)
    assert "fix:" in str(err.value)


# --- the parallelism bound ------------------------------------------------------------------------------
def test_parallelism_above_the_bound_names_the_component_the_value_and_the_fix(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASE))
    assert resolve_parallelism({"parse": 1}, project, "local", {"parse": "64"}) == {"parse": 64}
    with pytest.raises(ConfigError) as err:
        resolve_parallelism({"parse": 1}, project, "local", {"parse": "1000000"})
    assert str(err.value) == (
        "--par.parse: 1000000 tasks is above the limit of 64 per component (max_parallelism) "
        "(fix: use at most 64, or raise max_parallelism in config.json)"
    )
    with pytest.raises(ConfigError, match=r"^topology par\.parse: 65 tasks is above the limit of 64"):
        resolve_parallelism({"parse": 65}, project, "local")
    config = json.loads(json.dumps(BASE))
    config["envs"]["local"]["parallelism"] = {"parse": 100}
    project = load_project(write_project(tmp_path / "b", config))
    with pytest.raises(ConfigError, match=r"^envs\.local\.parallelism\.parse: 100 tasks"):
        resolve_parallelism({"parse": 1}, project, "local")


def test_max_parallelism_is_configurable_top_level_and_per_env(tmp_path: Path) -> None:
    config = json.loads(json.dumps(BASE))
    config["max_parallelism"] = 4
    config["envs"]["dev"]["max_parallelism"] = 200
    project = load_project(write_project(tmp_path, config))
    with pytest.raises(ConfigError, match=r"limit of 4 per component \(max_parallelism\)"):
        resolve_parallelism({"parse": 1}, project, "local", {"parse": "5"})
    assert resolve_parallelism({"parse": 1}, project, "dev", {"parse": "150"}) == {"parse": 150}
    with pytest.raises(ConfigError, match=r"raise envs\.dev\.max_parallelism in config\.json"):
        resolve_parallelism({"parse": 1}, project, "dev", {"parse": "201"})
