"""A self-contained topology jar on the real Storm 2.8 cluster: the workers run the Python side from the jar.

The fixture's `bundle` env sets `use_virtualenv: false` and `bundle_python: true`: no virtualenv is named or
prepared for the workers; each Python component boots a venv built from the jar's wheelhouse under the
topology's folder of the Supervisor's local dir, and never touches this project's .venv.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from squall.storm import nimbus as nimbus_api
from squall.storm.harness import SparseProject, _cmdline, _pids, _ppid, worker_jvm_pids, worker_log_tail

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(1200)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"
PROJECT_VENV = Path(__file__).resolve().parents[2] / ".venv"
COUNT = 100


def read_sink(out_dir: Path) -> list[dict]:
    records = []
    for path in sorted(out_dir.glob("sink-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
    return records


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in _pids():
        children.setdefault(_ppid(pid), []).append(pid)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def exe(pid: int) -> str:
    try:
        return str(Path(f"/proc/{pid}/exe").resolve())
    except OSError:
        return ""


def test_bundled_jar_runs_python_without_the_project_venv(tmp_path: Path) -> None:
    project = SparseProject(FIXTURE)
    name = "squall_it_bundle"
    out_dir = tmp_path / "sink"
    # Every tuple counted in Storm's stats (the default samples 5%), so the acked count is exact.
    options = {"squall.test.out": str(out_dir), "squall.test.count": COUNT, "topology.stats.sample.rate": 1.0}
    started = time.monotonic()
    with project.submitted("passthrough", env="bundle", name=name, options=options) as topo:
        submitted = time.monotonic()
        expected = set(range(COUNT))
        topo.wait_until(
            lambda: {r["n"] for r in read_sink(out_dir)} >= expected,
            timeout=600,
            what=f"{COUNT} tuples reached the sink",
            explain=lambda: worker_log_tail(topo.topo_id, grep="squall bundle|Error|Exception"),
        )
        first_flow = time.monotonic()
        records = read_sink(out_dir)
        assert {r["n"] for r in records} == expected
        for r in records:
            assert r["payload"] == {"n": r["n"], "text": f"event-{r['n']}"}

        # Storm acked the spout's tuple trees: the Python components answered the multilang protocol fully.
        topo.wait_until(
            lambda: nimbus_api.spout_acked(topo.nimbus, topo.topo_id) >= COUNT,
            timeout=120,
            what=f"Storm reports {COUNT} acked spout tuples",
            explain=lambda: f"acked so far: {nimbus_api.spout_acked(topo.nimbus, topo.topo_id)}",
        )

        workers = worker_jvm_pids(topo.topo_id)
        assert workers, "no worker JVM runs the topology"
        pythons = []
        for worker in workers:
            for pid in descendants(worker):
                cmd = _cmdline(pid)
                if not cmd:
                    continue
                # Nothing under the worker runs from (or names) the project's .venv.
                assert not any(str(PROJECT_VENV) in part for part in cmd), cmd
                assert not exe(pid).startswith(str(PROJECT_VENV)), (pid, exe(pid))
                if any("streamparse_run" in part for part in cmd):
                    pythons.append(cmd)
        # numbers, echo and sink: each one Python process, started from the jar's venv.
        assert len(pythons) == 3, pythons
        for cmd in pythons:
            interpreter = Path(cmd[0])
            # <storm.local.dir>/supervisor/stormdist/<topology id>/squall-python/<key>/bin/python
            assert interpreter.parts[-4] == "squall-python", cmd
            assert interpreter.parts[-5] == topo.topo_id, cmd
            assert (interpreter.parent.parent / ".squall-ready").is_file(), cmd
            venv_cfg = (interpreter.parent.parent / "pyvenv.cfg").read_text()
            assert str(PROJECT_VENV) not in venv_cfg

        log = worker_log_tail(topo.topo_id, lines=20, grep="squall bundle: created")
        print(
            f"\nsubmit {submitted - started:.1f}s, first {COUNT} tuples through {first_flow - submitted:.1f}s"
        )
        print(log)

    jars = sorted((FIXTURE / "_build").glob("*standalone.jar"), key=lambda p: p.stat().st_mtime)
    assert jars, "no uber-jar was built"
    with zipfile.ZipFile(jars[-1]) as jar:
        names = jar.namelist()
    assert "resources/_squall_bundle/boot.py" in names
    assert any(n.startswith("resources/_squall_bundle/wheelhouse/streamparse-") for n in names)
    print(f"jar {jars[-1].name}: {jars[-1].stat().st_size / 1e6:.1f} MB")
