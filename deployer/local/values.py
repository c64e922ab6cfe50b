"""The values layer the local cluster adds to every chart: its own images, and nothing that has none.

Pure functions: given the image references (`deployer.local.images.image_refs()`) they return the values
to layer over a hub's or the support stack's values, and the components they switched off (with why), so a
run report can name each one. Keys follow the real charts: jupyterhub 4.3.3 (under `jupyterhub:` in
basehub, `basehub: jupyterhub:` in daskhub) and the support chart's prometheus 29.13.0 dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PULL_POLICY = "Never"

# Where the jupyterhub chart's values live inside each chart that can deploy a hub.
HUB_NESTING: dict[str, tuple[str, ...]] = {
    "jupyterhub": (),
    "basehub": ("jupyterhub",),
    "daskhub": ("basehub", "jupyterhub"),
}


@dataclass(frozen=True)
class SwitchedOff:
    component: str  # the values path that turned it off, e.g. "jupyterhub.prePuller.hook.enabled"
    reason: str

    def line(self) -> str:
        return f"{self.component}: {self.reason}"


@dataclass(frozen=True)
class LocalValues:
    values: dict
    switched_off: list[SwitchedOff] = field(default_factory=list)


def _split(ref: str) -> tuple[str, str]:
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        raise ValueError(f"image reference without a tag: {ref}")
    return name, tag


def _z2jh_image(ref: str) -> dict:
    name, tag = _split(ref)
    return {"name": name, "tag": tag, "pullPolicy": PULL_POLICY}


def _nest(values: dict, path: tuple[str, ...]) -> dict:
    for key in reversed(path):
        values = {key: values}
    return values


def user_test_service() -> dict:
    """The `deployer-user-test` service and its role (what `deployer health --user-test` uses)."""
    from deployer.plan.user_test_service import service_values

    return service_values()["hub"]


def hub_values(refs: Mapping[str, str], *, chart: str = "basehub", storage_class: str | None = None) -> LocalValues:
    """The local layer for one hub deployed with `chart` (jupyterhub, basehub or daskhub).

    `refs`: image name -> reference, at least `k8s-hub`, `configurable-http-proxy`, `singleuser`, `pause`.
    `storage_class`: a StorageClass the cluster provisions volumes from; None = no volumes (the hub's
    database lives in memory and user servers get no home volume)."""
    if chart not in HUB_NESTING:
        raise ValueError(f"no hub chart named {chart}; known: {', '.join(HUB_NESTING)}")
    prefix = ".".join(HUB_NESTING[chart])
    at = (prefix + ".") if prefix else ""
    off: list[SwitchedOff] = []
    z2jh: dict = {
        "hub": {"image": _z2jh_image(refs["k8s-hub"]), **user_test_service()},
        "proxy": {
            "chp": {"image": _z2jh_image(refs["configurable-http-proxy"])},
            # a LoadBalancer never gets an address here, and helm --wait would wait for it forever
            "service": {"type": "ClusterIP"},
        },
        "singleuser": {
            "image": _z2jh_image(refs["singleuser"]),
            # its init container needs the k8s-network-tools image, which is not built here
            "cloudMetadata": {"blockWithIptables": False},
        },
        "scheduling": {
            "userScheduler": {"enabled": False},
            "userPlaceholder": {"image": _z2jh_image(refs["pause"])},
        },
        "prePuller": {
            "hook": {"enabled": False},
            "continuous": {"enabled": False},
            "pause": {"image": _z2jh_image(refs["pause"])},
        },
    }
    off += [
        SwitchedOff(f"{at}singleuser.cloudMetadata.blockWithIptables",
                    "no k8s-network-tools image here (no cloud metadata server to block either)"),
        SwitchedOff(f"{at}scheduling.userScheduler.enabled",
                    "no kube-scheduler image here; the cluster's own scheduler places user pods"),
        SwitchedOff(f"{at}prePuller.hook.enabled", "no k8s-image-awaiter image here; images are imported, never pulled"),
        SwitchedOff(f"{at}prePuller.continuous.enabled", "images are imported into containerd, never pulled"),
    ]
    if storage_class is None:
        z2jh["hub"]["db"] = {"type": "sqlite-memory"}
        z2jh["singleuser"]["storage"] = {"type": "none"}
        off += [
            SwitchedOff(f"{at}hub.db.type=sqlite-memory", "no volume provisioner: the hub's database is in memory"),
            SwitchedOff(f"{at}singleuser.storage.type=none", "no volume provisioner: user servers get no home volume"),
        ]
    else:
        z2jh["hub"]["db"] = {"pvc": {"storageClassName": storage_class}}
        z2jh["singleuser"]["storage"] = {"dynamic": {"storageClass": storage_class}}
    values = _nest(z2jh, HUB_NESTING[chart])
    if chart != "jupyterhub":  # basehub's own switches
        base = values if chart == "basehub" else values["basehub"]
        at = "" if chart == "basehub" else "basehub."
        for key, reason in BASEHUB_OFF.items():
            base[key] = {"enabled": False}
            off.append(SwitchedOff(f"{at}{key}.enabled", reason))
    return LocalValues(values, off)


# basehub's parts the local cluster cannot run, switched off by its layer (a hub's own file may still
# switch one on, and then it fails visibly).
BASEHUB_OFF = {
    # daskhub turns it on
    "dask-gateway": "no dask-gateway images here (its API server, controller and traefik proxy)",
    # on by default with nfs.enabled
    "jupyterhub-home-nfs": "this machine's kernel has no NFS client (no `nfs` in /proc/filesystems, no module), "
                           "so no NFS share can be mounted; nor is its nfs-ganesha image here",
    # on by default
    "jupyterhub-groups-exporter": "no jupyterhub-groups-exporter image here",
}


def hub_scrape_configs(hubs: list[str]) -> list[dict]:
    """Static scrape jobs for each hub's `/hub/metrics` (Service `hub`, port 8081, in the hub's namespace).

    Debian's Prometheus is built without Kubernetes service discovery (`kubernetes_sd_configs` is an unknown
    field to it, measured), so the chart's default jobs cannot load; deployer knows the hubs instead."""
    return [{
        "job_name": "jupyterhub",
        "metrics_path": "/hub/metrics",
        "static_configs": [{"targets": [f"hub.{hub}.svc:8081"], "labels": {"namespace": hub, "service": "hub"}}
                           for hub in hubs],
    }, {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]}]


