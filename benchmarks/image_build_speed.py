"""A cold build of one local image (default: the hub's) from its recipe: pip with no cache, into a fresh
cache folder that holds only the Debian base already built (what a changed recipe costs a CI run whose
base is cached). Prints the seconds, the size, the machine's load, and the packages installed.

    PYTHONPATH=. .venv/bin/python benchmarks/image_build_speed.py [--image k8s-hub]

The recipe is the one of the deployer on PYTHONPATH (another checkout's PYTHONPATH measures its recipe).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from deployer.adapters.process import ProcessRunner
from deployer.local.images import ensure_images, images_dir
from deployer.local.images.recipes import RECIPES


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="k8s-hub", choices=sorted(RECIPES))
    args = ap.parse_args()
    recipe = RECIPES[args.image]
    cache = images_dir()
    work = Path(tempfile.mkdtemp(prefix="image-build-"))
    try:
        if recipe.base is not None:  # the base as built already (hard links: no copy)
            src = cache / "base" / recipe.base.name / recipe.base.key()
            if not (src / "rootfs.tar").is_file():
                sys.exit(f"the base {recipe.base.name} is not built: run `deployer local images` once")
            shutil.copytree(src, work / "base" / recipe.base.name / recipe.base.key(), copy_function=os.link)
        load = os.getloadavg()
        started = time.monotonic()
        [built] = ensure_images(ProcessRunner(), [args.image], root=work, progress=print)
        seconds = time.monotonic() - started
        frozen = (built.path.parent / "pip-freeze.txt")
        packages = len(frozen.read_text().split()) if frozen.is_file() else 0
        print(f"machine: {os.cpu_count()} cores, load before {' '.join(f'{x:.2f}' for x in load)}, "
              f"after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{built.ref}: cold build {seconds:.1f} s, {built.size / 2**20:.0f} MiB, {packages} pip packages")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
