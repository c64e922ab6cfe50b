"""`deployer local up` from cached binaries to a Ready node, `local down`, and the idle cluster's
memory (RSS of every process of the node, containers included). Prints the figures; targets:
up < 30 s, down < 30 s, idle RSS < 1.5 GiB.

    .venv/bin/python benchmarks/local_up_speed.py [--rounds N] [--state-dir DIR]

Needs root, the built programs (python -m deployer.toolchain.kubebuild) and no other local node.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from deployer.local import host
from deployer.local.cluster import LocalCluster


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cluster_rss(cluster: LocalCluster) -> dict[str, int]:
    """RSS (KiB) per component, plus the shims and the containers (every process in kubepods)."""
    import json

    state = json.loads(cluster.layout.state_file.read_text())
    per = {c["name"]: rss_kib(c["pid"]) for c in state["components"]}
    mine = {c["pid"] for c in state["components"]}
    shims = [p for p in host.processes_using(str(cluster.layout.root) + "/") if p not in mine]
    per["shims+others"] = sum(rss_kib(p) for p in shims)
    pods = set()
    for cg in host.kubepods_cgroups():
        try:
            pods |= {int(p) for p in (cg / "cgroup.procs").read_text().split()}
        except OSError:
            pass
    per["containers"] = sum(rss_kib(p) for p in pods - set(shims))
    return per


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--state-dir", type=Path, default=None)
    ap.add_argument("--idle", type=float, default=20.0, help="seconds to let the cluster settle before measuring")
    args = ap.parse_args()
    base = args.state_dir or Path(tempfile.mkdtemp(prefix="dl-bench-"))
    cluster = LocalCluster(base / "local")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}")
    ups, downs = [], []
    for i in range(args.rounds):
        t = time.monotonic()
        result = cluster.up()
        ups.append(time.monotonic() - t)
        assert result.status.healthy, result.status.message
        print(f"round {i + 1}: local up {ups[-1]:.1f}s to a Ready node")
        if i == args.rounds - 1:
            time.sleep(args.idle)
            per = cluster_rss(cluster)
            total = sum(per.values())
            for name, kib in sorted(per.items(), key=lambda kv: -kv[1]):
                print(f"  rss {name:<26} {kib / 1024:7.1f} MiB")
            print(f"idle cluster RSS: {total / 1024:.0f} MiB (target < 1536 MiB)")
        t = time.monotonic()
        down = cluster.down()
        downs.append(time.monotonic() - t)
        print(f"round {i + 1}: local down {downs[-1]:.1f}s, leftovers {down.leftovers or 'none'}")
    print(f"local up: best {min(ups):.1f}s, worst {max(ups):.1f}s (target < 30 s)")
    print(f"local down: best {min(downs):.1f}s, worst {max(downs):.1f}s (target < 30 s)")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
