"""The dashboard's HTML pages, rendered from the same JSON the REST API answers (pure: data in, HTML out).

Each table is described once by its columns (`Column`): the server renders the first view from them and the
page's script (static/dashboard.js) re-renders the rows from the same description on every refresh.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

HERE = Path(__file__).resolve().parent
CAPACITY_HIGH = 0.8  # Storm's UI marks a bolt whose capacity is above this


@dataclass(frozen=True)
class Column:
    field: str
    label: str
    kind: str = "num"  # "num" | "text" | "ms" | "capacity" | "link" (a component link) | "error"
    title: str = ""


def _cols(*spec: tuple[str, ...]) -> list[Column]:
    return [Column(*s) for s in spec]


TOPOLOGY_LIST = _cols(
    ("name", "Name", "topology"),
    ("id", "Id", "text"),
    ("status", "Status", "status"),
    ("uptime", "Uptime", "text"),
    ("workersTotal", "Workers"),
    ("executorsTotal", "Executors"),
    ("tasksTotal", "Tasks"),
)
SUPERVISORS = _cols(
    ("host", "Host", "text"),
    ("id", "Id", "text"),
    ("uptime", "Uptime", "text"),
    ("slotsTotal", "Slots"),
    ("slotsUsed", "Used slots"),
    ("slotsFree", "Free slots"),
    ("version", "Version", "text"),
)
NIMBUSES = _cols(
    ("host", "Host", "text"),
    ("port", "Port"),
    ("status", "Status", "text"),
    ("version", "Version", "text"),
    ("nimbusUpTime", "Uptime", "text"),
)
SPOUTS = _cols(
    ("spoutId", "Id", "link"),
    ("executors", "Executors"),
    ("tasks", "Tasks"),
    ("emitted", "Emitted"),
    ("transferred", "Transferred"),
    ("completeLatency", "Complete latency (ms)", "ms"),
    ("acked", "Acked"),
    ("failed", "Failed"),
    ("lastError", "Last error", "error"),
)
BOLTS = _cols(
    ("boltId", "Id", "link"),
    ("executors", "Executors"),
    ("tasks", "Tasks"),
    ("emitted", "Emitted"),
    ("transferred", "Transferred"),
    (
        "capacity",
        "Capacity",
        "capacity",
        "busy share of time over a sliding window (Storm: the last 10 minutes; squall run: --window, 10 s); "
        "above 0.8 the bolt is near saturation",
    ),
    ("executeLatency", "Execute latency (ms)", "ms"),
    ("executed", "Executed"),
    ("processLatency", "Process latency (ms)", "ms"),
    ("acked", "Acked"),
    ("failed", "Failed"),
    ("lastError", "Last error", "error"),
)
WORKERS = _cols(
    ("host", "Host", "text"),
    ("port", "Port"),
    ("executorsTotal", "Executors"),
    ("uptime", "Uptime", "text"),
)
SPOUT_EXECUTORS = _cols(
    ("id", "Executor", "text"),
    ("host", "Host", "text"),
    ("port", "Port"),
    ("uptime", "Uptime", "text"),
    ("emitted", "Emitted"),
    ("transferred", "Transferred"),
    ("completeLatency", "Complete latency (ms)", "ms"),
    ("acked", "Acked"),
    ("failed", "Failed"),
)
BOLT_EXECUTORS = _cols(
    ("id", "Executor", "text"),
    ("host", "Host", "text"),
    ("port", "Port"),
    ("uptime", "Uptime", "text"),
    ("emitted", "Emitted"),
    ("transferred", "Transferred"),
    ("capacity", "Capacity", "capacity"),
    ("executeLatency", "Execute latency (ms)", "ms"),
    ("executed", "Executed"),
    ("processLatency", "Process latency (ms)", "ms"),
    ("acked", "Acked"),
    ("failed", "Failed"),
)


def capacity_high(value: Any) -> bool:
    try:
        return float(value) > CAPACITY_HIGH
    except (TypeError, ValueError):
        return False


def cell(row: dict[str, Any], col: Column, topo_id: str = "") -> Markup:
    """One table cell's HTML (the twin of `cell` in dashboard.js: keep the two alike)."""
    value = row.get(col.field)
    text = "" if value is None else str(value)
    esc = Markup.escape
    if col.kind == "link":
        href = "component.html?" + urlencode({"topology_id": topo_id, "id": text})
        return Markup('<td class="text"><a href="{}">{}</a></td>').format(href, text)
    if col.kind == "topology":
        href = "topology.html?" + urlencode({"id": row.get("id", "")})
        return Markup('<td class="text"><a href="{}">{}</a></td>').format(href, text)
    if col.kind == "capacity":
        cls = "num capacity high" if capacity_high(value) else "num capacity"
        return Markup('<td class="{}">{}</td>').format(cls, text)
    if col.kind == "status":
        return Markup('<td class="text"><span class="status status-{}">{}</span></td>').format(
            text.lower(), text
        )
    if col.kind == "error":
        return Markup('<td class="error" title="{}">{}</td>').format(text, text[:80])
    cls = "text" if col.kind == "text" else "num"
    return Markup('<td class="{}">{}</td>').format(cls, esc(text))


def columns_json(columns: list[Column]) -> str:
    return json.dumps([asdict(c) for c in columns])


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(cell=cell, columns_json=columns_json, quote=quote)
    return env


ENV = _env()


def render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


def render_index(
    cluster: dict[str, Any], nimbuses: dict[str, Any], supervisors: dict[str, Any], topologies: dict[str, Any]
) -> str:
    return render(
        "index.html",
        title="Cluster summary",
        cluster=cluster,
        nimbuses=nimbuses.get("nimbuses", []),
        supervisors=supervisors.get("supervisors", []),
        topologies=topologies.get("topologies", []),
        columns={"nimbus": NIMBUSES, "supervisor": SUPERVISORS, "topology": TOPOLOGY_LIST},
    )


def render_topology(topology: dict[str, Any], graph_svg: str, local: bool = False) -> str:
    components = [s["spoutId"] for s in topology.get("spouts", [])] + [
        b["boltId"] for b in topology.get("bolts", [])
    ]
    return render(
        "topology.html",
        title=f"Topology {topology.get('name', '')}",
        topo=topology,
        graph_svg=Markup(graph_svg),
        local=local,
        components=components,
        columns={"spout": SPOUTS, "bolt": BOLTS, "worker": WORKERS},
    )


def render_component(component: dict[str, Any], local: bool = False) -> str:
    spout = component.get("componentType") == "spout"
    return render(
        "component.html",
        title=f"Component {component.get('id', '')}",
        comp=component,
        local=local,
        columns=SPOUT_EXECUTORS if spout else BOLT_EXECUTORS,
    )


def render_error(status: int, message: str) -> str:
    return render("error.html", title=f"Error {status}", status=status, message=message)


def render_pipeline(context: dict[str, Any] | None, where: str = "") -> str:
    """The pipeline data page; `context` from squall.web.pipeline_page.pipeline_context, None when this server
    has no store to read."""
    return render(
        "pipeline.html", title="Pipeline data", configured=context is not None, where=where, **(context or {})
    )
