"""One stop policy for every command: SIGINT (Ctrl-C) and SIGTERM (CI cancellation, `timeout`,
systemd, Kubernetes) end a command through the same path.

- The first signal stops every child deployer started (helm, sops, kubectl, cloud CLIs: each in
  its own process group, SIGTERM then SIGKILL after `GRACE` seconds), makes any later attempt to
  start one fail at once (`Interrupted`), and interrupts the main thread: the running engine's
  main task is cancelled (so its report marks steps `interrupted`), or, in plain code,
  KeyboardInterrupt is raised. `with` blocks unwind and remove what they made.
- Folders of decrypted secrets are registered here when made (`secret_folder`), so that the end of
  a stopped command removes every one of them, even one a worker thread still holds.
- The command exits 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM.
- A second signal does not wait: children are killed (SIGKILL) and KeyboardInterrupt raised.

The signal handler takes no lock (it runs between two bytecodes of the main thread, which may hold
any lock): registering a child sets it before checking `stopping`, the handler sets `stopping`
before reading the children, so every child is either seen by the handler or stops itself.

Process-wide by nature (a signal is): one current policy, installed by the CLI boundary
(`deployer.cli.app.run_app`) for the time of a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from deployer.errors import DeployerError

GRACE = 5.0  # seconds a child has between SIGTERM and SIGKILL
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code_for(signum: int) -> int:
    return 128 + signum


class Interrupted(DeployerError):
    """The command is being stopped by a signal: no new child is started."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.exit_code = exit_code_for(signum)


