"""`plan-upgrade`'s change detection on a repository this file builds itself: the twin of
tests/unit/run/test_plan_upgrade.py (which runs on the shared corpus), so that the rules hold, and are
tested, wherever the corpus is not there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.git_repo import all_ids, commit, git, plan

# two clusters; `shared.values.yaml` is listed by two of alpha's three hubs; `alpha/unlisted.values.yaml`
# by none; `dask` is a daskhub
ALPHA = """name: alpha
provider: local
support:
  helm_chart_values_files: [support.values.yaml]
hubs:
- name: staging
  domain: staging.alpha.example.org
  helm_chart: basehub
  helm_chart_values_files: [shared.values.yaml, staging.values.yaml]
- name: prod
  domain: prod.alpha.example.org
  helm_chart: basehub
  helm_chart_values_files: [shared.values.yaml, prod.values.yaml]
- name: dask
  domain: dask.alpha.example.org
  helm_chart: daskhub
  helm_chart_values_files: [dask.values.yaml]
"""
BETA = """name: beta
provider: local
hubs:
- name: staging
  domain: staging.beta.example.org
  helm_chart: basehub
  helm_chart_values_files: [staging.values.yaml]
"""


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    alpha, beta = root / "config/clusters/alpha", root / "config/clusters/beta"
    alpha.mkdir(parents=True)
    beta.mkdir(parents=True)
    (alpha / "cluster.yaml").write_text(ALPHA)
    (alpha / "support.values.yaml").write_text("prometheus:\n  enabled: true\n")
    (alpha / "shared.values.yaml").write_text("jupyterhub:\n  singleuser:\n    memory:\n      guarantee: 384M\n"
                                              "  custom:\n    org: alpha\n")
    for hub in ("staging", "prod"):
        (alpha / f"{hub}.values.yaml").write_text(f"jupyterhub:\n  custom:\n    name: {hub}\n")
    (alpha / "dask.values.yaml").write_text("basehub:\n  jupyterhub:\n    custom:\n      name: dask\n")
    (alpha / "unlisted.values.yaml").write_text("jupyterhub: {}\n")
    (beta / "cluster.yaml").write_text(BETA)
    (beta / "staging.values.yaml").write_text("jupyterhub:\n  custom:\n    name: beta\n")
    shutil.copytree(REPO / "helm-charts", root / "helm-charts")
    git(root, "init", "-q", "-b", "main")
    commit(root, "base")
    return root


def test_one_hubs_values_file_plans_that_hub_naming_the_file(repo):
    path = repo / "config/clusters/alpha/prod.values.yaml"
    path.write_text(path.read_text().replace("name: prod", "name: production"))
    commit(repo)
    p = plan(repo)
    assert all_ids(p) == ["alpha/prod"]
    assert p.prod_jobs[0].reasons == ("changed values #2 config/clusters/alpha/prod.values.yaml",)


def test_a_shared_values_file_plans_exactly_the_hubs_that_list_it_staging_first(repo):
    path = repo / "config/clusters/alpha/shared.values.yaml"
    path.write_text(path.read_text().replace("384M", "512M"))
    commit(repo)
    p = plan(repo)
    assert all_ids(p) == ["alpha/prod", "alpha/staging"]
    assert [j.id for j in p.staging_jobs] == ["alpha/staging"] and [j.id for j in p.prod_jobs] == ["alpha/prod"]


def test_an_unlisted_file_and_a_cosmetic_change_plan_nothing(repo):
    (repo / "config/clusters/alpha/unlisted.values.yaml").write_text("jupyterhub:\n  changed: true\n")
    (repo / "config/clusters/alpha/notes.txt").write_text("hello\n")
    shared = repo / "config/clusters/alpha/shared.values.yaml"
    shared.write_text("# a comment, and the keys in another order\njupyterhub:\n  custom:\n    org: alpha\n"
                      "  singleuser:\n    memory: {guarantee: 384M}\n")
    commit(repo)
    assert plan(repo).empty


def test_the_daskhub_chart_plans_only_daskhub_hubs_and_basehub_reaches_them_too(repo):
    values = repo / "helm-charts/daskhub/values.yaml"
    values.write_text(values.read_text() + "\nextraDaskhubDefault: 1\n")
    commit(repo)
    p = plan(repo)
    assert all_ids(p) == ["alpha/dask"] and "changed chart daskhub" in p.prod_jobs[0].reasons[0]
    values = repo / "helm-charts/basehub/values.yaml"
    values.write_text(values.read_text() + "\nextraBasehubDefault: 1\n")
    commit(repo)
    assert all_ids(plan(repo)) == ["alpha/dask", "alpha/prod", "alpha/staging", "beta/staging"]


def test_a_new_hub_is_planned_after_its_clusters_staging_hubs_as_a_canary(repo):
    cluster = repo / "config/clusters/alpha/cluster.yaml"
    cluster.write_text(cluster.read_text() + "- name: newhub\n  domain: newhub.alpha.example.org\n"
                       "  helm_chart: basehub\n  helm_chart_values_files: [newhub.values.yaml]\n")
    (repo / "config/clusters/alpha/newhub.values.yaml").write_text("jupyterhub: {}\n")
    commit(repo)
    p = plan(repo)
    assert [j.id for j in p.prod_jobs] == ["alpha/newhub"] and p.prod_jobs[0].reasons == ("new",)
    assert [j.id for j in p.staging_jobs] == ["alpha/staging"]
    assert p.staging_jobs[0].reasons[0].startswith("canary for new hub newhub")


def test_removed_hub_and_cluster_are_listed_for_removal_and_support_changes_plan_support(repo):
    cluster = repo / "config/clusters/alpha/cluster.yaml"
    text = cluster.read_text()
    cluster.write_text(text[:text.index("- name: dask")])
    shutil.rmtree(repo / "config/clusters/beta")
    support = repo / "config/clusters/alpha/support.values.yaml"
    support.write_text(support.read_text() + "grafana:\n  enabled: true\n")
    commit(repo)
    p = plan(repo)
    removed = {r["id"]: r["reason"] for r in p.removals}
    assert removed == {"alpha/dask": "hub removed", "beta/staging": "cluster removed"}
    assert [j.id for j in p.support_jobs] == ["alpha/support"] and not (p.staging_jobs or p.prod_jobs)
