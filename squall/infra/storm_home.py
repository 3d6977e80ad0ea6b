"""A STORM_HOME folder tree under the state folder, laid out as Storm's own distribution is.

    <state>/storm/home/
      lib/          -> jar cache storm-lib-<v>          (storm-server + deps: Nimbus, Supervisor classpath)
      lib-worker/   -> jar cache storm-lib-worker-<v>   (storm-client + deps: what workers get, see BasicContainer)
      conf/storm.yaml                                   (on every daemon's and worker's classpath)
      log4j2/cluster.xml, log4j2/worker.xml             (daemons' and workers' logging)

The daemons run as bin/storm.py runs them: `-Dstorm.home`, `-Dstorm.log.dir`, `-Dlogfile.name`,
`-Dlog4j.configurationFile=<home>/log4j2/cluster.xml`, classpath `<home>/*:lib/*:extlib/*:extlib-daemon/*:conf`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from squall.infra.render import render_file
from squall.private_state import private_dir

LIB_POM = "storm/lib/pom.xml"
WORKER_POM = "storm/lib-worker/pom.xml"


@dataclass(frozen=True)
class StormHome:
    home: Path
    log_dir: Path
    local_dir: Path

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def log4j2_dir(self) -> Path:
        return self.home / "log4j2"

    def daemon_classpath(self) -> str:
        parts = [
            f"{self.home}/*",
            f"{self.home / 'lib'}/*",
            f"{self.home / 'extlib'}/*",
            f"{self.home / 'extlib-daemon'}/*",
        ]
        return os.pathsep.join([*parts, str(self.conf_dir)])

    def daemon_argv(self, java: str, daemon: str, main_class: str, heap_opts: list[str]) -> list[str]:
        """The command line bin/storm.py would exec for `storm <daemon>`."""
        return [
            java,
            "-server",
            f"-Ddaemon.name={daemon}",
            "-Dstorm.options=",
            f"-Dstorm.home={self.home}",
            f"-Dstorm.log.dir={self.log_dir}",
            "-Djava.library.path=/usr/local/lib:/opt/local/lib:/usr/lib",
            "-Dstorm.conf.file=",
            "-cp",
            self.daemon_classpath(),
            *heap_opts,
            "-Djava.deserialization.disabled=true",
            f"-Dlogfile.name={daemon}.log",
            f"-Dlog4j.configurationFile={self.log4j2_dir / 'cluster.xml'}",
            main_class,
        ]


def _link(target: Path, link: Path) -> None:
    """Point `link` at `target` (replacing a stale link or folder)."""
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(target, target_is_directory=True)


def build(
    home: Path,
    infra: Path,
    lib_jars: Path,
    worker_jars: Path,
    values: dict[str, object],
    log_dir: Path,
    local_dir: Path,
) -> StormHome:
    """Create or refresh the tree; `values` fill infra/storm/storm.yaml's placeholders."""
    for d in (
        home,
        home / "conf",
        home / "log4j2",
        home / "extlib",
        home / "extlib-daemon",
        log_dir,
        local_dir,
    ):
        private_dir(d)
    _link(lib_jars, home / "lib")
    _link(worker_jars, home / "lib-worker")
    render_file(infra / "storm" / "storm.yaml", home / "conf" / "storm.yaml", values)
    for name in ("cluster.xml", "worker.xml"):
        src = infra / "storm" / "log4j2" / name
        dst = home / "log4j2" / name
        if not dst.is_file() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o600)
    return StormHome(home=home, log_dir=log_dir, local_dir=local_dir)


def slots_yaml(slots: tuple[int, ...]) -> str:
    return "\n".join(f"  - {p}" for p in slots)
