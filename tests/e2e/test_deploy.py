"""`deployer deploy` end to end: the local cluster (real etcd, kube-apiserver, controller-manager, and a
real node: containerd, kubelet, kube-proxy, CoreDNS) running real JupyterHub pods from the images built
here, the real helm and charts, and real sops + age."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import SHARED_CHARTS, output_json, require_tool
from tests.e2e.operate_repo import (BAD_IMAGE, FIRST_REVISION, GOOD_IMAGE, GOOD_TAG, UPGRADE_TAG, delete_namespaces, encrypt,
                                    make_age_key)

SECRET = "planted-s3cret-7f3a9c21e5"
CHART_REPO = SHARED_CHARTS  # the real upstream charts, served to helm as a chart repository
WAIT = "240"  # helm --wait for a real hub pod to start on a loaded two-core machine

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def age_key(tmp_path_factory) -> tuple[Path, str]:
    return make_age_key(tmp_path_factory.mktemp("age"))


def hub_values(name: str, image: str = GOOD_IMAGE, tag: str = GOOD_TAG, crash: bool = False) -> str:
    crash_config = ("    extraConfig:\n      zz-e2e-crash: \"raise SystemExit('e2e: this hub crashes on purpose')\"\n"
                    if crash else "")
    return (f"jupyterhub:\n  hub:\n    image:\n      name: {image}\n      tag: \"{tag}\"\n{crash_config}"
            f"  custom:\n    hubName: {name}\n")


@pytest.fixture
def repo(tmp_path, local_cluster, hub_images, age_key, monkeypatch, api_client):
    """A configuration repository with one local cluster `e2e` and hubs `staging` and `prod`;
    staging has a sops-encrypted values file holding SECRET."""
    key, recipient = age_key
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    root = tmp_path / "repo"
    folder = root / "config" / "clusters" / "e2e"
    folder.mkdir(parents=True)
    state_dir = local_cluster.cluster.layout.root
    suffix = uuid.uuid4().hex[:6]
    (folder / "cluster.yaml").write_text(f"""\
name: e2e
provider: local
local:
  state_dir: {state_dir}
support:
  helm_chart_values_files: [support.values.yaml]
hubs:
- name: staging-{suffix}
  domain: staging-{suffix}.e2e.test
  helm_chart: basehub
  stage: staging
  helm_chart_values_files: [staging.values.yaml, enc-staging.secret.values.yaml]
- name: prod-{suffix}
  domain: prod-{suffix}.e2e.test
  helm_chart: basehub
  stage: prod
  helm_chart_values_files: [prod.values.yaml]
