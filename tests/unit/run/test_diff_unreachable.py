"""`deployer diff` of a cluster that does not answer (a kubeconfig pointing at a closed port, real
helm, sops and age): each hub is reported as an error in one line, exit 1, and no Python
traceback (the live manifest was fetched in a task that was never awaited when the render
failed first: "Task exception was never retrieved")."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.conftest import require_chart_repo, require_tool
from tests.e2e.operate_repo import encrypt, make_age_key
from tests.repo_builder import make_cluster, cluster_yaml


def unreachable_repo(tmp_path):
    require_tool("helm")
    key, recipient = make_age_key(tmp_path)
    root = tmp_path / "repo"
    folder = make_cluster(root, "gone", ["staging"], provider="kubeconfig",
                          cluster_text=cluster_yaml("gone", ["staging"], provider="kubeconfig"))
    kubeconfig = folder / "enc-kubeconfig.secret.yaml"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "k-context",
        "clusters": [{"name": "k-cluster", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "k-context", "context": {"cluster": "k-cluster", "user": "k-user"}}],
        "users": [{"name": "k-user", "user": {"token": "t0ken-of-the-unreachable-cluster"}}],
    }))
    encrypt(kubeconfig, recipient)
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key), "DEPLOYER_CHART_REPO": str(require_chart_repo())}
    return root, env


def test_diff_of_an_unreachable_cluster_reports_each_hub_without_a_traceback(tmp_path):
    root, env = unreachable_repo(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), "diff", "gone"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "never retrieved" not in proc.stderr, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("=== gone/staging: error: ") and "127.0.0.1:1" in first, proc.stdout
    assert proc.stdout.splitlines()[-1] == "0 hub(s) would change, 0 unchanged, 1 error(s)"


def test_when_one_of_two_calls_fails_the_other_is_cancelled_and_its_failure_is_raised():
    import asyncio

    import pytest

    from deployer.errors import DeployerError
    from deployer.run.diff import _both

    stopped = []

    async def slow():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.append("slow")
            raise

    async def fails():
        await asyncio.sleep(0.01)
        raise DeployerError("the live manifest could not be read")

    with pytest.raises(DeployerError, match="^the live manifest could not be read$"):
        asyncio.run(_both(slow(), fails()))
    assert stopped == ["slow"]

    async def one():
        return 1

    async def two():
        return 2

    assert asyncio.run(_both(one(), two())) == (1, 2)


def test_deploy_dry_run_of_an_unreachable_cluster_exits_1_saying_what_it_could_not_check(tmp_path):
    root, env = unreachable_repo(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), "deploy", "gone", "--dry-run",
                           "--output", "json"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    import json

    report = json.loads(proc.stdout)
    (step,) = report["steps"]
    assert (step["id"], step["state"]) == ("gone/staging", "failed")
    import re

    assert re.match(r"renders (\d+) objects, \1 checked against the Kubernetes API schemas; NOT checked against the "
                    r"cluster: the server dry run could not run \(cluster unreachable: helm history staging failed: ",
                    step["message"]), step["message"]


def test_deploy_dry_run_refuses_a_bad_quantity_offline_as_render_does(tmp_path):
    root, env = unreachable_repo(tmp_path)
    values = root / "config" / "clusters" / "gone" / "staging.values.yaml"
    values.write_text("jupyterhub:\n  hub:\n    resources:\n      limits:\n        memory: abc\n")
    proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), "deploy", "gone", "staging",
                           "--dry-run", "--output", "json"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    import json

    (step,) = json.loads(proc.stdout)["steps"]
    assert step["state"] == "failed"
    assert step["message"] == ("the rendered objects do not match the Kubernetes API (1 problem(s)): Deployment hub: "
                               "spec.template.spec.containers.0.resources.limits.memory: 'abc' is not a Kubernetes "
                               "quantity (e.g. 512Mi, 2Gi, 500m, 1.5)")
    rendered = subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), "render", "gone", "staging"],
                              capture_output=True, text=True, timeout=300, env=env)
    assert rendered.returncode == 1, rendered.stdout + rendered.stderr
    assert "spec.template.spec.containers.0.resources.limits.memory: 'abc' is not a Kubernetes quantity" in rendered.stderr
