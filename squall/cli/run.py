"""`squall run`: run a streamparse topology locally, without a JVM, with Storm's semantics."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from squall.cli.completion import component_assignments, env_names, topology_names
from squall.config import PIPELINE_CONF_KEY, load_project, load_project_file, parse_assignments
from squall.errors import ConfigError


@click.command()
@click.argument("name", required=False, shell_complete=topology_names)
@click.option(
    "-e",
    "--environment",
    "env",
    help="Env of config.json to take parallelism/options/pipeline from (needed when it has several).",
    shell_complete=env_names,
)
@click.option("--inline", is_flag=True, help="Host Python components in this process (debuggers work).")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option(
    "--until-idle", type=float, help="Stop once no spout emitted and nothing was pending this long."
)
@click.option(
    "--par",
    "pars",
    multiple=True,
    metavar="COMPONENT=N",
    help="Override a component's parallelism.",
    shell_complete=component_assignments,
)
@click.option(
    "-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Override a Storm option."
)
@click.option("--seed", type=int, help="Seed for shuffles and edge ids (inline runs are then deterministic).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--drain", type=float, default=5.0, show_default=True, help="Max seconds to drain on stop.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show components' info logs (default: warnings and errors)."
)
@click.option(
    "-n",
    "--name",
    "name_option",
    help="The topology to run (as `sparse run -n`; same as NAME).",
    shell_complete=topology_names,
)
@click.option(
    "-t", "--time", "time_secs", type=int, help="Seconds to run, as `sparse run -t` (<= 0: until stopped)."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Path of the config.json to use (as `sparse --config`).",
)
@click.option(
    "-d", "--debug", is_flag=True, help="Set topology.debug: log every emitted tuple, as Storm does."
)
@click.option("-a", "--ackers", type=int, help="Set topology.acker.executors (0: no acking).")
@click.option(
    "-w", "--workers", type=int, help="Set topology.workers (one process locally; kept in the conf)."
)
@click.option("--ui", is_flag=True, help="Serve the topology's web page (Storm UI's) while it runs.")
@click.option("--ui-port", type=int, default=8090, show_default=True, help="Port of --ui (on --ui-host).")
@click.option("--ui-host", default="127.0.0.1", show_default=True, help="Address --ui listens on.")
@click.option(
    "--status-interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="stdout not a terminal: a status line (JSON with --json) to stderr every this many seconds.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr: timestamped text, or one JSON object per line.",
)
@click.option(
    "--window",
    type=click.FloatRange(min=1.0),
    default=10.0,
    show_default=True,
    help="Seconds of the sliding window capacity and rates are measured over.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    help="Serve Prometheus /metrics on this port for the whole run (0: any free port, printed).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address /metrics listens on.")
def run(
    name: str | None,
    env: str | None,
    inline: bool,
    duration: float | None,
    until_idle: float | None,
    pars: tuple[str, ...],
    options: tuple[str, ...],
    seed: int | None,
    as_json: bool,
    drain: float,
    verbose: bool,
    status_interval: float,
    log_format: str,
    window: float,
    metrics_port: int | None,
    metrics_host: str,
    name_option: str | None,
    time_secs: int | None,
    config_file: str | None,
    debug: bool,
    ackers: int | None,
    workers: int | None,
    ui: bool = False,
    ui_port: int = 8090,
    ui_host: str = "127.0.0.1",
) -> None:
    """Run topology NAME (a file in config.json's topology_specs) until stopped (Ctrl-C or SIGTERM: both drain
    and summarise), --duration or --until-idle."""
    from squall.observe.logs import configure_logging
    from squall.pipeline.stores import check_credentials
    from squall.runner.session import execute, plan
    from squall.runner.view import LiveView, StatusLines, format_summary

    configure_logging(logging.INFO if verbose else logging.WARNING, log_format)
    from squall.runner.debug import TUPLE_LOGGER, is_debug

    name = sparse_name(name, name_option)
    duration = sparse_duration(duration, time_secs)
    project = load_project_file(Path(config_file)) if config_file else load_project()
    cli_options = sparse_options(debug, ackers, workers)
    cli_options.update(parse_assignments(options, "-o"))
    the_plan = plan(project, name, env, parse_assignments(pars, "--par"), cli_options)
    if is_debug(the_plan.conf):
        logging.getLogger(TUPLE_LOGGER).setLevel(logging.INFO)
    check_credentials(the_plan.conf.get(PIPELINE_CONF_KEY) or {})
    tty = sys.stdout.isatty()
    live = not as_json and tty
    view: Any = (
        LiveView() if live else StatusLines(sys.stderr, status_interval, as_json or log_format == "json")
    )
    collector: Any = None
    exporter: Any = None
    if metrics_port is not None:  # bound before anything runs: a port in use stops here
        from squall.observe.prometheus import Exporter, RunCollector

        collector = RunCollector()
        exporter = Exporter(collector, metrics_host, metrics_port)
        click.echo(f"Prometheus metrics at {exporter.url}", err=True)

    def serve_metrics(cluster: Any) -> None:
        if collector is not None:
            collector.cluster = cluster

    web = local_ui(ui, ui_host, ui_port, the_plan.conf.get(PIPELINE_CONF_KEY))
    on_step = view if web is None else both(view, web.monitor)
    try:
        with view if live else nullcontext(), web if web is not None else nullcontext():
            summary, _ = execute(
                the_plan,
                inline=inline,
                duration=duration,
                until_idle=until_idle,
                seed=seed,
                on_step=on_step,
                drain_secs=drain,
                on_cluster=serve_metrics,
                stop_signals=(signal.SIGINT, signal.SIGTERM),
                window_secs=window,
            )
    finally:
        if exporter is not None:
            exporter.close()
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        width = shutil.get_terminal_size().columns if tty else None
        click.echo(format_summary(summary, width))
    if summary.failed:  # a task kept dying: the run gave up on it
        sys.exit(1)


def sparse_name(name: str | None, name_option: str | None) -> str | None:
    """NAME or `-n NAME` (sparse's spelling); both, naming different topologies, is an error."""
    if name and name_option and name != name_option:
        raise ConfigError(
            "-n/--name", f"{name_option!r} disagrees with NAME {name!r}", "give the topology name once"
        )
    return name or name_option


def sparse_duration(duration: float | None, time_secs: int | None) -> float | None:
    """`-t N` as `sparse run -t N`: N > 0 stops after N seconds, N <= 0 runs until stopped."""
    if time_secs is None:
        return duration
    if duration is not None:
        raise ConfigError("-t/--time", "given together with --duration", "use one of them")
    return float(time_secs) if time_secs > 0 else None


def sparse_options(debug: bool, ackers: int | None, workers: int | None) -> dict[str, str]:
    """sparse's shorthand flags as the `-o` options they stand for (an explicit `-o` of the same key wins)."""
    out: dict[str, str] = {}
    if debug:
        out["topology.debug"] = "true"
    if ackers is not None:
        out["topology.acker.executors"] = str(ackers)
    if workers is not None:
        out["topology.workers"] = str(workers)
    return out


def local_ui(enabled: bool, host: str, port: int, pipeline: Any) -> Any:
    """`--ui`: the local run's web pages (squall.web), announced on stderr; None without --ui. `pipeline`: the
    run's pipeline settings, whose store the pipeline data page reads."""
    if not enabled:
        return None
    from squall.web.server import LocalUI

    web = LocalUI(host, port, pipeline=pipeline)
    click.echo(f"squall run: topology page at {web.url}", err=True)
    return web


def both(*hooks: Callable[[Any], None]) -> Callable[[Any], None]:
    def call(cluster: Any) -> None:
        for hook in hooks:
            hook(cluster)

    return call
