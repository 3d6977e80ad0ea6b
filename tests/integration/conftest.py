"""Integration tests run against the real services that `squall infra up` starts (never mocks).

Every test marked `integration` gets the services up first: `ensure_up` is a no-op when `make test` (or a
developer) already started them, and the session fails with the service's log tail when one cannot start.
Tests that need only some services ask for them by name: `infra_up(["kafka"])` returns the endpoints.

    def test_x(infra_endpoints):           # all services up; {"kafka": "127.0.0.1:9092", ...}
    def test_y(kafka_bootstrap):           # "127.0.0.1:9092", Kafka (only) ensured up
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from squall.errors import InfraError
from squall.infra import api

_started: set[str] = set()


def _ensure(names: Iterable[str]) -> dict[str, str]:
    todo = [n for n in names if n not in _started]
    if todo:
        try:
            api.ensure_up(todo)
        except InfraError as exc:
            pytest.fail(f"squall infra could not bring up {', '.join(todo)}:\n{exc}", pytrace=False)
        _started.update(todo)
    return api.endpoints()


@pytest.fixture(scope="session")
def infra_up() -> Callable[[Iterable[str]], dict[str, str]]:
    """A function: ensure the named services are up (once per session) and return all endpoints."""
    return _ensure


@pytest.fixture(scope="session")
def infra_endpoints(infra_up: Callable[[Iterable[str]], dict[str, str]]) -> dict[str, str]:
    """Every service up (ZooKeeper, Kafka, Cassandra, Nimbus, Supervisor, UI); their endpoints."""
    return infra_up(api.SERVICES)


@pytest.fixture(scope="session")
def zookeeper_address(infra_up: Callable[[Iterable[str]], dict[str, str]]) -> str:
    return infra_up(["zookeeper"])["zookeeper"]


@pytest.fixture(scope="session")
def kafka_bootstrap(infra_up: Callable[[Iterable[str]], dict[str, str]]) -> str:
    return infra_up(["kafka"])["kafka"]


@pytest.fixture(scope="session")
def cassandra_address(infra_up: Callable[[Iterable[str]], dict[str, str]]) -> str:
    return infra_up(["cassandra"])["cassandra"]


@pytest.fixture(autouse=True)
def _services_for_integration_tests(request: pytest.FixtureRequest) -> None:
    """Tests marked `integration` without a narrower fixture get ZooKeeper, Kafka and Cassandra;
    tests marked `storm` get the Storm cluster too."""
    if request.node.get_closest_marker("storm") is not None:
        _ensure(api.SERVICES)
        request.getfixturevalue("storm_watchdog")
        # Storm's daemons are fail-fast and meant to run under supervision: a Supervisor halts itself when a
        # topology is killed while its slots are still localizing the jar (Slot.handleWaitingForBlobLocalization
        # -> "Halting process: Error when processing an event"). Re-check Nimbus and the Supervisor before
        # every Storm test and restart what died, as a process supervisor would.
        try:
            api.ensure_up(["nimbus", "supervisor"])
        except InfraError as exc:
            pytest.fail(f"squall infra could not bring Storm back up:\n{exc}", pytrace=False)
    elif request.node.get_closest_marker("integration") is not None:
        _ensure(["zookeeper", "kafka", "cassandra"])


STORM_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"


@pytest.fixture
def storm_fixture_config(tmp_path: Path) -> Callable[..., Path]:
    """A function: write tmp_path/config.json, the Storm fixture project's config.json with the given keys of
    `envs.dev` replaced (e.g. parallelism={...}, options={...}), and return its path (for `--config`)."""

    def write(**dev: Any) -> Path:
        config = json.loads((STORM_FIXTURE / "config.json").read_text())
        config["envs"]["dev"].update(dev)
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        return path

    return write


@pytest.fixture(scope="session")
def storm_payloads() -> ModuleType:
    """The Storm fixture project's `spouts/payloads.py`, loaded by path under its own name: its `spouts` package
    would clash with this project's `spouts` package, which other tests have imported already."""
    spec = importlib.util.spec_from_file_location(
        "storm_fixture_payloads", STORM_FIXTURE / "spouts" / "payloads.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def storm_watchdog() -> Iterator[None]:
    """While Storm tests run, start Nimbus or the Supervisor again within seconds if one dies (Storm's daemons are
    fail-fast and expect a process supervisor; see `api.revive`). Problems are reported on stderr, not raised:
    the tests' own checks decide."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(2.0):
            try:
                revived = api.revive(["nimbus", "supervisor"])
            except Exception as exc:  # noqa: BLE001 - keep watching; the tests report what it broke
                print(f"storm watchdog: {exc}", file=sys.stderr)
            else:
                if revived:
                    print(f"storm watchdog: started {', '.join(revived)} again", file=sys.stderr)

    thread = threading.Thread(target=watch, name="storm-watchdog", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=60)


@pytest.fixture
def own_ui(infra_endpoints: dict[str, str]) -> Iterator[str]:
    """A Storm UI server of this test's own (`python -m squall.infra.storm_ui`) on a free port, against the
    running Nimbus, answering its REST API; yields "http://127.0.0.1:<port>" and stops it by its pid."""
    import subprocess
    import urllib.request

    from squall.storm.harness import wait_until
    from squall.testing import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "squall.infra.storm_ui",
            "--port",
            str(port),
            "--nimbus",
            infra_endpoints["nimbus"],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(f"{base}/api/v1/cluster/summary", timeout=20) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    try:
        wait_until(answers, timeout=30, what="the UI answers", poll_secs=0.2)
        assert proc.poll() is None, (
            f"the UI exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
        )
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
