"""`alertRouting` (where Alertmanager sends a cluster's alerts) refused by `deployer validate` when it would not
work: a malformed webhook URL (never shown: it is a secret), a route to a receiver that does not exist, routing
with Alertmanager off, and the alertmanager chart's own `config` (which the support chart does not read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.checks.alert_routing import webhook_url_problem
from deployer.cli import app
from deployer.cli.app import run_app
from tests.repo_builder import encrypted_yaml, make_repo

SECRET = "T000/B000/XXXXSECRETPART"


def validate(capsys, tmp_path: Path, support: str, extra: dict[str, str] | None = None) -> tuple[int, str]:
    make_repo(tmp_path)
    folder = tmp_path / "config" / "clusters" / "alpha"
    (folder / "support.values.yaml").write_text(support)
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
        cluster = (folder / "cluster.yaml").read_text()
        (folder / "cluster.yaml").write_text(cluster.replace("  - support.values.yaml\n",
                                                             f"  - support.values.yaml\n  - {name}\n", 1))
    code = run_app(app, ["--root", str(tmp_path), "validate"])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("url, why", [
    ("hooks.example.org/services/x", "does not start with https:// (or http://)"),
    ("ftp://hooks.example.org/x", "does not start with https:// (or http://)"),
    ("https:///services/x", "has no host"),
    ("https://hooks.example.org:99999/x", "is not a URL (its host or port cannot be read)"),
    ("https://hooks.example.org/a b", "is empty or has spaces in it"),
    ("", "is empty or has spaces in it"),
    (12, "is a int, not a URL"),
    ("https://hooks.example.org/services/x", None),
    ("http://alert-sink.support.svc:8080/alerts", None),
])
def test_webhook_urls_alertmanager_takes_and_why_others_are_not(url, why):
    assert webhook_url_problem(url) == why


def test_a_malformed_webhook_url_is_refused_at_its_line_without_showing_it(capsys, tmp_path):
    code, out = validate(capsys, tmp_path, f"""\
alertRouting:
  receivers:
    oncall:
      webhookUrl: hooks.example.org/services/{SECRET}
  receiver: oncall
""")
    assert code == 1
    assert ("       4:7  error   support: the webhook URL of receiver `oncall` does not start with https:// "
            "(or http://) (the value is not shown: webhook URLs are secrets)  [alert-receiver-url]") in out
    assert ("hint: give the whole URL the chat or paging service gave you (https://host/path...), in the cluster's "
            "sops-encrypted support values file (enc-support.secret.values.yaml)") in out
    assert SECRET not in out


def test_a_good_webhook_url_in_a_plain_file_is_a_warning_and_in_an_encrypted_file_nothing(capsys, tmp_path):
    code, out = validate(capsys, tmp_path, f"""\
alertRouting:
  receivers:
    oncall:
      webhookUrl: https://hooks.example.org/services/{SECRET}
  receiver: oncall
""")
    assert code == 0, out
    assert ("4:7  warning support: the webhook URL of receiver `oncall` is in a file that is not encrypted: anyone "
            "who can read the repository can post alerts to it  [alert-receiver-url-in-plain-file]") in out
    assert SECRET not in out


def test_an_encrypted_url_is_left_to_render_and_routes_may_name_its_receiver(capsys, tmp_path):
    secret = encrypted_yaml("""\
alertRouting:
  receivers:
    oncall:
      webhookUrl: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]
""")
    code, out = validate(capsys, tmp_path, """\
alertRouting:
  receiver: oncall
  routes:
    - receiver: oncall
      matchers: ['severity="critical"']
""", {"enc-support.secret.values.yaml": secret})
    assert code == 0, out


def test_a_route_to_an_unknown_receiver_is_refused_naming_the_known_ones(capsys, tmp_path):
    code, out = validate(capsys, tmp_path, """\
alertRouting:
  receivers:
    oncall: {webhookUrl: "http://alert-sink.support.svc:8080/alerts"}
    chat: {webhookUrl: "http://alert-sink.support.svc:8080/chat"}
  receiver: chat
  routes:
    - receiver: pager
      matchers: ['severity="critical"']
""")
    assert code == 1
    assert ("       7:7  error   support: `alertRouting.routes.0.receiver` names the receiver `pager`, which "
            "`alertRouting.receivers` does not define  [alert-receiver-unknown]") in out
    assert "hint: name one of: chat, oncall; or define `alertRouting.receivers.pager` (webhookUrl)" in out


def test_routing_with_alertmanager_off_is_refused(capsys, tmp_path):
    code, out = validate(capsys, tmp_path, """\
prometheus:
  alertmanager:
    enabled: false
alertRouting:
  receiver: "null"
""")
    assert code == 1
    assert ("       4:1  error   support: `alertRouting` is set but `prometheus.alertmanager.enabled` is false: "
            "no alert would be sent anywhere  [alert-routing-unused]") in out


def test_the_alertmanager_charts_own_config_is_refused_with_where_to_move_it(capsys, tmp_path):
    code, out = validate(capsys, tmp_path, """\
prometheus:
  alertmanager:
    config:
      receivers: [{name: x}]
""")
    assert code == 1
    assert ("       3:5  error   support: `prometheus.alertmanager.config` is not read: the support chart writes "
            "Alertmanager's configuration itself, from `alertRouting`  [alertmanager-config-not-read]") in out
    assert ("hint: move receivers to `alertRouting.receivers` (<name>: {webhookUrl: ...}) and routes to "
            "`alertRouting.routes` (docs/charts-keys.md, section support)") in out
