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


# -- every option checked before anything is written; YAML by the library; never outside -------

def snapshot(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("args,expected", [
    (["--hub", "Bad_Hub"], "generate cluster: --hub: hub name `Bad_Hub` must be 1-40 lowercase letters"),
    (["--hub", "a", "--hub", "a"], "generate cluster: --hub: hub `a` is named more than once"),
    (["--hub", "../../../../escape-hub"], "generate cluster: --hub: hub name `../../../../escape-hub` must be"),
    (["--hub", "x/y"], "generate cluster: --hub: hub name `x/y` must be"),
    (["--hub", ""], "generate cluster: --hub: hub name `` must be"),
    (["--domain", "bad domain!"], "generate cluster: --domain: `bad domain!` is not a domain name"),
    (["--domain", "hub.example.org\nx: 1"], "generate cluster: --domain: `hub.example.org\nx: 1` is not a domain name"),
    (["--domain", "https://hub.example.org"], "generate cluster: --domain: `https://hub.example.org` is not a domain"),
    (["--region", "us-west-2\nprovider_url: https://evil.example"],
     "generate cluster: --region: control characters (such as a newline) are not allowed"),
    (["--region", "us west"], "generate cluster: --region: `us west` is not a region or zone"),
    (["--region", "'; rm -rf /"], "generate cluster: --region: `'; rm -rf /` is not a region or zone"),
    (["--account", "12345678901\n"], "generate cluster: --account: control characters"),
    (["--state-bucket", "Bad Bucket"], "generate cluster: --state-bucket: `Bad Bucket` is not a bucket name"),
    (["--state-bucket", "b\tx"], "generate cluster: --state-bucket: `b\tx` is not a bucket name"),
    (["--project", "my-project-42"], "generate cluster: options: --project is for --provider gcp, not aws"),
])
def test_bad_options_are_refused_before_anything_is_written(tmp_path, capsys, args, expected):
    root = new_root(tmp_path)
    before = snapshot(tmp_path)
    code = run(root, "generate", "cluster", "fresh", "--provider", "aws", "--account", "123456789012",
               "--age-recipient", "age1" + "q" * 58, *args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: {expected}"), err
    assert "Traceback" not in err and "internal error" not in err
    assert snapshot(tmp_path) == before  # nothing written, inside or outside the repository


def test_a_domain_another_hub_uses_is_refused(tmp_path, age_key, capsys):
    key, recipient = age_key
    root = new_root(tmp_path)
    assert run(root, "generate", "cluster", "one", "--provider", "azure", "--age-recipient", recipient,
               "--domain", "hub.example.org") == 0
    before = snapshot(tmp_path)
    assert run(root, "generate", "cluster", "two", "--provider", "azure", "--age-recipient", recipient,
               "--domain", "hub.example.org") == 1
    assert "domain(s) already used by other hubs: staging.hub.example.org (used by one/staging)" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_a_linked_cluster_folder_is_refused(tmp_path, age_key, capsys):
    key, recipient = age_key
    root = new_root(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "config" / "clusters" / "linked").symlink_to(outside)
    assert run(root, "generate", "cluster", "linked", "--provider", "azure", "--age-recipient", recipient) == 1
    assert "exists and is not a plain folder" in capsys.readouterr().err
    assert list(outside.iterdir()) == []


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,12}[a-z0-9])?", fullmatch=True)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=label, provider=st.sampled_from(["gcp", "aws", "azure"]), chart=st.sampled_from(["basehub", "daskhub"]),
       hubs=st.lists(label, min_size=1, max_size=4, unique=True), domain=st.one_of(
           st.none(), st.lists(label, min_size=2, max_size=4).map(".".join)),
       region=st.one_of(st.none(), st.sampled_from(["us-west-2", "eu-central-1", "us-central1-b", "eastus", "ap-south-1"])))
def test_any_valid_options_give_a_cluster_that_validates(tmp_path_factory, age_key, name, provider, chart, hubs, domain,
                                                          region):
    import io
    from contextlib import redirect_stderr, redirect_stdout

    key, recipient = age_key
    root = new_root(tmp_path_factory.mktemp("hyp"))
    args = ["generate", "cluster", name, "--provider", provider, "--chart", chart, "--age-recipient", recipient,
            *PROVIDER_ARGS[provider]]
    for hub in hubs:
        args += ["--hub", hub]
    if domain:
        args += ["--domain", domain]
    if region:
        args += ["--region", region]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run(root, *args)
    assert code == 0, err.getvalue()
    report = validate(root).report
    assert report.errors == [], report.errors
    assert sorted(h.name for h in validate(root).docs[0].model.hubs) == sorted(hubs)
    assert snapshot(root) == sorted({"config", "config/clusters", f"config/clusters/{name}",
                                     *(f"config/clusters/{name}/{f}" for f in (
                                         "cluster.yaml", "support.values.yaml", "enc-deployer-credentials.secret.json",
                                         *(f"{h}.values.yaml" for h in hubs),
                                         *(f"enc-{h}.secret.values.yaml" for h in hubs)))})
