"""Every `python` code block of README.md and docs/testing.md is a complete pytest file; each one passes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", "docs/testing.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def examples() -> list[tuple[str, int, str]]:
    found = []
    for doc in DOCS:
        for i, match in enumerate(BLOCK.finditer((ROOT / doc).read_text())):
            found.append((doc, i, match.group(1)))
    return found


def test_the_docs_have_examples() -> None:
    counts = {doc: sum(1 for d, _, _ in examples() if d == doc) for doc in DOCS}
    assert counts["README.md"] >= 1 and counts["docs/testing.md"] >= 4, counts


@pytest.mark.parametrize(("doc", "index", "code"), examples(), ids=[f"{d}#{i}" for d, i, _ in examples()])
def test_example_passes_as_a_pytest_file(tmp_path: Path, doc: str, index: int, code: str) -> None:
    path = tmp_path / f"test_example_{index}.py"
    path.write_text(code)
    tests = re.findall(r"^def (test_\w+)", code, re.M)
    assert tests, f"{doc} example {index} defines no test function"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode == 0, f"{doc} example {index}:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"
    assert f"{len(tests)} passed" in res.stdout, res.stdout[-2000:]
