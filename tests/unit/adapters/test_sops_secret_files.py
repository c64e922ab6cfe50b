"""Decrypted credential files (kubeconfigs, service-account keys): what of them is registered as
a secret (tokens, keys, passwords, private parts), and what is not (names, URLs). Real sops and age."""

from __future__ import annotations

import json
import subprocess

import pytest

from deployer.adapters.clouds import kubeconfig as kubeconfig_provider
from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.redact import MARKER
from tests.conftest import REPO, require_tool

AGE_KEY = REPO / "config" / "example-age-key.txt"
RECIPIENT = next(line.split(": ")[1] for line in AGE_KEY.read_text().splitlines() if "public key" in line)
TOKEN = "kc-token-9f8e7d6c5b4a39281706"
KEY_DATA = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2Z0lCQURBTkJna3Foa2lHOXcw"
PASSWORD = "pw-Zr8Lm2vQx"


def encrypted(path, text: str) -> None:
    path.write_text(text)
    subprocess.run([str(require_tool("sops")), "--disable-version-check", "encrypt", "--age", RECIPIENT, "--in-place",
                    str(path)], check=True, capture_output=True, timeout=60)


@pytest.fixture
def sops(monkeypatch):
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    return Sops(ProcessRunner())


def test_a_decrypted_kubeconfig_registers_its_credentials_not_its_names_and_urls(tmp_path, sops):
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": "deployer",
        "clusters": [{"name": "deployer", "cluster": {"server": "https://k8s.example.org:6443",
                                                      "certificate-authority-data": "Q0EtZGF0YS1wdWJsaWM="}}],
        "contexts": [{"name": "deployer", "context": {"cluster": "deployer", "user": "deployer",
                                                      "namespace": "tools"}}],
        "users": [{"name": "deployer", "user": {"token": TOKEN, "client-key-data": KEY_DATA,
                                                "username": "admin", "password": PASSWORD}}],
    }
    file = tmp_path / "enc-deployer-credentials.secret.yaml"
    encrypted(file, json.dumps(kubeconfig))
    with kubeconfig_provider.access(file, sops) as access:
        assert access.kubeconfig.exists()
    line = "deployer local status: https://k8s.example.org:6443 (namespace tools, ~/.cache/deployer/tools, admin)"
    assert sops.runner.redactor(line) == line
    for secret in (TOKEN, KEY_DATA, PASSWORD):
        assert sops.runner.redactor(f"it said {secret}.") == f"it said {MARKER}."


def test_a_decrypted_values_file_registers_every_value(tmp_path, sops):
    file = tmp_path / "enc-hub.secret.values.yaml"
    encrypted(file, "jupyterhub:\n  hub:\n    config:\n      user: deployer-admin\n      password: hunter2x\n")
    sops.decrypt_data(file)
    assert sops.runner.redactor("deployer-admin hunter2x") == f"{MARKER} {MARKER}"


def alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["enc-hub.secret.values.yaml", "enc-key.secret.json"])
def test_sops_is_never_handed_a_file_the_safe_loader_refuses(tmp_path, name):
    from deployer.adapters.sops import SopsError

    file = tmp_path / name
    if name.endswith(".json"):
        file.write_text('{"a": 1, "a": 2, "sops": {"version": "3.11.0"}}')
    else:
        file.write_text(alias_bomb() + "sops:\n  version: 3.11.0\n  mac: ENC[AES256_GCM,data:AA,iv:AA,tag:AA,type:str]\n")
    sops = Sops(ProcessRunner(), binary=tmp_path / "no-sops-here")  # reached, it would be ToolMissing
    with pytest.raises(SopsError) as caught:
        sops.decrypt_text(file)
    assert caught.value.message.startswith(f"{name}: refused, not decrypted: ")
    assert "run `deployer validate`" in caught.value.hint


def test_sops_is_never_handed_a_fifo(tmp_path):
    import os

    from deployer.adapters.sops import SopsError

    fifo = tmp_path / "enc-hub.secret.values.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SopsError) as caught:
        Sops(ProcessRunner(), binary=tmp_path / "no-sops-here").decrypt_text(fifo)
    assert "not a regular file" in caught.value.message
