"""Build the local cluster's Go programs from the Go module proxy, once per version, into the
per-user cache: Kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
kube-proxy), etcd and CoreDNS.

Each build is described purely (`GoBuild`: a go.mod of our own, maybe a main package, the
packages to build and the version ldflags) and run by `ensure`, which

- runs `go build` through the ProcessRunner with a timeout, Go's module and build caches under
  `<cache>/go/` (never inside the clone or the package),
- installs the binaries into `tool_dir(tool, version)/bin` with a `<name>.sha256` beside each,
  by building into a temporary folder and renaming it: a build that fails half-way leaves no
  half-installed binary,
- on a later call only checks the installed binaries against their `.sha256` files.

Kubernetes is built from the `k8s.io/kubernetes` module: its go.mod requires every staging
module (`k8s.io/api`, `k8s.io/client-go`, ...) at `v0.0.0` and replaces them with folders of its
own repository, which a dependent module cannot see (kubernetes issue #79384); our go.mod
replaces each with the release's matching `v0.X.Y`. The version ldflags make `/version` and
`--version` tell the truth (helm's `kubeVersion` checks read them).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from deployer import paths
from deployer.errors import ToolError, ToolMissing

if TYPE_CHECKING:  # toolchain sits below the adapters: the runner is handed in
    from deployer.adapters.process import ProcessRunner

# Kubernetes 1.34: the newest minor whose kubelet still runs on cgroup v1 by default
# (1.35 turned the kubelet's `failCgroupV1` on; this VM and many CI machines are cgroup v1).
KUBERNETES_VERSION = "1.34.4"
ETCD_VERSION = "3.6.16"
COREDNS_VERSION = "1.14.7"
# Prometheus 3.16.0 is the Go module github.com/prometheus/prometheus v0.316.0 (its modules are
# numbered 0.<major><minor>.<patch>)
PROMETHEUS_VERSION = "3.16.0"
KUBE_STATE_METRICS_VERSION = "2.20.0"
# the Kubernetes SIG Storage library external provisioners are written with (its ProvisionController
# watches claims and volumes, binds, retries, and calls our Provision/Delete)
PROVISIONER_LIBRARY_VERSION = "13.1.0"
GO_MIN = (1, 26)  # etcd 3.6.16's go.mod asks for go 1.26
BUILD_TIMEOUT = 3600.0

KUBERNETES_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")

# The staging modules k8s.io/kubernetes v1.34 requires at v0.0.0 (its go.mod's `replace` block).
KUBERNETES_STAGING = (
    "api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
    "cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers",
    "controller-manager", "cri-api", "cri-client", "csi-translation-lib", "dynamic-resource-allocation",
    "endpointslice", "externaljwt", "kms", "kube-aggregator", "kube-controller-manager", "kube-proxy",
    "kube-scheduler", "kubectl", "kubelet", "metrics", "mount-utils", "pod-security-admission",
    "sample-apiserver",
)

# CoreDNS with only the plugins the local cluster's Corefile uses (the full plugin set pulls in
# every cloud SDK and doubles the build).
COREDNS_PLUGINS = ("bind", "errors", "health", "ready", "kubernetes", "forward", "cache", "loop", "reload", "loadbalance", "log")


@dataclass(frozen=True)
class GoBuild:
    """One Go build, described without running anything."""

    tool: str
    version: str
    go_mod: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    main_go: str | None = None  # a main package of our own (built as ".")
    env: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # Go build tags (-tags)

    def go_args(self, out_dir: Path) -> list[str]:
        args = ["go", "build", "-trimpath", "-ldflags", " ".join(("-s", "-w", *self.ldflags))]
        if self.tags:
            args += ["-tags", ",".join(self.tags)]
        args.append("-o")
        if len(self.packages) == 1:
            return [*args, str(out_dir / self.binaries[0]), self.packages[0]]
        return [*args, str(out_dir) + "/", *self.packages]


def _minor(version: str) -> str:
    return version.split(".")[1]


def kubernetes_build(version: str = KUBERNETES_VERSION) -> GoBuild:
    major, minor, patch = version.split(".")
    staging = f"v0.{minor}.{patch}"
    replaces = "".join(f"\tk8s.io/{m} => k8s.io/{m} {staging}\n" for m in KUBERNETES_STAGING)
    go_mod = (
        "module deployer.local/build/kubernetes\n\n"
        "go 1.24.0\n\n"
        f"require k8s.io/kubernetes v{version}\n\n"
        f"replace (\n{replaces})\n"
    )
    ldflags: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ldflags += [f"-X {pkg}.gitVersion=v{version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                    f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
    return GoBuild(
        tool="kubernetes", version=version, go_mod=go_mod,
        packages=tuple(f"k8s.io/kubernetes/cmd/{b}" for b in KUBERNETES_BINARIES),
        binaries=KUBERNETES_BINARIES, ldflags=tuple(ldflags),
    )


def etcd_build(version: str = ETCD_VERSION) -> GoBuild:
    go_mod = (
        "module deployer.local/build/etcd\n\n"
        "go 1.26.0\n\n"
        f"require go.etcd.io/etcd/server/v3 v{version}\n"
    )
    main_go = (
        "package main\n\n"
        'import (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
        "func main() { etcdmain.Main(os.Args) }\n"
    )
    return GoBuild(tool="etcd", version=version, go_mod=go_mod, packages=(".",), binaries=("etcd",), main_go=main_go)


def coredns_build(version: str = COREDNS_VERSION) -> GoBuild:
    go_mod = (
        "module deployer.local/build/coredns\n\n"
        "go 1.25.0\n\n"
        f"require github.com/coredns/coredns v{version}\n"
    )
    imports = "".join(f'\t_ "github.com/coredns/coredns/plugin/{p}"\n' for p in COREDNS_PLUGINS)
    main_go = (
        "package main\n\n"
        "import (\n"
        '\t_ "github.com/coredns/coredns/core/dnsserver"\n'
        '\t"github.com/coredns/coredns/coremain"\n'
        f"{imports})\n\n"
        "func main() { coremain.Run() }\n"
    )
    return GoBuild(tool="coredns", version=version, go_mod=go_mod, packages=(".",), binaries=("coredns",),
                   main_go=main_go)


# Prometheus' service discovery plugins are each behind a build tag (plugins/plugin_<name>.go:
# `!remove_all_sd || enable_<name>_sd`): we keep Kubernetes only (plus file and http, always built),
# which leaves out every cloud SDK. No `builtinassets` tag: the web UI's assets are not built into
# the binary (the HTTP API, which is all the dashboards and tests use, is unaffected).
PROMETHEUS_TAGS = ("netgo", "remove_all_sd", "enable_kubernetes_sd")


def prometheus_module_version(version: str = PROMETHEUS_VERSION) -> str:
    major, minor, patch = version.split(".")
    return f"v0.{int(major)}{int(minor):02d}.{patch}"


def prometheus_build(version: str = PROMETHEUS_VERSION) -> GoBuild:
    """`prometheus` (with Kubernetes service discovery) and `promtool`, from the Go module proxy."""
    go_mod = (
        "module deployer.local/build/prometheus\n\n"
        "go 1.26.7\n\n"
        f"require github.com/prometheus/prometheus {prometheus_module_version(version)}\n"
    )
    return GoBuild(tool="prometheus", version=version, go_mod=go_mod,
                   packages=("github.com/prometheus/prometheus/cmd/prometheus",
                             "github.com/prometheus/prometheus/cmd/promtool"),
                   binaries=("prometheus", "promtool"), ldflags=_prometheus_version_ldflags(version),
                   tags=PROMETHEUS_TAGS)


def _prometheus_version_ldflags(version: str) -> tuple[str, ...]:
    """The version ldflags of the Prometheus project's programs (github.com/prometheus/common/version)."""
    pkg = "github.com/prometheus/common/version"
    return (f"-X {pkg}.Version={version}", f"-X {pkg}.Revision=v{version}", f"-X {pkg}.Branch=HEAD",
            f"-X {pkg}.BuildUser=deployer", f"-X {pkg}.BuildDate=19700101-00:00:00")


