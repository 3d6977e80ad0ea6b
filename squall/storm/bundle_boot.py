"""Start a Python component from a self-contained topology jar: the worker side of squall.storm.bundle.

Storm starts each Python component of a bundled topology as `<python> -c "from _squall_bundle.boot import main;
main('<streamparse_run arguments>')"` in the topology's `resources/` folder (the jar's). This module is copied
there as `_squall_bundle/boot.py` and runs on the worker's own interpreter, so it uses the standard library only.

On first start it creates a virtualenv next to `resources/` (`<stormdist>/<topology-id>/squall-python/<key>`,
key = hash of the bundled wheels and Python) and installs the bundled wheels into it with the bundled pip, no
index, no network; one process creates it under a file lock, the others wait and reuse it. Then it replaces
itself (same pid, which Storm already knows from the multilang handshake that follows) with that venv's
`streamparse_run`. Nothing is ever written to stdout: stdout is the multilang channel.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BUNDLE_DIR = "_squall_bundle"
MANIFEST = "manifest.json"
ENVS_DIR = "squall-python"
READY = ".squall-ready"
RUNNER = "streamparse_run"


def log(message: str) -> None:
    print(f"squall bundle: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    log(message)
    raise SystemExit(1)


def read_manifest(resources: Path) -> dict[str, object]:
    path = resources / BUNDLE_DIR / MANIFEST
    try:
        data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path}: {exc} (fix: rebuild the topology jar with `sparse submit`)")
    return data


def check_python(manifest: dict[str, object]) -> None:
    wanted = str(manifest["python"])
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if have != wanted:
        fail(
            f"the jar's wheels are for Python {wanted} but {sys.executable} is Python {have} "
            f"(fix: install Python {wanted} on the worker, or set the env's bundle_interpreter to it)"
        )


def env_dir(resources: Path, manifest: dict[str, object]) -> Path:
    return resources.resolve().parent / ENVS_DIR / str(manifest["key"])


def create_env(target: Path, resources: Path, manifest: dict[str, object]) -> None:
    """A fresh venv at `target` holding exactly the bundled wheels (pip runs from its wheel, not installed)."""
    if target.exists():
        shutil.rmtree(target)  # a half-built one from a process killed mid-way
    target.parent.mkdir(parents=True, exist_ok=True)
    wheelhouse = resources / BUNDLE_DIR / "wheelhouse"
    log_path = target.parent / f"{target.name}.install.log"
    with open(log_path, "w", encoding="utf-8") as out:
        steps = [
            [sys.executable, "-m", "venv", "--without-pip", str(target)],
            [
                str(target / "bin" / "python"),
                str(wheelhouse / str(manifest["pip_wheel"]) / "pip"),
                "install",
                "--no-index",
                "--find-links",
                str(wheelhouse),
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--no-warn-script-location",
                *[str(wheelhouse / str(name)) for name in manifest["wheels"]],  # type: ignore[attr-defined]
            ],
        ]
        for cmd in steps:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            if res.returncode != 0:
                out.flush()
                tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                fail(f"`{' '.join(cmd[:3])} ...` exited {res.returncode}; see {log_path}:\n{tail}")
    (target / READY).write_text(str(manifest["key"]), encoding="utf-8")


def ensure_env(resources: Path, manifest: dict[str, object]) -> Path:
    """The ready venv for this jar, created once per topology (per key) by whichever process gets the lock."""
    target = env_dir(resources, manifest)
    if (target / READY).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / READY).exists():
            started = time.monotonic()
            create_env(target, resources, manifest)
            log(f"created {target} in {time.monotonic() - started:.1f}s")
    return target


def main(script: str) -> None:
    """Run streamparse_run with `script` (e.g. `-s json bolts.echo.EchoBolt`) from the jar's environment."""
    resources = Path.cwd()
    manifest = read_manifest(resources)
    check_python(manifest)
    target = ensure_env(resources, manifest)
    python = target / "bin" / "python"
    runner = target / "bin" / RUNNER
    sys.stderr.flush()
    os.execv(str(python), [str(python), str(runner), script])
