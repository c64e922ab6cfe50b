"""One owner of the state folder: the global --root and --state-dir reach `local *`, `render` and a
`provider: local` cluster; a relative `local.state_dir` is relative to the cluster's folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from deployer.checks.validate import load_valid_cluster
from deployer.cli import app
from deployer.cli.app import run_app
from deployer.local.access import cluster_dir
from tests.repo_builder import cluster_yaml, make_cluster


def _local_status(capsys, *args: str) -> dict:
    code = run_app(app, [*args, "local", "status", "-o", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["state"] == "down", out
    return out


def test_the_global_state_dir_is_where_local_looks(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DEPLOYER_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    out = _local_status(capsys, "--state-dir", str(tmp_path / "x"))
    assert out["state_dir"] == str(tmp_path / "x" / "local")
    # the command's own option still wins
    code = run_app(app, ["--state-dir", str(tmp_path / "x"), "local", "status", "--state-dir", str(tmp_path / "y"),
                         "-o", "json"])
    assert code == 1 and json.loads(capsys.readouterr().out)["state_dir"] == str(tmp_path / "y" / "local")


def test_the_global_root_is_the_repository_local_looks_in_not_the_working_directorys(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DEPLOYER_STATE_DIR", raising=False)
    here, there = tmp_path / "here", tmp_path / "there"
    make_cluster(here, "c", [])
    make_cluster(there, "c", [])
    monkeypatch.chdir(here)
    out = _local_status(capsys, "--root", str(there))
    assert out["state_dir"] == str(there.resolve() / ".deployer" / "local")


def test_a_local_cluster_lives_in_the_invocations_state_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DEPLOYER_STATE_DIR", raising=False)
    folder = make_cluster(tmp_path, "c", ["staging"], provider="local")
    cluster = load_valid_cluster(tmp_path, "c").model
    assert cluster_dir(cluster, folder, tmp_path / "state") == tmp_path / "state" / "local"
    assert cluster_dir(cluster, folder, None) == tmp_path / ".deployer" / "local"  # the repository's, not the cwd's


def test_a_relative_local_state_dir_is_relative_to_the_cluster_folder_not_the_working_directory(tmp_path, monkeypatch):
    folder = make_cluster(tmp_path, "c", ["staging"], provider="local",
                          cluster_text=cluster_yaml("c", ["staging"], "local", "local:\n  state_dir: ../../../state/here\n"))
    monkeypatch.chdir(tmp_path / "config")
    cluster = load_valid_cluster(tmp_path, "c").model
    assert cluster_dir(cluster, folder, tmp_path / "ignored") == (tmp_path / "state" / "here").resolve()
    absolute = cluster.model_copy(update={"local": cluster.local.model_copy(update={"state_dir": "/srv/local"})})
    assert cluster_dir(absolute, folder, None) == Path("/srv/local")


def test_render_prepares_charts_in_the_global_state_folder(tmp_path, capsys, monkeypatch):
    from tests.conftest import require_tool

    require_tool("helm")
    monkeypatch.delenv("DEPLOYER_STATE_DIR", raising=False)
    make_cluster(tmp_path / "repo", "c", ["staging"], provider="local")
    state = tmp_path / "state"
    code = run_app(app, ["--root", str(tmp_path / "repo"), "--state-dir", str(state), "render", "c", "staging",
                         "--chart-repo", os.environ.get("DEPLOYER_CHART_REPO", str(Path(__file__).resolve().parents[4]
                                                                                  / "shared" / "charts"))])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert any((state / "charts").glob("basehub-0.1.0-*")), sorted(p.name for p in (state / "charts").iterdir())
    assert not (tmp_path / "repo" / ".deployer").exists()


def test_render_builds_no_runner_of_its_own():
    source = (Path(__file__).resolve().parents[3] / "deployer/cli/render_cmd.py").read_text()
    assert "ProcessRunner" not in source and "state_dir(" not in source


def test_the_application_object_is_handed_to_commands_never_kept_in_a_module_global(tmp_path, capsys, monkeypatch):
    import importlib

    cli_app = importlib.import_module("deployer.cli.app")  # (`deployer.cli.app` the attribute is the typer app)
    seen = []
    real = cli_app.state

    def spy(ctx):
        seen.append(real(ctx))
        return seen[-1]

    monkeypatch.setattr(importlib.import_module("deployer.cli.local_cmd"), "state", spy)
    for folder in ("a", "b"):
        run_app(app, ["--state-dir", str(tmp_path / folder), "local", "status", "-o", "json"])
    capsys.readouterr()
    assert len(seen) >= 2 and seen[0] is not seen[-1]
    assert [s.state_dir_option for s in (seen[0], seen[-1])] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert not any(isinstance(v, cli_app.AppState) or type(v).__name__ == "_Current" for v in vars(cli_app).values())
