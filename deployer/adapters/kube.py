"""The Kubernetes API, through the official client: the only module that imports `kubernetes`.

Holds no policy. Every call has a timeout (`_request_timeout`); API objects are translated into
the small typed records of `deployer.checks.hub_findings` (pods with their readiness and why not,
claims, events), and API failures into `KubeError`. The client is imported lazily, so that
`deployer --help` stays fast.

`service_get` reaches a Service through the API server's service proxy
(`/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}`): it works without public DNS
or an ingress, only with the credentials deploy already uses. Note that the API server consumes
the `Authorization` header itself, so nothing authenticates to the backend with that header.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlencode

from deployer.checks.hub_findings import (
    ClaimState,
    ContainerState,
    Event,
    NodeState,
    PodCondition,
    PodState,
    StorageClasses,
)
from deployer.errors import ToolError
from deployer.redact import Redactor

log = logging.getLogger("deployer.kube")

DEFAULT_TIMEOUT = 10.0
POOL_SIZE = 32  # concurrent requests on one client (health and status run hubs in threads)
# metadata only (PartialObjectMetadataList, served since Kubernetes 1.15), else the full list
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"  # the annotation of a cluster's default StorageClass
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


class KubeError(ToolError):
    """The Kubernetes API refused or did not answer."""

    def __init__(self, message: str, hint: Optional[str] = None, status: Optional[int] = None) -> None:
        super().__init__(message, hint)
        self.status = status


@dataclass(frozen=True)
class ProxyResponse:
    """What a Service answered through the API server's proxy (or the proxy itself, on error)."""

    status: int
    body: bytes
    content_type: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode(errors="replace").strip()

    def json(self) -> Any:
        return json.loads(self.body.decode(errors="replace"))

    def proxy_message(self) -> str:
        """For an error the API server produced itself (a Status object), its message."""
        try:
            data = self.json()
        except ValueError:
            return self.text()
        if isinstance(data, dict) and data.get("kind") == "Status":
            return str(data.get("message", ""))
        return self.text()


