"""The pipeline data page in a real browser, on a real local run of the reference pipeline (`squall run
iot_pipeline -e local --ui`: simulator -> SQLite, in a throw-away project): the windows chart of a device and
metric, dead letters by reason with payload previews, and alerts, read from the store the run writes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.testing import free_port, isolated_pipeline_project
from tests.integration.browser import chromium, console_errors, screenshot, size_of, table_rows, wait_for

pytestmark = [pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
SQUALL = Path(sys.executable).parent / "squall"


@pytest.fixture
def pipeline_run(tmp_path: Path) -> Iterator[str]:
    project = isolated_pipeline_project(
        tmp_path / "project", "web", prefix="it.web", source=ROOT, env="local"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            str(SQUALL),
            "run",
            "iot_pipeline",
            "-e",
            "local",
            "--ui",
            "--ui-port",
            str(port),
            "--duration",
            "120",
        ],
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            stderr = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"squall run exited {proc.returncode}: {stderr[-2000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{base}/api/v1/topology/summary", timeout=5) as resp:
                return bool(json.loads(resp.read())["topologies"])
        except OSError:
            return False

    try:
        wait_for(answers, 60, "squall run --ui answers")
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_pipeline_page_shows_windows_dead_letters_and_alerts(pipeline_run: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        driver.get(pipeline_run + "/pipeline.html")
        # the page refreshes itself from the store while the run writes
        wait_for(lambda: table_rows(driver, "windows"), 90, "windows are shown")
        wait_for(lambda: table_rows(driver, "dead-letters"), 30, "dead letters are shown")
        wait_for(lambda: table_rows(driver, "alerts"), 30, "alerts are shown")
        chart = driver.find_element(By.ID, "windows-chart")
        assert min(size_of(chart)) > 0
        assert driver.find_elements(By.CSS_SELECTOR, "#windows-chart rect.count")
        bars = len(driver.find_elements(By.CSS_SELECTOR, "#windows-chart rect.count"))
        band = driver.find_element(By.CSS_SELECTOR, "#windows-chart polygon.band").get_attribute("points")
        assert len(band.split()) == 2 * bars  # max then min of every window
        mean_width = driver.execute_script(
            "return document.querySelector('#windows-chart polyline.mean').getBBox().width"
        )
        assert bars == 1 or mean_width > 0
        assert driver.find_elements(By.CSS_SELECTOR, "#dead-letters-chart rect.dead")
        letters = table_rows(driver, "dead-letters")
        assert all(row[1] and row[4] for row in letters), letters  # a reason and a payload preview each
        windows = table_rows(driver, "windows")
        assert all(int(row[1]) > 0 for row in windows)

        # choosing another series shows its windows
        options = driver.execute_script(
            "return Array.from(document.querySelectorAll('#series option')).map(function (o) { return o.value; });"
        )
        assert len(options) > 1
        driver.get(f"{pipeline_run}/pipeline.html?series={urllib.request.quote(options[-1])}")
        wait_for(
            lambda: driver.execute_script("return document.getElementById('series').value") == options[-1],
            15,
            "the chosen series is selected",
        )
        assert table_rows(driver, "windows")
        screenshot(driver, tmp_path, "pipeline-data")

        driver.get(pipeline_run + "/")  # the run's topology page: the reference pipeline's graph
        nodes = wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#graph g.node"), 15, "the topology graph is drawn"
        )
        assert {n.get_attribute("data-component") for n in nodes} == {
            "events",
            "parse",
            "route",
            "aggregate",
            "alerts",
            "dlq",
            "persist",
        }
        screenshot(driver, tmp_path, "pipeline-topology")
        assert console_errors(driver) == []
