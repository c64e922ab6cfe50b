"""One way to load a cluster for a command (`load_valid_cluster`), with one set of rules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from deployer.checks.validate import ConfigInvalid, load_valid_cluster
from deployer.errors import UsageError

PACKAGE = Path(__file__).resolve().parents[3] / "deployer"


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def repo(tmp_path):
    write(tmp_path, "config/clusters/c1/cluster.yaml",
          "name: c1\nprovider: kubeconfig\nkubeconfig:\n  file: kc.yaml\nhubs:\n"
          "- name: a\n  domain: a.example.org\n  helm_chart: basehub\n  helm_chart_values_files: [a.values.yaml]\n"
          "- name: b\n  domain: b.example.org\n  helm_chart: basehub\n  helm_chart_values_files: [b.values.yaml]\n")
    write(tmp_path, "config/clusters/c1/kc.yaml", "apiVersion: v1\nkind: Config\n")
    write(tmp_path, "config/clusters/c1/a.values.yaml", "jupyterhub: {}\n")
    write(tmp_path, "config/clusters/c1/b.values.yaml", "jupyterhub: [\n")  # broken YAML
    write(tmp_path, "config/clusters/broken/cluster.yaml", "name: broken\nprovider: [\n")
    return tmp_path


def test_a_hub_with_broken_values_fails_the_cluster_but_not_another_hub(repo):
    with pytest.raises(ConfigInvalid) as e:
        load_valid_cluster(repo, "c1")
    assert [p.file for p in e.value.problems] == ["config/clusters/c1/b.values.yaml"]
    assert e.value.message.startswith("the configuration has 1 error(s): config/clusters/c1/b.values.yaml:")
    assert load_valid_cluster(repo, "c1", ["a"]).model.name == "c1"


def test_credentials_need_only_cluster_yaml(repo):
    assert load_valid_cluster(repo, "c1", only_cluster_file=True).model.name == "c1"


def test_an_unknown_cluster_names_the_known_ones(repo):
    with pytest.raises(UsageError) as e:
        load_valid_cluster(repo, "nope")
    assert e.value.hint == "known clusters: broken, c1"


def test_a_cluster_that_does_not_load_is_broken_not_unknown(repo):
    from deployer.checks.validate import ClusterBroken

    with pytest.raises(ClusterBroken) as e:
        load_valid_cluster(repo, "broken")
    assert "broken" in e.value.message and "no cluster named" not in e.value.message


def test_there_is_one_load_function_and_one_config_invalid():
    defined: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in ("ConfigInvalid", "load_valid_cluster"):
                defined.setdefault(node.name, []).append(path.relative_to(PACKAGE).as_posix())
    assert defined == {"ConfigInvalid": ["checks/validate.py"], "load_valid_cluster": ["checks/validate.py"]}


def test_no_command_keeps_a_load_cluster_of_its_own():
    loaders = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
                     for node in ast.parse(path.read_text()).body
                     if isinstance(node, ast.FunctionDef) and node.name == "load_cluster")
    assert loaders == []


def _cli(capsys, root: Path, *args: str) -> tuple[int, str]:
    from deployer.cli import app
    from deployer.cli.app import run_app

    code = run_app(app, ["--root", str(root), *args])
    return code, capsys.readouterr().err


COMMANDS = {"deploy": ["deploy", "alpha"], "diff": ["diff", "alpha"], "provision": ["provision", "plan", "alpha"],
            "credentials": ["use-cluster-credentials", "alpha", "--", "true"],
            "grafana": ["grafana", "deploy-dashboards", "alpha"]}


def test_every_command_refuses_an_invalid_cluster_yaml_with_the_same_config_invalid(tmp_path, capsys):
    from tests.repo_builder import cluster_yaml, make_cluster

    make_cluster(tmp_path, "alpha", ["prod"], cluster_text=cluster_yaml("alpha", ["prod"]).replace(
        "name: alpha", "name: beta"))
    expected = ("error: the configuration has 1 error(s): config/clusters/alpha/cluster.yaml:1:7: "
                "name `beta` differs from its folder `alpha`\n"
                "  hint: run `deployer validate` for the full list (and each fix); nothing was done\n")
    seen = {name: _cli(capsys, tmp_path, *args) for name, args in COMMANDS.items()}
    assert seen == {name: (1, expected) for name in COMMANDS}


def test_a_broken_hub_values_file_stops_deploy_and_provision_but_not_credentials(tmp_path, capsys, monkeypatch):
    from deployer.run import cluster_connection, credentials
    from tests.repo_builder import make_cluster

    folder = make_cluster(tmp_path, "alpha", ["prod"])
    (folder / "prod.values.yaml").write_text("jupyterhub: [\n")
    for name in ("deploy", "provision"):
        code, err = _cli(capsys, tmp_path, *COMMANDS[name])
        assert code == 1 and err.startswith(
            "error: the configuration has 1 error(s): config/clusters/alpha/prod.values.yaml:2:1: "), (name, err)
    class Reached(Exception):
        pass

    def cluster_access(cluster, *args, **kwargs):
        raise Reached(cluster.name)

    monkeypatch.setattr(cluster_connection, "cluster_access", cluster_access)
    with pytest.raises(Reached) as e:  # past the load: the credentials were asked for
        credentials.run_with_credentials(tmp_path, "alpha", ["true"], None, {}, 10)
    assert e.value.args == ("alpha",)
