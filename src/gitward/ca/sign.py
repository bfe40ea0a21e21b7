"""Issue OpenSSH certificates (PROTOCOL.certkeys): options, checks, encoding, signing.

Pure apart from the nonce (random unless given) and whatever the ``Signer`` does: a
``CertificateRequest`` in, a parsed and verified ``Certificate`` out. Times are fields of
the request; nothing here reads the clock.

Options follow ``ssh-keygen -O`` (9.2, checked live): ``apply_option(state, text)``
folds one ``-O`` string into a ``CertOptions``; ``CertOptions.for_type(USER_CERT)``
starts with the five ``permit-*`` extensions, as ssh-keygen does for user certificates.
``clear`` drops only those flags (force-command, source-address and custom options
stay, as in ssh-keygen). Keywords are case-insensitive, as in ssh-keygen.

Checks, applied in this order by ``sign_certificate`` (first failure wins):

 1. the CA key is a supported plain key, not a certificate
 2. the subject key is a supported plain key (Ed25519, ECDSA P-256/384/521, RSA)
 3. the certificate type is user or host
 4. the serial fits in 64 bits
 5. the key id is non-empty and has no control characters (newlines would forge lines
    in logs and in ``ssh-keygen -L`` output)
 6. principals: each non-empty, printable, at most 256; an empty list only with
    ``any_principal=True`` (the dangerous choice is explicit; ssh-keygen makes it
    silently when -n is left out, and the CLI mirrors that by setting the flag)
 7. validity: valid_after < valid_before, both 64-bit
 8. options: names printable ASCII, no duplicates (ssh-keygen writes duplicates, which
    our parser and sshd then refuse), force-command non-empty, source-address parsable;
    host certificates carry none (ssh-keygen 9.2 does copy explicit -O options into host
    certificates; OpenSSH clients ignore them, so we refuse rather than pretend)
 9. the encoded certificate parses back and its signature verifies (a misbehaving
    signer, e.g. an agent answering with SHA-1 or another key, is caught here)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gitward.agent_client import SSH_AGENT_RSA_SHA2_512, AgentClient
from gitward.ca.certificate import (
    CERT_KEY_TYPES,
    CERT_SUFFIX,
    FOREVER,
    HOST_CERT,
    MAX_CERTIFICATE_SIZE,
    USER_CERT,
    Certificate,
    parse_certificate,
    verify_certificate_signature,
)
from gitward.ca.options import FORCE_COMMAND, SOURCE_ADDRESS, VERIFY_REQUIRED, parse_source_address
from gitward.errors import CertificateError, KeyFormatError
from gitward.keys.algorithms import decode_public_blob, encode_public_blob, ssh_key_type
from gitward.keys.model import PrivateKey
from gitward.keys.wire import WireReader, WireWriter

MAX_PRINCIPALS: Final = 256  # SSHKEY_CERT_MAX_PRINCIPALS
MAX_SERIAL: Final = 2**64 - 1
NONCE_SIZE: Final = 32
_PLAIN_TYPES: Final = frozenset(CERT_KEY_TYPES.values())

# The flag options ssh-keygen keeps as bits (certflags_flags): -O keyword -> extension
# or critical option name, and whether it is critical.
X11 = "permit-X11-forwarding"
AGENT = "permit-agent-forwarding"
PORT = "permit-port-forwarding"
PTY = "permit-pty"
USER_RC = "permit-user-rc"
NO_TOUCH = "no-touch-required"
DEFAULT_USER_FLAGS: Final = frozenset({X11, AGENT, PORT, PTY, USER_RC})
_FLAG_CRITICAL: Final = {VERIFY_REQUIRED: True, NO_TOUCH: False} | {
    name: False for name in DEFAULT_USER_FLAGS
}
# -O keyword (lower case) -> (flag, set it?)
_FLAG_KEYWORDS: Final = {
    "no-x11-forwarding": (X11, False),
    "permit-x11-forwarding": (X11, True),
    "no-agent-forwarding": (AGENT, False),
    "permit-agent-forwarding": (AGENT, True),
    "no-port-forwarding": (PORT, False),
    "permit-port-forwarding": (PORT, True),
    "no-pty": (PTY, False),
    "permit-pty": (PTY, True),
    "no-user-rc": (USER_RC, False),
    "permit-user-rc": (USER_RC, True),
    "touch-required": (NO_TOUCH, False),
    "no-touch-required": (NO_TOUCH, True),
    "no-verify-required": (VERIFY_REQUIRED, False),
    "verify-required": (VERIFY_REQUIRED, True),
}

Option = tuple[str, str | None]  # (name, value); None = a flag (empty data)


# --- options --------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomOption:
    name: str
    value: str | None
    critical: bool


@dataclass(frozen=True)
class CertOptions:
    """The ``-O`` state, as ssh-keygen keeps it until it writes the certificate."""

    flags: frozenset[str] = frozenset()
    force_command: str | None = None
    source_address: str | None = None
    custom: tuple[CustomOption, ...] = ()

    @classmethod
    def for_type(cls, cert_type: int) -> CertOptions:
        """ssh-keygen's starting point: user certificates get the five permit-* flags."""
        return cls(flags=DEFAULT_USER_FLAGS if cert_type == USER_CERT else frozenset())

    def critical_options(self) -> tuple[Option, ...]:
        return self._collect(critical=True)

    def extensions(self) -> tuple[Option, ...]:
        return self._collect(critical=False)

    def _collect(self, *, critical: bool) -> tuple[Option, ...]:
        found: list[Option] = [(c.name, c.value) for c in self.custom if c.critical == critical]
        if critical and self.force_command is not None:
            found.append((FORCE_COMMAND, self.force_command))
        if critical and self.source_address is not None:
            found.append((SOURCE_ADDRESS, self.source_address))
        found += [(name, None) for name in self.flags if _FLAG_CRITICAL[name] == critical]
        return tuple(sorted(found, key=_option_order))


