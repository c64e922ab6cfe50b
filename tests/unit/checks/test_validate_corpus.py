"""The real configuration of an outside team (../shared/corpus) validates as it is."""

from __future__ import annotations

import subprocess
import sys

from deployer.checks.validate import validate
from tests.conftest import output_json


def test_whole_corpus_validates_with_no_error(corpus_root):
    report = validate(corpus_root).report
    assert report.errors == [], [p.location + " " + p.message for p in report.errors]
    assert report.clusters == 20 and report.hubs == 148
    # what the corpus really has: unreferenced files, an in-cluster NFS server addressed by its
    # ClusterIP (the team's EKS hubs), settings of a part our basehub lacks; each named one by one
    found: dict[str, int] = {}
    for p in report.warnings:
        found[p.code] = found.get(p.code, 0) + 1
    assert found == {"unreferenced-file": 4, "nfs-server-address-pinned": 33, "static-website-unavailable": 1}
    assert all(p.hint for p in report.warnings)


def test_every_hub_of_the_corpus_is_checked(corpus_root):
    docs = validate(corpus_root).docs
    assert sum(len(d.model.hubs) for d in docs) == 148
    assert {d.model.provider.value for d in docs} == {"gcp", "aws", "kubeconfig"}


def test_corpus_through_the_cli_in_one_process(corpus_root):
    proc = subprocess.run(
        [sys.executable, "-m", "deployer", "--root", str(corpus_root), "validate", "--output", "json"],
        capture_output=True, text=True, timeout=120,
    )
    payload = output_json(proc, 0)
    assert payload["summary"]["errors"] == 0
    assert payload["summary"]["clusters"] == 20 and payload["summary"]["hubs"] == 148
    assert "ENC[" not in proc.stdout + proc.stderr
