"""Self-contained topology jars: the Python side (its dependencies as wheels) travels inside the jar.

With `"bundle_python": true` in an env (and `"use_virtualenv": false`), `sparse submit` adds to the jar's
`resources/`:

- `_squall_bundle/wheelhouse/`: wheels of every third-party package the workers import (squall's own runtime
  dependencies plus the topology's `virtualenvs/<topology>.txt`, if any), pinned to the versions installed where
  `sparse submit` runs, plus a pip wheel to install them with;
- `_squall_bundle/manifest.json`: the Python version they are built for, their names and a key (hash);
- `_squall_bundle/boot.py`: squall.storm.bundle_boot (standard library only).

and points each Python component's command at `<bundle_interpreter> -c "...boot.main('<args>')"`: on the worker,
the first component to start creates a venv from the wheelhouse (no index, no network) next to the unpacked jar,
once per topology and key; every component then execs that venv's `streamparse_run`. A worker needs only Java,
Storm and a Python of the same minor version and platform as the machine that ran `sparse submit`.

Wheels are built once per set of pins, Python and platform, and cached under ~/.cache/squall/wheelhouse.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from squall.errors import ConfigError, InfraError
from squall.storm import bundle_boot
from squall.storm.options import RUNNER_COMMAND

BUNDLE_KEY = "bundle_python"
INTERPRETER_KEY = "bundle_interpreter"
BUNDLE_DIR = bundle_boot.BUNDLE_DIR
FRAMEWORK_DIST = "squall"
# Never pinned: the framework travels as source, pip is bundled separately (the exact version running here).
_NOT_BUNDLED = {"squall", "pip"}
PIP_TIMEOUT_SECS = 1800
_INTERPRETER = re.compile(r"^[A-Za-z0-9_./+-]+$")


@dataclass(frozen=True)
class BundleSettings:
    interpreter: str  # the command that starts the worker's Python (found on the worker's PATH, or absolute)


def default_interpreter() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def settings_for(env_config: Mapping[str, Any], env_name: str) -> BundleSettings | None:
    """The env's bundle settings, validated; None when the env does not bundle Python."""
    where = f"envs.{env_name}"
    enabled = env_config.get(BUNDLE_KEY, False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.{BUNDLE_KEY}", f"{enabled!r} is not a boolean", "use true or false")
    interpreter = env_config.get(INTERPRETER_KEY)
    if interpreter is not None and not (isinstance(interpreter, str) and _INTERPRETER.match(interpreter)):
        raise ConfigError(
            f"{where}.{INTERPRETER_KEY}",
            f"{interpreter!r} is not a command",
            f'name the worker\'s Python, e.g. "{default_interpreter()}" or "/usr/bin/{default_interpreter()}"',
        )
    if not enabled:
        if interpreter is not None:
            raise ConfigError(
                f"{where}.{INTERPRETER_KEY}",
                f"{interpreter!r} is set but {BUNDLE_KEY} is not true",
                f"set {BUNDLE_KEY} to true, or remove {INTERPRETER_KEY}",
            )
        return None
    if env_config.get("use_virtualenv", True):
        raise ConfigError(
            f"{where}.use_virtualenv",
            f"{env_config.get('use_virtualenv', True)!r} conflicts with {BUNDLE_KEY}: true (the jar brings its "
            "own environment)",
            "set use_virtualenv to false in this env",
        )
    return BundleSettings(interpreter=interpreter or default_interpreter())


def requirement_name(line: str) -> str | None:
    """The project name a requirements line asks for (None for blanks, comments and pip options)."""
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith("-"):
        return None
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", text)
    return match.group(1) if match else None


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def framework_requirements() -> list[str]:
    """squall's runtime dependencies as declared in its metadata (extras such as `dev` left out)."""
    try:
        declared = importlib.metadata.requires(FRAMEWORK_DIST) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise InfraError(
            "squall is not installed in this Python, so its dependencies are unknown "
            "(fix: `pip install -e .` in the squall checkout, or `make install`)"
        ) from exc
    return [req.strip() for req in declared if "extra ==" not in req.replace('"', "").replace("'", "")]


def topology_requirements(project_root: Path, virtualenv_specs: str, topology_name: str | None) -> list[str]:
    """The lines of `<virtualenv_specs>/<topology>.txt` (streamparse's requirements file), if it exists."""
    if not topology_name:
        return []
    path = project_root / virtualenv_specs / f"{topology_name}.txt"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if requirement_name(line)]


def installed_pins() -> list[str]:
    """`name==version` of every distribution installed here: the workers get exactly what was tested here."""
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and normalize(name) not in _NOT_BUNDLED:
            pins.setdefault(normalize(name), f"{name}=={dist.version}")
    return sorted(pins.values(), key=str.lower)


def pip_version() -> str:
    return importlib.metadata.version("pip")


