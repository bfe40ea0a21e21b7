"""New keys: RSA (2048-8192 bits, default 4096), Ed25519, ECDSA P-256/384/521."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gitward.errors import KeyRejected
from gitward.keys.algorithms import CURVE_BY_BITS, CURVES
from gitward.keys.model import Algorithm, PrivateKey, SshPrivateKey

RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192
RSA_DEFAULT_BITS = 4096
ECDSA_DEFAULT_BITS = 256
GENERATED = (Algorithm.RSA, Algorithm.ED25519, Algorithm.ECDSA)


def generate_key(
    algorithm: Algorithm | str = Algorithm.ED25519, bits: int | None = None, comment: str = ""
) -> PrivateKey:
    """A fresh key. ``bits``: RSA modulus size, or ECDSA curve size (256, 384, 521)."""
    try:
        algo = Algorithm(algorithm)
    except ValueError:
        algo = None
    if algo not in GENERATED:
        raise KeyRejected(
            f"cannot generate {str(algorithm)[:20]!r} keys: choose rsa, ed25519 or ecdsa"
        )
    key: SshPrivateKey
    if algo is Algorithm.RSA:
        size = RSA_DEFAULT_BITS if bits is None else bits
        if not RSA_MIN_BITS <= size <= RSA_MAX_BITS:
            raise KeyRejected(
                f"RSA keys must have {RSA_MIN_BITS} to {RSA_MAX_BITS} bits, not {size}"
            )
        key = rsa.generate_private_key(public_exponent=65537, key_size=size)
    elif algo is Algorithm.ECDSA:
        size = ECDSA_DEFAULT_BITS if bits is None else bits
        if size not in CURVE_BY_BITS:
            raise KeyRejected(f"ECDSA keys have 256, 384 or 521 bits, not {size}")
        key = ec.generate_private_key(CURVES[CURVE_BY_BITS[size]]())
    else:
        if bits not in (None, 256):
            raise KeyRejected("Ed25519 keys always have 256 bits: leave -b out")
        key = ed25519.Ed25519PrivateKey.generate()
    return PrivateKey(key, comment)
