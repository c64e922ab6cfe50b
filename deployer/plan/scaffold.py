"""`generate cluster`: the files of a new cluster folder, rendered from jinja2 templates (pure).

Inputs are a typed request; outputs are the files (relative path, text, and whether it is a
secret to encrypt with sops). Nothing is written here: `deployer.run.generate` encrypts the
secrets and writes the folder, refusing to overwrite anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deployer.errors import UsageError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "cluster"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?\Z")
DEFAULT_REGION = {"gcp": "us-central1", "aws": "us-west-2", "azure": "eastus"}


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

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not DNS_LABEL.match(v):
            raise ValueError("must be 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit")
        return v

    @model_validator(mode="after")
    def _provider_needs(self) -> "ScaffoldRequest":
        if self.provider == "gcp" and not self.project:
            raise ValueError("--project (the GCP project ID) is required for --provider gcp")
        if self.provider == "aws" and not (self.account and re.fullmatch(r"[0-9]{12}", self.account)):
            raise ValueError("--account (the 12-digit AWS account ID) is required for --provider aws")
        return self


@dataclass(frozen=True)
class ScaffoldFile:
    path: str  # relative to the cluster folder
    text: str
    secret: bool = False


def check_request(**kwargs) -> ScaffoldRequest:
    from pydantic import ValidationError

    try:
        return ScaffoldRequest(**{k: v for k, v in kwargs.items() if v is not None})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "options"
        raise UsageError(f"generate cluster: {where}: {first['msg'].removeprefix('Value error, ')}") from e


def context(req: ScaffoldRequest, proxy_tokens: dict[str, str]) -> dict:
    region = req.region or DEFAULT_REGION[req.provider]
    domain = req.domain or f"{req.name}.example.org"
    hub_domains = {hub: (domain if hub == "prod" else f"{hub}.{domain}") for hub in req.hubs}
    resource_group = req.resource_group or f"{req.name}-rg"
    if req.state_bucket:
        bucket = req.state_bucket
    elif req.provider == "gcp":
        bucket = f"{req.project}-terraform-state"
    elif req.provider == "aws":
        bucket = f"{req.name}-terraform-state-{req.account}"
    else:
        bucket = (re.sub(r"[^a-z0-9]", "", req.name) + "tfstate")[:24]
    return {
        "name": req.name, "provider": req.provider, "region": region, "project": req.project,
        "account": req.account, "resource_group": resource_group, "subscription": req.subscription,
        "state_bucket": bucket, "state_resource_group": resource_group, "chart": req.chart,
        "hubs": list(req.hubs), "hub_domains": hub_domains, "contact_email": req.contact_email,
    }


def render(req: ScaffoldRequest, proxy_tokens: dict[str, str], templates: Path = TEMPLATES) -> list[ScaffoldFile]:
    """Every file of the new cluster folder."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
    )
    ctx = context(req, proxy_tokens)
    files = [
        ScaffoldFile("cluster.yaml", env.get_template("cluster.yaml.j2").render(ctx)),
        ScaffoldFile("support.values.yaml", env.get_template("support.values.yaml.j2").render(ctx)),
        ScaffoldFile("enc-deployer-credentials.secret.json",
                     env.get_template("deployer-credentials.json.j2").render(ctx).strip() + "\n", secret=True),
    ]
    for hub in req.hubs:
        files.append(ScaffoldFile(f"{hub}.values.yaml", env.get_template("hub.values.yaml.j2").render(ctx, hub=hub)))
        files.append(ScaffoldFile(f"enc-{hub}.secret.values.yaml",
                                  env.get_template("hub.secret.values.yaml.j2").render(ctx, proxy_token=proxy_tokens[hub]),
                                  secret=True))
    return files
