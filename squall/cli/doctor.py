"""`squall doctor`: is this install able to run and deploy topologies? One line per check, a fix for each failure.

Checks Python, streamparse and squall's Storm 2.8 compatibility layer (installed and matching), Java, the jar
tooling (lein, mvn, javac), Graphviz for `sparse visualize`, and whether each env's services answer. Exits 1 when
a check failed. Services that do not answer are failures only for the envs named with -e (without -e every env
of the project is shown, for information). `--fix` puts the compatibility layer back.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from squall.cli.completion import env_names

PYTHON_RANGE = ((3, 11), (3, 14))  # pyproject's requires-python: >=3.11,<3.14
JAVA_MIN = 11  # Storm 2.8 runs on Java 11 and later; infra installs 17
SERVICE_NAMES = ("zookeeper", "kafka", "cassandra", "nimbus", "storm_ui")
CONNECT_TIMEOUT = 1.0


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok" | "fail" | "warn"
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status.upper():4} {self.name}: {self.detail}"
        return f"{text} (fix: {self.fix})" if self.fix and self.status != "ok" else text


def check_python() -> Check:
    low, high = PYTHON_RANGE
    version = ".".join(map(str, sys.version_info[:3]))
    if low <= sys.version_info[:2] < high:
        return Check("python", "ok", f"{version} ({sys.executable})")
    return Check(
        "python",
        "fail",
        f"{version} is outside {low[0]}.{low[1]}..{high[0]}.{high[1] - 1}",
        "make the venv with Python 3.11, 3.12 or 3.13",
    )


def check_streamparse() -> Iterator[Check]:
    from squall.storm import layer

    version = layer.streamparse_version()
    if version is None:
        yield Check("streamparse", "fail", "not installed", "reinstall squall (it requires streamparse)")
        return
    if version != layer.STREAMPARSE_VERSION:
        yield Check(
            "streamparse",
            "fail",
            f"{version}; squall's Storm 2.8 layer is written for {layer.STREAMPARSE_VERSION}",
            f"pip install streamparse=={layer.STREAMPARSE_VERSION}",
        )
    else:
        yield Check("streamparse", "ok", version)
    script = layer.sparse_script()
    if layer.script_is_ours(script):
        yield Check("sparse command", "ok", f"{script} runs squall's Storm 2.8 compatibility layer")
    else:
        what = "missing" if not script.exists() else "streamparse's own (the layer is gone)"
        yield Check(
            "sparse command", "fail", f"{script} is {what}", "squall doctor --fix, or reinstall squall"
        )
    try:
        from squall.storm.patches import install

        install()
        yield Check("compatibility layer", "ok", "every patch applies to this streamparse")
    except Exception as exc:  # noqa: BLE001 - any failure to patch is what this check reports
        yield Check(
            "compatibility layer",
            "fail",
            f"does not apply: {exc}",
            f"pip install streamparse=={layer.STREAMPARSE_VERSION}, then reinstall squall",
        )


def java_major(text: str) -> int | None:
    """The major version in `java -version` output: `version "17.0.9"` -> 17, `version "1.8.0_392"` -> 8."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> Check:
    from squall.errors import InfraError
    from squall.infra.services import find_java

    fix = "apt-get install -y openjdk-17-jre-headless, or `squall infra install`"
    try:
        java = find_java()
    except InfraError:
        return Check("java", "fail", "not found (JAVA_HOME or PATH)", fix)
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("java", "fail", f"{java} -version failed: {exc}", fix)
    major = java_major(out.stderr + out.stdout)
    if major is None or major < JAVA_MIN:
        return Check("java", "fail", f"{java} is Java {major or '?'}; Storm 2.8 needs {JAVA_MIN}+", fix)
    return Check("java", "ok", f"Java {major} ({java})")


