"""The wheel carries deployer's own charts and terraform modules: copied into the package as
`deployer/_data/{helm-charts,terraform}` at build time (deployer.paths.shipped_data finds them
there, or beside the package in a source checkout). Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("helm-charts", "terraform")
# local build output, caches and anything that is not ours to ship
IGNORE = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "charts", "Chart.lock",
                                "mirror", "__pycache__", "*.tgz")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for name in SHIPPED:
            src = HERE / name
            if not src.is_dir():
                raise SystemExit(f"setup.py: {src} is missing; build from a source checkout or its sdist")
            dest = Path(self.build_lib) / "deployer" / "_data" / name
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest, ignore=IGNORE)


setup(cmdclass={"build_py": BuildWithData})
