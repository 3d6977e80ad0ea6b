"""config.json: the one place operators tune squall, shared by `squall run`, `sparse submit` and the pipeline.

Layout (a superset of streamparse's config.json; streamparse ignores the keys it does not know):

    {
      "serializer": "json" | "msgpack",
      "topology_specs": "topologies/",
      "virtualenv_specs": "virtualenvs/",
      "max_parallelism": 64,                      # most tasks per component (default 64)
      "pipeline": { ...defaults for the reference IoT pipeline... },
      "envs": {
        "<env>": {
          ...streamparse keys (nimbus, workers, use_virtualenv, ...)...,
          "max_parallelism": 64,                  # overrides the top-level one for this env
          "parallelism": {"<component>": N},      # overrides the topology's par
          "options": {"topology.workers": 2, ...}, # Storm options, override the topology's config
          "pipeline": { ...overrides of the top-level pipeline section... },
          "services": { ...hosts/ports of the real services for this env... }
        }
      }
    }

Precedence, lowest first: the topology's own `par`/`config`, then `envs.<env>.parallelism`/`options`,
then the command line (`--par`, `-o`). Every value is validated before anything runs; a bad one raises
ConfigError naming the key, the value and the fix. An unknown key (top level, an env, its `log` or `services`)
is an error suggesting the closest known one; streamparse's own keys are known. The `pipeline` section is
validated by squall.pipeline.settings where a run is planned or a topology submitted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall import checks
from squall.errors import ConfigError

CONFIG_FILE = "config.json"
SERIALIZERS = ("json", "msgpack")
PIPELINE_CONF_KEY = "squall.pipeline"
DEFAULT_MAX_PARALLELISM = 64

# Keys of config.json: streamparse's (its docs' config.json, and what its `sparse` commands read), then squall's.
STREAMPARSE_TOP_KEYS = ("serializer", "topology_specs", "virtualenv_specs", "envs", "library")
TOP_KEYS = (*STREAMPARSE_TOP_KEYS, "pipeline", "max_parallelism")
STREAMPARSE_ENV_KEYS = (
    "user",
    "ssh_password",
    "ssh_port",
    "nimbus",
    "workers",
    "log",
    "log_path",
    "log_file",
    "use_ssh_for_nimbus",
    "use_virtualenv",
    "install_virtualenv",
    "virtualenv_root",
    "virtualenv_path",
    "virtualenv_name",
    "virtualenv_flags",
    "serializer",
    "options",
    "parallelism",
    "ui.port",
)
# bundle_python, bundle_interpreter: self-contained jars (squall.storm.bundle)
ENV_KEYS = (
    *STREAMPARSE_ENV_KEYS,
    "pipeline",
    "services",
    "max_parallelism",
    "bundle_python",
    "bundle_interpreter",
)
LOG_KEYS = ("path", "file", "max_bytes", "backup_count", "level")
_ENV_TEXT_KEYS = (
    "user",
    "ssh_password",
    "nimbus",
    "log_path",
    "log_file",
    "virtualenv_root",
    "virtualenv_path",
    "virtualenv_name",
    "virtualenv_flags",
)

# Storm options squall understands and validates: key -> (type check, description of valid values).
_INT_MIN = {
    "topology.workers": 1,
    "topology.acker.executors": 0,
    "topology.max.spout.pending": 1,
    "topology.message.timeout.secs": 1,
    "topology.tick.tuple.freq.secs": 1,
    "topology.subprocess.timeout.secs": 1,
    "topology.shellbolt.max.pending": 1,
    "supervisor.worker.timeout.secs": 1,
}
_BOOL = ("topology.debug", "topology.skip.missing.kryo.registrations")


@dataclass(frozen=True)
class Project:
    """A loaded streamparse project: its root folder and its parsed config.json."""

    root: Path
    raw: Mapping[str, Any]

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def serializer(self) -> str:
        value = self.raw.get("serializer", "json")
        if value not in SERIALIZERS:
            raise ConfigError(
                "serializer",
                f"{value!r} is not a serializer squall knows",
                f"use one of {', '.join(SERIALIZERS)}",
            )
        return str(value)

    @property
    def topology_dir(self) -> Path:
        return self.root / str(self.raw.get("topology_specs", "topologies/"))

    @property
    def env_names(self) -> list[str]:
        return sorted(self.raw.get("envs", {}))

    def env(self, name: str | None) -> tuple[str, dict[str, Any]]:
        """The env called `name`; when `name` is None, the only one, as streamparse picks it.

        Several envs and no name is ambiguous (a command could act on `prod` by accident): a ConfigError listing
        them, as `sparse` stops. A config.json without envs runs as an empty env called `local`.
        """
        envs = self.raw.get("envs") or {}
        if not envs:
            if name in (None, "local"):
                return "local", {}
            raise ConfigError(
                "envs", "config.json defines no environments", f'add "envs": {{"{name}": {{}}}}'
            )
        if name is None:
            if len(envs) > 1:
                raise ConfigError(
                    "-e/--environment",
                    f"not given, and config.json has {len(envs)} environments ({', '.join(sorted(envs))})",
                    f"choose one, e.g. -e {sorted(envs)[0]}",
                )
            name = next(iter(envs))
        if name not in envs:
            raise ConfigError(f"envs.{name}", "no such environment", f"use one of: {', '.join(sorted(envs))}")
        env = envs[name]
        if not isinstance(env, dict):
            raise ConfigError(f"envs.{name}", f"must be an object, got {type(env).__name__}")
        return name, env

    def topology_names(self) -> list[str]:
        d = self.topology_dir
        if not d.is_dir():
            return []
        return sorted(p.stem for p in d.glob("*.py") if not p.name.startswith("_"))

    def topology_file(self, name: str | None) -> tuple[str, Path]:
        names = self.topology_names()
        if name is None:
            if len(names) == 1:
                name = names[0]
            else:
                raise ConfigError(
                    "NAME",
                    f"{len(names)} topologies in {self.topology_dir}, say which one",
                    f"pass one of: {', '.join(names) or '(none)'}",
                )
        if name not in names:
            raise ConfigError(
                "NAME",
                f"no topology {name!r} in {self.topology_dir}",
                f"use one of: {', '.join(names) or '(none)'}",
            )
        return name, self.topology_dir / f"{name}.py"


def find_root(start: Path | None = None) -> Path:
    """The nearest folder, from `start` upwards, that holds a config.json."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        CONFIG_FILE, f"not found in {here} or any parent", "run from the root of a streamparse project"
    )


