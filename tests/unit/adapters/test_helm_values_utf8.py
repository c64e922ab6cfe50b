"""Values reach helm as UTF-8 JSON: an emoji in a (secret) value survives helm's YAML parser."""

from __future__ import annotations

import json
import subprocess

from deployer.adapters.helm import utf8_values
from tests.conftest import require_tool

VALUES = {"secret": "S3cr3t-CANARY-ünï€😀", "quote": 'q"uo\'te\\n\t'}


def test_values_json_has_no_surrogate_escapes_and_means_the_same():
    escaped = json.dumps(VALUES).encode()  # what pyhelm3 writes
    assert b"\\ud83d\\ude00" in escaped
    out = utf8_values(escaped)
    assert b"\\ud83d" not in out and json.loads(out) == VALUES
    assert utf8_values(None) is None and utf8_values(b"not json") == b"not json"


def test_helm_reads_the_values_it_refused_before(tmp_path):
    helm = require_tool("helm")
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  s: {{ .Values.secret | quote }}\n")
    args = [str(helm), "template", "r", str(chart), "-f", "-"]
    before = subprocess.run(args, input=json.dumps(VALUES).encode(), capture_output=True, timeout=60)
    assert before.returncode == 1 and b"invalid Unicode character escape code" in before.stderr
    after = subprocess.run(args, input=utf8_values(json.dumps(VALUES).encode()), capture_output=True, timeout=60)
    assert after.returncode == 0, after.stderr
    assert 's: "S3cr3t-CANARY-ünï€😀"' in after.stdout.decode()
