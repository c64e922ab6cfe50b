"""Images that carry a Go program built here (Prometheus, kube-state-metrics): the recipe's key follows
the Go build's description, and the image's layer holds the binary and its folders, nothing else."""

from __future__ import annotations

import dataclasses
import json
import tarfile

from deployer.adapters.process import ProcessRunner
from deployer.local.images import ensure_images
from deployer.local.images.archive import ImageConfig
from deployer.local.images.recipes import (ALERTMANAGER, KUBE_STATE_METRICS, NODE_EXPORTER, PROMETHEUS, GoProgram,
                                           Recipe)
from deployer.toolchain import kubebuild


def test_the_monitoring_images_share_one_debian_base_and_carry_their_programs():
    assert {r.base for r in (PROMETHEUS, KUBE_STATE_METRICS, NODE_EXPORTER, ALERTMANAGER)} == {PROMETHEUS.base}
    assert set(PROMETHEUS.base.packages) >= {"prometheus-node-exporter", "prometheus-alertmanager", "ca-certificates"}
    assert "prometheus" not in PROMETHEUS.base.packages  # Debian's 2.42 has no Kubernetes service discovery
    assert [(p.build, p.binary, p.path) for p in PROMETHEUS.go] == [
        ("prometheus", "prometheus", "/usr/bin/prometheus"), ("prometheus", "promtool", "/usr/bin/promtool")]
    assert PROMETHEUS.version == kubebuild.PROMETHEUS_VERSION == "3.16.0"
    assert KUBE_STATE_METRICS.config.entrypoint == ["/usr/local/bin/kube-state-metrics"]
    assert (NODE_EXPORTER.version, ALERTMANAGER.version) == ("1.5.0", "0.25.0")
    assert NODE_EXPORTER.config.entrypoint == ["/usr/bin/prometheus-node-exporter"]


def test_the_key_follows_the_go_builds_description(monkeypatch):
    before = PROMETHEUS.key()
    assert dataclasses.replace(PROMETHEUS).key() == before
    original = kubebuild.BUILDS["prometheus"]
    monkeypatch.setitem(kubebuild.BUILDS, "prometheus",
                        lambda: dataclasses.replace(original(), tags=("netgo",)))  # all discovery plugins
    assert PROMETHEUS.key() != before


def test_a_go_image_is_one_layer_of_the_built_binary_and_its_owned_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOYER_CACHE_DIR", str(tmp_path / "cache"))
    fake = kubebuild.GoBuild(tool="fake", version="1.0", go_mod="module x\n", packages=(".",), binaries=("fake",))
    bin_dir = tmp_path / "cache" / "tools" / "fake" / "1.0" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "fake").write_bytes(b"\x7fELF fake")
    (bin_dir / "fake.sha256").write_text(kubebuild.sha256_file(bin_dir / "fake") + "  fake\n")
    monkeypatch.setitem(kubebuild.BUILDS, "fake", lambda: fake)  # cached: no Go build runs
    recipe = Recipe(name="fake", version="1.0", kind="go", go=(GoProgram("fake", "fake", "/usr/local/bin/fake"),),
                    owned_dirs=(("/data", 65534, 65534),), config=ImageConfig(entrypoint=["/usr/local/bin/fake"]))
    monkeypatch.setattr("deployer.local.images.build.RECIPES", {"fake": recipe})
    [image] = ensure_images(ProcessRunner(), ["fake"], root=tmp_path / "images")
    assert image.ref == recipe.ref() and not image.cached
    with tarfile.open(image.path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        [layer_name] = manifest[0]["Layers"]
        tar.extract(layer_name, tmp_path / "x")
    with tarfile.open(tmp_path / "x" / layer_name) as layer:
        members = {m.name: m for m in layer.getmembers()}
        assert layer.extractfile("usr/local/bin/fake").read() == b"\x7fELF fake"
    assert sorted(members) == ["data", "usr", "usr/local", "usr/local/bin", "usr/local/bin/fake"]
    assert members["usr/local/bin/fake"].mode & 0o777 == 0o755
    assert (members["data"].uid, members["data"].gid) == (65534, 65534)
    assert (members["usr"].uid, members["usr"].mode & 0o777) == (0, 0o755)
