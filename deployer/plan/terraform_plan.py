"""Pure planning for `deployer provision`: what Terraform gets, and what its answers mean.

From a cluster's model this decides, without running anything:
- the variables (`<cluster>.tfvars.json`): those deployer sets from the provider block, then
  the `terraform.variables` of cluster.yaml;
- the state backend, with the state's key named after the cluster (so two clusters never
  share a state), rendered as a `-backend-config` file;
- where the cluster's working folder lives;
and it reads Terraform's JSON (`terraform show -json`, `terraform output -json`) into a plan
summary and the outputs worth saving (which `deployer.plan.computed_layers.terraform_values` turns into
the values layer `deployer deploy` uses).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from deployer.config.models import Cluster, Provider
from deployer.plan.computed_layers import terraform_values  # noqa: F401 (the outputs as a values layer live there)
from deployer.redact import leaf_strings

TFVARS_SUFFIX = ".tfvars.json"
STATE_DIR_ENV = "DEPLOYER_STATE_DIR"

# --- variables --------------------------------------------------------------------------------


def fixed_variables(cluster: Cluster) -> dict[str, Any]:
    """Variables whose value comes from the provider block: cluster.yaml must not repeat them
    under `terraform.variables` (two sources for one name would drift apart)."""
    if cluster.provider is Provider.aws and cluster.aws is not None:
        return {"cluster_name": cluster.aws.clusterName, "region": cluster.aws.region}
    if cluster.provider is Provider.gcp and cluster.gcp is not None:
        return {"project_id": cluster.gcp.project, "cluster_name": cluster.gcp.cluster, "location": cluster.gcp.zone}
    if cluster.provider is Provider.azure and cluster.azure is not None:
        fixed: dict[str, Any] = {"resource_group_name": cluster.azure.resource_group, "cluster_name": cluster.azure.cluster}
        if cluster.azure.subscription_id:
            fixed["subscription_id"] = cluster.azure.subscription_id
        return fixed
    return {}


def default_variables(cluster: Cluster, declared: Optional[set[str]] = None) -> dict[str, Any]:
    """Variables deployer fills in when cluster.yaml does not: the hubs, as namespaces that get
    a cloud identity of their own. Only those the module declares (when `declared` is given)."""
    defaults: dict[str, Any] = {"hub_namespaces": [h.name for h in cluster.hubs]}
    if declared is not None:
        defaults = {k: v for k, v in defaults.items() if k in declared}
    return defaults


def tfvars(cluster: Cluster, declared: Optional[set[str]] = None) -> dict[str, Any]:
    """The content of `<cluster>.tfvars.json`: defaults, then cluster.yaml's, then the fixed ones."""
    given = cluster.terraform.variables if cluster.terraform else {}
    merged = {**default_variables(cluster, declared), **given, **fixed_variables(cluster)}
    return dict(sorted(merged.items()))


# --- backend ----------------------------------------------------------------------------------

# the keys that name the state: deployer sets them, cluster.yaml may not
STATE_KEYS: dict[str, tuple[str, ...]] = {
    "s3": ("key", "workspace_key_prefix"),
    "gcs": ("prefix",),
    "azurerm": ("key",),
    "local": ("path", "workspace_dir"),
}
REQUIRED_BACKEND_KEYS: dict[str, tuple[str, ...]] = {
    "s3": ("bucket", "region"),
    "gcs": ("bucket",),
    "azurerm": ("storage_account_name", "container_name"),
    "local": (),
}


def state_key(backend_type: str, cluster: str, work_dir: Path) -> dict[str, str]:
    """The backend settings that give this cluster its own state."""
    if backend_type == "s3":
        return {"key": f"deployer/{cluster}/terraform.tfstate"}
    if backend_type == "gcs":
        return {"prefix": f"deployer/{cluster}"}
    if backend_type == "azurerm":
        return {"key": f"deployer/{cluster}.tfstate"}
    return {"path": str(work_dir / "terraform.tfstate")}


