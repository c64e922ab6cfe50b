"""`deployer validate` on small repositories that each test builds for itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deployer.checks.validate import validate
from deployer.cli import app
from deployer.cli.app import run_app
from tests.repo_builder import cluster_yaml, encrypted_yaml, make_cluster, make_repo


def codes(root: Path, *args) -> list[str]:
    return [p.code for p in validate(root, *args).report.errors]


def cli(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    code = run_app(app, ["--root", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_repository_passes(tmp_path, capsys):
    make_repo(tmp_path, {"alpha": ["staging", "prod"], "beta": ["staging"]})
    code, out, err = cli(capsys, tmp_path, "validate")
    assert code == 0, out + err
    assert "0 error(s)" in out and "2 cluster(s), 3 hub(s)" in out


def test_validate_reports_every_hub_not_only_the_first(tmp_path):
    text = cluster_yaml("alpha", ["staging", "prod", "extra"]).replace("  domain: prod.alpha.example.org\n", "").replace(
        "  domain: extra.alpha.example.org\n", "  domian: extra.alpha.example.org\n"
    )
    make_cluster(tmp_path, "alpha", ["staging", "prod", "extra"], cluster_text=text)
    problems = validate(tmp_path).report.errors
    found = {(p.code, p.line) for p in problems}
    assert ("missing-key", 12) in found  # the second hub, at its `- name:` line
    assert any(p.code == "unknown-key" and "did you mean `domain`" in (p.hint or "") for p in problems)  # the third


def test_unknown_key_gets_a_did_you_mean_hint_and_its_line(tmp_path):
    make_cluster(tmp_path, "alpha", cluster_text=cluster_yaml("alpha", extra="suport:\n  helm_chart_values_files: []\n"))
    (p,) = [p for p in validate(tmp_path).report.errors if p.code == "unknown-key"]
    assert p.line == 17 and p.column == 1
    assert "did you mean `support`?" in p.hint


def test_wrong_type_names_the_expected_type(tmp_path):
    text = cluster_yaml("alpha").replace("helm_chart_values_files:\n  - staging.values.yaml", "helm_chart_values_files: staging.values.yaml")
    make_cluster(tmp_path, "alpha", cluster_text=text)
    (p,) = validate(tmp_path).report.errors
    assert p.code == "wrong-type" and "expected a list" in p.message and "got the string" in p.message
    assert p.line == 10


def test_bad_provider_suggests_the_closest(tmp_path):
    make_cluster(tmp_path, "alpha", cluster_text=cluster_yaml("alpha").replace("provider: local", "provider: gpc"))
    (p,) = validate(tmp_path).report.errors
    assert p.code == "bad-value" and "did you mean `gcp`" in p.hint and p.line == 2


def test_cross_field_rules(tmp_path):
    text = cluster_yaml("alpha", ["staging", "staging", "Bad_Name"]).replace("name: alpha", "name: alfa")
    make_cluster(tmp_path, "alpha", ["staging", "Bad_Name"], cluster_text=text)
    found = codes(tmp_path)
    assert "name-mismatch" in found and "duplicate-hub" in found and "bad-name" in found


def test_domains_unique_across_clusters(tmp_path):
    make_cluster(tmp_path, "alpha", ["staging"])
    make_cluster(tmp_path, "beta", ["staging"], cluster_text=cluster_yaml("beta", ["staging"]).replace(
        "staging.beta.example.org", "STAGING.alpha.example.org"))
    problems = [p for p in validate(tmp_path).report.errors if p.code == "duplicate-domain"]
    assert len(problems) == 1 and "alpha/staging" in problems[0].message
    # still found when only the second cluster is validated
    assert "duplicate-domain" in codes(tmp_path, "beta")


def test_provider_block_must_match_provider(tmp_path):
    text = cluster_yaml("alpha").replace("provider: local", "provider: aws\ngcp:\n  key: k.json\n  project: p\n  cluster: c\n  zone: z")
    make_cluster(tmp_path, "alpha", cluster_text=text)
    found = codes(tmp_path)
    assert "provider-block-missing" in found and "provider-block-mismatch" in found


@pytest.mark.parametrize(
    "ref, code",
    [("missing.values.yaml", "missing-file"), ("/etc/passwd", "path-outside"), ("../beta/x.values.yaml", "path-outside"),
     ("sub", "not-a-file")],
)
def test_referenced_files_must_be_regular_files_inside_the_cluster_folder(tmp_path, ref, code):
    folder = make_cluster(tmp_path, "alpha")
    (folder / "sub").mkdir()
    text = cluster_yaml("alpha").replace("- staging.values.yaml", f"- {ref}")
    (folder / "cluster.yaml").write_text(text)
    problems = validate(tmp_path).report.errors
    assert [p.code for p in problems] == [code]
    assert problems[0].file.endswith("cluster.yaml") and problems[0].line == 11


def test_symlink_out_of_the_repository_is_refused(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("a: 1\n")
    repo = tmp_path / "repo"
    folder = make_cluster(repo, "alpha")
    (folder / "staging.values.yaml").unlink()
    os.symlink(outside, folder / "staging.values.yaml")
    (p,) = validate(repo).report.errors
    assert p.code == "path-outside" and "symlink" in p.message


def test_missing_file_suggests_a_close_name(tmp_path):
    folder = make_cluster(tmp_path, "alpha")
    (folder / "cluster.yaml").write_text(cluster_yaml("alpha").replace("- staging.values.yaml", "- stagign.values.yaml"))
    (p,) = validate(tmp_path).report.errors
    assert "did you mean `staging.values.yaml`" in p.hint


def test_plaintext_secret_is_an_error_and_its_content_is_never_printed(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha")
    (folder / "cluster.yaml").write_text(cluster_yaml("alpha").replace("- staging.values.yaml", "- staging.values.yaml\n  - enc-staging.secret.values.yaml"))
    (folder / "enc-staging.secret.values.yaml").write_text("password: hunter2-very-secret\n")
    code, out, err = cli(capsys, tmp_path, "validate")
    assert code == 1 and "plaintext-secret" in out
    code, out2, err2 = cli(capsys, tmp_path, "validate", "--output", "json")
    assert "hunter2" not in out + err + out2 + err2


def test_secret_with_syntax_error_does_not_leak_its_content(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha")
    (folder / "staging.values.yaml").write_text("token: [hunter2-very-secret\n")
    code, out, err = cli(capsys, tmp_path, "validate")
    assert code == 1 and "hunter2" not in out + err


def test_encrypted_file_needs_a_secret_name_and_no_cleartext_values(tmp_path):
    folder = make_cluster(tmp_path, "alpha")
    # (values under `jupyterhub:`, a key of the basehub chart these hubs use)
    (folder / "staging.values.yaml").write_text(encrypted_yaml("jupyterhub:\n  secret: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"))
    (folder / "prod.values.yaml").unlink()
    (folder / "enc-prod.secret.values.yaml").write_text(encrypted_yaml(
        "jupyterhub:\n  a: ENC[AES256_GCM,data:AA,iv:AA,tag:AA,type:str]\n  b: added-by-hand\n"))
    (folder / "cluster.yaml").write_text(cluster_yaml("alpha").replace("- prod.values.yaml", "- enc-prod.secret.values.yaml"))
    problems = validate(tmp_path).report.errors
    assert {p.code for p in problems} == {"secret-name", "plaintext-in-encrypted"}
    (p,) = [p for p in problems if p.code == "plaintext-in-encrypted"]
    assert "b" in p.message and "added-by-hand" not in p.message


def test_unreferenced_files_are_warnings_that_do_not_fail(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha")
    (folder / "old.values.yaml").write_text("a: 1\n")
    (folder / "README.md").write_text("notes\n")
    report = validate(tmp_path).report
    assert report.ok and [p.code for p in report.warnings] == ["unreferenced-file"]
    assert cli(capsys, tmp_path, "validate")[0] == 0
    assert cli(capsys, tmp_path, "validate", "--strict")[0] == 1


def test_unknown_chart_lists_known_ones_and_remote_charts_are_accepted(tmp_path):
    folder = make_cluster(tmp_path, "alpha")
    text = cluster_yaml("alpha").replace("helm_chart: basehub", "helm_chart: basehb", 1)
    text = text.replace("helm_chart: basehub", "helm_chart:\n    name: jupyterhub\n    repository: https://hub.jupyter.org/helm-chart/\n    version: 4.1.0")
    (folder / "cluster.yaml").write_text(text)
    (p,) = validate(tmp_path).report.errors
    assert p.code == "unknown-chart" and "did you mean `basehub`" in p.hint


def test_remote_chart_without_version_is_an_error(tmp_path):
    folder = make_cluster(tmp_path, "alpha")
    text = cluster_yaml("alpha").replace("helm_chart: basehub", "helm_chart:\n    name: jupyterhub\n    repository: https://hub.jupyter.org/helm-chart/", 1)
    (folder / "cluster.yaml").write_text(text)
    (p,) = validate(tmp_path).report.errors
    assert p.code == "missing-key" and "`version`" in p.message


def test_cluster_folder_without_cluster_yaml(tmp_path):
    make_repo(tmp_path)
    (tmp_path / "config" / "clusters" / "empty").mkdir()
    assert codes(tmp_path) == ["missing-cluster-file"]


def test_naming_a_cluster_or_hub_validates_only_that(tmp_path, capsys):
    make_repo(tmp_path, {"alpha": ["staging", "prod"], "beta": ["staging"]})
    (tmp_path / "config/clusters/beta/staging.values.yaml").write_text("a: [\n")
    assert cli(capsys, tmp_path, "validate", "alpha")[0] == 0
    assert cli(capsys, tmp_path, "validate", "beta")[0] == 1
    (tmp_path / "config/clusters/alpha/prod.values.yaml").write_text("a: [\n")
    assert cli(capsys, tmp_path, "validate", "alpha", "staging")[0] == 0
    assert cli(capsys, tmp_path, "validate", "alpha", "prod")[0] == 1


def test_unknown_cluster_or_hub_is_a_usage_error_listing_known_ones(tmp_path, capsys):
    make_repo(tmp_path, {"alpha": ["staging", "prod"]})
    code, out, err = cli(capsys, tmp_path, "validate", "nope")
    assert code == 2 and "known clusters: alpha" in err
    code, out, err = cli(capsys, tmp_path, "validate", "alpha", "nope")
    assert code == 2 and "known hubs: staging, prod" in err


def test_no_config_root_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEPLOYER_ROOT", raising=False)
    code = run_app(app, ["validate"])
    out, err = capsys.readouterr()
    assert code == 1 and "no config/clusters folder" in err and "Traceback" not in err


def test_json_output_is_stable_and_machine_readable(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha")
    (folder / "staging.values.yaml").write_text("a: 1\na: 2\n")
    code, out, err = cli(capsys, tmp_path, "validate", "--output", "json")
    assert code == 1, err
    payload = json.loads(out)
    assert payload["ok"] is False
    assert set(payload["summary"]) == {"clusters", "hubs", "files", "errors", "warnings", "seconds"}
    (p,) = payload["problems"]
    assert p == {
        "file": "config/clusters/alpha/staging.values.yaml", "line": 2, "column": 1, "severity": "error",
        "code": "duplicate-key", "message": "duplicate key 'a' (first at line 1)", "hint": p["hint"],
    }


def test_config_schema_is_json_schema_of_the_models(capsys):
    code = run_app(app, ["config", "schema"])
    schema = json.loads(capsys.readouterr().out)
    assert code == 0 and schema["title"] == "deployer cluster.yaml"
    assert {"name", "provider", "hubs", "support"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert "domain" in schema["$defs"]["Hub"]["required"]


@pytest.mark.parametrize("key,value", [("unencrypted_suffix", "[a, b]"), ("encrypted_regex", "5"),
                                       ("unencrypted_regex", "{a: 1}"), ("encrypted_suffix", "[x]")])
@pytest.mark.parametrize("command", [("validate",), ("render", "alpha"), ("deploy", "alpha", "--dry-run")])
def test_sops_metadata_of_the_wrong_type_is_a_problem_naming_the_key_not_a_crash(tmp_path, capsys, key, value, command):
    folder = make_cluster(tmp_path, "alpha")
    text = encrypted_yaml("jupyterhub:\n  a: ENC[AES256_GCM,data:AA,iv:AA,tag:AA,type:str]\n")
    text = text.replace("    unencrypted_suffix: _unencrypted\n", f"    {key}: {value}\n")
    (folder / "enc-prod.secret.values.yaml").write_text(text)
    (folder / "prod.values.yaml").unlink()
    (folder / "cluster.yaml").write_text(cluster_yaml("alpha").replace("- prod.values.yaml", "- enc-prod.secret.values.yaml"))
    line = text.splitlines().index(f"    {key}: {value}") + 1
    code, out, err = cli(capsys, tmp_path, *command)
    assert code == 1, out + err
    assert "internal error" not in out + err and "Traceback" not in out + err
    assert f"enc-prod.secret.values.yaml:{line}" in out + err or f"\n{line:>8}:5  error" in out + err, out + err
    assert f"sops metadata `{key}` must be a string" in out + err, out + err


@pytest.mark.parametrize("target, says", [
    ("prod.values.yaml", "a symbolic link loop"),
    ("gone.values.yaml", "a symbolic link to gone.values.yaml, which does not exist"),
])
def test_a_values_file_that_is_a_broken_symlink_says_so_not_no_such_file(tmp_path, target, says):
    root = make_repo(tmp_path)
    values = root / "config" / "clusters" / "alpha" / "prod.values.yaml"
    values.unlink()
    values.symlink_to(target)
    problems = [p for p in validate(root).report.errors if "prod.values.yaml" in p.message]
    assert [(p.code, p.message, p.hint) for p in problems] == [
        ("missing-file", f"prod.values.yaml: {says}", "make prod.values.yaml a regular file, or a link to one")]
