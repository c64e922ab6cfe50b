"""Is each hub working? Pods Ready, health endpoint, hub API and its services; and if not, why.

Everything goes through the Kubernetes API (pods, claims, events, and the API server's service
proxy to the hub's Service), so it works without public DNS, with the credentials deploy uses.

Per hub, one *attempt* is:
1. pods:     every hub pod (not user servers, not finished Jobs) is Ready; otherwise the reasons,
             from container states, pod conditions, claims and recent Warning events;
2. health:   GET <hub service>/hub/health (from the `deployer-hub-info` ConfigMap basehub
             writes; default hub:8081) answers the expected status (`uptime_check`, else 200);
3. api:      GET /hub/api/ answers JSON with JupyterHub's version;
4. services: the services the chart registered (their tokens live in the Secret `hub` as
             `hub.services.<name>.apiToken`) are all listed by GET /hub/api/services, asked with
             the token of the `deployer-health` service basehub registers (its role can only list
             service names). JupyterHub 5 reads a token only from the Authorization header, which
             the API server's service proxy consumes, so this one request goes to a ready hub pod
             through the API's port-forward (pods/portforward). Without that token (a chart
             other than basehub/daskhub) this check is reported as skipped.
A hub that fails is retried, a bounded number of times, `interval` seconds apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlparse

from deployer.adapters.kube import Kube, KubeError
from deployer.checks.hub_findings import (
    Finding,
    first_reason,
    judge_pods,
    recent_warnings,
)
from deployer.config.models import Hub
from deployer.errors import DeployerError
from deployer.run.cluster_connection import kube_for
from deployer.run.release_probes import explain_namespace

HUB_INFO = "deployer-hub-info"
HUB_SECRET = "hub"
HEALTH_SERVICE = "deployer-health"
HUB_POD_SELECTOR = "component=hub"  # the jupyterhub chart's hub pod
HUB_PORT = 8081  # the hub container's port (the chart's hub Service maps 8081 to it)
SERVICE_TOKEN = "hub.services.{}.apiToken"
REQUESTS_PER_ATTEMPT = 12  # the API requests of one attempt, at most (pods, claims, events, logs, proxy, ...)


@dataclass
class HealthOptions:
    retries: int = 5  # attempts after the first
    interval: float = 3.0  # seconds between attempts
    request_timeout: float = 10.0  # per API request
    concurrency: int = 8
    user_test: bool = False  # after deploy: also the user test (deployer.run.user_session) on a healthy hub
    timeout: Optional[float] = None  # seconds one hub's check may take, every attempt included

    def hub_timeout(self) -> float:
        """One hub's budget: every attempt's requests at their timeout, and the waits between."""
        if self.timeout is not None:
            return self.timeout
        attempts = self.retries + 1
        return attempts * REQUESTS_PER_ATTEMPT * self.request_timeout + self.retries * self.interval + 30.0


@dataclass
class Check:
    name: str  # pods | health | api | services
    ok: Optional[bool]  # None: not checked (skipped)
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "message": self.message}


@dataclass
class HubHealth:
    cluster: str
    hub: str
    healthy: bool = False
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0
    version: Optional[str] = None

    @property
    def summary(self) -> str:
        if self.healthy:
            return "; ".join(c.message for c in self.checks if c.ok)
        failed = [c for c in self.checks if c.ok is False]
        head = failed[0].message if failed else "unhealthy"
        reason = first_reason(self.findings)
        return f"{head}: {reason}" if reason and reason not in head else head

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "hub": self.hub, "healthy": self.healthy, "attempts": self.attempts,
                "seconds": round(self.seconds, 2), "version": self.version, "summary": self.summary,
                "checks": [c.to_json() for c in self.checks], "reasons": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class Endpoint:
    service: str
    port: int | str
    base: str  # the hub's URL prefix, e.g. "/hub/"
    health_path: str


def hub_endpoint(info: Optional[dict[str, str]]) -> Endpoint:
    """Where the hub answers inside the cluster, from basehub's `deployer-hub-info` ConfigMap
    (`internalHealthUrl: http://hub.<ns>.svc:8081/hub/health`), else JupyterHub's defaults."""
    url = (info or {}).get("internalHealthUrl", "")
    parsed = urlparse(url) if url else None
    if parsed and parsed.hostname and parsed.path:
        service = parsed.hostname.split(".")[0]
        port: int | str = parsed.port or (443 if parsed.scheme == "https" else 80)
        path = parsed.path
    else:
        service, port, path = "hub", 8081, "/hub/health"
    base = path[: -len("health")] if path.endswith("health") else "/hub/"
    return Endpoint(service, port, base, path)


