"""What each local image is made of: Debian packages, pinned PyPI and npm packages, and its runtime config.

The cache key of an image is the sha256 of its recipe (and of its base's), so changing a pin,
a package or the builder makes a new image with a new tag; nothing else does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from deployer.local.images.archive import ImageConfig

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
class Recipe:
    """One image. `kind`: debian (the base is the image, plus `users`/`owned_dirs`),
    python (a venv with `pip` pins on the base), npm (`npm` pins under /srv/<name> on the base)."""

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

    def key(self) -> str:
        doc = {"builder": BUILDER_VERSION, "recipe": asdict(self),
               "base_key": self.base.key() if self.base else None}
        return _digest(doc)

    def ref(self) -> str:
        return f"{REGISTRY}/{self.name}:{self.version}-{self.key()[:12]}"


def _digest(doc: object) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


PYTHON_BASE = Base("debian-python", ("python3", "python3-venv", "ca-certificates", "tini"))
NODE_BASE = Base("debian-nodejs", ("nodejs", "ca-certificates", "tini"))
PROMETHEUS_BASE = Base("debian-prometheus", ("prometheus", "ca-certificates"))

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

PROMETHEUS = Recipe(
    name="prometheus", version="2.42.0", kind="debian", base=PROMETHEUS_BASE,
    config=ImageConfig(
        entrypoint=["/usr/bin/prometheus"],
        cmd=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
        env=[f"PATH={SYSTEM_PATH}"],
        user="65534", workdir="/prometheus",
    ),
    owned_dirs=(("/prometheus", 65534, 65534),),
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (HUB, SINGLEUSER, CHP, PROMETHEUS)}
