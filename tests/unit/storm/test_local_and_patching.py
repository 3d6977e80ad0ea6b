"""Storm 2 local-mode command line, and the function-swapping helper the compat layer is built on."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from squall.storm.local import FOREVER_SECS, LocalRun, local_options, run_seconds
from squall.storm.patching import replace_everywhere


def test_local_run_command_is_localcluster_running_the_thrift_submitter() -> None:
    run = LocalRun(
        "topo", Path("/b/t.jar"), "/m/a.jar:/m/b.jar", Path("/tmp/c.json"), Path("/tmp/t.thrift"), 30
    )
    cmd = run.command("/usr/bin/java")
    assert cmd[0] == "/usr/bin/java"
    assert cmd[cmd.index("-cp") + 1] == "/b/t.jar:/m/a.jar:/m/b.jar"
    assert "-Dstorm.jar=/b/t.jar" in cmd and "-Dstorm.local.sleeptime=30" in cmd
    main = cmd.index("org.apache.storm.LocalCluster")
    assert cmd[main + 1 :] == ["squall.storm.SubmitThriftTopology", "topo", "/tmp/c.json", "/tmp/t.thrift"]


def test_local_options_one_worker_one_acker_unless_acking_is_off() -> None:
    assert local_options({"topology.workers": 4, "topology.acker.executors": 3}) == {
        "topology.workers": 1,
        "topology.acker.executors": 1,
    }
    assert local_options({"topology.acker.executors": 0})["topology.acker.executors"] == 0
    assert run_seconds(0) == FOREVER_SECS and run_seconds(12) == 12


def test_replace_everywhere_rebinds_imported_copies() -> None:
    def original() -> str:
        return "old"

    def replacement() -> str:
        return "new"

    a = types.ModuleType("a")
    b = types.ModuleType("b")
    a.f = original  # type: ignore[attr-defined]
    b.g = original  # type: ignore[attr-defined]
    b.other = len  # type: ignore[attr-defined]
    assert replace_everywhere(original, replacement, [a, b]) == 2
    assert a.f() == "new" and b.g() == "new" and b.other is len  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        replace_everywhere(original, replacement, [a, b])


def test_listed_topologies_reads_wrapped_texttable_cells() -> None:
    from squall.storm.harness import listed_topologies

    table = """# Topology-specific values
+-------+-------+------+
|  id   | name  | num_ |
|       |       | task |
+=======+=======+======+
| sq_ma | sq_ma | 4    |
| nual- | nual  |      |
| 1-17  |       |      |
+-------+-------+------+
| other | other | 2    |
| -2-9  |       |      |
+-------+-------+------+
"""
    assert listed_topologies(table) == {"sq_manual", "other"}
    assert listed_topologies("No topologies found.") == set()
