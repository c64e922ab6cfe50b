"""prepare_chart with the real helm: explicit mirror substitutions, overrides, reuse, concurrency,
and clear errors when a dependency cannot be fetched (this machine has no network for it)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from deployer.adapters.charts import MARKER, PreparedChart, prepare_chart
from deployer.adapters.process import Completed, ProcessRunner
from deployer.errors import ConfigError, DeployerError, ToolError, UsageError
from tests.conftest import REPO, require_tool

CHARTS = REPO / "helm-charts"
MIRROR = CHARTS / "mirror"


class CountingRunner(ProcessRunner):
    """A real runner that also records which helm subcommands it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    def run(self, args: Sequence, **kwargs) -> Completed:
        with self._lock:
            self.calls.append(tuple(str(a) for a in args))
        return super().run(args, **kwargs)

    def builds(self) -> list[str]:
        return [Path(c[3]).name for c in self.calls if c[1:3] == ("dependency", "build")]


@pytest.fixture(scope="module")
def helm() -> Path:
    return require_tool("helm")


def make_chart(folder: Path, name: str, version: str = "0.1.0", deps: list[dict] = ()) -> Path:
    chart = folder / name
    (chart / "templates").mkdir(parents=True)
    meta = {"apiVersion": "v2", "name": name, "version": version, "type": "application"}
    if deps:
        meta["dependencies"] = list(deps)
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n"
    )
    return chart


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def prepare(chart: Path, work: Path, helm: Path, *, mirror: Path | None = MIRROR, runner=None, **kw) -> PreparedChart:
    return prepare_chart(chart, work_dir=work, mirror=mirror, runner=runner or ProcessRunner(), helm=helm, **kw)


def archives(prepared: PreparedChart) -> list[str]:
    return sorted(p.name for p in (prepared.path / "charts").glob("*.tgz"))


# --- substitutions --------------------------------------------------------------------------------


def test_basehub_reports_the_jupyterhub_chart_it_took_from_the_mirror(tmp_path, helm):
    prepared = prepare(CHARTS / "basehub", tmp_path, helm)
    assert prepared.substitutions == {"jupyterhub": str(MIRROR / "jupyterhub")}
    assert (prepared.name, prepared.version, prepared.path.name) == ("basehub", "0.1.0", "basehub")
    assert archives(prepared) == ["jupyterhub-4.1.0.tgz"]
    deps = yaml.safe_load((prepared.path / "Chart.yaml").read_text())["dependencies"]
    assert deps[0]["repository"] == f"file://{MIRROR / 'jupyterhub'}"


def test_daskhub_reports_substitutions_made_inside_basehub_too(tmp_path, helm):
    prepared = prepare(CHARTS / "daskhub", tmp_path, helm)
    assert prepared.substitutions == {
        "jupyterhub": str(MIRROR / "jupyterhub"),
        "dask-gateway": str(MIRROR / "dask-gateway"),
    }
    assert archives(prepared) == ["basehub-0.1.0.tgz", "dask-gateway-2024.1.0.tgz"]
    basehub_copy = yaml.safe_load((prepared.path / "Chart.yaml").read_text())["dependencies"][0]["repository"]
    assert basehub_copy.startswith(f"file://{tmp_path}/basehub-0.1.0-")  # the prepared copy, not the source


def test_support_reports_all_four_upstream_charts(tmp_path, helm):
    prepared = prepare(CHARTS / "support", tmp_path, helm)
    assert sorted(prepared.substitutions) == ["cert-manager", "grafana", "ingress-nginx", "prometheus"]


def test_a_chart_with_only_local_dependencies_reports_no_substitution(tmp_path, helm):
    make_chart(tmp_path / "src", "leaf")
    top = make_chart(tmp_path / "src", "top", deps=[{"name": "leaf", "version": "0.1.0", "repository": "file://../leaf"}])
    prepared = prepare(top, tmp_path / "work", helm, mirror=None)
    assert prepared.substitutions == {}
    assert archives(prepared) == ["leaf-0.1.0.tgz"]


