#!/usr/bin/env bash
# Quickstart, command 1 of 2: install everything into this repository's own folders
# (.venv for Python, .tools for helm, sops, age, etcd, kube-apiserver, ...), then run the
# main job on the embedded default: validate config/clusters offline, start the local cluster
# (`deployer local up`, no cloud account needed) and deploy config/clusters/local to it
# (support stack, then the staging and prod hubs), offline, printing the run report.
#
#   ./install.sh            install (idempotent; a second run only verifies) and run the main job
#   ./install.sh --no-run   install only
set -euo pipefail
cd "$(dirname "$0")"
run_main=1
for arg in "$@"; do
  case "$arg" in
    --no-run) run_main=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

started=$SECONDS
step() { echo "install: $1 in $((SECONDS - $2))s"; }
t=$SECONDS; bash scripts/install-python.sh; step "python" $t
t=$SECONDS; bash scripts/install-toolchain.sh; step "tools (helm, sops, ..., Kubernetes, etcd, CoreDNS, Prometheus)" $t
# the local cluster's images (hub, proxy, singleuser; Prometheus, kube-state-metrics, node-exporter,
# Alertmanager), built offline from Debian, PyPI, npm and Go builds into the per-user cache once per
# recipe; a second run only checks them
t=$SECONDS; .venv/bin/deployer local images --no-import; step "local images" $t
echo "install: done in $((SECONDS - started))s"

[ "$run_main" = 1 ] || exit 0
# The example fleet's secrets are encrypted to a public example key (see README).
export SOPS_AGE_KEY_FILE="${SOPS_AGE_KEY_FILE:-$PWD/config/example-age-key.txt}"
# Upstream charts cannot be downloaded here: their real releases come from the local chart
# repository ../shared/charts (index.yaml + .tgz), which helm reads over 127.0.0.1; every deploy says so.
export DEPLOYER_CHART_REPO="${DEPLOYER_CHART_REPO:-$(cd .. && pwd)/shared/charts}"
mkdir -p .deployer/reports
echo
echo "== deployer validate (the example fleet in config/clusters)"
.venv/bin/deployer validate
echo
echo "== deployer local up"
.venv/bin/deployer local up
echo
echo "== deployer deploy-support local"
.venv/bin/deployer deploy-support local --timeout 300 --report-file .deployer/reports/support.json
echo
echo "== deployer deploy local (staging first, then prod)"
.venv/bin/deployer deploy local --timeout 300 --report-file .deployer/reports/hubs.json
echo
echo "run reports: .deployer/reports/support.json .deployer/reports/hubs.json"
echo "the local cluster keeps running: \`.venv/bin/deployer local status\`, \`.venv/bin/deployer local down\`"
echo "reach a hub from this machine: \`.venv/bin/deployer local open staging\` (http://127.0.0.1:8000/hub/)"
echo
echo "== deployer health local (JupyterHub itself answering, through the API server's service proxy)"
.venv/bin/deployer health local
