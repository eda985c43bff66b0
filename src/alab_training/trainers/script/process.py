"""A child process in its own process group: its output lines as they come, a hard time limit, no leftovers.

Both pipes are read by threads into one queue, so a child filling one pipe while we wait on the other cannot
deadlock. The whole group is signalled, because what a training script starts (a JVM, workers) would otherwise
outlive it, keep the pipes open and hold memory.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Self

__all__ = ["GRACE_SECONDS", "GroupProcess"]

#: How long a stopped child has between SIGTERM and SIGKILL.
GRACE_SECONDS = 5.0
#: Once the child is gone, how long its pipes may take to close (a process that left the group can hold them).
_CLOSE_SECONDS = 5.0


class GroupProcess:
    """Run ``command`` as the leader of a new process group; iterate :meth:`lines` to the end.

    After :meth:`lines` is exhausted, :attr:`returncode` is the leader's exit status (negative: killed by that
    signal), :attr:`timed_out` says whether the time limit stopped it and :attr:`stderr_tail` holds its last
    stderr lines. Use it as a context manager: leaving the block early (a cancelled training) stops the group.
    """

    def __init__(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float,
                 tail_lines: int = 40, poll_seconds: float = 0.2) -> None:
        self.returncode: int | None = None
        self.timed_out = False
        self.stderr_tail: deque[str] = deque(maxlen=tail_lines)
        self._poll = poll_seconds
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self._process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self._deadline = time.monotonic() + timeout
        self._readers = [threading.Thread(target=self._read, args=(name, pipe), daemon=True, name=f"child-{name}")
                         for name, pipe in (("stdout", self._process.stdout), ("stderr", self._process.stderr))]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _read(self, name: str, pipe: IO[bytes]) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                self._queue.put((name, raw.decode("utf-8", errors="replace").rstrip("\r\n")))

    def lines(self) -> Iterator[tuple[str, str]]:
        """``(stream, line)`` pairs, ``stream`` being ``"stdout"`` or ``"stderr"``, until the child ends."""
        while not self._over():
            try:
                stream, line = self._queue.get(timeout=self._poll)
            except queue.Empty:
                continue
            yield self._take(stream, line)
        self.stop()
        for reader in self._readers:
            reader.join(timeout=_CLOSE_SECONDS)
        while not self._queue.empty():
            yield self._take(*self._queue.get_nowait())

    def _take(self, stream: str, line: str) -> tuple[str, str]:
        if stream == "stderr":
            self.stderr_tail.append(line)
        return stream, line

    def _over(self) -> bool:
        if self._leader_exited(0):
            return True
        if time.monotonic() >= self._deadline:
            self.timed_out = True
            return True
        return False

    def _leader_exited(self, wait_seconds: float) -> bool:
        """Whether the leader has ended, without reaping it: a zombie leader keeps the group id ours to signal."""
        until = time.monotonic() + wait_seconds
        while True:
            try:
                if os.waitid(os.P_PID, self._process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:  # reaped behind our back (a host ignoring SIGCHLD): gone all the same
                return True
            if time.monotonic() >= until:
                return False
            time.sleep(0.05)

    def _signal(self, number: int) -> None:
        try:
            os.killpg(self._process.pid, number)
        except ProcessLookupError:  # the whole group is gone already
            pass

    def stop(self) -> None:
        """End the group: SIGTERM to a leader still running, SIGKILL after the grace period and to any leftover."""
        if self.returncode is not None:
            return
        if not self._leader_exited(0):
            self._signal(signal.SIGTERM)
            self._leader_exited(GRACE_SECONDS)
        self._signal(signal.SIGKILL)
        self.returncode = self._process.wait()
