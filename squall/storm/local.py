"""`sparse run` on Storm 2.8: local mode is `org.apache.storm.LocalCluster` running a submitting main class.

streamparse 5 runs `storm jar JAR org.apache.storm.flux.Flux --local`, which Storm 2 rejects (and Flux 2 has no
in-process cluster). squall submits the very Thrift topology `sparse submit` would send to Nimbus, through
`squall.storm.SubmitThriftTopology` (java/src) under LocalCluster, the same thing `storm local` does. The JVM's
classpath is the topology jar plus project.clj's :local profile, so no Storm installation is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.config import load_project
from squall.errors import InfraError
from squall.storm.jar import local_classpath
from squall.storm.options import RUNNER_COMMAND, runner_command, set_runner_command

LOCAL_CLUSTER_MAIN = "org.apache.storm.LocalCluster"
SUBMIT_MAIN = "squall.storm.SubmitThriftTopology"
FOREVER_SECS = 10 * 365 * 24 * 3600


@dataclass(frozen=True)
class LocalRun:
    """Everything one Storm local-mode run needs, computed before anything starts."""

    name: str
    jar: Path
    classpath: str
    conf_path: Path
    topology_path: Path
    seconds: int
    jvm_opts: tuple[str, ...] = ("-Xmx768m",)

    def command(self, java: str = "java") -> list[str]:
        return [
            java,
            *self.jvm_opts,
            "-cp",
            f"{self.jar}{os.pathsep}{self.classpath}",
            f"-Dstorm.jar={self.jar}",
            f"-Dstorm.local.sleeptime={self.seconds}",
            LOCAL_CLUSTER_MAIN,
            SUBMIT_MAIN,
            self.name,
            str(self.conf_path),
            str(self.topology_path),
        ]


def local_options(storm_options: Mapping[str, Any]) -> dict[str, Any]:
    """Local mode runs one worker; a non-zero acker count becomes 1 (as streamparse's `sparse run` did)."""
    out = dict(storm_options)
    out["topology.workers"] = 1
    if out.get("topology.acker.executors", 1) != 0:
        out["topology.acker.executors"] = 1
    return out


def local_runner_command(env_config: Mapping[str, Any], topology_name: str) -> str:
    """With a virtualenv configured, its streamparse_run; else the one of the Python running `sparse`."""
    command = runner_command(env_config, topology_name)
    if command != RUNNER_COMMAND:
        return command
    own = Path(sysconfig.get_path("scripts")) / RUNNER_COMMAND
    return str(own) if own.exists() else command


def run_seconds(time: int) -> int:
    return time if time > 0 else FOREVER_SECS


def run_local_topology(
    name: str | None = None,
    env_name: str | None = None,
    time: int = 0,
    options: dict[str, Any] | None = None,
    config_file: Any = None,
) -> None:
    """Drop-in for streamparse.cli.run.run_local_topology (same arguments, same `sparse run` flags)."""
    from streamparse import util
    from streamparse.cli import common, jar

    name, topology_file = util.get_topology_definition(name, config_file=config_file)
    config = util.get_config(config_file=config_file)
    env_name, env_config = util.get_env_config(env_name, config_file=config_file)
    topology_class = util.get_topology_from_file(topology_file)
    util.set_topology_serializer(env_config, config, topology_class)
    storm_options = local_options(
        common.resolve_options(options, env_config, topology_class, name, local_only=True)
    )
    set_runner_command(topology_class, local_runner_command(env_config, name))

    project = load_project(Path.cwd())
    jar_path = Path(jar.jar_for_deploy(simple_jar=False)).resolve()
    classpath = local_classpath(project.root)
    java = shutil.which("java")
    if java is None:
        raise InfraError(
            "java is not on PATH; Storm local mode needs a JDK 11+ (fix: apt-get install default-jdk-headless)"
        )
    with tempfile.TemporaryDirectory(prefix="squall-local-") as tmp:
        conf_path = Path(tmp) / "conf.json"
        conf_path.write_text(json.dumps(storm_options))
        topology_path = Path(tmp) / "topology.thrift"
        topology_class.write(str(topology_path))
        run = LocalRun(name, jar_path, classpath, conf_path, topology_path, run_seconds(time))
        print(f"Running {name} in Storm local mode for {run.seconds}s (Ctrl-C stops it)...", flush=True)
        result = subprocess.run(run.command(java), cwd=project.root, check=False)
    if result.returncode != 0:
        raise InfraError(f"Storm local mode exited with status {result.returncode}")
