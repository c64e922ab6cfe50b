"""What a release hands Prometheus, Alertmanager and Grafana, checked before it is deployed.

Over the rendered objects (so whatever values or template produced them):
- every rule file in a ConfigMap (a value that is YAML with `groups`: the prometheus chart's
  `serverFiles` alerting_rules.yml / recording_rules.yml, the support chart's alert-rules) is parsed
  by Prometheus' own `promtool check rules`;
- every Grafana dashboard in a ConfigMap (a `.json` value with panels: the grafana chart's
  `dashboards`) has each panel query parsed the same way (deployer.checks.dashboard_queries);
- each Alertmanager webhook URL of the layered values, decrypted ones included, is judged (never shown).
Why promtool rather than a Python PromQL parser: it is the parser the Prometheus server runs (the same
release), so nothing it accepts is refused by Prometheus, and nothing the server refuses passes here.
Each problem names the release, the ConfigMap and key, the group and rule or the panel and query,
the values file (and line) that set it when one did, and the fix.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from deployer.adapters.promtool import Promtool, RuleError
from deployer.checks.alert_routing import webhook_url_problem
from deployer.checks.dashboard_queries import PanelQuery, panel_queries, rule_file
from deployer.config.yamlload import YamlProblem, load_yaml
from deployer.errors import DeployerError
from deployer.render.model import RenderedRelease, RenderProblem

_RULES = re.compile(r"^groups:", re.MULTILINE)
PLACEHOLDER = "placeholder"  # an encrypted value render could not decrypt (render/placeholders.py)
RULE_HINT = ("fix the rule in the values that set it (its `expr` is PromQL, `for:` a duration such as 5m); "
             "`promtool check rules FILE` shows the same")
QUERY_HINT = ("fix the panel's PromQL (Grafana's variables are filled with a word, or a duration inside [...], "
              "before parsing)")


@dataclass
class _Source:
    kind: str  # "rules" | "dashboard"
    config_map: str
    key: str
    template: str
    queries: tuple[PanelQuery, ...] = ()
    title: str = ""


def monitoring_problems(out: RenderedRelease, values_files: list[Path], values: dict[str, Any], root: Path,
                        promtool: Callable[[], Optional[Promtool]]) -> list[RenderProblem]:
    problems = _webhook_problems(out, values_files, values, root)
    sources = _sources(out)
    if not sources:
        return problems
    tool = promtool()
    if tool is None:
        return problems + [RenderProblem(
            out.id, "promtool-missing", "alert rules and dashboard queries not checked: promtool was not found",
            "install it: `deployer tools install promtool`", severity="warning")]
    with tempfile.TemporaryDirectory(prefix="deployer-rules-") as work:
        files: dict[str, _Source] = {}
        for i, (source, text) in enumerate(sources):
            path = Path(work) / f"{i}.yml"
            path.write_text(text, encoding="utf-8")
            files[str(path)] = source
        try:
            errors = tool.check_rules([Path(f) for f in files])
        except DeployerError as e:
            return problems + [RenderProblem(out.id, "promtool-failed", e.message, e.hint)]
    for err in errors:
        source = files.get(err.file)
        if source is not None:
            problems.append(_problem(out, source, err, values_files, root))
    return problems


def _sources(out: RenderedRelease) -> list[tuple[_Source, str]]:
    found: list[tuple[_Source, str]] = []
    for o in out.objects:
        if o.kind != "ConfigMap" or not isinstance(o.body.get("data"), dict):
            continue
        for key, text in sorted(o.body["data"].items()):
            if not isinstance(text, str) or not text.strip():
                continue
            if key.endswith(".json"):
                try:
                    dashboard = json.loads(text)
                except ValueError:
                    continue
                queries = panel_queries(dashboard)
                if queries:
                    title = str(dashboard.get("title") or key) if isinstance(dashboard, dict) else key
                    found.append((_Source("dashboard", o.name, key, o.source, tuple(queries), title),
                                  yaml.safe_dump(rule_file(queries))))
                continue
            if not _RULES.search(text):  # a rule file's top key; other ConfigMaps are not parsed
                continue
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and isinstance(data.get("groups"), list):
                found.append((_Source("rules", o.name, key, o.source), text))
    return found


def _problem(out: RenderedRelease, source: _Source, err: RuleError, values_files: list[Path],
             root: Path) -> RenderProblem:
    if source.kind == "dashboard":
        query = source.queries[err.rule_index - 1] if 0 < err.rule_index <= len(source.queries) else None
        what = query.where if query else "a query"
        message = (f"dashboard \"{source.title}\" ({source.key}): {what} does not parse: "
                   f"{_parse_error(err.message)}")
        if query:
            message += f" (query: {query.expr.strip()[:200]})"
        file = _set_by(values_files, root, ("grafana", "dashboards"), source.key.removesuffix(".json"))
        return RenderProblem(out.id, "dashboard-query-invalid", message, QUERY_HINT, kind="ConfigMap",
                             name=source.config_map, file=file or source.template)
    rule = f"group \"{err.group}\", rule {err.rule_index} (\"{err.rule_name}\"): " if err.rule_index else ""
    message = f"alert rule file {source.key}: {rule}{err.message}"
    file = _set_by(values_files, root, ("prometheus", "serverFiles"), source.key,
                   lambda data: _rule_path(data, err))
    return RenderProblem(out.id, "alert-rules-invalid", message, RULE_HINT, kind="ConfigMap", name=source.config_map,
                         file=file or source.template)


def _parse_error(message: str) -> str:
    return message.removeprefix("could not parse expression: ")


def _webhook_problems(out: RenderedRelease, values_files: list[Path], values: dict[str, Any],
                      root: Path) -> list[RenderProblem]:
    routing = values.get("alertRouting") if isinstance(values.get("alertRouting"), dict) else {}
    receivers = routing.get("receivers") if isinstance(routing.get("receivers"), dict) else {}
    problems = []
    for name, receiver in receivers.items():
        url = receiver.get("webhookUrl") if isinstance(receiver, dict) else None
        if url is None or url == PLACEHOLDER:
            continue
        why = webhook_url_problem(url)
        if why:
            file = _set_by(values_files, root, ("alertRouting", "receivers", name), "webhookUrl")
            problems.append(RenderProblem(
                out.id, "alert-receiver-url", f"the webhook URL of Alertmanager receiver `{name}` {why} (the value "
                "is not shown: webhook URLs are secrets)",
                "give the whole URL the chat or paging service gave you (https://host/path...)", file=file))
    return problems


def _set_by(values_files: list[Path], root: Path, parent: tuple[str, ...], key: str,
            deeper: Callable[[Any], tuple[Any, ...]] = lambda data: ()) -> str:
    """`file:line` of the last values file that sets `key` somewhere under `parent` ("" when none does);
    `deeper` gives the path below the key, within that value, of the very line (a rule's `expr`)."""
    found = ""
    for path in values_files:
        try:
            loaded = load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YamlProblem):
            continue
        hit = _find(loaded.data, parent, key)
        if hit is not None:
            node: Any = loaded.data
            for part in hit:
                node = node[part]
            line, _ = loaded.position((*hit, *deeper(node)))
            try:
                rel = str(path.relative_to(root))
            except ValueError:
                rel = str(path)
            found = f"{rel}:{line}" if line else rel
    return found


def _find(data: Any, parent: tuple[str, ...], key: str) -> Optional[tuple[str, ...]]:
    node = data
    for part in parent:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict) and key in node:
        return (*parent, key)
    # one level deeper (grafana.dashboards.<provider>.<name>)
    for sub, value in (node.items() if isinstance(node, dict) else []):
        if isinstance(value, dict) and key in value:
            return (*parent, sub, key)
    return None


def _rule_path(rules: Any, err: RuleError) -> tuple[Any, ...]:
    """Within a rule file's data, the path of the failing rule's `expr` (or of the rule, or nothing)."""
    groups = rules.get("groups") if isinstance(rules, dict) else None
    for gi, group in enumerate(groups if isinstance(groups, list) else []):
        if isinstance(group, dict) and group.get("name") == err.group and err.rule_index:
            entries = group.get("rules")
            if isinstance(entries, list) and err.rule_index <= len(entries):
                rule = entries[err.rule_index - 1]
                field = "expr" if "expression" in err.message and isinstance(rule, dict) and "expr" in rule else None
                return ("groups", gi, "rules", err.rule_index - 1, *((field,) if field else ()))
            return ("groups", gi)
    return ()
