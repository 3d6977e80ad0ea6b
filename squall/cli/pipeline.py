"""`squall simulate`, `squall db`, `squall dlq`: the reference pipeline's real-service commands (thin).

The work is done by squall.kafka.simulate / squall.kafka.admin / squall.cassandra.schema; this module reads
config.json, calls them, and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("-e", "--environment", "env", default=None, help="config.json env to read settings from.")
@click.option(
    "--source",
    type=click.Choice(["kafka", "cassandra"]),
    default="kafka",
    show_default=True,
    help="Read the dead-letter topic or the dead_letters table.",
)
@click.option("--topic", default=None, help="Dead-letter topic (default: pipeline.kafka.dlq_topic).")
def dlq_show(limit: int, env: str | None, source: str, topic: str | None) -> None:
    """Print dead letters: reason, source topic/partition/offset and a preview of the original bytes."""
    from rich.console import Console

    from squall.kafka.dead_letter_view import (
        dead_letters_from_cassandra,
        dead_letters_from_kafka,
        render_table,
    )

    pipeline = _pipeline(env)
    if source == "kafka":
        letters, skipped = dead_letters_from_kafka(pipeline, topic, limit)
    else:
        letters, skipped = dead_letters_from_cassandra(pipeline, limit), 0
    Console().print(render_table(letters))
    click.echo(
        f"{len(letters)} dead letter(s) shown"
        + (f", {skipped} undecodable message(s) skipped" if skipped else "")
    )
