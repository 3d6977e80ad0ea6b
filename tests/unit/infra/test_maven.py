from __future__ import annotations

from pathlib import Path

import pytest

from squall.errors import InfraError
from squall.infra.maven import STAMP, Artifacts, find_jar, mvn_command

INFRA = Path(__file__).resolve().parents[3] / "infra"


@pytest.mark.parametrize(
    ("pom", "name"),
    [
        ("zookeeper/pom.xml", "zookeeper-3.9.3"),
        ("kafka/pom.xml", "kafka-4.1.1"),
        ("cassandra/pom.xml", "cassandra-5.0.6"),
        ("storm/lib/pom.xml", "storm-lib-2.8.3"),
        ("storm/lib-worker/pom.xml", "storm-lib-worker-2.8.3"),
    ],
)
def test_each_pom_names_its_cache_folder(pom: str, name: str) -> None:
    assert Artifacts.from_pom(INFRA / pom).dir_name == name


def test_stamp_marks_a_finished_copy_of_this_pom(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text((INFRA / "zookeeper" / "pom.xml").read_text())
    art = Artifacts.from_pom(pom)
    cache = tmp_path / "cache"
    assert not art.is_resolved(cache)
    art.target(cache).mkdir(parents=True)
    (art.target(cache) / STAMP).write_text(art.digest())
    assert art.is_resolved(cache)
    pom.write_text(pom.read_text().replace("</dependencies>", "<!-- edited --></dependencies>"))
    assert not art.is_resolved(cache)


def test_mvn_command_copies_runtime_deps_and_can_use_another_repo(tmp_path: Path) -> None:
    art = Artifacts.from_pom(INFRA / "kafka" / "pom.xml")
    cmd = mvn_command(art, tmp_path / "out", tmp_path / "repo")
    assert cmd[:2] == ["mvn", "-B"]
    assert "dependency:copy-dependencies" in cmd
    assert f"-DoutputDirectory={tmp_path / 'out'}" in cmd
    assert f"-Dmaven.repo.local={tmp_path / 'repo'}" in cmd


def test_bad_pom_is_a_clear_error(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text(
        "<project xmlns='http://maven.apache.org/POM/4.0.0'><modelVersion>4.0.0</modelVersion></project>"
    )
    with pytest.raises(InfraError, match="needs <artifactId> and <version>"):
        Artifacts.from_pom(pom)


def test_find_jar_picks_the_versioned_jar(tmp_path: Path) -> None:
    for name in ("jamm-0.4.0.jar", "jammy-extra-1.0.jar", "other-1.jar"):
        (tmp_path / name).write_bytes(b"")
    assert find_jar(tmp_path, "jamm").name == "jamm-0.4.0.jar"
    with pytest.raises(InfraError, match="squall infra install"):
        find_jar(tmp_path, "netty")
