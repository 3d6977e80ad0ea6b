"""`squall tune`: the parallelism per component that keeps every bolt's capacity under a headroom at a target
rate of events, from a run's figures (`squall run --json`) or from a Storm cluster's UI data.

The model, per bolt: its cost per event is its execute latency per event (execute latency x executed / events,
the time one event takes inside the bolt); at the target rate it receives `share x target` events a second
(`share`: its events over the spouts' events in the measured run, e.g. 1.0 behind a plain pass-through, less
behind a filter); its busy time per second is `share x target x cost`, spread over its tasks; a bolt with N
tasks then has capacity `busy / N`, so N = ceil(busy / headroom). Spouts: their events per second per task as
measured (a ceiling only when the run had a backlog to read), so N = ceil(target / (rate per task x
headroom)), and a Kafka source needs at least as many partitions as spout tasks.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from squall.errors import ConfigError


@dataclass
class Figures:
    """What the proposal needs of one component."""

    name: str
    kind: str
    tasks: int
    executed: int  # bolts: tuples executed; spouts: tuples emitted
    events: int
    execute_ms: float | None  # bolts: average per tuple
    capacity: float | None
    events_per_s: float  # spouts: events emitted per second (over the run's window)


@dataclass
class Proposal:
    name: str
    kind: str
    tasks_now: int
    cost_us_per_event: float | None
    capacity_now: float | None
    share: float  # events it gets per event the spouts emit
    busy_at_target: float | None  # cores' worth of time at the target rate (bolts)
    tasks: int
    capacity_at_target: float | None  # per task, with `tasks`


@dataclass
class Plan:
    topology: str
    target_rate: float
    headroom: float
    components: list[Proposal]
    kafka_partitions: int
    cores: int
    cores_needed: float
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def parallelism(self) -> dict[str, int]:
        return {p.name: p.tasks for p in self.components}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures_from_run(doc: dict[str, Any]) -> list[Figures]:
    """A `squall run --json` summary's components."""
    try:
        comps = doc["components"]
        return [
            Figures(
                name=str(c["name"]),
                kind=str(c["kind"]),
                tasks=int(c["tasks"]),
                executed=int(c["executed"] if c["kind"] == "bolt" else c["emitted"]),
                events=int(c.get("events", c["executed"])),
                execute_ms=c.get("execute_ms"),
                capacity=c.get("capacity"),
                events_per_s=float(c.get("events_per_s") or 0.0),
            )
            for c in comps
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            "--from-run",
            f"not the JSON of `squall run --json` (missing or bad {exc})",
            "save the output of `squall run NAME -e ENV --json` and pass that file",
        ) from exc


def read_run(path: Path) -> dict[str, Any]:
    """The last JSON summary in `path` (the whole file, or the last line that is a JSON object)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            "--from-run", f"cannot read {path} ({exc.strerror})", "give an existing file"
        ) from exc
    start = text.find("{")
    if start >= 0:
        try:
            doc = json.loads(text[start:])
            if isinstance(doc, dict):
                return doc
        except json.JSONDecodeError:
            pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(doc, dict) and doc.get("type") != "status":
                return doc
    raise ConfigError("--from-run", f"{path} holds no JSON summary", "pass the output of `squall run --json`")


def _ui_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def figures_from_ui(topology_page: dict[str, Any]) -> list[Figures]:
    """A Storm UI topology page (`/api/v1/topology/<id>`, window all-time). Storm does not know events: a
    tuple counts one; rates are over the topology's uptime."""
    uptime = max(float(topology_page.get("uptimeSeconds") or 0), 1.0)
    out = []
    for s in topology_page.get("spouts", []):
        emitted = int(s.get("emitted") or 0)
        out.append(
            Figures(s["spoutId"], "spout", int(s["tasks"]), emitted, emitted, None, None, emitted / uptime)
        )
    for b in topology_page.get("bolts", []):
        executed = int(b.get("executed") or 0)
        out.append(
            Figures(
                b["boltId"],
                "bolt",
                int(b["tasks"]),
                executed,
                executed,
                _ui_float(b.get("executeLatency")),
                _ui_float(b.get("capacity")),
                0.0,
            )
        )
    return out


