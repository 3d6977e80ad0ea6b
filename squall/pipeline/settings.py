"""Reading the pipeline settings (`conf["squall.pipeline"]`, from config.json `pipeline`) the same way everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.config import CONFIG_FILE, PIPELINE_CONF_KEY
from squall.errors import ConfigError

DEFAULT_SQLITE_PATH = ".state/squall.db"


@dataclass(frozen=True)
class Topics:
    events: str = "iot.events"
    dlq: str = "iot.dlq"
    alerts: str = "iot.alerts"


def from_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline settings a component got in its Storm conf; ConfigError if the runner did not pass them."""
    settings = conf.get(PIPELINE_CONF_KEY)
    if not isinstance(settings, Mapping):
        raise ConfigError(
            PIPELINE_CONF_KEY,
            "is missing from the topology conf",
            "run with `squall run` or `sparse submit` from the project root so config.json's pipeline section is passed",
        )
    return dict(settings)


def section(settings: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = settings.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"pipeline.{name}", f"must be an object, got {type(value).__name__}")
    return dict(value)


def topics(settings: Mapping[str, Any]) -> Topics:
    """Topic names: `pipeline.kafka.{events,dlq,alerts}_topic` (shared with the Kafka side), defaults iot.*."""
    kafka = section(settings, "kafka")
    return Topics(
        events=str(kafka.get("events_topic", Topics.events)),
        dlq=str(kafka.get("dlq_topic", Topics.dlq)),
        alerts=str(kafka.get("alerts_topic", Topics.alerts)),
    )


def sqlite_path(settings: Mapping[str, Any]) -> Path:
    """`pipeline.sqlite.path`; a relative path is relative to the project root (config.json's folder), so every
    task finds the same file whatever its working directory (process-mode tasks run in a staged resources dir)."""
    raw = section(settings, "sqlite").get("path", DEFAULT_SQLITE_PATH)
    path = Path(str(raw)).expanduser()
    if path.is_absolute():
        return path
    root = settings.get("project_root")
    if root:
        return Path(str(root)) / path
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder / path
    return here / path
