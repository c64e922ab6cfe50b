"""Write a docker-archive image tar (what `ctr images import` reads) from uncompressed layer tars.

No registry and no docker engine: an image here is a `manifest.json`, a config JSON and its layers,
each layer an uncompressed tar whose sha256 is both its digest and its diff id.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config (what a container starts with)."""

    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""

    def to_json(self) -> dict:
        out: dict = {"Env": list(self.env)}
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.user:
            out["User"] = self.user
        if self.workdir:
            out["WorkingDir"] = self.workdir
        return out


def image_config_json(config: ImageConfig, diff_ids: list[str]) -> bytes:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
        "history": [{"created_by": "deployer local images"} for _ in diff_ids],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_docker_archive(out: Path, ref: str, layers: list[tuple[Path, str]], config: ImageConfig) -> str:
    """Write `out` holding `ref` made of `layers` ((tar path, its sha256) bottom first).

    Returns the image id (sha256 of the config)."""
    diff_ids = [digest for _, digest in layers]
    config_bytes = image_config_json(config, diff_ids)
    config_id = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{
        "Config": f"{config_id}.json",
        "RepoTags": [ref],
        "Layers": [f"{d}/layer.tar" for d in diff_ids],
    }]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, f"{config_id}.json", config_bytes)
        for path, digest in layers:
            tar.add(str(path), arcname=f"{digest}/layer.tar", recursive=False)
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        _add_bytes(tar, "repositories", json.dumps(_repositories(ref, config_id)).encode())
    return config_id


def _repositories(ref: str, config_id: str) -> dict:
    name, _, tag = ref.rpartition(":")
    return {name: {tag: config_id}}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
