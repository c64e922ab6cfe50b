"""What a sops failure says (the real sops and age): the reason sops gives for each key, not its
last line ("... at least one key has to be successful, but none were.")."""

from __future__ import annotations

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops, SopsError, sops_failure
from tests.conftest import require_tool
from tests.e2e.operate_repo import encrypt, make_age_key

# what sops 3.x prints when no key decrypts a file (a wrong key, then a missing key file)
WRONG_KEY = """Failed to get the data key required to decrypt the SOPS file.

Group 0: FAILED
  age1vlkv5x0qy7xvk2zja04wjkpdunjecj9ynh56qtgpnrzedcw9k3ysxx8nf7: FAILED
    - | failed to create reader for decrypting sops data key with
      | age: identity did not match any of the recipients: incorrect
      | identity for recipient block. Did not find keys in locations
      | 'SOPS_AGE_SSH_PRIVATE_KEY_FILE', '/root/.ssh/id_ed25519',
      | '/root/.ssh/id_rsa', 'SOPS_AGE_KEY', and 'SOPS_AGE_KEY_CMD'.

Recovery failed because no master key was able to decrypt the file. In
order for SOPS to recover the file, at least one key has to be successful,
but none were.
"""


def test_a_sops_failure_says_why_each_key_failed():
    assert sops_failure(WRONG_KEY) == (
        "Failed to get the data key required to decrypt the SOPS file: age1vlkv5x0q…: failed to create reader for "
        "decrypting sops data key with age: identity did not match any of the recipients: incorrect identity for "
        "recipient block")


def test_an_unknown_failure_keeps_its_lines():
    assert sops_failure("Error: something odd\nand a second line\n") == "Error: something odd; and a second line"
    assert sops_failure("") == "(sops gave no reason)"


@pytest.fixture
def encrypted(tmp_path):
    require_tool("sops")
    _, recipient = make_age_key(tmp_path)
    path = tmp_path / "enc-x.secret.yaml"
    path.write_text("password: hunter2-sops-test\n")
    encrypt(path, recipient)
    return path


def test_decrypting_with_the_wrong_key_says_the_key_does_not_match(tmp_path, encrypted, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    wrong, _ = make_age_key(other)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(wrong))
    with pytest.raises(SopsError) as e:
        Sops(ProcessRunner()).decrypt_text(encrypted)
    assert e.value.message.startswith("enc-x.secret.yaml: sops could not decrypt it: Failed to get the data key "
                                      "required to decrypt the SOPS file: age1")
    assert e.value.message.endswith(": failed to create reader for decrypting sops data key with age: identity did "
                                    "not match any of the recipients: incorrect identity for recipient block")
    assert e.value.hint == "set SOPS_AGE_KEY_FILE to an age key file that can decrypt it (see README: secrets)"


def test_a_key_file_that_does_not_exist_is_named_before_sops_runs(tmp_path, encrypted, monkeypatch):
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "nonexistent"))
    with pytest.raises(SopsError) as e:
        Sops(ProcessRunner()).decrypt_text(encrypted)
    assert e.value.message == f"SOPS_AGE_KEY_FILE={tmp_path / 'nonexistent'}: no such file"
    assert e.value.hint == "point SOPS_AGE_KEY_FILE at your age key file (the path `deployer init` printed), or unset it"


def test_render_with_a_key_file_that_does_not_exist_fails_naming_it(tmp_path, monkeypatch, capsys):
    from deployer.cli import app
    from deployer.cli.app import run_app
    from tests.repo_builder import make_repo

    root = make_repo(tmp_path / "repo")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", "/nonexistent")
    rc = run_app(app, ["--root", str(root), "render", "alpha"])
    captured = capsys.readouterr()
    assert rc == 1, captured.out + captured.err
    assert captured.err == ("error: SOPS_AGE_KEY_FILE=/nonexistent: no such file\n  hint: point SOPS_AGE_KEY_FILE at "
                            "your age key file (the path `deployer init` printed), or unset it\n")
    assert captured.out == ""
