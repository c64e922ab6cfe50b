"""Prepare a chart for helm: a private copy with its dependencies built, the chart mirror explicit.

`prepare_chart` never edits a chart in place. It copies the chart into a work folder named by
a hash of everything that decides the result (the chart's files, a hub's `chart_override`
Chart.yaml, the mirror charts used, the prepared local dependencies), so a second call with
the same inputs reuses the finished folder at once, and any change gives a new one.

Dependencies are rewritten before `helm dependency build` runs:

- a dependency whose name has a folder in the chart mirror is taken from there
  (`repository: file://<mirror>/<name>`) and reported in `PreparedChart.substitutions`:
  the switch to stand-in charts is always explicit and visible, never silent;
- a relative `file://` dependency (daskhub's `file://../basehub`) is prepared first,
  recursively, and the copy points at the prepared folder;
- any other dependency stays remote and helm fetches it (network needed).

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

from deployer.adapters.process import ProcessRunner, last_line
from deployer.config.yamlload import YamlProblem, load_yaml
from deployer.errors import ConfigError, ToolError, ToolTimeout, UsageError

log = logging.getLogger("deployer.charts")

MARKER = ".deployer-prepared.json"
MIRROR_HINT = (
    "pass a chart mirror (--chart-mirror DIR: a folder holding one chart per upstream "
    "dependency name, such as helm-charts/mirror) or check network access to {repos}"
)
_SKIP_NAMES = {".git", "tmpcharts", "__pycache__"}


@dataclass(frozen=True)
class PreparedChart:
    """A chart folder ready for `helm install/upgrade/template/lint` (its charts/ built)."""

    path: Path
    name: str
    version: str
    # upstream dependency name -> the mirror chart folder used instead (empty: no mirror used).
    # Includes substitutions made in prepared local dependencies (daskhub -> basehub -> jupyterhub).
    substitutions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "version": self.version,
                "substitutions": dict(self.substitutions)}


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
    mirror: Path | None,
    runner: ProcessRunner,
    helm: Path,
    chart_override: Path | None = None,
    timeout: float = 120,
) -> PreparedChart:
    """Copy `chart_dir` into `work_dir` with its dependencies built, and say what was substituted."""
    chart_dir = Path(chart_dir).resolve()
    work_dir = Path(work_dir).resolve()
    mirror = _check_mirror(mirror)
    return _prepare(chart_dir, work_dir, mirror, runner, Path(helm), chart_override, timeout, ())


# --- the steps ----------------------------------------------------------------------------------


def _prepare(
    chart_dir: Path,
    work_dir: Path,
    mirror: Path | None,
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

    substitutions: dict[str, str] = {}
    rewritten = False
    remote: list[dict[str, Any]] = []
    deps = meta.get("dependencies") or []
    if not isinstance(deps, list):
        raise ConfigError(f"{meta_file}: `dependencies` must be a list")
    for dep in deps:
        if not isinstance(dep, dict) or not dep.get("name"):
            raise ConfigError(f"{meta_file}: every dependency needs a `name`")
        dep_name = str(dep["name"])
        repo = str(dep.get("repository") or "")
        mirrored = mirror / dep_name if mirror else None
        if mirrored is not None and (mirrored / "Chart.yaml").is_file():
            dep["repository"] = f"file://{mirrored}"
            substitutions[dep_name] = str(mirrored)
            key.update(f"\0mirror:{dep_name}:{_tree_digest(mirrored)}".encode())
            rewritten = True
        elif repo.startswith("file://"):
            local = Path(repo[len("file://"):])
            local = (local if local.is_absolute() else chart_dir / local).resolve()
            sub = _prepare(local, work_dir, mirror, runner, helm, None, timeout, (*visiting, chart_dir))
            dep["repository"] = f"file://{sub.path}"
            for upstream, folder in sub.substitutions.items():
                substitutions.setdefault(upstream, folder)
            key.update(f"\0local:{dep_name}:{sub.path}".encode())
            rewritten = True
        else:
            remote.append(dep)
            key.update(f"\0remote:{dep_name}:{repo}:{dep.get('version')}".encode())

    final = work_dir / f"{_safe(name)}-{_safe(version)}-{key.hexdigest()[:16]}"
    done = _finished(final, name, version, substitutions)
    if done:
        return done
    work_dir.mkdir(parents=True, exist_ok=True)
    with _locked(work_dir / ".locks" / f"{final.name}.lock"):
        done = _finished(final, name, version, substitutions)
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
            if chart_override or rewritten:
                (target / "Chart.yaml").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            if deps:
                _build_dependencies(target, name, remote, substitutions, work_dir, runner, helm, timeout)
            (tmp / MARKER).write_text(json.dumps({"name": name, "version": version,
                                                  "substitutions": substitutions}, indent=2), encoding="utf-8")
            try:
                os.rename(tmp, final)
            except OSError as e:  # someone outside our lock finished first: theirs is as good
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (final / MARKER).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.debug("prepared chart %s %s in %s (mirror: %s)", name, version, final, substitutions or "none")
    return PreparedChart(final / _safe(name), name, version, substitutions)


def _build_dependencies(
    target: Path,
    name: str,
    remote: list[dict[str, Any]],
    substitutions: dict[str, str],
    work_dir: Path,
    runner: ProcessRunner,
    helm: Path,
    timeout: float,
) -> None:
    args: list[str | os.PathLike[str]] = [helm, "dependency", "build", target]
    if not remote:
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
            hint=MIRROR_HINT.format(repos=repos) if remote else "raise the timeout",
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
            hint=MIRROR_HINT.format(repos=repos),
        )
    if substitutions and "valid version" in detail:
        held = ", ".join(f"{dep} {_chart_version(Path(folder))}" for dep, folder in substitutions.items())
        raise ToolError(
            f"chart {name}: the chart mirror does not hold the version it asks for ({detail})",
            hint=f"the mirror holds {held}; pin that version in Chart.yaml or add the wanted one to the mirror",
        )
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


def _check_mirror(mirror: Path | None) -> Path | None:
    if mirror is None:
        return None
    mirror = Path(mirror).resolve()
    if not mirror.is_dir():
        raise UsageError(f"chart mirror {mirror}: no such folder",
                         hint="a chart mirror is a folder with one chart per upstream name, e.g. helm-charts/mirror")
    return mirror


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


def _chart_version(folder: Path) -> str:
    try:
        return str(_read_chart_yaml(folder / "Chart.yaml")[1]["version"])
    except ConfigError:
        return "?"


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


def _finished(final: Path, name: str, version: str, substitutions: dict[str, str]) -> PreparedChart | None:
    if (final / MARKER).is_file():
        return PreparedChart(final / _safe(name), name, version, substitutions)
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
