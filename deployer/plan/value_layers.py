"""What helm gets for one release: its values layers in order, as data.

This module is the one place that decides which layers a release has and in which order; deploy,
diff and render (the stages of `render/pipeline.py`), the ledger's digest (`render/digest.py`) and
plan-upgrade (`plan/release_inputs.py`, which fingerprints the order) all take it from here. It is pure: files are
read, and secrets decrypted, only through the `read` function the caller hands in.

The layers, first to last; a later layer wins, merged with helm's own semantics (`plan/values_merge.py`):

1. `generated` — what deployer knows: the cluster's name and, for a hub with a domain, the hub's
   names and domain on the ingress with TLS (a hub's domain override file, when it has one,
   supplies the domain), and for basehub on GCP or AWS the kind of cloud disk its in-cluster NFS
   server serves. The support stack and a hub without a domain get the cluster name only.
2. `local cluster` — provider `local` only: the images built on this machine and the components
   switched off for want of one (`deployer/local/layers.py` computes it).
3. `terraform outputs` — a cluster `deployer provision` manages (a `terraform:` block), or any
   cluster with saved outputs: the outputs under `global.cloud` (`plan/computed_layers.py::terraform_values`);
   for our support chart also the cluster autoscaler they provide for (`plan/computed_layers.py::support_cloud_values`).
4. each values file of cluster.yaml, in its order; a sops-encrypted one is a *secret* layer,
   decrypted in memory when it is read.
5. `local substitutions` — provider `local` only, and last: what the local cluster must hold whatever
   the hub's files say (images from registries this node cannot reach become the local ones, pull
   policies, components with no image here switched off). Its values are computed from the layers
   before it (`LayerSources.substitute`), so it changes only what they really set otherwise.

No command takes `--set` overrides, so there is no such layer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer.config.file_reader import is_secret_name
from deployer.plan.computed_layers import generated_values, support_cloud_values, terraform_values
from deployer.plan.release_spec import ReleaseChart, ReleaseSpec, release_chart
from deployer.plan.values_merge import merge_values


# --- the layers ---------------------------------------------------------------------------------


class LayerKind(str, enum.Enum):
    generated = "generated"
    local = "local cluster"
    cloud = "terraform outputs"
    values_file = "values file"
    secret_file = "secret values file"
    local_last = "local substitutions"


@dataclass(frozen=True)
class Layer:
    name: str  # shown to people: "generated", "values #2 enc-prod.secret.values.yaml", ...
    kind: LayerKind
    path: Optional[Path] = None  # the file of a file layer

    @property
    def secret(self) -> bool:
        return self.kind is LayerKind.secret_file


@dataclass(frozen=True)
class ValuePlan:
    """A release's chart and its values layers, first to last (the last one wins)."""

    release: str  # the release id, `<cluster>/<hub>` or `<cluster>/support`
    chart: ReleaseChart
    layers: tuple[Layer, ...]
    cluster: str
    hub: Optional[str] = None
    domain: Optional[str] = None
    domain_override: Optional[Path] = None  # read for the generated layer's domain
    provider: str = ""  # the cluster's provider (the generated layer picks basehub's NFS disk kind by it)

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def files(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.path is not None]

    def order(self) -> str:
        """The order of the layers as one line of kinds (what plan-upgrade fingerprints)."""
        return " > ".join(layer.kind.value for layer in self.layers)


def value_plan(spec: ReleaseSpec, cloud_outputs: Mapping[str, Any] | None = None) -> ValuePlan:
    """THE order of a release's values layers (see the module's docstring)."""
    layers = [Layer("generated", LayerKind.generated)]
    if spec.provider == "local":  # the local cluster's images and switches; the hub's own files may override
        layers.append(Layer("local cluster", LayerKind.local))
    if spec.provisioned or cloud_outputs:  # after what deployer generates, before the hub's own files
        layers.append(Layer("terraform outputs", LayerKind.cloud))
    for i, path in enumerate(spec.values_files):
        kind = LayerKind.secret_file if is_secret_name(path.name) else LayerKind.values_file
        layers.append(Layer(f"values #{i + 1} {path.name}", kind, path))
    if spec.provider == "local" and spec.hub is not None:  # last: what the local cluster must hold whatever the hub's files say
        layers.append(Layer("local substitutions", LayerKind.local_last))
    return ValuePlan(spec.id, release_chart(spec), tuple(layers), spec.cluster, spec.hub, spec.domain,
                     spec.domain_override, spec.provider)


# --- the layers' values -------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSources:
    """What a run hands in to fill the layers: how to read a values file (decrypting a secret one),
    the prepared chart's name and dependencies, the local cluster's layer, the saved outputs."""

    read: Callable[[Path], dict[str, Any]]
    chart_name: str
    dependencies: Sequence[str] = ()
    local: Mapping[str, Any] = field(default_factory=dict)
    cloud_outputs: Mapping[str, Any] = field(default_factory=dict)
    # the values of the last local layer, from the values of the layers before it merged
    substitute: Optional[Callable[[dict[str, Any]], dict[str, Any]]] = None


def layer_values(plan: ValuePlan, sources: LayerSources) -> list[tuple[Layer, dict[str, Any]]]:
    """Each layer of the plan with its values, in the plan's order (files read in that order)."""
    out: list[tuple[Layer, dict[str, Any]]] = []
    for layer in plan.layers:
        if layer.kind is LayerKind.local_last:
            below = merge_values(*(values for _, values in out))
            out.append((layer, sources.substitute(below) if sources.substitute is not None else {}))
        elif layer.kind is LayerKind.generated:
            out.append((layer, _generated(plan, sources)))
        elif layer.kind is LayerKind.local:
            out.append((layer, dict(sources.local)))
        elif layer.kind is LayerKind.cloud:
            values = terraform_values(sources.cloud_outputs, hub=plan.hub)
            if plan.hub is None and plan.chart.name == "support" and not plan.chart.remote:
                values = merge_values(values, support_cloud_values(sources.cloud_outputs))
            out.append((layer, values))
        else:
            assert layer.path is not None
            out.append((layer, sources.read(layer.path)))
    return out


def _generated(plan: ValuePlan, sources: LayerSources) -> dict[str, Any]:
    domain = plan.domain
    if plan.domain_override is not None:
        override = sources.read(plan.domain_override)
        if isinstance(override.get("domain"), str):
            domain = override["domain"]
    if plan.hub is not None and domain:
        return generated_values(cluster=plan.cluster, hub=plan.hub, domain=domain,
                                dependencies=list(sources.dependencies), chart_name=sources.chart_name,
                                provider=plan.provider)
    if plan.hub is None:  # the support stack: its Prometheus names the cluster on every alert (alert-rules/)
        return {"global": {"clusterName": plan.cluster},
                "prometheus": {"server": {"global": {"external_labels": {"cluster": plan.cluster}}}}}
    return {"global": {"clusterName": plan.cluster}}


def release_values(spec: ReleaseSpec, sources: LayerSources, plan: Optional[ValuePlan] = None) -> dict[str, Any]:
    """The one values dict helm gets for the release: its layers merged in order (`plan`: the
    release's value plan when the caller made it already)."""
    plan = plan or value_plan(spec, sources.cloud_outputs)
    return merge_values(*(values for _, values in layer_values(plan, sources)))
