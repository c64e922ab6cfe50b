"""The keys a support stack sets: they work (the chart's schema names them), or validate refuses them by
name, at their line, with the fix. Checked on real files through FileReader, against the real chart's schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.checks.support_values import check_support_values, schema_keys
from tests.unit.checks.test_hub_values import files  # the same files, read through FileReader

CHART = Path(__file__).resolve().parents[3] / "helm-charts" / "support"
KNOWN = schema_keys(CHART)


def check(tmp_path: Path, provider: str, *texts: str):
    return check_support_values(provider, files(tmp_path, *texts), KNOWN)


def test_the_keys_of_2i2c_support_schema_that_the_chart_carries_pass(tmp_path):
    text = """\
cluster-autoscaler: {enabled: true, autoDiscovery: {clusterName: c}, awsRegion: us-west-2}
calico: {enabled: true}
nvidiaDevicePlugin: {aws: {enabled: true}, azure: {enabled: false}}
disableCoredumps: {enabled: true, initContainer: {image: busybox:1.36.1, resources: {}}}
prometheusAuthSecret: {enabled: true, username: u, password: p}
prometheusStorageClass: {gke: {enabled: false, name: x, parameters: {type: pd-ssd}}}
jupyterhub-cost-monitoring: {enabled: true, prometheusAuth: {enabled: true, username: u, password: p}}
fluent-bit: {enabled: true, config: {outputs: "[OUTPUT]\\n    Name stdout\\n"}}
clusterEntrypoint: {targetController: nginx-ingress}
copyfail: {enabled: true}
dirtyfrag: {enabled: false}
cryptnono: {enabled: false}
nginx-ingress: {controller: {service: {type: ClusterIP}}}
prometheus: {}
grafana: {}
letsencrypt: {}
cert-manager: {}
global: {}
"""
    assert check(tmp_path, "aws", text) == []


@pytest.mark.parametrize("provider", ["gcp", "azure"])
def test_a_cluster_autoscaler_where_the_cloud_has_its_own_is_refused_at_its_line(tmp_path, provider):
    [p] = check(tmp_path, provider, "grafana: {}\ncluster-autoscaler:\n  enabled: true\n")
    assert (p.code, p.file, p.line, p.column) == ("cluster-autoscaler-not-needed", "0.values.yaml", 3, 3)
    assert p.message == f"support: `cluster-autoscaler.enabled: true` on a {provider} cluster"
    assert p.hint.startswith(f"{provider} scales node pools itself (terraform/{provider} gives user and dask pools")


def test_the_last_file_decides_the_autoscaler_switch(tmp_path):
    on, off = "cluster-autoscaler: {enabled: true}\n", "cluster-autoscaler: {enabled: false}\n"
    assert check(tmp_path, "gcp", on, off) == []
    [p] = check(tmp_path, "gcp", "cluster-autoscaler: {enabled: false}\n", "cluster-autoscaler:\n  enabled: true\n")
    assert (p.file, p.line) == ("1.values.yaml", 2)


def test_an_autoscaler_on_aws_a_kubeconfig_or_the_local_cluster_is_not_judged_by_provider(tmp_path):
    for provider in ("aws", "kubeconfig", "local"):
        assert check(tmp_path, provider, "cluster-autoscaler: {enabled: true}\n") == []


def test_calico_is_eks_only(tmp_path):
    [p] = check(tmp_path, "gcp", "calico:\n  enabled: true\n")
    assert (p.code, p.line) == ("calico-eks-only", 2)


def test_keys_of_2i2c_support_chart_that_ours_does_not_carry_are_refused_by_name(tmp_path):
    found = check(tmp_path, "aws", "reflector: {}\ningress-nginx:\n  controller: {}\nprometheusIngressAuthSecret: {}\n")
    assert [(p.code, p.line) for p in found] == [("reflector-unavailable", 1), ("ingress-nginx-retired", 2),
                                                ("prometheus-auth-secret-renamed", 4)]
    assert "move these settings under `nginx-ingress`" in found[1].hint


def test_cryptnono_is_accepted_only_switched_off(tmp_path):
    assert check(tmp_path, "aws", "cryptnono: {enabled: false}\n") == []
    [on] = check(tmp_path, "aws", "cryptnono:\n  enabled: true\n")
    assert (on.code, on.line, on.column) == ("cryptnono-unavailable", 2, 3)
    [configured] = check(tmp_path, "aws", "cryptnono:\n  enabled: false\n  detectors: {}\n")
    assert (configured.code, configured.line) == ("cryptnono-unavailable", 3)


def test_an_unknown_key_names_the_chart_keys(tmp_path):
    [p] = check(tmp_path, "aws", "grafana: {}\nprometeus: {}\n")
    assert (p.code, p.line) == ("unknown-values-key", 2)
    assert "prometheus" in p.hint and "nginx-ingress" in p.hint


def test_an_encrypted_switch_is_not_judged(tmp_path):
    assert check(tmp_path, "gcp", "cluster-autoscaler:\n  enabled: ENC[AES256_GCM,data:x,type:bool]\n") == []
