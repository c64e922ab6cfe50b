"""One way to load a cluster for a command (`load_valid_cluster`), with one set of rules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from deployer.checks.validate import ConfigInvalid, load_valid_cluster
from deployer.errors import UsageError

PACKAGE = Path(__file__).resolve().parents[2] / "deployer"


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
