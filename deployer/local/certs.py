"""Key material for the local cluster: a CA, the API server's serving certificate, a
service-account key pair, and a random admin token. Generated with `cryptography`, no subprocess."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path
    tokens: Path  # kube-apiserver --token-auth-file
    admin_token: str


SERVING_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def generate(folder: Path, *, service_ip: str = "10.96.0.1", days: int = 365) -> Pki:
    """Write a fresh PKI into `folder` (files readable by the owner only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

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

    srv_key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in SERVING_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address(service_ip))]
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pki = Pki(
        ca_cert=folder / "ca.crt", ca_key=folder / "ca.key",
        serving_cert=folder / "apiserver.crt", serving_key=folder / "apiserver.key",
        sa_key=folder / "sa.key", sa_pub=folder / "sa.pub",
        tokens=folder / "tokens.csv", admin_token=secrets.token_urlsafe(32),
    )
    _write(pki.ca_cert, ca_cert.public_bytes(pem))
    _write(pki.ca_key, ca_key.private_bytes(pem, pkcs8, noenc))
    _write(pki.serving_cert, srv_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write(pki.serving_key, srv_key.private_bytes(pem, pkcs8, noenc))
    _write(pki.sa_key, sa_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, noenc))
    _write(pki.sa_pub, sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    # token,user,uid,"group1,group2"
    _write(pki.tokens, f'{pki.admin_token},deployer-admin,deployer-admin,"system:masters"\n'.encode())
    return pki


def load(folder: Path) -> Pki:
    """The PKI an earlier `generate` wrote (the admin token read back from the token file)."""
    tokens = folder / "tokens.csv"
    token = tokens.read_text().split(",", 1)[0].strip()
    return Pki(
        ca_cert=folder / "ca.crt", ca_key=folder / "ca.key",
        serving_cert=folder / "apiserver.crt", serving_key=folder / "apiserver.key",
        sa_key=folder / "sa.key", sa_pub=folder / "sa.pub", tokens=tokens, admin_token=token,
    )
