"""The local values layer over the real charts (helm template, schema checked by helm): every container
runs an image built here or the pause image local up imports, never pulled."""

from __future__ import annotations

import yaml

from tests.conftest import REPO, missing, require_tool

CHARTS = REPO.parent / "shared" / "charts"


def _render(tmp_path, chart: str, values: dict) -> list[dict]:
    from deployer.adapters.process import ProcessRunner

    tgz = CHARTS / chart
    if not tgz.is_file():
        missing(f"the chart {tgz}")
    helm = require_tool("helm")
    layer = tmp_path / "layer.yaml"
    layer.write_text(yaml.safe_dump(values))
    env = {"HELM_CACHE_HOME": str(tmp_path / "c"), "HELM_CONFIG_HOME": str(tmp_path / "g"),
           "HELM_DATA_HOME": str(tmp_path / "d")}
    r = ProcessRunner().run([helm, "template", "rel", tgz, "-n", "ns", "-f", layer, "--kube-version", "1.34.0"],
                            env=env, timeout=120)
    assert r.ok, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def _containers(docs: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for d in docs:
        spec = (d.get("spec") or {}).get("template", {}).get("spec") or (d.get("spec") if d["kind"] == "Pod" else None)
        if not spec:
            continue
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            out.append((f"{d['kind']}/{d['metadata']['name']}", c))
    return out


def test_the_jupyterhub_chart_runs_only_local_images(tmp_path):
    """The layers as deploy makes them: the local layer, a hub file turning the image puller back on with
    an image from quay.io, then the last layer computed over the chart's own defaults and those."""
    from deployer.local.chart_defaults import chart_defaults
    from deployer.local.images import image_refs
    from deployer.local.layers import hub_values, last_layer
    from deployer.plan.values_merge import merge_values

    refs = image_refs()
    hub_file = {"prePuller": {"hook": {"enabled": True}},
                "singleuser": {"image": {"name": "quay.io/lorenlab/hhmi-spyglass-image", "tag": "82450331e8f1"}}}
    below = merge_values(hub_values(refs, chart="jupyterhub").values, hub_file)
    last = last_layer(merge_values(chart_defaults(CHARTS / "jupyterhub-4.3.3.tgz"), below), refs, "jupyterhub")
    assert "prePuller.hook.enabled" in [o.component for o in last.switched_off]
    docs = _render(tmp_path, "jupyterhub-4.3.3.tgz", merge_values(below, last.values))
    images = {(where, c["image"], c.get("imagePullPolicy")) for where, c in _containers(docs)}
    assert images == {
        ("Deployment/hub", refs["k8s-hub"], "Never"),
        ("Deployment/proxy", refs["configurable-http-proxy"], "Never"),
        ("StatefulSet/user-placeholder", refs["pause"], "Never"),
    }
    kinds = sorted({d["kind"] for d in docs})
    assert "DaemonSet" not in kinds and "Job" not in kinds  # no image puller, no image awaiter
    config = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "hub")
    assert "hub.services.deployer-user-test.apiToken" in config["data"]
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "proxy-public")
    assert service["spec"]["type"] == "ClusterIP"


def test_the_prometheus_chart_runs_its_whole_monitoring_stack_from_local_images(tmp_path):
    from deployer.local.images import image_refs
    from deployer.local.layers import support_values

    refs = image_refs()
    docs = _render(tmp_path, "prometheus-29.13.0.tgz", support_values(refs).values["prometheus"])
    images = sorted((where, c["image"], c.get("imagePullPolicy")) for where, c in _containers(docs))
    assert images == [
        ("DaemonSet/rel-prometheus-node-exporter", refs["node-exporter"], "Never"),
        ("Deployment/rel-kube-state-metrics", refs["kube-state-metrics"], "Never"),
        ("Deployment/rel-prometheus-server", refs["prometheus"], "Never"),
        ("StatefulSet/rel-alertmanager", refs["alertmanager"], "Never"),
    ]
    assert [d["kind"] for d in docs if d["kind"] == "PersistentVolumeClaim"] == []