def support_values(refs: Mapping[str, str], *, storage_class: str | None = None,
                   hubs: list[str] | None = None) -> LocalValues:
    """The local layer for the support chart: Prometheus from Debian's package scraping `hubs`; the rest off."""
    name, tag = _split(refs["prometheus"])
    server: dict = {"image": {"repository": name, "tag": tag, "pullPolicy": PULL_POLICY}}
    off = [
        SwitchedOff("nginx-ingress.enabled", "no NGINX Ingress Controller image here (F5's nginx/nginx-ingress is "
                                             "in no registry this machine reaches); hubs are reached through "
                                             "`deployer local open`"),
        SwitchedOff("cert-manager.enabled", "no cert-manager images here (and no ACME server to reach)"),
        SwitchedOff("letsencrypt.clusterIssuer.enabled", "cert-manager is off"),
        SwitchedOff("grafana.enabled", "no Grafana image here (Grafana is in no registry this machine reaches)"),
        SwitchedOff("prometheus.configmapReload.prometheus.enabled", "no prometheus-config-reloader image here"),
        SwitchedOff("prometheus.kube-state-metrics.enabled", "no kube-state-metrics image here"),
        SwitchedOff("prometheus.prometheus-node-exporter.enabled", "no node-exporter image built here"),
        SwitchedOff("prometheus.alertmanager.enabled", "no Alertmanager image built here"),
        SwitchedOff("prometheus.prometheus-pushgateway.enabled", "no Pushgateway image built here"),
        SwitchedOff("prometheus.scrapeConfigs",
                    "Debian's Prometheus has no Kubernetes service discovery: static jobs for the hubs' "
                    "/hub/metrics (prometheus.serverFiles.prometheus.yml.scrape_configs) replace the chart's "
                    "kubernetes_sd jobs"),
        SwitchedOff("disableCoredumps.enabled", "no busybox image here for its sysctl init container (the "
                                                "local node is this machine: its core_pattern is the host's)"),
    ]
    if storage_class is None:
        server["persistentVolume"] = {"enabled": False}
        off.append(SwitchedOff("prometheus.server.persistentVolume.enabled",
                               "no volume provisioner: Prometheus keeps its data in an emptyDir"))
    else:
        server["persistentVolume"] = {"storageClass": storage_class}
    values = {
        "nginx-ingress": {"enabled": False},
        "disableCoredumps": {"enabled": False},
        "cert-manager": {"enabled": False},
        "letsencrypt": {"clusterIssuer": {"enabled": False}},
        "grafana": {"enabled": False},
        "prometheus": {
            "server": server,
            # prometheus 29's jobs live under `scrapeConfigs` (each kubernetes_sd): null drops them all
            "scrapeConfigs": None,
            "serverFiles": {"prometheus.yml": {"scrape_configs": hub_scrape_configs(list(hubs or []))}},
            "configmapReload": {"prometheus": {"enabled": False}},
            "kube-state-metrics": {"enabled": False},
            "prometheus-node-exporter": {"enabled": False},
            "alertmanager": {"enabled": False},
            "prometheus-pushgateway": {"enabled": False},
        },
    }
    return LocalValues(values, off)


def layer_for(chart_name: str, *, support: bool, hubs: list[str] | None = None) -> LocalValues:
    """The local layer for one release of the local cluster, layered after what deployer generates and
    before the hub's own files (which may override it, e.g. an image tag): the support chart's, or a hub's."""
    from deployer.local.images import image_refs

    refs = image_refs()
    if support:
        return support_values(refs, hubs=hubs)
    if chart_name not in HUB_NESTING:
        return LocalValues({}, [])  # a chart of the user's own: nothing of ours to point anywhere
    return hub_values(refs, chart=chart_name)
