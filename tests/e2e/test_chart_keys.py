"""No key of basehub or daskhub is accepted and ignored: every key their schemas accept, changed,
changes what the real helm renders (walked from the schemas themselves, so a key added to a schema
without a template that reads it fails here). A key of a part basehub lacks is refused when it asks
for that part. The charts are rendered with their real dependencies from ../shared/charts.

Passed-through sections (`jupyterhub`, `dask-gateway`, `jupyterhub-home-nfs`, `binderhub-service`,
`jupyterhub-groups-exporter`, `global`) are checked by the upstream charts' own schemas; what our
schema declares inside them is walked like the rest.
"""

from __future__ import annotations

import copy
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployer.adapters.charts import PreparedChart, helm_home_env, prepare_chart
from deployer.adapters.process import ProcessRunner
from deployer.checks.chart_switches import value_at
from deployer.plan.values_merge import merge_values
from tests.conftest import REPO, require_chart_repo, require_tool

pytestmark = pytest.mark.e2e

CHARTS = REPO / "helm-charts"
KUBE = "1.34.0"
DOMAIN = "staging.hub.example.org"

# Every part switched on, so that every key under one is read.
EVERYTHING_ON: dict[str, Any] = {
    "global": {"hubName": "staging", "clusterName": "c", "domain": DOMAIN},
    "jupyterhub": {
        "ingress": {"hosts": [DOMAIN], "tls": [{"hosts": [DOMAIN], "secretName": "https-auto-tls"}]},
        "custom": {"daskhubSetup": {"enabled": True}},
    },
    "nfs": {"enabled": True, "pv": {"enabled": True}, "shareCreator": {"enabled": True},
            "dirsizeReporter": {"enabled": True}, "volumeReporter": {"enabled": True}},
    "jupyterhub-home-nfs": {"enabled": True},
    "binderhub-service": {"enabled": True, "config": {"BinderHub": {"image_prefix": "registry.example/hub-"}}},
    "jupyterhub-groups-exporter": {"enabled": True},
    "dask-gateway": {"enabled": True},
    "userServiceAccount": {"enabled": True},
    "nodePlaceholder": {"enabled": True, "replicas": 1},
}

# Keys read only in another context than EVERYTHING_ON (values layered over it before the change).
CONTEXT: dict[str, dict[str, Any]] = {
    # the claim home-nfs comes from one of the two
    "inClusterNFS.enabled": {"nfs": {"pv": {"enabled": False}}},
    "inClusterNFS.size": {"nfs": {"pv": {"enabled": False}}, "inClusterNFS": {"enabled": True}},
    # off, the server's address must come from somewhere
    "jupyterhub-home-nfs.enabled": {"nfs": {"pv": {"serverIP": "10.0.0.9"}}},
    # off, the claim home-nfs is made by neither
    "nfs.pv.enabled": {"nfs": {"volumeReporter": {"enabled": False}, "dirsizeReporter": {"enabled": False}}},
    # off, Dask clusters would run as an account that does not exist (refused by name)
    "userServiceAccount.enabled": {"dask-gateway": {"enabled": False}},
}

