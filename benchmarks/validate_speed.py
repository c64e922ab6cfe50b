#!/usr/bin/env python3
"""Figures for `deployer validate` (issue 2). Prints, measured in this one run:

- wall time of one `deployer validate` CLI call over the whole corpus (median of N runs), with
  every file parsed (`--no-cache`) and with the files unchanged since the last run (parse cache);
- wall time of `deployer --help`;
- validation time of generated fleets 1x, 2x, 5x and 10x the corpus, and time per hub,
  to show that validation grows linearly.

Usage: .venv/bin/python benchmarks/validate_speed.py [--runs N] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "2i2c"


def wall(cmd: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if proc.returncode not in (0, 1):  # 1: problems found (the corpus uses keys our charts refuse by name)
            sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return statistics.median(times), min(times)


def make_fleet(corpus: Path, dest: Path, copies: int) -> None:
    """`copies` renamed copies of every corpus cluster (names and domains made unique)."""
    for src in sorted((corpus / "config" / "clusters").iterdir()):
        if not (src / "cluster.yaml").is_file():
            continue
        for i in range(copies):
            name = f"{src.name}-c{i}"
            target = dest / "config" / "clusters" / name
            shutil.copytree(src, target)
            text = (target / "cluster.yaml").read_text()
            text = re.sub(r"^name: .*$", f"name: {name}", text, count=1, flags=re.M)
            text = re.sub(r"^(\s*domain: )(\S+)", lambda m: f"{m.group(1)}c{i}.{m.group(2)}", text, flags=re.M)
            (target / "cluster.yaml").write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()
    deployer = [sys.executable, "-m", "deployer"]

    command = deployer + ["--root", str(args.corpus), "validate"]
    median, best = wall(command + ["--no-cache"], args.runs)
    print(f"validate whole corpus, every file parsed (--no-cache): median {median:.3f}s, best {best:.3f}s")
    wall(command, 1)  # the first run fills the parse cache
    median, best = wall(command, args.runs)
    print(f"validate whole corpus, unchanged since the last run (parse cache): median {median:.3f}s, "
          f"best {best:.3f}s  (target < 0.5s)")
    median, best = wall(deployer + ["--help"], args.runs)
    print(f"deployer --help: median {median:.3f}s, best {best:.3f}s  (target < 0.3s)")

    sys.path.insert(0, str(REPO))
    from deployer.checks.validate import validate

    base = None
    errors_1x = None
    print("fleet  clusters  hubs  seconds  ms/hub  ratio-to-1x(per hub)  (no parse cache)")
    for copies in (1, 2, 5, 10):
        with tempfile.TemporaryDirectory() as tmp:
            make_fleet(args.corpus, Path(tmp), copies)
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                report = validate(Path(tmp)).report
                runs.append(time.perf_counter() - t)
            # the corpus has refused keys (reported by name); each copy must report exactly as many
            errors_1x = errors_1x if errors_1x is not None else len(report.errors)
            if len(report.errors) != errors_1x * copies:
                sys.exit(f"{copies}x fleet: {len(report.errors)} errors, expected {errors_1x * copies}")
            secs = min(runs)
            per_hub = secs / report.hubs * 1000
            base = base or per_hub
            print(f"{copies:>4}x  {report.clusters:>8}  {report.hubs:>4}  {secs:7.3f}  {per_hub:6.3f}  {per_hub / base:5.2f}")


if __name__ == "__main__":
    main()
