"""The values layers deployer computes itself: the generated layer (what deployer knows of a hub: its
names, its domain on the ingress with TLS, the kind of cloud disk its NFS server serves) and the layer of
provision's saved outputs (under `global.cloud`; for the support chart, the cluster autoscaler and cost
monitoring they provide for). Where they go among a release's layers: `deployer.plan.value_layers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

TLS_SECRET = "https-auto-tls"


# basehub's in-cluster NFS server serves a cloud disk through that cloud's CSI driver: which one is the
# cluster's provider, known to deployer and not to the chart (jupyterhub-home-nfs's own keys)
_HOME_NFS_DISK = {"gcp": "gke", "aws": "eks"}


def generated_values(*, cluster: str, hub: str, domain: str, dependencies: list[str], chart_name: str,
                     provider: str = "") -> dict[str, Any]:
    """What deployer knows about a hub, as values, layered before the hub's own files (so that
    they can still override it): its domain on the ingress with TLS, its names, and for basehub
    the kind of cloud disk its in-cluster NFS server serves (`jupyterhub-home-nfs.gke/eks.enabled`)."""
    ingress = {"hosts": [domain], "tls": [{"hosts": [domain], "secretName": TLS_SECRET}]}
    values: dict[str, Any] = {"global": {"hubName": hub, "clusterName": cluster, "domain": domain}}
    if "basehub" in dependencies:
        values["basehub"] = {"jupyterhub": {"ingress": ingress}}
    elif "jupyterhub" in dependencies:
        values["jupyterhub"] = {"ingress": ingress}
    elif chart_name == "jupyterhub":
        values["ingress"] = ingress
    basehub = values.get("basehub") if "basehub" in dependencies else values if chart_name == "basehub" else None
    if basehub is not None and provider in _HOME_NFS_DISK:
        basehub["jupyterhub-home-nfs"] = {_HOME_NFS_DISK[provider]: {"enabled": True}}
    return values


# --- provision's outputs as a values layer ----------------------------------------------------

_HUB_IDENTITY = {"hub_role_arns": "roleArn", "hub_service_accounts": "serviceAccountEmail"}


def terraform_values(outputs: Mapping[str, Any], hub: Optional[str] = None) -> dict[str, Any]:
    """The saved outputs of `deployer provision` as a generated values layer.

    Every (non-sensitive) output goes under `global.cloud` with its own name, so any chart can
    read e.g. `.Values.global.cloud.cluster_endpoint`; for a hub, `global.cloud.hub` holds its
    own cloud identity (IRSA role ARN or Google service-account email) and the Kubernetes
    service account that identity trusts. Layer it after deployer's generated layer and before
    the hub's own values files, so a values file can still override it.
    """
    if not outputs:
        return {}
    cloud: dict[str, Any] = {k: v for k, v in sorted(outputs.items())}
    if hub is not None:
        mine: dict[str, Any] = {}
        for output, key in _HUB_IDENTITY.items():
            by_hub = outputs.get(output)
            if isinstance(by_hub, Mapping) and hub in by_hub:
                mine[key] = by_hub[hub]
        if mine and outputs.get("user_service_account"):
            mine["serviceAccountName"] = outputs["user_service_account"]
        if mine:
            cloud["hub"] = mine
    return {"global": {"cloud": cloud}}


# --- the support chart's cluster autoscaler, from the same outputs --------------------------------
#
# `terraform/aws` makes the cluster autoscaler's IAM role (IRSA) and outputs it with the service account
# it trusts. On such a cluster the support stack's outputs layer switches the autoscaler on, with that
# role on its service account, the EKS cluster's name for node-group discovery and the region: a cluster
# that `deployer provision` made scales its user and dask node groups from zero with no value written by
# hand. The cluster's own support values files come later and can still turn it off.

IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


def support_cloud_values(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The support chart's values from the saved outputs: the cluster autoscaler, and cost monitoring
    when the module made its role ({} when they hold neither)."""
    values: dict[str, Any] = {}
    cost_role = outputs.get("cost_monitoring_role_arn")
    if isinstance(cost_role, str) and cost_role:
        values["jupyterhub-cost-monitoring"] = {
            "enabled": True, "serviceAccount": {"annotations": {IRSA_ROLE_ANNOTATION: cost_role}}}
    role = outputs.get("cluster_autoscaler_role_arn")
    if not isinstance(role, str) or not role:
        return values
    autoscaler: dict[str, Any] = {
        "enabled": True,
        "cloudProvider": "aws",
        "rbac": {"serviceAccount": {"annotations": {IRSA_ROLE_ANNOTATION: role}}},
    }
    account = outputs.get("cluster_autoscaler_service_account")
    if isinstance(account, Mapping) and account.get("name"):
        autoscaler["rbac"]["serviceAccount"]["name"] = str(account["name"])
    if outputs.get("cluster_name"):
        autoscaler["autoDiscovery"] = {"clusterName": str(outputs["cluster_name"])}
    if outputs.get("region"):
        autoscaler["awsRegion"] = str(outputs["region"])
    return {**values, "cluster-autoscaler": autoscaler}
