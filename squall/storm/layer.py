"""Is squall's Storm 2.8 compatibility layer in place? And putting it back.

The layer is the venv's `sparse` console script pointing at squall.storm.sparse:main (pyproject.toml), over
streamparse 5.0.1. Reinstalling streamparse rewrites that script as streamparse's own, whose `sparse submit`
and `sparse run` then fail against Storm 2.8; a different streamparse release no longer matches the patches.
Every `squall` command checks this cheaply (`warn_if_broken`) and `squall doctor` checks it fully (`--fix`
rewrites the script).
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import click

ENTRY = "squall.storm.sparse"
STREAMPARSE_VERSION = "5.0.1"  # the release the patches in squall.storm.patches are written against
FIX = "run `squall doctor --fix`, or reinstall squall"


def sparse_script() -> Path:
    """The `sparse` console script of the running interpreter's environment."""
    return Path(sys.executable).parent / "sparse"


def streamparse_version() -> str | None:
    try:
        return metadata.version("streamparse")
    except metadata.PackageNotFoundError:
        return None


def script_is_ours(script: Path | None = None) -> bool:
    path = script or sparse_script()
    try:
        return ENTRY in path.read_text(errors="replace")
    except OSError:
        return False


def problems() -> list[str]:
    """What is wrong with the layer, cheaply (no streamparse import): one line each, empty when all is well."""
    found: list[str] = []
    version = streamparse_version()
    if version is None:
        found.append("streamparse is not installed (fix: reinstall squall, which requires it)")
    elif version != STREAMPARSE_VERSION:
        found.append(
            f"streamparse {version} is installed; squall's Storm 2.8 layer is written for "
            f"{STREAMPARSE_VERSION} (fix: pip install streamparse=={STREAMPARSE_VERSION})"
        )
    script = sparse_script()
    if not script.exists():
        found.append(f"{script} is missing: `sparse` is not installed ({FIX})")
    elif not script_is_ours(script):
        found.append(
            f"{script} is streamparse's own `sparse` (streamparse was reinstalled): squall's Storm 2.8 "
            f"compatibility layer is gone, so `sparse submit`/`sparse run` will fail on Storm 2.8 ({FIX})"
        )
    return found


def warn_if_broken() -> None:
    """One loud line on stderr per problem; silent when the layer is in place (or SQUALL_NO_LAYER_CHECK=1)."""
    if os.environ.get("SQUALL_NO_LAYER_CHECK") == "1":
        return
    for line in problems():
        click.secho(f"warning: {line}", fg="yellow", err=True)


def write_sparse_script(script: Path | None = None) -> Path:
    """(Re)write the `sparse` console script so that it runs squall's layer (what installing squall writes)."""
    path = script or sparse_script()
    text = (
        f"#!{sys.executable}\n"
        "import sys\n"
        f"from {ENTRY} import main\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(main())\n"
    )
    tmp = path.with_name(path.name + ".squall-tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(path)
    return path
