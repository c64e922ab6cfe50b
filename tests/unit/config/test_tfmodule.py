"""The `terraform:` block: validation against variables.tf, tfvars and backend planning, reading
terraform's JSON, and the gcp/azure modules (whose providers cannot be installed here)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from deployer.checks.validate import validate
from deployer.config.tfmodule import parse_type, read_module, type_errors
from deployer.plan.terraform_plan import (
    hcl_value, render_backend_config, split_outputs, summarize_plan, terraform_values, tfvars, workspace,
)
from tests.conftest import REPO, require_tool
from tests.repo_builder import make_cluster

MODULES = REPO / "terraform"

AWS_CLUSTER = """\
name: alpha
provider: aws
aws:
  account: 123456789012
  key: enc-deployer-credentials.secret.json
  clusterType: eks
  clusterName: alpha-eks
  region: us-west-2
{terraform}support:
  helm_chart_values_files:
  - support.values.yaml
hubs:
- name: staging
  domain: staging.alpha.example.org
  helm_chart: basehub
  helm_chart_values_files:
  - staging.values.yaml
- name: prod
  domain: prod.alpha.example.org
  helm_chart: basehub
  helm_chart_values_files:
  - prod.values.yaml
"""

BACKEND = """\
terraform:
  backend:
    type: s3
    config: {bucket: state, region: us-west-2}
