"""A dashboard's PromQL, as Prometheus' parser sees it: Grafana's variables filled, one recording rule each;
and every query of the dashboards deployer ships parses with the real promtool."""

from __future__ import annotations

import json

import pytest
import yaml

from deployer.adapters.process import ProcessRunner
from deployer.adapters.promtool import Promtool
from deployer.checks.dashboard_queries import PanelQuery, as_promql, panel_queries, rule_file
from tests.conftest import REPO, require_tool

DASHBOARDS = sorted((REPO / "deployer" / "dashboards").glob("*.json"))


@pytest.mark.parametrize("expr, promql", [
    ('rate(x{namespace=~"$hub"}[$__rate_interval])', 'rate(x{namespace=~"deployer_variable"}[5m])'),
    ('sum(x{a="${user:regex}"}) by (a)', 'sum(x{a="deployer_variable"}) by (a)'),
    ("max_over_time(up[${window}:$step])", "max_over_time(up[5m:5m])"),
    ('x{node="[[node]]"}', 'x{node="deployer_variable"}'),
    ("topk($n, up)", "topk(deployer_variable, up)"),  # a variable where a number stands: then refused, as said
])
def test_grafana_variables_are_filled_as_grafana_would(expr, promql):
    assert as_promql(expr) == promql


def test_queries_are_read_from_panels_and_rows_in_order_with_panel_and_ref_id():
    dashboard = {"panels": [{"title": "Servers", "targets": [{"refId": "A", "expr": "up"}, {"expr": " "}]},
                            {"type": "row", "title": "More", "panels": [{"id": 7, "targets": [{"expr": "x"}]}]}],
                 "rows": [{"panels": [{"title": "Old", "targets": [{"refId": "Q", "expr": "y"}]}]}]}
    assert panel_queries(dashboard) == [PanelQuery("Servers", "A", "up"), PanelQuery("id 7", "A", "x"),
                                        PanelQuery("Old", "Q", "y")]
    assert rule_file(panel_queries(dashboard))["groups"][0]["rules"][1] == {"record": "dashboard_query_2", "expr": "x"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_of_the_shipped_dashboards_parses(path, tmp_path):
    queries = panel_queries(json.loads(path.read_text()))
    assert len(queries) >= 4
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(rule_file(queries)))
    assert Promtool(ProcessRunner(), require_tool("promtool")).check_rules([rules]) == []
