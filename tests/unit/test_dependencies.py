"""requirements.lock pins the runtime closure of pyproject's dependencies; development tools live elsewhere."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEV_TOOLS = {"pytest", "pytest-timeout", "hypothesis", "ruff", "mypy"}


def pins(name: str) -> dict[str, str]:
    out = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            package, _, version = line.partition("==")
            assert version, f"{name}: {line!r} is not pinned with =="
            out[canonicalize_name(package)] = version
    return out


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution the installed requirements pull in (markers for this interpreter, no extras)."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo.extend(Requirement(r) for r in metadata.requires(req.name) or [])
    return seen


def test_runtime_lock_is_exactly_the_closure_of_the_wheel_dependencies() -> None:
    runtime = pins("requirements.lock")
    assert closure(runtime_requirements()) == set(runtime)
    for req in runtime_requirements():
        assert req.specifier.contains(runtime[canonicalize_name(req.name)]), (str(req), runtime[req.name])


def test_development_tools_are_pinned_apart_from_the_runtime() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert DEV_TOOLS <= set(dev)
    assert not set(runtime) & set(dev)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    for req in map(Requirement, extras):
        assert req.specifier.contains(dev[canonicalize_name(req.name)]), str(req)


def test_the_environment_has_the_pinned_versions() -> None:
    for name, version in {**pins("requirements.lock"), **pins("requirements-dev.lock")}.items():
        assert metadata.version(name) == version, name
