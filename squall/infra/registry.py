"""The services squall runs, in start order, and the dependency arithmetic over them."""

from __future__ import annotations

from collections.abc import Iterable

from squall.errors import ConfigError
from squall.infra.services import CASSANDRA, KAFKA, ZOOKEEPER, Service
from squall.infra.storm import NIMBUS, SUPERVISOR, UI

SERVICES: dict[str, Service] = {s.name: s for s in (ZOOKEEPER, KAFKA, CASSANDRA, NIMBUS, SUPERVISOR, UI)}


def resolve_names(
    names: Iterable[str] | None, with_requirements: bool, services: dict[str, Service] | None = None
) -> list[str]:
    """Validated names in registry order; with their requirements added when asked."""
    services = services if services is not None else SERVICES
    chosen = list(services) if not names else list(names)
    for name in chosen:
        if name not in services:
            raise ConfigError("SERVICE", f"{name!r} is not a service", f"use one of: {', '.join(services)}")
    wanted = set(chosen)
    if with_requirements:
        stack = list(wanted)
        while stack:
            for req in services[stack.pop()].requires:
                if req not in wanted:
                    wanted.add(req)
                    stack.append(req)
    return [n for n in services if n in wanted]


def dependency_levels(names: Iterable[str], services: dict[str, Service] | None = None) -> list[list[str]]:
    """Group services into start waves: a service's level is one more than its deepest requirement's."""
    services = services if services is not None else SERVICES
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in seen:
            raise ConfigError("services", f"dependency cycle: {' -> '.join((*seen, name))}")
        if name not in level:
            reqs = services[name].requires
            level[name] = 1 + max((depth(r, (*seen, name)) for r in reqs), default=-1)
        return level[name]

    ordered = [n for n in services if n in set(names)]
    waves: dict[int, list[str]] = {}
    for name in ordered:
        waves.setdefault(depth(name), []).append(name)
    return [waves[k] for k in sorted(waves)]
