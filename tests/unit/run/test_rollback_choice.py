"""Pure parts of the operating commands: revision choice for rollback, where the hub answers,
which services it should list, helm's chart name-version."""

from __future__ import annotations

import pytest

from deployer.adapters.helm import Revision
from deployer.errors import DeployerError, UsageError
from deployer.run.health import expected_services, hub_endpoint, listed_services
from deployer.run.rollback import choose_revision
from deployer.run.status import chart_name_version, short_time


def rev(n: int, status: str) -> Revision:
    return Revision(n, status, "basehub-0.1.0", "", f"2026-11-2{n} 10:00:00", "")


def test_rollback_defaults_to_the_revision_before_the_current_one():
    history = [rev(1, "superseded"), rev(2, "superseded"), rev(3, "deployed")]
    current, target = choose_revision(history, "hub", None)
    assert (current.revision, target.revision) == (3, 2)
    assert choose_revision(history, "hub", 1)[1].revision == 1


def test_rollback_to_an_unknown_revision_lists_the_existing_ones():
    with pytest.raises(UsageError) as err:
        choose_revision([rev(1, "superseded"), rev(2, "deployed")], "hub", 7)
    assert "no revision 7" in err.value.message and err.value.hint == "existing revisions: 1 (superseded), 2 (deployed)"


def test_rollback_refuses_the_current_revision_a_single_revision_and_no_release():
    with pytest.raises(UsageError):
        choose_revision([rev(1, "superseded"), rev(2, "deployed")], "hub", 2)
    with pytest.raises(DeployerError, match="no previous revision"):
        choose_revision([rev(1, "deployed")], "hub", None)
    with pytest.raises(DeployerError, match="no helm release"):
        choose_revision([], "hub", None)


def test_hub_endpoint_from_the_hub_info_configmap_or_defaults():
    e = hub_endpoint({"internalHealthUrl": "http://hub.staging.svc:8081/hub/health"})
    assert (e.service, e.port, e.base, e.health_path) == ("hub", 8081, "/hub/", "/hub/health")
    e = hub_endpoint({"internalHealthUrl": "http://hub.x.svc:8081/prefix/hub/health"})
    assert e.base == "/prefix/hub/" and e.health_path == "/prefix/hub/health"
    assert hub_endpoint(None) == hub_endpoint({})
    assert hub_endpoint(None).service == "hub" and hub_endpoint(None).port == 8081


def test_expected_services_come_from_the_secret_key_names_only():
    keys = ["hub.config.JupyterHub.cookie_secret", "hub.services.dask-gateway.apiToken",
            "hub.services.deployer-health.apiToken", "values.yaml"]
    assert expected_services(keys) == ["dask-gateway", "deployer-health"]
    assert listed_services({"dask-gateway": {}, "deployer-health": {}}) == {"dask-gateway", "deployer-health"}
    assert listed_services([{"name": "a"}, {"kind": "service"}]) == {"a"}


def test_chart_name_version_and_helm_times():
    assert chart_name_version("basehub-0.1.0") == ("basehub", "0.1.0")
    assert chart_name_version("dask-gateway-2024.1.0") == ("dask-gateway", "2024.1.0")
    assert chart_name_version("x-1.0.0-rc.1") == ("x", "1.0.0-rc.1")
    assert short_time("2026-11-26 13:15:00.123456789 +0000 UTC") == "2026-11-26 13:15:00 +0000"
