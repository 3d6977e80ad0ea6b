"""The dashboard on the Storm UI server, in a real browser, against the real Storm cluster: a topology this test
submits appears on the cluster page, its page shows figures, graph and charts while tuples flow, and deactivate
then activate (each confirmed in the page) reach Nimbus. The test starts its own UI server on a free loopback
port (never the shared one) and kills its topology in the end."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from squall.storm import nimbus as nimbus_api
from squall.storm.harness import SparseProject
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

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(900)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"
NAME = "squall_it_dashboard"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=20) as resp:
        return json.loads(resp.read())


@pytest.fixture
def ui(own_ui: str) -> Iterator[str]:
    """This test's own UI server (the `own_ui` fixture) on a free port, against the running Nimbus."""
    yield own_ui


def _nimbus_status(nimbus: Any, topo_id: str) -> str | None:
    return next((str(t.status) for t in nimbus.getClusterInfo().topologies if t.id == topo_id), None)


def test_storm_topology_pages_in_a_browser_and_actions_reach_nimbus(
    tmp_path: Path, ui: str, storm_fixture_config: Callable[..., Path]
) -> None:
    from selenium.webdriver.common.by import By

    config_path = storm_fixture_config(
        options={
            "topology.workers": 1,
            "topology.acker.executors": 1,
            "topology.max.spout.pending": 500,
            # every tuple counted (Storm samples 5% by default): figures show from the first tuples
            "topology.stats.sample.rate": 1.0,
        }
    )
    options = {"squall.test.out": str(tmp_path / "sink"), "squall.test.count": 50_000_000}
    with SparseProject(FIXTURE).submitted(
        "passthrough", env="dev", name=NAME, options=options, config=config_path
    ) as topo:
        api = f"{ui}/api/v1/topology/{topo.topo_id}"
        topo.wait_until(
            lambda: any(int(b.get("executed") or 0) > 0 for b in _get(api).get("bolts", [])),
            timeout=240,
            what="Storm reports tuples executed",
        )
        with chromium() as driver:
            driver.get(ui + "/")
            wait_for(
                lambda: NAME in cell_texts(driver, "topologies", 0), 15, "the cluster page lists the topology"
            )
            assert cell_texts(driver, "supervisors", 3)  # the supervisor's slots are shown
            screenshot(driver, tmp_path, "storm-cluster")
            click_link(driver, NAME)
            wait_for(lambda: "topology.html" in driver.current_url, 15, "the topology page opens")
            assert topology_status(driver) == "ACTIVE"
            check_topology_page(driver, {"numbers"}, {"echo", "sink"}, edges=2)
            screenshot(driver, tmp_path, "storm-topology")

            driver.find_element(By.ID, "action-deactivate").click()
            assert NAME in accept_confirm(driver)
            wait_for(
                lambda: topology_status(driver) == "INACTIVE", 30, "the page shows the topology inactive"
            )
            assert _nimbus_status(topo.nimbus, topo.topo_id) == "INACTIVE"

            driver.find_element(By.ID, "action-activate").click()
            accept_confirm(driver)
            wait_for(
                lambda: topology_status(driver) == "ACTIVE", 30, "the page shows the topology active again"
            )
            assert _nimbus_status(topo.nimbus, topo.topo_id) == "ACTIVE"

            click_link(driver, "sink")
            wait_for(lambda: "component.html" in driver.current_url, 15, "the component page opens")
            hosts = wait_for(lambda: cell_texts(driver, "executors", 1), 15, "the executors table is filled")
            ports = cell_texts(driver, "executors", 2)
            worker = _get(api)["workers"][0]
            assert set(hosts.values()) == {worker["host"]} and set(ports.values()) == {str(worker["port"])}
            screenshot(driver, tmp_path, "storm-component")
            assert console_errors(driver) == []

            # rebalance (one worker, 30 s wait) and kill (no wait), each confirmed in the page, reach Nimbus
            driver.back()
            wait_for(lambda: "topology.html" in driver.current_url, 15, "back on the topology page")
            wait_input = driver.find_element(By.ID, "action-wait")
            wait_input.clear()
            wait_input.send_keys("30")
            driver.find_element(By.CSS_SELECTOR, "#rebalance-form summary").click()
            driver.find_element(By.ID, "rebalance-workers").send_keys("1")
            driver.find_element(By.ID, "action-rebalance").click()
            assert "(wait 30 s)" in accept_confirm(driver)
            wait_for(
                lambda: _nimbus_status(topo.nimbus, topo.topo_id) == "REBALANCING",
                30,
                "Nimbus is rebalancing",
            )
            wait_for(lambda: topology_status(driver) == "REBALANCING", 30, "the page shows the rebalance")
            wait_input.clear()
            wait_input.send_keys("0")
            driver.find_element(By.ID, "action-kill").click()
            assert "Kill topology" in accept_confirm(driver)
            wait_for(
                lambda: (
                    nimbus_api.topology_id(topo.nimbus, NAME) is None
                    or _nimbus_status(topo.nimbus, topo.topo_id) == "KILLED"
                ),
                60,
                "Nimbus kills the topology",
            )
    assert nimbus_api.topology_id(topo.nimbus, NAME) is None  # killed by `submitted`
