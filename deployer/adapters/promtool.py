"""Prometheus' own `promtool`: rule files checked (`check rules`) and unit-tested (`test rules`).

Its parser is the one the Prometheus server runs, so a rule or a dashboard query it accepts is one
Prometheus accepts. `check rules` lists every problem of every file it is given, one line each:
`<file>: <line>:<col>: group "<g>", rule <n>, "<name>": <message>`, or `<file>: <message>` for a
file that is not a rule file at all (bad YAML, an unknown field, a bad duration).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from deployer.adapters.process import Completed, ProcessRunner
from deployer.errors import ToolError

CHECK_TIMEOUT = 60.0
TEST_TIMEOUT = 120.0

_RULE_LINE = re.compile(r'^(?P<file>.+?): (?P<line>\d+):(?P<col>\d+): group "(?P<group>(?:[^"\\]|\\.)*)", '
                        r'rule (?P<index>\d+), "(?P<name>(?:[^"\\]|\\.)*)": (?P<message>.*)$')


@dataclass(frozen=True)
class RuleError:
    """One problem `promtool check rules` found: in which file, and (for a rule) which group and rule."""

    file: str
    message: str
    line: int = 0
    group: str = ""
    rule_index: int = 0  # 1-based within its group; 0: the file as a whole
    rule_name: str = ""


def parse_check_output(text: str, files: Sequence[str]) -> list[RuleError]:
    """The problems in `promtool check rules` output (each is printed twice by some versions: kept once)."""
    out: list[RuleError] = []
    seen: set[RuleError] = set()
    for raw in text.splitlines():
        line = raw.strip()
        m = _RULE_LINE.match(line)
        if m:
            err = RuleError(m["file"], m["message"], int(m["line"]), m["group"], int(m["index"]), m["name"])
        else:
            file = next((f for f in files if line.startswith(f + ": ")), None)
            if file is None:
                continue
            err = RuleError(file, line[len(file) + 2:])
        if err not in seen:
            seen.add(err)
            out.append(err)
    return out


class Promtool:
    def __init__(self, runner: ProcessRunner, binary: Path) -> None:
        self.runner = runner
        self.binary = binary

    def check_rules(self, files: Sequence[Path], timeout: float = CHECK_TIMEOUT) -> list[RuleError]:
        """Every problem of the given rule files (no lint: duplicates are not errors here)."""
        if not files:
            return []
        result = self.runner.run([self.binary, "check", "rules", "--lint=none", *files], timeout=timeout)
        if result.ok:
            return []
        errors = parse_check_output(result.stdout + "\n" + result.stderr, [str(f) for f in files])
        if not errors:
            raise ToolError(f"promtool check rules failed (exit {result.returncode}) without naming a problem: "
                            f"{(result.stderr or result.stdout).strip()[-300:]}")
        return errors

    def test_rules(self, test_files: Sequence[Path], timeout: float = TEST_TIMEOUT) -> Completed:
        """`promtool test rules`: exit 0 when every test of every file passes."""
        return self.runner.run([self.binary, "test", "rules", *test_files], timeout=timeout)
