"""A chart's default values as helm coalesces them: its values.yaml over its dependencies' own
(`charts/<dep>` folders or `.tgz` archives, nested under each dependency's name or alias, recursively).

The local cluster's last values layer compares against these, so it switches off and reports only what
really runs by default (the image puller's hook: on in jupyterhub; dask-gateway: off in basehub, on in
daskhub). Read-only; a chart that cannot be read gives {} (the layer then assumes jupyterhub's defaults).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from deployer.plan.values_merge import merge_values

MAX_BYTES = 5 * 1024 * 1024  # a values.yaml larger than this is not a chart's


def chart_defaults(chart: Path) -> dict[str, Any]:
    """The coalesced defaults of the chart at `chart` (a folder or a .tgz); {} when unreadable."""
    try:
        if chart.is_dir():
            return _folder(chart)
        with tarfile.open(chart, "r:gz") as tar:
            return _archive(tar, _top(tar))
    except (OSError, tarfile.TarError, ValueError):
        return {}


def _load(text: bytes | None) -> dict[str, Any]:
    import yaml

    if not text or len(text) > MAX_BYTES:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _aliases(chart_yaml: dict[str, Any]) -> dict[str, str]:
    return {d["name"]: d.get("alias") or d["name"] for d in chart_yaml.get("dependencies") or []
            if isinstance(d, dict) and isinstance(d.get("name"), str)}


def _coalesce(own: dict[str, Any], deps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    nested = {key: values for key, values in deps.items() if values}
    return merge_values(nested, own)


def _folder(chart: Path) -> dict[str, Any]:
    own = _load((chart / "values.yaml").read_bytes() if (chart / "values.yaml").is_file() else None)
    aliases = _aliases(_load((chart / "Chart.yaml").read_bytes() if (chart / "Chart.yaml").is_file() else None))
    deps: dict[str, dict[str, Any]] = {}
    sub = chart / "charts"
    for item in sorted(sub.iterdir()) if sub.is_dir() else ():
        if item.is_dir():
            name, values = _chart_name_of_folder(item), _folder(item)
        elif item.name.endswith(".tgz"):
            with tarfile.open(item, "r:gz") as tar:
                top = _top(tar)
                name, values = _name_in(tar, top), _archive(tar, top)
        else:
            continue
        deps[aliases.get(name, name)] = values
    return _coalesce(own, deps)


def _chart_name_of_folder(folder: Path) -> str:
    meta = _load((folder / "Chart.yaml").read_bytes() if (folder / "Chart.yaml").is_file() else None)
    return str(meta.get("name") or folder.name)


def _top(tar: tarfile.TarFile) -> str:
    names = [m.name for m in tar.getmembers() if m.name.endswith("/Chart.yaml")]
    return min(names, key=len).rsplit("/Chart.yaml", 1)[0] if names else ""


def _read(tar: tarfile.TarFile, name: str) -> bytes | None:
    try:
        member = tar.getmember(name)
    except KeyError:
        return None
    if not member.isfile() or member.size > MAX_BYTES:
        return None
    f = tar.extractfile(member)
    return f.read() if f else None


def _name_in(tar: tarfile.TarFile, top: str) -> str:
    return str(_load(_read(tar, f"{top}/Chart.yaml")).get("name") or top.rsplit("/", 1)[-1])


def _archive(tar: tarfile.TarFile, top: str) -> dict[str, Any]:
    own = _load(_read(tar, f"{top}/values.yaml"))
    aliases = _aliases(_load(_read(tar, f"{top}/Chart.yaml")))
    deps: dict[str, dict[str, Any]] = {}
    prefix = f"{top}/charts/"
    subfolders: set[str] = set()
    for member in tar.getmembers():
        if not member.name.startswith(prefix):
            continue
        rest = member.name[len(prefix):]
        if "/" not in rest and rest.endswith(".tgz") and member.isfile():
            data = _read(tar, member.name)
            if data:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as inner:
                    inner_top = _top(inner)
                    name = _name_in(inner, inner_top)
                    deps[aliases.get(name, name)] = _archive(inner, inner_top)
        elif rest.count("/") == 1 and rest.endswith("/Chart.yaml"):
            subfolders.add(rest.split("/", 1)[0])
    for folder in sorted(subfolders):
        name = _name_in(tar, prefix + folder)
        deps[aliases.get(name, name)] = _archive(tar, prefix + folder)
    return _coalesce(own, deps)
