"""The reference pipeline's settings as one typed, validated tree: `PipelineSettings`.

config.json `pipeline` (deep-merged with `envs.<env>.pipeline`) is validated into it once where a run is planned
(`squall run`) or a topology submitted (`sparse submit`, `sparse run`), so a bad value stops the command before
any task starts. Components still receive the raw section through the Storm conf (`squall.pipeline`, JSON, so
it survives Storm); `from_conf(conf)` turns it back into a PipelineSettings in microseconds, and every reader
takes its values from that object. Every key, its type, default and range: docs/settings.md.

Each section is one frozen object: `parse`, `windows` (squall.windowing.definitions.WindowSettings), `routing`,
`alerts`, `persist`, `spout`, `sqlite`, `simulator` (squall.pipeline.simulator.SimulatorSettings), `dlq`,
`kafka` (squall.kafka.settings.KafkaSettings) and `cassandra` (squall.cassandra.settings.CassandraSettings);
the Kafka and Cassandra modules own their key lists (their dataclass fields), so a field added there is a key.
An unknown key anywhere is a ConfigError suggesting the closest valid one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from squall import checks
from squall.cassandra.settings import CassandraSettings
from squall.config import CONFIG_FILE, PIPELINE_CONF_KEY, Project
from squall.errors import ConfigError
from squall.kafka.settings import KafkaSettings
from squall.pipeline.alerting import AlertRules, parse_alert_rules
from squall.pipeline.routing import Rule, parse_rules
from squall.pipeline.simulator import SimulatorSettings
from squall.secrets import secret_ref
from squall.windowing.definitions import WindowSettings, parse_window_settings

DEFAULT_SQLITE_PATH = ".state/squall.db"
SOURCES = ("simulator", "kafka")
SINKS = ("sqlite", "cassandra")
PUBLISHERS = ("embedded", "kafka")
MAX_TIMEOUT_S = 86_400.0  # a day: a longer wait on one write or publish is certainly a unit mistake
MAX_BYTES = 2**31 - 1


@dataclass(frozen=True)
class Topics:
    events: str = "iot.events"
    dlq: str = "iot.dlq"
    alerts: str = "iot.alerts"


@dataclass(frozen=True)
class ParseSettings:
    """`pipeline.parse`: the event contract's limits and the producer-duplicate horizon."""

    dedup_horizon: int = 10_000  # event ids remembered to drop producer duplicates
    max_payload_bytes: int = 65_536
    max_metrics: int = 64
    max_attrs_bytes: int = 4_096
    max_depth: int = 32  # nesting of a payload
    max_future_skew_s: float = 300.0  # events further ahead of the wall clock are dead-lettered (future_ts)
    dead_letter_prefix_bytes: int = 4_096  # bytes of an oversized payload kept in its dead letter

    @classmethod
    def from_section(cls, raw: Any) -> ParseSettings:
        where = "pipeline.parse"
        section = _section(raw, cls, where)
        d = cls()
        return cls(
            dedup_horizon=checks.integer(
                section.get("dedup_horizon", d.dedup_horizon), f"{where}.dedup_horizon", 1, 100_000_000
            ),
            max_payload_bytes=checks.integer(
                section.get("max_payload_bytes", d.max_payload_bytes),
                f"{where}.max_payload_bytes",
                1,
                MAX_BYTES,
            ),
            max_metrics=checks.integer(
                section.get("max_metrics", d.max_metrics), f"{where}.max_metrics", 1, 1_000_000
            ),
            max_attrs_bytes=checks.integer(
                section.get("max_attrs_bytes", d.max_attrs_bytes), f"{where}.max_attrs_bytes", 1, MAX_BYTES
            ),
            max_depth=checks.integer(section.get("max_depth", d.max_depth), f"{where}.max_depth", 1, 1000),
            max_future_skew_s=checks.number(
                section.get("max_future_skew_s", d.max_future_skew_s),
                f"{where}.max_future_skew_s",
                0,
                unit="seconds",
            ),
            dead_letter_prefix_bytes=checks.integer(
                section.get("dead_letter_prefix_bytes", d.dead_letter_prefix_bytes),
                f"{where}.dead_letter_prefix_bytes",
                0,
                1_048_576,
            ),
        )


