"""`squall simulate`, `squall db`, `squall dlq`, `squall lag`, `squall report`: the reference pipeline's
commands (thin).

The work is done by squall.kafka.simulate / squall.kafka.admin / squall.kafka.lag / squall.kafka.dead_letter_view /
squall.pipeline.report / squall.cassandra.schema; this module reads config.json, calls them, and prints. Every
command that prints a table also takes `--json` and then prints one JSON document instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from squall.config import load_project, pipeline_settings

if TYPE_CHECKING:
    from squall.pipeline.settings import PipelineSettings


def _pipeline(env: str | None) -> PipelineSettings:
    """The env's `pipeline` section, validated (a bad value stops the command before it touches a service)."""
    from squall.pipeline.settings import for_env

    project = load_project()
    env_name, _ = project.env(env)
    raw = pipeline_settings(project, env_name)
    raw.setdefault("project_root", str(project.root))
    return for_env(raw, project, env_name)


JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of a table."
)


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


# --- squall simulate ---------------------------------------------------------------------------------
@click.command()
@click.option(
    "--devices", type=click.IntRange(min=1), default=20, show_default=True, help="Simulated devices."
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=200.0,
    show_default=True,
    help="Events per second of event time, all devices together.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds of event time to cover (events = rate x duration).",
)
@click.option(
    "--pace",
    is_flag=True,
    help="Produce at --rate messages per second of wall-clock time (a live stream) instead of all at once.",
)
@click.option("--bad-ratio", type=click.FloatRange(0, 0.5), default=None, help="Share of malformed messages.")
@click.option("--dup-ratio", type=click.FloatRange(0, 0.5), default=None, help="Share of re-sent duplicates.")
@click.option("--late-ratio", type=click.FloatRange(0, 0.5), default=None, help="Share of late events.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "msgpack", "mixed"]),
    default=None,
    help="Event encoding (default: pipeline.kafka.format, json when auto).",
)
@click.option("-e", "--environment", "env", default=None, help="config.json env whose pipeline.kafka to use.")
@click.option("--topic", default=None, help="Events topic (default: pipeline.kafka.events_topic).")
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=None,
    help="Partitions when the topic is created (default: pipeline.kafka.partitions).",
)
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same messages).")
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the expected window rows and counts (JSON) here.",
)
def simulate(
    devices: int,
    rate: float,
    duration: float,
    pace: bool,
    bad_ratio: float | None,
    dup_ratio: float | None,
    late_ratio: float | None,
    fmt: str | None,
    env: str | None,
    topic: str | None,
    partitions: int | None,
    seed: int | None,
    truth_path: Path | None,
) -> None:
    """Produce realistic device events into Kafka and write the ground truth of their windows."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from squall.kafka import admin
    from squall.kafka.simulate import open_producer, produce, truth_document, with_broker_offsets, write_truth
    from squall.pipeline.simulator import SimulatorSettings, generate
    from squall.pipeline.truth import truth_for_settings

    pipeline = _pipeline(env)
    kafka = pipeline.kafka
    topic = topic or kafka.events_topic
    admin.ensure_topics(kafka, [topic], partitions)
    admin.ensure_topics(kafka, [kafka.dlq_topic, kafka.alerts_topic])
    actual_partitions = len(admin.end_offsets(kafka, topic))
    if fmt is None:
        fmt = "json" if kafka.format == "auto" else kafka.format
    sim = SimulatorSettings.from_settings(
        pipeline,
        devices=devices,
        rate=rate,
        duration_s=duration,
        bad_ratio=bad_ratio,
        dup_ratio=dup_ratio,
        late_ratio=late_ratio,
        format=fmt,
        topic=topic,
        seed=seed,
        partitions=actual_partitions,
    )
    messages = list(generate(sim))
    producer = open_producer(kafka)
    columns = (TextColumn("[bold]producing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task("produce", total=len(messages))
            report = produce(
                messages,
                topic,
                producer,
                timeout_s=kafka.request_timeout_s * 2,
                on_progress=lambda n: progress.advance(task, n),
                progress_every=max(1, int(rate)) if pace else 1000,
                pace=rate if pace else None,
            )
    finally:
        producer.close(timeout=kafka.request_timeout_s)
    click.echo(
        f"produced {report.produced} messages to {topic} ({actual_partitions} partitions): "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.labels.items()))
    )
    if report.moved:
        click.echo(f"note: {topic} was not empty; truth uses the offsets the broker assigned")
    if truth_path is not None:
        windows = pipeline.windows
        truth = truth_for_settings(with_broker_offsets(messages, report), pipeline)
        meta = {
            "seed": sim.seed,
            "devices": devices,
            "rate": rate,
            "duration_s": duration,
            "format": fmt,
            "allowed_lateness_ms": windows.allowed_lateness_ms,
            "windows": [[d.length_s, d.slide_s] for d in windows.definitions],
            "relative_accuracy": windows.relative_accuracy,
        }
        write_truth(truth_path, truth_document(truth, report, meta))
        click.echo(
            f"truth: {len(truth.rows)} window rows, aggregated {truth.aggregated}, duplicates {truth.duplicates}, "
            f"late {truth.late}, dead-lettered {truth.dead_lettered}, not windowed {truth.elsewhere} -> {truth_path}"
        )


# --- squall db ---------------------------------------------------------------------------------------
@click.group()
def db() -> None:
    """The Cassandra schema of the reference pipeline."""


@db.command("init")
@click.option(
    "-e", "--environment", "env", default=None, help="config.json env whose pipeline.cassandra to use."
)
@click.option("--keyspace", default=None, help="Keyspace (default: pipeline.cassandra.keyspace).")
def db_init(env: str | None, keyspace: str | None) -> None:
    """Create the keyspace and tables from infra/cql/schema.cql (idempotent)."""
    from dataclasses import replace

    from squall.cassandra.schema import apply_schema
    from squall.cassandra.settings import CassandraSettings
    from squall.cassandra.store import connect

    settings = _pipeline(env).cassandra
    if keyspace:
        settings = replace(settings, keyspace=CassandraSettings.from_section({"keyspace": keyspace}).keyspace)
    cluster, session = connect(settings)
    try:
        tables = apply_schema(session, settings)
    finally:
        cluster.shutdown()
    click.echo(f"keyspace {settings.keyspace} ready: {', '.join(tables)}")


# --- squall dlq --------------------------------------------------------------------------------------
@click.group()
def dlq() -> None:
    """The dead-letter queue: malformed events and tuples that failed max_retries times."""


@dlq.command("show")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Dead letters to list (--by-reason counts all of them).",
)
@click.option("-e", "--environment", "env", default=None, help="config.json env to read settings from.")
@click.option(
    "--source",
    type=click.Choice(["kafka", "cassandra", "sqlite"]),
    default=None,
    help="Read the dead-letter topic, Cassandra's dead_letters table or the embedded SQLite store's "
    "(default: the topic when pipeline.publisher is kafka, else the pipeline's sink).",
)
@click.option("--topic", default=None, help="Dead-letter topic (default: pipeline.kafka.dlq_topic).")
@click.option("--by-reason", is_flag=True, help="Count dead letters per reason instead of listing them.")
@JSON_OPTION
def dlq_show(
    limit: int, env: str | None, source: str | None, topic: str | None, by_reason: bool, as_json: bool
) -> None:
    """Print dead letters: reason, source topic/partition/offset and a preview of the original bytes."""
    from rich.console import Console

    from squall.kafka import dead_letter_view as view

    pipeline = _pipeline(env)
    source = source or view.default_source(pipeline)
    if topic is not None and source != "kafka":
        from squall.errors import ConfigError

        raise ConfigError(
            "--topic",
            f"{topic!r} names a Kafka topic, but the dead letters are read from {source}",
            "add --source kafka",
        )
    skipped = 0
    if by_reason:
        if source == "kafka":
            letters, skipped = view.dead_letters_from_kafka(pipeline, topic, None)
            counts = view.count_by_reason(dl.reason for dl in letters)
        elif source == "cassandra":
            counts = view.reasons_from_cassandra(pipeline)
        else:
            counts = view.reasons_from_sqlite(pipeline.sqlite_file)
        if as_json:
            _print_json(view.reasons_document(source, counts, skipped))
            return
        Console().print(view.render_reasons(counts))
        click.echo(
            f"{sum(counts.values())} dead letter(s) in {source}"
            + (f", {skipped} undecodable message(s) skipped" if skipped else "")
        )
        return
    if source == "kafka":
        letters, skipped = view.dead_letters_from_kafka(pipeline, topic, limit)
    elif source == "cassandra":
        letters = view.dead_letters_from_cassandra(pipeline, limit)
    else:
        letters = view.dead_letters_from_sqlite(pipeline.sqlite_file, limit)
    if as_json:
        _print_json(view.letters_document(source, letters, skipped))
        return
    console = Console()
    console.print(view.render_table(letters, console.width), crop=False)
    click.echo(
        f"{len(letters)} dead letter(s) shown from {source}"
        + (f", {skipped} undecodable message(s) skipped" if skipped else "")
    )


# --- squall lag --------------------------------------------------------------------------------------
@click.command()
@click.option("-e", "--environment", "env", default=None, help="config.json env whose pipeline.kafka to use.")
@click.option(
    "--group", default=None, help="Consumer group (default: pipeline.kafka.group_id, the spout's group)."
)
@JSON_OPTION
def lag(env: str | None, group: str | None, as_json: bool) -> None:
    """Per topic and partition of a consumer group: the committed offset, the log end and the lag."""
    from rich.console import Console
    from rich.table import Table

    from squall.kafka.lag import group_lag, lag_document

    kafka = _pipeline(env).kafka
    key = "--group" if group else "pipeline.kafka.group_id"
    group = group or kafka.group_id
    document = lag_document(group, group_lag(kafka, group, key))
    if as_json:
        _print_json(document)
        return
    table = Table(title=f"consumer group {group}")
    for col in ("topic", "partition", "committed", "end", "lag"):
        table.add_column(col, no_wrap=True, justify="left" if col == "topic" else "right")
    for row in document["partitions"]:
        committed = "-" if row["committed"] is None else str(row["committed"])
        table.add_row(row["topic"], str(row["partition"]), committed, str(row["end"]), str(row["lag"]))
    Console().print(table)
    click.echo(
        f"group {group}: total lag {document['total_lag']} over {len(document['partitions'])} partition(s)"
    )


# --- squall report -----------------------------------------------------------------------------------
@click.command()
@click.option(
    "-e", "--environment", "env", default=None, help="config.json env whose pipeline store to read."
)
@JSON_OPTION
def report(env: str | None, as_json: bool) -> None:
    """What the pipeline stored (the env's sink: the embedded SQLite file or Cassandra): rows per table, dead
    letters by reason, alerts by kind, windows, a few example windows."""
    from squall.errors import ConfigError
    from squall.pipeline.report import format_summary, summarize

    pipeline = _pipeline(env)
    if pipeline.sink == "cassandra":
        from squall.cassandra.report import summarize as summarize_cassandra

        summary = summarize_cassandra(pipeline.cassandra)
    else:
        path = pipeline.sqlite_file
        if not path.is_file():
            raise ConfigError(
                "pipeline.sqlite.path",
                f"no SQLite store at {path}",
                "run the pipeline first with `squall run iot_pipeline -e local`, or name the env that wrote it with -e",
            )
        summary = summarize(path)
    if as_json:
        _print_json(summary)
        return
    click.echo(format_summary(summary))
