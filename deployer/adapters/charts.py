"""Prepare a chart for helm: a private copy with its dependencies built, where they come from explicit.

`prepare_chart` never edits a chart in place. It copies the chart into a work folder (under
deployer's state folder, never inside the package) named by a hash of everything that decides the
result (the chart's files, a hub's `chart_override` Chart.yaml, the local chart repository's
index, the prepared local dependencies), so a second call with the same inputs reuses the
finished folder at once, and any change gives a new one.

Dependencies are resolved by helm's own `helm dependency build`, by name and exact version:

- with a local chart repository (`--chart-repo DIR`, a folder with index.yaml and .tgz files, such
  as ../shared/charts), every dependency that names a remote repository is taken from it instead:
  the folder is served on 127.0.0.1 for the build and the copy's `repository:` points there. A
  chart or version the folder lacks is an error naming what it holds. What was taken from it is
  reported in `PreparedChart.from_repository`: the switch is explicit, never silent;
- a relative `file://` dependency (daskhub's `file://../basehub`) is prepared first,
  recursively, and the copy points at the prepared folder;
- without a local repository, remote dependencies are fetched from their public repositories
  (network needed), exactly as Chart.yaml names them.

A build happens in a temporary folder that is renamed into place when complete, under a
lock file per result folder, so threads and processes preparing the same chart at once
share one build. helm's cache, config and data folders live under the work folder, away
from the user's own.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.adapters.chart_repo import ChartRepository
from deployer.adapters.process import ProcessRunner, last_line
from deployer.adapters.schema_refs import VERSION as SCHEMA_REFS_VERSION
from deployer.adapters.schema_refs import make_schemas_offline
from deployer.config.yamlload import YamlProblem, load_yaml
from deployer.errors import ConfigError, ToolError, ToolTimeout

log = logging.getLogger("deployer.charts")

MARKER = ".deployer-prepared.json"
REPO_HINT = (
    "check network access to {repos}, or, offline, pass a local chart repository (--chart-repo DIR or "
    "DEPLOYER_CHART_REPO: a folder with index.yaml and the chart .tgz files)"
)
_SKIP_NAMES = {".git", "tmpcharts", "__pycache__"}


@dataclass(frozen=True)
class MissingDependency:
    """A switched dependency left out of a prepared chart: what it is, and its switch's default in the
    chart's values.yaml for each path of its condition (None: not set there)."""

    what: str
    defaults: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class PreparedChart:
    """A chart folder ready for `helm install/upgrade/template/lint` (its charts/ built)."""

    path: Path
    name: str
    version: str
    # upstream dependency "name version" -> the archive taken from the local chart repository
    # (empty: none used). Includes those of prepared local dependencies (daskhub -> basehub -> jupyterhub).
    from_repository: dict[str, str] = field(default_factory=dict)
    # switched dependencies (a `condition`) the local chart repository lacks, left out of the prepared
    # chart: their condition (paths from the top chart, e.g. `basehub.binderhub-service.enabled`) ->
    # what is missing. A release that switches one on is refused (`missing_switched_on`).
    missing_optional: dict[str, MissingDependency] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "version": self.version,
                "from_repository": dict(self.from_repository),
                "missing_optional": {k: v.what for k, v in self.missing_optional.items()}}


