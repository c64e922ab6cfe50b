"""Key material for the local cluster, generated with `cryptography` (no subprocess): a CA; the
API server's serving certificate (SANs: 127.0.0.1, the `kubernetes` Service IP, the node IP and
the `kubernetes.default...` names, so pods reach it too); the kubelet's serving certificate; the
API server's client certificate for the kubelet; a service-account key pair; and one random token
per identity (admin, the node, kube-proxy, the controller manager, the scheduler)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

# identity -> (user, groups) in the API server's --token-auth-file
IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("deployer-admin", ("system:masters",)),
    "kube-controller-manager": ("system:kube-controller-manager", ()),
    "kube-scheduler": ("system:kube-scheduler", ()),
    "kube-proxy": ("system:kube-proxy", ()),
    # the node's user is completed with the node name (the Node authorizer reads it)
    "kubelet": ("system:node:", ("system:nodes",)),
    "coredns": ("deployer-coredns", ("system:masters",)),
    "volume-provisioner": ("deployer-volume-provisioner", ("system:masters",)),
}


@dataclass(frozen=True)
class Pki:
    folder: Path
    tokens_by_identity: dict[str, str] = field(default_factory=dict)

    def _p(self, name: str) -> Path:
        return self.folder / name

    ca_cert = property(lambda self: self._p("ca.crt"))
    ca_key = property(lambda self: self._p("ca.key"))
    serving_cert = property(lambda self: self._p("apiserver.crt"))
    serving_key = property(lambda self: self._p("apiserver.key"))
    kubelet_cert = property(lambda self: self._p("kubelet.crt"))
    kubelet_key = property(lambda self: self._p("kubelet.key"))
    kubelet_client_cert = property(lambda self: self._p("apiserver-kubelet-client.crt"))
    kubelet_client_key = property(lambda self: self._p("apiserver-kubelet-client.key"))
    sa_key = property(lambda self: self._p("sa.key"))
    sa_pub = property(lambda self: self._p("sa.pub"))
    tokens = property(lambda self: self._p("tokens.csv"))

    @property
    def admin_token(self) -> str:
        return self.tokens_by_identity["admin"]

    def token(self, identity: str) -> str:
        return self.tokens_by_identity[identity]


SERVING_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def token_lines(tokens: dict[str, str], node_name: str) -> str:
    """The --token-auth-file: `token,user,uid,"group1,group2"` per identity (pure)."""
    rows = []
    for identity, token in tokens.items():
        user, groups = IDENTITIES[identity]
        if user.endswith(":"):
            user += node_name
        rows.append(f'{token},{user},{user}' + (f',"{",".join(groups)}"' if groups else ""))
    return "\n".join(rows) + "\n"


def generate(folder: Path, *, node_ip: str, node_name: str, service_ip: str = "10.96.0.1", days: int = 365) -> Pki:
    """Write a fresh PKI into `folder` (files readable by the owner only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=days)
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    noenc = serialization.NoEncryption()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deployer-local-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage, dns=(), ips=(), org: str | None = None):
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if org:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs)).issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        sans = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, b.sign(ca_key, hashes.SHA256())

    server = ExtendedKeyUsageOID.SERVER_AUTH
    srv_key, srv_cert = leaf("kube-apiserver", server, SERVING_NAMES, ("127.0.0.1", service_ip, node_ip))
    kl_key, kl_cert = leaf(node_name, server, (node_name, "localhost"), ("127.0.0.1", node_ip))
    kc_key, kc_cert = leaf("kube-apiserver-kubelet-client", ExtendedKeyUsageOID.CLIENT_AUTH, org="system:masters")
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pki = Pki(folder, {identity: secrets.token_urlsafe(32) for identity in IDENTITIES})
    _write(pki.ca_cert, ca_cert.public_bytes(pem))
    _write(pki.ca_key, ca_key.private_bytes(pem, pkcs8, noenc))
    for cert_path, key_path, key, cert in ((pki.serving_cert, pki.serving_key, srv_key, srv_cert),
                                           (pki.kubelet_cert, pki.kubelet_key, kl_key, kl_cert),
                                           (pki.kubelet_client_cert, pki.kubelet_client_key, kc_key, kc_cert)):
        _write(cert_path, cert.public_bytes(pem) + ca_cert.public_bytes(pem))
        _write(key_path, key.private_bytes(pem, pkcs8, noenc))
    _write(pki.sa_key, sa_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, noenc))
    _write(pki.sa_pub, sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    _write(pki.tokens, token_lines(pki.tokens_by_identity, node_name).encode())
    return pki


def load(folder: Path) -> Pki:
    """The PKI an earlier `generate` wrote (tokens read back from the token file, in IDENTITIES order)."""
    rows = [r for r in (folder / "tokens.csv").read_text().splitlines() if r.strip()]
    return Pki(folder, {identity: row.split(",", 1)[0] for identity, row in zip(IDENTITIES, rows)})
