"""Shell completion (click's) for topology, env and component names, read from the project in the cwd.

Enable it once per shell, e.g. `eval "$(_SQUALL_COMPLETE=bash_source squall)"` (zsh: zsh_source, fish:
fish_source). Completion never fails loudly: a broken config.json simply completes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem


def _project(ctx: click.Context) -> Any:
    from squall.config import load_project, load_project_file

    config = ctx.params.get("config_file")
    return load_project_file(Path(config)) if config else load_project()


def topology_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        names = _project(ctx).topology_names()
    except Exception:  # noqa: BLE001 - completion must never raise
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def env_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        names = _project(ctx).env_names
    except Exception:  # noqa: BLE001 - completion must never raise
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def component_assignments(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """`--par` values: `<component>=` for each component of the topology named so far (or the only one)."""
    if "=" in incomplete:
        return []
    try:
        from squall.runner.loader import load_topology

        project = _project(ctx)
        name = ctx.params.get("name") or ctx.params.get("name_option") or _name_in(ctx)
        _, topology = load_topology(project, name)
        names = sorted(spec.name for spec in topology.specs)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - completion must never raise
        return []
    return [CompletionItem(f"{n}=", type="plain") for n in names if n.startswith(incomplete)]


def _name_in(ctx: click.Context) -> str | None:
    """The topology named in the words click could not parse (completing an option's value leaves them
    unparsed): `-n NAME`, `--name NAME`, or the first word that is neither an option nor an option's value."""
    takes_value = {
        opt for p in ctx.command.params if isinstance(p, click.Option) and not p.is_flag for opt in p.opts
    }
    words = list(ctx.args)
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-n", "--name"):
            return words[i + 1] if i + 1 < len(words) else None
        if word.startswith("-"):
            i += 2 if word in takes_value else 1
            continue
        return word
    return None
