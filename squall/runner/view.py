"""Seeing a run: per-component figures as a rich table, live while running (TTY only) and at the end."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from squall.runner.cluster import Cluster, Summary

COLUMNS = (
    "component",
    "kind",
    "tasks",
    "hosting",
    "emitted",
    "transferred",
    "executed",
    "acked",
    "failed",
    "process ms",
    "execute ms",
    "capacity",
    "errors",
    "restarts",
)


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
                f"{c.latency_ms:.3f}",
                f"{c.execute_ms:.3f}" if c.execute_ms is not None else "-",
                f"{c.capacity:.3f}" if c.capacity is not None else "-",
                str(c.errors),
                str(c.restarts),
            ]
        )
    return rows


def summary_table(summary: Summary, title: str | None = None) -> Table:
    table = Table(title=title or f"{summary.topology} ({summary.hosting}, {summary.seconds:.1f}s)")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("component", "kind", "hosting") else "right")
    for row in summary_rows(summary):
        table.add_row(*row)
    return table


def format_summary(summary: Summary) -> str:
    """The human summary as plain text (pure: no terminal needed)."""
    console = Console(width=160, record=True, file=open("/dev/null", "w"), color_system=None)  # noqa: SIM115
    console.print(summary_table(summary))
    lines = [console.export_text().rstrip()]
    lines.append(f"stopped because: {summary.reason}; trees still pending: {summary.pending_trees}")
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


def _per_component(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}={n}" for name, n in sorted(counts.items()))


class LiveView:
    """A rich Live table refreshed at most `hz` times a second from the running cluster."""

    def __init__(self, console: Console | None = None, hz: float = 2.0) -> None:
        self.console = console or Console()
        self.period = 1.0 / hz
        self._next = 0.0
        self._live: Live | None = None

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
        self._live.update(
            summary_table(cluster.summary("running"), title=f"{cluster.graph.name} — running"), refresh=True
        )
