"""Subprocess hosting, as Storm's ShellProcess does it: launch `command script` in the resources dir,
send the handshake, read the pid, then exchange framed messages over stdin/stdout.

Non-blocking pipes; the cluster's selector tells a host when its stdout/stderr have data, and `flush`
writes as much as the pipe takes (writes are batched: one syscall carries many messages).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from squall.errors import ProtocolError, SquallError
from squall.protocol import Framing

# One read of a pipe: a pipe holds 64 KiB (Linux's default), so asking for more returns no more, and a
# larger request costs more than the read (os.read allocates the size asked for: from 128 KiB on, an mmap
# and munmap with page faults, ~15-20 us a read against ~1 us).
_READ = 1 << 16
STDERR_TAIL_LINES = 30


def python_command(command: str) -> str:
    """`streamparse_run` as Storm would find it on PATH; prefer the one next to this interpreter."""
    if "/" in command:
        return command
    beside = Path(sys.executable).parent / command
    if beside.exists():
        return str(beside)
    found = shutil.which(command)
    return found or command


BOOTSTRAP_MODULE = "squall.runner.bootstrap"


def command_line(command: str, script: str, serializer: str | None) -> list[str]:
    """Storm runs [execution_command, script]; streamparse's `-s <serializer>` goes in front of the script.

    When `streamparse_run` is the one beside this interpreter (the usual case), the component runs through
    `squall.runner.bootstrap` (streamparse_run's main, with pystorm reporting a message it cannot serialize
    instead of dropping it); another environment's `streamparse_run` runs as it is."""
    if serializer is not None:
        script = f"-s {serializer} {script}" if script else f"-s {serializer}"
        resolved = python_command(command)
        if Path(resolved).parent == Path(sys.executable).parent and Path(resolved).name == Path(command).name:
            return [sys.executable, "-P", "-m", BOOTSTRAP_MODULE, script]
        return [resolved, script]
    argv = [command]
    if script:
        argv.append(script)
    return argv


