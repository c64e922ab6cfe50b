"""`deploy` and `deploy-support` build one typed DeployRequest and hand it to the core: the CLI
passes the health options on, and the core assembles the after-deploy hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.cli import app
from deployer.cli.app import run_app
from deployer.run import deploy as deploy_module
from deployer.run.deploy import DeployRequest
from deployer.run.engine import RunReport
from deployer.run.health import HealthOptions
from tests.repo_builder import make_repo


@pytest.fixture
def requests(monkeypatch):
    seen: list[DeployRequest] = []

    def deploy(request, runner, on_event, on_plan):
        seen.append(request)
        return RunReport([], "2026-01-01T00:00:00+00:00", 0.0)

    monkeypatch.setattr(deploy_module, "deploy", deploy)
    return seen


def cli(root: Path, *args: str) -> int:
    return run_app(app, ["--root", str(root), *args])


def test_deploy_hands_the_core_one_request_with_the_health_options_given(tmp_path, requests, capsys, monkeypatch):
    monkeypatch.delenv("DEPLOYER_CHART_REPO", raising=False)  # no chart repository unless one is given
    root = make_repo(tmp_path / "repo")
    assert cli(root, "deploy", "alpha", "prod", "-j", "3", "--timeout", "60", "--no-rollback", "--force",
               "--health-check", "--health-retries", "9", "--health-interval", "0.5", "-o", "json") == 0
    [r] = requests
    assert (r.root, r.cluster, r.hubs, r.support, r.concurrency, r.force, r.plan_file) == (
        root.resolve(), "alpha", ["prod"], False, 3, True, None)
    assert (r.options.timeout, r.options.rollback, r.options.dry_run, r.options.chart_repo) == (60.0, False, False, None)
    assert r.health == HealthOptions(retries=9, interval=0.5)


def test_without_health_check_there_is_no_health_option_and_the_defaults_are_five_retries_two_seconds(
        tmp_path, requests, capsys):
    root = make_repo(tmp_path / "repo")
    assert cli(root, "deploy", "alpha", "-o", "json") == 0
    assert cli(root, "deploy", "alpha", "--health-check", "-o", "json") == 0
    assert cli(root, "deploy-support", "alpha", "--dry-run", "-o", "json") == 0
    plain, checked, support = requests
    assert (plain.health, plain.hubs, plain.concurrency) == (None, None, 4)
    assert checked.health == HealthOptions(retries=5, interval=2.0)
    assert (support.support, support.concurrency, support.health, support.options.dry_run) == (True, 1, None, True)


def test_a_plan_file_travels_in_the_request(tmp_path, requests, capsys):
    root = make_repo(tmp_path / "repo")
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    assert cli(root, "deploy", "--plan", str(plan), "-o", "json") == 0
    assert (requests[0].cluster, requests[0].plan_file) == ("", plan)


def test_the_core_builds_the_hooks_from_the_request(tmp_path, monkeypatch):
    from deployer.run import grafana, health

    made = []
    monkeypatch.setattr(grafana, "after_deploy_annotation", lambda root: made.append(("grafana", root)) or "annotate")
    monkeypatch.setattr(health, "after_deploy_health", lambda options: made.append(("health", options)) or "check")
    extra = object()
    options = HealthOptions(retries=1, interval=0.0)
    request = DeployRequest(tmp_path, "alpha", health=options, after_deploy=[extra])
    assert request.hook_factories() == ["annotate", "check", extra]
    assert made == [("grafana", tmp_path), ("health", options)]
    made.clear()
    assert DeployRequest(tmp_path, "alpha", annotate=False).hook_factories() == [] and made == []


def test_the_deploy_command_takes_a_request_not_a_dozen_positional_parameters():
    import inspect

    from deployer.cli import deploy_cmd

    assert list(inspect.signature(deploy_cmd._run).parameters) == ["ctx", "request", "output", "report_file"]