def test_the_mirror_is_used_only_for_names_it_holds(tmp_path, helm):
    mirror = tmp_path / "mirror"
    make_chart(mirror, "upstream-thing", "1.2.3")
    make_chart(tmp_path / "src", "leaf")
    top = make_chart(tmp_path / "src", "top", deps=[
        {"name": "leaf", "version": "0.1.0", "repository": "file://../leaf"},
        {"name": "upstream-thing", "version": "1.2.3", "repository": "https://charts.example.org/"},
    ])
    prepared = prepare(top, tmp_path / "work", helm, mirror=mirror)
    assert prepared.substitutions == {"upstream-thing": str(mirror / "upstream-thing")}
    assert archives(prepared) == ["leaf-0.1.0.tgz", "upstream-thing-1.2.3.tgz"]


def test_preparing_never_edits_the_source_chart(tmp_path, helm):
    before = tree(CHARTS / "daskhub"), tree(CHARTS / "basehub")
    prepare(CHARTS / "daskhub", tmp_path, helm)
    assert (tree(CHARTS / "daskhub"), tree(CHARTS / "basehub")) == before
    assert not (CHARTS / "daskhub" / "charts").exists() and not (CHARTS / "basehub" / "charts").exists()


# --- chart_override -------------------------------------------------------------------------------


def test_a_chart_override_replaces_chart_yaml(tmp_path, helm):
    override = tmp_path / "hub-chart.yaml"
    override.write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "basehub", "version": "0.1.0-lis", "description": "one hub's own basehub",
        "dependencies": [
            {"name": "jupyterhub", "version": "4.1.0", "repository": "https://hub.jupyter.org/helm-chart/"},
            {"name": "dask-gateway", "version": "2024.1.0", "repository": "https://helm.dask.org/",
             "condition": "dask-gateway.enabled"},
        ],
    }))
    plain = prepare(CHARTS / "basehub", tmp_path / "work", helm)
    prepared = prepare(CHARTS / "basehub", tmp_path / "work", helm, chart_override=override)

    assert prepared.version == "0.1.0-lis"
    assert prepared.path != plain.path
    meta = yaml.safe_load((prepared.path / "Chart.yaml").read_text())
    assert meta["description"] == "one hub's own basehub"
    assert [d["name"] for d in meta["dependencies"]] == ["jupyterhub", "dask-gateway"]
    assert archives(prepared) == ["dask-gateway-2024.1.0.tgz", "jupyterhub-4.1.0.tgz"]
    assert sorted(prepared.substitutions) == ["dask-gateway", "jupyterhub"]
    # the rest of the chart is basehub's own
    assert (prepared.path / "templates" / "hub-info.yaml").read_bytes() == \
        (CHARTS / "basehub" / "templates" / "hub-info.yaml").read_bytes()
    assert yaml.safe_load((plain.path / "Chart.yaml").read_text())["version"] == "0.1.0"


# --- reuse and concurrency ------------------------------------------------------------------------


def test_a_second_prepare_reuses_the_finished_folder_and_a_change_makes_a_new_one(tmp_path, helm):
    src = make_chart(tmp_path / "src", "solo", deps=[
        {"name": "grafana", "version": "8.13.1", "repository": "https://grafana.github.io/helm-charts"}])
    runner = CountingRunner()
    first = prepare(src, tmp_path / "work", helm, runner=runner)
    again = prepare(src, tmp_path / "work", helm, runner=runner)
    assert again == first
    assert runner.builds() == ["solo"]

    (src / "values.yaml").write_text("greeting: bonjour\n")
    changed = prepare(src, tmp_path / "work", helm, runner=runner)
    assert changed.path != first.path
    assert (changed.path / "values.yaml").read_text() == "greeting: bonjour\n"
    assert (first.path / "values.yaml").read_text() == "greeting: hello\n"


def test_a_changed_mirror_chart_gives_a_new_folder(tmp_path, helm):
    mirror = tmp_path / "mirror"
    make_chart(mirror, "thing", "1.0.0")
    src = make_chart(tmp_path / "src", "top", deps=[{"name": "thing", "version": "1.0.0", "repository": "https://x.example/"}])
    first = prepare(src, tmp_path / "work", helm, mirror=mirror)
    (mirror / "thing" / "values.yaml").write_text("greeting: changed\n")
    assert prepare(src, tmp_path / "work", helm, mirror=mirror).path != first.path