def figures_from_cluster(ui_url: str, topology: str) -> list[Figures]:
    """The active topology called `topology` on the Storm UI at `ui_url` (squall's UI server or Storm's)."""
    import urllib.request

    def get(path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{ui_url.rstrip('/')}/api/v1{path}", timeout=30) as resp:  # noqa: S310
            return json.loads(resp.read())  # type: ignore[no-any-return]

    try:
        summary = get("/topology/summary")
    except OSError as exc:
        raise ConfigError(
            "--ui",
            f"no Storm UI answers at {ui_url} ({exc})",
            "start it (`squall infra up ui`) or pass --ui URL",
        ) from exc
    ids = [t["id"] for t in summary.get("topologies", []) if t.get("name") == topology]
    if not ids:
        names = ", ".join(sorted(t.get("name", "?") for t in summary.get("topologies", []))) or "none"
        raise ConfigError(
            "--from-cluster",
            f"no topology {topology!r} runs on the cluster (running: {names})",
            "submit it first (`sparse submit`) or tune from a local run",
        )
    return figures_from_ui(get(f"/topology/{quote(ids[0], safe='')}"))


def propose(
    topology: str,
    figures: list[Figures],
    target_rate: float,
    headroom: float = 0.7,
    cores: int | None = None,
    partitions: int | None = None,
) -> Plan:
    """The parallelism per component for `target_rate` events/s with every capacity under `headroom`."""
    if target_rate <= 0:
        raise ConfigError("--target-rate", f"{target_rate:g} is not a rate", "give events per second > 0")
    if not 0 < headroom <= 1:
        raise ConfigError("--headroom", f"{headroom:g} is not a capacity", "give a value in (0, 1], e.g. 0.7")
    cores = cores or os.cpu_count() or 1
    spout_events = sum(f.events for f in figures if f.kind == "spout")
    if spout_events <= 0:
        raise ConfigError(
            "spouts",
            "the measured run's spouts emitted nothing: no figures to tune from",
            "run longer (--duration) or with a source that has data",
        )
    plan = Plan(topology, target_rate, headroom, [], 0, cores, 0.0)
    spout_tasks = 0
    for f in sorted(figures, key=lambda f: (f.kind != "spout", f.name)):
        share = f.events / spout_events
        if f.kind == "spout":
            per_task = f.events_per_s / max(f.tasks, 1)
            if per_task > 0:
                tasks = max(1, math.ceil(target_rate * share / (per_task * headroom)))
            else:
                tasks = f.tasks
                plan.notes.append(f"{f.name}: no rate measured; kept at {f.tasks} tasks")
            spout_tasks += tasks
            plan.components.append(
                Proposal(f.name, f.kind, f.tasks, None, None, round(share, 4), None, tasks, None)
            )
            continue
        if f.execute_ms is None or not f.executed or not f.events:
            plan.components.append(
                Proposal(f.name, f.kind, f.tasks, None, f.capacity, round(share, 4), None, f.tasks, None)
            )
            plan.notes.append(
                f"{f.name}: no execute latency measured (not a Python component run through squall, or it got "
                f"nothing); kept at {f.tasks} tasks"
            )
            continue
        cost_s = f.execute_ms / 1000.0 * f.executed / f.events
        busy = target_rate * share * cost_s
        tasks = max(1, math.ceil(busy / headroom - 1e-9))
        plan.cores_needed += busy
        plan.components.append(
            Proposal(
                f.name,
                f.kind,
                f.tasks,
                round(cost_s * 1e6, 3),
                f.capacity,
                round(share, 4),
                round(busy, 4),
                tasks,
                round(busy / tasks, 4),
            )
        )
    plan.kafka_partitions = spout_tasks
    plan.cores_needed = round(plan.cores_needed, 3)
    if plan.cores_needed > cores * headroom:
        plan.problems.append(
            f"the bolts need {plan.cores_needed:.2f} cores of work at {target_rate:g} events/s; this machine has "
            f"{cores} (x headroom {headroom:g} = {cores * headroom:.2f}): more tasks here will not serve it; "
            "spread the topology over more machines or lower the cost per event"
        )
    if partitions is not None and spout_tasks > partitions:
        plan.problems.append(
            f"the spouts need {spout_tasks} tasks, the source topic has {partitions} partitions (one task per "
            f"partition at most): add partitions (at least {spout_tasks})"
        )
    plan.notes.append(
        "spout rates are what the run measured: a ceiling only when the run had a backlog to read; bolts' costs "
        "assume events spread evenly over their tasks (a skewed fields grouping needs more)"
    )
    return plan


def format_plan(plan: Plan) -> str:
    head = f"{'component':<20} {'kind':<5} {'cost us/event':>13} {'capacity now':>12} {'tasks now':>9} {'proposed':>8}"
    lines = [
        f"{plan.topology}: {plan.target_rate:g} events/s, every capacity under {plan.headroom:g}",
        head,
        "-" * len(head),
    ]
    for p in plan.components:
        cost = "-" if p.cost_us_per_event is None else f"{p.cost_us_per_event:.3f}"
        cap = "-" if p.capacity_now is None else f"{p.capacity_now:.3f}"
        lines.append(f"{p.name:<20} {p.kind:<5} {cost:>13} {cap:>12} {p.tasks_now:>9} {p.tasks:>8}")
    lines.append(
        f"kafka partitions needed: {plan.kafka_partitions}; bolts' work: {plan.cores_needed:.2f} of "
        f"{plan.cores} cores"
    )
    lines += [f"cannot serve: {p}" for p in plan.problems]
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)


