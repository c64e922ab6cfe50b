"""The real configuration of an outside team (../shared/corpus) validates as it is."""

from __future__ import annotations

import json
import subprocess
import sys

from deployer.checks.validate import validate
from tests.conftest import output_json


# What the corpus asks of 2i2c's basehub that ours does not provide: refused by name (issue 12,
# "no silent drops"); every other key of the corpus works.
CORPUS_REFUSALS = {"home-nfs-server-unavailable": 132, "binderhub-unavailable": 30,
                   "gateway-service-name-unknown": 18, "nfs-dirsize-reporter-unavailable": 5}


def test_whole_corpus_validates_except_the_features_our_basehub_refuses_by_name(corpus_root):
    report = validate(corpus_root).report
    found: dict[str, int] = {}
    for p in report.errors:
        found[p.code] = found.get(p.code, 0) + 1
    assert found == CORPUS_REFUSALS, [p.location + " " + p.message for p in report.errors if p.code not in CORPUS_REFUSALS]
    assert all(p.hint for p in report.errors)
    assert report.clusters == 20 and report.hubs == 148
    # the corpus really has a few unreferenced files; they are warnings, named one by one
    assert {p.code for p in report.warnings} <= {"unreferenced-file"}


def test_every_hub_of_the_corpus_is_checked(corpus_root):
    docs = validate(corpus_root).docs
    assert sum(len(d.model.hubs) for d in docs) == 148
    assert {d.model.provider.value for d in docs} == {"gcp", "aws", "kubeconfig"}


def test_corpus_through_the_cli_in_one_process(corpus_root):
    proc = subprocess.run(
        [sys.executable, "-m", "deployer", "--root", str(corpus_root), "validate", "--output", "json"],
        capture_output=True, text=True, timeout=120,
    )
    payload = output_json(proc, 1)  # the refusals above
    assert payload["summary"]["errors"] == sum(CORPUS_REFUSALS.values())
    assert payload["summary"]["clusters"] == 20 and payload["summary"]["hubs"] == 148
    assert "ENC[" not in proc.stdout + proc.stderr
