"""JSON Schema export of the configuration models."""

from __future__ import annotations

from typing import Any

from deployer.config.models import Cluster


def cluster_json_schema() -> dict[str, Any]:
    schema = Cluster.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://deployer.invalid/schema/cluster.json"
    schema["title"] = "deployer cluster.yaml"
    return schema