def load_project(root: Path | None = None) -> Project:
    root = find_root(root)
    path = root / CONFIG_FILE
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(
            CONFIG_FILE, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(CONFIG_FILE, "must hold a JSON object")
    validate_config(raw)
    project = Project(root=root, raw=raw)
    project.serializer  # noqa: B018 - validates
    return project


def load_project_file(config_file: Path) -> Project:
    """The project described by `config_file` (`--config`, as `sparse --config` takes it).

    Paths inside it (topology_specs, ...) are read relative to the project in the cwd, as streamparse reads them;
    without a config.json in the cwd or above, relative to the file's own folder.
    """
    if not config_file.is_file():
        raise ConfigError("--config", f"{str(config_file)!r} is not a file", "pass the path of a config.json")
    try:
        raw = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(
            "--config",
            f"{str(config_file)!r} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError("--config", f"{str(config_file)!r} must hold a JSON object")
    validate_config(raw)
    try:
        root = find_root()
    except ConfigError:
        root = config_file.resolve().parent
    project = Project(root=root, raw=raw)
    project.serializer  # noqa: B018 - validates
    return project


def validate_config(raw: Mapping[str, Any]) -> None:
    """The keys and types of config.json outside `pipeline` (validated where a run is planned): its top level,
    and every env with its `log` and `services`. Unknown keys suggest the closest known one."""
    checks.check_keys(raw, TOP_KEYS, "")
    for key in ("topology_specs", "virtualenv_specs", "library"):
        if key in raw:
            checks.text(raw[key], key, empty=True)
    if "max_parallelism" in raw:
        checks.integer(raw["max_parallelism"], "max_parallelism", 1)
    envs = checks.obj(raw.get("envs"), "envs")
    for name, env in envs.items():
        where = f"envs.{name}"
        env = checks.obj(env, where)
        checks.check_keys(env, ENV_KEYS, where)
        for key in _ENV_TEXT_KEYS:
            if env.get(key) is not None:
                checks.text(env[key], f"{where}.{key}", empty=True)
        for key in ("use_ssh_for_nimbus", "use_virtualenv", "install_virtualenv"):
            if key in env:
                checks.boolean(env[key], f"{where}.{key}")
        for key in ("ssh_port", "ui.port"):
            if env.get(key) is not None:
                checks.integer(env[key], f"{where}.{key}", 1, 65535)
        if "serializer" in env:
            checks.choice(env["serializer"], f"{where}.serializer", SERIALIZERS)
        if "max_parallelism" in env:
            checks.integer(env["max_parallelism"], f"{where}.max_parallelism", 1)
        workers = env.get("workers")
        if workers is not None and not (
            isinstance(workers, list) and all(isinstance(w, str) for w in workers)
        ):
            raise ConfigError(
                f"{where}.workers", f"{workers!r} is not valid", 'use a list of hosts, e.g. ["host1"]'
            )
        for key in ("options", "parallelism", "pipeline"):
            checks.obj(env.get(key), f"{where}.{key}")
        log = checks.obj(env.get("log"), f"{where}.log")
        checks.check_keys(log, LOG_KEYS, f"{where}.log")
        for key in ("max_bytes", "backup_count"):
            if key in log:
                checks.integer(log[key], f"{where}.log.{key}", 0)
        for key in ("path", "file", "level"):
            if key in log:
                checks.text(log[key], f"{where}.log.{key}", empty=True)
        services = checks.obj(env.get("services"), f"{where}.services")
        checks.check_keys(services, _service_keys(), f"{where}.services")


def _service_keys() -> tuple[str, ...]:
    from squall.infra.endpoints import SERVICE_KEYS  # the services `squall infra` knows own their names

    return SERVICE_KEYS


def max_parallelism(project: Project, env_name: str | None) -> int:
    """`envs.<env>.max_parallelism`, else the top-level `max_parallelism`, else 64: most tasks per component."""
    env_name, env = project.env(env_name)
    if "max_parallelism" in env:
        return checks.integer(env["max_parallelism"], f"envs.{env_name}.max_parallelism", 1)
    return checks.integer(project.raw.get("max_parallelism", DEFAULT_MAX_PARALLELISM), "max_parallelism", 1)


def parse_assignments(pairs: Iterable[str], flag: str) -> dict[str, str]:
    """`["a=1", "b=x"]` -> {"a": "1", "b": "x"}; a pair without `=` is a ConfigError naming the flag."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(flag, f"{pair!r} is not KEY=VALUE", f"write it as {flag} key=value")
        out[key.strip()] = value.strip()
    return out


def coerce_option_value(text: str) -> Any:
    """A `-o key=value` value as Storm would read it from YAML: JSON if it parses, else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def validate_options(options: Mapping[str, Any], where: str) -> None:
    for key, minimum in _INT_MIN.items():
        if key not in options:
            continue
        value = options[key]
        if key == "topology.max.spout.pending" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(
                f"{where}.{key}" if where else key,
                f"{value!r} is not valid",
                f"use an integer >= {minimum}",
            )
    for key in _BOOL:
        if key in options and not isinstance(options[key], bool):
            raise ConfigError(
                f"{where}.{key}" if where else key, f"{options[key]!r} is not valid", "use true or false"
            )


def resolve_options(
    topology_config: Mapping[str, Any],
    project: Project,
    env_name: str | None,
    cli_options: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Storm options for one run: topology config < envs.<env>.options < `-o` (values parsed as JSON)."""
    env_name, env = project.env(env_name)
    env_options = env.get("options", {}) or {}
    if not isinstance(env_options, dict):
        raise ConfigError(f"envs.{env_name}.options", "must be an object of Storm options")
    validate_options(topology_config, "topology config")
    validate_options(env_options, f"envs.{env_name}.options")
    cli = {k: coerce_option_value(v) for k, v in (cli_options or {}).items()}
    validate_options(cli, "-o")
    merged: dict[str, Any] = {}
    merged.update(copy.deepcopy(dict(topology_config)))
    merged.update(copy.deepcopy(env_options))
    merged.update(cli)
    merged[PIPELINE_CONF_KEY] = pipeline_settings(project, env_name)
    # Lets tasks resolve project-relative paths (e.g. pipeline.sqlite.path) whatever their working directory.
    merged[PIPELINE_CONF_KEY].setdefault("project_root", str(project.root))
    return merged


def resolve_parallelism(
    topology_par: Mapping[str, int],
    project: Project,
    env_name: str | None,
    cli_par: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Per-component parallelism: topology `par` < envs.<env>.parallelism < `--par`.

    Unknown component names and non-positive values are ConfigErrors that list the valid names; so is a value
    above `max_parallelism` (each task is a process or an object with its own buffers, so a typo such as
    `--par parse=1000000` would otherwise exhaust memory before anything ran).
    """
    env_name, env = project.env(env_name)
    names = sorted(topology_par)
    result = dict(topology_par)
    limit = max_parallelism(project, env_name)
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("topology par", topology_par),
        (f"envs.{env_name}.parallelism", env.get("parallelism", {}) or {}),
        ("--par", dict(cli_par or {})),
    ]
    for where, layer in layers:
        if not isinstance(layer, Mapping):
            raise ConfigError(where, "must be an object of component name -> integer")
        for component, raw in layer.items():
            if component not in topology_par:
                raise ConfigError(
                    f"{where}.{component}",
                    "no such component in this topology",
                    f"use one of: {', '.join(names)}",
                )
            value: Any = raw
            if isinstance(raw, str):
                try:
                    value = int(raw)
                except ValueError:
                    value = raw
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{where}.{component}", f"{raw!r} is not a parallelism", "use an integer >= 1"
                )
            if value > limit:
                bound = f"envs.{env_name}.max_parallelism" if "max_parallelism" in env else "max_parallelism"
                raise ConfigError(
                    f"{where}.{component}",
                    f"{value} tasks is above the limit of {limit} per component ({bound})",
                    f"use at most {limit}, or raise {bound} in config.json",
                )
            result[component] = value
    return result


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `override` merged in: nested objects key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def pipeline_settings(project: Project, env_name: str | None) -> dict[str, Any]:
    """The reference pipeline's settings for one env: top-level `pipeline` deep-merged with the env's."""
    env_name, env = project.env(env_name)
    base = project.raw.get("pipeline", {}) or {}
    override = env.get("pipeline", {}) or {}
    for where, section in (("pipeline", base), (f"envs.{env_name}.pipeline", override)):
        if not isinstance(section, Mapping):
            raise ConfigError(where, "must be an object")
    return deep_merge(dict(base), override)


def services(project: Project, env_name: str | None) -> dict[str, Any]:
    """Hosts and ports of the real services for one env (`envs.<env>.services`)."""
    env_name, env = project.env(env_name)
    section = env.get("services", {}) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"envs.{env_name}.services", "must be an object")
    return dict(section)
