"""Files named on the command line, and repositories, that are broken: each a clear error with
exit 1 (never a traceback, never "internal error", never a silent success)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer.cli import app
from deployer.cli.app import run_app
from tests.conftest import require_tool
from tests.repo_builder import cluster_yaml, make_cluster, make_repo


def cli(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    code = run_app(app, ["--root", str(root), *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in out + err, out + err
    return code, out, err


def plan_doc(**overrides) -> dict:
    doc = {"version": 1, "base": "a", "head": "b", "support_jobs": [], "staging_jobs": [], "prod_jobs": [],
           "removals": [], "counts": {"support": 0, "staging": 0, "prod": 0, "removals": 0}}
    doc.update(overrides)
    return doc


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo")


# -- plan files (deploy --plan, canary-gate --plan) ---------------------------------------------

BAD_PLANS = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text (byte 0); is it a binary file?"),
    "latin1": ("{\"base\": \"caf\xe9\"}".encode("latin-1"), "not UTF-8 text (byte 13); is it a binary file?"),
    "deep": (("[" * 100000 + "]" * 100000).encode(), "JSON nested too deeply"),
    "deep-but-parses": (("[" * 200 + "]" * 200).encode(), "JSON nested deeper than 64 levels"),
    "not-json": (b"{nope", "not JSON (line 1, column 2: Expecting property name enclosed in double quotes)"),
    "list": (b"[1, 2]", "a plan is a JSON object, this is a list"),
    "unknown-key": (json.dumps({"foo": 1}).encode(), "not a plan: unknown key `foo` (and 8 more problem(s))"),
    "missing-key": (json.dumps({k: v for k, v in plan_doc().items() if k != "prod_jobs"}).encode(),
                    "not a plan: missing key `prod_jobs`"),
    "extra-key": (json.dumps(plan_doc(extra=True)).encode(), "not a plan: unknown key `extra`"),
    "wrong-type": (json.dumps(plan_doc(staging_jobs=5)).encode(), "not a plan: `staging_jobs`: Input should be a valid list"),
    "no-version": (json.dumps({k: v for k, v in plan_doc().items() if k != "version"}).encode(),
                   "not a plan: missing key `version`"),
    "future-version": (json.dumps(plan_doc(version=2)).encode(),
                       "version 2 is not one this deployer reads (it reads version 1)"),
    "job-unknown-key": (json.dumps(plan_doc(prod_jobs=[{"cluster": "alpha", "kind": "hub", "hub": "prod"}])).encode(),
                        "not a plan: missing key `prod_jobs.0.id` (and 3 more problem(s))"),
}


@pytest.mark.parametrize("command", ["deploy", "canary-gate"])
@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_a_bad_plan_file_is_a_clear_error(repo, tmp_path, capsys, command, case):
    content, expected = BAD_PLANS[case]
    plan = tmp_path / "plan.json"
    plan.write_bytes(content)
    args = ["deploy", "--plan", str(plan)] if command == "deploy" else ["canary-gate", "--plan", str(plan), "--stage", "prod"]
    code, out, err = cli(capsys, repo, *args)
    assert code == 1, err
    assert err.startswith(f"error: --plan {plan}: {expected}\n"), err
    assert out == ""


def test_deploy_plan_foo_1_is_refused_not_an_empty_success(repo, tmp_path, capsys):
    plan = tmp_path / "plan.json"
    plan.write_text('{"foo": 1}')
    code, out, err = cli(capsys, repo, "deploy", "--plan", str(plan))
    assert code == 1
    assert "0 release(s)" not in out + err and "unknown key `foo`" in err


@pytest.mark.parametrize("name", ["missing.json", "x" * 300 + ".json", "folder"])
def test_an_unreadable_plan_path_is_a_clear_error(repo, tmp_path, capsys, name):
    (tmp_path / "folder").mkdir()
    code, out, err = cli(capsys, repo, "deploy", "--plan", str(tmp_path / name))
    assert code in (1, 2), err  # a folder is refused by the option itself (usage, exit 2)
    assert err.startswith("error:") or "Invalid value for '--plan'" in err, err
    if name.startswith("x"):
        assert code == 1 and "the file name is too long" in err


# -- run reports (canary-gate --reports) ----------------------------------------------------------

def good_report() -> dict:
    return {"version": 1, "ok": True, "interrupted": False, "started_at": "2026-12-02T08:00:00+00:00",
            "duration_seconds": 1.0, "counts": {"succeeded": 1}, "cluster": "alpha", "plan": None, "dry_run": False,
            "chart_repo": None,
            "steps": [{"id": "alpha/staging", "label": "alpha/staging", "group": "staging", "state": "succeeded",
                       "duration_seconds": 1.0, "message": "revision 1 deployed", "hint": None, "details": {}}]}


BAD_REPORTS = {
    "list": ("[1, 2]", "a run report is a JSON object, this is a list"),
    "steps-5": ('{"steps": 5}', "not a run report: missing key `version` (and 6 more problem(s))"),
    "steps-5-versioned": (json.dumps({**good_report(), "steps": 5}), "not a run report: `steps`: Input should be a valid list"),
    "step-unknown-key": (json.dumps({**good_report(), "steps": [{**good_report()["steps"][0], "x": 1}]}),
                         "not a run report: unknown key `steps.0.x`"),
    "bad-state": (json.dumps({**good_report(), "steps": [{**good_report()["steps"][0], "state": "great"}]}),
                  "not a run report: `steps.0.state`: Input should be 'pending', 'running', 'succeeded', 'unchanged', "
                  "'failed', 'skipped' or 'interrupted'"),
    "truncated": ('{"version": 1, "ok": tr', "not JSON (line 1, column 22: Expecting value)"),
}


@pytest.mark.parametrize("case", sorted(BAD_REPORTS))
def test_a_bad_run_report_fails_the_gate_with_a_clear_error(repo, tmp_path, capsys, case):
    text, expected = BAD_REPORTS[case]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(plan_doc()))
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "good.json").write_text(json.dumps(good_report()))
    (reports / "bad.json").write_text(text)
    code, out, err = cli(capsys, repo, "canary-gate", "--plan", str(plan), "--stage", "prod", "--reports", str(reports))
    assert code == 1
    assert err.startswith(f"error: --reports {reports / 'bad.json'}: {expected}\n"), err
    assert out == ""


def test_a_report_deploy_writes_is_read_back_by_the_gate(repo, tmp_path, capsys):
    from deployer.plan.plan_file import RunReportFile
    from deployer.run.engine import RunReport, State, StepResult

    report = RunReport([StepResult("alpha/staging", "alpha/staging", "staging", State.succeeded)], "t", 1.0)
    from deployer.cli.progress import report_json
    from deployer.redact import Redactor

    text = report_json(report, Redactor(), {"cluster": "alpha", "plan": None, "dry_run": False, "chart_repo": None})
    assert RunReportFile.model_validate_json(text).steps[0].state == "succeeded"


# -- files deployer writes ------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--markdown", "--plan-file"])
@pytest.mark.parametrize("where,expected", [
    ("/nodir/x.md", "cannot write it: the folder /nodir does not exist"),
    ("{tmp}/" + "y" * 300 + ".md", "the file name is too long"),
    ("{tmp}", "it is a folder; name a file"),
])
def test_plan_upgrade_output_files_that_cannot_be_written(repo, tmp_path, capsys, option, where, expected):
    target = where.replace("{tmp}", str(tmp_path))
    code, out, err = cli(capsys, repo, "plan-upgrade", "--changed-files", "config/clusters/alpha/prod.values.yaml",
                         option, target)
    if "{tmp}" in where and where.endswith("}"):
        assert code == 2 and "is a directory" in err  # click refuses a folder itself (dir_okay=False)
        return
    assert code == 1, err
    assert expected in err.splitlines()[0], err


def test_deploy_report_file_in_a_missing_folder_is_refused_before_deploying(repo, tmp_path, capsys):
    code, out, err = cli(capsys, repo, "deploy", "alpha", "--report-file", str(tmp_path / ("z" * 300)))
    assert code == 1
    assert err.splitlines()[0].startswith("error: --report-file ") and "the file name is too long" in err


# -- repositories and kubeconfigs ----------------------------------------------------------------

def test_a_referenced_file_name_over_255_characters_is_a_problem_not_a_crash(tmp_path, capsys):
    root = tmp_path / "repo"
    long_name = "v" * 300 + ".values.yaml"
    make_cluster(root, "alpha", ["staging"], cluster_text=cluster_yaml("alpha", ["staging"]).replace(
        "staging.values.yaml", long_name))
    code, out, err = cli(capsys, root, "validate")
    assert code == 1
    assert "file name is too long" in out + err


def test_a_cluster_that_exists_but_does_not_load_is_broken_not_unknown(tmp_path, capsys):
    root = make_repo(tmp_path / "repo")
    (root / "config" / "clusters" / "alpha" / "cluster.yaml").write_text("name: alpha\nprovider: [oops\n")
    for args in (["status", "alpha"], ["deploy", "alpha", "prod"], ["diff", "alpha", "prod"],
                 ["rollback", "alpha", "prod"], ["health", "alpha", "prod"]):
        code, out, err = cli(capsys, root, *args)
        assert code == 1, (args, err)
        assert "no cluster named" not in err
        assert err.startswith("error: cluster `alpha` is broken: config/clusters/alpha/cluster.yaml:"), (args, err)
    code, out, err = cli(capsys, root, "status", "--no-health", "--output", "json")
    assert code == 1, err  # the cluster could not be read
    rows = json.loads(out)["hubs"]
    assert rows[0]["cluster"] == "alpha" and rows[0]["error"].startswith("cluster `alpha` is broken: ")


def test_an_unknown_cluster_is_still_a_usage_error(tmp_path, capsys):
    root = make_repo(tmp_path / "repo")
    code, out, err = cli(capsys, root, "status", "nosuch")
    assert code == 2 and err.startswith("error: no cluster named `nosuch`")


def test_an_empty_root_is_refused(tmp_path, capsys, monkeypatch):
    make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)  # the working directory is a repository: "" must not mean "."
    for value in ("", "   "):
        code = run_app(app, ["--root", value, "validate"])
        out, err = capsys.readouterr()
        assert code == 1 and err == "error: --root is empty\n  hint: pass the path of a repository that has config/clusters\n"


@pytest.mark.parametrize("kubeconfig,expected", [
    ("clusters: 5\n", "kubeconfig.yaml: `clusters` must be a list of named clusters, not int"),
    ("- a\n- b\n", "kubeconfig.yaml: a kubeconfig is a mapping (apiVersion, clusters, contexts, users), not a list"),
    ("clusters: [5]\ncontexts: []\nusers: []\n", "kubeconfig.yaml: `clusters[0]` must be a mapping with `name`"),
    # validate reads the file first, and says so
    ("\xff\xfe", "config/clusters/alpha/kubeconfig.yaml:1:1: byte 0xff is not valid UTF-8"),
    ("a: [\n", "config/clusters/alpha/kubeconfig.yaml:2:1: YAML syntax: did not find expected node content"),
])
@pytest.mark.parametrize("command", ["status", "health"])
def test_a_malformed_kubeconfig_is_a_clear_error(tmp_path, capsys, monkeypatch, kubeconfig, expected, command):
    require_tool("helm")
    root = tmp_path / "repo"
    text = cluster_yaml("alpha", ["prod"], provider="kubeconfig").replace("enc-kubeconfig.secret.yaml", "kubeconfig.yaml")
    folder = make_cluster(root, "alpha", ["prod"], cluster_text=text)
    (folder / "kubeconfig.yaml").write_bytes(kubeconfig.encode("latin-1") if "\xff" in kubeconfig else kubeconfig.encode())
    code, out, err = cli(capsys, root, command, "alpha", *(["--output", "json"] if command == "status" else []))
    assert code == 1
    assert expected in out + err, out + err


# -- special files named by the user (issue 22) ----------------------------------------------------

@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", ["deploy", "canary-gate"])
def test_a_fifo_named_as_the_plan_is_refused_not_waited_on(repo, tmp_path, capsys, command):
    import os

    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    args = ["deploy", "--plan", str(fifo)] if command == "deploy" else ["canary-gate", "--plan", str(fifo), "--stage", "prod"]
    code, out, err = cli(capsys, repo, *args)
    assert code == 1, err
    assert err == f"error: --plan {fifo}: not a regular file (a FIFO); name a file\n"


@pytest.mark.timeout(30)
def test_a_fifo_among_the_reports_is_refused_not_waited_on(repo, tmp_path, capsys):
    import os

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(plan_doc()))
    reports = tmp_path / "reports"
    reports.mkdir()
    os.mkfifo(reports / "stuck.json")
    code, out, err = cli(capsys, repo, "canary-gate", "--plan", str(plan), "--stage", "prod", "--reports", str(reports))
    assert code == 1, err
    assert err == f"error: --reports {reports / 'stuck.json'}: not a regular file (a FIFO); name a file\n"


def test_a_reports_folder_that_does_not_exist_is_an_error_not_an_empty_gate(repo, tmp_path, capsys):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(plan_doc()))
    code, out, err = cli(capsys, repo, "canary-gate", "--plan", str(plan), "--stage", "prod",
                         "--reports", str(tmp_path / "nonexistent"))
    assert code == 2, err
    assert err == (f"error: --reports {tmp_path / 'nonexistent'}: no such folder\n"
                   "  hint: name the folder the earlier stages' run reports were put in (an empty folder when "
                   "none ran)\n")
    assert out == ""


def test_a_symlink_loop_named_as_the_plan_says_it_is_a_loop(repo, tmp_path, capsys):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    code, out, err = cli(capsys, repo, "deploy", "--plan", str(loop))
    assert code == 1, err
    assert err == f"error: --plan {loop}: cannot read it: a symbolic link loop\n"
