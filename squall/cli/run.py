"""`squall run`: run a streamparse topology locally, without a JVM, with Storm's semantics."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import nullcontext

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
) -> None:
    """Run topology NAME (a file in config.json's topology_specs) until stopped (Ctrl-C), --duration or --until-idle."""
    from squall.pipeline.stores import check_credentials
    from squall.runner.session import execute, plan
    from squall.runner.view import LiveView, format_summary

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    project = load_project()
    the_plan = plan(project, name, env, parse_assignments(pars, "--par"), parse_assignments(options, "-o"))
    check_credentials(the_plan.conf.get(PIPELINE_CONF_KEY) or {})
    live = not as_json and sys.stdout.isatty()
    view = LiveView() if live else None
    with view if view is not None else nullcontext():
        summary, _ = execute(
            the_plan,
            inline=inline,
            duration=duration,
            until_idle=until_idle,
            seed=seed,
            on_step=view,
            drain_secs=drain,
        )
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        click.echo(format_summary(summary))
    if summary.failed:  # a task kept dying: the run gave up on it
        sys.exit(1)
