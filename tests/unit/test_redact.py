"""The redactor: every escaped and encoded form of a secret, whole values only, short secrets,
and the logging path (records from any library, with --verbose) never carrying a secret."""

from __future__ import annotations

import base64
import json
import logging
import shlex

import pytest
import yaml
from ruamel.yaml import YAML

from deployer.redact import MARKER, Redactor, install_log_redaction

QUOTE = 'S3cr3t-CANARY-q"u\'o\\te'
TAB = "S3cr3t-CANARY-t\tab\nnewline"
UNICODE = "S3cr3t-CANARY-ünï€😀"
MEDIUM = "hunter2x"  # a short, word-like password (token rule)
SHORT = "abc"
ALL = [QUOTE, TAB, UNICODE, MEDIUM, SHORT]


def _ruamel_dq(value: str) -> str:
    import io

    y = YAML()
    y.default_style = '"'
    out = io.StringIO()
    y.dump({"k": value}, out)
    return out.getvalue()


def forms_in_the_wild(secret: str) -> list[str]:
    """Texts in which tools and serializers show `secret`."""
    b64 = base64.b64encode(secret.encode()).decode()
    return [
        secret,
        f"value: {secret}",
        json.dumps({"k": secret}),
        json.dumps({"k": secret}, ensure_ascii=False),
        json.dumps({"outer": json.dumps({"k": secret})}),  # a JSON string inside a JSON report
        json.dumps({"k": secret}).replace("<", "\\u003c"),
        yaml.safe_dump({"k": secret}, width=10**6),
        yaml.safe_dump({"k": secret}, allow_unicode=True, width=10**6),
        yaml.safe_dump({"k": secret}, default_style='"', width=10**6),
        _ruamel_dq(secret),
        repr(secret),
        repr([secret]),
        ascii(secret),
        shlex.quote(secret),
        f"data:\n  token: {b64}\n",
    ] + embedded(secret)


def embedded(secret: str) -> list[str]:
    """Texts where the secret is part of a longer word (base64 of a larger text, a shell word)."""
    return [
        shlex.join(["helm", f"--set=k={secret}"]),
        base64.b64encode(f"prefix {secret} suffix".encode()).decode(),
        base64.urlsafe_b64encode(f"xx{secret}".encode()).decode(),
    ]


@pytest.mark.parametrize("secret", ALL, ids=["quotes", "tab-newline", "unicode", "medium", "short"])
def test_every_form_of_a_secret_is_redacted(secret):
    r = Redactor([secret])
    for text in forms_in_the_wild(secret):
        if len(secret) < 4 and text in embedded(secret):
            continue  # a 3-character secret inside a longer word is not redacted (module notes)
        out = r(text)
        assert MARKER in out, (text, out)
        for needle in _needles(secret):
            assert needle not in out, (needle, text, out)


def _needles(secret: str) -> list[str]:
    out = [secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
           base64.b64encode(secret.encode()).decode().rstrip("=")]
    return [n for n in out if len(n) >= 3]


def test_whole_values_only_host_names_and_words_are_left_alone():
    r = Redactor(["uw", "example", "cloud"])
    text = "hub at k8s.uw.example.edu, https://cloud-hub.example.edu/hub; my-cloud and cloudy"
    assert r(text) == text


def test_medium_secret_redacted_as_a_token_wherever_it_stands():
    r = Redactor([MEDIUM])
    assert r(f"password={MEDIUM}.") == f"password={MARKER}."
    assert r(f"{MEDIUM}\n") == f"{MARKER}\n"
    assert r(f"url https://u:{MEDIUM}@db/x") == f"url https://u:{MARKER}@db/x"
    assert r(f"not-{MEDIUM}-part of x{MEDIUM}") == f"not-{MEDIUM}-part of x{MEDIUM}"


def test_long_secret_redacted_even_inside_a_word():
    secret = "S3cr3t-CANARY-0123456789"
    r = Redactor([secret])
    assert r(f"k8s.{secret}.example.edu and x{secret}y") == f"k8s.{MARKER}.example.edu and x{MARKER}y"


def test_short_secret_redacted_only_as_a_whole_value():
    r = Redactor([SHORT])
    assert r("        value: abc") == f"        value: {MARKER}"
    assert r('{"value": "abc", "x": 1}') == f'{{"value": "{MARKER}", "x": 1}}'
    assert r("PASSWORD=abc\n") == f"PASSWORD={MARKER}\n"
    assert r("  - abc") == f"  - {MARKER}"
    assert r("the abc of it; abcd; xabc: 1") == "the abc of it; abcd; xabc: 1"


def test_the_application_is_the_one_door_its_runner_shares_its_redactor_and_nothing_is_process_wide():
    from deployer.application import Application

    secret = "S3cr3t-CANARY-app-feed"
    app, other = Application(), Application()
    app.runner.redactor.add(secret)
    assert app.redact(f"error: {secret}") == f"error: {MARKER}"
    assert other.redact(f"error: {secret}") == f"error: {secret}"  # another invocation knows nothing of it
    assert Redactor()(f"error: {secret}") == f"error: {secret}"


