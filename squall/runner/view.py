"""Seeing a run: per-component figures as a rich table, live while running (TTY only) and at the end; status
lines (text or JSON) while running when stdout is not a terminal."""

from __future__ import annotations

import io
import json
import textwrap
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from squall.runner.cluster import Cluster, Summary

# (header, importance): the live table drops the least important columns first (the highest number) until it
# fits the terminal; the summary keeps them all. "latency ms" is a bolt's process latency, a spout's complete
# latency.
COLUMNS: tuple[tuple[str, int], ...] = (
    ("component", 0),
    ("kind", 6),
    ("tasks", 2),
    ("hosting", 11),
    ("emitted", 8),
    ("transferred", 12),
    ("executed", 4),
    ("acked", 9),
    ("failed", 5),
    ("events", 10),
    ("events/s", 1),
    ("tuples/s", 7),
    ("latency ms", 3),
    ("execute ms", 3),
    ("capacity", 1),
    ("errors", 6),
    ("restarts", 10),
)
_LEFT = ("component", "kind", "hosting")
LEGEND = (
    "latency ms: bolts' process latency (delivered -> acked), spouts' complete latency (emitted -> tree "
    "acked); execute ms: time in the bolt per tuple; capacity: executed x execute latency / window, the "
    "busiest task's (1.0 = always busy)"
)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def summary_rows(summary: Summary) -> list[list[str]]:
    rows = []
    for c in summary.components:
        rows.append(
            [
                c.name,
                c.kind,
                str(c.tasks),
                c.hosting,
                str(c.emitted),
                str(c.transferred),
                str(c.executed),
                str(c.acked),
                str(c.failed),
                str(c.events),
                _rate(c.events_per_s),
                _rate(c.tuples_per_s),
                f"{c.latency_ms:.3f}",
                _num(c.execute_ms),
                _num(c.capacity),
                str(c.errors),
                str(c.restarts),
            ]
        )
    return rows


def summary_table(summary: Summary, title: str | None = None, columns: list[str] | None = None) -> Table:
    """The figures as a table; `columns` (headers of COLUMNS) keeps only those."""
    window = summary.components[0].window_s if summary.components else 0.0
    table = Table(
        title=title or f"{summary.topology} ({summary.hosting}, {summary.seconds:.1f}s)",
        caption=f"rates and capacity over the last {window:.0f} s" if window else None,
    )
    keep = [i for i, (h, _) in enumerate(COLUMNS) if columns is None or h in columns]
    for i in keep:
        header = COLUMNS[i][0]
        table.add_column(header, justify="left" if header in _LEFT else "right", no_wrap=True)
    for row in summary_rows(summary):
        table.add_row(*(row[i] for i in keep))
    return table


def _text_width(table: Table) -> int:
    console = Console(width=1000, record=True, file=io.StringIO(), color_system=None)
    console.print(table)
    return max((len(line) for line in console.export_text().splitlines()), default=0)


def fitting_columns(summary: Summary, width: int, title: str | None = None) -> list[str]:
    """The most important columns whose table is at most `width` characters wide."""
    columns = [h for h, _ in COLUMNS]
    by_importance = sorted(COLUMNS, key=lambda c: -c[1])
    for header, importance in by_importance:
        if _text_width(summary_table(summary, title, columns)) <= width or importance == 0:
            break
        columns.remove(header)
    return columns


def fitted_table(summary: Summary, width: int, title: str | None = None) -> Table:
    return summary_table(summary, title, fitting_columns(summary, width, title))


def format_summary(summary: Summary, width: int | None = None) -> str:
    """The human summary as plain text (pure: no terminal needed); `width`: fit the table to it."""
    table = summary_table(summary) if width is None else fitted_table(summary, width)
    console = Console(width=width or 240, record=True, file=io.StringIO(), color_system=None)
    console.print(table)
    lines = [console.export_text().rstrip()]
    lines.append(LEGEND if width is None else textwrap.fill(LEGEND, width))
    lines.append(f"stopped because: {summary.reason}; trees still pending: {summary.pending_trees}")
    for c in summary.components:
        for task, named in c.metrics.items():
            for name, point in named.items():
                lines.append(
                    f"metric {c.name}[task {task}] {name} = {_short(point['value'])} "
                    f"({point['count']} report{'s' if point['count'] != 1 else ''})"
                )
    if summary.held:
        lines.append(f"held: {_per_component(summary.held)} (never acked; their trees timed out or failed)")
    if summary.held_untracked:
        lines.append(
            f"held without a tree: {_per_component(summary.held_untracked)} "
            "(never acked for longer than topology.message.timeout.secs)"
        )
    for err in summary.errors:
        times = f" ({err.count} times)" if err.count > 1 else ""
        lines.append(f"{err.kind}{times}: {err.component}[task {err.task}]: {err.signature}")
    for line in summary.gave_up:
        lines.append(line)
    return "\n".join(lines)


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def status_line(summary: Summary) -> str:
    """One line for a log: the run's age and, per component, events/s, tuples/s and capacity or latency."""
    parts = [f"{summary.topology} {summary.reason} {summary.seconds:.0f}s pending={summary.pending_trees}"]
    for c in summary.components:
        text = f"{c.name}: {_rate(c.events_per_s)} ev/s {_rate(c.tuples_per_s)} t/s"
        if c.kind == "bolt":
            text += f" cap={_num(c.capacity)} exec={_num(c.execute_ms)}ms"
        else:
            text += f" complete={c.latency_ms:.1f}ms"
        if c.failed:
            text += f" failed={c.failed}"
        if c.errors:
            text += f" errors={c.errors}"
        parts.append(text)
    return " | ".join(parts)


def status_record(summary: Summary) -> dict[str, Any]:
    """The same as a JSON-able object (`--json` status lines)."""
    doc = summary.as_dict()
    doc["type"] = "status"
    return doc


def _per_component(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}={n}" for name, n in sorted(counts.items()))


class LiveView:
    """A rich Live table refreshed at most `hz` times a second from the running cluster."""

    def __init__(self, console: Console | None = None, hz: float = 2.0) -> None:
        self.console = console or Console()
        self.period = 1.0 / hz
        self._next = 0.0
        self._live: Live | None = None
        self._columns: list[str] | None = None
        self._width = 0
        self._refit = 0.0

    def __enter__(self) -> LiveView:
        self._live = Live(console=self.console, auto_refresh=False, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def __call__(self, cluster: Cluster) -> None:
        now = time.monotonic()
        if now < self._next or self._live is None:
            return
        self._next = now + self.period
        title = f"{cluster.graph.name} — running"
        width = self.console.width
        summary = cluster.summary("running")
        if self._columns is None or width != self._width or now >= self._refit:
            # choosing the columns renders the table a few times: only now and then, or on a resize
            self._columns = fitting_columns(summary, width, title)
            self._width, self._refit = width, now + 5.0
        self._live.update(summary_table(summary, title, self._columns), refresh=True)


class StatusLines:
    """Every `interval` seconds of the run, one status line (or one JSON object with `as_json`) to `out`."""

    def __init__(self, out: Any, interval: float = 10.0, as_json: bool = False) -> None:
        self.out = out
        self.interval = interval
        self.as_json = as_json
        self._next = time.monotonic() + interval

    def __call__(self, cluster: Cluster) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        summary = cluster.summary("running")
        if self.as_json:
            record = status_record(summary)
            record["ts"] = _utc_now()
            line = json.dumps(record, default=str)
        else:
            line = f"{_utc_now()} {status_line(summary)}"
        self.out.write(line + "\n")
        self.out.flush()


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
