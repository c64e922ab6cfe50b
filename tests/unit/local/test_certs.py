"""The local cluster's keys (deployer.local.certs): the API server's certificate names and one token
identity per component."""

from __future__ import annotations

from deployer.local import certs
from deployer.local.spec import NODE_NAME


def test_api_server_certificate_names_loopback_the_service_ip_and_the_node_ip(pki):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == ["10.250.0.1", "10.96.0.1", "127.0.0.1"]
    assert "kubernetes.default.svc.cluster.local" in san.get_values_for_type(x509.DNSName)


def test_each_component_has_its_own_token_identity(pki):
    rows = pki.tokens.read_text().splitlines()
    users = [r.split(",")[1] for r in rows]
    assert users == ["deployer-admin", "system:kube-controller-manager", "system:kube-scheduler",
                     "system:kube-proxy", f"system:node:{NODE_NAME}", "deployer-coredns", "deployer-volume-provisioner"]
    assert rows[4].endswith(',"system:nodes"') and rows[0].endswith(',"system:masters"')
    assert len({r.split(",")[0] for r in rows}) == len(rows)  # distinct tokens
    assert certs.load(pki.folder).tokens_by_identity == pki.tokens_by_identity
