"""Every test that reads a command's JSON output checks the command's exit code first, with its
stderr in the message (tests.conftest.output_json): a command that failed under load says why
instead of a JSONDecodeError on empty output."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_no_test_parses_a_commands_stdout_before_checking_its_exit_code():
    offenders = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            m = re.search(r"json\.loads\((\w+)\.stdout\)", line)
            if not m or path.name == "conftest.py":
                continue
            before = "\n".join(lines[max(0, i - 3):i])
            if not re.search(rf"assert {m.group(1)}\.returncode (==|in) .*, .*stderr", before):
                offenders.append(f"{path.relative_to(REPO)}:{i + 1}: {line.strip()}")
    assert offenders == [], "use tests.conftest.output_json(proc, expected_code):\n" + "\n".join(offenders)