"""


def aws_repo(tmp_path: Path, terraform: str) -> Path:
    root = tmp_path / "repo"
    folder = make_cluster(root, "alpha", cluster_text=AWS_CLUSTER.format(terraform=textwrap.dedent(terraform)))
    (folder / "enc-deployer-credentials.secret.json").write_text(json.dumps({
        "AccessKey": "ENC[AES256_GCM,data:AA,iv:AA,tag:AA,type:str]",
        "sops": {"age": [{"recipient": "age1qq", "enc": "x"}], "mac": "ENC[AES256_GCM,data:AA,iv:AA,tag:AA,type:str]",
                 "lastmodified": "2026-01-01T00:00:00Z", "version": "3.11.0"}}))
    return root


def problems(root: Path) -> list:
    return [p for p in validate(root).report.problems if p.code.startswith("terraform")]


def test_a_valid_terraform_block_validates_clean(tmp_path):
    root = aws_repo(tmp_path, BACKEND + "  variables:\n    kubernetes_version: '1.31'\n    enable_efs: true\n")
    assert validate(root).report.errors == []


def test_unknown_variable_is_reported_on_its_line_with_did_you_mean(tmp_path):
    root = aws_repo(tmp_path, BACKEND + "  variables:\n    kubernets_version: '1.31'\n")
    (p,) = problems(root)
    assert p.code == "terraform-unknown-variable" and p.file == "config/clusters/alpha/cluster.yaml"
    assert p.line == 14 and "kubernets_version" in p.message
    assert "did you mean `kubernetes_version`" in p.hint


def test_wrong_types_name_the_declared_type_and_the_nested_place(tmp_path):
    root = aws_repo(tmp_path, BACKEND + (
        "  variables:\n"
        "    enable_efs: maybe\n"
        "    availability_zone_count: two\n"
        "    user_node_groups:\n"
        "      big:\n"
        "        instance_type: [r5.xlarge]\n"
        "        max_sise: 3\n"))
    found = {p.message: p for p in problems(root)}
    assert any("`enable_efs`: expected a bool" in m for m in found)
    assert any("`availability_zone_count`: expected a number, got a string" in m for m in found)
    nested = next(p for m, p in found.items() if "user_node_groups.big.instance_type" in m)
    assert nested.line == 18 and "map(object({instance_type = string" in nested.hint
    assert any("`max_sise` is not an attribute" in m and "did you mean `max_size`" in m for m in found)


def test_missing_required_variable_and_missing_backend(tmp_path):
    root = aws_repo(tmp_path, "terraform:\n  module: mod\n  variables: {}\n")
    mod = root / "mod"
    mod.mkdir()
    (mod / "variables.tf").write_text(textwrap.dedent("""\
        variable "cluster_name" { type = string }
        variable "region" { type = string }
        variable "vpc_id" {
          type        = string
          description = "The VPC to use."
        }
    """))
    codes = {p.code: p for p in problems(root)}
    assert codes["terraform-variable-missing"].message == "the module requires `vpc_id`, which is not given"
    assert "The VPC to use." in codes["terraform-variable-missing"].hint
    assert codes["terraform-backend-missing"].line == 9


def test_variables_deployer_sets_and_the_state_key_may_not_be_given(tmp_path):
    root = aws_repo(tmp_path, textwrap.dedent("""\
        terraform:
          backend:
            type: s3
            config: {bucket: state, region: us-west-2, key: shared.tfstate}
          variables:
            cluster_name: other
    """))
    codes = {p.code: p for p in problems(root)}
    assert "set by deployer from the `aws:` block (`alpha-eks`)" in codes["terraform-variable-fixed"].message
    assert "`key` is set by deployer" in codes["terraform-state-key"].message


def test_a_missing_module_is_an_error_not_a_traceback(tmp_path):
    root = aws_repo(tmp_path, BACKEND + "  module: nowhere\n")
    (p,) = problems(root)
    assert p.code == "terraform-module-missing" and "nowhere" in p.message


def test_tfvars_and_backend_give_each_cluster_its_own_state(tmp_path):
    root = aws_repo(tmp_path, BACKEND + "  variables:\n    enable_efs: true\n")
    cluster = validate(root).docs[0].model
    declared = set(read_module(MODULES / "aws").variables)
    assert tfvars(cluster, declared) == {"cluster_name": "alpha-eks", "enable_efs": True,
                                         "hub_namespaces": ["staging", "prod"], "region": "us-west-2"}
    ws = workspace(root, cluster, MODULES / "aws", {"DEPLOYER_STATE_DIR": str(tmp_path / "st")}, declared)
    assert ws.backend_config == {"bucket": "state", "region": "us-west-2", "key": "deployer/alpha/terraform.tfstate"}
    assert ws.dir == tmp_path / "st" / "terraform" / "alpha" and ws.tfvars_file.name == "alpha.tfvars.json"
    files = {p.name: t for p, t in ws.files({"main.tf": "x"}).items()}
    assert 'backend "s3" {}' in files["_deployer_backend.tf"]
    # anything that shapes the plan changes the fingerprint
    other = workspace(root, cluster.model_copy(update={"terraform": cluster.terraform.model_copy(
        update={"variables": {"enable_efs": False}})}), MODULES / "aws", {"DEPLOYER_STATE_DIR": str(tmp_path / "st")},
        declared)
    assert ws.fingerprint({"main.tf": "x"}) != other.fingerprint({"main.tf": "x"})
    assert ws.fingerprint({"main.tf": "x"}) != ws.fingerprint({"main.tf": "y"})


def test_backend_config_is_rendered_as_hcl():
    text = render_backend_config({"bucket": "b", "use_lockfile": True, "endpoints": {"s3": "http://x:1"},
                                  "odd key": "${not interpolated}"})
    assert text == ('bucket = "b"\nuse_lockfile = true\nendpoints = {\n  s3 = "http://x:1"\n}\n'
                    '"odd key" = "$${not interpolated}"\n')
    assert hcl_value([1, "a"]) == '[1, "a"]'


def test_type_parser_and_checker():
    t = parse_type('${map(object({a = optional(number, 1), b = string, c = optional(list(string), ["x"])}))}')
    assert str(t) == "map(object({a = optional(number), b = string, c = optional(list(string))}))"
    assert type_errors({"k": {"b": "s", "a": "3"}}, t) == []
    assert type_errors({"k": {"a": 1}}, t) == [(("k",), "attribute `b` is required")]
    assert type_errors(["x"], parse_type("set(number)")) == [((0,), "expected a number, got a string")]
    assert type_errors(True, parse_type("string")) == []  # terraform turns a bool into "true"
    assert type_errors(["a"], parse_type("string")) == [((), "expected a string, got a list")]


PLAN_JSON = {
    "resource_changes": [
        {"address": "aws_vpc.main", "type": "aws_vpc", "change": {"actions": ["no-op"]}},
        {"address": "aws_subnet.a", "type": "aws_subnet", "change": {"actions": ["create"]}},
        {"address": "aws_iam_role.x", "type": "aws_iam_role", "change": {"actions": ["update"]}},
        {"address": "aws_eks_node_group.main[\"core\"]", "type": "aws_eks_node_group",
         "change": {"actions": ["delete", "create"], "replace_paths": [["remote_access"]]}},
        {"address": "aws_s3_bucket.old", "type": "aws_s3_bucket", "change": {"actions": ["delete"]}},
        {"address": "data.aws_x.y", "type": "aws_x", "change": {"actions": ["read"]}},
    ],
    "output_changes": {"a": {"actions": ["no-op"]}, "b": {"actions": ["update"]}},
}


def test_plan_summary_counts_as_terraform_does():
    s = summarize_plan(PLAN_JSON)
    assert (s.add, s.change, s.destroy) == (2, 1, 2)
    assert s.line() == "2 to add, 1 to change, 2 to destroy"
    assert [c.action for c in s.changes] == ["create", "update", "replace", "delete"]
    assert s.changes[2].replace_paths == (("remote_access",),)
    assert s.output_changes == ("b",)
    assert not summarize_plan({"resource_changes": [PLAN_JSON["resource_changes"][0]]}).has_changes


def test_sensitive_outputs_are_neither_shown_nor_saved_and_outputs_become_values():
    raw = {"cluster_endpoint": {"sensitive": False, "value": "https://k"},
           "hub_role_arns": {"sensitive": False, "value": {"prod": "arn:prod"}},
           "user_service_account": {"sensitive": False, "value": "user-sa"},
           "ca": {"sensitive": True, "value": "SECRET-CA"}}
    out = split_outputs(raw)
    assert out.sensitive == ("ca",) and "SECRET-CA" not in json.dumps(out.to_json())
    values = terraform_values(out.values, hub="prod")
    assert values == {"global": {"cloud": {
        "cluster_endpoint": "https://k", "hub_role_arns": {"prod": "arn:prod"}, "user_service_account": "user-sa",
        "hub": {"roleArn": "arn:prod", "serviceAccountName": "user-sa"}}}}
    assert terraform_values({}) == {}
    assert "hub" not in terraform_values(out.values, hub="staging")["global"]["cloud"]


# --- the modules -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_modules_are_terraform_fmt_clean(provider):
    terraform = require_tool("terraform")
    proc = subprocess.run([str(terraform), "fmt", "-check", "-recursive", "-list=true", str(MODULES / provider)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_modules_parse_and_every_variable_is_typed_and_described(provider):
    module = read_module(MODULES / provider)
    assert module.backend is None  # deployer adds the backend from cluster.yaml
    for var in module.variables.values():
        assert var.description, f"{provider}: variable {var.name} has no description"
    text = (MODULES / provider / "variables.tf").read_text()
    assert text.count("variable \"") == text.count("  type ")  # a type on every variable
    assert {"cluster_endpoint", "cluster_ca_certificate", "cluster_name"} <= set(module.outputs)


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_what_deployer_generates_fits_each_module(provider, tmp_path):
    """Every variable deployer writes into <cluster>.tfvars.json (for a cluster made by
    `generate cluster`) is declared by the module with a fitting type, and every required
    variable is written. For gcp and azure this is the check that stands in for a real plan."""
    from deployer.plan.scaffold import check_request, render

    req = check_request(name="new", provider=provider, project="my-project-1" if provider == "gcp" else None,
                        account="123456789012" if provider == "aws" else None,
                        subscription="00000000-0000-0000-0000-000000000000" if provider == "azure" else None)
    files = {f.path: f.text for f in render(req, {"staging": "t", "prod": "t"})}
    from deployer.config.models import Cluster
    from deployer.config.yamlload import load_yaml

    cluster = Cluster.model_validate(load_yaml(files["cluster.yaml"]).data)
    module = read_module(MODULES / provider)
    generated = tfvars(cluster, set(module.variables))
    for name, value in generated.items():
        assert name in module.variables, f"deployer writes `{name}`, which terraform/{provider} does not declare"
        assert type_errors(value, module.variables[name].type) == [], (name, value)
    missing = [n for n, v in module.variables.items() if v.required and n not in generated]
    assert missing == []
    # and the provider-block variables are exactly the module's identity variables
    expected = {"gcp": {"project_id", "cluster_name", "location"}, "aws": {"cluster_name", "region"},
                "azure": {"resource_group_name", "cluster_name", "subscription_id"}}[provider]
    assert expected <= set(generated)


# --- provision refuses bad input before terraform runs ------------------------------------------


def provision(root: Path, *args: str) -> int:
    from deployer.cli import app
    from deployer.cli.app import run_app

    return run_app(app, ["--root", str(root), "provision", *args])


@pytest.mark.parametrize("terraform, expected", [
    (BACKEND + "  variables:\n    kubernets_version: '1.31'\n",
     "config/clusters/alpha/cluster.yaml:14:5: `kubernets_version` is not a variable of the module"),
    (BACKEND + "  variables:\n    enable_efs: [yes]\n",
     "config/clusters/alpha/cluster.yaml:14:17: `enable_efs`: expected a bool"),
    ("terraform:\n  variables: {}\n",
     "config/clusters/alpha/cluster.yaml:9:1: the `terraform:` block has no `backend:`"),
])
def test_provision_refuses_bad_terraform_blocks_with_file_line_and_fix(tmp_path, capsys, terraform, expected):
    root = aws_repo(tmp_path, terraform)
    for command in ("plan", "apply", "destroy", "output"):
        assert provision(root, command, "alpha", "--yes" if command in ("apply", "destroy") else "--timeout=60") == 1
        err = capsys.readouterr().err
        assert expected in err, err
        assert "hint: run `deployer validate`" in err and "Traceback" not in err
    assert not (root / ".state").exists()  # nothing was written, terraform never ran


def test_provision_of_a_cluster_without_terraform_block_says_so(tmp_path, capsys):
    root = aws_repo(tmp_path, "")
    assert provision(root, "plan", "alpha") == 1
    err = capsys.readouterr().err
    assert "has no `terraform:` block in config/clusters/alpha/cluster.yaml" in err
    assert provision(root, "plan", "nope") == 2
    assert "known clusters: alpha" in capsys.readouterr().err
