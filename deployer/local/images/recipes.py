"""What each local image is made of: Debian packages, pinned PyPI and npm packages, Go programs built
here from the Go module proxy (deployer.toolchain.kubebuild), and its runtime config.

The cache key of an image is the sha256 of its recipe (and of its base's, and of the description of
each Go build it carries: module, version, build tags, ldflags), so changing a pin, a package or the
builder makes a new image with a new tag; nothing else does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from deployer.local.images.archive import ImageConfig
from deployer.toolchain import kubebuild

# Bump when the way images are assembled changes (invalidates every cached image).
BUILDER_VERSION = "1"

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)

# Images are named in a registry that does not exist, so nothing can ever be pulled for them.
REGISTRY = "deployer.local"

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VENV = "/opt/venv"
VENV_PATH = f"{VENV}/bin:{SYSTEM_PATH}"

# The jupyterhub chart these images serve, and the JupyterHub version it ships (its appVersion).
JUPYTERHUB_CHART_VERSION = "4.3.3"
JUPYTERHUB_VERSION = "5.4.4"


@dataclass(frozen=True)
class Base:
    """A Debian root filesystem made by mmdebstrap (minbase) with these packages."""

    name: str
    packages: tuple[str, ...]

    def key(self) -> str:
        return _digest({"builder": BUILDER_VERSION, "suite": DEBIAN_SUITE, "mirrors": DEBIAN_MIRRORS,
                        "base": asdict(self)})


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: str
    group: str = ""  # a group to create with gid (when the base has none)


@dataclass(frozen=True)
class GoProgram:
    """A binary of one of deployer's Go builds (`kubebuild.BUILDS[build]`), put into an image at `path`."""

    build: str
    binary: str
    path: str

    def described(self) -> dict:
        return asdict(kubebuild.BUILDS[self.build]())


