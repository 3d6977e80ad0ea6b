"""Headless Chromium (Debian's chromium and chromium-driver, which `squall infra install` installs) driven by
Selenium, for the dashboard's browser tests. Selenium is given the driver's path, so it never downloads one."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Set to a directory to keep the tests' screenshots there (they always go to the test's tmp_path too).
SCREENSHOTS_ENV = "SQUALL_SCREENSHOTS"


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium session with the page's console log kept (`console_errors`), quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing: run `squall infra install` (Debian packages chromium and "
            "chromium-driver)",
            pytrace=False,
        )
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The page's console errors (and failed loads) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.25) -> Any:
    """Poll until `predicate()` is truthy and return it; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - a page still loading: try again
            last = exc
        else:
            if last:
                return last
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f}s waiting until {what} (last: {last!r})", pytrace=False)


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    keep = os.environ.get(SCREENSHOTS_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(keep) / f"{name}.png"))
    return path


def accept_confirm(driver: Any) -> str:
    """Accept the page's confirmation dialog and return its question."""
    alert = wait_for(lambda: _alert(driver), 10, "the confirmation dialog opens")
    question = str(alert.text)
    alert.accept()
    return question


def _alert(driver: Any) -> Any:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return None


def table_rows(driver: Any, table_id: str) -> list[list[str]]:
    """The cells' text of every row of table `table_id`, read in one step (the page replaces rows as it
    refreshes, so elements found earlier may be gone)."""
    rows: list[list[str]] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr:not(.empty)'))"
        ".map(function (tr) { return Array.from(tr.cells).map(function (td) { return td.textContent.trim(); }); });",
        table_id,
    )
    return rows


def cell_texts(driver: Any, table_id: str, column: int) -> dict[str, str]:
    """First cell -> the cell in `column` (0-based) of every row of table `table_id`."""
    return {row[0]: row[column] for row in table_rows(driver, table_id) if len(row) > column}


def click_link(driver: Any, text: str, timeout: float = 15) -> None:
    """Click the link reading `text` (found again if a refresh replaced it meanwhile)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def click() -> bool:
        try:
            driver.find_element(By.LINK_TEXT, text).click()
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return True

    wait_for(click, timeout, f"the link {text!r} can be clicked")


def size_of(element: Any) -> tuple[float, float]:
    rect = element.rect
    return float(rect["width"]), float(rect["height"])


def check_topology_page(driver: Any, spouts: set[str], bolts: set[str], edges: int) -> None:
    """The topology page as an operator sees it: every component listed with figures that grow, the graph
    drawn with a box per component and an arrow per stream, a chart per component with points plotted."""
    from selenium.webdriver.common.by import By

    wait_for(lambda: set(cell_texts(driver, "spouts", 0)) == spouts, 30, f"the spouts table lists {spouts}")
    wait_for(lambda: set(cell_texts(driver, "bolts", 0)) == bolts, 30, f"the bolts table lists {bolts}")
    wait_for(
        lambda: all(int(v or 0) > 0 for v in cell_texts(driver, "spouts", 3).values()),
        120,
        "every spout shows tuples emitted",
    )
    wait_for(
        lambda: all(int(v or 0) > 0 for v in cell_texts(driver, "bolts", 7).values()),
        120,
        "every bolt shows tuples executed",
    )
    graph = driver.find_element(By.CSS_SELECTOR, "#graph svg.topology-graph")
    assert min(size_of(graph)) > 0
    nodes = graph.find_elements(By.CSS_SELECTOR, "g.node")
    assert {n.get_attribute("data-component") for n in nodes} == spouts | bolts
    assert all(min(size_of(n.find_element(By.TAG_NAME, "rect"))) > 0 for n in nodes)
    assert len(graph.find_elements(By.CSS_SELECTOR, "g.edge path")) == edges
    boxes = driver.find_elements(By.CSS_SELECTOR, ".chart-box")
    assert {b.get_attribute("data-component") for b in boxes} == spouts | bolts
    # the page keeps what it fetched: after two refreshes every chart has plotted a line
    wait_for(
        lambda: all(int(b.get_attribute("data-points") or 0) >= 2 for b in boxes),
        30,
        "the charts have points",
    )
    for box in boxes:
        assert min(size_of(box.find_element(By.CSS_SELECTOR, "svg.chart"))) > 0
    lines = driver.execute_script(
        "return Array.from(document.querySelectorAll('.chart-box svg.chart polyline.rate'))"
        ".map(function (p) { var b = p.getBBox(); return [p.getAttribute('points'), b.width]; });"
    )
    assert len(lines) == len(boxes)
    assert all(len(points.split()) >= 2 and width > 0 for points, width in lines), lines


def topology_status(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, "topology-status").text)
