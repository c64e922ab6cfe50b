"""prepare_chart with the real helm: dependencies resolved by helm from a local chart repository
(the real upstream charts in ../shared/charts, served on 127.0.0.1), overrides, reuse, concurrency,
and clear errors when a dependency cannot be had (this machine has no network for it)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from deployer.adapters.charts import MARKER, PreparedChart, prepare_chart
from deployer.adapters.process import Completed, ProcessRunner
from deployer.errors import ConfigError, DeployerError, ToolError, UsageError
from tests.conftest import REPO, require_chart_repo, require_tool

CHARTS = REPO / "helm-charts"


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


@pytest.fixture(scope="module")
def shared_repo() -> Path:
    return require_chart_repo()


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


def make_repo(folder: Path, helm: Path, *charts: tuple[str, str]) -> Path:
    """A chart repository of our own (for charts that are not in ../shared/charts): `helm package`
    each chart, then `helm repo index`, as a chart publisher does."""
    folder.mkdir(parents=True, exist_ok=True)
    runner = ProcessRunner()
    for name, version in charts:
        src = make_chart(folder.parent / f"src-{name}-{version}", name, version)
        assert runner.run([helm, "package", src, "--destination", folder], timeout=60).ok
    assert runner.run([helm, "repo", "index", folder], timeout=60).ok
    return folder


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def prepare(chart: Path, work: Path, helm: Path, *, repo: Path | None, runner=None, **kw) -> PreparedChart:
    return prepare_chart(chart, work_dir=work, chart_repo=repo, runner=runner or ProcessRunner(), helm=helm, **kw)


def archives(prepared: PreparedChart) -> list[str]:
    return sorted(p.name for p in (prepared.path / "charts").glob("*.tgz"))


# --- resolution from the local chart repository ----------------------------------------------------


BASEHUB_DEPS = {"jupyterhub": "4.3.3", "dask-gateway": "2026.3.0", "jupyterhub-home-nfs": "1.2.1-0.dev.git.1.h1c81b4b",
                "binderhub-service": "0.1.0-0.dev.git.336.hca79dc0",
                "jupyterhub-groups-exporter": "1.1.1-0.dev.git.133.hd9f9ccc"}


def test_basehub_takes_the_real_jupyterhub_chart_from_the_local_repository(tmp_path, helm, shared_repo):
    prepared = prepare(CHARTS / "basehub", tmp_path, helm, repo=shared_repo)
    assert prepared.from_repository == {f"{n} {v}": str(shared_repo / f"{n}-{v}.tgz") for n, v in BASEHUB_DEPS.items()}
    assert (prepared.name, prepared.version, prepared.path.name) == ("basehub", "0.1.0", "basehub")
    assert archives(prepared) == sorted(f"{n}-{v}.tgz" for n, v in BASEHUB_DEPS.items())
    assert prepared.missing_optional == {}
    # byte for byte the repository's archive: helm downloaded it by name and version
    assert (prepared.path / "charts" / "jupyterhub-4.3.3.tgz").read_bytes() == \
        (shared_repo / "jupyterhub-4.3.3.tgz").read_bytes()


def test_daskhub_reports_what_it_and_basehub_took_from_the_repository(tmp_path, helm, shared_repo):
    prepared = prepare(CHARTS / "daskhub", tmp_path, helm, repo=shared_repo)
    assert sorted(prepared.from_repository) == sorted(f"{n} {v}" for n, v in BASEHUB_DEPS.items())
    assert archives(prepared) == ["basehub-0.1.0.tgz"]
    basehub_copy = yaml.safe_load((prepared.path / "Chart.yaml").read_text())["dependencies"][0]["repository"]
    assert basehub_copy.startswith(f"file://{tmp_path}/basehub-0.1.0-")  # the prepared copy, not the source


def test_support_takes_its_five_upstream_charts_and_unpacks_the_one_whose_schema_refers_to_the_internet(
        tmp_path, helm, shared_repo):
    prepared = prepare(CHARTS / "support", tmp_path, helm, repo=shared_repo)
    assert sorted(prepared.from_repository) == ["cert-manager v1.17.2", "cluster-autoscaler 9.58.0", "grafana 10.5.15",
                                                "nginx-ingress 2.4.4", "prometheus 29.13.0"]
    assert archives(prepared) == ["cert-manager-v1.17.2.tgz", "cluster-autoscaler-9.58.0.tgz", "grafana-10.5.15.tgz",
                                  "prometheus-29.13.0.tgz"]
    # nginx-ingress's values.schema.json $refs Kubernetes definitions on the web: unpacked, made local
    schema = (prepared.path / "charts" / "nginx-ingress" / "values.schema.json").read_text()
    assert "https://raw.githubusercontent.com" not in schema


def test_a_chart_with_only_local_dependencies_takes_nothing_from_the_repository(tmp_path, helm, shared_repo):
    make_chart(tmp_path / "src", "leaf")
    top = make_chart(tmp_path / "src", "top", deps=[{"name": "leaf", "version": "0.1.0", "repository": "file://../leaf"}])
    prepared = prepare(top, tmp_path / "work", helm, repo=shared_repo)
    assert prepared.from_repository == {}
    assert archives(prepared) == ["leaf-0.1.0.tgz"]


def test_the_source_chart_keeps_its_upstream_repository_urls(tmp_path, helm, shared_repo):
    meta = yaml.safe_load((CHARTS / "basehub" / "Chart.yaml").read_text())
    assert {d["name"]: d["repository"] for d in meta["dependencies"]} == {
        "jupyterhub": "https://hub.jupyter.org/helm-chart/", "dask-gateway": "https://helm.dask.org/",
        "jupyterhub-home-nfs": "oci://ghcr.io/2i2c-org/jupyterhub-home-nfs",
        "binderhub-service": "https://2i2c.org/binderhub-service/",
        "jupyterhub-groups-exporter": "https://2i2c.org/jupyterhub-groups-exporter"}


def test_the_repository_is_served_only_while_helm_builds(tmp_path, helm, shared_repo):
    runner = CountingRunner()
    prepare(CHARTS / "basehub", tmp_path, helm, repo=shared_repo, runner=runner)
    built = yaml.safe_load(next(tmp_path.glob("basehub-*/basehub/Chart.yaml")).read_text())
    url = built["dependencies"][0]["repository"]
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", url)
    assert match, url
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=2).close()
    assert not [t for t in threading.enumerate() if t.name == "chart-repository"]


def test_preparing_never_edits_the_source_chart_or_the_repository(tmp_path, helm, shared_repo):
    before = tree(CHARTS / "daskhub"), tree(CHARTS / "basehub"), tree(shared_repo)
    prepare(CHARTS / "daskhub", tmp_path, helm, repo=shared_repo)
    assert (tree(CHARTS / "daskhub"), tree(CHARTS / "basehub"), tree(shared_repo)) == before
    assert not (CHARTS / "daskhub" / "charts").exists() and not (CHARTS / "basehub" / "charts").exists()


# --- chart_override -------------------------------------------------------------------------------


def test_a_chart_override_replaces_chart_yaml(tmp_path, helm, shared_repo):
    override = tmp_path / "hub-chart.yaml"
    override.write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "basehub", "version": "0.1.0-lis", "description": "one hub's own basehub",
        "dependencies": [
            {"name": "jupyterhub", "version": "4.1.0", "repository": "https://hub.jupyter.org/helm-chart/"},
            {"name": "dask-gateway", "version": "2024.1.0", "repository": "https://helm.dask.org/",
             "condition": "dask-gateway.enabled"},
        ],
    }))
    plain = prepare(CHARTS / "basehub", tmp_path / "work", helm, repo=shared_repo)
    prepared = prepare(CHARTS / "basehub", tmp_path / "work", helm, repo=shared_repo, chart_override=override)

    assert prepared.version == "0.1.0-lis"
    assert prepared.path != plain.path
    meta = yaml.safe_load((prepared.path / "Chart.yaml").read_text())
    assert meta["description"] == "one hub's own basehub"
    assert [d["name"] for d in meta["dependencies"]] == ["jupyterhub", "dask-gateway"]
    assert archives(prepared) == ["dask-gateway-2024.1.0.tgz", "jupyterhub-4.1.0.tgz"]
    assert sorted(prepared.from_repository) == ["dask-gateway 2024.1.0", "jupyterhub 4.1.0"]
    # the rest of the chart is basehub's own
    assert (prepared.path / "templates" / "hub-info.yaml").read_bytes() == \
        (CHARTS / "basehub" / "templates" / "hub-info.yaml").read_bytes()
    assert yaml.safe_load((plain.path / "Chart.yaml").read_text())["version"] == "0.1.0"


# --- reuse and concurrency ------------------------------------------------------------------------


def test_a_second_prepare_reuses_the_finished_folder_and_a_change_makes_a_new_one(tmp_path, helm, shared_repo):
    src = make_chart(tmp_path / "src", "solo", deps=[
        {"name": "grafana", "version": "10.5.15", "repository": "https://grafana.github.io/helm-charts"}])
    runner = CountingRunner()
    first = prepare(src, tmp_path / "work", helm, repo=shared_repo, runner=runner)
    again = prepare(src, tmp_path / "work", helm, repo=shared_repo, runner=runner)
    assert again == first
    assert runner.builds() == ["solo"]

    (src / "values.yaml").write_text("greeting: bonjour\n")
    changed = prepare(src, tmp_path / "work", helm, repo=shared_repo, runner=runner)
    assert changed.path != first.path
    assert (changed.path / "values.yaml").read_text() == "greeting: bonjour\n"
    assert (first.path / "values.yaml").read_text() == "greeting: hello\n"


def test_a_changed_repository_index_gives_a_new_folder(tmp_path, helm):
    repo = make_repo(tmp_path / "repo", helm, ("thing", "1.0.0"))
    src = make_chart(tmp_path / "src", "top", deps=[{"name": "thing", "version": "1.0.0", "repository": "https://x.example/"}])
    first = prepare(src, tmp_path / "work", helm, repo=repo)
    assert first.from_repository == {"thing 1.0.0": str(repo / "thing-1.0.0.tgz")}
    make_repo(repo, helm, ("thing", "1.0.1"))  # a new version published beside the old one
    assert prepare(src, tmp_path / "work", helm, repo=repo).path != first.path


def test_five_threads_preparing_the_same_chart_share_one_consistent_folder(tmp_path, helm, shared_repo):
    runner = CountingRunner()
    work = tmp_path / "work"
    barrier = threading.Barrier(5)
    results: list[PreparedChart] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(prepare(CHARTS / "daskhub", work, helm, repo=shared_repo, runner=runner))
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
    assert archives(results[0]) == ["basehub-0.1.0.tgz"]
    assert (results[0].path.parent / MARKER).is_file()


def test_warm_prepare_is_fast(tmp_path, helm, shared_repo):
    prepare(CHARTS / "daskhub", tmp_path, helm, repo=shared_repo)
    started = time.monotonic()
    prepare(CHARTS / "daskhub", tmp_path, helm, repo=shared_repo)
    assert time.monotonic() - started < 0.5


# --- errors ---------------------------------------------------------------------------------------


def test_a_remote_dependency_without_a_local_repository_is_a_tool_error_naming_chart_repo(tmp_path, helm):
    # `.invalid` never resolves (RFC 2606): the fetch really fails, with or without network
    src = make_chart(tmp_path / "src", "needs-net", deps=[
        {"name": "jupyterhub", "version": "4.1.0", "repository": "https://charts.invalid/helm-chart/"}])
    with pytest.raises(ToolError) as caught:
        prepare(src, tmp_path / "work", helm, repo=None, timeout=60)
    err = caught.value
    assert "needs-net" in err.message and "jupyterhub 4.1.0" in err.message
    assert "charts.invalid" in err.message  # helm's own reason, not its vaguer follow-up error
    assert "--chart-repo" in err.hint and "network" in err.hint
    assert "https://charts.invalid/helm-chart/" in err.hint
    # nothing half-built is left behind
    assert [p.name for p in (tmp_path / "work").iterdir() if not p.name.startswith(".")] == []
    assert list((tmp_path / "work").glob(".tmp-*")) == []


def test_a_version_the_repository_lacks_is_an_error_naming_the_versions_it_holds(tmp_path, helm, shared_repo):
    src = make_chart(tmp_path / "src", "pinned", deps=[
        {"name": "jupyterhub", "version": "4.3.9", "repository": "https://hub.jupyter.org/helm-chart/"}])
    runner = CountingRunner()
    with pytest.raises(ConfigError) as caught:
        prepare(src, tmp_path / "work", helm, repo=shared_repo, runner=runner)
    assert caught.value.message == (
        f"chart pinned ({src / 'Chart.yaml'}) depends on jupyterhub 4.3.9, but the chart repository {shared_repo} "
        "holds jupyterhub 4.3.3, 4.1.0, 2.0.0 only")
    assert caught.value.hint.startswith("pin one of 4.3.3, 4.1.0, 2.0.0 in Chart.yaml")
    assert runner.calls == []  # refused before helm ran


def test_a_chart_the_repository_lacks_is_an_error_listing_what_it_holds(tmp_path, helm, shared_repo):
    src = make_chart(tmp_path / "src", "wants", deps=[
        {"name": "no-such-chart", "version": "0.1.0", "repository": "https://example.org/no-such-chart"}])
    with pytest.raises(ConfigError) as caught:
        prepare(src, tmp_path / "work", helm, repo=shared_repo)
    assert caught.value.message.endswith(f"the chart repository {shared_repo} has no chart named no-such-chart")
    assert "jupyterhub" in caught.value.hint.split("; ")[0] and "dask-gateway" in caught.value.hint


def test_a_switched_part_the_repository_lacks_is_left_out_with_its_switch_and_default(tmp_path, helm, shared_repo):
    src = make_chart(tmp_path / "src", "top", deps=[
        {"name": "jupyterhub", "version": "4.3.3", "repository": "https://hub.jupyter.org/helm-chart/"},
        {"name": "cryptnono", "version": "0.1.0", "repository": "https://cryptnono.example/",
         "condition": "cryptnono.enabled,nfs.enabled"}])
    (src / "values.yaml").write_text("cryptnono: {enabled: true}\n")
    prepared = prepare(src, tmp_path / "work", helm, repo=shared_repo)
    assert archives(prepared) == ["jupyterhub-4.3.3.tgz"]
    [(condition, gone)] = prepared.missing_optional.items()
    assert condition == "cryptnono.enabled,nfs.enabled"
    assert gone.what == f"cryptnono 0.1.0 (the chart repository {shared_repo} holds no cryptnono)"
    assert gone.defaults == (("cryptnono.enabled", True), ("nfs.enabled", None))
    built = yaml.safe_load((prepared.path / "Chart.yaml").read_text())
    assert [d["name"] for d in built["dependencies"]] == ["jupyterhub"]


def test_a_corrupt_archive_in_the_repository_is_refused_naming_the_archive(tmp_path, helm):
    # helm itself would copy it into charts/ without a word; the index's digest catches it
    repo = make_repo(tmp_path / "repo", helm, ("thing", "1.0.0"))
    (repo / "thing-1.0.0.tgz").write_bytes(b"this is not a gzip archive\n")
    src = make_chart(tmp_path / "src", "top", deps=[{"name": "thing", "version": "1.0.0", "repository": "https://x.example/"}])
    runner = CountingRunner()
    with pytest.raises(ConfigError) as caught:
        prepare(src, tmp_path / "work", helm, repo=repo, runner=runner)
    assert caught.value.message == (f"{repo / 'thing-1.0.0.tgz'}: corrupt or replaced archive: its sha256 is not the "
                                    "digest index.yaml records for thing 1.0.0")
    assert runner.calls == []


def test_an_archive_missing_from_the_repository_is_refused_naming_it(tmp_path, helm):
    repo = make_repo(tmp_path / "repo", helm, ("thing", "1.0.0"))
    (repo / "thing-1.0.0.tgz").unlink()
    src = make_chart(tmp_path / "src", "top", deps=[{"name": "thing", "version": "1.0.0", "repository": "https://x.example/"}])
    with pytest.raises(ConfigError) as caught:
        prepare(src, tmp_path / "work", helm, repo=repo)
    assert caught.value.message == (f"{repo / 'thing-1.0.0.tgz'}: index.yaml lists thing 1.0.0, but the archive cannot "
                                    "be read (No such file or directory)")


def test_a_missing_repository_folder_is_a_usage_error(tmp_path, helm):
    with pytest.raises(UsageError) as caught:
        prepare(CHARTS / "basehub", tmp_path, helm, repo=tmp_path / "no-such-repo")
    assert caught.value.message == f"chart repository {tmp_path / 'no-such-repo'}: no such folder"


def test_a_folder_without_an_index_is_a_usage_error(tmp_path, helm):
    (tmp_path / "charts").mkdir()
    with pytest.raises(UsageError) as caught:
        prepare(CHARTS / "basehub", tmp_path / "work", helm, repo=tmp_path / "charts")
    assert caught.value.message == f"chart repository {tmp_path / 'charts'}: no index.yaml in it"


def test_a_folder_without_chart_yaml_is_a_config_error(tmp_path, helm):
    with pytest.raises(ConfigError, match="not a chart"):
        prepare(tmp_path, tmp_path / "work", helm, repo=None)


def test_a_broken_chart_override_points_at_its_line(tmp_path, helm, shared_repo):
    override = tmp_path / "bad-chart.yaml"
    override.write_text("apiVersion: v2\nname: basehub\nversion: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        prepare(CHARTS / "basehub", tmp_path / "work", helm, repo=shared_repo, chart_override=override)
    assert re.match(rf"{re.escape(str(override))}:\d+:\d+: ", caught.value.message)


def test_errors_are_deployer_errors_never_bare_exceptions(tmp_path, helm):
    src = make_chart(tmp_path / "src", "cyclic", deps=[{"name": "cyclic", "version": "0.1.0", "repository": "file://."}])
    with pytest.raises(DeployerError, match="cycle"):
        prepare(src, tmp_path / "work", helm, repo=None)


def _with_index(repo: Path, edit) -> None:
    index = yaml.safe_load((repo / "index.yaml").read_text())
    edit(index)
    (repo / "index.yaml").write_text(yaml.safe_dump(index))


def test_a_corrupt_archive_whose_digest_matches_is_refused_naming_the_archive(tmp_path, helm):
    """The index rebuilt over a broken archive: the digest matches, and helm would say only that
    the dependency is 'missing in charts/ directory'."""
    import hashlib

    repo = make_repo(tmp_path / "repo", helm, ("thing", "1.0.0"))
    broken = b"this is not a gzip archive\n"
    (repo / "thing-1.0.0.tgz").write_bytes(broken)
    _with_index(repo, lambda i: i["entries"]["thing"][0].update(digest=hashlib.sha256(broken).hexdigest()))
    src = make_chart(tmp_path / "src", "top", deps=[{"name": "thing", "version": "1.0.0", "repository": "https://x.example/"}])
    runner = CountingRunner()
    with pytest.raises(ConfigError) as caught:
        prepare(src, tmp_path / "work", helm, repo=repo, runner=runner)
    assert caught.value.message == (f"{repo / 'thing-1.0.0.tgz'}: index.yaml lists thing 1.0.0, but the archive is not "
                                    "a chart archive (not a gzip-compressed tar file)")
    assert runner.calls == []


@pytest.mark.parametrize("edit, message", [
    (lambda i: i["entries"].update(thing=5), "`entries.thing` is 5, not a list of chart versions"),
    (lambda i: i["entries"]["thing"][0].update(urls=5), "`entries.thing[0].urls` is 5, not a list of archive names"),
    (lambda i: i["entries"]["thing"][0].update(urls=[{"a": 1}]),
     "`entries.thing[0].urls` is [{'a': 1}], not a list of archive names"),
    (lambda i: i["entries"]["thing"].append(7), "`entries.thing[1]` is 7, not a chart version (a mapping)"),
    (lambda i: i["entries"]["thing"][0].pop("version"), "`entries.thing[0]` has no `version`"),
])
def test_a_malformed_index_entry_is_an_error_naming_its_key(tmp_path, helm, edit, message):
    repo = make_repo(tmp_path / "repo", helm, ("thing", "1.0.0"))
    _with_index(repo, edit)
    src = make_chart(tmp_path / "src", "top", deps=[{"name": "thing", "version": "1.0.0", "repository": "https://x.example/"}])
    with pytest.raises(ConfigError) as caught:
        prepare(src, tmp_path / "work", helm, repo=repo)
    assert caught.value.message == f"{repo / 'index.yaml'}: {message}"
    assert caught.value.hint == "rebuild it with `helm repo index`"
