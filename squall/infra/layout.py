"""Where squall's services keep their files: configs in the repo, jars in a user cache, state in `.state/`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from squall.private_state import STATE_DIR_NAME

__all__ = ["STATE_DIR_NAME", "Layout", "default_jar_cache"]

CACHE_ENV = "SQUALL_JAR_CACHE"


def default_jar_cache() -> Path:
    """`$SQUALL_JAR_CACHE`, else `$XDG_CACHE_HOME/squall/jars`, else `~/.cache/squall/jars`.

    It lives outside the work tree so a fresh clone on the same machine reuses the resolved jars.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "squall" / "jars"


@dataclass(frozen=True)
class Layout:
    """The three roots: the project (holds infra/), the state folder and the jar cache."""

    root: Path
    state: Path
    jar_cache: Path

    @classmethod
    def for_project(cls, root: Path, jar_cache: Path | None = None) -> Layout:
        return cls(root=root, state=root / STATE_DIR_NAME, jar_cache=jar_cache or default_jar_cache())

    @property
    def infra(self) -> Path:
        return self.root / "infra"

    def service_dir(self, name: str) -> Path:
        return self.state / name

    def data_dir(self, name: str) -> Path:
        return self.service_dir(name) / "data"

    def log_dir(self, name: str) -> Path:
        return self.service_dir(name) / "logs"

    def conf_dir(self, name: str) -> Path:
        return self.service_dir(name) / "conf"

    def pid_file(self, name: str) -> Path:
        return self.service_dir(name) / f"{name}.pid"

    def console_log(self, name: str) -> Path:
        """stdout+stderr of the service's JVM (the first place a startup failure shows)."""
        return self.log_dir(name) / "console.log"
