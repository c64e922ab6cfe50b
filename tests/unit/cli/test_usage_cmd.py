"""`deployer usage`: an unknown cluster or hub is a usage error (exit 2) that lists the known ones."""

from __future__ import annotations

from deployer.cli import app
from deployer.cli.app import run_app
from tests.repo_builder import make_repo


def run(capsys, tmp_path, *args: str) -> tuple[int, str]:
    make_repo(tmp_path, {"alpha": ["staging", "prod"], "beta": ["staging"]})
    code = run_app(app, ["--root", str(tmp_path), "usage", *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_an_unknown_cluster_is_exit_2_naming_the_known_clusters(capsys, tmp_path):
    code, out = run(capsys, tmp_path, "gamma")
    assert code == 2
    assert out == "error: no cluster named `gamma` in config/clusters\n  hint: known clusters: alpha, beta\n"


def test_an_unknown_hub_is_exit_2_naming_the_clusters_hubs(capsys, tmp_path):
    code, out = run(capsys, tmp_path, "alpha", "staging", "nohub")
    assert code == 2
    assert out == "error: cluster `alpha` has no hub named `nohub`\n  hint: known hubs: staging, prod\n"
