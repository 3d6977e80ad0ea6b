"""`squall storm`: what a deployed topology runs as, asked of Nimbus. Deploying stays `sparse submit|run|kill`.

squall storm info iot_pipeline -e dev     # executors per component, workers, the options that matter
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from squall.config import load_project
from squall.errors import ConfigError

SHOWN_OPTIONS = (
    "topology.workers",
    "topology.acker.executors",
    "topology.max.spout.pending",
    "topology.message.timeout.secs",
    "topology.multilang.serializer",
)


def format_info(
    name: str, topo_id: str, workers: int, executors: Mapping[str, int], conf: Mapping[str, Any]
) -> str:
    lines = [f"{name} ({topo_id}): {workers} worker(s)", "executors:"]
    lines += [f"  {component}: {count}" for component, count in sorted(executors.items())]
    lines.append("options:")
    lines += [f"  {key}: {conf.get(key)!r}" for key in SHOWN_OPTIONS]
    return "\n".join(lines)


@click.group()
def storm() -> None:
    """Inspect topologies on a Storm cluster (deploy with `sparse submit`; see docs/deploy.md)."""


@storm.command()
@click.argument("name")
@click.option("-e", "--environment", "env", default=None, help="config.json env whose nimbus to ask.")
def info(name: str, env: str | None) -> None:
    """Executors per component, workers and key options of the running topology NAME."""
    from squall.storm import nimbus

    env_name, env_config = load_project().env(env)
    address = env_config.get("nimbus")
    if not address:
        raise ConfigError(
            f"envs.{env_name}.nimbus", "no Nimbus is configured", "pass -e with an env that sets nimbus"
        )
    client = nimbus.client(str(address))
    topo_id = nimbus.topology_id(client, name)
    if topo_id is None:
        raise ConfigError("NAME", f"no topology {name!r} runs on {address}", "check `sparse list -e ENV`")
    click.echo(
        format_info(
            name,
            topo_id,
            nimbus.worker_count(client, topo_id),
            nimbus.executor_counts(client, topo_id),
            nimbus.topology_conf(client, topo_id),
        )
    )