def test_log_records_from_any_library_are_redacted_and_bodies_held_back(capsys):
    secret = "S3cr3t-CANARY-log-record"
    install_log_redaction(verbose=True, redactor=Redactor([secret]))
    logging.getLogger("deployer.test").debug("value %s and %r", secret, {"k": secret})
    logging.getLogger("kubernetes.client.rest").debug("response body: %s", json.dumps({"env": secret}))
    logging.getLogger("urllib3.connectionpool").debug("GET /api %s", secret)
    try:
        raise ValueError(f"boom {secret}")
    except ValueError:
        logging.getLogger("deployer.test").debug("failed", exc_info=True)
    err = capsys.readouterr().err
    assert "value [REDACTED] and {'k': '[REDACTED]'}" in err
    assert "ValueError: boom [REDACTED]" in err
    assert "response body" not in err and "GET /api" not in err
    assert secret not in err
    assert logging.getLogger("kubernetes").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING
    install_log_redaction(verbose=False, redactor=Redactor())
    logging.getLogger("deployer.test").warning("after %s", secret)  # the next invocation's redactor only
    assert capsys.readouterr().err == f"WARNING deployer.test: after {secret}\n"


def test_print_error_redacts(capsys):
    from deployer.cli.app import print_error
    from deployer.errors import DeployerError

    from deployer.application import Application

    secret = 'S3cr3t-CANARY-"print"'
    app = Application()
    app.runner.redactor.add(secret)
    print_error(DeployerError(f"helm said {json.dumps(secret)}", hint=f"see {secret}"), app)
    err = capsys.readouterr().err
    assert err == f'error: helm said "{MARKER}"\n  hint: see {MARKER}\n'


def test_operating_commands_register_every_secret_of_the_hubs_before_any_call(tmp_path, monkeypatch):
    """rollback/health/diff/status decrypt the hubs' sops files first (register_secrets), so an API
    server's error quoting a value is redacted even though nothing else decrypted it."""
    import subprocess

    from deployer.adapters.process import ProcessRunner
    from deployer.adapters.sops import Sops
    from deployer.checks.validate import validate
    from deployer.run.hub_secrets import register_secrets
    from tests.conftest import require_tool
    from tests.repo_builder import cluster_yaml, make_cluster

    keygen, sops = require_tool("age-keygen"), require_tool("sops")
    key = tmp_path / "key.txt"
    subprocess.run([str(keygen), "-o", str(key)], check=True, capture_output=True, timeout=30)
    recipient = next(line.split(": ")[1] for line in key.read_text().splitlines() if "public key" in line)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    root = tmp_path / "repo"
    text = cluster_yaml("alpha", ["prod"]).replace("  - prod.values.yaml\n",
                                                   "  - prod.values.yaml\n  - enc-prod.secret.values.yaml\n")
    folder = make_cluster(root, "alpha", ["prod"], cluster_text=text)
    secret = 'S3cr3t-CANARY-"registered"'
    enc = folder / "enc-prod.secret.values.yaml"
    enc.write_text(f"jupyterhub:\n  hub:\n    password: {json.dumps(secret)}\n")
    subprocess.run([str(sops), "--disable-version-check", "encrypt", "--age", recipient, "--in-place", str(enc)],
                   check=True, capture_output=True, timeout=60)
    cluster = next(d.model for d in validate(root).docs if d.folder_name == "alpha")
    error = f'Deployment.apps "hub" is invalid: Invalid value: {json.dumps(secret)}'
    runner = ProcessRunner()
    assert runner.redactor(error) == error  # nothing registered yet
    assert register_secrets(root, cluster, ["prod"], Sops(runner)) == 1
    assert runner.redactor(error) == f'Deployment.apps "hub" is invalid: Invalid value: "{MARKER}"'


def test_each_line_of_a_multi_line_secret_is_redacted_on_its_own():
    """A private key printed one line at a time (a log, an error quoting a line) is still hidden."""
    from deployer.redact import Redactor

    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB\n-----END KEY-----"
    redactor = Redactor([key])
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in redactor("line 2: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
    assert "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB" not in redactor("error at BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB here")
    assert key not in redactor(f"whole: {key}")


REPR_NOT_JSON = "k9'Xq\"2v!Zr#8Lm@pW"  # holds both quotes: its repr escapes `'`, its JSON escape `"`


@pytest.mark.parametrize("secret", [REPR_NOT_JSON, QUOTE, TAB, UNICODE])
def test_a_repr_or_yaml_form_inside_a_json_string_is_redacted(secret):
    r = Redactor([secret])
    messages = [f"spec.hostNetwork: {secret!r} is not of type 'boolean'", f"value {ascii(secret)} refused",
                f"got {json.dumps(secret)}", yaml.safe_dump({"k": secret}, default_style='"', width=10**6)]
    for message in messages:
        for text in (json.dumps({"message": message}), json.dumps({"message": message}, ensure_ascii=False),
                     json.dumps({"m": message}).replace("<", "\\u003c")):
            out = r(text)
            assert MARKER in out, text
            for piece in (secret, "Zr#8Lm@pW", "CANARY"):
                if piece in secret:
                    assert piece not in out, (text, out)


def test_structured_output_is_redacted_before_it_is_serialised():
    from deployer.redact import dumps_redacted, redact_data

    r = Redactor([REPR_NOT_JSON, "123456789"])
    data = {"problems": [{"message": f"{REPR_NOT_JSON!r} is not a bool"}], REPR_NOT_JSON: 123456789, "n": 3}
    assert redact_data(data, r) == {"problems": [{"message": f"'{MARKER}' is not a bool"}], MARKER: MARKER, "n": 3}
    text = dumps_redacted(data, r, indent=2)
    assert "Zr#8Lm@pW" not in text and "123456789" not in text and json.loads(text)["n"] == 3
