"""Debian packages the services need (`infra/apt-packages.txt`), installed only when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from squall.errors import InfraError
from squall.infra.progress import Report, apt_line, run_reporting


def _quiet(_: str) -> None:
    pass


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


def privilege_prefix(euid: int | None = None, which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """What goes before `apt-get`: nothing as root, else `sudo` (InfraError naming the fix when there is none)."""
    if (os.geteuid() if euid is None else euid) == 0:
        return []
    sudo = which("sudo")
    if sudo is None:
        raise InfraError(
            "installing Debian packages needs root, this is not root and sudo is not installed "
            "(fix: run `squall infra install` as root, install the packages of infra/apt-packages.txt yourself, "
            "or skip them with `squall infra install --no-apt`)"
        )
    return [sudo, "env"]


def commands(todo: list[str], prefix: list[str]) -> list[list[str]]:
    """`apt-get update`, then `apt-get install` of `todo`, each after `prefix` (sudo env, or nothing)."""
    front = [*prefix, "DEBIAN_FRONTEND=noninteractive"] if prefix else []
    return [
        [*front, "apt-get", "update"],
        [*front, "apt-get", "install", "-y", "--no-install-recommends", *todo],
    ]


def install(packages: list[str], timeout: float = 1800, report: Report = _quiet) -> list[str]:
    """`apt-get update` once, then `apt-get install -y` what is missing (with sudo when not root), reporting each
    package downloaded and set up. Returns the packages installed."""
    todo = missing(packages)
    if not todo:
        return []
    if shutil.which("apt-get") is None:
        raise InfraError(
            f"packages {', '.join(todo)} are missing and apt-get is not available; install them by hand"
        )
    prefix = privilege_prefix()
    how = "with sudo" if prefix else "as root"
    report(f"apt: installing {', '.join(todo)} ({how}; apt-get update first)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in commands(todo, prefix):
        code, tail = run_reporting(cmd, apt_line, report, timeout=timeout, env=env)
        if code != 0:
            raise InfraError(f"`{' '.join(cmd)}` failed (exit {code}):\n{tail}")
    return todo
