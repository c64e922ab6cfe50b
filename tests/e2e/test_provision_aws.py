"""`deployer provision` end to end: the real terraform 1.11 and the real AWS provider 5.100.0 (from
the filesystem mirror) apply terraform/aws against a moto server on 127.0.0.1, with the state in
an S3 bucket on that moto server.

The one emulator quirk, named where it is handled: moto reports a `remote_access` block
(`ec2_ssh_key = "eksKeypair"`) on every EKS node group, which nobody set. A second plan therefore
wants to replace the node groups, because of that attribute alone; the test asserts exactly
that, and that nothing else changes. The module is not bent to hide it.
`enable_access_entries: false` is the other concession: moto has no EKS access-entry API.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, output_json, require_tool

pytestmark = pytest.mark.e2e

# a distinctive "secret key" for moto (which accepts any): it must never show up anywhere
SECRET_KEY = "moto-secret-" + uuid.uuid4().hex
KEY_ID = "AKIATESTDEPLOYER"
REGION = "us-west-2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, tmp: Path) -> None:
        self.binary = require_tool("moto_server")
        require_tool("terraform")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"moto-{self.port}.log"
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([str(self.binary), "-H", "127.0.0.1", "-p", str(self.port)], stdout=out,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                assert self.proc.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, "moto_server did not listen within 30s"
                time.sleep(0.1)

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET_KEY)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="session")
def moto(tmp_path_factory) -> Iterator[Moto]:
    server = Moto(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


def cluster_yaml(name: str, moto_url: str, backend: str) -> str:
    return f"""\
name: {name}
provider: aws
aws:
  account: 123456789012
  key: enc-deployer-credentials.secret.json
  clusterType: eks
  clusterName: {name}
  region: {REGION}
terraform:
  backend:
{backend}
  variables:
    endpoint_url: {moto_url}
    enable_access_entries: false   # moto has no EKS access-entry API
    user_buckets:
      scratch:
        hubs: [prod]
    dask_node_groups:
      m5:
        instance_type: m5.large
    enable_cost_monitoring: true
support:
  helm_chart_values_files: [support.values.yaml]
hubs:
- name: staging
  domain: staging.{name}.example.org
  helm_chart: basehub
  helm_chart_values_files: [staging.values.yaml]
- name: prod
  domain: {name}.example.org
  helm_chart: basehub
  helm_chart_values_files: [prod.values.yaml]
"""


def s3_backend(moto_url: str, bucket: str) -> str:
    return f"""\
    type: s3
    config:
      bucket: {bucket}
      region: {REGION}
      use_lockfile: true
      use_path_style: true
      skip_credentials_validation: true
      skip_requesting_account_id: true
      skip_metadata_api_check: true
      endpoints: {{s3: "{moto_url}", sts: "{moto_url}"}}
