"""helm's failures are classified once, in the helm adapter, into typed errors; deploy and diff
branch on the types. Samples: helm 3.17.3's own stderr (tests/unit/data/helm_stderr/README.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deployer.adapters.helm import (
    AnotherOperationInProgress,
    ChartRenderFailed,
    ChartSchemaRejected,
    ClusterUnreachable,
    Helm,
    HelmError,
    ObjectsRejected,
    ReleaseNotFound,
    ReleaseTimeout,
    Revision,
    helm_error,
)
from deployer.adapters.process import Completed, ProcessRunner

SAMPLES = Path(__file__).parents[1] / "data" / "helm_stderr"


def sample(name: str) -> str:
    return (SAMPLES / f"{name}.txt").read_text()


@pytest.mark.parametrize("name,cls,message", [
    ("unreachable", ClusterUnreachable, 'cluster unreachable: helm upgrade --install r failed: Kubernetes cluster '
     'unreachable: Get "https://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: connection refused'),
    ("connection-dropped", ClusterUnreachable, 'cluster unreachable: helm upgrade --install r failed: create: failed '
     'to create: Post "http://127.0.0.1:18087/api/v1/namespaces/ns/secrets": EOF'),
    ("release-not-found", ReleaseNotFound, "helm upgrade --install r failed: release: not found"),
    ("another-operation", AnotherOperationInProgress, "helm upgrade --install r failed: UPGRADE FAILED: another "
     "operation (install/upgrade/rollback) is in progress"),
    ("object-invalid", ObjectsRejected, 'helm upgrade --install r failed: ConfigMap "demo" is invalid: '
     'metadata.labels: Invalid value: "bad value!": a valid label must be an empty string or consist of alphanumeric '
     'characters'),
    ("wait-timeout", ReleaseTimeout, "helm upgrade --install r failed: context deadline exceeded"),
    ("values-schema", ChartSchemaRejected, "helm upgrade --install r failed: values don't meet the specifications of "
     "the schema(s) in the following chart(s): demo: - replicas: Invalid type. Expected: integer, given: string"),
    ("template-required", ChartRenderFailed, "helm upgrade --install r failed: execution error at "
     "(demo/templates/cm.yaml:6:11): name is required"),
    ("openapi-unavailable", HelmError, 'helm upgrade --install r failed: unable to build kubernetes objects from '
     'release manifest: error validating "": error validating data: failed to download openapi: the server could '
     'not find the requested resource'),
])
def test_each_real_helm_failure_becomes_its_own_typed_error(name, cls, message):
    error = helm_error("upgrade --install r", sample(name).strip())
    assert type(error) is cls
    assert error.message == message
    assert error.detail == sample(name).strip()


def test_a_schema_rejection_is_a_render_failure_with_the_render_hint():
    error = helm_error("template r", sample("values-schema").strip())
    assert isinstance(error, ChartRenderFailed)
    assert error.hint == "the chart could not render with these values: check the values files named above"
    assert error.kind == "render"


class OneAnswer(ProcessRunner):
    """helm's answer to every call: exit 1 with `stderr` (or success with `stdout`)."""

    def __init__(self, stderr: str = "", stdout: str = "") -> None:
        super().__init__()
        self.stderr, self.stdout, self.calls = stderr, stdout, []

    async def run_async(self, args, **kwargs):
        self.calls.append(list(args))
        return Completed(tuple(args), 1 if self.stderr else 0, self.stdout, self.stderr, 0.0)


def _helm(runner: ProcessRunner) -> Helm:
    return Helm(Path("/bin/helm"), None, runner)


def test_the_adapter_raises_the_typed_error_keeping_helms_error_as_its_cause():
    with pytest.raises(AnotherOperationInProgress) as err:
        asyncio.run(_helm(OneAnswer(sample("another-operation"))).upgrade_install(
            "r", _chart(), {}, namespace="ns", timeout=5))
    from pyhelm3 import errors as herr

    assert isinstance(err.value.__cause__, herr.Error)
    with pytest.raises(ReleaseNotFound):
        asyncio.run(_helm(OneAnswer(sample("release-not-found"))).manifest("r", "ns"))


def test_history_of_a_release_that_does_not_exist_is_empty_and_of_an_unreachable_cluster_an_error():
    assert asyncio.run(_helm(OneAnswer(sample("release-not-found"))).history("r", "ns")) == []
    with pytest.raises(ClusterUnreachable) as err:
        asyncio.run(_helm(OneAnswer(sample("unreachable"))).history("r", "ns"))
    assert err.value.message.startswith("cluster unreachable: helm history r failed: Kubernetes cluster unreachable")