def helm_home_env(work_dir: Path) -> dict[str, str]:
    """helm's cache, config and data folders inside `work_dir` (never the user's ~/.cache)."""
    home = work_dir / ".helm"
    return {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def prepare_chart(
    chart_dir: Path,
    *,
    work_dir: Path,
    chart_repo: ChartRepository | Path | None,
    runner: ProcessRunner,
    helm: Path,
    chart_override: Path | None = None,
    timeout: float = 120,
) -> PreparedChart:
    """Copy `chart_dir` into `work_dir` with its dependencies built, and say which came from `chart_repo`."""
    chart_dir = Path(chart_dir).resolve()
    work_dir = Path(work_dir).resolve()
    repo = ChartRepository(chart_repo) if isinstance(chart_repo, Path) else chart_repo
    return _prepare(chart_dir, work_dir, repo, runner, Path(helm), chart_override, timeout, ())


# --- the steps ----------------------------------------------------------------------------------


def _prepare(
    chart_dir: Path,
    work_dir: Path,
    repo: ChartRepository | None,
    runner: ProcessRunner,
    helm: Path,
    chart_override: Path | None,
    timeout: float,
    visiting: tuple[Path, ...],
) -> PreparedChart:
    if chart_dir in visiting:
        cycle = " -> ".join(p.name for p in (*visiting, chart_dir))
        raise ConfigError(f"charts depend on each other in a cycle: {cycle}",
                          hint="remove one of the file:// dependencies")
    chart_file = chart_dir / "Chart.yaml"
    if not chart_file.is_file():
        raise ConfigError(f"{chart_dir}: not a chart (no Chart.yaml)",
                          hint="point at a folder holding a Chart.yaml")
    meta_file = Path(chart_override).resolve() if chart_override else chart_file
    meta_text, meta = _read_chart_yaml(meta_file)
    name, version = str(meta["name"]), str(meta["version"])

    key = hashlib.sha256()
    key.update(_tree_digest(chart_dir).encode())
    key.update(b"\0override\0" + (meta_text.encode() if chart_override else b""))
    key.update(f"\0schema-refs:{SCHEMA_REFS_VERSION}".encode())

    from_repo: dict[str, str] = {}
    missing: dict[str, MissingDependency] = {}
    local_repo: list[dict[str, Any]] = []  # dependencies helm takes from the served local repository
    rewritten = False
    remote: list[dict[str, Any]] = []
    deps = meta.get("dependencies") or []
    if not isinstance(deps, list):
        raise ConfigError(f"{meta_file}: `dependencies` must be a list")
    for dep in deps:
        if not isinstance(dep, dict) or not dep.get("name"):
            raise ConfigError(f"{meta_file}: every dependency needs a `name`")
        dep_name = str(dep["name"])
        repository = str(dep.get("repository") or "")
        if repository.startswith("file://"):
            local = Path(repository[len("file://"):])
            local = (local if local.is_absolute() else chart_dir / local).resolve()
            sub = _prepare(local, work_dir, repo, runner, helm, None, timeout, (*visiting, chart_dir))
            dep["repository"] = f"file://{sub.path}"
            for upstream, archive in sub.from_repository.items():
                from_repo.setdefault(upstream, archive)
            prefix = str(dep.get("alias") or dep_name)
            for condition, gone in sub.missing_optional.items():
                missing[",".join(f"{prefix}.{c.strip()}" for c in condition.split(","))] = MissingDependency(
                    gone.what, tuple((f"{prefix}.{path}", default) for path, default in gone.defaults))
            key.update(f"\0local:{dep_name}:{sub.path}".encode())
            rewritten = True
        elif repo is not None and dep.get("condition") and repo.find(dep_name, str(dep.get("version") or "")) is None:
            # a switched part the repository lacks: left out, so a release that keeps it off still works
            held = repo.versions(dep_name)
            paths = [c.strip() for c in str(dep["condition"]).split(",")]
            missing[str(dep["condition"])] = MissingDependency(
                f"{dep_name} {dep.get('version')} (the chart repository {repo.folder} holds "
                f"{', '.join(held) if held else 'no ' + dep_name})",
                tuple((path, _default(chart_dir / "values.yaml", path)) for path in paths))
            key.update(f"\0missing:{dep_name}:{dep.get('version')}:{repo.digest}".encode())
            rewritten = True
        elif repo is not None:
            entry = repo.require(dep_name, str(dep.get("version") or ""), wanted_by=f"chart {name} ({meta_file})")
            from_repo[f"{dep_name} {entry.version}"] = str(entry.archive)
            local_repo.append(dep)
            key.update(f"\0repo:{dep_name}:{entry.version}:{repo.digest}".encode())
            rewritten = True
        else:
            remote.append(dep)
            key.update(f"\0remote:{dep_name}:{repository}:{dep.get('version')}".encode())

    if missing:
        meta["dependencies"] = deps = [d for d in deps if str(d.get("condition")) not in missing]
    final = work_dir / f"{_safe(name)}-{_safe(version)}-{key.hexdigest()[:16]}"
    done = _finished(final, name, version, from_repo, missing)
    if done:
        return done
    work_dir.mkdir(parents=True, exist_ok=True)
    with _locked(work_dir / ".locks" / f"{final.name}.lock"):
        done = _finished(final, name, version, from_repo, missing)
        if done:
            return done
        for stale in work_dir.glob(f".tmp-{final.name}-*"):  # left by a build that crashed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=work_dir))
        try:
            target = tmp / _safe(name)
            _copy_chart(chart_dir, target)
            if rewritten or chart_override:
                # Chart.lock pins the original repositories; helm would refuse it as out of sync
                (target / "Chart.lock").unlink(missing_ok=True)
            if local_repo and repo is not None:
                with repo.serve() as url:
                    for dep in local_repo:
                        dep["repository"] = url
                    _write_chart_yaml(target, meta)
                    _build_dependencies(target, name, remote, local_repo, work_dir, runner, helm, timeout)
            else:
                if chart_override or rewritten:
                    _write_chart_yaml(target, meta)
                if deps:
                    _build_dependencies(target, name, remote, local_repo, work_dir, runner, helm, timeout)
            # subchart schemas that would send helm to the internet are made whole offline
            offline = make_schemas_offline(target)
            if offline:
                log.debug("chart %s: remote $refs of %s resolved locally", name, ", ".join(offline))
            (tmp / MARKER).write_text(json.dumps({"name": name, "version": version,
                                                  "from_repository": from_repo}, indent=2), encoding="utf-8")
            try:
                os.rename(tmp, final)
            except OSError as e:  # someone outside our lock finished first: theirs is as good
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (final / MARKER).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.debug("prepared chart %s %s in %s (local repository: %s)", name, version, final, from_repo or "none")
    return PreparedChart(final / _safe(name), name, version, from_repo, missing)


def _default(values_file: Path, path: str) -> Any:
    """The value at a dotted path of a chart's values.yaml (None: not set, or no such file)."""
    try:
        node: Any = load_yaml(values_file.read_text(encoding="utf-8"), positions=False).data
    except (OSError, YamlProblem):
        return None
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _write_chart_yaml(target: Path, meta: dict[str, Any]) -> None:
    (target / "Chart.yaml").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _build_dependencies(
    target: Path,
    name: str,
    remote: list[dict[str, Any]],
    local_repo: list[dict[str, Any]],
    work_dir: Path,
    runner: ProcessRunner,
    helm: Path,
    timeout: float,
) -> None:
    args: list[str | os.PathLike[str]] = [helm, "dependency", "build", target]
    if not remote and not local_repo:
        # only file:// dependencies: nothing to refresh, and no network needed
        args.append("--skip-refresh")
    env = helm_home_env(work_dir)
    for folder in env.values():
        Path(folder).mkdir(parents=True, exist_ok=True)
    try:
        result = runner.run(args, timeout=timeout, env=env, cwd=target)
    except ToolTimeout as e:
        repos = ", ".join(sorted({str(d.get("repository")) for d in remote})) or "the chart's repositories"
        raise ToolTimeout(
            f"chart {name}: `helm dependency build` timed out after {timeout:g}s",
            hint=REPO_HINT.format(repos=repos) if remote else "raise the timeout",
        ) from e
    if result.ok:
        return
    detail = runner.redactor(last_line(result.stderr) or last_line(result.stdout))
    if remote:
        detail = runner.redactor(_fetch_problem(result.stdout)) or detail
        names = ", ".join(f"{d['name']} {d.get('version', '')}".strip() for d in remote)
        repos = ", ".join(sorted({str(d.get("repository")) for d in remote}))
        raise ToolError(
            f"chart {name}: could not fetch its dependencies {names} ({detail})",
            hint=REPO_HINT.format(repos=repos),
        )
    if local_repo:
        names = ", ".join(f"{d['name']} {d.get('version', '')}".strip() for d in local_repo)
        raise ToolError(f"chart {name}: `helm dependency build` could not take {names} from the local chart "
                        f"repository ({detail})",
                        hint="check the repository's index.yaml and archives (`helm repo index`, `tar tzf`)")
    raise ToolError(f"chart {name}: `helm dependency build` failed ({detail})",
                    hint="run `helm dependency build` on the chart to see the whole error")


# --- helpers ------------------------------------------------------------------------------------


def _fetch_problem(stdout: str) -> str:
    """helm's reason for not reaching a repository (it prints it on stdout, then a vaguer error)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if "Unable to get an update" in line:
            reason = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1][:1].isspace() else ""
            return reason or line.strip(". ")
    return ""


def _read_chart_yaml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from e
    try:
        data = load_yaml(text, positions=False).data
    except YamlProblem as e:
        raise ConfigError(f"{path}:{e.line}:{e.column}: {e.message}", hint=e.hint) from e
    if not isinstance(data, dict) or not data.get("name") or not data.get("version"):
        raise ConfigError(f"{path}: a Chart.yaml needs `name` and `version`")
    return text, data


def _skipped(rel: Path) -> bool:
    if any(part in _SKIP_NAMES for part in rel.parts):
        return True
    # archives of dependencies: `helm dependency build` makes them afresh
    return len(rel.parts) == 2 and rel.parts[0] == "charts" and rel.suffix == ".tgz"


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_NAMES)
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if not _skipped(path.relative_to(root)):
                yield path


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in _walk(root):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        if path.is_symlink() and not path.exists():
            h.update(b"broken-link\0")
            continue
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def _copy_chart(src: Path, dst: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(src)
        return {n for n in names if _skipped(rel / n)}

    shutil.copytree(src, dst, ignore=ignore, symlinks=False)


def _finished(final: Path, name: str, version: str, from_repo: dict[str, str],
              missing: dict[str, MissingDependency]) -> PreparedChart | None:
    if (final / MARKER).is_file():
        return PreparedChart(final / _safe(name), name, version, from_repo, missing)
    return None


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock between threads and processes (each call opens its own descriptor)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "chart"
