"""The ledger's digest is of what a release renders from, as data (deployer/render/digest.py): the
chart's content, each values layer's data, the Kubernetes version, deployer's version. Any change of
deployer that changes a layer changes the digest, with no list of source files to keep."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deployer.checks.validate import load_valid_cluster
from deployer.plan.ledger import ReleaseState, Source, Verdict, compare, record_labels
from deployer.render.digest import desired_digests
from tests.repo_builder import encrypted_yaml, make_cluster

REPO = Path(__file__).resolve().parents[3]


def _digests(root: Path, *names: str, **kw) -> dict[str, str]:
    return desired_digests(root, {n: load_valid_cluster(root, n).model for n in names}, **kw)


@pytest.fixture
def repo(tmp_path):
    make_cluster(tmp_path, "here", ["staging"], provider="local")
    make_cluster(tmp_path, "there", ["staging"], provider="kubeconfig")
    return tmp_path


def test_bumping_an_image_recipe_changes_the_local_releases_digests_and_no_other(repo, monkeypatch):
    """The local layer names the images built here: a new builder version is a new image tag, so
    `deploy local` redeploys (once, the ledger missed it: its code fingerprint was a list of files)."""
    from deployer.local.images import recipes

    before = _digests(repo, "here", "there")
    monkeypatch.setattr(recipes, "BUILDER_VERSION", recipes.BUILDER_VERSION + "-bumped")
    after = _digests(repo, "here", "there")
    assert sorted(before) == ["here/staging", "here/support", "there/staging", "there/support"]
    assert {rid for rid in before if before[rid] != after[rid]} == {"here/staging", "here/support"}


def test_a_ledger_record_of_the_old_images_makes_deploy_plan_the_local_hub_again(repo, monkeypatch):
    from deployer.local.images import recipes

    recorded = _digests(repo, "here")["here/staging"]
    state = ReleaseState("staging", "staging", 1, "deployed", record_labels(recorded, Source(None), "0.1.0", 1, "here"))
    assert compare("here/staging", recorded, "here", state, "0.1.0").verdict is Verdict.unchanged
    monkeypatch.setattr(recipes, "BUILDER_VERSION", recipes.BUILDER_VERSION + "-bumped")
    now = _digests(repo, "here")["here/staging"]
    assert compare("here/staging", now, "here", state, "0.1.0").verdict is Verdict.changed


def test_a_layer_function_that_returns_something_else_changes_the_digest(repo, monkeypatch):
    from deployer.plan import value_layers as release_values

    before = _digests(repo, "there")
    real = release_values.generated_values

    def with_another_annotation(**kw):
        values = real(**kw)
        values["global"]["extra"] = "a new generated value"
        return values

    monkeypatch.setattr(release_values, "generated_values", with_another_annotation)
    after = _digests(repo, "there")
    assert after["there/staging"] != before["there/staging"]  # a hub with a domain gets the generated layer
    assert after["there/support"] == before["there/support"]  # the support stack's layer is the cluster name only


def test_comments_and_key_order_count_for_nothing_but_a_value_does(repo):
    values = repo / "config" / "clusters" / "there" / "staging.values.yaml"
    before = _digests(repo, "there")["there/staging"]
    values.write_text("# a comment\njupyterhub:\n    custom: {name: staging}\n")
    assert _digests(repo, "there")["there/staging"] == before
    values.write_text("jupyterhub:\n  custom:\n    name: production\n")
    assert _digests(repo, "there")["there/staging"] != before


def test_a_secret_counts_by_its_ciphertext_and_is_never_decrypted(repo, monkeypatch):
    folder = repo / "config" / "clusters" / "there"
    text = (folder / "cluster.yaml").read_text().replace("  - staging.values.yaml",
                                                          "  - staging.values.yaml\n  - enc-staging.secret.values.yaml")
    (folder / "cluster.yaml").write_text(text)
    secret = folder / "enc-staging.secret.values.yaml"
    secret.write_text(encrypted_yaml("jupyterhub:\n  password: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"))

    def no_sops(*a, **kw):
        raise AssertionError("the digest decrypted a secret")

    monkeypatch.setattr("deployer.adapters.sops.Sops.decrypt_data", no_sops)
    before = _digests(repo, "there")["there/staging"]
    secret.write_text(encrypted_yaml("jupyterhub:\n  password: ENC[AES256_GCM,data:BBBB,iv:AAAA,tag:AAAA,type:str]\n"))
    assert _digests(repo, "there")["there/staging"] != before


def test_the_chart_the_kubernetes_version_and_deployers_version_are_inputs(repo, tmp_path):
    before = _digests(repo, "there")
    assert _digests(repo, "there", version="9.9.9") != before
    cluster_yaml = repo / "config" / "clusters" / "there" / "cluster.yaml"
    cluster_yaml.write_text("kubernetes_version: '1.31'\n" + cluster_yaml.read_text())
    newer = _digests(repo, "there")
    assert newer["there/staging"] != before["there/staging"]
    # a chart of the repository's own, edited: every release of it changes
    shutil.copytree(REPO / "helm-charts" / "basehub", repo / "helm-charts" / "basehub")
    ours = _digests(repo, "there")
    template = repo / "helm-charts" / "basehub" / "values.yaml"
    template.write_text(template.read_text() + "\n# a comment in the chart is content too\n")
    assert _digests(repo, "there")["there/staging"] != ours["there/staging"]
    assert _digests(repo, "there")["there/support"] == ours["there/support"]


def test_a_dependency_counts_by_name_version_and_repository_the_same_with_or_without_a_chart_repository(repo, tmp_path):
    """status and plan-upgrade --against cluster compute deploy's digest without its --chart-repo."""
    before = _digests(repo, "there")
    shutil.copytree(REPO / "helm-charts" / "basehub", repo / "helm-charts" / "basehub")
    assert _digests(repo, "there") == before  # the same chart, now the repository's own copy: the same content
    chart_yaml = repo / "helm-charts" / "basehub" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace('version: "4.3.3"', 'version: "4.3.4"'))
    assert _digests(repo, "there")["there/staging"] != before["there/staging"]


def test_a_plans_job_digest_is_the_one_a_deploy_of_head_records(repo):
    """plan-upgrade's jobs carry the ledger's digest, so a plan and a cluster's records compare."""
    from deployer.run.plan_upgrade import plan_changed_files

    plan = plan_changed_files(repo, ["config/clusters/there/staging.values.yaml"], cwd=repo)
    [job] = plan.staging_jobs
    assert job.id == "there/staging" and job.digest == _digests(repo, "there")["there/staging"]
