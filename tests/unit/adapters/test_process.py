"""The process adapter: every external program runs through it, with a timeout that stops the
whole process group, a redacted debug line, and typed failures."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.errors import ToolError, ToolMissing, ToolTimeout
from deployer.redact import MARKER, Redactor

SECRET = "S3cr3t-CANARY-process"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_the_command_line_is_logged_redacted(caplog):
    runner = ProcessRunner(redactor=Redactor([SECRET]))
    with caplog.at_level(logging.DEBUG, logger="deployer.process"):
        runner.run([sys.executable, "-c", "pass", f"--token={SECRET}"], timeout=30)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("run: ") and f"--token={MARKER}" in line for line in lines), lines
    assert not any(SECRET in line for line in lines)


def test_a_failed_check_names_the_program_with_secrets_redacted():
    runner = ProcessRunner(redactor=Redactor([SECRET]))
    with pytest.raises(ToolError) as e:
        runner.run([sys.executable, "-c", f"import sys; sys.stderr.write('bad {SECRET}\\n'); sys.exit(3)", SECRET],
                   timeout=30, check=True)
    assert "failed (exit 3)" in e.value.message
    assert e.value.message.endswith(f"bad {MARKER}")
    assert SECRET not in e.value.message


def test_a_timeout_stops_the_whole_process_group_not_only_the_child(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    script = f"import subprocess,time; p=subprocess.Popen(['sleep','300']); open({str(pidfile)!r},'w').write(str(p.pid)); time.sleep(300)"
    started = time.monotonic()
    with pytest.raises(ToolTimeout) as e:
        ProcessRunner().run([sys.executable, "-c", script], timeout=2)
    assert time.monotonic() - started < 15
    assert "timed out after 2s" in e.value.message
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(grandchild), "the grandchild survived the timeout: the process group was not killed"


def test_an_async_timeout_stops_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    script = f"import subprocess,time; p=subprocess.Popen(['sleep','300']); open({str(pidfile)!r},'w').write(str(p.pid)); time.sleep(300)"
    with pytest.raises(ToolTimeout):
        asyncio.run(ProcessRunner().run_async([sys.executable, "-c", script], timeout=2, grace=2))
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(grandchild)


def test_a_missing_program_is_tool_missing_naming_it():
    with pytest.raises(ToolMissing) as e:
        ProcessRunner().run(["/nonexistent/deployer-test-tool"], timeout=5)
    assert e.value.message == "/nonexistent/deployer-test-tool: program not found"


def test_a_file_that_is_not_executable_is_a_clear_error(tmp_path):
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(ToolError) as e:
        ProcessRunner().run([script], timeout=5)
    assert e.value.message == f"{script}: not executable"


def test_results_are_shaped_like_completed_process():
    done = ProcessRunner().run([sys.executable, "-c", "import sys; print('out'); sys.stderr.write('err'); sys.exit(4)"],
                               timeout=30)
    assert (done.returncode, done.stdout, done.stderr, done.ok) == (4, "out\n", "err", False)
    raw = ProcessRunner().run_bytes([sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'\\xff')"], timeout=30)
    assert raw.stdout == b"\xff"


def test_the_environment_given_is_added_to_the_base_not_the_process_environment():
    runner = ProcessRunner(base_env={"PATH": os.environ["PATH"], "A": "1"})
    done = runner.run([sys.executable, "-c", "import os; print(os.environ.get('A'), os.environ.get('B'), os.environ.get('HOME'))"],
                      timeout=30, env={"B": "2"})
    assert done.stdout.split() == ["1", "2", "None"]
    assert "B" not in os.environ


def test_the_redactor_is_not_the_identity():
    """A redactor that returned its input unchanged would pass every test that only checks shapes."""
    redactor = Redactor([SECRET])
    assert redactor(f"x {SECRET} y") == f"x {MARKER} y"
    assert ProcessRunner(redactor=redactor).describe(["tool", SECRET]) == f"tool {MARKER}"
