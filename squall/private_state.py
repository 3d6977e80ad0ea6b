"""The state folder (`.state/`) and what squall writes there are readable by their owner only.

The folder holds the embedded SQLite store, pid files, logs, rendered service configs and the services' data, so
it is created 0700, files squall writes in it are 0600, and the services squall spawns run with umask 077. A
state folder left by an older squall (0755) is tightened, once, the first time squall uses it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

STATE_DIR_NAME = ".state"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as 0700; `path` itself is made 0700 if it already existed."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask
    if _mode(path) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make an existing file 0600 (no-op when it does not exist)."""
    try:
        if _mode(path) != PRIVATE_FILE_MODE:
            os.chmod(path, PRIVATE_FILE_MODE)
    except FileNotFoundError:
        pass
    return path


def open_private(path: Path, append: bool = False) -> int:
    """An OS-level descriptor for writing `path`, created 0600 (an existing file is made 0600 too)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd


def write_private_text(path: Path, text: str) -> Path:
    with os.fdopen(open_private(path), "w") as fh:
        fh.write(text)
    return path


def tighten_tree(root: Path) -> int:
    """Remove group and other permissions from `root` and everything below it; symlinks (and what they point
    at, such as the jar cache) are left alone. Returns how many entries changed."""
    changed = 0
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            entry = Path(folder) / name
            if entry.is_symlink():
                continue
            mode = _mode(entry)
            if mode & 0o077:
                os.chmod(entry, mode & ~0o077)
                changed += 1
    mode = _mode(root)
    if mode != PRIVATE_DIR_MODE:
        os.chmod(root, PRIVATE_DIR_MODE)
        changed += 1
    return changed


def ensure_state_dir(state: Path) -> Path:
    """The state folder, created 0700; an existing one open to others is tightened with all it holds."""
    if state.is_dir() and not state.is_symlink() and _mode(state) & 0o077:
        tighten_tree(state)
    return private_dir(state)
