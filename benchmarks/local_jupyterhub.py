"""On a running local node: the images (build or cache), the real jupyterhub 4.3.3 chart with the local values
layer until /hub/health answers, and the user test. Prints each figure and the machine's load.

    python benchmarks/local_jupyterhub.py --state-dir <the cluster's folder, e.g. .deployer/local>
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CHART = REPO.parent / "shared" / "charts" / "jupyterhub-4.3.3.tgz"


def main() -> int:
    from deployer.adapters.kube import Kube
    from deployer.adapters.process import ProcessRunner
    from deployer.local.cluster import LocalCluster
    from deployer.local.images import ensure_images, image_refs, import_images
    from deployer.local.layers import hub_values
    from deployer.run.user_session import UserTest
    from deployer.toolchain import find_tool

    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True, help="the local cluster's folder")
    parser.add_argument("--namespace", default="bench-jh")
    args = parser.parse_args()
    cluster = LocalCluster(args.state_dir)
    if not cluster.status().healthy:
        print(f"the local cluster at {args.state_dir} is not up", file=sys.stderr)
        return 1
    runner = ProcessRunner()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    t = time.monotonic()
    built = ensure_images(runner)
    print(f"images ensured: {time.monotonic() - t:.1f}s")
    for b in built:
        print(f"  {b.name:<26} {b.size / 2**20:6.0f} MiB  build {b.build_seconds:6.0f}s"
              f"{'  (cached)' if b.cached else ''}")
    t = time.monotonic()
    imported = import_images(runner, cluster.layout.containerd_socket, built)
    print(f"import into containerd: {time.monotonic() - t:.1f}s ({len(imported)} imported)")

    helm, kubectl = find_tool("helm"), find_tool("kubectl")
    kubeconfig = cluster.layout.kubeconfig
    ns = args.namespace
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        values = work / "local.yaml"
        values.write_text(yaml.safe_dump(hub_values(image_refs(), chart="jupyterhub").values))
        env = {"KUBECONFIG": str(kubeconfig), "HELM_CACHE_HOME": str(work / "c"), "HELM_CONFIG_HOME": str(work / "g"),
               "HELM_DATA_HOME": str(work / "d")}
        t = time.monotonic()
        r = runner.run([helm, "upgrade", "--install", "jh", CHART, "-n", ns, "--create-namespace", "-f", values],
                       env=env, timeout=120)
        if not r.ok:
            print(r.stderr, file=sys.stderr)
            return 1
        try:
            with Kube(kubeconfig, timeout=10) as kube:
                while True:
                    try:
                        if kube.service_get(ns, "hub", 8081, "/hub/health").status == 200:
                            break
                    except Exception:  # noqa: BLE001 - the API server's proxy before the service exists
                        pass
                    if time.monotonic() - t > 600:
                        print("no /hub/health after 600s", file=sys.stderr)
                        return 1
                    time.sleep(0.5)
                print(f"first deploy to /hub/health answering: {time.monotonic() - t:.1f}s")
                result = UserTest(kube, runner, kubectl, kubeconfig, None, ns, work).run()
                for p in result.phases:
                    print(f"  {p.name:<8} {p.seconds:6.1f}s {'ok' if p.ok else 'FAIL'} {p.message}")
                print(f"user test: {'passed' if result.ok else 'FAILED: ' + result.reason} in {result.seconds:.1f}s"
                      f" (target < 60 s); cleanup: {result.cleanup}")
        finally:
            runner.run([helm, "uninstall", "jh", "-n", ns, "--wait", "--timeout", "2m"], env=env, timeout=180)
            runner.run([kubectl, "--kubeconfig", kubeconfig, "delete", "namespace", ns, "--wait=false"], timeout=60)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
