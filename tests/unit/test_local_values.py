"""The local cluster's values layer: exact keys, per chart nesting, and what it switches off."""

from __future__ import annotations

import pytest

from deployer.local.values import hub_values, support_values

REFS = {
    "k8s-hub": "deployer.local/k8s-hub:4.3.3-aaaaaaaaaaaa",
    "configurable-http-proxy": "deployer.local/configurable-http-proxy:4.6.3-bbbbbbbbbbbb",
    "singleuser": "deployer.local/singleuser:5.4.4-cccccccccccc",
    "pause": "deployer.local/pause:3.10-dddddddddddd",
    "prometheus": "deployer.local/prometheus:2.42.0-eeeeeeeeeeee",
}


def never(name: str, tag: str) -> dict:
    return {"name": name, "tag": tag, "pullPolicy": "Never"}


EXPECTED_Z2JH = {
    "hub": {
        "image": never("deployer.local/k8s-hub", "4.3.3-aaaaaaaaaaaa"),
        "db": {"type": "sqlite-memory"},
        "services": {"deployer-user-test": {"display": False}},
        "loadRoles": {"deployer-user-test": {
            "description": "deployer's user test: a temporary user, its server and kernel",
            "scopes": ["admin:users", "tokens", "servers", "access:servers"],
            "services": ["deployer-user-test"],
        }},
    },
    "proxy": {
        "chp": {"image": never("deployer.local/configurable-http-proxy", "4.6.3-bbbbbbbbbbbb")},
        "service": {"type": "ClusterIP"},
    },
    "singleuser": {
        "image": never("deployer.local/singleuser", "5.4.4-cccccccccccc"),
        "cloudMetadata": {"blockWithIptables": False},
        "storage": {"type": "none"},
    },
    "scheduling": {
        "userScheduler": {"enabled": False},
        "userPlaceholder": {"image": never("deployer.local/pause", "3.10-dddddddddddd")},
    },
    "prePuller": {
        "hook": {"enabled": False},
        "continuous": {"enabled": False},
        "pause": {"image": never("deployer.local/pause", "3.10-dddddddddddd")},
    },
}


def test_the_plain_jupyterhub_chart_gets_the_layer_at_its_top_level():
    assert hub_values(REFS, chart="jupyterhub").values == EXPECTED_Z2JH


BASEHUB_OFF = {"dask-gateway": {"enabled": False}, "jupyterhub-home-nfs": {"enabled": False},
               "jupyterhub-groups-exporter": {"enabled": False}}


def test_basehub_nests_the_layer_under_jupyterhub_and_switches_off_its_parts_without_images():
    assert hub_values(REFS, chart="basehub").values == {"jupyterhub": EXPECTED_Z2JH, **BASEHUB_OFF}


def test_daskhub_nests_the_layer_under_basehub_jupyterhub_and_switches_dask_gateway_off():
    layer = hub_values(REFS, chart="daskhub")
    assert layer.values == {"basehub": {"jupyterhub": EXPECTED_Z2JH, **BASEHUB_OFF}}
    assert layer.switched_off[-3].line() == ("basehub.dask-gateway.enabled: no dask-gateway images here "
                                             "(its API server, controller and traefik proxy)")


def test_the_in_cluster_nfs_server_is_switched_off_saying_the_kernel_has_no_nfs_client():
    [nfs] = [s for s in hub_values(REFS, chart="basehub").switched_off if s.component == "jupyterhub-home-nfs.enabled"]
    assert nfs.line() == ("jupyterhub-home-nfs.enabled: this machine's kernel has no NFS client (no `nfs` in "
                          "/proc/filesystems, no module), so no NFS share can be mounted; nor is its nfs-ganesha "
                          "image here")


def test_every_component_switched_off_is_named_with_its_values_path():
    off = hub_values(REFS, chart="basehub").switched_off
    assert [s.component for s in off] == [
        "jupyterhub.singleuser.cloudMetadata.blockWithIptables",
        "jupyterhub.scheduling.userScheduler.enabled",
        "jupyterhub.prePuller.hook.enabled",
        "jupyterhub.prePuller.continuous.enabled",
        "jupyterhub.hub.db.type=sqlite-memory",
        "jupyterhub.singleuser.storage.type=none",
        "dask-gateway.enabled",
        "jupyterhub-home-nfs.enabled",
        "jupyterhub-groups-exporter.enabled",
    ]
    assert off[1].line() == ("jupyterhub.scheduling.userScheduler.enabled: no kube-scheduler image here; "
                             "the cluster's own scheduler places user pods")


