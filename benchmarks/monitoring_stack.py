"""The monitoring stack's figures: its Go builds and images (size; cold time as recorded when built; the
cached check timed now), and with `--cluster` the memory of the local cluster with the example fleet
deployed (`config/clusters/local`: the support stack, then the staging and prod hubs, as ./install.sh
does), the monitoring stack's pods apart. Targets: the whole cluster under 2.5 GiB RSS.

    .venv/bin/python benchmarks/monitoring_stack.py [--cluster] [--settle SECONDS]

`--cluster` needs root, the built programs and images, and no other local node (run it under
`flock /tmp/deployer-node.lock`); it takes its cluster down at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.local_up_speed import cluster_rss, rss_kib  # noqa: E402
from deployer.adapters.process import ProcessRunner  # noqa: E402
from deployer.local.images import cached_image, ensure_images  # noqa: E402
from deployer.local.images.recipes import RECIPES  # noqa: E402
from deployer.toolchain import kubebuild  # noqa: E402

GO_BUILDS = ("prometheus", "kube-state-metrics", "grafana-dashboard-check")
IMAGES = ("prometheus", "kube-state-metrics", "node-exporter", "alertmanager")
MONITORING_NAMESPACE = "support"
BUDGET_MIB = 2560


def builds_and_images() -> None:
    runner = ProcessRunner()
    for name in GO_BUILDS:
        build = kubebuild.BUILDS[name]()
        t = time.monotonic()
        found = kubebuild.installed(build, full=True)
        checked = time.monotonic() - t
        if found is None:
            print(f"go build {name} v{build.version}: not built (python -m deployer tools install / local images)")
            continue
        sizes = ", ".join(f"{b} {(found / b).stat().st_size / 2**20:.1f} MiB" for b in build.binaries)
        print(f"go build {name} v{build.version}: {sizes}; cached check {checked:.2f}s")
    for name in IMAGES:
        image = cached_image(RECIPES[name])
        if image is None:
            print(f"image {name}: not built (deployer local images --only {name})")
            continue
        print(f"image {name} {RECIPES[name].version}: {image.size / 2**20:.0f} MiB, cold build {image.build_seconds:.0f}s "
              f"(as recorded when built: a Go build made at that moment is included, the base is not)")
    base = RECIPES["prometheus"].base
    info = Path(cached_image(RECIPES["prometheus"]).path).parents[2] / "base" / base.name / base.key() / "info.json" \
        if cached_image(RECIPES["prometheus"]) else None
    if info and info.is_file():
        doc = json.loads(info.read_text())
        print(f"base {base.name}: {doc['size'] / 2**20:.0f} MiB, mmdebstrap {doc['build_seconds']:.0f}s (shared by the four)")
    t = time.monotonic()
    ensure_images(runner, list(IMAGES))
    print(f"the four images cached: checked in {time.monotonic() - t:.2f}s")


def pod_namespaces(kubeconfig: Path) -> dict[str, str]:
    """Pod UID -> namespace/name."""
    from deployer.toolchain import find_tool

    out = subprocess.run([str(find_tool("kubectl")), "--kubeconfig", str(kubeconfig), "get", "pods", "-A", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {p["metadata"]["uid"]: f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in json.loads(out)["items"]}


def pod_rss(kubeconfig: Path) -> dict[str, int]:
    """RSS (KiB) of every pod's processes, by namespace/pod."""
    from deployer.local import host

    pods = pod_namespaces(kubeconfig)
    pids: set[int] = set()
    for cg in host.kubepods_cgroups():
        try:
            pids |= {int(p) for p in (cg / "cgroup.procs").read_text().split()}
        except OSError:
            pass
    per: dict[str, int] = {}
    for pid in pids:
        try:
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        uid = next((part[3:].replace("_", "-") for line in cgroup.splitlines() for part in line.split("/")
                    if part.startswith("pod") and len(part) > 30), None)
        name = pods.get(uid or "", "?")
        per[name] = per.get(name, 0) + rss_kib(pid)
    return per


def cluster_figures(settle: float) -> None:
    from deployer.local.cluster import LocalCluster

    state = Path(tempfile.mkdtemp(prefix="dl-mon-"))
    env = {**os.environ, "DEPLOYER_STATE_DIR": str(state), "PYTHONPATH": str(REPO),
           "SOPS_AGE_KEY_FILE": os.environ.get("SOPS_AGE_KEY_FILE", str(REPO / "config" / "example-age-key.txt")),
           "DEPLOYER_CHART_REPO": os.environ.get("DEPLOYER_CHART_REPO", str(REPO.parent / "shared" / "charts"))}
    cluster = LocalCluster(state / "local")

    def cli(*args: str) -> float:
        t = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(REPO), *args], env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return time.monotonic() - t

    try:
        print(f"local up: {cli('local', 'up'):.1f}s")
        print(f"deploy-support local (monitoring stack included): {cli('deploy-support', 'local', '--timeout', '300'):.1f}s")
        print(f"deploy local (staging, prod): {cli('deploy', 'local', '--timeout', '300'):.1f}s")
        time.sleep(settle)
        per = cluster_rss(cluster)
        total = sum(per.values())
        for name, kib in sorted(per.items(), key=lambda kv: -kv[1]):
            print(f"  rss {name:<30} {kib / 1024:7.1f} MiB")
        pods = pod_rss(cluster.layout.kubeconfig)
        monitoring = {k: v for k, v in pods.items() if k.startswith(MONITORING_NAMESPACE + "/")}
        for name, kib in sorted(monitoring.items(), key=lambda kv: -kv[1]):
            print(f"  monitoring pod {name:<46} {kib / 1024:7.1f} MiB")
        mon = sum(monitoring.values())
        print(f"monitoring stack RSS: {mon / 1024:.0f} MiB")
        print(f"whole local cluster with the example fleet RSS: {total / 1024:.0f} MiB = {total / 2**20:.2f} GiB "
              f"(budget {BUDGET_MIB} MiB: {'ok' if total / 1024 < BUDGET_MIB else 'OVER'})")
    finally:
        t = time.monotonic()
        cluster.down()
        print(f"local down: {time.monotonic() - t:.1f}s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cluster", action="store_true", help="also deploy the example fleet and measure memory")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds to let the fleet settle before measuring")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    builds_and_images()
    if args.cluster:
        cluster_figures(args.settle)


if __name__ == "__main__":
    main()
