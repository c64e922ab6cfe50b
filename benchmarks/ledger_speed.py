#!/usr/bin/env python3
"""Figures for the ledger (issues 14, 19), all measured in this one run on a local cluster:

- D: a no-op `deployer deploy` of an N-hub fleet that is already deployed (every hub unchanged,
  the fleet check on), a fresh process each time, start-up included (median of --runs);
- E: the same fleet upgraded with a shell loop of `helm upgrade --install --wait`, one per hub
  (same prepared chart, same values);
- H: a deploy after one hub's own values file changed: one release deployed, the others
  unchanged; from its --verbose log, how many values files were read, charts rendered
  (`helm template`) and upgraded (`helm upgrade`): those of the changed hub only;
- F: `deployer plan-upgrade --against cluster` for the fleet, nothing changed (median of --runs);
- G: the same after a change to the values file every hub uses, committed (every hub planned,
  the changed input named from the recorded commit).
Prints D/E (target: D < 5 s and E/D >= 20), H, and F, G (target < 3 s).

Usage: .venv/bin/python benchmarks/ledger_speed.py [--hubs 50] [--runs 3] [--chart-repo DIR]
Needs the local cluster (root: a real node), helm, and a local chart repository (--chart-repo, or
$DEPLOYER_CHART_REPO, default ../shared/charts beside the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
GIT = ["git", "-c", "user.email=bench@example.org", "-c", "user.name=bench", "-c", "commit.gpgsign=false"]

from local_fleet import write_repo  # noqa: E402


def deployer(root: Path, *args: str, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "deployer", "--root", str(root), "--state-dir", str(root / ".state"),
                           *args], capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"deployer {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return took, proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hubs", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chart-repo", type=Path,
                    default=Path(os.environ.get("DEPLOYER_CHART_REPO") or REPO.parent / "shared" / "charts"))
    args = ap.parse_args()
    charts = str(args.chart_repo.resolve())

    from deployer.adapters.charts import prepare_chart
    from deployer.adapters.process import ProcessRunner
    from deployer.local.cluster import LocalCluster
    from deployer.toolchain import find_tool

    helm = find_tool("helm")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cluster = LocalCluster(tmp / "state")
        up = cluster.up()
        print(f"local cluster up in {up.seconds:.1f}s")
        try:
            root = tmp / "repo"
            names = write_repo(root, cluster.layout.root, "led", args.hubs)
            folder = root / "config" / "clusters" / "led"
            cluster_yaml = folder / "cluster.yaml"
            for n in names:  # each hub has a file of its own too, after the shared one
                (folder / f"{n}.values.yaml").write_text(f"jupyterhub:\n  custom:\n    hub: {n}\n")
            blocks = cluster_yaml.read_text().split("\n- name: ")
            cluster_yaml.write_text("\n- name: ".join([blocks[0]] + [
                b.replace("helm_chart_values_files: [hub.values.yaml]",
                          f"helm_chart_values_files: [hub.values.yaml, {b.split(chr(10), 1)[0]}.values.yaml]")
                for b in blocks[1:]]))
            for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fleet"]):
                subprocess.run([*GIT, "-C", str(root), *cmd], check=True, capture_output=True, timeout=60)
            took, _ = deployer(root, "deploy", "led", "--concurrency", "8", "--chart-repo", charts,
                               "--timeout", "300", "--output", "json")
            print(f"first deploy of {args.hubs} hubs (installs, --concurrency 8): {took:.1f}s")

            noop = []
            for _ in range(args.runs):
                took, proc = deployer(root, "deploy", "led", "--chart-repo", charts, "--output", "json")
                counts = json.loads(proc.stdout)["counts"]
                if counts.get("unchanged") != args.hubs:
                    sys.exit(f"expected {args.hubs} unchanged, got {counts}")
                noop.append(took)

            # H: one hub's own values changed: only it is read, rendered and upgraded
            one = folder / f"{names[0]}.values.yaml"
            one.write_text(one.read_text() + "    changed: true\n")
            one_took, proc = deployer(root, "--verbose", "deploy", "led", "--chart-repo", charts, "--output", "json")
            counts = json.loads(proc.stdout)["counts"]
            if counts.get("unchanged") != args.hubs - 1 or counts.get("succeeded") != 1:
                sys.exit(f"expected 1 deployed and {args.hubs - 1} unchanged, got {counts}")
            log = proc.stderr.splitlines()
            stages = next((ln.split("deployer.deploy: ", 1)[-1] for ln in log if "stages, releases each ran for" in ln),
                          "(no stage line)")
            h_log = Path(tempfile.gettempdir()) / f"ledger_speed_h_{args.hubs}.log"
            h_log.write_text(proc.stderr)  # the changed hub's deploy, --verbose: where its time went
            h_steps = [(s["id"], s["state"], round(s["duration_seconds"], 1), s.get("details", {}).get("settled"))
                       for s in json.loads(proc.stdout)["steps"] if s["state"] != "unchanged"]
            read = [ln for ln in log if "values file read" in ln]
            digested = [ln for ln in log if "values file digested" in ln]
            templated = [ln for ln in log if "run: " in ln and "helm template " in ln]
            upgraded = [ln for ln in log if "run: " in ln and "helm upgrade " in ln]
            subprocess.run([*GIT, "-C", str(root), "commit", "-qam", "one hub"], check=True, capture_output=True,
                           timeout=60)

            plans = []
            for _ in range(args.runs):
                took, proc = deployer(root, "plan-upgrade", "--against", "cluster", "--output", "json")
                data = json.loads(proc.stdout)
                if len(data["unchanged"]) != args.hubs:
                    sys.exit(f"expected {args.hubs} unchanged in the plan, got {len(data['unchanged'])}")
                plans.append(took)

            values = root / "config" / "clusters" / "led" / "hub.values.yaml"
            values.write_text(values.read_text() + "    changed: true\n")
            subprocess.run([*GIT, "-C", str(root), "commit", "-qam", "change"], check=True, capture_output=True,
                           timeout=60)
            changed = []
            for _ in range(args.runs):
                took, proc = deployer(root, "plan-upgrade", "--against", "cluster", "--output", "json")
                data = json.loads(proc.stdout)
                if data["counts"]["staging"] != args.hubs or "since " not in data["staging_jobs"][0]["reasons"][1]:
                    sys.exit(f"expected {args.hubs} planned with the changed input named: {data['staging_jobs'][:1]}")
                changed.append(took)
            values.write_text(values.read_text().replace("    changed: true\n", ""))

            # E: every hub upgraded with helm, the way a fleet is redeployed without a ledger
            chart = prepare_chart(REPO / "helm-charts" / "basehub", work_dir=tmp / "charts", chart_repo=Path(charts),
                                  runner=ProcessRunner(), helm=helm)
            # the values deploy handed helm (every layer: generated, local cluster, files), per release
            env = {**os.environ, "KUBECONFIG": str(up.status.kubeconfig)}
            script = []
            for n in names:
                given = tmp / f"{n}.values.json"
                got = subprocess.run([str(helm), "get", "values", n, "-n", n, "-o", "json"], env=env,
                                     capture_output=True, text=True, check=True, timeout=60)
                given.write_text(got.stdout)
                script.append(f"{helm} upgrade --install {n} {chart.path} -n {n} --create-namespace --wait "
                              f"--timeout 300s -f {given} >/dev/null")
            d = statistics.median(noop)
            print(f"D  no-op deployer deploy, {args.hubs} hubs unchanged:          median {d:5.2f}s "
                  f"(runs {', '.join(f'{x:.2f}' for x in noop)})  target < 5 s")
            print(f"H  one hub of {args.hubs} changed: deployed in {one_took:.1f}s; values files read: {len(read)}, "
                  f"helm template: {len(templated)}, helm upgrade: {len(upgraded)} (the changed hub's only); "
                  f"digested for the ledger (parsed, nothing decrypted): {len(digested)}")
            for line in read:
                print(f"     {line.split('deployer.values', 1)[-1].strip()}")
            print(f"     {stages}")
            print(f"     the deployed step (id, state, seconds, settled): {h_steps}; its --verbose log: {h_log}")
            print(f"F  plan-upgrade --against cluster, nothing changed:    median {statistics.median(plans):5.2f}s "
                  f"(runs {', '.join(f'{x:.2f}' for x in plans)})  target < 3 s")
            print(f"G  plan-upgrade --against cluster, {args.hubs} hubs changed:   median {statistics.median(changed):5.2f}s "
                  f"(runs {', '.join(f'{x:.2f}' for x in changed)})  target < 3 s")
            sys.stdout.flush()
            t = time.perf_counter()
            subprocess.run(["bash", "-ec", "\n".join(script)], env=env, check=True, timeout=3600)
            helm_loop = time.perf_counter() - t
        finally:
            cluster.down()
    print(f"E  helm upgrade --install --wait each, {args.hubs} hubs:       {helm_loop:6.1f}s")
    print(f"E/D = {helm_loop / d:.1f}x  (target >= 20x)")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores, shared)")


if __name__ == "__main__":
    main()
