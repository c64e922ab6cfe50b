"""Cluster credentials for GKE, EKS and AKS: the exact commands and environment handed to the
cloud CLIs. The CLIs cannot reach a cloud here, so stand-in `gcloud`, `aws`, `az` and `kubelogin`
scripts record what they were given and write a kubeconfig as the real ones do; sops and age are
real (the example clusters' keys are encrypted for config/example-age-key.txt)."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from deployer.adapters.clouds.base import ALL_CLOUD_ENV, CLOUD_CREDENTIAL_ENV, NESTED_ENV
from deployer.run.cluster_access import cluster_access
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.checks.validate import validate
from tests.conftest import REPO, require_tool

AMBIENT = {  # the operator's own credentials, for every cloud: none may reach another cloud's CLI
    "AWS_ACCESS_KEY_ID": "AKIAAMBIENT", "AWS_SECRET_ACCESS_KEY": "ambient-aws-secret", "AWS_PROFILE": "operator",
    "GOOGLE_APPLICATION_CREDENTIALS": "/home/op/gcp.json", "CLOUDSDK_CONFIG": "/home/op/.config/gcloud",
    "AZURE_CLIENT_SECRET": "ambient-azure-secret", "AZURE_CONFIG_DIR": "/home/op/.azure",
    "ARM_CLIENT_SECRET": "ambient-arm-secret",
}

FAKE = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
record = {{"tool": {tool!r}, "argv": sys.argv, "env": dict(os.environ)}}
for name in ("GOOGLE_APPLICATION_CREDENTIALS", "AWS_SHARED_CREDENTIALS_FILE"):
    path = os.environ.get(name)
    if path and os.path.isfile(path):
        record[name + ":content"] = open(path).read()
        record[name + ":mode"] = oct(os.stat(path).st_mode & 0o777)
for name in ("CLOUDSDK_CONFIG", "AZURE_CONFIG_DIR"):
    path = os.environ.get(name)
    if path:
        os.makedirs(path, exist_ok=True)
        record[name + ":parent_mode"] = oct(os.stat(os.path.dirname(path)).st_mode & 0o777)
with open({log!r}, "a") as f:
    f.write(json.dumps(record) + "\\n")
def flag(name):
    for i, a in enumerate(args):
        if a == name:
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
exec_user = {{"exec": {{"apiVersion": "client.authentication.k8s.io/v1beta1", "command": {plugin!r}, "args": ["token"],
                       "env": [{{"name": "KEEP", "value": "1"}}]}}}}
kubeconfig = {{"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{{"name": "c", "cluster": {{"server": "https://1.2.3.4"}}}}],
              "contexts": [{{"name": "c", "context": {{"cluster": "c", "user": "u"}}}}],
              "users": [{{"name": "u", "user": exec_user}}]}}
target = None
if args[:3] == ["container", "clusters", "get-credentials"]:
    target = os.environ["KUBECONFIG"]
elif args[:2] == ["eks", "update-kubeconfig"]:
    target = flag("--kubeconfig")
elif args[:2] == ["aks", "get-credentials"]:
    target = flag("--file")
if target:
    with open(target, "w") as f:
        f.write(json.dumps(kubeconfig))
"""


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    require_tool("sops")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    plugins = {"gcloud": "gke-gcloud-auth-plugin", "aws": "aws", "az": "kubelogin", "kubelogin": "kubelogin"}
    for tool, plugin in plugins.items():
        path = bin_dir / tool
        path.write_text(FAKE.format(python=sys.executable, tool=tool, log=str(log), plugin=plugin))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(REPO / "config" / "example-age-key.txt"))
    monkeypatch.delenv(NESTED_ENV, raising=False)
    for k, v in AMBIENT.items():
        monkeypatch.setenv(k, v)

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


def model(name: str):
    doc = next(d for d in validate(REPO, name).docs if d.folder_name == name)
    return doc.model, REPO / "config" / "clusters" / name


def assert_no_foreign_credentials(env: dict, own: str) -> None:
    for cloud, names in CLOUD_CREDENTIAL_ENV.items():
        for name in names:
            if cloud != own:
                assert name not in env, f"{name} leaked into the {own} CLI's environment"
    for value in AMBIENT.values():
        assert value not in env.values(), "an ambient credential reached the cloud CLI"


def exec_env(kubeconfig: Path) -> dict:
    data = json.loads(kubeconfig.read_text())
    return {e["name"]: e["value"] for e in data["users"][0]["user"]["exec"]["env"]}