# A valid changed value for keys whose type alone does not give one.
CHANGED: dict[str, Any] = {
    "jupyterhub.cull.adminUsers": False,  # the jupyterhub chart's default is true
    "jupyterhub.hub.baseUrl": "/prefix/",
    "jupyterhub.ingress.hosts": ["other.example.org"],
    "jupyterhub.ingress.tls": [{"hosts": ["other.example.org"], "secretName": "other-tls"}],
    "jupyterhub.ingress.annotations": {"example.org/note": "x"},
    "jupyterhub.singleuser.profileList": [{"display_name": "Small", "default": True}],
    "jupyterhub.singleuser.memory.guarantee": "3G",
    "jupyterhub.singleuser.memory.limit": "5G",
    "jupyterhub.singleuser.image.pullSecrets": ["pull-secret"],
    "jupyterhub.hub.image.pullSecrets": ["pull-secret"],
    "jupyterhub.hub.config": {"JupyterHub": {"shutdown_on_logout": True}},
    "jupyterhub.hub.services": {"extra": {"display": False}},
    "jupyterhub.hub.resources.requests": {"cpu": "7m"},
    "jupyterhub.hub.resources.limits": {"cpu": "7"},
    "jupyterhub.hub.resources.claims": [{"name": "gpu"}],
    "jupyterhub.hub.extraEnv": {"EXTRA": "x"},
    "jupyterhub.singleuser.extraEnv": {"EXTRA": "x"},
    "jupyterhub.custom.singleuser.extraPVCs": [{"name": "db-{username}", "class": "standard", "capacity": "1Gi"}],
    "jupyterhub.custom.singleuserAdmin.extraEnv": {"ADMIN": "x"},
    "jupyterhub.custom.singleuserAdmin.extraVolumeMounts": {"a": {"name": "home", "mountPath": "/x"}},
    "jupyterhub.custom.homepage.templateVars": {"enabled": True, "redirect_to": "https://example.org"},
    "nfs.pv.baseShareName": "/other/",
    "nfs.pv.serverIP": "10.0.0.9",
    "nfs.pv.mountOptions": ["hard"],
    "nfs.shareCreator.tolerations": [{"key": "k", "operator": "Exists"}],
    "inClusterNFS.size": "7Gi",
    "userServiceAccount.annotations": {"example.org/role": "x"},
    "nodePlaceholder.nodeSelector": {"example.org/pool": "x"},
    "nodePlaceholder.tolerations": [{"key": "k", "operator": "Exists"}],
    "nodePlaceholder.extraTolerations": [{"key": "k", "operator": "Exists"}],
}

# Accepted only while off (basehub lacks the part): the schema refuses them on, by name.
SWITCHED_OFF_ONLY = {"jupyterhub-cost-monitoring", "staticWebsite"}


