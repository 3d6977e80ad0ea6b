"""Finding and importing a project's topology, with its components importable as resources/ makes them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from squall.config import Project
from squall.errors import TopologyError
from squall.resources import import_paths, resource_entries


def activate_project(project: Project) -> None:
    """Put the project's resource roots first on sys.path; forget modules of the same top-level names
    imported from elsewhere (another project's `bolts` package), so the right ones load."""
    paths = [str(p.resolve()) for p in import_paths(project)]
    for path in reversed(paths):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    roots = tuple(paths)
    for name in resource_entries(project):
        top = name[:-3] if name.endswith(".py") else name
        for mod_name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            mod = sys.modules[mod_name]
            origin = getattr(mod, "__file__", None) or next(iter(getattr(mod, "__path__", []) or []), None)
            if origin is None or not str(Path(origin).resolve()).startswith(roots):
                del sys.modules[mod_name]


def load_topology(project: Project, name: str | None) -> tuple[str, type]:
    """Import `<topology_specs>/<name>.py` and return (name, its Topology subclass)."""
    from streamparse import Topology

    name, path = project.topology_file(name)
    activate_project(project)
    module_name = f"squall_topology_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TopologyError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise TopologyError(f"importing {path} failed: {exc.__class__.__name__}: {exc}") from exc
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Topology)
        and obj is not Topology
        and obj.__module__ == module_name
    ]
    if len(found) != 1:
        raise TopologyError(
            f"{path} must define exactly one streamparse Topology subclass, found {len(found)}"
            + (f": {', '.join(t.__name__ for t in found)}" if found else "")
        )
    return name, found[0]
