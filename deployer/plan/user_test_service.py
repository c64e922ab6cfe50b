"""The user test's service on a hub, as chart values (pure data): `deployer health --user-test`
(`run/user_session.py`) logs in as this service, and the local cluster's values layer registers it
(`local/layers.py`)."""

from __future__ import annotations

SERVICE = "deployer-user-test"
SERVICE_TOKEN_KEY = f"hub.services.{SERVICE}.apiToken"
SERVICE_SCOPES = ["admin:users", "tokens", "servers", "access:servers"]
PROXY_SERVICE = "proxy-public"  # the jupyterhub chart's Service in front of the proxy
HUB_SECRET = "hub"  # the Secret where the chart keeps the services' tokens


def service_values() -> dict:
    """jupyterhub chart values registering the user test's service and its role (the chart makes its token)."""
    return {"hub": {
        "services": {SERVICE: {"display": False}},
        "loadRoles": {SERVICE: {"description": "deployer's user test: a temporary user, its server and kernel",
                                "scopes": list(SERVICE_SCOPES), "services": [SERVICE]}},
    }}