def apply_option(state: CertOptions, text: str) -> CertOptions:
    """Fold one ``ssh-keygen -O`` string into ``state``; CertificateError if refused."""
    lowered = text.lower()
    if lowered == "clear":
        return replace(state, flags=frozenset())
    if lowered in _FLAG_KEYWORDS:
        flag, on = _FLAG_KEYWORDS[lowered]
        return replace(state, flags=state.flags | {flag} if on else state.flags - {flag})
    if lowered.startswith("force-command="):
        value = text[len("force-command=") :]
        if not value:
            raise _refused("force-command is empty", text)
        if state.force_command is not None:
            raise _refused("force-command is given twice", text)
        return replace(state, force_command=value)
    if lowered.startswith("source-address="):
        value = text[len("source-address=") :]
        if not value:
            raise _refused("source-address is empty", text)
        if state.source_address is not None:
            raise _refused("source-address is given twice", text)
        parse_source_address(value)
        return replace(state, source_address=value)
    for prefix, critical in (("extension:", False), ("critical:", True)):
        if lowered.startswith(prefix):
            name, sep, value = text[len(prefix) :].partition("=")
            custom = CustomOption(name, value if sep else None, critical)
            return replace(state, custom=(*state.custom, custom))
    raise _refused("unknown certificate option", text)


def _option_order(option: Option) -> tuple[bytes, bool, bytes]:
    # cert_ext_cmp: name (strcmp, i.e. bytes), then flags before values, then value.
    name, value = option
    return name.encode("utf-8"), value is not None, (value or "").encode("utf-8")


def _refused(why: str, text: str) -> CertificateError:
    shown = text if len(text) <= 80 and text.isprintable() else repr(text[:80])
    return CertificateError(f"invalid certificate option {shown!r}: {why}")


# --- the request ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CertificateRequest:
    """What to certify. Validity has no default: "forever" must be asked for."""

    public_key: bytes  # the subject's plain public key blob
    key_id: str
    valid_after: int
    valid_before: int
    cert_type: int = USER_CERT
    serial: int = 0
    principals: tuple[str, ...] = ()
    any_principal: bool = False  # required for an empty principal list
    critical_options: tuple[Option, ...] = ()
    extensions: tuple[Option, ...] = ()
    nonce: bytes | None = field(default=None, repr=False)  # None: 32 random bytes

    def with_options(self, options: CertOptions) -> CertificateRequest:
        return replace(
            self,
            critical_options=options.critical_options(),
            extensions=options.extensions(),
        )


# --- signers --------------------------------------------------------------------------


class Signer(Protocol):
    """Holds (or reaches) a CA private key."""

    @property
    def public_blob(self) -> bytes:
        """The CA's plain public key blob."""
        ...

    def sign(self, data: bytes) -> bytes:
        """An SSH signature blob over ``data``: string algorithm, string signature."""
        ...


