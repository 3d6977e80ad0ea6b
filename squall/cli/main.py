"""Entry point of the `squall` command. Subcommands load lazily so `squall --help` stays fast."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from importlib.util import find_spec
from typing import Any

import click

from squall import __version__
from squall.errors import SquallError, SquallWarning

# command name -> "module:attribute". Each module owns its command; this table is the only registry.
COMMANDS: dict[str, str] = {
    "run": "squall.cli.run:run",
    "infra": "squall.cli.infra:infra",
    "simulate": "squall.cli.pipeline:simulate",
    "db": "squall.cli.pipeline:db",
    "dlq": "squall.cli.pipeline:dlq",
    "lag": "squall.cli.pipeline:lag",
    "report": "squall.cli.pipeline:report",
    "storm": "squall.cli.storm:storm",
    "doctor": "squall.cli.doctor:doctor",
    "tune": "squall.cli.tune:tune",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(
            name for name, target in COMMANDS.items() if find_spec(target.split(":")[0]) is not None
        )

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except SquallError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)


_python_showwarning = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """squall's own warnings as one `warning:` line on stderr; others as Python shows them."""
    if issubclass(category, SquallWarning):
        click.secho(f"warning: {message}", fg="yellow", err=True)
    else:
        _python_showwarning(message, category, *args, **kwargs)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="squall")
def cli() -> None:
    """squall: run streamparse topologies locally with Storm's semantics, and run the real services."""


def main() -> None:
    from squall.quiet import quiet_dependency_warnings
    from squall.storm.layer import warn_if_broken

    quiet_dependency_warnings()
    if sys.argv[1:2] != ["doctor"] and "_SQUALL_COMPLETE" not in os.environ:  # doctor says it with its fix
        warn_if_broken()
    cli()
