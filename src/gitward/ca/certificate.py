"""OpenSSH certificates (PROTOCOL.certkeys): a strict parser and a signature check.

Pure: bytes in, a frozen ``Certificate`` out. Every malformed input raises
``CertificateError`` and nothing else, so a hostile client cannot make the server crash
or take a code path nobody tested. The wire layout of a ``*-cert-v01@openssh.com`` blob:

    string    cert key type            e.g. "ssh-ed25519-cert-v01@openssh.com"
    string    nonce
    ...       subject key fields       (as in the plain key blob, without its type)
    uint64    serial
    uint32    type                     1 = user, 2 = host
    string    key id
    string    valid principals         (a string holding strings)
    uint64    valid after
    uint64    valid before             0xFFFFFFFFFFFFFFFF = forever
    string    critical options         (name string, data string)*, data nests a string
    string    extensions               same shape as critical options
    string    reserved
    string    signature key            a plain key blob
    string    signature                string algorithm, string signature bytes

Strictness, on purpose stricter than OpenSSH where OpenSSH is lenient: trailing bytes
anywhere, negative or non-minimal integers, option names that are not printable ASCII,
option data that is neither empty nor exactly one string, duplicate option names, unknown
certificate types, a signature algorithm that does not fit the signing key — all refused.
Option order is *not* enforced (the spec asks for lexical order, but some CAs do not sort).
The nonce's length and the reserved field's content are kept but not judged (OpenSSH
does not judge them either).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gitward.errors import CertificateError, KeyFormatError
from gitward.keys.algorithms import COMPRESSED_POINT_REFUSED
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.keys.wire import WireReader

USER_CERT: Final = 1
HOST_CERT: Final = 2
FOREVER: Final = 0xFFFFFFFFFFFFFFFF
CERT_SUFFIX: Final = "-cert-v01@openssh.com"

# Certificate key type -> the plain key type of the subject key it carries.
CERT_KEY_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ssh-ed25519-cert-v01@openssh.com": "ssh-ed25519",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com": "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com": "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com": "ecdsa-sha2-nistp521",
        "ssh-rsa-cert-v01@openssh.com": "ssh-rsa",
    }
)

# Known to exist but refused: DSA is obsolete; sk-* (FIDO) keys need signature flags and
# counters we do not check yet, so accepting them would promise a check we do not make.
UNSUPPORTED_CERT_KEY_TYPES: Final = frozenset(
    {
        "ssh-dss-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    }
)

_CURVES: Final[Mapping[str, tuple[str, ec.EllipticCurve, hashes.HashAlgorithm]]] = MappingProxyType(
    {
        "ecdsa-sha2-nistp256": ("nistp256", ec.SECP256R1(), hashes.SHA256()),
        "ecdsa-sha2-nistp384": ("nistp384", ec.SECP384R1(), hashes.SHA384()),
        "ecdsa-sha2-nistp521": ("nistp521", ec.SECP521R1(), hashes.SHA512()),
    }
)

# RSA signature algorithm -> hash. "ssh-rsa" is SHA-1: parsed, so policy can name it
# when it refuses it (see gitward.access.identity).
_RSA_HASHES: Final[Mapping[str, hashes.HashAlgorithm]] = MappingProxyType(
    {"ssh-rsa": hashes.SHA1(), "rsa-sha2-256": hashes.SHA256(), "rsa-sha2-512": hashes.SHA512()}
)

# OpenSSH's own bounds (SSH_RSA_MINIMUM_MODULUS_SIZE, OPENSSL_RSA_MAX_MODULUS_BITS).
_RSA_MIN_BITS: Final = 1024
_RSA_MAX_BITS: Final = 16384
# Far above anything real, far below what could hurt: bounds principals and options.
_MAX_LIST_ITEMS: Final = 256
# Real certificates are a few KiB (a 16384-bit RSA CA makes ~5 KiB); refuse megabytes.
MAX_CERTIFICATE_SIZE: Final = 64 * 1024

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class Certificate:
    """A parsed OpenSSH certificate. Nothing here is trusted until policy says so."""

    key_type: str  # "ssh-ed25519-cert-v01@openssh.com", ...
    nonce: bytes
    public_key_type: str  # the subject key's plain type, "ssh-ed25519", ...
    public_key: bytes  # the subject key as a plain key blob
    public_key_fingerprint: str  # "SHA256:..." as ssh-keygen -l prints it
    serial: int
    cert_type: int  # USER_CERT or HOST_CERT
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: Mapping[str, str] = field(hash=False)
    extensions: Mapping[str, str] = field(hash=False)
    reserved: bytes
    signature_key: bytes  # the CA key blob
    signature_key_type: str
    signature_key_fingerprint: str
    signature_key_is_certificate: bool
    signature_algorithm: str  # "ssh-ed25519", "rsa-sha2-512", "ssh-rsa" (SHA-1), ...
    signature: bytes  # the raw signature bytes inside the signature blob
    signed_data: bytes  # every byte before the signature field
    blob: bytes  # the whole certificate, as received
    fingerprint: str  # SHA256 of the whole blob: names this exact certificate

    @property
    def is_user_certificate(self) -> bool:
        return self.cert_type == USER_CERT

    @property
    def never_expires(self) -> bool:
        return self.valid_before == FOREVER

    def to_line(self, comment: str = "") -> str:
        """The one-line OpenSSH form, as in a ``*-cert.pub`` file."""
        line = f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"
        return f"{line} {comment}" if comment else line


def is_certificate_blob(blob: bytes) -> bool:
    """Whether a key blob, as a client offers it, declares an OpenSSH certificate type."""
    try:
        key_type = WireReader(blob, what="key").string()
    except KeyFormatError:
        return False
    return key_type.endswith(CERT_SUFFIX.encode("ascii"))


def parse_certificate_line(text: str) -> Certificate:
    """Parse ``TYPE BASE64 [COMMENT]``; the type must be the one the blob declares."""
    fields = text.strip().split(None, 2)
    if len(fields) < 2:
        raise CertificateError("this is not an SSH certificate", cause="fewer than 2 fields")
    declared, encoded = fields[0], fields[1]
    if len(encoded) > MAX_CERTIFICATE_SIZE * 4 // 3 + 4:
        raise CertificateError("the SSH certificate is too large", cause=f"{len(encoded)} chars")
    try:
        blob = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CertificateError(
            "the SSH certificate is damaged", cause=f"bad base64: {exc}"
        ) from exc
    cert = parse_certificate(blob)
    if cert.key_type != declared:
        raise CertificateError(
            "the SSH certificate is damaged",
            cause=f"line says {declared!r}, blob says {cert.key_type!r}",
        )
    return cert


def parse_certificate(blob: bytes) -> Certificate:
    """Parse a certificate wire blob (the base64-decoded middle field of a cert line)."""
    if len(blob) > MAX_CERTIFICATE_SIZE:
        raise CertificateError("the SSH certificate is too large", cause=f"{len(blob)} bytes")
    try:
        return _parse(bytes(blob))
    except KeyFormatError as exc:  # the wire reader's truncation/trailing-byte errors
        raise CertificateError("the SSH certificate is damaged", cause=exc.cause) from exc


def verify_certificate_signature(cert: Certificate) -> bool:
    """True when the CA key in ``cert`` signed ``cert.signed_data``.

    A certificate signed by a certificate is never valid here (OpenSSH refuses those too).
    """
    if cert.signature_key_is_certificate:
        return False
    try:
        key_type, key = _read_plain_key(WireReader(cert.signature_key, what="CA key"))
        if not _algorithm_fits(key_type, cert.signature_algorithm):
            return False
        _verify(key, cert.signature_algorithm, cert.signature, cert.signed_data)
    except InvalidSignature:
        return False
    except KeyFormatError as exc:  # only for a Certificate built by hand, not parsed
        raise CertificateError("the SSH certificate is damaged", cause=exc.cause) from exc
    return True


# --- parsing --------------------------------------------------------------------------


def _parse(blob: bytes) -> Certificate:
    reader = WireReader(blob, what="SSH certificate")
    key_type = _name(reader, "certificate type")
    plain_type = _plain_type_for(key_type)
    nonce = reader.string()
    start = len(blob) - reader.remaining
    _read_key_fields(reader, plain_type)
    key_fields = blob[start : len(blob) - reader.remaining]
    public_key = _string(plain_type.encode("ascii")) + key_fields
    serial = reader.uint64()
    cert_type = reader.uint32()
    if cert_type not in (USER_CERT, HOST_CERT):
        raise CertificateError(
            "the SSH certificate has an unknown type", cause=f"cert type {cert_type}"
        )
    key_id = _utf8(reader.string(), "key id")
    principals = _principals(reader.string())
    valid_after = reader.uint64()
    valid_before = reader.uint64()
    critical = _options(reader.string(), "critical option")
    extensions = _options(reader.string(), "extension")
    reserved = reader.string()
    signature_key = reader.string()
    signed_data = blob[: len(blob) - reader.remaining]
    signature_blob = reader.string()
    reader.expect_end()
    sig_key_type, sig_key_is_cert = _signature_key(signature_key)
    algorithm, signature = _signature(signature_blob, signature_key, sig_key_is_cert)
    return Certificate(
        key_type=key_type,
        nonce=nonce,
        public_key_type=plain_type,
        public_key=public_key,
        public_key_fingerprint=sha256_fingerprint(public_key),
        serial=serial,
        cert_type=cert_type,
        key_id=key_id,
        principals=principals,
        valid_after=valid_after,
        valid_before=valid_before,
        critical_options=critical,
        extensions=extensions,
        reserved=reserved,
        signature_key=signature_key,
        signature_key_type=sig_key_type,
        signature_key_fingerprint=sha256_fingerprint(signature_key),
        signature_key_is_certificate=sig_key_is_cert,
        signature_algorithm=algorithm,
        signature=signature,
        signed_data=signed_data,
        blob=blob,
        fingerprint=sha256_fingerprint(blob),
    )


def _plain_type_for(key_type: str) -> str:
    if key_type in UNSUPPORTED_CERT_KEY_TYPES:
        raise CertificateError(
            "this kind of SSH certificate is not supported", cause=f"type {key_type}"
        )
    plain = CERT_KEY_TYPES.get(key_type)
    if plain is None:
        raise CertificateError(
            "this is not a supported SSH certificate", cause=f"type {key_type!r}"
        )
    return plain


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


_PROTOCOL_NAME: Final = re.compile(rb"[\x21-\x7e]+")


def _name(reader: WireReader, what: str) -> str:
    """A protocol name: non-empty printable ASCII, no spaces (types, options, algorithms)."""
    raw = reader.string()
    if _PROTOCOL_NAME.fullmatch(raw) is None:
        raise CertificateError(
            "the SSH certificate is damaged", cause=f"{what} is not printable ASCII: {raw!r}"
        )
    return raw.decode("ascii")


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CertificateError(
            "the SSH certificate is damaged", cause=f"{what} is not UTF-8"
        ) from exc


def _principals(raw: bytes) -> tuple[str, ...]:
    reader = WireReader(raw, what="principals")
    names: list[str] = []
    while reader.remaining:
        names.append(_utf8(reader.string(), "principal"))
        if len(names) > _MAX_LIST_ITEMS:
            raise CertificateError("the SSH certificate is damaged", cause="too many principals")
    return tuple(names)


def _options(raw: bytes, what: str) -> Mapping[str, str]:
    """Parse critical options or extensions into an ordered, read-only mapping.

    The data of an option is either empty (flags like ``permit-pty``) or exactly one
    string (``force-command``, ``login@host``): anything else is refused, since we could
    not say what it means.
    """
    reader = WireReader(raw, what=f"{what}s")
    options: dict[str, str] = {}
    while reader.remaining:
        name = _name(reader, f"{what} name")
        if name in options:
            raise CertificateError(
                "the SSH certificate is damaged", cause=f"duplicate {what} {name!r}"
            )
        options[name] = _option_value(reader.string(), f"{what} {name!r}")
        if len(options) > _MAX_LIST_ITEMS:
            raise CertificateError("the SSH certificate is damaged", cause=f"too many {what}s")
    return MappingProxyType(options)


def _option_value(data: bytes, what: str) -> str:
    if not data:
        return ""
    inner = WireReader(data, what=what)
    value = inner.string()
    inner.expect_end()
    return _utf8(value, what)


def _read_key_fields(reader: WireReader, plain_type: str) -> PublicKey:
    """Read the fields of a plain key of ``plain_type`` and build the key (validating it)."""
    try:
        if plain_type == "ssh-ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(_exact(reader.string(), 32))
        if plain_type in _CURVES:
            curve_name, curve, _ = _CURVES[plain_type]
            if _name(reader, "curve name") != curve_name:
                raise CertificateError(
                    "the SSH certificate is damaged", cause=f"curve does not match {plain_type}"
                )
            point = reader.string()
            if point[:1] in (b"\x02", b"\x03"):
                raise CertificateError(COMPRESSED_POINT_REFUSED, cause=f"{plain_type}: compressed")
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        if plain_type == "ssh-rsa":
            return _rsa_key(reader)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateError(
            "the SSH certificate holds an invalid key", cause=f"{plain_type}: {exc}"
        ) from exc
    raise CertificateError(
        "the SSH certificate uses an unsupported key type", cause=f"key type {plain_type!r}"
    )


def _rsa_key(reader: WireReader) -> rsa.RSAPublicKey:
    e = _positive_mpint(reader.string(), "RSA exponent")
    n = _positive_mpint(reader.string(), "RSA modulus")
    if not _RSA_MIN_BITS <= n.bit_length() <= _RSA_MAX_BITS:
        raise CertificateError(
            "the SSH certificate holds an RSA key of an unusable size",
            cause=f"{n.bit_length()} bits",
        )
    return rsa.RSAPublicNumbers(e, n).public_key()


def _positive_mpint(raw: bytes, what: str) -> int:
    """An mpint that is positive and minimally encoded (no sign byte it does not need)."""
    if not raw or raw[0] & 0x80 or (raw[0] == 0 and (len(raw) == 1 or not raw[1] & 0x80)):
        raise CertificateError(
            "the SSH certificate is damaged", cause=f"{what} is not a minimal positive mpint"
        )
    return int.from_bytes(raw, "big")


def _exact(raw: bytes, length: int) -> bytes:
    if len(raw) != length:
        raise CertificateError(
            "the SSH certificate is damaged", cause=f"field is {len(raw)} bytes, not {length}"
        )
    return raw


def _read_plain_key(reader: WireReader) -> tuple[str, PublicKey]:
    key_type = _name(reader, "key type")
    key = _read_key_fields(reader, key_type)
    reader.expect_end()
    return key_type, key


def _signature_key(blob: bytes) -> tuple[str, bool]:
    """The CA key's type, and whether it is itself a certificate (which policy refuses)."""
    if not blob:
        raise CertificateError("the SSH certificate is damaged", cause="empty CA key")
    key_type = _name(WireReader(blob, what="CA key"), "CA key type")
    if key_type.endswith(CERT_SUFFIX):
        # Not parsed further: it cannot be trusted anyway, and a nested cert chain is
        # exactly the complexity an attacker would like us to get wrong.
        return key_type, True
    return _read_plain_key(WireReader(blob, what="CA key"))[0], False