"""


LOCAL_BACKEND = "    type: local\n"

SMALL_MODULE = {
    "versions.tf": '''terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }
}

provider "aws" {
  region                      = var.region
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true
  endpoints {
    iam = var.endpoint_url
    s3  = var.endpoint_url
    sts = var.endpoint_url
  }
}
''',
    "variables.tf": '''variable "cluster_name" {
  type = string
}

variable "region" {
  type = string
}

variable "endpoint_url" {
  type = string
}

variable "hub_namespaces" {
  type    = list(string)
  default = []
}

variable "tags" {
  type    = map(string)
  default = {}
}
''',
    "main.tf": '''resource "aws_iam_role" "hub" {
  for_each = toset(var.hub_namespaces)

  name = "${var.cluster_name}-${each.value}"
  tags = var.tags
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Action = "sts:AssumeRole", Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" } }]
  })
}

resource "aws_s3_bucket" "scratch" {
  bucket = "${var.cluster_name}-scratch"
  tags   = var.tags
}

output "hub_role_arns" {
  value = { for hub, role in aws_iam_role.hub : hub => role.arn }
}
''',
}
"""A small module (IAM roles and a bucket: no slow waits) for the tests of deployer's own
mechanics: stale plans and state locks. The full terraform/aws is applied by the end-to-end test."""


def small_cluster_yaml(name: str, moto_url: str, backend: str) -> str:
    return cluster_yaml(name, moto_url, backend).replace(
        "  variables:\n", "  module: modules/small\n  variables:\n").replace(
        "    enable_access_entries: false   # moto has no EKS access-entry API\n"
        "    user_buckets:\n      scratch:\n        hubs: [prod]\n"
        "    dask_node_groups:\n      m5:\n        instance_type: m5.large\n"
        "    enable_cost_monitoring: true\n", "")


def write_small_module(root: Path) -> None:
    folder = root / "modules" / "small"
    folder.mkdir(parents=True)
    for file, text in SMALL_MODULE.items():
        (folder / file).write_text(text)


def make_repo(root: Path, name: str, text: str) -> Path:
    folder = root / "config" / "clusters" / name
    folder.mkdir(parents=True)
    (folder / "cluster.yaml").write_text(text)
    for f in ("support", "staging", "prod"):
        (folder / f"{f}.values.yaml").write_text("{}\n")
    # the key file only has to look encrypted for validation; provisioning never reads it
    (folder / "enc-deployer-credentials.secret.json").write_text(json.dumps({
        "AccessKey": "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]",
        "sops": {"age": [{"recipient": "age1qqqq", "enc": "x"}], "lastmodified": "2026-01-01T00:00:00Z",
                 "mac": "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]", "version": "3.11.0"},
    }))
    return root


def env_for(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEPLOYER_"))}
    env.update({
        "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "2", "DEPLOYER_STATE_DIR": str(root / ".state"),
    })
    env.update(extra)
    return env


def deployer(root: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, env=env or env_for(root), input=input,
                          cwd=REPO)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert SECRET_KEY not in proc.stdout + proc.stderr
    return proc


def assert_no_secret_on_disk(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and "providers" not in path.parts:
            assert SECRET_KEY.encode() not in path.read_bytes(), f"{path} holds the secret key"


def only_moto_quirk(changes: list[dict]) -> None:
    """A second plan may replace node groups because moto invents `remote_access`; nothing else."""
    for change in changes:
        assert change["type"] == "aws_eks_node_group", change
        assert change["action"] == "replace", change
        assert {tuple(p)[:1] for p in change["replace_paths"]} == {("remote_access",)}, change


def test_aws_end_to_end_plan_apply_output_replan_destroy(moto, tmp_path):
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    bucket = f"tfstate-{name}"
    moto.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    root = make_repo(tmp_path / "repo", name, cluster_yaml(name, moto.url, s3_backend(moto.url, bucket)))
    timings: dict[str, float] = {}

    started = time.monotonic()
    plan = deployer(root, "provision", "plan", name, "--output", "json")
    timings["plan (init included)"] = time.monotonic() - started
    planned = output_json(plan, 2)
    assert planned["has_changes"] and planned["destroy_plan"] is False
    assert planned["add"] >= 20 and planned["change"] == 0 and planned["destroy"] == 0
    assert planned["state"] == f"s3://{bucket}/deployer/{name}/terraform.tfstate"
    # the cluster autoscaler's role is part of the plan (the support stack runs the autoscaler with it)
    addresses = {c["address"]: c["action"] for c in planned["changes"]}
    assert addresses["aws_iam_role.cluster_autoscaler"] == "create"
    assert addresses["aws_iam_role_policy.cluster_autoscaler"] == "create"
    assert addresses["aws_iam_role.cost_monitoring[0]"] == "create"
    work = root / ".state" / "terraform" / name
    assert (work / f"{name}.tfvars.json").is_file()
    tfvars = json.loads((work / f"{name}.tfvars.json").read_text())
    assert tfvars["cluster_name"] == name and tfvars["region"] == REGION
    assert tfvars["hub_namespaces"] == ["staging", "prod"]
    assert oct((work / "saved.tfplan").stat().st_mode & 0o777) == "0o600"

    started = time.monotonic()
    applied = deployer(root, "provision", "apply", name, "--output", "json")  # the saved plan: no question asked
    timings["apply"] = time.monotonic() - started
    result = output_json(applied, 0)
    assert result["applied"] and result["used_saved_plan"]
    assert not (work / "saved.tfplan").exists(), "an applied plan must not stay behind"
    # the state is in the S3 bucket on moto, under the cluster's own key
    keys = [o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert f"deployer/{name}/terraform.tfstate" in keys

    out = deployer(root, "provision", "output", name, "--output", "json")
    outputs = output_json(out, 0)["outputs"]
    assert outputs["cluster_endpoint"].startswith("https://")
    assert outputs["cluster_name"] == name
    assert outputs["node_role_arn"] == f"arn:aws:iam::123456789012:role/{name}-eks-node"
    assert outputs["hub_role_arns"] == {
        "staging": f"arn:aws:iam::123456789012:role/{name}-staging",
        "prod": f"arn:aws:iam::123456789012:role/{name}-prod",
    }
    assert outputs["user_buckets"] == {"scratch": f"{name}-scratch"}
    assert outputs["deployer_user_arn"].endswith(f":user/{name}-deployer")
    assert outputs["cluster_autoscaler_role_arn"] == f"arn:aws:iam::123456789012:role/{name}-cluster-autoscaler"
    assert outputs["cluster_autoscaler_service_account"] == {"namespace": "support", "name": "cluster-autoscaler"}
    iam = moto.client("iam")
    trust = iam.get_role(RoleName=f"{name}-cluster-autoscaler")["Role"]["AssumeRolePolicyDocument"]
    [statement] = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "system:serviceaccount:support:cluster-autoscaler" in statement["Condition"]["StringEquals"].values()
    policy = iam.get_role_policy(RoleName=f"{name}-cluster-autoscaler", PolicyName="cluster-autoscaler")
    scale = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == "ScaleOwnGroups"]
    assert scale[0]["Condition"] == {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{name}": "owned"}}
    saved = json.loads((work / "outputs.json").read_text())
    assert saved["outputs"] == outputs
    # what a deploy layers from them
    from deployer.plan.terraform_plan import terraform_values
    from deployer.run.provision import saved_outputs

    values = terraform_values(saved_outputs(root, name, {"DEPLOYER_STATE_DIR": str(root / ".state")}), hub="prod")
    assert values["global"]["cloud"]["hub"] == {"roleArn": outputs["hub_role_arns"]["prod"],
                                                "serviceAccountName": "user-sa"}
    # and the support stack: the autoscaler on, with that role, this EKS cluster and region
    from deployer.plan.computed_layers import support_cloud_values

    autoscaler = support_cloud_values(saved_outputs(root, name, {"DEPLOYER_STATE_DIR": str(root / ".state")}))
    assert autoscaler["cluster-autoscaler"]["enabled"] is True
    assert autoscaler["cluster-autoscaler"]["autoDiscovery"] == {"clusterName": name}
    assert autoscaler["cluster-autoscaler"]["awsRegion"] == REGION
    assert outputs["cost_monitoring_role_arn"] == f"arn:aws:iam::123456789012:role/{name}-cost-monitoring"
    assert autoscaler["jupyterhub-cost-monitoring"]["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": outputs["cost_monitoring_role_arn"]}
    assert autoscaler["cluster-autoscaler"]["rbac"]["serviceAccount"] == {
        "name": "cluster-autoscaler",
        "annotations": {"eks.amazonaws.com/role-arn": outputs["cluster_autoscaler_role_arn"]}}
    # the cloud has it
    assert name in moto.client("eks").list_clusters()["clusters"]

    started = time.monotonic()
    replan = deployer(root, "provision", "plan", name, "--output", "json")
    timings["second plan"] = time.monotonic() - started
    second = output_json(replan, (0, 2))  # under load it once printed nothing: now its stderr shows why
    # moto's quirk (see the module docstring): node groups "replaced" for remote_access, nothing else
    only_moto_quirk(second["changes"])
    assert replan.returncode == (2 if second["changes"] else 0)

    started = time.monotonic()
    destroyed = deployer(root, "provision", "destroy", name, "--yes", "--output", "json")
    timings["destroy"] = time.monotonic() - started
    assert output_json(destroyed, 0)["applied"]
    assert name not in moto.client("eks").list_clusters()["clusters"]
    roles = [r["RoleName"] for r in moto.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith(name)]
    vpcs = moto.client("ec2").describe_vpcs(Filters=[{"Name": "tag:deployer/cluster", "Values": [name]}])["Vpcs"]
    assert vpcs == []
    assert not (work / "outputs.json").exists()
    assert not (work / "saved.tfplan").exists()
    assert_no_secret_on_disk(root)
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})


def test_apply_without_saved_plan_asks_and_a_stale_plan_is_refused(moto, tmp_path):
    name = f"st-{uuid.uuid4().hex[:6]}"
    bucket = f"tfstate-{name}"
    moto.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    text = small_cluster_yaml(name, moto.url, s3_backend(moto.url, bucket))
    root = make_repo(tmp_path / "repo", name, text)
    write_small_module(root)
    work = root / ".state" / "terraform" / name

    # no saved plan: plan, show, ask; no answer (a closed stdin, as in CI) applies nothing
    refused = deployer(root, "provision", "apply", name, input="")
    assert refused.returncode == 1 and "not applied" in refused.stderr and "--yes" in refused.stderr
    assert not (work / "saved.tfplan").exists()

    # a saved plan, kept aside while someone else applies it: then terraform finds it stale
    assert deployer(root, "provision", "plan", name).returncode == 2
    kept = {p: p.read_bytes() for p in (work / "saved.tfplan", work / "saved.tfplan.json")}
    applied = deployer(root, "provision", "apply", name, "--output", "json")
    assert output_json(applied, 0)["used_saved_plan"] is True
    for path, data in kept.items():
        path.write_bytes(data)
    stale = deployer(root, "provision", "apply", name, "--yes")
    assert stale.returncode == 1
    assert "stale" in stale.stderr and f"deployer provision plan {name}" in stale.stderr
    assert not (work / "saved.tfplan").exists(), "a stale plan is removed, never applied"

    # a plan saved before cluster.yaml changed is not applied: apply plans again, and asks
    assert deployer(root, "provision", "plan", name, "--destroy").returncode == 2
    (root / "config" / "clusters" / name / "cluster.yaml").write_text(
        text.replace("  variables:\n", "  variables:\n    tags: {team: e2e}\n"))
    again = deployer(root, "provision", "apply", name, "--output", "json", input="y\n")
    result = output_json(again, 0)
    assert result["used_saved_plan"] is False and result["change"] == 3  # the tags, not the destroy plan
    assert moto.client("s3").head_bucket(Bucket=f"{name}-scratch")


def test_destroy_requires_the_cluster_name(moto, tmp_path):
    name = f"dn-{uuid.uuid4().hex[:6]}"
    root = make_repo(tmp_path / "repo", name, small_cluster_yaml(name, moto.url, LOCAL_BACKEND))
    write_small_module(root)
    assert deployer(root, "provision", "apply", name, "--yes").returncode == 0
    wrong = deployer(root, "provision", "destroy", name, input="other\n")
    assert wrong.returncode == 1 and "not destroyed" in wrong.stderr
    assert moto.client("s3").head_bucket(Bucket=f"{name}-scratch")  # still there
    typed = deployer(root, "provision", "destroy", name, input=f"{name}\n")
    assert typed.returncode == 0, typed.stderr
    assert f"{name}-scratch" not in [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]


def test_interrupted_apply_leaves_a_lock_that_is_named_and_released(moto, tmp_path):
    name = f"lk-{uuid.uuid4().hex[:6]}"
    bucket = f"tfstate-{name}"
    moto.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    root = make_repo(tmp_path / "repo", name, small_cluster_yaml(name, moto.url, s3_backend(moto.url, bucket)))
    write_small_module(root)
    work = root / ".state" / "terraform" / name
    assert deployer(root, "provision", "plan", name).returncode == 2
    # terraform killed outright (SIGKILL: a crash, a lost CI runner) while it holds the lock
    tf = require_tool("terraform")
    from deployer.toolchain import terraform_env

    env = {**env_for(root), **terraform_env(), "TF_DATA_DIR": str(work / ".terraform")}
    proc = subprocess.Popen([str(tf), f"-chdir={work / 'module'}", "apply", "-input=false", "-no-color",
                             str(work / "saved.tfplan")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    s3 = moto.client("s3")
    lock_key = f"deployer/{name}/terraform.tfstate.tflock"
    deadline = time.monotonic() + 60
    while lock_key not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]:
        assert proc.poll() is None and time.monotonic() < deadline, "terraform never took the lock"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    locked = deployer(root, "provision", "plan", name)
    assert locked.returncode == 1
    assert "locked" in locked.stderr and f"s3://{bucket}/deployer/{name}/terraform.tfstate" in locked.stderr
    hint = next(line for line in locked.stderr.splitlines() if "provision unlock" in line)
    lock_id = hint.split(f"deployer provision unlock {name} ")[1].split("`")[0]
    assert len(lock_id) >= 8

    unlocked = deployer(root, "provision", "unlock", name, lock_id, "--yes")
    assert unlocked.returncode == 0, unlocked.stderr
    # the state was not corrupted: terraform reads it and plans on
    again = deployer(root, "provision", "plan", name, "--output", "json")
    output_json(again, (0, 2))
    assert deployer(root, "provision", "destroy", name, "--yes").returncode == 0


def test_moto_stopped_mid_apply_fails_cleanly_and_keeps_the_state(tmp_path):
    server = Moto(tmp_path)
    try:
        name = f"mo-{uuid.uuid4().hex[:6]}"
        root = make_repo(tmp_path / "repo", name, cluster_yaml(name, server.url, LOCAL_BACKEND))
        work = root / ".state" / "terraform" / name
        assert deployer(root, "provision", "plan", name).returncode == 2
        proc = subprocess.Popen([sys.executable, "-m", "deployer", "--root", str(root), "provision", "apply", name,
                                 "--yes"], env=env_for(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=REPO)
        ec2 = server.client("ec2")
        deadline = time.monotonic() + 60
        while not ec2.describe_vpcs(Filters=[{"Name": "tag:deployer/cluster", "Values": [name]}])["Vpcs"]:
            assert proc.poll() is None and time.monotonic() < deadline, "apply never created the VPC"
            time.sleep(0.05)
        server.stop()  # the cloud API goes away mid-apply
        out, err = proc.communicate(timeout=300)
    finally:
        server.stop()
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err and SECRET_KEY not in out + err
    assert err.startswith("error: terraform apply failed"), err
    assert "hint:" in err and str(work / "terraform.tfstate") in err
    # the state that was written holds what was created, and is intact JSON
    state = json.loads((work / "terraform.tfstate").read_text())
    assert any(r["type"] == "aws_vpc" for r in state["resources"])
    assert not (work / "saved.tfplan").exists()
