"""The real fleet of an outside team (../shared/corpus: 20 clusters, 148 hubs) renders with our charts
and the real upstream charts (../shared/charts), every release of it, through `deployer render`."""

from __future__ import annotations

import json

import pytest

from deployer.cli import app
from deployer.cli.app import run_app
from tests.conftest import require_chart_repo, require_corpus, require_tool

pytestmark = pytest.mark.e2e

# The one release whose chart the chart repository cannot give: 2i2c-uk/lis overrides basehub's
# Chart.yaml (its `chart_override`) to pin a development build of jupyterhub that is in no released
# chart repository; it is refused naming the version, never rendered with another one.
UNAVAILABLE = {("2i2c-uk/lis", "chart-unavailable")}


def test_every_release_of_the_corpus_renders_with_no_problem(tmp_path, monkeypatch, capsys):
    require_tool("helm")
    monkeypatch.setenv("DEPLOYER_CHART_REPO", str(require_chart_repo()))
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path / "state"))  # the corpus is read-only
    code = run_app(app, ["--root", str(require_corpus()), "render", "--output", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    payload = json.loads(out)
    releases = [r for c in payload["clusters"] for r in c["releases"]]
    assert (payload["summary"]["clusters"], len(releases)) == (20, 168)  # 148 hubs and 20 support stacks
    errors = [p for p in payload["problems"] if p["severity"] == "error"]
    assert {(p["release"], p["code"]) for p in errors} == UNAVAILABLE, errors
    [lis] = errors
    assert "jupyterhub 4.3.3-0.dev.git.7272.h2ff70453" in lis["message"]
    assert code == 1
    hubs = [r for r in releases if not r["id"].endswith("/support")]
    assert sum(1 for r in hubs if r["objects"] > 0) == 147
