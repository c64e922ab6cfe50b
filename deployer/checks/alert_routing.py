"""Where a cluster's alerts go: the support values' `alertRouting` (Alertmanager's receivers and routes,
templates/alertmanager-config.yaml), checked offline before anything is rendered.

- a receiver's `webhookUrl` must be an http(s) URL with a host (Alertmanager refuses anything else, and
  its pod would not start); the URL is a secret, so no message ever shows it;
- a route, or the default `receiver`, must name a receiver that exists;
- `alertRouting` with Alertmanager switched off would do nothing: refused;
- `prometheus.alertmanager.config` is not read (the chart writes Alertmanager's configuration from
  `alertRouting`): refused, with where to move it.

Values stored encrypted (sops `ENC[...]`) are not judged here; `deployer render` judges the decrypted ones.
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit

from deployer.checks.problems import Problem, Severity
from deployer.config.file_reader import DataFile

NULL_RECEIVER = "null"  # the chart's receiver with no config: alerts shown, sent nowhere
URL_HINT = ("give the whole URL the chat or paging service gave you (https://host/path...), in the cluster's "
            "sops-encrypted support values file (enc-support.secret.values.yaml)")


def webhook_url_problem(url: Any) -> Optional[str]:
    """Why `url` is no webhook URL Alertmanager takes (None: it is one). Never repeats the URL."""
    if not isinstance(url, str):
        return f"is a {type(url).__name__}, not a URL"
    if not url or url != url.strip() or any(c.isspace() for c in url):
        return "is empty or has spaces in it"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL (its host or port cannot be read)"
    if parts.scheme not in ("http", "https"):
        return "does not start with https:// (or http://)"
    if not parts.hostname:
        return "has no host"
    del port
    return None


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[")


def check_alert_routing(files: list[DataFile]) -> list[Problem]:
    """Problems with `alertRouting` and `prometheus.alertmanager` in one cluster's support values files."""
    problems: list[Problem] = []
    receivers: set[str] = set()
    references: list[tuple[DataFile, tuple[Any, ...], str]] = []
    routing_at: Optional[tuple[DataFile, tuple[Any, ...]]] = None
    alertmanager_on: Any = True  # the chart's default
    for f in files:
        data = f.data if isinstance(f.data, dict) else {}
        prometheus = data.get("prometheus") if isinstance(data.get("prometheus"), dict) else {}
        alertmanager = prometheus.get("alertmanager") if isinstance(prometheus.get("alertmanager"), dict) else {}
        if "enabled" in alertmanager:
            alertmanager_on = alertmanager["enabled"]
        if "config" in alertmanager:
            problems.append(_problem(
                f, ("prometheus", "alertmanager", "config"), "alertmanager-config-not-read",
                "support: `prometheus.alertmanager.config` is not read: the support chart writes Alertmanager's "
                "configuration itself, from `alertRouting`",
                "move receivers to `alertRouting.receivers` (<name>: {webhookUrl: ...}) and routes to "
                "`alertRouting.routes` (docs/charts-keys.md, section support)"))
        routing = data.get("alertRouting")
        if not isinstance(routing, dict):
            continue
        routing_at = (f, ("alertRouting",))
        given = routing.get("receivers")
        for name, receiver in (given.items() if isinstance(given, dict) else []):
            receivers.add(str(name))
            url = receiver.get("webhookUrl") if isinstance(receiver, dict) else None
            path = ("alertRouting", "receivers", name, "webhookUrl")
            if url is None or is_encrypted(url):
                continue
            why = webhook_url_problem(url)
            if why:
                problems.append(_problem(f, path, "alert-receiver-url",
                                         f"support: the webhook URL of receiver `{name}` {why} (the value is not "
                                         "shown: webhook URLs are secrets)", URL_HINT))
            elif not f.sops_metadata:
                problems.append(_problem(f, path, "alert-receiver-url-in-plain-file",
                                         f"support: the webhook URL of receiver `{name}` is in a file that is not "
                                         "encrypted: anyone who can read the repository can post alerts to it",
                                         URL_HINT, Severity.warning))
        if isinstance(routing.get("receiver"), str):
            references.append((f, ("alertRouting", "receiver"), routing["receiver"]))
        for i, route in enumerate(routing.get("routes") or [] if isinstance(routing.get("routes"), list) else []):
            if isinstance(route, dict) and isinstance(route.get("receiver"), str):
                references.append((f, ("alertRouting", "routes", i, "receiver"), route["receiver"]))
    for f, path, name in references:
        if name not in receivers and name != NULL_RECEIVER:
            problems.append(_problem(f, path, "alert-receiver-unknown",
                                     f"support: `{'.'.join(map(str, path))}` names the receiver `{name}`, which "
                                     "`alertRouting.receivers` does not define",
                                     f"name one of: {', '.join(sorted(receivers)) or 'none defined yet'}; or define "
                                     f"`alertRouting.receivers.{name}` (webhookUrl)"))
    if routing_at is not None and alertmanager_on is False:
        problems.append(_problem(routing_at[0], routing_at[1], "alert-routing-unused",
                                 "support: `alertRouting` is set but `prometheus.alertmanager.enabled` is false: "
                                 "no alert would be sent anywhere",
                                 "remove `prometheus.alertmanager.enabled: false` (Alertmanager is on by default), "
                                 "or remove `alertRouting`"))
    return problems


def _problem(f: DataFile, path: tuple[Any, ...], code: str, message: str, hint: str,
             severity: Severity = Severity.error) -> Problem:
    line, column = f.loaded.position(path) if f.loaded is not None else (0, 0)
    return Problem(file=f.rel, line=line, column=column, code=code, message=message, hint=hint, severity=severity)
