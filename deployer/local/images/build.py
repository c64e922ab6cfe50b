"""Build the local images offline (Debian's archive, PyPI, npm), cached per recipe key.

Layout under `<cache>/images/`:
  `base/<base name>/<key>/rootfs.tar` (+ `info.json`): an mmdebstrap root filesystem, shared by images;
  `<image name>/<key>/image.tar` (+ `info.json`): a docker-archive image, what `ctr images import` reads.
Everything is built in a `.partial-<key>` folder next to its final place and renamed when complete, so an
interrupted build leaves no half image and a rerun starts that image again (bases already built are kept).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deployer import paths
from deployer.adapters.process import ProcessRunner
from deployer.errors import DeployerError, ToolError
from deployer.local.images.archive import sha256_file, write_docker_archive
from deployer.local.images.recipes import DEBIAN_MIRRORS, DEBIAN_SUITE, RECIPES, VENV, Base, Recipe

MMDEBSTRAP_TIMEOUT = 1800.0
PIP_TIMEOUT = 1800.0
NPM_TIMEOUT = 900.0
SHORT_TIMEOUT = 300.0
HOST_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")

Progress = Callable[[str], None]


class ImageBuildError(DeployerError):
    """An image could not be built."""


@dataclass(frozen=True)
class BuiltImage:
    name: str
    ref: str
    path: Path
    size: int
    build_seconds: float  # how long it took when it was built
    cached: bool  # True when this run found it built already

    def to_json(self) -> dict:
        return {"name": self.name, "ref": self.ref, "path": str(self.path), "size": self.size,
                "build_seconds": round(self.build_seconds, 1), "cached": self.cached}


def images_dir(env=None) -> Path:
    return paths.cache_dir(env) / "images"


def image_path(recipe: Recipe, root: Path | None = None) -> Path:
    return (root or images_dir()) / recipe.name / recipe.key() / "image.tar"


def cached_image(recipe: Recipe, root: Path | None = None) -> BuiltImage | None:
    """The built image of this recipe, if the cache has it (complete)."""
    final = image_path(recipe, root).parent
    info_file = final / "info.json"
    if not info_file.is_file() or not (final / "image.tar").is_file():
        return None
    info = json.loads(info_file.read_text())
    return BuiltImage(recipe.name, recipe.ref(), final / "image.tar", info["size"], info["build_seconds"], True)


def ensure_images(runner: ProcessRunner, names: Iterable[str] | None = None, *, root: Path | None = None,
                  progress: Progress | None = None) -> list[BuiltImage]:
    """Build every image named (default: all) that the cache lacks; return all of them, in order."""
    wanted = list(names) if names is not None else list(RECIPES)
    unknown = [n for n in wanted if n not in RECIPES]
    if unknown:
        raise ImageBuildError(f"no local image named {', '.join(unknown)}",
                              hint=f"known images: {', '.join(RECIPES)}")
    say = progress or (lambda _msg: None)
    root = root or images_dir()
    root.mkdir(parents=True, exist_ok=True)
    builder = ImageBuilder(runner, root, say)
    with _build_lock(root, say):
        return [builder.ensure(RECIPES[n]) for n in wanted]


@contextmanager
def _build_lock(root: Path, say: Progress) -> Iterator[None]:
    """One builder at a time per cache (a second waits), so no two write the same `.partial-<key>`."""
    import fcntl

    with (root / ".build.lock").open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another image build is running on this cache; waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass
class ImageBuilder:
    runner: ProcessRunner
    root: Path
    say: Progress

    # ---- images -------------------------------------------------------------------------------------

    def ensure(self, recipe: Recipe) -> BuiltImage:
        found = cached_image(recipe, self.root)
        if found:
            self.say(f"{recipe.name}: cached ({recipe.ref()})")
            return found
        base_tar = base_digest = None
        if recipe.base is not None:
            base_tar, base_digest = self.ensure_base(recipe.base)
        self.say(f"{recipe.name}: building {recipe.ref()}")
        started = time.monotonic()
        final = self.root / recipe.name / recipe.key()
        with _partial(final) as work:
            layers: list[tuple[Path, str]] = []
            if base_tar is not None:
                layers.append((base_tar, base_digest))
            if recipe.kind in ("python", "npm"):
                layers.append(self._app_layer(recipe, base_tar, work))
            elif recipe.kind == "go":
                layers.append(self._go_layer(recipe, work))
            elif recipe.kind == "debian":
                if recipe.owned_dirs or recipe.users:
                    layers.append(self._app_layer(recipe, base_tar, work))
            else:  # pragma: no cover - recipes are ours
                raise ImageBuildError(f"{recipe.name}: unknown kind {recipe.kind}")
            write_docker_archive(work / "image.tar", recipe.ref(), layers, recipe.config)
            for path, _ in layers:
                if path.parent == work:
                    path.unlink()
            seconds = time.monotonic() - started
            size = (work / "image.tar").stat().st_size
            (work / "info.json").write_text(json.dumps({
                "ref": recipe.ref(), "size": size, "build_seconds": round(seconds, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }, indent=2))
        self.say(f"{recipe.name}: built in {seconds:.0f}s ({size / 2**20:.0f} MiB)")
        return BuiltImage(recipe.name, recipe.ref(), final / "image.tar", size, seconds, False)

    def _app_layer(self, recipe: Recipe, base_tar: Path, work: Path) -> tuple[Path, str]:
        """Unpack the base, install the recipe's packages, and keep what changed as one layer."""
        rootfs = work / "rootfs"
        rootfs.mkdir()
        self._run(["tar", "-xpf", base_tar, "-C", rootfs, "--numeric-owner"], SHORT_TIMEOUT, "unpacking the base")
        before = _snapshot(rootfs)
        if recipe.kind == "python":
            self._pip_install(recipe, rootfs, work)
        elif recipe.kind == "npm":
            self._npm_install(recipe, rootfs, work)
        _add_users(rootfs, recipe)
        for path, uid, gid in recipe.owned_dirs:
            d = rootfs / path.lstrip("/")
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, uid, gid)
        for link, target in recipe.links:
            at = rootfs / link.lstrip("/")
            at.parent.mkdir(parents=True, exist_ok=True)
            if at.is_symlink() or at.exists():
                at.unlink()
            at.symlink_to(target)
            if not (rootfs / target.lstrip("/")).exists():
                raise ImageBuildError(f"{recipe.name}: {target} is missing after the install",
                                      hint="the pinned package changed its layout; fix the recipe")
        layer = work / "layer.tar"
        _write_changes(rootfs, before, layer)
        shutil.rmtree(rootfs)
        return layer, sha256_file(layer)

    def _go_layer(self, recipe: Recipe, work: Path) -> tuple[Path, str]:
        """One layer holding the recipe's Go programs (built once per version into the tool cache by
        deployer.toolchain.kubebuild, here if not yet) and its owned folders; no base to unpack."""
        from deployer.toolchain import kubebuild

        tree = work / "go-tree"
        tree.mkdir()
        for program in recipe.go:
            build = kubebuild.BUILDS[program.build]()
            if kubebuild.installed(build) is None:
                self.say(f"{recipe.name}: building {build.tool} v{build.version} with Go (once per version)")
            try:
                result = kubebuild.ensure(build, self.runner, log_file=kubebuild.go_cache_dir() / "logs"
                                          / f"{build.tool}-v{build.version}.log")
            except DeployerError as e:
                raise ImageBuildError(f"{recipe.name}: {e.message}", hint=e.hint) from e
            if result.built:
                self.say(f"{recipe.name}: {build.tool} v{build.version} built in {result.seconds:.0f}s")
            dest = tree / program.path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(result.bin_dir / program.binary, dest)
        for dirpath, dirnames, filenames in os.walk(tree):  # as in a Debian root: root's, 0755
            for name in dirnames + filenames:
                os.chmod(os.path.join(dirpath, name), 0o755)
        for path, uid, gid in recipe.owned_dirs:
            d = tree / path.lstrip("/")
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, uid, gid)
        layer = work / "layer.tar"
        _write_changes(tree, {}, layer)
        shutil.rmtree(tree)
        return layer, sha256_file(layer)

    def _pip_install(self, recipe: Recipe, rootfs: Path, work: Path) -> None:
        ca = _host_ca_bundle()
        ca_in = rootfs / "tmp" / "deployer-build-ca.pem"
        shutil.copyfile(ca, ca_in)
        resolv = rootfs / "etc" / "resolv.conf"
        saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
        try:
            if resolv.is_symlink():
                resolv.unlink()
            shutil.copyfile("/etc/resolv.conf", resolv)
            clean_env = ["/usr/bin/env", "-i", f"PATH={VENV}/bin:/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8",
                         "PIP_CERT=/tmp/deployer-build-ca.pem", "SSL_CERT_FILE=/tmp/deployer-build-ca.pem",
                         "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1", "PIP_DEFAULT_TIMEOUT=120"]
            self._run(["chroot", rootfs, *clean_env, "/usr/bin/python3", "-m", "venv", VENV],
                      SHORT_TIMEOUT, f"{recipe.name}: creating the venv")
            self._run(["chroot", rootfs, *clean_env, f"{VENV}/bin/pip", "install", "--no-input", *recipe.pip],
                      PIP_TIMEOUT, f"{recipe.name}: pip install")
            frozen = self._run(["chroot", rootfs, *clean_env, f"{VENV}/bin/pip", "freeze", "--all"],
                               SHORT_TIMEOUT, f"{recipe.name}: pip freeze")
            (work / "pip-freeze.txt").write_text(frozen)
            shutil.copyfile(work / "pip-freeze.txt", rootfs / VENV.lstrip("/") / "deployer-pip-freeze.txt")
        finally:
            ca_in.unlink(missing_ok=True)
            if saved is not None:
                resolv.write_bytes(saved)
            else:
                resolv.unlink(missing_ok=True)
        for cache in (rootfs / "root" / ".cache",):
            shutil.rmtree(cache, ignore_errors=True)

    def _npm_install(self, recipe: Recipe, rootfs: Path, work: Path) -> None:
        stage = work / "npm"
        stage.mkdir()
        (stage / "package.json").write_text(json.dumps({"name": f"deployer-{recipe.name}", "private": True}))
        self._run(["npm", "install", "--prefix", stage, "--omit=dev", "--ignore-scripts", "--no-audit",
                   "--no-fund", "--save-exact", *recipe.npm], NPM_TIMEOUT, f"{recipe.name}: npm install",
                  env={"npm_config_cache": str(self.root / "npm-cache"), "npm_config_update_notifier": "false"})
        dest = rootfs / "srv" / recipe.name
        shutil.copytree(stage, dest, symlinks=True)
        for dirpath, dirnames, filenames in os.walk(dest):
            for n in dirnames + filenames:
                os.lchown(os.path.join(dirpath, n), 0, 0)

    # ---- bases --------------------------------------------------------------------------------------

    def ensure_base(self, base: Base) -> tuple[Path, str]:
        final = self.root / "base" / base.name / base.key()
        info_file = final / "info.json"
        if info_file.is_file() and (final / "rootfs.tar").is_file():
            return final / "rootfs.tar", json.loads(info_file.read_text())["sha256"]
        self.say(f"base {base.name}: mmdebstrap {DEBIAN_SUITE} with {', '.join(base.packages)} (a few minutes)")
        started = time.monotonic()
        with _partial(final) as work:
            tar = work / "rootfs.tar"
            self._run(["mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(base.packages)}",
                       "--format=tar", DEBIAN_SUITE, tar, *DEBIAN_MIRRORS],
                      MMDEBSTRAP_TIMEOUT, f"base {base.name}: mmdebstrap", env={"TMPDIR": str(work)})
            digest = sha256_file(tar)
            seconds = time.monotonic() - started
            info_file_tmp = work / "info.json"
            info_file_tmp.write_text(json.dumps({"sha256": digest, "size": tar.stat().st_size,
                                                 "build_seconds": round(seconds, 1)}, indent=2))
        self.say(f"base {base.name}: built in {seconds:.0f}s")
        return final / "rootfs.tar", digest

    def _run(self, args: list, timeout: float, what: str, env: dict | None = None) -> str:
        try:
            result = self.runner.run(args, timeout=timeout, env=env)
        except ToolError as e:
            raise ImageBuildError(f"{what}: {e.message}", hint=e.hint) from e
        if not result.ok:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
            raise ImageBuildError(f"{what} failed (exit {result.returncode}):\n{tail}",
                                  hint="rerun `deployer local images`: finished images and bases are kept")
        return result.stdout