_ECDSA_HASHES: Final = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}


class PrivateKeySigner:
    """Signs with a private key in memory: Ed25519, ECDSA, or RSA with rsa-sha2-512."""

    def __init__(self, key: PrivateKey) -> None:
        if not isinstance(
            key.key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        ):
            raise CertificateError(
                f"a {key.algorithm.value.upper()} key cannot be a certificate authority: "
                "use Ed25519, ECDSA or RSA",
            )
        self._key = key.key
        self._blob = encode_public_blob(key.key.public_key())

    @property
    def public_blob(self) -> bytes:
        return self._blob

    def sign(self, data: bytes) -> bytes:
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return _signature_blob("ssh-ed25519", key.sign(data))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_ECDSA_HASHES[key.key_size])))
            raw = WireWriter().mpint(r).mpint(s).getvalue()
            return _signature_blob(ssh_key_type(key), raw)
        assert isinstance(key, rsa.RSAPrivateKey)  # __init__ allows nothing else
        raw = key.sign(data, padding.PKCS1v15(), hashes.SHA512())
        return _signature_blob("rsa-sha2-512", raw)


class AgentSigner:
    """Signs through ssh-agent with the key whose public blob is given."""

    def __init__(self, client: AgentClient, public_blob: bytes) -> None:
        self._client = client
        self._blob = public_blob

    @property
    def public_blob(self) -> bytes:
        return self._blob

    def sign(self, data: bytes) -> bytes:
        # The flag asks for SHA-512 from RSA keys; other key types ignore it.
        return self._client.sign(self._blob, data, SSH_AGENT_RSA_SHA2_512)


def _signature_blob(algorithm: str, raw: bytes) -> bytes:
    return WireWriter().string(algorithm).string(raw).getvalue()


# --- signing --------------------------------------------------------------------------


def sign_certificate(request: CertificateRequest, signer: Signer) -> Certificate:
    """Check ``request`` (see the module docstring), encode it, sign it, and verify."""
    ca_type = _check_ca_key(signer.public_blob)
    subject = _check_subject(request.public_key)
    for check in _REQUEST_CHECKS:
        check(request)
    data = _to_be_signed(request, subject, signer.public_blob)
    signature = signer.sign(data)
    blob = data + WireWriter().string(signature).getvalue()
    if len(blob) > MAX_CERTIFICATE_SIZE:
        raise CertificateError("the certificate would be too large", cause=f"{len(blob)} bytes")
    cert = parse_certificate(blob)
    if not verify_certificate_signature(cert):
        raise CertificateError(
            "the CA key's signature does not verify: wrong key or broken signer",
            cause=f"CA {ca_type}, algorithm {cert.signature_algorithm}",
        )
    if ca_type == "ssh-rsa" and cert.signature_algorithm != "rsa-sha2-512":
        raise CertificateError(
            "the signer used a weak RSA signature (SHA-1 or SHA-256), not rsa-sha2-512",
            cause=cert.signature_algorithm,
        )
    return cert


def _canonical_key(blob: bytes, what: str) -> bytes:
    """The key re-encoded from its numbers (so odd encodings never reach a certificate)."""
    try:
        key_type = WireReader(blob, what=what).text()
        if key_type.endswith(CERT_SUFFIX):
            raise CertificateError(f"the {what} is a certificate, not a plain key")
        canonical = encode_public_blob(decode_public_blob(blob))
    except KeyFormatError as exc:
        raise CertificateError(f"the {what} is not a valid public key", cause=exc.cause) from exc
    if key_type not in _PLAIN_TYPES:
        raise CertificateError(
            f"the {what} has type {key_type}: certificates use Ed25519, ECDSA or RSA keys"
        )
    return canonical


@functools.lru_cache(maxsize=64)
def _check_ca_key(blob: bytes) -> str:
    # Cached: a pure function of the blob (a refused key raises, which is not cached), and
    # an issuing server signs with the same few CA keys thousands of times a second.
    _canonical_key(blob, "CA key")
    return WireReader(blob).text()


def _check_subject(blob: bytes) -> bytes:
    return _canonical_key(blob, "key to certify")


