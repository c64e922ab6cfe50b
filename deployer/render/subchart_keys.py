"""Values given to a subchart that the subchart never reads.

A subchart with a values.schema.json refuses unknown keys itself (helm checks it). One without a schema
(grafana 10.5.15, cluster-autoscaler 9.58.0) takes any key and ignores what it does not know: `grafana:
{auth.github: {...}}` beside `grafana.ini` renders exactly as if it were not there, and GitHub login
stays off. Such a key is named here: a top-level key under the subchart's values that is neither in its
default values.yaml nor mentioned by its templates. Reads the prepared chart's files; no helm.
"""

from __future__ import annotations

import difflib
import io
import re
import tarfile
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from deployer.render.model import RenderProblem



@dataclass(frozen=True)
class UnreadValue:
    subchart: str  # the key it is given under (the dependency's alias or name)
    key: str
    version: str
    suggestion: Optional[str] = None


@dataclass(frozen=True)
class _Subchart:
    version: str
    defaults: frozenset[str]
    templates: str


def unread_subchart_values(chart_dir: Path, values: Mapping[str, Any]) -> list[UnreadValue]:
    """Keys of `values` under each schema-less dependency of the prepared chart that it never reads."""
    try:
        meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    found: list[UnreadValue] = []
    for dep in meta.get("dependencies") or []:
        if not isinstance(dep, dict) or not dep.get("name"):
            continue
        under = str(dep.get("alias") or dep["name"])
        given = values.get(under)
        if not isinstance(given, Mapping):
            continue
        sub = _subchart(chart_dir / "charts", str(dep["name"]), str(dep.get("version") or ""))
        if sub is None:
            continue
        for key in given:
            if key in ("enabled", "global") or key in sub.defaults or _mentioned(str(key), sub.templates):
                continue
            close = difflib.get_close_matches(str(key), sorted(sub.defaults), n=1)
            found.append(UnreadValue(under, str(key), sub.version, close[0] if close else None))
    return found


def unread_problem(release: str, unread: UnreadValue) -> RenderProblem:
    """The warning `render` gives for one such key."""
    path = f"{unread.subchart}.{unread.key}"
    hint = f"did you mean `{unread.subchart}.{unread.suggestion}`? " if unread.suggestion else ""
    return RenderProblem(
        release, "subchart-value-unread",
        f"`{path}` is not a value of the {unread.subchart} {unread.version} chart (it has no values schema, and "
        "neither its defaults nor its templates read it): it changes nothing",
        hint + "remove it, or move it where the chart reads it (its values.yaml lists what it takes)",
        severity="warning")


def _mentioned(key: str, templates: str) -> bool:
    """Read by a template: `.Values.<key>`, or `index .Values "<key>"` for a key that is no identifier."""
    return re.search(r"\.Values\." + re.escape(key) + r"(?![\w-])", templates) is not None \
        or re.search(r"Values\)?\s+\"" + re.escape(key) + '"', templates) is not None


def _subchart(charts: Path, name: str, version: str) -> Optional[_Subchart]:
    """The subchart's defaults and templates, or None when it has a schema (helm checks its keys) or is absent."""
    folder = charts / name
    archive = next(iter(sorted(charts.glob(f"{name}-*.tgz"))), None) if not folder.is_dir() else None
    source = folder if folder.is_dir() else archive
    if source is None:
        return None
    return _read_subchart(folder if folder.is_dir() else None, archive, name, version, source.stat().st_mtime_ns)


@functools.lru_cache(maxsize=512)
def _read_subchart(folder: Optional[Path], archive: Optional[Path], name: str, version: str,
                   mtime_ns: int) -> Optional[_Subchart]:
    """A memo per subchart source and modification time."""
    files = _read_folder(folder) if folder is not None else _read_archive(archive, name)  # type: ignore[arg-type]
    sub: Optional[_Subchart] = None
    if "values.schema.json" not in files:
        try:
            defaults = yaml.safe_load(files.get("values.yaml", "")) or {}
            chart = yaml.safe_load(files.get("Chart.yaml", "")) or {}
        except yaml.YAMLError:
            defaults, chart = {}, {}
        templates = "\n".join(text for path, text in files.items() if path.startswith("templates/"))
        sub = _Subchart(str(chart.get("version") or version),
                        frozenset(defaults) if isinstance(defaults, dict) else frozenset(), templates)
    return sub


def _read_folder(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith("charts/") and (rel.count("/") == 0 or rel.startswith("templates/")):
            out[rel] = path.read_text(encoding="utf-8", errors="replace")
    return out


def _read_archive(archive: Path, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not member.isfile() or not member.name.startswith(f"{name}/"):
                    continue
                rel = member.name[len(name) + 1:]
                if rel.startswith("charts/") or not (rel.count("/") == 0 or rel.startswith("templates/")):
                    continue
                f = tar.extractfile(member)
                if f is not None:
                    out[rel] = io.TextIOWrapper(f, encoding="utf-8", errors="replace").read()
    except (OSError, tarfile.TarError):
        return {"values.schema.json": ""}  # unreadable: helm reports it; nothing to say here
    return out
