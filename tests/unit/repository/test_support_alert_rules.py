"""The support chart's alert rules (helm-charts/support/alert-rules/*.yml), unit-tested by Prometheus'
own `promtool test rules`: one test file per rule file (tests/unit/data/alert_rules/<file>.test.yml),
each with series that make its alerts fire and series that must not, and the exact labels and
annotations on-call staff read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from deployer.adapters.process import ProcessRunner
from deployer.adapters.promtool import Promtool
from tests.conftest import REPO, require_tool

RULES = REPO / "helm-charts" / "support" / "alert-rules"
TESTS = Path(__file__).resolve().parents[1] / "data" / "alert_rules"
RULE_FILES = sorted(p.name for p in RULES.glob("*.yml"))
SCHEMA = json.loads((REPO / "helm-charts" / "support" / "values.schema.json").read_text())


@pytest.fixture(scope="module")
def promtool() -> Promtool:
    return Promtool(ProcessRunner(), require_tool("promtool"))


def rules_of(name: str) -> list[dict]:
    return [r for g in yaml.safe_load((RULES / name).read_text())["groups"] for r in g["rules"]]


def test_every_rule_file_has_its_test_file_and_nothing_else_is_tested():
    assert RULE_FILES == ["jupyterhub.yml", "nodes.yml", "prometheus.yml", "volumes.yml"]
    assert sorted(p.name.removesuffix(".test.yml") + ".yml" for p in TESTS.glob("*.test.yml")) == RULE_FILES


def test_what_on_call_staff_need_is_covered():
    alerts = {r["alert"] for name in RULE_FILES for r in rules_of(name)}
    assert alerts == {"JupyterHubHubDown", "JupyterHubProxyDown", "JupyterHubUserServerPending",
                      "KubernetesNodeNotReady", "KubernetesVolumeNearlyFull", "PrometheusScrapeTargetDown",
                      "PrometheusRuleEvaluationFailures"}
    # each can have its `for:` set per cluster, and nothing else can
    assert set(SCHEMA["properties"]["alertRules"]["properties"]["for"]["properties"]) == alerts


@pytest.mark.parametrize("name", RULE_FILES)
def test_each_alert_has_a_severity_the_cluster_and_says_what_is_wrong_and_what_to_do(name):
    for rule in rules_of(name):
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["labels"]["cluster"] == "{{ $externalLabels.cluster }}", rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description", "action"}, rule["alert"]
        assert "for" in rule, rule["alert"]


@pytest.mark.parametrize("name", RULE_FILES)
def test_the_rule_file_passes_promtool_check(promtool, name):
    assert promtool.check_rules([RULES / name]) == []


@pytest.mark.parametrize("name", RULE_FILES)
def test_promtool_unit_tests_of_the_rule_file_pass_with_alerts_firing_and_not(promtool, name, tmp_path):
    spec = yaml.safe_load((TESTS / name.replace(".yml", ".test.yml")).read_text())
    assert spec["rule_files"] == [name]
    expectations = [t["exp_alerts"] for group in spec["tests"] for t in group["alert_rule_test"]]
    assert [] in expectations and any(expectations), "each file tests firing and not firing"
    spec["rule_files"] = [str(RULES / name)]  # the chart's own file, not a copy
    test_file = tmp_path / f"{name}.test.yml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = promtool.test_rules([test_file])
    assert result.ok, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_a_wrong_expectation_fails_the_promtool_test(promtool, tmp_path):
    """The tests can fail: an alert expected to fire earlier than its `for:` allows."""
    spec = yaml.safe_load((TESTS / "nodes.test.yml").read_text())
    spec["rule_files"] = [str(RULES / "nodes.yml")]
    spec["tests"][0]["alert_rule_test"][1]["eval_time"] = "3m"  # node-b not ready 3 minutes: still pending
    test_file = tmp_path / "wrong.test.yml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = promtool.test_rules([test_file])
    assert result.returncode == 1
    assert "alertname: KubernetesNodeNotReady, time: 3m" in result.stdout + result.stderr
