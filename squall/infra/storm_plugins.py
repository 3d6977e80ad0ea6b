"""squall's Storm plugins: the classes that make Storm's listeners bind one address (`squall.bind.host`).

Storm 2.8 binds Nimbus's and the Supervisor's Thrift servers and each worker's Netty server to the wildcard
address and has no setting to change it. It does load its transport classes by name from storm.yaml, so the
sources in `infra/storm/plugins/` (a Thrift transport plugin and a Netty messaging context that bind
`squall.bind.host`) are compiled with `javac` against the cached storm-client jars into
`<jar cache>/squall-storm-plugins-<digest>/squall-storm-plugins.jar`, and the STORM_HOME gets a copy in
`extlib/`, which is on the classpath of the daemons and of every worker. The digest covers the sources and the
storm-client folder, so an edited source is rebuilt and an unchanged one costs nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from squall.errors import InfraError

JAR_NAME = "squall-storm-plugins.jar"
TRANSPORT_PLUGIN = "squall.storm.HostBoundTransportPlugin"
MESSAGING_CONTEXT = "squall.storm.HostBoundMessagingContext"


def sources(infra: Path) -> list[Path]:
    return sorted((infra / "storm" / "plugins").rglob("*.java"))


def digest(infra: Path, worker_jars: Path) -> str:
    h = hashlib.sha256(worker_jars.name.encode())
    base = infra / "storm" / "plugins"
    for src in sources(infra):
        h.update(str(src.relative_to(base)).encode() + b"\0" + src.read_bytes())
    return h.hexdigest()[:16]


def jar_path(infra: Path, worker_jars: Path, cache: Path) -> Path:
    return cache / f"squall-storm-plugins-{digest(infra, worker_jars)}" / JAR_NAME


def build(infra: Path, worker_jars: Path, cache: Path, timeout: float = 300) -> tuple[Path, bool]:
    """The plugin jar for these sources and this Storm, compiled when missing. Returns (jar, built now)."""
    target = jar_path(infra, worker_jars, cache)
    if target.is_file():
        return target, False
    javac = shutil.which("javac")
    if javac is None:
        raise InfraError(
            "javac is not installed; squall compiles its Storm plugins with it "
            "(fix: apt-get install -y openjdk-17-jdk-headless, or `squall infra install`)"
        )
    srcs = sources(infra)
    if not srcs:
        raise InfraError(
            f"no Java sources under {infra / 'storm' / 'plugins'} (fix: restore infra/storm/plugins)"
        )
    with tempfile.TemporaryDirectory(prefix="squall-storm-plugins-") as tmp:
        classes = Path(tmp) / "classes"
        cmd = [
            javac,
            "--release",
            "11",
            "-nowarn",
            "-d",
            str(classes),
            "-cp",
            f"{worker_jars}/*",
            *map(str, srcs),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise InfraError(
                f"javac did not compile {infra / 'storm' / 'plugins'} within {timeout:.0f}s"
            ) from exc
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise InfraError(
                f"javac could not compile squall's Storm plugins (exit {proc.returncode}):\n{tail}"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        # Unique per process: two `up` calls sharing the jar cache may build at once; the rename is atomic.
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: squall\n\n")
            for cls in sorted(classes.rglob("*.class")):
                jar.write(cls, str(cls.relative_to(classes)))
        partial.rename(target)
    return target, True


def install_into(jar: Path, extlib: Path) -> Path:
    """Copy `jar` into a STORM_HOME's extlib/ (replacing an older build). Returns the copy."""
    extlib.mkdir(parents=True, exist_ok=True)
    dest = extlib / JAR_NAME
    if not dest.is_file() or dest.read_bytes() != jar.read_bytes():
        shutil.copyfile(jar, dest)
    return dest
