"""Hostile and broken input: mutated corpus files always end in a problem report, never a
traceback, a hang, or a silent pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployer.checks.validate import validate
from deployer.config.yamlload import load_yaml
from tests.conftest import require_corpus

SMALL_CLUSTERS = ["2i2c", "bnext-bio", "earthscope", "utoronto", "2i2c-uk"]


def copy_cluster(name: str, dest: Path) -> Path:
    src = require_corpus() / "config" / "clusters" / name
    target = dest / "config" / "clusters" / name
    shutil.copytree(src, target)
    return target


def dump(data) -> str:
    import io

    from ruamel.yaml import YAML

    buf = io.StringIO()
    YAML().dump(data, buf)
    return buf.getvalue()


def errors_for(root: Path, rel_suffix: str):
    report = validate(root).report
    return [p for p in report.errors if p.file.endswith(rel_suffix) or rel_suffix in p.message]


REQUIRED_HUB_KEYS = ["name", "domain", "helm_chart"]
BAD_VALUES = [[], {}, 12, None, True, ["a", "b"]]

settings.register_profile("bad-input", deadline=None, max_examples=40, suppress_health_check=list(HealthCheck))


@settings.get_profile("bad-input")
@given(cluster=st.sampled_from(SMALL_CLUSTERS), data=st.data())
def test_removing_a_required_key_is_reported(cluster, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_cluster(cluster, Path(tmp))
        doc = load_yaml((folder / "cluster.yaml").read_text()).data
        if data.draw(st.booleans()):
            key = data.draw(st.sampled_from(["name", "provider"]))
            del doc[key]
        else:
            hub = data.draw(st.integers(0, len(doc["hubs"]) - 1))
            del doc["hubs"][hub][data.draw(st.sampled_from(REQUIRED_HUB_KEYS))]
        (folder / "cluster.yaml").write_text(dump(doc))
        assert errors_for(Path(tmp), "cluster.yaml")


@settings.get_profile("bad-input")
@given(cluster=st.sampled_from(SMALL_CLUSTERS), data=st.data())
def test_changing_a_type_or_adding_an_unknown_key_is_reported(cluster, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_cluster(cluster, Path(tmp))
        doc = load_yaml((folder / "cluster.yaml").read_text()).data
        hub = doc["hubs"][data.draw(st.integers(0, len(doc["hubs"]) - 1))]
        choice = data.draw(st.sampled_from(["type-hub", "type-top", "unknown-hub", "unknown-top"]))
        if choice == "type-hub":
            key = data.draw(st.sampled_from(["name", "domain", "helm_chart_values_files", "display_name"]))
            bad = data.draw(st.sampled_from([v for v in BAD_VALUES if type(v) is not type(hub.get(key)) and v is not None]))
            hub[key] = bad
        elif choice == "type-top":
            doc[data.draw(st.sampled_from(["hubs", "support", "provider"]))] = data.draw(st.sampled_from([12, "x", ["a"]]))
        else:
            target = hub if choice == "unknown-hub" else doc
            target[data.draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12)) + "_x"] = "value"
        (folder / "cluster.yaml").write_text(dump(doc))
        assert errors_for(Path(tmp), "cluster.yaml")


@settings.get_profile("bad-input")
@given(cluster=st.sampled_from(SMALL_CLUSTERS), data=st.data())
def test_damaged_files_are_reported_never_raised(cluster, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_cluster(cluster, Path(tmp))
        files = sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".json"))
        name = data.draw(st.sampled_from(files))
        path = folder / name
        raw = path.read_bytes()
        how = data.draw(st.sampled_from(["truncate", "binary", "non-utf8", "empty", "bomb", "deep", "garbage"]))
        if how == "truncate":
            path.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))])
        elif how == "binary":
            path.write_bytes(data.draw(st.binary(min_size=1, max_size=200)) + b"\x00")
        elif how == "non-utf8":
            at = data.draw(st.integers(0, len(raw)))
            path.write_bytes(raw[:at] + b"\xff\xfe\xc3" + raw[at:])
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "bomb":
            lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
            lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]" for i in range(1, 10)]
            path.write_text("\n".join(lines) + "\n")
        elif how == "deep":
            path.write_text("a: " + "[" * 10000 + "]" * 10000 + "\n")
        else:
            path.write_text(data.draw(st.text(min_size=1, max_size=300)) + "\n: : [\n")
        report = validate(Path(tmp)).report  # must not raise
        referenced = name == "cluster.yaml" or name in (folder / "cluster.yaml").read_text(errors="replace")
        must_fail = how in ("binary", "non-utf8", "bomb", "deep", "garbage") or (how == "empty" and name == "cluster.yaml")
        if referenced and must_fail:
            assert any(p.file.endswith(name) or name in p.message for p in report.errors), (how, name, report.problems)


@pytest.mark.parametrize("case", ["symlink-out", "no-cluster-yaml", "cluster-yaml-is-a-dir", "fifo", "alias-bomb"])
def test_fixed_bad_cases_exit_1_through_the_cli_without_traceback(tmp_path, case):
    folder = copy_cluster("2i2c", tmp_path / "repo")
    if case == "symlink-out":
        secret = tmp_path / "elsewhere.yaml"
        secret.write_text("stolen: data\n")
        (folder / "common.values.yaml").unlink()
        os.symlink(secret, folder / "common.values.yaml")
    elif case == "no-cluster-yaml":
        (folder / "cluster.yaml").unlink()
    elif case == "cluster-yaml-is-a-dir":
        (folder / "cluster.yaml").unlink()
        (folder / "cluster.yaml").mkdir()
    elif case == "fifo":
        (folder / "common.values.yaml").unlink()
        os.mkfifo(folder / "common.values.yaml")
    elif case == "alias-bomb":
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]" for i in range(1, 12)]
        (folder / "cluster.yaml").write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "deployer", "--root", str(tmp_path / "repo"), "validate"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "error" in proc.stdout
