"""The support chart with the real cert-manager v1.17.2 CRDs installs on a Kubernetes 1.34 API
server, and a hub's Ingress is admitted while no ingress controller runs (issue 12, defect 4: the
retired ingress-nginx's admission webhook refused them; F5's nginx-ingress, which replaced it, has none).

An API-server-only cluster of deployer's own (`local up --api-only`: etcd + Kubernetes 1.34, no
kubelet, so no pod ever runs); helm installs with --no-hooks, since hook Jobs would wait for pods.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deployer.adapters.charts import helm_home_env, prepare_chart
from deployer.adapters.process import ProcessRunner
from tests.conftest import REPO, require_chart_repo, require_tool

pytestmark = pytest.mark.e2e

@pytest.fixture
def api_server_134(scratch_cluster) -> Iterator[Path]:
    """kubeconfig of a fresh API-server-only Kubernetes 1.34 (deployer's own, `local up --api-only`)."""
    result = scratch_cluster.up()
    assert result.status.healthy, result.status
    yield Path(result.status.kubeconfig)


def test_support_installs_the_real_cert_manager_crds_and_hub_ingresses_are_admitted(api_server_134, tmp_path):
    helm = require_tool("helm")
    runner = ProcessRunner()
    support = prepare_chart(REPO / "helm-charts" / "support", work_dir=tmp_path / "charts",
                            chart_repo=require_chart_repo(), runner=runner, helm=helm)
    env = helm_home_env(tmp_path / "charts")
    kube = ["--kubeconfig", str(api_server_134)]
    result = runner.run([helm, "upgrade", "--install", "support", support.path, "--namespace", "support",
                         "--create-namespace", "--no-hooks", "--timeout", "120s", *kube], timeout=240, env=env)
    assert result.ok, result.stderr

    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(api_server_134))
    try:
        crds = {c.metadata.name for c in client.ApiextensionsV1Api(api).list_custom_resource_definition().items}
        assert {"certificates.cert-manager.io", "clusterissuers.cert-manager.io", "issuers.cert-manager.io",
                "certificaterequests.cert-manager.io", "orders.acme.cert-manager.io",
                "challenges.acme.cert-manager.io"} <= crds
        # a hub's Ingress, while no ingress controller runs: no admission webhook stands in the way
        webhooks = client.AdmissionregistrationV1Api(api).list_validating_webhook_configuration().items
        assert not [w.metadata.name for w in webhooks if "ingress" in w.metadata.name]
        ingress = yaml.safe_load("""
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: jupyterhub, namespace: default}
            spec:
              ingressClassName: nginx
              rules:
                - host: staging.hub.example.org
                  http:
                    paths:
                      - {path: /, pathType: Prefix, backend: {service: {name: proxy-public, port: {name: http}}}}
        """)
        created = client.NetworkingV1Api(api).create_namespaced_ingress("default", ingress)
        assert created.metadata.name == "jupyterhub"
    finally:
        api.close()
