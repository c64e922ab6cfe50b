"""The values layer the local cluster adds to every chart: its own images, and nothing that has none.

Pure functions: given the image references (`deployer.local.images.image_refs()`) they return the values
to layer over a hub's or the support stack's values, and the components they switched off (with why), so a
run report can name each one. Keys follow the real charts: jupyterhub 4.3.3 (under `jupyterhub:` in
basehub, `basehub: jupyterhub:` in daskhub) and the support chart's prometheus 29.13.0 dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from deployer.plan.values_path import dig, put

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


def hub_values(refs: Mapping[str, str], *, chart: str = "basehub") -> LocalValues:
    """The local layer that comes before a hub's own files, for a hub deployed with `chart` (jupyterhub,
    basehub or daskhub): deployer's user-test service. The hub's database and its users' storage are the
    charts' defaults (a volume each, from the local cluster's default StorageClass). What the local cluster
    must hold whatever the hub's files say (images, pull policies, what cannot run here) is the *last* layer
    (`last_layer`), computed from the layers before it."""
    if chart not in HUB_NESTING:
        raise ValueError(f"no hub chart named {chart}; known: {', '.join(HUB_NESTING)}")
    for role in ("k8s-hub", "configurable-http-proxy", "singleuser", "pause"):
        _split(refs[role])  # every image the last layer may put in has a tag
    return LocalValues(_nest({"hub": {**user_test_service()}}, HUB_NESTING[chart]), [])


# basehub's parts the local cluster cannot run, switched off by its last layer whatever the hub's files say
# (when the chart has the part and it is on, in its defaults or the hub's files).
BASEHUB_OFF = {
    # daskhub turns it on
    "dask-gateway": "no dask-gateway images here (its API server, controller and traefik proxy)",
    # on by default with nfs.enabled
    "jupyterhub-home-nfs": "this machine's kernel has no NFS client (no `nfs` in /proc/filesystems, no module), "
                           "so no NFS share can be mounted; nor is its nfs-ganesha image here",
    # on by default
    "jupyterhub-groups-exporter": "no jupyterhub-groups-exporter image here",
    # a hub turns it on
    "binderhub-service": "no binderhub-service or BuildKit images here, and no image registry for the images "
                         "it would build",
}
# basehub's helpers of NFS homes (each with an image of its own), switched off last when on
NFS_HELPERS = {
    "dirsizeReporter": "the home directories' size reporter",
    "volumeReporter": "the share's space reporter",
    "shareCreator": "the Job making the hub's folder on the share",
}
# the parts above that are off unless a hub turns them on (the others are on unless turned off)
BASEHUB_OFF_BY_DEFAULT = ("dask-gateway", "binderhub-service")


# How often the local Prometheus scrapes and evaluates rules: the chart's 1m would leave a freshly started
# cluster without two samples for a `rate(...[5m])` for two minutes; 15s gives them in 30 s, and costs
# little on a cluster of a few targets.
LOCAL_SCRAPE_INTERVAL = "15s"


def _registry_image(ref: str) -> dict:
    """An image in the `registry` / `repository` / `tag` form of the kube-state-metrics and node-exporter charts."""
    name, tag = _split(ref)
    registry, _, repository = name.partition("/")
    return {"registry": registry, "repository": repository, "tag": tag, "pullPolicy": PULL_POLICY}


def _repository_image(ref: str) -> dict:
    name, tag = _split(ref)
    return {"repository": name, "tag": tag, "pullPolicy": PULL_POLICY}


def support_values(refs: Mapping[str, str], *, storage_class: str | None = None,
                   hubs: list[str] | None = None) -> LocalValues:
    """The local layer for the support chart: the monitoring stack from the images built here (Prometheus
    with Kubernetes service discovery running the chart's own scrape jobs, kube-state-metrics,
    node-exporter, Alertmanager); what has no image here off, each with why. `hubs` is not needed: the
    chart's kubernetes_sd jobs find every hub's annotated `hub` Service themselves."""
    del hubs
    server: dict = {"image": _repository_image(refs["prometheus"]),
                    "global": {"scrape_interval": LOCAL_SCRAPE_INTERVAL,
                               "evaluation_interval": LOCAL_SCRAPE_INTERVAL}}
    off = [
        SwitchedOff("nginx-ingress.enabled", "no NGINX Ingress Controller image here (F5's nginx/nginx-ingress is "
                                             "in no registry this machine reaches); hubs are reached through "
                                             "`deployer local open`"),
        SwitchedOff("cert-manager.enabled", "no cert-manager images here (and no ACME server to reach)"),
        SwitchedOff("letsencrypt.clusterIssuer.enabled", "cert-manager is off"),
        SwitchedOff("grafana.enabled", "no Grafana image here (Grafana is in no registry this machine reaches)"),
        SwitchedOff("prometheus.configmapReload.prometheus.enabled",
                    "prometheus-config-reloader is not built here (one more Go build on every fresh install); "
                    "a changed configuration reaches the local Prometheus when its pod restarts"),
        SwitchedOff("prometheus.alertmanager.configmapReload.enabled",
                    "prometheus-config-reloader is not built here; a changed Alertmanager configuration reaches it "
                    "when its pod restarts"),
        SwitchedOff("prometheus.prometheus-pushgateway.enabled",
                    "no Pushgateway image built here (nothing in the fleet pushes to it)"),
        SwitchedOff("prometheus.prometheus-node-exporter.hostRootFsMount.mountPropagation",
                    "the host's / is a private mount here, on which containerd refuses HostToContainer "
                    "propagation: node-exporter reads the host's root without it (None), so it does not see "
                    "filesystems mounted after it started"),
        SwitchedOff("disableCoredumps.enabled", "no busybox image here for its sysctl init container (the "
                                                "local node is this machine: its core_pattern is the host's)"),
    ]
    if storage_class is None:
        server["persistentVolume"] = {"enabled": False}
        off.append(SwitchedOff("prometheus.server.persistentVolume.enabled",
                               "a local cluster lives for one session: Prometheus keeps its data in an emptyDir"))
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
            "configmapReload": {"prometheus": {"enabled": False}},
            "kube-state-metrics": {"enabled": True, "image": _registry_image(refs["kube-state-metrics"])},
            "prometheus-node-exporter": {"enabled": True, "image": _registry_image(refs["node-exporter"]),
                                         "hostRootFsMount": {"mountPropagation": "None"}},
            "alertmanager": {"enabled": True, "image": _repository_image(refs["alertmanager"]),
                             "configmapReload": {"enabled": False}},
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


# --- the last layer: what the local cluster must hold whatever the hub's files say ------------------

# images under these registries are the ones built here (deployer local images) or the node's own
LOCAL_REGISTRIES = ("deployer.local/", "registry.local/")


@dataclass(frozen=True)
class Substitution:
    path: str  # the values path, e.g. "jupyterhub.singleuser.profileList[1].kubespawner_override.image"
    before: str
    after: str

    def line(self) -> str:
        return f"{self.path}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class LastLayer:
    values: dict
    substituted: list[Substitution] = field(default_factory=list)
    switched_off: list[SwitchedOff] = field(default_factory=list)


def is_local_image(name: str) -> bool:
    return name.startswith(LOCAL_REGISTRIES)


# z2jh image values the local cluster holds: (path under the jupyterhub chart's values, local image)
_HELD_IMAGES = (
    (("hub", "image"), "k8s-hub"),
    (("proxy", "chp", "image"), "configurable-http-proxy"),
    (("singleuser", "image"), "singleuser"),
    (("scheduling", "userPlaceholder", "image"), "pause"),
    (("prePuller", "pause", "image"), "pause"),
)
# what cannot run here, switched off whatever the hub's files say: (path, reason)
_OFF = (
    (("prePuller", "hook", "enabled"), "no k8s-image-awaiter image here; images are imported, never pulled"),
    (("prePuller", "continuous", "enabled"), "images are imported into containerd, never pulled"),
    (("scheduling", "userScheduler", "enabled"),
     "no kube-scheduler image here; the cluster's own scheduler places user pods"),
    (("singleuser", "cloudMetadata", "blockWithIptables"),
     "no k8s-network-tools image here (no cloud metadata server to block either)"),
)


def _image_text(image: object) -> str:
    if isinstance(image, Mapping):
        name, tag = image.get("name") or "", image.get("tag")
        return f"{name}:{tag}" if tag not in (None, "") else str(name)
    return str(image or "")


def _profile_images(profiles: list, ref: str, at: str) -> tuple[list, list[Substitution]]:
    """The profile list with every image a profile, a choice or an unlisted choice gives user servers
    replaced by `ref` (a local one kept); and what was replaced."""
    import copy

    profiles = copy.deepcopy(profiles)
    done: list[Substitution] = []

    def hold(override: object, where: str) -> None:
        if isinstance(override, dict) and isinstance(override.get("image"), str) \
                and not is_local_image(override["image"]):
            done.append(Substitution(f"{where}.kubespawner_override.image", override["image"], ref))
            override["image"] = ref
            policy = override.get("image_pull_policy")
            if policy is not None and policy != PULL_POLICY:  # `Always` would pull the local image: never there
                done.append(Substitution(f"{where}.kubespawner_override.image_pull_policy", str(policy), PULL_POLICY))
                override["image_pull_policy"] = PULL_POLICY

    for i, profile in enumerate(profiles):
        if not isinstance(profile, dict):
            continue
        hold(profile.get("kubespawner_override"), f"{at}[{i}]")
        options = profile.get("profile_options")
        for name, option in (options.items() if isinstance(options, dict) else ()):
            if not isinstance(option, dict):
                continue
            choices = option.get("choices")
            for key, choice in (choices.items() if isinstance(choices, dict) else ()):
                if isinstance(choice, dict):
                    hold(choice.get("kubespawner_override"), f"{at}[{i}].profile_options.{name}.choices.{key}")
            unlisted = option.get("unlisted_choice")
            if isinstance(unlisted, dict):
                hold(unlisted.get("kubespawner_override"), f"{at}[{i}].profile_options.{name}.unlisted_choice")
    return profiles, done


def last_layer(effective: Mapping, refs: Mapping[str, str], chart: str) -> LastLayer:
    """The local cluster's last values layer for a hub of `chart`, from `effective`: the chart's defaults
    with every layer before this one merged over them. It holds the images (one from a registry this node
    cannot reach becomes the local image of its role; every held image's pull policy is Never), and switches
    off what cannot run here; it lists only what it really changed."""
    if chart not in HUB_NESTING:
        return LastLayer({})
    nest = HUB_NESTING[chart]
    at = ".".join(nest) + "." if nest else ""
    z2jh = dig(effective, nest) or {}
    out: dict = {}
    substituted: list[Substitution] = []
    off: list[SwitchedOff] = []
    for path, role in _HELD_IMAGES:
        image = dig(z2jh, path)
        image = image if isinstance(image, Mapping) else {}
        name = str(image.get("name") or "")
        if not is_local_image(name):
            put(out, path, _z2jh_image(refs[role]))
            substituted.append(Substitution(at + ".".join(path), _image_text(image) or "(none)", refs[role]))
        elif image.get("pullPolicy") != PULL_POLICY:
            put(out, (*path, "pullPolicy"), PULL_POLICY)
            substituted.append(Substitution(at + ".".join((*path, "pullPolicy")), str(image.get("pullPolicy")),
                                            PULL_POLICY))
    profiles = dig(z2jh, ("singleuser", "profileList"))
    if isinstance(profiles, list) and profiles:
        held, done = _profile_images(profiles, refs["singleuser"], f"{at}singleuser.profileList")
        if done:
            put(out, ("singleuser", "profileList"), held)
            substituted += done
    service = dig(z2jh, ("proxy", "service", "type"))
    if service != "ClusterIP":  # a LoadBalancer never gets an address here: helm --wait would wait for it
        put(out, ("proxy", "service", "type"), "ClusterIP")
        substituted.append(Substitution(f"{at}proxy.service.type", str(service or "LoadBalancer"), "ClusterIP"))
    for path, reason in _OFF:
        if dig(z2jh, path) is not False:  # on in the chart's defaults or the hub's files (or not known)
            put(out, path, False)
            off.append(SwitchedOff(at + ".".join(path), reason))
    values = _nest(out, nest) if out else {}
    if chart != "jupyterhub":
        base = () if chart == "basehub" else ("basehub",)
        for key, reason in BASEHUB_OFF.items():
            part = dig(effective, (*base, key))
            if not isinstance(part, Mapping):
                continue  # the chart has no such part
            on = bool(part.get("enabled")) if key in BASEHUB_OFF_BY_DEFAULT else part.get("enabled") is not False
            if on:
                put(values, (*base, key, "enabled"), False)
                off.append(SwitchedOff(".".join((*base, key, "enabled")), reason))
        nfs_home = dig(effective, (*base, "nfs", "enabled")) or dig(effective, (*base, "inClusterNFS", "enabled"))
        for key, what in NFS_HELPERS.items():
            part = dig(effective, (*base, "nfs", key))
            if nfs_home and isinstance(part, Mapping) and part.get("enabled") \
                    and not is_local_image(str(part.get("image") or "")):
                put(values, (*base, "nfs", key, "enabled"), False)
                off.append(SwitchedOff(".".join((*base, "nfs", key, "enabled")),
                                       f"{what}: its image {part.get('image')} is not here"))
    return LastLayer(values, substituted, off)
