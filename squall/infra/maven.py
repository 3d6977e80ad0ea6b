"""Resolving a service's runtime classpath from Maven Central into the jar cache.

Each `infra/**/pom.xml` lists one service's artifacts; `mvn dependency:copy-dependencies` copies them (with all
transitive runtime dependencies) into `<jar cache>/<artifactId>-<version>/`. A stamp file holding the pom's
hash marks a finished copy, so a second install is a no-op and an edited pom re-resolves.
"""

from __future__ import annotations

import hashlib
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from squall.errors import InfraError
from squall.infra.progress import Report, maven_line, run_reporting

_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
STAMP = ".squall-resolved"


@dataclass(frozen=True)
class Artifacts:
    """One pom and where its jars go."""

    pom: Path
    artifact_id: str
    version: str

    @classmethod
    def from_pom(cls, pom: Path) -> Artifacts:
        try:
            tree = ET.parse(pom)
        except (OSError, ET.ParseError) as exc:
            raise InfraError(f"{pom}: cannot read the pom ({exc})") from exc
        root = tree.getroot()
        artifact_id = root.findtext("m:artifactId", namespaces=_NS)
        version = root.findtext("m:version", namespaces=_NS)
        if not artifact_id or not version:
            raise InfraError(f"{pom}: needs <artifactId> and <version> (they name the jar cache folder)")
        return cls(pom=pom, artifact_id=artifact_id.strip(), version=version.strip())

    @property
    def dir_name(self) -> str:
        return f"{self.artifact_id}-{self.version}"

    def target(self, cache: Path) -> Path:
        return cache / self.dir_name

    def digest(self) -> str:
        return hashlib.sha256(self.pom.read_bytes()).hexdigest()

    def is_resolved(self, cache: Path) -> bool:
        stamp = self.target(cache) / STAMP
        return stamp.is_file() and stamp.read_text().strip() == self.digest()


def mvn_command(artifacts: Artifacts, output: Path, repo_local: Path | None = None) -> list[str]:
    cmd = [
        "mvn",
        "-B",  # batch mode still prints one "Downloaded from ... (size at rate)" line per file
        "-f",
        str(artifacts.pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={output}",
    ]
    if repo_local is not None:
        cmd.append(f"-Dmaven.repo.local={repo_local}")
    return cmd


def _quiet(_: str) -> None:
    pass


def resolve(
    artifacts: Artifacts,
    cache: Path,
    repo_local: Path | None = None,
    timeout: float = 1800,
    report: Report = _quiet,
) -> bool:
    """Copy the pom's runtime jars into the cache, reporting each file Maven downloads (size and rate).
    Returns False when they were already there."""
    if artifacts.is_resolved(cache):
        return False
    if shutil.which("mvn") is None:
        raise InfraError(
            "Maven (mvn) is not installed (fix: apt-get install -y maven, or `squall infra install`)"
        )
    target = artifacts.target(cache)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    report(f"maven: resolving {artifacts.dir_name} ({artifacts.pom.name}) from Maven Central")
    code, tail = run_reporting(
        mvn_command(artifacts, partial, repo_local), maven_line, report, timeout=timeout
    )
    if code == -9:
        raise InfraError(f"mvn did not finish resolving {artifacts.pom} within {timeout:.0f}s")
    if code != 0:
        raise InfraError(f"mvn could not resolve {artifacts.pom} (exit {code}):\n{tail}")
    (partial / STAMP).write_text(artifacts.digest() + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return True


def find_jar(folder: Path, prefix: str) -> Path:
    """The one jar in `folder` whose name starts with `prefix-<digit>` (e.g. jamm-0.4.0.jar for "jamm")."""
    matches = sorted(
        p for p in folder.glob(f"{prefix}-*.jar") if p.name[len(prefix) + 1 : len(prefix) + 2].isdigit()
    )
    if not matches:
        raise InfraError(f"no {prefix}-<version>.jar in {folder} (fix: run `squall infra install`)")
    return matches[-1]
