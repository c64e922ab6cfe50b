"""Three hubs of the outside team's fleet (../shared/corpus), of three shapes, deployed with
`deploy --dry-run` against a real Kubernetes 1.34 API server (`local up --api-only`: etcd and the
control plane, no node): helm's server-side dry run, then the API server's own dry run of every object.

- `staging` of cluster 2i2c: basehub, home directories on NFS from the in-cluster NFS server;
- `binder` of cluster earthscope: basehub with a BinderHub beside the hub;
- `prod` of cluster nasa-veda: daskhub (a Dask Gateway, a BinderHub, NFS homes).

Their plain values files are taken as they are; their sops files are encrypted for the team's keys,
which these machines do not have, so they are left out (what they hold is credentials). The cluster is
a `kubeconfig` cluster whose kubeconfig, sops-encrypted here, points at the API server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import output_json, require_chart_repo, require_corpus
from tests.e2e.operate_repo import encrypt, make_age_key

pytestmark = pytest.mark.e2e

HUBS = {  # our hub name -> (corpus cluster, corpus hub)
    "staging": ("2i2c", "staging"),
    "binder": ("earthscope", "binder"),
    "prod": ("nasa-veda", "prod"),
}


def corpus_hub(corpus: Path, cluster: str, hub: str) -> dict:
    spec = yaml.safe_load((corpus / "config" / "clusters" / cluster / "cluster.yaml").read_text())
    return next(h for h in spec["hubs"] if h["name"] == hub)


@pytest.fixture
def api_server(scratch_cluster) -> Path:
    result = scratch_cluster.up()
    assert result.status.healthy, result.status
    return Path(result.status.kubeconfig)


def test_three_corpus_hubs_of_different_shapes_pass_the_api_servers_dry_run(api_server, tmp_path):
    corpus = require_corpus()
    key, recipient = make_age_key(tmp_path)
    root = tmp_path / "repo"
    folder = root / "config" / "clusters" / "corpus"
    folder.mkdir(parents=True)
    creds = folder / "enc-deployer-credentials.secret.yaml"
    creds.write_text(api_server.read_text())
    encrypt(creds, recipient)
    hubs = []
    for name, (cluster, hub) in HUBS.items():
        spec = corpus_hub(corpus, cluster, hub)
        files = []
        for f in spec["helm_chart_values_files"]:
            if "secret" in f:
                continue
            shutil.copy(corpus / "config" / "clusters" / cluster / f, folder / f"{cluster}-{f}")
            files.append(f"{cluster}-{f}")
        hubs.append({"name": name, "domain": spec["domain"], "helm_chart": spec["helm_chart"],
                     "helm_chart_values_files": files})
    (folder / "cluster.yaml").write_text(yaml.safe_dump({
        "name": "corpus", "provider": "kubeconfig",
        "kubeconfig": {"file": creds.name}, "hubs": hubs}, sort_keys=False))

    env = {"SOPS_AGE_KEY_FILE": str(key), "DEPLOYER_STATE_DIR": str(tmp_path / "state")}
    run = [sys.executable, "-m", "deployer", "--root", str(root)]
    import os

    validate = subprocess.run([*run, "validate"], capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert validate.returncode == 0, validate.stdout + validate.stderr
    proc = subprocess.run([*run, "deploy", "corpus", "--dry-run", "--chart-repo", str(require_chart_repo()),
                           "--output", "json"], capture_output=True, text=True, timeout=900, env={**os.environ, **env})
    assert "Traceback" not in proc.stderr
    report = output_json(proc, (0, 1))  # 1: a release failed, named below with its reason
    steps = {s["id"].split("/", 1)[1]: s for s in report["steps"]}
    assert proc.returncode == 0, json.dumps({k: (s["state"], s.get("message"), s.get("details", {}).get(
        "server_dry_run_problems")) for k, s in steps.items()}, indent=1)
    for name in HUBS:
        step = steps[name]
        assert step["state"] == "succeeded", step
        assert "API server did not validate" not in step["message"], step["message"]
        assert "server dry run skipped" not in step["message"], step["message"]
    rendered = {name: steps[name]["details"]["rendered"] for name in HUBS}
    assert rendered["staging"]["PersistentVolume"] >= 1 and "Deployment" in rendered["staging"]
    assert rendered["binder"]["DaemonSet"] >= 1 and rendered["binder"]["Role"] >= 1  # BinderHub's docker-api, its Role
    assert rendered["prod"]["ClusterRole"] == 3  # the Dask Gateway's, named after the release
    # the gateway's traefik routes: its chart brings their CRD, which a dry run does not install
    assert "IngressRoute" in steps["prod"]["details"]["unchecked_kinds"]
