"""`deploy --dry-run` against a cluster that does not answer (the real helm, a kubeconfig pointing
at a closed port): the objects are checked offline against the Kubernetes API schemas as `render`
checks them (quantities too), and a dry run that could not reach the server says so and fails:
it never passes as if it had checked."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading

import pytest
import yaml

from deployer.adapters.helm import ChartSource, Helm
from deployer.adapters.process import ProcessRunner
from deployer.render.kube_schema import KubeSchemas, check_objects
from deployer.run.engine import StepContext, StepResult
from deployer.run.release import DeployOptions, ReleaseDeployer, ReleaseFailed, ReleaseSpec
from tests.conftest import require_tool

POD = """apiVersion: v1
kind: Pod
metadata:
  name: tiny
spec:
  hostNetwork: {{ .Values.hostNetwork | toJson }}
  containers:
  - name: c
    image: x
    resources:
      limits:
        memory: {{ .Values.memory | toJson }}
"""


def helm_against(tmp_path, helm_binary, server: str) -> tuple[ProcessRunner, Helm]:
    """The real helm with a kubeconfig (a token user) for `server`, its homes in `tmp_path`."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    kubeconfig.chmod(0o600)
    runner = ProcessRunner()
    return runner, Helm(helm_binary, kubeconfig, runner, env={"HELM_CACHE_HOME": str(tmp_path / "c"),
                                                             "HELM_CONFIG_HOME": str(tmp_path / "cfg"),
                                                             "HELM_DATA_HOME": str(tmp_path / "d")})


def dry_run(tmp_path, values: dict) -> tuple[str, dict]:
    helm_binary = require_tool("helm")
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("hostNetwork: false\nmemory: 1Gi\n")
    (chart / "templates" / "pod.yaml").write_text(POD)
    runner, helm = helm_against(tmp_path, helm_binary, "https://127.0.0.1:1")
    schemas = KubeSchemas("1.34")
    release = ReleaseDeployer(helm, DeployOptions(dry_run=True),
                              check_schemas=lambda docs: check_objects(docs, schemas))
    spec = ReleaseSpec("c/tiny", "tiny", "tiny", "c", "tiny", chart, ())
    ctx = StepContext(StepResult("c/tiny", "tiny", "c"), lambda r: None)
    details: dict = {}
    with pytest.raises(ReleaseFailed) as e:
        asyncio.run(release._dry_run(spec, ChartSource.folder(chart), values, details, ctx))
    return e.value.message, details


def test_a_dry_run_that_could_not_reach_the_cluster_fails_saying_what_was_not_checked(tmp_path):
    message, details = dry_run(tmp_path, {})
    assert message.startswith("renders 1 objects, 1 checked against the Kubernetes API schemas; NOT checked against "
                              "the cluster: the server dry run could not run (cluster unreachable: helm history tiny "
                              "failed: "), message
    assert details["server_dry_run"].startswith("not done: cluster unreachable: ")
    assert details["rendered"] == {"Pod": 1}


def test_a_field_of_the_wrong_type_fails_the_dry_run_before_the_cluster_is_asked(tmp_path):
    message, details = dry_run(tmp_path, {"hostNetwork": "x"})
    assert message == ("the rendered objects do not match the Kubernetes API (1 problem(s)): Pod tiny: "
                       "spec.hostNetwork: 'x' is not of type 'boolean', 'null'")
    assert "server_dry_run" not in details


def test_a_quantity_the_api_server_would_refuse_fails_the_dry_run(tmp_path):
    message, _ = dry_run(tmp_path, {"memory": "abc"})
    assert message == ("the rendered objects do not match the Kubernetes API (1 problem(s)): Pod tiny: "
                       "spec.containers.0.resources.limits.memory: 'abc' is not a Kubernetes quantity "
                       "(e.g. 512Mi, 2Gi, 500m, 1.5)")


class _Forbidding(http.server.BaseHTTPRequestHandler):
    """An API server that says its version, and refuses everything else (an RBAC that grants nothing)."""

    def do_GET(self) -> None:
        if self.path.startswith("/version"):
            code, body = 200, json.dumps({"major": "1", "minor": "34", "gitVersion": "v1.34.4"})
        else:
            code, body = 403, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                                          "code": 403,
                                          "message": "secrets is forbidden: User \"u\" cannot list resource \"secrets\""})
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_POST = do_PUT = do_PATCH = do_GET

    def log_message(self, *args) -> None:
        pass


def test_dry_run_that_helm_refuses_for_another_reason_than_unreachable_fails_the_release_not_the_program(tmp_path):
    """Once, any helm error but "cluster unreachable" in the server dry run ended in a NameError
    (an internal error): the release fails, saying what helm said."""
    helm_binary = require_tool("helm")
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tiny\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidding)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runner, helm = helm_against(tmp_path, helm_binary, f"http://127.0.0.1:{server.server_port}")
        release = ReleaseDeployer(helm, DeployOptions(dry_run=True))
        spec = ReleaseSpec("c/tiny", "tiny", "tiny", "c", "tiny", chart, ())
        ctx = StepContext(StepResult("c/tiny", "tiny", "c"), lambda r: None)
        details: dict = {}

        with pytest.raises(ReleaseFailed) as failed:
            asyncio.run(release._dry_run(spec, ChartSource.folder(chart), {}, details, ctx))
    finally:
        server.shutdown()
    assert failed.value.message.startswith("server-side dry run failed: helm history tiny failed: ")
    assert "secrets is forbidden" in failed.value.message
    assert failed.value.details["rendered"] == {"ConfigMap": 1}
