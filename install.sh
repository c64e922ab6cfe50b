#!/usr/bin/env bash
# Quickstart, command 1 of 2: install everything into this repository's own folders
# (.venv for Python, .tools for helm, sops, age, etcd, kube-apiserver, ...), then run the
# main job on the embedded default: validate config/clusters offline.
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
bash scripts/install-python.sh
bash scripts/install-toolchain.sh
echo "install: done in $((SECONDS - started))s"

[ "$run_main" = 1 ] || exit 0
echo
echo "== deployer validate (the example fleet in config/clusters)"
.venv/bin/deployer validate
