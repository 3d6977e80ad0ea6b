"""`squall tune`: propose (and write) the parallelism per component for a target rate of events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from squall.config import load_project
from squall.errors import ConfigError


@click.command()
@click.argument("name")
@click.option("-e", "--environment", "env", required=True, help="Env of config.json to tune (and --write).")
@click.option(
    "--target-rate",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    metavar="EVENTS_PER_S",
    help="Events a second the topology must take.",
)
@click.option(
    "--from-run",
    "from_run",
    type=click.Path(path_type=Path),
    help="The output of an earlier `squall run NAME -e ENV --json` instead of a new run.",
)
@click.option("--from-cluster", is_flag=True, help="Take the figures of the topology running on Storm.")
@click.option("--ui", default="http://127.0.0.1:8080", show_default=True, help="Storm UI for --from-cluster.")
@click.option(
    "--headroom",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.7,
    show_default=True,
    help="Highest capacity a bolt may have at the target rate.",
)
@click.option("--write", is_flag=True, help="Write envs.ENV.parallelism into config.json (shows the diff).")
@click.option("--json", "as_json", is_flag=True, help="Print the proposal as JSON.")
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="Seconds of the measuring run (no --from-run / --from-cluster).",
)
@click.option("--inline", is_flag=True, help="Measure with an --inline run.")
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Storm option for the measuring run.",
)
@click.option("--partitions", type=click.IntRange(min=1), help="Partitions the source topic has now.")
def tune(
    name: str,
    env: str,
    target_rate: float,
    from_run: Path | None,
    from_cluster: bool,
    ui: str,
    headroom: float,
    write: bool,
    as_json: bool,
    duration: float,
    inline: bool,
    options: tuple[str, ...],
    partitions: int | None,
) -> None:
    """Propose the parallelism per component of topology NAME that keeps every bolt's capacity under
    --headroom at --target-rate events/s, from a measuring `squall run` (the default), an earlier run's JSON
    or the cluster; with --write, set it in config.json."""
    from squall.observe.tune import (
        diff,
        figures_from_cluster,
        figures_from_run,
        format_plan,
        propose,
        read_run,
        set_parallelism,
    )

    if from_run is not None and from_cluster:
        raise ConfigError("--from-run", "given with --from-cluster", "choose one source of figures")
    project = load_project()
    env_name, _ = project.env(env)
    if from_cluster:
        figures = figures_from_cluster(ui, name)
    elif from_run is not None:
        figures = figures_from_run(read_run(from_run))
    else:
        argv = [
            sys.executable,
            "-m",
            "squall",
            "run",
            name,
            "-e",
            env_name,
            "--json",
            "--duration",
            f"{duration:g}",
        ]
        argv += ["--inline"] if inline else []
        for opt in options:
            argv += ["-o", opt]
        click.echo(f"measuring: {' '.join(argv[2:])}", err=True)
        done = subprocess.run(argv, cwd=project.root, capture_output=True, text=True, check=False)
        if done.returncode != 0 or "{" not in done.stdout:
            raise ConfigError(
                "squall run",
                f"the measuring run failed (exit {done.returncode}): {done.stderr.strip()[-500:]}",
                f"make `squall run {name} -e {env_name}` work first",
            )
        figures = figures_from_run(json.loads(done.stdout[done.stdout.index("{") :]))
    plan = propose(name, figures, target_rate, headroom, partitions=partitions)
    click.echo(json.dumps(plan.as_dict(), indent=2) if as_json else format_plan(plan))
    if write:
        path = project.root / "config.json"
        old = path.read_text()
        new = set_parallelism(old, env_name, plan.parallelism())
        if new == old:
            click.echo(f"{path.name}: envs.{env_name}.parallelism already says so", err=True)
        else:
            path.write_text(new)
            click.echo(diff(old, new, path.name), err=True)
