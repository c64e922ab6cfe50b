"""Safe under faults and secrets, end to end on the local cluster (real API server, real helm,
real sops + age): rollback's target rule, the API server's own dry run, a failed release's
reasons, an API server killed mid-deploy, and planted secrets traced through every output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.operate_repo import (
    BAD_IMAGE,
    CHART_REPO,
    GOOD_TAG,
    Repo,
    as_json,
    delete_namespaces,
    hub_values,
    make_age_key,
)
from tests.secret_needles import needles

pytestmark = pytest.mark.e2e


def labelled(label: str, **kw) -> str:
    """Hub values whose hub pod carries label `canary: <label>` (a value the API server refuses
    when it has a space or a quote)."""
    return hub_values(**kw) + f"    labels:\n      canary: {json.dumps(label)}\n"


@pytest.fixture(scope="module")
def repo(local_cluster, hub_images, api_client, tmp_path_factory):
    work = tmp_path_factory.mktemp("reliability")
    repo = Repo(work / "repo", local_cluster.cluster.layout.root, {"roll": {}, "dry": {}, "why": {}, "noclass": {}})
    yield repo
    delete_namespaces(api_client, repo.names.values())


def test_two_failed_no_rollback_deploys_then_rollback_goes_to_the_last_deployed_revision(repo):
    hub = repo.names["roll"]
    values = repo.folder / "roll.values.yaml"
    first = repo.deploy(hub, "--output", "json")
    assert first.returncode == 0, first.stdout + first.stderr
    good = as_json(first, 0)["steps"][0]["details"]["revision"]  # 2: the first install, settled
    values.write_text(labelled("bad value!"))
    for _ in range(2):  # revisions good+1 and good+2: refused by the API server, kept
        proc = repo.deploy(hub, "--no-rollback")
        assert proc.returncode == 1, proc.stdout + proc.stderr
    values.write_text(hub_values())
    proc = repo.run("rollback", "e2e", hub, "--output", "json", "--timeout", "240")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = as_json(proc, 0)
    assert (result["from_revision"], result["to_revision"], result["new_revision"], result["status"]) == (
        good + 2, good, good + 3, "deployed")
    proc = repo.run("rollback", "e2e", hub, "--revision", str(good + 1))
    assert proc.returncode == 2
    assert (f"revision {good + 1} of `{hub}` is failed: it never ran, so deployer does not roll back to it"
            in proc.stderr)


@pytest.mark.parametrize("installed", [False, True], ids=["first-install", "upgrade"])
def test_dry_run_finds_the_bad_label_value_the_real_deploy_fails_on(repo, installed):
    hub = repo.names["dry"]
    values = repo.folder / "dry.values.yaml"
    values.write_text(hub_values())
    if installed:
        assert repo.deploy(hub).returncode == 0
    values.write_text(labelled("bad value!"))
    try:
        dry = repo.run("deploy", "e2e", hub, "--chart-repo", str(CHART_REPO), "--dry-run", "--output", "json")
        step = as_json(dry, 1)["steps"][0]
        assert dry.returncode == 1, dry.stdout + dry.stderr
        assert step["message"].startswith("server-side dry run failed: the API server refused 1 object(s): The "
                                          'Deployment "hub" is invalid: spec.template.labels: Invalid value: '
                                          '"bad value!": a valid label must be'), step["message"]
        real = repo.deploy(hub, "--no-rollback", timeout="30")
        assert real.returncode == 1  # the dry run and the real deploy now agree
        values.write_text(hub_values())
        ok = repo.run("deploy", "e2e", hub, "--chart-repo", str(CHART_REPO), "--dry-run", "--output", "json")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        message = as_json(ok, 0)["steps"][0]["message"]
        assert "server dry run passed: the API server validated" in message
        assert "it does not check whether images can be pulled, pods become ready" in message
    finally:
        values.write_text(hub_values())


def test_a_release_that_is_not_ready_says_why_as_health_does(repo, tmp_path):
    hub = repo.names["why"]
    (repo.folder / "why.values.yaml").write_text(hub_values(image=BAD_IMAGE))
    report_file = tmp_path / "report.json"
    started = time.monotonic()
    proc = repo.run("deploy", "e2e", hub, "--chart-repo", str(CHART_REPO), "--timeout", "300", "--no-rollback",
                    "--report-file", str(report_file))
    seconds = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    step = json.loads(report_file.read_text())["steps"][0]
    # the pod's reason is known within seconds: deploy stops waiting then, not after --timeout (300 s)
    assert step["message"].startswith("pods cannot start, stopped waiting: pod/hub-"), step["message"]
    assert seconds < 90, (seconds, step["message"])
    # the real node never pulls (pull policy Never): ErrImageNeverPull, and the hint says what to do about that
    assert (f"image {BAD_IMAGE}:{GOOD_TAG} is not on the node and its pull policy is Never, so it is never pulled "
            "(ErrImageNeverPull)") in step["message"], step["message"]
    from deployer.checks.hub_findings import NEVER_PULL_HINT

    assert step["hint"] == NEVER_PULL_HINT
    assert any(r["code"] == "image-pull" for r in step["details"]["reasons"])
    health = repo.run("health", "e2e", hub, "--output", "json", "--retries", "0")
    reasons = [r["message"] for r in as_json(health, 1)["hubs"][0]["reasons"] if r["code"] == "image-pull"]
    assert reasons and reasons[0] in step["message"]  # the same words as `health`


def test_a_hub_whose_claim_names_a_storage_class_the_cluster_lacks_fails_at_once_saying_so(repo, api_client):
    from kubernetes import client

    default = "storageclass.kubernetes.io/is-default-class"
    items = sorted(client.StorageV1Api(api_client).list_storage_class().items, key=lambda c: c.metadata.name)
    classes = ", ".join(f"{c.metadata.name} (default)" if (c.metadata.annotations or {}).get(default) == "true"
                        else c.metadata.name for c in items)
    assert "deployer-local (default)" in classes
    hub = repo.names["noclass"]
    (repo.folder / "noclass.values.yaml").write_text(
        hub_values() + "    db:\n      pvc:\n        storageClassName: no-such-class\n")
    started = time.monotonic()
    proc = repo.run("deploy", "e2e", hub, "--chart-repo", str(CHART_REPO), "--timeout", "300", "--no-rollback",
                    "--output", "json")
    seconds = time.monotonic() - started
    print(f"deploy with a missing StorageClass failed after {seconds:.1f} s (--timeout 300)")
    step = as_json(proc, 1)["steps"][0]
    message = ("volume claim hub-db-dir names StorageClass no-such-class, which the cluster does not have "
               f"(its StorageClasses: {classes}), so it is never bound")
    # the hub pod waits for its database's claim: deploy stops waiting at once, not after --timeout (300 s)
    assert step["message"].startswith("pods cannot start, stopped waiting: pod/hub-"), step["message"]
    assert step["message"].endswith(f": {message}; the failed release was kept (--no-rollback)"), step["message"]
    assert step["hint"] == ("fix the StorageClass name in the hub's values (the jupyterhub chart's "
                            "`hub.db.pvc.storageClassName`) to one the cluster has, or create StorageClass "
                            "no-such-class")
    assert seconds < 150, (seconds, step["message"])
    health = repo.run("health", "e2e", hub, "--output", "json", "--retries", "0")
    reasons = as_json(health, 1)["hubs"][0]["reasons"]
    assert reasons[0]["code"] == "missing-storage-class" and reasons[0]["message"] == message, reasons
    assert reasons[0]["hint"] == step["hint"]
    text = repo.run("health", "e2e", hub, "--retries", "0")
    assert text.returncode == 1 and f"    fix: {step['hint']}\n" in text.stdout, text.stdout + text.stderr


# -- the API server dies mid-deploy -------------------------------------------------------------

def test_killing_the_api_server_mid_deploy_fails_in_flight_releases_promptly_then_rerun_converges(scratch_cluster,
                                                                                                    tmp_path):
    up = scratch_cluster.up()
    assert up.status.healthy, up.status
    repo = Repo(tmp_path / "repo", scratch_cluster.layout.root, {"a": {"values": hub_values(image=BAD_IMAGE)},
                                                                 "b": {"values": hub_values(image=BAD_IMAGE)}})
    # reached as any cluster is, through its kubeconfig (deploying to `provider: local` also loads images
    # into the node's containerd; this cluster has no node)
    cluster_file = repo.folder / "cluster.yaml"
    text = cluster_file.read_text()
    local_block = f"provider: local\nlocal:\n  state_dir: {scratch_cluster.layout.root}\n"
    assert local_block in text
    cluster_file.write_text(text.replace(local_block, "provider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\n"))
    (repo.folder / "kubeconfig.yaml").write_text(Path(scratch_cluster.layout.kubeconfig).read_text())
    report = tmp_path / "report.json"
    # helm waiting for pods that never pull their image, then the API server dies
    returncode, text, seconds, _ = kill_mid_deploy(repo, scratch_cluster, "kube-apiserver", report, timeout=300,
                                                   after=3, wait=90)
    assert returncode == 1, text
    assert seconds <= 15, f"took {seconds:.1f}s after the kill\n{text}"
    steps = json.loads(report.read_text())["steps"]
    assert len(steps) == 2 and all(s["state"] == "failed" for s in steps)
    assert all(s["message"].startswith("cluster unreachable") for s in steps), [s["message"] for s in steps]
    print(f"in-flight releases failed {seconds:.1f}s after the API server was killed; steps ran "
          f"{[s['duration_seconds'] for s in steps]}s; {[s['message'][:90] for s in steps]}")
    # back up, good values: the rerun recovers any release left pending and reaches helm's wait again.
    # This cluster has no node, so its pods are never scheduled: the rerun ends at "not ready", with
    # the reasons (with a node it succeeds: the same test passed on the simulated node), never at a
    # stuck release or an unreachable cluster.
    assert scratch_cluster.up().status.healthy
    (repo.folder / "kubeconfig.yaml").write_text(Path(scratch_cluster.layout.kubeconfig).read_text())
    for short in ("a", "b"):
        (repo.folder / f"{short}.values.yaml").write_text(hub_values())
    rerun = repo.run("deploy", "e2e", "--chart-repo", str(CHART_REPO), "--timeout", "10", "--no-rollback",
                     "--output", "json")
    for step in as_json(rerun, (0, 1))["steps"]:
        assert step["state"] == "succeeded" or (
            "unreachable" not in step["message"] and "another operation" not in step["message"]
            and step["details"].get("reasons")), step  # failed only on the pods, and says why


def test_up_after_components_died_starts_only_those_again_and_keeps_the_clusters_content(scratch_cluster):
    from kubernetes import client, config

    assert scratch_cluster.up().status.healthy
    api = config.new_client_from_config(config_file=str(scratch_cluster.layout.kubeconfig))
    with api:
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="kept")))
    before = {c.name: c.pid for c in scratch_cluster.status().components}
    for name in ("kube-scheduler", "kube-controller-manager"):
        os.kill(before[name], signal.SIGKILL)
    killed = {"kube-scheduler", "kube-controller-manager"}
    deadline = time.monotonic() + 10
    while True:  # SIGKILL is delivered asynchronously: wait until the kernel has ended both
        status = scratch_cluster.status()
        if {c.name for c in status.components if not c.running} >= killed:
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status.state == "degraded", status
    assert status.message == (f"the local cluster is broken: kube-controller-manager (pid {before['kube-controller-manager']}),"
                              f" kube-scheduler (pid {before['kube-scheduler']}) not running")
    assert status.hint.startswith("start them again with `deployer local up` (the cluster keeps its releases)")
    result = scratch_cluster.up()
    assert result.repaired == ["kube-controller-manager", "kube-scheduler"] and result.cleaned is None
    assert result.status.state == "up", result.status
    after = {c.name: c.pid for c in result.status.components}
    assert {n: after[n] for n in ("etcd", "kube-apiserver")} == {n: before[n] for n in ("etcd", "kube-apiserver")}
    assert all(after[n] != before[n] for n in ("kube-scheduler", "kube-controller-manager"))
    api = config.new_client_from_config(config_file=str(scratch_cluster.layout.kubeconfig))
    with api:
        assert client.CoreV1Api(api).read_namespace("kept").metadata.name == "kept"


# -- the node's kubelet or containerd dies mid-deploy -------------------------------------------

@pytest.mark.parametrize("component", ["kubelet", "containerd"])
def test_killing_a_node_component_mid_deploy_fails_each_hub_clearly_then_up_and_a_rerun_converge(
        component, local_cluster, hub_images, api_client, tmp_path):
    from deployer.local.spec import NODE_NAME

    repo = Repo(tmp_path / "repo", local_cluster.cluster.layout.root, {"a": {}, "b": {}})
    report = tmp_path / "report.json"
    try:
        returncode, text, _, victim = kill_mid_deploy(repo, local_cluster.cluster, component, report, timeout=90,
                                                      after=0, wait=400)
        assert returncode == 1, text
        assert "Traceback" not in text and "internal error" not in text, text
        ids = {f"e2e/{n}" for n in repo.names.values()}
        steps = [s for s in json.loads(report.read_text())["steps"] if s["id"] in ids]
        assert len(steps) == 2, report.read_text()
        for step in steps:  # each hub failed on its own, and says the node is why
            assert step["state"] == "failed", step
            assert f"node/{NODE_NAME}: node {NODE_NAME} is not Ready (" in step["message"], step["message"]
        print(f"{component} killed: {[s['message'][:200] for s in steps]}")
        status = local_cluster.cluster.status()
        assert status.state == "degraded" and f"{component} (pid {victim})" in status.message
        # `local up` starts only the dead component again; the rerun deploys both hubs and they answer
        up = repo.run("local", "up", "--state-dir", str(local_cluster.state_dir), timeout=200)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"{component} had stopped: started again; the cluster keeps its releases" in up.stdout, up.stdout
        rerun = repo.deploy("--output", "json", timeout="300")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert [s["state"] for s in as_json(rerun, 0)["steps"] if s["id"] in ids] == ["succeeded", "succeeded"]
        health = repo.run("health", "e2e", "--output", "json", "--retries", "10")
        assert health.returncode == 0, health.stdout + health.stderr
    finally:
        delete_namespaces(api_client, repo.names.values())
        if local_cluster.cluster.status().state != "up":  # never leave the session's node broken
            local_cluster.cluster.up()


def kill_mid_deploy(repo: Repo, cluster, component: str, report: Path, *, timeout: int, after: float,
                    wait: float) -> tuple[int, str, float, int]:
    """`deploy e2e` in the background; once both hubs' namespaces exist (helm applied them and waits
    for their pods), and `after` seconds more, SIGKILL the cluster's `component`. Returns deploy's
    exit code, its output, the seconds it ran after the kill, and the killed PID."""
    log = report.with_suffix(".log")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "deployer", "--root", str(repo.root), "deploy", "e2e",
                                 "--chart-repo", str(CHART_REPO), "--timeout", str(timeout),
                                 "--report-file", str(report)], stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            while not _namespaces_exist(cluster, repo.names.values()):
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.5)
            time.sleep(after)
            victim = next(c for c in cluster.status().components if c.name == component)
            os.kill(victim.pid, signal.SIGKILL)
            killed = time.monotonic()
            proc.wait(timeout=wait)
            seconds = time.monotonic() - killed
        finally:
            if proc.poll() is None:
                proc.kill()
    return proc.returncode, log.read_text(), seconds, victim.pid


def _namespaces_exist(cluster, names) -> bool:
    from kubernetes import client, config

    try:
        api = config.new_client_from_config(config_file=str(cluster.layout.kubeconfig))
        with api:
            have = {n.metadata.name for n in client.CoreV1Api(api).list_namespace(_request_timeout=3).items}
    except Exception:
        return False
    return set(names) <= have


# -- planted secrets, traced through every output ----------------------------------------------

SECRETS = {
    "quote": 'S3cr3t-CANARY-q"uo\'te',
    "backslash": "S3cr3t-CANARY-back\\slash",
    "tab": "S3cr3t-CANARY-t\tab",
    "newline": "S3cr3t-CANARY-new\nline",
    "unicode": "S3cr3t-CANARY-ünï€😀",
    "short": "Ωz7",  # shorter than 4: redacted where it stands as a whole value (deployer/redact.py)
    "bothquotes": "S3cr3t-CANARY-k9'Xq\"2v!Zr#8Lm@pW",  # its Python repr differs from its JSON escape
}


def secret_values(secrets: dict[str, str], label: bool) -> str:
    # UTF-8 as it is (ensure_ascii=False): json's surrogate escapes for the emoji are not YAML (sops refuses them)
    env = "".join(f"      PLANT_{k.upper()}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in secrets.items())
    text = ("jupyterhub:\n  hub:\n    extraEnv:\n" + env +
            f"    config:\n      DummyAuthenticator:\n        password: {json.dumps(secrets['quote'], ensure_ascii=False)}\n")
    if label:  # a value the API server refuses, and quotes back in its error
        text += f"    labels:\n      canary: {json.dumps(secrets['quote'])}\n"
    return text


def test_planted_secrets_never_appear_in_any_output_log_report_state_or_temp_file(local_cluster, tmp_path):
    work = tmp_path
    key, recipient = make_age_key(work)
    temp = work / "tmp"
    temp.mkdir()
    reports = work / "reports"
    reports.mkdir()
    env = {"SOPS_AGE_KEY_FILE": str(key), "TMPDIR": str(temp)}
    repo = Repo(work / "repo", local_cluster.cluster.layout.root, {"canary": {"secret": True}})
    hub = repo.names["canary"]
    repo.write_secret("canary", secret_values(SECRETS, label=False), recipient)
    outputs: list[tuple[str, str]] = []

    def run(*args: str, expect: tuple[int, ...] = (0,)) -> None:
        for verbose in ((), ("--verbose",)):
            proc = subprocess.run([sys.executable, "-m", "deployer", *verbose, "--root", str(repo.root), *args],
                                  capture_output=True, text=True, timeout=300, env={**os.environ, **env})
            outputs.append((f"{' '.join(verbose + args)} (exit {proc.returncode})", proc.stdout + proc.stderr))
            assert proc.returncode in expect, (args, proc.stdout, proc.stderr)

    n = iter(range(100))
    mirror = ("--chart-repo", str(CHART_REPO))
    run("validate")
    run("render", "e2e", hub, *mirror, expect=(0, 1))
    run("render", "e2e", hub, *mirror, "--output", "json", expect=(0, 1))
    run("deploy", "e2e", hub, *mirror, "--dry-run", "--output", "json")
    run("deploy", "e2e", hub, *mirror, "--timeout", "240", "--report-file", str(reports / f"r{next(n)}.json"))
    run("deploy", "e2e", hub, *mirror, "--timeout", "240", "--output", "json")
    run("status", "e2e", expect=(0, 1))
    run("status", "e2e", "--output", "json", expect=(0, 1))
    run("health", "e2e", hub, "--retries", "0", expect=(0, 1))
    run("health", "e2e", hub, "--retries", "0", "--output", "json", expect=(0, 1))
    # changed secrets: diff shows the Deployment's env change (values redacted)
    changed = {k: (v + "2" if k != "short" else "Ωz8") for k, v in SECRETS.items()}
    repo.write_secret("canary", secret_values(changed, label=False), recipient)
    run("diff", "e2e", hub, *mirror, expect=(0, 2))
    run("diff", "e2e", hub, *mirror, "--output", "json", expect=(0, 2))
    # failures: the API server refuses the label, quoting the secret (Go-escaped) in its error
    repo.write_secret("canary", secret_values(SECRETS, label=True), recipient)
    run("deploy", "e2e", hub, *mirror, "--dry-run", "--output", "json", expect=(1,))
    run("deploy", "e2e", hub, *mirror, "--timeout", "30", "--no-rollback", "--report-file",
        str(reports / f"r{next(n)}.json"), expect=(1,))
    run("deploy", "e2e", hub, *mirror, "--timeout", "30", "--output", "json", expect=(1,))
    run("rollback", "e2e", hub, "--dry-run")
    run("rollback", "e2e", hub, "--timeout", "240", expect=(0, 1))
    run("rollback", "e2e", hub, "--revision", "99", expect=(2,))
    run("status", "e2e", "--output", "json", expect=(0, 1))

    leaks = []
    scanned = 0
    places = [(name, text.encode()) for name, text in outputs]
    layout = local_cluster.cluster.layout
    # the cluster's own storage, not deployer's output: etcd, the node's containerd (images, container
    # filesystems) and the kubelet's folder (the pods' Secret volumes hold the values, as they should)
    cluster_own = tuple(Path(p) for p in (layout.etcd_data, layout.containerd_root, layout.containerd_state,
                                          layout.runc_root, layout.kubelet_root))
    state = repo.root / ".deployer"  # chart work folder and helm's home (the state folder; inside repo.root too)
    for folder in (reports, temp, repo.root, Path(layout.root), state):
        for path in folder.rglob("*") if folder.is_dir() else []:
            if any(path.is_relative_to(p) for p in cluster_own):
                continue
            if path.is_file() and not path.name.startswith("enc-") and path.stat().st_size < 50_000_000:
                places.append((str(path), path.read_bytes()))
    planted = {**SECRETS, **{f"{k} (changed)": v for k, v in changed.items()}}
    for name, data in places:
        scanned += len(data)
        for secret_name, secret in planted.items():
            for needle in needles(secret):
                if needle.encode() in data:
                    leaks.append(f"{secret_name} as {needle!r} in {name}")
        if b"CANARY" in data:
            leaks.append(f"the CANARY prefix in {name}")
    print(f"scanned {scanned:,} bytes in {len(places)} outputs and files: {len(leaks)} leak(s)")
    assert leaks == [], "\n".join(leaks[:40])
