"""deployer/stopping.py in-process: what a SIGTERM does to children, new children, secret folders and
the engine's run (the whole commands are stopped for real in tests/e2e/test_stop_signals.py)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from deployer import stopping
from deployer.adapters.process import ProcessRunner


@pytest.fixture
def policy():
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        pytest.skip("the stop policy's handlers are installed from the main thread only")
    p = stopping.begin()
    try:
        yield p
    finally:
        p.finishing()
        p.finish()
        p.restore()
        stopping._current.policy = stopping.StopPolicy()


def test_a_signal_stops_a_child_a_worker_thread_waits_on_and_no_new_child_starts(policy, tmp_path):
    outcome = {}

    def work() -> None:
        try:
            ProcessRunner().run(["sleep", "30"], timeout=60)
        except stopping.Interrupted as e:
            outcome["error"] = e

    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):  # plain code: the main thread is interrupted
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - started < 3
    assert outcome["error"].message == "stopped by SIGTERM" and outcome["error"].exit_code == 143
    assert policy.exit_code == 143
    with pytest.raises(stopping.Interrupted):
        ProcessRunner().run(["true"])


def test_secret_folders_are_removed_at_the_end_and_refused_once_stopping(policy, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    held = policy.secret_folder()
    (held / "kubeconfig").write_text("token: x")
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)
    with pytest.raises(stopping.Interrupted):
        policy.secret_folder()
    policy.finishing()
    policy.finish()
    assert list(tmp_path.iterdir()) == [] and policy.exit_code == 130


def test_a_signal_cancels_the_engine_run_whose_steps_are_reported_interrupted(policy):
    import asyncio

    from deployer.run.engine import Engine, Outcome, State, Step

    async def slow(ctx) -> Outcome:
        await asyncio.sleep(30)
        return Outcome()

    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    report = Engine(2).run([Step("a", "a", slow), Step("b", "b", slow)])
    assert time.monotonic() - started < 5
    assert report.interrupted and [r.state for r in report.results] == [State.interrupted, State.interrupted]


def test_a_background_child_of_the_command_is_stopped_with_it_one_that_outlives_it_is_not(policy, tmp_path):
    runner = ProcessRunner()
    port_forward = runner.spawn(["sleep", "30"], log_file=tmp_path / "pf.log", stop_with_command=True)
    component = runner.spawn(["sleep", "30"], log_file=tmp_path / "c.log")
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        assert port_forward.wait(5) == -signal.SIGTERM
        assert component.poll() is None
    finally:
        component.kill()
        component.wait()


def test_leaving_a_thread_pool_once_stopping_does_not_wait_for_a_blocked_thread(policy):
    release = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            with stopping.thread_pool(2) as pool:
                pool.submit(release.wait, 30)  # a request to a server that never answers
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)
        assert time.monotonic() - started < 3
    finally:
        release.set()


def test_once_stopping_a_cleanup_runs_at_once_instead_of_queueing_behind_blocked_workers(policy):
    # `status` against an API server that never answers: every worker blocked on a request, then the stop;
    # the connection's cleanup (handed to the same executor) waited out their request timeouts (7.6 s)
    release = threading.Event()
    pool = policy.executor(1)
    try:
        pool.submit(release.wait, 30)
        queued = pool.submit(lambda: "before the stop")
        policy.signum = signal.SIGTERM  # what the handler records first
        started = time.monotonic()
        cleanup = pool.submit(lambda: "cleaned up")
        assert cleanup.result(timeout=5) == "cleaned up"
        assert time.monotonic() - started < 1
        assert not queued.done()  # what was queued before the stop still waits (and is dropped at shutdown)
    finally:
        release.set()
        pool.shutdown(wait=False, cancel_futures=True)