class ShellHost:
    hosting = "process"

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        framing: Framing,
        on_message: Callable[[Any], None],
        on_death: Callable[[str], None],
        label: str,
        env: dict[str, str] | None = None,
        on_messages: Callable[[list[Any]], None] | None = None,
    ) -> None:
        """`on_message(msg)` gets each message from the component; `on_messages(msgs)`, when given, gets all
        the messages of one read at once instead (in order; it raises SquallError to end the component)."""
        self.argv = argv
        self.cwd = cwd
        self.framing = framing
        self.encode = framing.encode
        self.decoder = framing.decoder()
        self._on_message = on_message
        self._on_messages = on_messages
        self._on_death = on_death
        self.label = label
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.alive = False
        self.out = bytearray()
        self._parts: list[bytes] = []
        self.send_tuple = framing.tuple_sender(self._parts.append)  # type: ignore[method-assign,assignment]
        self._out_msgs = 0  # messages (about) still in `out`, not yet accepted by the pipe
        self._stderr = bytearray()
        self.stderr_lines: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.started_wall = 0.0
        self.on_ready: Callable[[], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self, handshake: dict[str, Any]) -> None:
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                start_new_session=True,
            )
        except OSError as exc:
            self.alive = False
            self._on_death(f"could not start {shlex.join(self.argv)} in {self.cwd}: {exc}")
            return
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)  # type: ignore[union-attr]
        self.alive = True
        self.pid = None
        self.started_wall = time.monotonic()
        self.send(handshake)

    @property
    def fds(self) -> tuple[int, int]:
        assert self.proc is not None
        return self.proc.stdout.fileno(), self.proc.stderr.fileno()  # type: ignore[union-attr]

    @property
    def stdin_fd(self) -> int:
        assert self.proc is not None
        return self.proc.stdin.fileno()  # type: ignore[union-attr]

    def stop(self, grace: float = 0.0) -> None:
        """Close stdin (pystorm exits on EOF), then kill the whole process group."""
        self.alive = False
        proc = self.proc
        if proc is None:
            return
        for stream in (proc.stdin,):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        if grace > 0:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass

    def exit_code(self, wait: float = 0.5) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    # -- messages to the component -------------------------------------------------------------------
    def send(self, message: Any) -> None:
        self._parts.append(self.encode(message))

    def send_all(self, messages: list[Any]) -> None:
        """`send` each of `messages` (encoded together)."""
        self._parts.append(self.framing.encode_all(messages))
        self._out_msgs += len(messages) - 1  # one part, that many messages

    def send_tuple(self, tid: str, comp: str, stream: str, task: int, values: Any) -> None:
        """Queue the tuple message (replaced in `__init__` by the framing's sender into `_parts`)."""
        self._parts.append(self.framing.tuple_encoder()(tid, comp, stream, task, values))

    def send_task_ids(self, task_ids: list[int]) -> None:
        self._parts.append(self.encode(task_ids))

    def queued(self) -> int:
        """Messages sent to the component and not yet written into its stdin pipe (its receive queue; the
        pipe's own buffer plays the part of ShellBolt's small pending-writes queue)."""
        return len(self._parts) + self._out_msgs

    def wants_write(self) -> bool:
        return bool(self._parts) or bool(self.out)

    def flush(self) -> None:
        """Write what the pipe accepts now; keep the rest."""
        if not self.alive:
            self._parts.clear()
            self.out.clear()
            self._out_msgs = 0
            return
        out = self.out
        if self._parts:
            out += b"".join(self._parts)
            self._out_msgs += len(self._parts)
            self._parts.clear()
        if not out:
            return
        try:
            n = os.write(self.stdin_fd, out)
        except BlockingIOError:
            return
        except (BrokenPipeError, OSError) as exc:
            self._die(f"stopped reading its stdin ({exc.__class__.__name__})")
            return
        total = len(out)
        del out[:n]
        left = total - n
        self._out_msgs = 0 if not left else max(1, self._out_msgs * left // total)

    # -- messages from the component -----------------------------------------------------------------
    def on_readable(self, fd: int) -> int:
        """Read what is there on `fd` (stdout or stderr). Returns messages handled."""
        if self.proc is None or not self.alive:
            return 0
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return 0
        except OSError:
            data = b""
        if fd == self.proc.stderr.fileno():  # type: ignore[union-attr]
            self._stderr_data(data)
            return 0
        if not data:
            self._drain_stderr()
            code = self.exit_code()
            self._die(f"exited (code {code})" if code is not None else "closed its stdout")
            return 0
        try:
            messages = self.decoder.feed(data)
        except ProtocolError as exc:
            self._die(f"wrote garbage on stdout: {exc}")
            return 0
        if self.pid is None and messages:
            msg = messages[0]
            if not (isinstance(msg, dict) and isinstance(msg.get("pid"), int)):
                self._die(f"first message must be the pid reply to the handshake, got {msg!r:.200}")
                return 0
            self.pid = msg["pid"]
            if self.on_ready is not None:
                self.on_ready()
            del messages[0]
        if not messages:
            return 0
        if self._on_messages is not None:
            try:
                self._on_messages(messages)
            except SquallError as exc:  # a protocol violation or an emit Storm would reject
                self._die(str(exc))
            return len(messages)
        handled = 0
        for msg in messages:
            if not self.alive:
                break
            try:
                self._on_message(msg)
            except SquallError as exc:  # a protocol violation or an emit Storm would reject
                self._die(str(exc))
                break
            handled += 1
        return handled

    def _stderr_data(self, data: bytes) -> None:
        if not data:
            return
        self._stderr += data
        *lines, rest = self._stderr.split(b"\n")
        for line in lines:
            self.stderr_lines.append(line.decode("utf-8", errors="replace"))
        self._stderr = bytearray(rest[-4096:])

    def _drain_stderr(self) -> None:
        if self.proc is None:
            return
        try:
            while True:
                data = os.read(self.proc.stderr.fileno(), _READ)  # type: ignore[union-attr]
                if not data:
                    break
                self._stderr_data(data)
        except (BlockingIOError, OSError, ValueError):
            pass

    def stderr_tail(self) -> str:
        self._drain_stderr()
        lines = list(self.stderr_lines)
        if self._stderr:
            lines.append(self._stderr.decode("utf-8", errors="replace"))
        return "\n".join(lines[-STDERR_TAIL_LINES:])

    def _die(self, reason: str) -> None:
        if not self.alive:
            return
        self.alive = False
        self._on_death(reason)
