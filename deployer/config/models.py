"""Typed models of a configuration repository: clusters, their provider blocks, and hubs.

The format reads, unchanged, the `cluster.yaml` files of the 2i2c infrastructure repository
(see README "Configuration format"); it adds optional blocks of ours (`local`, `terraform`,
a hub's `stage`, remote charts) and never requires a key that format lacks.

Models only describe shape and types. Rules that need the file system or several clusters
at once (files exist, domains unique, ...) live in `deployer.checks`.
"""

from __future__ import annotations

import enum
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

# Each model forbids unknown keys: a typo must never pass silently.
_STRICT = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Model(BaseModel):
    model_config = _STRICT


class Provider(str, enum.Enum):
    gcp = "gcp"
    aws = "aws"
    azure = "azure"
    kubeconfig = "kubeconfig"
    local = "local"


class Tenancy(str, enum.Enum):
    dedicated = "dedicated"
    shared = "shared"


# --- provider blocks -------------------------------------------------------------------------


class BigQueryBilling(Model):
    project: str = Field(description="Project holding the BigQuery dataset that billing exports to.")
    dataset: str = Field(description="BigQuery dataset that billing exports to.")
    billing_id: str = Field(description="Billing account ID, of the form XXXXXX-XXXXXX-XXXXXX.")


class GcpBilling(Model):
    paid_by_us: bool = Field(description="True when the cloud bill is paid by the operators, and recovered later.")
    bigquery: Optional[BigQueryBilling] = Field(None, description="Where the billing export lives.")


class AwsBilling(Model):
    paid_by_us: bool = Field(description="True when the cloud bill is paid by the operators, and recovered later.")


class GcpConfig(Model):
    """How to reach a GKE cluster."""

    key: str = Field(description="sops-encrypted service-account JSON key, relative to the cluster folder.")
    project: str = Field(description="GCP project ID holding the cluster.")
    cluster: str = Field(description="GKE cluster name inside the project.")
    zone: str = Field(description="Zone of a zonal cluster, or region of a regional one.")
    billing: Optional[GcpBilling] = None


class AwsConfig(Model):
    """How to reach an EKS cluster."""

    account: int = Field(description="AWS account ID (12 digits), not its alias.")
    key: str = Field(description="sops-encrypted JSON with the deployer's AWS credentials, relative to the cluster folder.")
    clusterType: Literal["eks"] = Field("eks", description="Only EKS is supported.")
    clusterName: str = Field(description="EKS cluster name.")
    region: str = Field(description="AWS region, e.g. us-west-2.")
    billing: Optional[AwsBilling] = None


class AzureConfig(Model):
    """How to reach an AKS cluster."""

    key: str = Field(description="sops-encrypted service-principal JSON, relative to the cluster folder.")
    resource_group: str = Field(description="Resource group holding the cluster.")
    cluster: str = Field(description="AKS cluster name.")
    subscription_id: Optional[str] = Field(None, description="Azure subscription ID (optional).")


class KubeconfigConfig(Model):
    """A cluster reached through a kubeconfig file (any Kubernetes, e.g. kind or a campus cluster)."""

    file: str = Field(description="Kubeconfig file (usually sops-encrypted), relative to the cluster folder.")
    context: Optional[str] = Field(None, description="Context to use inside the file (default: its current context).")


class LocalConfig(Model):
    """The embedded local cluster that `deployer local up` starts (Kubernetes 1.34 with a real node on this machine)."""

    state_dir: Optional[str] = Field(
        None, description="Where the local cluster keeps its state, relative to this cluster's folder (default: <state "
        "folder>/local: .deployer/local in the configuration repository, or the global --state-dir)."
    )


class TerraformBackend(Model):
    type: Literal["gcs", "s3", "azurerm", "local"] = Field(
        description="Terraform state backend: gcs, s3 or azurerm for real clusters, local for tests."
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Backend settings (bucket, region, ...) without the state's key: deployer names the state "
        "after the cluster (s3/azurerm `key`, gcs `prefix`, local `path`).",
    )


