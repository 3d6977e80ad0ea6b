"""One local run, start to finish: resolve settings (nothing runs if they are wrong), stage resources,
run the cluster, drain, stop, summarise. `squall run` and `squall.testing.run_topology` both use it."""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.clock import Clock
from squall.config import PIPELINE_CONF_KEY, Project, resolve_options, resolve_parallelism
from squall.pipeline.settings import for_env
from squall.resources import stage_resources
from squall.runner.cluster import Cluster, Summary
from squall.runner.graph import Graph, build_graph, topology_config, topology_parallelism
from squall.runner.loader import activate_project, load_topology
from squall.runner.metrics import DEFAULT_WINDOW_SECS


@dataclass
class Plan:
    name: str
    topology: type
    graph: Graph
    conf: dict[str, Any]
    serializer: str
    project: Project | None


def plan(
    project: Project,
    name: str | None,
    env: str | None,
    cli_par: Mapping[str, str] | None = None,
    cli_options: Mapping[str, str] | None = None,
) -> Plan:
    """Load and validate everything for a run of topology `name` in `env`. Raises ConfigError/TopologyError."""
    name, topology = load_topology(project, name)
    return plan_for(topology, project, env, cli_par, cli_options, name=name)


def plan_for(
    topology: type,
    project: Project | None,
    env: str | None,
    cli_par: Mapping[str, str] | None = None,
    cli_options: Mapping[str, str] | None = None,
    name: str | None = None,
    extra_conf: Mapping[str, Any] | None = None,
) -> Plan:
    env_name = env
    declared = topology_parallelism(topology, env_name)
    if project is not None:
        env_name, _ = project.env(env)
        par = resolve_parallelism(declared, project, env_name, cli_par)
        conf = resolve_options(topology_config(topology), project, env_name, cli_options)
        for_env(conf[PIPELINE_CONF_KEY], project, env_name)  # a bad pipeline setting stops the run here
        serializer = project.serializer
        activate_project(project)
    else:
        par = dict(declared)
        for comp, value in (cli_par or {}).items():
            par[comp] = int(value)
        conf = topology_config(topology)
        serializer = "json"
    if extra_conf:
        conf.update(extra_conf)
    name = name or topology.__name__
    conf.setdefault("topology.name", name)
    graph = build_graph(topology, par, name=name, env=env_name)
    return Plan(name, topology, graph, conf, serializer, project)


def execute(
    plan: Plan,
    *,
    inline: bool = False,
    duration: float | None = None,
    until_idle: float | None = None,
    seed: int | None = None,
    clock: Clock | None = None,
    capture: bool = False,
    serializer: str | None = None,
    resources: Path | None = None,
    extra_resources: list[Path] | None = None,
    stop_when: Callable[[Cluster], bool] | None = None,
    on_step: Callable[[Cluster], None] | None = None,
    drain_secs: float = 5.0,
    on_cluster: Callable[[Cluster], None] | None = None,
    stop_signals: tuple[int, ...] = (),
    window_secs: float | None = None,
) -> tuple[Summary, Cluster]:
    """Run `plan` and return its summary (and the stopped cluster, for its captured emits/logs).

    `stop_signals` (e.g. SIGINT, SIGTERM; main thread only): the first of them stops the run as Ctrl-C does
    (spouts deactivated, in-flight tuples drained, summary, reason "interrupted"); another one during the
    drain cuts it short. `window_secs`: the window of capacity and rates (squall.runner.metrics).
    """
    with tempfile.TemporaryDirectory(prefix="squall-resources-") as tmp:
        if resources is None:
            if plan.project is not None:
                resources = stage_resources(plan.project, Path(tmp) / "resources", link=True)
            else:
                resources = Path.cwd()
        for extra in extra_resources or []:
            # e.g. Storm's storm.py / storm.js, which the multilang jars put in resources/
            target = resources / extra.name
            if not target.exists():
                shutil.copy2(extra, target)
        cluster = Cluster(
            plan.graph,
            plan.conf,
            resources=resources,
            serializer=serializer or plan.serializer,
            inline=inline,
            clock=clock,
            seed=seed,
            capture=capture,
            window_secs=DEFAULT_WINDOW_SECS if window_secs is None else window_secs,
        )
        if on_cluster is not None:
            on_cluster(cluster)
        signalled: list[int] = []
        previous = _catch(stop_signals, signalled)
        until = stop_when
        if stop_signals:

            def until(c: Cluster) -> bool:
                return bool(signalled) or (stop_when is not None and stop_when(c))

        reason = "interrupted"
        try:
            cluster.start()
            try:
                reason = cluster.run(
                    duration=duration, until_idle=until_idle, stop_when=until, on_step=on_step
                )
            except KeyboardInterrupt:
                reason = "interrupted"
            if signalled:
                reason = "interrupted"
            if reason != "fatal":
                try:
                    cluster.drain(drain_secs)
                except KeyboardInterrupt:
                    pass  # a second signal: stop draining
        finally:
            cluster.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return cluster.summary(reason), cluster


def _catch(signals: tuple[int, ...], signalled: list[int]) -> dict[int, Any]:
    """Handlers for `signals` that note the first one (the run loop sees it between steps) and raise
    KeyboardInterrupt on the next (to cut a drain short). Returns the handlers they replace."""
    if not signals or threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: Any) -> None:
        if signalled:
            raise KeyboardInterrupt
        signalled.append(signum)

    return {signum: signal.signal(signum, handler) for signum in signals}
