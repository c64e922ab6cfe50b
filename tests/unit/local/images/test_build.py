"""Local images: recipe keys, the docker-archive format, atomic builds and the import step."""

from __future__ import annotations

import dataclasses
import json
import os
import tarfile
from pathlib import Path

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.local.images import ImageBuildError, ensure_images, import_images
from deployer.local.images.archive import ImageConfig, sha256_file, write_docker_archive
from deployer.local.images.build import BuiltImage, _partial, _snapshot, _write_changes
from deployer.local.images import image_refs
from deployer.local.images.recipes import CHP, HUB, RECIPES, Base


def test_every_image_reference_is_in_a_registry_that_cannot_be_pulled_from_and_carries_its_key():
    for name, recipe in RECIPES.items():
        assert recipe.ref() == f"deployer.local/{name}:{recipe.version}-{recipe.key()[:12]}"


def test_the_key_changes_with_a_pin_or_the_base_and_with_nothing_else():
    same = dataclasses.replace(HUB)
    assert same.key() == HUB.key()
    bumped = dataclasses.replace(HUB, pip=tuple(p.replace("jupyterhub-kubespawner==7.1.0", "jupyterhub-kubespawner==7.0.0")
                                                for p in HUB.pip))
    assert bumped.key() != HUB.key()
    rebased = dataclasses.replace(HUB, base=Base(HUB.base.name, (*HUB.base.packages, "git")))
    assert rebased.key() != HUB.key()


def test_the_pause_image_is_the_one_local_up_imports():
    from deployer.local.spec import PAUSE_IMAGE

    assert image_refs()["pause"] == PAUSE_IMAGE


def test_hub_pins_are_exact_versions():
    assert all("==" in pin for pin in HUB.pip)
    assert HUB.pip[0] == "jupyterhub==5.4.4"


def test_a_docker_archive_names_its_layers_by_digest_and_carries_the_runtime_config(tmp_path):
    layer = tmp_path / "layer.tar"
    (tmp_path / "hello").write_text("hi\n")
    with tarfile.open(layer, "w") as tar:
        tar.add(tmp_path / "hello", arcname="hello")
    digest = sha256_file(layer)
    out = tmp_path / "image.tar"
    config_id = write_docker_archive(out, "deployer.local/x:1-abc", [(layer, digest)],
                                     ImageConfig(entrypoint=["/pause"], env=["A=1"], user="65535"))
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(f"{config_id}.json"))
        assert tar.extractfile(f"{digest}/layer.tar").read() == layer.read_bytes()
    assert names == [f"{config_id}.json", f"{digest}/layer.tar", "manifest.json", "repositories"]
    assert manifest == [{"Config": f"{config_id}.json", "RepoTags": ["deployer.local/x:1-abc"],
                         "Layers": [f"{digest}/layer.tar"]}]
    assert config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{digest}"]}
    assert config["config"] == {"Entrypoint": ["/pause"], "Env": ["A=1"], "User": "65535"}
    assert (config["os"], config["architecture"]) == ("linux", "amd64")


def test_a_build_that_fails_half_way_leaves_neither_the_image_nor_its_partial_folder(tmp_path):
    final = tmp_path / "hub" / "key1"
    with pytest.raises(RuntimeError):
        with _partial(final) as work:
            (work / "image.tar").write_text("half")
            raise RuntimeError("pip died")
    assert list((tmp_path / "hub").iterdir()) == []


def test_a_partial_folder_left_by_a_killed_build_is_started_again(tmp_path):
    final = tmp_path / "hub" / "key1"
    stale = tmp_path / "hub" / ".partial-key1"
    stale.mkdir(parents=True)
    (stale / "junk").write_text("from a killed run")
    with _partial(final) as work:
        assert list(work.iterdir()) == []
        (work / "image.tar").write_text("whole")
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["key1"]
    assert (final / "image.tar").read_text() == "whole"


def test_the_app_layer_holds_only_what_the_install_added_or_changed(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "usr" / "bin" / "python3").write_text("binary")
    before = _snapshot(root)
    (root / "opt" / "venv" / "bin").mkdir(parents=True)
    (root / "opt" / "venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\njovyan:x:1000:100::/home/jovyan:/bin/bash\n")
    os.utime(root / "etc" / "passwd", ns=(1, 1))
    layer = tmp_path / "layer.tar"
    _write_changes(root, before, layer)
    with tarfile.open(layer) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("etc/passwd").read().decode().endswith("jovyan:x:1000:100::/home/jovyan:/bin/bash\n")
    assert sorted(members) == ["etc/passwd", "opt", "opt/venv", "opt/venv/bin", "opt/venv/bin/python"]
    assert members["opt/venv/bin/python"].issym() and members["opt/venv/bin/python"].linkname == "/usr/bin/python3"


def test_an_unknown_image_name_is_refused_before_building_anything(tmp_path):
    with pytest.raises(ImageBuildError) as e:
        ensure_images(ProcessRunner(), ["k8s-hub", "grafana"], root=tmp_path)
    assert e.value.message == "no local image named grafana"
    assert e.value.hint == ("known images: k8s-hub, singleuser, configurable-http-proxy, prometheus, kube-state-metrics, "
                            "node-exporter, alertmanager")
    assert list(tmp_path.iterdir()) == []


def _fake_ctr(tmp_path: Path, listed: str) -> tuple[ProcessRunner, Path]:
    """A `ctr` on PATH that lists `listed` and records every call."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls"
    ctr = bindir / "ctr"
    ctr.write_text(f'#!/bin/sh\necho "$@" >> {calls}\ncase "$*" in *"images ls -q"*) printf "{listed}";; esac\n')
    ctr.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    return ProcessRunner(base_env=env), calls


def test_import_skips_images_containerd_already_has(tmp_path):
    runner, calls = _fake_ctr(tmp_path, f"{CHP.ref()}\\n")
    hub = BuiltImage("k8s-hub", HUB.ref(), tmp_path / "hub.tar", 1, 1.0, True)
    chp = BuiltImage("configurable-http-proxy", CHP.ref(), tmp_path / "chp.tar", 1, 1.0, True)
    sock = tmp_path / "containerd.sock"
    assert import_images(runner, sock, [chp, hub]) == [HUB.ref()]
    assert calls.read_text().splitlines() == [
        f"--address {sock} -n k8s.io images ls -q",
        f"--address {sock} -n k8s.io images import --snapshotter=overlayfs {tmp_path / 'hub.tar'}",
    ]


def test_a_second_build_on_the_same_cache_waits_for_the_first(tmp_path):
    import fcntl
    import threading

    said: list[str] = []
    done = threading.Event()
    with (tmp_path / ".build.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: (ensure_images(ProcessRunner(), [], root=tmp_path,
                                                                progress=said.append), done.set()))
        worker.start()
        worker.join(1.0)
        assert not done.is_set()
        assert said == ["another image build is running on this cache; waiting for it"]
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(5.0)
    assert done.is_set()
