"""A streamparse Topology as the runner sees it: components, their streams and inputs, and task ids.

Built from the topology's thrift `StormTopology` (what Storm itself receives), read-only: nothing on the
Topology class or its specs is modified. Task ids follow Storm: components sorted by id, tasks numbered
from 1 consecutively.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from squall.errors import TopologyError

SYSTEM_COMPONENT = "__system"
SYSTEM_TASK = -1
TICK_STREAM = "__tick"
HEARTBEAT_STREAM = "__heartbeat"
PYTHON_COMMAND = "streamparse_run"

GROUPING_KINDS = ("shuffle", "local_or_shuffle", "fields", "all", "global", "none", "direct")


@dataclass(frozen=True)
class GroupingDef:
    kind: str  # one of GROUPING_KINDS
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamDef:
    fields: tuple[str, ...]
    direct: bool = False


@dataclass(frozen=True)
class InputDef:
    component: str
    stream: str
    grouping: GroupingDef


@dataclass
class ComponentDef:
    name: str
    kind: str  # "spout" | "bolt"
    command: str
    script: str
    par: int
    conf: dict[str, Any]
    outputs: dict[str, StreamDef]
    inputs: list[InputDef]
    component_cls: type | None = None  # the Python class when the DSL spec is available
    tasks: list[int] = field(default_factory=list)

    @property
    def is_python(self) -> bool:
        """A pystorm/streamparse component (run as `streamparse_run module.Class`)."""
        return self.command.rsplit("/", 1)[-1] == PYTHON_COMMAND

    @property
    def class_path(self) -> str:
        """`module.Class` of a Python component (the script without `-s <serializer>`)."""
        parts = shlex.split(self.script)
        rest = [
            p
            for i, p in enumerate(parts)
            if p not in ("-s", "--serializer") and (i == 0 or parts[i - 1] not in ("-s", "--serializer"))
        ]
        if not rest:
            raise TopologyError(f"component {self.name!r}: no module.Class in script {self.script!r}")
        return rest[-1]


@dataclass
class Graph:
    name: str
    components: dict[str, ComponentDef]
    task_component: dict[int, str]
    # (source component, stream) -> [(target component, grouping)]
    subscribers: dict[tuple[str, str], list[tuple[str, GroupingDef]]]

    @property
    def spouts(self) -> list[ComponentDef]:
        return [c for c in self.components.values() if c.kind == "spout"]

    @property
    def bolts(self) -> list[ComponentDef]:
        return [c for c in self.components.values() if c.kind == "bolt"]

    def context(self, task: int) -> dict[str, Any]:
        """The multilang `context` Storm 2's ShellProcess sends (TopologyContext.toJSONString), plus
        `source->stream->fields`, which pystorm reads to build namedtuples."""
        comp = self.components[self.task_component[task]]
        targets: dict[str, dict[str, Any]] = {}
        for stream in comp.outputs:
            for target, grouping in self.subscribers.get((comp.name, stream), []):
                targets.setdefault(stream, {})[target] = _grouping_json(grouping)
        sources: dict[str, dict[str, Any]] = {}
        source_fields: dict[str, dict[str, list[str]]] = {}
        for inp in comp.inputs:
            sources.setdefault(inp.component, {})[inp.stream] = _grouping_json(inp.grouping)
            fields = list(self.components[inp.component].outputs[inp.stream].fields)
            source_fields.setdefault(inp.component, {})[inp.stream] = fields
        return {
            "task->component": {str(t): c for t, c in self.task_component.items()},
            "taskid": task,
            "componentid": comp.name,
            "streams": sorted(comp.outputs),
            "stream->outputfields": {s: list(d.fields) for s, d in comp.outputs.items()},
            "stream->target->grouping": targets,
            "source->stream->grouping": sources,
            "source->stream->fields": source_fields,
        }


def _grouping_json(grouping: GroupingDef) -> dict[str, Any]:
    if grouping.kind == "fields":
        return {"type": "FIELDS", "fields": list(grouping.fields)}
    return {"type": grouping.kind.upper()}


def _grouping(component: str, source: str, stream: str, thrift_grouping: Any) -> GroupingDef:
    where = f"component {component!r} input {source}:{stream}"
    for kind in ("custom_object", "custom_serialized"):
        if getattr(thrift_grouping, kind, None) is not None:
            raise TopologyError(
                f"{where}: {kind} grouping is a Java class; squall run cannot execute it "
                "(unsupported locally: use fields, shuffle, all, global, none, local_or_shuffle or direct)"
            )
    fields = getattr(thrift_grouping, "fields", None)
    if fields is not None:
        return GroupingDef("global") if not fields else GroupingDef("fields", tuple(fields))
    for kind in ("shuffle", "local_or_shuffle", "all", "none", "direct"):
        if getattr(thrift_grouping, kind, None) is not None:
            return GroupingDef(kind)
    raise TopologyError(f"{where}: unknown grouping {thrift_grouping!r}")


def _load_conf(name: str, json_conf: str | None) -> dict[str, Any]:
    if not json_conf:
        return {}
    try:
        conf = json.loads(json_conf)
    except ValueError as exc:
        raise TopologyError(f"component {name!r}: config is not JSON ({exc})") from exc
    if not isinstance(conf, dict):
        raise TopologyError(f"component {name!r}: config must be an object")
    return conf


def _hint(hint: Any, env: str | None) -> int:
    """A spec's parallelism hint; streamparse allows {env: N} (an env it does not name gets 1)."""
    if isinstance(hint, dict):
        return int(hint.get(env or "", 1))
    return int(hint or 1)


