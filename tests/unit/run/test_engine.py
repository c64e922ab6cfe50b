"""The run engine: concurrency limit, canary gate, timeouts, failure isolation, interruption."""

from __future__ import annotations

import asyncio

import pytest

from deployer.errors import DeployerError
from deployer.run.engine import Engine, Outcome, State, Step


def sleeper(seconds: float, tracker: dict | None = None, fail: str | None = None):
    async def action(ctx):
        if tracker is not None:
            tracker["now"] += 1
            tracker["max"] = max(tracker["max"], tracker["now"])
        try:
            await asyncio.sleep(seconds)
            if fail == "deployer":
                raise DeployerError("release broke", hint="look at it")
            if fail == "bug":
                raise ZeroDivisionError("oops")
            return Outcome("done", {"revision": 1})
        finally:
            if tracker is not None:
                tracker["now"] -= 1

    return action


def test_concurrency_limit_is_honoured():
    tracker = {"now": 0, "max": 0}
    steps = [Step(f"s{i}", f"s{i}", sleeper(0.05, tracker)) for i in range(8)]
    report = Engine(concurrency=3).run(steps)
    assert report.ok and tracker["max"] == 3


def test_failed_staging_skips_dependents_but_not_independent_steps():
    steps = [
        Step("staging", "staging", sleeper(0.01, fail="deployer")),
        Step("other-staging", "other-staging", sleeper(0.01)),
        Step("prod", "prod", sleeper(0.01), needs=("staging", "other-staging")),
    ]
    report = Engine(concurrency=2).run(steps)
    states = {r.id: r.state for r in report.results}
    assert states == {"staging": State.failed, "other-staging": State.succeeded, "prod": State.skipped}
    prod = report.results[2]
    assert "staging failed" in prod.message and not report.ok
    assert report.results[0].hint == "look at it"


def test_a_bug_in_one_step_is_isolated_and_reported():
    report = Engine().run([Step("a", "a", sleeper(0.01, fail="bug")), Step("b", "b", sleeper(0.01))])
    assert [r.state for r in report.results] == [State.failed, State.succeeded]
    assert "ZeroDivisionError" in report.results[0].message


def test_step_timeout_fails_that_step_only():
    report = Engine().run([Step("slow", "slow", sleeper(5), timeout=0.1), Step("fast", "fast", sleeper(0.01))])
    assert report.results[0].state is State.failed and "timed out" in report.results[0].message
    assert report.results[1].state is State.succeeded


def test_events_and_report_json():
    events = []
    report = Engine(on_event=lambda r: events.append((r.id, r.state))).run([Step("a", "a", sleeper(0.01))])
    assert events == [("a", State.running), ("a", State.succeeded)]
    data = report.to_json()
    assert data["counts"]["succeeded"] == 1 and data["steps"][0]["details"] == {"revision": 1}


def test_cancellation_marks_running_and_pending_steps_interrupted():
    async def main():
        engine = Engine(concurrency=1)
        task = asyncio.ensure_future(engine.run_async([Step("a", "a", sleeper(5)), Step("b", "b", sleeper(5))]))
        await asyncio.sleep(0.1)
        task.cancel()
        return await task

    report = asyncio.run(main())
    assert report.interrupted and [r.state for r in report.results] == [State.interrupted, State.interrupted]
    assert report.results[0].message == "interrupted while running"


def test_bad_plans_are_refused():
    with pytest.raises(DeployerError):
        Engine().run([Step("a", "a", sleeper(0)), Step("a", "a", sleeper(0))])
    with pytest.raises(DeployerError):
        Engine().run([Step("a", "a", sleeper(0), needs=("zzz",))])
    with pytest.raises(DeployerError):
        Engine(concurrency=0)


def test_run_each_keeps_order_isolates_failures_and_times_out_per_item():
    import asyncio

    from deployer.errors import DeployerError
    from deployer.run.engine import State, run_each

    async def act(item):
        if item == "slow":
            await asyncio.sleep(30)
        if item == "bad":
            raise DeployerError("bad item", hint="fix it")
        return item.upper()

    out = run_each(["a", "slow", "bad", "b"], act, concurrency=4, timeout=0.5)
    assert [(m.item, m.value, m.step.state) for m in out] == [
        ("a", "A", State.succeeded), ("slow", None, State.failed), ("bad", None, State.failed), ("b", "B", State.succeeded)]
    assert out[1].step.message == f"timed out after {0.5:.0f}s"
    assert (out[2].step.message, out[2].step.hint) == ("bad item", "fix it")


def test_run_each_respects_the_concurrency_limit():
    import asyncio

    from deployer.run.engine import run_each

    running, peak = 0, 0

    async def act(item):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return item

    run_each(list(range(10)), act, concurrency=3, timeout=10)
    assert peak == 3


def test_a_failed_step_keeps_the_error_that_failed_it_out_of_the_report():
    from deployer.run.engine import run_each

    async def act(item):
        if item == "slow":
            await asyncio.sleep(30)
        raise DeployerError("broke") if item == "bad" else ValueError("bug")

    bad, slow, bug = run_each(["bad", "slow", "bug"], act, concurrency=3, timeout=0.3)
    assert type(bad.step.error) is DeployerError and bad.step.error.message == "broke"
    assert isinstance(slow.step.error, asyncio.TimeoutError)
    assert type(bug.step.error) is ValueError and bug.step.message == "internal error: ValueError: bug"
    assert "error" not in bad.step.to_json()


def test_run_each_inside_a_step_is_stopped_with_it_when_the_step_times_out():
    from deployer.run.engine import run_each_async

    inner_states = []

    async def hub(item):
        await asyncio.sleep(30 if item == "hung" else 0)
        return item

    async def cluster(ctx):
        def seen(r):
            if r.state.value not in ("pending", "running"):
                inner_states.append((r.label, r.state.value))

        await run_each_async(["fast", "hung"], hub, concurrency=2, timeout=60, on_event=seen)
        return Outcome("never")

    report = Engine().run([Step("c", "c", cluster, timeout=0.5), Step("d", "d", sleeper(0.01))])
    assert [(r.id, r.state, r.message) for r in report.results] == [
        ("c", State.failed, "timed out after 0s"), ("d", State.succeeded, "done")]
    assert inner_states == [("fast", "succeeded")]  # hung was stopped, not left running or reported done


def test_the_engine_gives_blocking_calls_the_threads_it_is_asked_for():
    import threading

    from deployer.run.engine import run_each

    barrier = threading.Barrier(10, timeout=5)  # passes only when 10 calls block at once

    async def act(item):
        return await asyncio.to_thread(barrier.wait)

    out = run_each(list(range(10)), act, concurrency=10, timeout=10, threads=10)
    assert sorted(m.value for m in out) == list(range(10))