def test_gke_credentials_use_the_decrypted_key_and_a_private_gcloud_config(fakes):
    cluster, folder = model("example-gcp")
    runner = ProcessRunner()
    with cluster_access(cluster, folder, Sops(runner)) as access:
        kubeconfig = access.kubeconfig
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
        env = exec_env(kubeconfig)
        key = Path(env["GOOGLE_APPLICATION_CREDENTIALS"])
        assert key.is_file() and json.loads(key.read_text())["private_key"] == "not-a-real-key"
        assert env["KEEP"] == "1" and env["CLOUDSDK_CORE_PROJECT"] == "example-project"
        assert access.env["CLOUDSDK_CONFIG"] == env["CLOUDSDK_CONFIG"]
        assert access.env["AWS_ACCESS_KEY_ID"] == "" and access.env["AZURE_CLIENT_SECRET"] == ""
        child = access.child_env(os.environ)
        assert child["KUBECONFIG"] == str(kubeconfig) and "AWS_ACCESS_KEY_ID" not in child
    activate, get = fakes()
    assert activate["argv"][1:] == ["auth", "activate-service-account", f"--key-file={key}", "--quiet"]
    assert get["argv"][1:] == ["container", "clusters", "get-credentials", "example-cluster",
                               "--project=example-project", "--region=us-central1", "--quiet"]
    for call in (activate, get):
        assert call["env"]["CLOUDSDK_CONFIG"] == env["CLOUDSDK_CONFIG"] != AMBIENT["CLOUDSDK_CONFIG"]
        assert call["env"]["GOOGLE_APPLICATION_CREDENTIALS"] == str(key)
        assert call["GOOGLE_APPLICATION_CREDENTIALS:mode"] == "0o600"
        assert call["CLOUDSDK_CONFIG:parent_mode"] == "0o700"
        assert_no_foreign_credentials(call["env"], "gcp")
    # nothing decrypted or written outlives the block
    assert not kubeconfig.exists() and not key.exists() and not Path(env["CLOUDSDK_CONFIG"]).exists()


