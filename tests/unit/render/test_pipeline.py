"""One script of stages (render/pipeline.py) for render and deploy: each stage runs once per release,
each values file is read (each secret decrypted) once per cluster, each chart prepared once per
release, `helm template` once per release; deploy drops the unchanged releases before any of it.
Real helm, charts and sops; for deploy the cluster (its ledger, helm upgrade) is a stand-in."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.render import pipeline
from deployer.render.pipeline import DIGEST, FLEET, PLANS, READY, RENDER, SPECS, StageCounts
from tests.conftest import require_chart_repo, require_tool
from tests.repo_builder import make_cluster

HUBS = ["staging", "prod", "extra"]


class CountingRunner(ProcessRunner):
    """The real runner, counting `helm template` and `sops decrypt` calls per file or release."""

    def __init__(self) -> None:
        super().__init__()
        self.templates: list[str] = []
        self.decrypts: list[str] = []

    def run(self, args, **kwargs):
        words = [str(a) for a in args]
        if len(words) > 2 and words[1] == "template":
            self.templates.append(words[2])
        if "decrypt" in words:
            self.decrypts.append(Path(words[-1]).name)
        return super().run(args, **kwargs)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """One cluster of three hubs; each hub has its own values file, and all share a plain file and an
    encrypted one (real sops and age)."""
    keygen, sops = require_tool("age-keygen"), require_tool("sops")
    key = tmp_path / "key.txt"
    subprocess.run([str(keygen), "-o", str(key)], check=True, capture_output=True, timeout=30)
    recipient = next(line.split(": ")[1] for line in key.read_text().splitlines() if "public key" in line)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    root = tmp_path / "repo"
    folder = make_cluster(root, "c", HUBS)
    text = (folder / "cluster.yaml").read_text()
    for hub in HUBS:
        text = text.replace(f"  - {hub}.values.yaml\n",
                            f"  - common.values.yaml\n  - {hub}.values.yaml\n  - enc-common.secret.values.yaml\n")
    (folder / "cluster.yaml").write_text(text)
    (folder / "common.values.yaml").write_text("jupyterhub:\n  custom:\n    shared: true\n")
    enc = folder / "enc-common.secret.values.yaml"
    enc.write_text("jupyterhub:\n  custom:\n    token: S3cr3t-CANARY-pipeline\n")
    subprocess.run([str(sops), "--disable-version-check", "encrypt", "--age", recipient, "--in-place", str(enc)],
                   check=True, capture_output=True, timeout=60)
    return root


@pytest.fixture
def planned(monkeypatch):
    """Every value plan made (plan/value_layers.py::value_plan), by release id."""
    from deployer.plan import value_layers as release_values

    made: list[str] = []
    real = release_values.value_plan

    def value_plan(spec, *args, **kwargs):
        made.append(spec.id)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(release_values, "value_plan", value_plan)
    return made


@pytest.fixture
def prepared(monkeypatch):
    made: list[str] = []
    real = pipeline.prepare_release_chart

    def prepare(spec, *args, **kwargs):
        made.append(spec.id)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(pipeline, "prepare_release_chart", prepare)
    return made


def test_render_runs_each_stage_once_per_release_and_reads_each_file_once(repo, prepared, planned, tmp_path):
    from deployer.render.renderer import RenderOptions

    runner, counts = CountingRunner(), StageCounts()
    options = RenderOptions(work_dir=tmp_path / "charts", chart_repo=require_chart_repo(), schemas=False)
    report = pipeline.render_fleet(repo, "c", None, options, runner, require_tool("helm"), counts)
    ids = ["c/extra", "c/prod", "c/staging", "c/support"]
    assert [r.id for c in report.clusters for r in c.releases] == ["c/support", "c/staging", "c/prod", "c/extra"]
    assert report.errors == [], [(p.where, p.message) for p in report.errors]
    for stage in (SPECS, PLANS, READY, RENDER, FLEET):
        assert counts.releases(stage) == dict.fromkeys(ids, 1), stage
    assert counts.releases(DIGEST) == {}  # render keeps no ledger
    assert sorted(prepared) == sorted(planned) == ids
    assert sorted(runner.templates) == ["extra", "prod", "staging", "support"]
    assert runner.decrypts == ["enc-common.secret.values.yaml"]  # the shared secret: once for three hubs


def _deploy(repo: Path, tmp_path: Path, monkeypatch, recorded: dict[str, str], force: bool = False):
    """deploy of the cluster's hubs against a stand-in cluster whose ledger holds `recorded`
    (release id -> digest); returns (report, request, runner, deployed ids)."""
    from deployer.plan.ledger import ReleaseState, Source, record_labels
    from deployer.run import deploy as deploy_module
    from deployer.run.cluster_ledger import ClusterLedger
    from deployer.run.deploy import DeployRequest
    from deployer.run.engine import Outcome
    from deployer.run.release import DeployOptions

    version = __import__("deployer").__version__
    states = {(rid.split("/")[1],) * 2: ReleaseState(rid.split("/")[1], rid.split("/")[1], 3, "deployed",
                                                    record_labels(d, Source(None), version, 3, "c"))
              for rid, d in recorded.items()}

    @contextlib.contextmanager
    def open_cluster(root, cluster, runner, work_dir=None, **kwargs):
        yield SimpleNamespace(access=SimpleNamespace(description="a stand-in", kubeconfig=tmp_path / "kc",
                                                     context=None, env={}), helm=None)

    deployed: list[str] = []

    class Deployer:
        def __init__(self, *args, **kwargs):
            self.labels: dict[str, dict] = {}

        async def deploy(self, ready, ctx):
            assert ready.values["jupyterhub"]["custom"]["token"] == "S3cr3t-CANARY-pipeline"
            deployed.append(ready.spec.id)
            return Outcome("revision 4 deployed", {"revision": 4})

    monkeypatch.setattr(deploy_module, "open_cluster", open_cluster)
    monkeypatch.setattr(deploy_module, "read_ledger", lambda access, runner: ClusterLedger(states))
    monkeypatch.setattr(deploy_module, "ReleaseDeployer", Deployer)
    monkeypatch.setattr(deploy_module, "_local_images", lambda *a, **k: None)
    runner = CountingRunner()
    request = DeployRequest(repo, "c", concurrency=2, force=force, annotate=False,
                            options=DeployOptions(work_dir=tmp_path / "charts", chart_repo=require_chart_repo()))
    report = deploy_module.deploy(request, runner, lambda result: None)
    return report, request, runner, deployed


def _digests(repo: Path) -> dict[str, str]:
    from deployer.checks.validate import load_valid_cluster
    from deployer.plan.deploy_order import plan_hubs

    cluster = load_valid_cluster(repo, "c").model
    specs = pipeline.spec_stage(repo, {"c": cluster}, plan_hubs(cluster, None))
    return pipeline.digest_stage(specs, {"c": cluster}, repo)


def test_deploy_of_one_changed_hub_reads_decrypts_prepares_and_renders_only_that_hub(repo, prepared, planned,
                                                                                         tmp_path, monkeypatch):
    digests = _digests(repo)
    planned.clear()
    recorded = {**digests, "c/prod": "0" * 64}  # prod changed since its record
    report, request, runner, deployed = _deploy(repo, tmp_path, monkeypatch, recorded)
    assert report.ok and {r.id: r.state.value for r in report.results} == {
        "c/staging": "unchanged", "c/prod": "succeeded", "c/extra": "unchanged"}
    counts = request.counts
    assert counts.releases(SPECS) == counts.releases(PLANS) == counts.releases(DIGEST) == dict.fromkeys(
        ["c/extra", "c/prod", "c/staging"], 1)
    for stage in (READY, RENDER, FLEET):
        assert counts.releases(stage) == {"c/prod": 1}, stage
    assert prepared == ["c/prod"] and deployed == ["c/prod"]
    assert sorted(planned) == ["c/extra", "c/prod", "c/staging"]  # each value plan made once, for digest and values
    assert counts.summary() == (
        "stages, releases each ran for: specs 3, value plans 3, digest 3, ready 1, render 1, fleet checks 1")
    assert runner.templates == ["prod"]  # the fleet check rendered the one release deployed
    assert runner.decrypts == ["enc-common.secret.values.yaml"]


def test_a_no_op_deploy_prepares_decrypts_and_renders_nothing_and_force_deploys_each_once(repo, prepared, tmp_path,
                                                                                           monkeypatch):
    digests = _digests(repo)
    report, request, runner, deployed = _deploy(repo, tmp_path, monkeypatch, digests)
    assert report.ok and {r.state.value for r in report.results} == {"unchanged"}
    assert (prepared, deployed, runner.templates, runner.decrypts) == ([], [], [], [])
    assert request.counts.releases(READY) == {}

    report, request, runner, deployed = _deploy(repo, tmp_path, monkeypatch, digests, force=True)
    assert report.ok and sorted(deployed) == ["c/extra", "c/prod", "c/staging"]
    for stage in (READY, RENDER, FLEET):
        assert request.counts.releases(stage) == dict.fromkeys(["c/extra", "c/prod", "c/staging"], 1), stage
    assert sorted(runner.templates) == ["extra", "prod", "staging"]
    assert runner.decrypts == ["enc-common.secret.values.yaml"]
    assert json.dumps(report.to_json()).count("deployed anyway (--force)") == 3


def test_the_ready_stage_makes_each_release_ready_once_and_keeps_one_releases_error_to_itself(tmp_path):
    from deployer.adapters.process import ProcessRunner
    from deployer.plan.release_spec import ReleaseSpec
    from deployer.render.inputs import ChartOptions, ReadyRelease, ValuesReader
    from deployer.render.pipeline import NotReady, ready_stage

    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    common = tmp_path / "common.values.yaml"
    common.write_text("a: 1\n")
    (tmp_path / "good.values.yaml").write_text("b: 2\n")
    specs = [ReleaseSpec("c/good", "good", "good", "c", "tiny", chart, (common, tmp_path / "good.values.yaml"), hub="good"),
             ReleaseSpec("c/bad", "bad", "bad", "c", "tiny", chart, (common, tmp_path / "missing.values.yaml"), hub="bad")]
    reader = ValuesReader(None)
    ready = ready_stage(specs, {"c": reader}, ChartOptions(tmp_path / "work"), ProcessRunner(), Path("helm"), 4)
    assert isinstance(ready["c/good"], ReadyRelease)
    assert (ready["c/good"].values["a"], ready["c/good"].values["b"]) == (1, 2)
    assert isinstance(ready["c/bad"], NotReady) and ready["c/bad"].phase == "values"
    assert ready["c/bad"].error.message == "missing.values.yaml: cannot read: No such file or directory"
    assert reader.reads.count(common) == 1  # the file both releases layer: read once
