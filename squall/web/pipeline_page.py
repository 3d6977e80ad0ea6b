"""The reference pipeline's results on a page: recent windows of one device and metric (count, mean, min/max
band, p95), dead letters by reason over time with a preview of their payloads, and recent alerts.

Read through the pipeline's own store (`squall.pipeline.stores.make_store`: SQLite for the embedded default,
Cassandra otherwise) with its read methods (`window_series`, `recent_windows`, `recent_alerts`,
`recent_dead_letters`). Formatting and drawing are pure; `StoreReader` opens the store.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from markupsafe import Markup, escape

from squall.pipeline.model import Alert, DeadLetter, WindowResult

PREVIEW_CHARS = 120
BUCKET_MS = 60_000  # dead letters are counted per minute
# one colour per dead-letter reason, in order of first appearance
PALETTE = ("#c0392b", "#d9822b", "#8e44ad", "#2c7fb8", "#16a085", "#7f8c8d", "#b7950b", "#34495e")


class PipelineStore(Protocol):
    def window_series(self, limit: int = 500) -> list[tuple[str, str, str, int]]: ...

    def recent_windows(
        self, tenant: str, device_id: str, metric: str, window_s: int, limit: int = 120
    ) -> list[WindowResult]: ...

    def recent_alerts(self, limit: int = 50) -> list[Alert]: ...

    def recent_dead_letters(self, limit: int = 500) -> list[DeadLetter]: ...


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def preview(payload: bytes, chars: int = PREVIEW_CHARS) -> str:
    """The payload's first characters as text (undecodable bytes shown as \\xNN), one line."""
    text = payload.decode("utf-8", errors="backslashreplace").replace("\n", "⏎")
    return text if len(text) <= chars else text[:chars] + "…"


def series_key(tenant: str, device_id: str, metric: str, window_s: int) -> str:
    return f"{tenant}/{device_id}/{metric}/{window_s}"


def parse_series(value: str) -> tuple[str, str, str, int] | None:
    parts = value.rsplit("/", 3)
    if len(parts) != 4 or not parts[3].isdigit():
        return None
    return parts[0], parts[1], parts[2], int(parts[3])


def dead_letter_buckets(letters: list[DeadLetter]) -> tuple[list[str], list[tuple[int, dict[str, int]]]]:
    """Reasons (most frequent first) and per-minute counts by reason, oldest minute first."""
    reasons = [r for r, _ in Counter(d.reason for d in letters).most_common()]
    buckets: dict[int, Counter[str]] = {}
    for d in letters:
        buckets.setdefault(d.ts // BUCKET_MS * BUCKET_MS, Counter())[d.reason] += 1
    return reasons, [(t, dict(c)) for t, c in sorted(buckets.items())]


def windows_svg(windows: list[WindowResult], width: int = 760, height: int = 220) -> Markup:
    """Windows oldest to newest: the min/max band, mean and p95 lines (left axis) and count bars (bottom)."""
    if not windows:
        return Markup('<p class="hint" id="windows-chart-empty">no windows stored for this series yet</p>')
    pad, bars_h = 40, 40
    plot_h = height - bars_h - 2 * 14
    lo = min(w.min for w in windows)
    hi = max(w.max for w in windows)
    span = (hi - lo) or 1.0
    top_count = max(w.count for w in windows) or 1
    n = len(windows)
    step = (width - pad - 8) / max(n - 1, 1)

    def x(i: int) -> float:
        return pad + i * step

    def y(v: float) -> float:
        return 14 + (hi - v) / span * plot_h

    band = [f"{x(i):.1f},{y(w.max):.1f}" for i, w in enumerate(windows)]
    band += [f"{x(i):.1f},{y(w.min):.1f}" for i, w in reversed(list(enumerate(windows)))]
    mean = " ".join(f"{x(i):.1f},{y(w.mean):.1f}" for i, w in enumerate(windows))
    p95 = " ".join(f"{x(i):.1f},{y(w.p95):.1f}" for i, w in enumerate(windows))
    bar_w = max(min(step * 0.7, 14), 1.5)
    bars = "".join(
        f'<rect class="count" x="{x(i) - bar_w / 2:.1f}" y="{height - 14 - w.count / top_count * bars_h:.1f}" '
        f'width="{bar_w:.1f}" height="{w.count / top_count * bars_h:.1f}"><title>{_time(w.window_start)}: '
        f"count {w.count}, mean {w.mean:.3f}, min {w.min:.3f}, max {w.max:.3f}, p95 {w.p95:.3f}</title></rect>"
        for i, w in enumerate(windows)
    )
    return Markup(
        f'<svg class="windows-chart" id="windows-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="recent windows">'
        f'<text class="tick" x="2" y="18">{hi:.2f}</text><text class="tick" x="2" y="{14 + plot_h:.0f}">{lo:.2f}</text>'
        f'<polygon class="band" points="{" ".join(band)}"/>'
        f'<polyline class="mean" points="{mean}"/><polyline class="p95" points="{p95}"/>'
        f'<line class="axis" x1="{pad}" x2="{width}" y1="{height - 14}" y2="{height - 14}"/>{bars}'
        f'<text class="tick" x="2" y="{height - 16}">n≤{top_count}</text>'
        f'<text class="tick" x="{pad}" y="{height - 2}">{_time(windows[0].window_start)}</text>'
        f'<text class="tick end" x="{width - 4}" y="{height - 2}">{_time(windows[-1].window_start)}</text></svg>'
    )


def dead_letters_svg(letters: list[DeadLetter], width: int = 760, height: int = 160) -> Markup:
    """Dead letters per minute, a stacked bar per minute coloured by reason, with a legend."""
    if not letters:
        return Markup('<p class="hint" id="dead-letters-chart-empty">no dead letters</p>')
    reasons, buckets = dead_letter_buckets(letters)
    colour = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(reasons)}
    top = max(sum(c.values()) for _, c in buckets)
    plot_h = height - 40
    slot = (width - 48) / max(len(buckets), 1)
    bar_w = max(min(slot * 0.8, 28), 2)
    parts = []
    for i, (t, counts) in enumerate(buckets):
        base = height - 22.0
        for reason in reasons:
            k = counts.get(reason, 0)
            if not k:
                continue
            h = k / top * plot_h
            base -= h
            parts.append(
                f'<rect class="dead" x="{40 + i * slot:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour[reason]}"><title>{_time(t)} {escape(reason)}: {k}</title></rect>'
            )
    legend = "".join(
        f'<rect x="{40 + j * 150}" y="2" width="10" height="10" fill="{colour[r]}"/>'
        f'<text class="tick" x="{54 + j * 150}" y="11">{escape(r[:22])}</text>'
        for j, r in enumerate(reasons[:5])
    )
    return Markup(
        f'<svg class="dead-letters-chart" id="dead-letters-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="dead letters per minute">{legend}'
        f'<text class="tick" x="2" y="{height - 22 - plot_h + 10:.0f}">{top}/min</text>{"".join(parts)}'
        f'<line class="axis" x1="38" x2="{width}" y1="{height - 22}" y2="{height - 22}"/>'
        f'<text class="tick" x="40" y="{height - 6}">{_time(buckets[0][0])}</text>'
        f'<text class="tick end" x="{width - 4}" y="{height - 6}">{_time(buckets[-1][0])}</text></svg>'
    )


