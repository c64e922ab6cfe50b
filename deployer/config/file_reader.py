"""Reading configuration files safely: inside the repository, regular files only, bounded size.

Each file is read and parsed at most once per `FileReader` (a values file shared by a hundred
hubs costs one parse). Reading never follows a path out of the repository and never opens
anything but a regular file (a FIFO or device would hang or stream forever).
"""

from __future__ import annotations

from deployer.errors import ConfigError

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Optional

from deployer.config.yamlload import MAX_FILE_BYTES, Loaded, YamlProblem, decode, load_json, load_yaml

if TYPE_CHECKING:
    from deployer.config.parse_cache import ParseCache

NAME_MAX = 255  # bytes in one file name (Linux, macOS)

SOPS_TEXT_MARKERS = ("sops_version=", "sops_mac=", '"sops":')


@dataclass(frozen=True)
class DataFile:
    """A parsed file, or the problem that stopped it from parsing."""

    path: Path
    rel: str
    loaded: Optional[Loaded] = None
    problem: Optional[YamlProblem] = None

    @property
    def data(self) -> Any:
        return self.loaded.data if self.loaded else None

    @property
    def sops_metadata(self) -> Optional[dict[str, Any]]:
        data = self.data
        if isinstance(data, dict):
            meta = data.get("sops")
            if isinstance(meta, dict) and ("mac" in meta or "version" in meta):
                return meta
        return None

    @property
    def is_encrypted(self) -> bool:
        return self.sops_metadata is not None


class PathRefused(ConfigError):
    """A referenced path that must not be read; `message` and `hint` say why."""

    def __init__(self, message: str, hint: str, code: str) -> None:
        super().__init__(message, hint)
        self.code = code


def is_secret_name(name: str) -> bool:
    return "secret" in name.lower()


class FileReader:
    def __init__(self, root: Path, parse_cache: Optional["ParseCache"] = None) -> None:
        self.root = root.resolve()
        self.parse_cache = parse_cache
        self._cache: dict[tuple[Path, bool], DataFile] = {}
        self._resolved: dict[tuple[Path, str], Path | PathRefused] = {}
        self._folders: dict[Path, Path] = {}

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def resolve_reference(self, folder: Path, ref: str) -> Path:
        """The real path of the file a cluster.yaml reference names, or PathRefused saying why
        it may not be read. Results are cached: a shared values file is resolved once."""
        key = (folder, ref)
        cached = self._resolved.get(key)
        if cached is None:
            try:
                cached = self._resolve(folder, ref)
            except PathRefused as e:
                cached = e
            self._resolved[key] = cached
        if isinstance(cached, PathRefused):
            raise cached
        return cached

    def _resolve(self, folder: Path, ref: str) -> Path:
        if not isinstance(ref, str) or not ref.strip():
            raise PathRefused("empty file name", "name a file in the cluster folder", "bad-path")
        pure = PurePosixPath(ref.replace("\\", "/"))
        if pure.is_absolute() or (len(ref) > 1 and ref[1] == ":"):
            raise PathRefused(
                f"{ref}: absolute paths are not allowed",
                "file paths are relative to the cluster folder, e.g. `staging.values.yaml`",
                "path-outside",
            )
        if ".." in pure.parts:
            raise PathRefused(
                f"{ref}: `..` is not allowed", "keep every file a cluster uses inside its own folder", "path-outside"
            )
        long_part = next((p for p in pure.parts if len(p.encode("utf-8", "surrogateescape")) > NAME_MAX), None)
        if long_part is not None or "\0" in ref:
            shown = ref if len(ref) <= 80 else ref[:40] + "…" + ref[-30:]
            raise PathRefused(
                f"{shown}: " + ("the file name is too long "
                                f"({len(long_part.encode('utf-8', 'surrogateescape'))} bytes, at most {NAME_MAX})"
                                if long_part is not None else "a file name cannot hold a NUL character"),
                "name a file in the cluster folder", "bad-path")
        try:
            real = Path(os.path.realpath(folder / pure, strict=False))
        except (OSError, RuntimeError) as exc:  # symlink loops
            raise PathRefused(f"{ref}: cannot be resolved (symlink loop?)", "replace the link with the file",
                              "bad-path") from exc
        if not real.is_relative_to(self.root):
            raise PathRefused(
                f"{ref}: is a symlink leading out of the repository",
                "copy the file into the cluster folder instead of linking to it",
                "path-outside",
            )
        if not real.is_relative_to(self.real_folder(folder)):
            raise PathRefused(
                f"{ref}: is outside the cluster folder",
                "keep every file a cluster uses inside its own folder",
                "path-outside",
            )
        return real

    def real_folder(self, folder: Path) -> Path:
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = Path(os.path.realpath(folder))
        return real

    @property
    def files_read(self) -> int:
        return len({path for path, _ in self._cache})

    def read(self, path: Path, *, positions: bool = True) -> DataFile:
        key = (path, positions)
        cached = self._cache.get(key) or self._cache.get((path, True))
        if cached is not None:
            return cached
        result = self._read(path, positions)
        self._cache[key] = result
        return result

    def _read(self, path: Path, positions: bool) -> DataFile:
        rel = self.rel(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return DataFile(path, rel, problem=YamlProblem("file does not exist", code="missing-file"))
        except OSError as e:
            return DataFile(path, rel, problem=YamlProblem(f"cannot read: {e.strerror}", code="unreadable"))
        if not stat.S_ISREG(st.st_mode):
            return DataFile(
                path, rel, problem=YamlProblem("not a regular file", code="not-a-file", hint="name a regular file")
            )
        if st.st_size > MAX_FILE_BYTES:
            return DataFile(
                path,
                rel,
                problem=YamlProblem(
                    f"file is {st.st_size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit", code="file-too-large"
                ),
            )
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            return DataFile(path, rel, problem=YamlProblem(f"cannot read: {e.strerror}", code="unreadable"))
        cache = self.parse_cache
        loaded = cache.get(raw, positions) if cache is not None else None
        if loaded is not None:
            return DataFile(path, rel, loaded=loaded)
        try:
            text = decode(raw)
            if path.suffix.lower() == ".json":
                loaded = load_json(text)
            else:
                loaded = load_yaml(text, positions=positions)
        except YamlProblem as problem:
            return DataFile(path, rel, problem=problem)
        result = DataFile(path, rel, loaded=loaded)
        # a file named as a secret is kept only encrypted: never a secret left in clear text by mistake
        if cache is not None and (result.is_encrypted or not is_secret_name(path.name)):
            cache.put(raw, positions, loaded)
        return result
