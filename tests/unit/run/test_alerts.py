"""Prometheus' /api/v1/alerts read into alerts per hub, and those about the cluster as a whole."""

from __future__ import annotations

from deployer.run.alerts import Alert, ClusterAlerts, parse_alerts

# as Prometheus 3 answers (labels include the rule's and the series')
ANSWER = {"status": "success", "data": {"alerts": [
    {"labels": {"alertname": "KubernetesNodeNotReady", "cluster": "alpha", "node": "n1", "severity": "critical"},
     "annotations": {"summary": "alpha: node n1 is not Ready"}, "state": "pending",
     "activeAt": "2026-12-07T18:00:00Z", "value": "0e+00"},
    {"labels": {"alertname": "JupyterHubHubDown", "cluster": "alpha", "hub": "staging", "namespace": "staging",
                "severity": "critical"},
     "annotations": {"summary": "alpha/staging: the hub is down (no hub pod available)", "description": "..."},
     "state": "firing", "activeAt": "2026-12-07T18:01:00Z", "value": "0e+00"},
    {"labels": {"alertname": "PrometheusScrapeTargetDown", "job": "kubernetes-pods", "namespace": "support",
                "severity": "warning"}, "annotations": {}, "state": "firing", "activeAt": "2026-12-07T18:02:00Z"},
    "not an alert",
]}}


def test_alerts_are_read_firing_first_each_with_its_hub_severity_and_summary():
    alerts = parse_alerts(ANSWER)
    assert [(a.state, a.name, a.hub, a.severity) for a in alerts] == [
        ("firing", "JupyterHubHubDown", "staging", "critical"),
        ("firing", "PrometheusScrapeTargetDown", "support", "warning"),
        ("pending", "KubernetesNodeNotReady", "", "critical"),
    ]
    assert alerts[0].line() == "FIRING JupyterHubHubDown (critical): alpha/staging: the hub is down (no hub pod available)"
    assert alerts[1].line() == "FIRING PrometheusScrapeTargetDown (warning): PrometheusScrapeTargetDown"
    assert alerts[0].to_json() == {"name": "JupyterHubHubDown", "state": "firing", "severity": "critical",
                                   "hub": "staging", "summary": "alpha/staging: the hub is down (no hub pod available)",
                                   "since": "2026-12-07T18:01:00Z",
                                   "labels": {"alertname": "JupyterHubHubDown", "cluster": "alpha", "hub": "staging",
                                              "namespace": "staging", "severity": "critical"}}


def test_each_hub_gets_its_own_alerts_and_the_rest_are_the_clusters():
    found = ClusterAlerts(parse_alerts(ANSWER))
    assert [a.name for a in found.for_hub("staging")] == ["JupyterHubHubDown"]
    assert found.for_hub("prod") == []
    assert [a.name for a in found.not_of(["staging", "prod"])] == ["PrometheusScrapeTargetDown",
                                                                    "KubernetesNodeNotReady"]


def test_an_answer_that_is_not_prometheus_gives_no_alert():
    assert parse_alerts({"status": "error"}) == [] and parse_alerts([]) == [] and parse_alerts(None) == []
    assert ClusterAlerts(error="x").to_json() == {"source": "prometheus support/support-prometheus-server",
                                                  "error": "x", "alerts": []}
    assert isinstance(parse_alerts(ANSWER)[0], Alert)