def state_location(backend_type: str, config: Mapping[str, Any]) -> str:
    """Where the state lives, for messages: s3://bucket/key, gs://bucket/prefix, a path."""
    if backend_type == "s3":
        return f"s3://{config.get('bucket')}/{config.get('key')}"
    if backend_type == "gcs":
        return f"gs://{config.get('bucket')}/{config.get('prefix')}/default.tfstate"
    if backend_type == "azurerm":
        return f"azurerm://{config.get('storage_account_name')}/{config.get('container_name')}/{config.get('key')}"
    return str(config.get("path"))


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def hcl_value(value: Any, indent: int = 0) -> str:
    """A JSON-like value as an HCL expression (for `-backend-config` files)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value).replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hcl_value(v, indent) for v in value) + "]"
    if isinstance(value, Mapping):
        pad = "  " * (indent + 1)
        lines = [f"{pad}{_hcl_key(k)} = {hcl_value(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + "\n".join(lines) + "\n" + "  " * indent + "}"
    raise TypeError(f"cannot render {type(value).__name__} as HCL")


def _hcl_key(key: Any) -> str:
    key = str(key)
    return key if _IDENT.match(key) else json.dumps(key)


def render_backend_config(config: Mapping[str, Any]) -> str:
    return "".join(f"{_hcl_key(k)} = {hcl_value(v)}\n" for k, v in config.items())


def backend_block(backend_type: str) -> str:
    """The file deployer adds to the module's copy: which backend, its settings come from
    the `-backend-config` file."""
    return f'# Written by deployer: the state backend named in cluster.yaml.\nterraform {{\n  backend "{backend_type}" {{}}\n}}\n'


# --- the cluster's working folder -------------------------------------------------------------


def work_dir(root: Path, cluster: str, env: Mapping[str, str]) -> Path:
    """`<state folder>/terraform/<cluster>` (deployer.paths.state_dir: $DEPLOYER_STATE_DIR, else <root>/.deployer)."""
    from deployer.paths import state_dir

    return state_dir(root, env=env) / "terraform" / cluster


def shipped_modules() -> Path:
    """deployer's own terraform root modules (gcp, aws, azure), as shipped with the package."""
    from deployer.paths import shipped_data

    return shipped_data("terraform")


def module_candidates(root: Path, cluster: Cluster, shipped: Optional[Path] = None) -> list[Path]:
    """Where the cluster's module may be: `terraform.module`, else the repository's
    `terraform/<provider>`, else the one shipped with deployer."""
    tf = cluster.terraform
    if tf is not None and tf.module:
        return [root / tf.module]
    shipped = shipped_modules() if shipped is None else shipped
    return [root / "terraform" / cluster.provider.value, shipped / cluster.provider.value]


def find_module(root: Path, cluster: Cluster, shipped: Optional[Path] = None) -> Optional[Path]:
    return next((p for p in module_candidates(root, cluster, shipped) if p.is_dir()), None)


@dataclass(frozen=True)
class Workspace:
    """Everything the provision commands write for one cluster (all under `dir`)."""

    cluster: str
    dir: Path
    module: Path
    backend_type: str
    backend_config: dict[str, Any]
    variables: dict[str, Any]

    @property
    def code_dir(self) -> Path:  # the module's copy, with deployer's backend file
        return self.dir / "module"

    @property
    def tfvars_file(self) -> Path:
        return self.dir / f"{self.cluster}{TFVARS_SUFFIX}"

    @property
    def backend_file(self) -> Path:
        return self.dir / "backend.tfbackend"

    @property
    def plan_file(self) -> Path:
        return self.dir / "saved.tfplan"

    @property
    def plan_meta_file(self) -> Path:
        return self.dir / "saved.tfplan.json"

    @property
    def outputs_file(self) -> Path:
        return self.dir / "outputs.json"

    @property
    def data_dir(self) -> Path:  # TF_DATA_DIR: providers and the initialised backend
        return self.dir / ".terraform"

    @property
    def state_location(self) -> str:
        return state_location(self.backend_type, self.backend_config)

    def files(self, module_files: Mapping[str, str]) -> dict[Path, str]:
        """Every file to write, by path, with its content."""
        out = {self.code_dir / name: text for name, text in module_files.items()}
        out[self.code_dir / "_deployer_backend.tf"] = backend_block(self.backend_type)
        out[self.tfvars_file] = json.dumps(self.variables, indent=2, sort_keys=True) + "\n"
        out[self.backend_file] = render_backend_config(self.backend_config)
        return out

    def fingerprint(self, module_files: Mapping[str, str]) -> str:
        """Changes whenever anything that shapes a plan changes (module, variables, backend)."""
        return fingerprint(self.files(module_files), self.dir)