def build_graph(
    topology: type, parallelism: dict[str, int] | None = None, name: str | None = None, env: str | None = None
) -> Graph:
    """Read `topology` (a streamparse Topology class) into a Graph. `parallelism` overrides each `par`."""
    thrift = getattr(topology, "thrift_topology", None)
    if thrift is None:
        raise TopologyError(f"{topology!r} is not a streamparse Topology (no thrift_topology)")
    classes = {spec.name: spec.component_cls for spec in getattr(topology, "specs", []) or []}
    parallelism = parallelism or {}
    components: dict[str, ComponentDef] = {}
    for kind, table, attr in (
        ("spout", thrift.spouts or {}, "spout_object"),
        ("bolt", thrift.bolts or {}, "bolt_object"),
    ):
        for comp_name, spec in table.items():
            obj = getattr(spec, attr)
            shell = getattr(obj, "shell", None)
            if shell is None:
                raise TopologyError(
                    f"component {comp_name!r} is a Java component; squall run hosts only shell/Python components"
                )
            common = spec.common
            outputs = {
                s: StreamDef(tuple(info.output_fields or ()), bool(info.direct))
                for s, info in (common.streams or {}).items()
            }
            inputs = []
            for gid, grouping in (common.inputs or {}).items():
                source = (
                    gid.componentId
                    if isinstance(gid.componentId, str)
                    else getattr(gid.componentId, "name", None)
                )
                inputs.append(
                    InputDef(
                        str(source), gid.streamId, _grouping(comp_name, str(source), gid.streamId, grouping)
                    )
                )
            par = parallelism.get(comp_name, _hint(common.parallelism_hint, env))
            components[comp_name] = ComponentDef(
                name=comp_name,
                kind=kind,
                command=shell.execution_command,
                script=shell.script or "",
                par=int(par),
                conf=_load_conf(comp_name, common.json_conf),
                outputs=outputs,
                inputs=sorted(inputs, key=lambda i: (i.component, i.stream)),
                component_cls=classes.get(comp_name),
            )
    subscribers: dict[tuple[str, str], list[tuple[str, GroupingDef]]] = {}
    for comp in components.values():
        for inp in comp.inputs:
            source = components.get(inp.component)
            where = f"component {comp.name!r} input {inp.component}:{inp.stream}"
            if source is None:
                raise TopologyError(
                    f"{where}: no component {inp.component!r} (components: {', '.join(sorted(components))})"
                )
            stream = source.outputs.get(inp.stream)
            if stream is None:
                raise TopologyError(
                    f"{where}: {inp.component!r} declares no stream {inp.stream!r} (streams: {', '.join(sorted(source.outputs)) or 'none'})"
                )
            missing = [f for f in inp.grouping.fields if f not in stream.fields]
            if missing:
                raise TopologyError(
                    f"{where}: fields grouping on {missing} but the stream's fields are {list(stream.fields)}"
                )
            if inp.grouping.kind == "direct" and not stream.direct:
                raise TopologyError(
                    f"{where}: direct grouping on a stream not declared direct (declare Stream(..., direct=True))"
                )
            subscribers.setdefault((inp.component, inp.stream), []).append((comp.name, inp.grouping))
    task_component: dict[int, str] = {}
    next_task = 1
    for comp_name in sorted(components):
        comp = components[comp_name]
        comp.tasks = list(range(next_task, next_task + comp.par))
        for t in comp.tasks:
            task_component[t] = comp_name
        next_task += comp.par
    for subs in subscribers.values():
        subs.sort()
    return Graph(
        str(name or getattr(topology, "__name__", "topology")), components, task_component, subscribers
    )


def topology_parallelism(topology: type, env: str | None = None) -> dict[str, int]:
    """Each component's `par` as the topology declares it (input to squall.config.resolve_parallelism)."""
    graph = build_graph(topology, env=env)
    return {name: comp.par for name, comp in graph.components.items()}


def topology_config(topology: type) -> dict[str, Any]:
    conf = getattr(topology, "config", None) or {}
    return dict(conf)
