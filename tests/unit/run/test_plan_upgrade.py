"""`plan-upgrade` on the real corpus, copied into a temporary git repository per test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.errors import DeployerError
from deployer.checks.validate import ConfigInvalid
from deployer.run.plan_upgrade import plan_changed_files
from tests.conftest import REPO, require_corpus
from tests.git_repo import all_ids, commit, git, ids, plan


@pytest.fixture(scope="session")
def base_repo(tmp_path_factory) -> Path:
    corpus = require_corpus()
    repo = tmp_path_factory.mktemp("plan") / "repo"
    shutil.copytree(corpus / "config", repo / "config")  # the corpus as it is: it validates
    shutil.copytree(REPO / "helm-charts", repo / "helm-charts")
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "base")
    return repo


@pytest.fixture
def repo(base_repo, tmp_path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(base_repo, target, symlinks=True)
    return target


CLOUDBANK = "config/clusters/cloudbank"


def test_change_to_one_hubs_values_file_plans_only_that_hub(repo):
    path = repo / CLOUDBANK / "bcc.values.yaml"
    path.write_text(path.read_text().replace("guarantee: 384M", "guarantee: 512M"))
    commit(repo)
    p = plan(repo)
    assert all_ids(p) == ["cloudbank/bcc"]
    (job,) = p.prod_jobs
    assert job.reasons == ("changed values #2 config/clusters/cloudbank/bcc.values.yaml",)


def test_change_to_a_shared_values_file_plans_exactly_the_hubs_that_list_it(repo):
    cluster = (repo / CLOUDBANK / "cluster.yaml").read_text()
    listing = sorted(f"cloudbank/{b.split()[0]}" for b in cluster.split("- name: ")[1:] if "common.values.yaml" in b)
    path = repo / CLOUDBANK / "common.values.yaml"
    path.write_text(path.read_text() + "\nglobal:\n  extraKey: 1\n")
    commit(repo)
    p = plan(repo)
    assert all_ids(p) == listing and len(listing) > 50
    assert ids(p.staging_jobs) == ["cloudbank/staging"]


def test_change_to_an_unreferenced_file_plans_nothing(repo):
    path = repo / CLOUDBANK / "unr.values.yaml"  # in the corpus, no hub lists it
    path.write_text(path.read_text() + "\nchanged: true\n")
    (repo / CLOUDBANK / "notes.txt").write_text("hello\n")
    commit(repo)
    assert plan(repo).empty


def test_change_to_the_daskhub_chart_plans_only_daskhub_hubs(repo):
    expected = []
    for cluster_yaml in sorted((repo / "config" / "clusters").glob("*/cluster.yaml")):
        for block in cluster_yaml.read_text().split("- name: ")[1:]:
            if "helm_chart: daskhub" in block:
                expected.append(f"{cluster_yaml.parent.name}/{block.split()[0]}")
    values = repo / "helm-charts" / "daskhub" / "values.yaml"
    values.write_text(values.read_text() + "\n# a comment still changes the chart\nextraDaskhubDefault: 1\n")
    commit(repo)
    p = plan(repo)
    assert all_ids(p) == sorted(expected) and expected
    assert all("changed chart daskhub" in j.reasons[0] for j in p.staging_jobs + p.prod_jobs)


def test_change_to_basehub_reaches_daskhub_hubs_too(repo):
    values = repo / "helm-charts" / "basehub" / "values.yaml"
    values.write_text(values.read_text() + "\nextraBasehubDefault: 1\n")
    commit(repo)
    p = plan(repo)
    assert len(all_ids(p)) == 148  # every hub uses basehub, directly or through daskhub
    assert not p.support_jobs


def test_new_hub_plans_that_hub_and_the_clusters_staging_hubs_first(repo):
    cluster = repo / "config/clusters/utoronto/cluster.yaml"
    cluster.write_text(cluster.read_text() + "- name: newhub\n  domain: newhub.utoronto.example.org\n"
                       "  helm_chart: basehub\n  helm_chart_values_files:\n  - newhub.values.yaml\n")
    (repo / "config/clusters/utoronto/newhub.values.yaml").write_text("jupyterhub: {}\n")
    commit(repo)
    p = plan(repo)
    assert ids(p.prod_jobs) == ["utoronto/newhub"]
    assert ids(p.staging_jobs) == ["utoronto/r-staging", "utoronto/staging"]
    assert p.prod_jobs[0].reasons == ("new",)
    assert all(r.startswith("canary for new hub newhub") for j in p.staging_jobs for r in j.reasons)


def test_cosmetic_changes_to_a_values_file_plan_nothing(repo):
    path = repo / CLOUDBANK / "common.values.yaml"
    from deployer.config.yamlload import load_yaml

    data = load_yaml(path.read_text()).data
    reordered = dict(reversed(list(data.items())))
    import io

    from ruamel.yaml import YAML

    buf = io.StringIO()
    YAML().dump(reordered, buf)
    path.write_text("# a new comment at the top\n" + buf.getvalue())
    commit(repo)
    assert plan(repo).empty


def test_encrypted_files_count_by_ciphertext(repo):
    path = repo / CLOUDBANK / "enc-bcc.secret.values.yaml"
    path.write_text(path.read_text().replace("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:A", 1))
    commit(repo)
    assert all_ids(plan(repo)) == ["cloudbank/bcc"]


def test_removed_hub_and_cluster_are_listed_for_removal(repo):
    cluster = repo / "config/clusters/utoronto/cluster.yaml"
    text = cluster.read_text()
    start = text.index("- name: highmem")
    cluster.write_text(text[:start])
    shutil.rmtree(repo / "config/clusters/victor")
    commit(repo)
    p = plan(repo)
    removed = {r["id"]: r["reason"] for r in p.removals}
    assert removed["utoronto/highmem"] == "hub removed"
    assert removed["victor/staging"] == removed["victor/support"] == "cluster removed"
    assert not (p.staging_jobs or p.prod_jobs or p.support_jobs)


def test_support_values_change_plans_the_support_job(repo):
    path = repo / "config/clusters/temple/support.values.yaml"
    path.write_text(path.read_text() + "\ndisableCoredumps:\n  enabled: false\n")
    commit(repo)
    p = plan(repo)
    assert ids(p.support_jobs) == ["temple/support"] and not (p.staging_jobs or p.prod_jobs)


def test_unknown_ref_and_invalid_head_and_broken_base(repo):
    with pytest.raises(DeployerError) as info:
        plan(repo, base="no-such-ref")
    assert "unknown git ref `no-such-ref`" in info.value.message
    cluster = repo / "config/clusters/temple/cluster.yaml"
    good = cluster.read_text()
    cluster.write_text(good.replace("domain: staging.temple", "domian: staging.temple", 1))
    commit(repo, "bad head")
    with pytest.raises(ConfigInvalid) as bad:
        plan(repo)
    assert "config/clusters/temple/cluster.yaml:" in bad.value.message
    cluster.write_text(good)
    commit(repo, "fixed")
    with pytest.raises(DeployerError) as base:
        plan(repo, base="HEAD~1")
    assert "at the base" in base.value.message and "did not load" in base.value.message


def test_shallow_clone_without_the_base_commit(repo, tmp_path):
    (repo / CLOUDBANK / "bcc.values.yaml").write_text("jupyterhub: {}\n")
    commit(repo)
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True, timeout=60)
    base = git(repo, "rev-parse", "HEAD~1").strip()
    with pytest.raises(DeployerError) as info:
        plan(shallow, base=base)
    assert "shallow" in info.value.message and "fetch-depth: 0" in info.value.hint


def test_changed_files_mode_and_a_file_outside_the_repository(repo, tmp_path):
    p = plan_changed_files(repo, [f"{CLOUDBANK}/bcc.values.yaml", "config/clusters/nowhere.txt"], cwd=repo)
    assert all_ids(p) == ["cloudbank/bcc"]
    p = plan_changed_files(repo, ["helm-charts/daskhub/values.yaml"], cwd=repo)
    assert all(j.chart == "daskhub" for j in p.staging_jobs + p.prod_jobs) and p.prod_jobs
    with pytest.raises(DeployerError) as info:
        plan_changed_files(repo, [str(tmp_path / "elsewhere.yaml")], cwd=repo)
    assert "outside the repository" in info.value.message


def test_cli_json_and_markdown(repo, tmp_path):
    path = repo / CLOUDBANK / "bcc.values.yaml"
    path.write_text(path.read_text() + "\nglobal:\n  more: 1\n")
    commit(repo)
    md = tmp_path / "plan.md"
    proc = subprocess.run(
        [sys.executable, "-m", "deployer", "--root", str(repo), "plan-upgrade", "--base", "HEAD~1", "--output", "json",
         "--markdown", str(md)], capture_output=True, text=True, timeout=120, cwd=repo,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert set(payload) == {"version", "base", "head", "support_jobs", "staging_jobs", "prod_jobs", "removals", "counts"}
    assert payload["version"] == 1
    assert [j["id"] for j in payload["prod_jobs"]] == ["cloudbank/bcc"]
    assert "`cloudbank/bcc`" in md.read_text() and "bcc.values.yaml" in md.read_text()
    bad = subprocess.run([sys.executable, "-m", "deployer", "--root", str(repo), "plan-upgrade", "--base", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "unknown git ref" in bad.stderr and "Traceback" not in bad.stderr


def test_head_other_than_the_work_tree_is_read_from_git(repo):
    first = repo / CLOUDBANK / "bcc.values.yaml"
    first.write_text(first.read_text() + "\nglobal:\n  first: 1\n")
    commit(repo, "first")
    second = repo / CLOUDBANK / "cau.values.yaml"
    second.write_text(second.read_text() + "\nglobal:\n  second: 1\n")
    commit(repo, "second")
    (repo / CLOUDBANK / "ccsf.values.yaml").write_text("uncommitted: true\n")  # a dirty work tree is not the head
    assert all_ids(plan(repo, base="HEAD~2", head="HEAD~1")) == ["cloudbank/bcc"]
    assert all_ids(plan(repo, base="HEAD~1", head="HEAD")) == ["cloudbank/cau"]
    assert all_ids(plan(repo, base="HEAD~2", head="HEAD")) == ["cloudbank/bcc", "cloudbank/cau"]