@dataclass(frozen=True)
class RoutingSettings:
    """`pipeline.routing`: the rules deciding which of route's streams an event goes to."""

    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AlertsSettings:
    """`pipeline.alerts`: the rules, and how many alert batches may wait for the broker's acknowledgement."""

    rules: AlertRules = AlertRules()
    max_in_flight: int = 256


@dataclass(frozen=True)
class DlqSettings:
    """`pipeline.dlq`: how many dead letters may wait for the broker's acknowledgement."""

    max_in_flight: int = 256


@dataclass(frozen=True)
class PersistSettings:
    """`pipeline.persist`: records written together, and the bounded wait on a write."""

    write_timeout_s: float = 30.0
    batch_size: int = 500


@dataclass(frozen=True)
class SpoutSettings:
    """`pipeline.spout`: most messages the event spout takes per next_tuple."""

    batch_size: int = 1000


@dataclass(frozen=True)
class SqliteSettings:
    """`pipeline.sqlite`: the embedded store (path relative to the project root)."""

    path: str = DEFAULT_SQLITE_PATH
    busy_timeout_s: float = 30.0
    max_in_flight: int = 64


def _max_in_flight(section: Mapping[str, Any], where: str, default: int) -> int:
    return checks.integer(section.get("max_in_flight", default), f"{where}.max_in_flight", 1, 1_000_000)


def _timeout(section: Mapping[str, Any], key: str, where: str, default: float) -> float:
    return checks.number(
        section.get(key, default), f"{where}.{key}", 0, MAX_TIMEOUT_S, lo_open=True, unit="seconds"
    )


def _section(raw: Any, cls: type, where: str) -> Mapping[str, Any]:
    """`raw` as an object whose keys are all fields of the dataclass `cls`."""
    section = checks.obj(raw, where)
    checks.check_keys(section, [f.name for f in fields(cls)], where)
    return section


def _adapter_section(raw: Any, cls: type, where: str) -> Mapping[str, Any]:
    """A Kafka or Cassandra section checked before its own module validates it: keys (its dataclass fields, with
    a suggestion for a typo) and finite numbers (the JSON module accepts NaN and Infinity)."""
    if isinstance(raw, Mapping) and "password" in raw:
        secret_ref(raw, "password", where)  # a literal password: refused with how to give it instead
    section = _section(raw, cls, where)
    for key, value in section.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                finite = math.isfinite(float(value))
            except OverflowError:  # an integer beyond any float
                finite = False
            if not finite:
                raise ConfigError(f"{where}.{key}", f"{value!r} is not valid", "use a finite number")
    return section


TOP_LEVEL_KEYS = (
    "source",
    "sink",
    "publisher",
    "publish_timeout_s",
    "peak_events_per_s",
    "shards",
    "project_root",  # set by squall: the folder of config.json, so tasks resolve relative paths against it
    "parse",
    "windows",
    "routing",
    "alerts",
    "persist",
    "spout",
    "sqlite",
    "simulator",
    "dlq",
    "kafka",
    "cassandra",
)


MAX_SHARDS = 4096


