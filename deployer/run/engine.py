"""The engine that runs a plan: steps with dependencies, a concurrency limit, per-step timeouts,
partial-failure isolation, progress events and a run report.

One engine serves a laptop and CI. It knows nothing of helm or terminals: a step is an async
callable; the caller renders progress from the events it is sent.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from deployer.errors import DeployerError

log = logging.getLogger("deployer.run")


class State(str, enum.Enum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    unchanged = "unchanged"  # nothing to do: the cluster already runs what would be deployed
    failed = "failed"
    skipped = "skipped"
    interrupted = "interrupted"


@dataclass
class Outcome:
    """What a step returns on success: a line for people, details for the report."""

    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    unchanged: bool = False  # the step had nothing to do (reported as `unchanged`, a success)


DONE = (State.succeeded, State.unchanged)  # the states a step that needs another may follow


@dataclass
class Step:
    id: str
    label: str
    action: Callable[["StepContext"], Awaitable[Outcome]]
    needs: tuple[str, ...] = ()
    timeout: float = 900.0
    group: str = ""


@dataclass
class StepResult:
    id: str
    label: str
    group: str
    state: State = State.pending
    started: Optional[float] = None
    duration: float = 0.0
    message: str = ""
    hint: Optional[str] = None
    details: dict[str, Any] = field(default_factory=dict)
    # what made the step fail (its DeployerError, a bug's exception): for a caller that raises it
    # again (a command of one release), never in the report
    error: Optional[BaseException] = field(default=None, repr=False, compare=False)

    def elapsed(self) -> float:
        if self.state is State.running and self.started is not None:
            return time.monotonic() - self.started
        return self.duration

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "label": self.label, "group": self.group, "state": self.state.value,
            "duration_seconds": round(self.duration, 2), "message": self.message, "hint": self.hint,
            "details": self.details,
        }


@dataclass
class StepContext:
    """Handed to a running step, so it can report what it is doing."""

    result: StepResult
    notify: Callable[[StepResult], None]

    def progress(self, message: str) -> None:
        self.result.message = message
        self.notify(self.result)


@dataclass
class RunReport:
    results: list[StepResult]
    started_at: str
    duration: float
    interrupted: bool = False

    def count(self, state: State) -> int:
        return sum(1 for r in self.results if r.state is state)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.state in DONE for r in self.results)

    def to_json(self) -> dict[str, Any]:
        from deployer.plan.plan_file import REPORT_VERSION

        return {
            "version": REPORT_VERSION,
            "ok": self.ok,
            "interrupted": self.interrupted,
            "started_at": self.started_at,
            "duration_seconds": round(self.duration, 2),
            "counts": {s.value: self.count(s) for s in State if s is not State.pending},
            "steps": [r.to_json() for r in self.results],
        }


class Engine:
    def __init__(self, concurrency: int = 4, on_event: Callable[[StepResult], None] = lambda r: None) -> None:
        if concurrency < 1:
            raise DeployerError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.on_event = on_event

    def run(self, steps: Sequence[Step], threads: Optional[int] = None) -> RunReport:
        """Run synchronously (the one sync bridge); Ctrl-C marks running steps interrupted.
        `threads`: the worker threads blocking calls (`asyncio.to_thread`) share, when the
        default (a few per CPU) would hold back steps that mostly wait on the network."""

        from deployer import stopping

        policy = stopping.current()

        async def main() -> RunReport:
            # a SIGINT or SIGTERM cancels the run, its steps reported interrupted (deployer/stopping.py)
            asyncio.get_running_loop().set_default_executor(policy.executor(threads))
            with policy.cancels():
                return await self.run_async(steps)

        try:
            return asyncio.run(main())
        except asyncio.CancelledError:
            if policy.stopping:
                # keep-from-None: the cancellation is the stop itself, not a cause worth a traceback
                raise KeyboardInterrupt from None
            raise

    async def run_async(self, steps: Sequence[Step]) -> RunReport:
        ids = [s.id for s in steps]
        if len(set(ids)) != len(ids):
            raise DeployerError("a plan names the same step twice")
        known = set(ids)
        for s in steps:
            missing = [n for n in s.needs if n not in known]
            if missing:
                raise DeployerError(f"step {s.id} needs unknown step(s) {', '.join(missing)}")
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        t0 = time.monotonic()
        results = {s.id: StepResult(s.id, s.label, s.group) for s in steps}
        done = {s.id: asyncio.Event() for s in steps}
        semaphore = asyncio.Semaphore(self.concurrency)
        interrupted = False

        async def run_one(step: Step) -> None:
            result = results[step.id]
            try:
                for need in step.needs:
                    await done[need].wait()
                failed_needs = [n for n in step.needs if results[n].state not in DONE]
                if failed_needs:
                    result.state = State.skipped
                    result.message = "skipped: " + ", ".join(
                        f"{results[n].label} {results[n].state.value}" for n in failed_needs
                    )
                    self.on_event(result)
                    return
                async with semaphore:
                    await self._execute(step, result)
            finally:
                done[step.id].set()

        tasks = [asyncio.ensure_future(run_one(s)) for s in steps]
        try:
            await asyncio.gather(*tasks)
        except (asyncio.CancelledError, KeyboardInterrupt):
            interrupted = True
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for r in results.values():
                if r.state in (State.pending, State.running):
                    was_running = r.state is State.running
                    r.state = State.interrupted
                    if was_running and r.started is not None:
                        r.duration = time.monotonic() - r.started
                    r.message = "interrupted while running" if was_running else "not started: the run was interrupted"
        return RunReport(list(results.values()), started_at, time.monotonic() - t0, interrupted)

    async def _execute(self, step: Step, result: StepResult) -> None:
        result.state = State.running
        result.started = time.monotonic()
        self.on_event(result)
        ctx = StepContext(result, self.on_event)
        try:
            outcome = await asyncio.wait_for(step.action(ctx), step.timeout)
        except asyncio.TimeoutError as e:
            result.state = State.failed
            result.message = f"timed out after {step.timeout:.0f}s"
            result.hint = "raise --timeout, or look at the hub's pods for what is slow"
            result.error = e
        except DeployerError as e:
            result.state = State.failed
            result.message = e.message
            result.hint = e.hint
            result.error = e
            details = getattr(e, "details", None)
            if isinstance(details, dict):
                result.details.update(details)
        except asyncio.CancelledError:
            result.duration = time.monotonic() - result.started
            raise
        except Exception as e:  # one step's bug must not take the others down
            log.debug("step %s raised", step.id, exc_info=True)
            result.state = State.failed
            result.message = f"internal error: {type(e).__name__}: {e}"
            result.hint = "this is a bug in deployer; rerun with --verbose for the traceback"
            result.error = e
        else:
            result.state = State.unchanged if outcome.unchanged else State.succeeded
            result.message = outcome.message
            result.details.update(outcome.details)
        result.duration = time.monotonic() - result.started
        self.on_event(result)


@dataclass
class Mapped:
    """One item's result from `run_each`: the action's value, or the step that failed or timed out."""

    item: Any
    value: Any
    step: StepResult

    @property
    def ok(self) -> bool:
        return self.step.state is State.succeeded


def _each(items: Sequence[Any], action: Callable[[Any], Awaitable[Any]], timeout: float,
          label: Callable[[Any], str], group: str) -> tuple[list[Step], dict[str, Any]]:
    values: dict[str, Any] = {}

    def step(index: int, item: Any) -> Step:
        sid = f"{index}:{label(item)}"

        async def run(ctx: StepContext) -> Outcome:
            values[sid] = await action(item)
            return Outcome()

        return Step(sid, label(item), run, timeout=timeout, group=group)

    return [step(i, item) for i, item in enumerate(items)], values


def _mapped(items: Sequence[Any], steps: list[Step], values: dict[str, Any], report: RunReport) -> list[Mapped]:
    by_id = {r.id: r for r in report.results}
    return [Mapped(item, values.get(st.id), by_id[st.id]) for item, st in zip(items, steps)]


def run_each(items: Sequence[Any], action: Callable[[Any], Awaitable[Any]], *, concurrency: int, timeout: float,
             label: Callable[[Any], str] = str, group: str = "",
             on_event: Callable[[StepResult], None] = lambda r: None, threads: Optional[int] = None) -> list[Mapped]:
    """Run `action(item)` for every item through the engine (concurrency limit, per-step timeout,
    failure isolation, Ctrl-C): the one loop for commands that act on several releases (diff,
    health, status, rollback). KeyboardInterrupt is raised again after the running steps were
    stopped."""
    steps, values = _each(items, action, timeout, label, group)
    report = Engine(concurrency, on_event).run(steps, threads)
    if report.interrupted:
        raise KeyboardInterrupt
    return _mapped(items, steps, values, report)


async def run_each_async(items: Sequence[Any], action: Callable[[Any], Awaitable[Any]], *, concurrency: int,
                         timeout: float, label: Callable[[Any], str] = str, group: str = "",
                         on_event: Callable[[StepResult], None] = lambda r: None) -> list[Mapped]:
    """`run_each` inside a running step (status: the hubs of one cluster, within that cluster's
    step). Cancelled (the outer step's timeout, Ctrl-C), it stops its steps and is cancelled too."""
    steps, values = _each(items, action, timeout, label, group)
    report = await Engine(concurrency, on_event).run_async(steps)
    if report.interrupted:
        raise asyncio.CancelledError
    return _mapped(items, steps, values, report)
