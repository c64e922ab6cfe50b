"""Messages that must say what happened: a folder given as a changed file, where doctor looks."""

from __future__ import annotations

from deployer.cli import app
from deployer.cli.app import run_app
from tests.repo_builder import make_repo


def _run(capsys, args):
    rc = run_app(app, args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_plan_upgrade_of_a_changed_folder_is_a_usage_error_not_an_empty_plan(tmp_path, capsys):
    root = make_repo(tmp_path / "repo")
    rc, out, err = _run(capsys, ["--root", str(root), "plan-upgrade", "--changed-files", "config/clusters/alpha"])
    assert rc == 2, out + err
    assert err == ("error: --changed-files config/clusters/alpha: a folder, not a file\n"
                   "  hint: name the files that changed (`git diff --name-only BASE`), or give --base REF\n")
    assert out == ""
    rc, out, err = _run(capsys, ["--root", str(root), "plan-upgrade", "--changed-files",
                                 "config/clusters/alpha/prod.values.yaml"])
    assert rc == 0, err
    assert out.splitlines()[-1] == "0 support, 0 staging, 1 prod job(s); 0 removal(s)"


def test_doctor_names_the_folders_it_looks_in(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEPLOYER_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    rc, out, err = _run(capsys, ["doctor"])
    assert rc == 1, out + err
    assert out.splitlines()[0].strip() == f"tools (looked up in {tmp_path / 'tools'}/<package>/<version>/bin, then PATH)"
