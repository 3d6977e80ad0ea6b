"""What goes into a topology's `resources/`: the folder Storm runs shell components from.

Storm starts every shell component (streamparse's `streamparse_run module.Class`, `node bolt.js`, ...) with
its working directory set to the topology jar's `resources/` folder. streamparse's jar builder puts the
*contents* of `src/` there (quickstart layout); this project keeps `spouts/` and `bolts/` at the top level,
so they go there too. `squall run` (a staged copy of symlinks) and the deploy jar (real copies) both use
this module, so local runs import components exactly as a Storm worker does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from squall.config import Project

# Top-level folders of a project that belong in resources/ besides the contents of src/.
TOP_LEVEL_PACKAGES = ("spouts", "bolts")
_SKIP = {"__pycache__", ".pytest_cache", ".mypy_cache"}


def resource_roots(project: Project) -> list[Path]:
    """The paths whose *entries* land in resources/: `src/` (its contents), then top-level spouts/ bolts/.

    An entry of a later root never replaces one of an earlier root (src/ wins, as in streamparse).
    """
    roots: list[Path] = []
    src = project.root / "src"
    if src.is_dir():
        roots.append(src)
    return roots


def resource_entries(project: Project) -> dict[str, Path]:
    """name in resources/ -> the file or folder it comes from."""
    entries: dict[str, Path] = {}
    for root in resource_roots(project):
        for child in sorted(root.iterdir()):
            if child.name in _SKIP or child.name.startswith("."):
                continue
            entries.setdefault(child.name, child)
    for name in TOP_LEVEL_PACKAGES:
        path = project.root / name
        if path.is_dir():
            entries.setdefault(name, path)
    return entries


def import_paths(project: Project) -> list[Path]:
    """Folders to put on sys.path so the runner's own process imports components as resources/ would."""
    paths = list(resource_roots(project))
    if any((project.root / name).is_dir() for name in TOP_LEVEL_PACKAGES):
        paths.append(project.root)
    return paths


def stage_resources(project: Project, dest: Path, *, link: bool = False) -> Path:
    """Build `dest` as Storm's resources/ folder. `link=True` symlinks folders (local runs: edits show up, no
    copying), else copies everything (jar). Files are always copied: node and python resolve a script's
    symlink to its real folder, and then `require('./storm')` / `import storm` would miss resources/.

    `dest` is emptied first; returns `dest`.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name, source in resource_entries(project).items():
        target = dest / name
        if link and source.is_dir():
            target.symlink_to(source.resolve(), target_is_directory=source.is_dir())
        elif source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(*_SKIP))
        else:
            shutil.copy2(source, target)
    return dest
