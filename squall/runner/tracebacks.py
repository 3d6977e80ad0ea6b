"""Tracebacks and logs that name the user's files, and the signature that tells two failures apart.

In process hosting components import from the staged resources/ folder (a temporary folder of symlinks to the
project's src/, spouts/, bolts/...), so Python names `/tmp/squall-resources-*/resources/bolts/x.py` in
tracebacks. `user_paths` maps every such path back to the project file it links to, as inline hosting (which
imports from the project itself) shows them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TRACEBACK_HEADER = "Traceback (most recent call last)"
_PATH_END = r"[^\s\"',:)\]]*"


def has_traceback(text: str) -> bool:
    return TRACEBACK_HEADER in text


class PathMapper:
    """Rewrites paths under a staged resources folder to the real files they stand for (symlinks resolved)."""

    def __init__(self, staged: Path) -> None:
        self.staged = str(staged)
        prefixes = {self.staged, os.path.realpath(self.staged)}
        alternatives = "|".join(re.escape(p.rstrip("/")) for p in sorted(prefixes, key=len, reverse=True))
        self._pattern = re.compile(f"(?:{alternatives})/{_PATH_END}")
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if self.staged not in text and "squall-resources-" not in text:
            return text
        return self._pattern.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        path = match.group(0)
        mapped = self._cache.get(path)
        if mapped is None:
            real = os.path.realpath(path)
            # a path that resolves inside the staged folder itself (a staged copy, not a link) stays as it is
            mapped = path if real.startswith(os.path.realpath(self.staged) + os.sep) else real
            self._cache[path] = mapped
        return mapped