class Kube:
    """One client per cluster access; thread-safe for the reads below."""

    def __init__(self, kubeconfig: Path, context: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT,
                 redactor: Optional[Redactor] = None) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        self.timeout = timeout
        self.redactor = redactor or Redactor()
        try:
            configuration = client.Configuration()
            config.load_kube_config(config_file=str(kubeconfig), context=context, client_configuration=configuration,
                                    persist_config=False)
        except (ConfigException, OSError, ValueError) as e:
            raise KubeError(f"cannot read the kubeconfig for this cluster: {self.redactor(str(e))[:300]}") from e
        except (TypeError, AttributeError, KeyError, IndexError) as e:  # a kubeconfig of the wrong shape
            raise KubeError(f"cannot read the kubeconfig for this cluster: its structure is wrong "
                            f"({type(e).__name__})", hint="check it with `kubectl config view`") from e
        configuration.connection_pool_maxsize = POOL_SIZE
        configuration.retries = False
        self._client = client
        self._api = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self._api)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> "Kube":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- translating failures --------------------------------------------------------------
    def _call(self, what: str, fn, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", self.timeout)
        try:
            return fn(*args, **kwargs)
        except ApiException as e:
            raise KubeError(f"kubernetes API: {what}: {e.status} {e.reason}: {self._status_message(e)}",
                            status=e.status) from e
        except HTTPError as e:
            raise KubeError(f"kubernetes API: {what}: no answer ({type(e).__name__}: {self.redactor(str(e))[:200]})",
                            hint="check that the cluster's API server is up and reachable") from e

    def _status_message(self, e: Any) -> str:
        try:
            return self.redactor(str(json.loads(e.body).get("message", "")))[:300]
        except (ValueError, TypeError, AttributeError):
            return self.redactor(str(e.body or ""))[:300]

    # -- reads ---------------------------------------------------------------------------
    def probe(self, timeout: float = 3.0) -> None:
        """Raise KubeError when the API server does not answer GET /version within `timeout`."""
        api = self._client.VersionApi(self._api)
        self._call("GET /version", api.get_code, _request_timeout=timeout)

    def log_tail(self, namespace: str, pod: str, container: str, lines: int = 5) -> list[str]:
        """The last `lines` log lines of the container's previous run (after a crash), else of its
        current one; [] when there are none. Redacted."""
        for previous in (True, False):
            try:
                text = self._call(f"logs of {namespace}/{pod}/{container}", self.core.read_namespaced_pod_log,
                                  pod, namespace, container=container, previous=previous, tail_lines=lines)
            except KubeError:
                continue
            text = _log_text(text)
            if text.strip():
                return [self.redactor(line)[:300] for line in text.strip().splitlines()[-lines:]]
        return []

    def pods(self, namespace: str, label_selector: str = "") -> list[PodState]:
        items = self._call(f"list pods in {namespace}", self.core.list_namespaced_pod, namespace,
                           label_selector=label_selector).items
        return [pod_state(p) for p in items]

    def nodes(self) -> list[NodeState]:
        """Every node's Ready condition; empty when the credentials may not list nodes (a
        namespace-scoped deploy account), as the nodes are an explanation, never a requirement."""
        try:
            items = self._call("list nodes", self.core.list_node).items
        except KubeError as e:
            if e.status in (401, 403):
                return []
            raise
        return [node_state(n) for n in items]

    def pods_by_namespace(self, label_selector: str = "") -> dict[str, list[PodState]]:
        """Every pod of the cluster in one request, grouped by namespace (for fleet-wide views)."""
        items = self._call("list pods", self.core.list_pod_for_all_namespaces, label_selector=label_selector).items
        out: dict[str, list[PodState]] = {}
        for p in items:
            out.setdefault(p.metadata.namespace, []).append(pod_state(p))
        return out

    def claims_by_namespace(self) -> dict[str, list[ClaimState]]:
        items = self._call("list volume claims", self.core.list_persistent_volume_claim_for_all_namespaces).items
        out: dict[str, list[ClaimState]] = {}
        for c in items:
            out.setdefault(c.metadata.namespace, []).append(claim_state(c))
        return out

    def events_by_namespace(self) -> dict[str, list[Event]]:
        items = self._call("list events", self.core.list_event_for_all_namespaces).items
        out: dict[str, list[Event]] = {}
        for e in items:
            out.setdefault(e.metadata.namespace, []).append(event(e))
        return out

    def claims(self, namespace: str) -> list[ClaimState]:
        items = self._call(f"list volume claims in {namespace}",
                           self.core.list_namespaced_persistent_volume_claim, namespace).items
        return [claim_state(c) for c in items]

    def storage_classes(self) -> Optional[StorageClasses]:
        """The cluster's StorageClasses and its default one; None when the credentials may not list them
        (a namespace-scoped deploy account): they explain a claim that is not bound, never a requirement."""
        api = self._client.StorageV1Api(self._api)
        try:
            items = self._call("list storage classes", api.list_storage_class).items
        except KubeError as e:
            if e.status in (401, 403):
                return None
            raise
        default = next((c.metadata.name for c in items if (c.metadata.annotations or {}).get(DEFAULT_CLASS) == "true"),
                       None)
        return StorageClasses(tuple(c.metadata.name for c in items), default)

    def events(self, namespace: str) -> list[Event]:
        items = self._call(f"list events in {namespace}", self.core.list_namespaced_event, namespace).items
        return [event(e) for e in items]

    def config_map(self, namespace: str, name: str) -> Optional[dict[str, str]]:
        try:
            cm = self._call(f"read configmap {namespace}/{name}", self.core.read_namespaced_config_map, name, namespace)
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        return dict(cm.data or {})

    def secret_keys(self, namespace: str, name: str) -> Optional[list[str]]:
        """The key names of a Secret (never its values); None when it does not exist."""
        data = self._secret_data(namespace, name)
        return None if data is None else sorted(data)

    def secret_value(self, namespace: str, name: str, key: str) -> Optional[str]:
        """One value of a Secret, registered with the redactor before it is returned."""
        data = self._secret_data(namespace, name)
        if data is None or key not in data:
            return None
        value = base64.b64decode(data[key]).decode(errors="replace")
        self.redactor.add(value)
        return value

    def secret_document(self, namespace: str, name: str, key: str) -> Optional[str]:
        """A document kept in a Secret (the jupyterhub chart's `values.yaml` in its Secret `hub`), for the
        caller to read a part of that is no secret; not registered with the redactor (its text as a whole
        is never printed)."""
        data = self._secret_data(namespace, name)
        if data is None or key not in data:
            return None
        return base64.b64decode(data[key]).decode(errors="replace")

    def _secret_data(self, namespace: str, name: str) -> Optional[dict[str, str]]:
        try:
            secret = self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        return dict(secret.data or {})

    # -- helm's release records and live objects (the ledger, drift) ----------------------
    def helm_release_labels(self) -> list[tuple[str, dict[str, str]]]:
        """(namespace, labels) of every helm release record in the cluster (helm's default Secret
        storage, `owner=helm`): one request, metadata only (the release payloads stay on the server)."""
        data = self._get_json("list helm release records", "/api/v1/secrets", {"labelSelector": "owner=helm"},
                              accept=METADATA_LIST)
        return [((i.get("metadata") or {}).get("namespace", ""), dict((i.get("metadata") or {}).get("labels") or {}))
                for i in data.get("items") or []]

    def helm_deployed_payloads(self) -> list[tuple[str, str]]:
        """(namespace, encoded release) of every release revision helm marks deployed: one request."""
        data = self._get_json("list deployed helm releases", "/api/v1/secrets",
                              {"labelSelector": "owner=helm,status=deployed"})
        return [((i.get("metadata") or {}).get("namespace", ""), str((i.get("data") or {}).get("release", "")))
                for i in data.get("items") or []]

    def label_secret(self, namespace: str, name: str, labels: dict[str, str]) -> None:
        """Set labels on a Secret (a merge patch of its metadata; its data is not read)."""
        self._call(f"label secret {namespace}/{name}", self.core.patch_namespaced_secret, name, namespace,
                   {"metadata": {"labels": labels}})

    def ensure_namespace(self, name: str, labels: Optional[dict[str, str]] = None) -> None:
        """Create the namespace unless it exists."""
        body = {"metadata": {"name": name, "labels": dict(labels or {})}}
        try:
            self._call(f"create namespace {name}", self.core.create_namespace, body)
        except KubeError as e:
            if e.status != 409:
                raise

    def ensure_claim(self, namespace: str, name: str, size: str, access_modes: list[str],
                     labels: Optional[dict[str, str]] = None) -> None:
        """Create a PersistentVolumeClaim of the cluster's default StorageClass unless it exists."""
        body = {"metadata": {"name": name, "labels": dict(labels or {})},
                "spec": {"accessModes": list(access_modes), "resources": {"requests": {"storage": size}}}}
        try:
            self._call(f"create claim {namespace}/{name}", self.core.create_namespaced_persistent_volume_claim,
                       namespace, body)
        except KubeError as e:
            if e.status != 409:
                raise

    def namespace_labels(self, name: str) -> Optional[dict[str, str]]:
        """The namespace's labels; None when there is no such namespace."""
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        return dict(ns.metadata.labels or {})

    def delete_namespace(self, name: str) -> bool:
        """Delete the namespace (and everything in it); False when there was none."""
        try:
            self._call(f"delete namespace {name}", self.core.delete_namespace, name)
        except KubeError as e:
            if e.status == 404:
                return False
            raise
        return True

    def api_resources(self, group_version: str) -> list[dict[str, Any]]:
        """The resources an API group version serves (discovery): name, kind, namespaced."""
        path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        try:
            return list(self._get_json(f"discover {group_version}", path).get("resources") or [])
        except KubeError as e:
            if e.status == 404:
                return []
            raise

    def list_objects(self, group_version: str, plural: str, field_selector: str = "") -> list[dict[str, Any]]:
        """Every object of one resource in the cluster, as plain JSON: one request."""
        prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        query = {"fieldSelector": field_selector} if field_selector else None
        return list(self._get_json(f"list {plural}", f"{prefix}/{plural}", query).get("items") or [])

    def _get_json(self, what: str, path: str, query: Optional[dict[str, str]] = None,
                  accept: str = "application/json") -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            resp = self._api.call_api(
                path, "GET", query_params=list((query or {}).items()), header_params={"Accept": accept},
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                _request_timeout=self.timeout,
            )
            return json.loads(resp.data)
        except ApiException as e:
            raise KubeError(f"kubernetes API: {what}: {e.status} {e.reason}: {self._status_message(e)}",
                            status=e.status) from e
        except HTTPError as e:
            raise KubeError(f"kubernetes API: {what}: no answer ({type(e).__name__}: {self.redactor(str(e))[:200]})",
                            hint="check that the cluster's API server is up and reachable") from e
        except ValueError as e:
            raise KubeError(f"kubernetes API: {what}: not JSON ({e})") from e

    def pod_log(self, namespace: str, pod: str, tail_lines: int = 20, container: Optional[str] = None) -> list[str]:
        """The last lines a pod's container wrote (redacted)."""
        kwargs: dict[str, Any] = {"tail_lines": tail_lines}
        if container:
            kwargs["container"] = container
        text = self._call(f"log of pod {pod}", self.core.read_namespaced_pod_log, pod, namespace, **kwargs)
        return [self.redactor(line) for line in _log_text(text).splitlines()]

    # -- the service proxy ----------------------------------------------------------------
    def service_get(self, namespace: str, service: str, port: int | str, path: str,
                    params: Optional[dict[str, str]] = None, timeout: Optional[float] = None) -> ProxyResponse:
        """GET `path` from a Service through the API server's service proxy.

        Any HTTP answer (the backend's, or the proxy's own error such as 503 "no endpoints
        available") is returned as a ProxyResponse; only a failure to reach the API server
        raises KubeError."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        resource = (f"/api/v1/namespaces/{quote(namespace, safe='')}/services/"
                    f"{quote(service, safe='')}:{quote(str(port), safe='')}/proxy/{path.lstrip('/')}")
        if params:
            resource += "?" + urlencode(params)
        shown = self.redactor(resource)
        log.debug("GET %s", shown)
        try:
            resp = self._api.call_api(
                resource, "GET", header_params={"Accept": "application/json, text/plain, */*"},
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                _request_timeout=timeout or self.timeout,
            )
            return ProxyResponse(resp.status, resp.data, resp.headers.get("Content-Type", ""))
        except ApiException as e:
            body = e.body if isinstance(e.body, bytes) else str(e.body or "").encode()
            return ProxyResponse(e.status or 0, body, (e.headers or {}).get("Content-Type", "") if e.headers else "")
        except HTTPError as e:
            raise KubeError(f"GET {shown}: no answer ({type(e).__name__})",
                            hint="check that the cluster's API server is up and reachable") from e

    # -- a pod's port, through the API's port-forward ---------------------------------------
    def pod_get(self, namespace: str, pod: str, port: int, path: str, headers: Optional[dict[str, str]] = None,
                timeout: Optional[float] = None) -> ProxyResponse:
        """GET `path` from a pod's `port` through the API server's port-forward (pods/portforward).

        Unlike the service proxy, this carries the request's own headers to the pod: the API server
        removes an `Authorization` header it authenticated (so a JupyterHub token, which JupyterHub 5
        accepts only in that header, cannot go through the service proxy). Raises KubeError when the
        port cannot be reached or does not answer HTTP within `timeout`."""
        import http.client
        import socket as socketlib

        from kubernetes import client
        from kubernetes.stream import portforward

        wait = timeout or self.timeout
        lines = [f"GET /{path.lstrip('/')} HTTP/1.1", f"Host: {pod}:{port}", "Accept: application/json",
                 "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items()), "", ""]
        where = f"pod {namespace}/{pod} port {port}"
        forward = None
        # a client of its own: kubernetes.stream swaps its client's request function while it connects,
        # which would break other threads' calls on the shared client (`status` checks hubs concurrently)
        api = client.ApiClient(self._api.configuration)
        try:
            forward = self._call(f"port-forward to {where}", portforward,
                                 client.CoreV1Api(api).connect_get_namespaced_pod_portforward, pod, namespace,
                                 ports=str(port), _request_timeout=wait)
            sock = forward.socket(port)
            sock.setblocking(True)
            sock.settimeout(wait)
            sock.sendall("\r\n".join(lines).encode())
            answer = http.client.HTTPResponse(sock)
            answer.begin()
            body = answer.read()
            return ProxyResponse(answer.status, body, answer.getheader("Content-Type", "") or "")
        except (OSError, socketlib.timeout, http.client.HTTPException, ValueError) as e:
            why = forward.error(port) if forward is not None and port in forward.local_ports else None
            raise KubeError(f"GET {self.redactor(path)} from {where}: no answer "
                            f"({self.redactor(str(why or e) or type(e).__name__)[:200]})",
                            hint="check that the pod is running and listens on that port") from e
        finally:
            if forward is not None:
                forward.close()
            api.close()


# -- translating API objects into our records (pure functions of the client's models) --------

def _log_text(text: Any) -> str:
    """A pod log as text: the client hands back a log that is not plain ASCII (a Python traceback's `^^^^`
    markers, accents) as the repr of its bytes, `b'...\\n...'`; decode that back into lines."""
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    text = str(text or "")
    if len(text) > 2 and text[:2] in ("b'", 'b"') and text[-1] == text[1]:
        import ast

        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
    return text


def pod_state(pod: Any) -> PodState:
    status = pod.status
    containers: list[ContainerState] = []
    for init, statuses in ((True, status.init_container_statuses if status else None),
                           (False, status.container_statuses if status else None)):
        for s in statuses or []:
            waiting = s.state.waiting if s.state else None
            terminated = s.state.terminated if s.state else None
            last = s.last_state.terminated if s.last_state else None
            if init and terminated is not None and terminated.exit_code == 0:
                continue  # a finished init container is fine
            containers.append(ContainerState(
                name=s.name, image=s.image or "", ready=bool(s.ready),
                waiting_reason=waiting.reason if waiting else None,
                waiting_message=(waiting.message or "") if waiting else "",
                terminated_reason=terminated.reason if terminated else None,
                last_terminated_reason=last.reason if last else None,
                last_exit_code=last.exit_code if last else None,
                restarts=s.restart_count or 0, init=init,
            ))
    conditions = tuple(PodCondition(c.type, c.status, c.reason or "", c.message or "")
                       for c in ((status.conditions if status else None) or []))
    claims = tuple(v.persistent_volume_claim.claim_name for v in (pod.spec.volumes or [])
                   if v.persistent_volume_claim is not None)
    return PodState(
        name=pod.metadata.name, phase=(status.phase if status else None) or "Pending",
        labels=dict(pod.metadata.labels or {}), containers=tuple(containers), conditions=conditions, claims=claims,
        deleting=pod.metadata.deletion_timestamp is not None, node=pod.spec.node_name,
        uid=pod.metadata.uid or "",
    )


def claim_state(claim: Any) -> ClaimState:
    return ClaimState(claim.metadata.name, (claim.status.phase if claim.status else None) or "Pending",
                      storage_class=claim.spec.storage_class_name if claim.spec else None,
                      component=(claim.metadata.labels or {}).get("component", ""))


def node_state(node: Any) -> NodeState:
    conditions = (node.status.conditions if node.status else None) or []
    ready = next((c for c in conditions if c.type == "Ready"), None)
    return NodeState(name=node.metadata.name, ready=ready is not None and ready.status == "True",
                     reason=(ready.reason or "") if ready else "no Ready condition",
                     message=(ready.message or "").strip() if ready else "")


def event(e: Any) -> Event:
    obj = e.involved_object
    last = e.last_timestamp or e.event_time or e.first_timestamp or (e.metadata.creation_timestamp if e.metadata else None)
    if isinstance(last, dt.datetime) and last.tzinfo is None:
        last = last.replace(tzinfo=dt.timezone.utc)
    return Event(kind=obj.kind or "", name=obj.name or "", type=e.type or "", reason=e.reason or "",
                 message=(e.message or "").strip(), count=e.count or 1, last_seen=last)
