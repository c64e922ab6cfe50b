"""`generate cluster`: the files of a new cluster folder (pure).

Every option is checked first (`check_request`: names are DNS labels, hubs unique, the domain a
hostname, region/project/account/bucket/... in their provider's syntax, no control characters
anywhere), then the files are built as data and written by the YAML library (ruamel) and `json`:
no user input is ever pasted into a text template, so no option can add a key, a document or a
comment. Outputs are the files (relative path, text, and whether it is a secret to encrypt with
sops). Nothing is written here: `deployer.run.generate` encrypts the secrets and writes the folder,
refusing to overwrite anything, and checks the result with `deployer validate`.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deployer.errors import UsageError

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?\Z")
HOSTNAME = re.compile(r"(?=.{1,200}\Z)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+\Z")
REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+){0,4}\Z")  # us-west-2, us-central1, us-central1-b, eastus
GCP_PROJECT = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]\Z")
AWS_ACCOUNT = re.compile(r"[0-9]{12}\Z")
AZURE_GROUP = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.()]{0,88}[-A-Za-z0-9_()]\Z|[A-Za-z0-9]\Z")
UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
BUCKET = re.compile(r"[a-z0-9][-a-z0-9._]{1,61}[a-z0-9]\Z")
AZURE_STORAGE = re.compile(r"[a-z0-9]{3,24}\Z")
DEFAULT_REGION = {"gcp": "us-central1", "aws": "us-west-2", "azure": "eastus"}
MAX_HUBS = 20
NAME_RULE = "1-40 lowercase letters, digits and '-', starting and ending with a letter or digit"


def _check(pattern: re.Pattern[str], what: str) -> Any:
    def check(cls: Any, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        if any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise ValueError("control characters (such as a newline) are not allowed")
        if not pattern.match(v):
            raise ValueError(f"`{v[:80]}` is not {what}")
        return v

    return classmethod(check)  # type: ignore[arg-type]


class ScaffoldRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    provider: Literal["gcp", "aws", "azure"]
    region: Optional[str] = None
    project: Optional[str] = None  # gcp
    account: Optional[str] = None  # aws
    resource_group: Optional[str] = None  # azure
    subscription: Optional[str] = None  # azure
    domain: Optional[str] = None
    state_bucket: Optional[str] = None
    chart: Literal["basehub", "daskhub"] = "basehub"
    hubs: tuple[str, ...] = ("staging", "prod")
    contact_email: str = Field("ops@example.org")

    _region = field_validator("region")(_check(REGION, "a region or zone (e.g. us-west-2, us-central1-b, eastus)"))
    _project = field_validator("project")(_check(GCP_PROJECT, "a GCP project ID (6-30 lowercase letters, digits, '-')"))
    _account = field_validator("account")(_check(AWS_ACCOUNT, "a 12-digit AWS account ID"))
    _group = field_validator("resource_group")(_check(AZURE_GROUP, "an Azure resource group name"))
    _subscription = field_validator("subscription")(_check(UUID, "an Azure subscription ID (a UUID)"))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not DNS_LABEL.match(v):
            raise ValueError(f"must be {NAME_RULE}")
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        if not HOSTNAME.match(v):
            raise ValueError(f"`{v[:80]}` is not a domain name: lowercase labels of letters, digits and '-', "
                             "joined by dots, e.g. hub.example.org (no scheme, path, port or spaces)")
        return v

    @field_validator("state_bucket")
    @classmethod
    def _bucket(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not BUCKET.match(v):
            raise ValueError(f"`{v[:80]}` is not a bucket name (3-63 lowercase letters, digits, '-', '.', '_')")
        return v

    @field_validator("hubs")
    @classmethod
    def _hubs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("name at least one hub")
        if len(v) > MAX_HUBS:
            raise ValueError(f"at most {MAX_HUBS} hubs at once")
        for hub in v:
            if not DNS_LABEL.match(hub):
                raise ValueError(f"hub name `{hub[:80]}` must be {NAME_RULE} (it becomes a namespace and file names)")
        repeated = sorted({h for h in v if v.count(h) > 1})
        if repeated:
            raise ValueError(f"hub {', '.join(f'`{h}`' for h in repeated)} is named more than once")
        return v

    @model_validator(mode="after")
    def _provider_needs(self) -> "ScaffoldRequest":
        if self.provider == "gcp" and not self.project:
            raise ValueError("--project (the GCP project ID) is required for --provider gcp")
        if self.provider == "aws" and not self.account:
            raise ValueError("--account (the 12-digit AWS account ID) is required for --provider aws")
        if self.provider == "azure" and self.state_bucket is not None and not AZURE_STORAGE.match(self.state_bucket):
            raise ValueError("on azure, --state-bucket is a storage account name: 3-24 lowercase letters and digits")
        for opt, value, provider in (("--project", self.project, "gcp"), ("--account", self.account, "aws"),
                                     ("--resource-group", self.resource_group, "azure"),
                                     ("--subscription", self.subscription, "azure")):
            if value is not None and self.provider != provider:
                raise ValueError(f"{opt} is for --provider {provider}, not {self.provider}")
        domain = self.domain or f"{self.name}.example.org"
        for hub in self.hubs:
            if hub != "prod" and len(f"{hub}.{domain}") > 253:
                raise ValueError(f"hub `{hub}`'s domain {hub}.{domain} is longer than 253 characters")
        return self

    def hub_domain(self, hub: str) -> str:
        domain = self.domain or f"{self.name}.example.org"
        return domain if hub == "prod" else f"{hub}.{domain}"


OPTION_NAMES = {"name": "NAME", "hubs": "--hub", "state_bucket": "--state-bucket", "resource_group": "--resource-group"}


@dataclass(frozen=True)
class ScaffoldFile:
    path: str  # relative to the cluster folder
    text: str
    secret: bool = False


def check_request(**kwargs: Any) -> ScaffoldRequest:
    from pydantic import ValidationError

    try:
        return ScaffoldRequest(**{k: v for k, v in kwargs.items() if v is not None})
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(x) for x in first.get("loc", ()) if not isinstance(x, int)]
        where = OPTION_NAMES.get(loc[0], f"--{loc[0].replace('_', '-')}") if loc else "options"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise UsageError(f"generate cluster: {where}: {message}", hint="nothing was written") from e


def _yaml(data: Any, header: str) -> str:
    from ruamel.yaml import YAML

    y = YAML()
    y.default_flow_style = False
    y.width = 4096
    out = io.StringIO()
    y.dump(data, out)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + out.getvalue()


def _state_bucket(req: ScaffoldRequest) -> str:
    if req.state_bucket:
        return req.state_bucket
    if req.provider == "gcp":
        return f"{req.project}-terraform-state"
    if req.provider == "aws":
        return f"{req.name}-tfstate-{req.account}"
    return (re.sub(r"[^a-z0-9]", "", req.name) + "tfstate")[:24]


def cluster_data(req: ScaffoldRequest) -> dict[str, Any]:
    region = req.region or DEFAULT_REGION[req.provider]
    bucket = _state_bucket(req)
    resource_group = req.resource_group or f"{req.name}-rg"
    data: dict[str, Any] = {"name": req.name, "provider": req.provider}
    if req.provider == "gcp":
        data["provider_url"] = f"https://console.cloud.google.com/kubernetes/list?project={req.project}"
        data["gcp"] = {"key": "enc-deployer-credentials.secret.json", "project": req.project, "cluster": req.name,
                       "zone": region}
        backend = {"type": "gcs", "config": {"bucket": bucket}}
        variables: dict[str, Any] = {
            "user_node_pools": {"n2-highmem-4": {"machine_type": "n2-highmem-4"}}, "dask_node_pools": {},
            "user_buckets": {"scratch": {"delete_after_days": 7, "hubs": list(req.hubs)}}}
    elif req.provider == "aws":
        data["aws"] = {"key": "enc-deployer-credentials.secret.json", "account": req.account, "clusterType": "eks",
                       "clusterName": req.name, "region": region}
        backend = {"type": "s3", "config": {"bucket": bucket, "region": region, "use_lockfile": True}}
        variables = {"user_node_groups": {"r5-xlarge": {"instance_type": "r5.xlarge"}}, "dask_node_groups": {},
                     "user_buckets": {"scratch": {"delete_after_days": 7, "hubs": list(req.hubs)}}}
    else:
        azure: dict[str, Any] = {"key": "enc-deployer-credentials.secret.json", "resource_group": resource_group,
                                 "cluster": req.name}
        if req.subscription:
            azure["subscription_id"] = req.subscription
        data["azure"] = azure
        backend = {"type": "azurerm", "config": {"resource_group_name": resource_group, "storage_account_name": bucket,
                                                 "container_name": "tfstate"}}
        variables = {"location": region, "user_node_pools": {"usere4": {"vm_size": "Standard_E4s_v5"}},
                     "home_share_quota_gb": 0}
    data["terraform"] = {"backend": backend, "variables": variables}
    data["support"] = {"helm_chart_values_files": ["support.values.yaml"]}
    data["hubs"] = [
        {"name": hub, "display_name": f"{req.name} {hub}", "domain": req.hub_domain(hub), "helm_chart": req.chart,
         "helm_chart_values_files": [f"{hub}.values.yaml", f"enc-{hub}.secret.values.yaml"]}
        for hub in req.hubs
    ]
    return data


def _chart_values(req: ScaffoldRequest, values: dict[str, Any]) -> dict[str, Any]:
    return {"basehub": {"jupyterhub": values}} if req.chart == "daskhub" else {"jupyterhub": values}


def _credentials(req: ScaffoldRequest) -> dict[str, Any]:
    if req.provider == "gcp":
        return {"type": "service_account", "project_id": req.project,
                "private_key": "REPLACE-ME: gcloud iam service-accounts keys create"}
    if req.provider == "aws":
        return {"AccessKey": {"AccessKeyId": "REPLACE-ME",
                              "SecretAccessKey": f"REPLACE-ME: aws iam create-access-key --user-name {req.name}-deployer"}}
    return {"appId": "REPLACE-ME", "password": "REPLACE-ME: az ad sp create-for-rbac --skip-assignment",
            "tenant": "REPLACE-ME"}


def render(req: ScaffoldRequest, proxy_tokens: dict[str, str]) -> list[ScaffoldFile]:
    """Every file of the new cluster folder."""
    files = [
        ScaffoldFile("cluster.yaml", _yaml(cluster_data(req), (
            "Scaffolded by `deployer generate cluster`. Check every value, then run\n"
            "`deployer validate` and `deployer provision plan` for this cluster.\n"
            "The key files are sops-encrypted placeholders: replace them once the cloud resources exist."))),
        ScaffoldFile("support.values.yaml", _yaml(
            {"letsencrypt": {"clusterIssuer": {"contactEmail": req.contact_email}}},
            "The support stack: nginx-ingress, cert-manager, Prometheus, Grafana (and on AWS the cluster\n"
            "autoscaler, which the provision outputs switch on with its IAM role).\n"
            "letsencrypt.clusterIssuer.contactEmail is where Let's Encrypt sends expiry notices.")),
        ScaffoldFile("enc-deployer-credentials.secret.json", json.dumps(_credentials(req)) + "\n", secret=True),
    ]
    for hub in req.hubs:
        files.append(ScaffoldFile(f"{hub}.values.yaml", _yaml(
            _chart_values(req, {"singleuser": {"defaultUrl": "/lab"}}), "A hub's own values (see its cluster.yaml).")))
        files.append(ScaffoldFile(f"enc-{hub}.secret.values.yaml", _yaml(
            _chart_values(req, {"proxy": {"secretToken": proxy_tokens[hub]}}), "Encrypted with sops."), secret=True))
    return files
