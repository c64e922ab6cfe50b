"""`deployer preview`: one preview from the command to a passing user test (images already imported), what
the substitutions cost (the same plain basehub hub previewed, and deployed by `deploy local` then
`health --user-test`), and the local cluster's memory with the local fleet and three previews running. Targets: a preview under 90 s;
the whole cluster under 4 GiB RSS.

    .venv/bin/python benchmarks/preview_speed.py --state-dir DIR [--corpus ../shared/corpus/2i2c]

Needs a local cluster up at DIR/local (`deployer local up --state-dir DIR`) with its images imported
(`deployer local images --state-dir DIR`); removes the previews it made; the two fleet hubs and the cluster stay.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_fleet import write_repo  # noqa: E402
from local_up_speed import cluster_rss  # noqa: E402

from deployer.local.cluster import LocalCluster  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# two more hub shapes of the fleet, as a repository of their own: a profileList with an unlisted choice of
# image and node selectors, and a daskhub whose user image comes from a registry this node cannot reach
SHAPES = {
    "profiles": """jupyterhub:
  singleuser:
    nodeSelector: {node.kubernetes.io/instance-type: n2-highmem-4}
    profileList:
    - display_name: Small
      default: true
      kubespawner_override: {mem_limit: 2G, mem_guarantee: 1.5G, node_selector: {pool: small}}
      profile_options:
        image:
          display_name: Image
          unlisted_choice: {enabled: true, display_name: Custom image, kubespawner_override: {image: "{value}"}}
          choices:
            pangeo: {display_name: Pangeo, default: true, kubespawner_override: {image: "pangeo/pangeo-notebook:2025.01.10"}}
  hub:
    config:
      JupyterHub: {authenticator_class: github}
      Authenticator: {admin_users: [ada]}
""",
    "dask": """basehub:
  jupyterhub:
    singleuser:
      image: {name: quay.io/jupyter/scipy-notebook, tag: "2025-04-14"}
""",
}


def run(*args: str, env: dict[str, str]) -> tuple[int, float, str]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "deployer", *args], capture_output=True, text=True, env=env,
                          timeout=900)
    return proc.returncode, time.monotonic() - started, proc.stdout + proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus" / "2i2c")
    args = ap.parse_args()
    cluster = LocalCluster(args.state_dir / "local")
    if not cluster.status().healthy:
        sys.exit(f"no local cluster up at {args.state_dir}/local: `deployer local up --state-dir {args.state_dir}`")
    env = {**os.environ, "DEPLOYER_STATE_DIR": str(args.state_dir),
           "DEPLOYER_CHART_REPO": os.environ.get("DEPLOYER_CHART_REPO", str(REPO.parent / "shared" / "charts"))}
    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    print(f"machine: {os.cpu_count()} cores, load {load()}")
    corpus = ["--root", str(args.corpus)]
    run(*corpus, "preview", "hhmi", "staging", "--rm", env=env)
    rc, seconds, out = run(*corpus, "preview", "hhmi", "staging", env=env)
    print(f"preview hhmi/staging (first, to a passing user test): {seconds:.1f} s, exit {rc} (target < 90 s); "
          f"load {load()}")
    if rc:
        print(out[-2000:])
    rc, again, _ = run(*corpus, "preview", "hhmi", "staging", env=env)
    print(f"preview hhmi/staging again (updates it): {again:.1f} s, exit {rc}")

    # what the substitutions cost: the same hub (a plain basehub hub of a `provider: local` cluster) deployed
    # by `deploy` then `health --user-test`, and previewed (its release of its own, the preview layer on top)
    work = Path(tempfile.mkdtemp(prefix="preview-bench-"))
    plain = work / "plain"
    write_repo(plain, args.state_dir / "local", "bench", 2)
    rc, deployed, out = run("--root", str(plain), "deploy", "bench", "bench-hub0", "--timeout", "300", env=env)
    print(f"deploy local of bench-hub0 (a plain basehub hub, first install): {deployed:.1f} s, exit {rc}")
    if rc:
        print(out[-1500:])
    rc, user_test, _ = run("--root", str(plain), "health", "bench", "bench-hub0", "--user-test", env=env)
    print(f"health --user-test of it: {user_test:.1f} s, exit {rc}; deploy + user test {deployed + user_test:.1f} s")
    rc, previewed, out = run("--root", str(plain), "preview", "bench", "bench-hub0", env=env)
    print(f"preview of the same hub (first install, to a passing user test): {previewed:.1f} s, exit {rc}; "
          f"the substitutions and the preview's own release cost {previewed - deployed - user_test:+.1f} s; "
          f"load {load()}")
    if rc:
        print(out[-1500:])
    rc, seconds, _ = run("--root", str(plain), "deploy", "bench", "bench-hub1", "--timeout", "300", env=env)
    print(f"deploy local of bench-hub1 (the fleet's second hub): {seconds:.1f} s, exit {rc}")

    # a third preview, of a hub with a profileList, an unlisted choice and node selectors
    shapes = work / "shapes"
    folder = shapes / "config" / "clusters" / "fleet"
    folder.mkdir(parents=True)
    hubs = "".join(f"- name: {n}\n  domain: {n}.fleet.test\n  helm_chart: {'daskhub' if n == 'dask' else 'basehub'}\n"
                   f"  helm_chart_values_files: [{n}.values.yaml]\n" for n in SHAPES)
    (folder / "cluster.yaml").write_text(f"name: fleet\nprovider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\n"
                                         f"hubs:\n{hubs}")
    (folder / "kubeconfig.yaml").write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    for n, text in SHAPES.items():
        (folder / f"{n}.values.yaml").write_text(text)
    rc, seconds, out = run("--root", str(shapes), "preview", "fleet", "profiles", env=env)
    print(f"preview fleet/profiles: {seconds:.1f} s, exit {rc}")
    if rc:
        print(out[-1500:])

    time.sleep(10)
    per = cluster_rss(cluster)
    total = sum(per.values())
    for name, kib in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"  rss {name:<26} {kib / 1024:7.1f} MiB")
    print(f"cluster RSS with the local fleet (2 hubs) and 3 previews running: {total / 1024:.0f} MiB "
          f"(target < 4096 MiB); load {load()}")
    run("--root", str(shapes), "preview", "fleet", "profiles", "--rm", env=env)
    run("--root", str(plain), "preview", "bench", "bench-hub0", "--rm", env=env)
    run(*corpus, "preview", "hhmi", "staging", "--rm", env=env)


if __name__ == "__main__":
    main()