def _check_type(request: CertificateRequest) -> None:
    if request.cert_type not in (USER_CERT, HOST_CERT):
        raise CertificateError(f"unknown certificate type {request.cert_type}")


def _check_serial(request: CertificateRequest) -> None:
    if not 0 <= request.serial <= MAX_SERIAL:
        raise CertificateError(f"the serial number must be between 0 and {MAX_SERIAL}")


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _check_key_id(request: CertificateRequest) -> None:
    if not request.key_id:
        raise CertificateError("the key id (-I) is empty")
    if _has_control(request.key_id):
        raise CertificateError("the key id contains control characters (newline, tab, ...)")


def _check_principals(request: CertificateRequest) -> None:
    names = request.principals
    if not names and not request.any_principal:
        raise CertificateError(
            "no principals: name them, or ask explicitly for a certificate valid for any"
        )
    if names and request.any_principal:
        raise CertificateError("principals are listed but any_principal is also set")
    if len(names) > MAX_PRINCIPALS:
        raise CertificateError(f"more than {MAX_PRINCIPALS} principals")
    for name in names:
        if not name:
            raise CertificateError("a principal name is empty")
        if _has_control(name):
            raise CertificateError("a principal name contains control characters")


def _check_validity(request: CertificateRequest) -> None:
    after, before = request.valid_after, request.valid_before
    if not (0 <= after <= FOREVER and 0 <= before <= FOREVER):
        raise CertificateError("the validity times must fit in 64 bits")
    if before <= after:
        raise CertificateError("the validity period is empty: it ends before it starts")


def _check_options(request: CertificateRequest) -> None:
    if request.cert_type == HOST_CERT and (request.critical_options or request.extensions):
        raise CertificateError("host certificates take no options (-O)")
    for options, what in (
        (request.critical_options, "critical option"),
        (request.extensions, "extension"),
    ):
        seen: set[str] = set()
        for name, value in options:
            if not name or any(not 0x21 <= ord(c) <= 0x7E for c in name):
                raise CertificateError(f"the {what} name {name!r} is not printable ASCII")
            if name in seen:
                raise CertificateError(f"the {what} {name} is given twice")
            seen.add(name)
            if value is not None and "\0" in value:
                raise CertificateError(f"the {what} {name} has a NUL byte in its value")
        values = dict(options)
        if what == "critical option":
            _check_known_critical(values)


def _check_known_critical(values: dict[str, str | None]) -> None:
    if FORCE_COMMAND in values and not values[FORCE_COMMAND]:
        raise CertificateError("force-command is empty")
    if SOURCE_ADDRESS in values:
        address = values[SOURCE_ADDRESS]
        if not address:
            raise CertificateError("source-address is empty")
        parse_source_address(address)
    if VERIFY_REQUIRED in values and values[VERIFY_REQUIRED] is not None:
        raise CertificateError("verify-required is a flag and takes no value")


_REQUEST_CHECKS: Final = (
    _check_type,
    _check_serial,
    _check_key_id,
    _check_principals,
    _check_validity,
    _check_options,
)


def _options_blob(options: Iterable[Option]) -> bytes:
    out = WireWriter()
    for name, value in sorted(options, key=_option_order):
        out.string(name)
        out.string(b"" if value is None else WireWriter().string(value).getvalue())
    return out.getvalue()


def _to_be_signed(request: CertificateRequest, subject: bytes, ca_blob: bytes) -> bytes:
    nonce = request.nonce if request.nonce is not None else os.urandom(NONCE_SIZE)
    subject_type = WireReader(subject).text()
    subject_fields = subject[4 + len(subject_type) :]
    principals = WireWriter()
    for name in request.principals:
        principals.string(name)
    return (
        WireWriter()
        .string(subject_type + CERT_SUFFIX)
        .string(nonce)
        .raw(subject_fields)
        .uint64(request.serial)
        .uint32(request.cert_type)
        .string(request.key_id)
        .string(principals.getvalue())
        .uint64(request.valid_after)
        .uint64(request.valid_before)
        .string(_options_blob(request.critical_options))
        .string(_options_blob(request.extensions))
        .string(b"")  # reserved
        .string(ca_blob)
        .getvalue()
    )


__all__ = [
    "AgentSigner",
    "CertOptions",
    "CertificateRequest",
    "CustomOption",
    "PrivateKeySigner",
    "Signer",
    "apply_option",
    "sign_certificate",
]
