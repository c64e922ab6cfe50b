#!/usr/bin/env python3
"""Figures for `deployer status` (issue 7): wall time over N hubs (default 50) on a local cluster.

Starts its own local cluster, installs N basehub hubs with `deployer deploy --concurrency 8`
(set-up, timed separately), then runs `deployer status <cluster>` several times as a user would
(a fresh `python -m deployer` process each time, start-up included) and prints each wall time,
the median, and what it consists of. Target: under 3 s for 50 hubs. It asserts nothing.

Every hub answers `unhealthy` here: the local cluster runs no containers, so nothing answers
behind a hub's Service (status reports why); the health checks still make every request.

Usage: .venv/bin/python benchmarks/status_speed.py [--hubs 50] [--runs 5]
Needs ./install.sh (helm, etcd, kube-apiserver, kube-controller-manager in .tools).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
CHART_REPO = REPO.parent / "shared" / "charts"  # the real upstream charts (a Helm chart repository)

from local_fleet import write_repo  # noqa: E402


def deployer(root: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hubs", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from deployer.local.cluster import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cluster = LocalCluster(tmp / "state")
        up = cluster.up()
        print(f"local cluster up in {up.seconds:.1f}s")
        try:
            root = tmp / "repo"
            names = write_repo(root, cluster.layout.root, "bench", args.hubs)
            t0 = time.monotonic()
            proc = deployer(root, "deploy", "bench", "--chart-repo", str(CHART_REPO), "--concurrency", "8",
                            "--timeout", "300", "--output", "json")
            report = json.loads(proc.stdout)
            print(f"set-up: deployed {report['counts']['succeeded']}/{len(names)} hubs in {time.monotonic() - t0:.1f}s")

            for label, extra in (("status (helm + health)", ()), ("status --no-health (helm only)", ("--no-health",))):
                walls = []
                for _ in range(args.runs):
                    t = time.monotonic()
                    proc = deployer(root, "status", "bench", "--output", "json", *extra, timeout=120)
                    walls.append(time.monotonic() - t)
                    data = json.loads(proc.stdout)
                rows = data["hubs"]
                deployed = sum(1 for r in rows if r["helm_status"] == "deployed")
                checked = sum(1 for r in rows if r["health"] in ("healthy", "unhealthy"))
                print(f"{label} over {len(rows)} hubs ({deployed} deployed, {checked} health-checked): "
                      f"wall {', '.join(f'{w:.2f}' for w in walls)} s; median {statistics.median(walls):.2f} s "
                      f"(in-process {data['seconds']:.2f} s)")

            t = time.monotonic()
            subprocess.run([sys.executable, "-m", "deployer", "--help"], capture_output=True, timeout=60)
            print(f"for scale: `deployer --help` (interpreter start-up and CLI import) {time.monotonic() - t:.2f} s")
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