class StopPolicy:
    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._children: dict[int, bool] = {}  # pid -> in a process group of its own
        self._background: list[Any] = []  # Popen objects of background children (see background_started)
        self._folders: dict[str, None] = {}  # ordered set of secret folders not removed yet
        self._tasks: list[tuple[asyncio.AbstractEventLoop, asyncio.Task]] = []  # the engine's main tasks
        self._previous: dict[int, Any] = {}
        self._finishing = False

    # -- state ------------------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> Optional[int]:
        return exit_code_for(self.signum) if self.signum is not None else None

    def check(self) -> None:
        """Raise `Interrupted` if the command is being stopped."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    # -- children ---------------------------------------------------------------------------------
    def child_started(self, pid: int, own_group: bool = True) -> None:
        """Register a running child; if a stop came meanwhile, stop it and raise `Interrupted`."""
        self._children[pid] = own_group
        if self.signum is not None:
            _signal_child(pid, own_group, signal.SIGTERM)
            raise Interrupted(self.signum)

    def child_ended(self, pid: int) -> None:
        self._children.pop(pid, None)

    def background_started(self, proc: Any) -> None:
        """Register a background child that lives for part of the command (a port-forward): stopped
        with the command, until its owner has waited for it (its `returncode` is set)."""
        self._background.append(proc)
        if self.signum is not None:
            _signal_child(proc.pid, True, signal.SIGTERM)
            raise Interrupted(self.signum)

    def _signal_children(self, sig: int) -> None:
        for pid, own_group in list(self._children.items()):
            _signal_child(pid, own_group, sig)
        for proc in list(self._background):
            if proc.returncode is None:  # not reaped by its owner yet: its pid is still its own
                _signal_child(proc.pid, True, sig)

    # -- secret folders ---------------------------------------------------------------------------
    def secret_folder(self, prefix: str = "deployer-secret-") -> Path:
        """A new owner-only temporary folder, registered for removal; call `folder_removed` once
        removed. Refused (`Interrupted`) while stopping."""
        self.check()
        folder = tempfile.mkdtemp(prefix=prefix)  # mode 0700
        self._folders[folder] = None
        if self.signum is not None:
            self.remove_folder(Path(folder))
            raise Interrupted(self.signum)
        return Path(folder)

    def remove_folder(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        self._folders.pop(str(folder), None)

    # -- the engine's event loop (deployer.run.engine, the one sync bridge) ------------------------
    def executor(self, threads: Optional[int] = None) -> ThreadPoolExecutor:
        """The loop's executor for blocking calls: once stopping, its worker threads are not waited
        for (a Kubernetes API request to a server that never answers ends with the process)."""
        return _StopAwareExecutor(self, max_workers=threads, thread_name_prefix="deployer-step")

    @contextlib.contextmanager
    def cancels(self) -> Iterator[None]:
        """Inside the running loop's main task: a stop cancels that task (as asyncio does for
        SIGINT alone), so that the engine reports its steps interrupted."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None or threading.current_thread() is not threading.main_thread():
            yield
            return
        entry = (loop, task)
        self._tasks.append(entry)
        try:
            yield
        finally:
            self._tasks.remove(entry)

    # -- signals ----------------------------------------------------------------------------------
    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def finishing(self) -> None:
        """The command has returned: a signal from now on only kills children (the cleanup that
        follows must not be interrupted)."""
        self._finishing = True

    def _on_signal(self, signum: int, frame: Any) -> None:
        first = self.signum is None
        if first:
            self.signum = signum  # before the children are read (see the module's notes)
        if self._finishing:
            self._signal_children(signal.SIGKILL)
            return
        self._signal_children(signal.SIGTERM if first else signal.SIGKILL)
        if first:
            # children are being stopped behind asyncio's back: its watcher would warn, for each, that the
            # loop which started it is closed
            logging.getLogger("asyncio").setLevel(logging.ERROR)
            timer = threading.Timer(GRACE, self._signal_children, (signal.SIGKILL,))
            timer.daemon = True
            timer.start()
            if self._tasks:
                loop, task = self._tasks[-1]
                if not task.done():
                    task.cancel()
                    loop.call_soon_threadsafe(lambda: None)  # wake the loop from its wait
                    return
        raise KeyboardInterrupt

    def finish(self) -> None:
        """The end of a command: every child still running is killed and every secret folder
        still there removed (a worker thread may still hold one when the command was stopped)."""
        if self._children or self._background:
            self._signal_children(signal.SIGKILL)
        for folder in list(self._folders):
            self.remove_folder(Path(folder))

    def wait_for_workers(self, timeout: float) -> None:
        """Give worker threads (steps' blocking calls) `timeout` seconds in all to unwind."""
        import time

        deadline = time.monotonic() + timeout
        for thread in threading.enumerate():
            if thread is threading.current_thread() or thread.daemon:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))


class _StopAwareExecutor(ThreadPoolExecutor):
    def __init__(self, policy: StopPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        """Once stopping, a call (a cleanup: a cluster's connection closed, a secret folder removed) runs
        at once on a thread of its own instead of queueing behind workers blocked on requests to a server
        that does not answer (it waited out their request timeouts: `status` took 7.6 s to exit)."""
        if not self._policy.stopping:
            return super().submit(fn, *args, **kwargs)
        future: Future = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as e:  # handed to the awaiting coroutine, as the pool does
                future.set_exception(e)

        threading.Thread(target=run, name="deployer-stopping", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._policy.stopping:  # queued calls dropped; running ones not waited for
            wait, cancel_futures = False, True
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


def _signal_child(pid: int, own_group: bool, sig: int) -> None:
    try:
        if own_group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Current:
    policy = StopPolicy()


_current = _Current()


def current() -> StopPolicy:
    """The policy of the command running in this process."""
    return _current.policy


def thread_pool(max_workers: Optional[int] = None, name: str = "deployer") -> ThreadPoolExecutor:
    """A pool of threads for blocking calls: leaving its `with` block while the command is being
    stopped does not wait for a thread still blocked (on an API server that never answers)."""
    return _StopAwareExecutor(current(), max_workers=max_workers, thread_name_prefix=name)


def begin() -> StopPolicy:
    """A fresh policy for a new command, its signal handlers installed (main thread only)."""
    _current.policy = StopPolicy()
    _current.policy.install()
    return _current.policy