@dataclass(frozen=True)
class Recipe:
    """One image. `kind`: debian (the base is the image, plus `users`/`owned_dirs`),
    python (a venv with `pip` pins on the base), npm (`npm` pins under /srv/<name> on the base),
    go (the `go` programs, built here once per version, as one layer on the base)."""

    name: str
    version: str
    kind: str
    config: ImageConfig
    base: Base | None = None
    pip: tuple[str, ...] = ()
    npm: tuple[str, ...] = ()
    users: tuple[User, ...] = ()
    owned_dirs: tuple[tuple[str, int, int], ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (link path, target)
    go: tuple[GoProgram, ...] = ()

    def key(self) -> str:
        doc = {"builder": BUILDER_VERSION, "recipe": asdict(self),
               "base_key": self.base.key() if self.base else None,
               "go_builds": [p.described() for p in self.go]}
        return _digest(doc)

    def ref(self) -> str:
        return f"{REGISTRY}/{self.name}:{self.version}-{self.key()[:12]}"


def _digest(doc: object) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


PYTHON_BASE = Base("debian-python", ("python3", "python3-venv", "ca-certificates", "tini"))
NODE_BASE = Base("debian-nodejs", ("nodejs", "ca-certificates", "tini"))
# One base for the whole monitoring stack: node-exporter and Alertmanager are Debian's packages, and
# Prometheus and kube-state-metrics (Go programs built here) sit on it too, so the four images share
# one mmdebstrap and one base layer (containerd stores it once).
MONITORING_BASE = Base("debian-monitoring", ("ca-certificates", "tzdata", "prometheus-node-exporter",
                                             "prometheus-alertmanager"))
NOBODY = "65534"

JOVYAN = User("jovyan", 1000, 100, "/home/jovyan")
HUB_USER = User("jupyterhub", 1000, 1000, "/srv/jupyterhub", group="jupyterhub")

HUB = Recipe(
    name="k8s-hub", version=JUPYTERHUB_CHART_VERSION, kind="python", base=PYTHON_BASE,
    # What production's hub image has (2i2c's pilot-hub: FROM jupyterhub/k8s-hub:4.3.3, then pip installs
    # jupyterhub-fancy-profiles and jupyterhub-usage-quotas), so a hub's extraConfig that imports from it runs
    # here as there: the chart's own config (kubespawner, kubernetes_asyncio, yaml, tornado's curl client =
    # pycurl), the idle culler it runs as a service, the authenticators k8s-hub ships (oauthenticator with its
    # Google-groups and MediaWiki extras, tmp, first-use, native, LDAP, LTI, HMAC), fancy profiles (basehub's
    # profile page) and the usage quotas (a hub service and a spawner hook). kubespawner 7.1.0: the newest,
    # what pilot-hub's `pip install --force-reinstall` of usage-quotas (kubespawner>=7.0.0) resolves (k8s-hub
    # 4.3.3 alone pins 7.0.0). Database drivers for MySQL/PostgreSQL are left out: local hubs use sqlite.
    pip=(
        f"jupyterhub=={JUPYTERHUB_VERSION}",
        "jupyterhub-kubespawner==7.1.0",
        "jupyterhub-idle-culler==1.4.0",
        "pycurl==7.45.7",
        "oauthenticator[googlegroups,mediawiki]==17.4.0",
        "jupyterhub-tmpauthenticator==1.0.0",
        "jupyterhub-firstuseauthenticator==1.1.1",
        "jupyterhub-nativeauthenticator==1.3.0",
        "jupyterhub-ldapauthenticator==2.0.2",
        "jupyterhub-ltiauthenticator==1.6.3",
        "jupyterhub-hmacauthenticator==1.0",
        "jupyterhub-fancy-profiles==0.6.0",
        "jupyterhub-usage-quotas==0.1.4",
    ),
    users=(HUB_USER,),
    owned_dirs=(("/srv/jupyterhub", 1000, 1000),),
    config=ImageConfig(
        entrypoint=["/usr/bin/tini", "--"],
        cmd=["jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py"],
        env=[f"PATH={VENV_PATH}", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"],
        user="1000", workdir="/srv/jupyterhub",
    ),
)

SINGLEUSER = Recipe(
    name="singleuser", version=JUPYTERHUB_VERSION, kind="python", base=PYTHON_BASE,
    pip=(
        f"jupyterhub=={JUPYTERHUB_VERSION}",
        "jupyterlab==4.5.11",
        "jupyter-server==2.17.0",
        "ipykernel==6.30.1",
    ),
    users=(JOVYAN,),
    owned_dirs=(("/home/jovyan", 1000, 100),),
    config=ImageConfig(
        entrypoint=["/usr/bin/tini", "--"],
        cmd=["jupyterhub-singleuser"],
        env=[f"PATH={VENV_PATH}", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1", "HOME=/home/jovyan", "SHELL=/bin/bash"],
        user="1000", workdir="/home/jovyan",
    ),
)

# configurable-http-proxy 5.x needs Node 20; Debian 12 ships Node 18, on which 4.6.x runs.
CHP = Recipe(
    name="configurable-http-proxy", version="4.6.3", kind="npm", base=NODE_BASE,
    npm=("configurable-http-proxy@4.6.3",),
    links=(("/usr/local/bin/configurable-http-proxy",
            "/srv/configurable-http-proxy/node_modules/configurable-http-proxy/bin/configurable-http-proxy"),),
    config=ImageConfig(
        entrypoint=["/usr/bin/tini", "--"],
        cmd=["configurable-http-proxy"],
        env=[f"PATH={SYSTEM_PATH}", "NODE_ENV=production"],
        user="65534", workdir="/srv/configurable-http-proxy",
    ),
)

# Prometheus 3.16 built from its Go module with Kubernetes service discovery (Debian's 2.42 has none):
# the chart's own kubernetes_sd scrape jobs run here as in a cloud cluster.
PROMETHEUS = Recipe(
    name="prometheus", version=kubebuild.PROMETHEUS_VERSION, kind="go", base=MONITORING_BASE,
    # under /usr/bin: Debian's /bin is a link to it (the upstream image's /bin/prometheus resolves too)
    go=(GoProgram("prometheus", "prometheus", "/usr/bin/prometheus"),
        GoProgram("prometheus", "promtool", "/usr/bin/promtool")),
    config=ImageConfig(
        entrypoint=["/bin/prometheus"],
        cmd=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
        env=[f"PATH={SYSTEM_PATH}"],
        user=NOBODY, workdir="/prometheus",
    ),
    owned_dirs=(("/prometheus", 65534, 65534),),
)

KUBE_STATE_METRICS = Recipe(
    name="kube-state-metrics", version=kubebuild.KUBE_STATE_METRICS_VERSION, kind="go", base=MONITORING_BASE,
    go=(GoProgram("kube-state-metrics", "kube-state-metrics", "/usr/local/bin/kube-state-metrics"),),
    config=ImageConfig(entrypoint=["/usr/local/bin/kube-state-metrics"], env=[f"PATH={SYSTEM_PATH}"],
                       user=NOBODY),
)

# Debian's packages (bookworm): node-exporter 1.5.0 and Alertmanager 0.25.0, no build at all
NODE_EXPORTER = Recipe(
    name="node-exporter", version="1.5.0", kind="debian", base=MONITORING_BASE,
    config=ImageConfig(entrypoint=["/usr/bin/prometheus-node-exporter"], env=[f"PATH={SYSTEM_PATH}"],
                       user=NOBODY),
)

ALERTMANAGER = Recipe(
    name="alertmanager", version="0.25.0", kind="debian", base=MONITORING_BASE,
    config=ImageConfig(
        entrypoint=["/usr/bin/prometheus-alertmanager"],
        cmd=["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"],
        env=[f"PATH={SYSTEM_PATH}"], user=NOBODY, workdir="/alertmanager",
    ),
    owned_dirs=(("/alertmanager", 65534, 65534),),
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (HUB, SINGLEUSER, CHP, PROMETHEUS, KUBE_STATE_METRICS,
                                                  NODE_EXPORTER, ALERTMANAGER)}
