"""Shared by the benchmarks that deploy to a local cluster: a repository of N basehub hubs."""

from __future__ import annotations

from pathlib import Path


def write_repo(root: Path, state_dir: Path, name: str, hubs: int) -> list[str]:
    """A configuration repository with one `local` cluster `name` (at `state_dir`) of `hubs` staging hubs."""
    folder = root / "config" / "clusters" / name
    folder.mkdir(parents=True)
    names = [f"{name}-hub{i}" for i in range(hubs)]
    lines = [f"name: {name}", "provider: local", "local:", f"  state_dir: {state_dir}", "hubs:"]
    for n in names:
        lines += [f"- name: {n}", f"  domain: {n}.bench.test", "  helm_chart: basehub", "  stage: staging",
                  "  helm_chart_values_files: [hub.values.yaml]"]
    (folder / "cluster.yaml").write_text("\n".join(lines) + "\n")
    # the hub and proxy request 100m of CPU each (jupyterhub's chart defaults): on this 2-core node 10 hubs
    # would fill it; a fleet of many hubs requests nothing (what each uses idle is a few millicores)
    (folder / "hub.values.yaml").write_text(
        "jupyterhub:\n  custom:\n    bench: true\n"
        "  hub:\n    resources:\n      requests:\n        cpu: 0\n"
        "  proxy:\n    chp:\n      resources:\n        requests:\n          cpu: 0\n")
    return names
