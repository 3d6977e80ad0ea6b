"""The pipes to and from a component process are widened where the system allows it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from squall.runner.shell import PIPE_BYTES, widen_pipe

GETPIPE = getattr(fcntl, "F_GETPIPE_SZ", None)


@pytest.mark.skipif(GETPIPE is None, reason="pipe sizes are a Linux feature")
def test_a_pipe_is_widened_up_to_what_the_system_allows() -> None:
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    r, w = os.pipe()
    try:
        before = fcntl.fcntl(w, GETPIPE)
        widen_pipe(w)
        after = fcntl.fcntl(w, GETPIPE)
        assert after == (PIPE_BYTES if PIPE_BYTES <= limit else before)
        widen_pipe(w, size=limit * 4)  # beyond the limit: refused by the system, the pipe keeps its size
        assert fcntl.fcntl(w, GETPIPE) == after
    finally:
        os.close(r)
        os.close(w)
