"""promtool's `check rules` output read into one problem per rule (real promtool, real rule files)."""

from __future__ import annotations

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.adapters.promtool import Promtool, RuleError, parse_check_output
from tests.conftest import require_tool


@pytest.fixture(scope="module")
def promtool() -> Promtool:
    return Promtool(ProcessRunner(), require_tool("promtool"))


def test_every_bad_expression_of_every_group_is_named_with_its_group_rule_and_line(promtool, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("""\
groups:
  - name: one
    rules:
      - record: a
        expr: sum(rate(x[5m]) by (a)
      - record: b
        expr: up
  - name: two
    rules:
      - alert: C
        expr: up ==
""")
    assert promtool.check_rules([bad]) == [
        RuleError(str(bad), "could not parse expression: 1:17: parse error: unexpected <by> in aggregation", 5,
                  "one", 1, "a"),
        RuleError(str(bad), "could not parse expression: 1:6: parse error: unexpected end of input", 11, "two", 1, "C"),
    ]


def test_a_file_that_is_no_rule_file_is_one_problem_for_the_file(promtool, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5x\n")
    assert promtool.check_rules([bad]) == [RuleError(str(bad), 'unknown unit "x" in duration "5x"')]


def test_good_files_give_no_problem_and_lines_of_other_files_are_ignored(promtool, tmp_path):
    good = tmp_path / "good.yml"
    good.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 5m\n")
    assert promtool.check_rules([good]) == []
    assert parse_check_output("Checking other.yml\nother.yml: broken\n", [str(good)]) == []
