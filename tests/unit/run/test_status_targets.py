"""Which clusters `status` reads, and why the others are not read: decided in the core
(`run/status.py::status_targets`) from the cluster each problem was found for, never from the
problem's file path."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from deployer.checks.validate import validate
from deployer.cli import app
from deployer.cli.app import run_app
from deployer.run import status
from deployer.run.status import HubStatus, status_targets
from tests.repo_builder import cluster_yaml, make_cluster, make_repo

YAML_ERROR = "YAML syntax: did not find expected node content"


@pytest.fixture
def linked(tmp_path) -> Path:
    """A repository whose `config` folder is a symlink to `shared-config` (inside it): every
    problem's file reads `shared-config/clusters/...`."""
    root = make_repo(tmp_path / "repo", {"alpha": ["prod", "staging"], "beta": ["prod"]})
    (root / "config/clusters/alpha/prod.values.yaml").write_text("jupyterhub: [\n")
    shutil.move(str(root / "config"), str(root / "shared-config"))
    os.symlink("shared-config", root / "config")
    return root


def test_each_problem_belongs_to_the_cluster_it_was_found_for_whatever_its_path(linked):
    outcome = validate(linked)
    [problem] = outcome.report.errors
    assert problem.file == "shared-config/clusters/alpha/prod.values.yaml"
    assert (outcome.errors_of("alpha"), outcome.errors_of("beta")) == ([problem], [])


def test_status_does_not_read_an_invalid_cluster_found_through_a_linked_config_folder(linked):
    targets = status_targets(linked)
    assert [c.name for c in targets.clusters] == ["beta"]
    reason = (f"configuration invalid (shared-config/clusters/alpha/prod.values.yaml:2:1: {YAML_ERROR}); "
              "run `deployer validate`")
    assert [(r.cluster, r.hub, r.helm_status, r.error) for r in targets.unreadable] == [
        ("alpha", "prod", "unknown", reason), ("alpha", "staging", "unknown", reason)]
    assert targets.order == {"alpha": 0, "beta": 1}


def test_a_duplicate_domain_is_the_problem_of_the_cluster_that_repeats_it(tmp_path):
    make_cluster(tmp_path, "alpha", ["prod"])
    make_cluster(tmp_path, "beta", ["prod"], cluster_text=cluster_yaml("beta", ["prod"]).replace(
        "prod.beta.example.org", "prod.alpha.example.org"))
    outcome = validate(tmp_path)
    assert [p.code for p in outcome.errors_of("beta")] == ["duplicate-domain"] and outcome.errors_of("alpha") == []
    assert [c.name for c in status_targets(tmp_path).clusters] == ["alpha"]


def test_a_cluster_whose_cluster_yaml_does_not_load_is_one_broken_row_with_its_problem(linked):
    (linked / "shared-config/clusters/beta/cluster.yaml").write_text("name: beta\nprovider: [oops\n")
    targets = status_targets(linked)
    assert targets.clusters == []
    assert [(r.cluster, r.hub, r.error) for r in targets.unreadable if r.cluster == "beta"] == [
        ("beta", "-", "cluster `beta` is broken: config/clusters/beta/cluster.yaml:3:1: "
                      "YAML syntax: did not find expected ',' or ']'")]


def test_the_status_command_shows_the_invalid_cluster_and_reads_only_the_valid_one(linked, capsys, monkeypatch):
    read = []

    def run_status(root, clusters, runner, options, work_dir, **kw):
        read.extend(c.name for c in clusters)
        return [HubStatus(c.name, h.name, revision=1, helm_status="deployed", health="healthy")
                for c in clusters for h in c.hubs]

    monkeypatch.setattr(status, "run_status", run_status)
    code = run_app(app, ["--root", str(linked), "status", "--output", "json"])
    out = json.loads(capsys.readouterr().out)
    assert read == ["beta"] and code == 1 and out["ok"] is False
    assert [(r["cluster"], r["hub"], r["helm_status"], r["error"][:22]) for r in out["hubs"]] == [
        ("alpha", "prod", "unknown", "configuration invalid "), ("alpha", "staging", "unknown", "configuration invalid "),
        ("beta", "prod", "deployed", "")]


def test_the_status_command_leaves_validation_to_the_core():
    source = (Path(__file__).resolve().parents[3] / "deployer/cli/status_cmd.py").read_text()
    assert "deployer.checks" not in source and ".split(" not in source
