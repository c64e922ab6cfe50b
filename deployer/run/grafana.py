"""The cluster's Grafana: our JupyterHub dashboards, and an annotation for each deploy.

- Dashboards are JSON files of ours, pinned in `deployer/dashboards/` (never fetched at run time),
  each with a fixed UID, put into one folder with a fixed UID, overwrite on: running it again
  converges, and edits made in Grafana's UI to these dashboards are replaced.
- The token is the `grafana_token` key of the cluster folder's `enc-grafana-token.secret.yaml`
  (the file name and key the 2i2c repository uses), decrypted with sops into memory.
- Grafana's URL: `support.grafana_url` in cluster.yaml, else from the support values files
  (`grafana.grafana.ini.server.root_url`, else `https://` + the first `grafana.ingress.hosts`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer.adapters.grafana import Grafana, GrafanaError
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.config.file_reader import is_secret_name
from deployer.config.models import Cluster
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.errors import DeployerError
from deployer.paths import package_dir

log = logging.getLogger("deployer.grafana")

FOLDER_UID = "deployer-jupyterhub"
FOLDER_TITLE = "JupyterHub (deployer)"
TOKEN_FILE = "enc-grafana-token.secret.yaml"
TOKEN_KEY = "grafana_token"
ANNOTATION_TAGS = ("deployer", "deploy")


def dashboards_dir() -> Path:
    return package_dir() / "dashboards"


def load_dashboards(folder: Optional[Path] = None) -> list[dict[str, Any]]:
    """Our dashboards, sorted by file name; each must have a unique `uid` and a `title`."""
    folder = folder or dashboards_dir()
    out: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DeployerError(f"dashboard {path.name}: not readable JSON: {e}") from e
        uid = data.get("uid") if isinstance(data, dict) else None
        if not uid or not data.get("title") or len(uid) > 40:
            raise DeployerError(f"dashboard {path.name}: needs a `title` and a `uid` of at most 40 characters")
        if uid in seen:
            raise DeployerError(f"dashboards {seen[uid]} and {path.name} share the uid {uid}")
        seen[uid] = path.name
        out.append(data)
    return out


def _read_plain(path: Path) -> Any:
    try:
        return load_yaml(decode(path.read_bytes()), positions=False).data
    except (OSError, YamlProblem):
        return None


def grafana_url(cluster: Cluster, folder: Path) -> Optional[str]:
    if cluster.support is None:
        return None
    if cluster.support.grafana_url:
        return cluster.support.grafana_url.rstrip("/")
    url: Optional[str] = None
    for name in cluster.support.helm_chart_values_files:
        if is_secret_name(name):
            continue  # never decrypt a secret only to find a URL
        data = _read_plain(folder / name)
        grafana = data.get("grafana") if isinstance(data, dict) else None
        if not isinstance(grafana, dict):
            continue
        root_url = (((grafana.get("grafana.ini") or {}).get("server") or {}).get("root_url")
                    if isinstance(grafana.get("grafana.ini"), dict) else None)
        hosts = (grafana.get("ingress") or {}).get("hosts") if isinstance(grafana.get("ingress"), dict) else None
        if isinstance(root_url, str) and root_url.startswith("http"):
            url = root_url  # later files win, as in helm's layering
        elif isinstance(hosts, list) and hosts and isinstance(hosts[0], str):
            url = f"https://{hosts[0]}"
    return url.rstrip("/") if url else None


def grafana_token(folder: Path, sops: Sops) -> Optional[str]:
    """The token from the cluster folder's enc-grafana-token.secret.yaml; None when there is none."""
    path = folder / TOKEN_FILE
    if not path.is_file():
        return None
    data = sops.decrypt_data(path)
    token = data.get(TOKEN_KEY) if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise DeployerError(f"{TOKEN_FILE}: no `{TOKEN_KEY}` key", hint=f"the file should hold `{TOKEN_KEY}: <token>`")
    return token.strip()


