"""Debian packages the services need (`infra/apt-packages.txt`), installed only when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from squall.errors import InfraError


def read_package_list(path: Path) -> list[str]:
    """Package names, one per line; blank lines and `#` comments are ignored."""
    if not path.is_file():
        return []
    names: list[str] = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def is_installed(package: str) -> bool:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, timeout=60
    )
    return proc.returncode == 0 and "install ok installed" in proc.stdout


def missing(packages: list[str]) -> list[str]:
    if not packages:
        return []
    if shutil.which("dpkg-query") is None:
        raise InfraError("dpkg-query not found: squall installs system packages only on Debian/Ubuntu")
    return [p for p in packages if not is_installed(p)]


def install(packages: list[str], timeout: float = 1800) -> list[str]:
    """`apt-get update` once, then `apt-get install -y` what is missing. Returns the packages installed."""
    todo = missing(packages)
    if not todo:
        return []
    if shutil.which("apt-get") is None:
        raise InfraError(
            f"packages {', '.join(todo)} are missing and apt-get is not available; install them by hand"
        )
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *todo]):
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            raise InfraError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}")
    return todo
