"""A local Helm chart repository (a folder with `index.yaml` and the chart archives), served to helm.

Offline, deployer resolves chart dependencies from such a folder instead of the charts' public
repositories: the folder is served read-only over HTTP on 127.0.0.1 (an ephemeral port, a small
thread of this process), and the dependency's `repository:` is pointed at that address, so helm's
own `helm dependency build` resolves it by name and exact version, as it would upstream.

Before helm runs, `ChartRepository.require` checks the index itself: a chart or version the
folder does not hold is an error that names what it does hold (helm would only say "can't get a
valid version").
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from deployer.errors import ConfigError, UsageError

log = logging.getLogger("deployer.chart_repo")

CHART_REPO_ENV = "DEPLOYER_CHART_REPO"
INDEX = "index.yaml"


@dataclass(frozen=True)
class ChartEntry:
    name: str
    version: str
    archive: Path  # the .tgz inside the repository folder
    kube_version: str  # the chart's `kubeVersion` constraint ("" when it has none)
    digest: str = ""  # sha256 of the archive, as index.yaml records it


def _same_version(a: str, b: str) -> bool:
    return a == b or a.lstrip("v") == b.lstrip("v")


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _not_a_chart_archive(data: bytes, name: str) -> str:
    """Why `data` is not a chart archive (a gzip-compressed tar holding `<name>/Chart.yaml`), or ""."""
    import io
    import tarfile
    import zlib

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            names = tar.getnames()
    except tarfile.ReadError:
        return "not a gzip-compressed tar file"
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        return f"a damaged archive: {e}"
    if f"{name}/Chart.yaml" not in names:
        return f"it holds no {name}/Chart.yaml"
    return ""


class ChartRepository:
    """A folder that is a Helm chart repository. Reading it never writes to it."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise UsageError(f"chart repository {folder}: no such folder",
                             hint=f"pass --chart-repo (or set {CHART_REPO_ENV}) to a folder holding index.yaml and chart .tgz files")
        if not (folder / INDEX).is_file():
            raise UsageError(f"chart repository {folder}: no {INDEX} in it",
                             hint="a chart repository folder holds index.yaml (make one with `helm repo index DIR`) and .tgz files")
        self.folder = folder.resolve()
        self._verified: set[tuple[str, int, int]] = set()

    @cached_property
    def _index_text(self) -> bytes:
        try:
            return (self.folder / INDEX).read_bytes()
        except OSError as e:
            raise ConfigError(f"{self.folder / INDEX}: cannot read ({e.strerror})") from e

    @cached_property
    def digest(self) -> str:
        """Changes whenever the index changes (a chart added, rebuilt or removed)."""
        return hashlib.sha256(self._index_text).hexdigest()

    @cached_property
    def entries(self) -> dict[str, list[ChartEntry]]:
        import yaml

        try:
            data = yaml.load(self._index_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{self.folder / INDEX}: not valid YAML ({str(e).splitlines()[0]})",
                              hint="rebuild it with `helm repo index`") from e
        raw = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(raw, dict):
            raise ConfigError(f"{self.folder / INDEX}: has no `entries` mapping", hint="rebuild it with `helm repo index`")
        out: dict[str, list[ChartEntry]] = {}
        for name, versions in raw.items():
            if versions is None:
                continue
            if not isinstance(versions, list):
                raise self._malformed(f"`entries.{name}` is {_brief(versions)}, not a list of chart versions")
            for i, v in enumerate(versions):
                where = f"entries.{name}[{i}]"
                if not isinstance(v, dict):
                    raise self._malformed(f"`{where}` is {_brief(v)}, not a chart version (a mapping)")
                if v.get("version") is None:
                    raise self._malformed(f"`{where}` has no `version`")
                urls = v.get("urls") or [f"{name}-{v['version']}.tgz"]
                if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
                    raise self._malformed(f"`{where}.urls` is {_brief(urls)}, not a list of archive names")
                archive = self.folder / urls[0].rsplit("/", 1)[-1]
                out.setdefault(str(name), []).append(
                    ChartEntry(str(name), str(v["version"]), archive, str(v.get("kubeVersion") or ""),
                               str(v.get("digest") or "")))
        return out

    def _malformed(self, what: str) -> ConfigError:
        return ConfigError(f"{self.folder / INDEX}: {what}", hint="rebuild it with `helm repo index`")

    def versions(self, name: str) -> list[str]:
        return [e.version for e in self.entries.get(name, [])]

    def find(self, name: str, version: str) -> ChartEntry | None:
        return next((e for e in self.entries.get(name, []) if _same_version(e.version, version)), None)

    def require(self, name: str, version: str, *, wanted_by: str) -> ChartEntry:
        """The entry for `name` at exactly `version`, or an error naming what the repository holds."""
        entry = self.find(name, version)
        if entry is not None:
            self._verify(entry)
            return entry
        held = self.versions(name)
        if held:
            raise ConfigError(
                f"{wanted_by} depends on {name} {version}, but the chart repository {self.folder} holds "
                f"{name} {', '.join(held)} only",
                hint=f"pin one of {', '.join(held)} in Chart.yaml, or add {name}-{version}.tgz to the repository "
                     "(and `helm repo index` it)",
            )
        raise ConfigError(
            f"{wanted_by} depends on {name} {version}, but the chart repository {self.folder} has no chart "
            f"named {name}",
            hint=f"it holds: {', '.join(sorted(self.entries)) or '(nothing)'}; add the chart, or run with network "
                 "access and without --chart-repo",
        )

    def _verify(self, entry: ChartEntry) -> None:
        """The archive exists and is the one the index describes (helm itself does not check)."""
        try:
            st = entry.archive.stat()
            seen = (str(entry.archive), st.st_mtime_ns, st.st_size)
            if seen in self._verified:
                return
            data = entry.archive.read_bytes()
        except OSError as e:
            raise ConfigError(f"{entry.archive}: index.yaml lists {entry.name} {entry.version}, but the archive "
                              f"cannot be read ({e.strerror})",
                              hint="restore the archive, or rebuild the index with `helm repo index`") from e
        if entry.digest and hashlib.sha256(data).hexdigest() != entry.digest:
            raise ConfigError(f"{entry.archive}: corrupt or replaced archive: its sha256 is not the digest index.yaml "
                              f"records for {entry.name} {entry.version}",
                              hint="restore the archive from its release, or, if it was rebuilt on purpose, "
                                   "run `helm repo index` on the folder")
        problem = _not_a_chart_archive(data, entry.name)
        if problem:
            raise ConfigError(f"{entry.archive}: index.yaml lists {entry.name} {entry.version}, but the archive is not "
                              f"a chart archive ({problem})",
                              hint="restore the archive from its release (`helm package` makes one), then "
                                   "`helm repo index` the folder")
        self._verified.add(seen)

    @classmethod
    def open(cls, folder: Path) -> "ChartRepository":
        """One instance per folder and index version, shared by the releases of a run (the index is
        parsed once, not once per release)."""
        folder = Path(folder).expanduser()
        try:
            st = (folder / INDEX).stat()
            key = (str(folder.resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            return cls(folder)  # the constructor says what is wrong
        return _opened(cls, *key)


    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the folder read-only on 127.0.0.1 (an ephemeral port) for as long as the block runs;
        yields the repository URL to give helm."""
        folder = str(self.folder)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=folder, **kwargs)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                log.debug("chart repository: " + format, *args)

            def list_directory(self, path: Any) -> None:  # type: ignore[override]
                self.send_error(404, "no listing")
                return None

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # helm went away mid-download (it was stopped): not an error of ours, and no traceback on stderr
                log.debug("chart repository: the request from %s ended early", client_address, exc_info=True)

        server = Server(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, name="chart-repository", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


@functools.lru_cache(maxsize=16)
def _opened(cls: type, folder: str, mtime_ns: int, size: int) -> "ChartRepository":
    """One repository object per folder and index version (a memo: the index parsed once)."""
    return cls(Path(folder))