@dataclass
class DashboardResult:
    uid: str
    title: str
    url: str = ""
    version: Optional[int] = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DeployDashboards:
    grafana: str
    folder_uid: str
    dashboards: list[DashboardResult] = field(default_factory=list)
    in_folder: list[str] = field(default_factory=list)  # what Grafana's search lists in the folder afterwards

    def to_json(self) -> dict[str, Any]:
        return {"grafana": self.grafana, "folder_uid": self.folder_uid, "in_folder": self.in_folder,
                "dashboards": [d.to_json() for d in self.dashboards]}


def connect_grafana(root: Path, cluster: Cluster, runner: ProcessRunner, url: Optional[str] = None,
                    timeout: float = 15.0) -> Grafana:
    folder = root / "config" / "clusters" / cluster.name
    url = url or grafana_url(cluster, folder)
    if not url:
        raise DeployerError(f"cluster `{cluster.name}`: no Grafana URL",
                            hint="set support.grafana_url in cluster.yaml, or grafana.ingress.hosts in its support "
                                 "values, or pass --grafana-url")
    token = grafana_token(folder, Sops(runner))
    if token is None:
        raise DeployerError(f"cluster `{cluster.name}`: no Grafana token ({TOKEN_FILE} is missing)",
                            hint=f"create a Grafana service-account token (Editor role) and store it as "
                                 f"`{TOKEN_KEY}: <token>` in {TOKEN_FILE}, encrypted with sops")
    return Grafana(url, token, timeout=timeout, redactor=runner.redactor)


def deploy_dashboards(grafana: Grafana, cluster: str, dashboards: Optional[list[dict[str, Any]]] = None) -> DeployDashboards:
    dashboards = load_dashboards() if dashboards is None else dashboards
    result = DeployDashboards(grafana.url, FOLDER_UID)
    grafana.ensure_folder(FOLDER_UID, FOLDER_TITLE)
    for d in dashboards:
        answer = grafana.put_dashboard(d, FOLDER_UID, f"deployer grafana deploy-dashboards {cluster}")
        url = str(answer.get("url", "")) if isinstance(answer, dict) else ""
        result.dashboards.append(DashboardResult(d["uid"], d["title"], f"{grafana.url}{url}" if url.startswith("/") else url,
                                                 answer.get("version") if isinstance(answer, dict) else None))
    result.in_folder = sorted(str(x.get("uid")) for x in grafana.dashboards_in(FOLDER_UID))
    missing = [d.uid for d in result.dashboards if d.uid not in result.in_folder]
    if missing:
        raise DeployerError(f"Grafana accepted dashboards {', '.join(missing)} but does not list them in folder "
                            f"{FOLDER_UID}", hint="check the token's permissions on that folder")
    return result


def after_deploy_annotation(root: Path):
    """A hook factory for deploy: when the cluster has a Grafana token and URL, each successful
    release is marked by a Grafana annotation (tags deployer, deploy, cluster, release). A
    failure to annotate is recorded in the report, never fails the deploy."""

    def factory(cluster: Cluster, access, runner: ProcessRunner):
        folder = root / "config" / "clusters" / cluster.name
        if not (folder / TOKEN_FILE).is_file() or not grafana_url(cluster, folder):
            return None

        state: dict[str, Any] = {}

        async def hook(spec, outcome, ctx) -> None:
            import asyncio

            def post() -> None:
                if "grafana" not in state:
                    state["grafana"] = connect_grafana(root, cluster, runner, timeout=10.0)
                d = outcome.details
                text = (f"deployer: {cluster.name}/{spec.release} revision {d.get('revision', '?')} "
                        f"({d.get('chart', '')} {d.get('chart_version', '')})")
                state["grafana"].annotate(text, [*ANNOTATION_TAGS, cluster.name, spec.release], int(time.time() * 1000))

            try:
                await asyncio.to_thread(post)
                outcome.details["grafana_annotation"] = "posted"
            except DeployerError as e:
                log.warning("grafana annotation for %s failed: %s", spec.id, e.message)
                outcome.details["grafana_annotation"] = f"failed: {e.message}"

        return hook

    return factory


__all__ = ["GrafanaError", "connect_grafana", "deploy_dashboards", "after_deploy_annotation", "load_dashboards",
           "grafana_url", "grafana_token", "FOLDER_UID"]
