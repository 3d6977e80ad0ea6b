"""The dashboard of a local run (`squall run --ui`) in a real browser: the topology page shows the running
topology's figures, graph and charts, and deactivate/activate reach the run (its spout stops and resumes)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from squall.testing import free_port
from tests.integration.browser import (
    accept_confirm,
    cell_texts,
    check_topology_page,
    chromium,
    click_link,
    console_errors,
    screenshot,
    topology_status,
    wait_for,
)

pytestmark = [pytest.mark.timeout(300)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"
SQUALL = Path(sys.executable).parent / "squall"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def local_run(tmp_path: Path) -> Iterator[str]:
    """`squall run passthrough --ui` on a free port, emitting far more than the test lasts; stopped by its pid."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(SQUALL),
            "run",
            "passthrough",
            "-e",
            "local",
            "--ui",
            "--ui-port",
            str(port),
            "--duration",
            "240",
            "-o",
            "squall.test.count=100000000",
            "-o",
            f"squall.test.out={tmp_path / 'sink'}",
        ],
        cwd=FIXTURE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            if proc.poll() is not None:
                stderr = proc.stderr.read() if proc.stderr else ""
                pytest.fail(f"squall run exited {proc.returncode}: {stderr[-2000:]}", pytrace=False)
            try:
                return bool(_get(f"{base}/api/v1/topology/summary")["topologies"])
            except OSError:
                return False

        wait_for(answers, 60, "squall run --ui answers")
        yield base
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: the run drains and stops its tasks
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _spout_emitted(base: str) -> int:
    page = _get(f"{base}/api/v1/topology/passthrough-local")
    return int(page["spouts"][0]["emitted"])


def test_local_run_page_shows_the_run_and_its_actions_reach_it(local_run: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        driver.get(local_run + "/")  # the front page of a local run is its topology's page
        wait_for(lambda: "topology.html" in driver.current_url, 10, "the front page leads to the topology")
        assert driver.find_element(By.CSS_SELECTOR, "h1 .name").text == "passthrough"
        assert topology_status(driver) == "ACTIVE"
        check_topology_page(driver, {"numbers"}, {"echo", "sink"}, edges=2)
        screenshot(driver, tmp_path, "local-topology")

        driver.find_element(By.ID, "action-deactivate").click()
        assert "Deactivate topology passthrough" in accept_confirm(driver)
        wait_for(lambda: topology_status(driver) == "INACTIVE", 15, "the page shows the topology inactive")
        assert _get(f"{local_run}/api/v1/topology/summary")["topologies"][0]["status"] == "INACTIVE"
        # deactivated, the spout emits nothing more (in-flight tuples still finish downstream)
        before = _spout_emitted(local_run)
        time.sleep(2.5)  # real traffic: give a running spout time to show it would have emitted
        assert _spout_emitted(local_run) == before

        driver.find_element(By.ID, "action-activate").click()
        accept_confirm(driver)
        wait_for(lambda: topology_status(driver) == "ACTIVE", 15, "the page shows the topology active again")
        wait_for(lambda: _spout_emitted(local_run) > before, 15, "the spout emits again")

        click_link(driver, "sink")
        wait_for(lambda: "component.html" in driver.current_url, 10, "the component page opens")
        hosts = wait_for(lambda: cell_texts(driver, "executors", 1), 10, "the executors table is filled")
        assert list(hosts.values()) == ["localhost"]
        executed = cell_texts(driver, "executors", 8)
        assert int(next(iter(executed.values()))) > 0
        screenshot(driver, tmp_path, "local-component")
        assert console_errors(driver) == []
