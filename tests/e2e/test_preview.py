"""`deployer preview` on the real node, every preview of this module started at once on the one session
cluster (the machine's two cores wait on pods more than they compute; one after another they took 12 min):

- hhmi/staging (its own file turns the image puller on, its user image is on quay.io, its homes are on NFS)
  runs with every substitution listed and passes the user test; the hub remembers its users, and a user's
  home keeps a file, across a restart of the hub's pod; a second preview updates the first; `--rm` takes it
  away with its namespace and volumes;
- five corpus hubs of the fleet's other shapes (a daskhub, a hub with a profileList and an unlisted choice, a
  hub with its own homepage templates, a hub with a BinderHub beside it, a BinderHub-only hub whose servers
  are plain Jupyter servers started with a token, as BinderHub starts them), each copied into a repository of
  the test's own as a user's would be, answer `/hub/api/` and pass the user test, with the default profile
  of their profileList chosen by name; a secret file with no key here gives placeholders, said once;
- a hub whose extraConfig imports a module the hub image lacks, and one whose extraConfig raises, each fail
  within seconds with what the hub raised and its own traceback lines.
Then `--rm` removes each preview."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.conftest import output_json
from tests.e2e.operate_repo import CHART_REPO, Repo
from tests.conftest import REPO

CORPUS = REPO.parent / "shared" / "corpus" / "2i2c"

# corpus hubs of the fleet's other shapes: shape -> (cluster, hub)
CORPUS_SHAPES = {
    "daskhub": ("victor", "staging"),  # daskhub; a profileList whose image choices include an unlisted one
    "profiles": ("reflective", "staging"),  # basehub; profileList, unlisted_choice with its own image '{value}'
    "templates": ("utoronto", "staging"),  # basehub; its own homepage templates (custom.homepage.gitRepoBranch)
    "binderhub": ("opensci", "sciencecore"),  # basehub with binderhub-service beside it; GitHub login
    # a BinderHub-only hub: no login (authenticator `null`), BinderHub's spawner settings (auth_enabled false),
    # servers a plain `jupyter-lab` started as BinderHub starts them (its image and a token of their own)
    "binder-only": ("opensci", "small-binder"),
}
IMPORTS = ("jupyterhub:\n  hub:\n    extraConfig:\n      zz-fleet: |\n        import deployer_absent_module\n")
RAISES = ("jupyterhub:\n  hub:\n    extraConfig:\n      zz-fleet: |\n"
          "        def check_quota(limit):\n"
          "            raise ValueError(f'quota {limit} is not a size')\n"
          "        check_quota('lots')\n")


def _command(local_cluster, root, *args: str) -> list[str]:
    return [sys.executable, "-m", "deployer", "--root", str(root), "--state-dir", str(local_cluster.state_dir),
            "preview", *args, "--chart-repo", str(CHART_REPO)]


def preview(local_cluster, root, *args: str, timeout: float = 600):
    import os

    return subprocess.run(_command(local_cluster, root, *args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ})


@pytest.fixture(scope="module")
def previews(local_cluster, hub_images, tmp_path_factory):
    """Every preview of the module, started at once: hhmi/staging from the corpus itself, the CORPUS_SHAPES
    hubs' clusters copied into a repository of the test's own, and the two failing hubs. Yields
    name -> (the finished process, seconds); then `--rm` of each preview still there."""
    if not (CORPUS / "config" / "clusters").is_dir():
        pytest.skip("the corpus is not at ../shared/corpus")
    work = tmp_path_factory.mktemp("previews")
    fleet = work / "fleet"
    for cluster, _ in CORPUS_SHAPES.values():
        shutil.copytree(CORPUS / "config" / "clusters" / cluster, fleet / "config" / "clusters" / cluster,
                        dirs_exist_ok=True)
    failing = Repo(work / "failing", local_cluster.cluster.layout.root,
                   {"imports": {"values": IMPORTS}, "raises": {"values": RAISES}})
    targets = {"hhmi": (CORPUS, "hhmi", "staging"),
               **{shape: (fleet, cluster, hub) for shape, (cluster, hub) in CORPUS_SHAPES.items()},
               **{short: (failing.root, "e2e", name) for short, name in failing.names.items()}}
    started = time.monotonic()
    running = {key: subprocess.Popen(_command(local_cluster, root, cluster, hub, "--output", "json"),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for key, (root, cluster, hub) in targets.items()}
    done: dict = {}
    removed: set = set()

    def finish(key: str, proc: subprocess.Popen) -> None:  # each preview's own time, from the common start
        out, err = proc.communicate(timeout=900)
        done[key] = (subprocess.CompletedProcess(proc.args, proc.returncode, out, err), time.monotonic() - started)

    try:
        waiters = [threading.Thread(target=finish, args=item) for item in running.items()]
        for t in waiters:
            t.start()
        for t in waiters:
            t.join()
        print(f"\n{len(running)} previews at once: " + ", ".join(f"{k} {done[k][1]:.0f} s" for k in running))
        yield done, removed
    finally:
        for proc in running.values():
            if proc.poll() is None:
                proc.kill()
        removing = {key: subprocess.Popen(_command(local_cluster, root, cluster, hub, "--rm"),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for key, (root, cluster, hub) in targets.items() if key not in removed}
        results = {key: (p.communicate(timeout=300), p.returncode) for key, p in removing.items()}
        assert all(rc == 0 for _, rc in results.values()), results


@pytest.mark.parametrize("shape", list(CORPUS_SHAPES))
def test_a_corpus_hub_of_each_shape_previews_answers_and_passes_the_user_test(previews, shape):
    done, _ = previews
    proc, seconds = done[shape]
    cluster, hub = CORPUS_SHAPES[shape]
    report = output_json(proc, 0)
    step = report["steps"][0]
    assert "; healthy; user test passed in " in step["message"], step["message"]
    details = step["details"]
    assert details["release"] == f"preview-{cluster}-{hub}"
    test = details["user_test"]
    phases = {p["name"]: p for p in test["phases"]}
    assert phases["connect"]["message"].endswith(": JupyterHub 5.4.4 answered"), phases["connect"]  # /hub/api/
    assert [(p["name"], p["ok"]) for p in test["phases"]] == [
        (name, True) for name in ("connect", "user", "start", "ready", "kernel", "stop", "restart", "home")]
    if shape == "binder-only":  # no home volume (storage type none): each server starts empty
        assert phases["home"]["message"].startswith("skipped: the user server has no home volume"), phases["home"]
    else:
        assert "read back" in phases["home"]["message"], phases["home"]
    off = "\n".join(details["local_switched_off"])
    substituted = "\n".join(details["local_substituted"])
    if shape == "templates":  # no profileList: the server starts with no options
        assert test["profile"] is None and phases["start"]["message"] in ("spawned", "spawn pending"), test
    elif shape == "binder-only":  # an empty profileList; started with the hub's image and a token, as BinderHub does
        assert test["profile"] is None, test
        assert re.fullmatch(r"(spawned|spawn pending) as BinderHub starts it \(image deployer\.local/singleuser:"
                            r"[\w.-]+, a token of its own\)", phases["start"]["message"]), phases["start"]
        assert "jupyterhub.hub.config.JupyterHub.authenticator_class: null -> dummy" in substituted, substituted
    else:  # a profileList: the server started with its default profile, chosen by name
        assert test["profile"] and test["profile"]["profile"], test
        assert f"with profile `{test['profile']['profile']}`" in phases["start"]["message"], phases["start"]
    if shape == "daskhub":
        assert "basehub.dask-gateway.enabled: " in off, off
        assert "basehub.jupyterhub.singleuser.profileList[0]" in substituted, substituted
    if shape == "profiles":
        assert ("jupyterhub.singleuser.profileList[0].profile_options.image.unlisted_choice.kubespawner_override.image: "
                "{value} -> deployer.local/singleuser:") in substituted, substituted
    if shape == "templates":  # its cloud's storage class gives way to the local default one
        assert "jupyterhub.hub.db.pvc.storageClassName: managed-premium -> (none: the local default StorageClass" \
            in substituted, substituted
    if shape == "binderhub":
        assert "binderhub-service.enabled: no binderhub-service or BuildKit images here" in off, off
        assert "jupyterhub.hub.config.JupyterHub.authenticator_class: github -> dummy" in substituted, substituted
    import yaml

    hubs = yaml.safe_load((CORPUS / "config" / "clusters" / cluster / "cluster.yaml").read_text())["hubs"]
    files = next(h for h in hubs if h["name"] == hub)["helm_chart_values_files"]
    secret = [f for f in files if f.startswith("enc-")]
    if secret:  # no key for them here: their values are placeholders, said once on stderr
        assert sorted(details["placeholder_values_from"]) == sorted(secret), details
        assert proc.stderr.count("no age key for ") == 1, proc.stderr
    print(f"preview {cluster}/{hub}: {seconds:.1f} s (with the module's other previews at once)")


def test_a_corpus_hub_previews_with_each_substitution_listed_and_keeps_users_and_homes(previews, local_cluster,
                                                                                        api_client):
    from kubernetes import client

    done, removed = previews
    proc, first = done["hhmi"]
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
    assert first < 400, first  # with six other previews at once; alone: benchmarks/preview_speed.py

    # the hub's database and a user's home live on volumes: both survive the hub pod's restart
    ns = details["namespace"]
    _hub_pod_restart_keeps_users_and_homes(local_cluster, api_client, ns)

    again = preview(local_cluster, CORPUS, "hhmi", "staging", "--no-user-test", "--output", "json")
    assert output_json(again, 0)["steps"][0]["details"]["revision"] > details["revision"]  # the same release, updated

    removed.add("hhmi")
    rm = preview(local_cluster, CORPUS, "hhmi", "staging", "--rm")
    assert rm.returncode == 0, rm.stderr
    assert rm.stdout.strip() == ("removed the preview of hhmi/staging: release preview-hhmi-staging uninstalled, "
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


def test_a_hub_whose_extra_config_raises_fails_at_once_with_its_traceback_and_a_missing_module_is_named(previews):
    """One hub imports a module the hub image lacks, one raises in a function of its extraConfig. Each fails
    within seconds of its hub starting (not helm's 300 s), with what it raised and its traceback."""
    done, _ = previews
    messages = {}
    for short in ("imports", "raises"):
        proc, seconds = done[short]
        messages[short] = output_json(proc, 1)["steps"][0]["message"]
        assert "Traceback" not in proc.stderr, proc.stderr  # deployer's own: none
        assert seconds < 240, seconds  # with six other previews at once: not the 300 s timeout
    for message in messages.values():
        assert "keeps crashing (CrashLoopBackOff" in message, message
        # the hub's own traceback lines (an extraConfig snippet runs through exec: its frame is "<string>")
        assert 'jupyterhub_config.py", line ' in message, message
        assert message.endswith("; the failed first install was removed"), message
    assert "it raised ModuleNotFoundError: No module named 'deployer_absent_module'" in messages["imports"]
    assert 'File "<string>", line 1, in <module>' in messages["imports"]
    assert "it raised ValueError: quota lots is not a size" in messages["raises"], messages["raises"]
    assert 'File "<string>", line 3, in <module>' in messages["raises"], messages["raises"]
    assert 'File "<string>", line 2, in check_quota' in messages["raises"], messages["raises"]