def expected_services(secret_keys: list[str]) -> list[str]:
    """Service names the chart registered with the hub (from the Secret's key names only)."""
    prefix, suffix = "hub.services.", ".apiToken"
    return sorted(k[len(prefix):-len(suffix)] for k in secret_keys if k.startswith(prefix) and k.endswith(suffix))


def listed_services(payload: Any) -> set[str]:
    """Names in JupyterHub's answer to GET /hub/api/services (a dict by name, or a list of models)."""
    if isinstance(payload, dict):
        return {str(k) for k in payload}
    if isinstance(payload, list):
        return {str(s.get("name")) for s in payload if isinstance(s, dict) and s.get("name")}
    return set()


class HubChecker:
    def __init__(self, kube: Kube, cluster: str, options: Optional[HealthOptions] = None) -> None:
        self.kube = kube
        self.cluster = cluster
        self.options = options or HealthOptions()

    # one attempt ---------------------------------------------------------------------------
    def check_once(self, hub: Hub, pods: Optional[list] = None, claims: Optional[list] = None,
                   events: Optional[list] = None, nodes: Optional[list] = None) -> HubHealth:
        """One attempt; pods, claims, events and nodes may be given (read cluster-wide by `status`)."""
        ns = hub.name
        result = HubHealth(self.cluster, hub.name)
        try:
            if pods is None:  # `health` reads the namespace itself, with the crashing containers' logs
                verdict, events = explain_namespace(self.kube, ns)
            else:  # `status` read every namespace at once
                claims = self.kube.claims(ns) if claims is None else claims
                events = self.kube.events(ns) if events is None else events
                verdict = judge_pods(pods, claims, events, nodes=nodes)
        except KubeError as e:
            result.checks.append(Check("pods", False, f"cannot read the hub's namespace: {e.message}"))
            return result
        result.findings.extend(verdict.findings)
        result.checks.append(Check("pods", verdict.ok, verdict.message if verdict.ok else
                                   f"{verdict.message}" if verdict.total else "no hub pods found"))
        endpoint = hub_endpoint(self._safe(lambda: self.kube.config_map(ns, HUB_INFO)))
        health = self._health(hub, endpoint, events, result)
        if health:
            self._api(endpoint, ns, result)
            self._services(endpoint, ns, result)
        else:
            result.checks.append(Check("api", None, "not checked: the health endpoint did not answer"))
            result.checks.append(Check("services", None, "not checked: the health endpoint did not answer"))
        result.healthy = all(c.ok is not False for c in result.checks)
        return result

    def _safe(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except KubeError:
            return None

    def _get(self, ns: str, endpoint: Endpoint, path: str, params: Optional[dict[str, str]] = None):
        return self.kube.service_get(ns, endpoint.service, endpoint.port, path, params,
                                     timeout=self.options.request_timeout)

    def _health(self, hub: Hub, endpoint: Endpoint, events: list, result: HubHealth) -> bool:
        expected = 200
        if hub.uptime_check and hub.uptime_check.expected_status is not None:
            try:
                expected = int(hub.uptime_check.expected_status)
            except (TypeError, ValueError):
                expected = 200
        where = f"{endpoint.service}:{endpoint.port}{endpoint.health_path}"
        try:
            resp = self._get(hub.name, endpoint, endpoint.health_path)
        except KubeError as e:
            result.checks.append(Check("health", False, f"{where}: {e.message}"))
            return False
        if resp.status == expected:
            result.checks.append(Check("health", True, f"{where} answered {resp.status}"))
            return True
        message = resp.proxy_message()
        if resp.status == 503 and "no endpoints available" in message:
            text = f"{where}: service {endpoint.service} has no ready endpoints (nothing answers behind it)"
            now = dt.datetime.now(dt.timezone.utc)
            result.findings.extend(recent_warnings(events, now, {f"endpoints/{endpoint.service}",
                                                                 f"service/{endpoint.service}"}, limit=2))
        elif resp.status == 404 and "not found" in message.lower() and "services" in message:
            text = f"{where}: there is no service {endpoint.service} in namespace {hub.name}"
        else:
            text = f"{where} answered {resp.status}, expected {expected}" + (f": {message[:200]}" if message else "")
        result.checks.append(Check("health", False, text))
        return False

    def _api(self, endpoint: Endpoint, ns: str, result: HubHealth) -> None:
        path = endpoint.base + "api/"
        try:
            resp = self._get(ns, endpoint, path)
            data = resp.json() if resp.ok else None
        except KubeError as e:
            result.checks.append(Check("api", False, f"{path}: {e.message}"))
            return
        except ValueError:
            data = None
        if resp.ok and isinstance(data, dict) and data.get("version"):
            result.version = str(data["version"])
            result.checks.append(Check("api", True, f"hub API answers (JupyterHub {result.version})"))
        else:
            result.checks.append(Check("api", False, f"{path} answered {resp.status}, not JupyterHub's API "
                                                      f"({resp.proxy_message()[:120]})"))

    def _services(self, endpoint: Endpoint, ns: str, result: HubHealth) -> None:
        try:
            keys = self.kube.secret_keys(ns, HUB_SECRET)
            token = self.kube.secret_value(ns, HUB_SECRET, SERVICE_TOKEN.format(HEALTH_SERVICE)) if keys else None
        except KubeError as e:
            result.checks.append(Check("services", False, f"cannot read the Secret {HUB_SECRET}: {e.message}"))
            return
        expected = expected_services(keys or [])
        if not token:
            result.checks.append(Check("services", None, f"not checked: no `{HEALTH_SERVICE}` token in the Secret "
                                                         f"{HUB_SECRET} (expected services: {', '.join(expected) or 'none'})"))
            return
        path = endpoint.base + "api/services"
        try:
            # JupyterHub 5 takes a token only from the Authorization header (never `?token=`), and the API
            # server's service proxy drops that header: so this request goes to a ready hub pod through the
            # API's port-forward, header and all
            pods = [p for p in self.kube.pods(ns, HUB_POD_SELECTOR) if p.ready and not p.deleting]
            if not pods:
                result.checks.append(Check("services", False, f"{path}: no ready hub pod ({HUB_POD_SELECTOR})"))
                return
            port = endpoint.port if isinstance(endpoint.port, int) else HUB_PORT
            resp = self.kube.pod_get(ns, pods[0].name, port, path, {"Authorization": f"token {token}"},
                                     timeout=self.options.request_timeout)
        except KubeError as e:
            result.checks.append(Check("services", False, f"{path}: {e.message}"))
            return
        try:
            listed = listed_services(resp.json()) if resp.ok else None
        except ValueError:
            listed = None
        if listed is None:
            result.checks.append(Check("services", False, f"{path} answered {resp.status}: "
                                                          f"{self.kube.redactor(resp.proxy_message())[:160]}"))
            return
        missing = [s for s in expected if s not in listed]
        if missing:
            result.checks.append(Check("services", False, f"the hub does not list service(s) {', '.join(missing)} "
                                                          f"(it lists: {', '.join(sorted(listed)) or 'none'})"))
        else:
            result.checks.append(Check("services", True, f"hub lists its {len(expected)} service(s): "
                                                         f"{', '.join(expected)}"))

    # bounded retries ---------------------------------------------------------------------
    async def check(self, hub: Hub, on_attempt: Callable[[HubHealth], None] = lambda h: None) -> HubHealth:
        started = time.monotonic()
        attempts = self.options.retries + 1
        result = HubHealth(self.cluster, hub.name)
        for attempt in range(1, attempts + 1):
            result = await asyncio.to_thread(self.check_once, hub)
            result.attempts = attempt
            result.seconds = time.monotonic() - started
            if result.healthy or attempt == attempts:
                break
            on_attempt(result)
            await asyncio.sleep(self.options.interval)
        result.seconds = time.monotonic() - started
        return result


def run_health(conn, hubs: Optional[list[str]], options: HealthOptions,
               on_result: Callable[[HubHealth], None] = lambda h: None,
               on_attempt: Callable[[HubHealth], None] = lambda h: None) -> list[HubHealth]:
    """Check the named hubs (default: every hub) of a connected cluster (`run.cluster_connection.connect`),
    each a step of the engine (`run_each`): `options.concurrency` at once, each within
    `options.hub_timeout()`; a check that fails or times out is that hub's result only."""
    from deployer.plan.deploy_order import select_hubs
    from deployer.run.engine import run_each

    names = select_hubs(conn.cluster, hubs)
    with conn.kube(options.request_timeout) as kube:
        checker = HubChecker(kube, conn.cluster.name, options)

        async def one(name: str) -> HubHealth:
            result = await checker.check(conn.cluster.hub(name), on_attempt)
            on_result(result)
            return result

        done = run_each(names, one, concurrency=options.concurrency, timeout=options.hub_timeout(), group="health")
    results = []
    for m in done:
        if not m.ok:
            m.value = not_checked(conn.cluster.name, m.item, m.step)
            on_result(m.value)
        results.append(m.value)
    return results


def not_checked(cluster: str, hub: str, step) -> HubHealth:
    """A hub whose check did not finish (timed out, or broke): unhealthy, and says why."""
    return HubHealth(cluster, hub, healthy=False, seconds=step.duration,
                     checks=[Check("check", False, f"the health check did not finish: {step.message}")])


class HubUnhealthy(DeployerError):
    def __init__(self, message: str, hint: Optional[str], details: dict[str, Any]) -> None:
        super().__init__(message, hint)
        self.details = details


def after_deploy_health(options: HealthOptions):
    """For `deploy --health-check`: a hook factory (cluster, access, runner) -> hook; the hook
    checks a hub right after helm deployed it, and raises when it stays unhealthy, so the step
    fails and the canary gate holds prod back."""

    def factory(cluster, access, runner):
        async def hook(spec, outcome, ctx) -> None:
            if spec.hub is None:  # the support stack has no hub to check
                return
            ctx.progress("health check")

            def attempt(h: HubHealth) -> None:
                ctx.progress(f"health check: attempt {h.attempts} unhealthy ({h.summary[:80]}); retrying")

            hub = cluster.hub(spec.hub)
            if spec.namespace != hub.name:  # a preview: the hub's release in a namespace of its own
                hub = hub.model_copy(update={"name": spec.namespace})
            with kube_for(access, runner, options.request_timeout) as kube:
                result = await HubChecker(kube, cluster.name, options).check(hub, attempt)
            outcome.details["health"] = result.to_json()
            if not result.healthy:
                details = {**outcome.details}
                raise HubUnhealthy(
                    f"{outcome.message}, but the hub is unhealthy after {result.attempts} attempt(s): {result.summary}",
                    f"the release was kept; see `deployer health {cluster.name} {spec.hub}`, "
                    f"or go back with `deployer rollback {cluster.name} {spec.hub}`", details)
            outcome.message += "; healthy"
            if options.user_test:
                ctx.progress("user test")
                test = await asyncio.to_thread(_user_test, access, runner, spec.namespace, options)
                outcome.details["user_test"] = test.to_json()
                if not test.ok:
                    raise HubUnhealthy(
                        f"{outcome.message}, but the user test failed: {test.reason}",
                        f"see `deployer health {cluster.name} {spec.hub} --user-test`", {**outcome.details})
                outcome.message += f"; user test passed in {test.seconds:.0f}s"

        return hook

    return factory


def _user_test(access, runner, hub: str, options: HealthOptions):
    import tempfile
    from pathlib import Path

    from deployer.run.user_session import UserTest, UserTestOptions
    from deployer.toolchain import find_tool

    with tempfile.TemporaryDirectory(prefix="deployer-user-test-") as work, \
            kube_for(access, runner, options.request_timeout) as kube:
        return UserTest(kube, runner, find_tool("kubectl"), access.kubeconfig, access.context, hub, Path(work),
                        UserTestOptions(request_timeout=max(options.request_timeout, 15.0))).run()
