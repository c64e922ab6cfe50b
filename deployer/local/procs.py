"""Process identity and ports on this machine, read from /proc and sockets (no subprocess).

A recorded process is identified by its PID *and* its start time (clock ticks since boot, field 22
of /proc/<pid>/stat), so a PID the kernel reused for another program is never taken for ours.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rfind(")") + 2:].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # a zombie has finished running
        return None
    return int(fields[19])


def is_alive(pid: int, ticks: int | None) -> bool:
    """True while the process `pid` started at `ticks` runs (not a zombie, not a reused PID)."""
    now = start_ticks(pid)
    return now is not None and (ticks is None or now == ticks)


def reap(pid: int) -> None:
    """Collect the exit status of a child of ours so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(pid: int, ticks: int | None, *, timeout: float = 10.0) -> bool:
    """SIGTERM the process (its whole process group when it leads one), SIGKILL after `timeout`.

    Returns True when it was running and is now gone; False when it was not running (or not ours).
    """
    if not is_alive(pid, ticks):
        reap(pid)
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(pid)
        if not is_alive(pid, ticks):
            return True
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
    for _ in range(100):
        reap(pid)
        if not is_alive(pid, ticks):
            break
        time.sleep(0.05)
    return True


def _signal(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass
