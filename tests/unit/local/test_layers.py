"""The local cluster's values layer: exact keys, per chart nesting, and what it switches off."""

from __future__ import annotations

import pytest

from deployer.local.layers import hub_values, last_layer, support_values
from tests.conftest import SHARED_CHARTS

REFS = {
    "k8s-hub": "deployer.local/k8s-hub:4.3.3-aaaaaaaaaaaa",
    "configurable-http-proxy": "deployer.local/configurable-http-proxy:4.6.3-bbbbbbbbbbbb",
    "singleuser": "deployer.local/singleuser:5.4.4-cccccccccccc",
    "pause": "deployer.local/pause:3.10-dddddddddddd",
    "prometheus": "deployer.local/prometheus:3.16.0-eeeeeeeeeeee",
    "kube-state-metrics": "deployer.local/kube-state-metrics:2.20.0-ffffffffffff",
    "node-exporter": "deployer.local/node-exporter:1.5.0-111111111111",
    "alertmanager": "deployer.local/alertmanager:0.25.0-222222222222",
}


def never(name: str, tag: str) -> dict:
    return {"name": name, "tag": tag, "pullPolicy": "Never"}


USER_TEST = {
    "services": {"deployer-user-test": {"display": False}},
    "loadRoles": {"deployer-user-test": {
        "description": "deployer's user test: a temporary user, its server and kernel",
        "scopes": ["admin:users", "tokens", "servers", "access:servers"],
        "services": ["deployer-user-test"],
    }},
}
EXPECTED_Z2JH = {"hub": USER_TEST}  # the database and the users' storage: the charts' defaults


# what the jupyterhub chart's own values.yaml says about what the last layer holds
Z2JH_DEFAULTS = {
    "hub": {"image": {"name": "quay.io/jupyterhub/k8s-hub", "tag": "4.3.3", "pullPolicy": None}},
    "proxy": {"chp": {"image": {"name": "quay.io/jupyterhub/configurable-http-proxy", "tag": "5.1.0"}},
              "service": {"type": "LoadBalancer"}},
    "singleuser": {"image": {"name": "quay.io/jupyterhub/k8s-singleuser-sample", "tag": "4.3.3"},
                   "cloudMetadata": {"blockWithIptables": True}},
    "scheduling": {"userScheduler": {"enabled": True},
                   "userPlaceholder": {"image": {"name": "registry.k8s.io/pause", "tag": "3.10"}}},
    "prePuller": {"hook": {"enabled": True}, "continuous": {"enabled": True},
                  "pause": {"image": {"name": "registry.k8s.io/pause", "tag": "3.10"}}},
}
HELD = {
    "hub": {"image": never("deployer.local/k8s-hub", "4.3.3-aaaaaaaaaaaa")},
    "proxy": {"chp": {"image": never("deployer.local/configurable-http-proxy", "4.6.3-bbbbbbbbbbbb")},
              "service": {"type": "ClusterIP"}},
    "singleuser": {"image": never("deployer.local/singleuser", "5.4.4-cccccccccccc"),
                   "cloudMetadata": {"blockWithIptables": False}},
    "scheduling": {"userScheduler": {"enabled": False},
                   "userPlaceholder": {"image": never("deployer.local/pause", "3.10-dddddddddddd")}},
    "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": False},
                  "pause": {"image": never("deployer.local/pause", "3.10-dddddddddddd")}},
}


def test_the_layer_before_the_files_registers_the_user_test_and_the_storage_only():
    assert hub_values(REFS, chart="jupyterhub").values == EXPECTED_Z2JH
    assert hub_values(REFS, chart="basehub").values == {"jupyterhub": EXPECTED_Z2JH}
    assert hub_values(REFS, chart="daskhub").values == {"basehub": {"jupyterhub": EXPECTED_Z2JH}}


def test_the_last_layer_holds_images_and_switches_off_what_cannot_run_whatever_came_before():
    layer = last_layer(Z2JH_DEFAULTS, REFS, "jupyterhub")
    assert layer.values == HELD
    assert [s.line() for s in layer.substituted] == [
        "hub.image: quay.io/jupyterhub/k8s-hub:4.3.3 -> deployer.local/k8s-hub:4.3.3-aaaaaaaaaaaa",
        "proxy.chp.image: quay.io/jupyterhub/configurable-http-proxy:5.1.0 -> "
        "deployer.local/configurable-http-proxy:4.6.3-bbbbbbbbbbbb",
        "singleuser.image: quay.io/jupyterhub/k8s-singleuser-sample:4.3.3 -> deployer.local/singleuser:5.4.4-cccccccccccc",
        "scheduling.userPlaceholder.image: registry.k8s.io/pause:3.10 -> deployer.local/pause:3.10-dddddddddddd",
        "prePuller.pause.image: registry.k8s.io/pause:3.10 -> deployer.local/pause:3.10-dddddddddddd",
        "proxy.service.type: LoadBalancer -> ClusterIP",
    ]
    assert [o.component for o in layer.switched_off] == [
        "prePuller.hook.enabled", "prePuller.continuous.enabled", "scheduling.userScheduler.enabled",
        "singleuser.cloudMetadata.blockWithIptables"]


def test_a_hub_that_turns_the_image_puller_on_cannot_turn_it_back_on_and_the_report_is_exact():
    """hhmi/staging's shape: its own file sets prePuller.hook.enabled and a user image from quay.io."""
    from deployer.plan.values_merge import merge_values

    hub_file = {"jupyterhub": {"prePuller": {"hook": {"enabled": True}},
                               "singleuser": {"image": {"name": "quay.io/lorenlab/hhmi-spyglass-image",
                                                        "tag": "82450331e8f1"}}}}
    # the chart's defaults, then the hub's file; what is already off is not reported as switched off
    defaults = {"jupyterhub": merge_values(Z2JH_DEFAULTS, {"prePuller": {"continuous": {"enabled": False}}}),
                "dask-gateway": {"enabled": False}}
    layer = last_layer(merge_values(defaults, hub_values(REFS, chart="basehub").values, hub_file), REFS, "basehub")
    final = merge_values(defaults, hub_file, layer.values)["jupyterhub"]
    assert final["prePuller"]["hook"]["enabled"] is False
    assert final["singleuser"]["image"] == never("deployer.local/singleuser", "5.4.4-cccccccccccc")
    off = [o.component for o in layer.switched_off]
    assert "jupyterhub.prePuller.hook.enabled" in off
    assert "jupyterhub.prePuller.continuous.enabled" not in off and "dask-gateway.enabled" not in off
    assert ("jupyterhub.singleuser.image: quay.io/lorenlab/hhmi-spyglass-image:82450331e8f1 -> "
            "deployer.local/singleuser:5.4.4-cccccccccccc") in [s.line() for s in layer.substituted]


def test_a_local_image_a_hub_chose_is_kept_and_only_its_pull_policy_held():
    chosen = {"hub": {"image": {"name": "deployer.local/not-on-the-node", "tag": "1", "pullPolicy": "Always"}}}
    layer = last_layer({**HELD, **chosen}, REFS, "jupyterhub")
    assert layer.values == {"hub": {"image": {"pullPolicy": "Never"}}}
    assert [s.line() for s in layer.substituted] == ["hub.image.pullPolicy: Always -> Never"]
    assert layer.switched_off == []


def test_every_profile_choice_and_an_unlisted_choice_run_the_local_user_image():
    profiles = [
        {"display_name": "Small", "kubespawner_override": {"image": "pangeo/pangeo-notebook:2025.01.10",
                                                           "mem_limit": "2G"}},
        {"display_name": "Choose", "profile_options": {"image": {
            "choices": {"py": {"kubespawner_override": {"image": "quay.io/jupyter/scipy-notebook:2025-04-14"}},
                        "local": {"kubespawner_override": {"image": "deployer.local/singleuser:x"}}},
            "unlisted_choice": {"enabled": True, "kubespawner_override": {"image": "{value}"}},
        }}},
    ]
    layer = last_layer({**HELD, "singleuser": {**HELD["singleuser"], "profileList": profiles}}, REFS, "jupyterhub")
    held = layer.values["singleuser"]["profileList"]
    ref = REFS["singleuser"]
    assert held[0]["kubespawner_override"] == {"image": ref, "mem_limit": "2G"}  # the rest of a profile unchanged
    choices = held[1]["profile_options"]["image"]["choices"]
    assert choices["py"]["kubespawner_override"]["image"] == ref
    assert choices["local"]["kubespawner_override"]["image"] == "deployer.local/singleuser:x"
    assert held[1]["profile_options"]["image"]["unlisted_choice"]["kubespawner_override"]["image"] == ref
    assert held[1]["profile_options"]["image"]["unlisted_choice"]["enabled"] is True
    assert [s.path for s in layer.substituted] == [
        "singleuser.profileList[0].kubespawner_override.image",
        "singleuser.profileList[1].profile_options.image.choices.py.kubespawner_override.image",
        "singleuser.profileList[1].profile_options.image.unlisted_choice.kubespawner_override.image"]
    assert profiles[0]["kubespawner_override"]["image"] == "pangeo/pangeo-notebook:2025.01.10"  # not changed in place


def test_daskhub_switches_its_dask_gateway_off_only_when_it_is_on():
    layer = last_layer({"basehub": {"jupyterhub": HELD, "dask-gateway": {"enabled": True}}}, REFS, "daskhub")
    assert layer.values == {"basehub": {"dask-gateway": {"enabled": False}}}
    assert [o.line() for o in layer.switched_off] == [
        "basehub.dask-gateway.enabled: no dask-gateway images here (its API server, controller and traefik proxy)"]


def test_the_chart_defaults_are_read_from_the_real_chart_with_its_dependencies():
    from deployer.local.chart_defaults import chart_defaults

    z2jh = chart_defaults(SHARED_CHARTS / "jupyterhub-4.3.3.tgz")
    assert z2jh["prePuller"]["hook"]["enabled"] is True and z2jh["hub"]["image"]["name"] == "quay.io/jupyterhub/k8s-hub"
    assert chart_defaults(SHARED_CHARTS / "no-such-chart.tgz") == {}


def test_an_unknown_hub_chart_is_refused():
    with pytest.raises(ValueError) as e:
        hub_values(REFS, chart="otherhub")
    assert str(e.value) == "no hub chart named otherhub; known: jupyterhub, basehub, daskhub"


def test_a_reference_without_tag_is_refused():
    with pytest.raises(ValueError) as e:
        hub_values({**REFS, "k8s-hub": "deployer.local:5000/k8s-hub"}, chart="jupyterhub")
    assert str(e.value) == "image reference without a tag: deployer.local:5000/k8s-hub"


def test_support_layer_runs_the_monitoring_stack_from_local_images_and_switches_off_only_what_has_none():
    layer = support_values(REFS, hubs=["hub1", "hub2"])
    assert layer.values == {
        "nginx-ingress": {"enabled": False},
        "disableCoredumps": {"enabled": False},
        "cert-manager": {"enabled": False},
        "letsencrypt": {"clusterIssuer": {"enabled": False}},
        "grafana": {"enabled": False},
        "prometheus": {
            "server": {
                "image": {"repository": "deployer.local/prometheus", "tag": "3.16.0-eeeeeeeeeeee",
                          "pullPolicy": "Never"},
                "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
                "persistentVolume": {"enabled": False},
            },
            "configmapReload": {"prometheus": {"enabled": False}},
            "kube-state-metrics": {"enabled": True, "image": {
                "registry": "deployer.local", "repository": "kube-state-metrics", "tag": "2.20.0-ffffffffffff",
                "pullPolicy": "Never"}},
            "prometheus-node-exporter": {"enabled": True, "image": {
                "registry": "deployer.local", "repository": "node-exporter", "tag": "1.5.0-111111111111",
                "pullPolicy": "Never"}, "hostRootFsMount": {"mountPropagation": "None"}},
            "alertmanager": {"enabled": True, "image": {
                "repository": "deployer.local/alertmanager", "tag": "0.25.0-222222222222", "pullPolicy": "Never"},
                "configmapReload": {"enabled": False}},
            "prometheus-pushgateway": {"enabled": False},
        },
    }
    # the chart's own scrape jobs are kept (no scrapeConfigs / serverFiles scrape_configs of ours)
    assert "scrapeConfigs" not in layer.values["prometheus"] and "serverFiles" not in layer.values["prometheus"]
    assert [s.component for s in layer.switched_off] == [
        "nginx-ingress.enabled", "cert-manager.enabled", "letsencrypt.clusterIssuer.enabled", "grafana.enabled",
        "prometheus.configmapReload.prometheus.enabled", "prometheus.alertmanager.configmapReload.enabled",
        "prometheus.prometheus-pushgateway.enabled",
        "prometheus.prometheus-node-exporter.hostRootFsMount.mountPropagation", "disableCoredumps.enabled", "prometheus.server.persistentVolume.enabled",
    ]
    [reloader] = [s for s in layer.switched_off if s.component == "prometheus.configmapReload.prometheus.enabled"]
    assert reloader.reason.startswith("prometheus-config-reloader is not built here")


def test_basehub_registers_the_user_test_service_with_the_same_scopes_everywhere():
    """Real clusters get the user test's service from basehub itself; the local layer sets the same."""
    from pathlib import Path

    import yaml

    from deployer.plan.user_test_service import SERVICE, SERVICE_SCOPES, service_values

    base = yaml.safe_load((Path(__file__).resolve().parents[3] / "helm-charts" / "basehub" / "values.yaml").read_text())
    hub = base["jupyterhub"]["hub"]
    assert hub["services"][SERVICE] == {"display": False}
    assert hub["loadRoles"][SERVICE]["scopes"] == list(SERVICE_SCOPES) == service_values()["hub"]["loadRoles"][SERVICE]["scopes"]
    assert hub["config"]["JupyterHub"]["authenticate_prometheus"] is False


def test_basehubs_parts_without_images_are_switched_off_last_when_on():
    """jupyterhub-home-nfs and jupyterhub-groups-exporter are on unless turned off; dask-gateway is off
    unless turned on (daskhub): each is switched off, and listed, only when it would run."""
    effective = {"jupyterhub": HELD, "dask-gateway": {"enabled": False}, "jupyterhub-home-nfs": {},
                 "jupyterhub-groups-exporter": {"enabled": True}}
    layer = last_layer(effective, REFS, "basehub")
    assert layer.values == {"jupyterhub-home-nfs": {"enabled": False},
                            "jupyterhub-groups-exporter": {"enabled": False}}
    [nfs] = [o for o in layer.switched_off if o.component == "jupyterhub-home-nfs.enabled"]
    assert nfs.line() == ("jupyterhub-home-nfs.enabled: this machine's kernel has no NFS client (no `nfs` in "
                          "/proc/filesystems, no module), so no NFS share can be mounted; nor is its nfs-ganesha "
                          "image here")
    assert last_layer({"jupyterhub": HELD}, REFS, "basehub").values == {}  # a chart without those parts


def test_a_binderhub_beside_the_hub_is_switched_off_last_only_when_a_hub_turns_it_on():
    layer = last_layer({"jupyterhub": HELD, "binderhub-service": {"enabled": False}}, REFS, "basehub")
    assert layer.values == {} and layer.switched_off == []
    layer = last_layer({"basehub": {"jupyterhub": HELD, "binderhub-service": {"enabled": True}}}, REFS, "daskhub")
    assert layer.values == {"basehub": {"binderhub-service": {"enabled": False}}}
    assert [o.line() for o in layer.switched_off] == [
        "basehub.binderhub-service.enabled: no binderhub-service or BuildKit images here, and no image registry for "
        "the images it would build"]


def test_basehubs_nfs_helpers_are_switched_off_last_only_when_they_would_run():
    helpers = {"dirsizeReporter": {"enabled": True, "image": "quay.io/yuvipanda/prometheus-dirsize-exporter:v3.3"},
               "volumeReporter": {"enabled": False, "image": "quay.io/prometheus/node-exporter:v1.5.0"},
               "shareCreator": {"enabled": True, "image": "deployer.local/busybox:1"}}
    layer = last_layer({"jupyterhub": HELD, "nfs": {"enabled": True, **helpers}}, REFS, "basehub")
    assert layer.values == {"nfs": {"dirsizeReporter": {"enabled": False}}}
    assert [o.line() for o in layer.switched_off] == [
        "nfs.dirsizeReporter.enabled: the home directories' size reporter: its image "
        "quay.io/yuvipanda/prometheus-dirsize-exporter:v3.3 is not here"]
    # no NFS homes: the reporters do not run, nothing to switch off
    assert last_layer({"jupyterhub": HELD, "nfs": {"enabled": False, **helpers}}, REFS, "basehub").values == {}


def test_a_profile_choice_that_pulls_its_image_always_gets_the_local_image_never_pulled():
    profiles = [{"display_name": "Only", "profile_options": {"image": {"choices": {"geo": {"kubespawner_override": {
        "image": "rocker/binder:4.3", "image_pull_policy": "Always", "default_url": "/rstudio"}}}}}}]
    layer = last_layer({"jupyterhub": {**HELD, "singleuser": {**HELD["singleuser"], "profileList": profiles}}},
                       REFS, "basehub")
    held = layer.values["jupyterhub"]["singleuser"]["profileList"][0]["profile_options"]["image"]["choices"]["geo"]
    assert held["kubespawner_override"] == {"image": REFS["singleuser"], "image_pull_policy": "Never",
                                            "default_url": "/rstudio"}
    at = "jupyterhub.singleuser.profileList[0].profile_options.image.choices.geo.kubespawner_override"
    assert [s.line() for s in layer.substituted] == [f"{at}.image: rocker/binder:4.3 -> {REFS['singleuser']}",
                                                     f"{at}.image_pull_policy: Always -> Never"]
