"""The topology jar: what goes into resources/, and the lein calls around it.

streamparse builds the jar with Leiningen from the project's project.clj; squall keeps that, but stages
resources/ with squall.resources (src/, spouts/, bolts/) plus the squall package itself, so workers import the
framework even where it is not installed, and always builds the uber-jar (Storm is `provided` in project.clj, so it
holds only the project's Java classes, msgpack-core and the Python code).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import squall
from squall.config import Project
from squall.errors import InfraError
from squall.resources import stage_resources

RESOURCES_DIR = Path("_resources") / "resources"
FRAMEWORK_PACKAGE = "squall"
LEIN_TIMEOUT_SECS = 600


def stage_jar_resources(project: Project) -> Path:
    """Fill `<root>/_resources/resources` (project.clj's resource path) with what Storm's workers import."""
    dest = stage_resources(project, project.root / RESOURCES_DIR)
    framework = Path(squall.__file__).resolve().parent
    if not (dest / FRAMEWORK_PACKAGE).exists():
        shutil.copytree(
            framework, dest / FRAMEWORK_PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return dest


def lein_env() -> dict[str, str]:
    """The environment for lein: LEIN_ROOT=1 when running as root (lein would otherwise wait for a keypress)."""
    env = dict(os.environ)
    if hasattr(os, "getuid") and os.getuid() == 0:
        env.setdefault("LEIN_ROOT", "1")
    return env


def require_lein() -> str:
    lein = shutil.which("lein")
    if lein is None:
        raise InfraError(
            "lein (Leiningen) is not on PATH; streamparse builds topology jars with it "
            "(fix: `squall infra install` installs the Debian package leiningen)"
        )
    return lein


def local_classpath(project_root: Path) -> str:
    """The classpath of Storm local mode: project.clj's :local profile (storm-server 2.8), resolved by lein."""
    lein = require_lein()
    try:
        res = subprocess.run(
            [lein, "with-profile", "+local", "classpath"],
            cwd=project_root,
            env=lein_env(),
            capture_output=True,
            text=True,
            timeout=LEIN_TIMEOUT_SECS,
        )
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"`lein with-profile +local classpath` took more than {LEIN_TIMEOUT_SECS}s") from exc
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    if res.returncode != 0 or not lines:
        raise InfraError(f"`lein with-profile +local classpath` failed:\n{res.stdout}\n{res.stderr}")
    return lines[-1].strip()