def test_eks_credentials_go_to_a_private_shared_credentials_file(fakes):
    cluster, folder = model("example-aws")
    runner = ProcessRunner()
    with cluster_access(cluster, folder, Sops(runner)) as access:
        env = exec_env(access.kubeconfig)
        creds = Path(env["AWS_SHARED_CREDENTIALS_FILE"])
        assert env["AWS_PROFILE"] == "deployer" and env["AWS_REGION"] == "us-west-2"
        assert access.env["AWS_SHARED_CREDENTIALS_FILE"] == str(creds)
        assert access.env["GOOGLE_APPLICATION_CREDENTIALS"] == ""
    (call,) = fakes()
    assert call["argv"][1:] == ["eks", "update-kubeconfig", "--name", "example-aws", "--region", "us-west-2",
                                "--kubeconfig", str(access.kubeconfig), "--alias", "example-aws"]
    assert call["AWS_SHARED_CREDENTIALS_FILE:mode"] == "0o600"
    assert call["AWS_SHARED_CREDENTIALS_FILE:content"] == (
        "[deployer]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = not-a-real-key\n")
    assert call["env"]["AWS_PROFILE"] == "deployer"
    assert_no_foreign_credentials({k: v for k, v in call["env"].items()
                                   if k not in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")},
                                  "aws")
    assert "AWS_ACCESS_KEY_ID" not in call["env"] and "AWS_SECRET_ACCESS_KEY" not in call["env"]
    assert not creds.exists()
    # the decrypted secret is known to the redactor: no log line can show it
    assert "not-a-real-key" not in runner.redactor("key not-a-real-key")


def test_aks_credentials_log_in_with_the_service_principal_in_a_private_config_dir(fakes):
    cluster, folder = model("example-azure")
    runner = ProcessRunner()
    with cluster_access(cluster, folder, Sops(runner)) as access:
        env = exec_env(access.kubeconfig)
        assert env["AZURE_CONFIG_DIR"] != AMBIENT["AZURE_CONFIG_DIR"]
    login, get, convert = fakes()
    zero = "00000000-0000-0000-0000-000000000000"
    assert login["argv"][1:] == ["login", "--service-principal", "--username", zero, "--password",
                                 "not-a-real-secret", "--tenant", zero, "--output", "none", "--only-show-errors"]
    assert get["argv"][1:] == ["aks", "get-credentials", "--name", "example-aks", "--resource-group", "example-rg",
                               "--file", str(access.kubeconfig), "--overwrite-existing", "--only-show-errors"]
    assert convert["tool"] == "kubelogin"
    assert convert["argv"][1:] == ["convert-kubeconfig", "--login", "azurecli", "--kubeconfig", str(access.kubeconfig)]
    for call in (login, get, convert):
        assert call["env"]["AZURE_CONFIG_DIR"] == env["AZURE_CONFIG_DIR"]
        assert call["AZURE_CONFIG_DIR:parent_mode"] == "0o700"
        assert_no_foreign_credentials({k: v for k, v in call["env"].items() if k != "AZURE_CONFIG_DIR"}, "azure")
    # the password is on az's command line (it has no other way), never in our log lines
    assert "not-a-real-secret" not in runner.describe(login["argv"])


def test_a_cloud_cli_that_fails_is_a_clear_error(fakes, tmp_path):
    from deployer.errors import DeployerError

    broken = tmp_path / "broken-aws"
    broken.write_text("#!/bin/sh\necho 'An error occurred (ResourceNotFoundException): No cluster found' >&2\nexit 254\n")
    broken.chmod(0o755)
    cluster, folder = model("example-aws")
    with pytest.raises(DeployerError) as e:
        with cluster_access(cluster, folder, Sops(ProcessRunner()), {"aws": broken}):
            pass
    assert "aws eks update-kubeconfig failed: An error occurred (ResourceNotFoundException)" in e.value.message
    assert "aws.clusterName" in e.value.hint


def run_cli(args: list[str]) -> int:
    from deployer.cli import app
    from deployer.cli.app import run_app

    return run_app(app, ["--root", str(REPO), *args])


PRINT_ENV = [sys.executable, "-c", "import json, os; print('ENV=' + json.dumps(dict(os.environ)))"]


def test_use_cluster_credentials_runs_the_command_with_kubeconfig_and_no_foreign_credentials(fakes, capfd):
    assert run_cli(["use-cluster-credentials", "example-gcp", "--", *PRINT_ENV]) == 0
    out = capfd.readouterr().out
    env = json.loads(out.split("ENV=", 1)[1].splitlines()[0])
    assert env[NESTED_ENV] == "example-gcp"
    assert Path(env["KUBECONFIG"]).name == "kubeconfig" and not Path(env["KUBECONFIG"]).exists()
    assert env["CLOUDSDK_CONFIG"] != AMBIENT["CLOUDSDK_CONFIG"]
    assert_no_foreign_credentials({k: v for k, v in env.items() if k not in CLOUD_CREDENTIAL_ENV["gcp"]}, "gcp")
    assert not [k for k, v in env.items() if k in ALL_CLOUD_ENV and v == ""]  # removed, not blanked


def test_use_cluster_credentials_passes_the_exit_code_and_refuses_to_nest(fakes, capfd, monkeypatch):
    assert run_cli(["use-cluster-credentials", "example-aws", "--", sys.executable, "-c", "raise SystemExit(7)"]) == 7
    monkeypatch.setenv(NESTED_ENV, "example-gcp")
    assert run_cli(["use-cluster-credentials", "example-aws", "--", "true"]) == 1
    err = capfd.readouterr().err
    assert "already running with the credentials of cluster `example-gcp`" in err and "Traceback" not in err
    assert len([c for c in fakes() if c["tool"] == "aws"]) == 1  # the nested call never reached aws


def test_use_cluster_credentials_without_a_command_says_how(fakes, capfd):
    assert run_cli(["use-cluster-credentials", "example-gcp"]) == 0
    assert "deployer use-cluster-credentials example-gcp -- kubectl get nodes" in capfd.readouterr().out
    assert fakes() == []


def test_kubeconfig_clusters_use_the_decrypted_file_with_its_context(fakes, capfd, tmp_path):
    """The kubeconfig provider, for real: sops decrypts the file; the context named in
    cluster.yaml becomes the current one; no cloud credential variable reaches the command."""
    assert run_cli(["use-cluster-credentials", "example-kubeconfig", "--", sys.executable, "-c",
                    textwrap.dedent("""\
                        import json, os
                        print('ENV=' + json.dumps(dict(os.environ)))
                        print('KC=' + open(os.environ['KUBECONFIG']).read().replace(chr(10), ' '))
                    """)]) == 0
    out = capfd.readouterr().out
    env = json.loads(out.split("ENV=", 1)[1].splitlines()[0])
    assert not [k for k in env if k in ALL_CLOUD_ENV]
    kubeconfig = out.split("KC=", 1)[1]
    cluster, _ = model("example-kubeconfig")
    if cluster.kubeconfig.context:
        assert f'"current-context": "{cluster.kubeconfig.context}"' in kubeconfig
    assert not Path(env["KUBECONFIG"]).exists()