@dataclass(frozen=True)
class PipelineSettings:
    """config.json `pipeline`, validated: one frozen object per section (see the module docstring)."""

    source: str = "simulator"
    sink: str = "sqlite"
    publisher: str = "embedded"  # default: "kafka" when the source is kafka
    publish_timeout_s: float = 30.0
    peak_events_per_s: float | None = None
    shards: int | None = None  # None: as many as the topology needs (tuples.shards_for)
    project_root: str | None = None
    parse: ParseSettings = ParseSettings()
    windows: WindowSettings = field(default_factory=lambda: parse_window_settings(None))
    routing: RoutingSettings = field(default_factory=lambda: RoutingSettings(tuple(parse_rules(None))))
    alerts: AlertsSettings = AlertsSettings()
    persist: PersistSettings = PersistSettings()
    spout: SpoutSettings = SpoutSettings()
    sqlite: SqliteSettings = SqliteSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    dlq: DlqSettings = DlqSettings()
    kafka: KafkaSettings = KafkaSettings()
    cassandra: CassandraSettings = field(default_factory=CassandraSettings)

    @classmethod
    def of(cls, settings: PipelineSettings | Mapping[str, Any]) -> PipelineSettings:
        """`settings` itself when typed already, else the `pipeline` dict validated."""
        if isinstance(settings, PipelineSettings):
            return settings
        return cls.from_dict(settings)

    @classmethod
    def from_dict(cls, raw: Any) -> PipelineSettings:
        """Validate a whole `pipeline` section; ConfigError names the first bad key, its value and the fix."""
        where = "pipeline"
        pipeline = checks.obj(raw, where)
        checks.check_keys(pipeline, TOP_LEVEL_KEYS, where)
        source = checks.choice(pipeline.get("source", "simulator"), f"{where}.source", SOURCES)
        peak = pipeline.get("peak_events_per_s")
        root = pipeline.get("project_root")
        windows = parse_window_settings(pipeline.get("windows"))
        alerts = checks.obj(pipeline.get("alerts"), f"{where}.alerts")
        dlq = _section(pipeline.get("dlq"), DlqSettings, f"{where}.dlq")
        persist = _section(pipeline.get("persist"), PersistSettings, f"{where}.persist")
        spout = _section(pipeline.get("spout"), SpoutSettings, f"{where}.spout")
        sqlite = _section(pipeline.get("sqlite"), SqliteSettings, f"{where}.sqlite")
        kafka = _adapter_section(pipeline.get("kafka"), KafkaSettings, f"{where}.kafka")
        cassandra = _adapter_section(pipeline.get("cassandra"), CassandraSettings, f"{where}.cassandra")
        # relative file paths of the Kafka and Cassandra sections (password_file, ssl_*file) are the project's
        root_path = Path(root) if isinstance(root, str) and root else None
        return cls(
            source=source,
            sink=checks.choice(pipeline.get("sink", "sqlite"), f"{where}.sink", SINKS),
            publisher=checks.choice(
                pipeline.get("publisher", "kafka" if source == "kafka" else "embedded"),
                f"{where}.publisher",
                PUBLISHERS,
            ),
            publish_timeout_s=_timeout(pipeline, "publish_timeout_s", where, 30.0),
            peak_events_per_s=None
            if peak is None
            else checks.number(peak, f"{where}.peak_events_per_s", 0, lo_open=True, unit="events/s"),
            shards=None
            if pipeline.get("shards", "auto") == "auto"
            else checks.integer(pipeline["shards"], f"{where}.shards", 1, MAX_SHARDS),
            project_root=None if root is None else checks.text(root, f"{where}.project_root"),
            parse=ParseSettings.from_section(pipeline.get("parse")),
            windows=windows,
            routing=RoutingSettings(tuple(parse_rules(pipeline.get("routing")))),
            alerts=AlertsSettings(parse_alert_rules(alerts), _max_in_flight(alerts, f"{where}.alerts", 256)),
            persist=PersistSettings(
                write_timeout_s=_timeout(persist, "write_timeout_s", f"{where}.persist", 30.0),
                batch_size=checks.integer(
                    persist.get("batch_size", 500), f"{where}.persist.batch_size", 1, 10_000
                ),
            ),
            spout=SpoutSettings(
                checks.integer(spout.get("batch_size", 1000), f"{where}.spout.batch_size", 1, 10_000)
            ),
            sqlite=SqliteSettings(
                path=checks.text(sqlite.get("path", DEFAULT_SQLITE_PATH), f"{where}.sqlite.path"),
                busy_timeout_s=_timeout(sqlite, "busy_timeout_s", f"{where}.sqlite", 30.0),
                max_in_flight=_max_in_flight(sqlite, f"{where}.sqlite", 64),
            ),
            simulator=SimulatorSettings.from_settings(
                {
                    "simulator": pipeline.get("simulator"),
                    "windows": {"allowed_lateness_s": windows.allowed_lateness_ms / 1000},
                }
            ),
            dlq=DlqSettings(_max_in_flight(dlq, f"{where}.dlq", 256)),
            kafka=KafkaSettings.from_section(kafka, root_path),
            cassandra=CassandraSettings.from_section(cassandra, root_path),
        )

    @property
    def topics(self) -> Topics:
        """Topic names: `pipeline.kafka.{events,dlq,alerts}_topic` (shared with the Kafka side)."""
        return Topics(self.kafka.events_topic, self.kafka.dlq_topic, self.kafka.alerts_topic)

    @property
    def sqlite_file(self) -> Path:
        """`pipeline.sqlite.path`; a relative path is relative to the project root (config.json's folder), so
        every task finds the same file whatever its working directory (process-mode tasks run in a staged
        resources dir)."""
        path = Path(self.sqlite.path).expanduser()
        if path.is_absolute():
            return path
        if self.project_root:
            return Path(self.project_root) / path
        here = Path.cwd().resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).is_file():
                return folder / path
        return here / path


