"""Cross-field rules: names, uniqueness, domains, and the provider block."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from deployer.checks.problems import Problem, Severity
from deployer.config.models import PROVIDER_BLOCKS, Cluster, Hub, Provider
from deployer.config.yamlload import Loaded

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
HOSTNAME = re.compile(r"(?=.{1,253}\Z)([a-z0-9*]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\Z")
HELM_RELEASE_MAX = 53  # helm refuses longer release names


@dataclass(frozen=True)
class ClusterDoc:
    """A cluster.yaml that passed the schema: its model, its parsed data (for positions), its folder."""

    folder_name: str
    rel: str
    loaded: Loaded
    model: Cluster


def _at(doc: ClusterDoc, path: tuple, code: str, message: str, hint: str | None = None, value: bool = True) -> Problem:
    pos = doc.loaded.value_positions.get(path) if value else None
    line, col = pos or doc.loaded.position(path)
    return Problem(file=doc.rel, line=line, column=col, code=code, message=message, hint=hint)


def check_names(doc: ClusterDoc) -> list[Problem]:
    c = doc.model
    problems: list[Problem] = []
    if c.name != doc.folder_name:
        problems.append(
            _at(doc, ("name",), "name-mismatch", f"name `{c.name}` differs from its folder `{doc.folder_name}`",
                f"set `name: {doc.folder_name}`, or rename the folder")
        )
    if not DNS_LABEL.match(c.name):
        problems.append(
            _at(doc, ("name",), "bad-name", f"cluster name `{c.name}` is not a DNS label",
                "use lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit")
        )
    seen: dict[str, int] = {}
    for i, hub in enumerate(c.hubs):
        if not DNS_LABEL.match(hub.name):
            problems.append(
                _at(doc, ("hubs", i, "name"), "bad-name", f"hub name `{hub.name}` is not a DNS label",
                    "hub names become Kubernetes namespaces: lowercase letters, digits and '-', starting and ending with a letter or digit")
            )
        elif len(hub.name) > HELM_RELEASE_MAX:
            problems.append(
                _at(doc, ("hubs", i, "name"), "bad-name", f"hub name `{hub.name}` is longer than {HELM_RELEASE_MAX} characters",
                    "hub names are helm release names, which helm limits to 53 characters")
            )
        if hub.name in seen:
            problems.append(
                _at(doc, ("hubs", i, "name"), "duplicate-hub",
                    f"hub `{hub.name}` is listed twice (first as hubs[{seen[hub.name]}])",
                    "hub names must be unique within a cluster; rename or remove one")
            )
        else:
            seen[hub.name] = i
    return problems


def check_domains_syntax(doc: ClusterDoc) -> list[Problem]:
    problems = []
    for i, hub in enumerate(doc.model.hubs):
        if not HOSTNAME.match(hub.domain.lower()):
            problems.append(
                _at(doc, ("hubs", i, "domain"), "bad-domain", f"`{hub.domain}` is not a valid domain name",
                    "a hostname such as hub.example.org (no scheme, no path, no port)")
            )
    return problems


def check_unique_domains(
    docs: Iterable[ClusterDoc], report: Callable[[ClusterDoc, Hub], bool] = lambda doc, hub: True
) -> list[Problem]:
    """Two hubs on one domain would fight over the same ingress: an error, wherever they are.

    Every hub takes part; `report` says which hubs' clashes are reported (those being validated).
    """
    first: dict[str, tuple[ClusterDoc, int]] = {}
    problems = []
    for doc in docs:
        for i, hub in enumerate(doc.model.hubs):
            key = hub.domain.lower().rstrip(".")
            if key in first:
                other, j = first[key]
                if not report(doc, hub):
                    continue
                where = f"{other.model.name}/{other.model.hubs[j].name}"
                problems.append(
                    _at(doc, ("hubs", i, "domain"), "duplicate-domain",
                        f"domain `{hub.domain}` is already used by hub {where} ({other.rel})",
                        "every hub needs its own domain")
                )
            else:
                first[key] = (doc, i)
    return problems


def check_provider_block(doc: ClusterDoc) -> list[Problem]:
    c = doc.model
    problems = []
    wanted = c.provider.value
    data = doc.loaded.data
    if c.provider is not Provider.local and getattr(c, wanted) is None:
        problems.append(
            _at(doc, ("provider",), "provider-block-missing", f"provider is `{wanted}` but there is no `{wanted}:` block",
                _PROVIDER_HINTS[wanted])
        )
    for other in PROVIDER_BLOCKS:
        if other != wanted and isinstance(data, dict) and other in data:
            problems.append(
                _at(doc, (other,), "provider-block-mismatch",
                    f"`{other}:` block given, but provider is `{wanted}`",
                    f"remove the `{other}:` block, or set `provider: {other}`", value=False)
            )
    return problems


_PROVIDER_HINTS = {
    "gcp": "add `gcp:` with key, project, cluster and zone",
    "aws": "add `aws:` with account, key, clusterType: eks, clusterName and region",
    "azure": "add `azure:` with key, resource_group and cluster",
    "kubeconfig": "add `kubeconfig:` with `file:` naming the (sops-encrypted) kubeconfig",
    "local": "",
}


def check_cluster(doc: ClusterDoc) -> list[Problem]:
    return [*check_names(doc), *check_domains_syntax(doc), *check_provider_block(doc)]


def warning(problem: Problem) -> Problem:
    return problem.model_copy(update={"severity": Severity.warning})
