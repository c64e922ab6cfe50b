"""Chart metadata render needs: the kubeVersion constraint of a chart and of every subchart it carries."""

from __future__ import annotations

import io
import tarfile
from functools import lru_cache
from pathlib import Path



def chart_kube_versions(chart: Path) -> dict[str, str]:
    """"<name> <version>" -> kubeVersion for the chart and every subchart it carries (nested archives too)."""
    return dict(_kube_versions_cached(str(chart)))


@lru_cache(maxsize=256)
def _kube_versions_cached(chart: str) -> tuple[tuple[str, str], ...]:
    import yaml

    out: dict[str, str] = {}
    try:
        meta = yaml.safe_load((Path(chart) / "Chart.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return ()
    out[f"{meta.get('name')} {meta.get('version')}"] = str(meta.get("kubeVersion") or "")
    for archive in sorted((Path(chart) / "charts").glob("*.tgz")):
        try:
            _from_archive(archive.read_bytes(), out)
        except (OSError, tarfile.TarError, yaml.YAMLError):
            continue
    return tuple(sorted(out.items()))


def _from_archive(data: bytes, out: dict[str, str]) -> None:
    import yaml

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if not member.isfile():
                continue
            f = tar.extractfile(member)
            if f is None:
                continue
            if len(parts) == 2 and parts[1] == "Chart.yaml":
                meta = yaml.safe_load(f.read()) or {}
                out[f"{meta.get('name')} {meta.get('version')}"] = str(meta.get("kubeVersion") or "")
            elif len(parts) == 3 and parts[1] == "charts" and parts[2].endswith(".tgz"):
                _from_archive(f.read(), out)