def _signature(blob: bytes, key_blob: bytes, key_is_cert: bool) -> tuple[str, bytes]:
    reader = WireReader(blob, what="certificate signature")
    algorithm = _name(reader, "signature algorithm")
    signature = reader.string()
    reader.expect_end()
    if key_is_cert:
        return algorithm, signature
    key_type, key = _read_plain_key(WireReader(key_blob, what="CA key"))
    if not _algorithm_fits(key_type, algorithm):
        raise CertificateError(
            "the SSH certificate is damaged",
            cause=f"signature algorithm {algorithm!r} does not fit a {key_type} CA key",
        )
    _check_signature_shape(key, signature)
    return algorithm, signature


def _algorithm_fits(key_type: str, algorithm: str) -> bool:
    if key_type == "ssh-rsa":
        return algorithm in _RSA_HASHES
    return algorithm == key_type


def _check_signature_shape(key: PublicKey, signature: bytes) -> None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        _exact(signature, 64)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        _ecdsa_rs(signature)
    elif len(signature) > (key.key_size + 7) // 8:
        raise CertificateError(
            "the SSH certificate is damaged", cause="RSA signature longer than the modulus"
        )


def _ecdsa_rs(signature: bytes) -> tuple[int, int]:
    reader = WireReader(signature, what="ECDSA signature")
    try:
        r = _positive_mpint(reader.string(), "ECDSA r")
        s = _positive_mpint(reader.string(), "ECDSA s")
        reader.expect_end()
    except KeyFormatError as exc:
        raise CertificateError("the SSH certificate is damaged", cause=exc.cause) from exc
    return r, s


# --- verification ---------------------------------------------------------------------


def _verify(key: PublicKey, algorithm: str, signature: bytes, data: bytes) -> None:
    """Raise ``InvalidSignature`` unless ``signature`` is ``key``'s over ``data``."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        r, s = _ecdsa_rs(signature)
        digest = _CURVES[f"ecdsa-sha2-{_curve_suffix(key)}"][2]
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
    else:
        # OpenSSH accepts signatures shorter than the modulus and left-pads them.
        padded = signature.rjust((key.key_size + 7) // 8, b"\0")
        key.verify(padded, data, padding.PKCS1v15(), _RSA_HASHES[algorithm])


def _curve_suffix(key: ec.EllipticCurvePublicKey) -> str:
    return {"secp256r1": "nistp256", "secp384r1": "nistp384", "secp521r1": "nistp521"}[
        key.curve.name
    ]
