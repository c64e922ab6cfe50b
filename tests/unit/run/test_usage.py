"""A hub's usage read from its /hub/metrics, with prometheus_client's parser, as JupyterHub 5 writes it."""

from __future__ import annotations

from deployer.run.usage import HubUsage, parse_metrics

# an excerpt of a JupyterHub 5.x /hub/metrics answer
METRICS = """\
# HELP jupyterhub_running_servers The number of user servers currently running
# TYPE jupyterhub_running_servers gauge
jupyterhub_running_servers 2.0
# HELP jupyterhub_total_users Total number of users
# TYPE jupyterhub_total_users gauge
jupyterhub_total_users 5.0
# HELP jupyterhub_active_users Number of users who were active in the given time period
# TYPE jupyterhub_active_users gauge
jupyterhub_active_users{period="24h"} 1.0
jupyterhub_active_users{period="7d"} 3.0
jupyterhub_active_users{period="30d"} 4.0
# HELP jupyterhub_server_spawn_duration_seconds Time taken for server spawning operation
# TYPE jupyterhub_server_spawn_duration_seconds histogram
jupyterhub_server_spawn_duration_seconds_bucket{le="0.5",status="success"} 0.0
jupyterhub_server_spawn_duration_seconds_count{status="success"} 2.0
"""


def test_active_users_per_period_running_servers_and_users_are_read():
    usage = parse_metrics(METRICS, HubUsage("alpha", "staging"))
    assert usage.to_json() == {"cluster": "alpha", "hub": "staging", "ok": True,
                               "active_users": {"24h": 1, "7d": 3, "30d": 4}, "running_servers": 2,
                               "total_users": 5, "error": None}


def test_a_page_without_jupyterhub_metrics_or_not_in_the_text_format_says_so():
    assert parse_metrics("# nothing\nup 1\n", HubUsage("a", "h")).error == (
        "the hub's /hub/metrics has no jupyterhub_active_users nor jupyterhub_running_servers")
    assert parse_metrics("<html>login</html>", HubUsage("a", "h")).error.startswith(
        "the hub's /hub/metrics is not Prometheus' text format: ")