def kube_state_metrics_build(version: str = KUBE_STATE_METRICS_VERSION) -> GoBuild:
    """kube-state-metrics from `k8s.io/kube-state-metrics/v2` (its module root is the main package)."""
    major = version.split(".")[0]
    module = f"k8s.io/kube-state-metrics/v{major}"
    go_mod = (
        "module deployer.local/build/kube-state-metrics\n\n"
        "go 1.26.0\n\n"
        f"require {module} v{version}\n"
    )
    return GoBuild(tool="kube-state-metrics", version=version, go_mod=go_mod, packages=(module,),
                   binaries=("kube-state-metrics",), ldflags=_prometheus_version_ldflags(f"v{version}"))


PROVISIONER_MAIN = Path(__file__).resolve().parents[1] / "local" / "provisioner" / "main.go"
# our main.go's revision in the provisioner's version, and its digest: a changed main.go bumps both
# (a unit test compares the digest), so the cache builds it again
PROVISIONER_REVISION = "d2"
PROVISIONER_MAIN_SHA256 = "60950b71eea2da7a50a7ae6d2a36985b7f5770ca8ffad412a2fafec865620cf2"
PROVISIONER_VERSION = f"{PROVISIONER_LIBRARY_VERSION}-{PROVISIONER_REVISION}"


