"""`squall storm`: what a deployed topology runs as, asked of Nimbus. Deploying stays `sparse submit|run|kill`.

squall storm info iot_pipeline -e dev     # executors per component, workers, the options that matter
squall storm rebalance iot_pipeline -e cluster -w 10 -n 1 -x aggregate=1   # Storm's `storm rebalance`
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


def _running(name: str, env: str | None) -> tuple[Any, str]:
    """A Nimbus client for the env and the id of its running topology NAME (ConfigError naming the fix)."""
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
    return client, topo_id


def parse_executors(values: tuple[str, ...], components: Mapping[str, int]) -> dict[str, int]:
    """`-x component=N` options as {component: N}; ConfigError naming the bad one. A component must exist and
    N must not exceed its tasks (Storm fixes a component's tasks at submit; executors run 1..tasks of them)."""
    out: dict[str, int] = {}
    for value in values:
        component, sep, count = value.partition("=")
        if not sep or not count.strip().isdigit() or int(count) < 1:
            raise ConfigError(f"-x {value}", "expected COMPONENT=N with N >= 1", "e.g. -x aggregate=2")
        component = component.strip()
        if component not in components:
            raise ConfigError(
                f"-x {value}",
                f"the topology has no component {component!r}",
                f"use one of {', '.join(sorted(c for c in components if not c.startswith('__')))}",
            )
        if int(count) > components[component]:
            raise ConfigError(
                f"-x {value}",
                f"{component} has {components[component]} task(s), so at most {components[component]} executor(s)",
                "submit with a higher parallelism (or `topology.tasks` in the component's config) to grow past it",
            )
        out[component] = int(count)
    return out


@storm.command()
@click.argument("name")
@click.option("-e", "--environment", "env", default=None, help="config.json env whose nimbus to ask.")
def info(name: str, env: str | None) -> None:
    """Executors per component, workers and key options of the running topology NAME."""
    from squall.storm import nimbus

    client, topo_id = _running(name, env)
    click.echo(
        format_info(
            name,
            topo_id,
            nimbus.worker_count(client, topo_id),
            nimbus.executor_counts(client, topo_id),
            nimbus.topology_conf(client, topo_id),
        )
    )


@storm.command()
@click.argument("name")
@click.option("-e", "--environment", "env", default=None, help="config.json env whose nimbus to ask.")
@click.option(
    "-w",
    "--wait",
    "wait_secs",
    type=click.IntRange(min=0),
    default=None,
    help="Seconds to deactivate the topology before redistributing (default: its message timeout, as Storm).",
)
@click.option(
    "-n", "--num-workers", "workers", type=click.IntRange(min=1), default=None, help="New worker count."
)
@click.option(
    "-x",
    "--executors",
    "executors",
    multiple=True,
    metavar="COMPONENT=N",
    help="New executor count of a component (repeatable; Storm's `-e`, which is the env here as in sparse).",
)
def rebalance(
    name: str, env: str | None, wait_secs: int | None, workers: int | None, executors: tuple[str, ...]
) -> None:
    """Redistribute the running topology NAME, as `storm rebalance` does: deactivate for the wait, then
    reassign its executors over `-n` workers with `-x` executors per component. Events in flight are replayed."""
    from streamparse.thrift import RebalanceOptions

    from squall.storm import nimbus

    client, topo_id = _running(name, env)
    tasks = nimbus.task_counts(client, topo_id)
    counts = parse_executors(executors, tasks)
    options = RebalanceOptions(wait_secs=wait_secs, num_workers=workers, num_executors=counts or None)
    client.rebalance(name, options)
    what = [f"{workers} worker(s)"] if workers else []
    what += [f"{c}={n}" for c, n in sorted(counts.items())]
    wait = "its message timeout" if wait_secs is None else f"{wait_secs} s"
    click.echo(f"rebalancing {name} ({topo_id}) after {wait}: {', '.join(what) or 'same parallelism'}")