def for_env(merged: Mapping[str, Any], project: Project, env_name: str) -> PipelineSettings:
    """Validate `merged`, the env's pipeline (config.json `pipeline` deep-merged with `envs.<env>.pipeline`).
    An error about a value the env sets names it there (`envs.dev.pipeline.kafka.port`), where the user
    will look for it."""
    try:
        return PipelineSettings.from_dict(merged)
    except ConfigError as exc:
        _, env = project.env(env_name)
        override = env.get("pipeline")
        if (
            isinstance(override, Mapping)
            and exc.key.startswith("pipeline.")
            and _holds(override, exc.key[9:])
        ):
            raise ConfigError(f"envs.{env_name}.{exc.key}", exc.message, exc.fix) from exc
        raise


def _holds(section: Mapping[str, Any], path: str) -> bool:
    """Whether `section` sets the dotted `path` (list items as `name[i]`)."""
    node: Any = section
    for part in path.split("."):
        name, *indices = part.replace("]", "").split("[")
        if not isinstance(node, Mapping) or name not in node:
            return False
        node = node[name]
        for index in indices:
            if not isinstance(node, list) or not index.isdigit() or int(index) >= len(node):
                return False
            node = node[int(index)]
    return True


def from_conf(conf: Mapping[str, Any]) -> PipelineSettings:
    """The pipeline settings a component got in its Storm conf, typed; ConfigError if the runner did not pass
    them (or, for a conf built by hand, if a value is invalid)."""
    settings = conf.get(PIPELINE_CONF_KEY)
    if not isinstance(settings, Mapping):
        raise ConfigError(
            PIPELINE_CONF_KEY,
            "is missing from the topology conf",
            "run with `squall run` or `sparse submit` from the project root so config.json's pipeline section is passed",
        )
    return PipelineSettings.from_dict(settings)


def topics(settings: PipelineSettings | Mapping[str, Any]) -> Topics:
    """Topic names: `pipeline.kafka.{events,dlq,alerts}_topic` (shared with the Kafka side), defaults iot.*."""
    return PipelineSettings.of(settings).topics


def sqlite_path(settings: PipelineSettings | Mapping[str, Any]) -> Path:
    """`pipeline.sqlite.path`, resolved against the project root (see PipelineSettings.sqlite_file)."""
    return PipelineSettings.of(settings).sqlite_file
