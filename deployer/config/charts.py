"""Where charts come from: the repository's own `helm-charts/`, or the charts shipped with deployer."""

from __future__ import annotations

from pathlib import Path

from deployer.paths import shipped_data


def builtin_charts_dir() -> Path:
    """Charts that ship with deployer (inside the wheel, or `helm-charts/` of a source checkout)."""
    return shipped_data("helm-charts")


def chart_dirs(root: Path) -> list[Path]:
    """Folders searched for a chart by name, first match wins: the config repository's, then deployer's."""
    dirs = [root / "helm-charts", builtin_charts_dir()]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def known_charts(root: Path) -> dict[str, Path]:
    charts: dict[str, Path] = {}
    for folder in chart_dirs(root):
        for chart in sorted(folder.iterdir()):
            if (chart / "Chart.yaml").is_file() and chart.name not in charts:
                charts[chart.name] = chart
    return charts