def test_five_threads_preparing_the_same_chart_share_one_consistent_folder(tmp_path, helm):
    runner = CountingRunner()
    work = tmp_path / "work"
    barrier = threading.Barrier(5)
    results: list[PreparedChart] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(prepare(CHARTS / "daskhub", work, helm, runner=runner))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert len(results) == 5 and all(r == results[0] for r in results)
    # one build per chart: the others waited and reused it
    assert sorted(runner.builds()) == ["basehub", "daskhub"]
    folders = sorted(p.name.split("-")[0] for p in work.iterdir() if not p.name.startswith("."))
    assert folders == ["basehub", "daskhub"]
    assert [p for p in work.iterdir() if p.name.startswith(".tmp-")] == []
    assert archives(results[0]) == ["basehub-0.1.0.tgz", "dask-gateway-2024.1.0.tgz"]
    assert (results[0].path.parent / MARKER).is_file()


def test_warm_prepare_is_fast(tmp_path, helm):
    prepare(CHARTS / "daskhub", tmp_path, helm)
    started = time.monotonic()
    prepare(CHARTS / "daskhub", tmp_path, helm)
    assert time.monotonic() - started < 0.5


# --- errors ---------------------------------------------------------------------------------------


def test_a_remote_dependency_without_a_mirror_is_a_tool_error_naming_the_chart_mirror(tmp_path, helm):
    # `.invalid` never resolves (RFC 2606): the fetch really fails, with or without network
    src = make_chart(tmp_path / "src", "needs-net", deps=[
        {"name": "jupyterhub", "version": "4.1.0", "repository": "https://charts.invalid/helm-chart/"}])
    with pytest.raises(ToolError) as caught:
        prepare(src, tmp_path / "work", helm, mirror=None, timeout=60)
    err = caught.value
    assert "needs-net" in err.message and "jupyterhub 4.1.0" in err.message
    assert "charts.invalid" in err.message  # helm's own reason, not its vaguer follow-up error
    assert "--chart-mirror" in err.hint and "network" in err.hint
    assert "https://charts.invalid/helm-chart/" in err.hint
    # nothing half-built is left behind
    assert [p.name for p in (tmp_path / "work").iterdir() if not p.name.startswith(".")] == []
    assert list((tmp_path / "work").glob(".tmp-*")) == []


def test_a_mirror_without_the_dependency_still_says_how_to_get_it(tmp_path, helm):
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    src = make_chart(tmp_path / "src", "needs-net", deps=[
        {"name": "prometheus", "version": "27.11.0", "repository": "https://charts.invalid/prometheus"}])
    with pytest.raises(ToolError) as caught:
        prepare(src, tmp_path / "work", helm, mirror=empty_mirror, timeout=60)
    assert "--chart-mirror" in caught.value.hint


def test_a_mirror_chart_of_another_version_says_which_version_the_mirror_holds(tmp_path, helm):
    src = make_chart(tmp_path / "src", "pinned", deps=[
        {"name": "jupyterhub", "version": "4.3.3", "repository": "https://hub.jupyter.org/helm-chart/"}])
    with pytest.raises(ToolError) as caught:
        prepare(src, tmp_path / "work", helm)
    assert "mirror" in caught.value.message
    assert "jupyterhub 4.1.0" in caught.value.hint


def test_a_missing_mirror_folder_is_a_usage_error(tmp_path, helm):
    with pytest.raises(UsageError) as caught:
        prepare(CHARTS / "basehub", tmp_path, helm, mirror=tmp_path / "no-such-mirror")
    assert "no-such-mirror" in caught.value.message


def test_a_folder_without_chart_yaml_is_a_config_error(tmp_path, helm):
    with pytest.raises(ConfigError, match="not a chart"):
        prepare(tmp_path, tmp_path / "work", helm)


def test_a_broken_chart_override_points_at_its_line(tmp_path, helm):
    override = tmp_path / "bad-chart.yaml"
    override.write_text("apiVersion: v2\nname: basehub\nversion: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        prepare(CHARTS / "basehub", tmp_path / "work", helm, chart_override=override)
    assert re.match(rf"{re.escape(str(override))}:\d+:\d+: ", caught.value.message)


def test_errors_are_deployer_errors_never_bare_exceptions(tmp_path, helm):
    src = make_chart(tmp_path / "src", "cyclic", deps=[{"name": "cyclic", "version": "0.1.0", "repository": "file://."}])
    with pytest.raises(DeployerError, match="cycle"):
        prepare(src, tmp_path / "work", helm, mirror=None)
