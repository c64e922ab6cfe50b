#!/usr/bin/env python3
"""Figures for `deployer deploy` (issue 4), all measured in this one run on a local cluster:

- A: a plain shell loop of `helm upgrade --install --wait` over 10 hubs (same prepared chart,
  same values files, passed with -f);
- B: `deployer deploy --concurrency 1` over 10 other hubs;
- C: `deployer deploy --concurrency 5` over 10 other hubs.
Prints B/A (target <= 1.15) and B/C (target >= 3). Every deploy is a fresh install.

Usage: .venv/bin/python benchmarks/deploy_speed.py [--hubs 10]
Needs ./install.sh (helm, etcd, kube-apiserver, kube-controller-manager in .tools).
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
CHART_REPO = REPO.parent / "shared" / "charts"  # the real upstream charts (a Helm chart repository)

from local_fleet import write_repo  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hubs", type=int, default=10)
    args = ap.parse_args()

    from deployer.adapters.charts import prepare_chart
    from deployer.adapters.process import ProcessRunner
    from deployer.local.cluster import LocalCluster
    from deployer.plan.computed_layers import generated_values
    from deployer.toolchain import find_tool

    helm = find_tool("helm")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cluster = LocalCluster(tmp / "state")
        up = cluster.up()
        print(f"local cluster up in {up.seconds:.1f}s")
        try:
            kubeconfig = up.status.kubeconfig
            work = tmp / "charts"
            chart = prepare_chart(REPO / "helm-charts" / "basehub", work_dir=work, chart_repo=CHART_REPO,
                                  runner=ProcessRunner(), helm=helm)
            env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

            # A: the plain shell loop
            names = [f"a-hub{i}" for i in range(args.hubs)]
            values = tmp / "hub.values.yaml"
            values.write_text("jupyterhub:\n  custom:\n    bench: true\n")
            script = []
            for n in names:
                gen = tmp / f"{n}.generated.json"
                gen.write_text(json.dumps(generated_values(cluster="a", hub=n, domain=f"{n}.bench.test",
                                                           dependencies=["jupyterhub"], chart_name="basehub")))
                script.append(f"{helm} upgrade --install {n} {chart.path} -n {n} --create-namespace --wait "
                              f"--timeout 300s -f {gen} -f {values} >/dev/null")
            t = time.perf_counter()
            subprocess.run(["bash", "-ec", "\n".join(script)], env=env, check=True, timeout=1800)
            shell = time.perf_counter() - t

            def deploy(prefix: str, concurrency: int) -> float:
                root = tmp / f"repo-{prefix}"
                write_repo(root, cluster.layout.root, prefix, args.hubs)
                t = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-m", "deployer", "--root", str(root), "deploy", prefix, "--concurrency",
                     str(concurrency), "--chart-repo", str(CHART_REPO), "--timeout", "300", "--output", "json"],
                    capture_output=True, text=True, timeout=1800,
                )
                took = time.perf_counter() - t
                if proc.returncode != 0:
                    sys.exit(f"deploy failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
                return took

            one = deploy("b", 1)
            five = deploy("c", 5)
        finally:
            cluster.down()
    print(f"A  shell loop of helm upgrade --install --wait, {args.hubs} hubs: {shell:6.1f}s")
    print(f"B  deployer deploy --concurrency 1,            {args.hubs} hubs: {one:6.1f}s")
    print(f"C  deployer deploy --concurrency 5,            {args.hubs} hubs: {five:6.1f}s")
    print(f"B/A = {one / shell:.2f}  (target <= 1.15)")
    print(f"B/C = {one / five:.2f}  (target >= 3)")


if __name__ == "__main__":
    main()
