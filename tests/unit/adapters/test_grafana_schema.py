"""The dashboards follow Grafana's own dashboard schema (Grafana's Foundation SDK decodes them strictly:
unknown fields, wrong types and missing required fields are errors), and a broken one is named."""

from __future__ import annotations

import json

from deployer.adapters.grafana_schema import check_dashboards
from deployer.adapters.process import ProcessRunner
from deployer.run.grafana import dashboards_dir
from tests.conftest import require_tool


def test_every_dashboard_follows_grafanas_dashboard_schema():
    program = require_tool("grafana-dashboard-check")
    files = sorted(dashboards_dir().glob("*.json"))
    assert len(files) == 3
    assert check_dashboards(ProcessRunner(), files, program=program) == {str(f): [] for f in files}


def test_an_unknown_field_and_a_wrong_type_are_named_by_the_schema(tmp_path):
    program = require_tool("grafana-dashboard-check")
    doc = json.loads((dashboards_dir() / "jupyterhub-users.json").read_text())
    doc["panels"][0]["gridPos"]["h"] = "tall"
    doc["refreshEvery"] = "5s"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    [errors] = check_dashboards(ProcessRunner(), [bad], program=program).values()
    text = "\n".join(errors)
    assert "unexpected field 'refreshEvery'" in text
    assert "gridPos" in text and "h" in text
