"""Values for render when no key is at hand: an encrypted file's keys kept, with placeholder values
(deploy's own layering otherwise; `render/inputs.py::ValuesReader`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from deployer.adapters.sops import AGE_KEY_ENV, Sops
from deployer.config.file_reader import is_secret_name
from deployer.config.yamlload import YamlProblem, decode, load_yaml
from deployer.render.inputs import ValuesReader


PLACEHOLDER = {"str": "placeholder", "int": 0, "float": 0.0, "bool": False, "bytes": "placeholder"}
_ENC = re.compile(r"^ENC\[[A-Z0-9_]+,data:.*,type:(\w+)\]$", re.S)




class PlaceholderReader(ValuesReader):
    """deploy's own values layering; only reading an encrypted file differs when no key is at hand
    (its keys are kept, with placeholder values)."""

    def __init__(self, sops: Sops, cloud_outputs: dict[str, Any], decrypt: bool) -> None:
        super().__init__(sops, cloud_outputs)
        self.decrypt = decrypt
        self.placeholders: list[str] = []  # names of the files read with placeholder values, in order
        self._placeholder_paths: set[Path] = set()

    def placeholders_of(self, spec) -> list[str]:
        """The encrypted files of `spec` (a ReleaseSpec) whose values are placeholders."""
        return [f.name for f in spec.values_files if Path(f) in self._placeholder_paths]

    def read_uncached(self, path: Path) -> dict[str, Any]:
        if not is_secret_name(path.name):
            return super().read_uncached(path)
        try:
            raw = load_yaml(decode(path.read_bytes()), positions=False).data
        except (OSError, YamlProblem):
            return super().read_uncached(path)  # the same error deploy gives
        meta = raw.get("sops") if isinstance(raw, dict) else None
        if self.decrypt and _age_key_available() and isinstance(meta, dict) and meta.get("age"):
            return super().read_uncached(path)
        self.placeholders.append(path.name)
        self._placeholder_paths.add(Path(path))
        data = _placeholders(raw)
        if isinstance(data, dict):
            data.pop("sops", None)
        return data if isinstance(data, dict) else {}


def _age_key_available() -> bool:
    key_file = os.environ.get(AGE_KEY_ENV)
    return bool(os.environ.get("SOPS_AGE_KEY")) or bool(key_file and Path(key_file).is_file())


def _placeholders(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _placeholders(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_placeholders(v) for v in node]
    if isinstance(node, str):
        m = _ENC.match(node)
        if m:
            return PLACEHOLDER.get(m.group(1), "placeholder")
    return node
