"""`deployer generate cluster`: the scaffold validates clean, its secrets are really encrypted
(real sops and age), and nothing is ever overwritten."""

from __future__ import annotations

import json
import subprocess

import pytest

from deployer.checks.validate import validate
from tests.conftest import require_tool


@pytest.fixture(scope="module")
def age_key(tmp_path_factory):
    keygen = require_tool("age-keygen")
    require_tool("sops")
    key = tmp_path_factory.mktemp("age") / "key.txt"
    subprocess.run([str(keygen), "-o", str(key)], check=True, capture_output=True, timeout=30)
    recipient = next(line.split(": ")[1] for line in key.read_text().splitlines() if "public key" in line)
    return key, recipient


def run(root, *args) -> int:
    from deployer.cli import app
    from deployer.cli.app import run_app

    return run_app(app, ["--root", str(root), *args])


def new_root(tmp_path):
    root = tmp_path / "repo"
    (root / "config" / "clusters").mkdir(parents=True)
    return root


PROVIDER_ARGS = {"gcp": ["--project", "my-project-42"], "aws": ["--account", "123456789012"], "azure": []}


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_generated_cluster_validates_clean_and_its_secrets_decrypt(provider, tmp_path, age_key, capsys, monkeypatch):
    key, recipient = age_key
    root = new_root(tmp_path)
    assert run(root, "generate", "cluster", "fresh", "--provider", provider, "--age-recipient", recipient,
               *PROVIDER_ARGS[provider]) == 0
    folder = root / "config" / "clusters" / "fresh"
    assert sorted(p.name for p in folder.iterdir()) == sorted([
        "cluster.yaml", "support.values.yaml", "staging.values.yaml", "prod.values.yaml",
        "enc-deployer-credentials.secret.json", "enc-staging.secret.values.yaml", "enc-prod.secret.values.yaml"])
    report = validate(root).report
    assert report.problems == [], report.problems
    cluster = validate(root).docs[0].model
    assert cluster.terraform is not None and cluster.terraform.backend is not None
    assert [h.name for h in cluster.hubs] == ["staging", "prod"]
    # the secrets are encrypted for the recipient, and decrypt with its key
    sops = require_tool("sops")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    for name in ("enc-deployer-credentials.secret.json", "enc-prod.secret.values.yaml"):
        raw = (folder / name).read_text()
        assert recipient in raw and "REPLACE-ME" not in raw  # no clear text in the file
        if name.endswith(".yaml"):
            assert "secretToken: ENC[" in raw
        plain = subprocess.run([str(sops), "--disable-version-check", "decrypt", str(folder / name)],
                               capture_output=True, text=True, timeout=60)
        assert plain.returncode == 0, plain.stderr
    creds = json.loads(subprocess.run([str(sops), "--disable-version-check", "decrypt",
                                       str(folder / "enc-deployer-credentials.secret.json")],
                                      capture_output=True, text=True, timeout=60).stdout)
    assert "REPLACE-ME" in json.dumps(creds)  # a placeholder in the provider's own shape
    out = capsys.readouterr().out
    assert "secretToken" not in out


def test_generate_uses_the_roots_sops_rules_and_never_overwrites(tmp_path, age_key, capsys):
    _, recipient = age_key
    root = new_root(tmp_path)
    (root / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: .*secret.*\n    age: {recipient}\n")
    assert run(root, "generate", "cluster", "beta", "--provider", "aws", "--account", "123456789012") == 0
    folder = root / "config" / "clusters" / "beta"
    assert recipient in (folder / "enc-prod.secret.values.yaml").read_text()
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    (folder / "support.values.yaml").write_text("# mine\n")
    before["support.values.yaml"] = b"# mine\n"
    assert run(root, "generate", "cluster", "beta", "--provider", "aws", "--account", "123456789012") == 1
    err = capsys.readouterr().err
    assert "already has" in err and "nothing was written" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_generate_without_a_recipient_or_with_bad_options_explains(tmp_path, capsys):
    root = new_root(tmp_path)
    assert run(root, "generate", "cluster", "gamma", "--provider", "gcp", "--project", "my-project-42") == 1
    assert "no age recipient" in capsys.readouterr().err
    assert not (root / "config" / "clusters" / "gamma").exists()
    assert run(root, "generate", "cluster", "gamma", "--provider", "aws") == 2
    assert "--account" in capsys.readouterr().err
    assert run(root, "generate", "cluster", "Bad_Name", "--provider", "azure") == 2
    assert run(root, "generate", "cluster", "delta", "--provider", "openstack") == 2
