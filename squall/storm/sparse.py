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


if __name__ == "__main__":
    sys.exit(main())
