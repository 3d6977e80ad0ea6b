"""Config files from the templates in infra/: `${name}` placeholders filled from a dict, nothing else."""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path

from squall.errors import InfraError
from squall.private_state import private_dir, private_file, write_private_text


def render_text(template: str, values: Mapping[str, object], source: str = "template") -> str:
    try:
        return string.Template(template).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise InfraError(f"{source}: placeholder ${{{exc.args[0]}}} has no value") from exc
    except ValueError as exc:
        raise InfraError(f"{source}: bad placeholder ({exc})") from exc


def render_file(template: Path, target: Path, values: Mapping[str, object]) -> Path:
    """Render `template` into `target` (0600; written only when the text changed). Returns `target`."""
    text = render_text(template.read_text(), values, str(template))
    private_dir(target.parent)
    if not target.is_file() or target.read_text() != text:
        write_private_text(target, text)
    return private_file(target)


def read_jvm_options(path: Path) -> list[str]:
    """A Cassandra-style jvm*.options file: one option per line, `#` comments and blank lines skipped."""
    out: list[str] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out