def test_a_storage_class_keeps_the_hub_database_and_home_volumes():
    layer = hub_values(REFS, chart="jupyterhub", storage_class="local-path")
    assert layer.values["hub"]["db"] == {"pvc": {"storageClassName": "local-path"}}
    assert layer.values["singleuser"]["storage"] == {"dynamic": {"storageClass": "local-path"}}
    assert [s.component for s in layer.switched_off if "storage" in s.component or "db" in s.component] == []


def test_an_unknown_hub_chart_is_refused():
    with pytest.raises(ValueError) as e:
        hub_values(REFS, chart="otherhub")
    assert str(e.value) == "no hub chart named otherhub; known: jupyterhub, basehub, daskhub"


def test_a_reference_without_tag_is_refused():
    with pytest.raises(ValueError) as e:
        hub_values({**REFS, "k8s-hub": "deployer.local:5000/k8s-hub"}, chart="jupyterhub")
    assert str(e.value) == "image reference without a tag: deployer.local:5000/k8s-hub"


def test_support_layer_runs_prometheus_from_the_local_image_and_switches_the_rest_off():
    layer = support_values(REFS, hubs=["hub1", "hub2"])
    assert layer.values == {
        "nginx-ingress": {"enabled": False},
        "disableCoredumps": {"enabled": False},
        "cert-manager": {"enabled": False},
        "letsencrypt": {"clusterIssuer": {"enabled": False}},
        "grafana": {"enabled": False},
        "prometheus": {
            "server": {
                "image": {"repository": "deployer.local/prometheus", "tag": "2.42.0-eeeeeeeeeeee",
                          "pullPolicy": "Never"},
                "persistentVolume": {"enabled": False},
            },
            "scrapeConfigs": None,
            "serverFiles": {"prometheus.yml": {"scrape_configs": [
                {"job_name": "jupyterhub", "metrics_path": "/hub/metrics", "static_configs": [
                    {"targets": ["hub.hub1.svc:8081"], "labels": {"namespace": "hub1", "service": "hub"}},
                    {"targets": ["hub.hub2.svc:8081"], "labels": {"namespace": "hub2", "service": "hub"}},
                ]},
                {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
            ]}},
            "configmapReload": {"prometheus": {"enabled": False}},
            "kube-state-metrics": {"enabled": False},
            "prometheus-node-exporter": {"enabled": False},
            "alertmanager": {"enabled": False},
            "prometheus-pushgateway": {"enabled": False},
        },
    }
    assert [s.component for s in layer.switched_off] == [
        "nginx-ingress.enabled", "cert-manager.enabled", "letsencrypt.clusterIssuer.enabled", "grafana.enabled",
        "prometheus.configmapReload.prometheus.enabled", "prometheus.kube-state-metrics.enabled",
        "prometheus.prometheus-node-exporter.enabled", "prometheus.alertmanager.enabled",
        "prometheus.prometheus-pushgateway.enabled", "prometheus.scrapeConfigs",
        "disableCoredumps.enabled", "prometheus.server.persistentVolume.enabled",
    ]


def test_basehub_registers_the_user_test_service_with_the_same_scopes_everywhere():
    """Real clusters get the user test's service from basehub itself; the local layer sets the same."""
    from pathlib import Path

    import yaml

    from deployer.run.user_test import SERVICE, SERVICE_SCOPES, service_values

    base = yaml.safe_load((Path(__file__).resolve().parents[2] / "helm-charts" / "basehub" / "values.yaml").read_text())
    hub = base["jupyterhub"]["hub"]
    assert hub["services"][SERVICE] == {"display": False}
    assert hub["loadRoles"][SERVICE]["scopes"] == list(SERVICE_SCOPES) == service_values()["hub"]["loadRoles"][SERVICE]["scopes"]
    assert hub["config"]["JupyterHub"]["authenticate_prometheus"] is False