def provisioner_build(library: str = PROVISIONER_LIBRARY_VERSION) -> GoBuild:
    """The local cluster's volume provisioner: a main package of ours (`deployer/local/provisioner/main.go`)
    over `sigs.k8s.io/sig-storage-lib-external-provisioner`, run on the host like the other components."""
    major = library.split(".")[0]
    return _our_main_build("volume-provisioner", "1.26.0",
                           f"sigs.k8s.io/sig-storage-lib-external-provisioner/v{major} v{library}",
                           f"{library}-{PROVISIONER_REVISION}", PROVISIONER_MAIN)


def _our_main_build(tool: str, go: str, requires: str, version: str, main: Path) -> GoBuild:
    """A main package of ours (`main`) over one module it requires (`requires`: "<module> v<version>"),
    built into the one binary `tool`."""
    go_mod = f"module deployer.local/build/{tool}\n\ngo {go}\n\nrequire {requires}\n"
    return GoBuild(tool=tool, version=version, go_mod=go_mod, packages=(".",), binaries=(tool,),
                   main_go=main.read_text())


# Grafana's dashboard schema, as Grafana's Foundation SDK for Go decodes a dashboard strictly: our
# main.go (deployer/dashboards/schemacheck) over github.com/grafana/grafana-foundation-sdk/go
GRAFANA_SDK_VERSION = "0.0.22"
DASHBOARD_CHECK_MAIN = Path(__file__).resolve().parents[1] / "dashboards" / "schemacheck" / "main.go"
DASHBOARD_CHECK_REVISION = "d1"  # bump with the digest below when main.go changes (a unit test compares)
DASHBOARD_CHECK_MAIN_SHA256 = "f6a4365a1f38d7eb1b841d9333ad65d6f3b643668d99330476671f1fe29e6c3d"


def dashboard_check_build(sdk: str = GRAFANA_SDK_VERSION) -> GoBuild:
    return _our_main_build("grafana-dashboard-check", "1.21", f"github.com/grafana/grafana-foundation-sdk/go v{sdk}",
                           f"{sdk}-{DASHBOARD_CHECK_REVISION}", DASHBOARD_CHECK_MAIN)


# every build by name: `deployer tools install` (the pins' package names), the images that carry a
# Go program of ours (deployer.local.images.recipes) and `python -m deployer.toolchain.kubebuild`
BUILDS: dict[str, Callable[[], GoBuild]] = {
    "kubernetes": kubernetes_build, "etcd": etcd_build, "coredns": coredns_build,
    "volume-provisioner": provisioner_build, "prometheus": prometheus_build,
    "kube-state-metrics": kube_state_metrics_build, "grafana-dashboard-check": dashboard_check_build,
}


# ---- running a build ------------------------------------------------------------------------


def go_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    return paths.cache_dir(env) / "go"


def sha256_file(path: Path) -> str:
    from deployer.toolchain import sha256_file as digest

    return digest(path)


def installed(build: GoBuild, env: Mapping[str, str] | None = None, *, full: bool = False) -> Path | None:
    """The build's bin folder when every binary is there and matches its `.sha256`; else None.

    A full check hashes about 400 MB for Kubernetes (1-2 s); so the result is remembered in
    `bin/.verified` with each file's size, modification time and inode, and a later call hashes
    only a file whose stat changed (`full=True` hashes everything)."""
    import json

    bin_dir = paths.tool_dir(build.tool, build.version, env) / "bin"
    stamp_file = bin_dir / ".verified"
    try:
        stamp = {} if full else json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        stamp = {}
    fresh: dict[str, list] = {}
    for name in build.binaries:
        binary, pin = bin_dir / name, bin_dir / f"{name}.sha256"
        try:
            expected = pin.read_text().split()[0]
            st = binary.stat()
        except (OSError, IndexError):
            return None
        key = [st.st_size, st.st_mtime_ns, st.st_ino, expected]
        if stamp.get(name) != key and sha256_file(binary) != expected:
            return None
        fresh[name] = key
    if fresh != stamp:
        try:
            stamp_file.write_text(json.dumps(fresh))
        except OSError:
            pass
    return bin_dir


def find_go(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    found = shutil.which("go", path=env.get("PATH")) or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if os.access(p, os.X_OK)), None)
    if not found:
        raise ToolMissing("go: program not found (needed to build Kubernetes, etcd and CoreDNS)",
                          hint=f"install Go {GO_MIN[0]}.{GO_MIN[1]} or newer (https://go.dev/dl is not reachable here: "
                               "use the machine's Go, e.g. /usr/local/go)")
    return Path(found)


