"""The support chart with the real cert-manager v1.17.2 CRDs installs on a Kubernetes 1.34 API
server, and ingress-nginx's admission webhook does not refuse a hub's Ingress while its controller
is not running (issue 12, defect 4).

An API-server-only cluster (etcd + kube-apiserver 1.34, no kubelet: no pod ever runs) started
here from the binaries the local-node work builds (see /work/wt/STATUS-k8s.md); helm installs
with --no-hooks, since hook Jobs would wait for pods forever.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deployer.adapters.charts import helm_home_env, prepare_chart
from deployer.adapters.process import ProcessRunner
from tests.conftest import REPO, missing, require_chart_repo, require_tool

pytestmark = pytest.mark.e2e

CACHE = Path(os.environ.get("DEPLOYER_CACHE_DIR") or Path.home() / ".cache" / "deployer")
KUBE_BIN = Path(os.environ.get("DEPLOYER_KUBE_134_BIN") or CACHE / "tools" / "kubernetes" / "1.34.4" / "bin")
ETCD_CANDIDATES = [CACHE / "tools" / "etcd" / "3.6.16" / "bin" / "etcd", Path("/work/main/.tools/bin/etcd")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api_server_134(tmp_path_factory) -> Iterator[Path]:
    """kubeconfig of a fresh etcd + kube-apiserver 1.34 on 127.0.0.1."""
    from deployer.local import certs
    from deployer.local.spec import kubeconfig_text

    apiserver = KUBE_BIN / "kube-apiserver"
    etcd = next((e for e in ETCD_CANDIDATES if e.is_file()), None)
    if not apiserver.is_file() or etcd is None:
        missing(f"kube-apiserver 1.34 ({apiserver}) and etcd")
    work = tmp_path_factory.mktemp("api134")
    pki = certs.generate(work / "pki")
    client, peer, api = free_port(), free_port(), free_port()
    logs = (work / "etcd.log").open("w"), (work / "apiserver.log").open("w")
    procs = [subprocess.Popen([
        str(etcd), "--name=api134", f"--data-dir={work / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{client}", f"--advertise-client-urls=http://127.0.0.1:{client}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=api134=http://127.0.0.1:{peer}", "--log-level=warn"], stdout=logs[0], stderr=logs[0])]
    procs.append(subprocess.Popen([
        str(apiserver), f"--etcd-servers=http://127.0.0.1:{client}", "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1", f"--secure-port={api}", f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}", f"--client-ca-file={pki.ca_cert}",
        f"--token-auth-file={pki.tokens}", "--authorization-mode=RBAC",
        f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.96.0.0/16"],
        stdout=logs[1], stderr=logs[1]))
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text(kubeconfig_text(f"https://127.0.0.1:{api}", pki))
    kubeconfig.chmod(0o600)
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                request = urllib.request.Request(f"https://127.0.0.1:{api}/readyz",
                                                 headers={"Authorization": f"Bearer {pki.admin_token}"})
                if urllib.request.urlopen(request, context=context, timeout=3).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise AssertionError("kube-apiserver 1.34 did not become ready: "
                                     + (work / "apiserver.log").read_text()[-2000:])
            time.sleep(0.5)
        yield kubeconfig
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs:
            f.close()


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
        # a hub's Ingress, while no ingress-nginx controller runs: the webhook's failure is ignored
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
