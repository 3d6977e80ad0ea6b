"""What squall decides for a streamparse topology before Storm sees it: options, parallelism, Python command.

Pure functions over a loaded streamparse Topology class and squall's Project; patches.py wires them into
streamparse. Precedence and validation are squall.config's (shared with `squall run`).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from pathlib import Path
from typing import Any

from squall.config import (
    PIPELINE_CONF_KEY,
    SERIALIZERS,
    Project,
    resolve_options,
    resolve_parallelism,
    validate_options,
)
from squall.errors import ConfigError
from squall.pipeline.settings import for_env

SERIALIZER_OPTION = "topology.multilang.serializer"
MSGPACK_SERIALIZER_CLASS = "squall.multilang.MsgpackSerializer"
RUNNER_COMMAND = "streamparse_run"


def topology_parallelism(topology_class: Any, env_name: str) -> dict[str, int]:
    """Each component's `par` from the topology file (a per-env dict picks `env_name`; missing means 1)."""
    out: dict[str, int] = {}
    for spec in topology_class.specs:
        par = spec.par.get(env_name) if isinstance(spec.par, dict) else spec.par
        out[spec.name] = 1 if par is None else int(par)
    return out


def apply_parallelism(topology_class: Any, par: Mapping[str, int]) -> None:
    """Set the executor count of every component in the Thrift topology streamparse will submit."""
    components = chain(topology_class.thrift_bolts.items(), topology_class.thrift_spouts.items())
    for name, component in components:
        component.common.parallelism_hint = int(par[name])


def resolve_topology_parallelism(topology_class: Any, project: Project, env_name: str) -> dict[str, int]:
    """topology `par` < envs.<env>.parallelism, validated (unknown names and values < 1 are ConfigErrors)."""
    return resolve_parallelism(topology_parallelism(topology_class, env_name), project, env_name, None)


def serializer_for(project: Project, env_config: Mapping[str, Any], env_name: str) -> str:
    """The multilang serializer: envs.<env>.serializer, else the top-level one (as streamparse reads it)."""
    value = env_config.get("serializer", project.serializer)
    if value not in SERIALIZERS:
        raise ConfigError(
            f"envs.{env_name}.serializer",
            f"{value!r} is not a serializer squall knows",
            f"use one of {', '.join(SERIALIZERS)}",
        )
    return str(value)


def storm_options(
    streamparse_options: Mapping[str, Any],
    topology_config: Mapping[str, Any],
    project: Project,
    env_name: str,
    cli_options: Mapping[str, Any] | None,
    serializer: str,
) -> dict[str, Any]:
    """streamparse's own options (logging, virtualenv bookkeeping), then topology < env < CLI, all validated.

    Adds `squall.pipeline` (the env's pipeline settings, validated: a bad one stops the submit here) and, for
    msgpack, squall's Java multilang serializer.
    """
    cli = dict(cli_options or {})
    validate_options(cli, "-o")
    merged = dict(streamparse_options)
    merged.update(resolve_options(topology_config, project, env_name, None))
    for_env(merged[PIPELINE_CONF_KEY], project, env_name)
    merged.update(cli)
    if serializer == "msgpack":
        merged.setdefault(SERIALIZER_OPTION, MSGPACK_SERIALIZER_CLASS)
    return merged


def absolute_env_config(env_config: Mapping[str, Any], project_root: Path) -> dict[str, Any]:
    """A copy of the env whose relative `virtualenv_root` is made absolute against the project root.

    streamparse writes `virtualenv_root` verbatim into the worker's command line, where a relative path would be
    resolved against the worker's own folder; squall reads it relative to config.json instead.
    """
    out = dict(env_config)
    root = out.get("virtualenv_root") or out.get("virtualenv_path")
    if isinstance(root, str) and root and not Path(root).is_absolute():
        out["virtualenv_root"] = str((project_root / root).resolve())
    return out


def runner_command(env_config: Mapping[str, Any], topology_name: str) -> str:
    """The command Storm's ShellProcess starts for each Python component, as `sparse submit` computes it.

    With `use_virtualenv` (streamparse's default) it is `<virtualenv_root>/<virtualenv_name|topology>/bin/
    streamparse_run`; without, the bare `streamparse_run`, found on the worker's PATH.
    """
    if not env_config.get("use_virtualenv", True):
        return RUNNER_COMMAND
    root = env_config.get("virtualenv_root") or env_config.get("virtualenv_path")
    if not root:
        raise ConfigError(
            "virtualenv_root",
            "use_virtualenv is true but no virtualenv_root is set",
            "set virtualenv_root in the env",
        )
    name = env_config.get("virtualenv_name") or topology_name
    return str(Path(root) / name / "bin" / RUNNER_COMMAND)


def set_runner_command(topology_class: Any, command: str) -> None:
    """Point every Python shell component of the Thrift topology at `command`."""
    components = chain(topology_class.thrift_bolts.values(), topology_class.thrift_spouts.values())
    for component in components:
        obj = component.bolt_object if hasattr(component, "bolt_object") else component.spout_object
        shell = obj.shell
        if shell is not None and RUNNER_COMMAND in (shell.execution_command or ""):
            shell.execution_command = command
