"""`squall run --ui`'s hook on a real local run: snapshots of the figures, and deactivate/activate queued by the
web thread carried out on the run's own thread (the spout stops emitting, then resumes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from squall.config import load_project
from squall.runner.loader import load_topology
from squall.testing import run_topology
from squall.web.local import LocalMonitor, format_local_component, format_local_topology

pytestmark = pytest.mark.timeout(120)


def _emitted(monitor: LocalMonitor) -> int:
    snap = monitor.snapshot
    assert snap is not None
    return next(c.emitted for c in snap.components if c.name == "numbers")


def test_deactivate_and_activate_reach_the_spout(semantics_project: Path, mode: str) -> None:
    monitor = LocalMonitor(period=0.0)
    seen: dict[str, Any] = {"phase": "running", "steps": 0}

    def stop_when(cluster: Any) -> bool:
        snap = monitor.snapshot
        if snap is None or not _emitted(monitor):
            return False
        phase = seen["phase"]
        if phase == "running":
            monitor.request("deactivate")
            seen["phase"] = "deactivating"
        elif phase == "deactivating" and snap.status == "INACTIVE":
            seen.update(phase="inactive", steps=0)
        elif phase == "inactive":
            seen["steps"] += 1
            if seen["steps"] == 20:  # a `next` under way when the spout was deactivated has finished by now
                seen["held"] = _emitted(monitor)
            elif seen["steps"] == 80:
                seen["still"] = _emitted(monitor)
                monitor.request("activate")
                seen["phase"] = "activating"
        elif phase == "activating" and snap.status == "ACTIVE" and _emitted(monitor) > seen["still"]:
            return True
        return False

    _, topology = load_topology(load_project(semantics_project), "groupings")
    result = run_topology(
        topology,
        {"numbers.count": 10_000_000},
        inline=mode == "inline",
        project=semantics_project,
        until_idle=None,
        duration=60,
        stop_when=stop_when,
        on_step=monitor,
    )
    assert result.summary.reason == "condition", seen
    assert seen["held"] == seen["still"] > 0  # nothing emitted while inactive
    page = format_local_topology(monitor.snapshot)  # type: ignore[arg-type]
    assert page["status"] == "ACTIVE" and page["spouts"][0]["emitted"] > seen["still"]
    by_key = format_local_component(monitor.snapshot, "by_key")  # type: ignore[arg-type]
    assert len(by_key["executorStats"]) == 3 and sum(e["executed"] for e in by_key["executorStats"]) > 0


def test_only_local_actions_are_accepted() -> None:
    with pytest.raises(ValueError, match=r"a local run supports activate, deactivate, not 'kill'"):
        LocalMonitor().request("kill")
