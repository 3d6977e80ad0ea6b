"""Local runner tests: full topologies, no JVM, run in both hostings (inline and process), like bytewax's
conftest reruns flows under each execution mode."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from urllib.request import urlopen

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
STORM_MULTILANG_VERSION = os.environ.get("SQUALL_STORM_MULTILANG_VERSION", "2.8.3")
MAVEN = "https://repo1.maven.org/maven2/org/apache/storm"


@pytest.fixture(params=["inline", "process"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def semantics_project() -> Path:
    return FIXTURES / "semantics"


def _fetch_adapter(artifact: str, name: str, cache: Path) -> Path:
    target = cache / name
    if target.is_file():
        return target
    url = f"{MAVEN}/{artifact}/{STORM_MULTILANG_VERSION}/{artifact}-{STORM_MULTILANG_VERSION}.jar"
    with urlopen(url, timeout=60) as response:  # noqa: S310 - Maven Central over https
        data = response.read()
    with zipfile.ZipFile(io.BytesIO(data)) as jar:
        content = jar.read(f"resources/{name}")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(content)
    tmp.replace(target)
    return target


@pytest.fixture(scope="session")
def storm_multilang() -> list[Path]:
    """Storm's own multilang adapters (storm.py, storm.js) from Maven Central, cached, never committed."""
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "squall"
        / "multilang"
        / STORM_MULTILANG_VERSION
    )
    try:
        return [
            _fetch_adapter("multilang-python", "storm.py", cache),
            _fetch_adapter("multilang-javascript", "storm.js", cache),
        ]
    except OSError as exc:
        pytest.fail(f"could not fetch Storm's multilang adapters from Maven Central: {exc}")