""")
    (folder / "support.values.yaml").write_text("grafana:\n  adminUser: admin\n")
    (folder / "staging.values.yaml").write_text(hub_values("staging"))
    (folder / "prod.values.yaml").write_text(hub_values("prod"))
    secret_file = folder / "enc-staging.secret.values.yaml"
    secret_file.write_text(f"jupyterhub:\n  hub:\n    config:\n      DummyAuthenticator:\n        password: {SECRET}\n")
    encrypt(secret_file, recipient)
    assert SECRET not in secret_file.read_text()
    yield root, folder, f"staging-{suffix}", f"prod-{suffix}"
    delete_namespaces(api_client, [f"staging-{suffix}", f"prod-{suffix}", f"slow-prod-{suffix}"])


def deployer(root: Path, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deployer", "--root", str(root), *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


def report_of(proc: subprocess.CompletedProcess, expect: "int | tuple[int, ...]") -> dict:
    """The run report deploy printed, after its exit code is checked (tests.conftest.output_json)."""
    return output_json(proc, expect)


def steps(report: dict) -> dict[str, dict]:
    return {s["id"].split("/", 1)[1]: s for s in report["steps"]}


def deployment_image(api_client, namespace: str) -> str:
    from kubernetes import client

    apps = client.AppsV1Api(api_client)
    hub = next(d for d in apps.list_namespaced_deployment(namespace).items if d.metadata.labels.get("component") == "hub")
    return hub.spec.template.spec.containers[0].image


def running_hub(api_client, namespace: str, timeout: float = 240) -> tuple[str, str]:
    """(name, image) of the one Ready hub pod, waiting for an old one to go (the hub's strategy is Recreate).
    The image is the pod's own (its spec): the node reports a status image by image ID, and the upgrade
    tag is the same image as the first tag, so the status may name either."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    deadline = time.monotonic() + timeout
    while True:
        pods = [p for p in core.list_namespaced_pod(namespace, label_selector="component=hub").items
                if p.metadata.deletion_timestamp is None]
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        if len(pods) == 1 and ready:
            return ready[0].metadata.name, ready[0].spec.containers[0].image
        assert time.monotonic() < deadline, [(p.metadata.name, p.status.phase) for p in pods]
        time.sleep(1)


def test_deploy_two_hubs_then_upgrade_with_changed_values(repo, api_client):
    root, folder, staging, prod = repo
    proc = deployer(root, "deploy", "e2e", "--chart-repo", str(CHART_REPO), "--timeout", WAIT, "--output", "json")
    report = report_of(proc, 0)
    assert proc.returncode == 0, proc.stderr
    s = steps(report)
    assert s[staging]["state"] == s[prod]["state"] == "succeeded"
    assert s[staging]["details"]["revision"] == s[prod]["details"]["revision"] == FIRST_REVISION
    assert s[staging]["details"]["chart_repository"]  # what came from the local repository is named
    assert f"chart dependencies come from the local chart repository {CHART_REPO.resolve()}" in proc.stderr
    assert deployment_image(api_client, prod) == f"{GOOD_IMAGE}:{GOOD_TAG}"
    first_pod, image = running_hub(api_client, prod)
    assert image == f"{GOOD_IMAGE}:{GOOD_TAG}"

    # a new hub image tag (the same layers under a second tag, imported into the node)
    (folder / "prod.values.yaml").write_text(hub_values("prod", tag=UPGRADE_TAG))
    proc = deployer(root, "deploy", "e2e", prod, "--chart-repo", str(CHART_REPO), "--timeout", WAIT, "--output", "json")
    assert proc.returncode == 0, proc.stderr
    assert steps(report_of(proc, 0))[prod]["details"]["revision"] == FIRST_REVISION + 1
    assert deployment_image(api_client, prod) == f"{GOOD_IMAGE}:{UPGRADE_TAG}"
    new_pod, image = running_hub(api_client, prod)
    assert new_pod != first_pod and image == f"{GOOD_IMAGE}:{UPGRADE_TAG}"  # a new pod, Ready, runs it


def test_secret_reaches_the_cluster_but_no_output_log_error_or_report(repo, api_client, tmp_path):
    from kubernetes import client

    root, folder, staging, prod = repo
    report_file = tmp_path / "report.json"
    # prod fails too (an image not on the node), so error paths are covered as well
    (folder / "prod.values.yaml").write_text(hub_values("prod", image=BAD_IMAGE))
    proc = deployer(root, "--verbose", "deploy", "e2e", "--chart-repo", str(CHART_REPO), "--timeout", "45",
                    "--report-file", str(report_file))
    assert proc.returncode == 1
    secrets = client.CoreV1Api(api_client).list_namespaced_secret(staging).items
    payload = b"".join(base64.b64decode(v) for s in secrets for v in (s.data or {}).values())
    assert SECRET.encode() in payload
    captured = proc.stdout + proc.stderr + report_file.read_text()
    assert SECRET not in captured
    assert "helm" in proc.stderr  # the verbose log did run


def test_breaking_values_fail_and_roll_back_while_the_other_hub_succeeds(repo, api_client):
    """staging's values make the real hub process exit at start: CrashLoopBackOff for real, the reason
    with the container's last log lines, and the automatic rollback brings back a hub that answers."""
    root, folder, staging, prod = repo
    first = deployer(root, "deploy", "e2e", "--chart-repo", str(CHART_REPO), "--timeout", WAIT)
    assert first.returncode == 0, first.stdout + first.stderr
    (folder / "staging.values.yaml").write_text(hub_values("staging", crash=True))
    (folder / "prod.values.yaml").write_text(hub_values("prod", tag=UPGRADE_TAG))
    # both hubs in the same stage here, so the failure of one must not stop the other
    text = (folder / "cluster.yaml").read_text().replace("  stage: prod\n", "  stage: staging\n")
    (folder / "cluster.yaml").write_text(text)
    # long enough for the kubelet to back off after the second crash (CrashLoopBackOff)
    proc = deployer(root, "deploy", "e2e", "--chart-repo", str(CHART_REPO), "--timeout", "90", "--output", "json")
    s = steps(report_of(proc, 1))
    assert proc.returncode == 1
    assert s[staging]["state"] == "failed" and s[staging]["details"]["rolled_back_to"] == FIRST_REVISION
    message = s[staging]["message"]
    assert f"rolled back to revision {FIRST_REVISION}" in message
    assert "container hub keeps crashing (CrashLoopBackOff" in message, message
    assert "last log lines of hub:" in message and "e2e: this hub crashes on purpose" in message, message
    assert s[prod]["state"] == "succeeded" and s[prod]["details"]["revision"] == FIRST_REVISION + 1
    assert deployment_image(api_client, staging) == f"{GOOD_IMAGE}:{GOOD_TAG}"  # the rollback is live
    assert running_hub(api_client, staging)[1] == f"{GOOD_IMAGE}:{GOOD_TAG}"
    health = deployer(root, "health", "e2e", staging, "--output", "json", "--retries", "30", "--interval", "2")
    assert health.returncode == 0, health.stdout + health.stderr  # and it answers again


def test_prod_is_skipped_when_staging_fails(repo):
    root, folder, staging, prod = repo
    (folder / "staging.values.yaml").write_text("jupyterhub:\n  hub:\n    replicas: not-a-number\n")
    proc = deployer(root, "deploy", "e2e", "--chart-repo", str(CHART_REPO), "--timeout", "30", "--output", "json")
    s = steps(report_of(proc, 1))
    assert proc.returncode == 1
    assert s[staging]["state"] == "failed" and s[prod]["state"] == "skipped"
    assert staging in s[prod]["message"]


def test_release_stuck_in_pending_upgrade_is_recovered(repo, local_cluster):
    root, folder, staging, prod = repo
    first = deployer(root, "deploy", "e2e", prod, "--chart-repo", str(CHART_REPO), "--timeout", WAIT)
    assert first.returncode == 0, first.stdout + first.stderr
    helm = require_tool("helm")
    chart = root / ".deployer" / "charts"  # where deploy prepared the charts (the state folder)
    prepared = sorted((p for p in chart.glob("basehub-*/basehub") if (p / "Chart.yaml").is_file()), key=lambda p: p.stat().st_mtime)
    assert prepared, "the first deploy prepared basehub"
    env = {**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig)}
    stuck = subprocess.Popen(
        [str(helm), "upgrade", prod, str(prepared[-1]), "-n", prod, "--wait", "--timeout", "120s",
         "--set", f"jupyterhub.hub.image.name={BAD_IMAGE}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = ""
        while time.monotonic() < deadline:
            out = subprocess.run([str(helm), "history", prod, "-n", prod, "-o", "json"], env=env,
                                 capture_output=True, text=True, timeout=30).stdout
            status = json.loads(out)[-1]["status"] if out.strip().startswith("[") else ""
            if status == "pending-upgrade":
                break
            time.sleep(0.3)
        assert status == "pending-upgrade"
    finally:
        os.killpg(stuck.pid, signal.SIGKILL)
        stuck.wait()
    proc = deployer(root, "deploy", "e2e", prod, "--chart-repo", str(CHART_REPO), "--timeout", WAIT, "--output", "json")
    s = steps(report_of(proc, 0))[prod]
    assert proc.returncode == 0, proc.stderr
    assert s["state"] == "succeeded" and "recovered from pending-upgrade" in s["details"]["recovered"]


def test_ctrl_c_mid_deploy_leaves_no_decrypted_file(repo, local_cluster, age_key, tmp_path):
    """A kubeconfig cluster (its kubeconfig sops-encrypted) decrypts a file for the run; SIGINT
    in the middle of `helm --wait` must remove it, and leave no plaintext anywhere in TMPDIR."""
    root, folder, staging, prod = repo
    key, recipient = age_key
    kube = folder.parent / "e2e-kc"
    kube.mkdir()
    creds = kube / "enc-deployer-credentials.secret.yaml"
    creds.write_text(local_cluster.kubeconfig.read_text())
    token_line = next((ln for ln in creds.read_text().splitlines() if "token:" in ln or "client-key-data" in ln), "")
    encrypt(creds, recipient)
    (kube / "cluster.yaml").write_text(f"""\
name: e2e-kc
provider: kubeconfig
kubeconfig:
  file: enc-deployer-credentials.secret.yaml
hubs:
- name: slow-{prod}
  domain: slow-{prod}.e2e.test
  helm_chart: basehub
  helm_chart_values_files: [slow.values.yaml, enc-slow.secret.values.yaml]
""")
    (kube / "slow.values.yaml").write_text(hub_values("slow", image=BAD_IMAGE))
    secret_values = kube / "enc-slow.secret.values.yaml"
    secret_values.write_text(f"jupyterhub:\n  hub:\n    config:\n      DummyAuthenticator:\n        password: {SECRET}\n")
    encrypt(secret_values, recipient)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployer", "--root", str(root), "deploy", "e2e-kc", "--chart-repo", str(CHART_REPO),
         "--timeout", "120"],
        env={**os.environ, "TMPDIR": str(tmpdir)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not list(tmpdir.glob("deployer-secret-*")):
        time.sleep(0.1)
    assert list(tmpdir.glob("deployer-secret-*")), "the decrypted kubeconfig folder should exist mid-deploy"
    time.sleep(3)  # well into helm --wait
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    leftovers = [p for p in tmpdir.rglob("*") if p.is_file()]
    for path in leftovers:
        text = path.read_text(errors="replace")
        assert SECRET not in text and (not token_line or token_line.strip() not in text), path
    assert not list(tmpdir.glob("deployer-secret-*"))
    assert SECRET not in out + err


def test_dry_run_changes_nothing_and_prints_the_plan(repo, api_client):
    from kubernetes import client

    root, folder, staging, prod = repo
    # a pod annotation that reads as a number in YAML (as jupyterhub's 4-character checksum of a random
    # token sometimes does): the API server's dry run must get it as the string it is
    values = folder / "staging.values.yaml"
    values.write_text(values.read_text().replace("  hub:\n", '  hub:\n    annotations:\n      e2e/number-like: "1e23"\n', 1))
    proc = deployer(root, "deploy", "e2e", "--dry-run", "--chart-repo", str(CHART_REPO), "--output", "json")
    assert proc.returncode == 0, proc.stderr
    s = steps(report_of(proc, 0))
    assert "would deploy" in proc.stderr and s[staging]["details"]["rendered"]["Deployment"] >= 1
    names = [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]
    assert staging not in names and prod not in names


def test_unknown_hub_or_cluster_is_a_usage_error(repo):
    root, folder, staging, prod = repo
    proc = deployer(root, "deploy", "e2e", "nope")
    assert proc.returncode == 2 and f"known hubs: {staging}, {prod}" in proc.stderr
    proc = deployer(root, "deploy", "nope")
    assert proc.returncode == 2 and "known clusters" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_deploy_support_stack(repo):
    root, folder, staging, prod = repo
    # --force: the session's cluster `e2e` may hold this very support release already (the dashboards' and the
    # alerts' modules deploy it with the same values), which the ledger rightly reports `unchanged`
    proc = deployer(root, "deploy-support", "e2e", "--chart-repo", str(CHART_REPO), "--timeout", WAIT, "--force",
                    "--output", "json")
    assert proc.returncode == 0, proc.stderr
    s = steps(report_of(proc, 0))["support"]
    assert s["state"] == "succeeded" and s["details"]["revision"] >= 1
    # helm waited for the monitoring stack built here under prometheus 29.13.0 (Prometheus with its web config
    # file and the chart's own kubernetes_sd jobs, kube-state-metrics, node-exporter, Alertmanager); what has
    # no image here is named, nginx-ingress among them
    off = [line.split(":", 1)[0] for line in s["details"]["local_switched_off"]]
    assert {"nginx-ingress.enabled", "disableCoredumps.enabled", "prometheus.configmapReload.prometheus.enabled"} <= set(off)
    assert not {"prometheus.scrapeConfigs", "prometheus.kube-state-metrics.enabled", "prometheus.alertmanager.enabled",
                "prometheus.prometheus-node-exporter.enabled"} & set(off)


def test_deploy_plan_runs_the_ci_stages_locally_with_the_canary_gate(repo, tmp_path):
    root, folder, staging, prod = repo
    plan = {
        "version": 1, "base": "a", "head": "b", "removals": [],
        "support_jobs": [],
        "staging_jobs": [{"id": f"e2e/{staging}", "cluster": "e2e", "kind": "hub", "hub": staging, "stage": "staging",
                          "chart": "basehub", "reasons": ["new"]}],
        "prod_jobs": [{"id": f"e2e/{prod}", "cluster": "e2e", "kind": "hub", "hub": prod, "stage": "prod",
                       "chart": "basehub", "reasons": ["new"]}],
        "counts": {"support": 0, "staging": 1, "prod": 1, "removals": 0},
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    proc = deployer(root, "deploy", "--plan", str(plan_file), "--chart-repo", str(CHART_REPO), "--timeout", WAIT,
                    "--output", "json")
    s = steps(report_of(proc, 0))
    assert proc.returncode == 0, proc.stderr
    assert s[staging]["state"] == s[prod]["state"] == "succeeded"
    # a broken staging hub stops prod
    (folder / "staging.values.yaml").write_text("jupyterhub:\n  hub:\n    replicas: not-a-number\n")
    proc = deployer(root, "deploy", "--plan", str(plan_file), "--chart-repo", str(CHART_REPO), "--timeout", "30",
                    "--output", "json")
    s = steps(report_of(proc, 1))
    assert proc.returncode == 1 and s[staging]["state"] == "failed" and s[prod]["state"] == "skipped"
    bad = deployer(root, "deploy", "e2e", "--plan", str(plan_file))
    assert bad.returncode == 2 and "not both" in bad.stderr
