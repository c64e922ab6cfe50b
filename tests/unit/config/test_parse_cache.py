"""The parse cache: a second `validate` of an unchanged repository parses nothing again, and it
never changes what validation finds (deployer.config.parse_cache)."""

from __future__ import annotations

import os
from pathlib import Path

from deployer.checks.validate import validate
from deployer.cli import app
from deployer.cli.app import run_app
from deployer.config import parse_cache
from deployer.config.parse_cache import ParseCache
from tests.repo_builder import make_repo


def run(root: Path, cache_root: Path):
    cache = ParseCache.for_repository(root, cache_root)
    report = validate(root, parse_cache=cache).report
    cache.save()
    return report, cache


def findings(report) -> list[tuple]:
    return [(p.file, p.line, p.column, p.code, p.message) for p in report.problems]


def test_a_second_run_of_an_unchanged_repository_parses_nothing_and_finds_the_same(tmp_path):
    root = make_repo(tmp_path / "repo", {"alpha": ["staging", "prod"]})
    # refused by name, with its line: positions are kept too
    (root / "config/clusters/alpha/prod.values.yaml").write_text("jupyterhub: {}\nbinderhub-service:\n  enabled: true\n")
    first, cache1 = run(root, tmp_path / "cache")
    second, cache2 = run(root, tmp_path / "cache")
    assert cache1.hits == 0 and cache1.misses > 0
    assert (cache2.hits, cache2.misses) == (cache1.misses, 0)
    assert findings(second) == findings(first)
    assert [f[:4] for f in findings(first)] == [("config/clusters/alpha/prod.values.yaml", 3, 3, "binderhub-registry-missing")]


def test_an_edited_file_is_parsed_again(tmp_path):
    root = make_repo(tmp_path / "repo", {"alpha": ["staging"]})
    values = root / "config/clusters/alpha/staging.values.yaml"
    assert run(root, tmp_path / "cache")[0].ok
    values.write_text("- not\n- a mapping\n")
    report, cache = run(root, tmp_path / "cache")
    assert cache.misses == 1
    assert not report.ok


def test_a_secret_left_in_clear_text_is_never_written_to_the_cache(tmp_path):
    root = make_repo(tmp_path / "repo", {"alpha": ["staging"]})
    folder = root / "config/clusters/alpha"
    (folder / "enc-staging.secret.values.yaml").write_text("password: plain-CANARY-7f3a91\n")
    cluster = folder / "cluster.yaml"
    cluster.write_text(cluster.read_text().replace("  - staging.values.yaml\n",
                                                   "  - staging.values.yaml\n  - enc-staging.secret.values.yaml\n"))
    report, cache = run(root, tmp_path / "cache")
    assert "plaintext-secret" in [p.code for p in report.errors]
    stored = cache.path.read_bytes()
    assert b"plain-CANARY-7f3a91" not in stored
    assert b"bogus" not in stored and b"staging" in stored  # the other files are there


def test_a_corrupt_cache_or_one_of_another_parser_is_ignored(tmp_path, monkeypatch):
    root = make_repo(tmp_path / "repo", {"alpha": ["staging"]})
    report, cache = run(root, tmp_path / "cache")
    cache.path.write_bytes(b"\x00garbage")
    again, cache2 = run(root, tmp_path / "cache")
    assert (cache2.hits, findings(again)) == (0, findings(report))
    monkeypatch.setattr(parse_cache, "_parser_id", lambda: b"another parser")
    third, cache3 = run(root, tmp_path / "cache")
    assert (cache3.hits, findings(third)) == (0, findings(report))


def test_validate_never_writes_into_the_repository_and_no_cache_writes_nothing(tmp_path, monkeypatch, capsys):
    root = make_repo(tmp_path / "repo", {"alpha": ["staging"]})
    monkeypatch.setenv("DEPLOYER_CACHE_DIR", str(tmp_path / "cache"))
    before = sorted(p for p in root.rglob("*"))
    assert run_app(app, ["--root", str(root), "validate", "--no-cache"]) == 0
    assert not (tmp_path / "cache").exists()
    assert run_app(app, ["--root", str(root), "validate"]) == 0
    assert sorted(p for p in root.rglob("*")) == before
    assert [p.name for p in (tmp_path / "cache" / "parsed").iterdir()] == [ParseCache.for_repository(
        root, tmp_path / "cache").path.name]
    capsys.readouterr()


def test_only_the_most_recent_repositories_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(parse_cache, "MAX_REPOSITORIES", 2)
    paths = []
    for i in range(3):
        root = make_repo(tmp_path / f"repo{i}", {"alpha": ["staging"]})
        paths.append(run(root, tmp_path / "cache")[1].path)
        os.utime(paths[-1], (1000 + i, 1000 + i))
    assert sorted((tmp_path / "cache" / "parsed").iterdir()) == sorted(paths[1:])


def test_a_file_edited_to_other_bytes_of_the_same_size_is_parsed_again(tmp_path):
    """The key is the file's content, not its size (nor its time)."""
    root = make_repo(tmp_path / "repo", {"alpha": ["staging"]})
    values = root / "config/clusters/alpha/staging.values.yaml"
    values.write_text("jupyterhub:\n  custom:\n    name: aaaaa\n")
    assert run(root, tmp_path / "cache")[0].ok
    values.write_text("jupyterhub:\n  custom:\n    name: bbbbb\n")
    report, cache = run(root, tmp_path / "cache")
    assert cache.misses == 1 and report.ok
