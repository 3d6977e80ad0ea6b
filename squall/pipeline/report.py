"""What a run of the pipeline computed and where it is: read back from the SQLite store (pure functions + format).
`squall report` prints it (squall.cassandra.report summarises a Cassandra sink into the same shape)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squall.pipeline.model import WINDOW_COLUMNS
from squall.pipeline.sqlite_store import TABLES
from squall.pipeline.truth import RowKey


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    return db


def window_rows(path: Path) -> dict[RowKey, dict[str, Any]]:
    """Every stored window row, keyed like squall.pipeline.truth rows."""
    with _open(path) as db:
        rows = db.execute(f"SELECT {', '.join(WINDOW_COLUMNS)} FROM metric_windows").fetchall()
    return {
        (r["tenant"], r["device_id"], r["metric"], r["window_s"], r["window_start"]): dict(r) for r in rows
    }


def summarize(path: Path, examples: int = 3) -> dict[str, Any]:
    """Row counts per table, dead letters by reason, alerts by kind, windows by length, a few example windows."""
    with _open(path) as db:
        counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
        reasons = dict(
            db.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason ORDER BY 2 DESC").fetchall()
        )
        kinds = dict(db.execute("SELECT kind, COUNT(*) FROM alerts GROUP BY kind ORDER BY 2 DESC").fetchall())
        lengths = {
            int(w): {"windows": n, "events": e}
            for w, n, e in db.execute(
                "SELECT window_s, COUNT(*), SUM(count) FROM metric_windows WHERE metric = 'temperature' GROUP BY window_s"
            ).fetchall()
        }
        sample = [
            dict(r)
            for r in db.execute(
                f"SELECT {', '.join(WINDOW_COLUMNS)} FROM metric_windows WHERE metric = 'temperature' "
                "ORDER BY count DESC, window_s, window_start, tenant, device_id LIMIT ?",
                (examples,),
            ).fetchall()
        ]
    return {
        "store": "sqlite",
        "sqlite_path": str(path),
        "rows": counts,
        "dead_letters_by_reason": reasons,
        "alerts_by_kind": kinds,
        "temperature_windows": lengths,
        "example_windows": sample,
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """The text of a summary of the SQLite store, or of Cassandra's (squall.cassandra.report: `keyspace`)."""
    if "keyspace" in summary:
        lines = [f"Stored in Cassandra: keyspace {summary['keyspace']}"]
    else:
        lines = [f"Stored in SQLite: {summary['sqlite_path']}"]
    lines.append("  rows: " + ", ".join(f"{t}={n}" for t, n in summary["rows"].items()))
    if not summary["rows"].get("events"):
        lines.append(
            '  (no raw events: the archive is opt-in, an {"stream": "archive"} rule in pipeline.routing.rules)'
        )
    if summary["dead_letters_by_reason"]:
        lines.append(
            "  dead letters by reason: "
            + ", ".join(f"{r}={n}" for r, n in summary["dead_letters_by_reason"].items())
        )
    if summary["alerts_by_kind"]:
        lines.append(
            "  alerts by kind: " + ", ".join(f"{k}={n}" for k, n in summary["alerts_by_kind"].items())
        )
    for length, info in sorted(summary["temperature_windows"].items()):
        lines.append(
            f"  {length}s windows of temperature: {info['windows']} windows over {info['events']} readings"
        )
    if summary["example_windows"]:
        lines.append("  example windows (temperature):")
        for w in summary["example_windows"]:
            lines.append(
                f"    {w['tenant']}/{w['device_id']} {w['window_s']}s @ {w['window_start']}: count={w['count']} "
                f"mean={w['mean']:.3f} min={w['min']:g} max={w['max']:g} p50≈{w['p50']:.3f} p95≈{w['p95']:.3f}"
            )
    return "\n".join(lines)


def after_run(conf: Mapping[str, Any]) -> str:
    """The text to print after a run of the pipeline with Storm conf `conf` (embedded SQLite sink only)."""
    from squall.pipeline.settings import from_conf

    settings = from_conf(conf)
    if settings.sink != "sqlite":
        return f"Results were written to the {settings.sink} sink."
    path = settings.sqlite_file
    if not path.exists():
        return f"No SQLite store at {path}: nothing was persisted."
    return format_summary(summarize(path))


def main(argv: list[str] | None = None) -> int:
    """`python -m squall.pipeline.report [-e ENV]`: summarise what the last local run stored."""
    import argparse

    from squall.config import PIPELINE_CONF_KEY, load_project, pipeline_settings
    from squall.errors import SquallError

    parser = argparse.ArgumentParser(prog="python -m squall.pipeline.report", description=main.__doc__)
    parser.add_argument("-e", "--environment", dest="env", default=None)
    args = parser.parse_args(argv)
    try:
        project = load_project()
        settings = pipeline_settings(project, args.env)
        settings.setdefault("project_root", str(project.root))
        print(after_run({PIPELINE_CONF_KEY: settings}))
    except SquallError as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
