"""squall's Storm plugins compile against the cached storm-client jars into one jar, once per source digest."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from squall.errors import InfraError
from squall.infra import storm_plugins
from squall.infra.layout import default_jar_cache
from squall.infra.maven import Artifacts
from squall.infra.storm_home import WORKER_POM

INFRA = Path(__file__).resolve().parents[3] / "infra"


@pytest.fixture(scope="module")
def worker_jars() -> Path:
    artifacts = Artifacts.from_pom(INFRA / WORKER_POM)
    cache = default_jar_cache()
    if not artifacts.is_resolved(cache) or shutil.which("javac") is None:
        pytest.skip("needs `squall infra install` (storm-client jars in the jar cache, and javac)")
    return artifacts.target(cache)


def test_builds_the_plugin_classes_once(worker_jars: Path, tmp_path: Path) -> None:
    jar, built = storm_plugins.build(INFRA, worker_jars, tmp_path)
    assert built and jar.is_file()
    names = set(zipfile.ZipFile(jar).namelist())
    for cls in (storm_plugins.TRANSPORT_PLUGIN, storm_plugins.MESSAGING_CONTEXT):
        assert cls.replace(".", "/") + ".class" in names
    again, built_again = storm_plugins.build(INFRA, worker_jars, tmp_path)
    assert again == jar and not built_again
    copy = storm_plugins.install_into(jar, tmp_path / "home" / "extlib")
    assert copy.read_bytes() == jar.read_bytes()


def test_an_edited_source_gets_a_new_jar(worker_jars: Path, tmp_path: Path) -> None:
    infra = tmp_path / "infra"
    shutil.copytree(INFRA / "storm" / "plugins", infra / "storm" / "plugins")
    first = storm_plugins.jar_path(infra, worker_jars, tmp_path / "cache")
    src = next((infra / "storm" / "plugins").rglob("BindHost.java"))
    src.write_text(src.read_text() + "\n// edited\n")
    assert storm_plugins.jar_path(infra, worker_jars, tmp_path / "cache") != first


def test_a_compile_error_is_reported_with_javacs_output(worker_jars: Path, tmp_path: Path) -> None:
    infra = tmp_path / "infra"
    broken = infra / "storm" / "plugins" / "squall" / "storm" / "Broken.java"
    broken.parent.mkdir(parents=True)
    broken.write_text("package squall.storm; class Broken { int x = ; }\n")
    with pytest.raises(InfraError, match=r"(?s)javac could not compile squall's Storm plugins.*Broken.java"):
        storm_plugins.build(infra, worker_jars, tmp_path / "cache")
