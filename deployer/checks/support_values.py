"""The keys a cluster's support values set: each changes what the support chart deploys, or is refused
here by name with the fix. Nothing is accepted and dropped.

The keys the chart takes are read from its own values.schema.json (the one source); what this module
adds is what the schema cannot say: keys of 2i2c's support chart that ours does not carry (with a
migration hint rather than "additional property not allowed"), and settings that make no sense on
the cluster's provider (a cluster autoscaler where the cloud scales node pools itself). Checked
offline, on the support values files in layering order; an `enabled` switch stored encrypted is not
judged (its value cannot be read).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from deployer.checks.alert_routing import check_alert_routing
from deployer.checks.problems import Problem
from deployer.config.file_reader import DataFile

# Keys of 2i2c's support chart (present or past) that this chart does not carry, and the fix.
NOT_CARRIED: dict[str, tuple[str, str]] = {
    "reflector": ("reflector-unavailable",
                  "the support chart does not install emberstack's reflector (it copies Secrets such as "
                  "prometheus-auth into hub namespaces): remove `reflector`, and give a hub that needs the "
                  "Prometheus credentials its own sops-encrypted copy"),
    "ingress-nginx": ("ingress-nginx-retired",
                      "ingress-nginx was retired by the Kubernetes project (March 2026); the support chart runs "
                      "F5's nginx-ingress 2.4.4: move these settings under `nginx-ingress` (its keys differ: "
                      "controller.config.entries for the ConfigMap, controller.service for the Service)"),
    "prometheusIngressAuthSecret": ("prometheus-auth-secret-renamed",
                                    "renamed: put `username` and `password` under `prometheusAuthSecret`"),
    "nfs-server-provisioner": ("nfs-server-provisioner-unavailable",
                               "the support chart runs no NFS server: give hubs an NFS server of their own "
                               "(basehub's jupyterhub-home-nfs) or a cloud file store; remove the key"),
    "redirects": ("redirects-unavailable",
                  "the support chart makes no redirect Ingresses: add an Ingress with an "
                  "nginx.org/server-snippets redirect to a hub's own values; remove the key"),
    "gcpFilestoreBackups": ("filestore-backups-unavailable",
                            "the support chart runs no Filestore backup job: use the cloud's own backup "
                            "schedule; remove the key"),
    "aws-ce-grafana-backend": ("cost-backend-renamed",
                               "replaced by `jupyterhub-cost-monitoring` (enabled, serviceAccount.annotations "
                               "with the Cost Explorer role, prometheusAuth)"),
}

# Switches that only mean something on some providers; `kubeconfig` and `local` clusters are not judged.
PROVIDER_ONLY: dict[tuple[str, ...], tuple[set[str], str, str]] = {
    ("cluster-autoscaler", "enabled"): (
        {"gcp", "azure"}, "cluster-autoscaler-not-needed",
        "{provider} scales node pools itself (terraform/{provider} gives user and dask pools autoscaling from "
        "0): remove `cluster-autoscaler` or set `enabled: false`, and set the pool's min/max sizes instead"),
    ("calico", "enabled"): (
        {"gcp", "azure"}, "calico-eks-only",
        "calico.enabled installs Calico for EKS (beside the AWS VPC CNI); on {provider} turn on the cluster's "
        "own network policy enforcement instead, and remove `calico` or set `enabled: false`"),
}

# `cryptnono` is accepted only switched off (what this chart does anyway); anything else is refused.
CRYPTNONO = ("cryptnono-unavailable",
             "the support chart does not install cryptnono (its detectors need kernel headers and bpftrace "
             "images per node kernel): remove `cryptnono` or keep only `enabled: false`")


def schema_keys(chart_dir: Path) -> Optional[dict[str, Any]]:
    """The top-level properties of the support chart's values.schema.json (None: no such file)."""
    try:
        schema = json.loads((chart_dir / "values.schema.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    props = schema.get("properties") if isinstance(schema, dict) else None
    return props if isinstance(props, dict) else None


def check_support_values(provider: str, files: list[DataFile], known: Mapping[str, Any]) -> list[Problem]:
    """Problems with the top-level keys of one cluster's support values files (in layering order)."""
    problems: list[Problem] = []
    last: dict[tuple[str, ...], tuple[Any, DataFile]] = {}
    for f in files:
        data = f.data
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if key == "sops":
                continue
            if key in NOT_CARRIED:
                code, hint = NOT_CARRIED[key]
                problems.append(_problem(f, (key,), code, f"support: `{key}` is not a key of this support chart", hint))
            elif key == "cryptnono":
                extra = sorted(set(value) - {"enabled"}) if isinstance(value, dict) else []
                if extra or (isinstance(value, dict) and value.get("enabled") is True) or not isinstance(value, dict):
                    where = (key, extra[0]) if extra else (key, "enabled") if isinstance(value, dict) else (key,)
                    problems.append(_problem(f, where, CRYPTNONO[0],
                                             "support: `cryptnono` asks for crypto-mining detection, which this "
                                             "support chart does not provide", CRYPTNONO[1]))
            elif key not in known:
                problems.append(_problem(f, (key,), "unknown-values-key",
                                         f"support: unknown key `{key}` for the support chart: it would be refused "
                                         "by the chart's schema",
                                         f"the support chart's keys: {', '.join(sorted(known))} "
                                         "(see docs/charts-keys.md)"))
        for path in PROVIDER_ONLY:
            node: Any = data
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                last[path] = (node, f)
    for path, (providers, code, hint) in PROVIDER_ONLY.items():
        seen = last.get(path)
        if seen is not None and seen[0] is True and provider in providers:
            problems.append(_problem(seen[1], path, code,
                                     f"support: `{'.'.join(path)}: true` on a {provider} cluster",
                                     hint.format(provider=provider)))
    return problems + check_alert_routing(files)


def _problem(f: DataFile, path: tuple[Any, ...], code: str, message: str, hint: Optional[str]) -> Problem:
    line, column = f.loaded.position(path) if f.loaded is not None else (0, 0)
    return Problem(file=f.rel, line=line, column=column, code=code, message=message, hint=hint)
