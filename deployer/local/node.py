"""A simulated node for the local cluster: `python -m deployer.local.node --kubeconfig PATH`.

No container runtime can run here, so this process plays kubelet, scheduler and the volume and
load-balancer controllers, through the API only:
- registers a Ready Node;
- binds unscheduled Pods to it and reports them Running and Ready (Pods that never restart
  report Succeeded, so Jobs and helm hooks finish);
- Pods with an image whose name contains `unpullable` get an ErrImagePull / ImagePullBackOff
  container status and a Warning Event instead, as a real kubelet would report;
- finishes the deletion of Pods being deleted (a kubelet's job);
- binds Pending PersistentVolumeClaims to hostPath PersistentVolumes it creates;
- gives LoadBalancer Services the ingress IP 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import time
from pathlib import Path

UNPULLABLE = "unpullable"
POLL_SECONDS = 0.25


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def unpullable_images(pod) -> list[str]:
    containers = list(pod.spec.containers or []) + list(pod.spec.init_containers or [])
    return [c.image for c in containers if UNPULLABLE in (c.image or "")]


def pod_status(pod, node_name: str, *, backoff: bool) -> dict:
    """The status a kubelet would report for `pod` (pure)."""
    now = _now().isoformat()
    bad = unpullable_images(pod)
    completes = pod.spec.restart_policy == "Never"
    conds = lambda ready: [  # noqa: E731
        {"type": t, "status": "True" if (ready or t in ("PodScheduled", "Initialized")) else "False",
         "lastTransitionTime": now} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
    base = {"hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "startTime": now}
    inits = [{"name": c.name, "image": c.image, "imageID": "", "ready": True, "restartCount": 0,
              "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}
             for c in (pod.spec.init_containers or [])]
    if bad:
        reason = "ImagePullBackOff" if backoff else "ErrImagePull"
        statuses = [{"name": c.name, "image": c.image, "imageID": "", "ready": False, "restartCount": 0,
                     "state": ({"waiting": {"reason": reason, "message": f'Back-off pulling image "{c.image}"'
                                            if backoff else f'failed to pull image "{c.image}": not found'}}
                               if UNPULLABLE in (c.image or "") else {"waiting": {"reason": "PodInitializing"}})}
                    for c in pod.spec.containers]
        return {**base, "phase": "Pending", "conditions": conds(False), "containerStatuses": statuses}
    if completes:
        state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}
        phase, ready = "Succeeded", False
    else:
        state, phase, ready = {"running": {"startedAt": now}}, "Running", True
    statuses = [{"name": c.name, "image": c.image, "imageID": f"simulated://{c.image}", "ready": ready,
                 "started": ready, "restartCount": 0, "state": state} for c in pod.spec.containers]
    return {**base, "phase": phase, "conditions": conds(ready), "containerStatuses": statuses,
            "initContainerStatuses": inits}


class Node:
    def __init__(self, api, name: str, volumes: Path) -> None:
        from kubernetes import client

        self.client = client
        self.v1 = api
        self.name = name
        self.volumes = volumes
        self.pull_failed: set[str] = set()  # pod uids already reported ErrImagePull

    def register(self) -> None:
        c = self.client
        try:
            self.v1.read_node(self.name)
        except c.ApiException as e:
            if e.status != 404:
                raise
            self.v1.create_node(c.V1Node(metadata=c.V1ObjectMeta(
                name=self.name, labels={"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", "deployer.local/simulated": "true"})))
        now = _now().isoformat()
        capacity = {"cpu": "8", "memory": "32Gi", "pods": "250", "ephemeral-storage": "100Gi"}
        self.v1.patch_node_status(self.name, {"status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now,
                            "lastTransitionTime": now, "message": "simulated by deployer (runs no containers)"}],
            "nodeInfo": {"kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "simulated://0", "osImage": "simulated",
                         "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        }})

    def sync_pods(self) -> None:
        c = self.client
        for pod in self.v1.list_pod_for_all_namespaces().items:
            ns, name = pod.metadata.namespace, pod.metadata.name
            if pod.metadata.deletion_timestamp is not None:
                if pod.spec.node_name in (None, self.name):
                    self.v1.delete_namespaced_pod(name, ns, grace_period_seconds=0)
                continue
            if not pod.spec.node_name:
                body = c.V1Binding(metadata=c.V1ObjectMeta(name=name),
                                   target=c.V1ObjectReference(api_version="v1", kind="Node", name=self.name))
                self.v1.create_namespaced_binding(ns, body, _preload_content=False)
                continue
            if pod.spec.node_name != self.name or pod.status.phase in ("Running", "Succeeded", "Failed"):
                continue
            bad = unpullable_images(pod)
            backoff = pod.metadata.uid in self.pull_failed
            if bad and backoff and _waiting_reason(pod) == "ImagePullBackOff":
                continue
            self.v1.patch_namespaced_pod_status(name, ns, {"status": pod_status(pod, self.name, backoff=backoff)})
            if bad:
                self._event(pod, "BackOff" if backoff else "Failed",
                            f'Back-off pulling image "{bad[0]}"' if backoff else
                            f'Failed to pull image "{bad[0]}": the local cluster runs no containers, and images '
                            f'whose name contains "{UNPULLABLE}" simulate a pull failure')
                self.pull_failed.add(pod.metadata.uid)

    def _event(self, pod, reason: str, message: str) -> None:
        c = self.client
        now = _now()
        self.v1.create_namespaced_event(pod.metadata.namespace, c.CoreV1Event(
            metadata=c.V1ObjectMeta(generate_name=f"{pod.metadata.name}."),
            involved_object=c.V1ObjectReference(kind="Pod", namespace=pod.metadata.namespace, name=pod.metadata.name,
                                                uid=pod.metadata.uid, api_version="v1"),
            reason=reason, message=message, type="Warning", count=1, first_timestamp=now, last_timestamp=now,
            source=c.V1EventSource(component="kubelet", host=self.name)))

    def sync_claims(self) -> None:
        claims = self.v1.list_persistent_volume_claim_for_all_namespaces().items
        # reclaim (delete) our volumes whose claim is gone: the volume controllers are off
        uids = {pvc.metadata.uid for pvc in claims}
        for pv in self.v1.list_persistent_volume(label_selector="deployer.local/simulated=true").items:
            ref = pv.spec.claim_ref
            if ref is not None and ref.uid not in uids and pv.metadata.deletion_timestamp is None:
                self.v1.delete_persistent_volume(pv.metadata.name)
        for pvc in claims:
            if pvc.status.phase != "Pending" or pvc.metadata.deletion_timestamp is not None:
                continue
            ns, name = pvc.metadata.namespace, pvc.metadata.name
            pv_name = f"pv-{pvc.metadata.uid}"
            path = self.volumes / f"{ns}-{name}"
            path.mkdir(parents=True, exist_ok=True)
            size = ((pvc.spec.resources.requests or {}) if pvc.spec.resources else {}).get("storage", "1Gi")
            pv = {"apiVersion": "v1", "kind": "PersistentVolume",
                  "metadata": {"name": pv_name, "labels": {"deployer.local/simulated": "true"}},
                  "spec": {"capacity": {"storage": size}, "accessModes": pvc.spec.access_modes or ["ReadWriteOnce"],
                           "hostPath": {"path": str(path)}, "persistentVolumeReclaimPolicy": "Delete",
                           "storageClassName": pvc.spec.storage_class_name or "",
                           "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns,
                                        "name": name, "uid": pvc.metadata.uid}}}
            try:
                self.v1.create_persistent_volume(pv)
            except self.client.ApiException as e:
                if e.status != 409:
                    raise
            self.v1.patch_persistent_volume_status(pv_name, {"status": {"phase": "Bound"}})
            self.v1.patch_namespaced_persistent_volume_claim(name, ns, {
                "metadata": {"annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
                "spec": {"volumeName": pv_name}})
            self.v1.patch_namespaced_persistent_volume_claim_status(name, ns, {"status": {
                "phase": "Bound", "accessModes": pvc.spec.access_modes or ["ReadWriteOnce"],
                "capacity": {"storage": size}}})

    def sync_load_balancers(self) -> None:
        for svc in self.v1.list_service_for_all_namespaces().items:
            lb = svc.status.load_balancer if svc.status else None
            if svc.spec.type == "LoadBalancer" and not (lb and lb.ingress):
                self.v1.patch_namespaced_service_status(svc.metadata.name, svc.metadata.namespace,
                                                        {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}})


def _waiting_reason(pod) -> str | None:
    for s in (pod.status.container_statuses or []):
        if s.state and s.state.waiting and s.state.waiting.reason:
            return s.state.waiting.reason
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="deployer.local.node", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", default="deployer-local-node")
    parser.add_argument("--volumes", required=True, help="folder for hostPath volumes")
    args = parser.parse_args(argv)

    from kubernetes import client, config

    def stop(*_):  # leave at once, even from the middle of a request to an API that hangs
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    api = client.CoreV1Api(config.new_client_from_config(config_file=args.kubeconfig))
    node = Node(api, args.node_name, Path(args.volumes))
    registered = False
    while True:
        try:
            if not registered:
                node.register()
                registered = True
                print(f"node {args.node_name} registered", flush=True)
            node.sync_pods()
            node.sync_claims()
            node.sync_load_balancers()
        except Exception as e:  # keep serving: the next round retries (e.g. API briefly unavailable)
            print(f"node: {type(e).__name__}: {str(e)[:300]}", file=sys.stderr, flush=True)
            time.sleep(0.5)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main()
