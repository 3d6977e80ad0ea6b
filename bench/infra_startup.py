"""How long each real service takes to become healthy, and to stop, on this machine.

Starts a second, isolated copy of every service (its own state folder in a temp dir, ports shifted by
+10000 so the dev services other people use are untouched), records seconds from spawn to healthy per
service (ZooKeeper, Kafka and Cassandra start together, then Nimbus, then Supervisor and UI), stops it all
and checks no port stays open. Needs `squall infra install` done (jars cached).

    python -m bench.infra_startup
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from bench.machine import write_result
from squall.infra import api, health
from squall.infra.endpoints import DEFAULT_PORTS, DEFAULT_SLOTS

SHIFT = 10000
REPO = Path(__file__).resolve().parents[1]


def isolated_project(folder: Path) -> Path:
    services = {name: f"127.0.0.1:{port + SHIFT}" for name, port in DEFAULT_PORTS.items()}
    services["supervisor_slots"] = [p + SHIFT for p in DEFAULT_SLOTS]  # type: ignore[assignment]
    (folder / "config.json").write_text(json.dumps({"envs": {"dev": {"services": services}}}))
    (folder / "infra").symlink_to(REPO / "infra", target_is_directory=True)
    return folder


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="squall-infra-bench-") as tmp:
        ctx = api.make_context("dev", isolated_project(Path(tmp)))
        t0 = time.monotonic()
        try:
            up = api.ensure_up(ctx=ctx, report=print)
            total_up = time.monotonic() - t0
        finally:
            t1 = time.monotonic()
            down = api.down(ctx=ctx, report=print)
            total_down = time.monotonic() - t1
        ports = [*ctx.endpoints.ports.values(), *ctx.endpoints.slots]
        still_open = [p for p in ports if health.port_open("127.0.0.1", p, timeout=0.5)]
    result = {
        "seconds_to_healthy": {r.name: round(r.seconds, 1) for r in up},
        "seconds_to_all_healthy": round(total_up, 1),
        "seconds_to_stop": {r.name: round(r.seconds, 1) for r in down},
        "seconds_to_stop_all": round(total_down, 1),
        "ports_open_after_down": still_open,
        "note": "ZooKeeper, Kafka and Cassandra start concurrently on 2 shared cores; Nimbus after ZooKeeper; "
        "Supervisor and UI after Nimbus. Kafka's first start includes formatting its storage.",
    }
    path = write_result("infra_startup", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
