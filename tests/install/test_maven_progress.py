"""`squall infra install` shows each file Maven downloads (name, size, rate): a real `mvn` resolving a one-jar
pom into an empty local repository, from Maven Central."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from squall.infra import maven

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>squall.test</groupId>
  <artifactId>tiny</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.msgpack</groupId><artifactId>msgpack-core</artifactId><version>0.9.8</version></dependency>
  </dependencies>
</project>
"""


@pytest.mark.skipif(shutil.which("mvn") is None, reason="needs Maven (squall infra install installs it)")
def test_each_download_is_reported_with_size_and_rate(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text(POM)
    lines: list[str] = []
    art = maven.Artifacts.from_pom(pom)
    assert maven.resolve(art, tmp_path / "cache", tmp_path / "repo", timeout=600, report=lines.append)
    assert lines[0] == "maven: resolving tiny-1 (pom.xml) from Maven Central"
    progress = re.compile(r"^maven: \S+\.(jar|pom) \([\d.]+ [kM]?B at [\d.]+ [kM]?B/s\)$")
    downloads = [line for line in lines[1:] if progress.match(line)]
    assert len(downloads) == len(lines) - 1 and len(downloads) > 10
    assert any(line.startswith("maven: msgpack-core-0.9.8.jar (") for line in downloads)
    assert (tmp_path / "cache" / "tiny-1" / "msgpack-core-0.9.8.jar").is_file()
    again: list[str] = []
    assert not maven.resolve(art, tmp_path / "cache", tmp_path / "repo", report=again.append)
    assert again == []  # cached: nothing to say, nothing downloaded
