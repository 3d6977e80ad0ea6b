"""`squall infra`: install, start, stop and inspect the real services. Thin: squall.infra.api does the work."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from squall.infra import api

SERVICE_HELP = "zookeeper, kafka, cassandra, nimbus, supervisor, ui (default: all)"


def _echo(line: str) -> None:
    click.echo(line)


ENV_OPTION = click.option(
    "-e",
    "--environment",
    "env",
    default=api.DEFAULT_ENV,
    show_default=True,
    help="config.json env whose `services` section to use (e.g. secure: Kafka and Cassandra with auth and TLS).",
)


@click.group()
def infra() -> None:
    """Real ZooKeeper, Kafka, Cassandra and Storm on 127.0.0.1, assembled from Maven Central (no docker)."""


@infra.command()
@click.option("--no-apt", is_flag=True, help="Skip the Debian packages in infra/apt-packages.txt.")
@click.option(
    "--maven-repo",
    type=click.Path(file_okay=False),
    default=None,
    help="Use this Maven local repository (e.g. an empty one to time a fresh machine).",
)
def install(no_apt: bool, maven_repo: str | None) -> None:
    """Install missing Debian packages and resolve every service's jars into the jar cache (idempotent)."""
    from pathlib import Path

    t0 = time.monotonic()
    for line in install_plan(with_apt=not no_apt):
        click.echo(line)
    api.install(repo_local=Path(maven_repo) if maven_repo else None, with_apt=not no_apt, report=_echo)
    click.echo(f"install done in {time.monotonic() - t0:.1f}s")


def install_plan(with_apt: bool) -> list[str]:
    """What `squall infra install` is about to do, before it does it (nothing listed is already done)."""
    import os

    from squall.infra import apt, maven
    from squall.infra.registry import SERVICES

    ctx = api.make_context()
    lines: list[str] = []
    if with_apt:
        packages = apt.read_package_list(ctx.layout.infra / "apt-packages.txt")
        todo = apt.missing(packages)
        if todo:
            how = "as root" if os.geteuid() == 0 else "with sudo"
            lines.append(f"will install Debian packages ({how}): {', '.join(todo)}")
        else:
            lines.append(f"Debian packages: all {len(packages)} of infra/apt-packages.txt are installed")
    poms = sorted({p for svc in SERVICES.values() for p in svc.poms})
    pending = [
        art.dir_name
        for art in (maven.Artifacts.from_pom(ctx.layout.infra / pom) for pom in poms)
        if not art.is_resolved(ctx.layout.jar_cache)
    ]
    if pending:
        lines.append(
            f"will download from Maven Central into {ctx.layout.jar_cache}: {', '.join(pending)} "
            "(a first install fetches a few hundred MB)"
        )
    else:
        lines.append(f"service jars: all {len(poms)} are in {ctx.layout.jar_cache}")
    lines.append("then: compile squall's Storm plugins when their sources changed")
    return lines


@infra.command(
    help=f"Start SERVICES and what they need, wait until each answers; healthy ones are left alone. SERVICES: {SERVICE_HELP}"
)
@click.argument("services", nargs=-1)
@ENV_OPTION
def up(services: tuple[str, ...], env: str) -> None:
    t0 = time.monotonic()
    api.ensure_up(services or None, ctx=api.make_context(env), report=_echo)
    click.echo(f"all up in {time.monotonic() - t0:.1f}s")


@infra.command()
@click.argument("services", nargs=-1)
@click.option(
    "--grace", default=30.0, show_default=True, help="Seconds to wait after SIGTERM before SIGKILL."
)
@ENV_OPTION
def down(services: tuple[str, ...], grace: float, env: str) -> None:
    """Stop SERVICES (default: all of the env's) that squall started, by pid, including Storm worker JVMs."""
    api.down(services or None, ctx=api.make_context(env), grace=grace, report=_echo)


def status_document(env: str, rows: list[api.Status]) -> dict[str, Any]:
    """`squall infra status --json`: {"env", "services": [{name, address, pid, running, healthy, detail}]}."""
    return {
        "env": env,
        "services": [
            {
                "name": row.name,
                "address": row.address,
                "pid": row.pid,
                "running": row.running,
                "healthy": row.healthy,
                "detail": row.detail,
            }
            for row in rows
        ],
    }


@infra.command()
@click.argument("services", nargs=-1)
@ENV_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
def status(services: tuple[str, ...], env: str, as_json: bool) -> None:
    """A table of each service's pid, address and health."""
    from rich.console import Console
    from rich.table import Table

    rows = api.status(services or None, ctx=api.make_context(env))
    if as_json:
        click.echo(json.dumps(status_document(env, rows), indent=2))
        return
    table = Table("service", "address", "pid", "health", "detail")
    for row in rows:
        pid = str(row.pid) if row.pid else ("-" if not row.healthy else "(not ours)")
        health = (
            "[green]healthy[/]"
            if row.healthy
            else ("[yellow]starting?[/]" if row.running else "[red]down[/]")
        )
        table.add_row(row.name, row.address, pid, health, row.detail)
    Console().print(table)


@infra.command()
@click.argument("service")
@click.option("-n", "--lines", default=40, show_default=True, help="Lines from the end of each log file.")
@ENV_OPTION
def logs(service: str, lines: int, env: str) -> None:
    """The tail of SERVICE's log files (console output first)."""
    from squall.infra.registry import resolve_names

    ctx = api.make_context(env)
    resolve_names([service], with_requirements=False, services=api.env_services(ctx))
    click.echo(api.log_tail(service, lines, ctx))
