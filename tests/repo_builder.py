"""Build small configuration repositories for tests (each test makes its own)."""

from __future__ import annotations

import textwrap
from pathlib import Path

FAKE_SOPS = """sops:
    age:
        - recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.11.0
"""
"""A sops metadata block, as sops writes it, for files that only need to *look* encrypted
to the offline validator (tests that decrypt use real sops and age)."""


def encrypted_yaml(body: str = "secret: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n") -> str:
    return textwrap.dedent(body) + FAKE_SOPS


def cluster_yaml(name: str, hubs: list[str] | None = None, provider: str = "local", extra: str = "") -> str:
    hubs = ["staging", "prod"] if hubs is None else hubs
    lines = [f"name: {name}", f"provider: {provider}"]
    if provider == "kubeconfig":
        lines += ["kubeconfig:", "  file: enc-kubeconfig.secret.yaml"]
    lines += ["support:", "  helm_chart_values_files:", "  - support.values.yaml", "hubs:"]
    for hub in hubs:
        lines += [
            f"- name: {hub}",
            f"  domain: {hub}.{name}.example.org",
            "  helm_chart: basehub",
            "  helm_chart_values_files:",
            f"  - {hub}.values.yaml",
        ]
    return "\n".join(lines) + "\n" + textwrap.dedent(extra)


def make_cluster(root: Path, name: str, hubs: list[str] | None = None, provider: str = "local",
                 cluster_text: str | None = None) -> Path:
    folder = root / "config" / "clusters" / name
    folder.mkdir(parents=True, exist_ok=True)
    hubs = ["staging", "prod"] if hubs is None else hubs
    (folder / "cluster.yaml").write_text(cluster_text or cluster_yaml(name, hubs, provider))
    (folder / "support.values.yaml").write_text("grafana:\n  enabled: true\n")
    for hub in hubs:
        (folder / f"{hub}.values.yaml").write_text(f"jupyterhub:\n  custom:\n    name: {hub}\n")
    if provider == "kubeconfig":
        (folder / "enc-kubeconfig.secret.yaml").write_text(encrypted_yaml("apiVersion: ENC[AES256_GCM,data:AA,iv:AA,tag:AA,type:str]\n"))
    return folder


def make_repo(root: Path, clusters: dict[str, list[str]] | None = None) -> Path:
    clusters = {"alpha": ["staging", "prod"]} if clusters is None else clusters
    for name, hubs in clusters.items():
        make_cluster(root, name, hubs)
    return root
