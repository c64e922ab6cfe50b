"""Values given to a subchart without a values schema that it never reads are named (render warns)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from deployer.render.subchart_keys import unread_problem, unread_subchart_values


def chart(tmp_path: Path, *, schema: bool = False) -> Path:
    top = tmp_path / "top"
    sub = top / "charts" / "dash"
    (sub / "templates").mkdir(parents=True)
    (top / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "top", "version": "1.0.0",
                                                    "dependencies": [{"name": "dash", "version": "2.0.0"}]}))
    (sub / "Chart.yaml").write_text("apiVersion: v2\nname: dash\nversion: 2.0.0\n")
    (sub / "values.yaml").write_text("replicas: 1\ningress: {}\n# adminPassword: secret\n")
    (sub / "templates" / "deploy.yaml").write_text(
        'password: {{ .Values.adminPassword }}\nini: {{ index .Values "dash.ini" | toYaml }}\n')
    if schema:
        (sub / "values.schema.json").write_text(json.dumps({"type": "object"}))
    return top


def test_a_key_neither_in_the_defaults_nor_read_by_a_template_is_named(tmp_path):
    top = chart(tmp_path)
    given = {"dash": {"replicas": 2, "adminPassword": "x", "dash.ini": {}, "enabled": True, "global": {},
                      "auth.github": {"enabled": True}, "ingres": {}}}
    found = unread_subchart_values(top, given)
    assert [(u.subchart, u.key, u.version, u.suggestion) for u in found] == [
        ("dash", "auth.github", "2.0.0", None), ("dash", "ingres", "2.0.0", "ingress")]
    problem = unread_problem("c/support", found[1])
    assert problem.severity == "warning" and problem.code == "subchart-value-unread"
    assert problem.message.startswith("`dash.ingres` is not a value of the dash 2.0.0 chart")
    assert problem.hint.startswith("did you mean `dash.ingress`?")


def test_a_subchart_with_a_schema_is_left_to_helm(tmp_path):
    assert unread_subchart_values(chart(tmp_path, schema=True), {"dash": {"anything": 1}}) == []
