"""The Go builds (deployer.toolchain.kubebuild): Kubernetes, etcd, CoreDNS and the volume provisioner of
the local cluster; the monitoring stack's Prometheus with Kubernetes service discovery and promtool,
kube-state-metrics; described purely, pinned in one list; installed checksum-checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.toolchain import kubebuild
from deployer.toolchain.pins import TOOLS


def test_prometheus_is_built_from_its_module_with_kubernetes_discovery_only_and_no_web_assets():
    b = kubebuild.prometheus_build("3.16.0")
    assert "require github.com/prometheus/prometheus v0.316.0\n" in b.go_mod
    assert b.packages == ("github.com/prometheus/prometheus/cmd/prometheus",
                          "github.com/prometheus/prometheus/cmd/promtool")
    assert b.binaries == ("prometheus", "promtool")
    assert b.tags == ("netgo", "remove_all_sd", "enable_kubernetes_sd")
    assert "builtinassets" not in b.tags
    assert "-X github.com/prometheus/common/version.Version=3.16.0" in b.ldflags
    args = b.go_args(Path("/o"))
    assert args[args.index("-tags") + 1] == "netgo,remove_all_sd,enable_kubernetes_sd"
    assert args[args.index("-o") + 1] == "/o/"


def test_prometheus_release_numbers_map_to_its_go_module_numbers():
    assert kubebuild.prometheus_module_version("3.16.0") == "v0.316.0"
    assert kubebuild.prometheus_module_version("3.5.2") == "v0.305.2"


def test_kube_state_metrics_builds_its_module_root_as_one_binary():
    b = kubebuild.kube_state_metrics_build("2.20.0")
    assert "require k8s.io/kube-state-metrics/v2 v2.20.0\n" in b.go_mod
    assert b.go_args(Path("/o"))[-2:] == ["/o/kube-state-metrics", "k8s.io/kube-state-metrics/v2"]
    assert "-X github.com/prometheus/common/version.Version=v2.20.0" in b.ldflags
    assert "-tags" not in b.go_args(Path("/o"))


def test_promtool_and_prometheus_are_pinned_tools_of_the_prometheus_build():
    for name in ("prometheus", "promtool"):
        spec = TOOLS[name]
        assert (spec.package, spec.pinned, spec.source.kind) == ("prometheus", kubebuild.PROMETHEUS_VERSION,
                                                                  "kube-build")
    assert set(kubebuild.BUILDS) >= {"prometheus", "kube-state-metrics", "kubernetes", "etcd", "coredns"}
    for package in {s.package for s in TOOLS.values() if s.source.kind == "kube-build"}:
        assert kubebuild.BUILDS[package]().version == TOOLS[next(n for n, s in TOOLS.items()
                                                                 if s.package == package)].pinned


def test_promtool_is_found_at_its_stable_path_in_the_tool_cache(tmp_path):
    from deployer.toolchain import find_tool

    bin_dir = tmp_path / "prometheus" / "3.16.0" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "promtool").write_text("#!/bin/sh\n")
    (bin_dir / "promtool").chmod(0o755)
    assert find_tool("promtool", tools=tmp_path, path_env="") == bin_dir / "promtool"


def test_the_dashboard_checker_is_our_main_over_grafanas_foundation_sdk_and_rebuilt_when_it_changes():
    from deployer.toolchain import sha256_file

    b = kubebuild.dashboard_check_build()
    assert "require github.com/grafana/grafana-foundation-sdk/go v0.0.22\n" in b.go_mod
    assert "UnmarshalJSONStrict(raw)" in b.main_go and "plugins.RegisterDefaultPlugins()" in b.main_go
    assert b.version == TOOLS["grafana-dashboard-check"].pinned == "0.0.22-d1"
    # a changed main.go must bump DASHBOARD_CHECK_REVISION (and pins.py) and this digest
    assert sha256_file(kubebuild.DASHBOARD_CHECK_MAIN) == kubebuild.DASHBOARD_CHECK_MAIN_SHA256


def test_the_volume_provisioner_makes_local_volumes_whose_use_the_kubelet_reports():
    main = kubebuild.provisioner_build().main_go
    assert "Local: &v1.LocalVolumeSource{Path: path}" in main and "HostPath" not in main


def test_kubernetes_build_replaces_every_staging_module_with_the_release_version():
    b = kubebuild.kubernetes_build("1.34.4")
    assert "require k8s.io/kubernetes v1.34.4\n" in b.go_mod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.34.4\n" in b.go_mod
    assert b.go_mod.count(" => ") == len(kubebuild.KUBERNETES_STAGING) == 29
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4" in b.ldflags
    assert "-X k8s.io/component-base/version.gitMinor=34" in b.ldflags
    args = b.go_args(Path("/o"))
    assert args[:3] == ["go", "build", "-trimpath"] and args[5:7] == ["-o", "/o/"] and len(args) == 12


def test_the_volume_provisioner_is_our_main_over_the_sig_storage_library_and_rebuilt_when_it_changes(tmp_path):
    from deployer.toolchain import sha256_file
    from deployer.toolchain.pins import TOOLS

    b = kubebuild.provisioner_build()
    assert "require sigs.k8s.io/sig-storage-lib-external-provisioner/v13 v13.1.0\n" in b.go_mod
    assert "controller.NewProvisionController(" in b.main_go and b.binaries == ("volume-provisioner",)
    assert b.version == TOOLS["volume-provisioner"].pinned == "13.1.0-d2"
    # a changed main.go must bump PROVISIONER_REVISION (and pins.py) and this digest, or the cache keeps the old one
    assert sha256_file(kubebuild.PROVISIONER_MAIN) == kubebuild.PROVISIONER_MAIN_SHA256


def test_a_single_package_build_names_its_output(tmp_path):
    b = kubebuild.etcd_build("3.6.16")
    assert b.go_args(tmp_path)[-2:] == [str(tmp_path / "etcd"), "."]
    assert "etcdmain.Main(os.Args)" in b.main_go
    assert '_ "github.com/coredns/coredns/plugin/kubernetes"' in kubebuild.coredns_build().main_go


def test_installed_checks_every_binary_against_its_sha256(tmp_path):
    env = {"DEPLOYER_CACHE_DIR": str(tmp_path)}
    b = kubebuild.etcd_build("3.6.16")
    bin_dir = tmp_path / "tools" / "etcd" / "3.6.16" / "bin"
    assert kubebuild.installed(b, env) is None
    bin_dir.mkdir(parents=True)
    (bin_dir / "etcd").write_bytes(b"binary")
    (bin_dir / "etcd.sha256").write_text(kubebuild.sha256_file(bin_dir / "etcd") + "  etcd\n")
    assert kubebuild.installed(b, env) == bin_dir
    assert (bin_dir / ".verified").is_file()  # remembered: the next check only stats the files
    (bin_dir / "etcd").write_bytes(b"corrupt")
    assert kubebuild.installed(b, env) is None
    (bin_dir / "etcd").write_bytes(b"binary")
    assert kubebuild.installed(b, env, full=True) == bin_dir


def test_a_failed_build_leaves_no_half_installed_binary(tmp_path):
    env = {"DEPLOYER_CACHE_DIR": str(tmp_path), "PATH": "/usr/local/go/bin:/usr/bin:/bin"}
    # a go.mod go cannot read: go fails at once, before compiling anything
    broken = kubebuild.GoBuild(tool="broken", version="0.0.1", go_mod="module x\n\ngo 1.22\nnot a directive\n",
                               packages=(".",), binaries=("broken",), main_go="package main\n\nfunc main() {}\n")
    with pytest.raises(kubebuild.ToolError) as e:
        kubebuild.ensure(broken, ProcessRunner(), env=env, timeout=300)
    assert e.value.message.startswith("building broken v0.0.1 with go failed (exit 1):")
    assert not (tmp_path / "tools" / "broken").exists() or not any((tmp_path / "tools" / "broken").iterdir())
