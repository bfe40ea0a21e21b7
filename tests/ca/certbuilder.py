"""TEST-ONLY OpenSSH certificate encoder: builds any certificate, valid or not, and signs it.

Never imported by gitward itself. Every field can be overridden with raw bytes so tests
can build hostile certificates (wrong types, bad option encodings, trailing bytes, ...).
Keys are generated once per process and cached: RSA generation is slow.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gitward.keys.wire import WireWriter

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_CURVES: dict[str, tuple[str, ec.EllipticCurve, hashes.HashAlgorithm]] = {
    "nistp256": ("ecdsa-sha2-nistp256", ec.SECP256R1(), hashes.SHA256()),
    "nistp384": ("ecdsa-sha2-nistp384", ec.SECP384R1(), hashes.SHA384()),
    "nistp521": ("ecdsa-sha2-nistp521", ec.SECP521R1(), hashes.SHA512()),
}
_RSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "ssh-rsa": hashes.SHA1(),
    "rsa-sha2-256": hashes.SHA256(),
    "rsa-sha2-512": hashes.SHA512(),
}


@functools.cache
def make_key(kind: str, index: int = 0) -> PrivateKey:
    """A cached key: kind is ed25519, nistp256/384/521, or rsa (2048) / rsa1024."""
    del index  # only part of the cache key: lets a test ask for distinct keys
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind][1])
    bits = {"rsa": 2048, "rsa1024": 1024}[kind]
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _curve_of(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    return {"secp256r1": "nistp256", "secp384r1": "nistp384", "secp521r1": "nistp521"}[
        key.curve.name
    ]


def key_type(key: PrivateKey) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ssh-ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _CURVES[_curve_of(key)][0]
    return "ssh-rsa"


def key_fields(key: PrivateKey) -> bytes:
    """The plain-key blob fields after the type string."""
    w = WireWriter()
    pub = key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        w.string(pub.public_bytes(Encoding.Raw, PublicFormat.Raw))
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        w.string(_curve_of(pub)).string(
            pub.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        )
    else:
        numbers = pub.public_numbers()
        w.mpint(numbers.e).mpint(numbers.n)
    return w.getvalue()


def public_blob(key: PrivateKey) -> bytes:
    return WireWriter().string(key_type(key)).raw(key_fields(key)).getvalue()


def default_algorithm(key: PrivateKey) -> str:
    return "rsa-sha2-512" if isinstance(key, rsa.RSAPrivateKey) else key_type(key)


def sign(key: PrivateKey, data: bytes, algorithm: str) -> bytes:
    """The SSH signature blob: string algorithm, string signature."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.sign(data)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        digest = _CURVES[_curve_of(key)][2]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        raw = WireWriter().mpint(r).mpint(s).getvalue()
    else:
        raw = key.sign(data, padding.PKCS1v15(), _RSA_HASHES[algorithm])
    return WireWriter().string(algorithm).string(raw).getvalue()


def options(*items: tuple[str, str | None]) -> bytes:
    """Encode options the standard way: value None -> empty data, else a nested string."""
    w = WireWriter()
    for name, value in items:
        w.string(name)
        w.string(b"" if value is None else WireWriter().string(value).getvalue())
    return w.getvalue()


def raw_options(*items: tuple[bytes, bytes]) -> bytes:
    """Encode options with raw name and raw data bytes (for hostile tests)."""
    w = WireWriter()
    for name, data in items:
        w.string(name).string(data)
    return w.getvalue()


def principals(*names: str) -> bytes:
    w = WireWriter()
    for name in names:
        w.string(name)
    return w.getvalue()


STANDARD_EXTENSIONS: tuple[tuple[str, str | None], ...] = (
    ("permit-X11-forwarding", None),
    ("permit-agent-forwarding", None),
    ("permit-port-forwarding", None),
    ("permit-pty", None),
    ("permit-user-rc", None),
)


@dataclass(frozen=True)
class CertSpec:
    """Everything in a certificate. ``None`` means "derive the normal value"."""

    subject: PrivateKey = field(default_factory=lambda: make_key("ed25519"))
    signer: PrivateKey = field(default_factory=lambda: make_key("ed25519", 1))
    cert_key_type: str | None = None
    nonce: bytes = b"\x01" * 32
    subject_fields: bytes | None = None
    serial: int = 7
    cert_type: int = 1
    key_id: bytes = b"alice@laptop"
    principals: bytes = principals("git")
    valid_after: int = 1_700_000_000
    valid_before: int = 1_700_000_000 + 86400
    critical_options: bytes = b""
    extensions: bytes = options(*STANDARD_EXTENSIONS)
    reserved: bytes = b""
    signature_key: bytes | None = None
    signature_algorithm: str | None = None
    signature: bytes | None = None  # a whole signature blob, replacing the real one
    trailing: bytes = b""

    def with_(self, **changes: Any) -> CertSpec:
        return replace(self, **changes)


def tbs(spec: CertSpec) -> bytes:
    """The bytes the CA signs (everything before the signature field)."""
    w = WireWriter()
    w.string(spec.cert_key_type or key_type(spec.subject) + "-cert-v01@openssh.com")
    w.string(spec.nonce)
    w.raw(spec.subject_fields if spec.subject_fields is not None else key_fields(spec.subject))
    w.uint64(spec.serial).uint32(spec.cert_type).string(spec.key_id).string(spec.principals)
    w.uint64(spec.valid_after).uint64(spec.valid_before)
    w.string(spec.critical_options).string(spec.extensions).string(spec.reserved)
    w.string(spec.signature_key if spec.signature_key is not None else public_blob(spec.signer))
    return w.getvalue()


def build(spec: CertSpec | None = None, **changes: Any) -> bytes:
    """Encode and sign a certificate; ``changes`` override fields of ``spec``."""
    spec = (spec or CertSpec()).with_(**changes)
    data = tbs(spec)
    if spec.signature is not None:
        signature = spec.signature
    else:
        algorithm = spec.signature_algorithm or default_algorithm(spec.signer)
        signature = sign(spec.signer, data, algorithm)
    return data + WireWriter().string(signature).getvalue() + spec.trailing


def random_nonce() -> bytes:
    return os.urandom(32)