# -- writing envs.<env>.parallelism into config.json, keeping the rest of the file as it is -----------------
_WS = re.compile(r"\s*")
_DECODER = json.JSONDecoder()


def _skip(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]


def _members(text: str, start: int) -> list[tuple[str, int, int, int]]:
    """(key, key start, value start, value end) of the JSON object at `start`."""
    from json.decoder import scanstring  # type: ignore[attr-defined]

    if text[start] != "{":
        raise ValueError(f"no object at {start}")
    out: list[tuple[str, int, int, int]] = []
    i = _skip(text, start + 1)
    if text[i] == "}":
        return out
    while True:
        if text[i] != '"':
            raise ValueError(f"a key expected at {i}")
        key_start = i
        key, i = scanstring(text, i + 1)
        i = _skip(text, i)
        if text[i] != ":":
            raise ValueError(f"':' expected at {i}")
        i = _skip(text, i + 1)
        _, end = _DECODER.raw_decode(text, i)
        out.append((key, key_start, i, end))
        i = _skip(text, end)
        if text[i] == ",":
            i = _skip(text, i + 1)
            continue
        if text[i] == "}":
            return out
        raise ValueError(f"',' or '}}' expected at {i}")


def _find(text: str, start: int, key: str) -> tuple[int, int, int] | None:
    for k, key_start, vs, ve in _members(text, start):
        if k == key:
            return key_start, vs, ve
    return None


def set_parallelism(text: str, env: str, parallelism: dict[str, int]) -> str:
    """config.json's text with `envs.<env>.parallelism` holding `parallelism` (existing entries' numbers
    replaced where they stand, new ones added after them in the same layout); nothing else changes."""
    root = _skip(text, 0)
    envs = _find(text, root, "envs")
    if envs is None:
        raise ConfigError("envs", "config.json has none", 'add "envs": {"<env>": {}} first')
    the_env = _find(text, envs[1], env)
    if the_env is None:
        raise ConfigError(
            f"envs.{env}", "not in config.json", "add it first, or choose an existing env with -e"
        )
    par = _find(text, the_env[1], "parallelism")
    if par is None:
        # insert the whole object as the env's first member, on its own line when the env spans lines
        brace = the_env[1]
        members = _members(text, brace)
        body = json.dumps(dict(sorted(parallelism.items())))
        if members:
            key_start = members[0][1]
            between = text[brace + 1 : key_start]
            return text[: brace + 1] + between + f'"parallelism": {body},' + text[brace + 1 :]
        return text[: brace + 1] + f'"parallelism": {body}' + text[brace + 1 :]
    members = _members(text, par[1])
    out = text
    # replace from the end so earlier offsets stay valid
    for key, _, vs, ve in sorted(members, key=lambda m: -m[2]):
        if key in parallelism:
            out = out[:vs] + str(int(parallelism[key])) + out[ve:]
    new = [k for k in sorted(parallelism) if k not in {m[0] for m in members}]
    if not new:
        return out
    members = _members(out, par[1])  # offsets after the replacements
    if members:
        last_end = members[-1][3]
        if len(members) > 1:
            sep = out[members[-2][3] : members[-1][1]]  # what separates entries: ", " or ",\n        "
        else:
            lead = out[par[1] + 1 : members[0][1]]  # "" on one line, "\n        " on several
            sep = "," + (lead or " ")
        added = "".join(f"{sep}{json.dumps(k)}: {int(parallelism[k])}" for k in new)
        return out[:last_end] + added + out[last_end:]
    inner = ", ".join(f"{json.dumps(k)}: {int(parallelism[k])}" for k in new)
    return out[: par[1] + 1] + inner + out[par[1] + 1 :].lstrip(" ")


def diff(old: str, new: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), path, path)
    )
