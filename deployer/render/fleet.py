"""Fleet checks helm cannot make, over every release of one cluster rendered offline (pure).

- one cluster-scoped object (ClusterRole, CRD, IngressClass, webhook configuration, ...) created
  by two releases: the second install would fail on helm's ownership check;
- two Ingresses claiming the same host and path: one silently wins in the ingress controller;
- a hub whose domain is in none of its Ingress hosts: it would not answer on its domain;
- a chart or subchart whose `kubeVersion` excludes the cluster's Kubernetes version (helm checks
  only the top chart's).
"""

from __future__ import annotations

from collections import defaultdict

from deployer.render.kube_version import satisfies
from deployer.render.model import RenderedRelease, RenderProblem

CLUSTER_SCOPED = frozenset({
    "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "IngressClass", "StorageClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "PriorityClass", "PersistentVolume", "Namespace", "APIService",
    "RuntimeClass", "CSIDriver", "ClusterIssuer", "PodSecurityPolicy",
})


def fleet_checks(releases: list[RenderedRelease], kubernetes_version: str) -> list[RenderProblem]:
    problems: list[RenderProblem] = []
    problems += _shared_cluster_objects(releases)
    problems += _shared_ingress_paths(releases)
    problems += _hub_domains(releases)
    problems += _kube_versions(releases, kubernetes_version)
    return problems


def _shared_cluster_objects(releases: list[RenderedRelease]) -> list[RenderProblem]:
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in releases:
        for o in r.objects:
            if o.kind in CLUSTER_SCOPED and r.id not in owners[(o.kind, o.name)]:
                owners[(o.kind, o.name)].append(r.id)
    out = []
    for (kind, name), ids in sorted(owners.items()):
        for other in ids[1:]:
            out.append(RenderProblem(
                other, "shared-cluster-object",
                f"{kind} {name} is also created by release {ids[0]}: a cluster-scoped object can belong to one "
                "release only (helm refuses the second install: invalid ownership metadata)",
                "name the object after the release (e.g. drop a fixed fullnameOverride), or let one release own it",
                kind=kind, name=name))
    return out


def _shared_ingress_paths(releases: list[RenderedRelease]) -> list[RenderProblem]:
    claims: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for r in releases:
        for o in r.objects:
            if o.kind != "Ingress":
                continue
            for rule in (o.body.get("spec") or {}).get("rules") or []:
                host = str(rule.get("host") or "*")
                for path in ((rule.get("http") or {}).get("paths") or [{"path": "/"}]):
                    key = (host, str(path.get("path") or "/"))
                    if (r.id, o.name) not in claims[key]:
                        claims[key].append((r.id, o.name))
    out = []
    for (host, path), who in sorted(claims.items()):
        for release, ingress in who[1:]:
            first_release, first_ingress = who[0]
            out.append(RenderProblem(
                release, "shared-ingress-path",
                f"Ingress {ingress} claims host {host} path {path}, as does Ingress {first_ingress} of {first_release}: "
                "the ingress controller sends the traffic to one of them",
                "give each hub its own domain (cluster.yaml `domain`), or remove one of the Ingresses",
                kind="Ingress", name=ingress))
    return out


def _hub_domains(releases: list[RenderedRelease]) -> list[RenderProblem]:
    out = []
    for r in releases:
        if not r.is_hub or not r.domain or not r.rendered:
            continue
        hosts = {str(rule.get("host")) for o in r.objects if o.kind == "Ingress"
                 for rule in (o.body.get("spec") or {}).get("rules") or []}
        if r.domain not in hosts:
            shown = ", ".join(sorted(hosts)) or "none (no Ingress)"
            out.append(RenderProblem(
                r.id, "domain-not-served",
                f"the hub's domain {r.domain} is in none of its Ingress hosts ({shown}): it would not answer there",
                "do not override jupyterhub.ingress.hosts in the hub's values (deployer sets it from `domain`), "
                "or keep jupyterhub.ingress.enabled true"))
    return out


def _kube_versions(releases: list[RenderedRelease], kubernetes_version: str) -> list[RenderProblem]:
    out = []
    for r in releases:
        for chart, constraint in sorted(r.kube_versions.items()):
            try:
                ok = satisfies(kubernetes_version, constraint)
            except ValueError:
                continue
            if not ok:
                out.append(RenderProblem(
                    r.id, "kube-version-excluded",
                    f"chart {chart} requires Kubernetes {constraint}, and this cluster runs {kubernetes_version}",
                    "upgrade the cluster (cluster.yaml `kubernetes_version` says which it runs), or pin a chart "
                    "version that supports it"))
    return out
