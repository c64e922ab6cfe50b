#!/usr/bin/env python3
"""Figures for the support chart's alerts (issue 20): how long from a hub's pods failing to its alert firing.

Runs the end-to-end test tests/e2e/test_alerts_usage.py::test_a_broken_hub_fires_its_alert_everywhere_then_it_resolves
`--runs` times (each run starts its own local cluster, deploys the support stack and a basehub hub with
`deployer`, breaks the hub's image for real, waits for JupyterHubHubDown to fire, fixes it, waits for it to
resolve) and prints what the test measured (its `ALERT-LATENCY` line):

- failed_after_break_s: the image changed -> no hub pod Ready (the Recreate strategy stops the old pod);
- pending_after_failure_s: -> Prometheus holds the alert as pending (a kube-state-metrics scrape, then a
  rule evaluation: 15 s each on the local cluster);
- firing_after_failure_s: -> firing: the above plus the rule's `for:` (15 s in the test, set through the
  support values; the chart's default is 5m, so in production add 5 minutes, and the 1m scrape and
  evaluation intervals);
- resolved_after_fix_s: the hub Ready again -> the alert gone from Prometheus.

Usage: flock /tmp/deployer-node.lock .venv/bin/python benchmarks/alert_latency.py [--runs 1]
Needs ./install.sh (the local cluster, its images, helm, the charts in ../shared/charts). Asserts nothing
beyond what the test asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST = "tests/e2e/test_alerts_usage.py::test_a_broken_hub_fires_its_alert_everywhere_then_it_resolves"


def one_run() -> dict:
    env = {**os.environ, "DEPLOYER_CHART_REPO": str(REPO.parent / "shared" / "charts")}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-s", "-q", TEST], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("ALERT-LATENCY ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"the test failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    figures = json.loads(line.split(" ", 1)[1])
    figures["run_s"] = round(time.monotonic() - started, 1)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    for i, r in enumerate(runs, 1):
        print(f"run {i}: " + ", ".join(f"{k} {v}" for k, v in r.items()))
    for key in ("failed_after_break_s", "pending_after_failure_s", "firing_after_failure_s", "resolved_after_fix_s"):
        values = [r[key] for r in runs]
        print(f"{key}: median {statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f})")
    print(f"rule `for:` in these runs: {runs[0]['for']} (production default 5m: add the difference)")


if __name__ == "__main__":
    main()
