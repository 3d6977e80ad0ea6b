"""The dashboard's pages rendered from the REST API's JSON (pure: no server, no browser)."""

from __future__ import annotations

from html.parser import HTMLParser

from squall.web import pages
from squall.web.graph import Edge, Node, TopologyGraph, render_svg

TOPOLOGY = {
    "id": "iot-3-17",
    "name": "iot",
    "owner": "ops",
    "status": "ACTIVE",
    "uptime": "1m 2s",
    "workersTotal": 1,
    "executorsTotal": 4,
    "tasksTotal": 4,
    "spouts": [
        {
            "spoutId": "events",
            "executors": 1,
            "tasks": 1,
            "emitted": 1200,
            "transferred": 1200,
            "completeLatency": "12.500",
            "acked": 1180,
            "failed": 3,
            "lastError": "",
        }
    ],
    "bolts": [
        {
            "boltId": "parse",
            "executors": 2,
            "tasks": 2,
            "emitted": 1100,
            "transferred": 1100,
            "capacity": "0.950",
            "executeLatency": "0.400",
            "executed": 1190,
            "processLatency": "0.500",
            "acked": 1190,
            "failed": 0,
            "lastError": "ValueError: <bad> payload",
        },
        {
            "boltId": "persist",
            "executors": 1,
            "tasks": 1,
            "emitted": 0,
            "transferred": 0,
            "capacity": "0.800",
            "executeLatency": "1.000",
            "executed": 1100,
            "processLatency": "1.100",
            "acked": 1100,
            "failed": 0,
            "lastError": "",
        },
    ],
    "workers": [{"host": "h1", "port": 6700, "executorsTotal": 4, "uptime": "1m"}],
}


class Cells(HTMLParser):
    """Collects each <td>'s class and text, and every link, of the tables with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}
        self.links: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._cls = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td" and self._table:
            self._cell, self._cls = [], a.get("class") or ""
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table:
            self.tables[self._table][-1].append((self._cls, "".join(self._cell).strip()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Cells:
    p = Cells()
    p.feed(html)
    return p


def test_topology_page_lists_components_and_marks_high_capacity() -> None:
    graph = TopologyGraph(
        (Node("events", "spout", 1), Node("parse", "bolt", 2)),
        (Edge("events", "parse", "default", "shuffle"),),
    )
    html = pages.render_topology(TOPOLOGY, render_svg(graph))
    doc = parse(html)
    spouts = [row for row in doc.tables["spouts"] if row]
    assert [c[1] for c in spouts[0]][:4] == ["events", "1", "1", "1200"]
    bolts = {row[0][1]: row for row in doc.tables["bolts"] if row}
    capacity = [c for c in pages.BOLTS].index(next(c for c in pages.BOLTS if c.field == "capacity"))
    assert bolts["parse"][capacity] == ("num capacity high", "0.950")  # above 0.8: highlighted
    assert bolts["persist"][capacity] == ("num capacity", "0.800")  # at 0.8: not
    assert bolts["parse"][-1] == ("error", "ValueError: <bad> payload")  # escaped, shown as text
    assert "component.html?topology_id=iot-3-17&id=parse" in doc.links
    assert '<svg class="topology-graph"' in html and 'data-component="parse"' in html
    assert html.count('class="chart-box"') == 3  # a chart per component
    assert 'data-action="rebalance"' in html and 'data-action="kill"' in html


def test_local_topology_page_offers_only_what_a_local_run_can_do() -> None:
    html = pages.render_topology(TOPOLOGY, "<svg></svg>", local=True)
    assert 'data-action="deactivate"' in html and 'data-action="activate"' in html
    assert 'data-action="kill"' not in html and 'data-action="rebalance"' not in html
    assert "local run" in html


def test_index_page_tables() -> None:
    html = pages.render_index(
        {"stormVersion": "2.8.3", "supervisors": 1, "slotsUsed": 1, "slotsFree": 1, "slotsTotal": 2},
        {
            "nimbuses": [
                {"host": "n1", "port": 6627, "status": "Leader", "version": "2.8.3", "nimbusUpTime": "5m"}
            ]
        },
        {"supervisors": []},
        {"topologies": [{"id": "a b-1", "name": "a b", "status": "INACTIVE", "uptime": "1s"}]},
    )
    doc = parse(html)
    assert doc.tables["topologies"][1][2] == ("text", "INACTIVE")
    assert "topology.html?id=a+b-1" in doc.links
    assert doc.tables["supervisors"][1] == [("", "none")]  # an empty table says so
    assert doc.tables["nimbuses"][1][0] == ("text", "n1")


def test_component_page_lists_executors_with_host_and_port() -> None:
    html = pages.render_component(
        {
            "id": "sink",
            "name": "iot",
            "topologyId": "iot-3-17",
            "componentType": "bolt",
            "executors": 2,
            "tasks": 2,
            "topologyStatus": "ACTIVE",
            "executorStats": [
                {"id": "[3-3]", "host": "h1", "port": 6700, "emitted": 0, "executed": 5, "capacity": "0.900"},
                {"id": "[4-4]", "host": "h1", "port": 6700, "emitted": 0, "executed": 7, "capacity": "0.100"},
            ],
            "componentErrors": [{"error": "boom", "errorHost": "h1", "errorPort": 6700}],
        }
    )
    doc = parse(html)
    rows = [r for r in doc.tables["executors"] if r]
    assert [(r[0][1], r[1][1], r[2][1]) for r in rows] == [("[3-3]", "h1", "6700"), ("[4-4]", "h1", "6700")]
    assert rows[0][6] == ("num capacity high", "0.900")
    assert "boom" in html
    assert "topology.html?id=iot-3-17" in doc.links


def test_cell_kinds_match_the_script() -> None:
    """dashboard.js re-renders cells from the same column kinds; each kind has a branch there."""
    script = (pages.HERE / "static" / "dashboard.js").read_text()
    kinds = {
        c.kind
        for cols in (pages.SPOUTS, pages.BOLTS, pages.TOPOLOGY_LIST, pages.BOLT_EXECUTORS)
        for c in cols
    }
    for kind in kinds - {"num", "text", "ms"}:  # these two are plain cells on both sides
        assert f'"{kind}"' in script, kind
