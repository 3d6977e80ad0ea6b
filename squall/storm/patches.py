"""The patches that make streamparse 5.0.1 work with Storm 2.8 and this project's layout (see __init__.py)."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squall.config import Project, load_project, validate_config
from squall.errors import ConfigError
from squall.storm import bundle, jar, local, options
from squall.storm.patching import is_installed, mark_installed, replace_everywhere, streamparse_modules


@dataclass
class Session:
    """What one `sparse` invocation learned along the way (the env it picked)."""

    env_name: str | None = None
    config_path: Path | None = None  # `--config FILE`, else config.json of the project in the cwd
    # The env configs this layer's get_env_config returned, by id: (the dict itself, its project, its env name).
    issued: dict[int, tuple[dict[str, Any], Project, str]] = field(default_factory=dict)
    topology_name: str | None = None  # the topology file's name (`-n`), as preflight resolved it

    def project(self) -> Project:
        project = load_project(Path.cwd())
        if self.config_path is None:
            return project
        raw = json.loads(self.config_path.read_text())
        validate_config(raw)
        return Project(root=project.root, raw=raw)

    def note_config_file(self, config_file: Any) -> None:
        name = getattr(config_file, "name", None)
        if isinstance(name, str) and Path(name).is_file():
            self.config_path = Path(name).resolve()

    def issue(self, env_config: dict[str, Any], project: Project, env_name: str) -> dict[str, Any]:
        self.issued[id(env_config)] = (env_config, project, env_name)
        return env_config

    def origin(self, env_config: Any) -> tuple[Project, str] | None:
        """The project and env an env config came from, if this layer's get_env_config returned it."""
        entry = self.issued.get(id(env_config))
        if entry is None or entry[0] is not env_config:
            return None
        return entry[1], entry[2]


def install() -> Session | None:
    """Patch streamparse in place; a second call is a no-op (returns None)."""
    if is_installed():
        return None
    import streamparse.cli.common as sp_common
    import streamparse.cli.jar as sp_jar
    import streamparse.cli.run as sp_run
    import streamparse.cli.submit as sp_submit
    import streamparse.util as sp_util

    session = Session()
    modules = streamparse_modules()
    orig_get_env_config = sp_util.get_env_config
    orig_get_topology_from_file = sp_util.get_topology_from_file
    orig_resolve_options = sp_common.resolve_options
    orig_jar_for_deploy = sp_jar.jar_for_deploy
    orig_nimbus_host_port = sp_util.get_nimbus_host_port
    orig_set_serializer = sp_util.set_topology_serializer

    def get_env_config(env_name: str | None = None, config_file: Any = None) -> tuple[str, dict[str, Any]]:
        session.note_config_file(config_file)
        project = session.project()
        if env_name is None:
            env_name, _ = project.env(None)  # as streamparse: the only env; several is an error
        name, env_config = orig_get_env_config(env_name, config_file=config_file)
        session.env_name = name
        return name, session.issue(options.absolute_env_config(env_config, project.root), project, name)

    def get_topology_from_file(topology_file: str) -> Any:
        root = session.project().root
        for path in (root / "src", root):
            if path.is_dir() and str(path) not in sys.path:
                sys.path.insert(0, str(path))
        return orig_get_topology_from_file(topology_file)

    def resolve_options(
        cli_options: Any, env_config: Any, topology_class: Any, topology_name: str, local_only: bool = False
    ) -> dict[str, Any]:
        # squall's precedence and checks need the project the env came from; an env config it did not load
        # (a dict built by hand, as streamparse's own tests do) gets streamparse's answer unchanged.
        origin = session.origin(env_config)
        if origin is not None:
            project, env_name = origin
            par = options.resolve_topology_parallelism(topology_class, project, env_name)
            serializer = options.serializer_for(project, env_config, env_name)
            # Checked before streamparse's own resolution, which asks Nimbus for its workers unless local_only.
            options.storm_options({}, topology_class.config, project, env_name, cli_options, serializer)
        base: dict[str, Any] = orig_resolve_options(
            cli_options, env_config, topology_class, topology_name, local_only=local_only
        )
        if origin is None:
            return base
        merged = options.storm_options(
            base, topology_class.config, project, env_name, cli_options, serializer
        )
        options.apply_parallelism(topology_class, par)
        return merged

    def bundle_settings() -> bundle.BundleSettings | None:
        project = session.project()
        env_name, env_config = project.env(session.env_name)
        return bundle.settings_for(env_config, env_name)

    def prepare_topology() -> None:
        project = session.project()
        resources = jar.stage_jar_resources(project)
        if bundle_settings() is not None:
            specs = str(project.raw.get("virtualenv_specs", "virtualenvs/"))
            bundle.prepare(resources, project.root, specs, session.topology_name)

    def set_topology_serializer(env_config: Any, config: Any, topology_class: Any) -> None:
        orig_set_serializer(env_config, config, topology_class)
        settings = bundle_settings()
        if settings is not None:
            bundle.point_components_at_bundle(topology_class, settings)

    def jar_for_deploy(simple_jar: bool = False) -> str:
        jar.require_lein()
        path: str = orig_jar_for_deploy(simple_jar=False)
        return path

    def get_nimbus_host_port(env_config: dict[str, Any]) -> tuple[str, int]:
        if not env_config.get("nimbus") and not os.environ.get("STREAMPARSE_NIMBUS"):
            env = session.env_name or "<env>"
            raise ConfigError(
                f"envs.{env}.nimbus", "no Nimbus is configured", "pass -e with an env that sets nimbus"
            )
        result: tuple[str, int] = orig_nimbus_host_port(env_config)
        return result

    def preflight(config_file: Any, env_name: str | None, name: str | None, cli_options: Any) -> None:
        """Validate config.json and `-o` for this topology before streamparse does anything (Nimbus, lein)."""
        session.note_config_file(config_file)
        project = session.project()
        env_name, env_config = project.env(env_name)
        session.topology_name, topology_file = project.topology_file(name)
        bundle.settings_for(env_config, env_name)
        topology_class = get_topology_from_file(str(topology_file))
        options.resolve_topology_parallelism(topology_class, project, env_name)
        serializer = options.serializer_for(project, env_config, env_name)
        options.storm_options({}, topology_class.config, project, env_name, cli_options, serializer)

    def checked(submit: Callable[..., Any]) -> Callable[..., Any]:
        """streamparse's submit_topology (same signature, same result), config checked before it starts."""
        signature = inspect.signature(submit)

        @functools.wraps(submit)
        def submit_topology(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            preflight(given["config_file"], given["env_name"], given["name"], given["options"])
            return submit(*args, **kwargs)

        return submit_topology

    replace_everywhere(sp_submit.submit_topology, checked(sp_submit.submit_topology), modules)
    replace_everywhere(orig_get_env_config, get_env_config, modules)
    replace_everywhere(orig_get_topology_from_file, get_topology_from_file, modules)
    replace_everywhere(orig_resolve_options, resolve_options, modules)
    replace_everywhere(sp_util.prepare_topology, prepare_topology, modules)
    replace_everywhere(orig_jar_for_deploy, jar_for_deploy, modules)
    replace_everywhere(orig_nimbus_host_port, get_nimbus_host_port, modules)
    replace_everywhere(orig_set_serializer, set_topology_serializer, [sp_submit])
    replace_everywhere(sp_run.run_local_topology, local.run_local_topology, modules)
    mark_installed()
    return session
