"""Run external programs: with a timeout, a redacted debug log line, and typed failures.

Every child is registered with the stop policy (deployer.stopping) while it runs: a SIGINT or
SIGTERM stops it, and a command being stopped starts none (`Interrupted`)."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import AnyStr, Generic
from pathlib import Path

from deployer import stopping
from deployer.errors import ToolError, ToolMissing, ToolTimeout
from deployer.redact import Redactor

log = logging.getLogger("deployer.process")

DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Completed(Generic[AnyStr]):
    """What a finished process left behind, shaped like `subprocess.CompletedProcess`
    (text output from `run`, bytes from `run_bytes`)."""

    args: tuple[str, ...]
    returncode: int
    stdout: AnyStr
    stderr: AnyStr
    duration: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


BytesCompleted = Completed[bytes]


@dataclass
class ProcessRunner:
    """Every external program goes through one of these (one place for timeouts and redaction)."""

    redactor: Redactor = field(default_factory=Redactor)
    base_env: Mapping[str, str] | None = None

    def describe(self, args: Sequence[str]) -> str:
        return self.redactor(shlex.join(str(a) for a in args))

    def env_for(self, env: Mapping[str, str] | None) -> dict[str, str]:
        merged = dict(os.environ if self.base_env is None else self.base_env)
        if env:
            merged.update(env)
        return merged

    def run_bytes(self, args: Sequence[str | os.PathLike[str]], *, timeout: float = DEFAULT_TIMEOUT,
                  env: Mapping[str, str] | None = None, cwd: Path | None = None,
                  input: bytes | None = None) -> BytesCompleted:
        """Like `run`, for programs whose input or output is binary."""
        return self.run(args, timeout=timeout, env=env, cwd=cwd, input=input, _text=False)  # type: ignore[arg-type,return-value]

    def run(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        replace_env: bool = False,
        cwd: Path | None = None,
        input: str | bytes | None = None,
        check: bool = False,
        _text: bool = True,
    ) -> Completed:
        argv = tuple(str(a) for a in args)
        log.debug("run: %s (timeout %ss)", self.describe(argv), timeout)
        started = time.monotonic()
        full_env = dict(env or {}) if replace_env else self.env_for(env)
        policy = stopping.current()
        policy.check()  # a command being stopped starts no child
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=full_env,
                text=_text,
                start_new_session=True,
            )
        except FileNotFoundError as e:
            raise _not_found(argv[0]) from e
        except PermissionError as e:
            raise ToolError(f"{argv[0]}: not executable", hint="check the file's permissions") from e
        try:
            policy.child_started(proc.pid)
            out, err = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            _kill_group(proc)
            raise ToolTimeout(
                f"{self.describe(argv[:3])} … timed out after {timeout:g}s",
                hint="raise the timeout, or check that the tool's endpoint answers",
            ) from e
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            policy.child_ended(proc.pid)
        policy.check()  # stopped by the stop policy: not a failure of the tool
        if not _text:
            return Completed(argv, proc.returncode, out or b"", err or b"", time.monotonic() - started)
        result = Completed(argv, proc.returncode, out or "", err or "", time.monotonic() - started)
        log.debug("exit %s after %.2fs: %s", result.returncode, result.duration, self.describe(argv[:2]))
        if check and not result.ok:
            raise ToolError(
                f"{self.describe(argv[:3])} … failed (exit {result.returncode}): {self.redactor(last_line(result.stderr))}"
            )
        return result

    def run_attached(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        replace_env: bool = False,
    ) -> int:
        """Run a command on our terminal (stdin, stdout and stderr inherited), e.g. a command the
        user asked for; returns its exit code. It stays in our process group, so that a Ctrl-C on
        the terminal reaches it as it would a shell's child; a timeout stops it (SIGTERM, then SIGKILL)."""
        argv = tuple(str(a) for a in args)
        log.debug("run attached: %s (timeout %ss)", self.describe(argv), timeout)
        full_env = dict(env or {}) if replace_env else self.env_for(env)
        policy = stopping.current()
        policy.check()
        try:
            proc = subprocess.Popen(argv, env=full_env, start_new_session=False)
        except FileNotFoundError as e:
            raise ToolMissing(f"{argv[0]}: program not found", hint="check the command's name and PATH") from e
        except PermissionError as e:
            raise ToolError(f"{argv[0]}: not executable", hint="check the file's permissions") from e
        try:
            policy.child_started(proc.pid, own_group=False)
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            _kill_one(proc)
            raise ToolTimeout(f"{self.describe(argv[:3])} … timed out after {timeout:g}s",
                              hint="raise --timeout") from e
        except BaseException:
            _kill_one(proc)
            raise
        finally:
            policy.child_ended(proc.pid)
        policy.check()
        return code

    async def run_async(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        grace: float = 10.0,
    ) -> Completed:
        """Like `run`, for async code. The child runs in its own process group; a timeout or a
        cancellation (Ctrl-C) sends the whole group SIGTERM, then SIGKILL after `grace` seconds,
        so no tool is ever left running behind us."""
        import asyncio

        argv = tuple(str(a) for a in args)
        log.debug("run: %s (timeout %ss)", self.describe(argv), timeout)
        started = time.monotonic()
        policy = stopping.current()
        policy.check()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env_for(env),
                start_new_session=True,
            )
        except FileNotFoundError as e:
            raise _not_found(argv[0]) from e
        try:
            policy.child_started(proc.pid)
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except asyncio.TimeoutError as exc:
            await _stop_group_async(proc, grace)
            raise ToolTimeout(
                f"{self.describe(argv[:3])} … timed out after {timeout:g}s",
                hint="raise the timeout, or check that the tool's endpoint answers",
            ) from exc
        except BaseException:  # cancelled (Ctrl-C) or anything else: never leave the child running
            await asyncio.shield(_stop_group_async(proc, grace))
            raise
        finally:
            policy.child_ended(proc.pid)
        policy.check()
        result = Completed(argv, proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"),
                           time.monotonic() - started)
        log.debug("exit %s after %.2fs: %s", result.returncode, result.duration, self.describe(argv[:2]))
        return result

    def spawn(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        log_file: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_with_command: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running background process in its own session, output to `log_file`.
        `stop_with_command`: it serves this command only (a port-forward), and is stopped with it
        when the command is stopped by a signal; otherwise it outlives the command (a local
        cluster's component)."""
        argv = tuple(str(a) for a in args)
        log.debug("spawn: %s", self.describe(argv))
        log_file.parent.mkdir(parents=True, exist_ok=True)
        if stop_with_command:
            stopping.current().check()
        with open(log_file, "ab") as out:
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=cwd,
                    env=self.env_for(env),
                    start_new_session=True,
                )
            except FileNotFoundError as e:
                raise _not_found(argv[0]) from e
        if stop_with_command:
            try:
                stopping.current().background_started(proc)
            except stopping.Interrupted:
                proc.wait()
                raise
        return proc


async def _stop_group_async(proc, grace: float) -> None:
    import asyncio

    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        await proc.wait()


def _not_found(program: str) -> ToolMissing:
    return ToolMissing(f"{program}: program not found", hint="run `deployer doctor` to see which tools are missing")


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _kill_one(proc: subprocess.Popen) -> None:
    """Stop a child that shares our terminal (and process group): SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