def wheelhouse_key(requirements: list[str], pins: list[str]) -> str:
    text = json.dumps(
        {
            "requirements": sorted(requirements),
            "pins": pins,
            "pip": pip_version(),
            "python": sys.implementation.cache_tag,
            "platform": sysconfig.get_platform(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "squall" / "wheelhouse"


def _pip(args: list[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECS)
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{what} took more than {PIP_TIMEOUT_SECS}s: {' '.join(cmd)}") from exc
    if res.returncode != 0:
        raise InfraError(f"{what} failed ({' '.join(cmd)}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")


def build_wheelhouse(requirements: list[str], pins: list[str], root: Path | None = None) -> Path:
    """A folder of wheels for `requirements` (constrained to `pins`) and pip; built once, then reused."""
    key = wheelhouse_key(requirements, pins)
    dest = (root or cache_root()) / key
    if (dest / "requirements.txt").is_file():
        return dest
    tmp = dest.with_name(f"{key}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / "requested.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    (tmp / "constraints.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
    _pip(
        [
            "wheel",
            "--wheel-dir",
            str(tmp),
            "-r",
            str(tmp / "requested.txt"),
            "-c",
            str(tmp / "constraints.txt"),
        ],
        "building the wheels of the topology's Python dependencies",
    )
    _pip(
        ["download", "--no-deps", "--only-binary=:all:", "--dest", str(tmp), f"pip=={pip_version()}"],
        "fetching the pip wheel that installs them on the workers",
    )
    wheels = sorted(p.name for p in tmp.glob("*.whl"))
    (tmp / "requirements.txt").write_text("\n".join(wheels) + "\n", encoding="utf-8")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def stage_bundle(resources: Path, wheelhouse: Path) -> dict[str, Any]:
    """Copy the wheelhouse and the boot module into `resources/_squall_bundle`; return the manifest written."""
    names = [n for n in (wheelhouse / "requirements.txt").read_text(encoding="utf-8").split() if n]
    pip_wheels = [n for n in names if n.startswith("pip-")]
    if len(pip_wheels) != 1:
        raise InfraError(
            f"{wheelhouse} holds {len(pip_wheels)} pip wheels, expected 1 (delete it and submit again)"
        )
    dest = resources / BUNDLE_DIR
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "wheelhouse").mkdir(parents=True)
    digest = hashlib.sha256()
    for name in names:
        shutil.copy2(wheelhouse / name, dest / "wheelhouse" / name)
        digest.update(name.encode())
        digest.update(hashlib.sha256((wheelhouse / name).read_bytes()).digest())
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    digest.update(python.encode())
    manifest = {
        "python": python,
        "platform": sysconfig.get_platform(),
        "key": digest.hexdigest()[:16],
        "pip_wheel": pip_wheels[0],
        "wheels": [n for n in names if n not in pip_wheels],
    }
    (dest / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy2(Path(bundle_boot.__file__), dest / "boot.py")
    (dest / bundle_boot.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def boot_command(settings: BundleSettings, script: str) -> tuple[str, str]:
    """(execution_command, script) of a Storm ShellComponent that boots the jar's environment and runs
    `streamparse_run <script>`. Storm passes exactly these two arguments, in the jar's resources/ folder;
    Python takes `-c` with its code attached, and `''` (that folder) is on sys.path for `-c`."""
    code = f"from {BUNDLE_DIR}.boot import main; main({script!r})"
    return settings.interpreter, f"-c{code}"


def point_components_at_bundle(topology_class: Any, settings: BundleSettings) -> int:
    """Rewrite every streamparse Python component of the Thrift topology to boot from the jar; return how many."""
    count = 0
    for component in chain(topology_class.thrift_bolts.values(), topology_class.thrift_spouts.values()):
        obj = component.bolt_object if hasattr(component, "bolt_object") else component.spout_object
        shell = obj.shell
        if shell is None or RUNNER_COMMAND not in (shell.execution_command or ""):
            continue
        shell.execution_command, shell.script = boot_command(settings, shell.script or "")
        count += 1
    return count


def prepare(resources: Path, project_root: Path, virtualenv_specs: str, topology_name: str | None) -> None:
    """Build (or reuse) the wheelhouse for this topology and stage it into the jar's `resources/`."""
    requirements = framework_requirements() + topology_requirements(
        project_root, virtualenv_specs, topology_name
    )
    wheelhouse = build_wheelhouse(requirements, installed_pins())
    manifest = stage_bundle(resources, wheelhouse)
    size = sum(p.stat().st_size for p in (resources / BUNDLE_DIR / "wheelhouse").iterdir())
    print(
        f"Bundled {len(manifest['wheels'])} wheels for Python {manifest['python']} "
        f"({size / 1e6:.1f} MB) into the jar."
    )
    sys.stdout.flush()
