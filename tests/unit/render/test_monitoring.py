"""`deployer render` refuses what Prometheus, Alertmanager or Grafana would refuse or mis-read, naming the
release, the ConfigMap, the values file and line, the rule or the panel, and the fix: an alert rule that does
not parse, a dashboard query that does not parse (both by Prometheus' own promtool), a malformed webhook URL
in a sops-encrypted file (judged decrypted, never shown). Real helm, the real charts, real sops and age."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deployer.cli import app
from deployer.cli.app import run_app
from tests.conftest import REPO, require_chart_repo, require_tool
from tests.repo_builder import make_cluster

AGE_KEY = REPO / "config" / "example-age-key.txt"
RECIPIENT = next(line.split(": ")[1] for line in AGE_KEY.read_text().splitlines() if "public key" in line)
SECRET = "T000/B000/XXXXSECRETPART"

BAD_RULES = """\
prometheus:
  serverFiles:
    alerting_rules.yml:
      groups:
        - name: mine
          rules:
            - alert: TooManyUsers
              expr: sum(jupyterhub_running_servers) by (namespace) >
              for: 5m
"""
BAD_DASHBOARD = """\
grafana:
  dashboards:
    default:
      usage:
        json: |
          {"title": "Our usage", "panels": [{"title": "Servers", "type": "timeseries",
            "targets": [{"refId": "A", "expr": "sum(jupyterhub_running_servers{namespace=~\\"$hub\\"})"},
                        {"refId": "B", "expr": "rate(jupyterhub_server_spawn_duration_seconds_count[$__rate_interval]"}]}]}
"""


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    """One state folder for the module: the support chart is prepared once."""
    return tmp_path_factory.mktemp("render-state")


def render(capsys, monkeypatch, tmp_path: Path, support: str, secret: str | None = None,
           state: Path | None = None) -> tuple[int, str]:
    require_tool("promtool")
    folder = make_cluster(tmp_path, "beta", ["staging"], provider="kubeconfig")
    (folder / "support.values.yaml").write_text(support)
    if secret is not None:
        path = folder / "enc-support.secret.values.yaml"
        path.write_text(secret)
        subprocess.run([str(require_tool("sops")), "--disable-version-check", "encrypt", "--age", RECIPIENT,
                        "--in-place", str(path)], check=True, capture_output=True, timeout=60)
        cluster = (folder / "cluster.yaml").read_text()
        (folder / "cluster.yaml").write_text(cluster.replace(
            "  - support.values.yaml\n", "  - support.values.yaml\n  - enc-support.secret.values.yaml\n", 1))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    code = run_app(app, ["--root", str(tmp_path), "--state-dir", str(state or tmp_path / "state"), "render", "beta",
                         "--chart-repo", str(require_chart_repo())])
    out, err = capsys.readouterr()
    return code, out + err


def test_an_alert_rule_that_does_not_parse_is_refused_at_its_expr_line(capsys, monkeypatch, tmp_path, state):
    code, out = render(capsys, monkeypatch, tmp_path, state=state, support=BAD_RULES)
    assert code == 1
    assert ("error: beta/support ConfigMap/support-prometheus-server (config/clusters/beta/support.values.yaml:8): "
            "[alert-rules-invalid] alert rule file alerting_rules.yml: group \"mine\", rule 1 (\"TooManyUsers\"): "
            "could not parse expression: 1:49: parse error: unexpected end of input") in out
    assert ("hint: fix the rule in the values that set it (its `expr` is PromQL, `for:` a duration such as 5m); "
            "`promtool check rules FILE` shows the same") in out
    assert "Traceback" not in out


def test_a_dashboard_query_that_does_not_parse_is_refused_naming_dashboard_panel_and_query(capsys, monkeypatch,
                                                                                        tmp_path, state):
    code, out = render(capsys, monkeypatch, tmp_path, state=state, support=BAD_DASHBOARD)
    assert code == 1
    assert ("error: beta/support ConfigMap/support-grafana-dashboards-default "
            "(config/clusters/beta/support.values.yaml:4): [dashboard-query-invalid] dashboard \"Our usage\" "
            "(usage.json): panel \"Servers\", query B does not parse: 1:56: parse error: unclosed left parenthesis "
            "(query: rate(jupyterhub_server_spawn_duration_seconds_count[$__rate_interval])") in out
    assert ("hint: fix the panel's PromQL (Grafana's variables are filled with a word, or a duration inside [...], "
            "before parsing)") in out
    assert "query A" not in out  # the good query of the same panel passes


def test_a_malformed_webhook_url_in_an_encrypted_file_is_refused_decrypted_and_never_shown(capsys, monkeypatch,
                                                                                          tmp_path, state):
    secret = f"alertRouting:\n  receivers:\n    oncall:\n      webhookUrl: hooks.example.org/services/{SECRET}\n"
    code, out = render(capsys, monkeypatch, tmp_path, state=state, support="alertRouting:\n  receiver: oncall\n", secret=secret)
    assert code == 1
    assert ("error: beta/support (config/clusters/beta/enc-support.secret.values.yaml:4): [alert-receiver-url] "
            "the webhook URL of Alertmanager receiver `oncall` does not start with https:// (or http://) "
            "(the value is not shown: webhook URLs are secrets)") in out
    assert SECRET not in out


def test_the_support_stack_with_its_alert_rules_and_a_good_receiver_renders_clean(capsys, monkeypatch, tmp_path, state):
    secret = f"alertRouting:\n  receivers:\n    oncall:\n      webhookUrl: https://hooks.example.org/{SECRET}\n"
    code, out = render(capsys, monkeypatch, tmp_path, state=state, support="alertRouting:\n  receiver: oncall\n", secret=secret)
    assert code == 0, out
    assert SECRET not in out


def test_an_alert_rule_file_that_is_no_rule_file_is_refused_naming_the_key_and_why(capsys, monkeypatch, tmp_path,
                                                                                   state):
    broken = BAD_RULES.replace("sum(jupyterhub_running_servers) by (namespace) >", "up == 0").replace(
        "for: 5m", "for: 5 minutes")
    code, out = render(capsys, monkeypatch, tmp_path, state=state, support=broken)
    assert code == 1
    assert ("error: beta/support ConfigMap/support-prometheus-server (config/clusters/beta/support.values.yaml:3): "
            "[alert-rules-invalid] alert rule file alerting_rules.yml: unknown unit \" minutes\" in duration "
            "\"5 minutes\"") in out
