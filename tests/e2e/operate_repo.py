"""Configuration repositories for the operating commands' e2e tests (health, status, diff,
rollback, grafana): a `local` cluster pointing at the session's local cluster, hubs named with a
unique suffix (so tests sharing the cluster never collide), real sops + age for secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Optional

from tests.conftest import SHARED_CHARTS, require_tool

CHART_REPO = SHARED_CHARTS  # the real upstream charts, served to helm as a chart repository
GOOD_IMAGE = "quay.io/jupyterhub/k8s-hub"
BAD_IMAGE = "registry.invalid/unpullable-hub"


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


def hub_values(image: str = GOOD_IMAGE, tag: str = "4.1.0") -> str:
    return f"jupyterhub:\n  hub:\n    image:\n      name: {image}\n      tag: \"{tag}\"\n"


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

    def write_secret(self, short: str, text: str, recipient: str) -> None:
        path = self.folder / f"enc-{short}.secret.values.yaml"
        path.write_text(text)
        encrypt(path, recipient)

    def run(self, *args: str, timeout: float = 300, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "deployer", "--root", str(self.root), *args],
                              capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})

    def deploy(self, *args: str, timeout: str = "60") -> subprocess.CompletedProcess:
        return self.run("deploy", self.cluster, *args, "--chart-repo", str(CHART_REPO), "--timeout", timeout)


def as_json(proc: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None
