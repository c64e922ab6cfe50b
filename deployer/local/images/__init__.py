"""Images for the local cluster, built offline and imported into its containerd (never pulled).

`ensure_images(runner)` builds what the cache lacks; `import_images(runner, socket, images)` loads them
into a containerd; `image_refs()` says which reference each image has (what the values layer uses).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from deployer.adapters.process import ProcessRunner
from deployer.errors import ToolError
from deployer.local.images.build import (BuiltImage, ImageBuildError, cached_image, ensure_images,
                                         images_dir)
from deployer.local.images.recipes import RECIPES

__all__ = ["BuiltImage", "ImageBuildError", "cached_image", "ensure_images", "image_refs",
           "images_dir", "import_images"]

CTR_TIMEOUT = 300.0
K8S_NAMESPACE = "k8s.io"



def image_refs() -> dict[str, str]:
    """Image name -> reference (`deployer.local/<name>:<version>-<key>`), whether built yet or not; plus
    `pause`, the sandbox image `deployer local up` builds and imports itself (deployer.local.pause)."""
    from deployer.local.spec import PAUSE_IMAGE

    return {**{name: recipe.ref() for name, recipe in RECIPES.items()}, "pause": PAUSE_IMAGE}


def imported_refs(runner: ProcessRunner, socket: Path, namespace: str = K8S_NAMESPACE, ctr: str = "ctr") -> set[str]:
    result = runner.run([ctr, "--address", str(socket), "-n", namespace, "images", "ls", "-q"],
                        timeout=60.0)
    if not result.ok:
        raise ImageBuildError(f"containerd at {socket} does not answer: {result.stderr.strip()[-300:]}",
                              hint="is the local cluster up? (`deployer local up`)")
    return set(result.stdout.split())


def import_images(runner: ProcessRunner, socket: Path, images: Iterable[BuiltImage], *,
                  namespace: str = K8S_NAMESPACE, snapshotter: str | None = "overlayfs",
                  ctr: str = "ctr") -> list[str]:
    """Import each image containerd lacks (unpacked for `snapshotter`); return the references imported now."""
    have = imported_refs(runner, socket, namespace, ctr)
    done = []
    for image in images:
        if image.ref in have:
            continue
        args = [ctr, "--address", str(socket), "-n", namespace, "images", "import"]
        if snapshotter:
            args.append(f"--snapshotter={snapshotter}")
        try:
            result = runner.run([*args, str(image.path)], timeout=CTR_TIMEOUT)
        except ToolError as e:
            raise ImageBuildError(f"importing {image.ref}: {e.message}", hint=e.hint) from e
        if not result.ok:
            raise ImageBuildError(f"importing {image.ref} into containerd failed: {result.stderr.strip()[-400:]}",
                                  hint="check containerd's log; the image tar is " + str(image.path))
        done.append(image.ref)
    return done
