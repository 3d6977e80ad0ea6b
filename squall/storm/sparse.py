"""The project's `sparse` command: streamparse's own CLI with squall's Storm 2.8 compatibility patches applied.

Installed as the `sparse` console script of this project (pyproject.toml), replacing streamparse's script of the
same name in the venv; `python -m squall.storm` is the same thing. Flags and subcommands are streamparse's.
"""

from __future__ import annotations

import os
import sys

from squall.errors import SquallError


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = ["sparse", *argv]
    from squall.quiet import quiet_dependency_warnings

    quiet_dependency_warnings()
    from squall.storm.layer import warn_if_broken

    warn_if_broken()  # e.g. a streamparse release the patches were not written for
    args = sys.argv[1:]
    if args[:1] == ["--version"]:
        print(version_line())
        return 0
    if args[:1] == ["visualize"]:
        refusal = visualize_refusal()
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return 2
    # Leiningen asks for confirmation when run as root; streamparse refuses to start without this variable.
    if hasattr(os, "getuid") and os.getuid() == 0:
        os.environ.setdefault("LEIN_ROOT", "1")
    from squall.storm.patches import install

    install()
    from streamparse.cli.sparse import main as streamparse_main

    try:
        streamparse_main()
    except SquallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def version_line() -> str:
    """`sparse --version`: streamparse's version, and that squall's layer is what runs."""
    from squall import __version__
    from squall.storm.layer import streamparse_version

    return (
        f"sparse {streamparse_version()} (streamparse) with squall {__version__}'s Storm 2.8 compatibility "
        "layer (squall.storm; `squall doctor` checks it)"
    )


def visualize_refusal() -> str | None:
    """Why `sparse visualize` cannot run here (the graphviz library or Graphviz's `dot`), or None."""
    import shutil

    try:
        import graphviz  # noqa: F401
    except ImportError:
        return "sparse visualize needs the graphviz Python library (fix: pip install graphviz, or reinstall squall)"
    if shutil.which("dot") is None:
        return (
            "sparse visualize needs Graphviz's `dot` program (fix: apt-get install graphviz, or "
            "`squall infra install`)"
        )
    return None


if __name__ == "__main__":
    sys.exit(main())
