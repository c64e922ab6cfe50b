#!/usr/bin/env python3
"""Figures for `deployer plan-upgrade` (issue 6), measured in this run: the whole 2i2c corpus
(plus our helm-charts) in a temporary git repository, with a change to a values file shared by
most cloudbank hubs, planned by one CLI call (median of N). Target: under 1 s wall.

Usage: .venv/bin/python benchmarks/plan_speed.py [--runs N] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.email=b@example.org", "-c", "user.name=bench", "-c", "commit.gpgsign=false"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus" / "2i2c")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(args.corpus / "config", repo / "config")
        shutil.copytree(REPO / "helm-charts", repo / "helm-charts")
        subprocess.run([*GIT, "-C", str(repo), "init", "-q"], check=True)
        subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
        subprocess.run([*GIT, "-C", str(repo), "commit", "-qm", "base"], check=True)
        shared = repo / "config/clusters/cloudbank/common.values.yaml"
        shared.write_text(shared.read_text() + "\nbenchmarkKey: 1\n")
        subprocess.run([*GIT, "-C", str(repo), "commit", "-qam", "change"], check=True)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(repo), "plan-upgrade", "--base",
                                   "HEAD~1", "--output", "json"], capture_output=True, text=True, timeout=300)
            times.append(time.perf_counter() - t)
            if proc.returncode != 0:
                sys.exit(proc.stderr)
        counts = json.loads(proc.stdout)["counts"]
    print(f"plan-upgrade over the corpus (20 clusters, 148 hubs), one CLI call: median {statistics.median(times):.3f}s, "
          f"best {min(times):.3f}s  (target < 1s); planned {counts}")


if __name__ == "__main__":
    main()
