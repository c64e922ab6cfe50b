"""The `terraform:` block of a cluster.yaml against its module's variables.tf (offline, pure).

- the module exists and its `*.tf` files parse;
- the backend is given, has what it needs, and leaves the state's key to deployer;
- every variable is declared by the module (else "did you mean"), fits its declared type,
  and does not repeat one deployer sets from the provider block;
- every required variable is given (or set by deployer).
Only clusters with a `terraform:` block are checked, so the cost of the HCL parser is paid by
them alone.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Optional

from deployer.checks.problems import Problem
from deployer.checks.rules import ClusterDoc
from deployer.config.tfmodule import Module, ModuleError, read_module, type_errors
from deployer.plan.terraform_plan import (
    REQUIRED_BACKEND_KEYS, STATE_KEYS, default_variables, find_module, fixed_variables, module_candidates,
)

_FIXED_FROM = {
    "aws": "the `aws:` block", "gcp": "the `gcp:` block", "azure": "the `azure:` block",
}


def _at(doc: ClusterDoc, path: tuple, code: str, message: str, hint: Optional[str] = None,
        value: bool = False) -> Problem:
    """A problem at `path`: its key, or (`value`) where its value starts."""
    pos = doc.loaded.value_positions.get(tuple(path)) if value else None
    line, col = pos or doc.loaded.position(path)
    return Problem(file=doc.rel, line=line, column=col, code=code, message=message, hint=hint)


def _path_text(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def check_terraform(doc: ClusterDoc, root: Path, shipped: Optional[Path] = None) -> list[Problem]:
    cluster = doc.model
    tf = cluster.terraform
    if tf is None:
        return []
    problems: list[Problem] = []
    base = ("terraform",)
    # the backend
    if tf.backend is None:
        problems.append(_at(doc, base, "terraform-backend-missing",
                            "the `terraform:` block has no `backend:`: deployer would not know where the state lives",
                            "add `backend: {type: s3, config: {bucket: ..., region: ...}}` (gcs, azurerm; "
                            "`type: local` only for tests)"))
    else:
        btype = tf.backend.type
        for key in STATE_KEYS[btype]:
            if key in tf.backend.config:
                problems.append(_at(doc, base + ("backend", "config", key), "terraform-state-key",
                                    f"`{key}` is set by deployer: each cluster's state is named after the cluster",
                                    f"remove `{key}`; the state goes to deployer/{cluster.name}/..."))
        for key in REQUIRED_BACKEND_KEYS[btype]:
            if key not in tf.backend.config:
                problems.append(_at(doc, base + ("backend",), "terraform-backend-incomplete",
                                    f"the {btype} backend needs `{key}` under `config:`",
                                    f"add `{key}: ...` to terraform.backend.config"))
    # the module
    folder = find_module(root, cluster, shipped)
    if folder is None:
        tried = ", ".join(str(p) for p in module_candidates(root, cluster, shipped))
        problems.append(_at(doc, base + (("module",) if tf.module else ()), "terraform-module-missing",
                            f"no Terraform module for this cluster (looked in {tried})",
                            "set `terraform.module` to a folder of *.tf files, relative to the repository root"))
        return problems
    try:
        module = read_module(folder)
    except ModuleError as e:
        problems.append(_at(doc, base, "terraform-module-invalid", f"Terraform module {folder}: {e.message}",
                            "fix the module (`terraform fmt` and `terraform validate` show where)"))
        return problems
    problems.extend(check_variables(doc, module))
    return problems


def check_variables(doc: ClusterDoc, module: Module) -> list[Problem]:
    cluster = doc.model
    assert cluster.terraform is not None
    given = cluster.terraform.variables
    fixed = fixed_variables(cluster)
    defaults = default_variables(cluster, set(module.variables))
    where = f"variables.tf of {module.path.name}"
    problems: list[Problem] = []
    vpath = ("terraform", "variables")
    for name in fixed:
        if name not in module.variables:
            problems.append(_at(doc, ("terraform",), "terraform-module-mismatch",
                                f"the module at {module.path} does not declare `{name}`, which deployer sets "
                                f"from {_FIXED_FROM.get(cluster.provider.value, 'the provider block')}",
                                f"declare `variable \"{name}\"` in the module, or point terraform.module at the right one"))
    for name, value in given.items():
        at = vpath + (name,)
        if name in fixed:
            problems.append(_at(doc, at, "terraform-variable-fixed",
                                f"`{name}` is set by deployer from {_FIXED_FROM.get(cluster.provider.value, 'the provider block')} "
                                f"(`{fixed[name]}`)",
                                f"remove `{name}` from terraform.variables; change the provider block instead"))
            continue
        var = module.variables.get(name)
        if var is None:
            close = difflib.get_close_matches(name, list(module.variables), n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`? " if close else ""
            problems.append(_at(doc, at, "terraform-unknown-variable",
                                f"`{name}` is not a variable of the module ({where})",
                                f"{hint}known variables: {', '.join(sorted(module.variables))}"))
            continue
        if value is None:
            if not var.nullable:
                problems.append(_at(doc, at, "terraform-variable-type", f"`{name}` may not be null",
                                    f"give a value of type {var.type}, or remove the line to use the default"))
            continue
        for sub, message in type_errors(value, var.type):
            problems.append(_at(doc, at + sub, "terraform-variable-type",
                                f"`{_path_text((name,) + sub)}`: {message}",
                                f"`{name}` is declared as {var.type} in {var.file}"
                                + (f": {var.description}" if var.description else ""), value=True))
    for name, var in sorted(module.variables.items()):
        if var.required and name not in given and name not in fixed and name not in defaults:
            problems.append(_at(doc, vpath if "variables" in (doc.loaded.data.get("terraform") or {}) else ("terraform",),
                                "terraform-variable-missing",
                                f"the module requires `{name}`, which is not given",
                                f"add `{name}: ...` under terraform.variables ({var.type}"
                                + (f": {var.description}" if var.description else "") + ")"))
    return problems
