#!/usr/bin/env python3
"""Figures for `deployer render` (issues 12 and 18), all measured in this one run on the shared corpus
(../shared/corpus/2i2c: 148 hubs + 20 support releases) with the real charts (../shared/charts):

- A: `render_fleet` over the whole corpus, concurrently (the chart cache warm): wall time, the
  per-release cost, the CPU time, and how many releases render clean (issue 18: under 60 s on 2 cores,
  147 of 148 hubs and 20 of 20 support stacks: 2i2c-uk/lis pins a jupyterhub build no repository holds);
- B: a sequential loop of plain `helm template` over the same releases, with the very same charts,
  arguments and values (recorded from A): wall time; prints B/A (target >= 2);
- C: `python -m deployer render <cluster> <hub>` of one hub, start-up included (target < 2 s).

Usage: .venv/bin/python benchmarks/render_speed.py [--concurrency 4] [--runs 3]
The machine's load average is printed with the figures: other work on the 2 cores shows in them.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deployer.adapters.process import Completed, ProcessRunner  # noqa: E402
from deployer.render.pipeline import render_fleet  # noqa: E402
from deployer.render.renderer import RenderOptions  # noqa: E402
from deployer.toolchain import find_tool  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "2i2c"
CHARTS = REPO.parent / "shared" / "charts"


class RecordingRunner(ProcessRunner):
    """The real runner; it also keeps every `helm template` call (arguments, values on stdin)."""

    def __init__(self) -> None:
        super().__init__()
        self.templates: list[tuple[tuple, object, dict]] = []
        self._lock = threading.Lock()

    def run(self, args, **kwargs) -> Completed:
        if len(args) > 1 and str(args[1]) == "template":
            with self._lock:
                self.templates.append((tuple(args), kwargs.get("input"), dict(kwargs.get("env") or {})))
        return super().run(args, **kwargs)


def cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3, help="runs of C (one hub with start-up)")
    args = parser.parse_args()
    state = Path(os.environ.setdefault("DEPLOYER_STATE_DIR", str(Path(tempfile.gettempdir()) / "deployer-render-bench")))
    helm = find_tool("helm")
    options = RenderOptions(work_dir=state / "charts", chart_repo=CHARTS, concurrency=args.concurrency)

    started = time.monotonic()
    render_fleet(CORPUS, None, None, options, ProcessRunner(), helm)  # prepares the charts (cache)
    print(f"warm-up (charts prepared if not cached): {time.monotonic() - started:.1f} s")

    runner = RecordingRunner()
    cpu0, started = cpu(), time.monotonic()
    report = render_fleet(CORPUS, None, None, options, runner, helm)
    wall_a, cpu_a = time.monotonic() - started, cpu() - cpu0
    releases = [r for c in report.clusters for r in c.releases]
    failed = {p.release for p in report.errors}
    clean = sum(1 for r in releases if r.rendered and r.id not in failed)
    hubs = [r for r in releases if r.is_hub]
    clean_hubs = sum(1 for r in hubs if r.rendered and r.id not in failed)
    print(f"A  render, whole corpus, concurrency {args.concurrency}: {wall_a:.1f} s wall, {cpu_a:.1f} s CPU, "
          f"{len(releases)} releases ({clean} clean, {len(runner.templates)} helm template calls), "
          f"{wall_a / len(releases) * 1000:.0f} ms/release wall, {cpu_a / len(releases) * 1000:.0f} ms/release CPU")
    print(f"   hubs clean: {clean_hubs} of {len(hubs)}; support stacks clean: {clean - clean_hubs} of "
          f"{len(releases) - len(hubs)}; not clean: {', '.join(sorted(failed)) or 'none'}")

    plain = ProcessRunner()
    started = time.monotonic()
    for argv, given, env in runner.templates:
        plain.run(argv, input=given, env=env, timeout=300)
    wall_b = time.monotonic() - started
    print(f"B  sequential `helm template` loop, same {len(runner.templates)} calls: {wall_b:.1f} s wall")
    print(f"   B/A = {wall_b / wall_a:.2f} (target >= 2)")

    target = next((r for r in releases if r.is_hub and r.rendered and r.id not in failed), releases[0])
    cluster, hub = target.id.split("/")
    times, cpus = [], []
    for _ in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "deployer", "--root", str(CORPUS), "render", cluster, hub],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "DEPLOYER_CHART_REPO": str(CHARTS)})
        times.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    print(f"C  `deployer render {cluster} {hub}` with start-up: min {min(times):.2f} s, "
          f"median {statistics.median(times):.2f} s wall over {args.runs} runs (target < 2 s); "
          f"CPU (deployer + helm) median {statistics.median(cpus):.2f} s")
    print(f"load average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
