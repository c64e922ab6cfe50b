#!/usr/bin/env python3
"""Figures for `deployer tools install` (packaging issue): wall time of a run when every tool is
already in the cache (target: under 2 s), median and best of N runs, measured in this one run.
It also prints what the cache holds and how large it is.

Usage: .venv/bin/python benchmarks/tools_install_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "deployer", "tools", "install", "-o", "json"]
    first = subprocess.run(cmd, capture_output=True, text=True)
    if first.returncode != 0:
        sys.exit(f"tools install failed: {first.stderr[-2000:]}")
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            sys.exit(f"tools install failed: {done.stderr[-2000:]}")
    import json

    report = json.loads(done.stdout)
    actions = {r["package"]: r["action"] for r in report["installed"]}
    tools = Path(report["tools_dir"])
    size = sum(p.stat().st_size for p in tools.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"tools install, everything cached: median {statistics.median(times):.2f} s, best {min(times):.2f} s "
          f"over {args.runs} runs (target < 2 s); load average {os.getloadavg()[0]:.1f}")
    print(f"actions: {actions}")
    print(f"cache: {tools} ({size / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
