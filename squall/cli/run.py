"""`squall run`: run a streamparse topology locally, without a JVM, with Storm's semantics."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
from contextlib import nullcontext
from typing import Any

import click

from squall.config import PIPELINE_CONF_KEY, load_project, parse_assignments


@click.command()
@click.argument("name", required=False)
@click.option(
    "-e", "--environment", "env", help="Env of config.json to take parallelism/options/pipeline from."
)
@click.option("--inline", is_flag=True, help="Host Python components in this process (debuggers work).")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option(
    "--until-idle", type=float, help="Stop once no spout emitted and nothing was pending this long."
)
@click.option(
    "--par", "pars", multiple=True, metavar="COMPONENT=N", help="Override a component's parallelism."
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
) -> None:
    """Run topology NAME (a file in config.json's topology_specs) until stopped (Ctrl-C or SIGTERM: both drain
    and summarise), --duration or --until-idle."""
    from squall.observe.logs import configure_logging
    from squall.pipeline.stores import check_credentials
    from squall.runner.session import execute, plan
    from squall.runner.view import LiveView, StatusLines, format_summary

    configure_logging(logging.INFO if verbose else logging.WARNING, log_format)
    project = load_project()
    the_plan = plan(project, name, env, parse_assignments(pars, "--par"), parse_assignments(options, "-o"))
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

    try:
        with view if live else nullcontext():
            summary, _ = execute(
                the_plan,
                inline=inline,
                duration=duration,
                until_idle=until_idle,
                seed=seed,
                on_step=view,
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
