"""A first install is rendered again against the cluster and, when the chart rendered other
checksums of the values it generated at install, applied once more: a `diff` right after a deploy
is clean (deployer.run.release.ReleaseDeployer._settle; proven on the real jupyterhub chart in
tests/e2e/test_status_diff_rollback.py)."""

from __future__ import annotations

import asyncio

from deployer.adapters.helm import ChartSource, HelmError
from deployer.run.engine import StepContext, StepResult
from deployer.run.release import DeployOptions, ReleaseDeployer, ReleaseSpec

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hub"}, "data": {"token": "a2VwdA=="}}


def proxy(checksum: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "proxy"},
            "spec": {"template": {"metadata": {"annotations": {"checksum/auth-token": checksum}}}}}


class FakeHelm:
    def __init__(self, installed: list[dict], rendered: list[dict], fail: str = "") -> None:
        self.installed, self.rendered, self.fail = installed, rendered, fail
        self.upgrades = 0

    async def render(self, release, chart, values, *, namespace, timeout=120):
        if self.fail == "render":
            raise HelmError("helm upgrade hub failed: cluster unreachable")
        return self.rendered

    async def manifest(self, release, namespace, timeout=60):
        return self.installed

    async def upgrade_install(self, release, chart, values, **kw):
        self.upgrades += 1
        if self.fail == "upgrade":
            raise HelmError("helm upgrade hub failed: context deadline exceeded")
        return {"version": 2, "info": {"status": "deployed"}}


def settle(helm: FakeHelm) -> tuple[dict, dict]:
    deployer = ReleaseDeployer(helm, DeployOptions())  # type: ignore[arg-type]
    spec = ReleaseSpec("c/hub", "hub", "hub", "c", "basehub", None, ())
    ctx = StepContext(StepResult("c/hub", "c/hub", ""), lambda r: None)
    details: dict = {}
    installed = {"version": 1, "info": {"status": "deployed"}}
    return asyncio.run(deployer._settle(spec, ChartSource.folder("/x"), {}, installed, details, ctx)), details


def test_a_chart_that_rendered_other_checksums_of_its_generated_values_is_applied_once_more():
    helm = FakeHelm([SECRET, proxy("1a2b")], [SECRET, proxy("9f8e")])
    result, details = settle(helm)
    assert (result["version"], helm.upgrades) == (2, 1)
    assert details["settled"] == ["Deployment hub/proxy"]


def test_a_chart_that_renders_the_same_again_is_left_at_its_first_revision():
    helm = FakeHelm([SECRET, proxy("1a2b")], [proxy("1a2b"), SECRET])
    result, details = settle(helm)
    assert (result["version"], helm.upgrades, details) == (1, 0, {})


def test_a_settling_step_that_cannot_run_keeps_the_successful_install_and_says_so():
    result, details = settle(FakeHelm([SECRET], [proxy("x")], fail="render"))
    assert result["version"] == 1
    assert details["settled"] == "not checked: helm upgrade hub failed: cluster unreachable"
    helm = FakeHelm([SECRET], [SECRET, proxy("x")], fail="upgrade")
    result, details = settle(helm)
    assert (result["version"], helm.upgrades) == (1, 1)
    assert details["settled"] == "failed: helm upgrade hub failed: context deadline exceeded"