@dataclass
class BuildResult:
    bin_dir: Path
    built: bool  # False: the cache was already complete
    seconds: float


def ensure(build: GoBuild, runner: "ProcessRunner", *, env: Mapping[str, str] | None = None,
           timeout: float = BUILD_TIMEOUT, log_file: Path | None = None) -> BuildResult:
    """The build's binaries, built now unless the cache already holds them intact."""
    started = time.monotonic()
    done = installed(build, env)
    if done is not None:
        return BuildResult(done, False, time.monotonic() - started)
    go = find_go(env)
    cache = go_cache_dir(env)
    work = cache / "work" / f"{build.tool}-v{build.version}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text(build.go_mod)
    if build.main_go is not None:
        (work / "main.go").write_text(build.main_go)
    target = paths.tool_dir(build.tool, build.version, env)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    go_env = {
        "GOMODCACHE": str(cache / "mod"), "GOCACHE": str(cache / "build"), "GOPATH": str(cache / "path"),
        "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off",
        "PATH": f"{go.parent}{os.pathsep}{(os.environ if env is None else env).get('PATH', '')}",
        **build.env,
    }
    args = build.go_args(staging / "bin")
    args[0] = str(go)
    try:
        result = runner.run(args, cwd=work, env=go_env, timeout=timeout)
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file.write_text(result.stdout + result.stderr)
        if not result.ok:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
            raise ToolError(f"building {build.tool} v{build.version} with go failed (exit {result.returncode}):\n{tail}",
                            hint=f"the Go module and build caches are in {cache}; rerun to resume from them")
        for name in build.binaries:
            binary = staging / "bin" / name
            if not binary.is_file():
                raise ToolError(f"building {build.tool} v{build.version}: go made no {name}")
            (staging / "bin" / f"{name}.sha256").write_text(f"{sha256_file(binary)}  {name}\n")
        if target.exists():
            shutil.rmtree(target)  # an incomplete or corrupt earlier install in our own cache
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuildResult(target / "bin", True, time.monotonic() - started)


def ensure_kubernetes(runner: "ProcessRunner", version: str = KUBERNETES_VERSION, **kw) -> Path:
    """`<cache>/tools/kubernetes/<version>/bin` with the five node and control-plane binaries."""
    return ensure(kubernetes_build(version), runner, **kw).bin_dir


def ensure_etcd(runner: "ProcessRunner", version: str = ETCD_VERSION, **kw) -> Path:
    return ensure(etcd_build(version), runner, **kw).bin_dir


def ensure_coredns(runner: "ProcessRunner", version: str = COREDNS_VERSION, **kw) -> Path:
    return ensure(coredns_build(version), runner, **kw).bin_dir


def ensure_prometheus(runner: "ProcessRunner", version: str = PROMETHEUS_VERSION, **kw) -> Path:
    """`<cache>/tools/prometheus/<version>/bin` with `prometheus` and `promtool`."""
    return ensure(prometheus_build(version), runner, **kw).bin_dir


def ensure_all(runner: "ProcessRunner", **kw) -> dict[str, Path]:
    """Every Go program the local cluster runs: {tool: bin folder}."""
    return {"kubernetes": ensure_kubernetes(runner, **kw), "etcd": ensure_etcd(runner, **kw),
            "coredns": ensure_coredns(runner, **kw),
            "volume-provisioner": ensure(provisioner_build(), runner, **kw).bin_dir}


def main(argv: list[str] | None = None) -> int:
    """`python -m deployer.toolchain.kubebuild [kubernetes|etcd|coredns ...]`: used by scripts/install-toolchain.sh."""
    import sys

    from deployer.errors import DeployerError

    wanted = (argv if argv is not None else sys.argv[1:]) or ["kubernetes", "etcd", "coredns", "volume-provisioner"]
    builds = BUILDS
    for name in wanted:
        if name not in builds:
            print(f"unknown build {name!r}; choose from {', '.join(builds)}", file=sys.stderr)
            return 2
        b = builds[name]()
        try:
            r = ensure(b, log_file=go_cache_dir() / "logs" / f"{b.tool}-v{b.version}.log")
        except DeployerError as e:
            print(f"error: {e.message}" + (f"\n  hint: {e.hint}" if e.hint else ""), file=sys.stderr)
            return 1
        how = f"built in {r.seconds:.0f}s" if r.built else f"cached, verified in {r.seconds:.2f}s"
        print(f"{b.tool} v{b.version}: {r.bin_dir} ({how})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
