"""PipelineSettings: config.json `pipeline` validated once into one typed tree; every bad value a ConfigError
naming the key, the value and the fix; unknown keys answered with the closest valid one."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.cassandra.settings import CassandraSettings
from squall.config import PIPELINE_CONF_KEY, Project, load_project, pipeline_settings, resolve_options
from squall.errors import ConfigError
from squall.kafka.settings import KafkaSettings
from squall.pipeline.events import Limits
from squall.pipeline.parse import Parser
from squall.pipeline.settings import PipelineSettings, from_conf
from squall.testing import isolated_pipeline_project

ROOT = Path(__file__).resolve().parents[3]


def error_of(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        PipelineSettings.from_dict(raw)
    return err.value


def test_repo_config_validates_for_every_env_with_its_values() -> None:
    project = load_project(ROOT)
    for env in project.env_names:
        typed = PipelineSettings.from_dict(resolve_options({}, project, env)[PIPELINE_CONF_KEY])
        assert typed.project_root == str(project.root)
    local = PipelineSettings.from_dict(pipeline_settings(project, "local"))
    assert (local.source, local.sink, local.publisher) == ("simulator", "sqlite", "embedded")
    assert local.parse.max_payload_bytes == 65_536 and local.persist.batch_size == 100
    assert local.windows.idle_timeout_s == 5.0 and [d.length_s for d in local.windows.definitions] == [10, 60]
    assert local.alerts.rules.anomaly.z == 6.0 and local.simulator.format == "mixed"
    dev = PipelineSettings.from_dict(pipeline_settings(project, "dev"))
    assert (dev.source, dev.sink, dev.publisher) == ("kafka", "cassandra", "kafka")
    assert dev.kafka.group_id == "squall-iot-dev" and dev.cassandra.consistency == "LOCAL_ONE"


def test_an_empty_section_gives_every_documented_default() -> None:
    typed = PipelineSettings.from_dict({})
    assert typed == PipelineSettings()
    assert typed.parse.max_depth == 32 and typed.parse.max_future_skew_s == 300.0
    assert typed.parse.dead_letter_prefix_bytes == 4096 and typed.parse.dedup_horizon == 10_000
    assert typed.windows.max_keys == 100_000 and typed.windows.idle_timeout_s == 2.0
    assert typed.shards is None and typed.spout.batch_size == 1000 and typed.persist.batch_size == 500
    assert typed.alerts.max_in_flight == 256 and typed.dlq.max_in_flight == 256
    assert typed.sqlite.max_in_flight == 64 and typed.publish_timeout_s == 30.0
    assert typed.kafka == KafkaSettings() and typed.cassandra == CassandraSettings()
    assert typed.peak_events_per_s is None


def test_fixture_projects_and_isolated_projects_validate(tmp_path: Path) -> None:
    configs = sorted((ROOT / "tests" / "fixtures").glob("**/config.json"))
    assert configs
    for path in configs:
        project = load_project(path.parent)
        for env in project.env_names:
            PipelineSettings.from_dict(pipeline_settings(project, env))
    made = isolated_pipeline_project(tmp_path / "p", "r1", prefix="unit", source=ROOT)
    typed = PipelineSettings.from_dict(made.pipeline)
    assert typed.kafka.events_topic == made.kafka.events_topic
    assert typed.sqlite_file == made.sqlite_path
    load_project(made.root)


@pytest.mark.parametrize(
    ("raw", "key", "fix"),
    [
        ({"windows": {"idle_timeout": 3}}, "pipeline.windows.idle_timeout", "did you mean idle_timeout_s?"),
        ({"parse": {"max_payload": 10}}, "pipeline.parse.max_payload", "did you mean max_payload_bytes?"),
        ({"sinc": "sqlite"}, "pipeline.sinc", "did you mean sink?"),
        ({"kafka": {"bootstrap_server": "h:1"}}, "pipeline.kafka.bootstrap_server", "bootstrap_servers?"),
        ({"cassandra": {"keyspce": "k"}}, "pipeline.cassandra.keyspce", "did you mean keyspace?"),
        ({"persist": {"batchsize": 5}}, "pipeline.persist.batchsize", "did you mean batch_size?"),
        ({"spout": {"batch": 5}}, "pipeline.spout.batch", "did you mean batch_size?"),
        ({"sqlite": {"busy_timeout": 5}}, "pipeline.sqlite.busy_timeout", "did you mean busy_timeout_s?"),
        ({"dlq": {"max_inflight": 5}}, "pipeline.dlq.max_inflight", "did you mean max_in_flight?"),
        ({"simulator": {"device": 5}}, "pipeline.simulator.device", "did you mean devices?"),
        ({"alerts": {"treshold": []}}, "pipeline.alerts.treshold", "did you mean thresholds?"),
        ({"alerts": {"anomaly": {"alfa": 0.1}}}, "pipeline.alerts.anomaly.alfa", "did you mean alpha?"),
        ({"routing": {"rule": []}}, "pipeline.routing.rule", "did you mean rules?"),
        (
            {"windows": {"definitions": [{"type": "tumbling", "length": 10}]}},
            "pipeline.windows.definitions[0].length",
            "did you mean length_s?",
        ),
        (
            {"alerts": {"consecutive": [{"metric": "m", "op": "<", "value": 1, "cout": 3}]}},
            "pipeline.alerts.consecutive[0].cout",
            "did you mean count?",
        ),
        ({"zzz": 1}, "pipeline.zzz", "use one of: alerts, cassandra,"),
    ],
)
def test_unknown_keys_are_refused_with_the_closest_valid_key(raw: dict[str, Any], key: str, fix: str) -> None:
    err = error_of(raw)
    assert err.key == key
    assert str(err).startswith(f"{key}: unknown key (fix: ")
    assert fix in str(err)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"parse": {"max_payload_bytes": -1}}, "pipeline.parse.max_payload_bytes"),
        ({"parse": {"max_payload_bytes": "abc"}}, "pipeline.parse.max_payload_bytes"),
        ({"parse": {"max_payload_bytes": True}}, "pipeline.parse.max_payload_bytes"),
        ({"parse": {"max_metrics": 0}}, "pipeline.parse.max_metrics"),
        ({"parse": {"max_attrs_bytes": 1.5}}, "pipeline.parse.max_attrs_bytes"),
        ({"parse": {"max_depth": 1001}}, "pipeline.parse.max_depth"),
        ({"parse": {"max_depth": 0}}, "pipeline.parse.max_depth"),
        ({"parse": {"max_future_skew_s": -1}}, "pipeline.parse.max_future_skew_s"),
        ({"parse": {"dead_letter_prefix_bytes": 1_048_577}}, "pipeline.parse.dead_letter_prefix_bytes"),
        ({"parse": {"dedup_horizon": 0}}, "pipeline.parse.dedup_horizon"),
        ({"parse": {"dedup_horizon": 100_000_001}}, "pipeline.parse.dedup_horizon"),
        ({"windows": {"max_keys": 0}}, "pipeline.windows.max_keys"),
        ({"windows": {"idle_timeout_s": 0}}, "pipeline.windows.idle_timeout_s"),
        ({"windows": {"idle_timeout_s": math.nan}}, "pipeline.windows.idle_timeout_s"),
        ({"windows": {"allowed_lateness_s": math.inf}}, "pipeline.windows.allowed_lateness_s"),
        ({"windows": {"sketch_relative_accuracy": 1.0}}, "pipeline.windows.sketch_relative_accuracy"),
        ({"alerts": {"anomaly": {"alpha": 0}}}, "pipeline.alerts.anomaly.alpha"),
        ({"alerts": {"anomaly": {"z": True}}}, "pipeline.alerts.anomaly.z"),
        ({"alerts": {"anomaly": {"enabled": "yes"}}}, "pipeline.alerts.anomaly.enabled"),
        ({"alerts": {"alarm_events": 1}}, "pipeline.alerts.alarm_events"),
        ({"alerts": {"max_in_flight": 0}}, "pipeline.alerts.max_in_flight"),
        ({"simulator": {"bad_ratio": 0.7}}, "pipeline.simulator.bad_ratio"),
        ({"simulator": {"rate": "fast"}}, "pipeline.simulator.rate"),
        ({"simulator": {"devices": True}}, "pipeline.simulator.devices"),
        ({"publish_timeout_s": 0}, "pipeline.publish_timeout_s"),
        ({"persist": {"write_timeout_s": -1}}, "pipeline.persist.write_timeout_s"),
        ({"persist": {"batch_size": 10_001}}, "pipeline.persist.batch_size"),
        ({"sqlite": {"busy_timeout_s": 0}}, "pipeline.sqlite.busy_timeout_s"),
        ({"sqlite": {"path": ""}}, "pipeline.sqlite.path"),
        ({"dlq": {"max_in_flight": "many"}}, "pipeline.dlq.max_in_flight"),
        ({"shards": 0}, "pipeline.shards"),
        ({"peak_events_per_s": 0}, "pipeline.peak_events_per_s"),
        ({"source": "files"}, "pipeline.source"),
        ({"sink": "s3"}, "pipeline.sink"),
        ({"publisher": "email"}, "pipeline.publisher"),
        ({"kafka": {"backoff_max_s": math.inf}}, "pipeline.kafka.backoff_max_s"),
        ({"kafka": {"max_retries": True}}, "pipeline.kafka.max_retries"),
        ({"cassandra": {"port": 0}}, "pipeline.cassandra.port"),
        ({"parse": 5}, "pipeline.parse"),
    ],
)
def test_bad_values_name_the_key_the_value_and_the_fix(raw: dict[str, Any], key: str) -> None:
    err = error_of(raw)
    assert err.key == key
    assert "(fix: " in str(err) and "\n" not in str(err)


def test_components_read_the_typed_object_from_the_storm_conf() -> None:
    raw = {"parse": {"max_payload_bytes": 100, "dedup_horizon": 7}, "shards": 4}
    typed = from_conf({PIPELINE_CONF_KEY: json.loads(json.dumps(raw))})
    assert typed.shards == 4
    assert Limits.from_settings(typed.parse) == Limits(max_payload_bytes=100)
    parser = Parser(typed)
    assert parser.limits.max_payload_bytes == 100
    assert parser.parse(b"{" + b" " * 200 + b"}", ("t", 0, 1)).dead_letter is not None
    with pytest.raises(ConfigError, match="squall.pipeline: is missing"):
        from_conf({})


def test_sqlite_path_is_relative_to_the_project_root(tmp_path: Path) -> None:
    typed = PipelineSettings.from_dict({"sqlite": {"path": "db/x.db"}, "project_root": str(tmp_path)})
    assert typed.sqlite_file == tmp_path / "db" / "x.db"
    absolute = PipelineSettings.from_dict({"sqlite": {"path": str(tmp_path / "y.db")}})
    assert absolute.sqlite_file == tmp_path / "y.db"


def test_simulator_lateness_follows_the_windows_and_a_jitter_above_it_names_both_keys() -> None:
    typed = PipelineSettings.from_dict({"windows": {"allowed_lateness_s": 2}})
    assert typed.simulator.allowed_lateness_s == 2.0
    err = error_of({"windows": {"allowed_lateness_s": 0.1}})
    assert err.key == "pipeline.simulator.jitter_ms" and "pipeline.windows.allowed_lateness_s" in str(err)


# Every numeric key of the tree, with a section path; the property below feeds each random values.
NUMERIC_KEYS: list[tuple[str, ...]] = [
    ("shards",),
    ("publish_timeout_s",),
    ("peak_events_per_s",),
    *[
        ("parse", k)
        for k in (
            "dedup_horizon",
            "max_payload_bytes",
            "max_metrics",
            "max_attrs_bytes",
            "max_depth",
            "max_future_skew_s",
            "dead_letter_prefix_bytes",
        )
    ],
    *[
        ("windows", k)
        for k in ("allowed_lateness_s", "idle_timeout_s", "sketch_relative_accuracy", "max_keys")
    ],
    ("persist", "write_timeout_s"),
    ("persist", "batch_size"),
    ("spout", "batch_size"),
    ("sqlite", "busy_timeout_s"),
    ("sqlite", "max_in_flight"),
    ("dlq", "max_in_flight"),
    ("alerts", "max_in_flight"),
    *[("alerts", "anomaly", k) for k in ("alpha", "z", "min_samples")],
    *[
        ("simulator", k)
        for k in (
            "seed",
            "tenants",
            "devices",
            "rate",
            "duration_s",
            "partitions",
            "bad_ratio",
            "dup_ratio",
            "late_ratio",
            "alarm_ratio",
            "start_ms",
            "jitter_ms",
            "late_margin_s",
            "allowed_lateness_s",
        )
    ],
    *[
        ("kafka", f.name)
        for f in KafkaSettings.__dataclass_fields__.values()
        if isinstance(f.default, int | float) and not isinstance(f.default, bool)
    ],
    *[
        ("cassandra", f.name)
        for f in CassandraSettings.__dataclass_fields__.values()
        if isinstance(f.default, int | float) and not isinstance(f.default, bool)
    ],
]

values = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.integers(min_value=-5, max_value=200_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1, max_value=2),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    return dict(out)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(NUMERIC_KEYS), values)
def test_any_value_of_a_numeric_key_validates_or_is_a_config_error_naming_it(
    path: tuple[str, ...], value: Any
) -> None:
    key = "pipeline." + ".".join(path)
    try:
        typed = PipelineSettings.from_dict(_nest(path, value))
    except ConfigError as exc:
        assert key in str(exc), str(exc)
        return
    assert isinstance(typed, PipelineSettings)
    if value is not None:  # only a number (never a boolean, text or list), and never NaN or infinity
        assert isinstance(value, int | float) and not isinstance(value, bool)
        assert not isinstance(value, float) or math.isfinite(value)


def test_a_hand_built_project_validates_like_a_loaded_one(tmp_path: Path) -> None:
    raw = json.loads((ROOT / "config.json").read_text())
    project = Project(root=tmp_path, raw=raw)
    assert PipelineSettings.from_dict(pipeline_settings(project, "prod")).kafka.bootstrap_servers


def test_the_settings_reference_documents_every_key() -> None:
    from squall.pipeline.alerting import ANOMALY_KEYS
    from squall.pipeline.alerting import KEYS as ALERT_KEYS
    from squall.pipeline.settings import (
        TOP_LEVEL_KEYS,
        DlqSettings,
        ParseSettings,
        PersistSettings,
        SpoutSettings,
        SqliteSettings,
    )
    from squall.pipeline.simulator import SimulatorSettings
    from squall.windowing.definitions import KEYS as WINDOW_KEYS

    doc = (ROOT / "docs" / "settings.md").read_text()
    keys = [*TOP_LEVEL_KEYS, *WINDOW_KEYS, *ALERT_KEYS, *(f"anomaly.{k}" for k in ANOMALY_KEYS)]
    keys += [*ParseSettings.__dataclass_fields__, *SimulatorSettings.__dataclass_fields__]
    for name, cls in (("persist", PersistSettings), ("spout", SpoutSettings), ("dlq", DlqSettings)):
        keys += [f"{name}.{k}" for k in cls.__dataclass_fields__]
    keys += [f"sqlite.{k}" for k in SqliteSettings.__dataclass_fields__]
    missing = [k for k in keys if not any(f in doc for f in (f"`{k}`", f"`pipeline.{k}`", f"`{k}."))]
    assert not missing, f"docs/settings.md does not document {missing}"


@pytest.mark.parametrize(
    ("top", "env", "key"),
    [
        ({}, {"kafka": {"port": 1}}, "envs.dev.pipeline.kafka.port"),
        (
            {"windows": {"definitions": [{"length_s": 10}]}},
            {"windows": {"definitions": [{"length_s": -1}]}},
            "envs.dev.pipeline.windows.definitions[0].length_s",
        ),
        ({"parse": {"max_metrics": 0}}, {"parse": {"max_depth": 3}}, "pipeline.parse.max_metrics"),
    ],
)
def test_an_error_in_an_envs_override_is_named_where_the_env_sets_it(
    tmp_path: Path, top: dict[str, Any], env: dict[str, Any], key: str
) -> None:
    from squall.pipeline.settings import for_env

    project = Project(root=tmp_path, raw={"pipeline": top, "envs": {"dev": {"pipeline": env}}})
    with pytest.raises(ConfigError) as err:
        for_env(pipeline_settings(project, "dev"), project, "dev")
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ") and "(fix: " in str(err.value)