def test_real_helm_against_an_api_server_that_does_not_answer_is_cluster_unreachable(tmp_path):
    from tests.conftest import require_tool
    from deployer.toolchain import find_tool

    require_tool("helm")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n"
        "users:\n- name: u\n  user: {token: abc}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\n"
        "current-context: c\n")
    helm = Helm(find_tool("helm"), kubeconfig, ProcessRunner(), env={"HELM_CACHE_HOME": str(tmp_path / "cache"),
                                                                   "HELM_CONFIG_HOME": str(tmp_path / "config"),
                                                                   "HELM_DATA_HOME": str(tmp_path / "data")})
    with pytest.raises(ClusterUnreachable) as err:
        asyncio.run(helm.history("r", "ns", timeout=60))
    assert err.value.detail == sample("unreachable").strip()
    with pytest.raises(ClusterUnreachable):
        asyncio.run(helm.manifest("r", "ns", timeout=60))


def _chart():
    from deployer.adapters.helm import ChartSource

    return ChartSource.folder(Path("/charts/demo"))


# --- deploy and diff branch on the types -------------------------------------------------------


class StuckHelm:
    """A release left pending-upgrade by a killed helm: the first upgrade is refused."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def upgrade_install(self, release, chart, values, **kw):
        self.calls.append("upgrade")
        if self.calls.count("upgrade") == 1:
            raise helm_error(f"upgrade --install {release}", sample("another-operation").strip())
        return {"version": 4, "info": {"status": "deployed"}, "chart": {"metadata": {"version": "1.0.0"}}}

    async def history(self, release, namespace, timeout=60):
        self.calls.append("history")
        return [Revision(1, "superseded", "demo-1.0.0", "", "", ""), Revision(2, "deployed", "demo-1.0.0", "", "", ""),
                Revision(3, "pending-upgrade", "demo-1.0.0", "", "", "")]

    async def rollback(self, release, revision, **kw):
        self.calls.append(f"rollback {revision}")


def test_deploy_recovers_a_release_another_operation_left_pending_then_upgrades():
    from deployer.plan.release_spec import ReleaseSpec
    from deployer.run.engine import StepContext, StepResult
    from deployer.run.release import DeployOptions, ReleaseDeployer

    helm = StuckHelm()
    from deployer.render.inputs import ReadyRelease

    deployer = ReleaseDeployer(helm, DeployOptions())  # type: ignore[arg-type]
    from deployer.config.models import RemoteChart

    spec = ReleaseSpec("c/h", "h", "h", "c", RemoteChart(name="demo", repository="https://charts.example.org/",
                                                          version="1.0.0"), None, ())
    ready = ReadyRelease(spec, None, {})  # a remote chart: nothing to prepare
    outcome = asyncio.run(deployer.deploy(ready, StepContext(StepResult("c/h", "c/h", ""), lambda r: None)))
    assert helm.calls == ["upgrade", "history", "rollback 2", "upgrade"]
    assert outcome.message == ("recovered from pending-upgrade (revision 3) by rolling back to revision 2; "
                               "revision 4 deployed")


def test_diff_treats_only_a_missing_release_as_not_installed():
    from deployer.run.diff import _live

    class Manifest:
        def __init__(self, name: str) -> None:
            self.name = name

        async def manifest(self, release, namespace, timeout=60):
            raise helm_error(f"get manifest {release}", sample(self.name).strip())

    assert asyncio.run(_live(Manifest("release-not-found"), "r", "ns")) is None  # type: ignore[arg-type]
    with pytest.raises(ClusterUnreachable):
        asyncio.run(_live(Manifest("unreachable"), "r", "ns"))  # type: ignore[arg-type]


def test_a_chart_fail_message_that_starts_with_a_newline_is_kept(tmp_path):
    """`{{ fail "\\nthe reason" }}`: helm puts the message on the lines after 'execution error at (...):'
    (the real helm, a chart of our own)."""
    from tests.conftest import require_tool

    helm_binary = require_tool("helm")
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "templates" / "x.yaml").write_text('{{ fail "\\nsingleuser.image is required\\nset it in values" }}\n')
    done = ProcessRunner().run([helm_binary, "template", "r", chart], timeout=60)
    assert not done.ok, done.stdout
    error = helm_error("template r", done.stderr)
    assert isinstance(error, ChartRenderFailed)
    assert error.message == ("helm template r failed: execution error at (c/templates/x.yaml:1:3): "
                             "singleuser.image is required; set it in values")


def test_render_keeps_a_chart_fail_message_that_starts_with_a_newline(tmp_path):
    from deployer.render.helm_output import helm_problem
    from deployer.run.release import ReleaseSpec
    from tests.conftest import require_tool

    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "templates" / "x.yaml").write_text('{{ fail "\\nsingleuser.image is required" }}\n')
    done = ProcessRunner().run([require_tool("helm"), "template", "r", chart], timeout=60)
    problem = helm_problem("c/r", done.stderr, ReleaseSpec("c/r", "r", "r", "c", "c", chart, ()))
    assert problem.message == "execution error at (c/templates/x.yaml:1:3): singleuser.image is required"
    assert problem.file == "c/templates/x.yaml:1"