def check_tools() -> Iterator[Check]:
    tools = (
        ("lein", "builds the topology jar for sparse submit/run", "fail", "leiningen"),
        ("mvn", "resolves the services' jars (squall infra install)", "fail", "maven"),
        (
            "javac",
            "compiles squall's Storm plugins (squall infra install)",
            "fail",
            "openjdk-17-jdk-headless",
        ),
        ("dot", "draws `sparse visualize`", "warn", "graphviz"),
    )
    for tool, what, severity, package in tools:
        path = shutil.which(tool)
        if path:
            yield Check(tool, "ok", f"{path} ({what})")
        else:
            yield Check(
                tool,
                severity,
                f"not on PATH ({what})",
                f"apt-get install -y {package}, or `squall infra install`",
            )


def addresses(section: dict[str, Any]) -> dict[str, str]:
    """service -> "host:port" an env's `services` section names (defaults: 127.0.0.1 and squall's ports)."""
    from squall.infra.endpoints import DEFAULT_HOST, DEFAULT_PORTS

    run = section.get("run")
    names = [
        n for n in SERVICE_NAMES if not isinstance(run, list) or n in run or n == "storm_ui" and "ui" in run
    ]
    out: dict[str, str] = {}
    for name in names:
        value = section.get(name, DEFAULT_PORTS[name])
        if isinstance(value, int) and not isinstance(value, bool):
            out[name] = f"{DEFAULT_HOST}:{value}"
        elif isinstance(value, str) and value.strip():
            out[name] = value.split(",")[0].strip()
    return out


def reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when a TCP connection to `address` opens, else why not."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return str(exc) or exc.__class__.__name__


def check_services(chosen: tuple[str, ...]) -> Iterator[Check]:
    from squall.config import load_project, services
    from squall.errors import ConfigError

    try:
        project = load_project()
    except ConfigError as exc:
        if chosen:
            yield Check("services", "fail", str(exc), "run from a streamparse project (with config.json)")
        else:
            yield Check("services", "warn", f"not checked: {exc}", "run from a streamparse project")
        return
    envs = list(chosen) or project.env_names
    for env in envs:
        severity = "fail" if chosen else "warn"
        try:
            section = services(project, env)
        except ConfigError as exc:
            yield Check(f"services of {env}", "fail", str(exc), "fix config.json")
            continue
        for name, address in addresses(section).items():
            why = reachable(address)
            if why is None:
                yield Check(f"{env}: {name}", "ok", f"{address} answers")
                continue
            local = address.rpartition(":")[0] in ("127.0.0.1", "localhost", "::1", "[::1]")
            fix = (
                f"squall infra up -e {env}"
                if local
                else f"start it, or correct envs.{env}.services.{name} in config.json"
            )
            yield Check(f"{env}: {name}", severity, f"{address} does not answer ({why})", fix)


def run_checks(envs: tuple[str, ...]) -> list[Check]:
    checks = [check_python(), *check_streamparse(), check_java(), *check_tools(), *check_services(envs)]
    return checks


@click.command()
@click.option(
    "-e",
    "--environment",
    "envs",
    multiple=True,
    shell_complete=env_names,
    help="Check this env's services (repeatable); unreachable ones then fail the check. Default: show all envs.",
)
@click.option("--fix", is_flag=True, help="Put squall's `sparse` (the Storm 2.8 compatibility layer) back.")
def doctor(envs: tuple[str, ...], fix: bool) -> None:
    """Check Python, streamparse and squall's Storm 2.8 layer, Java, lein/mvn, Graphviz and each env's services."""
    from squall.storm import layer

    if fix and not layer.script_is_ours():
        path = layer.write_sparse_script()
        click.echo(f"fixed: {path} runs squall's Storm 2.8 compatibility layer again")
    checks = run_checks(envs)
    colors = {"ok": "green", "warn": "yellow", "fail": "red"}
    for check in checks:
        click.secho(check.line(), fg=colors[check.status])
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        click.secho(f"{len(failed)} check(s) failed", fg="red", err=True)
        sys.exit(1)
    click.echo("all checks passed")
