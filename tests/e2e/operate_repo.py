"""Configuration repositories for the operating commands' e2e tests (health, status, diff,
rollback, grafana): a `local` cluster pointing at the session's local cluster (a real node), hubs
named with a unique suffix (so tests sharing the cluster never collide), real sops + age for secrets.

Images: the real node runs only images built here and imported into its containerd (pull policy
Never, set by the local values layer). GOOD_IMAGE:GOOD_TAG is the hub image built here;
UPGRADE_TAG is the same image under a second tag (the `hub_images` fixture imports it), a real
"new hub image" for upgrades; BAD_IMAGE is an image that is not on the node, so its pod waits in
ErrImageNeverPull (the real node's reason; the simulated node said ImagePullBackOff)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Optional

from tests.conftest import SHARED_CHARTS, output_json, require_tool

CHART_REPO = SHARED_CHARTS  # the real upstream charts, served to helm as a chart repository


def _hub_ref() -> tuple[str, str]:
    from deployer.local.images import image_refs

    name, _, tag = image_refs()["k8s-hub"].rpartition(":")
    return name, tag


GOOD_IMAGE, GOOD_TAG = _hub_ref()
# a first install of a jupyterhub-based hub is revision 1 (the install) then 2 (deploy applies the
# rendering of the tokens the chart generated at install: `ReleaseDeployer._settle`)
FIRST_REVISION = 2
UPGRADE_TAG = f"{GOOD_TAG}-upgrade"  # the same image, imported under a second tag by the `hub_images` fixture
BAD_IMAGE = "deployer.local/not-on-the-node"  # never built, never imported: ErrImageNeverPull
CRASH = "raise SystemExit('e2e: this hub crashes on purpose')"  # hub.extraConfig that makes the real hub exit 1


def make_age_key(folder: Path) -> tuple[Path, str]:
    keygen = require_tool("age-keygen")
    key = folder / "key.txt"
    subprocess.run([str(keygen), "-o", str(key)], check=True, capture_output=True, timeout=30)
    recipient = next(line.split(": ")[1] for line in key.read_text().splitlines() if "public key" in line)
    return key, recipient


def encrypt(path: Path, recipient: str) -> None:
    sops = require_tool("sops")
    subprocess.run([str(sops), "--disable-version-check", "encrypt", "--age", recipient, "--in-place", str(path)],
                   check=True, capture_output=True, timeout=60)


def hub_values(image: str = GOOD_IMAGE, tag: str = GOOD_TAG, crash: bool = False) -> str:
    """A hub's values naming its hub image; `crash`: the hub process exits at start (CrashLoopBackOff)."""
    text = f"jupyterhub:\n  hub:\n    image:\n      name: {image}\n      tag: \"{tag}\"\n"
    if crash:
        text += f"    extraConfig:\n      zz-e2e-crash: {json.dumps(CRASH)}\n"
    return text


class Repo:
    def __init__(self, root: Path, state_dir: Path, hubs: dict[str, dict], cluster: str = "e2e",
                 support_extra: str = "") -> None:
        """hubs: name -> {"stage": ..., "values": text, "secret": optional plaintext values}."""
        self.root, self.cluster = root, cluster
        self.folder = root / "config" / "clusters" / cluster
        self.folder.mkdir(parents=True)
        self.suffix = uuid.uuid4().hex[:6]
        self.names = {short: f"{short}-{self.suffix}" for short in hubs}
        lines = [f"name: {cluster}", "provider: local", "local:", f"  state_dir: {state_dir}"]
        if support_extra:
            lines += ["support:", *support_extra.rstrip("\n").splitlines()]
        lines.append("hubs:")
        for short, spec in hubs.items():
            name = self.names[short]
            files = [f"{short}.values.yaml"] + ([f"enc-{short}.secret.values.yaml"] if spec.get("secret") else [])
            lines += [f"- name: {name}", f"  domain: {name}.e2e.test", f"  helm_chart: {spec.get('chart', 'basehub')}",
                      f"  stage: {spec.get('stage', 'staging')}", f"  helm_chart_values_files: [{', '.join(files)}]"]
            (self.folder / f"{short}.values.yaml").write_text(spec.get("values", hub_values()))
        (self.folder / "cluster.yaml").write_text("\n".join(lines) + "\n")
        self.recipient: Optional[str] = None

    @property
    def charts_dir(self) -> Path:
        """Where deploy prepares the charts (the state folder's `charts`, `<repo>/.deployer/charts`)."""
        return self.root / ".deployer" / "charts"

    def write_secret(self, short: str, text: str, recipient: str) -> None:
        path = self.folder / f"enc-{short}.secret.values.yaml"
        path.write_text(text)
        encrypt(path, recipient)

    def run(self, *args: str, timeout: float = 600, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "deployer", "--root", str(self.root), *args],
                              capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})

    def deploy(self, *args: str, timeout: str = "240") -> subprocess.CompletedProcess:
        return self.run("deploy", self.cluster, *args, "--chart-repo", str(CHART_REPO), "--timeout", timeout)


def delete_namespaces(api_client, names) -> None:
    """Real hub pods use the node's two cores: what a test deployed goes when it is done (deleting a
    namespace takes its helm release records with it)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    for name in names:
        try:
            core.delete_namespace(name)
        except client.ApiException as e:
            if e.status != 404:
                raise


def as_json(proc: subprocess.CompletedProcess, expect: "int | tuple[int, ...]") -> dict:
    """The command's JSON output, after its exit code is checked (tests.conftest.output_json)."""
    return output_json(proc, expect)
