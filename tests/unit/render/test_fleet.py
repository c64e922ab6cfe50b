"""The fleet checks and the kubeVersion ranges, on objects built here (pure: no helm)."""

from __future__ import annotations

import pytest

from deployer.render.fleet import fleet_checks
from deployer.render.kube_version import satisfies
from deployer.render.model import RenderedObject, RenderedRelease


def obj(kind: str, name: str, **spec) -> RenderedObject:
    return RenderedObject(kind, name, "", "v1", f"x/templates/{name}.yaml",
                          {"kind": kind, "metadata": {"name": name}, "spec": spec})


def ingress(name: str, host: str, path: str = "/") -> RenderedObject:
    return obj("Ingress", name, rules=[{"host": host, "http": {"paths": [{"path": path}]}}])


def release(rid: str, *objects: RenderedObject, domain: str | None = None, kube: dict | None = None) -> RenderedRelease:
    return RenderedRelease(rid, rid.split("/")[1], rid.split("/")[1], rid.split("/")[0], domain=domain,
                           is_hub=domain is not None, objects=list(objects), kube_versions=kube or {})


@pytest.mark.parametrize(("constraint", "ok_134", "ok_120"), [
    (">=1.28.0-0", True, False), (">= 1.22.0-0", True, False), ("^1.8.0-0", True, True), ("", True, True),
    (">=1.20.0, <1.30", False, True), ("<1.21 || >=1.34", True, True), ("~1.33.0", False, False), ("1.34.x", True, False),
])
def test_kube_version_ranges_as_helm_reads_them(constraint, ok_134, ok_120):
    assert (satisfies("1.34.0", constraint), satisfies("1.20.2", constraint)) == (ok_134, ok_120)


def test_a_cluster_scoped_object_of_two_releases_is_reported_once_for_the_second():
    a = release("c/a", obj("ClusterRole", "shared"), obj("Role", "mine"))
    b = release("c/b", obj("ClusterRole", "shared"), obj("Role", "mine"))
    [p] = fleet_checks([a, b], "1.34")
    assert (p.release, p.code, p.kind, p.name) == ("c/b", "shared-cluster-object", "ClusterRole", "shared")


def test_namespaced_objects_of_the_same_name_are_not_a_conflict():
    assert fleet_checks([release("c/a", obj("Service", "hub")), release("c/b", obj("Service", "hub"))], "1.34") == []


def test_two_ingresses_on_one_host_and_path_conflict_but_other_paths_do_not():
    a = release("c/a", ingress("jupyterhub", "x.org"), domain="x.org")
    b = release("c/b", ingress("grafana", "x.org", "/grafana"), ingress("jupyterhub", "x.org"), domain="x.org")
    assert [(p.release, p.code, p.name) for p in fleet_checks([a, b], "1.34")] == [
        ("c/b", "shared-ingress-path", "jupyterhub")]


def test_a_hub_without_its_domain_in_any_ingress_is_reported():
    [p] = fleet_checks([release("c/a", obj("Service", "hub"), domain="a.org")], "1.34")
    assert (p.code, p.message) == ("domain-not-served", "the hub's domain a.org is in none of its Ingress hosts "
                                                        "(none (no Ingress)): it would not answer there")


def test_every_chart_whose_kube_version_excludes_the_cluster_is_named():
    r = release("c/a", obj("Service", "x"), kube={"basehub 0.1.0": ">=1.28.0-0", "grafana 10.5.15": "^1.8.0-0"})
    assert [p.message for p in fleet_checks([r], "1.26")] == [
        "chart basehub 0.1.0 requires Kubernetes >=1.28.0-0, and this cluster runs 1.26"]
