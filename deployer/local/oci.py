"""A single-layer image as a docker archive (`docker save` format), written with tarfile, and its
import into the local node's containerd (namespace k8s.io, where the kubelet looks).

Enough for images built offline from files on this machine (the pause image, test images);
nothing is ever pulled. The archive is written to a temporary file and renamed, so a build that
fails half-way leaves no half image.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from deployer.adapters.process import ProcessRunner
from deployer.errors import DeployerError

IMPORT_TIMEOUT = 300.0


@dataclass(frozen=True)
class File:
    """One entry of the image's file system: `data` (bytes), or a symlink to `link`, or a folder."""

    path: str
    data: bytes | None = None
    mode: int = 0o644
    link: str | None = None

    def tarinfo(self) -> tuple[tarfile.TarInfo, bytes | None]:
        info = tarfile.TarInfo(self.path.lstrip("/"))
        info.mtime = 0
        info.mode = self.mode
        if self.link is not None:
            info.type, info.linkname = tarfile.SYMTYPE, self.link
            return info, None
        if self.data is None:
            info.type = tarfile.DIRTYPE
            info.mode = self.mode if self.mode != 0o644 else 0o755
            return info, None
        info.size = len(self.data)
        return info, self.data


def _layer(files: Iterable[File]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in files:
            info, data = f.tarinfo()
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def write_docker_archive(out: Path, ref: str, files: Sequence[File], *, entrypoint: Sequence[str] = (),
                         cmd: Sequence[str] = (), env: Sequence[str] = (), workdir: str = "/",
                         user: str = "") -> Path:
    layer = _layer(files)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": list(entrypoint) or None, "Cmd": list(cmd) or None,
                   "Env": list(env) or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "WorkingDir": workdir, "User": user},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "deployer"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        with tarfile.open(tmp, "w") as tar:
            for name, data in ((config_name, config_bytes), (layer_name, layer), ("manifest.json", manifest)):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                tar.addfile(info, io.BytesIO(data))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def import_image(runner: ProcessRunner, socket: Path, archive: Path, *, ctr: str = "ctr",
                 timeout: float = IMPORT_TIMEOUT) -> None:
    """`ctr images import` into the node's containerd, namespace k8s.io (unpacked for overlayfs)."""
    r = runner.run([ctr, "--address", str(socket), "--namespace", "k8s.io", "images", "import",
                    "--snapshotter", "overlayfs", str(archive)], timeout=timeout)
    if not r.ok:
        raise DeployerError(f"importing {archive.name} into the local node failed: {(r.stderr or r.stdout).strip()[-300:]}",
                            hint="check that the archive is a docker archive and that `deployer local status` is up")
