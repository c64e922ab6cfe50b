"""age X25519 key pairs, made in-process (no age-keygen needed at `deployer init` time).

The encoding is age's own: Bech32 (BIP 173) with the human-readable parts `age` (recipient)
and `AGE-SECRET-KEY-` (identity, upper case). The tests check a key made here against the real
`age` binary (encrypt to the recipient, decrypt with the identity).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if ((top >> i) & 1) else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: bytes, frombits: int = 8, tobits: int = 5) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if bits:
        out.append((acc << (tobits - bits)) & maxv)
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Bech32 of `data` under the (lower-case) human-readable part `hrp`."""
    hrp = hrp.lower()
    five = _convertbits(data)
    polymod = _polymod(_hrp_expand(hrp) + five + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in five + checksum)


@dataclass(frozen=True)
class AgeKey:
    identity: str  # AGE-SECRET-KEY-1...: the private key; never printed, never committed
    recipient: str  # age1...: the public key, safe to commit (.sops.yaml)

    def key_file_text(self, now: datetime | None = None) -> str:
        """The file format age-keygen writes (sops reads it through SOPS_AGE_KEY_FILE)."""
        now = now or datetime.now(timezone.utc)
        return (f"# created: {now.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
                f"# public key: {self.recipient}\n{self.identity}\n")


def generate() -> AgeKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    private = X25519PrivateKey.generate()
    raw_private = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return AgeKey(identity=bech32_encode("AGE-SECRET-KEY-", raw_private).upper(),
                  recipient=bech32_encode("age", raw_public))