def leaves(schema: dict, root: dict, path: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """Every key the schema declares, down to the leaves (a declared object with no declared keys is one)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root["definitions"][name]
    props = schema.get("properties") or {}
    if not props:
        return [(".".join(path), schema)] if path else []
    out = []
    for key, sub in props.items():
        if path == () and key in SWITCHED_OFF_ONLY:
            continue
        out += leaves(sub, root, (*path, key))
    return out


def nested(path: str, value: Any) -> dict:
    out: Any = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


def changed_value(path: str, schema: dict, current: Any) -> Any:
    if path in CHANGED:
        return CHANGED[path]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v != current and v not in (None, ""))
    types = schema.get("type") or ("string" if "pattern" in schema else "object")
    kind = types if isinstance(types, str) else next(t for t in types if t != "null")
    if kind == "boolean":
        return not current
    if kind == "object" and "string" in (types if isinstance(types, list) else []) and isinstance(current, str):
        return f"{current}-changed"
    if kind in ("integer", "number"):
        return (current or 0) + 1 + (schema.get("minimum") or 0)
    if kind == "string":
        return f"{current or 'x'}-changed"
    if kind == "array":
        return ["changed"]
    return {"changed": "x"}


# what helm generates afresh at every render (the jupyterhub chart's secrets, and checksums of them)
_RANDOM = re.compile(r"^(\s*(?:hub\.services\.[\w-]+\.apiToken|hub\.config\.ConfigurableHTTPProxy\.auth_token|"
                     r"hub\.config\.JupyterHub\.cookie_secret|hub\.config\.CryptKeeper\.keys|"
                     r"checksum/[\w-]+):).*$", re.M)


class Renderer:
    def __init__(self, helm: Path, work: Path) -> None:
        self.helm, self.work, self.runner = helm, work, ProcessRunner()

    def render(self, chart: PreparedChart, values: dict) -> str:
        result = self.runner.run([self.helm, "template", "staging", chart.path, "--namespace", "staging",
                                  "--kube-version", KUBE, "--values", "-"], timeout=120,
                                 env=helm_home_env(self.work), input=json.dumps(values))
        assert result.ok, result.stderr
        return _RANDOM.sub(r"\1 (generated)", result.stdout)


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    helm = require_tool("helm")
    work = tmp_path_factory.mktemp("keys")
    runner = ProcessRunner()
    prepared = {name: prepare_chart(CHARTS / name, work_dir=work / "charts", chart_repo=require_chart_repo(),
                                    runner=runner, helm=helm) for name in ("basehub", "daskhub")}
    return Renderer(helm, work / "charts"), prepared


def schema_of(name: str) -> dict:
    return json.loads((CHARTS / name / "values.schema.json").read_text())


def test_rendering_the_same_values_twice_gives_the_same_text(charts):
    """What the other tests compare is stable (helm's generated secrets masked)."""
    renderer, prepared = charts
    assert renderer.render(prepared["basehub"], EVERYTHING_ON) == renderer.render(prepared["basehub"], EVERYTHING_ON)
    assert renderer.render(prepared["daskhub"], {"basehub": EVERYTHING_ON}) == \
        renderer.render(prepared["daskhub"], {"basehub": EVERYTHING_ON})


def test_every_basehub_key_changes_what_is_rendered(charts):
    renderer, prepared = charts
    schema = schema_of("basehub")
    defaults = yaml.safe_load((CHARTS / "basehub" / "values.yaml").read_text())
    keys = leaves(schema, schema)
    assert len(keys) > 60, [k for k, _ in keys]  # the walk reaches into nfs, jupyterhub.custom, nodePlaceholder ...

    def check(item: tuple[str, dict]) -> str | None:
        path, sub = item
        base = merge_values(EVERYTHING_ON, CONTEXT.get(path, {}))
        current = value_at(merge_values(defaults, base), path)
        value = changed_value(path, sub, current)
        before = renderer.render(prepared["basehub"], base)
        after = renderer.render(prepared["basehub"], merge_values(base, nested(path, value)))
        return None if before != after else f"{path}: {current!r} -> {value!r} renders the same"

    with ThreadPoolExecutor(4) as pool:
        ignored = [r for r in pool.map(check, keys) if r]
    assert ignored == []


def test_every_daskhub_key_changes_what_is_rendered(charts):
    renderer, prepared = charts
    schema = schema_of("daskhub")
    keys = leaves(schema, schema)
    assert {k for k, _ in keys} == {"global.hubName", "global.clusterName", "basehub.jupyterhub", "basehub.global",
                                    "basehub.dask-gateway"}
    base = {"basehub": copy.deepcopy(EVERYTHING_ON)}
    changes = {"global.hubName": "other", "global.clusterName": "other",
               "basehub.jupyterhub": {"custom": {"note": "x"}}, "basehub.global": {"hubName": "other"},
               "basehub.dask-gateway": {"gateway": {"loglevel": "DEBUG"}}}
    before = renderer.render(prepared["daskhub"], base)
    for path, value in changes.items():
        after = renderer.render(prepared["daskhub"], merge_values(base, nested(path, value)))
        assert after != before, path


@pytest.mark.parametrize("key", sorted(SWITCHED_OFF_ONLY))
def test_a_part_basehub_lacks_is_refused_by_the_schema_when_switched_on(charts, key):
    renderer, prepared = charts
    result = renderer.runner.run([renderer.helm, "template", "staging", prepared["basehub"].path, "--kube-version", KUBE,
                                  "--values", "-"], timeout=120, env=helm_home_env(renderer.work),
                                 input=json.dumps(merge_values(EVERYTHING_ON, {key: {"enabled": True}})))
    assert not result.ok
    assert f"{key}.enabled" in result.stderr.replace("/", ".") or key in result.stderr, result.stderr
