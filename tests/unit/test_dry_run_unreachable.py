"""`deploy --dry-run` against a cluster that does not answer: the release renders, and the
server-side dry run is reported as skipped, not the release as failed (the real helm, a
kubeconfig pointing at a closed port)."""

from __future__ import annotations

import asyncio

import yaml

from deployer.adapters.helm import ChartSource, Helm
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.run.engine import StepContext, StepResult
from deployer.run.release import DeployOptions, ReleaseDeployer, ReleaseSpec
from tests.conftest import require_tool


def test_dry_run_against_an_unreachable_cluster_says_the_server_dry_run_was_skipped(tmp_path):
    helm_binary = require_tool("helm")
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tiny\n")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    kubeconfig.chmod(0o600)
    runner = ProcessRunner()
    helm = Helm(helm_binary, kubeconfig, runner, env={"HELM_CACHE_HOME": str(tmp_path / "c"),
                                                     "HELM_CONFIG_HOME": str(tmp_path / "cfg"),
                                                     "HELM_DATA_HOME": str(tmp_path / "d")})
    release = ReleaseDeployer(helm, Sops(runner), runner, helm_binary, DeployOptions(dry_run=True))
    spec = ReleaseSpec("c/tiny", "tiny", "tiny", "c", "tiny", chart, ())
    ctx = StepContext(StepResult("c/tiny", "tiny", "c"), lambda r: None)
    details: dict = {}

    outcome = asyncio.run(release._dry_run(spec, ChartSource.folder(chart), {}, details, ctx))

    assert outcome.message == "renders 1 objects; cluster not reachable, server dry run skipped"
    assert details["server_dry_run"].startswith("skipped: cluster unreachable: helm history tiny failed: ")
    assert details["rendered"] == {"ConfigMap": 1}