class TerraformConfig(Model):
    """Provisioning with the module under `terraform/<provider>` (see README: Provisioning clusters)."""

    module: Optional[str] = Field(
        None,
        description="Folder of the Terraform root module, relative to the repository root "
        "(default: terraform/<provider> of the repository, else the one shipped with deployer).",
    )
    backend: Optional[TerraformBackend] = Field(None, description="Where the cluster's Terraform state lives (required).")
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Values for the module's variables.tf, beside those deployer sets from the provider block.",
    )


# --- charts and hubs -------------------------------------------------------------------------


class RemoteChart(Model):
    """A chart from a chart repository, pinned to a version."""

    name: str = Field(description="Chart name inside the repository.")
    repository: str = Field(description="Chart repository URL (https:// or oci://).")
    version: str = Field(description="Exact chart version.")


ChartRef = Union[str, RemoteChart]


class UptimeCheck(Model):
    expected_status: Optional[Union[int, str]] = Field(
        None, description="HTTP status the hub's health endpoint should answer with (default 200)."
    )


class SupportConfig(Model):
    """The cluster's support stack: ingress, cert-manager, Prometheus, Grafana."""

    helm_chart: ChartRef = Field("support", description="Chart for the support stack (default: our `support` chart).")
    helm_chart_values_files: list[str] = Field(
        default_factory=list, description="Values files for the support chart, in order, relative to the cluster folder."
    )
    grafana_url: Optional[str] = Field(
        None, description="Grafana's URL for `deployer grafana` and deploy annotations (default: from the support "
                          "values, grafana.grafana.ini.server.root_url, else https://<first grafana.ingress.hosts>).",
    )


class Stage(str, enum.Enum):
    staging = "staging"
    prod = "prod"


class Hub(Model):
    name: str = Field(description="Hub name; also its Helm release name and Kubernetes namespace.")
    display_name: Optional[str] = Field(None, description="Human-friendly name of the hub.")
    domain: str = Field(description="DNS name the hub answers on.")
    helm_chart: ChartRef = Field(description="basehub, daskhub, a chart folder under helm-charts/, or a remote chart.")
    helm_chart_values_files: list[str] = Field(
        default_factory=list, description="Values files, layered in order, relative to the cluster folder."
    )
    chart_override: Optional[str] = Field(
        None, description="A Chart.yaml replacing the chart's own for this hub, relative to the cluster folder."
    )
    domain_override_file: Optional[str] = Field(
        None, description="A (possibly encrypted) YAML file whose `domain` key replaces `domain` for this hub."
    )
    uptime_check: Optional[UptimeCheck] = None
    stage: Optional[Stage] = Field(
        None, description="staging or prod; default: staging when the hub name contains 'staging', else prod."
    )

    @property
    def effective_stage(self) -> Stage:
        if self.stage is not None:
            return self.stage
        return Stage.staging if "staging" in self.name else Stage.prod


class Cluster(Model):
    name: str = Field(description="Cluster name; must equal its folder name under config/clusters.")
    provider: Provider = Field(description="Where the cluster runs: gcp, aws, azure, kubeconfig or local.")
    provider_url: Optional[str] = Field(None, description="Link to the provider's console for this cluster.")
    tenancy: Optional[Tenancy] = Field(None, description="dedicated (default) or shared.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form metadata; not used by deployer.")
    gcp: Optional[GcpConfig] = None
    aws: Optional[AwsConfig] = None
    azure: Optional[AzureConfig] = None
    kubeconfig: Optional[KubeconfigConfig] = None
    local: Optional[LocalConfig] = None
    terraform: Optional[TerraformConfig] = None
    support: Optional[SupportConfig] = None
    kubernetes_version: Optional[str] = Field(
        None, pattern=r"^v?\d+\.\d+(\.\d+)?$",
        description="Kubernetes version the cluster runs, e.g. 1.34 (default: the local cluster's, 1.34): "
        "`deployer render` checks charts and objects against it.",
    )
    hubs: list[Hub] = Field(default_factory=list, description="The hubs deployed to this cluster.")

    def provider_block(self) -> Optional[Model]:
        return getattr(self, self.provider.value)

    def hub(self, name: str) -> Optional[Hub]:
        return next((h for h in self.hubs if h.name == name), None)


PROVIDER_BLOCKS = ("gcp", "aws", "azure", "kubeconfig", "local")
