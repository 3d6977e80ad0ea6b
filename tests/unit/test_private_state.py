"""The state folder and what squall writes there are readable by their owner only."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from squall.infra import process
from squall.infra.api import _locked
from squall.infra.layout import Layout
from squall.pipeline.sqlite_store import connect
from squall.private_state import ensure_state_dir, private_dir, tighten_tree


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_state_dir_is_created_0700_with_missing_parents(tmp_path: Path) -> None:
    state = tmp_path / "a" / "b" / ".state"
    ensure_state_dir(state)
    assert mode(state) == 0o700
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700
    before = mode(tmp_path)
    private_dir(tmp_path / "x")
    assert mode(tmp_path) == before


def test_an_old_open_state_folder_is_tightened_but_symlinked_jars_are_not(tmp_path: Path) -> None:
    jars = tmp_path / "jars"
    jars.mkdir(mode=0o755)
    (jars / "a.jar").write_text("jar")
    os.chmod(jars / "a.jar", 0o644)
    os.chmod(jars, 0o755)
    state = tmp_path / ".state"
    (state / "kafka" / "logs").mkdir(parents=True)
    (state / "squall.db").write_text("db")
    (state / "kafka" / "logs" / "console.log").write_text("log")
    for path, m in [
        (state, 0o755),
        (state / "kafka", 0o775),
        (state / "kafka" / "logs", 0o755),
        (state / "squall.db", 0o644),
        (state / "kafka" / "logs" / "console.log", 0o664),
    ]:
        os.chmod(path, m)
    (state / "kafka" / "lib").symlink_to(jars, target_is_directory=True)

    ensure_state_dir(state)

    assert mode(state) == 0o700
    assert mode(state / "kafka") == 0o700 and mode(state / "kafka" / "logs") == 0o700
    assert mode(state / "squall.db") == 0o600
    assert mode(state / "kafka" / "logs" / "console.log") == 0o600
    assert mode(jars) == 0o755 and mode(jars / "a.jar") == 0o644  # outside the state folder: untouched
    assert tighten_tree(state) == 0  # nothing left to change


def test_sqlite_store_and_its_wal_and_shm_are_0600(tmp_path: Path) -> None:
    db_path = tmp_path / ".state" / "squall.db"
    db = connect(db_path)
    try:
        db.execute("INSERT INTO published (topic, key, value) VALUES ('t', x'00', x'01')")
        wal, shm = Path(f"{db_path}-wal"), Path(f"{db_path}-shm")
        assert wal.exists() and shm.exists()
        assert mode(db_path) == 0o600 and mode(wal) == 0o600 and mode(shm) == 0o600
        assert mode(db_path.parent) == 0o700
    finally:
        db.close()


def test_an_existing_world_readable_store_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / ".state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    connect(state / "squall.db").close()
    os.chmod(state / "squall.db", 0o644)
    os.chmod(state, 0o755)
    connect(state / "squall.db").close()
    assert mode(state / "squall.db") == 0o600 and mode(state) == 0o700


def test_infra_calls_make_the_state_private_and_their_lock_file_0600(tmp_path: Path) -> None:
    layout = Layout(root=tmp_path, state=tmp_path / ".state", jar_cache=tmp_path / "jars")
    layout.state.mkdir(mode=0o755)
    os.chmod(layout.state, 0o755)
    with _locked(layout):
        pass
    assert mode(layout.state) == 0o700
    assert mode(layout.state / "infra.lock") == 0o600


def test_spawned_services_run_with_umask_077_and_their_pid_and_log_files_are_0600(tmp_path: Path) -> None:
    log = tmp_path / ".state" / "svc" / "logs" / "console.log"
    made = tmp_path / "made-by-child"
    pid = process.spawn(["sh", "-c", f"umask; touch {made}"], tmp_path, os.environ, log)
    record = process.write_pid(tmp_path / ".state" / "svc" / "svc.pid", pid)
    deadline = time.monotonic() + 20
    while process.is_alive(record) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "0077" in log.read_text()
    assert mode(made) == 0o600
    assert mode(log) == 0o600 and mode(log.parent) == 0o700
    assert mode(tmp_path / ".state" / "svc" / "svc.pid") == 0o600