class _partial:
    """A `.partial-<key>` folder that becomes `final` only when the block completes."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.work = final.parent / f".partial-{final.name}"

    def __enter__(self) -> Path:
        if self.work.exists():  # left by an interrupted build of ours: start it again
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        return self.work

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            return
        if self.final.exists():
            shutil.rmtree(self.final)
        os.rename(self.work, self.final)


def _host_ca_bundle() -> str:
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), *HOST_CA_BUNDLES):
        if candidate and os.path.isfile(candidate):
            return candidate
    raise ImageBuildError("no CA bundle found on this machine for pip inside the image build",
                          hint="install Debian's ca-certificates, or set SSL_CERT_FILE")


def _add_users(rootfs: Path, recipe: Recipe) -> None:
    passwd = rootfs / "etc" / "passwd"
    group = rootfs / "etc" / "group"
    for user in recipe.users:
        if user.group and f":{user.gid}:" not in group.read_text():
            with group.open("a") as f:
                f.write(f"{user.group}:x:{user.gid}:\n")
        if f"{user.name}:" not in passwd.read_text():
            with passwd.open("a") as f:
                f.write(f"{user.name}:x:{user.uid}:{user.gid}::{user.home}:/bin/bash\n")


Entry = tuple[int, int, int, int, int, str]


def _snapshot(rootfs: Path) -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
            out[os.path.relpath(p, rootfs)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, link)
    return out


def _write_changes(rootfs: Path, before: dict[str, Entry], layer: Path) -> None:
    """Write a layer tar of every path that is new or changed since `before` (deletions are not carried)."""
    after = _snapshot(rootfs)
    changed = sorted(p for p, e in after.items() if before.get(p) != e)
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel in changed:
            info = tar.gettarinfo(str(rootfs / rel), arcname=rel)
            info.uname = info.gname = ""
            if info.isreg():
                with (rootfs / rel).open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
