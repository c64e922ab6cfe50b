"""Every form in which a planted secret could show in an output, file or process: what the leak
tests grep for (independent of deployer/redact.py, which they check)."""

from __future__ import annotations

import base64
import json
import shlex


def _yaml_double_quoted(secret: str, allow_unicode: bool) -> str:
    import yaml

    return yaml.safe_dump(secret, default_style='"', allow_unicode=allow_unicode, width=10**6).strip()[1:-1]


def needles(secret: str) -> set[str]:
    escaped = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], shlex.quote(secret),
               repr(secret)[1:-1], ascii(secret)[1:-1], _yaml_double_quoted(secret, False),
               _yaml_double_quoted(secret, True)}
    forms = set(escaped)
    for form in escaped:  # any of them inside a JSON string (a repr quoted in a message of a JSON report)
        forms |= {json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]}
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(enc(secret.encode()).decode().rstrip("="))
    forms |= {line for line in secret.splitlines() if len(line) >= 8}
    return {f for f in forms if f}


def leaks_in(data: bytes, secrets: dict[str, str]) -> list[str]:
    """The names and forms of the secrets found in `data`."""
    found = []
    for name, secret in secrets.items():
        for needle in needles(secret):
            if needle.encode() in data:
                found.append(f"{name} as {needle!r}")
    return found
