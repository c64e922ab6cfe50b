"""`deployer preview` through the CLI on bad input: each a clear message and the exact exit code, never a
traceback (an unknown cluster or hub: 2 with the known ones listed; a chart the local cluster cannot run: 1,
named with why; the local cluster down: 1, saying `deployer local up`; `--rm` of no preview: 2)."""

from __future__ import annotations

from deployer.cli import app
from deployer.cli.app import run_app
from tests.conftest import require_corpus

CLUSTER_YAML = ("name: c\nprovider: local\nhubs:\n- name: h\n  domain: h.example.org\n  helm_chart: {chart}\n"
                "  helm_chart_values_files: []\n")


def _run(capsys, args):
    rc = run_app(app, args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _repo(tmp_path, chart: str = "basehub"):
    root = tmp_path / "repo"
    folder = root / "config" / "clusters" / "c"
    folder.mkdir(parents=True)
    (folder / "cluster.yaml").write_text(CLUSTER_YAML.format(chart=chart))
    return root


def test_an_unknown_hub_or_cluster_exits_2_listing_the_known_ones(tmp_path, capsys):
    corpus = require_corpus()
    state = ["--state-dir", str(tmp_path / "state")]
    rc, out, err = _run(capsys, ["--root", str(corpus), *state, "preview", "hhmi", "nope"])
    assert rc == 2, out + err
    assert err == "error: cluster `hhmi` has no hub named `nope`\n  hint: known hubs: staging, spyglass, binder\n"
    rc, out, err = _run(capsys, ["--root", str(corpus), *state, "preview", "nope", "staging"])
    assert rc == 2, out + err
    first, hint = err.splitlines()
    assert first.startswith("error: ") and "nope" in first, err
    assert hint.startswith("  hint: known clusters: 2i2c, 2i2c-uk, bnext-bio, "), err
    assert "Traceback" not in err and out == ""


def test_a_hub_whose_chart_the_local_cluster_cannot_run_exits_1_named_with_why(tmp_path, capsys):
    root = _repo(tmp_path, chart="support")
    rc, out, err = _run(capsys, ["--root", str(root), "--state-dir", str(tmp_path / "state"), "preview", "c", "h"])
    assert rc == 1, out + err
    assert err == ("error: hub `h` of `c` deploys the chart `support`, which the local cluster cannot preview: its "
                   "images and switches are known for jupyterhub, basehub, daskhub only\n"
                   "  hint: preview a hub deployed with basehub, daskhub or jupyterhub\n")


def test_a_preview_while_the_local_cluster_is_down_exits_1_saying_local_up(tmp_path, capsys, monkeypatch):
    from tests.conftest import require_chart_repo

    monkeypatch.setenv("DEPLOYER_CHART_REPO", str(require_chart_repo()))  # the chart is made first, offline
    root = _repo(tmp_path)
    for extra in ([], ["--rm"]):
        rc, out, err = _run(capsys, ["--root", str(root), "--state-dir", str(tmp_path / "state"), "preview", "c",
                                     "h", *extra])
        assert rc == 1, out + err
        first, hint = err.splitlines()
        assert first.startswith("error: the local cluster is not up (down): "), err
        assert hint == "  hint: start it with `deployer local up` (and `deployer local images` once)", err
        assert out == ""


def test_a_corpus_hub_whose_chart_cannot_be_made_here_exits_1_named_with_why_before_the_cluster_is_asked(
        tmp_path, capsys, monkeypatch):
    """2i2c-uk/lis overrides basehub's Chart.yaml to depend on a jupyterhub build the chart repository lacks:
    refused with why, even with no local cluster up (the chart is made before the cluster is asked)."""
    from tests.conftest import require_chart_repo

    corpus = require_corpus()
    monkeypatch.setenv("DEPLOYER_CHART_REPO", str(require_chart_repo()))
    rc, out, err = _run(capsys, ["--root", str(corpus), "--state-dir", str(tmp_path / "state"), "preview",
                                 "2i2c-uk", "lis"])
    assert rc == 1, out + err
    first, hint = err.splitlines()
    assert first.startswith("error: hub `lis` of `2i2c-uk` cannot be deployed here: chart basehub ("), err
    assert first.endswith("lis-chart.yaml) depends on jupyterhub 4.3.3-0.dev.git.7272.h2ff70453, but the chart "
                          "repository " + str(require_chart_repo()) + " holds jupyterhub 4.3.3, 4.1.0, 2.0.0 only"), err
    assert hint.startswith("  hint: pin one of 4.3.3, 4.1.0, 2.0.0 in Chart.yaml"), err
    assert "local up" not in err and out == ""
