"""`deployer preview` on the real node: a corpus hub (hhmi/staging: its own file turns the image puller on,
its user image is on quay.io, its homes are on NFS) runs with every substitution listed and passes the user
test; the hub remembers its users, and a user's home keeps a file, across a restart of the hub's pod; a
second preview updates the first; `--rm` takes it away; a hub whose configuration imports a module the hub
image lacks fails within seconds, the module named with the hub's own traceback lines."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import output_json
from tests.e2e.operate_repo import CHART_REPO, Repo
from tests.unit.run.test_preview import CORPUS


def preview(local_cluster, root, *args: str, timeout: float = 600):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), "--state-dir",
                           str(local_cluster.state_dir), "preview", *args, "--chart-repo", str(CHART_REPO)],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ})


def test_a_corpus_hub_previews_with_each_substitution_listed_and_keeps_users_and_homes(local_cluster, hub_images,
                                                                                        api_client):
    if not (CORPUS / "config" / "clusters" / "hhmi").is_dir():
        pytest.skip("the corpus is not at ../shared/corpus")
    from kubernetes import client

    started = time.monotonic()
    proc = preview(local_cluster, CORPUS, "hhmi", "staging", "--output", "json")
    first = time.monotonic() - started
    report = output_json(proc, 0)
    step = report["steps"][0]
    assert "; healthy; user test passed in " in step["message"], step["message"]
    details = step["details"]
    assert (details["release"], details["namespace"]) == ("preview-hhmi-staging", "preview-hhmi-staging")
    assert any(line.startswith("jupyterhub.singleuser.image: quay.io/lorenlab/hhmi-spyglass-image:82450331e8f1 -> "
                               "deployer.local/singleuser:") for line in details["local_substituted"])
    # its own file turns the image puller's hook on: the last layer turns it off, and says so
    assert any(line.startswith("jupyterhub.prePuller.hook.enabled: ") for line in details["local_switched_off"])
    assert any(line.startswith("nfs.pv.enabled: the NFS share on ") for line in details["local_substituted"])
    phases = {p["name"]: p for p in details["user_test"]["phases"]}
    assert phases["home"]["ok"] and "read back" in phases["home"]["message"], phases["home"]
    assert first < 240, first  # measured 29-114 s under load (benchmarks/preview_speed.py)

    # the hub's database and a user's home live on volumes: both survive the hub pod's restart
    ns = details["namespace"]
    _hub_pod_restart_keeps_users_and_homes(local_cluster, api_client, ns)

    again = preview(local_cluster, CORPUS, "hhmi", "staging", "--no-user-test", "--output", "json")
    assert output_json(again, 0)["steps"][0]["details"]["revision"] > details["revision"]  # the same release, updated

    removed = preview(local_cluster, CORPUS, "hhmi", "staging", "--rm")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == ("removed the preview of hhmi/staging: release preview-hhmi-staging uninstalled, "
                                      "namespace preview-hhmi-staging deleted with its volumes")
    core = client.CoreV1Api(api_client)
    deadline = time.monotonic() + 120
    while any(n.metadata.name == ns for n in core.list_namespace().items):
        assert time.monotonic() < deadline, "the preview's namespace is still there"
        time.sleep(1)
    assert not (local_cluster.cluster.layout.volumes / ns / "hub-db-dir").exists()


def _hub_pod_restart_keeps_users_and_homes(local_cluster, api_client, ns: str) -> None:
    from kubernetes import client

    from deployer.adapters.kube import Kube
    from deployer.adapters.process import ProcessRunner
    from deployer.run.user_session import (HUB_SECRET, SERVICE_TOKEN_KEY, Http, UserTest, read_home_code,
                                        user_scopes, write_home_code)
    from deployer.toolchain import find_tool

    core = client.CoreV1Api(api_client)
    with Kube(local_cluster.kubeconfig) as kube:
        test = UserTest(kube, ProcessRunner(), find_tool("kubectl"), local_cluster.kubeconfig, None, ns,
                        local_cluster.state_dir)
        token = kube.secret_value(ns, HUB_SECRET, SERVICE_TOKEN_KEY)
        word = uuid.uuid4().hex[:8]
        u = test.user
        with test.connect() as base:
            http = Http(base, 15)
            _, user_token = test._create_user(http, token, u)
            test._start(http, user_token, u)
            _, url = test._wait_ready(http, user_token, u)
            test._run(http, user_token, url, write_home_code(word))
            test._stop(http, user_token, u)
        old = [p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="component=hub").items]
        for name in old:
            core.delete_namespaced_pod(name, ns)
        deadline = time.monotonic() + 180
        while True:
            pods = core.list_namespaced_pod(ns, label_selector="component=hub").items
            ready = [p for p in pods if p.metadata.name not in old and p.status.container_statuses
                     and all(c.ready for c in p.status.container_statuses)]
            if ready:
                break
            assert time.monotonic() < deadline, "no new hub pod became ready"
            time.sleep(1)
        with test.connect() as base:
            http = Http(base, 15)
            test._reach_hub(http, token, time.monotonic() + 60)
            answer = http.call("GET", f"/hub/api/users/{u}", token)
            assert answer.status == 200, (answer.status, answer.brief())  # the hub remembers its user
            a = http.call("POST", f"/hub/api/users/{u}/tokens", token, {"scopes": user_scopes(u), "expires_in": 900})
            user_token = a.json()["token"]
            test._start(http, user_token, u)
            _, url = test._wait_ready(http, user_token, u)
            assert test._run(http, user_token, url, read_home_code()) == word  # the home kept the file
            test._cleanup(http, token)


def test_a_hub_importing_a_module_the_hub_image_lacks_fails_at_once_naming_it(local_cluster, hub_images, tmp_path):
    values = ("jupyterhub:\n  hub:\n    extraConfig:\n      zz-fleet: |\n"
              "        import deployer_absent_module\n")
    repo = Repo(tmp_path / "repo", local_cluster.cluster.layout.root, {"imports": {"values": values}})
    name = repo.names["imports"]
    started = time.monotonic()
    proc = preview(local_cluster, repo.root, "e2e", name, "--output", "json")
    seconds = time.monotonic() - started
    message = output_json(proc, 1)["steps"][0]["message"]
    assert "keeps crashing (CrashLoopBackOff" in message, message
    assert "it raised ModuleNotFoundError: No module named 'deployer_absent_module'" in message, message
    # the hub's own traceback lines (an extraConfig snippet runs through exec: its frame is "<string>")
    assert 'jupyterhub_config.py", line ' in message and 'File "<string>", line 1, in <module>' in message, message
    assert message.endswith("; the failed first install was removed"), message
    assert seconds < 120, seconds  # not the 300 s timeout
    rm = preview(local_cluster, repo.root, "e2e", name, "--rm")
    assert rm.returncode == 0, rm.stderr