def pipeline_context(store: PipelineStore, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """Everything the pipeline page shows, read from `store` for the series chosen in `query` (`series`,
    default: the first stored one)."""
    series = store.window_series()
    chosen = parse_series(query.get("series", [""])[0]) if query.get("series") else None
    if chosen is None or chosen not in series:
        chosen = series[0] if series else None
    windows = list(reversed(store.recent_windows(*chosen))) if chosen else []
    letters = store.recent_dead_letters()
    reasons, _ = dead_letter_buckets(letters)
    return {
        "series": [(series_key(*s), f"{s[0]} / {s[1]} / {s[2]} ({s[3]} s windows)") for s in series],
        "chosen": series_key(*chosen) if chosen else "",
        "windows": windows,
        "windows_svg": windows_svg(windows),
        "window_rows": [
            {
                "start": _time(w.window_start),
                "count": w.count,
                "mean": f"{w.mean:.3f}",
                "min": f"{w.min:.3f}",
                "max": f"{w.max:.3f}",
                "p95": f"{w.p95:.3f}",
            }
            for w in reversed(windows[-10:])
        ],
        "dead_letters_svg": dead_letters_svg(letters),
        "dead_letter_reasons": Counter(d.reason for d in letters).most_common(),
        "reasons": reasons,
        "dead_letters": [
            {
                "time": _time(d.ts),
                "reason": d.reason,
                "detail": d.detail,
                "source": f"{d.source_topic}[{d.source_partition}]@{d.source_offset}",
                "preview": preview(d.payload),
            }
            for d in letters[:25]
        ],
        "alerts": [
            {
                "time": _time(a.ts),
                "device": f"{a.tenant} / {a.device_id}",
                "metric": a.metric,
                "kind": a.kind,
                "value": f"{a.value:.3f}",
                "message": a.message,
            }
            for a in store.recent_alerts()
        ],
    }


class StoreReader:
    """Opens the pipeline's store for a request: SQLite anew on each (its connections belong to one thread),
    Cassandra once (its session is thread-safe and slow to open)."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        from squall.pipeline.settings import PipelineSettings

        self.settings = PipelineSettings.of(settings)
        self._shared: Any = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        if self.settings.sink == "sqlite":
            return f"SQLite {self.settings.sqlite_file}"
        return f"Cassandra ({self.settings.sink})"

    @contextmanager
    def open(self) -> Iterator[PipelineStore]:
        from squall.pipeline.stores import make_store

        if self.settings.sink == "sqlite":
            store: Any = make_store(self.settings)
            try:
                yield store
            finally:
                store.close()
            return
        with self._lock:
            if self._shared is None:
                self._shared = make_store(self.settings)
        yield self._shared

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
