"""Subchart schemas that refer to Kubernetes definitions on the web are made whole offline, from the
definitions kubernetes-validate ships; any other remote reference is an error naming it."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from deployer.adapters.schema_refs import make_schemas_offline, remote_refs, resolve
from deployer.errors import ConfigError

DEFS = "https://raw.githubusercontent.com/nginxinc/kubernetes-json-schema/master/v1.35.1/_definitions.json"


def schema_with(*refs: str) -> dict:
    return {"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object",
            "properties": {f"p{i}": {"$ref": ref} for i, ref in enumerate(refs)}}


def test_a_remote_kubernetes_definition_becomes_local_with_what_it_refers_to():
    schema = schema_with(f"{DEFS}#/definitions/io.k8s.api.core.v1.Volume",
                         f"{DEFS}#/definitions/io.k8s.api.core.v1.Container/properties/imagePullPolicy")
    out = resolve(schema, "nginx-ingress")
    assert out["properties"]["p0"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Volume"}
    assert out["properties"]["p1"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container/properties/imagePullPolicy"}
    defs = out["definitions"]
    # a Volume's hostPath refers to HostPathVolumeSource: brought along, and referred to locally
    assert defs["io.k8s.api.core.v1.Volume"]["properties"]["hostPath"]["$ref"] == \
        "#/definitions/io.k8s.api.core.v1.HostPathVolumeSource"
    assert "io.k8s.api.core.v1.HostPathVolumeSource" in defs
    assert remote_refs(out) == []
    assert not any('"#/$defs/' in json.dumps(d) for d in defs.values())
    assert schema["properties"]["p0"]["$ref"].startswith("https://")  # the input is left as it was


def test_any_other_remote_reference_is_an_error_naming_it():
    with pytest.raises(ConfigError) as e:
        resolve(schema_with("https://example.org/schemas/thing.json#/definitions/x"), "odd")
    assert e.value.message == ("chart odd: its values.schema.json refers to https://example.org/schemas/thing.json"
                               "#/definitions/x, which deployer cannot resolve offline")


def test_a_definition_the_local_schemas_lack_is_an_error():
    with pytest.raises(ConfigError) as e:
        resolve(schema_with(f"{DEFS}#/definitions/io.k8s.api.core.v1.NoSuchThing"), "c")
    assert "do not have (io.k8s.api.core.v1.NoSuchThing)" in e.value.message


def _archive(path: Path, name: str, schema: dict) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for file, text in ((f"{name}/Chart.yaml", f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n"),
                           (f"{name}/values.schema.json", json.dumps(schema))):
            data = text.encode()
            info = tarfile.TarInfo(file)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_only_subcharts_with_remote_references_are_unpacked_and_rewritten(tmp_path):
    charts = tmp_path / "top" / "charts"
    charts.mkdir(parents=True)
    _archive(charts / "remote-1.0.0.tgz", "remote", schema_with(f"{DEFS}#/definitions/io.k8s.api.core.v1.Volume"))
    _archive(charts / "plain-1.0.0.tgz", "plain", {"type": "object"})
    assert make_schemas_offline(tmp_path / "top") == ["remote"]
    assert sorted(p.name for p in charts.iterdir()) == ["plain-1.0.0.tgz", "remote"]
    rewritten = json.loads((charts / "remote" / "values.schema.json").read_text())
    assert remote_refs(rewritten) == []
    assert make_schemas_offline(tmp_path / "top") == []  # done once
