"""On the real local node: the real jupyterhub 4.3.3 chart, with the images built here and the local
values layer, answers `/hub/health` and `/hub/api/` from JupyterHub itself, and the user test passes
(and, with a user image that does not exist, fails saying why and still cleans up)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, missing, require_tool

CHART = REPO.parent / "shared" / "charts" / "jupyterhub-4.3.3.tgz"
RELEASE = "jh"


@pytest.fixture(scope="module")
def images(local_cluster):
    from deployer.adapters.process import ProcessRunner
    from deployer.local.images import ensure_images, import_images

    runner = ProcessRunner()
    built = ensure_images(runner)  # cached after the first run (minutes the first time)
    import_images(runner, local_cluster.cluster.layout.containerd_socket, built)
    return built


@pytest.fixture(scope="module")
def hub(local_cluster, images, tmp_path_factory):
    """The real chart installed with the local layer, in its own namespace; removed afterwards."""
    if not CHART.is_file():
        missing(f"the jupyterhub chart {CHART}")
    helm = require_tool("helm")
    from deployer.adapters.process import ProcessRunner
    from deployer.local.images import image_refs
    from deployer.local.chart_defaults import chart_defaults
    from deployer.local.layers import hub_values, last_layer
    from deployer.plan.values_merge import merge_values

    work = tmp_path_factory.mktemp("jh")
    values = work / "local.yaml"
    first = hub_values(image_refs(), chart="jupyterhub").values
    values.write_text(yaml.safe_dump(first))
    # what basehub sets in production too: Prometheus scrapes /hub/metrics without a token
    extra = work / "extra.yaml"
    extra_values = {"hub": {"config": {"JupyterHub": {"authenticate_prometheus": False}}}}
    extra.write_text(yaml.safe_dump(extra_values))
    # the local cluster's last layer, as deploy computes it: the images built here, what cannot run here off
    last = work / "last.yaml"
    last.write_text(yaml.safe_dump(last_layer(merge_values(chart_defaults(CHART), first, extra_values), image_refs(),
                                              "jupyterhub").values))
    ns = "jh-e2e"
    env = {"KUBECONFIG": str(local_cluster.kubeconfig), "HELM_CACHE_HOME": str(work / "cache"),
           "HELM_CONFIG_HOME": str(work / "config"), "HELM_DATA_HOME": str(work / "data")}
    runner = ProcessRunner()
    started = time.monotonic()
    r = runner.run([helm, "upgrade", "--install", RELEASE, CHART, "-n", ns, "--create-namespace", "-f", values,
                    "-f", extra, "-f", last, "--wait", "--timeout", "5m"], env=env, timeout=360)
    assert r.ok, r.stderr
    seconds = time.monotonic() - started
    # helm --wait returns when the hub pod is Ready, and its readiness probe is /hub/health
    print(f"\nfirst install of jupyterhub 4.3.3 to Ready (/hub/health answering): {seconds:.1f}s")
    try:
        yield {"ns": ns, "helm": helm, "env": env, "values": [values, extra, last], "work": work,
               "install_seconds": seconds, "runner": runner}
    finally:
        runner.run([helm, "uninstall", RELEASE, "-n", ns, "--wait", "--timeout", "2m"], env=env, timeout=180)
        runner.run([require_tool("kubectl"), "--kubeconfig", local_cluster.kubeconfig, "delete", "namespace", ns,
                    "--wait=false"], timeout=60)


@pytest.fixture
def kube(local_cluster):
    from deployer.adapters.kube import Kube

    with Kube(local_cluster.kubeconfig, timeout=15) as k:
        yield k


def test_every_pod_runs_an_image_built_here_and_nothing_is_pulled(hub, kube):
    pods = kube.pods(hub["ns"])
    assert sorted(p.labels.get("component") for p in pods) == ["hub", "proxy"]
    for pod in pods:
        assert pod.ready, pod
        assert all(c.image.startswith("deployer.local/") for c in pod.containers), pod.containers


def test_the_hub_answers_health_and_its_api_itself(hub, kube):
    health = kube.service_get(hub["ns"], "hub", 8081, "/hub/health")
    assert health.status == 200
    api = kube.service_get(hub["ns"], "hub", 8081, "/hub/api/")
    assert api.status == 200
    assert api.json() == {"version": "5.4.4"}
    # and through the chart's proxy (configurable-http-proxy), the way users come in. helm --wait
    # ends when the pods are Ready, not when kube-proxy has the hub Service's new endpoint in its
    # rules: until then the proxy itself answers 503 "Service Unavailable" (seen once in CI), so
    # ask again for a while, as `deployer health` does
    deadline = time.monotonic() + 30
    via_proxy = kube.service_get(hub["ns"], "proxy-public", "http", "/hub/api/")
    while via_proxy.status == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
        via_proxy = kube.service_get(hub["ns"], "proxy-public", "http", "/hub/api/")
    assert via_proxy.status == 200, via_proxy.body[:300]
    assert via_proxy.json() == {"version": "5.4.4"}


def _user_test(local_cluster, kube, hub, **options):
    from deployer.adapters.process import ProcessRunner
    from deployer.run.user_session import UserTest, UserTestOptions

    test = UserTest(kube, ProcessRunner(), require_tool("kubectl"), local_cluster.kubeconfig, None, hub["ns"],
                    hub["work"], UserTestOptions(**options))
    return test.run()


def _hub_users(local_cluster, kube, hub) -> list[str]:
    """The hub's users, asked with the user test service's token in the Authorization header (JupyterHub 5
    refuses a token in the URL of this request: 403 "Missing or invalid credentials", measured)."""
    from deployer.adapters.process import ProcessRunner
    from deployer.adapters.jupyterhub import Http
    from deployer.adapters.port_forward import port_forward
    from deployer.plan.user_test_service import PROXY_SERVICE, SERVICE_TOKEN_KEY

    token = kube.secret_value(hub["ns"], "hub", SERVICE_TOKEN_KEY)
    with port_forward(ProcessRunner(), require_tool("kubectl"), local_cluster.kubeconfig, None, hub["ns"],
                      PROXY_SERVICE, hub["work"] / "users-port-forward.log", 20.0) as base:
        answer = Http(base, 15.0).call("GET", "/hub/api/users", token)
    assert answer.status == 200, answer.brief()
    return sorted(u["name"] for u in answer.json())


def test_the_user_test_runs_python_in_a_real_user_server_and_leaves_nothing(local_cluster, kube, hub):
    result = _user_test(local_cluster, kube, hub)
    print(json.dumps(result.to_json(), indent=2))
    assert result.ok, result.to_json()
    assert [p.name for p in result.phases] == ["connect", "user", "start", "ready", "kernel", "stop", "restart", "home"]
    assert result.phases[0].message.endswith(" -> svc/proxy-public: JupyterHub 5.4.4 answered")
    assert result.phases[4].message == "kernel ran Python: '42 3'"
    assert result.cleanup == f"user {result.user} and its token deleted"
    assert _hub_users(local_cluster, kube, hub) == []
    assert [p.name for p in kube.pods(hub["ns"]) if p.labels.get("component") == "singleuser-server"] == []


def test_a_user_image_that_is_not_here_fails_the_user_test_saying_why_and_still_cleans_up(
        local_cluster, kube, hub):
    runner, env = hub["runner"], hub["env"]
    bad = hub["work"] / "bad.yaml"
    bad.write_text(yaml.safe_dump({"singleuser": {"image": {"tag": "does-not-exist"}}}))
    r = runner.run([hub["helm"], "upgrade", RELEASE, CHART, "-n", hub["ns"], *_files(hub), "-f", bad,
                    "--wait", "--timeout", "5m"], env=env, timeout=360)
    assert r.ok, r.stderr
    try:
        result = _user_test(local_cluster, kube, hub, start_timeout=45)
        print(json.dumps(result.to_json(), indent=2))
        assert not result.ok
        assert [(p.name, p.ok) for p in result.phases] == [("connect", True), ("user", True), ("start", True),
                                                            ("ready", False)]
        assert "ErrImageNeverPull" in result.reason, result.reason
        assert result.cleanup == f"user {result.user} and its token deleted"
        assert _hub_users(local_cluster, kube, hub) == []
    finally:
        r = runner.run([hub["helm"], "upgrade", RELEASE, CHART, "-n", hub["ns"], *_files(hub),
                        "--wait", "--timeout", "5m"], env=env, timeout=360)
        assert r.ok, r.stderr


def _files(hub) -> list:
    return [x for f in hub["values"] for x in ("-f", f)]


def _retag(image, ref: str, work: Path) -> Path:
    """The same layers under another tag (a "new hub image" for the upgrade test)."""
    import tarfile

    from deployer.local.images.archive import ImageConfig, write_docker_archive

    layers = []
    with tarfile.open(image.path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        config = json.load(tar.extractfile(manifest["Config"]))["config"]
        for name in manifest["Layers"]:
            out = work / name.replace("/", "-")
            out.write_bytes(tar.extractfile(name).read())
            layers.append((out, name.split("/")[0]))
    archive = work / "retagged.tar"
    # one more variable makes it a distinct image (its own id), as a rebuilt hub image would be
    write_docker_archive(archive, ref, layers, ImageConfig(
        entrypoint=config.get("Entrypoint"), cmd=config.get("Cmd"),
        env=[*config.get("Env", []), "DEPLOYER_E2E_UPGRADE=1"],
        user=config.get("User", ""), workdir=config.get("WorkingDir", "")))
    return archive


def test_an_upgrade_to_a_new_hub_image_tag_really_runs_it(local_cluster, kube, hub, images):
    from deployer.adapters.process import ProcessRunner
    from deployer.local.images import BuiltImage, import_images

    built = next(i for i in images if i.name == "k8s-hub")
    name, _, tag = built.ref.rpartition(":")
    # a tag of its own: `{tag}-upgrade` is the session's second tag of the *same* image (the
    # hub_images fixture), under which the node would report the older tag of that one image
    new_ref = f"{name}:{tag}-rebuilt"
    archive = _retag(built, new_ref, hub["work"])
    import_images(ProcessRunner(), local_cluster.cluster.layout.containerd_socket,
                  [BuiltImage("k8s-hub", new_ref, archive, archive.stat().st_size, 0.0, False)])
    runner, env = hub["runner"], hub["env"]
    r = runner.run([hub["helm"], "upgrade", RELEASE, CHART, "-n", hub["ns"], *_files(hub),
                    "--set", f"hub.image.tag={tag}-rebuilt", "--wait", "--timeout", "5m"], env=env, timeout=360)
    assert r.ok, r.stderr
    try:
        deadline = time.monotonic() + 120
        while True:
            hubs = [p for p in kube.pods(hub["ns"]) if p.labels.get("component") == "hub" and not p.deleting]
            if len(hubs) == 1 and hubs[0].ready:
                break
            assert time.monotonic() < deadline, hubs
            time.sleep(1)
        assert [c.image for c in hubs[0].containers] == [new_ref]
        assert kube.service_get(hub["ns"], "hub", 8081, "/hub/api/").json() == {"version": "5.4.4"}
    finally:
        r = runner.run([hub["helm"], "upgrade", RELEASE, CHART, "-n", hub["ns"], *_files(hub),
                        "--wait", "--timeout", "5m"], env=env, timeout=360)
        assert r.ok, r.stderr


def test_deployer_health_user_test_passes_on_the_real_hub(local_cluster, hub, tmp_path):
    """The CLI: `deployer health CLUSTER HUB --user-test` against the hub above (its namespace is its name)."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "repo" / "config" / "clusters" / "e2e"
    folder.mkdir(parents=True)
    (folder / "hub.values.yaml").write_text("jupyterhub: {}\n")
    (folder / "cluster.yaml").write_text(
        f"name: e2e\nprovider: local\nlocal:\n  state_dir: {local_cluster.cluster.layout.root}\nhubs:\n"
        f"- name: {hub['ns']}\n  domain: jh.e2e.test\n  helm_chart: basehub\n  stage: staging\n"
        "  helm_chart_values_files: [hub.values.yaml]\n")
    proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(tmp_path / "repo"), "health", "e2e",
                           hub["ns"], "--user-test", "--output", "json", "--retries", "2"],
                          capture_output=True, text=True, timeout=400, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    [test] = report["user_tests"]
    assert (test["hub"], test["ok"], test["reason"]) == (hub["ns"], True, None)
    assert [p["name"] for p in test["phases"]] == ["connect", "user", "start", "ready", "kernel", "stop", "restart", "home"]
    assert test["cleanup"] == f"user {test['user']} and its token deleted"