def workspace(root: Path, cluster: Cluster, module: Path, env: Mapping[str, str],
              declared: Optional[set[str]] = None) -> Workspace:
    assert cluster.terraform is not None and cluster.terraform.backend is not None
    backend = cluster.terraform.backend
    wdir = work_dir(root, cluster.name, env)
    config = {k: v for k, v in backend.config.items() if k not in STATE_KEYS[backend.type]}
    config.update(state_key(backend.type, cluster.name, wdir))
    return Workspace(cluster.name, wdir, module, backend.type, config, tfvars(cluster, declared))


def fingerprint(files: Mapping[Path, str], base: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(files, key=str):
        rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        h.update(rel.encode() + b"\0" + files[path].encode() + b"\0")
    return h.hexdigest()


# --- reading Terraform's answers --------------------------------------------------------------


@dataclass(frozen=True)
class ResourceChange:
    address: str
    type: str
    action: str  # create | update | delete | replace | read
    replace_paths: tuple[tuple[Any, ...], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "type": self.type, "action": self.action,
                "replace_paths": [list(p) for p in self.replace_paths]}


@dataclass(frozen=True)
class PlanSummary:
    changes: tuple[ResourceChange, ...] = ()
    output_changes: tuple[str, ...] = ()

    def count(self, *actions: str) -> int:
        return sum(1 for c in self.changes if c.action in actions)

    @property
    def add(self) -> int:  # as terraform counts: a replacement adds one and destroys one
        return self.count("create", "replace")

    @property
    def change(self) -> int:
        return self.count("update")

    @property
    def destroy(self) -> int:
        return self.count("delete", "replace")

    @property
    def has_changes(self) -> bool:
        return bool(self.changes) or bool(self.output_changes)

    def line(self) -> str:
        text = f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"
        if self.output_changes and not self.changes:
            text += f" ({len(self.output_changes)} output(s) change)"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"add": self.add, "change": self.change, "destroy": self.destroy,
                "changes": [c.to_json() for c in self.changes], "output_changes": list(self.output_changes)}


def _action(actions: list[str]) -> Optional[str]:
    if actions in (["no-op"], ["read"], []):
        return None
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    return actions[0]


def summarize_plan(plan: Mapping[str, Any]) -> PlanSummary:
    """`terraform show -json <plan>` as a summary: what is added, changed, destroyed."""
    changes = []
    for rc in plan.get("resource_changes") or []:
        change = rc.get("change") or {}
        action = _action(list(change.get("actions") or []))
        if action is None:
            continue
        changes.append(ResourceChange(
            address=str(rc.get("address")), type=str(rc.get("type")), action=action,
            replace_paths=tuple(tuple(p) for p in (change.get("replace_paths") or [])),
        ))
    outputs = tuple(sorted(
        name for name, oc in (plan.get("output_changes") or {}).items()
        if _action(list((oc or {}).get("actions") or [])) is not None
    ))
    return PlanSummary(tuple(changes), outputs)


@dataclass(frozen=True)
class Outputs:
    """`terraform output -json`, split: the values that may be shown and saved, and the names
    of the sensitive ones (whose values are never shown, saved nor logged)."""

    values: dict[str, Any] = field(default_factory=dict)
    sensitive: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"outputs": self.values, "sensitive": list(self.sensitive)}


def split_outputs(raw: Mapping[str, Any]) -> Outputs:
    values: dict[str, Any] = {}
    sensitive: list[str] = []
    for name, item in sorted(raw.items()):
        if not isinstance(item, Mapping):
            continue
        if item.get("sensitive"):
            sensitive.append(name)
        else:
            values[name] = item.get("value")
    return Outputs(values, tuple(sensitive))


def sensitive_strings(raw: Mapping[str, Any]) -> list[str]:
    """Every string inside the sensitive outputs (to register with the redactor)."""
    secret = [item.get("value") for item in raw.values() if isinstance(item, Mapping) and item.get("sensitive")]
    return list(leaf_strings(secret))
